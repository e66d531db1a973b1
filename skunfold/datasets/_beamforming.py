"""Synthetic wideband multiuser channels (the hybrid-beamforming benchmark)."""

from numbers import Integral

import numpy as np
from sklearn.utils import check_random_state

__all__ = ["make_wideband_channels"]


def _positive_int(value, name):
    if not isinstance(value, Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def make_wideband_channels(n_samples=1000, n_bands=8, n_users=6, n_antennas=12, complex=True,
                           random_state=None):
    """Generate wideband downlink channels :math:`H_b` (users x antennas), independent and Gaussian.

    Every sample is a stack of :math:`B` = ``n_bands`` channel matrices
    :math:`H_b` of shape ``(N, M)`` from :math:`M` = ``n_antennas`` transmit antennas to
    :math:`N` = ``n_users`` single-antenna users, with i.i.d. entries: circularly
    symmetric complex Gaussian ``CN(0, 1)`` (the model of Lavi and
    Shlezinger's paper), or real ``N(0, 1)`` with ``complex=False`` (the
    authors' public code). With unit noise variance and the power budget
    ``N B`` of :class:`~skunfold.beamforming.HybridPGA`, the SNR is one per
    user; scale the channels by ``sqrt(snr)`` for another.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of channel realisations.
    n_bands : int, default=8
        Frequency bands ``B``.
    n_users : int, default=6
        Users ``N``.
    n_antennas : int, default=12
        Transmit antennas ``M``.
    complex : bool, default=True
        Complex ``CN(0, 1)`` entries (real and imaginary parts of variance
        1/2) or real ``N(0, 1)`` entries.
    random_state : int, RandomState instance or None, default=None
        Seed of the draws.

    Returns
    -------
    channels : ndarray of shape (n_samples, n_bands, n_users, n_antennas)
        complex128, or float64 with ``complex=False``.

    References
    ----------
    .. [1] O. Lavi and N. Shlezinger, "Learn to rapidly and robustly optimize
       hybrid precoding", IEEE Trans. Commun., 2023.

    Examples
    --------
    >>> from skunfold.datasets import make_wideband_channels
    >>> H = make_wideband_channels(100, random_state=0)
    >>> H.shape, H.dtype
    ((100, 8, 6, 12), dtype('complex128'))
    >>> make_wideband_channels(5, n_bands=2, complex=False, random_state=0).dtype
    dtype('float64')
    """
    shape = (_positive_int(n_samples, "n_samples"), _positive_int(n_bands, "n_bands"),
             _positive_int(n_users, "n_users"), _positive_int(n_antennas, "n_antennas"))
    if not isinstance(complex, (bool, np.bool_)):
        raise ValueError(f"complex must be True or False, got {complex!r}")
    rng = check_random_state(random_state)
    if not complex:
        return rng.standard_normal(shape)
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / np.sqrt(2.0)
