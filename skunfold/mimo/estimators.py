"""DeepSIC as a scikit-learn classifier.

:class:`DeepSICClassifier` is a preset of :class:`~skunfold.core.UnfoldedEstimator`
on the :class:`~skunfold.mimo.MIMODetection` problem: its parameters, its
docstring, the labels (``classes_``, through the family's
:class:`~skunfold.mimo.base.MIMOClassifierMixin`) and ``partial_fit`` (online
adaptation, through :func:`skunfold.core.adapt`).
"""

from numbers import Integral

import numpy as np

from ..core import (
    EarlyStopping,
    Param,
    SampleSource,
    UnfoldedEstimator,
    adapt,
    constraints,
    set_init_parameters,
)
from .base import MODEL_ROWS, MIMOClassifierMixin, StagedDetectorMixin, check_constellation
from .constellations import fit_channel_model, real_channel
from .iterations import parse_modules, user_parameters
from .problem import MIMODetection

__all__ = ["DeepSICClassifier"]

#: DeepSIC's patience: ``early_stopping=True`` is ``EarlyStopping(n_iter_no_change=20)``.
PATIENCE = 20


def _check_hidden_sizes(value, name):
    """Hidden widths of the user networks: a tuple of positive ints; empty makes them linear."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (tuple, list, np.ndarray)):
        sizes = None
    else:
        sizes = tuple(value)
    if sizes is None or not all(isinstance(h, Integral) and not isinstance(h, (bool, np.bool_))
                                and h >= 1 for h in sizes):
        raise ValueError(f"{name} must be a tuple of positive integers (the hidden widths of "
                         f"each user's network; () for linear networks), got {value!r}")
    return tuple(int(h) for h in sizes)


class DeepSICClassifier(StagedDetectorMixin, MIMOClassifierMixin, UnfoldedEstimator):
    """DeepSIC: iterative soft interference cancellation unfolded into learned layers.

    Layer ``k`` holds one compact network per user; user ``u``'s network maps
    the received vector ``x`` and the other users' soft estimates (posteriors)
    from layer ``k - 1`` to the posterior of user ``u``'s symbol (softmax); the
    first layer starts from uniform posteriors. No channel knowledge is
    needed: the networks are trained from pilots (``X`` the received vectors,
    ``y`` the transmitted symbols, one column per user) with the
    cross-entropy, by default layer by layer as DeepSIC proposes
    (``loss_schedule="sequential"``). This is the survey's DNN paradigm; the
    other paradigms keep more of the model-based soft IC
    (:class:`SoftICDetector`), which needs a channel (given, or estimated from
    the pilots by least squares):

    =============== =====================================================
    paradigm        layer k
    =============== =====================================================
    dnn             one MLP per user (DeepSIC)
    correction      soft IC plus a learned per-user MLP correction of the
                    log-likelihoods (starts as soft IC)
    hyperparameters soft IC with learned per-user noise inflation and a
                    damping factor (:math:`U + 1` scalars per layer)
    classical       soft IC, nothing learned
    =============== =====================================================

    A single user (1-D ``y``) makes an ordinary multi-class classifier.

    Parameters
    ----------
    n_layers : int, default=5
        Number of unfolded soft IC iterations.
    paradigm : {"dnn", "correction", "hyperparameters", "classical"}, default="dnn"
    constellation : {None, "bpsk", "qpsk", "16qam"}, default=None
        ``None``: the classes are the labels present in ``y`` (any labels, as
        for any scikit-learn classifier; all users share them); the
        model-based paradigms then take numeric labels as their own real
        symbol values (``-1, +1`` is BPSK) and other labels as equally spaced
        real points (see :func:`constellation_from_labels`). A named
        constellation fixes the classes to its labels (BPSK symbols ``-1, +1``
        or point indices) and rejects other labels.
    hidden_layer_sizes : tuple of int, default=(64,)
        Hidden layers of each user's network (``()``: linear networks).
    channel : array-like of shape (n_antennas, n_users), default=None
        Channel of the model-based paradigms (ignored by ``"dnn"``);
        ``None``: least-squares estimate from the pilots.
    noise_var : float, default=None
        Noise variance per antenna of the model-based paradigms; ``None``:
        estimated from the pilot residuals.
    adapt_epochs : int, default=10
        Passes over the new pilots per stage in :meth:`partial_fit`.
    adapt_lr : float, default=None
        Learning rate of :meth:`partial_fit` (``None``: ``lr``).
    loss_schedule : str or LossSchedule, default="sequential"
        ``"sequential"`` (each layer's networks trained on its own output's
        cross-entropy with earlier layers frozen, as DeepSIC),
        ``"end_to_end"``, ``"multi_iteration"``, ``"sequential+end_to_end"`` or
        a :class:`~skunfold.core.LossSchedule`.
    max_epochs : int, default=1000
        Passes over the pilots, shared among the stages of the schedule (200
        per layer with the sequential schedule and 5 layers).
    lr : float or None, default=5e-3
        Learning rate (``None``: 5e-3).
    batch_size : int, default=-1
        Mini-batch size; ``-1`` trains full-batch on the pilots.
    %(parameters)s

    Attributes
    ----------
    module_ : UnfoldedModule
        The fitted network (``net_.module_`` when trained); see
        :func:`user_parameters` for one user's network.
    problem_ : MIMODetection
        The fitted problem (channel, points and noise variance of the
        model-based paradigms).
    net_ : UnfoldingNet or None
        The trained skorch net (``None`` for ``paradigm="classical"``).
    history_ : skorch.History or None
        Per-epoch losses of the last ``fit`` or ``partial_fit``.
    layer_parameters_ : dict of str to ndarray
        The soft IC hyperparameters of every layer (column ``"layer"``, then
        ``"noise_scale"`` per user and ``"damping"``): learned with
        ``"hyperparameters"``, the classical ones with ``"correction"`` and
        ``"classical"``; only ``"layer"`` for ``"dnn"``, whose layers are
        networks.
    paradigm_ : str
        The paradigm fitted.
    classes_ : list of ndarray or ndarray
        Labels of each user's symbol (one array when fitted on a 1-D ``y``).
    n_users_ : int
    channel_ : ndarray or None
        Channel of the model-based paradigms (given or estimated).
    noise_var_ : float or None
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined only when ``X`` has string feature names.

    See Also
    --------
    SoftICDetector : The model-based iteration DeepSIC unfolds.
    skunfold.metrics.ser_scorer : Symbol-error-rate scorer for model selection.

    References
    ----------
    .. [1] N. Shlezinger, R. Fu and Y. C. Eldar, "DeepSIC: Deep soft interference
       cancellation for multiuser MIMO detection", IEEE Trans. Wireless Commun.,
       20(2), 2021.
    .. [2] N. Shlezinger et al., "Deep unfolding: recent developments, theory,
       and design guidelines" (Sec. III-E).

    Examples
    --------
    >>> from skunfold.datasets import make_mimo
    >>> from skunfold.mimo import DeepSICClassifier
    >>> from skunfold.metrics import symbol_error_rate
    >>> X, y, H = make_mimo(n_samples=500, snr_db=14, random_state=0)
    >>> X_test, y_test, _ = make_mimo(n_samples=2000, snr_db=14, channel=H, random_state=1)
    >>> det = DeepSICClassifier(n_layers=3, constellation="bpsk", max_epochs=300,
    ...                         random_state=0).fit(X, y)
    >>> symbol_error_rate(y_test, det.predict(X_test)) < 0.01
    True
    >>> len(det.predict_proba(X_test[:5])), det.predict_proba(X_test[:5])[0].shape
    (4, (5, 2))
    >>> det = det.partial_fit(X[:200], y[:200])  # a few steps on new pilots
    """

    supports = ("training",)
    paradigms = ("classical", "hyperparameters", "correction", "dnn")
    default_lr = {None: 5e-3}
    parameter_table = {
        "channel": Param(MODEL_ROWS["channel"].check),
        "noise_var": Param(MODEL_ROWS["noise_var"].check),
        "constellation": Param(check_constellation),
        "hidden_layer_sizes": Param(_check_hidden_sizes),
        "adapt_epochs": Param(constraints.integer(1)),
        "adapt_lr": Param(constraints.real(0, strict_min=True, allow_none=True)),
        "early_stopping": Param(None, "bool or EarlyStopping", """
            Hold out ``validation_fraction`` of the pilots, stop a stage when the
            validation cross-entropy has not improved for ``n_iter_no_change``
            epochs and keep its best epoch (``True``:
            ``EarlyStopping(n_iter_no_change=20)``, DeepSIC's patience; see
            :class:`~skunfold.core.EarlyStopping`). With a few hundred pilots
            this avoids fitting the noise, which matters most at low SNR (0 dB,
            500 pilots: SER 0.19 instead of 0.21 without it). Not used by
            :meth:`partial_fit`."""),
    }
    default_early_stopping = EarlyStopping(n_iter_no_change=PATIENCE)

    def __init__(self, *, n_layers=5, paradigm="dnn", constellation=None,
                 hidden_layer_sizes=(64,), channel=None, noise_var=None, adapt_epochs=10,
                 adapt_lr=None, loss_schedule="sequential", max_epochs=1000, lr=5e-3,
                 batch_size=-1, optimizer="adam", early_stopping=True, device="auto",
                 keep_best=True, n_threads=None, warm_start=False, random_state=None, verbose=0):
        set_init_parameters(self, locals())

    # -- hooks of the core ------------------------------------------------------------
    def build_problem(self, X, y):
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y "
                             "is None: DeepSIC is trained on pilots (X, y)")
        const = self._const
        U, M = self.n_users_, const.size
        if self.paradigm == "dnn":
            self.channel_ = self.noise_var_ = None
            return MIMODetection(U, M, X.shape[1])
        if getattr(self, "_adapting", False) and self.channel is not None:
            H, nv = self.channel_, self.noise_var_  # a given channel is kept by partial_fit
        else:
            H, nv, _ = fit_channel_model(X, y, const, self.channel, self.noise_var)
        self.channel_, self.noise_var_ = H, nv
        return MIMODetection(U, M, X.shape[1], real_channel(H, const.is_complex),
                             const.real_points(), nv / const.dim)

    def fit(self, X, y=None):
        """Train the per-user networks on pilots.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or SampleSource
            Received pilot vectors, or a :class:`~skunfold.core.SampleSource`
            of ``(X, y)`` (synthetic pilots, fresh every epoch).
        y : array-like of shape (n_samples, n_users) or (n_samples,)
            Transmitted pilot symbols (required: DeepSIC has no unsupervised
            objective).

        Returns
        -------
        self : object
        """
        if y is None and not isinstance(X, SampleSource):
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y "
                             "is None: DeepSIC is trained on pilots (X, y)")
        return super().fit(X, y)

    # -- online adaptation ------------------------------------------------------------
    def partial_fit(self, X, y, classes=None, modules=None):
        """Adapt a trained detector to new pilots with a few gradient steps.

        Runs ``adapt_epochs`` epochs per stage of ``loss_schedule`` on
        ``(X, y)`` starting from the current parameters (no early stopping),
        for channels that drift between blocks, continuing the optimizer
        state of the previous call (as every estimator's ``partial_fit``,
        see :meth:`skunfold.core.UnfoldedEstimator.partial_fit`);
        ``history_`` then holds the epochs of this update. With ``modules``
        only the named per-user networks are updated (DeepSIC's modular,
        selective retraining; the
        layers of ``"hyperparameters"``, whose parameters are not per user,
        are updated whole when one of their users is named), and stages
        that would update none of them are skipped. For the model-based
        paradigms with ``channel=None`` the channel is first re-estimated
        from the new pilots (for ``"classical"`` that is the whole update).
        On an unfitted estimator the first call initialises the networks as
        :meth:`fit` does and then takes these steps (with ``"classical"`` it
        is :meth:`fit`). Like ``fit`` it is transactional (it runs
        :func:`skunfold.core.adapt`): if it raises, the detector is left as
        it was.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples, n_users) or (n_samples,)
        classes : array-like, default=None
            All labels: required on the first call with ``constellation=None``
            (the first pilots may not contain every label, as for any
            scikit-learn classifier's ``partial_fit``), ignored afterwards.
        modules : None, int, list of int or list of (int, int), default=None
            Layers (0-based) or ``(layer, user)`` networks to update; ``None``:
            all (always all on the first call).

        Returns
        -------
        self : object
        """
        if not self.__sklearn_is_fitted__():
            if classes is None and self.constellation is None:
                raise ValueError(f"classes must be passed on the first call to partial_fit of "
                                 f"{type(self).__name__} with constellation=None (all the "
                                 "labels, e.g. classes=[-1, 1])")
            self._pending_classes = classes
            try:
                if self.paradigm == "classical":  # nothing to step: the channel model is all
                    return self.fit(X, y)
                return super().partial_fit(X, y)
            finally:
                self.__dict__.pop("_pending_classes", None)
        epochs = constraints.check_int(self.adapt_epochs, "adapt_epochs", min_value=1)
        selected = parse_modules(modules, self.n_layers, self.n_users_)
        select = None if selected is None else (
            lambda module: [p for k, u in sorted(selected) for p in user_parameters(module, k, u)])
        self._adapting = True
        try:
            return adapt(self, X, y, epochs=epochs, lr=self.adapt_lr, select=select)
        finally:
            self.__dict__.pop("_adapting", None)
