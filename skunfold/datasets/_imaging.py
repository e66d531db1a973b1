r"""Imaging inverse problems :math:`y = A x + e` on random crops of shipped natural images."""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state

from ._patches import IMAGES, load_image

__all__ = ["make_imaging_problem", "TRAIN_IMAGES", "TEST_IMAGES"]

#: The images of ``images="train"`` (the default of :func:`make_imaging_problem`).
TRAIN_IMAGES = ("camera", "astronaut", "coffee", "china", "flower", "chelsea", "rocket", "brick",
                "grass", "gravel")
#: The held-out images of ``images="test"``, none of which is in :data:`TRAIN_IMAGES`.
TEST_IMAGES = ("coins", "moon")
_OPERATORS = ("denoise", "blur", "superres", "inpaint", "mri")
#: Seed of the masks of the operators built from a name: the same operator on every call.
_MASK_SEED = 0


def _check_patch_size(patch_size):
    if isinstance(patch_size, Integral) and not isinstance(patch_size, bool):
        shape = (int(patch_size), int(patch_size))
    else:
        try:
            shape = tuple(patch_size)
        except TypeError:
            shape = ()
        if len(shape) != 2 or not all(isinstance(s, Integral) and not isinstance(s, bool)
                                      for s in shape):
            shape = ()
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"patch_size must be a positive integer or a pair of them (H, W), "
                         f"got {patch_size!r}")
    return tuple(int(s) for s in shape)


def _random_mask(shape, fraction, rng):
    """Boolean mask keeping ``round(fraction * size)`` pixels drawn without replacement."""
    mask = np.zeros(shape[0] * shape[1], dtype=bool)
    mask[rng.choice(mask.size, size=max(1, int(round(fraction * mask.size))),
                    replace=False)] = True
    return mask.reshape(shape)


def _mri_mask(shape, rng, acceleration=4, center_fraction=0.08):
    """Cartesian mask: whole columns (phase encodes), the low frequencies all kept.

    Returned in the DFT's order (zero frequency at ``[0, 0]``).
    """
    width = shape[1]
    n_keep = max(1, int(round(width / acceleration)))
    n_center = min(n_keep, max(1, int(round(center_fraction * width))))
    columns = np.zeros(width, dtype=bool)
    start = (width - n_center + 1) // 2
    columns[start:start + n_center] = True
    others = np.flatnonzero(~columns)
    columns[rng.choice(others, size=min(n_keep - n_center, others.size), replace=False)] = True
    return np.fft.ifftshift(np.broadcast_to(columns, shape))


def _build_operator(name, shape):
    from .. import imaging

    rng = np.random.RandomState(_MASK_SEED)
    if name == "denoise":
        return imaging.Identity(shape)
    if name == "blur":
        return imaging.Blur(shape, sigma=1.0)
    if name == "superres":
        return imaging.Downsample(shape, factor=2, sigma=1.0)
    if name == "inpaint":
        return imaging.Inpaint(shape, _random_mask(shape, 0.5, rng))
    return imaging.MRI(shape, _mri_mask(shape, rng))


def _resolve_operator(operator, patch_size):
    if isinstance(operator, str):
        if operator not in _OPERATORS:
            raise ValueError(f"operator must be one of {list(_OPERATORS)} or an operator, "
                             f"got {operator!r}")
        shape = _check_patch_size(32 if patch_size is None else patch_size)
        return _build_operator(operator, shape), shape
    from ..imaging import ImagingOperator, as_operator

    if isinstance(operator, ImagingOperator) and operator.image_shape is not None:
        shape = operator.image_shape
        if patch_size is not None and _check_patch_size(patch_size) != shape:
            raise ValueError(f"patch_size {patch_size!r} does not match the operator's "
                             f"image_shape {shape}; leave patch_size=None to use the latter")
        return operator, shape
    shape = getattr(operator, "shape", None)
    if not (isinstance(shape, tuple) and len(shape) == 2):
        raise ValueError(f"operator must be one of {list(_OPERATORS)} or a linear operator on "
                         f"flattened images, got {operator!r}")
    n_in = shape[1]
    if patch_size is None:
        side = int(round(np.sqrt(n_in))) if isinstance(n_in, Integral) else 0
        if side * side != n_in:
            raise ValueError(f"give patch_size for an operator without image_shape that "
                             f"is not square: it takes vectors of size {n_in!r}")
        patch_size = side
    shape = _check_patch_size(patch_size)
    try:
        return as_operator(operator, image_shape=shape), shape
    except (TypeError, ValueError) as exc:
        raise ValueError(f"operator must be one of {list(_OPERATORS)} or a linear operator on "
                         f"flattened {shape[0]}x{shape[1]} images: {exc}") from exc


def _resolve_images(images, downscale):
    if isinstance(images, str):
        presets = {"train": TRAIN_IMAGES, "test": TEST_IMAGES}
        images = presets.get(images, (images,))
    elif isinstance(images, np.ndarray) and images.ndim == 2:
        images = (images,)
    try:
        images = list(images)
    except TypeError:
        images = []
    if not images:
        raise ValueError("images must be 'train', 'test', an image name or a non-empty "
                         "sequence of names and 2-D arrays")
    pictures = []
    for image in images:
        if isinstance(image, str):
            if image not in IMAGES[:-1]:
                raise ValueError(f"images: {image!r} is not one of 'train', 'test' or "
                                 f"{list(IMAGES[:-1])}")
            pictures.append(load_image(image, downscale=downscale))
            continue
        picture = np.asarray(image)
        if picture.ndim != 2 or not np.issubdtype(picture.dtype, np.number) \
                or np.iscomplexobj(picture) or not np.isfinite(picture).all() \
                or picture.min() < 0 or picture.max() > 1:
            raise ValueError(f"images: an array must be a 2-D grey-level image with finite "
                             f"values in [0, 1], got shape {picture.shape} and dtype "
                             f"{picture.dtype}")
        pictures.append(picture.astype(np.float64))
    return pictures


def make_imaging_problem(operator="blur", *, images="train", n_samples=200, patch_size=None,
                         noise=0.01, downscale=2, random_state=None):
    r"""An imaging inverse problem :math:`y = A x + e` on crops of natural images.

    The clean images :math:`x` are random ``patch_size`` crops of grey-level
    photographs that scikit-image and scikit-learn ship (nothing is
    downloaded; see :func:`load_image`), with values in :math:`[0, 1]`, as
    many from each image (up to one), in random order. The measurements are
    :math:`y = A x + e` with :math:`A` a matrix-free operator of
    :mod:`skunfold.imaging` and :math:`e` white Gaussian noise of standard
    deviation ``noise``: real, :math:`e_i \sim \mathcal N(0, \sigma^2)`, or,
    for complex measurements (MRI), circular complex,
    :math:`e_i \sim \mathcal{CN}(0, \sigma^2)` (real and imaginary parts of
    variance :math:`\sigma^2/2`, so :math:`\mathbb E |e_i|^2 = \sigma^2`).

    Training and evaluation should use *different* images: a model trained
    on the crops of one image does not carry over to others, while one
    trained on several images does. ``images="train"`` (the default,
    :data:`TRAIN_IMAGES`: ten photographs) and ``images="test"``
    (:data:`TEST_IMAGES`, disjoint from them) give such a split; pass the
    operator returned by the first call to the second, so that both sets
    share it (the masks of the operators built from a name do not depend on
    ``random_state`` either).

    Parameters
    ----------
    operator : str or operator, default="blur"
        The forward operator :math:`A`. A name builds one on
        ``patch_size`` images (32x32 by default):

        * ``"denoise"``: :class:`~skunfold.imaging.Identity`;
        * ``"blur"``: :class:`~skunfold.imaging.Blur`, Gaussian with
          :math:`\sigma = 1` pixel, circular boundary;
        * ``"superres"``: :class:`~skunfold.imaging.Downsample`, that blur
          then decimation by 2 (super-resolution x2);
        * ``"inpaint"``: :class:`~skunfold.imaging.Inpaint` keeping 50% of
          the pixels, drawn at random;
        * ``"mri"``: :class:`~skunfold.imaging.MRI`, 4x-accelerated
          Cartesian sampling: a quarter of the columns of k-space, the
          central 8% among them and the others drawn at random (the
          setting of fastMRI, Zbontar et al., 2018, arXiv:1811.08839).

        The random masks are drawn with a fixed seed: a name gives the same
        operator at every call. Otherwise an operator of
        :mod:`skunfold.imaging` (its ``image_shape`` sets the crops' shape),
        or any matrix, sparse matrix or SciPy ``LinearOperator`` on
        flattened images (see :func:`skunfold.imaging.as_operator`).
    images : {"train", "test"}, str or sequence of str and ndarray, default="train"
        Where the crops come from: ``"train"`` is :data:`TRAIN_IMAGES`,
        ``"test"`` :data:`TEST_IMAGES`; otherwise one name or a sequence of
        names of :data:`IMAGES` (except ``"digits"``) and of 2-D grey-level
        arrays with values in :math:`[0, 1]`.
    n_samples : int, default=200
        Number of crops.
    patch_size : int or tuple of int (H, W), default=None
        Shape of the crops: the operator's ``image_shape`` when it has one,
        32x32 otherwise.
    noise : float, default=0.01
        Standard deviation :math:`\sigma` of the noise (the pixel values are
        in :math:`[0, 1]`).
    downscale : int, default=2
        The photographs are shrunk by this factor first (see
        :func:`load_image`; 2 removes their JPEG noise); 1 keeps the full
        size, whose crops are smoother.
    random_state : int, RandomState instance or None, default=None
        Seed of the crops' positions, their order and the noise.

    Returns
    -------
    Y : ndarray of shape (n_samples, n_measurements)
        The measurements :math:`y = Ax + e`, one row per crop (float64;
        complex128 for complex operators such as MRI).
    X : ndarray of shape (n_samples, H * W)
        The clean crops :math:`x`, flattened row by row (float64 in
        :math:`[0, 1]`): ``X[i].reshape(H, W)`` is an image.
    operator : ImagingOperator
        The operator :math:`A`, of shape ``(n_measurements, H * W)``.

    See Also
    --------
    skunfold.metrics.psnr, skunfold.metrics.ssim : The figures of merit.
    make_patch_denoising : Patches and a learned dictionary (sparse coding).

    Examples
    --------
    Super-resolution x2 of 32x32 crops, trained on ten images and evaluated
    on two others:

    >>> from skunfold.datasets import make_imaging_problem
    >>> Y, X, A = make_imaging_problem("superres", n_samples=50, random_state=0)
    >>> Y.shape, X.shape, A.shape
    ((50, 256), (50, 1024), (256, 1024))
    >>> Y_test, X_test, _ = make_imaging_problem(A, images="test", n_samples=20,
    ...                                          random_state=1)
    >>> Y_test.shape
    (20, 256)
    >>> bool(X.min() >= 0 and X.max() <= 1)
    True
    """
    if not isinstance(n_samples, Integral) or isinstance(n_samples, bool) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
    if not isinstance(noise, Real) or isinstance(noise, bool) or not np.isfinite(noise) \
            or noise < 0:
        raise ValueError(f"noise must be a non-negative finite number, got {noise!r}")
    if not isinstance(downscale, Integral) or isinstance(downscale, bool) or downscale < 1:
        raise ValueError(f"downscale must be a positive integer, got {downscale!r}")
    rng = check_random_state(random_state)
    pictures = _resolve_images(images, downscale)
    operator, (h, w) = _resolve_operator(operator, patch_size)
    for picture in pictures:
        if picture.shape[0] < h or picture.shape[1] < w:
            raise ValueError(f"an image of shape {picture.shape} is smaller than the crops "
                             f"({h}, {w}): lower patch_size or downscale")

    counts = np.full(len(pictures), n_samples // len(pictures))
    counts[:n_samples % len(pictures)] += 1
    crops = []
    for picture, count in zip(pictures, counts):
        rows = rng.randint(picture.shape[0] - h + 1, size=count)
        cols = rng.randint(picture.shape[1] - w + 1, size=count)
        crops.extend(picture[r:r + h, c:c + w].ravel() for r, c in zip(rows, cols))
    X = np.stack(crops)[rng.permutation(n_samples)]

    import torch

    with torch.no_grad():
        Y = operator.forward(torch.from_numpy(X)).numpy()
    if np.iscomplexobj(Y):
        Y = Y.astype(np.complex128) + noise * np.sqrt(0.5) * (
            rng.standard_normal(Y.shape) + 1j * rng.standard_normal(Y.shape))
    else:
        Y = Y.astype(np.float64) + noise * rng.standard_normal(Y.shape)
    return Y, X, operator
