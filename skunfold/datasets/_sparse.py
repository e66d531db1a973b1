"""Synthetic sparse-recovery problems (the LISTA / ALISTA benchmark)."""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state

__all__ = ["make_sparse_recovery"]


def _check_positive_int(value, name):
    if not isinstance(value, Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def make_sparse_recovery(n_samples=1000, n_measurements=250, n_components=500, sparsity=0.1,
                         snr_db=None, condition_number=None, dictionary=None,
                         random_state=None):
    """Generate the standard sparse-recovery benchmark :math:`x = H s + e`.

    This reproduces the setting of the LISTA-CP/SS, ALISTA and HyperLISTA
    papers: ``H`` has i.i.d. N(0, 1/m) entries and unit-norm columns; each entry
    of ``s`` is non-zero with probability ``sparsity`` and non-zero values are
    N(0, 1); the noise of sample ``j`` has standard deviation
    ``std(H s_j) * 10**(-snr_db / 20)``.

    Arrays follow scikit-learn's row convention: ``X = S @ dictionary + E``,
    with ``dictionary`` of shape ``(n_components, n_features)``, i.e. the
    paper's ``H`` transposed (row ``j`` of ``dictionary`` is the atom ``h_j``),
    the same convention as :class:`sklearn.decomposition.SparseCoder`.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of problem instances.
    n_measurements : int, default=250
        Number of measurements ``m`` (features of ``X``).
    n_components : int, default=500
        Length ``n`` of the sparse code.
    sparsity : float, default=0.1
        Probability ``p`` that an entry of the code is non-zero.
    snr_db : float or None, default=None
        Per-sample signal-to-noise ratio in dB; ``None`` means noiseless.
    condition_number : float or None, default=None
        If given (e.g. 5, 30, 50), the singular values of ``H`` are replaced by
        ``logspace(0, log10(1 / condition_number), m)`` before the columns are
        normalised (the ill-conditioned variant).
    dictionary : array-like of shape (n_components, n_measurements), default=None
        Use this dictionary instead of drawing one, so that training and test
        sets can share one ``H``.
    random_state : int, RandomState instance or None, default=None
        Seed of every random draw.

    Returns
    -------
    X : ndarray of shape (n_samples, n_measurements)
        Observations.
    S : ndarray of shape (n_samples, n_components)
        The sparse codes.
    dictionary : ndarray of shape (n_components, n_measurements)
        ``H`` transposed (unit-norm rows).

    Examples
    --------
    >>> from skunfold.datasets import make_sparse_recovery
    >>> X, S, D = make_sparse_recovery(n_samples=10, n_measurements=20, n_components=40,
    ...                                random_state=0)
    >>> X.shape, S.shape, D.shape
    ((10, 20), (10, 40), (40, 20))
    """
    n_samples = _check_positive_int(n_samples, "n_samples")
    m = _check_positive_int(n_measurements, "n_measurements")
    n = _check_positive_int(n_components, "n_components")
    if not isinstance(sparsity, Real) or not 0 < sparsity <= 1:
        raise ValueError(f"sparsity must be in (0, 1], got {sparsity!r}")
    if snr_db is not None and (not isinstance(snr_db, Real) or not np.isfinite(snr_db)):
        raise ValueError(f"snr_db must be a finite number or None, got {snr_db!r}")
    if condition_number is not None and (not isinstance(condition_number, Real)
                                         or not condition_number >= 1):
        raise ValueError(f"condition_number must be >= 1 or None, got {condition_number!r}")
    rng = check_random_state(random_state)
    if dictionary is None:
        H = rng.normal(0.0, 1.0 / np.sqrt(m), size=(m, n))
        if condition_number is not None:
            U, _, Vt = np.linalg.svd(H, full_matrices=False)
            sv = np.logspace(0, np.log10(1.0 / condition_number), min(m, n))
            H = (U * sv) @ Vt
        H /= np.linalg.norm(H, axis=0, keepdims=True)
        D = np.ascontiguousarray(H.T)
    else:
        D = np.asarray(dictionary, dtype=float)
        if D.shape != (n, m):
            raise ValueError(
                f"dictionary must have shape (n_components, n_measurements) = ({n}, {m}), "
                f"got {D.shape}"
            )
    support = rng.uniform(size=(n_samples, n)) < sparsity
    S = np.where(support, rng.normal(size=(n_samples, n)), 0.0)
    clean = S @ D
    if snr_db is None:
        X = clean
    else:
        sigma = clean.std(axis=1, keepdims=True) * 10.0 ** (-snr_db / 20.0)
        X = clean + sigma * rng.normal(size=clean.shape)
    return X, S, D
