r"""Multiuser MIMO symbol detection: soft interference cancellation and DeepSIC.

``U`` users each send a symbol of a constellation (BPSK, QPSK, 16-QAM, or the
alphabet of the labels); the receiver's ``N`` antennas observe
:math:`x = \sum_u h_u s_u + w`. Complex signals are handled as real vectors (real
parts, then imaginary parts), ``y`` holds one column of symbol labels per user
(scikit-learn's multi-output classification).

* :class:`MIMODetection` -- the problem on the open core: soft interference
  cancellation, its state the per-user log-posteriors;
* :class:`LMMSEDetector`, :class:`MLDetector` -- reference detectors that need
  the channel (given, or estimated from pilots);
* :class:`SoftICDetector` -- iterative soft interference cancellation, the
  model-based algorithm DeepSIC unfolds;
* :class:`DeepSICClassifier` -- the unfolded detector learned from pilots
  (``paradigm="dnn"``), with hybrid paradigms that keep the soft-IC model.

Use :func:`skunfold.metrics.symbol_error_rate` / ``ser_scorer`` to evaluate:
the ``score`` of these detectors is ``1 - SER``.
"""

from .classical import LMMSEDetector, MLDetector, SoftICDetector
from .constellations import Constellation, constellation_from_labels, get_constellation
from .estimators import DeepSICClassifier
from .iterations import user_parameters
from .problem import MIMODetection, UserCrossEntropy, soft_ic_loglik, user_cross_entropy

__all__ = ["DeepSICClassifier", "SoftICDetector", "LMMSEDetector", "MLDetector",
           "MIMODetection", "Constellation", "get_constellation", "constellation_from_labels",
           "user_parameters", "UserCrossEntropy", "user_cross_entropy", "soft_ic_loglik"]
