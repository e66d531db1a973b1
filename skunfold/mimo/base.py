"""The classifier API shared by every MIMO detector, and the parameter rows they share.

:class:`MIMOClassifierMixin` holds the labels (``classes_``, from a named
constellation or from the labels of ``y``) and the public inference API
(``predict``, ``predict_proba``, ``predict_log_proba`` and ``score``, the
fraction of symbols detected correctly); :class:`StagedDetectorMixin` adds the
staged versions of the layered detectors. ``MODEL_ROWS`` are the
:class:`~skunfold.core.Param` rows of the channel model (``channel``,
``noise_var``, ``constellation``) that the detectors' ``parameter_table``
include.
"""

import numpy as np
import torch
from sklearn.base import ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_consistent_length

from ..core import Param, constraints
from .constellations import constellation_from_labels, get_constellation

__all__ = ["MIMOClassifierMixin", "StagedDetectorMixin", "MODEL_ROWS", "check_constellation"]


def check_constellation(value, name="constellation"):
    """``None`` (the alphabet of the labels), a constellation name or a :class:`Constellation`."""
    return None if value is None else get_constellation(value)


def _check_channel_parameter(value, name):
    """Any value: the channel is checked against the data in ``fit`` (its shape, its type)."""
    return value


#: Rows of the channel model shared by the detectors that use it.
MODEL_ROWS = {
    "channel": Param(_check_channel_parameter, "array-like of shape (n_antennas, n_users)", """
        The channel ``H`` (the paper's column convention, :math:`x = H s + w`):
        real for BPSK, complex for QPSK/16-QAM. ``None``: estimated from pilots
        ``(X, y)`` by least squares in ``fit`` (``channel_estimated_`` is set)."""),
    "noise_var": Param(constraints.real(0, strict_min=True, allow_none=True), "float", r"""
        Noise variance per antenna :math:`\mathbb{E}|w_n|^2` (``10**(-snr_db/10)`` for
        :func:`~skunfold.datasets.make_mimo`). ``None``: estimated, from the
        pilot residuals when ``y`` is given, else from the received power."""),
    "constellation": Param(check_constellation, '{None, "bpsk", "qpsk", "16qam"}', """
        Symbol alphabet. ``None``: the sorted labels of ``y`` (required then),
        numeric labels being their own real symbol values (labels ``-1, +1``
        are BPSK) and other labels equally spaced real points of unit energy
        (see :func:`constellation_from_labels`). A named constellation fixes
        the labels: the BPSK symbols ``-1, +1`` or the point indices of
        :func:`get_constellation`."""),
}


class MIMOClassifierMixin(ClassifierMixin):
    """Labels and the public inference API shared by the MIMO detectors.

    Subclasses implement ``_log_posteriors(X)``: validate ``X`` and return the
    per-user log-posteriors, shape ``(n_samples, n_users, n_classes)``. The
    labels are handled here: :meth:`validate_target` turns ``y`` into class
    indices and, on a fresh fit, sets ``classes_`` from the constellation
    (``None``: the labels of ``y``, see
    :func:`~skunfold.mimo.constellation_from_labels`).
    """

    # -- labels ---------------------------------------------------------------------
    def _check_labels(self, y, X):
        """Validate ``y`` against ``X``; return (2-D label array, was_1d)."""
        y = check_array(y, ensure_2d=False, dtype=None, input_name="y")
        if y.ndim not in (1, 2):
            raise ValueError(f"y must be 1-D (one user) or 2-D (n_samples, n_users), "
                             f"got shape {y.shape}")
        check_consistent_length(X, y)
        check_classification_targets(y)
        return (y[:, None] if y.ndim == 1 else y), y.ndim == 1

    def _alphabet(self, labels):
        """The constellation of a fresh fit: the named one, or the alphabet of ``labels``."""
        if self.constellation is not None:
            return get_constellation(self.constellation)
        classes = getattr(self, "_pending_classes", None)
        return constellation_from_labels(labels if classes is None else classes)

    def _set_classes(self, const, n_users, y_1d):
        self._const = const
        self.n_users_ = int(n_users)
        self._y_1d = bool(y_1d)
        self.classes_ = (const.labels.copy() if y_1d
                         else [const.labels.copy() for _ in range(n_users)])

    def _check_n_users(self, y2):
        if y2.shape[1] != self.n_users_:
            raise ValueError(f"y has {y2.shape[1]} column(s) (users) but {type(self).__name__} "
                             f"was fitted for n_users={self.n_users_}")

    def _encode(self, y2, const):
        try:
            return const.label_to_index(y2)
        except TypeError:
            raise ValueError(f"y has labels of type {y2.dtype}, but the classes are "
                             f"{const.labels.tolist()}") from None

    def validate_target(self, y, X):
        """Class indices (int64, shape ``(n_samples, n_users)``) of the labels ``y``.

        On a fresh fit the constellation (or the labels) fixes ``classes_``;
        when adapting (``partial_fit``) the labels must be among the fitted
        classes, for the fitted number of users.
        """
        y2, y_1d = self._check_labels(y, X)
        if getattr(self, "_adapting", False):
            self._check_n_users(y2)
            return self._encode(y2, self._const)
        const = self._alphabet(y2)
        idx = self._encode(y2, const)
        self._set_classes(const, y2.shape[1], y_1d)
        return idx

    # -- public inference API ---------------------------------------------------------
    def _format(self, arr):
        """Per-user array (n, U, ...) -> scikit-learn's multi-output convention."""
        if self._y_1d:
            return arr[:, 0]
        return [arr[:, u] for u in range(arr.shape[1])]

    @staticmethod
    def _proba(logp):
        p = np.exp(logp - logp.max(axis=-1, keepdims=True))
        return p / p.sum(axis=-1, keepdims=True)

    def _labels(self, logp):
        out = self._const.labels.take(logp.argmax(axis=-1))
        return out[:, 0] if self._y_1d else out

    # -- hooks of skunfold.export ---------------------------------------------------------
    def _export_labels(self):
        return self._const.labels

    def _export_outputs(self, logp, x):
        """``predict`` (labels; indices into ``classes_`` for non-numeric ones) and the proba."""
        labels, index = self._const.labels, logp.argmax(dim=-1)
        predict = torch.as_tensor(labels)[index] if labels.dtype.kind in "biuf" else index
        proba = torch.softmax(logp, dim=-1)
        if self._y_1d:
            predict, proba = predict[:, 0], proba[:, 0]
        return {"predict": predict, "predict_proba": proba}

    def predict(self, X):
        """Detect the transmitted symbols (the most likely symbol of each user).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Received vectors (real and imaginary parts stacked for complex models).

        Returns
        -------
        y : ndarray of shape (n_samples, n_users) or (n_samples,)
            Symbol labels, one column per user (1-D for a model fitted on a 1-D ``y``).
        """
        return self._labels(self._log_posteriors(X))

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
            model was fitted on a 1-D ``y``. In the precision of ``X``.
        """
        return self._format(self._proba(self._log_posteriors(X)))

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
        """Accuracy per symbol: the fraction detected correctly, ``1 - symbol_error_rate``.

        A classifier's score (not the R² of the core's regressors): for a
        single user this is scikit-learn's accuracy; for several users every
        user's symbol counts separately (scikit-learn's multi-output accuracy
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
        pred = self.predict(X)
        y2, _ = self._check_labels(y, pred)
        self._check_n_users(y2)
        correct = np.mean(pred.reshape(len(pred), -1) == y2, axis=1)
        return float(np.average(correct, weights=sample_weight))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        tags.target_tags.required = True
        tags.classifier_tags.multi_class = True
        return tags


class StagedDetectorMixin:
    """``staged_predict_proba`` / ``staged_predict`` of the iterative detectors."""

    def _log_posteriors(self, X):
        return self.iterate(X)

    def staged_predict_proba(self, X, n_layers=None):
        """Yield the posteriors after each layer ``k = 1, ..., n_layers`` (one pass).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        n_layers : int, optional
            Depth to run (at most the fitted depth; any depth for soft IC).

        Yields
        ------
        proba : list of ndarrays or ndarray
            As :meth:`predict_proba`.
        """
        for logp in self.staged_iterate(X, n_layers):
            yield self._format(self._proba(logp))

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
        for logp in self.staged_iterate(X, n_layers):
            yield self._labels(logp)

    def validate_input(self, X, *, reset):
        """Validate ``X``: a 2-D array of received vectors (see the core's ``validate_input``)."""
        if type(X) is not np.ndarray or X.ndim != 2:  # a 2-D array passes as it is
            constraints.check_input_ndim(X, self, max_ndim=2)
        return super().validate_input(X, reset=reset)
