"""Diffusion noise levels: the curvature of the denoising loss against σ, and rates per level.

A linear denoiser D(x̃) = A x̃ on the digits images (64 pixels scaled to [−1, 1], centred) at
noise level σ has the loss Hessian 2(Σ + σ²I) ⊗ I, exactly, with Σ the images' empirical
covariance. With a loss weight w(σ) and EDM's preconditioning the curvature of the trainable
part is c_σ = 2 w a² (λ_max + σ²). The analysis measures c_σ on sampled noise, compares the
x₀, ε, Min-SNR and EDM weightings, and trains every noise level with one fixed rate against the
adapted rates η_σ = κ/c_σ.
"""

import numpy as np

from lrctl import diffusion as dif
from lrctl.curvature import top_eigenvalue
from lrctl.objectives import load_dataset
from lrctl.plots import diffusion as dplots
from lrctl.plots import subplots, tidy_log_ticks
from lrctl.report import Analysis

with Analysis(
    __file__,
    title="Diffusion: curvature of the denoising loss across noise levels, and rates per level",
    summary=("Linear denoiser on the digits images (1797 × 64, scaled to [−1, 1] and centred): "
             "the Hessian of the denoising loss at each σ in EDM's range [0.002, 80], under the "
             "x₀, ε, Min-SNR-5 and EDM weightings and EDM preconditioning; full-batch GD at every "
             "level with one fixed rate against η_σ = κ/c_σ."),
) as an:
    quick = an.quick
    an.derivation(dif.derive_denoising_curvature("none"))
    an.derivation(dif.derive_denoising_curvature("edm"))

    X, _ = load_dataset("digits", standardize=False)
    X = X / 8.0 - 1.0  # pixel values 0..16 -> [-1, 1], as image diffusion models use
    Sigma = dif.empirical_covariance(X)
    lam = np.linalg.eigvalsh(Sigma)
    lam_max = float(lam[-1])
    sigma_data = float(np.sqrt(lam.mean()))
    an.number("lambda_max_data", lam_max, unit="data units²",
              description="largest eigenvalue of the images' covariance")
    an.number("sigma_data", sigma_data, unit="data units",
              description="σ_d = √(tr Σ/d), EDM's data standard deviation")
    sigmas = np.geomspace(0.002, 80.0, 16 if quick else 40)

    # ------------------------------------------------------------------ curvature per σ
    an.progress("curvature against σ for each weighting")
    settings = {
        "x₀ loss, no preconditioning": ("none", "none"),
        "ε loss (weight 1/σ²)": ("none", "snr"),
        "Min-SNR-5, x₀ form": ("none", "min-snr"),
        "EDM preconditioning, unweighted": ("edm", "none"),
        "EDM preconditioning + λ(σ) = 1/c_out²": ("edm", "edm"),
    }
    curv = {label: dif.denoising_curvature(Sigma, sigmas, preconditioning=pre, weighting=wt,
                                           sigma_data=sigma_data)
            for label, (pre, wt) in settings.items()}
    plain = curv["x₀ loss, no preconditioning"]

    an.progress("curvature measured on sampled noise (Lanczos on the sample loss)")
    Xc = X - X.mean(axis=0)
    rng = np.random.default_rng(0)
    reps = 10 if quick else 30
    mc_sigmas = np.array([0.01, 0.3, 3.0]) if quick else np.array([0.002, 0.03, 0.3, 1.0, 3.0])
    d = X.shape[1]
    mc_values, mc_errors, mc_within = [], [], []
    for s in mc_sigmas:
        Xr = np.tile(Xc, (reps, 1))
        Xt = Xr + s * rng.standard_normal(Xr.shape)  # `reps` noisy copies of every image
        G = Xt.T @ Xt / Xt.shape[0]
        B = Xr.T @ Xt / Xt.shape[0]

        def grad(vec_w, G=G, B=B):
            # gradient of the sample loss (1/m) Σ ‖W x̃_i − x_i‖² in W (row-major flattening)
            return (2.0 * (vec_w.reshape(d, d) @ G - B)).ravel()

        g0 = grad(np.zeros(d * d))
        res = top_eigenvalue(lambda v, grad=grad, g0=g0: grad(v) - g0, d * d, seed=1, tol=1e-8)
        c = float(dif.denoising_curvature(Sigma, s).top[0])
        # Weyl: a finite noise sample moves λ_max by at most 2‖G − (Σ + σ²I)‖₂
        weyl = 2.0 * np.linalg.norm(G - (Sigma + s**2 * np.eye(d)), 2)
        mc_values.append(res.value)
        mc_errors.append(abs(res.value / c - 1))
        mc_within.append(abs(res.value - c) <= weyl)
    mc_err = float(max(mc_errors))
    an.number("curvature_sampled_noise_rel_error", [round(float(e), 6) for e in mc_errors],
              description="|measured/2(λ_max + σ²) − 1| at σ = "
                          + ", ".join(f"{v:g}" for v in mc_sigmas))
    an.claim("The curvature of the denoising loss at noise level σ is 2(λ_max(Σ) + σ²)",
             all(mc_within) and mc_err < 0.05,
             evidence=f"Lanczos on the gradients of the sample loss with {reps} noise draws per "
                    f"image at {len(mc_sigmas)} levels: max relative deviation {mc_err:.2%}, "
                    f"inside the sample's own deviation bound 2‖Ĝ − (Σ + σ²I)‖ at every level "
                    f"(it shrinks like 1/√(draws))")

    # The seed: "at high noise levels the landscape is often flatter, at low noise levels it
    # can have sharper curvature". Decided on the curvatures measured by Lanczos on sampled
    # noise (not the closed form), for the unweighted x₀ loss and for the ε loss (weight 1/σ²).
    mc_top = np.array(mc_values)
    flat_x0 = an.claim(
        "Unweighted (x₀ loss), the landscape is flatter at high noise: the measured top "
        "curvature falls as σ rises over the sampled levels",
        bool(np.all(np.diff(mc_top) < 0)),
        evidence="measured c_σ at σ = " + ", ".join(f"{a:g}: {b:.4g}"
                                                    for a, b in zip(mc_sigmas, mc_top, strict=True))
                 + " (it grows like 2σ²)")
    mc_eps = mc_top / mc_sigmas**2
    flat_eps = an.claim(
        "With the ε-loss weighting 1/σ², the landscape is flatter at high noise: the measured "
        "top curvature falls as σ rises over the sampled levels",
        bool(np.all(np.diff(mc_eps) < 0)),
        evidence="measured c_σ/σ² at σ = " + ", ".join(
            f"{a:g}: {b:.4g}" for a, b in zip(mc_sigmas, mc_eps, strict=True)))
    # Condition, fixed before the run: the statement holds for the ε (noise-prediction)
    # parameterization, where the weight 1/σ² falls faster than the curvature 2(λ + σ²) rises.
    an.seed_claim("diffusion-curvature", [flat_x0, flat_eps], condition=flat_eps)

    fig, axes = subplots(1, 2, width=12.0, height=4.6)
    dplots.curvature_vs_sigma(curv, measured=(mc_sigmas, np.array(mc_values)),
                              band="x₀ loss, no preconditioning", ax=axes[0],
                              title="Top curvature c_σ per weighting (digits)")
    axes[1].loglog(sigmas, plain.condition_number, lw=1.8, color="0.25")
    axes[1].set_xlabel("noise level σ (data units)")
    axes[1].set_ylabel("within-level condition number (λ_max+σ²)/(λ_min+σ²)")
    axes[1].set_title("Conditioning inside a level (any weighting)")
    tidy_log_ticks(axes[1], "x")
    an.figure(fig, "curvature",
              caption="Left: the largest Hessian eigenvalue of the denoising loss in the "
                      "trainable weights against σ. Unweighted, it grows like σ² (shaded: the "
                      "whole spectrum 2(λ_j + σ²)); the ε loss explodes as 2λ_max/σ² at low "
                      "noise; Min-SNR-5 caps it; EDM's preconditioning with its weighting keeps "
                      "it between 2 and 2λ_max/σ_d². Circles: measured by Lanczos on the sample "
                      "loss with sampled noise. Right: the condition number inside one level, "
                      "which no loss weighting changes.")
    spreads = {label: c.spread for label, c in curv.items()}
    an.number("curvature_spread", [round(v, 4) for v in spreads.values()],
              description="max_σ c_σ/min_σ c_σ for: " + "; ".join(spreads))
    edm = curv["EDM preconditioning + λ(σ) = 1/c_out²"]
    lo, hi = sorted([2.0, 2.0 * lam_max / sigma_data**2])
    # The closed form against its own bounds: an identity, not evidence.
    an.check("With EDM preconditioning and weighting λ(σ) = 1/c_out², the curvature "
             "2(λ_max + σ²)/(σ² + σ_d²) stays between 2 and 2λ_max/σ_d² over σ ∈ [0.002, 80]",
             bool(np.all(edm.top >= lo * (1 - 1e-12)) and np.all(edm.top <= hi * (1 + 1e-12))),
             evidence=f"range [{edm.top.min():.4g}, {edm.top.max():.4g}] within "
                    f"[{lo:.4g}, {hi:.4g}]; spread {edm.spread:.3g} against "
                    f"{plain.spread:.3g} unpreconditioned")
    iso = dif.denoising_curvature(np.full(d, sigma_data**2), sigmas, preconditioning="edm",
                                  weighting="edm", sigma_data=sigma_data)
    iso_dev = float(np.max(np.abs(iso.top - 2.0)))
    an.check("For data of variance σ_d² in every direction, EDM's preconditioning and weighting "
             "give the same curvature, 2, at every noise level",
             iso_dev < 1e-12, evidence=f"max |c_σ − 2| = {iso_dev:.1e} over {sigmas.size} levels")
    eps = curv["ε loss (weight 1/σ²)"]
    msnr = curv["Min-SNR-5, x₀ form"]
    cap = 2.0 * (5.0 * lam_max + 1.0)
    an.check("Min-SNR-γ caps the ε-loss curvature 2(λ_max + σ²)/σ² at 2(γλ_max + 1)",
             bool(msnr.top.max() <= cap * (1 + 1e-12)) and eps.top.max() > 100 * cap,
             evidence=f"Min-SNR-5 max {msnr.top.max():.4g} ≤ {cap:.4g}; ε loss reaches "
                    f"{eps.top.max():.4g} at σ = {sigmas[0]:g}")

    # ------------------------------------------------------------------ training per level
    an.progress("training every level: fixed vs adapted rates")
    kappa = 0.5
    steps = 150 if quick else 300
    adapted = dif.adapted_lr(plain, kappa)
    fixed = kappa / plain.top.max()  # the largest rate with the same margin at every level
    run_a = dif.train_denoiser(Sigma, sigmas, adapted, steps)
    run_f = dif.train_denoiser(Sigma, sigmas, fixed, steps)
    pred_a = dif.denoiser_learning_curve(Sigma, sigmas, adapted, steps)
    pred_f = dif.denoiser_learning_curve(Sigma, sigmas, fixed, steps)
    sim_gap = float(max(np.max(np.abs(r.relative_excess - q.relative_excess))
                        for r, q in ((run_a, pred_a), (run_f, pred_f))))
    an.claim("Gradient descent on the denoising loss follows the closed form "
             "Σ_j (λ_j + σ²)‖E_j‖²(1 − 2η(λ_j + σ²))^{2t} at every level",
             sim_gap < 1e-9 and not run_a.diverged.any() and not run_f.diverged.any(),
             evidence=f"max |simulated − closed-form relative excess| = {sim_gap:.1e} "
                    f"({sigmas.size} levels × {steps} steps, two rate choices)")

    an.progress("top-mode contraction per level")
    _, Q = np.linalg.eigh(Sigma)
    u = np.random.default_rng(1).standard_normal(d)
    W_top = dif.denoiser_optimum(Sigma, sigmas) + np.outer(u, Q[:, -1])[None]
    top_a = dif.train_denoiser(Sigma, sigmas, adapted, 3, initial=W_top)
    top_f = dif.train_denoiser(Sigma, sigmas, fixed, 3, initial=W_top)
    ratio_a = np.sqrt(np.asarray(top_a.excess_loss[:, 1] / top_a.excess_loss[:, 0]))
    ratio_f = np.sqrt(np.asarray(top_f.excess_loss[:, 1] / top_f.excess_loss[:, 0]))
    dev_a = float(np.max(np.abs(ratio_a - (1 - kappa))))
    stiff = an.claim("With η_σ = κ/c_σ the stiffest direction of every level shrinks by 1 − κ per step",
             dev_a < 1e-6,
             evidence=f"κ = {kappa}: measured factors in [{ratio_a.min():.6f}, {ratio_a.max():.6f}]; "
                    f"with the one fixed rate they range over [{ratio_f.min():.4f}, "
                    f"{ratio_f.max():.4f}]")
    pred_f_factor = 1 - kappa * plain.top / plain.top.max()
    dev_f = float(np.max(np.abs(ratio_f - pred_f_factor)))
    an.claim("One fixed rate κ/max_σ c_σ makes level σ's stiffest direction shrink by only "
             "1 − κ c_σ/max c_σ per step",
             dev_f < 1e-6,
             evidence=f"max deviation {dev_f:.1e}; slowest level {ratio_f.max():.6f} per step "
                    f"(curvature ratio max/min = {plain.spread:.4g})")

    target = 1e-2
    t_a = run_a.steps_to(target)
    t_f = run_f.steps_to(target)
    # σ → 0 limit from the data spectrum alone: mode j starts at λ_j and shrinks by
    # (1 − κλ_j/λ_max)² per step (W₀ = 0)
    t_grid = np.arange(steps + 1)
    limit_curve = (lam[None, :] * (1 - kappa * lam[None, :] / lam_max) ** (2 * t_grid[:, None])
                   ).sum(axis=1) / lam.sum()
    t_limit = int(np.argmax(limit_curve <= target))
    an.number("steps_to_1pct_adapted", t_a, unit="steps")
    an.number("steps_to_1pct_fixed", t_f, unit="steps", description="inf: not within the run")
    an.number("steps_to_1pct_sigma0_limit", t_limit, unit="steps")
    finite_a = bool(np.all(np.isfinite(t_a)))
    an.claim("With the adapted rates every noise level reaches 1% of its initial excess loss, "
             "no later than the σ → 0 limit set by the data covariance's own conditioning",
             finite_a and float(t_a.max()) <= t_limit + 1 and abs(float(t_a[0]) - t_limit) <= 1,
             evidence=f"adapted: {int(t_a.min())}–{int(t_a.max())} steps across σ; σ → 0 limit "
                    f"{t_limit} steps (from the eigenvalues alone); fixed rate: "
                    f"{int(np.sum(np.isfinite(t_f)))}/{sigmas.size} levels within {steps} steps")
    spread_t = float(t_a.max() / t_a.min()) if finite_a else float("inf")
    same_pace = an.claim(
        "With the adapted rates η_σ = κ/c_σ every noise level makes the same progress: the "
        "steps to 1% of the initial excess loss agree within a factor 2 across σ",
        finite_a and spread_t <= 2.0,
        evidence=f"steps to 1%: {int(t_a.min())}–{int(t_a.max())} across {sigmas.size} levels "
                 f"(ratio {spread_t:.3g}); the stiffest direction contracts alike, the "
                 "within-level conditioning (λ_max + σ²)/(λ_min + σ²) does not")
    # Condition, fixed before the run: the rate of progress that 1/c_σ maintains is the one
    # of the stiffest direction (the one c_σ measures).
    an.seed_claim("diffusion-rates", [stiff, same_pace], condition=stiff)
    rel_a = np.asarray(run_a.relative_excess[:, -1])
    rel_f = np.asarray(run_f.relative_excess[:, -1])
    an.claim("One fixed rate, stable at the noisiest level, leaves the low-noise levels "
             "almost untrained",
             rel_f[0] > 0.5 and rel_a.max() < target,
             evidence=f"relative excess after {steps} steps at σ = {sigmas[0]:g}: fixed "
                    f"{rel_f[0]:.3f}, adapted {rel_a[0]:.2e}; adapted worst over σ "
                    f"{rel_a.max():.2e}")

    fig, axes = subplots(1, 2, width=12.0, height=4.6)
    dplots.progress_vs_sigma(sigmas, {f"adapted η_σ = {kappa}/c_σ": rel_a,
                                      f"one fixed rate {kappa}/max c_σ": rel_f},
                             ax=axes[0], ylabel=f"relative excess loss after {steps} steps",
                             title="Progress per noise level")
    axes[0].set_ylim(3e-17, 3.0)
    levels = [0, sigmas.size // 2, sigmas.size - 1]
    dplots.learning_curves({"adapted": run_a, "fixed": run_f}, levels,
                           predicted={"adapted": pred_a, "fixed": pred_f}, ax=axes[1],
                           title="Learning curves at three noise levels", every=10)
    axes[1].set_ylim(3e-17, 3.0)
    an.figure(fig, "progress",
              caption="Full-batch GD on the denoising loss of the digits images, one run per "
                      "noise level. Left: the excess loss left after training, relative to its "
                      "start. The single rate that is safe at σ = 80 barely moves the low-noise "
                      "levels; the adapted rates η_σ = κ/c_σ train every level. Right: learning "
                      "curves (lines: simulation in pixel space; dots: closed form in the "
                      "eigenbasis of Σ).")

    fig, ax = subplots(1, 1, width=7.5)
    ax.semilogx(sigmas, t_a, "o-", lw=1.6, ms=4, label=f"adapted η_σ = {kappa}/c_σ")
    reached = np.isfinite(t_f)
    ax.semilogx(sigmas[reached], t_f[reached], "s--", lw=1.6, ms=4,
                label=f"one fixed rate {kappa}/max c_σ")
    ax.semilogx(sigmas[~reached], np.full((~reached).sum(), steps), "v", color="C1", ms=6,
                label=f"fixed rate: not reached in {steps} steps")
    ax.axhline(t_limit, color="0.4", ls=":", lw=1.2, label=f"σ → 0 limit ({t_limit} steps)")
    ax.set_xlabel("noise level σ (data units)")
    ax.set_ylabel("steps to 1% of the initial excess loss")
    ax.set_title("Steps to train each noise level")
    tidy_log_ticks(ax, "x")
    ax.legend(fontsize=8)
    an.figure(fig, "steps",
              caption="Steps until the excess loss falls to 1% of its start. With the adapted "
                      "rates the stiffest direction of every level contracts alike; what is left "
                      "is the conditioning inside a level, which decreases with σ, so the "
                      "low-noise levels are the slowest and reach the σ → 0 limit given by the "
                      "data covariance alone.")

    # ------------------------------------------------------------------ weighting = rate
    an.progress("loss weighting as a per-level rate")
    pick = sigmas[:: max(1, sigmas.size // 8)]
    c_edm = dif.denoising_curvature(Sigma, pick, preconditioning="edm", weighting="edm",
                                    sigma_data=sigma_data)
    eta = kappa / c_edm.top.max()
    weighted = dif.train_denoiser(Sigma, pick, eta, 50, preconditioning="edm", weighting="edm",
                                  sigma_data=sigma_data)
    as_rate = dif.train_denoiser(Sigma, pick, eta * c_edm.weight, 50, preconditioning="edm",
                                 sigma_data=sigma_data)
    w_gap = float(np.max(np.abs(weighted.relative_excess - as_rate.relative_excess)))
    # Both runs are the same recursion by construction (η·λ(σ) either way): a check.
    an.check("A loss weight is a per-level learning rate: one rate η on λ(σ)·L_σ trains exactly "
             "like the rates η·λ(σ) on L_σ",
             w_gap < 1e-9, evidence=f"max difference of relative excess over {pick.size} levels × "
                                  f"50 steps: {w_gap:.1e}")
    eq = dif.curvature_equalizing_weight(Sigma, pick, preconditioning="edm",
                                         sigma_data=sigma_data)
    ratio = c_edm.weight / eq  # = c_σ: EDM's weight relative to the curvature-equalizing one
    an.number("edm_weight_over_equalizing_weight", [round(float(v), 4) for v in ratio],
              description="λ(σ)/w_eq(σ) at σ = " + ", ".join(f"{v:.3g}" for v in pick))
