r"""The learning-rate range test on a PyTorch model, with the user's own optimizer.

:func:`range_test` runs the sweep of :mod:`lrctl.rangetest` with any ``torch.optim``
optimizer (SGD with momentum, Adam, AdamW, ...) on mini-batches: step t = 0 … n − 1 sets the
rate η_t = η_min (η_max/η_min)^{t/(n−1)} in every param group (keeping the groups' ratios to
the first group), computes the loss on batch b_t, back-propagates and calls
``optimizer.step()``. The loss recorded for η_t is the loss *after* that step,
L_t = ℓ(θ_{t+1}; b_{t+1}), the forward pass of the next step, so no extra pass is spent and a
loss is never paired with the previous rate (torch-lr-finder and Lightning record
ℓ(θ_t; b_t), the loss before the step that used η_t). The sweep stops by lrctl's sign-safe
divergence rule (:func:`lrctl.rangetest.divergence_index`: NaN/inf, or the median of the last
``stop_window`` losses above the best level by ``threshold``·|best|), and the recorded sweep is
analysed by :func:`analyse_sweep`, which is lrctl.rangetest's own analysis: lag-free
Savitzky–Golay smoothing in ln η (:func:`lrctl.rangetest.smooth_in_log_lr`), the three
suggestions (:func:`lrctl.rangetest.suggest`), and ρ̂ from the slope
(:meth:`lrctl.rangetest.RangeTestResult.sharpness_estimates`, meaningful for plain SGD).

Restored exactly afterwards (also when the sweep raises): the model's parameters and buffers,
every tensor the optimizer holds, the optimizer's ``state_dict`` (moments, step counts,
hyperparameters), every ``.grad``, each module's ``training`` flag, and the torch random
number generator state (CPU, and CUDA when initialized).

:func:`analyse_sweep` takes ``(lrs, losses)`` recorded by another tool (fastai's
``recorder``, Lightning's ``lr_finder.results``, torch-lr-finder's ``history``) and returns
the same :class:`~lrctl.rangetest.RangeTestResult`. Note that those tools record an
exponentially smoothed loss by default (torch-lr-finder ``smooth_f=0.05``, Lightning
β = 0.98): pass their raw losses where they keep them, since the moving average's lag moves
every suggestion to a larger rate.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import torch

from lrctl._validation import (
    as_float_array,
    as_rng,
    check_int,
    check_positive,
    check_scalar,
)
from lrctl.torch._objective import _is_pair

__all__ = ["analyse_sweep", "range_test", "repeated_range_test"]


# ---------------------------------------------------------------------------------------
# The analysis of a recorded sweep
# ---------------------------------------------------------------------------------------


def _divergence_level(losses: np.ndarray, initial_loss: float, threshold: float, window: int,
                      index: int) -> float:
    """The level b + threshold·max(|b|, ε) the stop compared with at ``index`` (see
    :func:`lrctl.rangetest.divergence_index`)."""
    from numpy.lib.stride_tricks import sliding_window_view

    y = losses[: index + 1]
    padded = np.concatenate([np.full(window - 1, np.nan), y])
    med = np.nanmedian(sliding_window_view(padded, window), axis=1)
    best = float(min(initial_loss, med.min()))
    return best + threshold * max(abs(best), 1e-12 * max(1.0, abs(initial_loss)))


def analyse_sweep(
    lrs: Any,
    losses: Any,
    *,
    initial_loss: float | None = None,
    threshold: float = 3.0,
    stop_window: int = 3,
    smoothing: float = 1.0,
):
    r"""lrctl's range-test analysis of a recorded sweep ``(lrs, losses)``.

    The divergence stop (:func:`lrctl.rangetest.divergence_index`) cuts the sweep at its first
    NaN/inf loss or where the median of the last ``stop_window`` losses exceeds the best level
    b by ``threshold``·|b|; the losses before it are smoothed in ln η
    (:func:`lrctl.rangetest.smooth_in_log_lr`, window ``smoothing`` in ln η) with the trailing
    run above the divergence level left out, and the three suggestions are read off the
    smoothed curve (:func:`lrctl.rangetest.suggest`). This is exactly what
    :func:`lrctl.rangetest.range_test` does after its own sweep.

    Parameters
    ----------
    lrs
        The rates, an increasing geometric grid (uniform in ln η; every range-test tool's
        exponential schedule is), one per loss.
    losses
        The loss recorded for each rate (NaN and inf allowed: the sweep is cut there).
    initial_loss
        L(θ₀) before the first step; default ``losses[0]``.
    threshold, stop_window, smoothing
        As in :func:`lrctl.rangetest.range_test`.

    Returns
    -------
    lrctl.rangetest.RangeTestResult

    >>> import numpy as np
    >>> from lrctl.torch import analyse_sweep
    >>> lrs = np.geomspace(1e-5, 1.0, 100)
    >>> losses = 2.3 - 2.0 / (1 + (1e-2 / lrs) ** 2) + 50 * lrs ** 2   # a typical shape
    >>> r = analyse_sweep(lrs, losses)   # the logistic term in ln η falls fastest at η = 1e-2
    >>> r.diverged, bool(0.008 < r.suggestions.steepest < 0.012)
    (True, True)
    """
    from lrctl.rangetest import (
        MIN_POINTS,
        RangeTestResult,
        divergence_index,
        smooth_in_log_lr,
        suggest,
    )

    x = check_positive("lrs", lrs)
    y = as_float_array("losses", losses)
    if x.ndim != 1 or y.shape != x.shape:
        raise ValueError(f"lrs and losses must be 1-D arrays of one length, got shapes "
                         f"{x.shape} and {y.shape}")
    if x.size < MIN_POINTS:
        raise ValueError(f"a sweep needs at least {MIN_POINTS} points, got {x.size}")
    steps = np.diff(np.log(x))
    if not (steps.mean() > 0 and np.allclose(steps, steps.mean(), rtol=1e-6, atol=0)):
        raise ValueError("lrs must be an increasing geometric grid (uniform in ln η), as an "
                         "exponential range-test schedule is; a linear sweep cannot be analysed "
                         "in ln η")
    thr = float(check_positive("threshold", check_scalar("threshold", threshold)))
    w = check_int("stop_window", stop_window, minimum=1)
    width = float(check_positive("smoothing", check_scalar("smoothing", smoothing),
                                 allow_zero=True))
    if initial_loss is None:
        if not np.isfinite(y[0]):
            raise ValueError(f"the first of losses is {y[0]}; give initial_loss= or a finite "
                             "sweep")
        L0 = float(y[0])
    else:
        L0 = check_scalar("initial_loss", initial_loss)
    d = divergence_index(y, L0, threshold=thr, window=w)
    if d == 0:
        raise ValueError(f"the sweep diverged at its first point (loss {y[0]:.6g} from "
                         f"initial_loss {L0:.6g}, lr {x[0]:g}); lower lr_min or check the "
                         "losses and initial_loss")
    level = np.inf
    if d is None:
        raw = y
    elif np.isfinite(y[d]):
        raw = y[: d + 1]
        level = _divergence_level(y, L0, thr, w, d)
    else:
        raw = y[:d]
    above = raw > level
    n_pre = len(raw) - (int(np.argmin(above[::-1])) if not above.all() else len(raw))
    if n_pre < MIN_POINTS:
        raise ValueError(
            f"the sweep diverged at point {d} (lr {x[d]:g}) with only {n_pre} finite losses "
            f"before it (need {MIN_POINTS}); lower lr_min or take more steps"
        )
    smoothed, slopes, pts = smooth_in_log_lr(x[:n_pre], raw[:n_pre], width)
    return RangeTestResult(
        lrs=x[: len(raw)].copy(),
        losses=raw.copy(),
        smoothed=smoothed,
        slopes=slopes,
        initial_loss=L0,
        diverged=d is not None,
        diverged_at=d,
        diverged_lr=None if d is None else float(x[d]),
        suggestions=suggest(x[:n_pre], smoothed, slopes),
        log_lr_step=float(np.log(x[1] / x[0])),
        smoothing_window=pts,
    )


# ---------------------------------------------------------------------------------------
# State: save and restore exactly
# ---------------------------------------------------------------------------------------


class _SavedState:
    """Everything a sweep changes: parameters, buffers, optimizer state, .grad, modes, RNG."""

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
        self.model, self.optimizer = model, optimizer
        tensors: dict[int, torch.Tensor] = {}
        for t in itertools.chain(model.parameters(), model.buffers(),
                                 (p for g in optimizer.param_groups for p in g["params"])):
            tensors.setdefault(id(t), t)
        self.tensors = list(tensors.values())
        with torch.no_grad():
            self.data = [t.detach().clone() for t in self.tensors]
            self.grads = [None if t.grad is None else t.grad.detach().clone()
                          for t in self.tensors]
        self.optimizer_state = copy.deepcopy(optimizer.state_dict())
        self.modes = [(m, m.training) for m in model.modules()]
        self.rng = torch.get_rng_state()
        self.cuda_rng = (torch.cuda.get_rng_state_all()
                         if torch.cuda.is_available() and torch.cuda.is_initialized() else None)

    def restore(self) -> None:
        with torch.no_grad():
            for t, d, g in zip(self.tensors, self.data, self.grads, strict=True):
                t.copy_(d)
                t.grad = None if g is None else g.clone()
        self.optimizer.load_state_dict(self.optimizer_state)
        for m, mode in self.modes:
            m.training = mode
        torch.set_rng_state(self.rng)
        if self.cuda_rng is not None:
            torch.cuda.set_rng_state_all(self.cuda_rng)


# ---------------------------------------------------------------------------------------
# The sweep
# ---------------------------------------------------------------------------------------


def _batches(data: Any, seed: Any) -> Iterator[Any]:
    """Batches forever: one pair repeated, a sequence (re-shuffled each pass when ``seed`` is
    given) or any re-iterable (a DataLoader) cycled."""
    if _is_pair(data):
        yield from itertools.repeat(data)
        return
    if isinstance(data, (str, bytes, torch.Tensor)) or not isinstance(data, Iterable):
        raise TypeError("data must be an (inputs, targets) pair of tensors or an iterable of "
                        f"such pairs (e.g. a DataLoader), got {type(data).__name__}")
    if isinstance(data, Iterator):
        raise TypeError("data must be re-iterable (a list or a DataLoader), not a one-shot "
                        "iterator: the sweep cycles over it")
    rng = as_rng(seed) if (seed is not None and isinstance(data, Sequence)) else None
    while True:
        order: Iterable[Any] = (data if rng is None
                                else (data[i] for i in rng.permutation(len(data))))
        empty = True
        for i, pair in enumerate(order):
            empty = False
            if not _is_pair(pair):
                raise TypeError(f"data[{i}] must be an (inputs, targets) pair of tensors, got "
                                f"{type(pair).__name__}")
            yield pair
        if empty:
            raise ValueError("data holds no batches")


def _to(x: Any, device: torch.device) -> Any:
    if isinstance(x, torch.Tensor):
        return x.to(device, non_blocking=True)
    return type(x)(_to(e, device) for e in x)


def _forward(model: torch.nn.Module, loss_fn: Any, pair: Any, device: torch.device) -> torch.Tensor:
    x, y = pair
    if y.device != device:
        x, y = _to(x, device), y.to(device, non_blocking=True)
    out = model(*x) if isinstance(x, (tuple, list)) else model(x)
    loss = loss_fn(out, y)
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        raise TypeError("loss_fn must return a scalar tensor, got "
                        + (f"a tensor of shape {tuple(loss.shape)}"
                           if isinstance(loss, torch.Tensor) else type(loss).__name__))
    return loss


class _Stop:
    """The divergence rule of :func:`lrctl.rangetest.divergence_index`, one loss at a time."""

    def __init__(self, initial_loss: float, threshold: float, window: int) -> None:
        self.L0, self.thr, self.w = initial_loss, threshold, window
        self.best = initial_loss
        self.recent: list[float] = []
        self.eps = 1e-12 * max(1.0, abs(initial_loss))

    def fires(self, value: float) -> bool:
        if not np.isfinite(value):
            return True
        self.recent = [*self.recent[-(self.w - 1):], value] if self.w > 1 else [value]
        ordered = sorted(self.recent)  # the median of at most w floats, as np.median gives it
        mid = len(ordered) // 2
        med = ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
        self.best = min(self.best, med)
        return med > self.best + self.thr * max(abs(self.best), self.eps)


def _check_model_optimizer(model: Any, optimizer: Any) -> None:
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer (built on the model's "
                        f"parameters), got {type(optimizer).__name__}")
    if any("lr" not in g for g in optimizer.param_groups):
        raise ValueError("optimizer's param groups have no 'lr' to sweep")


def range_test(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: Any,
    data: Any,
    *,
    lr_min: float = 1e-6,
    lr_max: float = 10.0,
    steps: int = 100,
    threshold: float = 3.0,
    stop_window: int = 3,
    smoothing: float = 1.0,
    seed: Any = None,
    train_mode: bool = True,
):
    r"""The range test with the user's own optimizer; model, optimizer and RNG restored exactly.

    Step t = 0 … ``steps`` − 1: set lr = η_t (:func:`lrctl.rangetest.exponential_lrs`) in
    every param group (group g gets η_t·lr_g/lr_0, so the groups keep their ratios), compute
    ℓ(θ_t; b_t) on the next batch, ``backward()``, ``optimizer.step()``. The loss recorded for
    η_t is ℓ(θ_{t+1}; b_{t+1}), the next forward pass (one extra forward at the end), and the
    sweep stops by lrctl's divergence rule; :func:`analyse_sweep` then smooths it in ln η and
    reads off the suggestions. See the module docstring for what is restored.

    Parameters
    ----------
    model
        The ``torch.nn.Module`` to train.
    optimizer
        Any ``torch.optim.Optimizer`` on the model's parameters, in whatever state
        (``torch.optim.LBFGS`` is stepped with a closure on the step's batch).
    loss_fn
        ``loss_fn(outputs, targets)`` -> scalar tensor.
    data
        An ``(inputs, targets)`` pair (the same batch every step) or a re-iterable of pairs
        (a list, a ``DataLoader``), cycled; inputs may be a tuple (``model(*inputs)``). Batches
        are moved to the device of the model's first parameter.
    lr_min, lr_max, steps
        The schedule (0 < lr_min < lr_max; steps >= 5).
    threshold, stop_window, smoothing
        As in :func:`lrctl.rangetest.range_test` (divergence level in units of |best|; median
        window; Savitzky–Golay width in ln η).
    seed
        When given: ``torch.manual_seed(seed)`` before the sweep (the shuffling of a
        ``DataLoader``, dropout), and the batches of a list are visited in an order drawn from
        it each pass. The caller's RNG state is restored afterwards either way.
    train_mode
        Put the model in ``train()`` mode during the sweep (default, as in training); False
        keeps each module's mode.

    Returns
    -------
    lrctl.rangetest.RangeTestResult
        ``initial_loss`` is ℓ(θ₀; b₀).

    >>> import pytest; torch = pytest.importorskip("torch")
    >>> from lrctl.torch import range_test
    >>> _ = torch.manual_seed(0)
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    >>> x = torch.randn(256, 4)
    >>> y = (x @ torch.randn(4, 3)).argmax(1)          # a learnable labelling
    >>> batches = [(x[i:i + 32], y[i:i + 32]) for i in range(0, 256, 32)]
    >>> opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    >>> before = [p.detach().clone() for p in net.parameters()]
    >>> r = range_test(net, opt, torch.nn.CrossEntropyLoss(), batches,
    ...                lr_min=1e-5, lr_max=10.0, steps=80)
    >>> r.diverged, 1e-3 < r.suggestions.steepest < 1.0
    (True, True)
    >>> all(torch.equal(p, b) for p, b in zip(net.parameters(), before)), opt.state_dict()["state"]
    (True, {})
    """
    from lrctl.rangetest import MIN_POINTS, exponential_lrs

    _check_model_optimizer(model, optimizer)
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable (outputs, targets) -> scalar tensor, "
                        f"got {type(loss_fn).__name__}")
    lrs = exponential_lrs(lr_min, lr_max, steps)
    if lrs.size < MIN_POINTS:
        raise ValueError(f"steps must be >= {MIN_POINTS}, got {steps}")
    thr = float(check_positive("threshold", check_scalar("threshold", threshold)))
    w = check_int("stop_window", stop_window, minimum=1)
    width = float(check_positive("smoothing", check_scalar("smoothing", smoothing),
                                 allow_zero=True))
    if not isinstance(train_mode, bool):
        raise TypeError(f"train_mode must be True or False, got {train_mode!r}")
    if seed is not None:
        as_rng(seed)  # validates
    first = next(iter(model.parameters()), None)
    device = first.device if first is not None else torch.device("cpu")
    groups = optimizer.param_groups
    lr0 = float(groups[0]["lr"])
    ratios = [float(g["lr"]) / lr0 if lr0 > 0 else 1.0 for g in groups]

    saved = _SavedState(model, optimizer)
    losses: list[float] = []
    try:
        if seed is not None:
            torch.manual_seed(int(as_rng(seed).integers(2**63 - 1)))
        if train_mode:
            model.train()
        batches = _batches(data, seed)
        pair = next(batches)
        loss = _forward(model, loss_fn, pair, device)
        L0 = loss.item()
        if not np.isfinite(L0):
            raise ValueError(f"the loss at the model's parameters is {L0}; the sweep needs a "
                             "finite initial loss")
        stop = _Stop(L0, thr, w)
        needs_closure = isinstance(optimizer, torch.optim.LBFGS)
        for t, eta in enumerate(lrs):
            for g, ratio in zip(groups, ratios, strict=True):
                g["lr"] = float(eta) * ratio
            if needs_closure:
                # L-BFGS re-evaluates the loss of the step's batch as often as it needs
                def closure(pair: Any = pair) -> torch.Tensor:
                    optimizer.zero_grad(set_to_none=True)
                    value = _forward(model, loss_fn, pair, device)
                    value.backward()
                    return value

                optimizer.step(closure)
            else:
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            pair = next(batches)
            if t + 1 < lrs.size:
                loss = _forward(model, loss_fn, pair, device)
                value = loss.item()
            else:
                with torch.no_grad():
                    value = _forward(model, loss_fn, pair, device).item()
            losses.append(value)
            if stop.fires(value):
                break
    finally:
        saved.restore()
    if len(losses) < MIN_POINTS:
        raise ValueError(
            f"the sweep diverged after {len(losses)} of {lrs.size} steps (an analysable sweep "
            f"needs {MIN_POINTS}): lower lr_max = {lr_max!r} or raise lr_min / steps"
        )
    return analyse_sweep(lrs[: len(losses)], losses, initial_loss=L0, threshold=thr,
                         stop_window=w, smoothing=width)


def _sweep_on_copy(payload: bytes) -> Any:
    """One sweep in a worker: the pickled (model, optimizer, loss_fn, data, seed, kwargs)."""
    import pickle

    model, optimizer, loss_fn, data, seed, kwargs = pickle.loads(payload)
    return range_test(model, optimizer, loss_fn, data, seed=seed, **kwargs)


def repeated_range_test(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: Any,
    data: Any,
    *,
    seeds: Sequence[Any],
    agreement: float = 2.0,
    executor: Any = None,
    **kwargs: Any,
):
    r"""Range tests over several seeds (mini-batch orders, dropout); each suggestion an interval.

    Every sweep starts from the model's and optimizer's current state (:func:`range_test`
    restores it) with ``seed`` = one of ``seeds``; ``kwargs`` go to :func:`range_test`. For
    each suggestion kind the interval [low, high] spans the sweeps' suggestions, with a point
    (their geometric mean) only when high/low <= ``agreement``, as in
    :func:`lrctl.rangetest.repeated_range_test`.

    ``executor``: a ``concurrent.futures.Executor`` (a process pool, or dask's
    ``client.get_executor()``); each sweep then runs on its own pickled copy of
    ``(model, optimizer, loss_fn, data)``, so those must pickle (a model class defined at
    module level, no lambdas). Use processes: torch's random number generator is global to a
    process, so sweeps in threads would share it.

    Returns
    -------
    lrctl.rangetest.RepeatedRangeTest
    """
    import pickle

    from lrctl.rangetest import RepeatedRangeTest, SuggestionInterval

    if isinstance(seeds, (str, bytes)) or not hasattr(seeds, "__len__"):
        raise TypeError(f"seeds must be a sequence, got {type(seeds).__name__}")
    if len(seeds) < 2:
        raise ValueError(f"seeds must hold at least 2 seeds to compare sweeps, got {len(seeds)}")
    for i, s in enumerate(seeds):
        try:
            as_rng(s)  # validates each seed
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"seeds[{i}]: {exc}") from None
    agree = check_scalar("agreement", agreement)
    if not agree > 1.0:
        raise ValueError(f"agreement must be a factor > 1, got {agreement!r}")
    _check_model_optimizer(model, optimizer)
    if executor is None:
        sweeps = [range_test(model, optimizer, loss_fn, data, seed=s, **kwargs) for s in seeds]
    else:
        if not hasattr(executor, "submit"):
            raise TypeError(f"executor must be a concurrent.futures.Executor (with submit), got "
                            f"{type(executor).__name__}")
        try:
            payloads = [pickle.dumps((model, optimizer, loss_fn, data, s, kwargs))
                        for s in seeds]
        except (pickle.PicklingError, AttributeError, TypeError) as exc:
            raise TypeError(f"with an executor, model, optimizer, loss_fn and data must pickle "
                            f"(each sweep runs on a copy): {exc}") from exc
        futures = [executor.submit(_sweep_on_copy, p) for p in payloads]
        sweeps = [f.result() for f in futures]
    intervals = {}
    for kind in sweeps[0].suggestions.as_dict():
        vals = np.array([v for s in sweeps if (v := getattr(s.suggestions, kind)) is not None])
        if vals.size == 0:
            continue
        lo, hi = float(vals.min()), float(vals.max())
        point = float(np.exp(np.mean(np.log(vals)))) if hi / lo <= agree else None
        intervals[kind] = SuggestionInterval(kind, vals, lo, hi, point)
    return RepeatedRangeTest(tuple(sweeps), intervals, agree)
