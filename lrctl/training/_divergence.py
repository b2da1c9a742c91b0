"""The one divergence rule of lrctl's training loop."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from lrctl._validation import (
    as_float_array,
    check_choice,
    check_finite,
    check_int,
    check_output,
    check_scalar,
)

__all__ = ["Divergence"]

_REFERENCES = ("initial", "best")


@dataclass(frozen=True)
class Divergence:
    r"""When a run has diverged: a non-finite value, or a loss far above its reference level.

    With L* = ``loss_floor``, m_t the median of the last ``window`` losses L_1 … L_t (the
    losses after the start; fewer at the beginning) and r_t the reference level, run t has
    diverged at the first step t where L_t, θ_t or ∇L(θ_t) is not finite, or

    .. math:: m_t > r_t + (f − 1)·\max(|r_t − L^*|, ε),   ε = 10^{-12}·\max(1, |L_0 − L^*|),

    with f = ``factor`` > 1. For losses above the floor this is m_t − L* > f·(r_t − L*): the
    loss gap grew f-fold. ``reference="initial"`` takes r_t = L_0 (the gap relative to the
    start: the rule of every training run, default f = 10⁶); ``reference="best"`` takes
    r_t = min(L_0, m_1, …, m_t), the best level so far (the range test's stop, fastai's
    "loss > 4 × best" is f = 4, window 1). Measured against |r_t − L*|, the rule means the
    same for losses below the floor (negative losses) as above it.

    Parameters
    ----------
    factor
        f > 1.
    loss_floor
        L*, the minimum loss (0 for the losses lrctl ships).
    reference
        ``"initial"`` or ``"best"``.
    window
        Median window w >= 1 (1: the raw loss; larger windows ignore single mini-batch spikes).

    >>> rule = Divergence(factor=4.0, reference="best")
    >>> rule.first_divergence([1.0, 0.5, 0.4, 0.6, 2.0], initial_loss=1.2)   # 2.0 > 4 × 0.4
    4
    >>> Divergence().first_divergence([1.0, 5.0, np.inf], initial_loss=1.0)
    2
    """

    factor: float = 1e6
    loss_floor: float = 0.0
    reference: str = "initial"
    window: int = 1

    def __post_init__(self) -> None:
        f = check_scalar("factor", self.factor)
        if not f > 1.0:
            raise ValueError(f"factor must be > 1, got {f!r}")
        object.__setattr__(self, "factor", f)
        object.__setattr__(self, "loss_floor", check_scalar("loss_floor", self.loss_floor))
        check_choice("reference", self.reference, _REFERENCES)
        object.__setattr__(self, "window", check_int("window", self.window, minimum=1))

    @classmethod
    def from_args(cls, divergence_factor: Any = 1e6, loss_floor: Any = None) -> Divergence:
        """The rule of a function's ``divergence_factor`` / ``loss_floor`` arguments (errors
        name those arguments; ``loss_floor=None`` is 0)."""
        f = check_scalar("divergence_factor", divergence_factor)
        if not f > 1.0:
            raise ValueError(f"divergence_factor must be > 1, got {f!r}")
        floor = 0.0 if loss_floor is None else check_scalar("loss_floor", loss_floor)
        return cls(factor=f, loss_floor=floor)

    def level(self, reference: Any, initial_loss: Any) -> Any:
        """The loss level above which a run has diverged, given r_t and L_0 (broadcasts).

        >>> float(Divergence(factor=4.0).level(0.5, 1.0))      # 0.5 + 3·0.5
        2.0
        """
        r = check_finite("reference", reference)
        L0 = check_finite("initial_loss", initial_loss)
        try:
            np.broadcast_shapes(r.shape, L0.shape)
        except ValueError:
            raise ValueError(f"reference (shape {r.shape}) and initial_loss (shape {L0.shape}) "
                             "must broadcast") from None
        out = self._level(r, L0)
        return float(out) if np.ndim(out) == 0 else out

    def _level_unchecked(self, r: Any, L0: Any) -> Any:
        """The level without argument checks; inf where it overflows (nothing then exceeds it)."""
        with np.errstate(over="ignore", invalid="ignore"):
            eps = 1e-12 * np.maximum(1.0, np.abs(np.asarray(L0, dtype=float) - self.loss_floor))
            return r + (self.factor - 1.0) * np.maximum(np.abs(r - self.loss_floor), eps)

    def _level(self, r: Any, L0: Any) -> Any:
        return check_output(self._level_unchecked(r, L0),
                            "reference, initial_loss or the rule's factor")

    def first_divergence(self, losses: Any, initial_loss: float) -> int | None:
        """The index t into ``losses`` (L_1, L_2, …) where the rule fires, or ``None``.

        The whole curve at once (the loop applies the same rule step by step); a NaN or inf
        entry fires at its index.
        """
        from numpy.lib.stride_tricks import sliding_window_view

        y = as_float_array("losses", losses)
        if y.ndim != 1 or y.size == 0:
            raise ValueError(f"losses must be a non-empty 1-D array, got shape {y.shape}")
        L0 = check_scalar("initial_loss", initial_loss)
        bad = ~np.isfinite(y)
        first_bad = int(np.argmax(bad)) if bad.any() else y.size
        yf = y[:first_bad]
        if yf.size:
            w = self.window
            padded = np.concatenate([np.full(w - 1, np.nan), yf])
            med = np.nanmedian(sliding_window_view(padded, w), axis=1)
            ref = (np.minimum.accumulate(np.minimum(med, L0)) if self.reference == "best"
                   else np.full(med.shape, L0))
            over = med > self._level_unchecked(ref, L0)
            if over.any():
                return int(np.argmax(over))
        return first_bad if first_bad < y.size else None

    def _watch(self, loss0: np.ndarray, steps: int) -> _Watch:
        return _Watch(self, loss0, steps)


class _Watch:
    """The rule applied step by step to K runs (state of one call of ``run``)."""

    def __init__(self, rule: Divergence, loss0: np.ndarray, steps: int) -> None:
        self.rule = rule
        self.loss0 = loss0
        self.best = loss0.copy()
        self.simple = rule.window == 1 and rule.reference == "initial"
        if self.simple:
            self.fixed_level = rule._level_unchecked(loss0, loss0)
        self.history = np.empty((len(loss0), steps)) if rule.window > 1 else None

    def exceeded(self, rows: np.ndarray, t: int, loss: np.ndarray) -> np.ndarray:
        """Which of ``rows`` (finite losses ``loss`` after step t, i.e. L_{t+1}) fire."""
        if self.simple:
            return loss > self.fixed_level[rows]
        if self.history is not None:
            self.history[rows, t] = loss
            lo = max(0, t + 1 - self.rule.window)
            med = np.median(self.history[rows, lo:t + 1], axis=1)
        else:
            med = loss
        ref = self.loss0[rows]
        if self.rule.reference == "best":
            ref = np.minimum(self.best[rows], med)
            self.best[rows] = ref
        return med > self.rule._level_unchecked(ref, self.loss0[rows])
