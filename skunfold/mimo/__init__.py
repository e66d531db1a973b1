"""Multiuser MIMO symbol detection: soft interference cancellation and DeepSIC.

``U`` users each send a symbol of a constellation (BPSK, QPSK, 16-QAM); the
receiver's ``N`` antennas observe ``x = sum_u h_u s_u + w``. Complex signals are
handled as real vectors (real parts, then imaginary parts), ``y`` holds one
column of symbol labels per user (scikit-learn's multi-output classification).

* :class:`LMMSEDetector`, :class:`MLDetector` -- reference detectors that need
  the channel (given, or estimated from pilots);
* :class:`SoftICDetector` -- iterative soft interference cancellation, the
  model-based algorithm DeepSIC unfolds;
* :class:`DeepSICClassifier` -- the unfolded detector learned from pilots
  (``paradigm="dnn"``), with hybrid paradigms that keep the soft-IC model.

Use :func:`skunfold.metrics.symbol_error_rate` / ``ser_scorer`` to evaluate:
the ``score`` of these detectors is ``1 - SER``.
"""

from ._constellations import Constellation, get_constellation
from ._estimators import DeepSICClassifier, LMMSEDetector, MLDetector, SoftICDetector
from ._modules import MIMOUnfolded, UserCrossEntropy, soft_ic_loglik

__all__ = ["DeepSICClassifier", "SoftICDetector", "LMMSEDetector", "MLDetector",
           "Constellation", "get_constellation", "MIMOUnfolded", "UserCrossEntropy",
           "soft_ic_loglik"]
