"""Cerebellar learning: the update rule C_{n+1} = C_n − k(C_n − C_opt) as gradient descent.

The rule is GD on ½(C − C_opt)² with η = k, so the GD stability bound 2/λ with λ = 1 gives its
regimes: monotone for 0 < k <= 1, oscillating for 1 < k < 2, divergent for k >= 2. This
analysis checks the recurrence against its closed form and against lrctl's GD loop, the
continuous-time limit, the stationary variance of the rule with motor and state noise (and the
variance-optimal rate, the steady-state Kalman gain) by Monte Carlo, the two-rate fast/slow
model of motor adaptation (savings, spontaneous recovery), and least-squares fits of k and of the
two-rate parameters to noisy observations.
"""

import numpy as np

from lrctl import cerebellar
from lrctl.objectives import QuadraticObjective
from lrctl.plots import cerebellar as dplots
from lrctl.plots import subplots
from lrctl.report import Analysis
from lrctl.training import gradient_descent

with Analysis(
    __file__,
    title="Cerebellar learning: the update rule as gradient descent, its noise and two rates",
    summary="C_{n+1} = C_n − k(C_n − C_opt): regimes, the identity with GD on ½(C − C_opt)², "
            "the continuous-time limit, motor noise, and the two-rate model of motor "
            "adaptation (A_f = 0.92, B_f = 0.03, A_s = 0.996, B_s = 0.004).",
) as an:
    n_mc = 5000 if an.quick else 20000
    c0, c_opt = 0.0, 1.0

    # 1. Regimes, closed form, GD identity -------------------------------------------------
    an.progress("regimes and the GD identity")
    ks = [0.3, 1.0, 1.5, 1.9, 2.1]
    n_steps = 25
    trajs = {k: cerebellar.cerebellar_trajectory(c0, c_opt, k, n_steps) for k in ks}
    closed = {k: cerebellar.cerebellar_closed_form(c0, c_opt, k, np.arange(n_steps + 1))
              for k in ks}
    err_closed = max(float(np.max(np.abs(trajs[k] - closed[k]))) for k in ks)
    fig = dplots.cerebellar_regimes(trajs, c_opt, closed=closed)
    fig.axes[0].set_ylim(-1.5, 3.5)
    an.figure(fig, "regimes", caption="The rule for five rates (markers: recurrence, lines: "
              "closed form C_opt + (1 − k)^n (C_0 − C_opt)).")
    an.number("closed_form_max_error", err_closed, unit="a.u.")
    an.claim("The recurrence C_{n+1} = C_n − k(C_n − C_opt) equals the closed form "
             "C_opt + (1 − k)^n (C_0 − C_opt)", err_closed < 1e-12,
             evidence=f"max difference {err_closed:.1e} over k in {ks}, n <= {n_steps}")
    k_grid = np.linspace(0.03, 2.97, 50)  # steps of 0.06, avoiding the edge cases k = 1, 2
    # C_opt = 0 so that C_n is the error itself, with full relative precision near 0.
    traj_grid = cerebellar.cerebellar_trajectory(1.0, 0.0, k_grid, 40)  # (41, 50)
    regimes = cerebellar.cerebellar_regime(k_grid)
    s_now, s_next = np.sign(traj_grid[:-1]), np.sign(traj_grid[1:])
    no_flip = np.all(s_next == s_now, axis=0)
    always_flip = np.all(s_next == -s_now, axis=0)
    shrinking = np.all(np.abs(traj_grid[1:]) < np.abs(traj_grid[:-1]), axis=0)
    mono, osc, div = (regimes == r for r in ("monotone", "oscillating", "divergent"))
    regimes_ok = (np.all(no_flip[mono] & shrinking[mono])
                  and np.all(always_flip[osc] & shrinking[osc])
                  and np.all(~shrinking[div]))
    an.claim("Regimes: monotone for 0 < k <= 1, oscillating for 1 < k < 2, divergent for k >= 2",
             regimes_ok, evidence=f"50 rates in [0.03, 2.97], 40 steps: {mono.sum()} monotone "
                                f"(no sign change, shrinking), {osc.sum()} oscillating (sign "
                                f"flips every step, shrinking), {div.sum()} divergent (growing); "
                                "k = 1 lands in one step, k = 2 flips with constant size")
    deriv = cerebellar.derive_cerebellar_gd_identity()
    an.derivation(deriv)
    worst_gd = 0.0
    for k in (0.3, 1.0, 1.5, 1.9):
        obj = QuadraticObjective(np.array([[1.0]]), minimizer=np.array([c_opt]))
        run = gradient_descent(obj, [c0], lr=k, steps=n_steps)
        worst_gd = max(worst_gd, float(np.max(np.abs(run.losses - 0.5 * (trajs[k] - c_opt)
                                                     ** 2))))
    gd_claim = an.claim("The cerebellar rule is gradient descent on ½(C − C_opt)² with η = k: lrctl's GD "
             "loop at lr = k reproduces it", worst_gd < 1e-14,
             evidence=f"max loss difference {worst_gd:.1e}; sympy: GD step − rule = "
                    f"{dict(deriv.steps)['the gradient step minus the cerebellar update is']}")
    an.seed_claim("cerebellar", gd_claim)
    dv = cerebellar.simulate_cerebellar(c0, c_opt, 2.5, 1000)
    # Input handling of the software: a check, not evidence.
    an.check("A divergent rate (k = 2.5) is a valid input: the simulation stops at divergence "
             "and says so, with finite values", dv.diverged and dv.diverged_at is not None
             and bool(np.all(np.isfinite(dv.c))),
             evidence=f"regime {dv.regime}, stopped at step {dv.diverged_at} where |C − C_opt| "
                    f"passed 1e6·|C_0 − C_opt| (1.5^{dv.diverged_at} = "
                    f"{1.5 ** dv.diverged_at:.2e})")

    # 2. Continuous-time limit ---------------------------------------------------------------
    an.progress("continuous-time limit")
    kappa, t_end = 1.3, 2.0
    Ns = np.array([10, 30, 100, 300, 1000, 3000, 10000])
    dts = t_end / Ns
    exact = cerebellar.cerebellar_continuous(c0, c_opt, kappa, t_end)
    errs = np.array([cerebellar.cerebellar_trajectory(c0, c_opt, kappa * dt, int(N))[-1] - exact
                     for dt, N in zip(dts, Ns, strict=True)])
    first = (c0 - c_opt) * (-(kappa**2) * t_end**2 / (2 * Ns)) * np.exp(-kappa * t_end)
    order = float(np.polyfit(np.log(dts[3:]), np.log(np.abs(errs[3:])), 1)[0])
    fig = dplots.continuous_limit(dts, errs, predicted_first_order=first,
                                  title=f"Rate k·Δt per step → C_opt + (C₀ − C_opt)e^(−kt), "
                                        f"k = {kappa}, t = {t_end}")
    an.figure(fig, "continuous-limit", caption="Error of the discrete rule at time t against "
              "the continuous-time solution, with the first-order term from the derivation.")
    an.derivation(cerebellar.derive_cerebellar_continuous_limit())
    an.number("continuous_limit_order", order, description="fitted order of the error in Δt")
    rel_first = float(abs(errs[-1] / first[-1] - 1))
    an.claim("The discrete rule with rate k·Δt converges to dC/dt = −k(C − C_opt) with error "
             "O(Δt), with the leading term −(C_0 − C_opt)k²t²e^{−kt}/(2N) of the derivation",
             abs(order - 1) < 0.03 and rel_first < 1e-2,
             evidence=f"fitted order {order:.3f}; at N = {Ns[-1]} the error is within "
                    f"{rel_first:.1e} (relative) of the leading term")

    # 3. Motor noise -------------------------------------------------------------------------
    an.progress(f"motor noise: Monte Carlo with {n_mc} runs")
    sx, su = 0.05, 0.2
    k_fine = np.linspace(0.02, 1.98, 300)
    v_pred = cerebellar.cerebellar_noise_variance(k_fine, sx, su)
    k_mc = np.array([0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.3, 1.6, 1.8, 1.9])
    v_mc, v_err = [], []
    for i, k in enumerate(k_mc):
        steps = int(min(4000, 12 / k + 60))  # well past the transient (1 − k)^{2n}
        res = cerebellar.simulate_cerebellar(0.0, 0.0, float(k), steps, state_noise=sx,
                                           motor_noise=su, n_runs=n_mc, seed=100 + i)
        v = float(np.var(res.c[:, -1]))
        v_mc.append(v)
        v_err.append(v * np.sqrt(2.0 / (n_mc - 1)))
    v_mc, v_err = np.array(v_mc), np.array(v_err)
    v_at = cerebellar.cerebellar_noise_variance(k_mc, sx, su)
    z = np.abs(v_mc - v_at) / v_err
    k_star = cerebellar.optimal_cerebellar_rate(sx, su)
    fig = dplots.noise_variance(k_fine, v_pred, k_mc, v_mc, measured_err=2 * v_err, k_star=k_star,
                                title=f"Noisy rule, σ_x = {sx}, σ_u = {su}: stationary variance")
    an.figure(fig, "noise-variance", caption=f"Derived stationary variance of C − C_opt (line) "
              f"and Monte Carlo estimates over {n_mc} runs (± 2 standard errors).")
    an.derivation(cerebellar.derive_cerebellar_noise())
    an.number("noise_max_z_score", float(z.max()),
              description="max |MC − derived| in standard errors of the MC estimate")
    an.claim("The stationary variance of the noisy rule is (k²σ_u² + σ_x²)/(k(2 − k)) "
             "(Monte Carlo within 4 standard errors at every rate)", bool(np.all(z < 4)),
             evidence=f"{len(k_mc)} rates in [0.05, 1.9]; max deviation {z.max():.2f} standard "
                    f"errors; max relative deviation {np.max(np.abs(v_mc / v_at - 1)):.1%}")
    from scipy.optimize import minimize_scalar

    num = minimize_scalar(lambda k: cerebellar.cerebellar_noise_variance(k, sx, su),
                          bounds=(1e-4, 1.999), method="bounded", options={"xatol": 1e-10})
    q, r, P = sx**2, su**2, 1.0
    for _ in range(20000):  # steady-state Kalman filter Riccati recursion
        P = P - P * P / (P + r) + q
    kalman = P / (P + r)
    an.number("optimal_rate", k_star, description="k* = (−σ_x² + √(σ_x⁴ + 4σ_u²σ_x²))/(2σ_u²)")
    an.claim("The variance-optimal rate k* = (−σ_x² + √(σ_x⁴ + 4σ_u²σ_x²))/(2σ_u²) minimizes "
             "the stationary variance and equals the steady-state Kalman gain",
             abs(k_star - num.x) < 1e-6 and abs(k_star - kalman) < 1e-9,
             evidence=f"k* = {k_star:.6f}; numerical minimizer {num.x:.6f}; Kalman gain "
                    f"{kalman:.6f}")

    # 4. The two-rate model ------------------------------------------------------------------
    an.progress("two-rate model: spontaneous recovery and savings")
    params = cerebellar.TwoRateParams()
    single_A, single_B = 0.99, 0.04  # a single-rate model with similar adaptation speed
    sr = cerebellar.spontaneous_recovery(n_adapt=300, n_clamp=200)
    sr1 = cerebellar.spontaneous_recovery(retention=[single_A], rate=[single_B], n_adapt=300,
                                        n_clamp=200)
    single_run = cerebellar.simulate_adaptation(
        np.concatenate([np.ones(300), -np.ones(sr1.n_deadapt), np.zeros(200)]),
        [single_A], [single_B],
        error_clamp=np.concatenate([np.zeros(300 + sr1.n_deadapt, bool), np.ones(200, bool)]))
    a, d = sr.n_adapt, sr.n_deadapt
    fig = dplots.two_rate_run(sr.run, phases=[(0, a, "adaptation f = +1"),
                                              (a, a + d, "de-adapt."),
                                              (a + d, a + d + sr.n_clamp, "error clamp")],
                              single=single_run.output,
                              title="Spontaneous recovery (A_f 0.92, B_f 0.03, A_s 0.996, "
                                    "B_s 0.004)")
    an.figure(fig, "spontaneous-recovery", caption="Adaptation, de-adaptation until the output "
              "is 0, then an error clamp: the fast state decays and the slow state re-emerges "
              f"(rebound); the single-rate model (A = {single_A}, B = {single_B}) stays at 0.")
    an.number("rebound", sr.rebound, unit="fraction of perturbation")
    an.number("rebound_single_rate", sr1.rebound, unit="fraction of perturbation")
    an.claim("Spontaneous recovery: in the error clamp after de-adaptation the two-rate output "
             "rebounds toward the first adaptation; a single-rate model does not",
             sr.rebound > 0.1 and sr1.rebound < 1e-3,
             evidence=f"two-rate rebound {sr.rebound:.3f} at clamp trial {sr.rebound_trial} "
                    f"(de-adaptation took {d} trials); single-rate max {sr1.rebound:.1e}")
    sv = cerebellar.savings(n_adapt=300, n_relearn=150)
    sv1 = cerebellar.savings(retention=[single_A], rate=[single_B], n_adapt=300, n_relearn=150)
    fig = dplots.savings_curves(sv, sv1, title="Savings: relearning after adaptation + "
                                               "de-adaptation to zero output")
    an.figure(fig, "savings", caption=f"Trials to reach {sv.criterion:.0%} adaptation: naive vs "
              "relearning (dashed verticals for the two-rate model).")
    an.number("trials_naive", sv.trials_naive)
    an.number("trials_relearn", sv.trials_relearn)
    an.claim("Savings: after adaptation and de-adaptation to zero output the two-rate model "
             "relearns faster than it first learned; the single-rate model does not",
             sv.trials_relearn < sv.trials_naive and abs(sv1.trials_relearn - sv1.trials_naive)
             <= 1,
             evidence=f"two-rate: {sv.trials_naive} → {sv.trials_relearn} trials to "
                    f"{sv.criterion}; single-rate: {sv1.trials_naive} → {sv1.trials_relearn}")

    # 5. Fits -------------------------------------------------------------------------------
    an.progress("fitting k and the two-rate parameters")
    rng = np.random.default_rng(7)
    k_true = 0.18
    truth = cerebellar.cerebellar_trajectory(0.0, 1.0, k_true, 60)
    observed = truth + 0.03 * rng.standard_normal(truth.size)
    kfit = cerebellar.fit_cerebellar_rate(observed)
    fitted = cerebellar.cerebellar_closed_form(kfit.c0, kfit.c_opt, kfit.k, np.arange(truth.size))
    run = sr.run
    noisy = run.output + 0.02 * rng.standard_normal(run.output.size)
    tfit = cerebellar.fit_two_rate(run.perturbation, noisy, error_clamp=run.error_clamp)
    refit = cerebellar.simulate_two_rate(run.perturbation, tfit.params,
                                       error_clamp=run.error_clamp)
    fig, axes = subplots(1, 2, height=3.8)
    dplots.fitted_trajectory(observed, fitted, truth=truth, ax=axes[0],
                             title=f"fit of k: {kfit.k:.3f} (true {k_true})")
    dplots.fitted_trajectory(noisy, refit.output, truth=run.output, ax=axes[1],
                             ylabel="adaptation (fraction of perturbation)",
                             title="two-rate fit to the spontaneous-recovery run")
    an.figure(fig, "fits", caption="Least-squares fits (scipy least_squares) to noisy "
              "observations: the cerebellar rate k (left, noise sd 0.03) and the four two-rate "
              "parameters (right, noise sd 0.02).")
    p = tfit.params
    rel = {n: abs(getattr(p, n) / getattr(params, n) - 1)
           for n in ("a_fast", "b_fast", "a_slow", "b_slow")}
    an.number("fit_k", kfit.k)
    an.number("fit_two_rate", [p.a_fast, p.b_fast, p.a_slow, p.b_slow],
              description="fitted (A_f, B_f, A_s, B_s)")
    an.claim("Least squares recovers the cerebellar rate from a noisy trajectory",
             abs(kfit.k / k_true - 1) < 0.1,
             evidence=f"k = {kfit.k:.4f} vs true {k_true} (noise sd 0.03, 61 trials); "
                    f"rms residual {kfit.rms:.4f}")
    an.claim("Least squares recovers the two-rate parameters from a noisy spontaneous-recovery "
             "run (adaptation, de-adaptation, error clamp)",
             rel["a_fast"] < 0.05 and rel["a_slow"] < 0.002 and rel["b_fast"] < 0.3
             and rel["b_slow"] < 0.3,
             evidence="fitted (true): " + ", ".join(
                 f"{n} {getattr(p, n):.4f} ({getattr(params, n)})" for n in rel)
                    + f"; rms residual {tfit.rms:.4f} (noise 0.02)")
