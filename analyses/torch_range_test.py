"""The range test on a real PyTorch network, with the user's own optimizer, against its peers.

A multilayer perceptron (64 → 32 → 10, ReLU) on the UCI digits images bundled with
scikit-learn (1347 training and 450 validation images, standardized), trained in PyTorch with
SGD + Nesterov momentum 0.9 and with Adam on mini-batches of 64. Three questions:

1. Suggestions and regret. ``lrctl.torch.range_test`` sweeps η over seven decades with the
   user's optimizer; lrctl's suggestion (the valley, fixed before the run), torch-lr-finder's
   and Lightning's rules applied to the same sweeps; each suggested rate is then trained for a
   fixed budget (4 epochs) and its final validation loss compared with the best rate of a log
   grid (regret), over seeds (the seed draws the initialization and the mini-batch order).
2. The interval: the suggestions of all seeds, ``repeated_range_test``.
3. Curvature: λ_max of a small network's Hessian from ``hessian_eigenvalues`` against the
   dense Hessian (formed by torch.autograd.functional.hessian of an independently written
   loss), and against PyHessian's power iteration at its defaults (tol 1e-3, maxIter 100),
   counting Hessian-vector products.

The peers' rules are re-implemented exactly as their code does it, applied to the raw losses
of the same sweep (their sweeps record ℓ(θ_t; b_t), the loss before the step that used η_t,
so the pairing is shifted accordingly):

- torch-lr-finder (davidtvs/pytorch-lr-finder, torch_lr_finder/lr_finder.py,
  ``LRFinder.range_test`` and ``LRFinder.plot``): exponential smoothing
  s_i = 0.05·ℓ_i + 0.95·s_{i−1} (``smooth_f=0.05``, s_0 = ℓ_0), stop once s_i > 5·best
  (``diverge_th=5``), drop the first 10 and last 5 points (``skip_start=10, skip_end=5``),
  suggest the rate at ``np.gradient(losses).argmin()`` (the gradient against the index).
- Lightning (Lightning-AI/pytorch-lightning, src/lightning/pytorch/tuner/lr_finder.py,
  ``_LRCallback.on_train_batch_end`` and ``_LRFinder.suggestion``): a = β·a + (1 − β)·ℓ with
  β = 0.98 and bias correction a/(1 − β^{k+1}) at global step k (k = 1 after the first
  step), stop once step k > 1 and the smoothed loss > 4·best (``early_stop_threshold=4.0``),
  drop the first 10 and the last point (``skip_begin=10, skip_end=1``), suggest the rate at
  ``argmin(torch.gradient(losses, spacing=[lrs]))`` (the gradient against η itself).
- PyHessian (amirgholami/PyHessian, pyhessian/hessian.py, ``hessian.eigenvalues``): v random
  normal, normalized; repeat up to ``maxIter`` = 100 times: Hv, λ̂ = vᵀHv, v = Hv/‖Hv‖; stop
  when |λ̂_prev − λ̂|/(|λ̂_prev| + 1e-6) < ``tol`` = 1e-3 and return λ̂_prev.
"""

from lrctl.report import Analysis

# The analysis needs PyTorch (the optional extra lrctl[torch]): without it, it is reported as
# skipped with the install command, before any work.
Analysis(__file__, title="The range test on a PyTorch network with your optimizer, against torch-lr-finder and Lightning").requires("torch")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from lrctl.objectives import split_dataset  # noqa: E402
from lrctl.plots import rangetest as rplots  # noqa: E402
from lrctl.plots import subplots  # noqa: E402
from lrctl.torch import analyse_sweep, hessian_eigenvalues, range_test  # noqa: E402

torch.set_num_threads(1)

LR_MIN, LR_MAX, SWEEP_STEPS = 1e-6, 10.0, 140
BATCH, EPOCHS, HIDDEN = 64, 4, 32
GRID = 10.0 ** np.arange(-4.0, 0.76, 0.25)          # the log grid of rates, 4 per decade
OPTIMIZERS = {
    "SGD-momentum": lambda ps, lr: torch.optim.SGD(ps, lr=lr, momentum=0.9, nesterov=True),
    "Adam": lambda ps, lr: torch.optim.Adam(ps, lr=lr),
}
RULES = ("lrctl (valley)", "torch-lr-finder", "Lightning")


# ---------------------------------------------------------------------------------------
# The peers' suggestion rules, as their code does it (sources in the module docstring)
# ---------------------------------------------------------------------------------------


def peer_pairing(result):
    """(lrs, losses) as the peers record them: ℓ(θ_t; b_t) with η_t, t = 0 … n − 1."""
    before = np.concatenate([[result.initial_loss], result.losses[:-1]])
    return result.lrs, before


def torch_lr_finder_suggestion(lrs, raw, smooth_f=0.05, diverge_th=5, skip_start=10, skip_end=5):
    hist_lr, hist_loss, best = [], [], None
    for i, (lr, loss) in enumerate(zip(lrs, raw, strict=True)):
        hist_lr.append(lr)
        if i == 0:
            best = loss
        else:
            if smooth_f > 0:
                loss = smooth_f * loss + (1 - smooth_f) * hist_loss[-1]
            if loss < best:
                best = loss
        hist_loss.append(loss)
        if loss > diverge_th * best:
            break
    lr_s = hist_lr[skip_start:-skip_end] if skip_end else hist_lr[skip_start:]
    loss_s = hist_loss[skip_start:-skip_end] if skip_end else hist_loss[skip_start:]
    try:
        idx = int(np.gradient(np.array(loss_s)).argmin())
    except ValueError:  # too few points, as torch-lr-finder reports
        return None
    return float(lr_s[idx])


def lightning_suggestion(lrs, raw, beta=0.98, early_stop_threshold=4.0, skip_begin=10,
                         skip_end=1):
    avg, best, losses, rates = 0.0, 0.0, [], []
    for k, (lr, loss) in enumerate(zip(lrs, raw, strict=True), start=1):   # k: global step
        rates.append(lr)
        avg = beta * avg + (1 - beta) * loss
        smoothed = avg / (1 - beta ** (k + 1))
        stop = k > 1 and smoothed > early_stop_threshold * best
        if smoothed < best or k == 1:
            best = smoothed
        losses.append(smoothed)
        if stop:
            break
    loss_t = torch.tensor(losses[skip_begin:-skip_end], dtype=torch.float64)
    lr_t = torch.tensor(rates[skip_begin:-skip_end], dtype=torch.float64)
    finite = torch.isfinite(loss_t)
    loss_t, lr_t = loss_t[finite], lr_t[finite]
    if len(loss_t) < 2:
        return None
    grads = torch.gradient(loss_t, spacing=[lr_t])[0]
    return float(lr_t[int(torch.argmin(grads))])


def pyhessian_power(hvp, dim, seed, tol=1e-3, max_iter=100):
    """PyHessian's hessian.eigenvalues (top_n=1): returns (eigenvalue, products)."""
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(dim, generator=g, dtype=torch.float64)
    v = v / v.norm()
    eigenvalue, products = None, 0
    for _ in range(max_iter):
        Hv = hvp(v)
        products += 1
        tmp = float(Hv @ v)
        v = Hv / Hv.norm()
        if eigenvalue is None:
            eigenvalue = tmp
        elif abs(eigenvalue - tmp) / (abs(eigenvalue) + 1e-6) < tol:
            break
        else:
            eigenvalue = tmp
    return eigenvalue, products


# ---------------------------------------------------------------------------------------
# The problem
# ---------------------------------------------------------------------------------------


def make_net(seed, hidden=HIDDEN, dtype=torch.float32):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(64, hidden), torch.nn.ReLU(),
                               torch.nn.Linear(hidden, 10)).to(dtype)


def batches_for(seed, x, y):
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(10_000 + seed))
    return [(x[perm[i:i + BATCH]], y[perm[i:i + BATCH]]) for i in range(0, len(y), BATCH)]


def train_and_validate(seed, opt_name, lr, x, y, xv, yv):
    """Final validation loss after EPOCHS epochs at a constant rate (inf if it diverged)."""
    net = make_net(seed)
    opt = OPTIMIZERS[opt_name](net.parameters(), float(lr))
    loss_fn = torch.nn.CrossEntropyLoss()
    rng = np.random.default_rng(20_000 + seed)
    batches = batches_for(seed, x, y)
    for _ in range(EPOCHS):
        for i in rng.permutation(len(batches)):
            xb, yb = batches[i]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(net(xb), yb)
            if not torch.isfinite(loss):
                return float("inf")
            loss.backward()
            opt.step()
    with torch.no_grad():
        val = float(loss_fn(net(xv), yv))
    return val if np.isfinite(val) else float("inf")


with Analysis(
    __file__,
    title="The range test on a PyTorch network with your optimizer, against torch-lr-finder and Lightning",
    summary="An MLP 64-32-10 on the digits images (scikit-learn), SGD + Nesterov momentum and "
            "Adam, mini-batches of 64: lrctl.torch.range_test, lrctl's valley suggestion and the "
            "peers' rules on the same sweeps, each suggestion trained for 4 epochs and compared "
            "with the best rate of a log grid (regret); the network's λ_max by Lanczos against "
            "the dense Hessian and PyHessian's power iteration.",
) as an:
    quick = an.quick
    seeds = list(range(6 if quick else 20))
    Xtr, ytr, Xva, yva = split_dataset("digits", test_fraction=0.25, seed=0)
    x, y = torch.tensor(Xtr, dtype=torch.float32), torch.tensor(ytr)
    xv, yv = torch.tensor(Xva, dtype=torch.float32), torch.tensor(yva)
    loss_fn = torch.nn.CrossEntropyLoss()

    # -- 1. sweeps, suggestions, regret ---------------------------------------------------
    results = {}
    for opt_name in OPTIMIZERS:
        an.progress(f"{opt_name}: sweeps and grid over {len(seeds)} seeds")
        per_seed = []
        for seed in seeds:
            net = make_net(seed)
            opt = OPTIMIZERS[opt_name](net.parameters(), 1e-3)
            batches = batches_for(seed, x, y)
            # The sweep runs on to the end (threshold 1e12: only NaN/inf stops it), so that
            # every rule sees the same recorded losses and applies its own stop.
            full = range_test(net, opt, loss_fn, batches, lr_min=LR_MIN, lr_max=LR_MAX,
                              steps=SWEEP_STEPS, threshold=1e12, seed=seed)
            ours = analyse_sweep(full.lrs, full.losses, initial_loss=full.initial_loss)
            lrs_p, raw_p = peer_pairing(full)
            suggestions = {
                "lrctl (valley)": ours.suggestions.valley,
                "torch-lr-finder": torch_lr_finder_suggestion(lrs_p, raw_p),
                "Lightning": lightning_suggestion(lrs_p, raw_p),
            }
            grid_val = np.array([train_and_validate(seed, opt_name, lr, x, y, xv, yv)
                                 for lr in GRID])
            best_i = int(np.argmin(grid_val))
            val = {rule: (train_and_validate(seed, opt_name, s, x, y, xv, yv)
                          if s is not None else float("inf"))
                   for rule, s in suggestions.items()}
            per_seed.append({"sweep": ours, "full": full, "suggestions": suggestions,
                             "grid_val": grid_val, "best_lr": float(GRID[best_i]),
                             "best_val": float(grid_val[best_i]), "val": val,
                             "others": ours.suggestions.as_dict()})
        results[opt_name] = per_seed

    verdicts = {}
    for opt_name, per_seed in results.items():
        tag = opt_name.lower()
        best_lr = np.array([r["best_lr"] for r in per_seed])
        regret = {rule: np.array([r["val"][rule] - r["best_val"] for r in per_seed])
                  for rule in RULES}
        factor = {rule: np.array([abs(np.log2(r["suggestions"][rule] / r["best_lr"]))
                                  if r["suggestions"][rule] is not None else np.inf
                                  for r in per_seed]) for rule in RULES}
        within = {rule: float(np.mean(factor[rule] <= 1.0)) for rule in RULES}
        median_regret = {rule: float(np.median(regret[rule])) for rule in RULES}
        an.number(f"{tag}_grid_best_lr", best_lr.tolist(), unit="lr",
                  description="grid-best rate per seed (4 epochs, final validation loss)")
        for rule in RULES:
            key = rule.split(" ")[0].replace("-", "_").lower()
            an.number(f"{tag}_{key}_suggestions",
                      [r["suggestions"][rule] if r["suggestions"][rule] is not None else "none"
                       for r in per_seed], unit="lr")
            an.number(f"{tag}_{key}_within_2x", within[rule],
                      description="fraction of seeds whose suggestion is within 2x of the grid-best rate")
            an.number(f"{tag}_{key}_median_regret", median_regret[rule],
                      description="median over seeds of val loss(suggested) - val loss(grid best)")
        for kind in ("steepest", "min_over_10"):
            an.number(f"{tag}_lrctl_{kind}_suggestions",
                      [r["others"][kind] if r["others"][kind] is not None else "none"
                       for r in per_seed], unit="lr",
                      description=f"lrctl's {kind} suggestion per seed (not used in the claims)")
        valleys = np.array([r["suggestions"]["lrctl (valley)"] for r in per_seed
                            if r["suggestions"]["lrctl (valley)"] is not None])
        an.number(f"{tag}_valley_interval", [float(valleys.min()), float(valleys.max())],
                  unit="lr", description="the valley suggestions over all seeds: [low, high]")
        best_peer = min(("torch-lr-finder", "Lightning"), key=lambda r: median_regret[r])
        verdicts[opt_name] = {
            "within": bool(within["lrctl (valley)"] >= 0.9),
            "within_evidence": (
                f"within 2x on {within['lrctl (valley)']:.0%} of {len(per_seed)} seeds "
                f"(torch-lr-finder {within['torch-lr-finder']:.0%}, Lightning "
                f"{within['Lightning']:.0%}); grid-best rates {best_lr.min():.3g}..{best_lr.max():.3g}, "
                f"valleys {valleys.min():.3g}..{valleys.max():.3g}"),
            "regret": bool(median_regret["lrctl (valley)"] <= median_regret[best_peer]),
            "regret_evidence": (
                f"median regret (validation cross-entropy above the grid best): lrctl "
                f"{median_regret['lrctl (valley)']:.4f}, torch-lr-finder "
                f"{median_regret['torch-lr-finder']:.4f}, Lightning {median_regret['Lightning']:.4f}"),
        }

    # The claims, one literal sentence per optimizer (fixed before the run; the verdicts and
    # the evidence come from the comparisons above).
    v = verdicts["SGD-momentum"]
    an.claim("SGD-momentum: lrctl's suggestion (the valley) lands within 2x of the grid-best "
             "rate on at least 90% of seeds", v["within"], v["within_evidence"])
    an.claim("SGD-momentum: lrctl's median regret is no worse than the best peer rule's",
             v["regret"], v["regret_evidence"])
    v = verdicts["Adam"]
    an.claim("Adam: lrctl's suggestion (the valley) lands within 2x of the grid-best "
             "rate on at least 90% of seeds", v["within"], v["within_evidence"])
    an.claim("Adam: lrctl's median regret is no worse than the best peer rule's",
             v["regret"], v["regret_evidence"])

    # the sweep run to the end and analysed afterwards is the sweep lrctl's own stop produces
    consistent = True
    for opt_name in OPTIMIZERS:
        net = make_net(seeds[0])
        own = range_test(net, OPTIMIZERS[opt_name](net.parameters(), 1e-3), loss_fn,
                         batches_for(seeds[0], x, y), lr_min=LR_MIN, lr_max=LR_MAX,
                         steps=SWEEP_STEPS, seed=seeds[0])
        after = results[opt_name][0]["sweep"]
        consistent &= bool(own.suggestions.as_dict() == after.suggestions.as_dict()
                           and np.array_equal(own.losses, after.losses))
    an.check("A sweep run to the end and analysed by analyse_sweep gives the losses and "
             "suggestions of range_test with lrctl's own stop (same seed)", consistent)

    # -- figures: one seed's sweeps, the grid, the regrets ------------------------------------
    fig, axes = subplots(1, 2, width=11.0, height=4.2)
    colors = {"torch-lr-finder": "tab:orange", "Lightning": "tab:purple"}
    for ax, opt_name in zip(axes, OPTIMIZERS, strict=True):
        r = results[opt_name][0]
        rplots.range_test_curve(r["sweep"], ax=ax, title=f"{opt_name}, seed {seeds[0]}")
        for rule, color in colors.items():
            s = r["suggestions"][rule]
            if s is not None:
                ax.axvline(s, color=color, lw=1.4, ls="-.", label=f"{rule}: η = {s:.3g}")
        ax.axvspan(r["best_lr"] / 2, r["best_lr"] * 2, color="tab:green", alpha=0.15,
                   label=f"within 2x of the grid best {r['best_lr']:.3g}")
        ax.legend(fontsize=6.5, loc="lower left")
    an.figure(fig, "sweeps", caption=(
        "One seed's range tests with the user's optimizer (raw losses after each step, lrctl's "
        "lag-free smoothing in ln η, its three suggestions), the peers' suggestions from the same "
        "sweeps, and the band within 2x of the grid-best rate for a 4-epoch budget."))

    fig, axes = subplots(1, 2, width=11.0, height=4.0)
    for ax, opt_name in zip(axes, OPTIMIZERS, strict=True):
        per_seed = results[opt_name]
        G = np.array([r["grid_val"] for r in per_seed])      # inf where a run diverged
        med = np.median(G, axis=0)
        ax.semilogx(GRID, np.where(np.isfinite(med), med, np.nan), color="0.2", lw=2,
                    label="median over seeds")
        G = np.where(np.isfinite(G), G, np.nan)
        for row in G:
            ax.semilogx(GRID, row, color="0.6", lw=0.6, alpha=0.6)
        markers = {"lrctl (valley)": ("tab:blue", "o"), "torch-lr-finder": ("tab:orange", "s"),
                   "Lightning": ("tab:purple", "^")}
        for rule, (color, marker) in markers.items():
            pts = [(r["suggestions"][rule], r["val"][rule]) for r in per_seed
                   if r["suggestions"][rule] is not None and np.isfinite(r["val"][rule])]
            if pts:
                a, b = zip(*pts, strict=True)
                ax.scatter(a, b, color=color, marker=marker, s=22, zorder=3, label=rule)
        finite = G[np.isfinite(G)]
        ax.set_ylim(0.9 * finite.min(), min(float(np.nanmax(G)), 3.0))
        ax.set_xlabel("learning rate η")
        ax.set_ylabel(f"validation loss after {EPOCHS} epochs")
        ax.set_title(opt_name)
        ax.legend(fontsize=7)
    an.figure(fig, "regret", caption=(
        "Final validation loss on the log grid (grey: each seed; black: median) and at each "
        "rule's suggested rate (markers; a diverged run is not drawn). Regret is a marker's "
        "height above its seed's grid minimum."))

    # -- 3. curvature: Lanczos vs the dense Hessian vs PyHessian's power iteration ----------
    an.progress("curvature")
    n_curv = 256
    xc = torch.tensor(Xtr[:n_curv], dtype=torch.float64)
    yc = torch.tensor(ytr[:n_curv])
    curv_seeds = list(range(3 if quick else 8))
    h_small = 8
    rel_dense, rel_pyh, rel_ours, prod_ours, prod_pyh = [], [], [], [], []
    training_kept = True
    for cs in curv_seeds:
        net = make_net(cs, hidden=h_small, dtype=torch.float64)
        # a few epochs of SGD, so the point is not the initialization
        opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
        for _ in range(5):
            for xb, yb in batches_for(cs, xc, yc):
                opt.zero_grad()
                loss_fn(net(xb), yb).backward()
                opt.step()
        net.train()
        W1, b1, W2, b2 = (p.detach().clone() for p in net.parameters())
        shapes = [W1.shape, b1.shape, W2.shape, b2.shape]
        sizes = [W1.numel(), b1.numel(), W2.numel(), b2.numel()]

        def flat_loss(t, shapes=shapes, sizes=sizes):
            # the same network written out by hand: an independent route to the Hessian
            w1, c1, w2, c2 = (p.reshape(s) for p, s in zip(torch.split(t, sizes), shapes, strict=True))
            return torch.nn.functional.cross_entropy(torch.relu(xc @ w1.T + c1) @ w2.T + c2, yc)

        theta = torch.cat([W1.reshape(-1), b1, W2.reshape(-1), b2])
        H = torch.autograd.functional.hessian(flat_loss, theta).numpy()
        lam_dense = float(np.linalg.eigvalsh(0.5 * (H + H.T))[-1])
        exact = hessian_eigenvalues(net, loss_fn, (xc, yc), tol=1e-10)
        cheap = hessian_eigenvalues(net, loss_fn, (xc, yc), tol=1e-3, seed=cs)
        training_kept &= net.training

        def hvp(v, theta=theta, flat_loss=flat_loss):
            # PyHessian's product: double backward through the loss's gradient
            t = theta.clone().requires_grad_(True)
            (g,) = torch.autograd.grad(flat_loss(t), t, create_graph=True)
            (hv,) = torch.autograd.grad(g, t, grad_outputs=v)
            return hv.detach()

        lam_pyh, n_pyh = pyhessian_power(hvp, theta.numel(), seed=cs)
        rel_dense.append(abs(exact.lam_max - lam_dense) / abs(lam_dense))
        rel_ours.append(abs(cheap.lam_max - lam_dense) / abs(lam_dense))
        rel_pyh.append(abs(lam_pyh - lam_dense) / abs(lam_dense))
        prod_ours.append(cheap.n_products)
        prod_pyh.append(n_pyh)
    rel_dense, rel_ours, rel_pyh = map(np.array, (rel_dense, rel_ours, rel_pyh))
    prod_ours, prod_pyh = np.array(prod_ours), np.array(prod_pyh)
    ratio = float(np.median(prod_pyh / prod_ours))
    an.number("curvature_dim", int(theta.numel()), description="trainable parameters of the small net")
    an.number("curvature_rel_error_lanczos_tol1e-10", rel_dense.tolist())
    an.number("curvature_rel_error_lanczos_tol1e-3", rel_ours.tolist())
    an.number("curvature_rel_error_pyhessian", rel_pyh.tolist())
    an.number("curvature_products_lanczos_tol1e-3", prod_ours.tolist())
    an.number("curvature_products_pyhessian", prod_pyh.tolist())
    an.number("curvature_median_product_ratio", ratio,
              description="median over seeds of PyHessian's products / lrctl's products (tol 1e-3)")
    # A claim, not a check: lrctl's Lanczos on its own Hessian-vector products against an
    # independent route (torch.autograd.functional.hessian of the loss written out by hand,
    # then numpy's eigvalsh).
    an.claim("λ_max of the network from hessian_eigenvalues agrees with the dense Hessian "
             "within 1e-6 (small net)", bool(rel_dense.max() <= 1e-6),
             f"largest relative difference {rel_dense.max():.2g} over {len(curv_seeds)} nets "
             f"of {theta.numel()} parameters")
    an.check("hessian_eigenvalues leaves the model's training flag as it found it (PyHessian "
             "puts it in eval mode)", bool(training_kept))
    an.claim(
        "PyHessian's power iteration at its defaults (tol 1e-3, maxIter 100) returns λ_max "
        "within relative error 1e-3 of the dense Hessian's on every seed",
        bool(rel_pyh.max() <= 1e-3),
        f"relative errors {', '.join(f'{e:.1e}' for e in rel_pyh)} with {prod_pyh.tolist()} products",
    )
    an.claim(
        "hessian_eigenvalues(tol=1e-3) gets λ_max within relative error 1e-3 on every seed with "
        "at least 3x fewer Hessian-vector products (median over seeds) than PyHessian's power "
        "iteration at its defaults",
        bool(rel_ours.max() <= 1e-3 and ratio >= 3.0),
        f"lrctl: errors <= {rel_ours.max():.1e} with {prod_ours.tolist()} products; PyHessian: "
        f"{prod_pyh.tolist()} products; median ratio {ratio:.2f}",
    )
