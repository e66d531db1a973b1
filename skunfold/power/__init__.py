r"""Power allocation in interference networks: WMMSE and its unfolded version, UWMMSE.

``M`` single-antenna transmitter-receiver pairs share a band; given a
channel realisation (amplitude gains ``H[b, j, i]`` from transmitter ``j``
to receiver ``i``, see :func:`~skunfold.datasets.make_interference_network`),
choose every transmitter's power in ``[0, p_max]`` to maximise the sum rate
:math:`\sum_i \log_2(1 + \mathrm{SINR}_i)`. These are *optimizers as estimators*: ``X`` is
the channels, there are no labels, ``predict`` returns powers and ``score``
the mean sum rate.

* :class:`PowerAllocation` -- the problem on the open core: the scalar
  WMMSE iteration, the sum rate as the objective (maximised, in float64);
* :class:`WMMSE` -- the classical solver of Shi et al. (2011);
* :class:`UnfoldedWMMSE` -- WMMSE unfolded and trained unsupervised on the
  sum rate: UWMMSE (graph neural networks correcting the MSE weights,
  Chowdhury et al. 2021) or learned per-layer scalars.

Modules: ``problem`` (the problem), ``iterations`` (UWMMSE's layers),
``classical`` (:class:`WMMSE`), ``estimators`` (:class:`UnfoldedWMMSE` and
the base shared by both estimators).
"""

from .classical import WMMSE
from .estimators import UnfoldedWMMSE
from .iterations import GraphConvolutionPair, UWMMSELayer, power_layers
from .problem import DEFAULT_NOISE_VAR, PowerAllocation, shift_scale

__all__ = ["WMMSE", "UnfoldedWMMSE", "PowerAllocation", "UWMMSELayer", "GraphConvolutionPair",
           "shift_scale", "power_layers", "DEFAULT_NOISE_VAR"]
