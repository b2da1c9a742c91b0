import os

import matplotlib
import numpy as np
import pytest
from hypothesis import settings

matplotlib.use("Agg")
os.environ.setdefault("MPLBACKEND", "Agg")

# Property tests: enough examples to find edge cases, no per-example deadline (CI is noisy).
settings.register_profile("lrctl", max_examples=40, deadline=None)
settings.load_profile("lrctl")


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def random_spd(rng, dim, lam_min=0.01, lam_max=1.0):
    """A random symmetric positive-definite matrix with a known spectrum."""
    eig = np.sort(np.concatenate([[lam_min, lam_max], rng.uniform(lam_min, lam_max, dim - 2)]))
    Q, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    H = (Q * eig) @ Q.T
    return 0.5 * (H + H.T), eig, Q
