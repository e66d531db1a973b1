r"""Robust PCA :math:`X = L R^\top + \Psi Y`: the classical solver and its unfolded versions.

* :class:`RobustPCAProblem` -- the problem (objective (24) and the iteration
  (25)-(27)) on the open core (``problem.py``; its numerical kernels are in
  ``linalg.py``, their exportable versions -- no QR, SVD or solve, which ONNX
  lacks -- in ``graphs.py``, the family's layers in ``iterations.py``);
* :class:`RobustPCA` -- alternating soft thresholding and scaled gradient steps
  (the model-based solver, nothing learned; ``classical.py``);
* :class:`LearnedRPCA` -- the solver unfolded into ``n_layers`` layers, trained
  in any of the survey's paradigms (``"hyperparameters"`` is LRPCA;
  ``estimators.py``).

Both estimators share their data handling and decomposition API
(``decomposition.py``). Each instance is a matrix: estimators take a 3-D stack
``(n_instances, n1, n2)`` or a single 2-D matrix.
"""

from .classical import RobustPCA
from .decomposition import IgnoredTargetWarning
from .estimators import LearnedRPCA
from .linalg import truncated_svd
from .problem import RobustPCAProblem

__all__ = ["RobustPCA", "LearnedRPCA", "IgnoredTargetWarning", "RobustPCAProblem",
           "truncated_svd"]
