"""MIMO detectors: LMMSE, ML, soft IC and DeepSIC as scikit-learn classifiers."""

import copy
import dataclasses
import itertools
from numbers import Integral

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    check_array,
    check_consistent_length,
    check_is_fitted,
    validate_data,
)

from ..core import BaseUnfoldedEstimator, get_loss_schedule
from ..core._base import check_int, check_real, run_transactional
from ._constellations import (
    complex_observations,
    estimate_channel,
    get_constellation,
    real_channel,
)
from ._modules import DeepSICLayer, MIMOUnfolded, SoftICLayer, UserCrossEntropy

__all__ = ["LMMSEDetector", "MLDetector", "SoftICDetector", "DeepSICClassifier"]

_FLOATS = [np.float64, np.float32]


def _check_channel(channel):
    """A channel matrix (n_antennas, n_users), real or complex (check_array rejects complex)."""
    try:
        H = np.asarray(channel)
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"channel must be an array of shape (n_antennas, n_users): {exc}") \
            from None
    if H.dtype == object or not np.issubdtype(H.dtype, np.number) or H.dtype == bool:
        raise ValueError(f"channel must be a numeric array of shape (n_antennas, n_users), "
                         f"got dtype {H.dtype}")
    if H.ndim != 2 or H.size == 0:
        raise ValueError(f"channel must be a 2-D array of shape (n_antennas, n_users), "
                         f"got shape {H.shape}")
    if not np.all(np.isfinite(H)):
        raise ValueError("channel contains NaN or infinity")
    return H


# ----------------------------------------------------------------------------------
# shared data handling
# ----------------------------------------------------------------------------------
class _MIMOClassifierMixin:
    """Label handling and the public inference API shared by the MIMO detectors.

    Subclasses implement ``_log_posteriors(X, staged)`` returning the per-user
    log-posteriors, shape ``(n_samples, n_users, n_classes)`` (a list of them,
    one per layer, when ``staged``), for an already validated ``X``.
    """

    # -- labels ---------------------------------------------------------------------
    def _check_y(self, y, X):
        """Validate ``y`` against ``X``; return (2-D label array, was_1d)."""
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None"
            )
        y = check_array(y, ensure_2d=False, dtype=None, input_name="y")
        if y.ndim not in (1, 2):
            raise ValueError(f"y must be 1-D (one user) or 2-D (n_samples, n_users), "
                             f"got shape {y.shape}")
        check_consistent_length(X, y)
        check_classification_targets(y)
        y_1d = y.ndim == 1
        return (y[:, None] if y_1d else y), y_1d

    def _encode(self, y2, const, classes=None):
        """Class indices (int64) of the labels ``y2``; ``classes`` fixes the label set."""
        if const is not None:
            try:
                return const.label_to_index(y2)
            except TypeError:
                raise ValueError(
                    f"y contains labels of type {y2.dtype} that are not symbols of the "
                    f"{const.name!r} constellation, whose labels are {const.labels.tolist()}"
                ) from None
        try:
            idx = np.clip(np.searchsorted(classes, y2), 0, len(classes) - 1)
        except TypeError:
            raise ValueError(f"y has labels of type {y2.dtype}, but the classes seen in fit "
                             f"are {classes.tolist()}") from None
        bad = classes[idx] != y2
        if np.any(bad):
            raise ValueError(
                f"y contains labels {np.unique(y2[bad])[:5].tolist()} that were not seen in "
                f"fit (classes_ = {classes.tolist()})"
            )
        return idx.astype(np.int64)

    def _set_classes(self, classes, n_users, y_1d):
        self._classes = np.asarray(classes)
        self.n_users_ = int(n_users)
        self._y_1d = bool(y_1d)
        self.classes_ = (self._classes.copy() if y_1d
                         else [self._classes.copy() for _ in range(n_users)])

    def _check_n_users(self, y2, what="y"):
        if y2.shape[1] != self.n_users_:
            raise ValueError(
                f"{what} has {y2.shape[1]} column(s) (users) but {type(self).__name__} was "
                f"fitted for n_users={self.n_users_}"
            )

    # -- public inference API -------------------------------------------------------
    def _validated(self, X):
        check_is_fitted(self)
        return validate_data(self, X, reset=False, dtype=_FLOATS)

    def _format(self, arr):
        """Per-user array (n, U, ...) -> sklearn multi-output convention."""
        if self._y_1d:
            return arr[:, 0]
        return [arr[:, u] for u in range(arr.shape[1])]

    @staticmethod
    def _proba(logp):
        p = np.exp(logp - logp.max(axis=-1, keepdims=True))
        return p / p.sum(axis=-1, keepdims=True)

    def _labels(self, logp):
        return self._classes[np.argmax(logp, axis=-1)]

    def predict(self, X):
        """Detect the transmitted symbols.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Received vectors (real and imaginary parts stacked for complex models).

        Returns
        -------
        y : ndarray of shape (n_samples, n_users) or (n_samples,)
            Symbol labels, one column per user (1-D for a model fitted on a 1-D ``y``).
        """
        X = self._validated(X)
        out = self._labels(self._log_posteriors(X, staged=False))
        return out[:, 0] if self._y_1d else out

    def predict_proba(self, X):
        """Posterior probabilities of every user's symbol.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        proba : list of n_users ndarrays of shape (n_samples, n_classes), or ndarray
            One array per user, columns in the order of ``classes_[u]``
            (scikit-learn's multi-output convention); a single array when the
            model was fitted on a 1-D ``y``. In the dtype of ``X``.
        """
        X = self._validated(X)
        return self._format(self._proba(self._log_posteriors(X, staged=False)))

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba` (same layout).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_proba : list of ndarrays or ndarray
        """
        proba = self.predict_proba(X)
        with np.errstate(divide="ignore"):
            if isinstance(proba, list):
                return [np.log(p) for p in proba]
            return np.log(proba)

    def score(self, X, y, sample_weight=None):
        """Fraction of symbols detected correctly, ``1 - symbol_error_rate``.

        For a single user this is the accuracy; for several users every
        user's symbol counts separately (scikit-learn's multi-output score
        would count whole vectors).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples, n_users) or (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float
        """
        X = self._validated(X)
        y2, _ = self._check_y(y, X)
        self._check_n_users(y2)
        pred = self._labels(self._log_posteriors(X, staged=False))
        correct = np.mean(pred == y2, axis=1)
        return float(np.average(correct, weights=sample_weight))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        tags.target_tags.required = True
        tags.classifier_tags.multi_class = True
        return tags


class _StagedMixin:
    """``staged_predict_proba`` / ``staged_predict`` of the unfolded detectors."""

    def staged_predict_proba(self, X, n_layers=None):
        """Yield the posteriors after each layer ``k = 1, ..., n_layers`` (one pass).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        n_layers : int, optional
            Depth to run (at most the fitted depth, any depth for ``"classical"``).

        Yields
        ------
        proba : list of ndarrays or ndarray
            As :meth:`predict_proba`.
        """
        X = self._validated(X)
        for lp in self._log_posteriors(X, staged=True, n_layers=n_layers):
            yield self._format(self._proba(lp))

    def staged_predict(self, X, n_layers=None):
        """Yield the detected symbols after each layer.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        n_layers : int, optional

        Yields
        ------
        y : ndarray of shape (n_samples, n_users) or (n_samples,)
        """
        X = self._validated(X)
        for lp in self._log_posteriors(X, staged=True, n_layers=n_layers):
            out = self._labels(lp)
            yield out[:, 0] if self._y_1d else out


class _ChannelModelMixin(_MIMOClassifierMixin):
    """Channel, noise variance and constellation of the model-based detectors."""

    def _fit_model(self, X, y):
        """Validate data, resolve the channel and noise variance; set fitted attributes."""
        const = get_constellation(self.constellation)
        X = validate_data(self, X, reset=True, dtype=_FLOATS)
        y2 = y_1d = None
        if y is not None:
            y2, y_1d = self._check_y(y, X)
        H = None
        if self.channel is not None:
            H = _check_channel(self.channel)
            if np.iscomplexobj(H):
                if not const.is_complex and np.any(H.imag != 0):
                    raise ValueError("channel is complex but constellation='bpsk' is simulated "
                                     "as a real model; use a real channel or a complex "
                                     "constellation ('qpsk', '16qam')")
                H = H if const.is_complex else H.real.astype(np.float64)
            else:
                H = H.astype(np.float64)
            n_ant = H.shape[0]
            expected = 2 * n_ant if const.is_complex else n_ant
            if X.shape[1] != expected:
                raise ValueError(
                    f"X has {X.shape[1]} features but the channel has {n_ant} receive "
                    f"antennas, i.e. {expected} features"
                    + (" (real and imaginary parts stacked)" if const.is_complex else "")
                )
            if y2 is not None and y2.shape[1] != H.shape[1]:
                raise ValueError(f"y has {y2.shape[1]} column(s) (users) but the channel has "
                                 f"{H.shape[1]} users (columns)")
        elif y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None: "
                "with channel=None the channel is estimated from pilots (X, y); pass "
                "`channel` to fit without pilots"
            )
        elif const.is_complex and X.shape[1] % 2:
            raise ValueError(f"X has {X.shape[1]} features; a complex ({const.name}) model "
                             "needs an even number (real and imaginary parts stacked)")
        idx = None if y2 is None else self._encode(y2, const)
        if H is None:
            H, nv = estimate_channel(X, const.points[idx], const.is_complex)
        else:
            nv = None
            if idx is not None:
                Xc = complex_observations(X, const.is_complex)
                S = const.points[idx] if const.is_complex else const.points[idx].real
                nv = float(np.mean(np.sum(np.abs(Xc - S @ H.T) ** 2, axis=1)) / H.shape[0])
        if self.noise_var is not None:
            nv = check_real(self.noise_var, "noise_var", min_value=0, strict_min=True)
            self.noise_var_estimated_ = False
        else:
            if nv is None:  # moments: E||x||^2 = ||H||_F^2 + N sigma^2 (unit-energy symbols)
                Xc = complex_observations(X, const.is_complex)
                nv = (np.mean(np.sum(np.abs(Xc) ** 2, axis=1)) - np.sum(np.abs(H) ** 2)) \
                    / H.shape[0]
            nv = float(max(nv, 1e-6))
            self.noise_var_estimated_ = True
        self.channel_estimated_ = self.channel is None
        self.channel_ = H
        self.noise_var_ = nv
        self.n_antennas_ = H.shape[0]
        self._const = const
        self._fit_dtype = X.dtype
        if y_1d is None:
            y_1d = H.shape[1] == 1
        self._set_classes(const.labels, H.shape[1], y_1d)
        return X, idx

    def _real_model(self):
        """(G, real points, per-feature noise variance)."""
        const = self._const
        G = real_channel(self.channel_, const.is_complex)
        return G, const.real_points(), self.noise_var_ / const.dim

    def fit(self, X, y=None):
        """Prepare the detector, estimating the channel from pilots if it is not given.

        A failed fit restores every attribute, so a fitted detector stays usable.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Received vectors (pilots when ``y`` is given).
        y : array-like of shape (n_samples, n_users) or (n_samples,), default=None
            Pilot symbols; required when ``channel=None``.

        Returns
        -------
        self : object
            The fitted detector.
        """
        return run_transactional(self, self._fit, X, y)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = self.channel is None
        return tags


_MODEL_PARAMS_DOC = """
    channel : array-like of shape (n_antennas, n_users), default=None
        The channel ``H`` (the paper's column convention, ``x = H s + w``):
        real for BPSK, complex for QPSK/16-QAM. ``None``: estimated from pilots
        ``(X, y)`` by least squares in ``fit`` (``channel_estimated_`` is set).
    noise_var : float, default=None
        Noise variance per antenna ``E|w_n|^2`` (``10**(-snr_db/10)`` for
        :func:`~skunfold.datasets.make_mimo`). ``None``: estimated, from the
        pilot residuals when ``y`` is given, else from the received power.
    constellation : {"bpsk", "qpsk", "16qam"}, default="bpsk"
        Symbol alphabet; the labels in ``y`` are the BPSK symbols ``-1, +1`` or
        the point indices of :func:`get_constellation`.
"""

_MODEL_ATTRS_DOC = """
    classes_ : list of ndarray or ndarray
        The constellation labels, one array per user (a single array for one
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
"""


def _fill_doc(cls):
    """Put the shared parameter and attribute descriptions into a class docstring."""
    cls.__doc__ = (cls.__doc__
                   .replace("    <<MODEL_PARAMS>>\n", _MODEL_PARAMS_DOC.lstrip("\n"))
                   .replace("    <<MODEL_ATTRS>>\n", _MODEL_ATTRS_DOC.lstrip("\n") + "\n"))
    return cls


# ----------------------------------------------------------------------------------
# LMMSE and ML
# ----------------------------------------------------------------------------------
@_fill_doc
class LMMSEDetector(_ChannelModelMixin, ClassifierMixin, BaseEstimator):
    """Linear minimum-mean-square-error detector (reference classifier).

    ``s_hat = (G^T G + sigma^2 I)^{-1} G^T x`` on the real model, then each
    user's symbol posterior under the Gaussian approximation of the filter
    output (residual interference plus filtered noise). Nothing is learned.

    Parameters
    ----------
    <<MODEL_PARAMS>>

    Attributes
    ----------
    filter_ : ndarray of shape (n_users * d, n_features)
        The LMMSE filter (``d = 1`` for BPSK, 2 for complex constellations).
    <<MODEL_ATTRS>>
    See Also
    --------
    MLDetector, SoftICDetector, DeepSICClassifier

    Examples
    --------
    >>> from skunfold.datasets import make_mimo
    >>> from skunfold.mimo import LMMSEDetector
    >>> from skunfold.metrics import symbol_error_rate
    >>> X, y, H = make_mimo(n_samples=2000, snr_db=10, random_state=0)
    >>> det = LMMSEDetector(channel=H, noise_var=0.1).fit(X)
    >>> symbol_error_rate(y, det.predict(X)) < 0.1
    True
    """

    def __init__(self, channel=None, noise_var=None, *, constellation="bpsk"):
        self.channel = channel
        self.noise_var = noise_var
        self.constellation = constellation

    def _fit(self, X, y):
        self._fit_model(X, y)
        G, P, nf = self._real_model()
        d = self._const.dim
        Ud = G.shape[1]
        W = np.linalg.solve(G.T @ G + self.noise_var_ * np.eye(Ud), G.T)  # (Ud, F)
        B = W @ G
        U = self.n_users_
        gains, precisions = [], []
        for u in range(U):
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
        return self

    def _log_posteriors(self, X, staged=False):
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

    def __sklearn_is_fitted__(self):
        return hasattr(self, "filter_")


@_fill_doc
class MLDetector(_ChannelModelMixin, ClassifierMixin, BaseEstimator):
    """Exact maximum-likelihood detector by enumeration (reference classifier).

    Evaluates ``||x - H s||^2`` for all ``|S|^U`` symbol vectors: ``predict``
    returns the jointly most likely vector, ``predict_proba`` the exact
    per-user posteriors (marginals of the Gaussian likelihood, uniform prior).
    Only for small ``|S|^U``.

    Parameters
    ----------
    <<MODEL_PARAMS>>
    max_hypotheses : int, default=65536
        Refuse problems with more candidate vectors ``|S|^U`` than this.
    batch_size : int, default=2048
        Received vectors processed at once (memory ``batch_size * |S|^U``).

    Attributes
    ----------
    n_hypotheses_ : int
    <<MODEL_ATTRS>>
    See Also
    --------
    LMMSEDetector, SoftICDetector, DeepSICClassifier

    Examples
    --------
    >>> from skunfold.datasets import make_mimo
    >>> from skunfold.mimo import MLDetector
    >>> from skunfold.metrics import symbol_error_rate
    >>> X, y, H = make_mimo(n_samples=2000, snr_db=10, random_state=0)
    >>> det = MLDetector(channel=H, noise_var=0.1).fit(X)
    >>> symbol_error_rate(y, det.predict(X)) < 0.01
    True
    """

    def __init__(self, channel=None, noise_var=None, *, constellation="bpsk",
                 max_hypotheses=65536, batch_size=2048):
        self.channel = channel
        self.noise_var = noise_var
        self.constellation = constellation
        self.max_hypotheses = max_hypotheses
        self.batch_size = batch_size

    def _fit(self, X, y):
        check_int(self.max_hypotheses, "max_hypotheses", min_value=1)
        check_int(self.batch_size, "batch_size", min_value=1)
        const = get_constellation(self.constellation)
        if self.channel is not None:
            n_users = np.shape(self.channel)[1] if np.ndim(self.channel) == 2 else 1
            if const.size ** n_users > self.max_hypotheses:
                raise ValueError(
                    f"ML by enumeration needs {const.size}^{n_users} candidate vectors, more "
                    f"than max_hypotheses={self.max_hypotheses}"
                )
        self._fit_model(X, y)
        U, M = self.n_users_, const.size
        if M ** U > self.max_hypotheses:
            raise ValueError(f"ML by enumeration needs {M}^{U} candidate vectors, more than "
                             f"max_hypotheses={self.max_hypotheses}")
        G, P, nf = self._real_model()
        combos = np.array(list(itertools.product(range(M), repeat=U)), dtype=np.int64)
        S = P[combos].reshape(len(combos), -1)                  # (Hy, U d)
        self._candidates = S @ G.T                              # (Hy, F)
        self._combos = combos
        self._noise_f = nf
        self.n_hypotheses_ = len(combos)
        return self

    def _scores(self, X):
        """Log-likelihoods of every candidate, (n, Hy), float64."""
        Y = torch.as_tensor(self._candidates)
        out = []
        for start in range(0, len(X), self.batch_size):
            xb = torch.as_tensor(np.asarray(X[start:start + self.batch_size], dtype=np.float64))
            dist = (xb * xb).sum(1, keepdim=True) - 2 * xb @ Y.T + (Y * Y).sum(1)[None]
            out.append(-dist / (2 * self._noise_f))
        return out

    def _log_posteriors(self, X, staged=False):
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
        out = self._classes[self._combos[best]]
        return out[:, 0] if self._y_1d else out

    def __sklearn_is_fitted__(self):
        return hasattr(self, "_candidates")


# ----------------------------------------------------------------------------------
# soft interference cancellation
# ----------------------------------------------------------------------------------
@_fill_doc
class SoftICDetector(_StagedMixin, _ChannelModelMixin, ClassifierMixin,
                     BaseUnfoldedEstimator):
    """Iterative soft interference cancellation, the model-based detector.

    The algorithm DeepSIC unfolds (Choi, Cheong, Cioffi 2000): starting from
    uniform posteriors, every iteration subtracts, for each user ``u``, the
    expected interference ``sum_{j != u} h_j E[s_j]`` of the other users from
    ``x`` and evaluates the likelihood of each of ``u``'s symbols with the
    remainder modelled as Gaussian (covariance of the residual interference
    plus the noise). It needs the channel and the linear Gaussian model;
    nothing is learned. Computation is done in the dtype of ``X``.

    Parameters
    ----------
    <<MODEL_PARAMS>>
    n_layers : int, default=5
        Number of soft IC iterations (the weights are tied, so
        ``staged_predict_proba`` may run any depth).
    device : str, default="auto"

    Attributes
    ----------
    module_ : MIMOUnfolded
    <<MODEL_ATTRS>>
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
    >>> det = SoftICDetector(channel=H, noise_var=0.1).fit(X)
    >>> symbol_error_rate(y, det.predict(X)) < 0.01
    True
    >>> [p[0].shape for p in det.staged_predict_proba(X[:3])][-1]
    (3, 2)
    """

    paradigm = "classical"

    def __init__(self, channel=None, noise_var=None, *, n_layers=5, constellation="bpsk",
                 device="auto"):
        self.channel = channel
        self.noise_var = noise_var
        self.n_layers = n_layers
        self.constellation = constellation
        self.device = device

    def _check_params(self):
        get_constellation(self.constellation)

    def _prepare_fit(self, X, y):
        return self._fit_model(X, y)

    def _build_module(self):
        G, P, nf = self._real_model()
        dtype = torch.float64 if self._fit_dtype == np.float64 else torch.float32
        return MIMOUnfolded(SoftICLayer(self.n_users_), self.n_layers, self.n_users_,
                            self._const.size, channel=G, points=P, noise_var=nf, dtype=dtype)

    def _log_posteriors(self, X, staged=False, n_layers=None):
        return self._run(X, n_layers=n_layers, staged=staged)


# ----------------------------------------------------------------------------------
# DeepSIC
# ----------------------------------------------------------------------------------
def _parse_modules(modules, n_layers, n_users):
    """``modules`` of partial_fit -> set of (layer, user) pairs, or None for all."""
    if modules is None:
        return None
    if isinstance(modules, Integral) and not isinstance(modules, bool):
        modules = [modules]
    try:
        items = list(modules)
    except TypeError:
        raise ValueError(f"modules must be None, a layer index, a list of layer indices or "
                         f"a list of (layer, user) pairs, got {modules!r}") from None
    if not items:
        raise ValueError("modules must name at least one layer or (layer, user) pair")
    out = set()
    for item in items:
        if isinstance(item, Integral) and not isinstance(item, bool):
            k, users = int(item), range(n_users)
        else:
            try:
                k, u = item
                k, u = int(k), int(u)
            except (TypeError, ValueError):
                raise ValueError(f"modules entries must be layer indices or (layer, user) "
                                 f"pairs, got {item!r}") from None
            if not 0 <= u < n_users:
                raise ValueError(f"modules names user {u}, but there are {n_users} users "
                                 f"(0-based indices)")
            users = [u]
        if not 0 <= k < n_layers:
            raise ValueError(f"modules names layer {k}, but the network has {n_layers} layers "
                             "(0-based indices)")
        out.update((k, u) for u in users)
    return out


class DeepSICClassifier(_StagedMixin, _MIMOClassifierMixin, ClassifierMixin,
                        BaseUnfoldedEstimator):
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
                    damping factor (``U + 1`` scalars per layer)
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
        for any scikit-learn classifier; all users share them). A named
        constellation fixes the classes to its labels (BPSK symbols ``-1, +1``
        or point indices) and rejects other labels; the model-based paradigms
        need one.
    hidden_layer_sizes : tuple of int, default=(64,)
        Hidden layers of each user's network.
    channel : array-like of shape (n_antennas, n_users), default=None
        Channel of the model-based paradigms (ignored by ``"dnn"``);
        ``None``: least-squares estimate from the pilots.
    noise_var : float, default=None
        Noise variance per antenna of the model-based paradigms; ``None``:
        estimated from the pilot residuals.
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
    optimizer : {"adam", "adamw", "sgd", "rmsprop"} or torch.optim.Optimizer class, default="adam"
    adapt_epochs : int, default=10
        Passes over the new pilots per stage in :meth:`partial_fit`.
    adapt_lr : float, default=None
        Learning rate of :meth:`partial_fit` (``None``: ``lr``).
    early_stopping : bool, default=True
        Hold out ``validation_fraction`` of the pilots, stop a stage when the
        validation cross-entropy has not improved for ``n_iter_no_change``
        epochs and keep its best epoch. With a few hundred pilots this avoids
        fitting the noise, which matters most at low SNR (0 dB, 500 pilots:
        SER 0.19 instead of 0.21 without it).
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=20
    device : str, default="auto"
        ``"auto"`` trains on CUDA when available, else on the CPU.
    warm_start : bool, default=False
        Continue from the previous fit's parameters when the architecture is
        unchanged.
    random_state : int, RandomState instance or None, default=None
    verbose : int, default=0

    Attributes
    ----------
    net_ : UnfoldingNet or None
        The trained skorch net (``None`` for ``paradigm="classical"``).
    module_ : MIMOUnfolded or None
        The module of the classical paradigm (``None`` otherwise).
    history_ : skorch.History or None
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

    _paradigms = ("classical", "hyperparameters", "correction", "dnn")
    #: Weight of the objective on unlabeled rows; DeepSIC trains supervised only.
    unsupervised_weight = 1.0

    def __init__(self, *, n_layers=5, paradigm="dnn", constellation=None,
                 hidden_layer_sizes=(64,), channel=None, noise_var=None,
                 loss_schedule="sequential", max_epochs=1000, lr=5e-3, batch_size=-1,
                 optimizer="adam", adapt_epochs=10, adapt_lr=None, early_stopping=True,
                 validation_fraction=0.1, n_iter_no_change=20, device="auto", warm_start=False,
                 random_state=None, verbose=0):
        self.n_layers = n_layers
        self.paradigm = paradigm
        self.constellation = constellation
        self.hidden_layer_sizes = hidden_layer_sizes
        self.channel = channel
        self.noise_var = noise_var
        self.loss_schedule = loss_schedule
        self.max_epochs = max_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.adapt_epochs = adapt_epochs
        self.adapt_lr = adapt_lr
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.device = device
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose

    # -- parameters -------------------------------------------------------------------
    def _hidden_sizes(self):
        try:
            sizes = tuple(int(h) for h in self.hidden_layer_sizes)
        except TypeError:
            raise ValueError(f"hidden_layer_sizes must be a tuple of positive integers, "
                             f"got {self.hidden_layer_sizes!r}") from None
        if any(h < 1 for h in sizes):
            raise ValueError(f"hidden_layer_sizes must hold positive integers, "
                             f"got {self.hidden_layer_sizes!r}")
        return sizes

    def _check_params(self):
        self._hidden_sizes()
        if self.constellation is not None:
            get_constellation(self.constellation)
        elif self.paradigm != "dnn":
            raise ValueError(
                f"paradigm={self.paradigm!r} runs the soft-IC model, which maps classes to "
                "symbols: pass constellation ('bpsk', 'qpsk' or '16qam'), not None"
            )
        check_real(self.noise_var, "noise_var", min_value=0, strict_min=True, allow_none=True)
        check_int(self.adapt_epochs, "adapt_epochs", min_value=1)
        check_real(self.adapt_lr, "adapt_lr", min_value=0, strict_min=True, allow_none=True)

    def _criterion(self):
        return UserCrossEntropy

    def _default_lr(self):
        return 5e-3

    # -- data -------------------------------------------------------------------------
    def _prepare_fit(self, X, y):
        X = validate_data(self, X, reset=True, dtype=_FLOATS)
        y2, y_1d = self._check_y(y, X)
        const = None if self.constellation is None else get_constellation(self.constellation)
        if const is None:
            pending = getattr(self, "_pending_classes", None)
            classes = np.unique(y2) if pending is None else np.unique(np.asarray(pending))
            if len(classes) < 2:
                raise ValueError(f"{type(self).__name__} needs at least 2 classes in y; got "
                                 f"one class ({classes.tolist()})")
        else:
            classes = const.labels
        idx = self._encode(y2, const, classes)
        self._const = const
        self._fit_dtype = X.dtype
        self._set_classes(classes, y2.shape[1], y_1d)
        self.channel_ = self.noise_var_ = None
        if self.paradigm != "dnn":
            self._resolve_channel(X, idx)
        return X, idx

    def _resolve_channel(self, X, idx):
        const = self._const
        if self.channel is None:
            H, nv = estimate_channel(X, const.points[idx], const.is_complex)
        else:
            det = SoftICDetector(channel=self.channel, noise_var=self.noise_var,
                                 constellation=const.name)
            det._fit_model(X, const.labels[idx])
            H, nv = det.channel_, det.noise_var_
        if self.noise_var is not None:
            nv = float(self.noise_var)
        if H.shape[1] != idx.shape[1]:
            raise ValueError(f"y has {idx.shape[1]} column(s) (users) but the channel has "
                             f"{H.shape[1]} users")
        if const.is_complex and X.shape[1] != 2 * H.shape[0]:
            raise ValueError(f"X has {X.shape[1]} features; a complex channel with "
                             f"{H.shape[0]} antennas needs {2 * H.shape[0]}")
        if not const.is_complex and X.shape[1] != H.shape[0]:
            raise ValueError(f"X has {X.shape[1]} features but the channel has "
                             f"{H.shape[0]} receive antennas")
        self.channel_ = H
        self.noise_var_ = max(float(nv), 1e-6)

    def _model_buffers(self):
        const = self._const
        G = real_channel(self.channel_, const.is_complex)
        return G, const.real_points(), self.noise_var_ / const.dim

    def _build_module(self):
        U, M, F = self.n_users_, len(self._classes), self.n_features_in_
        K, p = self.n_layers, self.paradigm
        kwargs = {}
        dtype = torch.float32
        if p != "dnn":
            G, P, nf = self._model_buffers()
            kwargs = dict(channel=G, points=P, noise_var=nf)
        if p == "classical":
            dtype = torch.float64 if self._fit_dtype == np.float64 else torch.float32
            its = SoftICLayer(U)
        elif p == "hyperparameters":
            its = [SoftICLayer(U, learn=True) for _ in range(K)]
        else:
            sizes = self._hidden_sizes()
            its = [DeepSICLayer(F, U, M, sizes, correction=(p == "correction"))
                   for _ in range(K)]
        module = MIMOUnfolded(its, K, U, M, dtype=dtype, **kwargs)
        module.data_signature = self._data_signature()
        return module

    def _data_signature(self):
        return (self.n_features_in_, self.n_users_, len(self._classes), self.paradigm)

    def _train(self, module, X, y, device, shuffle_seed, split_seed):
        # warm_start: the core picks the previous module before seeing the new data;
        # start afresh when the data no longer fit it (other sizes or labels)
        if getattr(module, "data_signature", None) != self._data_signature():
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(shuffle_seed)
                module = self._build_module()
        elif self.paradigm != "dnn":  # keep learned parameters, refresh the channel
            G, _, nf = self._model_buffers()
            module.set_channel(G, nf)
        return super()._train(module, X, y, device, shuffle_seed, split_seed)

    def fit(self, X, y=None):
        """Train the per-user networks on pilots.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Received pilot vectors.
        y : array-like of shape (n_samples, n_users) or (n_samples,)
            Transmitted pilot symbols (required: DeepSIC has no unsupervised
            objective).

        Returns
        -------
        self : object
        """
        return super().fit(X, y)

    # -- online adaptation ------------------------------------------------------------
    def partial_fit(self, X, y, classes=None, modules=None):
        """Adapt a trained detector to new pilots with a few gradient steps.

        Runs ``adapt_epochs`` epochs per stage of ``loss_schedule`` on
        ``(X, y)`` starting from the current parameters, for channels that
        drift between blocks. With ``modules`` only the named per-user networks
        are updated (DeepSIC's modular, selective retraining). For the
        model-based paradigms with ``channel=None`` the channel is first
        re-estimated from the new pilots (for ``"classical"`` that is the whole
        update). On an unfitted estimator this is :meth:`fit`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples, n_users) or (n_samples,)
        classes : array-like, default=None
            All labels, on the first call only (with ``constellation=None``,
            when the first pilots may not contain every label).
        modules : None, int, list of int or list of (int, int), default=None
            Layers (0-based) or ``(layer, user)`` networks to update; ``None``:
            all.

        Returns
        -------
        self : object
        """
        if not self.__sklearn_is_fitted__():
            self._pending_classes = classes
            try:
                return self.fit(X, y)
            finally:
                self.__dict__.pop("_pending_classes", None)
        self._check_fitted()
        self._check_common_params()
        self._check_params()
        X = validate_data(self, X, reset=False, dtype=_FLOATS)
        y2, _ = self._check_y(y, X)
        self._check_n_users(y2)
        idx = self._encode(y2, self._const, self._classes)
        selected = _parse_modules(modules, self.n_layers, self.n_users_)
        snapshot = dict(self.__dict__)
        module = self._fitted_module()
        state = copy.deepcopy(module.state_dict())
        try:
            if self.paradigm != "dnn" and self.channel is None:
                self._resolve_channel(X, idx)
                G, _, nf = self._model_buffers()
                module.set_channel(G, nf)
            if self.net_ is not None:
                self._adapt(X, idx, selected)
        except BaseException:
            module.load_state_dict(state)
            self.__dict__.clear()
            self.__dict__.update(snapshot)
            raise
        return self

    def _adapt(self, X, idx, selected):
        from ..core import ArrayData

        net = self.net_
        module = net.module_
        schedule = get_loss_schedule(self.loss_schedule)
        saved = (net.train_split, net.callbacks_, net.lr)
        net.train_split = None
        net.callbacks_ = [(n, cb) for n, cb in net.callbacks_ if n != "early_stopping"]
        net.lr = self._learning_rate() if self.adapt_lr is None else float(self.adapt_lr)
        module.train()
        try:
            for stage in schedule.stages(self.n_layers, self.adapt_epochs):
                stage = dataclasses.replace(stage, epochs=int(self.adapt_epochs))
                layers = (range(self.n_layers) if stage.trainable is None
                          else stage.trainable)
                if selected is not None and not any(
                        (k, u) in selected for k in layers for u in range(self.n_users_)):
                    continue
                net.set_stage(stage)
                if selected is not None:
                    for k in layers:
                        for u in range(self.n_users_):
                            if (k, u) not in selected:
                                for p in module.user_parameters(k, u):
                                    p.requires_grad_(False)
                    net.initialize_optimizer()
                net.partial_fit(ArrayData(X, idx), None)
        finally:
            net.train_split, net.callbacks_, net.lr = saved
            for p in module.parameters():
                p.requires_grad_(True)
            module.eval()

    # -- inference --------------------------------------------------------------------
    def _log_posteriors(self, X, staged=False, n_layers=None):
        return self._run(X, n_layers=n_layers, staged=staged)
