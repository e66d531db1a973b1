"""The generic unfolding core: module, loss schedules, skorch net, estimator base.

Problem families (:mod:`skunfold.sparse`, :mod:`skunfold.rpca`, ...) build on
these pieces:

* :class:`UnfoldedModule` -- K iteration modules whose forward returns every
  iterate;
* the loss schedules :class:`EndToEnd` (L1), :class:`MultiIteration` (L2),
  :class:`Sequential` (L3) and :class:`SequentialEndToEnd`, with string aliases;
* :class:`UnfoldingNet` -- the skorch ``NeuralNet`` subclass that trains them;
* :class:`BaseUnfoldedEstimator` -- the scikit-learn estimator base.
"""

from ._base import OPTIMIZERS, PARADIGMS, BaseUnfoldedEstimator, resolve_device, run_transactional
from ._module import UnfoldedModule
from ._net import ArrayData, BatchSlicer, TrainingDivergedError, UnfoldingNet
from ._schedules import (
    LOSS_SCHEDULES,
    EndToEnd,
    LossSchedule,
    MultiIteration,
    Sequential,
    SequentialEndToEnd,
    Stage,
    get_loss_schedule,
)

__all__ = [
    "UnfoldedModule",
    "LossSchedule",
    "EndToEnd",
    "MultiIteration",
    "Sequential",
    "SequentialEndToEnd",
    "Stage",
    "get_loss_schedule",
    "LOSS_SCHEDULES",
    "UnfoldingNet",
    "ArrayData",
    "BatchSlicer",
    "TrainingDivergedError",
    "BaseUnfoldedEstimator",
    "resolve_device",
    "run_transactional",
    "PARADIGMS",
    "OPTIMIZERS",
]
