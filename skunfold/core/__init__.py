"""The open core: any iterative solver becomes a scikit-learn estimator.

A solver is described once, as a :class:`Problem` (initial state, one
iteration, objective, readout; hyperparameters and objective parameters by
name). The core does the rest: the survey's paradigms turn it into layers, a
loss schedule trains them, and :class:`UnfoldedRegressor` (or a family's
preset, built on :class:`UnfoldedEstimator`) wraps it as an estimator.

The public contract has two halves.

**Using** -- what a user of the estimators calls or passes:

* estimators: :class:`UnfoldedEstimator`, :class:`UnfoldedRegressor`, and
  :func:`adapt` (continued training on new data);
* the solver description: :class:`Problem`, and :data:`PARADIGMS`, the
  paradigm words shared by every estimator;
* training data: :class:`SampleSource` (fresh samples every epoch);
* loss schedules: :class:`LossSchedule`, :class:`EndToEnd` (L1),
  :class:`MultiIteration` (L2), :class:`Sequential` (L3),
  :class:`SequentialEndToEnd`;
* option objects, one estimator parameter each: :class:`FixedPoint`,
  :class:`Safeguard`, :class:`Adversarial`, :class:`EarlyStopping`,
  :class:`Optimizer`;
* errors and warnings: :class:`TrainingDivergedError`,
  :class:`WorseThanClassicalWarning`, :class:`DivergedOutputError`,
  :class:`SampleSourceError`;
* :mod:`~skunfold.core.constraints`: the checks of parameters and data.

**Extending** -- what a family or a user's own solver is written with:

* :class:`Param` and :func:`set_init_parameters`: a preset's parameter rows
  and ``__init__``;
* iteration modules: :class:`Iteration` (the base), :class:`ClassicalIteration`,
  :class:`HyperparameterIteration`, :class:`ObjectiveIteration`,
  :class:`CorrectionIteration`, :class:`DNNIteration`,
  :class:`LearnedHyperparameters`, :class:`StateMLP`, :func:`mlp` and
  :func:`build_layers` (the generic modules of a paradigm);
* :class:`UnfoldedModule`: the ``K`` layers as one torch module;
* numerics: :func:`soft_threshold`, :func:`to_tensor`, :func:`to_numpy`,
  :func:`fixed_point_iteration`, :func:`pgd_perturbation`;
* :mod:`~skunfold.core.export_linalg`: linear algebra with the operations
  ONNX has, for exportable graphs (eigenvectors by squarings, eliminations).

Everything else in the core's modules is internal: families use only the
names above (``tests/test_architecture.py`` checks it).
"""

from . import constraints, export_linalg
from .adaptation import adapt
from .equilibrium import FixedPoint, fixed_point_iteration
from .estimator import UnfoldedEstimator
from .module import UnfoldedModule
from .ops import soft_threshold, to_numpy, to_tensor
from .options import EarlyStopping, Optimizer
from .paradigms import (
    ClassicalIteration,
    CorrectionIteration,
    DNNIteration,
    HyperparameterIteration,
    Iteration,
    LearnedHyperparameters,
    ObjectiveIteration,
    StateMLP,
    build_layers,
    mlp,
)
from .parameters import PARADIGMS, Param, set_init_parameters
from .prediction import DivergedOutputError
from .problem import Problem
from .regressor import UnfoldedRegressor
from .robust import Adversarial, pgd_perturbation
from .safeguard import Safeguard
from .schedules import EndToEnd, LossSchedule, MultiIteration, Sequential, SequentialEndToEnd
from .sources import SampleSource, SampleSourceError
from .training import TrainingDivergedError, WorseThanClassicalWarning

__all__ = [
    # using: what a user of the estimators calls or passes
    "UnfoldedEstimator", "UnfoldedRegressor", "adapt", "Problem", "PARADIGMS", "SampleSource",
    "LossSchedule", "EndToEnd", "MultiIteration", "Sequential", "SequentialEndToEnd",
    "FixedPoint", "Safeguard", "Adversarial", "EarlyStopping", "Optimizer",
    "TrainingDivergedError", "WorseThanClassicalWarning", "DivergedOutputError",
    "SampleSourceError", "constraints",
    # extending: what a family or a user's solver is written with
    "Param", "set_init_parameters", "Iteration", "ClassicalIteration",
    "HyperparameterIteration", "ObjectiveIteration", "CorrectionIteration", "DNNIteration",
    "LearnedHyperparameters", "StateMLP", "mlp", "build_layers", "UnfoldedModule",
    "soft_threshold", "to_tensor", "to_numpy", "fixed_point_iteration", "pgd_perturbation",
    "export_linalg",
]

#: Using: what a user of the estimators calls or passes.
USING = __all__[:__all__.index("Param")]
#: Extending: what a family or a user's solver is written with.
EXTENDING = __all__[__all__.index("Param"):]
