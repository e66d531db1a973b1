"""The model-based MIMO detectors: LMMSE, ML and soft interference cancellation.

They need the channel, given or estimated from pilots ``(X, y)`` by least
squares, and the linear Gaussian model :math:`x = H s + w`. :class:`SoftICDetector`
is the classical paradigm of the :class:`~skunfold.mimo.MIMODetection`
problem on the open core (any depth, staged predictions); LMMSE and ML are
one-shot reference detectors.
"""

import itertools
import time

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted, validate_data

from ..core import Param, UnfoldedEstimator, constraints, set_init_parameters
from .base import MODEL_ROWS, MIMOClassifierMixin, StagedDetectorMixin
from .constellations import fit_channel_model, get_constellation, real_channel
from .problem import MIMODetection

__all__ = ["LMMSEDetector", "MLDetector", "SoftICDetector"]

_FLOATS = [np.float64, np.float32]


class _ChannelModelMixin(MIMOClassifierMixin):
    """Channel, noise variance and alphabet of the model-based detectors."""

    parameter_table = MODEL_ROWS

    def _channel_model(self, X, y):
        """Resolve the alphabet, channel and noise variance; set the fitted attributes.

        ``y`` holds the class indices of the pilots (from :meth:`validate_target`,
        which set ``classes_``) or is ``None``.
        """
        if y is None:
            if self.channel is None:
                raise ValueError(
                    f"{type(self).__name__} requires y to be passed, but the target y is None: "
                    "with channel=None the channel is estimated from pilots (X, y); pass "
                    "`channel` to fit without pilots")
            if self.constellation is None:
                raise ValueError(
                    f"{type(self).__name__} has no symbol alphabet: with constellation=None "
                    "the alphabet is taken from the labels of y, but y is None; pass the "
                    "pilots' labels y or a constellation ('bpsk', 'qpsk' or '16qam')")
            const = get_constellation(self.constellation)
        else:
            const = self._const
        H, nv, nv_estimated = fit_channel_model(X, y, const, self.channel, self.noise_var)
        if y is None:
            self._set_classes(const, H.shape[1], H.shape[1] == 1)
        self.channel_estimated_ = self.channel is None
        self.noise_var_estimated_ = nv_estimated
        self.channel_ = H
        self.noise_var_ = nv
        self.n_antennas_ = H.shape[0]
        return const

    def _real_model(self):
        """(G, real points, per-feature noise variance)."""
        const = self._const
        return (real_channel(self.channel_, const.is_complex), const.real_points(),
                self.noise_var_ / const.dim)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = self.channel is None
        # A model-based detector is the Bayes detector of x = H s + w with the labels' symbol
        # values s, and nothing else: on data that no linear channel of those symbols makes
        # (e.g. three blobs at arbitrary centres with labels 0, 1, 2: no channel puts them on
        # one line, equally spaced) it does not reach a generic classifier's accuracy, by design.
        tags.classifier_tags.poor_score = True
        return tags


class _ReferenceDetector(_ChannelModelMixin, BaseEstimator):
    """``fit`` of the one-shot detectors: validation, channel model, then :meth:`_prepare`.

    They learn nothing and are not unfolded: their parameters are checked here
    by the rows of their ``parameter_table`` (as the core checks an unfolded
    estimator's), and a failed ``fit`` restores the detector.
    """

    def fit(self, X, y=None):
        """Prepare the detector, estimating the channel from pilots if it is not given.

        A failed fit restores every attribute, so a fitted detector stays usable.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Received vectors (pilots when ``y`` is given).
        y : array-like of shape (n_samples, n_users) or (n_samples,), default=None
            Pilot symbols; required when ``channel=None``, and when
            ``constellation=None`` (the alphabet is that of the labels).

        Returns
        -------
        self : object
            The fitted detector.
        """
        snapshot = dict(self.__dict__)
        try:
            self._fit(X, y)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(snapshot)
            raise
        return self

    def _check_parameters(self):
        table = {}
        for klass in reversed(type(self).__mro__):
            table.update(vars(klass).get("parameter_table", {}))
        params = self.get_params(deep=False)
        for name, row in table.items():
            if name in params:
                row.check(params[name], name)

    def _fit(self, X, y):
        start = time.perf_counter()
        self._check_parameters()
        X = validate_data(self, X, reset=True, dtype=_FLOATS)
        idx = None if y is None else self.validate_target(y, X)
        self._channel_model(X, idx)
        self._prepare()
        if self.verbose:
            print(f"[{type(self).__name__}] detector built for {self.n_users_} users and "
                  f"{self.n_antennas_} antennas, nothing learned "
                  f"({time.perf_counter() - start:.2f} s)", flush=True)

    def _validated(self, X):
        check_is_fitted(self)
        return validate_data(self, X, reset=False, dtype=_FLOATS)

    # -- hooks of skunfold.export: float64, as predict; _export_core from _export_arrays --------
    _export_validate = _validated

    def _export_dtype(self, X):
        return torch.float64

    def _export_core(self, dtype):
        return _Precomputed(type(self)._export_forward, dtype, **self._export_arrays())


class _Precomputed(torch.nn.Module):
    """A reference detector's inference as a torch module: ``forward(self, x)`` on its arrays."""

    def __init__(self, forward, dtype, **arrays):
        super().__init__()
        self._forward = forward
        for name, value in arrays.items():
            value = torch.as_tensor(value)
            self.register_buffer(name, value.to(dtype) if value.is_floating_point() else value)

    def forward(self, x):
        return self._forward(self, x)


_VERBOSE = Param(constraints.integer(0), "int", """
    ``1`` prints a line when ``fit`` has built the detector; ``0`` is silent.""")


class LMMSEDetector(_ReferenceDetector):
    r"""Linear minimum-mean-square-error detector (reference classifier).

    :math:`\hat s = (G^\top G + \sigma^2 I)^{-1} G^\top x` on the real model, then each
    user's symbol posterior under the Gaussian approximation of the filter
    output (residual interference plus filtered noise). Nothing is learned.

    Parameters
    ----------
    channel : array-like of shape (n_antennas, n_users), default=None
        The channel ``H`` (the paper's column convention, :math:`x = H s + w`):
        real for BPSK, complex for QPSK/16-QAM. ``None``: estimated from pilots
        ``(X, y)`` by least squares in ``fit`` (``channel_estimated_`` is set).
    noise_var : float, default=None
        Noise variance per antenna :math:`\mathbb{E}|w_n|^2` (``10**(-snr_db/10)`` for
        :func:`~skunfold.datasets.make_mimo`). ``None``: estimated, from the
        pilot residuals when ``y`` is given, else from the received power.
    constellation : {None, "bpsk", "qpsk", "16qam"}, default=None
        Symbol alphabet. ``None``: the sorted labels of ``y`` (required then),
        numeric labels being their own real symbol values (labels ``-1, +1``
        are BPSK) and other labels equally spaced real points of unit energy
        (see :func:`constellation_from_labels`). A named constellation fixes
        the labels: the BPSK symbols ``-1, +1`` or the point indices of
        :func:`get_constellation`.
    verbose : int, default=0
        ``1`` prints a line when ``fit`` has built the detector; ``0`` is silent.

    Attributes
    ----------
    filter_ : ndarray of shape (n_users * d, n_features)
        The LMMSE filter (``d = 1`` for a real alphabet, 2 for complex constellations).
    classes_ : list of ndarray or ndarray
        The alphabet's labels, one array per user (a single array for one
        user fitted on a 1-D ``y``).
    n_users_ : int
    n_antennas_ : int
    channel_ : ndarray of shape (n_antennas, n_users)
        Channel used (given or estimated).
    channel_estimated_ : bool
    noise_var_ : float
        Noise variance per antenna used.
    noise_var_estimated_ : bool
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined only when ``X`` has string feature names.

    See Also
    --------
    MLDetector, SoftICDetector, DeepSICClassifier

    Examples
    --------
    >>> from skunfold.datasets import make_mimo
    >>> from skunfold.mimo import LMMSEDetector
    >>> from skunfold.metrics import symbol_error_rate
    >>> X, y, H = make_mimo(n_samples=2000, snr_db=10, random_state=0)
    >>> det = LMMSEDetector(channel=H, noise_var=0.1, constellation="bpsk").fit(X)
    >>> symbol_error_rate(y, det.predict(X)) < 0.1
    True
    >>> LMMSEDetector().fit(X, y).classes_[0].tolist()  # the labels are the alphabet
    [-1, 1]
    """

    parameter_table = {"verbose": _VERBOSE}

    def __init__(self, channel=None, noise_var=None, *, constellation=None, verbose=0):
        set_init_parameters(self, locals())

    def _prepare(self):
        G, P, nf = self._real_model()
        d = self._const.dim
        Ud = G.shape[1]
        W = np.linalg.solve(G.T @ G + self.noise_var_ * np.eye(Ud), G.T)  # (Ud, F)
        B = W @ G
        gains, precisions = [], []
        for u in range(self.n_users_):
            rows = slice(u * d, (u + 1) * d)
            Bu = B[rows]
            own = Bu[:, rows]
            interf = Bu @ Bu.T - own @ own.T
            Q = interf / d + nf * W[rows] @ W[rows].T
            gains.append(own)
            precisions.append(np.linalg.inv(Q + 1e-12 * np.eye(d)))
        self.filter_ = W
        self._gains = np.array(gains)          # (U, d, d)
        self._precisions = np.array(precisions)  # (U, d, d)
        self._points = P

    def _log_posteriors(self, X):
        X = self._validated(X)
        d = self._const.dim
        S = (np.asarray(X, dtype=np.float64) @ self.filter_.T).reshape(len(X), self.n_users_, d)
        KM = np.einsum("uij,ujk->uik", self._precisions, self._gains)       # K M
        lin = np.einsum("bui,uik,mk->bum", S, KM, self._points)              # c^T M^T K s
        MKM = np.einsum("uji,ujk->uik", self._gains, KM)                     # M^T K M
        quad = np.einsum("mi,uik,mk->um", self._points, MKM, self._points)
        ll = lin - 0.5 * quad[None]
        ll = ll - ll.max(axis=-1, keepdims=True)
        logp = ll - np.log(np.exp(ll).sum(axis=-1, keepdims=True))
        return logp.astype(X.dtype, copy=False)

    def _export_arrays(self):
        KM = np.einsum("uij,ujk->uik", self._precisions, self._gains)
        MKM = np.einsum("uji,ujk->uik", self._gains, KM)
        return {"filter": self.filter_, "lin": np.einsum("uik,mk->uim", KM, self._points),
                "quad": np.einsum("mi,uik,mk->um", self._points, MKM, self._points)}

    @staticmethod
    def _export_forward(m, x):
        S = (x @ m.filter.T).reshape(-1, m.lin.shape[0], m.lin.shape[1])
        return torch.log_softmax(torch.einsum("bui,uim->bum", S, m.lin) - 0.5 * m.quad, dim=-1)

    def __sklearn_is_fitted__(self):
        return hasattr(self, "filter_")


class MLDetector(_ReferenceDetector):
    r"""Exact maximum-likelihood detector by enumeration (reference classifier).

    Evaluates :math:`\|x - H s\|^2` for all :math:`|\mathcal{S}|^U` symbol vectors: ``predict``
    returns the jointly most likely vector, ``predict_proba`` the exact
    per-user posteriors (marginals of the Gaussian likelihood, uniform prior).
    Only for small :math:`|\mathcal{S}|^U`.

    Parameters
    ----------
    channel : array-like of shape (n_antennas, n_users), default=None
        The channel ``H`` (the paper's column convention, :math:`x = H s + w`):
        real for BPSK, complex for QPSK/16-QAM. ``None``: estimated from pilots
        ``(X, y)`` by least squares in ``fit`` (``channel_estimated_`` is set).
    noise_var : float, default=None
        Noise variance per antenna :math:`\mathbb{E}|w_n|^2` (``10**(-snr_db/10)`` for
        :func:`~skunfold.datasets.make_mimo`). ``None``: estimated, from the
        pilot residuals when ``y`` is given, else from the received power.
    constellation : {None, "bpsk", "qpsk", "16qam"}, default=None
        Symbol alphabet. ``None``: the sorted labels of ``y`` (required then),
        numeric labels being their own real symbol values (labels ``-1, +1``
        are BPSK) and other labels equally spaced real points of unit energy
        (see :func:`constellation_from_labels`). A named constellation fixes
        the labels: the BPSK symbols ``-1, +1`` or the point indices of
        :func:`get_constellation`.
    max_hypotheses : int, default=65536
        Refuse problems with more candidate vectors :math:`|\mathcal{S}|^U` than this.
    batch_size : int, default=2048
        Received vectors processed at once (memory ``batch_size`` :math:`\times |\mathcal{S}|^U`).
    verbose : int, default=0
        ``1`` prints a line when ``fit`` has built the detector; ``0`` is silent.

    Attributes
    ----------
    n_hypotheses_ : int
    classes_ : list of ndarray or ndarray
        The alphabet's labels, one array per user (a single array for one
        user fitted on a 1-D ``y``).
    n_users_ : int
    n_antennas_ : int
    channel_ : ndarray of shape (n_antennas, n_users)
        Channel used (given or estimated).
    channel_estimated_ : bool
    noise_var_ : float
        Noise variance per antenna used.
    noise_var_estimated_ : bool
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined only when ``X`` has string feature names.

    See Also
    --------
    LMMSEDetector, SoftICDetector, DeepSICClassifier

    Examples
    --------
    >>> from skunfold.datasets import make_mimo
    >>> from skunfold.mimo import MLDetector
    >>> from skunfold.metrics import symbol_error_rate
    >>> X, y, H = make_mimo(n_samples=2000, snr_db=10, random_state=0)
    >>> det = MLDetector(channel=H, noise_var=0.1, constellation="bpsk").fit(X)
    >>> symbol_error_rate(y, det.predict(X)) < 0.01
    True
    """

    parameter_table = {"max_hypotheses": Param(constraints.integer(1), "int"),
                       "batch_size": Param(constraints.integer(1), "int"),
                       "verbose": _VERBOSE}

    def __init__(self, channel=None, noise_var=None, *, constellation=None,
                 max_hypotheses=65536, batch_size=2048, verbose=0):
        set_init_parameters(self, locals())

    def _fit(self, X, y):
        if self.channel is not None and self.constellation is not None:
            # refuse before any work (or a confusing size error) when the problem is too big
            n_users = np.shape(self.channel)[1] if np.ndim(self.channel) == 2 else 1
            self._check_size(get_constellation(self.constellation).size, n_users)
        super()._fit(X, y)

    def _check_size(self, M, U):
        if M ** U > self.max_hypotheses:
            raise ValueError(f"ML by enumeration needs {M}^{U} candidate vectors, more than "
                             f"max_hypotheses={self.max_hypotheses}")

    def _prepare(self):
        U, M = self.n_users_, self._const.size
        self._check_size(M, U)
        G, P, nf = self._real_model()
        combos = np.array(list(itertools.product(range(M), repeat=U)), dtype=np.int64)
        S = P[combos].reshape(len(combos), -1)                  # (Hy, U d)
        self._candidates = S @ G.T                              # (Hy, F)
        self._combos = combos
        self._noise_f = nf
        self.n_hypotheses_ = len(combos)

    def _scores(self, X):
        """Log-likelihoods of every candidate, (n, Hy), float64, in batches."""
        Y = torch.as_tensor(self._candidates)
        for start in range(0, len(X), self.batch_size):
            xb = torch.as_tensor(np.asarray(X[start:start + self.batch_size], dtype=np.float64))
            dist = (xb * xb).sum(1, keepdim=True) - 2 * xb @ Y.T + (Y * Y).sum(1)[None]
            yield -dist / (2 * self._noise_f)

    def _log_posteriors(self, X):
        X = self._validated(X)
        U, M = self.n_users_, self._const.size
        res = []
        for ll in self._scores(X):
            t = ll.reshape(ll.shape[0], *([M] * U))
            margs = []
            for u in range(U):
                dims = [1 + j for j in range(U) if j != u]
                margs.append(torch.logsumexp(t, dim=dims) if dims else t)
            lp = torch.stack(margs, dim=1)
            res.append(torch.log_softmax(lp, dim=-1).numpy())
        return np.concatenate(res).astype(X.dtype, copy=False)

    def predict(self, X):
        """Jointly most likely symbol vectors.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples, n_users) or (n_samples,)
        """
        X = self._validated(X)
        best = np.concatenate([ll.argmax(dim=1).numpy() for ll in self._scores(X)])
        out = self._const.labels[self._combos[best]]
        return out[:, 0] if self._y_1d else out

    def _export_arrays(self):
        return {"candidates": self._candidates, "noise": np.float64(self._noise_f)}

    @staticmethod
    def _export_forward(m, x):
        Y = m.candidates
        dist = (x * x).sum(1, keepdim=True) - 2 * x @ Y.T + (Y * Y).sum(1)[None]
        return -dist / (2 * m.noise)

    def _export_outputs(self, ll, x):
        """``predict`` (the jointly most likely vectors) and the marginal posteriors."""
        U, M, labels = self.n_users_, self._const.size, self._const.labels
        index = torch.as_tensor(self._combos)[ll.argmax(dim=1)]
        predict = torch.as_tensor(labels)[index] if labels.dtype.kind in "biuf" else index
        t = ll.reshape((-1,) + (M,) * U)
        margs = [torch.logsumexp(t, dim=[1 + j for j in range(U) if j != u]) if U > 1 else t
                 for u in range(U)]
        proba = torch.softmax(torch.stack(margs, dim=1), dim=-1)
        if self._y_1d:
            predict, proba = predict[:, 0], proba[:, 0]
        return {"predict": predict, "predict_proba": proba}

    def __sklearn_is_fitted__(self):
        return hasattr(self, "_candidates")


class SoftICDetector(StagedDetectorMixin, _ChannelModelMixin, UnfoldedEstimator):
    r"""Iterative soft interference cancellation, the model-based detector.

    The algorithm DeepSIC unfolds (Choi, Cheong, Cioffi 2000): starting from
    uniform posteriors, every iteration subtracts, for each user ``u``, the
    expected interference :math:`\sum_{j \ne u} h_j \mathbb{E}[s_j]` of the other users from
    ``x`` and evaluates the likelihood of each of ``u``'s symbols with the
    remainder modelled as Gaussian (covariance of the residual interference
    plus the noise). It needs the channel and the linear Gaussian model;
    nothing is learned. It is the classical paradigm of the
    :class:`MIMODetection` problem; computation is done in the dtype of ``X``.

    Parameters
    ----------
    n_layers : int, default=5
        Number of soft IC iterations (the weights are tied, so
        ``staged_predict_proba`` may run any depth).
    %(parameters)s

    Attributes
    ----------
    module_ : UnfoldedModule
        The solver as a torch module.
    problem_ : MIMODetection
        The fitted problem.
    layer_parameters_ : dict of str to ndarray
        The soft IC hyperparameters of every iteration (column ``"layer"``,
        ``"noise_scale"`` per user and ``"damping"``: 1 and 0, classically).
    paradigm_ : str
        ``"classical"``.
    classes_ : list of ndarray or ndarray
        The alphabet's labels, one array per user (a single array for one
        user fitted on a 1-D ``y``).
    n_users_ : int
    n_antennas_ : int
    channel_ : ndarray of shape (n_antennas, n_users)
        Channel used (given or estimated).
    channel_estimated_ : bool
    noise_var_ : float
        Noise variance per antenna used.
    noise_var_estimated_ : bool
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined only when ``X`` has string feature names.

    See Also
    --------
    DeepSICClassifier : The unfolded, learned version.
    LMMSEDetector, MLDetector

    References
    ----------
    .. [1] W.-J. Choi, K.-W. Cheong and J. M. Cioffi, "Iterative soft interference
       cancellation for multiple antenna systems", IEEE WCNC 2000.

    Examples
    --------
    >>> from skunfold.datasets import make_mimo
    >>> from skunfold.mimo import SoftICDetector
    >>> from skunfold.metrics import symbol_error_rate
    >>> X, y, H = make_mimo(n_samples=2000, snr_db=10, random_state=0)
    >>> det = SoftICDetector(channel=H, noise_var=0.1, constellation="bpsk").fit(X)
    >>> symbol_error_rate(y, det.predict(X)) < 0.01
    True
    >>> [p[0].shape for p in det.staged_predict_proba(X[:3])][-1]
    (3, 2)
    >>> SoftICDetector().fit(X, y).channel_estimated_  # channel and alphabet from pilots
    True
    """

    paradigms = ("classical",)

    def __init__(self, channel=None, noise_var=None, *, n_layers=5, constellation=None,
                 device="auto", n_threads=None, verbose=0):
        set_init_parameters(self, locals())

    def build_problem(self, X, y):
        const = self._channel_model(X, y)
        G, P, nf = self._real_model()
        return MIMODetection(self.n_users_, const.size, X.shape[1], G, P, nf)
