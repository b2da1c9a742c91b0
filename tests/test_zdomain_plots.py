"""lrctl.plots.zdomain: every builder returns a Figure with labelled axes and draws its data."""

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from lrctl import zdomain as zd
from lrctl.objectives import QuadraticObjective
from lrctl.plots import zdomain as zplots
from lrctl.training import train_with_sharpness_control


def _labels(fig):
    return [(ax.get_xlabel(), ax.get_ylabel()) for ax in fig.axes if ax.get_xlabel()]


def test_stable_region_with_polygon_and_points():
    G = zd.first_order_plant(0.9, 0.5)
    kp, ki = np.linspace(-1, 4.5, 60), np.linspace(-1, 9, 50)
    region = zd.stability_region(G, kp[:, None], ki[None, :])
    pts = {"kp": np.array([0.5, 3.0]), "ki": np.array([1.0, 6.0]),
           "settled": np.array([True, True]), "predicted": np.array([True, False])}
    fig = zplots.stable_region(kp, ki, region, polygon=zd.stability_polygon(G), points=pts,
                               title="t")
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "disagrees with prediction" in labels and "Jury boundary (polygon)" in labels
    assert all(x and y for x, y in _labels(fig))
    plt.close(fig)
    # without a polygon the boundary is a contour
    fig = zplots.stable_region(kp, ki, region)
    assert "Jury boundary" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    plt.close(fig)


def test_pole_zero_responses_nyquist_and_training():
    G = zd.first_order_plant(0.9, 0.5)
    C = zd.pi_controller(0.4, 0.2)
    fig = zplots.pole_zero({"a": zd.pole_zero_map(G, C)})
    assert fig.axes[0].get_xlabel() == "Re z"
    plt.close(fig)
    res = {"a": zd.step_response(G, C, 40), "b": zd.step_response(G, zd.pi_controller(-0.3, 0.3), 40)}
    fig = zplots.responses(res, title="step")
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any("not settled" in t for t in texts) and "reference" in texts
    plt.close(fig)
    w = np.linspace(0.05, np.pi, 200)
    L = np.asarray((C * G.tf)(np.exp(1j * w)), dtype=complex).ravel()
    fig = zplots.nyquist_margin(L, gain_margin=7.6, other_gain_margin=2e-15)
    assert "GM = 7.6" in " ".join(t.get_text() for t in fig.axes[0].get_legend().get_texts())
    plt.close(fig)
    obj = QuadraticObjective(np.diag([4.0, 1.0]))
    ctl = zd.PIController(0.3, 0.3, setpoint=1.0, lr0=0.05, lr_min=1e-3, lr_max=1.0, dt=2)
    run = train_with_sharpness_control(obj, ctl, 40, measure_every=2, theta0=np.ones(2))
    fig = zplots.controlled_training({"stable": run})
    assert len(fig.axes) == 3 and all(x or y for x, y in [(a.get_xlabel(), a.get_ylabel()) for a in fig.axes])
    plt.close(fig)


def test_importing_and_using_plots_leaves_global_rcparams_alone():
    # The report style is applied through rc_context while a builder runs, never globally.
    import importlib

    import lrctl.plots as lp

    before = dict(matplotlib.rcParams)
    importlib.reload(lp)
    fig, _ = lp.subplots()
    assert fig.get_dpi() == lp.STYLE["figure.dpi"]  # the figure got the style
    assert dict(matplotlib.rcParams) == before  # the session did not
    plt.close(fig)
