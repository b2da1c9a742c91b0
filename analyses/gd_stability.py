"""GD stability: the threshold 2/λmax on a real problem.

Logistic regression on the Wisconsin breast-cancer data (bundled with scikit-learn), L2 1e-2.
The Hessian at the optimum gives the quadratic model; full-batch GD started near the optimum at
0.9x, 1.0x and 1.1x the bound 2/λmax shows the threshold, and the contraction factor measured on
the real (non-quadratic) loss is compared with ρ(I − ηH) over a range of learning rates.
"""

import numpy as np

from lrctl import quadratic
from lrctl.objectives import LogisticRegression, QuadraticObjective, minimize
from lrctl.plots import quadratic as qplots
from lrctl.plots import subplots
from lrctl.report import Analysis
from lrctl.training import gradient_descent

with Analysis(__file__, title="GD stability: the 2/λmax threshold on a real problem",
              summary="Full-batch gradient descent on logistic regression (breast-cancer data, "
                      "30 features + intercept, L2 = 1e-2), linearized at its optimum.") as an:
    problem = LogisticRegression.from_dataset("breast_cancer", l2=1e-2)
    theta_star = minimize(problem)
    for _ in range(3):  # Newton polish: |grad| from ~1e-10 to round-off, so θ* is exact enough
        theta_star = theta_star - np.linalg.solve(problem.hessian(theta_star), problem.grad(theta_star))
    loss_star = problem.loss(theta_star)
    H = problem.hessian(theta_star)
    spec = quadratic.spectrum(H)
    bound = quadratic.gd_stability_bound(H)
    eta_opt, rho_opt = quadratic.optimal_lr(H)
    an.number("lambda_max", spec.lam_max, description="largest Hessian eigenvalue at the optimum")
    an.number("lambda_min", spec.lam_min, description="smallest Hessian eigenvalue at the optimum")
    an.number("bound", bound, unit="lr", description="GD stability bound 2/λmax")
    an.number("optimal_lr", eta_opt, unit="lr", description="2/(λmin+λmax)")
    an.number("optimal_contraction", rho_opt, description="(κ−1)/(κ+1) at the optimal rate")
    an.derivation(quadratic.derive_gd_stability())
    an.derivation(quadratic.derive_optimal_lr())

    # 1. The threshold on the quadratic model itself (the recursion e ← (I − ηH)e).
    model = QuadraticObjective(H, minimizer=theta_star, loss_min=loss_star)
    rng = np.random.default_rng(0)
    start = theta_star + 0.1 * rng.standard_normal(problem.dim)
    mults_below, mults_above = (0.5, 0.9, 0.98), (1.02, 1.1, 2.0)
    fates = {}
    for mult in (*mults_below, *mults_above):
        # 2000 steps at 0.98x; proportionally more below, so every rate has the same ∑η
        run = gradient_descent(model, start, mult * bound, round(2000 * max(1.0, 0.98 / mult)),
                               loss_floor=loss_star)
        gap = run.losses[-1] - loss_star
        fates[mult] = (run, (not run.diverged) and gap < 1e-12 * (run.losses[0] - loss_star))
    iff = an.claim(
        "On the quadratic model, 2/λmax is the divergence threshold: GD converges at every "
        "tested η below the bound (0.5x, 0.9x, 0.98x) and diverges at every tested η above it "
        "(1.02x, 1.1x, 2x)",
        all(fates[m][1] for m in mults_below) and all(fates[m][0].diverged for m in mults_above),
        evidence="; ".join(
            f"{m:g}x: " + (f"diverged at step {r.diverged_at}" if r.diverged else
                           f"loss gap {r.losses[-1] - loss_star:.2e} after {r.steps} steps")
            for m, (r, _) in fates.items()),
    )
    an.seed_claim("gd-stability", iff)

    # 2. GD on the real loss from near the optimum at 0.9x, 1.0x, 1.1x the bound.
    v_top = np.linalg.eigh(H)[1][:, -1]
    w = rng.standard_normal(problem.dim)
    theta0 = theta_star + 1e-3 * v_top + 1e-3 * w / np.linalg.norm(w)
    steps = 150 if an.quick else 300
    runs = {}
    for mult in (0.9, 1.0, 1.1):
        runs[f"η = {mult:.1f} × 2/λmax"] = gradient_descent(
            problem, theta0, mult * bound, steps, reference=theta_star, loss_floor=loss_star)
    d09 = runs["η = 0.9 × 2/λmax"].distances
    d11 = runs["η = 1.1 × 2/λmax"].distances
    # a run that diverged stopped early: it was pushed away for good
    tail11 = d11[steps // 2:] if not runs["η = 1.1 × 2/λmax"].diverged else d11[-1:]
    an.claim(
        "On the real problem, GD started near the optimum converges to it at 0.9x the bound and "
        "is pushed away from it for good at 1.1x",
        bool(d09[-1] < 1e-3 * d09[0] and tail11.min() > d11[0]),
        evidence=f"distance to θ*: 0.9x {d09[0]:.2e} → {d09[-1]:.2e}; 1.1x {d11[0]:.2e} → "
               f"stays above {tail11.min():.2e} over the second half (max {d11.max():.2f})",
    )

    # 3. Predicted vs measured contraction factor against η, on the real loss.
    mults = np.linspace(0.1, 1.25, 12 if an.quick else 24)
    lrs = mults * bound
    predicted = quadratic.gd_contraction(H, lrs)
    eps = 1e-4
    u = rng.standard_normal(problem.dim)
    u /= np.linalg.norm(u)
    measured = np.empty_like(lrs)
    for i, eta in enumerate(lrs):
        run = gradient_descent(problem, theta_star + eps * u, eta, 400 if an.quick else 800,
                               reference=theta_star, loss_floor=loss_star)
        d = run.distances
        d = d[: np.argmax(d > 1e-3)] if np.any(d > 1e-3) else d  # stay in the linear regime
        d = d[: np.argmax(d < 1e-11)] if np.any(d < 1e-11) else d  # and above round-off
        half = len(d) // 2
        t = np.arange(half, len(d))
        measured[i] = np.exp(np.polyfit(t, np.log(d[half:]), 1)[0])
    rel_err = np.abs(measured - predicted) / predicted
    an.number("max_rel_error_contraction", float(rel_err.max()),
              description="max over η of |measured − predicted| / predicted")
    an.claim(
        "The local prediction holds on the real problem: the measured contraction factor matches "
        "ρ(I − ηH) within 2% at every η from 0.1x to 1.25x the bound",
        rel_err.max() < 0.02,
        evidence=f"max relative error {rel_err.max():.2e} over {len(lrs)} learning rates",
    )

    fig, axes = subplots(1, 2, width=11)
    qplots.distance_curves({k: r.distances for k, r in runs.items()}, ax=axes[0],
                           title="GD on logistic regression near θ*")
    qplots.contraction_vs_lr(lrs, predicted, measured, bound=bound, ax=axes[1],
                             title="Contraction factor: quadratic model vs real loss")
    an.figure(fig, "threshold", caption=(
        "Left: distance to the optimum of full-batch GD started near it at 0.9, 1.0 and 1.1 "
        "times 2/λmax. Below the bound GD converges; at the bound the top mode neither grows nor "
        "decays; above it the top mode grows by |1 − ηλmax| per step until the loss's curvature, "
        "lower away from θ*, caps the growth in a bounded orbit. Right: per-step contraction "
        "factor of the distance to θ*, predicted by ρ(I − ηH) and measured on the real loss."))
