"""hessian_eigenvalues against PyHessian's power iteration: Hessian-vector products for λ_max.

The issue's goal: ``lrctl.torch.hessian_eigenvalues`` reaches λ_max to relative error 1e-3
(PyHessian's default tolerance) with at least 3× fewer Hessian-vector products than
PyHessian's power iteration on the same model and batch, and the same λ_max within 1e-3.

Networks (fixed before the run): MLPs on the digits images (scikit-learn), 64 → h → 10,
ReLU, float64, on the first 512 training images as one batch, h ∈ {8, 32}, at their
initialization and after 20 epochs of SGD-momentum. Every method uses the same products
(``TorchObjective.hvp``), so counts compare like with like. The reference λ_max is ARPACK's
(:func:`lrctl.curvature.top_eigenvalue`, tol 1e-12), an independent Lanczos implementation.

- lrctl: ``hessian_eigenvalues(tol=1e-3)``, i.e. :func:`lrctl.curvature.lanczos` with its
  default stop (the Kato–Temple gap bound ‖r‖²/δ where the gap can be trusted, else the
  residual ‖r‖), certifying relative error 1e-3;
- lrctl with ``bound='residual'`` (the residual stop alone: the rule before the gap bound);
- PyHessian (amirgholami/PyHessian, pyhessian/hessian.py, ``hessian.eigenvalues``, copied
  here): power iteration from a random normal vector, stopped when the relative change of its
  estimate is below tol = 1e-3 (maxIter 100); its stop does not bound the error, so the table
  also shows its error;
- power iteration with an oracle stop: the first product at which the Rayleigh quotient is
  within 1e-3 of the reference (no stopping rule can stop earlier and be that accurate);
- Lanczos with an oracle stop: the first step at which the top Ritz value is within 1e-3 of
  the reference, from the same start vector as the power iterations (the fewest products any
  stopping rule on a Lanczos run could use).

Run: ``python benchmarks/bench_torch_hessian.py [--seeds 5]``. Prints one row per network and
seed, and the median ratios (PyHessian products / lrctl products; oracle power / lrctl;
PyHessian / oracle Lanczos, the best ratio any Lanczos stop could reach). Last,
the cost of one product in gradient evaluations (CPU time, best of 30) for both of
TorchObjective's ``hvp_mode``s on a 64-128-10 MLP, float32, all 1347 training images.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
import torch

from lrctl.curvature import hessian_operator, lanczos, top_eigenvalue
from lrctl.objectives import split_dataset
from lrctl.torch import TorchObjective, hessian_eigenvalues

torch.set_num_threads(1)
TARGET = 1e-3


def pyhessian_eigenvalue(hvp, dim, seed, tol=1e-3, max_iter=100):
    """PyHessian's hessian.eigenvalues(maxIter=100, tol=1e-3, top_n=1): (value, products)."""
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(dim, generator=g, dtype=torch.float64).numpy()
    v = v / np.linalg.norm(v)
    eigenvalue, products = None, 0
    for _ in range(max_iter):
        Hv = hvp(v)
        products += 1
        tmp = float(Hv @ v)
        v = Hv / np.linalg.norm(Hv)
        if eigenvalue is None:
            eigenvalue = tmp
        elif abs(eigenvalue - tmp) / (abs(eigenvalue) + 1e-6) < tol:
            break
        else:
            eigenvalue = tmp
    return eigenvalue, products


def oracle_power(hvp, dim, seed, reference, max_iter=5000):
    """Products until the power iteration's Rayleigh quotient is within TARGET of reference."""
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(dim, generator=g, dtype=torch.float64).numpy()
    v = v / np.linalg.norm(v)
    for k in range(1, max_iter + 1):
        Hv = hvp(v)
        if abs(float(Hv @ v) - reference) <= TARGET * abs(reference):
            return k
        v = Hv / np.linalg.norm(Hv)
    return max_iter


def oracle_lanczos(hvp, dim, seed, reference, max_steps=500):
    """Steps until the top Ritz value of plain Lanczos (full re-orthogonalization) is within
    TARGET of reference, from the power iterations' start vector."""
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(dim, generator=g, dtype=torch.float64).numpy()
    Q = [q / np.linalg.norm(q)]
    alphas, betas = [], []
    for m in range(1, max_steps + 1):
        w = hvp(Q[-1])
        alphas.append(float(Q[-1] @ w))
        B = np.array(Q)
        for _ in range(2):
            w = w - B.T @ (B @ w)
        top = np.linalg.eigvalsh(np.diag(alphas) + np.diag(betas, 1) + np.diag(betas, -1))[-1]
        if abs(top - reference) <= TARGET * abs(reference):
            return m
        betas.append(float(np.linalg.norm(w)))
        Q.append(w / betas[-1])
    return max_steps


def network(hidden, trained, seed, x, y):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(64, hidden), torch.nn.ReLU(),
                              torch.nn.Linear(hidden, 10)).double()
    loss_fn = torch.nn.CrossEntropyLoss()
    if trained:
        opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
        for _ in range(20):
            for i in range(0, len(y), 64):
                opt.zero_grad()
                loss_fn(net(x[i:i + 64]), y[i:i + 64]).backward()
                opt.step()
    return net, loss_fn


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args()
    Xtr, ytr, _, _ = split_dataset("digits", seed=0)
    x, y = torch.tensor(Xtr[:512]), torch.tensor(ytr[:512])
    print(f"λ_max to relative error {TARGET:g}: Hessian-vector products (digits MLP, 512 images)")
    print(f"{'network':>22} {'seed':>4} {'lrctl':>6} {'err':>8} {'residual':>8} {'err':>8} "
          f"{'PyHessian':>9} {'err':>8} {'oracle power':>12} {'oracle Lanczos':>14}")
    ratios_pyh, ratios_oracle, errors_ours, errors_pyh = [], [], [], []
    ratios_res, ratios_best, errors_res = [], [], []
    for hidden in (8, 32):
        for trained in (False, True):
            for seed in range(args.seeds):
                net, loss_fn = network(hidden, trained, seed, x, y)
                obj = TorchObjective(net, loss_fn, (x, y))
                theta = obj.initial()
                ref = top_eigenvalue(hessian_operator(obj, theta), tol=1e-12).value
                ours = hessian_eigenvalues(net, loss_fn, (x, y), tol=TARGET, seed=seed)
                def hvp(v, obj=obj, theta=theta):
                    return obj.hvp(theta, v)

                hvp._lrctl_symmetric = True  # as hessian_eigenvalues marks it: no probe
                # the same Lanczos with the residual stop alone, from the same start
                res_only = lanczos(hvp, obj.dim, tol=TARGET, bound="residual", vectors=False,
                                   seed=np.random.default_rng(np.random.SeedSequence(
                                       int(np.random.default_rng(seed).integers(2**63 - 1))
                                   ).spawn(1)[0]))
                lam_pyh, n_pyh = pyhessian_eigenvalue(hvp, obj.dim, seed)
                n_oracle = oracle_power(hvp, obj.dim, seed, ref)
                n_best = oracle_lanczos(hvp, obj.dim, seed, ref)
                e_ours = abs(ours.lam_max - ref) / abs(ref)
                e_res = abs(res_only.top[0] - ref) / abs(ref)
                e_pyh = abs(lam_pyh - ref) / abs(ref)
                name = f"64-{hidden}-10 {'trained' if trained else 'init'} ({obj.dim})"
                print(f"{name:>22} {seed:>4} {ours.n_products:>6} {e_ours:>8.1e} "
                      f"{res_only.n_products:>8} {e_res:>8.1e} {n_pyh:>9} "
                      f"{e_pyh:>8.1e} {n_oracle:>12} {n_best:>14}")
                ratios_pyh.append(n_pyh / ours.n_products)
                ratios_oracle.append(n_oracle / ours.n_products)
                ratios_res.append(res_only.n_products / ours.n_products)
                ratios_best.append(n_pyh / n_best)
                errors_res.append(e_res)
                errors_ours.append(e_ours)
                errors_pyh.append(e_pyh)
    r1, r2 = float(np.median(ratios_pyh)), float(np.median(ratios_oracle))
    print(f"median ratio PyHessian / lrctl products: {r1:.2f}   (goal >= 3: "
          f"{'met' if r1 >= 3 else 'MISSED'})")
    print(f"median ratio oracle power / lrctl products: {r2:.2f}")
    print(f"median ratio residual-stop / gap-stop products (lrctl): "
          f"{float(np.median(ratios_res)):.2f}; largest error with the residual stop "
          f"{max(errors_res):.1e}")
    print(f"median ratio PyHessian / oracle-stopped Lanczos products: "
          f"{float(np.median(ratios_best)):.2f} (the most any Lanczos stop could reach)")
    print(f"largest error: lrctl {max(errors_ours):.1e} (goal <= 1e-3: "
          f"{'met' if max(errors_ours) <= TARGET else 'MISSED'}), PyHessian {max(errors_pyh):.1e}; "
          f"PyHessian within 1e-3 on {np.mean(np.array(errors_pyh) <= TARGET):.0%} of the runs")
    product_cost()


def product_cost() -> None:
    import time

    Xtr, ytr, _, _ = split_dataset("digits", seed=0)
    x, y = torch.tensor(Xtr, dtype=torch.float32), torch.tensor(ytr)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))

    def best(f, n=30):
        f()
        times = []
        for _ in range(n):
            t0 = time.process_time()
            f()
            times.append(time.process_time() - t0)
        return min(times)

    for mode in ("forward-over-reverse", "reverse-over-reverse"):
        obj = TorchObjective(net, torch.nn.CrossEntropyLoss(), (x, y), hvp_mode=mode)
        theta, v = obj.initial(), np.ones(obj.dim)
        g = best(lambda obj=obj, theta=theta: obj.grad(theta))
        h = best(lambda obj=obj, theta=theta, v=v: obj.hvp(theta, v))
        print(f"one Hessian-vector product, {mode}: {h / g:.2f} gradients "
              f"(gradient {g * 1e3:.2f} ms, 64-128-10 MLP, float32)")


if __name__ == "__main__":
    main()
