r"""Learning rates in minimax games: gradient descent–ascent and its stabilized peers.

Model. A two-player zero-sum quadratic game

    f(x, y) = ½ xᵀPx + xᵀAy − ½ yᵀQy,      x ∈ ℝⁿ minimizes, y ∈ ℝᵐ maximizes,

with P (n×n) and Q (m×m) symmetric and A (n×m) arbitrary; the bilinear game f = xᵀAy is
P = Q = 0. The game's vector field is F(z) = (∇ₓf, −∇ᵧf) = V z with z = (x, y) and

    V = [[P, A], [−Aᵀ, Q]],

and each player steps with its own rate: D = diag(η_x I_n, η_y I_m). The methods
(``method=``):

- ``"simultaneous"`` GDA: z' = z − D V z (+ β(z − z_prev) with ``momentum`` β);
- ``"alternating"`` GDA: x' = x − η_x∇ₓf(x, y), then y' = y + η_y∇ᵧf(x', y) (each player
  with its own heavy-ball term β(· − ·_prev) when ``momentum`` β ≠ 0; Gidel et al. 2019,
  "Negative momentum for improved game dynamics", AISTATS, use β < 0);
- ``"extragradient"``: z_½ = z − D V z, z' = z − D V z_½ (Korpelevich 1976);
- ``"optimistic"`` GDA: z' = z − 2 D V z + D V z_prev (Daskalakis et al. 2018, "Training
  GANs with optimism", ICLR), started with z_prev = z_0.

Each is a linear recursion s' = M s on the quadratic game; its update matrix M
(:func:`update_matrix`) acts on z, or on (z, z_prev) for the methods with memory, and the
method converges to the equilibrium z = 0 iff the spectral radius ρ(M) < 1.

Bilinear games in closed form. With the SVD A = U Σ Vᵀ, the coordinates u = Uᵀx, v = Vᵀy
decouple into one 1-D game per singular value σ, and every method's spectral radius depends on
p = η_x η_y σ² only (:func:`block_spectral_radius`, derivations in
:func:`derive_bilinear_spectral_radius`):

================  ============================================  ===========================
method            ρ per singular value                          regime
================  ============================================  ===========================
simultaneous      √(1 + p)                                      diverges for every p > 0
alternating       1 for p ≤ 4; (p − 2 + √(p² − 4p))/2 above     cycles for 0 < p < 4
extragradient     √(1 − p + p²)                                 converges for 0 < p < 1
optimistic        max |(1 + 2i√p ± √(1 − 4p))/2|                converges for 0 < p < 1/3
================  ============================================  ===========================

Alternating GDA on a bilinear game conserves the modified energy

    E(x, y) = ‖x‖²/η_x + ‖y‖²/η_y − xᵀAy     (:func:`alternating_energy`,
                                               :func:`derive_alternating_invariant`),

a positive-definite quadratic form exactly when η_x η_y σ_max² < 4, so the iterates stay on a
bounded ellipse: the game cycles instead of converging.

A real check (:class:`DiracGAN`): the Dirac-GAN of Mescheder, Geiger and Nowozin (2018,
"Which training methods for GANs actually converge?", ICML), whose linearization at the
equilibrium is the quadratic game P = 0, A = f'(0) = ½, Q = γ (γ the R1 penalty weight).

Symbols: ``eta_x``, ``eta_y`` the two step sizes, ``sigma`` a singular value of A, ``beta``
the momentum, ``z`` the eigenvalue variable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from lrctl._validation import (
    as_rng,
    check_bool,
    check_choice,
    check_finite,
    check_in_interval,
    check_int,
    check_output,
    check_positive,
    check_scalar,
)
from lrctl.training import Divergence

__all__ = [
    "CONVERGES",
    "CYCLES",
    "DIVERGES",
    "METHODS",
    "REGIMES",
    "DiracGAN",
    "GameTrajectory",
    "QuadraticGame",
    "RegimeMap",
    "SimulatedRegimes",
    "alternating_energy",
    "alternating_energy_form",
    "bilinear_spectral_radius",
    "block_spectral_radius",
    "derive_alternating_invariant",
    "derive_bilinear_spectral_radius",
    "game_spectral_radius",
    "gda_spectral_radius",
    "momentum_regime_map",
    "regime",
    "regime_map",
    "simulate",
    "simulate_regimes",
    "update_matrix",
]

#: The methods every function here understands.
METHODS: tuple[str, ...] = ("simultaneous", "alternating", "extragradient", "optimistic")
#: Regime names, indexed by the integer codes that :func:`regime` returns.
REGIMES: tuple[str, ...] = ("converges", "cycles", "diverges")
CONVERGES, CYCLES, DIVERGES = 0, 1, 2

#: Default tolerance on |ρ − 1| under which a point counts as cycling. Over 10⁴ steps a
#: spectral radius 1 ± 10⁻⁶ changes the norm by a factor of at most e^{±0.01}.
DEFAULT_TOL = 1e-6

# Largest number of matrix entries handed to one batched eigvals call (bounds memory).
_EIG_CHUNK_ENTRIES = 2_000_000


# ---------------------------------------------------------------------------------------
# Argument checks
# ---------------------------------------------------------------------------------------


def _method(method: Any, momentum: Any) -> tuple[str, np.ndarray]:
    check_choice("method", method, METHODS)
    beta = check_in_interval("momentum", momentum, -1.0, 1.0, low_closed=False, high_closed=False)
    if method in ("extragradient", "optimistic") and np.any(beta != 0):
        raise ValueError(
            f"momentum applies to 'simultaneous' and 'alternating' only; got momentum="
            f"{momentum!r} with method={method!r} (use momentum=0.0)"
        )
    return method, beta


def _matrix(name: str, value: Any) -> np.ndarray:
    arr = check_finite(name, value)
    if arr.ndim == 0:
        arr = arr.reshape(1, 1)
    if arr.ndim != 2 or arr.size == 0:
        raise ValueError(
            f"{name} must be a non-empty 2-D matrix (or a scalar for a 1-D game), "
            f"got an array of shape {arr.shape}"
        )
    return arr


def _symmetric(name: str, value: Any, size: int) -> np.ndarray:
    if value is None:
        return np.zeros((size, size))
    arr = _matrix(name, value)
    if arr.shape != (size, size):
        raise ValueError(f"{name} must have shape ({size}, {size}) to match A, got {arr.shape}")
    scale = max(float(np.abs(arr).max()), 1e-300)
    if not np.allclose(arr, arr.T, rtol=0.0, atol=1e-12 * scale):
        raise ValueError(f"{name} must be symmetric (a Hessian block); got a non-symmetric matrix")
    return 0.5 * (arr + arr.T)


def _lrs(lr_x: ArrayLike, lr_y: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    ex = check_positive("lr_x", lr_x)
    ey = check_positive("lr_y", lr_y)
    try:
        return tuple(np.broadcast_arrays(ex, ey))  # type: ignore[return-value]
    except ValueError as exc:
        raise ValueError(
            f"lr_x and lr_y must broadcast together, got shapes {ex.shape} and {ey.shape}"
        ) from exc


def _out(arr: np.ndarray) -> np.ndarray | float:
    return float(arr) if arr.ndim == 0 else arr


def _broadcast(**arrays: np.ndarray) -> list[np.ndarray]:
    """np.broadcast_arrays, with a message naming the arguments that do not broadcast."""
    try:
        return list(np.broadcast_arrays(*arrays.values()))
    except ValueError as exc:
        shapes = ", ".join(f"{k} {np.shape(v)}" for k, v in arrays.items())
        raise ValueError(f"{' and '.join(arrays)} must broadcast together; got shapes {shapes}"
                         ) from exc


def _point(name: str, value: Any, size: int) -> np.ndarray:
    """A finite player position of shape (..., size); a scalar is accepted when size is 1."""
    arr = check_finite(name, value)
    if arr.ndim == 0 and size == 1:
        arr = arr.reshape(1)
    if arr.ndim == 0 or arr.shape[-1] != size:
        raise ValueError(f"{name} must have shape (..., {size}) (a batch of {size}-vectors), "
                         f"got shape {arr.shape}")
    return arr


def _pair(game: Any, x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    x = _point("x", x, game.n)
    y = _point("y", y, game.m)
    try:
        np.broadcast_shapes(x.shape[:-1], y.shape[:-1])
    except ValueError as exc:
        raise ValueError(f"the batch shapes of x {x.shape} and y {y.shape} must broadcast") from exc
    return x, y


def _checked(oracle: Callable[[np.ndarray, np.ndarray], np.ndarray], x: np.ndarray,
             y: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        out = oracle(x, y)
    return check_output(out, "x and y (the gradient overflows)")


#: The default rule of this module's simulations (a frozen value, safe to share).
_GAME_DIVERGENCE = Divergence(factor=1e6)


def _divergence(divergence: Any) -> Divergence:
    """The rule of a ``divergence`` argument, applied here to the distance ‖z_t‖ to the
    equilibrium (the quantity; reference ``"initial"``, window 1)."""
    if not isinstance(divergence, Divergence):
        raise TypeError(f"divergence must be an lrctl.training.Divergence, got {divergence!r}")
    if divergence.reference != "initial" or divergence.window != 1:
        raise ValueError("divergence must use reference='initial' and window=1 here (a bound "
                         f"on ‖(x, y)‖ against the start), got {divergence!r}")
    return divergence


def _norm(*parts: np.ndarray) -> float:
    """‖(parts)‖ without overflowing the squares of huge entries."""
    z = np.concatenate([np.ravel(p) for p in parts])
    s = float(np.abs(z).max()) if z.size else 0.0
    return 0.0 if s == 0.0 else s * float(np.sqrt(np.sum((z / s) ** 2)))


# ---------------------------------------------------------------------------------------
# Games
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)  # holds arrays: compare fields explicitly
class QuadraticGame:
    r"""The quadratic game f(x, y) = ½xᵀPx + xᵀAy − ½yᵀQy (x minimizes, y maximizes).

    ``A`` is n×m (a scalar makes a 1-D game); ``P`` (n×n) and ``Q`` (m×m) are symmetric and
    default to zero (the bilinear game). Convex–concave when P, Q ⪰ 0, but indefinite blocks
    are accepted: the spectral analysis holds for any symmetric P, Q.

    >>> g = QuadraticGame(A=[[1.0, 0.0], [0.0, 2.0]])
    >>> g.n, g.m, g.is_bilinear
    (2, 2, True)
    >>> g.grad(np.array([1.0, 1.0]), np.array([1.0, 0.0]))
    (array([1., 0.]), array([1., 2.]))
    """

    A: np.ndarray
    P: np.ndarray | None = None
    Q: np.ndarray | None = None

    def __post_init__(self) -> None:
        A = _matrix("A", self.A)
        object.__setattr__(self, "A", A)
        object.__setattr__(self, "P", _symmetric("P", self.P, A.shape[0]))
        object.__setattr__(self, "Q", _symmetric("Q", self.Q, A.shape[1]))
        # Cached for the gradient oracle (hot loop of the simulations).
        object.__setattr__(self, "_At", np.ascontiguousarray(A.T))
        object.__setattr__(self, "_P0", not np.any(self.P))
        object.__setattr__(self, "_Q0", not np.any(self.Q))

    @classmethod
    def bilinear(cls, A: ArrayLike) -> QuadraticGame:
        """The bilinear game f = xᵀAy."""
        return cls(A=A)

    @property
    def n(self) -> int:
        """Dimension of the minimizing player x."""
        return int(self.A.shape[0])

    @property
    def m(self) -> int:
        """Dimension of the maximizing player y."""
        return int(self.A.shape[1])

    @property
    def is_bilinear(self) -> bool:
        return not (np.any(self.P) or np.any(self.Q))

    @property
    def vector_field(self) -> np.ndarray:
        """V = [[P, A], [−Aᵀ, Q]]: F(z) = (∇ₓf, −∇ᵧf) = V z."""
        return np.block([[self.P, self.A], [-self.A.T, self.Q]])

    def value(self, x: ArrayLike, y: ArrayLike) -> np.ndarray | float:
        """f(x, y), batched over leading axes of x (…, n) and y (…, m)."""
        x, y = _pair(self, x, y)
        with np.errstate(over="ignore", invalid="ignore"):
            out = (0.5 * np.einsum("...i,ij,...j->...", x, self.P, x)
                   + np.einsum("...i,ij,...j->...", x, self.A, y)
                   - 0.5 * np.einsum("...i,ij,...j->...", y, self.Q, y))
        return _out(np.asarray(check_output(out, "x and y (f(x, y) overflows)")))

    def grad(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(∇ₓf, ∇ᵧf) = (Px + Ay, Aᵀx − Qy), batched over leading axes."""
        x, y = _pair(self, x, y)
        return _checked(self._grad_x, x, y), _checked(self._grad_y, x, y)

    def grad_x(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """∇ₓf = Px + Ay (P, A, Q are symmetric-checked, so xP = Px row-wise)."""
        return _checked(self._grad_x, *_pair(self, x, y))

    def grad_y(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """∇ᵧf = Aᵀx − Qy."""
        return _checked(self._grad_y, *_pair(self, x, y))

    # Unchecked oracles for the simulation loops (inputs checked at the door; a run whose
    # values overflow stops as diverged).
    def _grad_x(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        gx = y @ self._At
        return gx if self._P0 else gx + x @ self.P

    def _grad_y(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        gy = x @ self.A
        return gy if self._Q0 else gy - y @ self.Q


@dataclass(frozen=True)
class DiracGAN:
    r"""The Dirac-GAN (Mescheder, Geiger & Nowozin 2018), optionally with the R1 penalty.

    The generator is a point mass at θ (= x, minimizing), the discriminator D_ψ(t) = ψt
    (ψ = y, maximizing), the data a point mass at 0. With the standard GAN loss
    f(t) = −log(1 + e^{−t}) the game is

        L(θ, ψ) = f(θψ) + f(0) − (γ/2) ψ²,

    where (γ/2)ψ² is the R1 gradient penalty (γ/2)‖∇D_ψ‖² at the data. Gradients:
    ∇_θL = f'(θψ)ψ and ∇_ψL = f'(θψ)θ − γψ with f'(t) = 1/(1 + eᵗ). The unique
    equilibrium is (0, 0); its linearization (:meth:`linearization`) is the quadratic game
    P = 0, A = f'(0) = ½, Q = γ.

    >>> gan = DiracGAN(gamma=0.0)
    >>> gan.linearization().A
    array([[0.5]])
    """

    gamma: float = 0.0

    def __post_init__(self) -> None:
        g = check_scalar("gamma", self.gamma)
        if g < 0:
            raise ValueError(f"gamma (the R1 penalty weight) must be >= 0, got {g}")
        object.__setattr__(self, "gamma", g)

    n = 1
    m = 1

    def value(self, x: ArrayLike, y: ArrayLike) -> np.ndarray | float:
        """L(θ, ψ), batched over leading axes of x (…, 1) and y (…, 1)."""
        x, y = _pair(self, x, y)
        with np.errstate(over="ignore", invalid="ignore"):
            t = x[..., 0] * y[..., 0]
            out = -np.logaddexp(0.0, -t) - np.log(2.0) - 0.5 * self.gamma * y[..., 0] ** 2
        return _out(np.asarray(check_output(out, "x and y (L(θ, ψ) overflows)")))

    def grad(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(∇_θL, ∇_ψL) = (f'(θψ)ψ, f'(θψ)θ − γψ), batched over leading axes."""
        x, y = _pair(self, x, y)
        return _checked(self._grad_x, x, y), _checked(self._grad_y, x, y)

    def grad_x(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """∇_θL = f'(θψ)ψ."""
        return _checked(self._grad_x, *_pair(self, x, y))

    def grad_y(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """∇_ψL = f'(θψ)θ − γψ."""
        return _checked(self._grad_y, *_pair(self, x, y))

    def _grad_x(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return _expit(-(x * y)) * y  # f'(t) = 1/(1 + e^t), t = θψ; (…, 1) arrays

    def _grad_y(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return _expit(-(x * y)) * x - self.gamma * y

    def linearization(self) -> QuadraticGame:
        """The quadratic game with the same Jacobian at the equilibrium (0, 0):
        P = f''(0)·0 = 0, A = f'(0) = ½, Q = γ."""
        return QuadraticGame(A=np.array([[0.5]]), P=np.zeros((1, 1)),
                             Q=np.array([[self.gamma]]))


def _expit(t: np.ndarray) -> np.ndarray:
    """The logistic function 1/(1 + e^{−t}), without overflow warnings for large |t|."""
    from scipy.special import expit

    return expit(t)


def _as_game(game: Any) -> Any:
    if isinstance(game, (QuadraticGame, DiracGAN)):
        return game
    if hasattr(game, "grad") and hasattr(game, "n") and hasattr(game, "m"):
        return game
    raise TypeError(
        "game must be a QuadraticGame, a DiracGAN, or an object with grad(x, y), n and m; "
        f"got {type(game).__name__}"
    )


# ---------------------------------------------------------------------------------------
# Update matrices and spectral radii of general quadratic games
# ---------------------------------------------------------------------------------------


def _update_stack(game: QuadraticGame, ex: np.ndarray, ey: np.ndarray, method: str,
                  beta: np.ndarray, memory: bool) -> np.ndarray:
    """Update matrices for flat arrays ex, ey, beta (length G): shape (G, d, d).

    ``memory`` selects the (z, z_prev) state layout (d = 2(n + m)); it is forced for the
    optimistic method and must be set for momentum β ≠ 0.
    """
    n, m = game.n, game.m
    d = n + m
    G = ex.shape[0]
    V = game.vector_field
    lrvec = np.concatenate([np.repeat(ex[:, None], n, 1), np.repeat(ey[:, None], m, 1)], 1)
    DV = lrvec[:, :, None] * V[None]  # (G, d, d)
    eye = np.broadcast_to(np.eye(d), (G, d, d))
    zero = np.zeros((G, d, d))
    b = beta[:, None, None]
    if method == "extragradient":
        return eye - DV + DV @ DV
    if method == "optimistic":
        return np.concatenate([np.concatenate([eye - 2 * DV, DV], 2),
                               np.concatenate([eye, zero], 2)], 1)
    if method == "simultaneous":
        if not memory:
            return eye - DV
        return np.concatenate([np.concatenate([(1 + b) * eye - DV, -b * eye], 2),
                               np.concatenate([eye, zero], 2)], 1)
    # alternating: x' = (K + βI)x − η_x A y − βx_p,  y' = y + η_y(Aᵀx' − Qy) + β(y − y_p)
    In, Im = np.eye(n), np.eye(m)
    exb, eyb = ex[:, None, None], ey[:, None, None]
    At = game.A.T
    Kb = In - exb * game.P + b * In  # (G, n, n)
    x_row = [Kb, -exb * game.A]
    y_row = [eyb * (At @ Kb), (1 + b) * Im - eyb * game.Q - exb * eyb * (At @ game.A)]
    if not memory:
        return np.concatenate([np.concatenate(x_row, 2), np.concatenate(y_row, 2)], 1)
    x_row += [-b * In, np.zeros((G, n, m))]
    y_row += [-eyb * b * At, -b * Im]
    return np.concatenate([np.concatenate(x_row, 2), np.concatenate(y_row, 2),
                           np.concatenate([eye, zero], 2)], 1)


def _needs_memory(method: str, beta: np.ndarray) -> bool:
    return method == "optimistic" or (method != "extragradient" and bool(np.any(beta != 0)))


def update_matrix(game: QuadraticGame, lr_x: ArrayLike, lr_y: ArrayLike, *,
                  method: str = "simultaneous", momentum: ArrayLike = 0.0) -> np.ndarray:
    r"""The update matrix M of one step of ``method`` on a quadratic game: s' = M s.

    The state s is z = (x, y) (size n + m) for simultaneous and alternating GDA without
    momentum and for extragradient, and (z, z_prev) (size 2(n + m)) for optimistic GDA and
    for GDA with momentum. With V the game's vector field and D = diag(η_x I, η_y I):

    - simultaneous: I − DV; with momentum [[(1 + β)I − DV, −βI], [I, 0]];
    - alternating: [[K, −η_x A], [η_y AᵀK, I − η_y Q − η_xη_y AᵀA]], K = I − η_x P (and its
      extension with each player's heavy-ball term when β ≠ 0);
    - extragradient: I − DV + (DV)²;
    - optimistic: [[I − 2DV, DV], [I, 0]].

    Broadcasts over ``lr_x``, ``lr_y`` and ``momentum``: the result has shape
    ``broadcast_shape + (d, d)``.

    >>> M = update_matrix(QuadraticGame(A=1.0), 0.5, 0.5, method="alternating")
    >>> M
    array([[ 1.  , -0.5 ],
           [ 0.5 ,  0.75]])
    >>> round(float(np.linalg.det(M)), 12)   # alternating GDA on a bilinear game preserves area
    1.0
    """
    if not isinstance(game, QuadraticGame):
        raise TypeError(f"game must be a QuadraticGame, got {type(game).__name__}")
    method, beta = _method(method, momentum)
    ex, ey = _lrs(lr_x, lr_y)
    ex, ey, beta = _broadcast(lr_x=ex, lr_y=ey, momentum=beta)
    with np.errstate(over="ignore", invalid="ignore"):
        stack = _update_stack(game, ex.ravel(), ey.ravel(), method, beta.ravel(),
                              _needs_memory(method, beta))
    check_output(stack, "lr_x, lr_y and the game's matrices (the update matrix overflows)")
    return stack.reshape(*ex.shape, *stack.shape[1:])


def _batched_radius(build: Callable[[slice], np.ndarray], total: int, d: int,
                    inputs: str = "lr_x and lr_y") -> np.ndarray:
    chunk = max(1, _EIG_CHUNK_ENTRIES // (d * d))
    out = np.empty(total)
    for start in range(0, total, chunk):
        sl = slice(start, min(total, start + chunk))
        with np.errstate(over="ignore", invalid="ignore"):
            M = build(sl)
        check_output(M, f"{inputs} (the update matrix overflows)")
        out[sl] = np.abs(np.linalg.eigvals(M)).max(axis=-1)
    return out


def game_spectral_radius(game: QuadraticGame, lr_x: ArrayLike, lr_y: ArrayLike, *,
                         method: str = "simultaneous", momentum: ArrayLike = 0.0
                         ) -> np.ndarray | float:
    r"""ρ(M): the spectral radius of the update matrix of ``method`` on a quadratic game.

    Computed from the eigenvalues of the full update matrix (:func:`update_matrix`), batched
    over the broadcast grid of ``lr_x``, ``lr_y``, ``momentum`` (one ``numpy.linalg.eigvals``
    call on a stack of matrices per chunk, no Python loop over grid points). The method
    converges to the equilibrium iff ρ < 1. For bilinear games the closed form
    :func:`bilinear_spectral_radius` gives the same numbers faster.

    >>> game = QuadraticGame(A=1.0, P=0.5, Q=0.5)
    >>> round(float(game_spectral_radius(game, 0.5, 0.5)), 6)   # |1 − ½(½ ± i)| = √(9/16 + 1/4)
    0.901388
    """
    if not isinstance(game, QuadraticGame):
        raise TypeError(f"game must be a QuadraticGame, got {type(game).__name__}")
    method, beta = _method(method, momentum)
    ex, ey = _lrs(lr_x, lr_y)
    ex, ey, beta = _broadcast(lr_x=ex, lr_y=ey, momentum=beta)
    fx, fy, fb = ex.ravel(), ey.ravel(), beta.ravel()
    memory = _needs_memory(method, beta)
    d = (game.n + game.m) * (2 if memory else 1)
    rho = _batched_radius(lambda sl: _update_stack(game, fx[sl], fy[sl], method, fb[sl], memory),
                          fx.size, d)
    return _out(rho.reshape(ex.shape))


# ---------------------------------------------------------------------------------------
# Bilinear games in closed form
# ---------------------------------------------------------------------------------------


def _quadratic_root_radius(c: np.ndarray, c0: np.ndarray) -> np.ndarray:
    """max |root| of z² − c z + c0 (complex coefficients), vectorized."""
    disc = np.sqrt(c * c - 4.0 * c0)
    return np.maximum(np.abs(c + disc), np.abs(c - disc)) / 2.0


def block_spectral_radius(sigma: ArrayLike, lr_x: ArrayLike, lr_y: ArrayLike, *,
                          method: str = "simultaneous", momentum: ArrayLike = 0.0
                          ) -> np.ndarray | float:
    r"""Spectral radius of ``method`` on the 1-D bilinear game f = σxy, in closed form.

    With p = η_x η_y σ² (derivations: :func:`derive_bilinear_spectral_radius`):

    - simultaneous: √(1 + p); with momentum β the larger root modulus of
      z² − (1 + β + i√p) z + β (the block's quartic factors into this and its conjugate);
    - alternating: the roots of λ² − (2 − p)λ + 1, so 1 for p ≤ 4 and (p − 2 + √(p² − 4p))/2
      for p > 4; with momentum β the largest root of the quartic
      (z − 1)²(z − β)² + p z³ (batched companion-matrix eigenvalues, 4×4);
    - extragradient: √(1 − p + p²);
    - optimistic: the larger of |(1 + 2i√p ± √(1 − 4p))/2|.

    σ ≥ 0; broadcasts over ``sigma``, ``lr_x``, ``lr_y`` and ``momentum``.

    >>> block_spectral_radius(1.0, 0.5, 0.5, method="extragradient")   # √(1 − ¼ + 1/16)
    0.9013878188659973
    >>> block_spectral_radius(1.0, [3.0, 5.0], 1.0, method="alternating")
    array([1.        , 2.61803399])
    """
    method, beta = _method(method, momentum)
    sig = check_positive("sigma", sigma, allow_zero=True)
    ex, ey = _lrs(lr_x, lr_y)
    sig, ex, ey, beta = _broadcast(sigma=sig, lr_x=ex, lr_y=ey, momentum=beta)
    with np.errstate(over="ignore", invalid="ignore"):
        rho = _block_radius(sig, ex, ey, beta, method)
    return _out(np.asarray(check_output(np.asarray(rho, dtype=float),
                                        "sigma, lr_x and lr_y (η_xη_yσ² overflows)")))


def _block_radius(sig: np.ndarray, ex: np.ndarray, ey: np.ndarray, beta: np.ndarray,
                  method: str) -> np.ndarray:
    p = ex * ey * sig**2  # exact where it fits: the double roots at p = 1/4, 4 need it
    # √p stays finite where p overflows (huge σ): hypot(1, √p) below does not need p itself
    sqrt_p = np.where(np.isfinite(p), np.sqrt(p), np.sqrt(ex) * np.sqrt(ey) * sig)
    if method == "simultaneous":
        if not np.any(beta != 0):
            rho = np.hypot(1.0, sqrt_p)  # √(1 + p) without overflowing p
        else:
            rho = _quadratic_root_radius(1.0 + beta + 1j * np.sqrt(p), beta.astype(complex))
    elif method == "extragradient":
        rho = np.sqrt(1.0 - p + p * p)
    elif method == "optimistic":
        s = np.sqrt(p)
        r = np.sqrt((1.0 - 4.0 * p).astype(complex))
        rho = np.maximum(np.abs(1 + 2j * s + r), np.abs(1 + 2j * s - r)) / 2.0
    elif not np.any(beta != 0):  # alternating, no momentum
        over = np.maximum(p - 4.0, 0.0)
        rho = np.where(p > 4.0, (p - 2.0 + np.sqrt(over * p)) / 2.0, 1.0)
    else:  # alternating with momentum: quartic z⁴ + c3 z³ + c2 z² + c1 z + c0
        c3 = p - 2.0 * (1.0 + beta)
        c2 = beta**2 + 4.0 * beta + 1.0
        c1 = -2.0 * beta * (1.0 + beta)
        c0 = beta**2
        flat = [a.ravel() for a in (c3, c2, c1, c0)]
        G = flat[0].size
        comp = np.zeros((G, 4, 4))
        comp[:, 0, :] = -np.stack(flat, axis=1)
        comp[:, 1, 0] = comp[:, 2, 1] = comp[:, 3, 2] = 1.0
        rho = _batched_radius(lambda sl: comp[sl], G, 4,
                              "sigma, lr_x and lr_y").reshape(p.shape)
    return rho


def _singular_values(A: Any) -> tuple[np.ndarray, bool]:
    A = _matrix("A", A)
    scale = max(float(np.abs(A).max()), np.finfo(float).tiny)
    sv = np.linalg.svd(A / scale, compute_uv=False) * scale  # scaled: huge entries do not overflow
    # Directions outside the rank-min(n, m) SVD blocks (n ≠ m) are left unchanged: ρ = 1 there.
    return sv, A.shape[0] != A.shape[1]


def bilinear_spectral_radius(A: ArrayLike, lr_x: ArrayLike, lr_y: ArrayLike, *,
                             method: str = "simultaneous", momentum: ArrayLike = 0.0,
                             per_singular_value: bool = False) -> np.ndarray | float:
    r"""Spectral radius of ``method`` on the bilinear game f = xᵀAy, exactly, per singular value.

    The SVD A = UΣVᵀ splits the update into one 2×2 block (4×4 with memory) per singular value
    σ_k; :func:`block_spectral_radius` gives each block's radius in closed form. The radius of
    the full update matrix is the largest over blocks, and at least 1 when A is not square (the
    extra directions of the larger player do not move). Broadcasts over ``lr_x``, ``lr_y``,
    ``momentum``; with ``per_singular_value=True`` the result has a trailing axis of length
    min(n, m), one radius per singular value in descending order.

    >>> A = np.diag([2.0, 1.0])
    >>> bilinear_spectral_radius(A, 0.1, 0.1, method="extragradient", per_singular_value=True)
    array([0.98061205, 0.99503769])
    """
    sv, rectangular = _singular_values(A)
    per_singular_value = check_bool("per_singular_value", per_singular_value)
    method, beta = _method(method, momentum)
    ex, ey = _lrs(lr_x, lr_y)
    ex, ey, beta = _broadcast(lr_x=ex, lr_y=ey, momentum=beta)
    rho = block_spectral_radius(sv, ex[..., None], ey[..., None], method=method,
                                momentum=beta[..., None])
    rho = np.asarray(rho)
    if per_singular_value:
        return rho
    full = rho.max(axis=-1)
    if rectangular:
        full = np.maximum(full, 1.0)
    return _out(full)


def gda_spectral_radius(A: ArrayLike, lr_x: ArrayLike, lr_y: ArrayLike, alternating: bool = False,
                        *, per_singular_value: bool = False) -> np.ndarray | float:
    r"""Spectral radius of simultaneous or alternating GDA on f = xᵀAy, per singular value σ.

    With p = η_xη_yσ²: simultaneous ρ = √(1 + p) > 1 for every positive step (it diverges);
    alternating ρ = 1 for p ≤ 4 (it cycles, conserving :func:`alternating_energy`) and
    (p − 2 + √(p² − 4p))/2 > 1 for p > 4. Exact, vectorized over grids of (η_x, η_y); see
    :func:`bilinear_spectral_radius` for the other methods and ``per_singular_value``.

    >>> gda_spectral_radius([[1.0]], 0.75, 1.0)               # √(1 + 0.75)
    1.3228756555322954
    >>> gda_spectral_radius([[1.0]], [1.0, 5.0], 1.0, alternating=True)
    array([1.        , 2.61803399])
    """
    alternating = check_bool("alternating", alternating)
    return bilinear_spectral_radius(A, lr_x, lr_y,
                                    method="alternating" if alternating else "simultaneous",
                                    per_singular_value=per_singular_value)


def regime(spectral_radius: ArrayLike, tol: float = DEFAULT_TOL) -> np.ndarray | int:
    r"""The regime code of each spectral radius: 0 converges (ρ < 1 − tol), 1 cycles
    (|ρ − 1| ≤ tol), 2 diverges (ρ > 1 + tol). Names in :data:`REGIMES`.

    A radius of exactly 1 with a defective eigenvalue (alternating GDA at p = 4 exactly, a
    Jordan block at −1) grows linearly, not geometrically; that boundary has measure zero on
    any grid and is reported as cycling here.

    >>> regime([0.5, 1.0, 1.0 + 1e-9, 1.5])
    array([0, 1, 1, 2], dtype=int8)
    >>> REGIMES[regime(1.2)]
    'diverges'
    """
    rho = check_positive("spectral_radius", spectral_radius, allow_zero=True)
    t = check_scalar("tol", tol)
    if t < 0:
        raise ValueError(f"tol must be >= 0, got {t}")
    code = np.where(rho < 1.0 - t, CONVERGES, np.where(rho > 1.0 + t, DIVERGES, CYCLES))
    code = code.astype(np.int8)
    return int(code) if code.ndim == 0 else code


# ---------------------------------------------------------------------------------------
# The conserved quantity of alternating GDA
# ---------------------------------------------------------------------------------------


def alternating_energy_form(A: ArrayLike, lr_x: float, lr_y: float) -> np.ndarray:
    r"""The symmetric matrix W with E(z) = zᵀWz = ‖x‖²/η_x + ‖y‖²/η_y − xᵀAy.

    W = [[I/η_x, −A/2], [−Aᵀ/2, I/η_y]]. It is positive definite iff η_xη_yσ_max² < 4, and
    then an alternating-GDA orbit started at z₀ stays inside ‖z‖² ≤ E(z₀)/λ_min(W).

    >>> alternating_energy_form(1.0, 1.0, 1.0)
    array([[ 1. , -0.5],
           [-0.5,  1. ]])
    """
    A = _matrix("A", A)
    ex = check_scalar("lr_x", lr_x)
    ey = check_scalar("lr_y", lr_y)
    check_positive("lr_x", ex)
    check_positive("lr_y", ey)
    n, m = A.shape
    return np.block([[np.eye(n) / ex, -A / 2], [-A.T / 2, np.eye(m) / ey]])


def alternating_energy(A: ArrayLike, x: ArrayLike, y: ArrayLike, lr_x: float, lr_y: float
                       ) -> np.ndarray | float:
    r"""E(x, y) = ‖x‖²/η_x + ‖y‖²/η_y − xᵀAy, conserved exactly by alternating GDA on xᵀAy.

    Alternating GDA x' = x − η_xAy, y' = y + η_yAᵀx' satisfies E(x', y') = E(x, y) for every
    step size (:func:`derive_alternating_invariant`; per singular value it is
    u²/η_x + v²/η_y − σuv). Batched over leading axes of ``x`` (…, n) and ``y`` (…, m), e.g.
    a whole trajectory.

    >>> A = np.array([[1.0]])
    >>> x, y = np.array([1.0]), np.array([0.5])
    >>> e0 = alternating_energy(A, x, y, 0.3, 0.7)
    >>> x1 = x - 0.3 * A @ y
    >>> y1 = y + 0.7 * A.T @ x1
    >>> bool(np.isclose(alternating_energy(A, x1, y1, 0.3, 0.7), e0))
    True
    """
    A = _matrix("A", A)
    ex = check_scalar("lr_x", lr_x)
    ey = check_scalar("lr_y", lr_y)
    check_positive("lr_x", ex)
    check_positive("lr_y", ey)
    x = check_finite("x", x)
    y = check_finite("y", y)
    if x.shape[-1:] != (A.shape[0],) or y.shape[-1:] != (A.shape[1],):
        raise ValueError(
            f"x must end in an axis of length {A.shape[0]} and y in one of length {A.shape[1]} "
            f"for A of shape {A.shape}; got x {x.shape}, y {y.shape}"
        )
    with np.errstate(over="ignore", invalid="ignore"):
        out = ((x * x).sum(-1) / ex + (y * y).sum(-1) / ey
               - np.einsum("...i,ij,...j->...", x, A, y))
    return _out(np.asarray(check_output(out, "x, y, A, lr_x and lr_y (E overflows)")))


# ---------------------------------------------------------------------------------------
# Regime maps
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)  # holds arrays: compare fields explicitly
class RegimeMap:
    """Spectral radius and regime over a 2-D parameter grid.

    ``spectral_radius`` and ``regime`` have shape (len(y), len(x)) (rows follow ``y``), ready
    for ``pcolormesh(x, y, ...)``. ``x_name``/``y_name`` say which parameters the axes are
    (``"lr_x"``, ``"lr_y"``, ``"lr"``, ``"momentum"``).
    """

    x: np.ndarray
    y: np.ndarray
    x_name: str
    y_name: str
    spectral_radius: np.ndarray
    regime: np.ndarray
    method: str
    tol: float

    def fraction(self, code: int) -> float:
        """Fraction of grid points in regime ``code``: :data:`CONVERGES` (0), :data:`CYCLES`
        (1) or :data:`DIVERGES` (2)."""
        c = check_int("code", code, minimum=0)
        if c >= len(REGIMES):
            raise ValueError(f"code must be one of 0, 1, 2 ({', '.join(REGIMES)}), got {code!r}")
        return float(np.mean(self.regime == c))


def _axis(name: str, value: Any) -> np.ndarray:
    arr = check_finite(name, value)
    if arr.ndim != 1 or arr.size < 1:
        raise ValueError(f"{name} must be a non-empty 1-D grid, got shape {arr.shape}")
    return arr


def _radius(game: Any, ex: np.ndarray, ey: np.ndarray, method: str, beta: Any) -> np.ndarray:
    if isinstance(game, QuadraticGame) and game.is_bilinear:
        return np.asarray(bilinear_spectral_radius(game.A, ex, ey, method=method, momentum=beta))
    if isinstance(game, QuadraticGame):
        return np.asarray(game_spectral_radius(game, ex, ey, method=method, momentum=beta))
    raise TypeError(f"game must be a QuadraticGame, got {type(game).__name__}")


def regime_map(game: QuadraticGame, lr_x: ArrayLike, lr_y: ArrayLike, *,
               method: str = "simultaneous", momentum: float = 0.0,
               tol: float = DEFAULT_TOL) -> RegimeMap:
    r"""ρ and the regime of ``method`` over the grid lr_x × lr_y (1-D grids).

    Bilinear games use the closed form per singular value; general quadratic games the batched
    eigenvalues of the update matrix.

    >>> rm = regime_map(QuadraticGame(A=1.0), [0.1, 1.0, 3.0], [0.1, 1.0, 3.0],
    ...                 method="extragradient")
    >>> rm.regime          # converges iff η_x η_y < 1
    array([[0, 0, 0],
           [0, 1, 2],
           [0, 2, 2]], dtype=int8)
    """
    method, beta = _method(method, momentum)
    ax = _axis("lr_x", lr_x)
    ay = _axis("lr_y", lr_y)
    check_positive("lr_x", ax)
    check_positive("lr_y", ay)
    rho = _radius(game, ax[None, :], ay[:, None], method, beta)
    return RegimeMap(ax, ay, "lr_x", "lr_y", rho, np.asarray(regime(rho, tol)), method, float(tol))


def momentum_regime_map(game: QuadraticGame, lr: ArrayLike, momentum: ArrayLike, *,
                        method: str = "alternating", tol: float = DEFAULT_TOL) -> RegimeMap:
    r"""ρ and the regime over the grid lr × momentum, with η_x = η_y = η (negative momentum).

    >>> rm = momentum_regime_map(QuadraticGame(A=1.0), [0.5, 1.0], [-0.3, 0.0, 0.3])
    >>> rm.regime          # alternating GDA converges only with β < 0 (Gidel et al. 2019)
    array([[0, 0],
           [1, 1],
           [2, 2]], dtype=int8)
    """
    check_choice("method", method, METHODS)
    ax = _axis("lr", lr)
    check_positive("lr", ax)
    ay = _axis("momentum", momentum)
    check_in_interval("momentum", ay, -1.0, 1.0, low_closed=False, high_closed=False)
    rho = _radius(game, ax[None, :], ax[None, :], method, ay[:, None])
    return RegimeMap(ax, ay, "lr", "momentum", rho, np.asarray(regime(rho, tol)), method,
                     float(tol))


# ---------------------------------------------------------------------------------------
# Simulation
# ---------------------------------------------------------------------------------------


def _stepper(game: Any, method: str, momentum: bool):
    """One step on batched state; returns the new (x, y, x_prev, y_prev, gx_prev, gy_prev).
    With ``momentum`` False the β-terms are skipped (β is then ignored)."""
    if isinstance(game, (QuadraticGame, DiracGAN)):
        # the hot loop: inputs were checked at the door, and a run that overflows stops as
        # diverged, so the unchecked gradients are used here
        grad_x, grad_y = game._grad_x, game._grad_y

        def grad(x, y):
            return grad_x(x, y), grad_y(x, y)
    else:
        grad = game.grad
        grad_x = getattr(game, "grad_x", None) or (lambda x, y: game.grad(x, y)[0])
        grad_y = getattr(game, "grad_y", None) or (lambda x, y: game.grad(x, y)[1])

    def step(x, y, xp, yp, gxp, gyp, ex, ey, beta):
        if method == "simultaneous":
            gx, gy = grad(x, y)
            xn = x - ex * gx + beta * (x - xp) if momentum else x - ex * gx
            yn = y + ey * gy + beta * (y - yp) if momentum else y + ey * gy
        elif method == "alternating":
            gx = grad_x(x, y)
            xn = x - ex * gx + beta * (x - xp) if momentum else x - ex * gx
            gy = grad_y(xn, y)
            yn = y + ey * gy + beta * (y - yp) if momentum else y + ey * gy
        elif method == "extragradient":
            gx, gy = grad(x, y)
            xh, yh = x - ex * gx, y + ey * gy
            gx, gy = grad(xh, yh)
            xn, yn = x - ex * gx, y + ey * gy
        else:  # optimistic
            gx, gy = grad(x, y)
            xn = x - 2.0 * ex * gx + ex * gxp
            yn = y + 2.0 * ey * gy - ey * gyp
        return xn, yn, x, y, gx, gy

    return step


def _initial(game: Any, x0: Any, y0: Any) -> tuple[np.ndarray, np.ndarray]:
    x = check_finite("x0", x0)
    y = check_finite("y0", y0)
    x = x.reshape(1) if x.ndim == 0 else x
    y = y.reshape(1) if y.ndim == 0 else y
    if x.shape != (game.n,) or y.shape != (game.m,):
        raise ValueError(
            f"x0 must have shape ({game.n},) and y0 shape ({game.m},) for this game; "
            f"got {x.shape} and {y.shape}"
        )
    return x, y


@dataclass(frozen=True, eq=False)  # holds arrays: compare fields explicitly
class GameTrajectory:
    """Iterates of one run of a game method.

    Attributes
    ----------
    x, y
        Iterates x_0 … x_T (shape (T+1, n)) and y_0 … y_T (T+1, m) for the steps taken; a run
        that diverged stops at ``diverged_at`` and holds only finite iterates.
    method, lr_x, lr_y, momentum
        What was run.
    diverged
        True when ‖(x, y)‖ exceeded the divergence level (or stopped being finite).
    diverged_at
        The step at which divergence was detected, else ``None``.
    """

    x: np.ndarray
    y: np.ndarray
    method: str
    lr_x: float
    lr_y: float
    momentum: float
    diverged: bool
    diverged_at: int | None

    @property
    def steps(self) -> int:
        """Number of steps taken."""
        return len(self.x) - 1

    @property
    def norm(self) -> np.ndarray:
        """‖(x_t, y_t)‖ for every step: the distance to the equilibrium at the origin."""
        return np.sqrt((self.x**2).sum(-1) + (self.y**2).sum(-1))

    def rate(self, start: int = 0, stop: int | None = None) -> float:
        r"""Measured rate per step: exp of the least-squares slope of ln‖z_t‖ over
        steps start … stop − 1. Equals ρ asymptotically for a linear recursion."""
        T = self.steps + 1
        start = check_int("start", start, minimum=0)
        stop = T if stop is None else check_int("stop", stop, minimum=start + 2)
        if stop > T or stop - start < 2:
            raise ValueError(
                f"need at least two recorded steps in [start, stop) within 0..{T}; "
                f"got start={start}, stop={stop}"
            )
        r = self.norm[start:stop]
        if np.any(r <= 0):
            raise ValueError("the trajectory hits the equilibrium exactly; no rate to measure")
        t = np.arange(start, stop, dtype=float)
        slope = np.polyfit(t, np.log(r), 1)[0]
        return float(np.exp(slope))

    def local_rate(self, band: tuple[float, float] = (1e-8, 1e2)) -> float:
        r"""The rate (:meth:`rate`) near the start: over the first stretch of steps in which
        ‖z_t‖/‖z_0‖ stays inside ``band`` (near the equilibrium, where a linearization applies,
        and before round-off or saturation), the fit uses the second half of the stretch, the
        first half being left to the decay of the non-dominant modes. Needs at least 10 steps.

        >>> run = simulate(QuadraticGame(A=1.0), [1e-3], [0.0], 0.5, 0.5, steps=400)
        >>> round(run.local_rate(), 6)      # √(1 + ¼), until the norm has grown 100-fold
        1.118034
        """
        if isinstance(band, (str, bytes, dict)) or not hasattr(band, "__len__") or len(band) != 2:
            raise TypeError(f"band must be a pair (low, high) of numbers, got {band!r}")
        lo = check_scalar("band[0]", band[0])
        hi = check_scalar("band[1]", band[1])
        if not 0 < lo < 1 < hi:
            raise ValueError(f"band must satisfy 0 < low < 1 < high, got {band!r}")
        r = self.norm
        if r[0] == 0:
            raise ValueError("the trajectory starts at the equilibrium; no rate to measure")
        inside = (r >= lo * r[0]) & (r <= hi * r[0])
        stop = int(np.argmin(inside)) if not inside.all() else len(r)
        if stop < 10:
            raise ValueError(
                f"only {stop} steps stay within {band!r} of the start; run longer or widen band"
            )
        return self.rate(stop // 2, stop)


def simulate(game: Any, x0: ArrayLike, y0: ArrayLike, lr_x: float, lr_y: float, *,
             method: str = "simultaneous", steps: int = 1000, momentum: float = 0.0,
             divergence: Divergence = _GAME_DIVERGENCE) -> GameTrajectory:
    r"""Run ``method`` on ``game`` (a :class:`QuadraticGame`, a :class:`DiracGAN`, or any
    object with ``grad(x, y)``, ``n`` and ``m``) from (x0, y0) for ``steps`` steps.

    Uses only the game's gradients (no update matrix), so it is an independent check of
    :func:`update_matrix`. Methods with memory start with z_prev = z_0. The run stops as
    diverged when a value is not finite or ‖z_t‖ > ``divergence.level(r, r)``, r = max(1, ‖z_0‖):
    the :class:`lrctl.training.Divergence` rule applied to a distance, not a loss (‖z_t‖ is
    the quantity, r its reference; the default f = 10⁶ with floor 0 is ‖z_t‖ > 10⁶·r).

    >>> run = simulate(QuadraticGame(A=1.0), [1.0], [0.0], 0.2, 0.2, steps=50)
    >>> round(run.rate(), 6)        # simultaneous GDA: √(1 + η_xη_yσ²) = √1.04
    1.019804
    """
    game = _as_game(game)
    method, beta_arr = _method(method, momentum)
    beta = check_scalar("momentum", beta_arr)
    ex = check_scalar("lr_x", lr_x)
    ey = check_scalar("lr_y", lr_y)
    check_positive("lr_x", ex)
    check_positive("lr_y", ey)
    steps = check_int("steps", steps, minimum=1)
    rule = _divergence(divergence)
    x, y = _initial(game, x0, y0)
    r0 = max(1.0, _norm(x, y))
    limit = float(rule._level_unchecked(r0, r0))
    if not np.isfinite(limit):
        raise ValueError(f"divergence.level(max(1, ‖(x0, y0)‖)) overflows: x0, y0 or "
                         f"divergence.factor ({rule.factor:g}) too large")
    step = _stepper(game, method, beta != 0)
    xs = np.empty((steps + 1, game.n))
    ys = np.empty((steps + 1, game.m))
    xs[0], ys[0] = x, y
    diverged_at = None
    with np.errstate(over="ignore", invalid="ignore"):
        gxp, gyp = game.grad(x, y)
        xp, yp = x, y
        for t in range(1, steps + 1):
            x, y, xp, yp, gxp, gyp = step(x, y, xp, yp, gxp, gyp, ex, ey, beta)
            nrm = float(np.sqrt(x @ x + y @ y))
            if not np.isfinite(nrm) or nrm > limit:
                diverged_at = t
                break
            xs[t], ys[t] = x, y
    end = steps + 1 if diverged_at is None else diverged_at
    return GameTrajectory(xs[:end].copy(), ys[:end].copy(), method, ex, ey, beta,
                          diverged_at is not None, diverged_at)


@dataclass(frozen=True, eq=False)  # holds arrays: compare fields explicitly
class SimulatedRegimes:
    """Regimes observed by simulating every point of a step-size grid at once.

    ``peak_ratio`` = max‖z_t‖ over the second half of the run / max‖z_t‖ over the first half
    (for a run that diverged: ``inf`` is never stored; such points have ``diverged`` True and
    ``peak_ratio`` the ratio reached when it stopped). ``regime`` codes as in :func:`regime`:
    converges when peak_ratio < e^{−margin}, diverges when it diverged or peak_ratio >
    e^{margin}, cycles otherwise. ``diverged_at`` holds, per point, the step at which it
    diverged or ``None`` (an object array, as ``lrctl.training.Run.diverged_at`` per run).
    """

    peak_ratio: np.ndarray
    regime: np.ndarray
    diverged: np.ndarray
    diverged_at: np.ndarray
    steps: int
    margin: float


def simulate_regimes(game: Any, lr_x: ArrayLike, lr_y: ArrayLike, *,
                     method: str = "simultaneous", momentum: ArrayLike = 0.0, steps: int = 1000,
                     x0: ArrayLike | None = None, y0: ArrayLike | None = None,
                     init_scale: float = 1.0, seed: Any = 0, margin: float = 1.0,
                     divergence: Divergence = _GAME_DIVERGENCE) -> SimulatedRegimes:
    r"""Simulate ``method`` at every point of a broadcast grid of (lr_x, lr_y, momentum) at once
    and classify what happened (vectorized: one array step per iteration for all points).

    The start (x0, y0) is shared by all points; when not given it is a random direction of
    length ``init_scale`` (from ``seed``). Points whose norm ‖z_t‖ passes
    ``divergence.level(‖z_0‖, ‖z_0‖)`` (the :class:`lrctl.training.Divergence` rule applied to
    the distance to the equilibrium, with ‖z_0‖ as reference; the default f = 10⁶ with floor 0
    is ‖z_t‖ > 10⁶·‖z_0‖) or stop being finite are frozen and marked diverged. Compare the result with
    :func:`regime_map` away from the boundary ρ = 1, where a finite run cannot tell the
    regimes apart (|ln ρ|·steps/2 ≲ ``margin``).

    >>> sim = simulate_regimes(QuadraticGame(A=1.0), [0.5, 1.5], 1.0, method="extragradient",
    ...                        steps=400)
    >>> sim.regime         # predicted: ρ = 0.87 (converges), 1.32 (diverges)
    array([0, 2], dtype=int8)
    """
    game = _as_game(game)
    method, beta = _method(method, momentum)
    ex, ey = _lrs(lr_x, lr_y)
    ex, ey, beta = _broadcast(lr_x=ex, lr_y=ey, momentum=beta)
    shape = ex.shape
    steps = check_int("steps", steps, minimum=2)
    mg = check_scalar("margin", margin)
    if mg <= 0:
        raise ValueError(f"margin must be > 0, got {mg}")
    rule = _divergence(divergence)
    scale = check_scalar("init_scale", init_scale)
    check_positive("init_scale", scale)
    if x0 is None or y0 is None:
        if x0 is not None or y0 is not None:
            raise ValueError("give both x0 and y0, or neither (then a random start is drawn)")
        w = as_rng(seed).standard_normal(game.n + game.m)
        w *= scale / np.linalg.norm(w)
        x0v, y0v = w[: game.n], w[game.n:]
    else:
        x0v, y0v = _initial(game, x0, y0)
    G = ex.size
    fx, fy, fb = (a.reshape(G, 1) for a in (ex, ey, beta))
    x = np.repeat(x0v[None], G, 0)
    y = np.repeat(y0v[None], G, 0)
    n0 = _norm(x0v, y0v)
    if n0 == 0:
        raise ValueError("the start (x0, y0) is the equilibrium itself; give a nonzero start")
    limit = float(rule._level_unchecked(n0, n0))
    if not np.isfinite(limit):
        raise ValueError(f"divergence.level(‖(x0, y0)‖) overflows: init_scale, x0, y0 or "
                         f"divergence.factor ({rule.factor:g}) too large")
    step = _stepper(game, method, bool(np.any(fb != 0)))
    with np.errstate(over="ignore", invalid="ignore"):
        gxp, gyp = game.grad(x, y)
    xp, yp = x, y
    active = np.arange(G)  # points still running; a diverged point is dropped from the state
    diverged_at = np.full(G, -1, dtype=np.int64)
    half = steps // 2
    peak1 = np.full(G, n0)
    peak2 = np.zeros(G)
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(1, steps + 1):
            x, y, xp, yp, gxp, gyp = step(x, y, xp, yp, gxp, gyp, fx, fy, fb)
            nrm = np.sqrt((x * x).sum(-1) + (y * y).sum(-1))
            ok = nrm <= limit  # False for NaN too
            if not ok.all():
                diverged_at[active[~ok]] = t
                active, nrm = active[ok], nrm[ok]
                x, y, xp, yp, gxp, gyp, fx, fy, fb = (
                    a[ok] for a in (x, y, xp, yp, gxp, gyp, fx, fy, fb))
                if active.size == 0:
                    break
            if t <= half:
                peak1[active] = np.maximum(peak1[active], nrm)
            else:
                peak2[active] = np.maximum(peak2[active], nrm)
    diverged = diverged_at >= 0
    # A diverged point's ratio: the norm it reached (the threshold) over its first-half peak.
    ratio = np.where(diverged, limit / peak1, peak2 / peak1)
    with np.errstate(over="ignore"):  # a huge margin: e^margin = inf, nothing is decided by it
        hi, lo = np.exp(mg), np.exp(-mg)
    code = np.where(diverged | (ratio > hi), DIVERGES,
                    np.where(ratio < lo, CONVERGES, CYCLES)).astype(np.int8)
    at = np.empty(G, dtype=object)
    at[:] = [int(k) if k >= 0 else None for k in diverged_at]
    return SimulatedRegimes(ratio.reshape(shape), code.reshape(shape), diverged.reshape(shape),
                            at.reshape(shape), steps, mg)


# ---------------------------------------------------------------------------------------
# Derivations
# ---------------------------------------------------------------------------------------


def _bilinear_symbols():
    import sympy

    ex, ey, sig = sympy.symbols("eta_x eta_y sigma", positive=True)
    return sympy, ex, ey, sig


def derive_bilinear_spectral_radius(method: str = "simultaneous"):
    r"""Derive the spectral radius and the stability condition of ``method`` on f = σxy.

    ``result`` is ρ for ``"simultaneous"`` (no stable step exists) and the largest stable
    product η_xη_y for the others (4/σ² cycling bound of alternating GDA, 1/σ² for
    extragradient, 1/(3σ²) for optimistic GDA); ``statement`` is the relation.

    >>> d = derive_bilinear_spectral_radius("extragradient")
    >>> d.statement
    eta_x*eta_y < sigma**(-2)
    """
    check_choice("method", method, METHODS)
    from lrctl.derivation import Derivation

    sympy, ex, ey, sig = _bilinear_symbols()
    lam, z = sympy.symbols("lambda z")
    p = sympy.Symbol("p", positive=True)  # p = η_x η_y σ²
    a, b = ex * sig, ey * sig
    symbols = {"eta_x": ex, "eta_y": ey, "sigma": sig}
    psub = {ex: p / (ey * sig**2)}
    common = ("bilinear game f(x, y) = σxy (one singular value σ of A), x minimizes",
              "η_x, η_y > 0; p = η_x η_y σ²")
    if method in ("simultaneous", "alternating", "extragradient"):
        if method == "simultaneous":
            M = sympy.Matrix([[1, -a], [b, 1]])
        elif method == "alternating":
            M = sympy.Matrix([[1, -a], [b, 1 - a * b]])
        else:
            M = sympy.Matrix([[1 - a * b, -a], [b, 1 - a * b]])
        charpoly = sympy.factor(M.charpoly(lam).as_expr())
        cp = sympy.expand(charpoly.subs(psub))
        trace = sympy.simplify(M.trace().subs(psub))
        det = sympy.simplify(M.det().subs(psub))
        steps_ = [
            ("Update matrix of one step on the singular coordinates", sympy.Eq(sympy.MatrixSymbol("M", *M.shape), M)),
            ("The product of the rates and the squared singular value", sympy.Eq(p, ex * ey * sig**2)),
            ("Characteristic polynomial in that product", sympy.Eq(sympy.Symbol("chi"), cp)),
            ("Trace and determinant", sympy.Tuple(trace, det)),
        ]
        if method == "simultaneous":
            rho = sympy.sqrt(1 + ex * ey * sig**2)
            roots = sympy.solve(cp, lam)
            mod2 = sympy.simplify(sympy.expand(roots[0] * sympy.conjugate(roots[0])))
            steps_ += [("Eigenvalues, a complex pair", sympy.Tuple(*roots)),
                       ("Their squared modulus is the determinant", sympy.Eq(sympy.Abs(lam) ** 2, mod2)),
                       ("Hence for every positive product the spectral radius exceeds one: "
                        "simultaneous GDA diverges", sympy.Gt(sympy.sqrt(1 + p), 1))]
            return Derivation(
                title="Simultaneous GDA on a bilinear game: spectral radius",
                result=rho,
                statement=sympy.Eq(sympy.Symbol("rho"), rho),
                steps=tuple(steps_),
                assumptions=common,
                symbols=symbols,
            )
        if method == "alternating":
            disc = sympy.factor(sympy.expand(trace**2 - 4 * det))
            steps_ += [("The determinant is one, so the eigenvalues are a conjugate pair on the "
                        "unit circle or real with product one",
                        sympy.Eq(sympy.Function("det")(sympy.MatrixSymbol("M", *M.shape)), det)),
                       ("Discriminant of the characteristic polynomial", sympy.Eq(sympy.Symbol("Delta"), disc)),
                       ("It is negative, a complex pair on the unit circle and so a rotation, exactly for",
                        sympy.solve_univariate_inequality(disc < 0, p)),
                       ("Above that the larger real root is", sympy.Eq(
                           sympy.Symbol("rho"), (p - 2 + sympy.sqrt(p**2 - 4 * p)) / 2))]
            bound = 4 / sig**2
            return Derivation(
                title="Alternating GDA on a bilinear game: cycling bound",
                result=bound,
                statement=sympy.Lt(ex * ey, bound),
                steps=tuple(steps_),
                assumptions=(*common, "cycles (bounded, ρ = 1) below the bound, diverges above"),
                symbols=symbols,
            )
        # extragradient
        roots = sympy.solve(cp, lam)
        mod2 = sympy.expand(sympy.simplify(roots[0] * sympy.conjugate(roots[0])))
        bound = 1 / sig**2
        steps_ += [("Eigenvalues, a complex pair", sympy.Tuple(*roots)),
                   ("Squared modulus", sympy.Eq(sympy.Symbol("rho") ** 2, mod2)),
                   ("It is below one exactly for", sympy.solve_univariate_inequality(mod2 < 1, p)),
                   ("It is smallest at", sympy.Eq(p, sympy.Rational(1, 2))),
                   ("where the spectral radius is",
                    sympy.Eq(sympy.Symbol("rho_min"), sympy.sqrt(mod2.subs(p, sympy.Rational(1, 2)))))]
        return Derivation(
            title="Extragradient on a bilinear game: convergence bound",
            result=bound,
            statement=sympy.Lt(ex * ey, bound),
            steps=tuple(steps_),
            assumptions=(*common, "extrapolation and update use the same step sizes"),
            symbols=symbols,
        )
    # optimistic: state (u, v, u_prev, v_prev)
    M = sympy.Matrix([[1, -2 * a, 0, a], [2 * b, 1, -b, 0], [1, 0, 0, 0], [0, 1, 0, 0]])
    cp = sympy.factor(sympy.expand(M.charpoly(z).as_expr().subs(psub)))
    s = sympy.sqrt(p)
    quad = z**2 - (1 + 2 * sympy.I * s) * z + sympy.I * s
    check = sympy.expand(quad * sympy.conjugate(quad).subs(sympy.conjugate(z), z) - cp)
    if sympy.simplify(check) != 0:  # pragma: no cover - guards the derivation itself
        raise ArithmeticError(f"optimistic characteristic polynomial does not factor: {check}")
    disc = sympy.expand((1 + 2 * sympy.I * s) ** 2 - 4 * sympy.I * s)
    t = sympy.sqrt(4 * p - 1)
    mod2_hi = sympy.expand(((1) ** 2 + (2 * s + t) ** 2) / 4)
    crit = sympy.solve(sympy.Eq(2 * s + t, sympy.sqrt(3)), p)
    bound = crit[0] / sig**2
    return Derivation(
        title="Optimistic GDA on a bilinear game: convergence bound",
        result=bound,
        statement=sympy.Lt(ex * ey, bound),
        steps=(
            ("Update matrix on the state of both players now and one step earlier",
             sympy.Eq(sympy.MatrixSymbol("M", *M.shape), M)),
            ("The product of the rates and the squared singular value", sympy.Eq(p, ex * ey * sig**2)),
            ("Characteristic polynomial in that product", sympy.Eq(sympy.Symbol("chi"), cp)),
            ("It factors into a complex quadratic and its conjugate", sympy.Eq(sympy.Symbol("q"), quad)),
            ("whose discriminant is real", sympy.Eq(sympy.Symbol("Delta"), disc)),
            ("Its roots", sympy.Eq(z, (1 + 2 * sympy.I * s + sympy.Symbol("±") * sympy.sqrt(disc)) / 2)),
            ("Where the discriminant is negative the larger squared modulus is",
             sympy.Eq(sympy.Symbol("rho") ** 2, mod2_hi)),
            ("The spectral radius reaches one where", sympy.Eq(2 * s + t, sympy.sqrt(3))),
            ("that is, at", sympy.Eq(p, sympy.Tuple(*crit)[0])),
            ("Where the discriminant is not negative the squared modulus is below one",
             sympy.Eq(sympy.Symbol("rho") ** 2, (1 + sympy.sqrt(disc)) / 2)),
            ("and the fastest contraction, at the double root, is",
             sympy.Eq(sympy.Symbol("rho_min"), 1 / sympy.sqrt(2))),
        ),
        assumptions=(*common, "z_{t+1} = z_t − 2 DF(z_t) + DF(z_{t−1}), z_{−1} = z_0"),
        symbols=symbols,
    )


def derive_alternating_invariant():
    r"""Derive the quadratic form conserved by alternating GDA on f = σxy.

    Ansatz E = αu² + βv² + 2γuv; MᵀWM = W for the alternating update matrix M fixes
    α : β : γ = 1/η_x : 1/η_y : −σ/2, so E = u²/η_x + v²/η_y − σuv; it is positive definite
    iff η_xη_yσ² < 4. ``result`` is E; summed over singular values it is
    ‖x‖²/η_x + ‖y‖²/η_y − xᵀAy (:func:`alternating_energy`).

    >>> d = derive_alternating_invariant()
    >>> f = d.lambdify("u", "v", "eta_x", "eta_y", "sigma")
    >>> float(f(1.0, 0.0, 0.5, 0.5, 1.0))
    2.0
    """
    from lrctl.derivation import Derivation

    sympy, ex, ey, sig = _bilinear_symbols()
    u, v = sympy.symbols("u v", real=True)
    al, be, ga = sympy.symbols("alpha beta gamma", real=True)
    M = sympy.Matrix([[1, -ex * sig], [ey * sig, 1 - ex * ey * sig**2]])
    W = sympy.Matrix([[al, ga], [ga, be]])
    cond = sympy.simplify(M.T * W * M - W)
    sol = sympy.solve([cond[0, 0], cond[0, 1], cond[1, 1]], [al, be], dict=True)[0]
    # Normalize γ = −σ/2 so that α = 1/η_x.
    Wn = W.subs(sol).subs(ga, -sig / 2)
    zvec = sympy.Matrix([u, v])
    E = sympy.expand((zvec.T * Wn * zvec)[0])
    z1 = M * zvec
    E1 = sympy.expand((z1.T * Wn * z1)[0])
    change = sympy.simplify(E1 - E)
    if change != 0:  # pragma: no cover - guards the derivation itself
        raise ArithmeticError(f"the form is not conserved: E(Mz) - E(z) = {change}")
    detW = sympy.factor(Wn.det())
    return Derivation(
        title="The modified energy conserved by alternating GDA on a bilinear game",
        result=E,
        statement=sympy.Eq(sympy.Symbol("E"), E),
        steps=(
            ("Alternating update, the second player using the first player's new value",
             sympy.Tuple(sympy.Eq(sympy.Symbol("u'"), u - ex * sig * v),
                         sympy.Eq(sympy.Symbol("v'"), v + ey * sig * sympy.Symbol("u'")))),
            ("as a matrix", sympy.Eq(sympy.MatrixSymbol("M", *M.shape), M)),
            ("Ansatz: a quadratic form", sympy.Eq(sympy.Symbol("E"), (zvec.T * W * zvec)[0])),
            ("It is invariant when", sympy.Eq(cond, sympy.zeros(2, 2))),
            ("Solution, with one free scale γ", sympy.Tuple(*[sympy.Eq(k, val) for k, val in sol.items()])),
            ("Choosing the scale", sympy.Eq(ga, -sig / 2)),
            ("gives the form", sympy.Eq(sympy.MatrixSymbol("W", 2, 2), Wn)),
            ("Check: its change over one step", sympy.Eq(sympy.Symbol("Delta_E"), change)),
            ("Its determinant is positive, so the form is definite and the orbits bounded, exactly when",
             sympy.Gt(detW, 0)),
        ),
        assumptions=(
            "bilinear game, alternating updates (x first, then y with the new x), no momentum",
            "constant step sizes η_x, η_y > 0",
        ),
        symbols={"u": u, "v": v, "eta_x": ex, "eta_y": ey, "sigma": sig},
    )
