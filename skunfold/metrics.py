"""Metrics of the problem families: NMSE (dB), PSNR, SSIM, symbol error rate, sum rate."""

from numbers import Real

import numpy as np
from sklearn.metrics import make_scorer
from sklearn.utils.validation import check_array, check_consistent_length

__all__ = ["nmse", "nmse_db", "nmse_scorer", "psnr", "ssim", "symbol_error_rate", "ser_scorer",
           "sum_rate"]


def _same_shape(y_true, y_pred):
    check_consistent_length(y_true, y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"y_true and y_pred have different shapes: {y_true.shape} vs {y_pred.shape}"
        )


def _pair(y_true, y_pred, allow_nd=False):
    y_true = check_array(y_true, ensure_2d=False, allow_nd=allow_nd, dtype="numeric",
                         input_name="y_true")
    y_pred = check_array(y_pred, ensure_2d=False, allow_nd=allow_nd, dtype="numeric",
                         input_name="y_pred")
    _same_shape(y_true, y_pred)
    return y_true, y_pred


def nmse(y_true, y_pred):
    r"""Normalised mean squared error, a ratio of sums over the whole set.

    :math:`\mathrm{NMSE} = \sum_i \|\hat y_i - y_i\|^2 / \sum_i \|y_i\|^2` (:math:`\hat y` =
    ``y_pred``, :math:`y` = ``y_true``).

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
    >>> round(nmse([[1.0, 0.0]], [[0.9, 0.0]]), 6)
    0.01
    """
    y_true, y_pred = _pair(y_true, y_pred, allow_nd=True)
    den = float(np.sum(np.square(y_true, dtype=np.float64)))
    if den == 0.0:
        raise ValueError("nmse is undefined when y_true is identically zero")
    return float(np.sum(np.square(y_pred - y_true, dtype=np.float64)) / den)


def nmse_db(y_true, y_pred):
    r"""NMSE in decibels: :math:`10 \log_{10}(\sum \|\hat y - y\|^2 / \sum \|y\|^2)`.

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


def psnr(y_true, y_pred, *, data_range=1.0):
    """Peak signal-to-noise ratio in dB: ``10 log10(data_range**2 / mean((y_pred - y_true)**2))``.

    The figure of image denoising and reconstruction, over all entries of
    the arrays (flattened images or patches, one per row, or shaped images).

    Parameters
    ----------
    y_true : array-like of shape (n_samples, ...)
        Reference images.
    y_pred : array-like of the same shape
        Estimates.
    data_range : float, default=1.0
        The range of the pixel values (1 for images in ``[0, 1]``, 255 for
        8-bit images).

    Returns
    -------
    float
        ``inf`` for a perfect reconstruction.

    Examples
    --------
    >>> from skunfold.metrics import psnr
    >>> round(psnr([[0.5, 0.5]], [[0.6, 0.4]]), 1)
    20.0
    """
    y_true, y_pred = _pair(y_true, y_pred, allow_nd=True)
    if not (isinstance(data_range, (int, float, np.floating)) and np.isfinite(data_range)
            and data_range > 0):
        raise ValueError(f"data_range must be a positive finite number, got {data_range!r}")
    mse = float(np.mean(np.abs(y_pred - y_true) ** 2))
    with np.errstate(divide="ignore"):
        return float(10.0 * np.log10(data_range ** 2 / mse))


def _images(y, image_shape, name):
    """``y`` as a stack of 2-D images (n, H, W)."""
    if y.ndim == 3:
        if image_shape is not None and tuple(y.shape[1:]) != image_shape:
            raise ValueError(f"{name} holds images of shape {tuple(y.shape[1:])}, but "
                             f"image_shape is {image_shape}")
        return y
    if y.ndim != 2:
        raise ValueError(f"{name} must be flattened images, one per row (n_samples, H * W), "
                         f"or images (n_samples, H, W); got shape {y.shape} (pass one "
                         f"image as image[None])")
    n_features = y.shape[1]
    if image_shape is None:
        side = int(round(np.sqrt(n_features)))
        if side * side != n_features:
            raise ValueError(f"the rows of {name} have {n_features} entries, not a square "
                             f"image: give image_shape=(H, W)")
        image_shape = (side, side)
    elif image_shape[0] * image_shape[1] != n_features:
        raise ValueError(f"image_shape {image_shape} has {image_shape[0] * image_shape[1]} "
                         f"pixels, but the rows of {name} have {n_features} entries")
    return y.reshape(len(y), *image_shape)


def ssim(y_true, y_pred, *, image_shape=None, data_range=1.0):
    r"""Mean structural similarity (SSIM) of the images, by scikit-image.

    Each image's SSIM (Wang et al., 2004) is the mean over its 7x7 windows of
    :math:`\frac{(2\mu_x\mu_y + c_1)(2\sigma_{xy} + c_2)}
    {(\mu_x^2 + \mu_y^2 + c_1)(\sigma_x^2 + \sigma_y^2 + c_2)}`,
    :math:`c_1 = (0.01 L)^2`, :math:`c_2 = (0.03 L)^2`, :math:`L` = ``data_range``
    (:func:`skimage.metrics.structural_similarity` with its defaults); the
    result is the mean over the images. 1 for identical images, lower as
    they differ. Unlike :func:`psnr`, computed image by image: the images
    must be given with their shape.

    Parameters
    ----------
    y_true : array-like of shape (n_samples, H * W) or (n_samples, H, W)
        Reference images: flattened ones, one per row, or a stack of 2-D
        images (a single image ``im`` is ``im[None]``). Each side at least 7.
    y_pred : array-like of the same shape
        Estimates.
    image_shape : tuple of int (H, W), default=None
        Shape of the flattened images; None: square ones
        (:math:`H = W = \sqrt{n_\mathrm{features}}`).
    data_range : float, default=1.0
        The range of the pixel values (1 for images in ``[0, 1]``, 255 for
        8-bit images).

    Returns
    -------
    float
        In :math:`[-1, 1]`.

    Examples
    --------
    >>> import numpy as np
    >>> from skunfold.metrics import ssim
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(size=(3, 64))   # three flattened 8x8 images
    >>> ssim(X, X)
    1.0
    >>> round(ssim(X, np.clip(X + 0.1 * rng.standard_normal(X.shape), 0, 1)), 2)
    0.95
    """
    try:
        from skimage.metrics import structural_similarity
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("ssim uses scikit-image: pip install scikit-image") from exc
    y_true, y_pred = _pair(y_true, y_pred, allow_nd=True)
    if not (isinstance(data_range, (int, float, np.floating)) and np.isfinite(data_range)
            and data_range > 0):
        raise ValueError(f"data_range must be a positive finite number, got {data_range!r}")
    if image_shape is not None:
        try:
            image_shape = tuple(int(s) for s in image_shape)
        except (TypeError, ValueError):
            image_shape = ()
        if len(image_shape) != 2 or min(image_shape) < 1:
            raise ValueError(f"image_shape must be a pair of positive integers (H, W), got "
                             f"{image_shape!r}")
    y_true = _images(y_true, image_shape, "y_true")
    y_pred = _images(y_pred, image_shape, "y_pred")
    if min(y_true.shape[1:]) < 7:
        raise ValueError(f"ssim needs images of at least 7x7 pixels (its window), got "
                         f"{y_true.shape[1]}x{y_true.shape[2]}")
    values = [structural_similarity(a, b, data_range=float(data_range))
              for a, b in zip(y_true.astype(np.float64), y_pred.astype(np.float64))]
    return float(np.mean(values))


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
    _same_shape(y_true, y_pred)
    if y_true.size == 0:
        raise ValueError("symbol_error_rate of an empty set is undefined")
    return float(np.mean(y_true != y_pred))


#: Scorer for model selection: minus the symbol error rate.
ser_scorer = make_scorer(symbol_error_rate, greater_is_better=False)


def sum_rate(channel_gains, powers, noise_var=1.0, *, gains="power"):
    r"""Sum rate :math:`\sum_i \log_2(1 + \mathrm{SINR}_i)`, per sample of an interference channel.

    Link ``i`` (transmitter ``i`` to receiver ``i``) has
    :math:`\mathrm{SINR}_i = g_{ii} p_i / (\sigma^2 + \sum_{j \ne i} g_{ji} p_j)` (:math:`\sigma^2`
    = ``noise_var``) where :math:`g_{ji}`
    is the *power* gain from transmitter ``j`` to receiver ``i``. Two layouts
    of the channel are accepted:

    * ``gains="power"`` (the default, unchanged since the function was
      introduced): ``channel_gains[b, i, j]`` is the power gain from
      transmitter ``j`` to receiver ``i`` (rows are receivers);
    * ``gains="amplitude"``: ``channel_gains[b, j, i]`` is the *amplitude*
      gain from transmitter ``j`` to receiver ``i`` (rows are transmitters),
      so the power gain is its square. This is the layout of
      :func:`skunfold.datasets.make_interference_network` and of the
      estimators of :mod:`skunfold.power`, whose ``score`` is the mean of
      this function with ``gains="amplitude"``.

    ``sum_rate(H, p, s, gains="amplitude")`` equals
    ``sum_rate(np.swapaxes(H, 1, 2) ** 2, p, s)``. The interference excludes
    the direct link exactly (it is not computed as a difference), so very
    large signal-to-interference ratios keep their precision.

    Parameters
    ----------
    channel_gains : array-like of shape (n_samples, n_links, n_links)
        Non-negative gains, in the layout given by ``gains``.
    powers : array-like of shape (n_samples, n_links)
        Non-negative transmit powers.
    noise_var : float, default=1.0
        Noise power at every receiver (positive).
    gains : {"power", "amplitude"}, default="power"
        The layout of ``channel_gains`` (see above).

    Returns
    -------
    rates : ndarray of shape (n_samples,)
        Sum rate of each sample (bit/s/Hz), in float64.

    Examples
    --------
    >>> import numpy as np
    >>> from skunfold.metrics import sum_rate
    >>> sum_rate(np.eye(2)[None], np.ones((1, 2)))
    array([2.])

    Amplitude gains ``H[b, j, i]`` (transmitter ``j`` to receiver ``i``):
    transmitter 1 reaches receiver 0 with amplitude 1, so link 0 has
    ``SINR = 2**2 / (1 + 1) = 2`` and link 1 ``SINR = 1``:

    >>> H = np.array([[[2.0, 0.0], [1.0, 1.0]]])
    >>> sum_rate(H, np.ones((1, 2)), noise_var=1.0, gains="amplitude")
    array([2.5849625])
    >>> float(np.log2(3) + 1)
    2.584962500721156
    """
    if gains not in ("power", "amplitude"):
        raise ValueError(f"gains must be 'power' or 'amplitude', got {gains!r}")
    G = check_array(channel_gains, ensure_2d=False, allow_nd=True, dtype=np.float64,
                    input_name="channel_gains")
    p = check_array(powers, ensure_2d=False, allow_nd=True, dtype=np.float64,
                    input_name="powers")
    if G.ndim != 3 or G.shape[1] != G.shape[2] or p.shape != G.shape[:2]:
        raise ValueError(f"channel_gains must have shape (n_samples, L, L) and powers "
                         f"(n_samples, L); got {G.shape} and {p.shape}")
    if np.any(G < 0) or np.any(p < 0):
        raise ValueError("channel_gains and powers must be non-negative")
    if not isinstance(noise_var, Real) or isinstance(noise_var, bool) \
            or not np.isfinite(noise_var) or noise_var <= 0:
        raise ValueError(f"noise_var must be a finite positive number, got {noise_var!r}")
    if gains == "amplitude":
        G = np.swapaxes(G, 1, 2) ** 2  # power gains, [b, i, j]: receiver i, transmitter j
    signal = np.einsum("bii,bi->bi", G, p)
    off = G.copy()
    idx = np.arange(G.shape[1])
    off[:, idx, idx] = 0.0
    interference = np.einsum("bij,bj->bi", off, p)
    return np.sum(np.log2(1.0 + signal / (interference + noise_var)), axis=1)
