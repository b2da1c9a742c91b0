r"""JAX adapters: a JAX loss as an lrctl Objective, lrctl schedules and the PI controller in optax.

Optional extra ``lrctl[jax]`` (``jax`` and ``optax``); nothing else in lrctl imports jax, and
this module imports it only when one of its functions is called.

- :class:`JaxObjective` ``(fun, params, data)``: ``fun(params, data) -> scalar loss`` over a
  pytree of parameters, raveled into one flat vector θ (``jax.flatten_util.ravel_pytree``). It
  is an :class:`lrctl.objectives.Objective`: ``dim``, ``loss(θ)``, ``grad(θ)``,
  ``loss_and_grad(θ)``, ``hvp(θ, v)`` on flat float64 numpy vectors (also on stacks of shape
  ``(K, dim)``, by ``jax.vmap``), ``blocks`` (one slice per leaf), ``initial()`` = ``params``,
  ``unravel(θ)``. Loss, gradient and the exact Hessian-vector product
  H v = d/dε ∇L(θ + εv)|_{ε=0} (forward-over-reverse: ``jax.jvp`` of ``jax.grad``) are jitted.
- :func:`to_optax` ``(schedule)``: an lrctl schedule as an optax schedule ``count -> lr`` that
  traces under ``jax.jit`` and gives the numpy schedule's values (same formulas, same
  piecewise structure, SGDR cycles found in exact integer arithmetic).
- :func:`pi_lr_controller` ``(kp, ki, setpoint, lr0, lr_min, lr_max, ...)``: the
  :class:`lrctl.zdomain.PIController` as an optax ``GradientTransformationExtraArgs`` that takes
  the measurement as an extra argument, ``update(updates, state, params, measurement=y)``.

Precision. JAX computes in float32 unless 64-bit mode is on. lrctl never changes that global
setting for you. For float64 (needed for Hessian spectra to tight tolerances and for exact
agreement with lrctl's numpy code) enable it yourself, either once at start-up,
``jax.config.update("jax_enable_x64", True)``, or for a block of code,
``with jax.enable_x64(True): ...``, and pass ``dtype="float64"`` (or float64 parameters) to
:class:`JaxObjective`. A float64 objective refuses to run while 64-bit mode is off instead of
computing in float32 behind your back.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from lrctl._validation import _show, check_choice, check_finite

__all__ = ["JaxObjective", "PIState", "pi_lr_controller", "to_optax"]

_X64_HOW = ('enable 64-bit mode first: jax.config.update("jax_enable_x64", True), or run inside '
            '"with jax.enable_x64(True):"')


def _jax():
    try:
        import jax
        import jax.numpy as jnp
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError("lrctl.jax needs jax: pip install 'lrctl[jax]'") from exc
    return jax, jnp


def _x64_on() -> bool:
    import jax

    return bool(jax.config.jax_enable_x64)


# ---------------------------------------------------------------------------------------
# The objective
# ---------------------------------------------------------------------------------------


class JaxObjective:
    r"""A JAX loss ``fun(params, data)`` as an lrctl Objective on one flat parameter vector.

    θ = ravel(params) (the leaves of the pytree in ``jax.tree.leaves`` order, each flattened,
    concatenated); L(θ) = fun(unravel(θ), data). The methods take and return numpy float64
    (computing in ``dtype``):

    - ``loss(θ)`` = L(θ), ``grad(θ)`` = ∇L(θ), ``loss_and_grad(θ)`` (one pass,
      ``jax.value_and_grad``);
    - ``hvp(θ, v)`` = ∇²L(θ) v, exact, as the directional derivative of the gradient,
      ``jax.jvp(jax.grad(L), (θ,), (v,))`` (forward-over-reverse, about the cost of two
      gradients, no Hessian formed);
    - ``hessian(θ)``: the dense Hessian (``jax.hessian``), for small models only;
    - a stack θ of shape ``(K, dim)`` (and v of the same shape) gives K losses and K gradients
      or products, by ``jax.vmap`` (one compiled call);
    - each method takes ``batch=`` to evaluate on another batch than ``data`` (same structure;
      a new shape compiles once more).

    Parameters
    ----------
    fun
        ``fun(params, data) -> scalar``, written with ``jax.numpy``; traced by ``jax.jit``.
    params
        A pytree (dict, list, tuple, NamedTuple, ...) of floating-point arrays: the parameters
        at which ``initial()`` starts.
    data
        Passed to ``fun`` as its second argument (a pytree of arrays; its floating-point leaves
        are cast to ``dtype``). ``None`` is allowed when ``fun`` ignores it.
    dtype
        The computing precision: ``None`` (the parameters' common floating dtype as JAX holds
        it: float64 numpy arrays give float32 while 64-bit mode is off), or
        ``"float32"``/``"float64"`` (any floating dtype). float64 needs JAX's 64-bit mode (see
        the module docstring); it is checked at construction and at every call.

    Attributes
    ----------
    dim
        Number of parameters.
    blocks
        One ``slice`` of θ per leaf, in ravel order.
    block_names
        The leaves' paths (``jax.tree_util.keystr``), e.g. ``"['w1']"``.
    dtype
        The computing dtype (a numpy dtype).

    >>> import pytest; jax = pytest.importorskip("jax")
    >>> import jax.numpy as jnp
    >>> def fun(p, data):
    ...     X, y = data
    ...     return 0.5 * jnp.mean((X @ p["w"] + p["b"] - y) ** 2)
    >>> X = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]]); y = np.array([1.0, 2.0, 0.0])
    >>> with jax.enable_x64(True):
    ...     obj = JaxObjective(fun, {"w": np.zeros(2), "b": np.zeros(1)}, (X, y),
    ...                        dtype="float64")
    ...     theta = obj.initial()
    ...     obj.dim, obj.blocks, round(obj.loss(theta), 12)
    ...     obj.hvp(theta, np.array([1.0, 0.0, 0.0]))   # H e_b = mean of [1, x]
    (3, (slice(0, 1, None), slice(1, 3, None)), 0.833333333333)
    array([1.        , 0.66666667, 1.        ])
    """

    def __init__(self, fun: Callable[[Any, Any], Any], params: Any, data: Any = None, *,
                 dtype: Any = None) -> None:
        jax, jnp = _jax()
        from jax.flatten_util import ravel_pytree

        if not callable(fun):
            raise TypeError(f"fun must be a callable fun(params, data) -> scalar loss, got {fun!r}")
        with_paths, treedef = jax.tree_util.tree_flatten_with_path(params)
        if not with_paths:
            raise ValueError(f"params must hold at least one array, got {params!r}")
        leaves = [np.asarray(leaf) if not hasattr(leaf, "dtype") else leaf
                  for _, leaf in with_paths]
        for (path, _), leaf in zip(with_paths, leaves, strict=True):
            if not jnp.issubdtype(leaf.dtype, jnp.floating):
                raise TypeError(
                    f"params must be floating-point arrays; the leaf {jax.tree_util.keystr(path)} "
                    f"has dtype {leaf.dtype}"
                )
            if not bool(np.all(np.isfinite(np.asarray(leaf, dtype=np.float64)))):
                raise ValueError(f"params must be finite; the leaf {jax.tree_util.keystr(path)} "
                                 "has NaN or inf entries")
        for path, leaf in jax.tree_util.tree_flatten_with_path(data)[0]:
            where = jax.tree_util.keystr(path) or "data"
            if isinstance(leaf, (bool, str, bytes)):
                raise TypeError(f"data leaves must be arrays or numbers, got {where} = {leaf!r:.40}")
            arr = leaf if hasattr(leaf, "dtype") else np.asarray(leaf)
            if jnp.issubdtype(arr.dtype, jnp.floating) and not bool(
                    np.all(np.isfinite(np.asarray(arr, dtype=np.float64)))):
                raise ValueError(f"data must be finite; {where} has NaN or inf entries")
        if dtype is None:  # as JAX would hold them: float64 becomes float32 without x64
            try:
                common = np.result_type(*[leaf.dtype for leaf in leaves])
            except TypeError:  # dtypes numpy cannot promote (bfloat16 with float16, ...)
                common = jnp.result_type(*[leaf.dtype for leaf in leaves])
            dt = np.dtype(jax.dtypes.canonicalize_dtype(common))
        else:
            try:
                dt = np.dtype(dtype)
            except TypeError as exc:
                raise TypeError(f"dtype must be a floating-point dtype, got {dtype!r}") from exc
            if not np.issubdtype(dt, np.floating):
                raise TypeError(f"dtype must be a floating-point dtype, got {dtype!r}")
        self.dtype = dt
        self._check_precision()
        self.block_names = tuple(jax.tree_util.keystr(path) for path, _ in with_paths)
        cast = jax.tree_util.tree_unflatten(treedef, [jnp.asarray(leaf, dtype=dt) for leaf in leaves])
        flat, self._unravel = ravel_pytree(cast)
        self.dim = int(flat.size)
        sizes = np.cumsum([0] + [int(np.size(leaf)) for leaf in leaves])
        self.blocks = tuple(slice(int(a), int(b)) for a, b in itertools.pairwise(sizes))
        self._theta0 = np.array(flat, dtype=np.float64)
        self._fun = fun
        self._data = self._cast_data(data)
        self._data_tree = jax.tree_util.tree_structure(data)
        self._data_ndims = [np.ndim(leaf) for leaf in jax.tree_util.tree_leaves(data)]
        self._data_bools = [np.asarray(leaf).dtype == bool if not hasattr(leaf, "dtype")
                            else leaf.dtype == bool for leaf in jax.tree_util.tree_leaves(data)]

        unravel = self._unravel

        def flat_loss(x, d):
            return fun(unravel(x), d)

        grad = jax.grad(flat_loss)

        def hvp(x, v, d):
            return jax.jvp(lambda y: grad(y, d), (x,), (v,))[1]

        value_and_grad = jax.value_and_grad(flat_loss)
        self._jit = {
            "loss": jax.jit(flat_loss), "grad": jax.jit(grad),
            "loss_and_grad": jax.jit(value_and_grad), "hvp": jax.jit(hvp),
            "loss_k": jax.jit(jax.vmap(flat_loss, in_axes=(0, None))),
            "grad_k": jax.jit(jax.vmap(grad, in_axes=(0, None))),
            "loss_and_grad_k": jax.jit(jax.vmap(value_and_grad, in_axes=(0, None))),
            "hvp_k": jax.jit(jax.vmap(hvp, in_axes=(0, 0, None))),
            "hessian": jax.jit(jax.hessian(flat_loss)),
        }
        try:
            out = jax.eval_shape(flat_loss, flat, self._data)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"fun(params, data) fails on these params and data: {exc}") from exc
        if getattr(out, "shape", None) != ():
            raise ValueError(
                f"fun(params, data) must return a scalar loss, got shape {getattr(out, 'shape', out)}"
            )

    # -- helpers ----------------------------------------------------------------------
    def _check_precision(self) -> None:
        if self.dtype == np.float64 and not _x64_on():
            raise ValueError(f"dtype float64 needs JAX's 64-bit mode, which is off; {_X64_HOW}")

    def _cast_data(self, data: Any) -> Any:
        jax, jnp = _jax()

        def cast(leaf):
            arr = jnp.asarray(leaf)
            return arr.astype(self.dtype) if jnp.issubdtype(arr.dtype, jnp.floating) else arr

        return jax.tree.map(cast, data)

    def _check_batch(self, batch: Any) -> Any:
        """``batch`` must have the structure of ``data`` (same pytree, same rank per leaf);
        numpy / Python leaves must be finite numbers (jax arrays are not pulled to the host)."""
        import jax

        if isinstance(batch, (str, bytes)) or jax.tree_util.tree_structure(batch) != self._data_tree:
            raise TypeError(f"batch must have the pytree structure of data "
                            f"({self._data_tree}), got {type(batch).__name__}")
        leaves = jax.tree_util.tree_leaves(batch)
        for i, (leaf, nd, was_bool) in enumerate(zip(leaves, self._data_ndims, self._data_bools,
                                                     strict=True)):
            if np.ndim(leaf) != nd:
                raise ValueError(f"batch leaf {i} must have rank {nd} as in data, got shape "
                                 f"{np.shape(leaf)}")
            if not isinstance(leaf, jax.Array):
                arr = np.asarray(leaf)
                if arr.dtype.kind not in "biuf" or (arr.dtype == bool and not was_bool):
                    raise TypeError(f"batch leaf {i} must be numbers, got {_show(leaf)}")
                if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
                    raise ValueError(f"batch leaf {i} must be finite (no NaN or inf)")
        return batch

    def _theta(self, theta: Any, name: str = "theta") -> np.ndarray:
        t = check_finite(name, theta)
        if not (t.shape == (self.dim,) or (t.ndim == 2 and t.shape[1] == self.dim and t.shape[0] > 0)):
            raise ValueError(f"{name} must have shape ({self.dim},) or (K, {self.dim}), got {t.shape}")
        if self.dtype != np.float64 and t.size and np.max(np.abs(t)) > np.finfo(self.dtype).max:
            raise ValueError(f"{name} has entries beyond the range of this objective's dtype "
                             f"{self.dtype} (|x| <= {np.finfo(self.dtype).max:.3g})")
        return t

    def _call(self, name: str, theta: Any, *more: Any, batch: Any = None) -> Any:
        self._check_precision()
        t = self._theta(theta)
        # numpy arguments go to the jitted function as they are: jit's own transfer is cheaper
        # than a jnp.asarray first (about 25 vs 90 us for 10^4 float64 entries on CPU)
        args = [t.astype(self.dtype, copy=False)]
        for v in more:
            vv = self._theta(v, "v")
            if vv.shape != t.shape:
                raise ValueError(f"v must have the shape of theta {t.shape}, got {vv.shape}")
            args.append(vv.astype(self.dtype, copy=False))
        if batch is None:
            return self._jit[name if t.ndim == 1 else name + "_k"](*args, self._data), t.ndim == 2
        data = self._cast_data(self._check_batch(batch))
        try:
            return self._jit[name if t.ndim == 1 else name + "_k"](*args, data), t.ndim == 2
        except (TypeError, ValueError) as exc:  # tracing fun on a batch of another shape
            raise ValueError(f"fun(params, batch) fails on this batch: {exc}") from exc

    @staticmethod
    def _loss_out(value: Any, stacked: bool) -> Any:
        arr = np.array(value, dtype=np.float64)
        return arr if stacked else float(arr)

    # -- the Objective protocol ---------------------------------------------------------
    def loss(self, theta: Any, *, batch: Any = None) -> Any:
        """L(θ): a float, or K losses for a ``(K, dim)`` stack."""
        out, stacked = self._call("loss", theta, batch=batch)
        return self._loss_out(out, stacked)

    def grad(self, theta: Any, *, batch: Any = None) -> np.ndarray:
        """∇L(θ), float64, shaped like ``theta``."""
        out, _ = self._call("grad", theta, batch=batch)
        return np.array(out, dtype=np.float64)

    def loss_and_grad(self, theta: Any, *, batch: Any = None) -> tuple[Any, np.ndarray]:
        """``(L(θ), ∇L(θ))`` in one pass (``jax.value_and_grad``)."""
        (value, g), stacked = self._call("loss_and_grad", theta, batch=batch)
        return self._loss_out(value, stacked), np.array(g, dtype=np.float64)

    def hvp(self, theta: Any, v: Any, *, batch: Any = None) -> np.ndarray:
        """∇²L(θ) v, exact (jvp of grad); ``v`` shaped like ``theta``."""
        out, _ = self._call("hvp", theta, v, batch=batch)
        return np.array(out, dtype=np.float64)

    def hessian(self, theta: Any, *, batch: Any = None) -> np.ndarray:
        """The dense Hessian ∇²L(θ), shape ``(dim, dim)`` (``jax.hessian``; small models)."""
        t = self._theta(theta)
        if t.ndim != 1:
            raise ValueError(f"theta must have shape ({self.dim},) for hessian, got {t.shape}")
        out, _ = self._call("hessian", t, batch=batch)
        return np.array(out, dtype=np.float64)

    def initial(self) -> np.ndarray:
        """θ of the ``params`` given at construction (a fresh float64 copy)."""
        return self._theta0.copy()

    def unravel(self, theta: Any) -> Any:
        """The pytree of parameters (jax arrays in ``dtype``) of a flat vector θ."""
        import jax.numpy as jnp

        t = self._theta(theta)
        if t.ndim != 1:
            raise ValueError(f"theta must have shape ({self.dim},), got {t.shape}")
        return self._unravel(jnp.asarray(t, dtype=self.dtype))

    def __repr__(self) -> str:
        name = getattr(self._fun, "__name__", type(self._fun).__name__)
        return f"JaxObjective(fun={name}, dim={self.dim}, blocks={len(self.blocks)}, dtype={self.dtype})"


# ---------------------------------------------------------------------------------------
# Schedules
# ---------------------------------------------------------------------------------------


def _float_dtype():
    import jax.numpy as jnp

    return jnp.float64 if _x64_on() else jnp.float32


def _int_dtype():
    import jax.numpy as jnp

    return jnp.int64 if _x64_on() else jnp.int32


def _segments_fn(segments, tail):
    import jax.numpy as jnp

    starts = np.concatenate([[0.0], np.cumsum([seg[1] for seg in segments])])

    def fn(t):
        tf = _as_float_step(t)
        out = jnp.full(tf.shape, tail, dtype=tf.dtype)
        for (kind, length, v0, v1), t0 in zip(segments, starts[:-1], strict=True):
            s = tf - t0
            if kind == "const":
                val = jnp.full(tf.shape, v0, dtype=tf.dtype)
            elif kind == "linear":
                val = v0 + (v1 - v0) * (s / length)
            else:
                val = v1 + 0.5 * (v0 - v1) * (1.0 + jnp.cos(jnp.pi * (s / length)))
            out = jnp.where((tf >= t0) & (tf < t0 + length), val, out)
        return out

    return fn


def _as_float_step(t):
    import jax.numpy as jnp

    return jnp.maximum(jnp.asarray(t).astype(_float_dtype()), 0.0)


def _is_int(t) -> bool:
    import jax.numpy as jnp

    return bool(jnp.issubdtype(jnp.asarray(t).dtype, jnp.integer))


def _warm_restarts_fn(sched):
    import jax.numpy as jnp

    p, m, hi, lo = sched.period, sched.mult, sched.lr_max, sched.lr_min

    def cycle_int(s):
        """(T_cur, T_i) of integer steps s >= 0, exact in the integer dtype of s."""
        if m == 1:
            return s % p, jnp.full(s.shape, p, dtype=s.dtype)
        top = int(jnp.iinfo(s.dtype).max)
        starts, lengths = [0], [p]
        while starts[-1] + lengths[-1] <= top:
            starts.append(starts[-1] + lengths[-1])
            lengths.append(lengths[-1] * m)
        # every start fits the integer dtype; the last length may not, so lengths are floats
        st = jnp.asarray(starts, dtype=s.dtype)
        n = jnp.searchsorted(st, s, side="right") - 1
        return s - st[n], jnp.asarray([float(v) for v in lengths], dtype=_float_dtype())[n]

    def fn(t):
        t = jnp.asarray(t)
        fdt = _float_dtype()
        if _is_int(t):
            cur, length = cycle_int(jnp.maximum(t, 0))
            cur = cur.astype(fdt)
        else:
            tf = _as_float_step(t)
            whole = jnp.floor(tf)
            idt = _int_dtype()
            top = float(jnp.iinfo(idt).max) // 2  # float steps beyond this are not supported
            cur_i, length = cycle_int(jnp.minimum(whole, top).astype(idt))
            cur = cur_i.astype(fdt) + (tf - whole)
        length = jnp.asarray(length).astype(fdt)
        return lo + 0.5 * (hi - lo) * (1.0 + jnp.cos(jnp.pi * cur / length))

    return fn


def _join_fn(sched):
    import jax.numpy as jnp

    parts = [_jnp_schedule(part) for part in sched.parts]
    bnds = sched.boundaries
    integral = all(float(b).is_integer() for b in bnds)

    def fn(t):
        t = jnp.asarray(t)
        tf = _as_float_step(t)
        idx = jnp.searchsorted(jnp.asarray(bnds, dtype=tf.dtype), tf, side="right")
        use_int = _is_int(t) and integral
        out = parts[0](t if use_int else tf)
        for i, part in enumerate(parts[1:], start=1):
            shifted = t - int(bnds[i - 1]) if use_int else tf - bnds[i - 1]
            out = jnp.where(idx == i, part(shifted), out)
        return out

    return fn


def _jnp_schedule(sched) -> Callable[[Any], Any]:
    import jax.numpy as jnp

    from lrctl import schedules as S

    if isinstance(sched, S._Segments):
        return _segments_fn(tuple(sched.segments), float(sched.tail))
    if isinstance(sched, S._PiecewiseConstant):
        values, bnds = sched.values, sched.boundaries

        def piecewise(t):
            tf = _as_float_step(t)
            idx = jnp.searchsorted(jnp.asarray(bnds, dtype=tf.dtype), tf, side="right")
            return jnp.asarray(values, dtype=tf.dtype)[idx]

        return piecewise
    if isinstance(sched, S._StepDecay):
        lr, size, gamma = sched.lr, sched.step_size, sched.gamma
        return lambda t: lr * gamma ** jnp.floor(_as_float_step(t) / size)
    if isinstance(sched, S._Exponential):
        lr, rate, steps = sched.lr, sched.decay_rate, sched.decay_steps
        return lambda t: lr * rate ** (_as_float_step(t) / steps)
    if isinstance(sched, S._WarmRestarts):
        return _warm_restarts_fn(sched)
    if isinstance(sched, S._Join):
        return _join_fn(sched)
    if isinstance(sched, S._Callable):
        raise TypeError(
            f"to_optax converts lrctl's built-in schedules; {sched!r} wraps an arbitrary Python "
            "callable, which lrctl cannot make traceable: pass a jax.numpy function of the step "
            "to optax directly"
        )
    raise TypeError(f"schedule must be an lrctl.schedules schedule, got {type(sched).__name__}")


def to_optax(schedule: Any) -> Callable[[Any], Any]:
    r"""An lrctl schedule as an optax schedule ``count -> lr`` that works under ``jax.jit``.

    The returned function evaluates the same closed forms as the numpy schedule (the table in
    :mod:`lrctl.schedules`) with ``jax.numpy``: piecewise pieces by ``jnp.where`` /
    ``jnp.searchsorted``, :func:`~lrctl.schedules.join` parts fed the shifted step
    t − b_{i−1}, SGDR cycles S_n = period·(mult^n − 1)/(mult − 1) found by a search over the
    exact integer cycle starts (for an integer ``count``, the cycle position T_cur is computed in
    the integer dtype, exact up to its maximum). It accepts scalars and arrays, integer or
    float steps, and returns float64 in JAX's 64-bit mode and float32 otherwise (then values
    agree with the numpy schedule to float32 round-off). Steps below 0 are evaluated at 0 (a
    traced function cannot raise; optax counts start at 0).

    Parameters
    ----------
    schedule
        A schedule built by :mod:`lrctl.schedules` (``constant``, ``piecewise_constant``,
        ``step_decay``, ``exponential``, ``linear_decay``, ``cosine``,
        ``cosine_warm_restarts``, ``linear_warmup``, ``one_cycle``, ``join`` of these). A
        callable wrapped by ``as_schedule`` is refused (``TypeError``): lrctl cannot make an
        arbitrary Python function traceable.

    Returns
    -------
    A function of the step, usable as ``optax.sgd(learning_rate=to_optax(s))``.

    >>> import pytest; jax = pytest.importorskip("jax")
    >>> from lrctl import schedules
    >>> s = schedules.join([schedules.linear_warmup(0.1, 10),
    ...                     schedules.cosine_warm_restarts(0.1, period=20, mult=2)], [10])
    >>> f = jax.jit(to_optax(s))
    >>> [round(float(f(k)), 6) for k in (0, 5, 10, 20, 30, 50, 70)]   # restarts at 30, 70
    [0.0, 0.05, 0.1, 0.05, 0.1, 0.05, 0.1]
    >>> s([0, 5, 10, 20, 30, 50, 70])
    array([0.  , 0.05, 0.1 , 0.05, 0.1 , 0.05, 0.1 ])
    """
    from lrctl.schedules import Schedule

    if not isinstance(schedule, Schedule):
        raise TypeError(
            f"schedule must be an lrctl.schedules schedule (e.g. schedules.cosine(0.1, 100)), "
            f"got {schedule!r}"
        )
    fn = _jnp_schedule(schedule)

    def optax_schedule(count):
        return fn(count)

    optax_schedule.__name__ = "to_optax"
    optax_schedule.__qualname__ = f"to_optax({schedule!r})"
    optax_schedule.__doc__ = f"The jax.numpy form of {schedule!r}."
    return optax_schedule


# ---------------------------------------------------------------------------------------
# The PI controller as an optax transformation
# ---------------------------------------------------------------------------------------


class PIState(NamedTuple):
    """State of :func:`pi_lr_controller` (jax scalars; a pytree, so it passes through ``jit``).

    Attributes
    ----------
    log_lr
        u_k = ln η_k. In velocity form this is the integrator: u_k = u_{k−1} + c1·e_k +
        c0·e_{k−1}, clamped to [ln lr_min, ln lr_max] (the clamp is the anti-windup).
    error_prev
        e_{k−1} = setpoint − y_{k−1} (0 before the first measurement).
    lr
        η_k, the rate applied to the updates (exactly lr_min / lr_max at a clamp, exp(u_k)
        between them, as :class:`lrctl.zdomain.PIController`).
    count
        Measurements taken (int32).
    rejected
        Measurements ignored because they were not finite (NaN/inf): the rate was held.
    """

    log_lr: Any
    error_prev: Any
    lr: Any
    count: Any
    rejected: Any


def pi_lr_controller(kp: float, ki: float, setpoint: float, lr0: float, lr_min: float,
                     lr_max: float, dt: float = 1.0, method: str = "backward", *,
                     flip_sign: bool = True):
    r"""The PI learning-rate controller as an optax ``GradientTransformationExtraArgs``.

    The same law as :class:`lrctl.zdomain.PIController`, on u = ln η in velocity form: with
    e_k = setpoint − y_k,

    .. math:: u_k = \mathrm{clip}(u_{k−1} + c_1 e_k + c_0 e_{k−1},\ \ln lr_{min},\ \ln lr_{max}),
              \quad u_{−1} = \ln lr_0,\ e_{−1} = 0,

    C(z) = (c1 z + c0)/(z − 1) = :func:`lrctl.zdomain.pi_controller` ``(kp, ki, dt, method)``.
    ``update(updates, state, params=None, *, measurement=y)`` takes y_k, advances the state and
    returns the updates scaled by −η_k (by +η_k with ``flip_sign=False``), so
    ``optax.chain(optax.scale_by_adam(), pi_lr_controller(...))`` is Adam whose rate the
    controller sets. Called with ``measurement=None`` it holds the rate (for a controller that
    samples every M = dt steps: pass the measurement on those steps only; the choice is
    static, so the two cases compile separately). A non-finite measurement (NaN, inf) holds the
    rate and state and is counted in ``state.rejected``: a traced function cannot raise.

    Parameters
    ----------
    kp, ki, setpoint, lr0, lr_min, lr_max, dt, method
        As :class:`lrctl.zdomain.PIController` (validated by :class:`lrctl.zdomain.PIConfig`:
        0 < lr_min < lr_max, lr0 in [lr_min, lr_max], dt > 0).
    flip_sign
        Scale updates by −η (descent, the default, as ``optax.scale_by_learning_rate``).

    Returns
    -------
    ``optax.GradientTransformationExtraArgs`` with state :class:`PIState` (float64 in JAX's
    64-bit mode, float32 otherwise).

    >>> import pytest; jax = pytest.importorskip("jax"); optax = pytest.importorskip("optax")
    >>> import jax.numpy as jnp
    >>> from lrctl.zdomain import PIController
    >>> tx = pi_lr_controller(0.2, 0.5, setpoint=1.0, lr0=0.1, lr_min=1e-3, lr_max=1.0)
    >>> state = tx.init(jnp.zeros(2))
    >>> step = jax.jit(lambda g, s, y: tx.update(g, s, measurement=y))
    >>> updates, state = step(jnp.ones(2), state, 0.5)
    >>> round(float(state.lr), 6), [round(float(u), 6) for u in updates]
    (0.141907, [-0.141907, -0.141907])
    >>> round(PIController(0.2, 0.5, 1.0, 0.1, 1e-3, 1.0).update(0.5), 6)
    0.141907
    """
    jax, jnp = _jax()
    import optax

    from lrctl.zdomain import PIConfig, _pi_coefficients

    if not isinstance(flip_sign, bool):
        raise TypeError(f"flip_sign must be True or False, got {flip_sign!r}")
    check_choice("method", method, ("backward", "forward", "tustin"))
    cfg = PIConfig(kp, ki, setpoint, lr0, lr_min, lr_max, dt, method)
    c1, c0 = _pi_coefficients(cfg.kp, cfg.ki, cfg.dt, cfg.method)
    lo, hi = math.log(cfg.lr_min), math.log(cfg.lr_max)
    sign = -1.0 if flip_sign else 1.0

    def init(params: Any) -> PIState:
        del params
        f = _float_dtype()
        return PIState(log_lr=jnp.asarray(math.log(cfg.lr0), f), error_prev=jnp.asarray(0.0, f),
                       lr=jnp.asarray(cfg.lr0, f), count=jnp.asarray(0, jnp.int32),
                       rejected=jnp.asarray(0, jnp.int32))

    def advance(state: PIState, measurement: Any) -> PIState:
        y = jnp.asarray(measurement)
        if y.shape != ():
            raise ValueError(f"measurement must be a scalar, got shape {y.shape}")
        y = y.astype(state.log_lr.dtype)
        e = cfg.setpoint - y
        u = state.log_lr + c1 * e + c0 * state.error_prev
        low, high = u <= lo, u >= hi
        u_new = jnp.where(low, lo, jnp.where(high, hi, u)).astype(y.dtype)
        lr_new = jnp.where(low, cfg.lr_min, jnp.where(high, cfg.lr_max, jnp.exp(u))).astype(y.dtype)
        ok = jnp.isfinite(y)
        return PIState(log_lr=jnp.where(ok, u_new, state.log_lr),
                       error_prev=jnp.where(ok, e, state.error_prev),
                       lr=jnp.where(ok, lr_new, state.lr),
                       count=state.count + ok.astype(jnp.int32),
                       rejected=state.rejected + (~ok).astype(jnp.int32))

    def update(updates: Any, state: PIState, params: Any = None, *, measurement: Any = None,
               **extra_args: Any) -> tuple[Any, PIState]:
        del params, extra_args
        if measurement is not None:
            state = advance(state, measurement)
        scale = sign * state.lr
        new = jax.tree.map(lambda g: (scale * g).astype(jnp.asarray(g).dtype), updates)
        return new, state

    return optax.GradientTransformationExtraArgs(init, update)
