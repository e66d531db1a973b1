"""Ad hoc interference networks: the channel realisations of the UWMMSE paper."""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import Bunch, check_random_state

__all__ = ["make_interference_network"]


def _positive_int(value, name):
    if not isinstance(value, Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _positive_real(value, name, allow_none=False):
    if value is None and allow_none:
        return None
    if not isinstance(value, Real) or isinstance(value, bool) or not np.isfinite(value) \
            or value <= 0:
        raise ValueError(f"{name} must be a finite positive number, got {value!r}")
    return float(value)


def make_interference_network(n_samples=1000, n_pairs=20, *, area_side=None,
                              receiver_offset=None, path_loss_exponent=2.2, fading="rayleigh",
                              topology_random_state=None, random_state=None):
    r"""Channel realisations of an ad hoc interference network of transmitter-receiver pairs.

    The setting of the UWMMSE paper (Chowdhury et al., 2021): :math:`M` = ``n_pairs``
    single-antenna transmitters are placed uniformly in the square
    :math:`[-a/2, a/2]^2` (:math:`a` = ``area_side``, by default :math:`[-M, M]^2`); receiver
    ``i`` is placed at transmitter ``i`` plus a uniform offset in
    :math:`[-o, o]^2` (:math:`o` = ``receiver_offset``, by default :math:`M/4` per
    coordinate). The path gain from transmitter ``j`` to receiver ``i`` is
    :math:`d_{ji}^{-\kappa}` (:math:`\kappa` = ``path_loss_exponent``) with
    :math:`d_{ji} = \|t_j - r_i\|` (transmitter and receiver positions), and every
    sample multiplies every entry by an independent Rayleigh fading
    amplitude of scale 1 (:math:`\mathbb{E}[f^2] = 2` for the fading :math:`f`).

    **Convention.** ``H[b, j, i]`` is the *amplitude* gain from transmitter
    ``j`` to receiver ``i`` in sample ``b`` (rows are transmitters, columns
    receivers); ``H[b, i, i]`` are the direct links, and the power received
    by receiver ``i`` from transmitter ``j`` is ``H[b, j, i]**2 * p_j``. This
    is the input of :class:`skunfold.power.WMMSE` and
    :class:`skunfold.power.UnfoldedWMMSE` and of
    ``skunfold.metrics.sum_rate(..., gains="amplitude")``.

    The geometry (the topology) is drawn once per call and shared by all
    samples: samples differ only by their fading. A data set with another
    topology is another data set; draw a training and a test set on the
    same topology by passing the same ``topology_random_state`` and
    different ``random_state``.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of channel realisations.
    n_pairs : int, default=20
        Number ``M`` of transmitter-receiver pairs.
    area_side : float, default=None
        Side of the square holding the transmitters; ``None``: ``2 * n_pairs``
        (the paper's :math:`[-M, M]^2`). For networks of another size at the
        density of the paper's 20 pairs, use ``40 * sqrt(n_pairs / 20)``.
    receiver_offset : float, default=None
        Largest offset of a receiver from its transmitter, per coordinate;
        ``None``: ``n_pairs / 4`` (the paper's :math:`M/4`).
    path_loss_exponent : float, default=2.2
    fading : {"rayleigh", "none"}, default="rayleigh"
        ``"none"`` gives the path gains only (every sample identical).
    topology_random_state : int, RandomState instance or None, default=None
        Seed of the positions. ``None``: the positions are drawn from
        ``random_state`` (one seed then fixes the whole data set).
    random_state : int, RandomState instance or None, default=None
        Seed of the fading.

    Returns
    -------
    H : ndarray of shape (n_samples, n_pairs, n_pairs)
        Amplitude gains, ``H[b, j, i]`` from transmitter ``j`` to receiver ``i``.
    geometry : Bunch
        ``transmitters`` and ``receivers`` (ndarrays of shape ``(n_pairs, 2)``),
        ``distances`` (``distances[j, i] = ||tx_j - rx_i||``), ``path_gain``
        (``distances ** -path_loss_exponent``, the amplitude gains without
        fading) and ``area_side``.

    References
    ----------
    .. [1] A. Chowdhury, G. Verma, C. Rao, A. Swami, S. Segarra, "Unfolding
       WMMSE using graph neural networks for efficient power allocation",
       IEEE Trans. Wireless Commun., 2021.

    Examples
    --------
    >>> from skunfold.datasets import make_interference_network
    >>> H, geometry = make_interference_network(n_samples=5, n_pairs=4,
    ...                                         topology_random_state=0, random_state=0)
    >>> H.shape, geometry.transmitters.shape
    ((5, 4, 4), (4, 2))
    >>> H_test, g = make_interference_network(n_samples=3, n_pairs=4,
    ...                                       topology_random_state=0, random_state=1)
    >>> bool(np.array_equal(g.receivers, geometry.receivers))
    True
    """
    n_samples = _positive_int(n_samples, "n_samples")
    n_pairs = _positive_int(n_pairs, "n_pairs")
    side = _positive_real(area_side, "area_side", allow_none=True)
    side = 2.0 * n_pairs if side is None else side
    offset = _positive_real(receiver_offset, "receiver_offset", allow_none=True)
    offset = n_pairs / 4.0 if offset is None else offset
    exponent = _positive_real(path_loss_exponent, "path_loss_exponent")
    if fading not in ("rayleigh", "none"):
        raise ValueError(f"fading must be 'rayleigh' or 'none', got {fading!r}")
    rng = check_random_state(random_state)
    topo = rng if topology_random_state is None else check_random_state(topology_random_state)
    tx = topo.uniform(-side / 2.0, side / 2.0, size=(n_pairs, 2))
    rx = tx + topo.uniform(-offset, offset, size=(n_pairs, 2))
    distances = np.linalg.norm(tx[:, None, :] - rx[None, :, :], axis=-1)  # [j, i]: tx j, rx i
    with np.errstate(divide="ignore"):
        path_gain = distances ** -exponent
    if not np.all(np.isfinite(path_gain)):
        raise ValueError("a receiver coincides with a transmitter (zero distance); draw another "
                         "topology (topology_random_state)")
    if fading == "rayleigh":
        H = rng.rayleigh(scale=1.0, size=(n_samples, n_pairs, n_pairs)) * path_gain
    else:
        H = np.broadcast_to(path_gain, (n_samples, n_pairs, n_pairs)).copy()
    geometry = Bunch(transmitters=tx, receivers=rx, distances=distances, path_gain=path_gain,
                     area_side=side)
    return H, geometry
