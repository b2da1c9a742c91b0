r"""Training as a discrete-time plant: z-domain design and checks of PI learning-rate control.

One optimizer step is one sample (``dt = 1``; a controller that acts every M steps has
``dt = M``). The learning rate is the control signal, acting through u = log η so that the rate
stays positive; a measured quantity of training (the normalized sharpness η·λ_max, or the loss
ratio L_{k+1}/L_k) is the plant output. Every z-domain object is a python-control
``TransferFunction`` that carries its ``dt``; functions refuse continuous-time, improper or
non-finite systems and mismatched sampling times.

The loop (unity negative feedback, output disturbance d)::

    r ──(+)── e ──▶ C(z) ── u = Δlog η ──▶ G(z) ──(+)── y
         ▲ −                                      ▲ d
         └────────────────────────────────────────┘

What is here
------------
Plants: :func:`sharpness_plant`, :func:`loss_ratio_plant` (with the sign flip at η = 1/λ),
:func:`first_order_plant` b·z^{-d}/(z − a), and :func:`identify_first_order` (least squares
on a logged trace). Derivations: :func:`derive_sharpness_plant`,
:func:`derive_loss_ratio_plant`, :func:`derive_characteristic_polynomial`,
:func:`derive_stability_conditions`.

Controller and loop: :func:`pi_controller` C(z) = kp + ki·dt·z/(z − 1);
:func:`characteristic_polynomial`; :func:`is_schur_stable` and :func:`classify_stability`
(vectorized Schur–Cohn recursion, equivalent to Jury's test); :func:`jury_table`;
:func:`stability_region` over gain grids; :func:`stability_polygon` (the exact region of a
first-order plant); :func:`closed_loop_spectral_radius`; :func:`analyze_loop`;
:func:`stability_margins` (also correct when the phase crossover is z = −1);
:func:`simulate_closed_loop`, :func:`step_response`, :func:`ramp_disturbance_response`.

Runtime: :class:`PIController` (velocity form in log-lr space with clamping anti-windup). It
conforms to the controller protocol of :class:`lrctl.training.Feedback` (``reset()``, ``lr``,
``update(measurement) -> lr``); training with it on a real problem is
:func:`lrctl.training.train_with_sharpness_control`.

The analysis ``pi-controller`` draws the regions and checks the predictions on a real problem;
``docs/zdomain.md`` has the derivations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import control
import numpy as np
from numpy.typing import ArrayLike

from lrctl._repr import summary_repr
from lrctl._validation import (
    check_bool,
    check_choice,
    check_finite,
    check_in_interval,
    check_int,
    check_output,
    check_positive,
    check_scalar,
    scalar_or_array,
)

__all__ = [
    "DEFAULT_TOL",
    "METHODS",
    "ClosedLoopResponse",
    "Identification",
    "JuryTable",
    "LoopReport",
    "PIConfig",
    "PIController",
    "PlantModel",
    "PoleZeroMap",
    "StabilityMargins",
    "StabilityPolygon",
    "analyze_loop",
    "characteristic_polynomial",
    "classify_stability",
    "closed_loop_poles",
    "closed_loop_spectral_radius",
    "derive_characteristic_polynomial",
    "derive_loss_ratio_plant",
    "derive_sharpness_plant",
    "derive_stability_conditions",
    "first_order_plant",
    "identify_first_order",
    "is_schur_stable",
    "jury_table",
    "loss_ratio_gain",
    "loss_ratio_operating_points",
    "loss_ratio_plant",
    "pi_controller",
    "pole_zero_map",
    "predicted_ramp_error",
    "ramp_disturbance_response",
    "sharpness_plant",
    "simulate_closed_loop",
    "stability_margins",
    "stability_polygon",
    "stability_region",
    "step_response",
]

#: Discretizations of the integral term: backward Euler ki·dt·z/(z − 1) (default), forward
#: Euler ki·dt/(z − 1), Tustin ki·dt/2·(z + 1)/(z − 1).
METHODS = ("backward", "forward", "tustin")

#: Default radius tolerance: "stable" means every root has |z| < 1 − tol; a loop whose largest
#: root lies within tol of the unit circle is "marginal".
DEFAULT_TOL = 1e-9

# Relative size under which a leading coefficient (1 + C(∞)G(∞)) counts as zero.
_ILL_POSED_RTOL = 1e-12
# Rows per chunk in the vectorized region test: keeps the temporaries in cache.
_CHUNK = 1 << 16


# ---------------------------------------------------------------------------------------
# Transfer functions: validation and coefficients
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlantModel:
    """A plant model of training: its transfer function and what it assumes.

    Attributes
    ----------
    tf
        The discrete ``control.TransferFunction`` (carries ``dt``).
    kind
        ``"sharpness"``, ``"loss-ratio"``, ``"first-order"`` or ``"identified"``.
    gain
        The static (DC) gain G(1).
    description
        One line: the model and its operating point.
    operating_range
        Where the linear model holds.
    operating_lr
        The learning rate it was linearized at (``None`` when not applicable).
    sign_flip_lr
        The learning rate at which the plant gain changes sign (loss ratio: η = 1/λ), or
        ``None`` when the gain never changes sign.
    parameters
        The model parameters by name.
    """

    tf: Any
    kind: str
    gain: float
    description: str
    operating_range: str
    operating_lr: float | None = None
    sign_flip_lr: float | None = None
    parameters: dict[str, float] = field(default_factory=dict)

    @property
    def dt(self) -> float:
        """The sampling time (optimizer steps per sample)."""
        return float(self.tf.dt)

    @property
    def gain_sign(self) -> int:
        """+1 or −1: the sign of the static gain (0 for a zero gain)."""
        return int(np.sign(self.gain))


@dataclass(frozen=True)
class _TF:
    """Monic-denominator coefficients (highest power first) and the sampling time."""

    num: np.ndarray
    den: np.ndarray
    dt: float

    @property
    def order(self) -> int:
        return len(self.den) - 1


def _strip(p: np.ndarray) -> np.ndarray:
    nz = np.flatnonzero(p)
    return p[nz[0]:] if nz.size else np.zeros(1)


def _tf_parts(sys: Any, name: str) -> _TF:
    """Validate a discrete, proper, finite SISO transfer function; normalize to a monic den."""
    if isinstance(sys, PlantModel):
        sys = sys.tf
    if isinstance(sys, PIController):
        sys = sys.config.transfer_function()
    elif isinstance(sys, PIConfig):
        sys = sys.transfer_function()
    if isinstance(sys, control.StateSpace):
        sys = control.ss2tf(sys)
    if not isinstance(sys, control.TransferFunction):
        raise TypeError(
            f"{name} must be a control.TransferFunction (or an lrctl PlantModel), "
            f"got {type(sys).__name__}"
        )
    if sys.ninputs != 1 or sys.noutputs != 1:
        raise ValueError(f"{name} must be SISO, got {sys.noutputs} outputs x {sys.ninputs} inputs")
    dt = sys.dt
    if dt is True:
        raise ValueError(
            f"{name} has an unspecified sampling time (dt=True); give a number, "
            "e.g. dt=1.0 for one optimizer step per sample"
        )
    if dt is None or dt is False or dt == 0:
        raise ValueError(
            f"{name} is continuous-time (dt={dt!r}); lrctl's plants are discrete: build it with "
            "dt > 0 or discretize it with control.sample_system(sys, dt)"
        )
    num = np.asarray(sys.num_array[0, 0], dtype=float).ravel()
    den = np.asarray(sys.den_array[0, 0], dtype=float).ravel()
    if not (np.all(np.isfinite(num)) and np.all(np.isfinite(den))):
        raise ValueError(f"{name} has non-finite coefficients: num={num!r}, den={den!r}")
    num, den = _strip(num), _strip(den)
    if not np.any(den):
        raise ValueError(f"{name} has a zero denominator")
    if len(num) > len(den):
        raise ValueError(
            f"{name} is improper (numerator degree {len(num) - 1} > denominator degree "
            f"{len(den) - 1}): it would need future samples; add delay (divide by z)"
        )
    lead = den[0]
    num = num / lead
    den = den / lead
    return _TF(np.concatenate([np.zeros(len(den) - len(num)), num]), den, float(dt))


def _check_dt(dt: Any) -> float:
    return float(check_positive("dt", check_scalar("dt", dt)))


def _same_dt(a: float, b: float, what_a: str, what_b: str) -> None:
    if not math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0):
        raise ValueError(
            f"sampling times differ: {what_a} has dt={a:g}, {what_b} has dt={b:g}; "
            "every z-domain object of one loop must share the same dt"
        )


def _pi_affine(dt: float, method: str) -> tuple[tuple[float, float], tuple[float, float]]:
    """C(z) = (c1 z + c0)/(z − 1) with c1 = u1·kp + v1·ki, c0 = u0·kp + v0·ki."""
    if method == "backward":  # kp + ki·dt·z/(z−1) = ((kp + ki dt) z − kp)/(z − 1)
        return (1.0, dt), (-1.0, 0.0)
    if method == "forward":  # kp + ki·dt/(z−1) = (kp z + ki dt − kp)/(z − 1)
        return (1.0, 0.0), (-1.0, dt)
    # Tustin: kp + (ki dt/2)(z+1)/(z−1) = ((kp + ki dt/2) z + ki dt/2 − kp)/(z − 1)
    return (1.0, dt / 2), (-1.0, dt / 2)


def _pi_coefficients(kp: Any, ki: Any, dt: float, method: str) -> tuple[Any, Any]:
    (u1, v1), (u0, v0) = _pi_affine(dt, method)
    return u1 * kp + v1 * ki, u0 * kp + v0 * ki


def pi_controller(kp: float, ki: float, dt: float = 1.0, method: str = "backward"):
    r"""The discrete PI controller C(z) as a python-control transfer function.

    .. math::
        C(z) = k_p + k_i\,dt\,\frac{z}{z - 1}\quad\text{(backward Euler, default)},\qquad
        k_p + \frac{k_i\,dt}{z - 1}\ \text{(forward)},\qquad
        k_p + \frac{k_i\,dt}{2}\frac{z + 1}{z - 1}\ \text{(Tustin)}.

    All three are (c1·z + c0)/(z − 1) with the integrator pole at z = 1; in velocity form
    u_k − u_{k−1} = c1·e_k + c0·e_{k−1} (:class:`PIController`). The gains may have either sign
    (a plant with a negative gain needs negative gains). A zero-gain controller is kept as
    0/(z − 1): python-control would reduce it to 0/1 and hide the integrator pole that makes
    that loop marginal.

    Parameters
    ----------
    kp, ki
        Proportional and integral gains (finite reals).
    dt
        Sampling time in optimizer steps (> 0).
    method
        ``"backward"``, ``"forward"`` or ``"tustin"``.

    >>> C = pi_controller(0.4, 0.2)
    >>> C.num_array[0, 0], C.den_array[0, 0], C.dt
    (array([ 0.6, -0.4]), array([ 1., -1.]), 1.0)
    """
    kp = check_scalar("kp", kp)
    ki = check_scalar("ki", ki)
    dt = _check_dt(dt)
    check_choice("method", method, METHODS)
    c1, c0 = _pi_coefficients(kp, ki, dt, method)
    C = control.tf([c1, c0], [1.0, -1.0], dt)
    if c1 == 0 and c0 == 0:
        # python-control sets the denominator of a zero transfer function to 1; restore z − 1.
        C.den_array[0, 0] = np.array([1.0, -1.0])
    return C


# ---------------------------------------------------------------------------------------
# The characteristic polynomial and the Schur–Cohn / Jury test
# ---------------------------------------------------------------------------------------


def characteristic_polynomial(plant: Any, controller: Any) -> np.ndarray:
    r"""The monic closed-loop characteristic polynomial, highest power first.

    For G = N_G/D_G and C = N_C/D_C in unity negative feedback the closed-loop poles are the
    roots of D_C·D_G + N_C·N_G, divided here by its leading coefficient 1 + C(∞)G(∞). When that
    is zero the loop is ill-posed (an algebraic loop with no solution) and a ``ValueError`` is
    raised.

    >>> G = first_order_plant(a=0.9, b=0.5)
    >>> characteristic_polynomial(G, pi_controller(0.4, 0.2))
    array([ 1. , -1.6,  0.7])
    """
    g = _tf_parts(plant, "plant")
    c = _tf_parts(controller, "controller")
    _same_dt(g.dt, c.dt, "the plant", "the controller")
    p = np.polyadd(np.polymul(g.den, c.den), np.polymul(g.num, c.num))
    n = g.order + c.order
    p = np.concatenate([np.zeros(n + 1 - len(p)), p])
    scale = float(np.max(np.abs(p)))
    if abs(p[0]) <= _ILL_POSED_RTOL * scale:
        raise ValueError(
            "the closed loop is ill-posed: 1 + C(∞)G(∞) = 0 (an algebraic loop with no "
            "solution); change the gains or add a delay to the plant"
        )
    return p / p[0]


def _is_one(x: Any) -> bool:
    return np.ndim(x) == 0 and float(x) == 1.0


def _and(ok: Any, cond: Any) -> Any:
    if ok is None:
        return cond
    if isinstance(ok, np.ndarray) and ok.shape == np.shape(np.broadcast(ok, cond)):
        ok &= cond
        return ok
    return ok & cond


def _schur_columns(cols: list[Any], shape: tuple[int, ...]) -> np.ndarray:
    """Schur–Cohn recursion on columns (highest power first) of broadcastable arrays/floats.

    p has all roots in |z| < 1 iff |p(0)| < |lead| and (p − k·p*)/z (k = p(0)/lead, p* the
    reversed polynomial) has too. The leading coefficient is made positive first; each step
    keeps it positive (new lead = lead·(1 − k²)), so the last quadratic b0 z² + b1 z + b2 is
    decided in closed form, |b2| < b0 and |b1| < b0 + b2 (Jury's conditions for n = 2). Entries
    where a condition fails are False; scalar columns stay scalars (no array passes).
    """
    a = list(cols)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        lead = a[0]
        if np.ndim(lead) == 0:
            if float(lead) < 0:
                a = [-c for c in a]
        else:
            sign = np.where(lead < 0, -1.0, 1.0)
            a = [c * sign for c in a]
        ok: Any = None
        while len(a) > 3:
            m = len(a) - 1
            lead, last = a[0], a[m]
            if _is_one(lead):
                ok = _and(ok, np.abs(last) < 1.0)
                k = last
            else:
                ok = _and(ok, np.abs(last) < lead)
                k = last / lead
            if np.ndim(k) == 0 and float(k) == 0.0:
                a = a[:m]
                continue
            new = []
            for j in range(m):
                t = k * a[m - j]
                if isinstance(t, np.ndarray) and t.shape == np.shape(np.broadcast(t, a[j])):
                    np.subtract(a[j], t, out=t)
                else:
                    t = a[j] - t
                new.append(t)
            a = new
        if len(a) == 3:  # b0 z² + b1 z + b2 with b0 > 0
            b0, b1, b2 = a
            ok = _and(ok, np.abs(b2) < b0)
            ok = _and(ok, np.abs(b1) < b0 + b2)
        elif len(a) == 2:  # b0 z + b1
            ok = _and(ok, np.abs(a[1]) < a[0])
        else:  # a non-zero constant has no roots
            ok = _and(ok, np.asarray(a[0]) != 0)
    if isinstance(ok, np.ndarray) and ok.shape == shape and ok.dtype == bool:
        return ok
    out = np.empty(shape, dtype=bool)
    out[...] = ok
    return out


def _as_coefficient_rows(coeffs: Any) -> np.ndarray:
    a = check_finite("coeffs", coeffs)
    if a.ndim not in (1, 2) or a.shape[-1] == 0:
        raise ValueError(
            "coeffs must be a 1-D array of polynomial coefficients (highest power first) or a "
            f"2-D array with one polynomial per row, got shape {a.shape}"
        )
    lead = a[..., 0]
    if np.any(lead == 0):
        rows = np.flatnonzero(np.atleast_1d(lead == 0))[:5].tolist()
        raise ValueError(
            "the leading coefficient (highest power) must be non-zero; strip leading zeros "
            f"first (zero in row(s) {rows})" if a.ndim == 2 else
            "the leading coefficient (highest power) of coeffs must be non-zero; strip leading "
            "zeros first"
        )
    return a


def _radius_scaled(a: np.ndarray, radius: float) -> list[np.ndarray]:
    """Columns of p(radius·w): roots w = z/radius, so |w| < 1 iff |z| < radius."""
    n = a.shape[-1] - 1
    return [a[..., j] * radius ** (n - j) for j in range(n + 1)]


def is_schur_stable(coeffs: ArrayLike, tol: float = DEFAULT_TOL) -> bool | np.ndarray:
    r"""Whether every root of a polynomial lies strictly inside the unit circle (|z| < 1 − tol).

    The Schur–Cohn recursion, equivalent to Jury's stability table: p of degree n (leading
    coefficient a_0, constant a_n) is Schur stable iff |a_n| < |a_0| and the degree-(n − 1)
    polynomial (p(z) − k·z^n p(1/z))/z, k = a_n/a_0, is. With ``tol`` > 0 the test runs on
    p((1 − tol)w), so a root on (or within ``tol`` of) the unit circle is *not* stable; use
    :func:`classify_stability` to tell such marginal cases from unstable ones.

    Parameters
    ----------
    coeffs
        Coefficients, highest power first: 1-D for one polynomial, 2-D for one polynomial per
        row (vectorized over rows). Leading coefficients must be non-zero.
    tol
        Radius tolerance in [0, 1).

    Returns
    -------
    A bool for 1-D input, a bool array with one entry per row for 2-D input.

    >>> is_schur_stable([1.0, -1.6, 0.7])          # z² − 1.6z + 0.7: |roots| = √0.7
    True
    >>> is_schur_stable([[1.0, -1.0], [1.0, 0.5], [1.0, -2.0]])   # z−1 is on the circle
    array([False,  True, False])
    """
    a = _as_coefficient_rows(coeffs)
    tol = float(check_in_interval("tol", check_scalar("tol", tol), 0.0, 1.0))
    cols = _radius_scaled(a, 1.0 - tol)
    out = _schur_columns(cols, a.shape[:-1])
    return bool(out) if a.ndim == 1 else out


def classify_stability(coeffs: ArrayLike, tol: float = DEFAULT_TOL) -> str | np.ndarray:
    r"""``"stable"``, ``"marginal"`` or ``"unstable"`` for one polynomial or each row.

    stable: every root |z| < 1 − tol; marginal: not stable, but every root |z| < 1 + tol (a
    root on the unit circle, e.g. the integrator pole z = 1 of a zero-gain PI loop); unstable:
    some root |z| ≥ 1 + tol. Both tests are Schur–Cohn recursions on p((1 ∓ tol)w).

    >>> classify_stability([1.0, -1.9, 0.9])     # (z − 1)(z − 0.9): integrator left alone
    'marginal'
    """
    a = _as_coefficient_rows(coeffs)
    tol = float(check_in_interval("tol", check_scalar("tol", tol), 0.0, 1.0, low_closed=False))
    stable = _schur_columns(_radius_scaled(a, 1.0 - tol), a.shape[:-1])
    inside = _schur_columns(_radius_scaled(a, 1.0 + tol), a.shape[:-1])
    out = np.where(stable, "stable", np.where(inside, "marginal", "unstable"))
    return str(out) if a.ndim == 1 else out


@dataclass(frozen=True)
class JuryTable:
    """Jury's stability table of one real polynomial, for display and checking.

    Attributes
    ----------
    coeffs
        The polynomial, highest power first, scaled so the leading coefficient is positive.
    rows
        The table's rows: for each reduction, the coefficients in ascending powers (constant
        first) and the same row reversed; the next row is b_k = a_0·a_k − a_n·a_{n−k}.
    conditions
        ``(text, lhs, rhs, holds)``: P(1) > 0, (−1)^n P(−1) > 0, |a_0| < a_n, then
        |b_0| > |b_{n−1}|, … down to the three-element row.
    stable
        True iff every condition holds (all roots strictly inside the unit circle).
    """

    __repr__ = summary_repr

    coeffs: np.ndarray
    rows: tuple[np.ndarray, ...]
    conditions: tuple[tuple[str, float, float, bool], ...]
    stable: bool

    def __str__(self) -> str:
        width = max(len(r) for r in self.rows)
        lines = [f"Jury table of degree {len(self.coeffs) - 1}"]
        for i, r in enumerate(self.rows):
            cells = " ".join(f"{v:>11.5g}" for v in r) + " " * 12 * (width - len(r))
            lines.append(f"  row {i + 1:>2}: {cells}")
        for text, lhs, rhs, holds in self.conditions:
            lines.append(f"  {'ok ' if holds else 'NO '} {text}: {lhs:.6g} vs {rhs:.6g}")
        lines.append("  stable" if self.stable else "  not stable")
        return "\n".join(lines)


def jury_table(coeffs: ArrayLike) -> JuryTable:
    r"""Jury's table and its n + 1 conditions for a real polynomial (highest power first).

    Writing P(z) = a_n z^n + … + a_0 with a_n > 0, all roots lie in |z| < 1 iff
    P(1) > 0, (−1)^n P(−1) > 0, |a_0| < a_n, and for each derived row
    (b_k = a_0 a_k − a_n a_{n−k}, then c from b, …) the first entry exceeds the last in
    magnitude (Jury 1964; Ogata, *Discrete-Time Control Systems*, §4-3).

    >>> t = jury_table([1.0, -1.6, 0.7])
    >>> t.stable, [c[0] for c in t.conditions]
    (True, ['P(1) > 0', '(-1)^2 P(-1) > 0', '|a_0| < a_2'])
    """
    p = _as_coefficient_rows(coeffs)
    if p.ndim != 1:
        raise ValueError(f"jury_table takes one polynomial (1-D coeffs), got shape {p.shape}")
    p = p * np.sign(p[0])
    n = len(p) - 1
    conditions: list[tuple[str, float, float, bool]] = []
    rows: list[np.ndarray] = []
    if n == 0:
        return JuryTable(p, (p[::-1].copy(),), (), True)
    asc = p[::-1].copy()  # a_0 (constant) … a_n (leading)
    p1 = float(np.polyval(p, 1.0))
    pm1 = float((-1) ** n * np.polyval(p, -1.0))
    conditions.append(("P(1) > 0", p1, 0.0, p1 > 0))
    conditions.append((f"(-1)^{n} P(-1) > 0", pm1, 0.0, pm1 > 0))
    conditions.append((f"|a_0| < a_{n}", abs(asc[0]), asc[-1], abs(asc[0]) < asc[-1]))
    row = asc
    letters = "bcdefghijklmnopqrstuvwxy"
    level = 0
    while True:
        rows.append(row.copy())
        rows.append(row[::-1].copy())
        k = len(row) - 1
        if k <= 2:
            break
        # next row: q_j = row_0·row_j − row_k·row_{k−j}, j = 0..k−1
        nxt = np.array([row[0] * row[j] - row[k] * row[k - j] for j in range(k)])
        name = letters[level]
        lhs, rhs = abs(nxt[0]), abs(nxt[-1])
        conditions.append((f"|{name}_0| > |{name}_{k - 1}|", lhs, rhs, lhs > rhs))
        row = nxt
        level += 1
    if n == 1:  # a single row pair; the conditions above already decide
        rows = rows[:2]
    stable = all(c[3] for c in conditions)
    return JuryTable(p, tuple(rows), tuple(conditions), stable)


def closed_loop_poles(plant: Any, controller: Any) -> np.ndarray:
    """The closed-loop poles: roots of :func:`characteristic_polynomial`.

    >>> np.round(np.abs(closed_loop_poles(first_order_plant(0.9, 0.5), pi_controller(0.4, 0.2))), 6)
    array([0.83666, 0.83666])
    """
    return np.roots(characteristic_polynomial(plant, controller))


@dataclass(frozen=True)
class PoleZeroMap:
    """Closed-loop poles and zeros of T = CG/(1 + CG).

    Attributes
    ----------
    poles, zeros
        Complex arrays.
    spectral_radius
        max |pole|.
    classification
        ``"stable"``, ``"marginal"`` or ``"unstable"``.
    dt
        Sampling time.
    """

    __repr__ = summary_repr

    poles: np.ndarray
    zeros: np.ndarray
    spectral_radius: float
    classification: str
    dt: float


def pole_zero_map(plant: Any, controller: Any, tol: float = DEFAULT_TOL) -> PoleZeroMap:
    """Poles and zeros of the closed loop, with its stability class.

    >>> pz = pole_zero_map(first_order_plant(0.9, 0.5), pi_controller(0.4, 0.2))
    >>> pz.classification, pz.zeros
    ('stable', array([0.66666667+0.j]))
    """
    g = _tf_parts(plant, "plant")
    c = _tf_parts(controller, "controller")
    chi = characteristic_polynomial(plant, controller)
    num = _strip(np.polymul(g.num, c.num))
    zeros = np.roots(num) if len(num) > 1 else np.zeros(0, dtype=complex)
    poles = np.roots(chi) if len(chi) > 1 else np.zeros(0, dtype=complex)
    radius = float(np.max(np.abs(poles))) if poles.size else 0.0
    return PoleZeroMap(poles.astype(complex), zeros.astype(complex), radius,
                       classify_stability(chi, tol), g.dt)


# ---------------------------------------------------------------------------------------
# Gain grids
# ---------------------------------------------------------------------------------------


def _affine_characteristic(plant: Any, dt: float, method: str) -> tuple[np.ndarray, ...]:
    """(F, Pk, Pi): the characteristic polynomial is F + kp·Pk + ki·Pi (highest first).

    (z − 1)·D(z) + (c1·z + c0)·N(z), with c1, c0 affine in (kp, ki); N padded to deg D.
    """
    g = _tf_parts(plant, "plant")
    _same_dt(g.dt, dt, "the plant", "the controller (dt argument)")
    check_choice("method", method, METHODS)
    (u1, v1), (u0, v0) = _pi_affine(dt, method)
    F = np.polymul([1.0, -1.0], g.den)
    A = np.concatenate([g.num, [0.0]])  # z·N(z)
    B = np.concatenate([[0.0], g.num])  # N(z)
    return F, u1 * A + u0 * B, v1 * A + v0 * B


def _affine_column(f: float, a: float, b: float, kp: np.ndarray, ki: np.ndarray) -> Any:
    """f + a·kp + b·ki for one coefficient; a float when it does not depend on the gains."""
    if a == 0.0 and b == 0.0:
        return float(f)
    if a != 0.0:
        out = kp * a
        if b != 0.0:
            t = ki * b
            if np.broadcast_shapes(out.shape, t.shape) == out.shape:
                out += t
            else:
                out = out + t
    else:
        out = ki * b
    if f != 0.0:
        out += f
    return out


def _grid_inputs(kp: Any, ki: Any) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    kp = check_finite("kp", kp)
    ki = check_finite("ki", ki)
    try:
        shape = np.broadcast_shapes(kp.shape, ki.shape)
    except ValueError as exc:
        raise ValueError(f"kp and ki must broadcast together, got shapes {kp.shape} and {ki.shape}") from exc
    return kp, ki, shape


def stability_region(plant: Any, kp: ArrayLike, ki: ArrayLike, dt: float = 1.0, *,
                     method: str = "backward", tol: float = DEFAULT_TOL) -> bool | np.ndarray:
    r"""Whether the PI loop is stable at each (kp, ki), vectorized over broadcast grids.

    For a plant G = N/D of order n the characteristic polynomial
    χ(z) = (z − 1)D(z) + (c1 z + c0)N(z) has coefficients affine in (kp, ki) (c1, c0 as in
    :func:`pi_controller`). They are built for the whole grid at once and the Schur–Cohn
    recursion (:func:`is_schur_stable`) runs on them column by column in cache-sized chunks, so
    a million-point map costs a few dozen elementwise passes. Points where the loop is
    ill-posed (1 + C(∞)G(∞) = 0, biproper plants only) are not stable. A zero-gain point is
    marginal, hence not stable.

    Parameters
    ----------
    plant
        Discrete plant (``TransferFunction`` or :class:`PlantModel`) with sampling time ``dt``.
    kp, ki
        Gains; any shapes that broadcast together.
    dt
        The controller's sampling time; must equal the plant's.
    method
        Integral discretization (:data:`METHODS`).
    tol
        Radius tolerance: stable means every pole has |z| < 1 − tol.

    Returns
    -------
    A bool for scalar gains, else a bool array of the broadcast shape.

    >>> G = sharpness_plant(setpoint=1.0)                  # G(z) = 1/z
    >>> stability_region(G, [0.2, 0.2, -2.0], [0.5, -0.1, 0.5])
    array([ True, False, False])
    """
    tol = float(check_in_interval("tol", check_scalar("tol", tol), 0.0, 1.0))
    dt = _check_dt(dt)
    F, Pk, Pi = _affine_characteristic(plant, dt, method)
    kp, ki, shape = _grid_inputs(kp, ki)
    n = len(F) - 1
    r = 1.0 - tol
    scale = np.array([r ** (n - j) for j in range(n + 1)])
    F, Pk, Pi = F * scale, Pk * scale, Pi * scale
    lead0 = F[0]  # strictly proper plants: Pk[0] = Pi[0] = 0 and F[0] = r^n
    if Pk[0] == 0 and Pi[0] == 0:
        F, Pk, Pi = F / lead0, Pk / lead0, Pi / lead0
    out = np.empty(shape, dtype=bool)
    if len(shape) == 0:
        cols = [_affine_column(F[j], Pk[j], Pi[j], kp, ki) for j in range(n + 1)]
        return bool(_schur_columns(cols, ()))
    kpb = np.broadcast_to(kp, shape)
    kib = np.broadcast_to(ki, shape)
    per_row = int(np.prod(shape[1:], dtype=np.int64)) if len(shape) > 1 else 1
    step = max(1, _CHUNK // max(per_row, 1))
    for i0 in range(0, shape[0], step):
        sl = slice(i0, min(i0 + step, shape[0]))
        k1, k2 = kpb[sl], kib[sl]
        cols = [_affine_column(F[j], Pk[j], Pi[j], k1, k2) for j in range(n + 1)]
        out[sl] = _schur_columns(cols, k1.shape)
    return out


def closed_loop_spectral_radius(plant: Any, kp: ArrayLike, ki: ArrayLike, dt: float = 1.0, *,
                                method: str = "backward") -> float | np.ndarray:
    r"""max |pole| of the PI loop at each (kp, ki): eigenvalues of stacked companion matrices.

    An independent route to :func:`stability_region` (stable iff the radius is < 1) and the
    decay rate of the loop: errors shrink like radius^k. Ill-posed points return inf.

    >>> round(float(closed_loop_spectral_radius(first_order_plant(0.9, 0.5), 0.4, 0.2)), 6)
    0.83666
    """
    dt = _check_dt(dt)
    F, Pk, Pi = _affine_characteristic(plant, dt, method)
    kp, ki, shape = _grid_inputs(kp, ki)
    KP, KI = np.broadcast_arrays(kp, ki)
    with np.errstate(over="ignore", invalid="ignore"):
        coeffs = F + KP[..., None] * Pk + KI[..., None] * Pi  # shape + (n + 1,)
    if not np.all(np.isfinite(coeffs)):
        raise ValueError("kp and ki are too large: the characteristic polynomial's "
                         "coefficients overflow float64")
    flat = coeffs.reshape(-1, coeffs.shape[-1])
    lead = flat[:, 0]
    # ill-posed: the leading coefficient F0 + kp·Pk0 + ki·Pi0 cancels (relative to its terms;
    # a strictly proper plant has Pk0 = Pi0 = 0 and is never ill-posed, however large the gains)
    scale = (abs(F[0]) + np.abs(KP.reshape(-1) * Pk[0]) + np.abs(KI.reshape(-1) * Pi[0]))
    bad = np.abs(lead) <= _ILL_POSED_RTOL * scale
    n = flat.shape[1] - 1
    radius = np.full(flat.shape[0], np.inf)
    good = ~bad
    if n == 0:
        radius[good] = 0.0
    elif np.any(good):
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            mon = flat[good, 1:] / lead[good, None]
            # Roots of z^n + Σ m_j z^{n−j} scaled by s = max_j |m_j|^{1/j} (a root bound up to
            # a factor 2): the scaled coefficients m_j/s^j are <= 1, so huge gains do not
            # overflow the eigenvalue solver; radius = s · radius of the scaled polynomial.
            j = np.arange(1, n + 1, dtype=float)
            s_root = np.max(np.abs(mon) ** (1.0 / j), axis=1)
            s_root = np.where(np.isfinite(s_root) & (s_root > 0), s_root, 1.0)
            scaled = mon / s_root[:, None] ** j
            scaled = np.where(np.isfinite(scaled), scaled, 0.0)
        comp = np.zeros((mon.shape[0], n, n))
        comp[:, 0, :] = -scaled
        if n > 1:
            idx = np.arange(n - 1)
            comp[:, idx + 1, idx] = 1.0
        with np.errstate(over="ignore", invalid="ignore"):
            radius[good] = s_root * np.max(np.abs(np.linalg.eigvals(comp)), axis=1)
        if not np.all(np.isfinite(radius[good])):
            raise ValueError("kp and ki are too large: the closed-loop poles overflow float64")
    radius = radius.reshape(shape)
    return scalar_or_array(radius)


# ---------------------------------------------------------------------------------------
# Symbolic: characteristic polynomial, Jury conditions, polygon
# ---------------------------------------------------------------------------------------


def _sym_gains():
    import sympy

    kp = sympy.Symbol("k_p", real=True)
    ki = sympy.Symbol("k_i", real=True)
    z = sympy.Symbol("z")
    return sympy, kp, ki, z


def _rational(sympy: Any, x: float) -> Any:
    return sympy.nsimplify(float(x), tolerance=1e-12, rational=True)


def _symbolic_characteristic(plant: Any, method: str):
    sympy, kp, ki, z = _sym_gains()
    g = _tf_parts(plant, "plant")
    check_choice("method", method, METHODS)
    dt = _rational(sympy, g.dt)
    half = sympy.Rational(1, 2)
    c1, c0 = {
        "backward": (kp + ki * dt, -kp),
        "forward": (kp, ki * dt - kp),
        "tustin": (kp + half * ki * dt, half * ki * dt - kp),
    }[method]
    N = sum(_rational(sympy, c) * z ** (len(g.num) - 1 - i) for i, c in enumerate(g.num))
    D = sum(_rational(sympy, c) * z ** (len(g.den) - 1 - i) for i, c in enumerate(g.den))
    C = (c1 * z + c0) / (z - 1)
    chi = sympy.expand((z - 1) * D + (c1 * z + c0) * N)
    return sympy, kp, ki, z, g, N, D, C, chi


def derive_characteristic_polynomial(plant: Any, method: str = "backward"):
    r"""The closed-loop characteristic polynomial of a PI loop, symbolic in kp and ki.

    χ(z) = (z − 1)·D(z) + (c1·z + c0)·N(z) for G = N/D (monic D) and
    C = (c1 z + c0)/(z − 1), with the plant's coefficients as exact rationals.

    >>> d = derive_characteristic_polynomial(first_order_plant(0.9, 0.5))
    >>> d.result
    -k_p/2 + z**2 + z*(k_i/2 + k_p/2 - 19/10) + 9/10
    """
    from lrctl.derivation import Derivation

    sympy, kp, ki, z, g, N, D, C, chi = _symbolic_characteristic(plant, method)
    poly = sympy.collect(chi, z)
    Gz, Cz = sympy.Function("G")(z), sympy.Function("C")(z)
    return Derivation(
        title=f"Closed-loop characteristic polynomial of the PI loop on the {_plant_words(plant, g)}",
        result=poly,
        statement=sympy.Eq(poly, 0),
        steps=(
            ("Plant", sympy.Eq(sympy.Function("G")(z), N / D)),
            (f"PI controller ({method} integral)", sympy.Eq(sympy.Function("C")(z), C)),
            ("The closed-loop poles solve", sympy.Eq(1 + Cz * Gz, 0)),
            ("that is, after clearing the denominators",
             sympy.Eq((z - 1) * D + sympy.factor(C * (z - 1)) * N, 0)),
        ),
        assumptions=(
            "unity negative feedback e = r − y, linear time-invariant plant",
            f"sampling time dt = {g.dt:g} optimizer steps for plant and controller",
        ),
        symbols={"kp": kp, "ki": ki, "z": z},
    )


def _jury_conditions_symbolic(sympy: Any, chi: Any, z: Any) -> list[tuple[str, Any]]:
    """Jury's conditions for a polynomial with symbolic coefficients, valid for either sign
    of the leading coefficient: a_n·P(1) > 0, a_n·(−1)^n P(−1) > 0, |a_0| < |a_n|, then
    |b_0| > |b_{n−1}|, …"""
    poly = sympy.Poly(chi, z)
    n = poly.degree()
    asc = [sympy.expand(c) for c in reversed(poly.all_coeffs())]
    lead = asc[-1]
    conds: list[tuple[str, Any]] = []

    def leadmul(expr):
        return sympy.expand(expr) if lead == 1 else sympy.expand(lead * expr)

    conds.append(("P(1) > 0", sympy.Gt(leadmul(chi.subs(z, 1)), 0)))
    conds.append((f"(-1)^{n} P(-1) > 0", sympy.Gt(leadmul((-1) ** n * chi.subs(z, -1)), 0)))
    conds.append((f"|a_0| < |a_{n}|", sympy.Lt(sympy.Abs(asc[0]), sympy.Abs(lead))))
    row = asc
    letters = "bcdefghijklmnop"
    level = 0
    while len(row) - 1 > 2:
        k = len(row) - 1
        nxt = [sympy.expand(row[0] * row[j] - row[k] * row[k - j]) for j in range(k)]
        name = letters[level]
        conds.append((f"|{name}_0| > |{name}_{k - 1}|",
                      sympy.Gt(sympy.Abs(nxt[0]), sympy.Abs(nxt[-1]))))
        row = nxt
        level += 1
    return conds


def _plant_words(plant: Any, g: Any) -> str:
    """The plant in words for a derivation's title: kind, gain, poles and extra delay."""
    kinds = {"sharpness": "normalized-sharpness plant", "loss-ratio": "loss-ratio plant",
             "first-order": "first-order plant", "identified": "identified plant"}
    kind = kinds.get(plant.kind, "plant") if isinstance(plant, PlantModel) else "plant"
    num = np.trim_zeros(np.asarray(g.num, dtype=float), "f")
    den = np.asarray(g.den, dtype=float)
    poles = [p for p in np.roots(den) if abs(p) > 1e-12] if len(den) > 1 else []
    words = f"{kind} with gain {num[0]:.4g}" if len(num) else kind
    if poles:
        shown = ", ".join(f"{p.real:.4g}" if abs(p.imag) < 1e-12 else f"{p:.4g}" for p in poles)
        words += f", pole{'s' if len(poles) > 1 else ''} {shown}"
    extra = len(den) - len(num) - 1
    if extra > 0:
        words += f" and {extra} extra sample{'s' if extra > 1 else ''} of delay"
    return words


def _jury_sentence(i: int, n_conditions: int) -> str:
    """Plain words for the i-th Jury condition (the inequality is the step's object)."""
    if i == 0:
        return "First Jury condition: the polynomial is positive at one"
    if i == 1:
        return "Second Jury condition: the polynomial, signed by its degree, is positive at minus one"
    if i == 2:
        return "Third Jury condition: the constant coefficient is smaller than the leading one"
    return f"Row {i - 1} of Jury's table: its first entry exceeds its last in magnitude"


def derive_stability_conditions(plant: Any, method: str = "backward"):
    r"""Jury's stability conditions of the PI loop as inequalities in (kp, ki).

    For a first-order plant b/(z − a) the characteristic polynomial z² + α1 z + α0 has
    α1, α0 affine in the gains and the three conditions P(1) > 0, P(−1) > 0, |α0| < 1 are
    half-planes: the region is a polygon (:func:`stability_polygon`). Higher orders add the
    rows of Jury's table, which are polynomial in the gains.

    ``result`` is the conjunction of the conditions; ``lambdify("kp", "ki")`` evaluates it on
    numpy grids.

    >>> d = derive_stability_conditions(sharpness_plant(setpoint=1.0))
    >>> [str(c) for _, c in d.steps[1:]]
    ['k_i > 0', '-k_i - 2*k_p + 2 > 0', 'Abs(k_p) < 1']
    """
    from lrctl.derivation import Derivation

    sympy, kp, ki, z, g, _, _, _, chi = _symbolic_characteristic(plant, method)
    conds = _jury_conditions_symbolic(sympy, chi, z)
    conj = sympy.And(*[c for _, c in conds])
    steps = [("Characteristic polynomial", sympy.Eq(sympy.collect(chi, z), 0))]
    steps += [(_jury_sentence(i, len(conds)), c) for i, (_, c) in enumerate(conds)]
    return Derivation(
        title=f"Jury stability conditions of the PI loop on the {_plant_words(plant, g)}",
        result=conj,
        statement=conj,
        steps=tuple(steps),
        assumptions=(
            "closed-loop poles strictly inside the unit circle (a pole on it is not stable)",
            f"{method} discretization of the integral term, dt = {g.dt:g}",
            "conditions written for either sign of the leading coefficient",
        ),
        symbols={"kp": kp, "ki": ki, "z": z},
    )


@dataclass(frozen=True)
class StabilityPolygon:
    """The exact stable region of a PI loop on a first-order plant: a convex polygon.

    The region is {(kp, ki): A @ (kp, ki) < b} (open half-planes).

    Attributes
    ----------
    A, b
        Half-planes, one row per Jury condition.
    labels
        The Jury condition behind each row.
    vertices
        The polygon's vertices in counter-clockwise order, shape (m, 2).
    """

    __repr__ = summary_repr

    A: np.ndarray
    b: np.ndarray
    labels: tuple[str, ...]
    vertices: np.ndarray

    def contains(self, kp: ArrayLike, ki: ArrayLike) -> bool | np.ndarray:
        """Whether (kp, ki) lies strictly inside, vectorized."""
        kp, ki, _ = _grid_inputs(kp, ki)
        kp, ki = np.broadcast_arrays(kp, ki)
        inside = np.ones(kp.shape, dtype=bool)
        for (a1, a2), bb in zip(self.A, self.b, strict=True):
            inside &= a1 * kp + a2 * ki < bb
        return bool(inside) if inside.ndim == 0 else inside


def stability_polygon(plant: Any, method: str = "backward") -> StabilityPolygon:
    r"""The stable (kp, ki) region of a PI loop on a first-order plant b/(z − a).

    χ(z) = z² + α1 z + α0 with α1 = b·c1 − 1 − a, α0 = a + b·c0, and Jury's conditions for a
    monic quadratic are P(1) = 1 + α1 + α0 > 0, P(−1) = 1 − α1 + α0 > 0 and |α0| < 1: four
    half-planes in (α1, α0), hence, through the affine map (kp, ki) ↦ (α1, α0), a convex
    polygon in the gains (the |α0| > −1 side is implied by the other two, so it is a triangle).
    The plant's ``dt`` is used for the controller.

    >>> poly = stability_polygon(sharpness_plant(setpoint=1.0))      # G = 1/z
    >>> np.round(poly.vertices, 6)
    array([[-1.,  0.],
           [ 1.,  0.],
           [-1.,  4.]])
    """
    g = _tf_parts(plant, "plant")
    if g.order != 1 or g.num[0] != 0.0:
        raise ValueError(
            "stability_polygon needs a strictly proper first-order plant b/(z − a); got "
            f"numerator {g.num.tolist()} and denominator {g.den.tolist()}. Use "
            "derive_stability_conditions or stability_region for other plants"
        )
    b = float(g.num[1])
    if b == 0.0:
        raise ValueError("the plant has zero gain (b = 0): no gains stabilize the integrator")
    a = -float(g.den[1])
    check_choice("method", method, METHODS)
    (u1, v1), (u0, v0) = _pi_affine(g.dt, method)
    # α1 = b(u1 kp + v1 ki) − 1 − a ; α0 = a + b(u0 kp + v0 ki)
    g1 = np.array([b * u1, b * v1])
    g0 = np.array([b * u0, b * v0])
    rows, rhs, labels = [], [], []
    # P(1) = 1 + α1 + α0 > 0  ⇔  −(g1 + g0)·k < 0
    rows.append(-(g1 + g0)); rhs.append(0.0); labels.append("P(1) > 0")  # noqa: E702
    # P(−1) = 1 − α1 + α0 > 0  ⇔  (g1 − g0)·k < 2 + 2a
    rows.append(g1 - g0); rhs.append(2.0 + 2.0 * a); labels.append("P(-1) > 0")  # noqa: E702
    # α0 < 1 and −α0 < 1
    rows.append(g0); rhs.append(1.0 - a); labels.append("a_0 < 1")  # noqa: E702
    rows.append(-g0); rhs.append(1.0 + a); labels.append("a_0 > -1")  # noqa: E702
    A = np.array(rows)
    bb = np.array(rhs)
    keep = np.any(A != 0, axis=1)
    if np.any(~keep & (bb <= 0)):
        raise ValueError("the stability conditions are infeasible for this plant: no stable gains")
    A, bb, labels = A[keep], bb[keep], [lab for lab, k in zip(labels, keep, strict=True) if k]
    verts = []
    scale = 1.0 + float(np.max(np.abs(bb)))
    for i in range(len(A)):
        for j in range(i + 1, len(A)):
            M = np.array([A[i], A[j]])
            if abs(np.linalg.det(M)) < 1e-14 * max(1.0, float(np.abs(M).max()) ** 2):
                continue
            p = np.linalg.solve(M, [bb[i], bb[j]])
            if np.all(A @ p <= bb + 1e-9 * scale):
                verts.append(p)
    if len(verts) < 3:
        raise ValueError("the stable region of this plant is unbounded or empty; no polygon")
    V = np.unique(np.round(np.array(verts), 12), axis=0)
    c = V.mean(axis=0)
    V = V[np.argsort(np.arctan2(V[:, 1] - c[1], V[:, 0] - c[0]))]
    # drop the redundant half-planes (those not touching the polygon)
    active = [i for i in range(len(A)) if np.any(np.abs(A[i] @ V.T - bb[i]) <= 1e-9 * scale)]
    return StabilityPolygon(A[active], bb[active], tuple(labels[i] for i in active), V)


# ---------------------------------------------------------------------------------------
# Plant models of training
# ---------------------------------------------------------------------------------------


def first_order_plant(a: float, b: float, delay: int = 0, dt: float = 1.0) -> PlantModel:
    r"""First order plus delay, G(z) = b·z^{-d}/(z − a).

    y_{k+1} = a·y_k + b·u_{k−d}: a pole at z = a (|a| < 1 for an open-loop stable plant) and
    d + 1 samples of dead time in all. The static gain is b/(1 − a).

    >>> G = first_order_plant(0.9, 0.5, delay=1)
    >>> G.tf.den_array[0, 0], round(G.gain, 6)
    (array([ 1. , -0.9,  0. ]), 5.0)
    """
    a = check_scalar("a", a)
    b = check_scalar("b", b)
    if b == 0.0:
        raise ValueError("b must be non-zero: a plant with zero gain cannot be controlled")
    d = check_int("delay", delay, minimum=0)
    dt = _check_dt(dt)
    den = np.concatenate([[1.0, -a], np.zeros(d)])
    tf = control.tf([b], den, dt)
    gain = b / (1.0 - a) if a != 1.0 else math.copysign(math.inf, b)
    return PlantModel(
        tf=tf, kind="first-order", gain=gain,
        description=f"G(z) = {b:g}·z^-{d}/(z − {a:g}), dt = {dt:g}",
        operating_range="linear model; open-loop stable iff |a| < 1",
        parameters={"a": a, "b": b, "delay": float(d)},
    )


def sharpness_plant(setpoint: float, beta: float = 0.0, dt: float = 1.0, *,
                    log_measurement: bool = False) -> PlantModel:
    r"""Normalized sharpness y = η·λ_max as the output, u = log η as the input.

    With the controller acting after each measurement, the measurement y_j = η_j·λ_j sees the
    rate set one sample earlier, and λ varies slowly (a disturbance). Linearized at the
    setpoint s* (y = s*·e^{δu + δlog λ}), ∂y/∂u = η·λ = s*, so G(z) = s*·z^{-1}; with the
    error taken in logs (``log_measurement=True``) the gain is 1. An EMA m_j = β·m_{j−1} +
    (1 − β)·y_j on the measurement adds (1 − β)z/(z − β):

        G(z) = g·(1 − β)/(z − β),  g = s* (or 1).

    The model is a first-order plant b/(z − a) with a = β, so its stable PI gains form a
    triangle (:func:`stability_polygon`). Derivation: :func:`derive_sharpness_plant`.

    Operating range: 0 < s* < 2 (at η·λ_max ≥ 2 gradient descent itself diverges), deviations
    small in log η (|δ log η| ≲ 0.3 keeps e^x within 35 % of 1 + x), λ_max changing slowly
    compared to the loop.

    >>> G = sharpness_plant(setpoint=1.5, beta=0.5)
    >>> G.tf.num_array[0, 0], G.tf.den_array[0, 0], G.gain
    (array([0.75]), array([ 1. , -0.5]), 1.5)
    """
    s = check_scalar("setpoint", setpoint)
    if not 0.0 < s < 2.0:
        raise ValueError(
            f"setpoint (normalized sharpness η·λmax) must lie in (0, 2), got {s}: at "
            "η·λmax >= 2 gradient descent diverges along the top eigenvector"
        )
    beta = float(check_in_interval("beta", check_scalar("beta", beta), 0.0, 1.0))
    dt = _check_dt(dt)
    log_measurement = check_bool("log_measurement", log_measurement)
    g = 1.0 if log_measurement else s
    b = g * (1.0 - beta)
    tf = control.tf([b], [1.0, -beta], dt)
    meas = "log(η·λ)" if log_measurement else "η·λ"
    return PlantModel(
        tf=tf, kind="sharpness", gain=g,
        description=(f"normalized sharpness {meas} at setpoint {s:g}, EMA β = {beta:g}: "
                     f"G(z) = {b:g}/(z − {beta:g}), dt = {dt:g}"),
        operating_range=("0 < η·λmax < 2; small deviations of log η (|δ log η| ≲ 0.3); "
                         "λmax varying slowly compared with the loop"),
        parameters={"setpoint": s, "beta": beta, "a": beta, "b": b},
    )


def loss_ratio_gain(lr: ArrayLike, curvature: ArrayLike, *, actuation: str = "log") -> Any:
    r"""Gain of the loss ratio r = (1 − ηλ)² with respect to log η (or η), vectorized.

    ∂r/∂η = −2λ(1 − ηλ) and ∂r/∂log η = −2ηλ(1 − ηλ): negative below η = 1/λ, zero at it,
    positive above it.

    >>> loss_ratio_gain([0.5, 1.0, 1.5], 1.0)
    array([-0.5,  0. ,  1.5])
    """
    check_choice("actuation", actuation, ("log", "linear"))
    eta = check_positive("lr", lr)
    lam = check_positive("curvature", curvature)
    try:
        np.broadcast_shapes(eta.shape, lam.shape)
    except ValueError:
        raise ValueError(f"lr and curvature must broadcast together, got shapes {eta.shape} "
                         f"and {lam.shape}") from None
    with np.errstate(over="ignore", invalid="ignore"):
        g = -2.0 * lam * (1.0 - eta * lam)
        if actuation == "log":
            g = eta * g
    check_output(g, "lr, curvature (the gain 2ηλ(1 − ηλ) overflows)")
    return scalar_or_array(g)


def loss_ratio_operating_points(ratio: float, curvature: float) -> tuple[float, float]:
    r"""The two learning rates at which r = (1 − ηλ)² equals ``ratio``: (1 ∓ √r)/λ.

    The lower one has a negative plant gain, the upper one a positive gain; they sit on
    either side of the sign flip at η = 1/λ.

    >>> loss_ratio_operating_points(0.25, 2.0)
    (0.25, 0.75)
    """
    r = float(check_in_interval("ratio", check_scalar("ratio", ratio), 0.0, 1.0,
                                low_closed=False))
    lam = float(check_positive("curvature", check_scalar("curvature", curvature)))
    return (1.0 - math.sqrt(r)) / lam, (1.0 + math.sqrt(r)) / lam


def loss_ratio_plant(lr: float, curvature: float, dt: float = 1.0, *,
                     flip_tol: float = 1e-6) -> PlantModel:
    r"""Loss ratio r = L_{k+1}/L_k = (1 − ηλ)² linearized at η0, with u = log η.

    G(z) = g/z with g = ∂r/∂log η = −2η0λ(1 − η0λ) (one sample of delay: the ratio over the
    step taken with the rate set after the previous measurement). The gain's sign flips at
    η = 1/λ: below it raising η lowers r (g < 0, the controller needs negative gains), above
    it raising η raises r (g > 0). The returned model records the flip (``sign_flip_lr``) and
    :func:`analyze_loop` reports a controller whose sign does not match, or an operating point
    close to the flip. At the flip itself (|1 − η0λ| < ``flip_tol``) the plant has no gain and
    a ``ValueError`` is raised.

    Operating range: 0 < η0·λ < 2 (a converging operating point), one dominant curvature
    direction λ, small deviations of log η that do not cross η = 1/λ.

    >>> G = loss_ratio_plant(lr=0.25, curvature=2.0)
    >>> round(G.gain, 6), G.sign_flip_lr, G.gain_sign
    (-0.5, 0.5, -1)
    """
    eta = check_scalar("lr", lr)
    lam = check_scalar("curvature", curvature)
    check_positive("lr", eta)
    check_positive("curvature", lam)
    dt = _check_dt(dt)
    flip_tol = float(check_in_interval("flip_tol", check_scalar("flip_tol", flip_tol), 0.0, 1.0,
                                       low_closed=False))
    x = eta * lam
    if not 0.0 < x < 2.0:
        raise ValueError(
            f"lr·curvature must lie in (0, 2) (a converging operating point, loss ratio < 1), "
            f"got {x:g}"
        )
    flip = 1.0 / lam
    if abs(1.0 - x) < flip_tol:
        raise ValueError(
            f"lr = {eta:g} sits on the sign flip η = 1/λ = {flip:g} of the loss-ratio plant: "
            "its gain −2ηλ(1 − ηλ) is zero there, so the learning rate has no first-order "
            "effect on the loss ratio; linearize on one side (see loss_ratio_operating_points)"
        )
    g = -2.0 * x * (1.0 - x)
    side = "below" if x < 1.0 else "above"
    return PlantModel(
        tf=control.tf([g], [1.0, 0.0], dt), kind="loss-ratio", gain=g,
        description=(f"loss ratio (1 − ηλ)² at η0 = {eta:g}, λ = {lam:g} ({side} the sign "
                     f"flip η = 1/λ = {flip:g}): G(z) = {g:g}/z, dt = {dt:g}"),
        operating_range=(f"0 < ηλ < 2 and log η staying {side} log(1/λ); the gain's sign "
                         "reverses across η = 1/λ"),
        operating_lr=eta, sign_flip_lr=flip,
        parameters={"lr": eta, "curvature": lam, "ratio": (1.0 - x) ** 2},
    )


def derive_sharpness_plant():
    r"""Derive G(z) = s*(1 − β)/(z − β) for the normalized sharpness y = η·λ, u = log η.

    >>> derive_sharpness_plant().result
    s*(1 - beta)/(-beta + z)
    """
    import sympy

    from lrctl.derivation import Derivation

    u, lam, s, beta = sympy.symbols("u lambda s beta", positive=True)
    z = sympy.Symbol("z")
    y = sympy.exp(u) * lam
    gain = sympy.diff(y, u)
    G_delay = s / z
    F = (1 - beta) * z / (z - beta)
    G = s * (1 - beta) / (z - beta)
    if sympy.simplify(G_delay * F - G) != 0:  # pragma: no cover - algebra guard
        raise AssertionError("series connection does not reduce to s(1 − β)/(z − β)")
    return Derivation(
        title="Normalized-sharpness plant: log learning rate to η·λmax",
        result=G,
        statement=sympy.Eq(sympy.Function("G")(z), G),
        steps=(
            ("Measurement with the rate set one sample earlier",
             sympy.Eq(sympy.Symbol("y_j"), sympy.exp(sympy.Symbol("u_j−1")) * sympy.Symbol("lambda_j"))),
            ("The input is the log learning rate", sympy.Eq(u, sympy.log(sympy.Symbol("eta")))),
            ("Its sensitivity to the input", sympy.Eq(sympy.Derivative(y, u), gain)),
            ("At the setpoint", sympy.Eq(sympy.Symbol("eta") * lam, s)),
            ("the gain is the setpoint; with one sample of delay",
             sympy.Eq(sympy.Function("G_0")(z), G_delay)),
            ("Exponential moving average of the measurement",
             sympy.Eq(sympy.Symbol("m_j"), beta * sympy.Symbol("m_j−1") + (1 - beta) * sympy.Symbol("y_j"))),
            ("as a filter", sympy.Eq(sympy.Function("F")(z), F)),
            ("Series connection", sympy.Eq(sympy.Function("G")(z), G)),
        ),
        assumptions=(
            "0 < s < 2 so that gradient descent is stable at the operating point",
            "small deviations of log η around the setpoint (linearization of exp)",
            "λmax varies slowly; its changes enter as an output disturbance",
        ),
        symbols={"s": s, "beta": beta, "z": z},
    )


def derive_loss_ratio_plant():
    r"""Derive the loss-ratio gain −2ηλ(1 − ηλ) and its sign flip at η = 1/λ.

    >>> d = derive_loss_ratio_plant()
    >>> d.result
    -2*eta*lambda*(-eta*lambda + 1)
    """
    import sympy

    from lrctl.derivation import Derivation

    eta, lam = sympy.symbols("eta lambda", positive=True)
    u = sympy.Symbol("u", real=True)
    z = sympy.Symbol("z")
    r = (1 - eta * lam) ** 2
    dr_deta = sympy.factor(sympy.diff(r, eta))
    g = -2 * eta * lam * (1 - eta * lam)
    flip = sympy.solve(sympy.Eq(dr_deta, 0), eta)
    return Derivation(
        title="Loss-ratio plant: gain and sign flip",
        result=g,
        statement=sympy.Eq(sympy.Function("G")(z), g / z),
        steps=(
            ("Loss ratio along one eigenvector on the quadratic model", sympy.Eq(sympy.Symbol("r"), r)),
            ("Sensitivity to the learning rate", sympy.Eq(sympy.Derivative(r, eta), dr_deta)),
            ("The input is the log learning rate", sympy.Eq(u, sympy.log(eta))),
            ("Sensitivity to the input, by the chain rule",
             sympy.Eq(sympy.Symbol("g"), sympy.expand(eta * sympy.diff(r, eta)))),
            ("The gain vanishes and changes sign at", sympy.Eq(eta, flip[0])),
            ("Delay of one sample", sympy.Eq(sympy.Function("G")(z), g / z)),
        ),
        assumptions=(
            "local quadratic model with one dominant curvature λ",
            "0 < ηλ < 2 (a converging operating point)",
            "u = log η; deviations small enough not to cross η = 1/λ",
        ),
        symbols={"eta": eta, "lam": lam, "u": u, "z": z},
    )


@dataclass(frozen=True)
class Identification:
    """A first-order-plus-delay model identified from a logged trace.

    Attributes
    ----------
    plant
        The identified :class:`PlantModel` b·z^{-d}/(z − a).
    a, b, delay, offset
        y_{k+1} = a·y_k + b·u_{k−d} + offset.
    a_stderr, b_stderr
        Standard errors of a and b from the least-squares covariance.
    r_squared
        One-step-ahead R² on the fitted samples.
    simulation_fit
        1 − ‖y − ŷ‖/‖y − ȳ‖ of the free-run simulation driven by the logged input (1 is a
        perfect fit; −inf if the identified model diverged on the trace).
    residual_std
        Standard deviation of the one-step residuals.
    ssr_by_delay
        Sum of squared residuals for each candidate delay 0..max_delay (same samples).
    n_samples
        Samples used in the fit.
    """

    __repr__ = summary_repr

    plant: PlantModel
    a: float
    b: float
    delay: int
    offset: float
    a_stderr: float
    b_stderr: float
    r_squared: float
    simulation_fit: float
    residual_std: float
    ssr_by_delay: np.ndarray
    n_samples: int


def identify_first_order(lr: ArrayLike, measurement: ArrayLike, *, max_delay: int = 5,
                         dt: float = 1.0, log_lr: bool = True) -> Identification:
    r"""Fit y_{k+1} = a·y_k + b·u_{k−d} + c by least squares, for each delay d ≤ ``max_delay``.

    u = log(lr) (``log_lr=True``, the controller's actuation) or lr. Every candidate delay is
    fitted on the same samples k = max_delay, …, n − 2 and the one with the smallest residual
    sum of squares wins. The offset c absorbs the operating point; the transfer function
    returned is b·z^{-d}/(z − a).

    >>> rng = np.random.default_rng(0)
    >>> u = rng.standard_normal(400)
    >>> y = np.zeros(400)
    >>> for k in range(2, 399):
    ...     y[k + 1] = 0.8 * y[k] + 0.3 * u[k - 2]
    >>> fit = identify_first_order(u, y, log_lr=False)
    >>> fit.delay, round(fit.a, 6), round(fit.b, 6)
    (2, 0.8, 0.3)
    """
    dmax = check_int("max_delay", max_delay, minimum=0)
    dt = _check_dt(dt)
    u = check_finite("lr", lr)
    y = check_finite("measurement", measurement)
    if u.ndim != 1 or y.ndim != 1:
        raise ValueError(f"lr and measurement must be 1-D traces, got shapes {u.shape} and "
                         f"{y.shape}")
    if u.shape != y.shape:
        raise ValueError(f"lr and measurement must have the same length, got {u.size} and {y.size}")
    if check_bool("log_lr", log_lr):
        if np.any(u <= 0):
            raise ValueError("lr must be positive when log_lr=True (the actuation is log lr)")
        u = np.log(u)
    n = y.size
    if n < dmax + 10:
        raise ValueError(f"need at least max_delay + 10 = {dmax + 10} samples, got {n}")
    if np.ptp(u) == 0:
        raise ValueError("the lr trace is constant: the input must vary to identify the plant")
    ks = np.arange(dmax, n - 1)
    target = y[ks + 1]
    ssr = np.empty(dmax + 1)
    fits = []
    for d in range(dmax + 1):
        X = np.column_stack([y[ks], u[ks - d], np.ones(ks.size)])
        theta, _, rank, _ = np.linalg.lstsq(X, target, rcond=None)
        res = target - X @ theta
        ssr[d] = float(res @ res)
        fits.append((theta, X, res, rank))
    d = int(np.argmin(ssr))
    theta, X, res, rank = fits[d]
    if rank < 3:
        raise ValueError("the regression is rank-deficient: the trace does not excite the plant")
    a, b, c = (float(v) for v in theta)
    dof = max(ks.size - 3, 1)
    sigma2 = ssr[d] / dof
    cov = sigma2 * np.linalg.pinv(X.T @ X)
    sst = float(np.sum((target - target.mean()) ** 2))
    r2 = 1.0 - ssr[d] / sst if sst > 0 else (1.0 if ssr[d] == 0 else 0.0)
    # free-run simulation from the first fitted sample
    yh = np.empty(ks.size + 1)
    yh[0] = y[ks[0]]
    limit = 1e6 * (1.0 + float(np.max(np.abs(y))))
    fit = None
    for i, k in enumerate(ks):
        yh[i + 1] = a * yh[i] + b * u[k - d] + c
        if not abs(yh[i + 1]) < limit:
            fit = -math.inf
            break
    if fit is None:
        ref = y[ks[0]: ks[-1] + 2]
        den = float(np.linalg.norm(ref - ref.mean()))
        fit = 1.0 - float(np.linalg.norm(ref - yh)) / den if den > 0 else 1.0
    if b == 0.0:
        raise ValueError("the identified gain b is exactly zero: the input has no effect")
    model = first_order_plant(a, b, delay=d, dt=dt)
    model = PlantModel(
        tf=model.tf, kind="identified", gain=model.gain,
        description=f"identified: {model.description} (R² = {r2:.4f})",
        operating_range="the range of the logged trace",
        parameters={"a": a, "b": b, "delay": float(d), "offset": c},
    )
    return Identification(model, a, b, d, c, float(np.sqrt(max(cov[0, 0], 0.0))),
                          float(np.sqrt(max(cov[1, 1], 0.0))), float(r2), float(fit),
                          float(np.sqrt(sigma2)), ssr, int(ks.size))


# ---------------------------------------------------------------------------------------
# Loop analysis and margins
# ---------------------------------------------------------------------------------------


def _integrator_gain(t: _TF) -> tuple[int, float]:
    """(number of poles at z = 1, lim (z − 1)^m · num/den at z = 1)."""
    den = t.den.copy()
    m = 0
    while len(den) > 1 and abs(np.polyval(den, 1.0)) <= 1e-12 * np.abs(den).sum():
        den, _ = np.polydiv(den, [1.0, -1.0])
        m += 1
    return m, float(np.polyval(t.num, 1.0) / np.polyval(den, 1.0))


@dataclass(frozen=True)
class LoopReport:
    """What :func:`analyze_loop` found about one closed loop.

    Attributes
    ----------
    classification
        ``"stable"``, ``"marginal"`` or ``"unstable"``.
    stable
        ``classification == "stable"``.
    characteristic_polynomial
        Monic, highest power first.
    poles
        Closed-loop poles.
    spectral_radius
        max |pole|: the error decays like spectral_radius^k.
    dt
        Sampling time.
    warnings
        Plain-language findings: zero gain, wrong sign for the plant, proximity to a sign flip.
    """

    __repr__ = summary_repr

    classification: str
    stable: bool
    characteristic_polynomial: np.ndarray
    poles: np.ndarray
    spectral_radius: float
    dt: float
    warnings: tuple[str, ...]


def analyze_loop(plant: Any, controller: Any, tol: float = DEFAULT_TOL) -> LoopReport:
    r"""Classify a closed loop and say why it fails when it does.

    Besides the Schur–Cohn class, it reports (in ``warnings``): a zero-gain controller (the
    integrator pole stays at z = 1: marginal); integral action of the wrong sign for the
    plant's static gain (Jury's P(1) > 0 fails: positive feedback at low frequency, unstable for
    every kp), and for a loss-ratio plant which side of the sign flip η = 1/λ the operating
    point is on, and whether it is within 20 % (in η) of it.

    >>> rep = analyze_loop(loss_ratio_plant(0.25, 2.0), pi_controller(0.2, 0.1))
    >>> rep.classification, len(rep.warnings)
    ('unstable', 2)
    """
    g = _tf_parts(plant, "plant")
    c = _tf_parts(controller, "controller")
    chi = characteristic_polynomial(plant, controller)
    cls = classify_stability(chi, tol)
    poles = np.roots(chi) if len(chi) > 1 else np.zeros(0, dtype=complex)
    radius = float(np.max(np.abs(poles))) if poles.size else 0.0
    warnings: list[str] = []
    if not np.any(c.num):
        warnings.append(
            "the controller has zero gain: the learning rate never changes, the integrator pole "
            "stays at z = 1 and the loop is marginal, not stable"
        )
    m_c, kv_c = _integrator_gain(c)
    m_g, _ = _integrator_gain(g)
    if np.any(c.num) and m_c == 1 and m_g == 0:
        g1 = float(np.polyval(g.num, 1.0) / np.polyval(g.den, 1.0))
        if g1 * kv_c < 0:
            warnings.append(
                f"the integral action has the wrong sign for this plant: plant static gain "
                f"G(1) = {g1:.4g}, controller lim (z−1)C(z) = {kv_c:.4g}; the loop has positive "
                "feedback at low frequency (Jury's P(1) > 0 fails) and is unstable for every kp; "
                "negate both gains"
            )
    if isinstance(plant, PlantModel) and plant.sign_flip_lr is not None and plant.operating_lr:
        eta0, flip = plant.operating_lr, plant.sign_flip_lr
        side = "below" if eta0 < flip else "above"
        sign = "negative" if plant.gain < 0 else "positive"
        warnings.append(
            f"the plant gain changes sign at η = {flip:.4g}; the operating point η0 = {eta0:.4g} "
            f"is {side} it (plant gain {plant.gain:.4g}, {sign}): gains designed on one side "
            "give positive feedback on the other"
        )
        if abs(math.log(eta0 / flip)) < math.log(1.2):
            warnings.append(
                f"η0 = {eta0:.4g} is within 20 % of the sign flip η = {flip:.4g}: a deviation "
                "that crosses it reverses the loop's sign"
            )
    return LoopReport(cls, cls == "stable", chi, poles.astype(complex), radius, g.dt,
                      tuple(warnings))


@dataclass(frozen=True)
class StabilityMargins:
    """Gain, phase and stability margins of a discrete loop L = C·G.

    The headline values follow python-control's selection (the gain margin closest to 1 in
    log scale, the phase margin smallest in magnitude); all crossings are kept. Frequencies are
    in radians per unit of time (ω/dt; rad per optimizer step when dt = 1), π/dt being the
    Nyquist frequency z = −1. A margin with no crossover is inf and its frequency ``None``.
    Iterating and indexing give python-control's tuple order (gm, pm, sm, wpc, wgc, wms), so
    ``gm, pm, *_ = stability_margins(G, C)`` and ``stability_margins(G, C)[0]`` both work.
    """

    gain_margin: float
    phase_margin: float
    stability_margin: float
    phase_crossover: float | None
    gain_crossover: float | None
    stability_margin_frequency: float
    gain_margins: np.ndarray
    phase_crossovers: np.ndarray
    phase_margins: np.ndarray
    gain_crossovers: np.ndarray
    closed_loop_stable: bool
    dt: float

    def _as_tuple(self) -> tuple:
        return (self.gain_margin, self.phase_margin, self.stability_margin,
                self.phase_crossover, self.gain_crossover, self.stability_margin_frequency)

    def __iter__(self):
        yield from self._as_tuple()

    def __getitem__(self, index):
        return self._as_tuple()[index]

    def __len__(self) -> int:
        return 6


def _cheb_u_as_t(n: int) -> np.ndarray:
    """Chebyshev-T coefficients of U_n: U_n = 2ΣT_j over j ≡ n (mod 2), minus T_0 if n even."""
    c = np.zeros(n + 1)
    c[n % 2:: 2] = 2.0
    if n % 2 == 0:
        c[0] -= 1.0
    return c


def stability_margins(plant: Any, controller: Any) -> StabilityMargins:
    r"""Gain and phase margins of L(z) = C(z)G(z) on the unit circle, including z = −1.

    On z = e^{jω} with x = cos ω, write N(z)D(1/z) = Σ_k c_k z^k (L = N/D). Then
    Im[N D̄] = sin ω · Σ_{k≥1} (c_k − c_{−k}) U_{k−1}(x) and |N|² − |D|² = Σ_k e_k T_{|k|}(x)
    are polynomials in x (Chebyshev U and T): phase crossovers are the roots in (−1, 1) of the
    first with Re L < 0, plus the endpoints ω = 0 and ω = π whenever L(±1) is finite and
    negative — there L is real for every real-coefficient loop, which is exactly the case a
    root finder on sin-multiplied polynomials misses. Gain crossovers are the roots in
    [−1, 1] of the second. Poles on the unit circle (the PI integrator at z = 1) are excluded.
    The stability margin min_ω |1 + L| comes from a dense grid refined by a bounded search.

    >>> G = first_order_plant(0.9, 0.5)
    >>> m = stability_margins(G, pi_controller(0.4, 0.2))
    >>> round(m.gain_margin, 6), m.phase_crossover == np.pi       # 1/|L(−1)| = 7.6
    (7.6, True)
    """
    from numpy.polynomial import chebyshev as cheb
    from scipy.optimize import minimize_scalar

    g = _tf_parts(plant, "plant")
    c = _tf_parts(controller, "controller")
    _same_dt(g.dt, c.dt, "the plant", "the controller")
    N = _strip(np.polymul(g.num, c.num))
    D = np.polymul(g.den, c.den)
    m = max(len(N), len(D)) - 1
    Na = np.zeros(m + 1)
    Na[: len(N)] = N[::-1]
    Da = np.zeros(m + 1)
    Da[: len(D)] = D[::-1]
    dscale = float(np.abs(Da).sum())
    stable = is_schur_stable(characteristic_polynomial(plant, controller))

    def L(zz):
        return np.polyval(N, zz) / np.polyval(D, zz)

    def on_circle_ok(w: float) -> bool:
        return abs(np.polyval(D, np.exp(1j * w))) > 1e-9 * dscale

    def real_roots(coef_t: np.ndarray) -> np.ndarray:
        # drop highest-order terms that are round-off relative to the largest one (a
        # near-zero leading coefficient would send chebroots' companion matrix to inf)
        scale = float(np.max(np.abs(coef_t))) if coef_t.size else 0.0
        if scale == 0.0:
            return np.zeros(0)
        coef_t = cheb.chebtrim(coef_t, tol=1e-13 * scale)
        if coef_t.size <= 1:
            return np.zeros(0)
        r = cheb.chebroots(coef_t)
        r = r[np.abs(r.imag) <= 1e-7 * (1 + np.abs(r.real))].real
        return np.clip(r[(r >= -1 - 1e-7) & (r <= 1 + 1e-7)], -1.0, 1.0)

    # phase crossovers
    cN = np.convolve(Na, Da[::-1])  # index t ↔ power t − m of N(z)D(1/z)
    s = np.array([cN[m + k] - cN[m - k] for k in range(1, m + 1)])
    coef = np.zeros(max(m, 1))
    for k in range(1, m + 1):
        coef[: k] += s[k - 1] * _cheb_u_as_t(k - 1)
    omegas = list(np.arccos(real_roots(coef))) if m >= 1 else []
    omegas += [0.0, math.pi]
    wpc: list[float] = []
    gms: list[float] = []
    for w in sorted(omegas):
        if any(abs(w - v) < 1e-9 for v in wpc) or not on_circle_ok(w):
            continue
        val = complex(L(np.exp(1j * w)))
        if val.real < 0 and abs(val.imag) <= 1e-6 * abs(val):
            wpc.append(float(w))
            gms.append(1.0 / abs(val) if val != 0 else math.inf)
    # gain crossovers
    eN = np.convolve(Na, Na[::-1]) - np.convolve(Da, Da[::-1])
    e_t = np.concatenate([[eN[m]], 2.0 * eN[m + 1:]])
    wgc: list[float] = []
    pms: list[float] = []
    for w in sorted(np.arccos(real_roots(e_t))):
        if any(abs(w - v) < 1e-9 for v in wgc) or not on_circle_ok(w):
            continue
        val = complex(L(np.exp(1j * w)))
        if abs(abs(val) - 1.0) <= 1e-6:
            wgc.append(float(w))
            pms.append(float(np.remainder(np.angle(val, deg=True), 360.0) - 180.0))
    # stability margin: min |1 + L|
    grid = np.linspace(0.0, math.pi, 4097)
    zz = np.exp(1j * grid)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        dist = np.abs(np.polyval(N, zz) + np.polyval(D, zz)) / np.abs(np.polyval(D, zz))
    dist = np.where(np.isfinite(dist), dist, np.inf)
    i = int(np.argmin(dist))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
    best_w, best = float(grid[i]), float(dist[i])
    if hi > lo:
        res = minimize_scalar(lambda w: abs(1 + L(np.exp(1j * w))), bounds=(lo, hi),
                              method="bounded", options={"xatol": 1e-12})
        if res.fun < best:
            best_w, best = float(res.x), float(res.fun)
    gm_arr = np.array(gms)
    if gm_arr.size and np.any(np.isfinite(gm_arr)):
        with np.errstate(divide="ignore"):
            j = int(np.argmin(np.abs(np.log(gm_arr))))
        gm, gm_w = float(gm_arr[j]), wpc[j] / g.dt
    else:
        gm, gm_w = math.inf, None
    if pms:
        j = int(np.argmin(np.abs(pms)))
        pm, pm_w = float(pms[j]), wgc[j] / g.dt
    else:
        pm, pm_w = math.inf, None
    return StabilityMargins(gm, pm, best, gm_w, pm_w, best_w / g.dt, gm_arr,
                            np.array(wpc) / g.dt, np.array(pms), np.array(wgc) / g.dt,
                            bool(stable), g.dt)


# ---------------------------------------------------------------------------------------
# Time responses
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClosedLoopResponse:
    """A simulated closed-loop response (unity feedback, output disturbance).

    Attributes
    ----------
    t
        Times k·dt (optimizer steps), one per sample simulated.
    reference, disturbance, output, control, error
        r_k, d_k, y_k (plant output plus disturbance), u_k, e_k = r_k − y_k.
    diverged, diverged_at
        Whether |y| or |u| exceeded the divergence threshold, and the sample where it did;
        the arrays stop there.
    settled
        Not diverged and the error stayed within ``band``·max|e| of its final value over at
        least the last 20 % of the samples.
    settling_time
        Time after which the error stays in that band (inf when it does not settle).
    overshoot
        Peak of the output above the final reference, in percent of the reference (step
        responses; 0 when the output never exceeds it).
    steady_state_error
        The last error sample.
    predicted_stable
        Jury's verdict on the loop, for comparison.
    """

    __repr__ = summary_repr

    t: np.ndarray
    reference: np.ndarray
    disturbance: np.ndarray
    output: np.ndarray
    control: np.ndarray
    error: np.ndarray
    diverged: bool
    diverged_at: int | None
    settled: bool
    settling_time: float
    overshoot: float
    steady_state_error: float
    predicted_stable: bool


def _signal(name: str, value: Any, n: int) -> np.ndarray:
    arr = check_finite(name, value)
    if arr.ndim == 0:
        return np.full(n, float(arr))
    if arr.shape != (n,):
        raise ValueError(f"{name} must be a scalar or have shape ({n},), got {arr.shape}")
    return arr.astype(float)


def simulate_closed_loop(plant: Any, controller: Any, steps: int, *,
                         reference: ArrayLike = 1.0, disturbance: ArrayLike = 0.0,
                         band: float = 0.02, divergence_threshold: float = 1e6
                         ) -> ClosedLoopResponse:
    r"""Simulate e = r − y, u = C e, y = G u + d sample by sample (difference equations).

    Algebraic loops (both C and G biproper) are solved exactly at each sample. The run stops
    when |y| or |u| exceeds ``divergence_threshold``·(1 + max|r| + max|d|) and says so.

    >>> res = simulate_closed_loop(first_order_plant(0.9, 0.5), pi_controller(0.4, 0.2), 200)
    >>> res.settled, round(res.steady_state_error, 6)
    (True, 0.0)
    """
    g = _tf_parts(plant, "plant")
    c = _tf_parts(controller, "controller")
    _same_dt(g.dt, c.dt, "the plant", "the controller")
    n = check_int("steps", steps, minimum=1)
    r = _signal("reference", reference, n)
    d = _signal("disturbance", disturbance, n)
    band = float(check_in_interval("band", check_scalar("band", band), 0.0, 1.0, low_closed=False))
    thr = float(check_positive("divergence_threshold", check_scalar("divergence_threshold", divergence_threshold)))
    thr *= 1.0 + float(np.max(np.abs(r))) + float(np.max(np.abs(d)))
    gn, gd, cn, cd = g.num, g.den, c.num, c.den
    ng, nc = g.order, c.order
    loop0 = 1.0 + gn[0] * cn[0]
    if abs(loop0) <= _ILL_POSED_RTOL * (1.0 + abs(gn[0] * cn[0])):
        raise ValueError("the closed loop is ill-posed: 1 + C(∞)G(∞) = 0")
    yp = np.zeros(n)
    u = np.zeros(n)
    e = np.zeros(n)
    diverged_at = None
    for k in range(n):
        yfree = 0.0
        for i in range(1, ng + 1):
            if k - i < 0:
                break
            yfree += -gd[i] * yp[k - i] + gn[i] * u[k - i]
        ufree = 0.0
        for i in range(1, nc + 1):
            if k - i < 0:
                break
            ufree += -cd[i] * u[k - i] + cn[i] * e[k - i]
        ek = (r[k] - d[k] - yfree - gn[0] * ufree) / loop0
        uk = ufree + cn[0] * ek
        yk = yfree + gn[0] * uk
        e[k], u[k], yp[k] = ek, uk, yk
        if not (abs(yk) < thr and abs(uk) < thr):
            diverged_at = k
            break
    m = n if diverged_at is None else diverged_at + 1
    y = yp[:m] + d[:m]
    err = e[:m]
    t = np.arange(m) * g.dt
    diverged = diverged_at is not None
    scale = float(np.max(np.abs(err))) if m else 0.0
    settle_idx = m
    if not diverged and m:
        dev = np.abs(err - err[-1]) > band * max(scale, 1e-300)
        idx = np.flatnonzero(dev)
        settle_idx = 0 if idx.size == 0 else int(idx[-1] + 1)
    settled = (not diverged) and settle_idx <= int(0.8 * m)
    settling_time = float(t[settle_idx]) if settled else math.inf
    rf = r[m - 1]
    overshoot = 0.0
    if rf != 0 and m:
        peak = float(np.max((y - rf) * np.sign(rf)))
        overshoot = max(0.0, 100.0 * peak / abs(float(rf)))
    chi = characteristic_polynomial(plant, controller)
    return ClosedLoopResponse(t, r[:m], d[:m], y, u[:m], err, diverged, diverged_at, settled,
                              settling_time, overshoot, float(err[-1]), is_schur_stable(chi))


def step_response(plant: Any, controller: Any, steps: int = 100, *, amplitude: float = 1.0,
                  band: float = 0.02) -> ClosedLoopResponse:
    """Response to a reference step of ``amplitude`` at k = 0 (settling time, overshoot, error).

    >>> res = step_response(first_order_plant(0.9, 0.5), pi_controller(0.4, 0.2))
    >>> res.settled, round(float(res.overshoot), 1)
    (True, 24.2)
    """
    amp = check_scalar("amplitude", amplitude)
    return simulate_closed_loop(plant, controller, steps, reference=amp, band=band)


def ramp_disturbance_response(plant: Any, controller: Any, steps: int = 200, *,
                              slope: float = 0.01, band: float = 0.02) -> ClosedLoopResponse:
    r"""Response to an output-disturbance ramp d_k = slope·k·dt with r = 0.

    A ramp in log λ_max models progressive sharpening. With integral action the error tends
    to the constant :func:`predicted_ramp_error`.

    >>> res = ramp_disturbance_response(first_order_plant(0.9, 0.5), pi_controller(0.4, 0.2))
    >>> round(res.steady_state_error, 4), predicted_ramp_error(first_order_plant(0.9, 0.5),
    ...     pi_controller(0.4, 0.2), 0.01)
    (-0.01, -0.01)
    """
    s = check_scalar("slope", slope)
    g = _tf_parts(plant, "plant")
    n = check_int("steps", steps, minimum=1)
    d = s * np.arange(n) * g.dt
    return simulate_closed_loop(plant, controller, n, reference=0.0, disturbance=d, band=band)


def predicted_ramp_error(plant: Any, controller: Any, slope: float) -> float:
    r"""Steady-state error for an output ramp d = slope·t: e∞ = −slope·dt/K_v.

    K_v = lim_{z→1} (z − 1)·L(z) (the velocity constant; ki·dt·G(1) for every PI
    discretization), by the final-value theorem on E = −D/(1 + L) with
    D(z) = slope·dt·z/(z − 1)². No integrator: ±inf (the error grows); two or more: 0.

    >>> predicted_ramp_error(first_order_plant(0.9, 0.5), pi_controller(0.4, 0.2), 0.01)
    -0.01
    """
    s = check_scalar("slope", slope)
    g = _tf_parts(plant, "plant")
    c = _tf_parts(controller, "controller")
    _same_dt(g.dt, c.dt, "the plant", "the controller")
    loop = _TF(_strip(np.polymul(g.num, c.num)), np.polymul(g.den, c.den), g.dt)
    mpoles, kv = _integrator_gain(loop)
    if s == 0:
        return 0.0
    if mpoles == 0:
        return -math.copysign(math.inf, s)
    if mpoles >= 2:
        return 0.0
    if kv == 0:
        return -math.copysign(math.inf, s)
    return float(-s * g.dt / kv)


# ---------------------------------------------------------------------------------------
# The runtime controller
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PIConfig:
    """Validated configuration of a :class:`PIController`.

    Gains and setpoint finite; 0 < lr_min < lr_max; lr0 in [lr_min, lr_max]; dt > 0;
    ``method`` one of :data:`METHODS`.
    """

    kp: float
    ki: float
    setpoint: float
    lr0: float
    lr_min: float
    lr_max: float
    dt: float = 1.0
    method: str = "backward"

    def __post_init__(self) -> None:
        for name in ("kp", "ki", "setpoint"):
            object.__setattr__(self, name, check_scalar(name, getattr(self, name)))
        lr_min = check_scalar("lr_min", self.lr_min)
        lr_max = check_scalar("lr_max", self.lr_max)
        check_positive("lr_min", lr_min)
        if not lr_max > lr_min:
            raise ValueError(f"lr_max must be > lr_min = {lr_min:g}, got {lr_max:g}")
        lr0 = check_scalar("lr0", self.lr0)
        if not lr_min <= lr0 <= lr_max:
            raise ValueError(f"lr0 must lie in [lr_min, lr_max] = [{lr_min:g}, {lr_max:g}], got {lr0:g}")
        object.__setattr__(self, "lr_min", lr_min)
        object.__setattr__(self, "lr_max", lr_max)
        object.__setattr__(self, "lr0", lr0)
        object.__setattr__(self, "dt", _check_dt(self.dt))
        check_choice("method", self.method, METHODS)

    def transfer_function(self):
        """C(z) of these gains (:func:`pi_controller`)."""
        return pi_controller(self.kp, self.ki, self.dt, self.method)


class PIController:
    r"""A PI learning-rate scheduler: velocity form in log-lr space with clamping anti-windup.

    With e_k = setpoint − measurement_k and u = log η,

        u_k = clip(u_{k−1} + c1·e_k + c0·e_{k−1}, log lr_min, log lr_max),  u_{−1} = log lr0,
        e_{−1} = 0,

    where C(z) = (c1 z + c0)/(z − 1) is :func:`pi_controller` (backward Euler:
    Δu_k = kp·(e_k − e_{k−1}) + ki·dt·e_k). Working on log η keeps the rate positive and makes
    the gains act on relative changes. In velocity form the stored state is the output itself,
    so clamping it is the anti-windup: at a limit nothing accumulates, and the rate leaves the
    limit on the first sample whose correction points back inside. Between limits the
    controller is exactly C(z) acting on the error (tests check it against a simulation of
    C(z)).

    >>> ctl = PIController(kp=0.2, ki=0.5, setpoint=1.0, lr0=0.1, lr_min=1e-3, lr_max=1.0)
    >>> round(ctl.update(0.5), 6)          # error 0.5: Δlog η = (0.2 + 0.5)·0.5
    0.141907
    """

    def __init__(self, kp: float, ki: float, setpoint: float, lr0: float, lr_min: float,
                 lr_max: float, dt: float = 1.0, method: str = "backward") -> None:
        self.config = PIConfig(kp, ki, setpoint, lr0, lr_min, lr_max, dt, method)
        self._c1, self._c0 = _pi_coefficients(self.config.kp, self.config.ki, self.config.dt,
                                              self.config.method)
        self._lo = math.log(self.config.lr_min)
        self._hi = math.log(self.config.lr_max)
        self.reset()

    @classmethod
    def from_config(cls, config: PIConfig) -> PIController:
        """A controller with the settings of ``config``."""
        if not isinstance(config, PIConfig):
            raise TypeError(f"config must be a PIConfig, got {type(config).__name__}")
        return cls(config.kp, config.ki, config.setpoint, config.lr0, config.lr_min,
                   config.lr_max, config.dt, config.method)

    def reset(self) -> None:
        """Back to lr0 with no error history."""
        self._u = math.log(self.config.lr0)
        self._lr = self.config.lr0
        self._e_prev = 0.0
        self._n = 0
        self._saturated = False

    @property
    def lr(self) -> float:
        """The current learning rate."""
        return self._lr

    @property
    def saturated(self) -> bool:
        """Whether the last update hit lr_min or lr_max."""
        return self._saturated

    @property
    def n_updates(self) -> int:
        return self._n

    @property
    def dt(self) -> float:
        return self.config.dt

    def transfer_function(self):
        """C(z) of this controller (:func:`pi_controller`)."""
        return self.config.transfer_function()

    def update(self, measurement: float) -> float:
        """Take one measurement, return the learning rate for the next ``dt`` steps."""
        # A finite Python float needs no conversion (the per-step cost of torch's scheduler).
        y = (measurement if type(measurement) is float and math.isfinite(measurement)
             else check_scalar("measurement", measurement))
        e = self.config.setpoint - y
        u = self._u + self._c1 * e + self._c0 * self._e_prev
        if u <= self._lo:
            self._u, self._lr, self._saturated = self._lo, self.config.lr_min, True
        elif u >= self._hi:
            self._u, self._lr, self._saturated = self._hi, self.config.lr_max, True
        else:
            self._u, self._lr, self._saturated = u, math.exp(u), False
        self._e_prev = e
        self._n += 1
        return self._lr

    def state_dict(self) -> dict[str, Any]:
        """The configuration and the runtime state as plain Python numbers.

        Keys: the :class:`PIConfig` fields (``kp``, ``ki``, ``setpoint``, ``lr0``, ``lr_min``,
        ``lr_max``, ``dt``, ``method``) and the state ``u`` (= log η, the integrator of the
        velocity form), ``lr``, ``e_prev`` (the last error), ``n_updates`` and ``saturated``
        (the clamp). :meth:`load_state_dict` of any controller restores it exactly, so that
        ``torch.save`` / ``torch.load(weights_only=True)`` round-trip it.

        >>> a = PIController(0.2, 0.5, setpoint=1.0, lr0=0.1, lr_min=1e-3, lr_max=1.0)
        >>> _ = a.update(0.5)
        >>> b = PIController(0.0, 0.1, setpoint=2.0, lr0=0.5, lr_min=1e-2, lr_max=2.0)
        >>> b.load_state_dict(a.state_dict())
        >>> b.update(0.7) == a.update(0.7), b.config == a.config
        (True, True)
        """
        c = self.config
        return {"kp": c.kp, "ki": c.ki, "setpoint": c.setpoint, "lr0": c.lr0,
                "lr_min": c.lr_min, "lr_max": c.lr_max, "dt": c.dt, "method": c.method,
                "u": self._u, "lr": self._lr, "e_prev": self._e_prev, "n_updates": self._n,
                "saturated": self._saturated}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`: gains, setpoint, limits and the runtime state."""
        if not isinstance(state, dict):
            raise TypeError(f"state must be a dict from PIController.state_dict(), got {type(state).__name__}")
        keys = ("kp", "ki", "setpoint", "lr0", "lr_min", "lr_max", "dt", "method", "u", "lr",
                "e_prev", "n_updates", "saturated")
        missing = [k for k in keys if k not in state]
        if missing:
            raise ValueError(f"state is missing {missing}; expected the keys of PIController.state_dict()")
        config = PIConfig(*(state[k] for k in keys[:8]))
        u = check_scalar("state['u']", state["u"])
        lr = check_scalar("state['lr']", state["lr"])
        lo, hi = math.log(config.lr_min), math.log(config.lr_max)
        if not (lo <= u <= hi and config.lr_min <= lr <= config.lr_max):
            raise ValueError(f"state['u'] = {u:g} and state['lr'] = {lr:g} must lie within the "
                             f"limits [{config.lr_min:g}, {config.lr_max:g}] (u = log lr)")
        e_prev = check_scalar("state['e_prev']", state["e_prev"])
        n = check_int("state['n_updates']", state["n_updates"], minimum=0)
        if not isinstance(state["saturated"], bool):
            raise TypeError(f"state['saturated'] must be a bool, got {state['saturated']!r}")
        self.config = config
        self._c1, self._c0 = _pi_coefficients(config.kp, config.ki, config.dt, config.method)
        self._lo, self._hi = lo, hi
        self._u, self._lr, self._e_prev, self._n = u, lr, e_prev, n
        self._saturated = state["saturated"]

    def __repr__(self) -> str:
        c = self.config
        return (f"PIController(kp={c.kp:g}, ki={c.ki:g}, setpoint={c.setpoint:g}, lr={self.lr:.4g}, "
                f"limits=[{c.lr_min:g}, {c.lr_max:g}], dt={c.dt:g}, method={c.method!r})")
