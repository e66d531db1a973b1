"""HybridPGA: wideband hybrid precoding by projected gradient ascent, as an estimator.

A preset of :class:`~skunfold.core.UnfoldedEstimator` on the
:class:`~skunfold.beamforming.HybridPrecoding` problem that learns nothing:
the classical solver, an *optimizer as an estimator* (the input is a stack of
channel realisations, the output the precoders of every realisation). The
channel handling and the public API are in
:class:`~skunfold.beamforming.base.HybridPrecodingMixin`.
"""

from ..core import Param, UnfoldedEstimator, set_init_parameters
from .base import HybridPrecodingMixin

__all__ = ["HybridPGA"]


class HybridPGA(HybridPrecodingMixin, UnfoldedEstimator):
    r"""Wideband hybrid precoding by projected gradient ascent on the rate (no learning).

    For every channel realisation, ``n_layers`` iterations of projected
    gradient ascent compute an analog precoder :math:`W_a` (:math:`M \times L`), shared
    by ``B`` frequency bands, and a digital precoder :math:`W_{d,b}` (:math:`L \times N`)
    per band, for ``N`` single-antenna users and ``M`` antennas.

    The rate of a realisation (survey eq. 11, nats per band, unit noise
    variance) is :math:`R = \frac{1}{B} \sum_b \log\det(I_N + H_b W_a W_{d,b}
    W_{d,b}^H W_a^H H_b^H)`, under the power budget :math:`\sum_b \|W_a W_{d,b}\|_F^2 = N B`. One
    iteration takes a gradient step on the shared analog precoder :math:`W_a`,
    applies the analog constraint (with ``"unit_modulus"`` the projection,
    then the digital precoders rescaled to the budget; with ``None``, :math:`W_a`
    rescaled), then a gradient step on every band's digital precoder
    :math:`W_{d,b}` and rescales them to the budget. The gradients are the closed
    forms of :func:`~skunfold.beamforming.rate_gradients`. :math:`W_a` starts
    from the ``L`` leading eigenvectors of the band-averaged channel covariance
    :math:`\frac{1}{B} \sum_b H_b^H H_b` (each with its first entry real and
    positive; see :class:`~skunfold.beamforming.HybridPrecoding`), :math:`W_d`
    from a random draw (``random_state``), the same for every sample, rescaled
    to its budget.

    Differences with the authors' public code: there, the digital precoders
    are updated one band at a time, the power rescaling interleaved with the
    bands, :math:`W_a` starts from the first ``L`` columns of :math:`V^H` of the
    SVD of the band-averaged channel (whose columns beyond its rank ``N`` are
    LAPACK's basis of its null space) and every sample draws its own
    :math:`W_d`; here the bands are updated together, the draw is shared and
    the start uses every band's channel. On real channels without the
    unit-modulus constraint, the benchmark (``benchmarks/beamforming.py
    --quick``, 100 test channels) measures 11.82 and 12.31 nats per band at
    iterations 10 and 30, the re-run of the public code 11.47 and 11.96.

    It computes in the precision of ``X`` and runs at any depth.

    Parameters
    ----------
    %(parameters)s

    Attributes
    ----------
    module_ : UnfoldedModule
        The solver as a torch module.
    problem_ : HybridPrecoding
        The fitted problem.
    channel_shape_ : tuple of int
        ``(B, N, M)`` of the channels seen in ``fit`` (``(1, 1, M)`` for 2-D
        input, ``(1, N, M)`` for 3-D input).
    complex_channels_ : bool
        Whether the channels (and so the precoders) are complex.
    n_iter_ : int
        Depth of the fitted model (``n_layers``).
    step_sizes_ : ndarray of shape (n_layers, 1 + n_bands)
        :math:`\mu_{a,k}` (column 0) and :math:`\mu_{d,b,k}` (columns 1 to B) of every layer.
    layer_parameters_ : dict of str to ndarray
        The same step sizes as a table: columns ``"layer"``,
        ``"analog_step"`` and ``"digital_step"`` (shape ``(n_layers, B)``).
    paradigm_ : str
        ``"classical"``.
    n_features_in_ : int
        Size of the second axis of ``X``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined only when ``X`` is a DataFrame (2-D input).

    See Also
    --------
    UnfoldedHybridPGA : The iteration unfolded, with learned step sizes.
    sum_rate : The rate of given precoders.

    References
    ----------
    .. [1] O. Lavi and N. Shlezinger, "Learn to rapidly and robustly optimize
       hybrid precoding", IEEE Trans. Commun., 2023.
    .. [2] N. Shlezinger et al., "Deep unfolding: recent developments, theory,
       and design guidelines" (the survey), Sec. III-B, eqs. (11)-(12).

    Examples
    --------
    >>> from skunfold.datasets import make_wideband_channels
    >>> from skunfold.beamforming import HybridPGA, sum_rate
    >>> H = make_wideband_channels(20, n_bands=4, n_users=2, n_antennas=6, random_state=0)
    >>> pga = HybridPGA(n_layers=30, n_rf_chains=3, random_state=0).fit(H)
    >>> P = pga.predict(H)                  # W_a W_d,b of every band
    >>> P.shape
    (20, 4, 6, 2)
    >>> bool(abs(pga.score(H) - sum_rate(H, P).mean()) < 1e-9)
    True
    >>> W_a, W_d = pga.decompose(H)
    >>> W_a.shape, W_d.shape
    ((20, 6, 3), (20, 4, 3, 2))
    >>> rates = list(pga.staged_score(H))   # the mean rate after every iteration
    >>> bool(rates[-1] > rates[0])
    True
    """

    supports = ("complex_input",)
    parameter_table = {
        "n_layers": Param(None, "int", """
        Number of iterations."""),
        "random_state": Param(None, doc="""
        Seed of the initial digital precoders (one draw shared by the
        samples, see above)."""),
    }

    def __init__(self, n_layers=30, *, n_rf_chains=10, step_size=0.5,
                 analog_constraint="unit_modulus", device="auto", n_threads=None,
                 random_state=None, verbose=0):
        set_init_parameters(self, locals())
