r"""Orthonormal 2-D wavelet prior: :math:`\sum_g t_g \|(W x)_g\|_1` on ptwt / PyWavelets.

The transform :math:`W` is an orthonormal discrete wavelet transform of the image
(:math:`W^\top W = W W^\top = I`), so the prox of the weighted :math:`\ell_1` norm of its
coefficients is exact and cheap: analysis, soft thresholding band by band, synthesis.

* ``"haar"`` (= ``"db1"``) runs on ptwt's convolution transform (``ptwt.wavedec2`` /
  ``ptwt.waverec2``). With every side divisible by :math:`2^L` no boundary padding is
  ever added, so the transform is exactly the orthonormal (periodised) Haar transform,
  the same coefficients as PyWavelets' ``mode="periodization"``.
* Longer orthogonal filters (``"db2"``, ``"sym4"``, ``"coif1"``, ...) would be redundant
  (not orthonormal) with any padding mode of ``ptwt.wavedec2``; they use ptwt's
  boundary-orthogonalised filters instead (``ptwt.MatrixWavedec``, ``orthogonalization=
  "qr"``: the filters near the border are orthogonalised, the transform is orthonormal
  with exactly :math:`HW` coefficients). The 1-D analysis matrix of each level is
  taken from ptwt once (float64) and applied to rows and columns as two dense matmuls
  (orthonormal to the precision of PyWavelets' tabulated filters: 1e-15 for ``"db"``
  and ``"coif"``, about 1e-11 for ``"sym"``).

Both are torch operations only (convolutions or matmuls), on any float dtype and device,
differentiable and exportable.
"""

import numbers

import numpy as np
import pywt
import torch

from .checks import check_image_shape
from .priors import Prior

__all__ = ["Wavelet"]

_MAX_AUTO_LEVEL = 4


def _check_wavelet(wavelet):
    if isinstance(wavelet, pywt.Wavelet):
        w = wavelet
    elif isinstance(wavelet, str):
        try:
            w = pywt.Wavelet(wavelet)
        except ValueError:
            raise ValueError(
                f"wavelet must name a discrete orthogonal wavelet of PyWavelets (e.g. 'haar', "
                f"'db2', 'sym4', 'coif1'; see pywt.wavelist(kind='discrete')), got "
                f"{wavelet!r}") from None
    else:
        raise TypeError(f"wavelet must be a str or a pywt.Wavelet, got {type(wavelet).__name__}")
    if not w.orthogonal:
        raise ValueError(f"wavelet {w.name!r} is not orthogonal (biorthogonal wavelets give a "
                         f"non-orthonormal transform, whose thresholding is not a prox): use "
                         f"an orthogonal family such as 'haar', 'db', 'sym' or 'coif'")
    return w


def _max_level(image_shape, filter_len):
    """Largest L <= 4 with both sides divisible by 2**L and >= the filter at every level."""
    level = 0
    while level < _MAX_AUTO_LEVEL and all(
            s % 2 ** (level + 1) == 0 and s // 2 ** level >= filter_len for s in image_shape):
        level += 1
    return level


def _check_level(level, image_shape, w):
    H, W = image_shape
    if level is None:
        level = _max_level(image_shape, w.dec_len)
        if level == 0:
            raise ValueError(f"image_shape {image_shape} admits no level of the '{w.name}' "
                             f"transform: both sides must be even and at least the filter "
                             f"length {w.dec_len}; crop or pad the images")
        return level
    if isinstance(level, bool) or not isinstance(level, numbers.Integral) or level < 1:
        raise ValueError(f"level must be a positive integer or None, got {level!r}")
    level = int(level)
    if H % 2 ** level or W % 2 ** level:
        raise ValueError(f"image_shape {image_shape} is not divisible by 2**level = "
                         f"{2 ** level} (level={level}): crop the images to a multiple of "
                         f"{2 ** level}, or lower level")
    if min(H, W) // 2 ** (level - 1) < w.dec_len:
        raise ValueError(f"level={level} is too deep for image_shape {image_shape} and the "
                         f"'{w.name}' filters (length {w.dec_len}): at level {level} a side "
                         f"of {min(H, W) // 2 ** (level - 1)} pixels is shorter than the "
                         f"filter; use level <= {_max_level(image_shape, w.dec_len) or 1}")
    return level


def _analysis_matrix(wavelet, n):
    """The (n, n) orthonormal one-level analysis matrix of ptwt (rows: low then high pass)."""
    import warnings

    import ptwt

    with warnings.catch_warnings():  # torch's notes on sparse tensors, from ptwt's internals
        warnings.simplefilter("ignore", UserWarning)
        fwt = ptwt.MatrixWavedec(wavelet, level=1, orthogonalization="qr")
        low, high = fwt(torch.eye(n, dtype=torch.float64))
    return torch.cat([low, high], dim=1).T.contiguous().numpy()


class Wavelet(Prior):
    r"""Sparsity in an orthonormal 2-D wavelet basis, one threshold per level.

    The regulariser is :math:`R(x) = \sum_g t_g \|(W x)_g\|_1`, :math:`W` an orthonormal
    discrete wavelet transform with ``level`` = :math:`L` levels (Mallat's multiresolution
    pyramid [1]_ with Daubechies' compactly supported orthogonal filters [2]_). Its
    coefficients form :math:`L + 1` groups:

    * ``"approx"``: the coarse approximation band (free by default: never thresholded,
      the local means of the image carry no sparsity);
    * ``"detail1"`` (finest, :math:`H/2 \times W/2` per orientation) ... ``"detailL"``
      (coarsest): the three detail bands (horizontal, vertical, diagonal) of one level
      together.

    Since :math:`W^\top W = W W^\top = I`, the prox is exact:
    :math:`\mathrm{prox}(x) = W^\top S_t(W x)`, :math:`S_t` soft thresholding of every
    coefficient of group :math:`g` at :math:`t_g`. Free groups pass unchanged.
    See the module notes for the boundary handling (periodised Haar; boundary-
    orthogonalised longer filters, from ptwt [3]_ over PyWavelets [4]_).

    Parameters
    ----------
    image_shape : (int, int)
        Height and width; both divisible by :math:`2^L`.
    wavelet : str or pywt.Wavelet, default="haar"
        An orthogonal discrete wavelet of PyWavelets (``"haar"``, ``"db2"``, ``"sym4"``,
        ``"coif1"``, ...).
    level : int, optional
        Number of levels :math:`L`; ``None``: the largest :math:`L \le 4` with both sides
        divisible by :math:`2^L` (and at least the filter length at every level).
    free_groups : tuple of str, optional
        Groups never thresholded; ``None``: ``("approx",)``; ``()``: threshold all.

    Attributes
    ----------
    level_ : int
        The number of levels in use.
    group_names : tuple of str
        ``("approx", "detail1", ..., "detailL")``.
    group_sizes : tuple of int
        Coefficients per group; they sum to :math:`HW`.

    References
    ----------
    .. [1] S. Mallat, "A theory for multiresolution signal decomposition: the wavelet
       representation", IEEE Trans. PAMI 11(7), 674-693, 1989.
    .. [2] I. Daubechies, "Ten Lectures on Wavelets", SIAM, 1992.
    .. [3] M. Wolter, F. Blanke, J. Garcke, C. T. Hoyt, "ptwt - The PyTorch Wavelet
       Toolbox", JMLR 25(80), 1-7, 2024.
    .. [4] G. R. Lee, R. Gommers, F. Wasilewski, K. Wohlfahrt, A. O'Leary, "PyWavelets: A
       Python package for wavelet analysis", JOSS 4(36), 1237, 2019.

    Examples
    --------
    >>> import torch
    >>> from skunfold.imaging.wavelets import Wavelet
    >>> prior = Wavelet((8, 8))
    >>> prior.group_names, prior.free_groups
    (('approx', 'detail1', 'detail2', 'detail3'), ('approx',))
    >>> x = torch.rand(2, 64, dtype=torch.float64)
    >>> c = prior.analysis(x)                          # orthonormal: Parseval
    >>> bool(torch.allclose((c ** 2).sum(1), (x ** 2).sum(1)))
    True
    >>> p = prior.prox(x, torch.tensor([0.0, 10.0, 10.0, 10.0]))
    >>> bool(torch.allclose(p, x.mean(1, keepdim=True).expand(2, 64)))  # details all zeroed
    True
    """

    default_free_groups = ("approx",)

    def __init__(self, image_shape, wavelet="haar", level=None, free_groups=None):
        image_shape = check_image_shape(image_shape)
        w = _check_wavelet(wavelet)
        self.wavelet, self.level = wavelet, level
        self.level_ = L = _check_level(level, image_shape, w)
        self.group_names = ("approx",) + tuple(f"detail{k}" for k in range(1, L + 1))
        super().__init__(image_shape, free_groups)
        H, W = image_shape
        self._shapes = [(H >> k, W >> k) for k in range(1, L + 1)]  # detail shapes, fine first
        self.group_sizes = (self._shapes[-1][0] * self._shapes[-1][1],) + tuple(
            3 * h * w for h, w in self._shapes)
        self._group_of = np.repeat(np.arange(L + 1), self.group_sizes)
        self._pywt = w
        self._haar = w.name in ("haar", "db1")
        self._matrices = None if self._haar else [
            (_analysis_matrix(w, h * 2), _analysis_matrix(w, ww * 2)) for h, ww in self._shapes]

    def __repr__(self):
        return (f"Wavelet(image_shape={self.image_shape}, wavelet={self.wavelet!r}, "
                f"level={self.level_})")

    def _consts(self, x):
        """Matrices, group index and activity as tensors of ``x``'s dtype and device.

        Made at each call from the numpy arrays (no cache holds tensors: a traced or
        exported graph sees them as constants, and the prior pickles as plain arrays).
        """
        mats = None if self._matrices is None else [
            tuple(torch.as_tensor(m, dtype=x.dtype, device=x.device) for m in pair)
            for pair in self._matrices]
        return (mats, torch.as_tensor(self._group_of, device=x.device),
                torch.as_tensor(self.active(), dtype=x.dtype, device=x.device))

    # -- the transform on (batch, H*W) rows ---------------------------------------------
    def _bands(self, img):
        """Approximation (b, h_L, w_L) and per level (fine first) the three detail bands."""
        if self._haar:
            import ptwt

            coeffs = ptwt.wavedec2(img, self._pywt, mode="zero", level=self.level_)
            return coeffs[0], [tuple(d) for d in coeffs[:0:-1]]
        mats, _, _ = self._consts(img)
        ll, details = img, []
        for (Ah, Aw), (h, w) in zip(mats, self._shapes):
            y = Ah @ ll @ Aw.T
            ll = y[:, :h, :w]
            details.append((y[:, :h, w:], y[:, h:, :w], y[:, h:, w:]))
        return ll, details

    def _image(self, approx, details):
        if self._haar:
            import ptwt

            return ptwt.waverec2([approx] + [tuple(d) for d in details[::-1]], self._pywt)
        mats, _, _ = self._consts(approx)
        ll = approx
        for (Ah, Aw), (a, b, c) in zip(mats[::-1], details[::-1]):
            y = torch.cat([torch.cat([ll, a], dim=2), torch.cat([b, c], dim=2)], dim=1)
            ll = Ah.T @ y @ Aw
        return ll

    def analysis(self, x):
        r"""The coefficients :math:`W x`, grouped: ``approx``, ``detail1``, ..., ``detailL``.

        Parameters
        ----------
        x : torch.Tensor of shape (batch, H * W)

        Returns
        -------
        torch.Tensor of shape (batch, H * W)
            Group :math:`g` occupies ``group_sizes[g]`` consecutive entries; within a level
            the three orientations follow each other, each band in row-major order.
        """
        self._check(x)
        lead = x.shape[:-1]
        approx, details = self._bands(x.reshape(-1, *self.image_shape))
        parts = [approx] + [band for level in details for band in level]
        return torch.cat([p.reshape(p.shape[0], -1) for p in parts], dim=1).reshape(*lead, -1)

    def synthesis(self, coefficients):
        r"""The image :math:`W^\top c` from coefficients laid out as :meth:`analysis` gives.

        Parameters
        ----------
        coefficients : torch.Tensor of shape (batch, H * W)

        Returns
        -------
        torch.Tensor of shape (batch, H * W)
        """
        self._check(coefficients)
        lead = coefficients.shape[:-1]
        c = coefficients.reshape(-1, self.n_pixels)
        b = c.shape[0]
        (hL, wL), sizes = self._shapes[-1], [self.group_sizes[0]]
        for h, w in self._shapes:
            sizes += [h * w] * 3
        pieces = torch.split(c, sizes, dim=1)
        approx = pieces[0].reshape(b, hL, wL)
        details = [tuple(pieces[1 + 3 * k + j].reshape(b, h, w) for j in range(3))
                   for k, (h, w) in enumerate(self._shapes)]
        return self._image(approx, details).reshape(*lead, self.n_pixels)

    def _per_coefficient(self, values, x):
        values = torch.as_tensor(values, dtype=x.dtype, device=x.device)
        if values.shape[-1:] != (self.n_groups,):
            raise ValueError(f"expected one value per group {list(self.group_names)}, i.e. "
                             f"shape ({self.n_groups},), got shape {tuple(values.shape)}")
        _, group_of, active = self._consts(x)
        return (values * active).index_select(-1, group_of)

    def prox(self, x, thresholds):
        r"""The exact prox :math:`W^\top S_t(W x)` of :math:`\sum_g t_g \|(W x)_g\|_1`.

        Parameters
        ----------
        x : torch.Tensor of shape (batch, H * W)
        thresholds : torch.Tensor of shape (n_groups,) or (batch, n_groups)
            Non-negative, in ``group_names`` order; free groups' values are ignored.

        Returns
        -------
        torch.Tensor of shape (batch, H * W)
            Same dtype and device as ``x``.
        """
        c = self.analysis(x)
        t = self._per_coefficient(thresholds, c)
        return self.synthesis(c - torch.maximum(torch.minimum(c, t), -t))

    def penalty(self, x, weights):
        c = self.analysis(x)
        return (c.abs() * self._per_coefficient(weights, c)).sum(-1)

    penalty.__doc__ = Prior.penalty.__doc__
