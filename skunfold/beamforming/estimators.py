"""Hybrid-precoding estimators: projected gradient ascent (HybridPGA) and its unfolded version.

Both are presets of :class:`~skunfold.core.UnfoldedEstimator` on the
:class:`~skunfold.beamforming.HybridPrecoding` problem: an *optimizer as an
estimator*. The input is a stack of channel realisations, there are no
labels, and the output is a decision, the precoders of every realisation.
The channel handling and the public API are in
:class:`~skunfold.beamforming.base.HybridPrecodingMixin`.
"""

from ..core import UnfoldedEstimator, document_parameters, set_init_parameters
from .base import HybridPrecodingMixin

__all__ = ["HybridPGA", "UnfoldedHybridPGA"]


_PARAMETERS_DOC = """
    n_rf_chains : int, default=10
        RF chains ``L`` (columns of the analog precoder), ``1 <= L <= M``.
    step_size : float, default=0.5
        The classical step size of every update (``mu_a`` and every
        ``mu_d,b``); the initial value of the learned ones.
    analog_constraint : {"unit_modulus", None}, default="unit_modulus"
        ``"unit_modulus"``: the analog precoder is a network of phase
        shifters, every entry of modulus ``1/sqrt(M)`` (the paper's hybrid
        model; the normalisation gives its columns unit norm, so that the
        step sizes have the same scale in both models), projected onto after
        every analog step. ``None``: no constraint on ``W_a`` beyond the power
        budget (the authors' public code).
"""

_HIDDEN_DOC = """    hidden_layer_sizes : tuple of int, default=(32,)
        Hidden widths of the correction network (``paradigm="correction"``).
    %(training_parameters)s"""

_MODEL_DOC = """
    The rate of a realisation (survey eq. 11, nats per band, unit noise
    variance) is ``R = (1/B) sum_b log det(I_N + H_b W_a W_d,b W_d,b^H W_a^H
    H_b^H)``, under the power budget ``sum_b ||W_a W_d,b||_F^2 = N B``. One
    iteration takes a gradient step on the shared analog precoder ``W_a``,
    applies the analog constraint (with ``"unit_modulus"`` the projection,
    then the digital precoders rescaled to the budget; with ``None``, ``W_a``
    rescaled), then a gradient step on every band's digital precoder
    ``W_d,b`` and rescales them to the budget. The gradients are the closed
    forms of :func:`~skunfold.beamforming.rate_gradients`. ``W_a`` starts
    from the first ``L`` right singular vectors of the band-averaged channel,
    ``W_d`` from a random draw (``random_state``), the same for every sample,
    rescaled to its budget.

    Differences with the authors' public code: there, the digital precoders
    are updated one band at a time, the power rescaling interleaved with the
    bands, ``W_a`` starts from the first ``L`` columns of ``V^H`` instead of
    ``V`` and every sample draws its own ``W_d``; here the bands are updated
    together and the draw is shared. On its real channels (1,000
    realisations) the two give the same rate to 0.05 nats up to iteration 10
    and 12.05 (here) vs 11.95 nats per band at iteration 30.
"""

_FITTED_DOC = """
    channel_shape_ : tuple of int
        ``(B, N, M)`` of the channels seen in ``fit`` (``(1, 1, M)`` for 2-D
        input, ``(1, N, M)`` for 3-D input).
    complex_channels_ : bool
        Whether the channels (and so the precoders) are complex.
    n_iter_ : int
        Depth of the fitted model (``n_layers``).
    step_sizes_ : ndarray of shape (n_layers, 1 + n_bands)
        ``mu_a,k`` (column 0) and ``mu_d,b,k`` (columns 1 to B) of every layer.
    n_features_in_ : int
        Size of the second axis of ``X``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined only when ``X`` is a DataFrame (2-D input).
"""

_REFERENCES = """
    References
    ----------
    .. [1] O. Lavi and N. Shlezinger, "Learn to rapidly and robustly optimize
       hybrid precoding", IEEE Trans. Commun., 2023.
    .. [2] N. Shlezinger et al., "Deep unfolding: recent developments, theory,
       and design guidelines" (the survey), Sec. III-B, eqs. (11)-(12).
"""


@document_parameters(random_state="""
        Seed of the initial digital precoders (one draw shared by the
        samples, see above).""")
class HybridPGA(HybridPrecodingMixin, UnfoldedEstimator):
    __doc__ = """Wideband hybrid precoding by projected gradient ascent on the rate (no learning).

    For every channel realisation, ``n_layers`` iterations of projected
    gradient ascent compute an analog precoder ``W_a`` (``M x L``), shared
    by ``B`` frequency bands, and a digital precoder ``W_d,b`` (``L x N``)
    per band, for ``N`` single-antenna users and ``M`` antennas.
""" + _MODEL_DOC + """
    It computes in the precision of ``X`` and runs at any depth.

    Parameters
    ----------
    n_layers : int, default=30
        Number of iterations.""" + _PARAMETERS_DOC + """    %(training_parameters)s
    Attributes
    ----------
    module_ : UnfoldedModule
        The solver as a torch module.
    problem_ : HybridPrecoding
        The fitted problem.""" + _FITTED_DOC + """
    See Also
    --------
    UnfoldedHybridPGA : The iteration unfolded, with learned step sizes.
    sum_rate : The rate of given precoders.
""" + _REFERENCES + """
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

    paradigm = "classical"

    def __init__(self, n_layers=30, *, n_rf_chains=10, step_size=0.5,
                 analog_constraint="unit_modulus", device="auto", n_threads=None,
                 random_state=None):
        set_init_parameters(self, locals())


@document_parameters(lr="""
        Learning rate of the optimizer (``None``: 0.05). The step sizes are
        learned through their logarithm, so ``lr`` is about the relative change
        of a step size per optimizer step.""", batch_size="""
        Channel realisations per mini-batch (``-1``: all).""", random_state="""
        The single source of randomness: the initial digital precoders, the
        correction network, the shuffling and the validation split.""", early_stopping="""
        Hold out ``validation_fraction`` of the channels, stop when their mean
        rate has not improved for ``n_iter_no_change`` epochs and keep the
        best epoch (on by default: a too large learning rate then costs
        epochs, not the model).""")
class UnfoldedHybridPGA(HybridPrecodingMixin, UnfoldedEstimator):
    __doc__ = """Projected gradient ascent for hybrid precoding, unfolded with learned step sizes.

    Each of the ``n_layers`` layers is one iteration of :class:`HybridPGA`
    with its own step sizes: one for the analog precoder and one per band for
    the digital precoders, ``n_layers * (1 + B)`` scalars (45 at five layers
    and eight bands), learned through their logarithm (they stay positive),
    initialised at ``step_size`` (Lavi and Shlezinger's unfolded PGA). What
    is learned depends on ``paradigm``:

    =============== ==============================================================
    paradigm        learned
    =============== ==============================================================
    classical       nothing: :class:`HybridPGA` run for ``n_layers`` iterations
    hyperparameters the step sizes ``mu_a,k`` and ``mu_d,b,k`` of every layer
    correction      the step sizes, and a small network (shared by the layers,
                    bands and users) that corrects the digital gradient before
                    its step, user by user (zero until trained), see
                    :class:`~skunfold.beamforming.DigitalCorrection`
    =============== ==============================================================

    Training is unsupervised: the loss is minus the mean rate at the last
    layer (``loss_schedule="end_to_end"``; a ``y`` passed to ``fit`` is
    ignored). Early stopping is on by default: the epoch of best validation
    rate is kept, and if even that is below the classical solver's mean
    rate on the training channels, the classical step sizes are restored
    with a :class:`~sklearn.exceptions.ConvergenceWarning`. An untrained
    model (``max_epochs=0``) is the classical solver at ``n_layers``
    iterations.
""" + _MODEL_DOC + """
    Parameters
    ----------
    n_layers : int, default=5
        Depth ``K``.
    paradigm : {"hyperparameters", "correction", "classical"}, default="hyperparameters"
        What is learned (see the table above).""" + _PARAMETERS_DOC + _HIDDEN_DOC + """
    Attributes
    ----------
    module_ : UnfoldedModule
        The fitted network (``net_.module_`` when trained).
    problem_ : HybridPrecoding
        The fitted problem.
    net_ : UnfoldingNet or None
        The trained skorch net (``None`` for ``paradigm="classical"``).
    history_ : skorch.History or None
        Per-epoch training and validation losses (minus the mean rate).""" + _FITTED_DOC + """
    See Also
    --------
    HybridPGA : The classical solver.
""" + _REFERENCES + """
    Examples
    --------
    >>> from skunfold.datasets import make_wideband_channels
    >>> from skunfold.beamforming import HybridPGA, UnfoldedHybridPGA
    >>> H = make_wideband_channels(200, n_bands=2, n_users=2, n_antennas=4, random_state=0)
    >>> H_test = make_wideband_channels(100, n_bands=2, n_users=2, n_antennas=4,
    ...                                 random_state=1)
    >>> est = UnfoldedHybridPGA(n_layers=3, n_rf_chains=2, max_epochs=10,
    ...                         random_state=0).fit(H)
    >>> est.step_sizes_.shape                # (mu_a, mu_d,1, mu_d,2) of every layer
    (3, 3)
    >>> pga = HybridPGA(n_layers=3, n_rf_chains=2, random_state=0).fit(H)
    >>> bool(est.score(H_test) > pga.score(H_test))
    True
    """

    paradigms = ("classical", "hyperparameters", "correction")
    default_lr = {None: 0.05}

    def __init__(self, n_layers=5, *, n_rf_chains=10, paradigm="hyperparameters",
                 step_size=0.5, analog_constraint="unit_modulus", hidden_layer_sizes=(32,),
                 loss_schedule="end_to_end", max_epochs=40, lr=None, lr_schedule="constant",
                 max_grad_norm=None, batch_size=100, optimizer="adam", early_stopping=True,
                 validation_fraction=0.1, n_iter_no_change=10, device="auto", n_threads=None,
                 warm_start=False, random_state=None, verbose=0):
        set_init_parameters(self, locals())
