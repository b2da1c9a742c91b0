"""The seed's claims: the statements of the theory this toolkit was built to test, verbatim.

Each analysis decides the seed claims of its topic with :meth:`lrctl.report.Analysis.seed_claim`,
naming the claims (sentences fixed before the run) whose verdicts decide it. The engine draws
the verdict from those claims; nothing here or in the report restates a result by hand.

Verdict rule (:func:`seed_verdict`): every deciding claim holds -> ``"holds"``; none holds ->
``"fails"``; some hold -> ``"partly"``, which requires a *condition*: a claim, fixed before the
run, saying under which condition the statement holds. ``"partly"`` stands only when that
condition claim itself holds; when it does not, the verdict is ``"fails"``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SEED_CLAIMS", "SEED_ORDER", "SeedClaim", "seed_verdict"]


@dataclass(frozen=True)
class SeedClaim:
    """One statement of the seed, with the report section (heading) it belongs to."""

    id: str
    heading: str
    statement: str


# Verbatim from the seed (markup removed), in the seed's order.
_TABLE: tuple[tuple[str, str, str], ...] = (
    ("log-scale-search", "Learning-rate search",
     "Formal probabilistic analysis confirms that for a fixed number of samples, log-uniform "
     "random sampling has a much higher chance of hitting a desirable, small-magnitude learning "
     "rate interval compared to linear-scale random sampling or a uniform grid search."),
    ("bayesian-optimization", "Bayesian optimization",
     "By selecting the learning rate that maximizes this function, the algorithm intelligently "
     "navigates the search space to find the optimal value more quickly than undirected search "
     "methods."),
    ("range-test-slope", "The range test and curvature",
     "For small η, the relationship is s(η) = dL/d ln η ≈ −2ηLρ(H)."),
    ("range-test-steepest", "The range test and curvature",
     "The steepest descent on the log-LR plot corresponds to a good learning rate."),
    ("snapshot-ensemble-accuracy", "Schedules and snapshot ensembles",
     "The collected snapshots, when used as an ensemble, often yield better performance and "
     "robustness than any single model."),
    ("snapshot-ensemble-diversity", "Schedules and snapshot ensembles",
     "Larger restarts and longer cycles tend to increase the distance between the snapshot "
     "parameters in weight space and the variance in their predictions."),
    ("hypergradient-positivity", "Hypergradient descent",
     "Reparameterizing η_t = exp(λ_t) and performing the hypergradient update on the "
     "unconstrained variable λ_t naturally maintains the positivity of η_t."),
    ("layerwise-rates", "Layer-wise learning rates",
     "Using layer-specific learning rates, each capped at a fraction of its stability limit, can "
     "lead to more stable and faster training compared to using a single, conservatively chosen "
     "global learning rate, especially in networks with heterogeneous layer structures."),
    ("games-interplay", "Minimax games",
     "Even if the individual learning rates would be stable for a simple minimization problem, "
     "their interplay can destabilize the joint system."),
    ("games-alternating", "Minimax games",
     "Alternating the updates can sometimes improve stability."),
    ("federated-server-step", "Federated learning",
     "A large server step size can amplify the drift, potentially destabilizing the global "
     "model's convergence."),
    ("continual-decay", "Continual learning",
     "Decaying schedules generally offer a better compromise than a constant high learning "
     "rate."),
    ("diffusion-curvature", "Diffusion models",
     "At high noise levels the landscape is often flatter, while at low noise levels the "
     "landscape can have sharper curvature."),
    ("diffusion-rates", "Diffusion models",
     "A learning rate for each denoising step inversely proportional to the local curvature, "
     "η_t ∝ 1/c_t, ensures that a desired rate of progress is maintained at each stage."),
    ("weight-decay", "Decoupled weight decay",
     "For a simple quadratic loss, the decoupled scheme is equivalent, at its fixed point, to "
     "standard L2 regularization with an effective penalty strength of α = λ/η."),
    ("pi-control", "Control of the learning rate",
     "The stability of the closed-loop system can be analyzed by examining the roots of the "
     "system's characteristic polynomial in the Z-domain."),
    ("cerebellar", "The cerebellar rule",
     "The recurrence C_{n+1} = C_n − k(C_n − C_opt) is identical in form to a gradient descent "
     "step on a simple quadratic loss."),
    ("gd-stability", "Gradient-descent stability",
     "Gradient descent on a quadratic is stable if and only if η < 2/λ_max."),
)

SEED_CLAIMS: dict[str, SeedClaim] = {i: SeedClaim(i, h, s) for i, h, s in _TABLE}
SEED_ORDER: tuple[str, ...] = tuple(i for i, _, _ in _TABLE)

VERDICTS = ("holds", "fails", "partly")


def seed_verdict(deciding: list[bool], condition: bool | None) -> str:
    """The verdict of a seed claim from its deciding claims and its condition claim.

    >>> seed_verdict([True, True], None), seed_verdict([False], None)
    ('holds', 'fails')
    >>> seed_verdict([True, False], True), seed_verdict([True, False], False)
    ('partly', 'fails')
    """
    if not deciding:
        raise ValueError("a seed claim needs at least one deciding claim")
    if all(deciding):
        return "holds"
    if not any(deciding):
        return "fails"
    if condition is None:
        raise ValueError(
            "a seed claim decided by claims that partly hold needs a condition claim "
            "(declare it before the run with seed_claim(..., condition=...))"
        )
    return "partly" if condition else "fails"
