"""The classical solver as an estimator: the scalar WMMSE power allocation."""

from ..core import set_init_parameters
from .estimators import PowerAllocationEstimator
from .problem import DEFAULT_NOISE_VAR

__all__ = ["WMMSE"]


class WMMSE(PowerAllocationEstimator):
    r"""The scalar WMMSE power allocation of Shi et al. (2011); nothing is learned.

    From full power, every iteration computes the receivers
    :math:`u_i = H_{ii} v_i / (\sigma^2 + \sum_j H_{ji}^2 v_j^2)`, the MSE weights
    :math:`w_i = 1 / (1 - u_i H_{ii} v_i)` and the transmit amplitudes
    :math:`v_i = \Pi_{[0, \sqrt{p_{\max}}]}(H_{ii} u_i w_i / \sum_j H_{ij}^2 u_j^2 w_j)`; the
    powers are :math:`v_i^2`. It converges to a stationary point of the sum
    rate. ``fit`` only validates the data;
    :class:`~skunfold.power.UnfoldedWMMSE` is the same iteration unfolded
    and trained.

    ``X`` holds channels of ``M`` transmitter-receiver pairs, a 3-D array
    ``(n_samples, M, M)`` of non-negative *amplitude* gains, ``X[b, j, i]``
    from transmitter ``j`` to receiver ``i`` (the layout of
    :func:`~skunfold.datasets.make_interference_network`), or the same
    flattened to ``(n_samples, M * M)``. ``predict`` returns the powers
    ``(n_samples, M)``, in ``[0, p_max]``; ``score`` is the mean sum rate
    :math:`\sum_i \log_2(1 + \mathrm{SINR}_i)` (bit/s/Hz), the mean of
    ``skunfold.metrics.sum_rate(X, powers, noise_var, gains="amplitude")``
    (``y`` is ignored). Computations are in float64 (the noise power is
    tiny); outputs come back in the precision of ``X``. After ``fit``, 3-D
    channels of any number of pairs are accepted, and ``staged_predict``
    runs any number of iterations.

    Parameters
    ----------
    n_layers : int, default=100
        Number of iterations.
    %(parameters)s

    Attributes
    ----------
    module_ : UnfoldedModule
        The solver as a torch module.
    problem_ : PowerAllocation
        The fitted problem.
    layer_parameters_ : dict of str to ndarray
        WMMSE's hyperparameters at every iteration (column ``"layer"``, then
        ``mu = 0``, ``weight_offset = 1/2`` and ``relaxation = 1/2``: see
        :class:`~skunfold.power.PowerAllocation`).
    n_pairs_ : int
        ``M`` of the training channels.
    n_features_in_ : int
        ``M * M``, the entries of one channel.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Defined only when ``X`` is a DataFrame.

    See Also
    --------
    UnfoldedWMMSE : WMMSE unfolded, with learned corrections (UWMMSE).
    skunfold.metrics.sum_rate : The sum rate of given powers.

    References
    ----------
    .. [1] Q. Shi, M. Razaviyayn, Z.-Q. Luo, C. He, "An iteratively weighted
       MMSE approach to distributed sum-utility maximization for a MIMO
       interfering broadcast channel", IEEE Trans. Signal Process., 2011.

    Examples
    --------
    >>> from skunfold.datasets import make_interference_network
    >>> from skunfold.power import WMMSE
    >>> H, _ = make_interference_network(n_samples=200, n_pairs=10, random_state=0)
    >>> wmmse = WMMSE(n_layers=100).fit(H)
    >>> wmmse.predict(H).shape
    (200, 10)
    >>> rates = [WMMSE(n_layers=k).fit(H).score(H) for k in (1, 10, 100)]
    >>> bool(rates[0] < rates[1] < rates[2])
    True
    """

    supports = ("variable_input_shape",)

    def __init__(self, n_layers=100, *, p_max=1.0, noise_var=DEFAULT_NOISE_VAR, device="auto",
                 n_threads=None, verbose=0):
        set_init_parameters(self, locals())
