"""The open core: any iterative solver becomes a scikit-learn estimator.

A solver is described once, as a :class:`Problem` (initial state, one
iteration, objective, readout; hyperparameters and objective parameters by
name). The core does the rest:

* :mod:`~skunfold.core.paradigms` -- how each of the survey's paradigms turns
  the problem into layers (:func:`build_layers`);
* :class:`UnfoldedModule` -- ``K`` layers whose forward returns every iterate;
* :mod:`~skunfold.core.schedules` -- the loss schedules :class:`EndToEnd` (L1),
  :class:`MultiIteration` (L2), :class:`Sequential` (L3) and
  :class:`SequentialEndToEnd`, with string aliases;
* :mod:`~skunfold.core.training` -- the skorch net, the stage loop and the
  divergence check;
* :mod:`~skunfold.core.equilibrium` -- deep equilibrium mode (``fixed_point=True``):
  a tied iteration run to its fixed point, differentiated implicitly;
* :mod:`~skunfold.core.safeguard` -- safeguarded inference (``safeguard=True``):
  learned updates kept only when they make progress on the classical map;
  :mod:`~skunfold.core.robust` -- robust (adversarial) training;
* :class:`UnfoldedEstimator` -- the estimator life-cycle (validation, training
  parameters, devices and threads, transactional fit, warm start, inference),
  and :class:`UnfoldedRegressor`, the estimator of a user's own problem;
* :mod:`~skunfold.core.validation` and :mod:`~skunfold.core.ops` -- parameter
  checks, soft thresholding and dtype handling shared by the families.
"""

from .adaptation import adapt
from .equilibrium import FixedPoint, equilibrium_state, fixed_point_iteration
from .estimator import UnfoldedEstimator, run_transactional
from .inference import inference_mode, run_layers, run_layers_staged
from .module import UnfoldedModule, cast_module, module_device, module_dtype
from .ops import compute_dtype, output_dtype, soft_threshold, to_numpy, to_tensor
from .paradigms import (
    ClassicalIteration,
    CorrectionIteration,
    DNNIteration,
    HyperparameterIteration,
    Iteration,
    LearnedHyperparameters,
    ObjectiveIteration,
    StateMLP,
    build_initial,
    build_layers,
    classical_parameters,
    mlp,
)
from .parameters import (
    OPTIMIZERS,
    PARADIGMS,
    SHARED_PARAMETERS,
    document_parameters,
    set_init_parameters,
)
from .problem import CONSTRAINTS, Problem, check_problem
from .progress import EpochLog
from .regressor import UnfoldedRegressor
from .robust import AdversarialTraining, pgd_perturbation
from .safeguard import Safeguard, SafeguardedRun, SafeguardMixin
from .schedules import (
    LOSS_SCHEDULES,
    EndToEnd,
    LossSchedule,
    MultiIteration,
    Sequential,
    SequentialEndToEnd,
    Stage,
    get_loss_schedule,
)
from .sources import SampleSource, SampleSourceError, StreamData
from .threads import torch_threads
from .training import (
    ArrayData,
    BatchSlicer,
    Inputs,
    StageCosineLR,
    TrainingDivergedError,
    UnfoldingNet,
    check_not_diverged,
    keep_improvement,
    train_stages,
)
from .validation import (
    caller_stacklevel,
    check_bool,
    check_int,
    check_layer_sizes,
    check_option,
    check_real,
    resolve_device,
)

__all__ = [
    "Problem", "CONSTRAINTS", "check_problem",
    "UnfoldedEstimator", "UnfoldedRegressor", "adapt", "run_transactional",
    "run_layers", "run_layers_staged", "inference_mode",
    "FixedPoint", "fixed_point_iteration", "equilibrium_state", "caller_stacklevel",
    "Safeguard", "SafeguardedRun", "SafeguardMixin", "AdversarialTraining", "pgd_perturbation",
    "UnfoldedModule", "cast_module", "module_device", "module_dtype",
    "Iteration", "ClassicalIteration", "LearnedHyperparameters", "HyperparameterIteration",
    "ObjectiveIteration", "CorrectionIteration", "DNNIteration", "StateMLP", "mlp",
    "build_layers", "build_initial",
    "classical_parameters",
    "LossSchedule", "EndToEnd", "MultiIteration", "Sequential", "SequentialEndToEnd", "Stage",
    "get_loss_schedule", "LOSS_SCHEDULES",
    "UnfoldingNet", "ArrayData", "BatchSlicer", "Inputs", "StageCosineLR",
    "SampleSource", "SampleSourceError", "StreamData",
    "TrainingDivergedError", "train_stages", "check_not_diverged", "keep_improvement",
    "EpochLog",
    "PARADIGMS", "OPTIMIZERS", "SHARED_PARAMETERS", "document_parameters", "set_init_parameters",
    "soft_threshold", "compute_dtype", "output_dtype", "to_tensor", "to_numpy", "torch_threads",
    "check_int", "check_real", "check_option", "check_bool", "check_layer_sizes", "resolve_device",
]
