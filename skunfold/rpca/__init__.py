"""Robust PCA ``X = L R^T + Psi Y``: the classical solver and its unfolded versions.

* :class:`RobustPCA` -- alternating soft thresholding and scaled gradient steps
  (the model-based solver, ``paradigm="classical"``);
* :class:`LearnedRPCA` -- the solver unfolded into ``n_layers`` layers, trained
  in any of the survey's paradigms (``"hyperparameters"`` is LRPCA).

Each instance is a matrix: estimators take a 3-D stack ``(n_instances, n1, n2)``
or a single 2-D matrix.
"""

from ._estimators import IgnoredTargetWarning, LearnedRPCA, RobustPCA
from ._modules import RPCAUnfolded, truncated_svd

__all__ = ["RobustPCA", "LearnedRPCA", "IgnoredTargetWarning", "RPCAUnfolded", "truncated_svd"]
