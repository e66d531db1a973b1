"""Synthetic problems with ground truth (every generator takes ``random_state``)."""

from ._rpca import make_rpca, make_static_video, perturb_psi
from ._sparse import make_sparse_recovery
try:
    from ._mimo import MIMOFrame, make_mimo, make_mimo_stream
except ImportError:
    pass
