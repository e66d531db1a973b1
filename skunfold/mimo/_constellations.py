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

__all__ = ["Constellation", "get_constellation", "CONSTELLATIONS", "real_channel",
           "complex_observations", "estimate_channel"]


@dataclass(frozen=True)
class Constellation:
    """A symbol alphabet and the labels that name its points.

    Attributes
    ----------
    name : str
    labels : ndarray of shape (M,)
        The class labels used in ``y``: the symbols ``-1, +1`` themselves for
        BPSK, the point indices ``0, ..., M-1`` for the complex constellations.
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
    """Least-squares channel and per-antenna noise variance from pilots.

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
        Residual power per antenna (``E|w|^2``), corrected for the fitted
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
