"""lrctl.training.gradient_descent against the closed form on quadratics, and its guards."""

import numpy as np
import pytest
from conftest import random_spd

from lrctl.objectives import QuadraticObjective
from lrctl.training import gradient_descent


def test_matches_closed_form(rng):
    H, _, _ = random_spd(rng, 5)
    e0 = rng.standard_normal(5)
    eta, T = 0.7, 30
    run = gradient_descent(QuadraticObjective(H), e0, eta, T, reference=np.zeros(5))
    # closed form: e_T = (I − ηH)^T e_0
    expected = np.linalg.matrix_power(np.eye(5) - eta * H, T) @ e0
    np.testing.assert_allclose(run.theta, expected, rtol=1e-10, atol=1e-14)
    assert run.distances[-1] == pytest.approx(np.linalg.norm(expected))
    assert not run.diverged and run.steps == T


def test_divergence_stops_and_says_so():
    q = QuadraticObjective(np.diag([1.0, 4.0]))
    run = gradient_descent(q, [1.0, 1.0], lr=0.6, steps=1000)
    assert run.diverged and run.diverged_at is not None and run.diverged_at < 1000
    assert np.all(np.isfinite(run.losses)) and len(run.losses) == run.diverged_at


def test_schedule_multiplies_lr():
    q = QuadraticObjective(np.eye(1))
    run = gradient_descent(q, [1.0], lr=1.0, steps=2, lr_schedule=lambda t: 0.5)
    assert run.theta[0] == pytest.approx(0.25)  # two halvings


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"lr": 0.0}, "lr"), ({"steps": -1}, "steps"), ({"weight_decay": 1.0}, "weight_decay"),
    ({"theta0": [np.nan, 0.0]}, "theta0"), ({"divergence_factor": 0}, "divergence_factor"),
])
def test_bad_input(kwargs, match):
    args = {"theta0": [1.0, 1.0], "lr": 0.1, "steps": 3} | kwargs
    with pytest.raises(ValueError, match=match):
        gradient_descent(QuadraticObjective(np.eye(2)), **args)


def test_steps_must_be_int():
    with pytest.raises(TypeError, match="steps"):
        gradient_descent(QuadraticObjective(np.eye(2)), [1.0, 1.0], 0.1, 2.5)
