"""Synthetic robust-PCA problems: LRPCA's generator, a noisy transform, a static-camera video."""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state

__all__ = ["make_rpca", "perturb_psi", "make_static_video"]


def _positive_int(value, name):
    if not isinstance(value, Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _shape(shape, name="shape"):
    try:
        n1, n2 = shape
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair of positive integers (n1, n2), got {shape!r}") \
            from None
    return _positive_int(n1, f"{name}[0]"), _positive_int(n2, f"{name}[1]")


def make_rpca(n_instances=10, shape=(1000, 1000), rank=5, outlier_fraction=0.1, psi=None,
              outlier_scale=1.0, random_state=None):
    r"""Generate robust-PCA problems ``X = L + psi @ S`` as in LRPCA's experiments.

    Reproduces the generator of Cai, Liu and Yin (2021): :math:`L = U V^\top` with
    ``U`` of shape ``(n1, rank)`` and ``V`` of shape ``(n2, rank)`` drawn
    i.i.d. N(0, 1) and divided by :math:`\sqrt{n_1}` and :math:`\sqrt{n_2}`; exactly
    ``floor(outlier_fraction * n1 * n2)`` entries of ``S``, chosen uniformly
    without replacement, are non-zero, with values uniform in :math:`[-s, s]`,
    :math:`s = c\, \mathrm{mean}(|L|)` (:math:`c` = ``outlier_scale``) (small outliers, of the scale
    of the entries of ``L``). For n1 = n2 = 1000 and rank 5, :math:`\|L\|_F \approx 2.24`.

    Parameters
    ----------
    n_instances : int, default=10
        Number of independent problems.
    shape : (int, int), default=(1000, 1000)
        ``(n1, n2)``.
    rank : int, default=5
        Rank ``r`` of ``L``.
    outlier_fraction : float, default=0.1
        Fraction ``alpha`` of non-zero entries of ``S``, in ``[0, 1]``.
    psi : array-like of shape (n1, n1), default=None
        Sparsifying transform: ``X = L + psi @ S``; ``None`` is the identity.
    outlier_scale : float, default=1.0
        Outlier amplitude in units of ``mean(|L|)`` (LRPCA's ``c``).
    random_state : int, RandomState instance or None, default=None
        Seed of every random draw.

    Returns
    -------
    X : ndarray of shape (n_instances, n1, n2)
        Observations.
    low_rank : ndarray of shape (n_instances, n1, n2)
        The rank-``rank`` parts ``L``.
    sparse : ndarray of shape (n_instances, n1, n2)
        The sparse parts ``S`` (in the domain of ``psi``).

    See Also
    --------
    perturb_psi : A noisy copy of ``psi`` for the mismatched setting.

    Examples
    --------
    >>> from skunfold.datasets import make_rpca
    >>> X, L, S = make_rpca(n_instances=2, shape=(50, 40), rank=3, random_state=0)
    >>> X.shape, int(np.linalg.matrix_rank(L[0])), int((S[0] != 0).sum())
    ((2, 50, 40), 3, 200)
    """
    n_instances = _positive_int(n_instances, "n_instances")
    n1, n2 = _shape(shape)
    rank = _positive_int(rank, "rank")
    if rank > min(n1, n2):
        raise ValueError(f"rank must be <= min(n1, n2) = {min(n1, n2)}, got {rank}")
    if not isinstance(outlier_fraction, Real) or not 0 <= outlier_fraction <= 1:
        raise ValueError(f"outlier_fraction must be in [0, 1], got {outlier_fraction!r}")
    if not isinstance(outlier_scale, Real) or not np.isfinite(outlier_scale) or outlier_scale < 0:
        raise ValueError(f"outlier_scale must be a non-negative number, got {outlier_scale!r}")
    if psi is not None:
        psi = np.asarray(psi, dtype=float)
        if psi.shape != (n1, n1):
            raise ValueError(f"psi must have shape (n1, n1) = ({n1}, {n1}), got {psi.shape}")
    rng = check_random_state(random_state)
    n_out = int(np.floor(outlier_fraction * n1 * n2))
    X = np.empty((n_instances, n1, n2))
    low = np.empty_like(X)
    sparse = np.zeros_like(X)
    for i in range(n_instances):
        U = rng.standard_normal((n1, rank)) / np.sqrt(n1)
        V = rng.standard_normal((n2, rank)) / np.sqrt(n2)
        low[i] = U @ V.T
        s = outlier_scale * np.mean(np.abs(low[i]))
        idx = rng.permutation(n1 * n2)[:n_out]
        flat = sparse[i].reshape(-1)
        flat[idx] = s * (2.0 * rng.uniform(size=n_out) - 1.0)
        X[i] = low[i] + (sparse[i] if psi is None else psi @ sparse[i])
    return X, low, sparse


def perturb_psi(psi, noise_level=0.05, random_state=None):
    r"""A noisy copy :math:`\Psi + \epsilon G / \sqrt{n}` of a transform (the mismatched setting).

    ``G`` has i.i.d. N(0, 1) entries and :math:`\epsilon` is ``noise_level``, so the perturbation
    has spectral norm about ``2 * noise_level``. The survey's study gives its solvers such a
    surrogate of the true ``psi``; ``noise_level`` in ``[0.01, 0.1]`` is the
    range suggested for reproducing it.

    Parameters
    ----------
    psi : array-like of shape (n, n) or int
        The true transform, or ``n`` for the identity of size ``n``.
    noise_level : float, default=0.05
        ``sigma``.
    random_state : int, RandomState instance or None, default=None
        Seed of ``G``.

    Returns
    -------
    psi_noisy : ndarray of shape (n, n)
        The perturbed transform.

    Examples
    --------
    >>> from skunfold.datasets import perturb_psi
    >>> P = perturb_psi(100, noise_level=0.05, random_state=0)
    >>> P.shape, bool(0.05 < np.linalg.norm(P - np.eye(100), 2) < 0.15)
    ((100, 100), True)
    """
    if isinstance(psi, Integral) and not isinstance(psi, bool):
        psi = np.eye(_positive_int(psi, "psi"))
    psi = np.asarray(psi, dtype=float)
    if psi.ndim != 2 or psi.shape[0] != psi.shape[1]:
        raise ValueError(f"psi must be a square matrix or an integer size, got shape {psi.shape}")
    if not isinstance(noise_level, Real) or not np.isfinite(noise_level) or noise_level < 0:
        raise ValueError(f"noise_level must be a non-negative number, got {noise_level!r}")
    rng = check_random_state(random_state)
    n = psi.shape[0]
    return psi + noise_level * rng.standard_normal((n, n)) / np.sqrt(n)


def _smooth_image(rng, height, width, n_waves=4):
    yy, xx = np.mgrid[0:height, 0:width]
    img = np.zeros((height, width))
    for _ in range(n_waves):
        fy, fx = rng.uniform(0.5, 2.5, size=2)
        phase = rng.uniform(0, 2 * np.pi)
        img += rng.uniform(0.5, 1.0) * np.cos(2 * np.pi * (fy * yy / height + fx * xx / width)
                                              + phase)
    img -= img.min()
    return 0.2 + 0.6 * img / max(img.max(), 1e-12)


def make_static_video(n_videos=1, n_frames=40, frame_shape=(24, 32), rank=2, n_objects=2,
                      object_radius=3.0, random_state=None):
    """Synthetic "static camera" videos: a low-rank background and moving objects.

    Each video is a matrix with one column per frame (``n1 = height * width``
    pixels, ``n2 = n_frames``). The background is a smooth random image whose
    brightness changes slowly (a global flicker and a second, sweeping
    lighting pattern give rank ``rank`` <= 2); ``n_objects`` discs of
    constant grey level move along straight lines, bouncing off the edges,
    and hide the background where they are. The ground truth is
    ``X = background + foreground`` with ``foreground`` non-zero on the
    objects only -- robust PCA's model with ``psi`` the identity.

    Parameters
    ----------
    n_videos : int, default=1
        Number of independent videos (backgrounds and trajectories).
    n_frames : int, default=40
        Frames per video (``n2``).
    frame_shape : (int, int), default=(24, 32)
        ``(height, width)``; frame ``t`` of video ``i`` is
        ``X[i, :, t].reshape(frame_shape)``.
    rank : {1, 2}, default=2
        Rank of the background.
    n_objects : int, default=2
        Moving discs per video.
    object_radius : float, default=3.0
        In pixels.
    random_state : int, RandomState instance or None, default=None
        Seed of every random draw.

    Returns
    -------
    X : ndarray of shape (n_videos, height * width, n_frames)
        The videos.
    background : ndarray of shape (n_videos, height * width, n_frames)
        The low-rank part.
    foreground : ndarray of shape (n_videos, height * width, n_frames)
        ``X - background``, non-zero where an object is.

    Examples
    --------
    >>> from skunfold.datasets import make_static_video
    >>> X, B, F = make_static_video(n_frames=30, frame_shape=(16, 20), random_state=0)
    >>> X.shape, int(np.linalg.matrix_rank(B[0]))
    ((1, 320, 30), 2)
    """
    n_videos = _positive_int(n_videos, "n_videos")
    n_frames = _positive_int(n_frames, "n_frames")
    height, width = _shape(frame_shape, "frame_shape")
    if rank not in (1, 2) or isinstance(rank, bool):
        raise ValueError(f"rank must be 1 or 2, got {rank!r}")
    if not isinstance(n_objects, Integral) or isinstance(n_objects, bool) or n_objects < 0:
        raise ValueError(f"n_objects must be a non-negative integer, got {n_objects!r}")
    if not isinstance(object_radius, Real) or not object_radius > 0:
        raise ValueError(f"object_radius must be a positive number, got {object_radius!r}")
    rng = check_random_state(random_state)
    t = np.arange(n_frames)
    yy, xx = np.mgrid[0:height, 0:width]
    shape = (n_videos, height * width, n_frames)
    X = np.empty(shape)
    background = np.empty(shape)
    for i in range(n_videos):
        base = _smooth_image(rng, height, width).reshape(-1)
        gain = 1.0 + 0.15 * np.sin(2 * np.pi * t / n_frames * rng.uniform(0.5, 1.5)
                                    + rng.uniform(0, 2 * np.pi))
        B = np.outer(base, gain)
        if rank == 2:
            pattern = (xx / max(width - 1, 1) - 0.5).reshape(-1)
            B += 0.2 * np.outer(pattern, np.cos(np.pi * t / max(n_frames - 1, 1)))
        frames = B.copy()
        for _ in range(n_objects):
            pos = rng.uniform([object_radius, object_radius],
                              [height - object_radius, width - object_radius])
            vel = rng.uniform(0.5, 1.5, size=2) * rng.choice([-1.0, 1.0], size=2)
            level = rng.choice([0.02, 0.98]) + rng.uniform(-0.02, 0.02)
            for f in range(n_frames):
                mask = ((yy - pos[0]) ** 2 + (xx - pos[1]) ** 2 <= object_radius ** 2).reshape(-1)
                frames[mask, f] = level
                pos = pos + vel
                for d, size in enumerate((height, width)):
                    if pos[d] < 0 or pos[d] > size - 1:
                        vel[d] = -vel[d]
                        pos[d] = np.clip(pos[d], 0, size - 1)
        X[i] = frames
        background[i] = B
    return X, background, X - background
