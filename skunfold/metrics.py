"""Metrics of the problem families: NMSE (dB), symbol error rate, sum rate."""

import numpy as np
from sklearn.metrics import make_scorer
from sklearn.utils.validation import check_array, check_consistent_length

__all__ = ["nmse", "nmse_db", "nmse_scorer", "symbol_error_rate", "ser_scorer", "sum_rate"]


def _pair(y_true, y_pred, allow_nd=False):
    y_true = check_array(y_true, ensure_2d=False, allow_nd=allow_nd, dtype="numeric",
                         input_name="y_true")
    y_pred = check_array(y_pred, ensure_2d=False, allow_nd=allow_nd, dtype="numeric",
                         input_name="y_pred")
    check_consistent_length(y_true, y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred have different shapes: {y_true.shape} vs {y_pred.shape}")
    return y_true, y_pred


def nmse(y_true, y_pred):
    """Normalised mean squared error, a ratio of sums over the whole set.

    ``NMSE = sum_i ||y_pred_i - y_true_i||^2 / sum_i ||y_true_i||^2``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples, ...)
    y_pred : array-like of the same shape

    Returns
    -------
    float

    Examples
    --------
    >>> from skunfold.metrics import nmse
    >>> nmse([[1.0, 0.0]], [[0.9, 0.0]])
    0.01...
    """
    y_true, y_pred = _pair(y_true, y_pred, allow_nd=True)
    den = float(np.sum(np.square(y_true, dtype=np.float64)))
    if den == 0.0:
        raise ValueError("nmse is undefined when y_true is identically zero")
    return float(np.sum(np.square(y_pred - y_true, dtype=np.float64)) / den)


def nmse_db(y_true, y_pred):
    """NMSE in decibels: ``10 log10(sum ||y_pred - y_true||^2 / sum ||y_true||^2)``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples, ...)
    y_pred : array-like of the same shape

    Returns
    -------
    float
        ``-inf`` for a perfect reconstruction.

    Examples
    --------
    >>> from skunfold.metrics import nmse_db
    >>> round(nmse_db([[1.0, 0.0]], [[0.9, 0.0]]), 1)
    -20.0
    """
    value = nmse(y_true, y_pred)
    with np.errstate(divide="ignore"):
        return float(10.0 * np.log10(value))


#: Scorer for model selection (``GridSearchCV(..., scoring=nmse_scorer)``): minus NMSE in dB.
nmse_scorer = make_scorer(nmse_db, greater_is_better=False)


def symbol_error_rate(y_true, y_pred):
    """Fraction of symbols detected wrongly, over every user and sample.

    Unlike scikit-learn's multi-output ``score`` (whole-vector accuracy) this
    counts each user's symbol separately.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,) or (n_samples, n_users)
    y_pred : array-like of the same shape

    Returns
    -------
    float

    Examples
    --------
    >>> from skunfold.metrics import symbol_error_rate
    >>> symbol_error_rate([[1, -1], [1, 1]], [[1, 1], [1, 1]])
    0.25
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    check_consistent_length(y_true, y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred have different shapes: {y_true.shape} vs {y_pred.shape}")
    if y_true.size == 0:
        raise ValueError("symbol_error_rate of an empty set is undefined")
    return float(np.mean(y_true != y_pred))


#: Scorer for model selection: minus the symbol error rate.
ser_scorer = make_scorer(symbol_error_rate, greater_is_better=False)


def sum_rate(channel_gains, powers, noise_var=1.0):
    """Sum of log2(1 + SINR) over the links of an interference channel.

    Parameters
    ----------
    channel_gains : array-like of shape (n_samples, n_links, n_links)
        ``channel_gains[b, i, j]`` is the power gain from transmitter ``j`` to
        receiver ``i``.
    powers : array-like of shape (n_samples, n_links)
        Transmit powers.
    noise_var : float, default=1.0

    Returns
    -------
    rates : ndarray of shape (n_samples,)
        Sum rate of each instance (bits/s/Hz).

    Examples
    --------
    >>> import numpy as np
    >>> from skunfold.metrics import sum_rate
    >>> sum_rate(np.eye(2)[None], np.ones((1, 2)))
    array([2.])
    """
    G = np.asarray(channel_gains, dtype=float)
    p = np.asarray(powers, dtype=float)
    if G.ndim != 3 or G.shape[1] != G.shape[2] or p.shape != G.shape[:2]:
        raise ValueError("channel_gains must be (n_samples, L, L) and powers (n_samples, L)")
    signal = np.einsum("bii,bi->bi", G, p)
    interference = np.einsum("bij,bj->bi", G, p) - signal
    return np.sum(np.log2(1.0 + signal / (interference + noise_var)), axis=1)
