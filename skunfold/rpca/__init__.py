"""Robust PCA ``X = L R^T + Psi Y``: the classical solver and its unfolded versions.

* :class:`RobustPCAProblem` -- the problem (objective (24) and the iteration
  (25)-(27)) on the open core;
* :class:`RobustPCA` -- alternating soft thresholding and scaled gradient steps
  (the model-based solver, ``paradigm="classical"``);
* :class:`LearnedRPCA` -- the solver unfolded into ``n_layers`` layers, trained
  in any of the survey's paradigms (``"hyperparameters"`` is LRPCA).

Each instance is a matrix: estimators take a 3-D stack ``(n_instances, n1, n2)``
or a single 2-D matrix.
"""

from .base import IgnoredTargetWarning
from .estimators import LearnedRPCA, RobustPCA
from .problem import RobustPCAProblem, truncated_svd

__all__ = ["RobustPCA", "LearnedRPCA", "IgnoredTargetWarning", "RobustPCAProblem",
           "truncated_svd"]
