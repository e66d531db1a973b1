"""Synthetic problems with ground truth (every generator takes ``random_state``)."""

from ._sparse import make_sparse_recovery

__all__ = ["make_sparse_recovery"]
