r"""A PyTorch model as an lrctl Objective: loss, gradient and exact Hessian-vector products.

:class:`TorchObjective` turns ``(model, loss_fn, data)`` into the
:class:`lrctl.objectives.Objective` protocol on one flat float64 numpy vector θ, the model's
trainable parameters concatenated in ``model.named_parameters()`` order:

.. math::

    L(θ) = \sum_b \frac{n_b}{N}\, \ell\big(f(x_b; θ), y_b\big), \qquad N = \sum_b n_b,

with ℓ = ``loss_fn``, f the model evaluated by :func:`torch.func.functional_call` with the
parameters taken from θ, and (x_b, y_b) the batches of ``data`` (n_b = ``len(y_b)``). When
``loss_fn`` averages over its batch (the default ``reduction='mean'`` of torch's losses) L is
the mean loss over all N examples. Gradients come from ``torch.func.grad``; the Hessian-vector
product is exact, forward-over-reverse (reverse-over-reverse for the few operators without a
forward-mode derivative, see ``hvp_mode``):

.. math::

    H(θ)v = \frac{d}{dε} ∇L(θ + εv)\Big|_{ε=0}
          = \texttt{torch.func.jvp}(\texttt{torch.func.grad}(L), (θ,), (v,))[1],

without forming H, at the cost of a few gradient evaluations (on a 64-128-10 MLP on the CPU,
float32: 2.6–3.0 gradients forward-over-reverse, 2.2–2.3 reverse-over-reverse, in
``benchmarks/bench_torch_hessian.py``; ``hvp_mode`` chooses). A stack of K vectors, shape
``(K, dim)``, is evaluated by ``torch.func.vmap`` in one call (``stacked = True``).

What is held fixed
------------------
- **Buffers** (batch-norm running statistics, ``num_batches_tracked``) are copied once at
  construction and passed to every evaluation; the model's own buffers are never modified. In
  ``eval()`` mode batch norm uses those running statistics; in ``train()`` mode it normalizes
  by the statistics of the batch (then each evaluation works on a fresh copy of the buffers,
  so the running-statistics update is discarded, and stacked vectors are evaluated one by one,
  because vmap cannot update an unbatched buffer in place).
- **Frozen parameters** (``requires_grad=False``) are not part of θ; they keep their values.
- **The mode** (``model.training``) is the model's at construction: the loss is the function
  the model computes in that mode. Dropout in ``train()`` mode makes it random (every
  evaluation draws a new mask), so use ``eval()`` for curvature.

The model itself is never changed by an evaluation: its parameters, buffers, ``.grad``
fields and ``training`` flag are as they were. :meth:`TorchObjective.write` puts a vector back
into the model (in place), :meth:`TorchObjective.to_model` into a copy of it, and
:func:`theta_of` reads the trainable parameters of any model as a flat vector.

Precision and device
--------------------
Computations run in ``dtype`` (default: the dtype of the model's first trainable parameter)
on ``device`` (default: its device; CUDA works the same way); floating-point inputs are cast
to ``dtype`` and moved to the device once, at construction. θ and the results cross the
boundary as float64 numpy arrays. For derivative checks use ``dtype=torch.float64``.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch

from lrctl._validation import check_choice, check_finite

__all__ = ["TorchObjective", "theta_of"]

_HVP_MODES = ("forward-over-reverse", "reverse-over-reverse")


def _check_model(model: Any) -> torch.nn.Module:
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError("model has no trainable parameters (every parameter has "
                         "requires_grad=False); nothing to differentiate")
    return model


def theta_of(model: torch.nn.Module) -> np.ndarray:
    """The trainable parameters of ``model`` (``requires_grad=True``) as one flat float64 vector.

    The order is ``model.named_parameters()``; frozen parameters are left out. This is the θ
    of a :class:`TorchObjective` built on the same model.

    >>> import pytest; torch = pytest.importorskip("torch")
    >>> from lrctl.torch import theta_of
    >>> net = torch.nn.Linear(3, 2)
    >>> theta_of(net).shape          # 3·2 weights + 2 biases
    (8,)
    """
    model = _check_model(model)
    with torch.no_grad():
        parts = [p.detach().reshape(-1).to(device="cpu", dtype=torch.float64)
                 for p in model.parameters() if p.requires_grad]
    return torch.cat(parts).numpy().copy()


def _is_pair(data: Any) -> bool:
    return (isinstance(data, (tuple, list)) and len(data) == 2
            and isinstance(data[1], torch.Tensor)
            and isinstance(data[0], (torch.Tensor, tuple, list)))


def _batch_size(inputs: Any, targets: torch.Tensor) -> int:
    if targets.ndim == 0:
        raise ValueError("targets must have a batch dimension (got a 0-d tensor)")
    return int(targets.shape[0])


def _move(x: Any, device: torch.device, dtype: torch.dtype) -> Any:
    if isinstance(x, torch.Tensor):
        x = x.detach().to(device)
        return x.to(dtype) if x.is_floating_point() else x
    if isinstance(x, (tuple, list)):
        return type(x)(_move(e, device, dtype) for e in x)
    raise TypeError(f"inputs must be a tensor or a tuple of tensors, got {type(x).__name__}")


def _collect_batches(data: Any, device: torch.device, dtype: torch.dtype,
                    name: str = "data") -> list[tuple[Any, torch.Tensor, int]]:
    """``data`` (a pair or an iterable of pairs) as a list of ``(inputs, targets, n)``."""
    if _is_pair(data):
        pairs: Iterable[Any] = [data]
    elif isinstance(data, (str, bytes, torch.Tensor)) or not isinstance(data, Iterable):
        raise TypeError(f"{name} must be an (inputs, targets) pair of tensors or an iterable of "
                        f"such pairs (e.g. a DataLoader), got {type(data).__name__}")
    else:
        pairs = data
    out = []
    for i, pair in enumerate(pairs):
        if not _is_pair(pair):
            raise TypeError(f"{name}[{i}] must be an (inputs, targets) pair of tensors, got "
                            f"{type(pair).__name__}")
        x, y = pair
        n = _batch_size(x, y)
        if n == 0:
            raise ValueError(f"{name}[{i}] is an empty batch")
        out.append((_move(x, device, dtype), _move(y, device, dtype), n))
    if not out:
        raise ValueError(f"{name} holds no batches")
    return out


def _call(model: torch.nn.Module, state: dict[str, torch.Tensor], inputs: Any) -> Any:
    from torch.func import functional_call

    args = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    return functional_call(model, state, args)


def _has_running_stats_in_training(model: torch.nn.Module) -> bool:
    return model.training and any(
        isinstance(m, torch.nn.modules.batchnorm._NormBase) and m.track_running_stats
        for m in model.modules()
    )


class TorchObjective:
    r"""A PyTorch model, loss and data as an lrctl Objective over the trainable parameters.

    L(θ) = Σ_b (n_b/N) ℓ(f(x_b; θ), y_b) on one flat float64 vector θ (see the module
    docstring for the formula, what is held fixed, and precision); ``grad`` by reverse mode,
    ``hvp`` exact by forward-over-reverse (``torch.func.jvp`` of ``torch.func.grad``).

    Parameters
    ----------
    model
        A ``torch.nn.Module``. Only its trainable parameters enter θ; buffers and frozen
        parameters are held at their values at construction. It is never modified by an
        evaluation.
    loss_fn
        ``loss_fn(outputs, targets)`` -> a scalar tensor (e.g. ``torch.nn.CrossEntropyLoss()``
        or any function of your own).
    data
        An ``(inputs, targets)`` pair of tensors, or an iterable of such pairs (a list, a
        ``DataLoader``: it is iterated once, at construction, and the batches are kept). Inputs
        may be a tuple of tensors (the model is then called as ``model(*inputs)``).
    dtype, device
        Where to compute (defaults: the dtype and device of the model's first trainable
        parameter).
    hvp_mode
        ``"forward-over-reverse"`` (default) or ``"reverse-over-reverse"``.

    Attributes
    ----------
    dim
        The number of trainable scalars.
    blocks
        One slice of θ per trainable parameter tensor, in ``names`` order.
    names
        The parameter names (``model.named_parameters()``), one per block.
    n_examples
        N, the number of examples in ``data``.
    stacked
        True: ``loss``, ``grad``, ``loss_and_grad`` and ``hvp`` also take a ``(K, dim)`` stack.
    hvp_mode
        ``"forward-over-reverse"`` (jvp of grad, the default) or ``"reverse-over-reverse"``
        (H v = ∇(∇L·v), exact as well; chosen with ``hvp_mode=``, and switched to
        automatically when an operator of the model or the loss has no forward-mode
        derivative, e.g. ``huber_loss``).

    >>> import pytest; torch = pytest.importorskip("torch")
    >>> from lrctl.torch import TorchObjective
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 2))
    >>> x, y = torch.randn(16, 4), torch.randint(0, 2, (16,))
    >>> obj = TorchObjective(net, torch.nn.CrossEntropyLoss(), (x, y), dtype=torch.float64)
    >>> theta = obj.initial()
    >>> obj.dim, len(obj.blocks), obj.grad(theta).shape
    (23, 4, (23,))
    >>> v, w = np.ones(obj.dim), np.arange(obj.dim) / obj.dim
    >>> bool(np.isclose(w @ obj.hvp(theta, v), v @ obj.hvp(theta, w)))   # H is symmetric
    True
    """

    stacked = True

    def __init__(self, model: torch.nn.Module, loss_fn: Callable[..., torch.Tensor], data: Any,
                 *, dtype: torch.dtype | None = None, device: Any = None,
                 hvp_mode: str = "forward-over-reverse") -> None:
        check_choice("hvp_mode", hvp_mode, _HVP_MODES)
        self.model = _check_model(model)
        if not callable(loss_fn):
            raise TypeError(f"loss_fn must be callable (outputs, targets) -> scalar tensor, "
                            f"got {type(loss_fn).__name__}")
        self.loss_fn = loss_fn
        first = next(p for p in model.parameters() if p.requires_grad)
        if dtype is None:
            dtype = first.dtype
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise TypeError(f"dtype must be a floating torch.dtype (e.g. torch.float64), got {dtype!r}")
        self.dtype = dtype
        try:
            self.device = first.device if device is None else torch.device(device)
        except (RuntimeError, TypeError, ValueError) as exc:
            raise ValueError(f"device must name a torch device ('cpu', 'cuda:0', ...), got "
                             f"{device!r:.40}: {exc}") from None
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        self.names = tuple(n for n, _ in named)
        self._shapes = tuple(tuple(p.shape) for _, p in named)
        sizes = [int(p.numel()) for _, p in named]
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        self.blocks = tuple(slice(int(a), int(b)) for a, b in itertools.pairwise(offsets))
        self._sizes = tuple(sizes)
        self.dim = int(offsets[-1])
        with torch.no_grad():
            frozen = {n: p.detach().to(self.device, dtype).clone()
                      for n, p in model.named_parameters() if not p.requires_grad}
            self._buffers = {n: _move(b, self.device, dtype).clone()
                             for n, b in model.named_buffers()}
        self._frozen = frozen
        self._fresh_buffers = _has_running_stats_in_training(model)
        self._batches = _collect_batches(data, self.device, dtype)
        self.n_examples = int(sum(n for _, _, n in self._batches))
        self._weights = tuple(n / self.n_examples for _, _, n in self._batches)
        self.hvp_mode = hvp_mode

    # -- vectors <-> tensors --------------------------------------------------------------
    def _state(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        parts = torch.split(flat, self._sizes)
        state = {n: t.view(s) for n, t, s in zip(self.names, parts, self._shapes, strict=True)}
        state.update(self._frozen)
        if self._fresh_buffers:
            state.update({n: b.clone() for n, b in self._buffers.items()})
        else:
            state.update(self._buffers)
        return state

    def _batch_loss(self, flat: torch.Tensor, b: int) -> torch.Tensor:
        x, y, _ = self._batches[b]
        out = self.loss_fn(_call(self.model, self._state(flat), x), y)
        if not isinstance(out, torch.Tensor) or out.numel() != 1:
            raise TypeError("loss_fn must return a scalar tensor, got "
                            + (f"a tensor of shape {tuple(out.shape)}"
                               if isinstance(out, torch.Tensor) else type(out).__name__))
        return out.reshape(())

    def _loss_tensor(self, flat: torch.Tensor) -> torch.Tensor:
        """L at a flat tensor θ (differentiable; used by the tests' autograd reference)."""
        flat = flat.to(self.device, self.dtype)
        total = None
        for b, w in enumerate(self._weights):
            term = w * self._batch_loss(flat, b)
            total = term if total is None else total + term
        return total

    def _to_tensor(self, arr: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(arr, dtype=self.dtype, device=self.device)

    @staticmethod
    def _to_numpy(t: torch.Tensor) -> np.ndarray:
        return t.detach().to(device="cpu", dtype=torch.float64).numpy().copy()

    def _check_theta(self, theta: Any, name: str = "theta") -> np.ndarray:
        t = check_finite(name, theta)
        if not (t.shape == (self.dim,) or (t.ndim == 2 and t.shape[1] == self.dim
                                            and t.shape[0] > 0)):
            raise ValueError(f"{name} must have shape ({self.dim},) or (K, {self.dim}), "
                             f"got {t.shape}")
        return t

    # -- evaluation, summed over batches ----------------------------------------------------
    def _accumulate(self, per_batch: Callable[[int, Any], Any], args: tuple, stacked: bool,
                    n_out: int) -> list[torch.Tensor]:
        """Σ_b w_b · per_batch(b, *args), vmapped over a leading K axis when ``stacked``."""
        from torch.func import vmap

        totals: list[torch.Tensor] | None = None
        for b, w in enumerate(self._weights):
            def fn(*a: torch.Tensor, b: int = b) -> Any:
                return per_batch(b, *a)

            if stacked and not self._fresh_buffers:
                out = vmap(fn)(*args)
            elif stacked:
                outs = [fn(*(a[k] for a in args)) for k in range(args[0].shape[0])]
                out = tuple(torch.stack(col) for col in zip(*outs, strict=True)) if n_out > 1 \
                    else torch.stack(outs)
            else:
                out = fn(*args)
            out = out if isinstance(out, tuple) else (out,)
            if totals is None:
                totals = [w * o.detach() for o in out]
            else:
                totals = [t + w * o.detach() for t, o in zip(totals, out, strict=True)]
        assert totals is not None
        return totals

    def _value_grad(self, b: int, flat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        from torch.func import grad_and_value

        g, v = grad_and_value(lambda t: self._batch_loss(t, b))(flat)
        return v, g

    def loss(self, theta: Any) -> float | np.ndarray:
        """L(θ): a float for θ of shape ``(dim,)``, K losses for a ``(K, dim)`` stack."""
        t = self._check_theta(theta)
        stacked = t.ndim == 2
        with torch.no_grad():
            (value,) = self._accumulate(lambda b, f: self._batch_loss(f, b),
                                        (self._to_tensor(t),), stacked, 1)
        out = self._to_numpy(value)
        return out if stacked else float(out)

    def grad(self, theta: Any) -> np.ndarray:
        """∇L(θ), shape ``(dim,)`` (or ``(K, dim)`` for a stack)."""
        return self.loss_and_grad(theta)[1]

    def loss_and_grad(self, theta: Any) -> tuple[float | np.ndarray, np.ndarray]:
        """``(L(θ), ∇L(θ))`` from one reverse pass per batch."""
        t = self._check_theta(theta)
        stacked = t.ndim == 2
        value, g = self._accumulate(self._value_grad, (self._to_tensor(t),), stacked, 2)
        val = self._to_numpy(value)
        return (val if stacked else float(val)), self._to_numpy(g)

    def _hvp_batch(self, b: int, flat: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        from torch.func import grad, jvp

        def f(t: torch.Tensor) -> torch.Tensor:
            return self._batch_loss(t, b)

        if self.hvp_mode == "reverse-over-reverse":
            return grad(lambda t: torch.dot(grad(f)(t), v))(flat)
        return jvp(grad(f), (flat,), (v,))[1]

    def hvp(self, theta: Any, v: Any) -> np.ndarray:
        """H(θ)v, exact (forward-over-reverse); θ and v of shape ``(dim,)`` or both ``(K, dim)``."""
        t = self._check_theta(theta)
        u = self._check_theta(v, "v")
        if u.shape != t.shape:
            raise ValueError(f"v must have the shape of theta {t.shape}, got {u.shape}")
        args = (self._to_tensor(t), self._to_tensor(u))
        try:
            (hv,) = self._accumulate(self._hvp_batch, args, t.ndim == 2, 1)
        except RuntimeError as exc:  # "no forward AD" errors subclass RuntimeError
            # Some operators have no forward-mode derivative (huber_loss's backward), and some
            # backward formulas write into torch's immutable ZeroTensor under forward AD
            # (mse_loss in torch 2.13): switch to reverse-over-reverse, H v = ∇(∇L·v), exact
            # as well, and stay there.
            known = ("forward AD" in str(exc) or "ZeroTensors are immutable" in str(exc))
            if self.hvp_mode != "forward-over-reverse" or not known:
                raise
            self.hvp_mode = "reverse-over-reverse"
            (hv,) = self._accumulate(self._hvp_batch, args, t.ndim == 2, 1)
        return self._to_numpy(hv)

    def hvp_many(self, theta: Any, V: Any) -> np.ndarray:
        """H(θ)V for the columns of V, shape ``(dim, m)``, at one θ: m products in one vmap."""
        t = self._check_theta(theta)
        if t.ndim != 1:
            raise ValueError(f"theta must have shape ({self.dim},), got {t.shape}")
        M = check_finite("V", V)
        if M.ndim != 2 or M.shape[0] != self.dim:
            raise ValueError(f"V must have shape ({self.dim}, m), got {M.shape}")
        thetas = np.broadcast_to(t, (M.shape[1], self.dim))
        return self.hvp(np.ascontiguousarray(thetas), M.T).T

    # -- the model ----------------------------------------------------------------------------
    def initial(self) -> np.ndarray:
        """The model's current trainable parameters, θ₀ (:func:`theta_of`)."""
        return theta_of(self.model)

    def _check_single(self, theta: Any) -> np.ndarray:
        t = check_finite("theta", theta)
        if t.shape != (self.dim,):
            raise ValueError(f"theta must have shape ({self.dim},), got {t.shape}")
        return t

    def write(self, theta: Any) -> torch.nn.Module:
        """Copy θ into the model's trainable parameters, in place (each in its own dtype).

        The parameter objects stay the same, so an optimizer built on the model keeps working.
        Returns the model.
        """
        self._write_into(self.model, self._check_single(theta))
        return self.model

    def to_model(self, theta: Any) -> torch.nn.Module:
        """A deep copy of the model with θ written into it (the original is not changed)."""
        t = self._check_single(theta)
        clone = copy.deepcopy(self.model)
        self._write_into(clone, t)
        return clone

    def _write_into(self, model: torch.nn.Module, t: np.ndarray) -> None:
        params = dict(model.named_parameters())
        with torch.no_grad():
            for name, sl, shape in zip(self.names, self.blocks, self._shapes, strict=True):
                p = params[name]
                p.copy_(torch.as_tensor(t[sl].reshape(shape), dtype=p.dtype, device=p.device))

    def __repr__(self) -> str:
        return (f"TorchObjective({type(self.model).__name__}, dim={self.dim}, "
                f"blocks={len(self.blocks)}, examples={self.n_examples}, dtype={self.dtype})")
