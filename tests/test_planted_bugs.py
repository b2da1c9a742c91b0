"""Every claim must be able to fail: plant a small bug, and a verdict flips.

For every shipped analysis a small bug (a wrong constant, a dropped term, a biased estimate) is
monkeypatched into the library function its claims test, the analysis is run in-process in
quick mode, and at least one claim's verdict must differ from the unplanted verdict pinned in
tests/test_analyses.py (EXPECTED). An analysis whose claims survive the bug is not evidence:
fix the claims, not this test.

The monkeypatch targets are the names the analyses look up (``from lrctl.x import f`` inside
a script picks up the patched attribute because the script runs after the patch). If a
function moves between modules (e.g. lrctl.dynamics -> lrctl.continual), fix the dotted path
in PLANTED below.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import runpy
import warnings
from pathlib import Path

import numpy as np
import pytest
from test_analyses import EXPECTED

ROOT = Path(__file__).resolve().parent.parent


# -- the bugs ----------------------------------------------------------------------------
def _scaled_result(factor):
    """Multiply a function's (numeric) result by ``factor``: a wrong constant."""
    def wrap(orig):
        def f(*args, **kwargs):
            return np.asarray(orig(*args, **kwargs)) * factor
        return f
    return wrap


def _scaled_arg(name, factor):
    """Multiply one argument by ``factor`` before the call: a wrong constant upstream."""
    def wrap(orig):
        sig = inspect.signature(orig)

        def f(*args, **kwargs):
            bound = sig.bind(*args, **kwargs)
            bound.apply_defaults()
            bound.arguments[name] = np.asarray(bound.arguments[name], dtype=float) * factor
            return orig(*bound.args, **bound.kwargs)
        return f
    return wrap


def _replaced_field(field, fn):
    """Replace one field of a frozen dataclass result: a biased estimate."""
    def wrap(orig):
        def f(*args, **kwargs):
            res = orig(*args, **kwargs)
            return dataclasses.replace(res, **{field: fn(getattr(res, field))})
        return f
    return wrap


def _off_by_one_power(orig):
    """cerebellar_closed_form(c0, c_opt, k, n) with n + 1 for n: an off-by-one exponent."""
    def f(c0, c_opt, k, n):
        return orig(c0, c_opt, k, np.asarray(n) + 1)
    return f


def _dropped_second_order(orig):
    """exact_range_test_slope without its η²gᵀHg term: −η‖g‖² only."""
    def f(grad, curvature, lr):
        g = np.asarray(grad, dtype=float)
        return -np.asarray(lr, dtype=float) * float(g @ g)
    return f


def _wrong_forgetting(orig):
    """closed_form_stability_plasticity with the forgetting rate b off by 5%."""
    sig = inspect.signature(orig)

    def f(*args, **kwargs):
        bound = sig.bind(*args, **kwargs)
        bound.arguments["forgetting"] = np.asarray(bound.arguments["forgetting"]) * 1.05
        return orig(*bound.args, **bound.kwargs)
    return f


# analysis name -> (dotted path of the function the analysis looks up, wrapper, the bug)
PLANTED = {
    "bayesian-optimization": ("lrctl.bayesopt._correlation", _scaled_arg("ell", 1.2),
                              "GP's Matérn correlation with the length scale off by 20%"),
    "cerebellar-learning": ("lrctl.cerebellar.cerebellar_closed_form", _off_by_one_power,
                            "closed form with (1 − k)^(n+1)"),
    "continual-learning": ("lrctl.continual.closed_form_stability_plasticity", _wrong_forgetting,
                           "closed form with the forgetting rate 5% too high"),
    "diffusion-noise-levels": ("lrctl.diffusion.denoising_curvature", _scaled_arg("sigma", 0.9),
                               "curvature formula with σ 10% too small"),
    "federated-drift": ("lrctl.federated.fedavg_server_lr_bound", _scaled_result(1.1),
                        "server-rate bound 10% too large"),
    "game-dynamics": ("lrctl.games.bilinear_spectral_radius", _scaled_result(1 + 1e-6),
                      "closed-form spectral radius biased by 1e-6"),
    "gd-stability": ("lrctl.quadratic.gd_stability_bound", _scaled_result(1.1),
                     "stability bound 2.2/λmax instead of 2/λmax"),
    "hypergradient": ("lrctl.adaptive.hypergradient_sweep", _scaled_arg("hyper_lr", 0.0),
                      "the hypergradient term dropped (α = 0)"),
    "layerwise-rates": ("lrctl.adaptive.block_top_eigenvalues",
                        _replaced_field("values", lambda v: np.full_like(v, v.max())),
                        "every block's λmax reported as the largest one"),
    "log-scale-search": ("lrctl.search.hit_probability", _scaled_result(0.97),
                         "closed-form hit probability 3% low"),
    "pi-controller": ("lrctl.zdomain.stability_region", _scaled_arg("kp", 1.05),
                      "Jury test evaluated at kp 5% too large"),
    "range-test": ("lrctl.curvature.top_eigenvalue", _replaced_field("value", lambda v: v * (1 + 1e-6)),
                   "Lanczos top eigenvalue biased by 1e-6"),
    "range-test-slope": ("lrctl.quadratic.exact_range_test_slope", _dropped_second_order,
                         "exact slope without the η² term"),
    "snapshot-ensembles": ("lrctl.adaptive.snapshot_ensemble",
                           _replaced_field("ensemble_accuracy", lambda a: a + 0.02),
                           "ensemble accuracy biased by +2 points"),
    # The agreement claim compares stability_region's prediction with real training. With ki
    # 25% too large, the three measured-settled quick-grid points just inside the edge
    # 2kp + ki·M = 2 ((kp, ki·M) = (−0.575, 2.85), (0, 1.8), (0.575, 0.75); computed from the
    # identified plant 1.014/(z − 0.034)) are predicted unstable: 22/25 = 88% < 90%.
    "torch-pi-control": ("lrctl.zdomain.stability_region", _scaled_arg("ki", 1.25),
                         "Jury test evaluated at ki 25% too large"),
    "torch-range-test": ("lrctl.torch.hessian_eigenvalues",
                         _replaced_field("values", lambda v: v * (1 + 1e-5)),
                         "Lanczos eigenvalues of the network's Hessian biased by 1e-5 (relative)"),
    "weight-decay": ("lrctl.quadratic.equivalent_l2", _scaled_result(1.05),
                     "equivalent L2 strength 1.05·λ/η"),
}


def _resolve(dotted):
    module, name = dotted.rsplit(".", 1)
    return importlib.import_module(module), name


def test_every_analysis_has_a_planted_bug():
    names = sorted(p.stem.replace("_", "-") for p in (ROOT / "analyses").glob("[!_]*.py"))
    assert sorted(PLANTED) == names
    for dotted, _, _ in PLANTED.values():
        module, name = _resolve(dotted)
        assert callable(getattr(module, name)), dotted


def run_in_process(name, tmp_path, monkeypatch):
    """Run analyses/<name>.py in this process (quick mode) and return its result dict."""
    script = ROOT / "analyses" / f"{name.replace('-', '_')}.py"
    result = tmp_path / "result.json"
    monkeypatch.setenv("LRCTL_RESULT_FILE", str(result))
    monkeypatch.setenv("LRCTL_FIGURE_DIR", str(tmp_path / "figures"))
    monkeypatch.setenv("LRCTL_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    import matplotlib

    matplotlib.use("Agg")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a planted bug may produce overflow warnings
        runpy.run_path(str(script), run_name="__main__")
    return json.loads(result.read_text())


@pytest.mark.parametrize("name", sorted(PLANTED))
def test_planted_bug_flips_a_claim(name, tmp_path, monkeypatch):
    dotted, wrapper, bug = PLANTED[name]
    if name.startswith("torch-"):
        pytest.importorskip("torch")  # an optional extra: without it the analysis is skipped
    module, attr = _resolve(dotted)
    monkeypatch.setattr(module, attr, wrapper(getattr(module, attr)))
    data = run_in_process(name, tmp_path, monkeypatch)
    verdicts = {c["text"]: c["holds"] for c in data["claims"]}
    expected = EXPECTED[name]
    assert set(verdicts) == set(expected), f"{name}: claim texts changed under the bug"
    flipped = [t for t in expected if verdicts[t] != expected[t]]
    assert flipped, f"{name}: no claim flipped under the planted bug ({bug}, {dotted})"
