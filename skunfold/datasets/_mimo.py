"""Synthetic multiuser MIMO detection problems (the DeepSIC benchmark)."""

from collections import namedtuple
from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state

from ..mimo import get_constellation

__all__ = ["make_mimo", "make_mimo_stream", "MIMOFrame", "SED_PERIODS"]

#: Periods (in frames) of the time variation of the SED channel's columns (users 1-4).
SED_PERIODS = (51, 39, 33, 21)

NONLINEARITIES = (None, "tanh", "one_bit")


def _check_positive_int(value, name):
    if not isinstance(value, Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_finite(value, name, allow_none=False, min_value=None):
    if value is None and allow_none:
        return None
    if not isinstance(value, Real) or isinstance(value, bool) or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite number{' or None' if allow_none else ''}, "
                         f"got {value!r}")
    if min_value is not None and value < min_value:
        raise ValueError(f"{name} must be >= {min_value}, got {value!r}")
    return float(value)


def _periods(n_users):
    return np.array([SED_PERIODS[u % 4] + 4 * (u // 4) for u in range(n_users)], dtype=float)


def fading_gains(frame, n_users):
    r"""Column gains :math:`0.8 + 0.2 \cos(2 \pi t / P_u)` of the varying channel at frame t."""
    return 0.8 + 0.2 * np.cos(2.0 * np.pi * frame / _periods(n_users))


def _base_channel(channel, n_antennas, n_users, is_complex, rng):
    if isinstance(channel, str):
        if channel == "sed":
            n = np.arange(n_antennas)[:, None]
            u = np.arange(n_users)[None, :]
            H = np.exp(-np.abs(n - u)).astype(float)
            return H.astype(complex) if is_complex else H
        if channel == "gaussian":
            if is_complex:
                return (rng.normal(size=(n_antennas, n_users))
                        + 1j * rng.normal(size=(n_antennas, n_users))) / np.sqrt(2.0)
            return rng.normal(size=(n_antennas, n_users))
        raise ValueError(f"channel must be 'sed', 'gaussian' or an array of shape "
                         f"(n_antennas, n_users), got {channel!r}")
    H = np.asarray(channel)
    if H.dtype == object or not (np.issubdtype(H.dtype, np.number)):
        raise ValueError(f"channel must be 'sed', 'gaussian' or a numeric array, got {channel!r}")
    if H.shape != (n_antennas, n_users):
        raise ValueError(f"channel has shape {H.shape}, expected (n_antennas, n_users) = "
                         f"({n_antennas}, {n_users})")
    if not np.all(np.isfinite(H)):
        raise ValueError("channel contains NaN or infinity")
    if np.iscomplexobj(H) and not is_complex and np.any(np.imag(H) != 0):
        raise ValueError("a complex channel needs a complex constellation ('qpsk' or '16qam'); "
                         "BPSK is simulated as a real model")
    return H.astype(complex) if is_complex else np.real(H).astype(float)


def _simulate(H, labels, const, sigma2, nonlinearity, csi_error, csi_block, rng):
    """Received samples (stacked real features) for given labels."""
    n = len(labels)
    S = const.symbols(labels)
    if not const.is_complex:
        S = S.real
    if csi_error is None:
        clean = S @ H.T
    else:
        clean = np.empty((n, H.shape[0]), dtype=H.dtype)
        for start in range(0, n, csi_block):
            sl = slice(start, min(start + csi_block, n))
            err = rng.normal(size=H.shape)
            if const.is_complex:
                err = (err + 1j * rng.normal(size=H.shape)) / np.sqrt(2.0)
            clean[sl] = S[sl] @ (H * (1.0 + np.sqrt(csi_error) * err)).T
    if const.is_complex:
        noise = (rng.normal(size=clean.shape) + 1j * rng.normal(size=clean.shape)) \
            * np.sqrt(sigma2 / 2.0)
        x = clean + noise
        X = np.concatenate([x.real, x.imag], axis=1)
    else:
        X = clean + rng.normal(size=clean.shape) * np.sqrt(sigma2)
    if nonlinearity == "tanh":
        X = np.tanh(0.5 * X)
    elif nonlinearity == "one_bit":
        X = np.where(X >= 0, 1.0, -1.0)
    return X


def _validate(n_users, n_antennas, constellation, snr_db, channel, nonlinearity, csi_error,
              csi_block):
    U = _check_positive_int(n_users, "n_users")
    N = _check_positive_int(n_antennas, "n_antennas")
    const = get_constellation(constellation)
    snr_db = _check_finite(snr_db, "snr_db")
    if nonlinearity not in NONLINEARITIES:
        raise ValueError(f"nonlinearity must be one of {list(NONLINEARITIES)}, "
                         f"got {nonlinearity!r}")
    csi_error = _check_finite(csi_error, "csi_error", allow_none=True, min_value=0.0)
    csi_block = _check_positive_int(csi_block, "csi_block")
    if isinstance(channel, str) and channel not in ("sed", "gaussian"):
        raise ValueError(f"channel must be 'sed', 'gaussian' or an array of shape "
                         f"(n_antennas, n_users), got {channel!r}")
    return U, N, const, snr_db, csi_error, csi_block


def make_mimo(n_samples=1000, n_users=4, n_antennas=4, constellation="bpsk", snr_db=10.0,
              channel="sed", frame=None, nonlinearity=None, csi_error=None, csi_block=500,
              random_state=None):
    r"""Generate a multiuser MIMO detection problem :math:`x = H s + w`.

    :math:`U` = ``n_users`` users each send an i.i.d. uniform symbol of
    ``constellation``; the receiver's :math:`N` = ``n_antennas`` antennas observe
    :math:`x = \sum_u h_u s_u + w` with :math:`w \sim \mathcal{N}(0, \sigma^2 I)` (real model, BPSK)
    or
    :math:`\mathcal{CN}(0, \sigma^2 I)` (complex constellations), :math:`\sigma^2 =`
    ``10**(-snr_db/10)``. Complex vectors are returned with real and imaginary parts stacked, as
    scikit-learn rejects complex input. This is the setting of the DeepSIC
    papers (see the docs' published results): 4 x 4 BPSK on the spatial-exponential-decay
    channel, with optional periodic time variation, a non-linear receiver and
    channel-state uncertainty.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of received vectors (channel uses).
    n_users : int, default=4
    n_antennas : int, default=4
    constellation : {"bpsk", "qpsk", "16qam"}, default="bpsk"
        BPSK is simulated as a real model (``N`` features); QPSK and 16-QAM as a
        complex one (``2 N`` features).
    snr_db : float, default=10.0
        :math:`\sigma^2 =` ``10**(-snr_db / 10)`` per antenna (unit-energy symbols).
    channel : {"sed", "gaussian"} or array-like of shape (n_antennas, n_users), default="sed"
        ``"sed"``: spatial exponential decay :math:`H_{nu} = e^{-|n - u|}`;
        ``"gaussian"``: i.i.d. N(0, 1) entries (CN(0, 1) for complex
        constellations), drawn from ``random_state``; an array: this channel
        (pass the returned channel back to share one realisation between
        training and test sets).
    frame : int or None, default=None
        Time index ``t`` of the periodically varying channel: column ``u`` is
        scaled by :math:`0.8 + 0.2 \cos(2 \pi t / P_u)` with periods
        :math:`P = (51, 39, 33, 21)` frames (cycled, plus 4 per extra group of four
        users). Applied to any channel, given or drawn; ``None``: no variation.
    nonlinearity : {None, "tanh", "one_bit"}, default=None
        Non-linear receiver front end applied after the noise to each real
        feature: ``"tanh"`` saturates, :math:`x \leftarrow \tanh(0.5 x)`; ``"one_bit"``
        quantises, :math:`x \leftarrow \mathrm{sign}(x)`.
    csi_error : float or None, default=None
        Channel-state uncertainty of variance ``e`` (0.1 in the DeepSIC paper):
        the samples are generated with :math:`H \odot (1 + \sqrt{e}\, n)`, ``n`` i.i.d.
        N(0, 1) (CN(0, 1) for complex constellations) redrawn every
        ``csi_block`` samples, while the returned channel is the nominal ``H``.
        Gives the data of a channel a model-based detector knows only up to
        this error, and the training data of a detector learned under it.
    csi_block : int, default=500
        Samples per draw of the channel error.
    random_state : int, RandomState instance or None, default=None
        Seed of every random draw.

    Returns
    -------
    X : ndarray of shape (n_samples, n_antennas) or (n_samples, 2 * n_antennas)
        Received vectors; ``[Re x, Im x]`` for complex constellations.
    y : ndarray of shape (n_samples, n_users), int64
        Transmitted symbol labels, one column per user: the symbols ``-1, +1``
        for BPSK, the point indices of
        :func:`skunfold.mimo.get_constellation` otherwise.
    channel : ndarray of shape (n_antennas, n_users)
        The channel of this frame, real for BPSK, complex otherwise (without
        the ``csi_error`` perturbation).

    See Also
    --------
    make_mimo_stream : Frames of pilots and data over a drifting channel.

    Examples
    --------
    >>> from skunfold.datasets import make_mimo
    >>> X, y, H = make_mimo(n_samples=100, snr_db=12, random_state=0)
    >>> X.shape, y.shape, H.shape, sorted(set(y.ravel().tolist()))
    ((100, 4), (100, 4), (4, 4), [-1, 1])
    >>> X_test, y_test, _ = make_mimo(n_samples=50, channel=H, random_state=1)
    >>> make_mimo(n_samples=10, constellation="qpsk", random_state=0)[0].shape
    (10, 8)
    """
    n_samples = _check_positive_int(n_samples, "n_samples")
    U, N, const, snr_db, csi_error, csi_block = _validate(
        n_users, n_antennas, constellation, snr_db, channel, nonlinearity, csi_error, csi_block)
    if frame is not None and (not isinstance(frame, Integral) or isinstance(frame, bool)):
        raise ValueError(f"frame must be an integer frame index or None, got {frame!r}")
    rng = check_random_state(random_state)
    H = _base_channel(channel, N, U, const.is_complex, rng)
    if frame is not None:
        H = H * fading_gains(frame, U)[None, :]
    labels = const.labels[rng.randint(0, const.size, size=(n_samples, U))]
    X = _simulate(H, labels, const, 10.0 ** (-snr_db / 10.0), nonlinearity, csi_error,
                  csi_block, rng)
    return X, labels.astype(np.int64), H


#: One frame of :func:`make_mimo_stream`.
MIMOFrame = namedtuple("MIMOFrame", ["index", "X_pilots", "y_pilots", "X", "y", "channel"])
MIMOFrame.__doc__ = """One coherence block of :func:`make_mimo_stream`: pilots, data, channel.

Fields: ``index`` (the block's number), ``X_pilots`` and ``y_pilots`` (the
received pilot vectors and their transmitted labels), ``X`` and ``y`` (the
data block to detect and its true labels), ``channel`` (the block's channel
matrix, of shape ``(n_antennas, n_users)``).
"""


def make_mimo_stream(n_frames=100, n_pilots=500, n_data=10000, n_users=4, n_antennas=4,
                     constellation="bpsk", snr_db=12.0, channel="sed", nonlinearity=None,
                     csi_error=None, random_state=None):
    r"""Frames of pilots and data over a periodically drifting channel.

    Frame ``t`` uses the base channel with column ``u`` scaled by
    :math:`0.8 + 0.2 \cos(2 \pi t / P_u)` (see :func:`make_mimo`), the time-varying
    SED setting of the DeepSIC papers: blocks of ``n_pilots + n_data``
    symbols per coherence interval, the pilots first.

    Parameters
    ----------
    n_frames : int, default=100
    n_pilots : int, default=500
        Pilot (training) symbols per frame.
    n_data : int, default=10000
        Data symbols detected per frame.
    n_users, n_antennas, constellation, snr_db, channel, nonlinearity, csi_error
        As in :func:`make_mimo`; a ``"gaussian"`` base channel is drawn once.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    frames : generator of MIMOFrame
        Named tuples ``(index, X_pilots, y_pilots, X, y, channel)``, with the
        channel of the frame.

    Examples
    --------
    >>> from skunfold.datasets import make_mimo_stream
    >>> frames = list(make_mimo_stream(n_frames=3, n_pilots=20, n_data=30, random_state=0))
    >>> len(frames), frames[0].X_pilots.shape, frames[2].X.shape
    (3, (20, 4), (30, 4))
    """
    n_frames = _check_positive_int(n_frames, "n_frames")
    n_pilots = _check_positive_int(n_pilots, "n_pilots")
    n_data = _check_positive_int(n_data, "n_data")
    U, N, const, snr_db, csi_error, _ = _validate(
        n_users, n_antennas, constellation, snr_db, channel, nonlinearity, csi_error, 500)
    rng = check_random_state(random_state)
    base = _base_channel(channel, N, U, const.is_complex, rng)
    sigma2 = 10.0 ** (-snr_db / 10.0)

    def frames():
        for t in range(n_frames):
            H = base * fading_gains(t, U)[None, :]
            labels = const.labels[rng.randint(0, const.size, size=(n_pilots + n_data, U))]
            X = _simulate(H, labels, const, sigma2, nonlinearity, csi_error, 500, rng)
            yield MIMOFrame(t, X[:n_pilots], labels[:n_pilots].astype(np.int64),
                            X[n_pilots:], labels[n_pilots:].astype(np.int64), H)

    return frames()

