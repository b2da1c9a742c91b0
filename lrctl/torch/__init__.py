"""lrctl for PyTorch users: your model as an Objective, its Hessian spectrum, the range test
with your own optimizer.

The optional extra ``lrctl[torch]``; nothing else in lrctl imports torch.

- :class:`TorchObjective` (``model, loss_fn, data``) -> the :class:`lrctl.objectives.Objective`
  protocol on the flat parameter vector (exact Hessian-vector products by ``torch.func``), and
  :func:`theta_of`;
- :func:`hessian_eigenvalues` (Lanczos on the network's Hessian, per-block spectra) and
  :func:`layerwise_param_groups` (param groups with lr = fraction·2/λ_max(H_ℓ));
- :func:`range_test` (the user's optimizer, mini-batches, state restored exactly),
  :func:`repeated_range_test` (the suggestion interval) and :func:`analyse_sweep` (a sweep
  recorded by fastai, Lightning or torch-lr-finder);
- :class:`PIScheduler` (a measurement-driven ``LRScheduler`` around
  :class:`lrctl.zdomain.PIController`) with :class:`SharpnessProbe` and :class:`LossRatioProbe`;
- :class:`HypergradientSGD`, :class:`HypergradientAdam` (hypergradient descent as optimizers)
  and :class:`ScheduleLR` (an :mod:`lrctl.schedules` schedule as an ``LRScheduler``).
"""

from lrctl.torch._curvature import HessianSpectrum, hessian_eigenvalues, layerwise_param_groups
from lrctl.torch._objective import TorchObjective, theta_of
from lrctl.torch._optim import HypergradientAdam, HypergradientSGD, ScheduleLR
from lrctl.torch._rangetest import analyse_sweep, range_test, repeated_range_test
from lrctl.torch._scheduler import LossRatioProbe, PIScheduler, SharpnessProbe

__all__ = [
    "HessianSpectrum",
    "HypergradientAdam",
    "HypergradientSGD",
    "LossRatioProbe",
    "PIScheduler",
    "ScheduleLR",
    "SharpnessProbe",
    "TorchObjective",
    "analyse_sweep",
    "hessian_eigenvalues",
    "layerwise_param_groups",
    "range_test",
    "repeated_range_test",
    "theta_of",
]
