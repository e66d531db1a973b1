"""Sparse recovery :math:`x = H s + e`: ISTA, FISTA and their unfolded versions.

* :class:`SparseCoding` -- the problem (the LASSO and its ISTA step) on the
  open core; :class:`HyperLISTAProblem` -- HyperLISTA's iteration;
* :class:`ISTA`, :class:`FISTA` -- the classical solvers (nothing learned);
* :class:`UnfoldedISTA` -- LISTA, LISTA-CP, LISTA-CPSS, ALISTA and the
  correction / DNN variants, selected by ``paradigm`` and a few options;
* :class:`HyperLISTA` -- three hyperparameters tuned without back-propagation;
* :class:`AMP`, :class:`UnfoldedAMP` -- approximate message passing and learned
  AMP (LAMP) on :class:`AMPProblem`; :func:`amp_state_evolution` -- its scalar
  state-evolution prediction.

Literature names map to parameters as follows:

=============== ===============================================================
LISTA           ``UnfoldedISTA(paradigm="objective")``
LISTA-CP        ``UnfoldedISTA(paradigm="objective", coupling="cp")``
LISTA-CPSS      ``UnfoldedISTA(paradigm="objective", coupling="cp", support_selection=True)``
ALISTA          ``UnfoldedISTA(weights="analytic", support_selection=True)`` (default paradigm)
HyperLISTA      ``HyperLISTA``
AMP             ``AMP`` (``denoiser="bg"``: Bayes-optimal AMP)
LAMP-l1         ``UnfoldedAMP(paradigm="objective")``
LAMP-bg         ``UnfoldedAMP(paradigm="dnn", shrinkage="bg")``
LAMP-pwlin      ``UnfoldedAMP(paradigm="dnn", shrinkage="pwlin")``
=============== ===============================================================
"""

from .amp import (
    AMPProblem,
    NonGaussianDictionaryWarning,
    gaussian_ensemble_statistics,
    mean_atom_energy,
)
from .analytic import (
    COHERENCE_LIMIT,
    CoherentDictionaryWarning,
    analytic_coherence,
    analytic_step,
    analytic_weights,
    generalized_coherence,
)
from .classical import AMP, FISTA, ISTA
from .coding import DictionaryEstimatedWarning, check_reconstruction
from .estimators import UnfoldedAMP, UnfoldedISTA
from .hyperlista import HyperLISTA, MatrixFreeWeightsWarning, OperatorHyperLISTAProblem
from .problem import (
    AnalyticGuard,
    HyperLISTAProblem,
    SparseCoding,
    fista_momentum,
    is_operator,
    lipschitz_constant,
    operator_lipschitz,
    support_selected_threshold,
)
from .state_evolution import amp_state_evolution

__all__ = [
    "AMP",
    "FISTA",
    "ISTA",
    "AMPProblem",
    "is_operator",
    "operator_lipschitz",
    "NonGaussianDictionaryWarning",
    "gaussian_ensemble_statistics",
    "AnalyticGuard",
    "COHERENCE_LIMIT",
    "CoherentDictionaryWarning",
    "DictionaryEstimatedWarning",
    "HyperLISTA",
    "HyperLISTAProblem",
    "OperatorHyperLISTAProblem",
    "MatrixFreeWeightsWarning",
    "mean_atom_energy",
    "SparseCoding",
    "UnfoldedAMP",
    "UnfoldedISTA",
    "amp_state_evolution",
    "analytic_coherence",
    "analytic_step",
    "analytic_weights",
    "check_reconstruction",
    "generalized_coherence",
    "fista_momentum",
    "lipschitz_constant",
    "support_selected_threshold",
]
