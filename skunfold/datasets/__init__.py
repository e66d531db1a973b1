"""Synthetic problems with ground truth (every generator takes ``random_state``)."""

from ._mimo import MIMOFrame, make_mimo, make_mimo_stream
from ._rpca import make_rpca, make_static_video, perturb_psi
from ._sparse import make_sparse_recovery

__all__ = ["make_sparse_recovery", "make_mimo", "make_mimo_stream", "MIMOFrame",
           "make_rpca", "perturb_psi", "make_static_video"]
