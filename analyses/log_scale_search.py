"""Log-scale search: why learning rates are sampled log-uniformly, in closed form and simulation.

A learning-rate target is an interval of fixed ratio (here [η*/2, 2η*], a factor 4) whose
position is unknown over six decades [1e-6, 1]. One log-uniform sample hits it with
p = ln 4 / ln 10⁶ wherever it sits; one linear-uniform sample with p = 1.5 η* / (1 − 10⁻⁶),
which is 10⁻⁴ as much at η* = 1e-4 as at 1. The analysis checks the closed forms of
lrctl.search.hit_probability (random, fixed grid, shifted grid, stratified) against simulated
searches, and the expected number of samples to the first hit (1/p) against simulated
geometric waits.
"""

import math

import numpy as np

from lrctl.plots import search as splots
from lrctl.plots import subplots
from lrctl.report import Analysis
from lrctl.search import (
    derive_hit_probability,
    expected_samples_to_hit,
    hit_fraction,
    hit_probability,
    monte_carlo_hit_probability,
    sample_lrs,
)

BOUNDS = (1e-6, 1.0)
CENTRE = 1e-3
TARGET = (CENTRE / 2, CENTRE * 2)

with Analysis(
    __file__,
    title="Log-scale search: hit probabilities of log and linear designs",
    summary="Search bounds [1e-6, 1] (six decades); target: every rate within a factor 2 of "
            "η* (a factor-4 interval). Closed forms from lrctl.search.hit_probability, checked "
            "against simulated searches that draw the rates and test membership in η.",
) as an:
    n_mc = 4000 if an.quick else 20000
    deriv = derive_hit_probability()
    an.derivation(deriv)
    hit_sym = deriv.lambdify("a", "b", "lo", "hi", "n")
    ns = np.unique(np.round(np.geomspace(1, 2000, 300)).astype(int))

    # 1. P(hit) against n ----------------------------------------------------------------
    an.progress("hit probability against n")
    designs = {
        "log-uniform random": ("log", "random"),
        "stratified log": ("log", "stratified"),
        "shifted log grid": ("log", "shifted-grid"),
        "log grid": ("log", "grid"),
        "linear-uniform random": ("linear", "random"),
    }
    probs = {label: hit_probability(TARGET, BOUNDS, ns, scale=s, method=m)
             for label, (s, m) in designs.items()}
    n_check = np.array([1, 3, 10, 30, 100]) if an.quick else np.array([1, 2, 5, 10, 20, 50,
                                                                        100, 300])
    mc, worst_z = {}, 0.0
    for label, (s, m) in designs.items():
        if m == "grid":
            continue
        est, lo, hi = [], [], []
        for k, n in enumerate(n_check):
            r = monte_carlo_hit_probability(TARGET, BOUNDS, int(n), s, m, n_trials=n_mc,
                                            seed=1000 * k + len(label))
            p = hit_probability(TARGET, BOUNDS, int(n), s, m)
            se = math.sqrt(max(p * (1 - p), 1e-12) / n_mc)
            worst_z = max(worst_z, abs(r.estimate - p) / se if p * (1 - p) > 0 else
                          (0.0 if r.estimate == p else math.inf))
            est.append(r.estimate)
            lo.append(r.low)
            hi.append(r.high)
        mc[label] = (n_check, np.array(est), np.array(lo), np.array(hi))
    fig = splots.hit_probability_vs_n(
        ns, probs, monte_carlo={k: v for k, v in mc.items() if k in (
            "log-uniform random", "linear-uniform random", "shifted log grid")},
        title="Target [5e-4, 2e-3] in [1e-6, 1]: P(hit) against the number of rates tried")
    an.figure(fig, "hit-vs-n", caption="Lines: closed forms. Points: simulated searches "
              f"({n_mc} per point, 95% Wilson intervals). The fixed log grid "
              "(np.geomspace(1e-6, 1, n)) hits or misses outright.")
    p_log = hit_fraction(TARGET, BOUNDS)
    p_lin = hit_fraction(TARGET, BOUNDS, "linear")
    an.number("p_log", p_log, description="one log-uniform sample: ln 4 / ln 10⁶")
    an.number("p_linear", p_lin, description="one linear-uniform sample: 1.5e-3 / (1 − 1e-6)")
    sym_err = float(np.max(np.abs(hit_sym(*TARGET, *BOUNDS, ns) - probs["log-uniform random"])))
    an.check("The log-uniform hit probability is 1 − (1 − p)ⁿ with p = ln(b/a)/ln(η_hi/η_lo): "
             "the sympy derivation and the numeric code agree",
             abs(p_log - math.log(4) / math.log(1e6)) < 1e-15 and sym_err < 1e-12,
             evidence=f"p = {p_log:.6f} = ln 4/ln 10⁶; max |symbolic − numeric| = {sym_err:.1e} "
                    f"over n = 1 … {ns.max()}")
    an.claim("n independent samples hit with probability 1 − (1 − p)ⁿ, and the other designs "
             "with their closed forms (simulation agrees within 4.5 standard errors)",
             worst_z < 4.5, evidence=f"largest deviation {worst_z:.2f} standard errors over "
             f"{len(mc)} designs × {n_check.size} values of n, {n_mc} simulated searches each")
    r_ = probs["log-uniform random"]
    s_ = probs["stratified log"]
    g_ = probs["shifted log grid"]
    order_ok = bool(np.all(g_ >= s_ - 1e-12) and np.all(s_ >= r_ - 1e-12))
    an.check("A randomly shifted grid hits with probability min(1, n·p) ≥ one point per cell "
             "(stratified) ≥ n independent samples 1 − (1 − p)ⁿ", order_ok,
             evidence=f"checked at {ns.size} values of n from 1 to {ns.max()}; at n = 10: "
                    f"{g_[ns == 10][0]:.3f} ≥ {s_[ns == 10][0]:.3f} ≥ {r_[ns == 10][0]:.3f}")
    n95 = {label: int(ns[np.argmax(p >= 0.95)]) if np.any(p >= 0.95) else math.inf
           for label, p in probs.items() if label != "log grid"}
    n95_lin = math.ceil(math.log(0.05) / math.log1p(-p_lin))
    n95_log = math.ceil(math.log(0.05) / math.log1p(-p_log))
    an.number("n95_log_random", n95_log, description="samples for 95% hit probability, log")
    an.number("n95_linear_random", n95_lin, description="samples for 95%, linear, η* = 1e-3")
    an.claim("For 95% success at η* = 1e-3, linear-uniform search needs over 50 times the "
             "samples of log-uniform search", n95_lin > 50 * n95_log,
             evidence=f"log: {n95_log} samples, linear: {n95_lin} samples "
                    f"(ratio {n95_lin / n95_log:.0f})")

    # The seed's comparison, by simulation alone: n = 20 rates drawn (or placed) in the bounds,
    # membership in the target tested directly, no closed form involved.
    n_seed, trials_seed = 20, n_mc
    sims_seed = {}
    for k, scale in enumerate(("log", "linear")):
        draws = sample_lrs(BOUNDS, n_seed, scale, size=trials_seed, seed=4242 + k)
        sims_seed[scale] = float(np.mean(np.any((draws >= TARGET[0]) & (draws <= TARGET[1]),
                                                axis=1)))
    lin_grid = np.linspace(*BOUNDS, n_seed)
    grid_hit = float(np.any((lin_grid >= TARGET[0]) & (lin_grid <= TARGET[1])))
    an.number("simulated_hit_rate_n20", [sims_seed["log"], sims_seed["linear"], grid_hit],
              description="n = 20 rates, target [5e-4, 2e-3]: log-uniform random, "
                          "linear-uniform random, 20-point linear grid")
    seed_sim = an.claim(
        "Simulated searches of n = 20 rates in [1e-6, 1]: log-uniform random sampling hits the "
        "small-magnitude target [5e-4, 2e-3] at least 10 times as often as linear-uniform "
        "random sampling, and more often than a uniform 20-point grid (np.linspace)",
        sims_seed["log"] >= 10 * sims_seed["linear"] and sims_seed["log"] > grid_hit,
        evidence=f"{trials_seed} simulated searches each: log-uniform {sims_seed['log']:.3f}, "
                 f"linear-uniform {sims_seed['linear']:.4f}; the linear grid (spacing "
                 f"{lin_grid[1] - lin_grid[0]:.3g}) {'hits' if grid_hit else 'misses'} the target")
    an.seed_claim("log-scale-search", seed_sim)

    # 2. Where the target sits -------------------------------------------------------------
    an.progress("hit probability against the target's position")
    centres = np.geomspace(2e-6, 0.5, 400 if an.quick else 1200)
    targets = np.stack([centres / 2, centres * 2], axis=-1)
    n_pos = 20
    by_pos = {
        "log-uniform random": hit_probability(targets, BOUNDS, n_pos),
        "linear-uniform random": hit_probability(targets, BOUNDS, n_pos, "linear"),
        "linear grid": hit_probability(targets, BOUNDS, n_pos, "linear", "grid"),
    }
    fig, axes = subplots(1, 2, width=9.0, height=4.4)
    splots.hit_probability_vs_position(
        centres, by_pos, ax=axes[0],
        title=f"n = {n_pos} rates, target factor 4")
    # a narrower target (factor 1.5) and a 10-point log grid: the fixed grid's all-or-nothing
    narrow = np.stack([centres / 1.2247, centres * 1.2247], axis=-1)
    n_g = 10
    grid_hits = hit_probability(narrow, BOUNDS, n_g, "log", "grid")
    shifted = hit_probability(narrow, BOUNDS, n_g, "log", "shifted-grid")
    random_n = hit_probability(narrow, BOUNDS, n_g, "log", "random")
    splots.hit_probability_vs_position(
        centres, {"log grid": grid_hits, "shifted log grid": shifted,
                  "log-uniform random": random_n},
        ax=axes[1], log_y=False, title=f"n = {n_g} rates, target factor 1.5",
        xlabel="target centre η* (target [η*/1.22, 1.22η*]), learning rate")
    axes[1].set_ylim(-0.03, 1.1)
    an.figure(fig, "hit-vs-position", caption="Left: log-uniform search is blind to where the "
              "target sits; linear search's chance falls in proportion to η* (and the linear "
              "grid, np.linspace, misses every target below its second point 0.053). Right: "
              "a fixed log grid hits a narrow target at some positions and never at others; "
              "averaged over positions it does worse than a shifted grid, whose two end "
              "points are not wasted on the bounds.")
    inside = (targets[:, 0] >= BOUNDS[0]) & (targets[:, 1] <= BOUNDS[1])
    spread = float(np.ptp(by_pos["log-uniform random"][inside]))
    an.check("Log-uniform search hits a target of fixed ratio with the same probability "
             "wherever it sits inside the bounds", spread < 1e-12,
             evidence=f"spread {spread:.1e} over {inside.sum()} positions from "
                    f"{centres[inside].min():.1e} to {centres[inside].max():.2g}")
    pl = hit_fraction(targets, BOUNDS, "linear")[inside]
    prop = float(np.max(np.abs(pl / centres[inside] / (1.5 / (1 - 1e-6)) - 1)))
    ratio_lin = hit_fraction((5e-5, 2e-4), BOUNDS, "linear") / hit_fraction(
        (0.05, 0.2), BOUNDS, "linear")
    an.check("Linear-uniform search hits [η*/2, 2η*] with p proportional to η*: 10⁻³ as often "
             "at η* = 1e-4 as at η* = 0.1", prop < 1e-9 and abs(ratio_lin - 1e-3) < 1e-15,
             evidence=f"max relative deviation from 1.5 η*/(1 − 1e-6): {prop:.1e}; "
                    f"p(1e-4)/p(0.1) = {ratio_lin:.6g}")
    # Coverage of the fixed grid over every position of the narrow target inside the bounds
    width = math.log(BOUNDS[1] / BOUNDS[0])
    ell = 2 * math.log(1.2247)
    a = np.linspace(0.0, width - ell, 20001)
    pos = np.exp(math.log(BOUNDS[0]) + np.stack([a, a + ell], axis=-1))
    fixed = hit_probability(pos, BOUNDS, n_g, "log", "grid")
    coverage = float(np.mean(fixed))
    predicted_cov = (n_g - 2) * ell / (width - ell)
    p_shift = float(hit_probability(pos[0], BOUNDS, n_g, "log", "shifted-grid"))
    an.number("fixed_grid_coverage", coverage, description="share of the positions of a "
              "factor-1.5 target that a 10-point np.geomspace grid hits")
    only_01 = bool(np.all((fixed == 0) | (fixed == 1)))
    an.claim("A fixed log grid of n points (np.geomspace, endpoints included) hits a given "
             "target always or never; over all positions of a target of log-width ℓ it hits "
             "a share (n − 2)ℓ/(W − ℓ), less than the shifted grid's min(1, n·p)",
             only_01 and abs(coverage - predicted_cov) < 2e-3 and coverage < p_shift
             and abs(p_shift - min(1.0, n_g * ell / width)) < 1e-12,
             evidence=f"{a.size} positions: coverage {coverage:.4f}, (n − 2)ℓ/(W − ℓ) = "
                    f"{predicted_cov:.4f}, shifted grid {p_shift:.4f} vs min(1, n·p) = "
                    f"{min(1.0, n_g * ell / width):.4f} (n = {n_g})")

    # 3. Expected samples to the first hit --------------------------------------------------
    an.progress("samples to the first hit")
    exp_log = expected_samples_to_hit(targets, BOUNDS)
    exp_lin = expected_samples_to_hit(targets, BOUNDS, "linear")
    sim = {}
    worst, worst_surv = 0.0, 0.0
    reps = 300 if an.quick else 1500
    for label, scale in (("log-uniform random", "log"), ("linear-uniform random", "linear")):
        cs = np.array([1e-5, 1e-4, 1e-3, 1e-2]) if scale == "log" else np.array([1e-3, 1e-2,
                                                                                  0.1])
        means, ses = [], []
        for k, c in enumerate(cs):
            t = (c / 2, 2 * c)
            p = hit_fraction(t, BOUNDS, scale)
            budget = int(40 / p)
            waits = []
            lrs_all = sample_lrs(BOUNDS, budget, scale, size=reps, seed=77 + k)
            hit = (lrs_all >= t[0]) & (lrs_all <= t[1])
            waits = np.argmax(hit, axis=1) + 1.0
            assert hit.any(axis=1).all()  # (1 − p)^(40/p) < e^-40: every search hits
            m = float(waits.mean())
            se = math.sqrt((1 - p) / p**2 / reps)
            worst = max(worst, abs(m - 1 / p) / se)
            # geometric, not only the mean: P(wait > k) = (1 − p)^k where it is not tiny
            k_grid = np.unique(np.round(np.geomspace(1, 5 / p, 12)).astype(int))
            surv = (1 - p) ** k_grid
            keep = (surv > 0.02) & (surv < 0.98)
            emp = np.mean(waits[:, None] > k_grid[None, :], axis=0)
            z_surv = np.abs(emp - surv)[keep] / np.sqrt(surv * (1 - surv) / reps)[keep]
            worst_surv = max(worst_surv, float(z_surv.max()) if z_surv.size else 0.0)
            means.append(m)
            ses.append(se)
        sim[label] = (cs, np.array(means), np.array(ses))
    fig = splots.expected_samples_vs_position(
        centres, {"log-uniform random": exp_log, "linear-uniform random": exp_lin},
        simulated=sim, title="Expected samples until one lands in [η*/2, 2η*]")
    an.figure(fig, "expected-samples", caption="The wait for the first hit is geometric with "
              f"mean 1/p (lines); points: simulated searches ({reps} each).")
    an.number("expected_samples_log", float(exp_log[inside][0]), unit="samples")
    e_lin_1e3 = float(expected_samples_to_hit(TARGET, BOUNDS, "linear"))
    an.number("expected_samples_linear_at_1e-3", e_lin_1e3, unit="samples")
    an.claim("The number of samples to the first hit is geometric with mean 1/p",
             worst < 4.5 and worst_surv < 4.5,
             evidence=f"simulated P(wait > k) within {worst_surv:.2f} standard errors of "
                      f"(1 − p)^k at 12 values of k per target; simulated means within "
                      f"{worst:.2f} standard errors of 1/p "
             f"(log: {1 / p_log:.2f} samples everywhere; linear at η* = 1e-3: {e_lin_1e3:.0f})")
