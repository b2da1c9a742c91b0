"""Hypergradient descent: learning the learning rate online (Baydin et al. 2018).

Part 1, a quadratic with a known spectrum (20 eigenvalues from 0.1 to 1, random eigenbasis):
both rules, the additive η ← η + α g_{t+1}ᵀg_t and the log rule ln η ← ln η + α η g_{t+1}ᵀg_t,
started far below η* = 2/(λmin+λmax) and above the stability bound 2/λmax, over a grid of α.
Where does η_t settle, and where does each rule fail?

Part 2, a real problem: a one-hidden-layer tanh network on the digits data (scikit-learn's
bundled copy), full-batch. Both rules started from a small η_0, against the best constant rate
of a grid and against the rate suggested by the LR range test (lrctl.rangetest), with the
final loss as a function of α and of η_0.
"""

import numpy as np

from lrctl import adaptive, quadratic, rangetest
from lrctl.objectives import MLP, QuadraticObjective, split_dataset
from lrctl.plots import adaptive as aplots
from lrctl.plots import subplots
from lrctl.report import Analysis

DIVERGENCE = 10.0  # on the network, a run whose loss passes 10x its initial loss has diverged


def band(alphas, ok):
    """The α values where ok holds, as text."""
    a = np.asarray(alphas)[np.asarray(ok)]
    return "none" if a.size == 0 else f"[{a.min():.3g}, {a.max():.3g}] ({a.size} of {len(ok)})"


with Analysis(__file__, title="Hypergradient descent: the learning rate learned online",
              summary="The additive and the log-parameterized hypergradient rules on a quadratic "
                      "with a known spectrum and on a tanh network trained on the digits data, "
                      "against the best constant rate and the LR range test.") as an:
    an.derivation(adaptive.derive_hypergradient())
    an.derivation(quadratic.derive_optimal_lr())

    # ---------------------------------------------------------------- part 1: quadratic
    an.progress("quadratic: sweeping the hyper-rate for both rules")
    rng = np.random.default_rng(0)
    dim = 20
    eigs = np.geomspace(0.1, 1.0, dim)
    Q, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    H = (Q * eigs) @ Q.T
    model = QuadraticObjective(0.5 * (H + H.T))
    theta0 = rng.standard_normal(dim)
    eta_star, rho_star = quadratic.optimal_lr(eigs)
    bound = quadratic.gd_stability_bound(eigs)
    # the good region: rates that contract at least halfway from 1 to the optimum ρ*
    rho_good = 0.5 * (1.0 + rho_star)
    good = ((1.0 - rho_good) / eigs.min(), (1.0 + rho_good) / eigs.max())
    steps_q = 300 if an.quick else 400
    alphas_q = np.geomspace(0.01, 30.0, 8 if an.quick else 19)
    starts = {"below": 0.1, "above": 1.5 * bound}
    sweeps, negative_at = {}, {}
    for rule in ("additive", "log"):
        for where, lr0 in starts.items():
            res = adaptive.hypergradient_sweep(model, theta0, lr0, alphas_q, steps_q, rule=rule)
            sweeps[rule, where] = tuple(r.run for r in res)  # one Run per α of the grid
            negative_at[rule, where] = [r.negative_lr_at for r in res]
    an.number("eta_star", eta_star, unit="lr", description="2/(λmin+λmax) of the quadratic")
    an.number("stability_bound", bound, unit="lr", description="2/λmax of the quadratic")
    an.number("good_region", list(good), unit="lr",
              description="rates with ρ(η) <= (1+ρ*)/2, halfway between 1 and the optimum")

    def in_good(run):
        if run.diverged or run.lrs[-1] <= 0:
            return False
        return quadratic.gd_contraction(eigs, run.lrs[-1]) <= rho_good + 1e-12

    ok = {key: np.array([in_good(r) for r in runs]) for key, runs in sweeps.items()}

    # trajectories: for each rule and start, the α whose final rate lands closest to η*
    def closest(runs):
        scores = [abs(np.log(r.lrs[-1] / eta_star)) if (not r.diverged and r.lrs[-1] > 0)
                  else np.inf for r in runs]
        return int(np.argmin(scores))

    fig, axes = subplots(1, 2, width=11.0, height=4.2)
    for ax, where in zip(axes, starts, strict=True):
        picked = {f"{rule}, α = {alphas_q[closest(sweeps[rule, where])]:.3g}":
                  sweeps[rule, where][closest(sweeps[rule, where])] for rule in ("additive", "log")}
        aplots.lr_trajectories(
            picked, ax=ax, good_region=good,
            reference={f"η* = {eta_star:.3g}": eta_star, f"2/λmax = {bound:.3g}": bound},
            title=f"η_0 = {starts[where]:.3g} ({where} the good region)")
    an.figure(fig, "quadratic-trajectories",
              caption="η_t on the quadratic (κ = 10) for each rule, started below the good "
                      "region and above the stability bound; for each, the α of the grid whose "
                      "final rate lands closest to η*. Shaded: rates whose contraction is at "
                      "most halfway between ρ* and 1.")

    fig, axes = subplots(1, 2, width=11.0, height=4.4)
    labelled = {f"{rule}, η_0 {where}": sweeps[rule, where] for rule in ("additive", "log")
                for where in starts}
    aplots.final_rate_vs_hyper_lr(alphas_q, labelled, optimal=eta_star, bound=bound,
                                  good_region=good, ax=axes[0],
                                  title=f"where η ends after {steps_q} steps")
    aplots.min_rate_vs_hyper_lr(alphas_q, labelled, ax=axes[1],
                                title="the smallest rate along the run")
    an.figure(fig, "quadratic-alpha",
              caption="Left: the last rate |η_T| against α (× diverged, hollow: ended "
                      "negative). Right: the smallest rate of each run; below zero the rule "
                      "turned descent into ascent. Symmetric-log axis.")

    add_band = ok["additive", "below"] & ok["additive", "above"]
    an.claim(
        "The additive hypergradient rule drives η into the good region around "
        "η* = 2/(λmin+λmax) both from far below and from above the stability bound, with one α",
        bool(add_band.any()),
        evidence=f"α band from below {band(alphas_q, ok['additive', 'below'])}, from above "
               f"{band(alphas_q, ok['additive', 'above'])}, both {band(alphas_q, add_band)}; "
               f"η* = {eta_star:.3g}, good region [{good[0]:.3g}, {good[1]:.3g}]")
    log_band = ok["log", "below"] & ok["log", "above"]
    an.claim("The log rule also drives η into the good region both from far below and from above "
             "the stability bound, with one α",
             bool(log_band.any()),
             evidence=f"from below {band(alphas_q, ok['log', 'below'])}, from above "
                    f"{band(alphas_q, ok['log', 'above'])}, both {band(alphas_q, log_band)}")

    neg_add = sum(at is not None for w in starts for at in negative_at["additive", w])
    neg_log = sum(at is not None for w in starts for at in negative_at["log", w])
    min_log = min(float(np.min(r.lrs)) for w in starts for r in sweeps["log", w])
    div_add = sum(r.diverged for w in starts for r in sweeps["additive", w])
    div_log = sum(r.diverged for w in starts for r in sweeps["log", w])
    add_not_log = sum(a.diverged and not b.diverged for w in starts
                      for a, b in zip(sweeps["additive", w], sweeps["log", w], strict=True))
    n_runs = 2 * len(alphas_q)
    an.claim("The additive rule drives η below zero (gradient ascent) in some runs of the α grid",
             neg_add > 0,
             evidence=f"runs with some η_t < 0: additive {neg_add} of {n_runs}")
    positive = an.claim(
        "The log rule η = exp(λ) keeps η_t strictly positive in every run of the α grid, "
        "in floating point (no run underflows to η = 0 or goes negative)",
        neg_log == 0 and min_log > 0.0,
        evidence=f"log-rule runs with some η_t <= 0: {neg_log} of {n_runs}; smallest η_t over "
                 f"all log runs {min_log:.3g}")
    an.claim("At large α the additive rule runs away (diverges) where the log rule with the same "
             "α and start does not", add_not_log > 0,
             evidence=f"diverged: additive {div_add} of {n_runs}, log {div_log} of {n_runs}; "
                    f"additive diverged and log did not in {add_not_log}")
    collapsed = [(w, a, r.lrs[-1]) for w in starts
                 for a, r in zip(alphas_q, sweeps["log", w], strict=True)
                 if not r.diverged and r.lrs[-1] < 1e-3 * starts[w]]
    usable = an.claim(
        "The positive rate the log rule keeps is a usable one: no log-rule run on the α grid "
        "collapses η below 10⁻³·η_0 (which freezes training)",
        len(collapsed) == 0,
        evidence=f"log runs ending with η_T < 1e-3·η_0: {len(collapsed)} of {n_runs}"
                 + ("; e.g. " + ", ".join(f"η_0 {w}, α = {a:.3g}: η_T = {e:.2g}"
                                          for w, a, e in collapsed[:3]) if collapsed else ""))
    an.claim("The log rule fails by collapse, never by divergence: no log-rule run on the α grid "
             "diverges", div_log == 0,
             evidence=f"log-rule runs that diverged: {div_log} of {n_runs}; collapsed: "
                      f"{len(collapsed)}")
    # Condition, fixed before the run: the seed's statement holds in its literal sense
    # (positivity), whatever it does to training.
    an.seed_claim("hypergradient-positivity", [positive, usable], condition=positive)
    an.number("negative_rate_runs_additive", neg_add, description="runs (of both starts) with η_t < 0")
    an.number("diverged_runs_additive", div_add)
    an.number("diverged_runs_log", div_log)
    an.number("collapsed_runs_log", len(collapsed))

    # the failure side by side: the smallest α at which the additive rule went negative
    fail_idx = next((i for i, at in enumerate(negative_at["additive", "below"])
                     if at is not None), None)
    if fail_idx is not None:
        a_fail = alphas_q[fail_idx]
        add_run = sweeps["additive", "below"][fail_idx]
        log_run = sweeps["log", "below"][fail_idx]
        fig, axes = subplots(1, 2, width=11.0, height=4.0)
        aplots.lr_trajectories({"additive": add_run, "log": log_run}, ax=axes[0], symlog=True,
                               reference={f"η* = {eta_star:.3g}": eta_star}, xmax=30,
                               title=f"η_t at α = {a_fail:.3g}, η_0 = 0.1 (first 30 steps)")
        aplots.loss_curves({"additive": add_run, "log": log_run}, ax=axes[1], xmax=30,
                           ylabel="loss L(θ_t) (L* = 0)", title="loss (first 30 steps)")
        an.figure(fig, "quadratic-failure",
                  caption=f"The smallest α of the grid ({a_fail:.3g}) at which the additive rule "
                          f"goes negative: η_t turns negative at step "
                          f"{negative_at['additive', 'below'][fail_idx]} and "
                          f"the run {'diverges at step ' + str(add_run.diverged_at) if add_run.diverged else 'survives'}; "
                          f"the log rule with the same α and start ends at η_T = "
                          f"{log_run.lrs[-1]:.3g} after {log_run.steps} steps, with loss "
                          f"{log_run.final_loss:.3g} (start {log_run.losses[0]:.3g}).")

    # ---------------------------------------------------------------- part 2: a real network
    an.progress("digits MLP: constant-rate grid and range test")
    Xtr, ytr, Xte, yte = split_dataset("digits", test_fraction=0.25, seed=0)
    net = MLP(Xtr, ytr, hidden=(32,), l2=1e-4)
    start = net.initial(seed=0)
    steps = 60 if an.quick else 250
    grid = np.geomspace(0.01, 10.0, 5 if an.quick else 8)
    const = adaptive.constant_lr_sweep(net, start, grid, steps, divergence_factor=DIVERGENCE)
    finite = [r for r in const if not r.diverged]
    best = min(finite, key=lambda r: r.final_loss)
    best_lr = float(best.lrs[0])  # a constant-rate Run: every step used this rate
    rt = rangetest.range_test(net, start, lr_min=1e-3, lr_max=100.0,
                              steps=40 if an.quick else 100)
    sugg = rt.suggestions.valley if rt.suggestions.valley is not None else rt.suggestions.steepest
    sugg_kind = "valley" if rt.suggestions.valley is not None else "steepest"
    lr0 = 0.05
    base, at_sugg = adaptive.constant_lr_sweep(net, start, [lr0, sugg], steps,
                                               divergence_factor=DIVERGENCE)
    an.number("best_constant_lr", best_lr, unit="lr", description="lowest final loss on the grid")
    an.number("best_constant_loss", best.final_loss, unit="loss")
    an.number("range_test_suggestion", sugg, unit="lr",
              description=f"lrctl.rangetest '{sugg_kind}' suggestion")
    an.number("range_test_loss", at_sugg.final_loss, unit="loss",
              description="final loss at the range-test rate")

    an.progress("digits MLP: hyper-rate sweeps")
    alphas = np.geomspace(1e-3, 1e2, 5 if an.quick else 9)
    hd_res = {rule: adaptive.hypergradient_sweep(net, start, lr0, alphas, steps, rule=rule,
                                                 divergence_factor=DIVERGENCE)
              for rule in ("additive", "log")}
    hd = {rule: tuple(r.run for r in res) for rule, res in hd_res.items()}

    def best_of(results):
        return min((r for r in results if not r.run.diverged and np.isfinite(r.run.final_loss)),
                   key=lambda r: r.run.final_loss)

    best_add_res, best_log_res = best_of(hd_res["additive"]), best_of(hd_res["log"])
    best_add, best_log = best_add_res.run, best_log_res.run
    fig, axes = subplots(1, 2, width=11.0, height=4.2)
    aplots.loss_curves({
        f"best constant η = {best_lr:.3g} (grid)": best,
        f"range-test η = {sugg:.3g}": at_sugg,
        f"constant η = {lr0:g} (= η_0)": base,
        f"additive HD, α = {best_add_res.hyper_lr:.3g}": best_add,
        f"log HD, α = {best_log_res.hyper_lr:.3g}": best_log,
    }, ax=axes[0], title="tanh MLP 64-32-10 on digits, full batch")
    aplots.lr_trajectories({f"additive, α = {best_add_res.hyper_lr:.3g}": best_add,
                            f"log, α = {best_log_res.hyper_lr:.3g}": best_log}, ax=axes[1],
                           reference={"best constant": best_lr, "range test": sugg},
                           title="the rate the rules learned")
    an.figure(fig, "mlp-loss",
              caption=f"Training loss against step: hypergradient descent from η_0 = {lr0:g} "
                      f"(best α of the grid for each rule) against constant rates: η_0 itself, "
                      f"the best of a {len(grid)}-point grid, and the range test's "
                      f"{sugg_kind} suggestion. Right: η_t of the two HD runs.")

    fig, ax = subplots(1, 1, width=7.5, height=4.2)
    aplots.final_loss_vs_hyper_lr(alphas, {"additive rule": hd["additive"], "log rule": hd["log"]},
                                  reference={f"best constant η = {best_lr:.3g}": best.final_loss,
                                             f"range-test η = {sugg:.3g}": at_sugg.final_loss,
                                             f"constant η_0 = {lr0:g}": base.final_loss},
                                  ax=ax, title=f"sensitivity to α (η_0 = {lr0:g}, {steps} steps)")
    an.figure(fig, "mlp-alpha",
              caption="Final training loss against the hyper-rate α for both rules (× diverged); "
                      "horizontal lines: constant-rate references.")

    within = {rule: np.array([(not r.diverged) and r.final_loss <= 2.0 * best.final_loss
                              for r in hd[rule]]) for rule in hd}
    an.claim("Started 1-2 orders of magnitude below the best constant rate, hypergradient "
             "descent (additive rule, best α) trains about as well as the best constant rate of a "
             "grid (final loss within 50%)",
             best_add.final_loss <= 1.5 * best.final_loss,
             evidence=f"final loss: HD additive (α = {best_add_res.hyper_lr:.3g}) "
                    f"{best_add.final_loss:.4g}, HD log (α = {best_log_res.hyper_lr:.3g}) "
                    f"{best_log.final_loss:.4g}, best constant (η = {best_lr:.3g}) "
                    f"{best.final_loss:.4g}, constant η_0 = {lr0:g}: {base.final_loss:.4g}")
    hd_best = min(best_add.final_loss, best_log.final_loss)
    an.claim("Hypergradient descent from a small η_0 trains as well as constant training at the "
             "LR range test's suggestion (final loss lower, or within 25%)",
             hd_best <= 1.25 * at_sugg.final_loss,
             evidence=f"HD best {hd_best:.4g} vs range test ({sugg_kind}, η = {sugg:.3g}) "
                    f"{at_sugg.final_loss:.4g}")
    an.claim("The hypergradient rules need α tuned: each is within 2x of the best constant "
             "rate's loss on a band of α but not on the whole grid, and the additive band is the "
             "wider one",
             bool(within["additive"].any() and within["log"].any()
                  and not within["additive"].all() and not within["log"].all()
                  and within["additive"].sum() > within["log"].sum()),
             evidence=f"α within 2x: additive {band(alphas, within['additive'])}, log "
                    f"{band(alphas, within['log'])}")

    an.progress("digits MLP: sensitivity to the starting rate")
    lr0s = np.geomspace(0.01, 1.0, 3)
    const0 = adaptive.constant_lr_sweep(net, start, lr0s, steps, divergence_factor=DIVERGENCE)
    add0 = [r.run for r in adaptive.hypergradient_sweep(net, start, lr0s, best_add_res.hyper_lr,
                                                        steps, divergence_factor=DIVERGENCE)]
    log0 = [r.run for r in adaptive.hypergradient_sweep(net, start, lr0s, best_log_res.hyper_lr,
                                                        steps, rule="log",
                                                        divergence_factor=DIVERGENCE)]
    finals = {"constant η = η_0": [r.final_loss for r in const0],
              f"additive HD, α = {best_add_res.hyper_lr:.3g}": [r.final_loss for r in add0],
              f"log HD, α = {best_log_res.hyper_lr:.3g}": [r.final_loss for r in log0]}
    fig, ax = subplots(1, 1, width=7.5, height=4.0)
    aplots.final_loss_vs_initial_lr(lr0s, finals, ax=ax,
                                    title=f"sensitivity to the starting rate ({steps} steps)")
    an.figure(fig, "mlp-initial-lr",
              caption="Final training loss against the starting rate η_0: constant training "
                      "at η_0 and both hypergradient rules started there.")

    def spread(runs):
        """max/min final loss over the starting rates; inf when a run diverged."""
        if any(r.diverged for r in runs):
            return float("inf")
        v = np.array([r.final_loss for r in runs])
        return float(v.max() / v.min())

    s_const, s_add, s_log = spread(const0), spread(add0), spread(log0)
    sens = (f"max/min final loss over η_0 in [{lr0s[0]:g}, {lr0s[-1]:g}]: constant "
            f"{s_const:.3g}, additive HD {s_add:.3g}, log HD {s_log:.3g}")
    an.claim("The additive hypergradient rule makes the final loss less sensitive to the starting "
             "rate than constant-rate training (Baydin et al. 2018)", s_add < s_const,
             evidence=sens)
    an.claim("The log hypergradient rule, with one α for every η_0, makes the final loss less "
             "sensitive to the starting rate than constant-rate training", s_log < s_const,
             evidence=sens)
    an.number("test_accuracy_hd_additive", net.accuracy(best_add.theta, Xte, yte),
              description="held-out digits accuracy after HD (additive, best α)")
    an.number("test_accuracy_best_constant", net.accuracy(best.theta, Xte, yte),
              description="held-out digits accuracy at the best constant rate")
