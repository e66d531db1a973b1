"""Constellations and the real-valued embedding of complex MIMO models.

scikit-learn rejects complex input, so every complex quantity is handled as a
real vector with the real parts first and the imaginary parts after them:

* a received vector ``x`` of ``N`` complex antennas becomes ``[Re x, Im x]``
  (``2 N`` features); a real model keeps its ``N`` features;
* a symbol ``s`` becomes ``[Re s, Im s]`` (``d = 2`` real dimensions) for the
  complex constellations and stays a scalar (``d = 1``) for BPSK;
* the channel ``H`` (``N x U`` complex) becomes the real matrix ``G`` with
  ``[Re x, Im x] = G [Re s_1, Im s_1, ..., Re s_U, Im s_U]``.
"""

from dataclasses import dataclass

import numpy as np

__all__ = ["Constellation", "get_constellation", "constellation_from_labels", "CONSTELLATIONS",
           "real_channel", "complex_observations", "estimate_channel", "check_channel",
           "fit_channel_model"]


@dataclass(frozen=True)
class Constellation:
    """A symbol alphabet and the labels that name its points.

    Attributes
    ----------
    name : str or None
        ``None`` for an alphabet taken from the labels of ``y``
        (:func:`constellation_from_labels`).
    labels : ndarray of shape (M,)
        The class labels used in ``y``, sorted: the symbols ``-1, +1``
        themselves for BPSK, the point indices ``0, ..., M-1`` for the complex
        constellations.
    points : ndarray of shape (M,), complex
        The symbols, unit average energy.
    is_complex : bool
        Whether the model is complex (real and imaginary parts stacked).
    """

    name: str
    labels: np.ndarray
    points: np.ndarray
    is_complex: bool

    @property
    def size(self):
        """Number of points ``M = |S|``."""
        return len(self.labels)

    @property
    def dim(self):
        """Real dimensions of one symbol (1 for BPSK, 2 for complex constellations)."""
        return 2 if self.is_complex else 1

    def real_points(self):
        """The points as a real array of shape (M, dim)."""
        if self.is_complex:
            return np.stack([self.points.real, self.points.imag], axis=1)
        return self.points.real[:, None].copy()

    def label_to_index(self, y):
        """Indices (0..M-1) of the labels in ``y``; raises if a label is not a point."""
        y = np.asarray(y)
        idx = np.searchsorted(self.labels, y)
        idx = np.clip(idx, 0, self.size - 1)
        bad = self.labels[idx] != y
        if np.any(bad):
            outside = np.unique(y[bad])[:5]
            if self.name is None:
                raise ValueError(f"y contains labels {outside.tolist()} that were not seen in fit "
                                 f"(classes_ = {self.labels.tolist()})")
            raise ValueError(
                f"y contains labels {outside.tolist()} outside the {self.name!r} constellation, "
                f"whose labels are {self.labels.tolist()}"
            )
        return idx.astype(np.int64)

    def symbols(self, y):
        """Complex symbols of the labels in ``y`` (same shape)."""
        return self.points[self.label_to_index(y)]


def _gray_pam(n_levels):
    """Gray-ordered PAM levels ``-(L-1), ..., L-1`` (index i carries Gray code bits)."""
    levels = np.arange(-(n_levels - 1), n_levels, 2, dtype=float)
    gray = np.array([i ^ (i >> 1) for i in range(n_levels)])
    out = np.empty(n_levels)
    out[gray] = levels
    return out


def _qam(order):
    side = int(round(np.sqrt(order)))
    pam = _gray_pam(side)
    pts = np.array([pam[i] + 1j * pam[q] for i in range(side) for q in range(side)])
    return pts / np.sqrt(np.mean(np.abs(pts) ** 2))


CONSTELLATIONS = {
    "bpsk": Constellation("bpsk", np.array([-1, 1], dtype=np.int64),
                          np.array([-1.0 + 0j, 1.0 + 0j]), False),
    "qpsk": Constellation("qpsk", np.arange(4, dtype=np.int64), _qam(4), True),
    "16qam": Constellation("16qam", np.arange(16, dtype=np.int64), _qam(16), True),
}


def get_constellation(name):
    """Return the :class:`Constellation` named ``name``.

    Parameters
    ----------
    name : {"bpsk", "qpsk", "16qam"}

    Returns
    -------
    Constellation

    Examples
    --------
    >>> from skunfold.mimo import get_constellation
    >>> c = get_constellation("qpsk")
    >>> c.labels.tolist(), round(float((abs(c.points) ** 2).mean()), 6)
    ([0, 1, 2, 3], 1.0)
    """
    if isinstance(name, Constellation):
        return name
    if not isinstance(name, str) or name.lower() not in CONSTELLATIONS:
        raise ValueError(f"constellation must be one of {list(CONSTELLATIONS)}, got {name!r}")
    return CONSTELLATIONS[name.lower()]


def constellation_from_labels(labels):
    """The alphabet of a set of class labels (``constellation=None`` of the detectors).

    The labels, sorted, name the points. Numeric labels are their own real
    symbol values (labels ``-1, +1`` are BPSK exactly, ``0, 1, 2`` the real
    points 0, 1, 2); other labels (strings, booleans, objects) name equally
    spaced real points of unit average energy (PAM), in sorted order.

    Parameters
    ----------
    labels : array-like
        Labels, repeated or not (e.g. the whole of ``y``).

    Returns
    -------
    Constellation
        A real alphabet (``is_complex=False``) with ``name=None``.

    Examples
    --------
    >>> from skunfold.mimo import constellation_from_labels
    >>> constellation_from_labels([1, -1, 1]).points.real.tolist()
    [-1.0, 1.0]
    >>> c = constellation_from_labels(["b", "a", "c"])
    >>> c.labels.tolist(), c.points.real.round(3).tolist()
    (['a', 'b', 'c'], [-1.225, 0.0, 1.225])
    """
    try:
        labels = np.unique(np.asarray(labels).ravel())
    except TypeError:
        raise ValueError("the labels of y cannot be sorted; use labels of one type") from None
    if len(labels) < 2:
        raise ValueError(f"a symbol alphabet needs at least 2 classes in y; got one class "
                         f"({labels.tolist()})")
    if labels.dtype.kind in "iuf" and np.all(np.isfinite(labels)):
        points = labels.astype(np.float64)
    else:
        levels = np.arange(-(len(labels) - 1), len(labels), 2, dtype=np.float64)
        points = levels / np.sqrt(np.mean(levels ** 2))
    return Constellation(None, labels, points + 0j, False)


def real_channel(H, is_complex):
    """The real matrix ``G`` acting on stacked real symbols (see the module docstring).

    Parameters
    ----------
    H : ndarray of shape (n_antennas, n_users), real or complex
    is_complex : bool

    Returns
    -------
    G : ndarray of shape (n_features, n_users * d)
    """
    H = np.asarray(H)
    if not is_complex:
        return np.real(H).astype(np.float64)
    N, U = H.shape
    G = np.empty((2 * N, 2 * U))
    G[:N, 0::2] = H.real
    G[:N, 1::2] = -H.imag
    G[N:, 0::2] = H.imag
    G[N:, 1::2] = H.real
    return G


def complex_observations(X, is_complex):
    """Turn stacked real features back into (complex) antenna samples."""
    X = np.asarray(X, dtype=np.float64)
    if not is_complex:
        return X
    n = X.shape[1] // 2
    return X[:, :n] + 1j * X[:, n:]


def estimate_channel(X, symbols, is_complex):
    r"""Least-squares channel and per-antenna noise variance from pilots.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Received pilots (stacked real features).
    symbols : ndarray of shape (n_samples, n_users), complex
        The transmitted pilot symbols.
    is_complex : bool

    Returns
    -------
    H : ndarray of shape (n_antennas, n_users)
        Real for a real model, complex otherwise.
    noise_var : float
        Residual power per antenna (:math:`\mathbb{E}|w|^2`), corrected for the fitted
        degrees of freedom.
    """
    Xc = complex_observations(X, is_complex)
    S = symbols if is_complex else np.real(symbols)
    n, U = S.shape
    Ht, *_ = np.linalg.lstsq(S, Xc, rcond=None)
    resid = Xc - S @ Ht
    dof = max(n - U, 1)
    noise_var = float(np.sum(np.abs(resid) ** 2) / (dof * Xc.shape[1]))
    H = Ht.T
    if not is_complex:
        H = np.real(H)
    return np.ascontiguousarray(H), noise_var


def check_channel(channel):
    """Validate a channel matrix of shape ``(n_antennas, n_users)``, real or complex.

    Returns it as an array; raises ``ValueError`` for ragged, non-numeric,
    non-finite or wrongly shaped input.
    """
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


def fit_channel_model(X, indices, constellation, channel=None, noise_var=None):
    """The channel and noise variance of a model-based detector, given or estimated.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Received vectors (pilots when ``indices`` is given).
    indices : ndarray of shape (n_samples, n_users) or None
        Class indices of the pilot symbols (``None``: no pilots).
    constellation : Constellation
    channel : array-like of shape (n_antennas, n_users), optional
        ``None``: least-squares estimate from the pilots (which are then required).
    noise_var : float, optional
        Noise variance per antenna; ``None``: from the pilot residuals, or
        without pilots from the received power (unit-energy symbols).

    Returns
    -------
    H : ndarray of shape (n_antennas, n_users)
        Real for a real model, complex otherwise.
    noise_var : float
    noise_var_estimated : bool
    """
    const = constellation
    if channel is not None:
        H = check_channel(channel)
        if np.iscomplexobj(H):
            if not const.is_complex and np.any(H.imag != 0):
                raise ValueError("channel is complex but the constellation is real (BPSK, or an "
                                 "alphabet of labels, is a real model); use a real channel or a "
                                 "complex constellation ('qpsk', '16qam')")
            H = H if const.is_complex else H.real.astype(np.float64)
        else:
            H = H.astype(np.float64)
        n_ant = H.shape[0]
        expected = 2 * n_ant if const.is_complex else n_ant
        if X.shape[1] != expected:
            raise ValueError(
                f"X has {X.shape[1]} features but the channel has {n_ant} receive "
                f"antennas, i.e. {expected} features"
                + (" (real and imaginary parts stacked)" if const.is_complex else ""))
        if indices is not None and indices.shape[1] != H.shape[1]:
            raise ValueError(f"y has {indices.shape[1]} column(s) (users) but the channel has "
                             f"{H.shape[1]} users (columns)")
    elif indices is None:
        raise ValueError("with channel=None the channel is estimated from pilots (X, y): "
                         "y is required")
    elif const.is_complex and X.shape[1] % 2:
        raise ValueError(f"X has {X.shape[1]} features; a complex ({const.name}) model "
                         "needs an even number (real and imaginary parts stacked)")
    nv = None
    if channel is None:
        H, nv = estimate_channel(X, const.points[indices], const.is_complex)
    elif indices is not None:
        Xc = complex_observations(X, const.is_complex)
        S = const.points[indices] if const.is_complex else const.points[indices].real
        nv = float(np.mean(np.sum(np.abs(Xc - S @ H.T) ** 2, axis=1)) / H.shape[0])
    if noise_var is not None:
        return H, float(noise_var), False
    if nv is None:  # moments: E||x||^2 = ||H||_F^2 + N sigma^2 (unit-energy symbols)
        Xc = complex_observations(X, const.is_complex)
        nv = (np.mean(np.sum(np.abs(Xc) ** 2, axis=1)) - np.sum(np.abs(H) ** 2)) / H.shape[0]
    return H, float(max(nv, 1e-6)), True
