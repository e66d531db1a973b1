"""Sparse recovery ``x = H s + e``: ISTA, FISTA and their unfolded versions.

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

from ._estimators import FISTA, ISTA, DictionaryEstimatedWarning, HyperLISTA, UnfoldedISTA
from ._modules import SparseUnfolded, analytic_weights

__all__ = ["ISTA", "FISTA", "UnfoldedISTA", "HyperLISTA", "DictionaryEstimatedWarning",
           "SparseUnfolded", "analytic_weights"]
