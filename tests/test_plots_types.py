"""Plot builders check their result arguments at the door (issue 11: a wrong result type
passed in gets a TypeError naming it, not an AttributeError from deep inside matplotlib)."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

pytest.importorskip("matplotlib")

import matplotlib

matplotlib.use("Agg", force=False)

# (module, builder, the result argument): every builder of these modules that takes a
# result object (plots.adaptive and zdomain.controlled_training are rewritten on another
# branch and are not listed)
RESULT_ARGS = [
    ("cerebellar", "two_rate_run", "run"),
    ("cerebellar", "savings_curves", "two_rate"),
    ("continual", "ode_vs_closed_form", "results"),
    ("continual", "plasticity_retention_plane", "comparison"),
    ("continual", "budget_plane", "comparison"),
    ("continual", "weighted_winners", "comparisons"),
    ("continual", "weighted_scores", "comparison"),
    ("continual", "two_task_curves", "result"),
    ("diffusion", "curvature_vs_sigma", "curvatures"),
    ("diffusion", "learning_curves", "runs"),
    ("federated", "drift_heatmap", "drift"),
    ("games", "regime_map", "rmap"),
    ("games", "phase_portrait", "trajectories"),
    ("games", "distance_curves", "trajectories"),
    ("rangetest", "range_test_curve", "result"),
    ("rangetest", "repeated_range_test_curves", "repeated"),
    ("search", "objective_curve", "curve"),
    ("zdomain", "pole_zero", "maps"),
    ("zdomain", "responses", "results"),
]

# what is passed instead: a number, an array, a string, a dict of numbers, and a result of
# another kind (a StabilityPlasticityResult has none of the fields the others read)
WRONG = {
    "number": lambda: 0.5,
    "array": lambda: np.ones(3),
    "string": lambda: "abc",
    "dict": lambda: {"a": 1.0},
}


def _other_result():
    from lrctl.cerebellar import simulate_cerebellar

    return simulate_cerebellar(0.0, 1.0, 0.5, 5)


@pytest.mark.parametrize("module, builder, arg", RESULT_ARGS, ids=lambda v: str(v))
@pytest.mark.parametrize("kind", [*WRONG, "other-result"])
def test_a_wrong_result_type_is_a_named_type_error(module, builder, arg, kind):
    import inspect

    fn = getattr(importlib.import_module(f"lrctl.plots.{module}"), builder)
    value = _other_result() if kind == "other-result" else WRONG[kind]()
    sig = inspect.signature(fn)
    kwargs = {name: None for name, p in sig.parameters.items()
              if p.default is p.empty and p.kind != p.VAR_KEYWORD}
    kwargs[arg] = value
    with pytest.raises(TypeError, match=arg):
        fn(**kwargs)


def test_a_result_with_the_fields_is_drawn():
    """The check is by the fields read: the real result passes and a figure comes back."""
    from matplotlib.figure import Figure

    from lrctl.cerebellar import simulate_two_rate
    from lrctl.plots.cerebellar import two_rate_run

    fig = two_rate_run(simulate_two_rate(np.ones(30)))
    assert isinstance(fig, Figure)


@pytest.mark.parametrize("bad", [0.5, "abc", np.ones(2), {}, True])
def test_ax_must_be_an_axes(bad):
    from lrctl.plots import axes_or_new, tidy_log_ticks

    with pytest.raises(TypeError, match="ax must be a matplotlib Axes"):
        axes_or_new(bad)
    with pytest.raises(TypeError, match="ax must be a matplotlib Axes"):
        tidy_log_ticks(bad)


@pytest.mark.parametrize("name, value, exc", [
    ("nrows", 0, ValueError), ("nrows", 2.5, TypeError), ("nrows", True, TypeError),
    ("ncols", 10**6, ValueError), ("width", float("nan"), ValueError),
    ("width", -1.0, ValueError), ("width", "abc", TypeError), ("height", float("inf"), ValueError),
])
def test_subplots_sizes_are_checked(name, value, exc):
    from lrctl.plots import subplots

    with pytest.raises(exc, match=name):
        subplots(**{name: value})
