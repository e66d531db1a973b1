"""Wideband hybrid precoding: projected gradient ascent, classical and unfolded.

An *optimizer as an estimator*: the input is a stack of channel realisations
``(n_samples, B, N, M)`` (``B`` frequency bands, ``N`` single-antenna users,
``M`` antennas; see :func:`skunfold.datasets.make_wideband_channels`), there
are no labels, training maximises the rate, and the output is a decision,
the precoders of every realisation.

* :class:`HybridPrecoding` -- the problem (the rate of survey eq. 11 and a
  projected gradient ascent iteration, eq. 12) on the open core;
* :class:`HybridPGA` -- the classical solver (nothing learned);
* :class:`UnfoldedHybridPGA` -- the solver unfolded with learned step sizes
  (Lavi and Shlezinger's unfolded PGA), or with a learned correction of the
  digital step;
* :func:`sum_rate`, :func:`rate_gradients`, :func:`unit_modulus`,
  :func:`power_scale` -- the pieces of the iteration.

``predict`` returns the effective precoder :math:`W_a W_{d,b}` of every band, one
array ``(n_samples, B, M, N)``; ``decompose`` the hybrid factors
:math:`(W_a, W_d)`; ``score`` the mean rate in nats per band; ``step_sizes_`` and
``layer_parameters_`` the step sizes of every layer.

Modules: :mod:`~skunfold.beamforming.problem` (the problem and the pieces of
the iteration), :mod:`~skunfold.beamforming.iterations` (the correction
layers), :mod:`~skunfold.beamforming.base` (the channel handling and public
API shared by the estimators), :mod:`~skunfold.beamforming.classical`
(:class:`HybridPGA`) and :mod:`~skunfold.beamforming.estimators`
(:class:`UnfoldedHybridPGA`).
"""

from .classical import HybridPGA
from .estimators import UnfoldedHybridPGA
from .iterations import CorrectionLayer, DigitalCorrection
from .problem import HybridPrecoding, power_scale, rate_gradients, sum_rate, unit_modulus

__all__ = ["HybridPGA", "UnfoldedHybridPGA", "HybridPrecoding", "DigitalCorrection",
           "CorrectionLayer", "sum_rate", "rate_gradients", "unit_modulus", "power_scale"]
