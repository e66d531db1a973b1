"""Sparse recovery ``x = H s + e``: ISTA, FISTA and their unfolded versions.

* :class:`SparseCoding` -- the problem (the LASSO and its ISTA step) on the
  open core; :class:`HyperLISTAProblem` -- HyperLISTA's iteration;
* :class:`ISTA`, :class:`FISTA` -- the classical solvers (``paradigm="classical"``);
* :class:`UnfoldedISTA` -- LISTA, LISTA-CP, LISTA-CPSS, ALISTA and the
  correction / DNN variants, selected by ``paradigm`` and a few options;
* :class:`HyperLISTA` -- three hyperparameters tuned without back-propagation.

Literature names map to parameters as follows:

=============== ===============================================================
LISTA           ``UnfoldedISTA(paradigm="objective")``
LISTA-CP        ``UnfoldedISTA(paradigm="objective", coupling="cp")``
LISTA-CPSS      ``UnfoldedISTA(paradigm="objective", coupling="cp", support_selection=True)``
ALISTA          ``UnfoldedISTA(paradigm="hyperparameters", weights="analytic", support_selection=True)``
HyperLISTA      ``HyperLISTA``
=============== ===============================================================
"""

from .estimators import FISTA, ISTA, DictionaryEstimatedWarning, HyperLISTA, UnfoldedISTA
from .problem import (
    HyperLISTAProblem,
    SparseCoding,
    analytic_weights,
    fista_momentum,
    lipschitz_constant,
    support_selected_threshold,
)

__all__ = ["ISTA", "FISTA", "UnfoldedISTA", "HyperLISTA", "DictionaryEstimatedWarning",
           "SparseCoding", "HyperLISTAProblem", "analytic_weights", "lipschitz_constant",
           "fista_momentum", "support_selected_threshold"]
