"""UnfoldedHybridPGA: projected gradient ascent for hybrid precoding, unfolded.

A preset of :class:`~skunfold.core.UnfoldedEstimator` on the
:class:`~skunfold.beamforming.HybridPrecoding` problem: an *optimizer as an
estimator* trained without labels, on the rate. The classical solver is
:class:`~skunfold.beamforming.HybridPGA` (:mod:`skunfold.beamforming.classical`);
the channel handling and the public API of both are in
:class:`~skunfold.beamforming.base.HybridPrecodingMixin`.
"""

from ..core import Param, UnfoldedEstimator, set_init_parameters
from .base import HybridPrecodingMixin

__all__ = ["UnfoldedHybridPGA"]


class UnfoldedHybridPGA(HybridPrecodingMixin, UnfoldedEstimator):
    r"""Projected gradient ascent for hybrid precoding, unfolded with learned step sizes.

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
    hyperparameters the step sizes :math:`\mu_{a,k}` and :math:`\mu_{d,b,k}` of every layer
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
    with a :class:`~sklearn.exceptions.ConvergenceWarning` (a too large
    learning rate then costs epochs, not the model). An untrained model
    (``max_epochs=0``) is the classical solver at ``n_layers`` iterations.

    The rate, the iteration and its initialisation are those of
    :class:`HybridPGA`: the rate of a realisation (survey eq. 11, nats per
    band) is :math:`R = \frac{1}{B} \sum_b \log\det(I_N + H_b W_a W_{d,b}
    W_{d,b}^H W_a^H H_b^H)` under the power budget :math:`\sum_b \|W_a W_{d,b}\|_F^2 = N B`; one
    iteration is a gradient step on the shared analog precoder :math:`W_a` and
    its constraint, then a gradient step on every band's digital precoder
    :math:`W_{d,b}` and the rescaling to the budget.

    Parameters
    ----------
    %(parameters)s

    Attributes
    ----------
    module_ : UnfoldedModule
        The fitted network (``net_.module_`` when trained).
    problem_ : HybridPrecoding
        The fitted problem.
    net_ : UnfoldingNet or None
        The trained skorch net (``None`` for ``paradigm="classical"``).
    history_ : skorch.History or None
        Per-epoch training and validation losses (minus the mean rate).
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
        The paradigm fitted (``"classical"`` when nothing was trained).
    n_features_in_ : int
        Size of the second axis of ``X``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined only when ``X`` is a DataFrame (2-D input).

    See Also
    --------
    HybridPGA : The classical solver.

    References
    ----------
    .. [1] O. Lavi and N. Shlezinger, "Learn to rapidly and robustly optimize
       hybrid precoding", IEEE Trans. Commun., 2023.
    .. [2] N. Shlezinger et al., "Deep unfolding: recent developments, theory,
       and design guidelines" (the survey), Sec. III-B, eqs. (11)-(12).

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
    >>> est.layer_parameters_["digital_step"].shape
    (3, 2)
    >>> pga = HybridPGA(n_layers=3, n_rf_chains=2, random_state=0).fit(H)
    >>> bool(est.score(H_test) > pga.score(H_test))
    True
    """

    supports = ("training", "unsupervised", "complex_input")
    paradigms = ("classical", "hyperparameters", "correction")
    default_lr = {None: 0.05}
    parameter_table = {
        "n_layers": Param(None, "int", """
        Depth ``K``."""),
        "paradigm": Param(None, '{"hyperparameters", "correction", "classical"}', """
        What is learned (see the table above)."""),
        "hidden_layer_sizes": Param(None, doc="""
        Hidden widths of the correction network (``paradigm="correction"``)."""),
        "lr": Param(None, doc="""
        Learning rate of the optimizer (``None``: 0.05). The step sizes are
        learned through their logarithm, so ``lr`` is about the relative change
        of a step size per optimizer step."""),
        "random_state": Param(None, doc="""
        The single source of randomness: the initial digital precoders, the
        correction network, the shuffling and the validation split."""),
    }

    def __init__(self, n_layers=5, *, n_rf_chains=10, paradigm="hyperparameters",
                 step_size=0.5, analog_constraint="unit_modulus", hidden_layer_sizes=(32,),
                 loss_schedule="end_to_end", max_epochs=40, lr=None, batch_size=100,
                 optimizer="adam", early_stopping=True, device="auto", n_threads=None,
                 keep_best=True, warm_start=False, random_state=None, verbose=0):
        set_init_parameters(self, locals())
