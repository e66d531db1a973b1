"""Real-data sparse coding: noisy patches of natural images and a dictionary learned on them."""

from numbers import Integral, Real

import numpy as np
from sklearn.decomposition import MiniBatchDictionaryLearning
from sklearn.feature_extraction.image import extract_patches_2d
from sklearn.utils import check_random_state

__all__ = ["load_image", "make_patch_denoising", "IMAGES"]

#: The images :func:`load_image` knows: scikit-learn's two sample photographs, scikit-image's
#: grey-level photographs (installed with ``pip install scikit-image``) and scikit-learn's digits.
IMAGES = ("china", "flower", "camera", "astronaut", "coffee", "chelsea", "rocket", "brick",
          "grass", "gravel", "coins", "moon", "digits")
_SKLEARN = {"china": "china.jpg", "flower": "flower.jpg"}
_SKIMAGE = ("camera", "astronaut", "coffee", "chelsea", "rocket", "brick", "grass", "gravel",
            "coins", "moon")


def load_image(name, *, downscale=2):
    """A grey-level natural image with values in ``[0, 1]``, from what the libraries ship.

    Nothing is downloaded: ``"china"`` and ``"flower"`` are scikit-learn's
    sample images; ``"camera"``, ``"astronaut"``, ``"coffee"``,
    ``"chelsea"``, ``"rocket"``, ``"brick"``, ``"grass"``, ``"gravel"``,
    ``"coins"`` and ``"moon"`` scikit-image's (``pip install
    scikit-image``). Colour images are averaged over their channels.

    Parameters
    ----------
    name : str
        One of :data:`IMAGES` except ``"digits"`` (scikit-learn's 8x8 digits
        are already patches: see :func:`make_patch_denoising`).
    downscale : int, default=2
        Integer factor by which the image is shrunk (by averaging blocks of
        ``downscale x downscale`` pixels), which removes the photographs'
        JPEG noise and makes coding faster; ``1`` keeps the full size.

    Returns
    -------
    image : ndarray of shape (height, width)
        Float64 values in ``[0, 1]``.

    Examples
    --------
    >>> from skunfold.datasets import load_image
    >>> load_image("china").shape
    (213, 320)
    """
    if not isinstance(downscale, Integral) or isinstance(downscale, bool) or downscale < 1:
        raise ValueError(f"downscale must be a positive integer, got {downscale!r}")
    if name in _SKLEARN:
        from sklearn.datasets import load_sample_image

        image = load_sample_image(_SKLEARN[name]).astype(np.float64) / 255.0
    elif name in _SKIMAGE:
        try:
            from skimage import data
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(f"the image {name!r} is scikit-image's: pip install scikit-image "
                              "(or use 'china', 'flower' or 'digits', which scikit-learn "
                              "ships)") from exc
        raw = getattr(data, name)()
        image = raw.astype(np.float64) / (255.0 if raw.dtype == np.uint8 else float(raw.max()))
    else:
        raise ValueError(f"image must be one of {list(IMAGES[:-1])}, got {name!r}")
    if image.ndim == 3:
        image = image[..., :3].mean(axis=2)
    h, w = (s // downscale * downscale for s in image.shape)
    image = image[:h, :w].reshape(h // downscale, downscale, w // downscale, downscale)
    return image.mean(axis=(1, 3))


def _digits(rng, n_samples):
    from sklearn.datasets import load_digits

    images = load_digits().images / 16.0
    take = rng.choice(len(images), size=min(n_samples, len(images)), replace=False)
    return images[take].reshape(len(take), -1)


def make_patch_denoising(image="china", *, n_samples=2000, patch_size=8, overcompleteness=2,
                         noise=0.1, n_dictionary_samples=3000, dictionary_alpha=0.1,
                         downscale=2, random_state=None):
    """Noisy patches of a natural image and a dictionary learned on its clean patches.

    The sparse-coding step of scikit-learn's image-denoising workflow, as a
    problem: patches of ``patch_size x patch_size`` pixels are drawn from the
    image, each has its (noisy) mean removed, Gaussian noise of standard
    deviation ``noise`` is added, and a dictionary of
    ``overcompleteness * patch_size**2`` atoms is learned on other clean
    patches of the same image by
    :class:`~sklearn.decomposition.MiniBatchDictionaryLearning`. Learned
    dictionaries are coherent (a mutual coherence of 0.7 to 0.9 is usual),
    unlike the Gaussian dictionaries of :func:`make_sparse_recovery`. The
    figure of merit is the PSNR of ``S @ dictionary`` against ``X_clean``
    (see :func:`skunfold.metrics.psnr`, ``data_range=1``).

    Parameters
    ----------
    image : str, default="china"
        One of :data:`IMAGES` (see :func:`load_image`); ``"digits"``: the
        8x8 images of :func:`sklearn.datasets.load_digits` are the patches
        (``patch_size`` must be 8; at most 1797 samples, split between the
        dictionary and the returned samples).
    n_samples : int, default=2000
        Number of noisy patches returned.
    patch_size : int, default=8
        Side of a patch; samples have ``patch_size**2`` features.
    overcompleteness : float, default=2
        Atoms per feature: the dictionary has
        ``round(overcompleteness * patch_size**2)`` atoms.
    noise : float, default=0.1
        Standard deviation of the additive Gaussian noise (pixel values are
        in ``[0, 1]``).
    n_dictionary_samples : int, default=3000
        Clean patches the dictionary is learned on (drawn apart from the
        returned ones).
    dictionary_alpha : float, default=0.1
        Sparsity weight of the dictionary learning.
    downscale : int, default=2
        See :func:`load_image`.
    random_state : int, RandomState instance or None, default=None
        Seed of the patches, the noise and the dictionary learning.

    Returns
    -------
    X : ndarray of shape (n_samples, patch_size**2)
        Noisy patches, each minus its mean.
    X_clean : ndarray of shape (n_samples, patch_size**2)
        The same patches without noise, minus the same means.
    dictionary : ndarray of shape (n_components, patch_size**2)
        The learned dictionary (unit-norm atoms, scikit-learn's row
        convention ``X ~ S @ dictionary``).

    Examples
    --------
    >>> from skunfold.datasets import make_patch_denoising
    >>> X, X_clean, D = make_patch_denoising("china", n_samples=100, n_dictionary_samples=500,
    ...                                      random_state=0)
    >>> X.shape, D.shape
    ((100, 64), (128, 64))
    """
    for name, value in (("n_samples", n_samples), ("patch_size", patch_size),
                        ("n_dictionary_samples", n_dictionary_samples)):
        if not isinstance(value, Integral) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    for name, value, low in (("overcompleteness", overcompleteness, 0.0), ("noise", noise, None),
                             ("dictionary_alpha", dictionary_alpha, 0.0)):
        if not isinstance(value, Real) or isinstance(value, bool) or not np.isfinite(value) \
                or value < 0 or (low is not None and value <= low):
            raise ValueError(f"{name} must be a {'positive' if low is not None else 'non-negative'}"
                             f" finite number, got {value!r}")
    rng = check_random_state(random_state)
    n_features = patch_size * patch_size
    if image == "digits":
        if patch_size != 8:
            raise ValueError(f"the digits are 8x8 images: patch_size must be 8, got {patch_size}")
        patches = _digits(rng, n_samples + n_dictionary_samples)
        if len(patches) < 2:
            raise ValueError("too few digits")
        n_dict = min(n_dictionary_samples, len(patches) // 2)
        train, clean = patches[:n_dict], patches[n_dict:n_dict + n_samples]
    else:
        picture = load_image(image, downscale=downscale)
        total = n_samples + n_dictionary_samples
        patches = extract_patches_2d(picture, (patch_size, patch_size), max_patches=total,
                                     random_state=rng).reshape(-1, n_features)
        train, clean = patches[:n_dictionary_samples], patches[n_dictionary_samples:]
    train = train - train.mean(axis=1, keepdims=True)
    n_components = max(1, int(round(overcompleteness * n_features)))
    learner = MiniBatchDictionaryLearning(n_components=n_components, alpha=dictionary_alpha,
                                          batch_size=256, max_iter=5,
                                          random_state=rng.randint(2**31 - 1))
    dictionary = learner.fit(train).components_
    noisy = clean + noise * rng.standard_normal(clean.shape)
    mean = noisy.mean(axis=1, keepdims=True)
    return noisy - mean, clean - mean, dictionary
