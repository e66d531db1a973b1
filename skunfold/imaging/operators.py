r"""Matrix-free linear operators of imaging inverse problems :math:`y = A x + e`.

Every operator acts on flattened images: :math:`x \in \mathbb{R}^n`, :math:`n = H W`, rows
of a ``(batch, n)`` array. Each one is a :class:`scipy.sparse.linalg.LinearOperator`
(``matvec``, ``rmatvec``, ``matmat``, ``@``: NumPy and SciPy users apply it as it is) and
has batched torch methods ``forward(x)`` and ``adjoint(y)`` on ``(batch, n)`` tensors of
any float dtype and device (the output keeps the input's precision), written with torch
operations only (convolutions, FFTs, indexing), so that autograd and ``torch.export``
go through them. ``norm()`` is the operator 2-norm by power iteration (never an SVD) and
``lipschitz`` its square, the Lipschitz constant of the gradient of
:math:`\tfrac12\|Ax - y\|^2`.

Note that ``adjoint`` is the torch method; SciPy's adjoint *operator* is ``A.H``.
"""

import math
import numbers

import numpy as np
import torch
import torch.nn.functional as F
from scipy.fft import next_fast_len
from scipy.sparse.linalg import LinearOperator
from sklearn.utils import check_random_state

from .checks import check_image_shape, check_mask, check_sigma, selection

__all__ = ["ImagingOperator", "Identity", "Blur", "Downsample", "Inpaint", "MRI",
           "gaussian_kernel"]

_COMPLEX = {torch.float16: torch.complex32, torch.float32: torch.complex64,
            torch.float64: torch.complex128}


#: Largest rank(kernel) * (H + W) (multiply-adds per pixel) of a Blur by 1-D blur matrices
_MATMUL_COST = 256  # rather than FFTs: faster up to 128x128 in torch, far faster in onnxruntime


def _blur_matrix(a, n, boundary):
    """The n x n matrix of the 1-D convolution with ``a`` (centre ``len(a) // 2``)."""
    i, p = np.meshgrid(np.arange(n), np.arange(a.size), indexing="ij")
    j, M = i - p + a.size // 2, np.zeros((n, n))
    keep = ((j >= 0) & (j < n)) | (boundary == "circular")
    np.add.at(M, (i[keep], j[keep] % n), np.broadcast_to(a, j.shape)[keep])
    return M


def gaussian_kernel(sigma=1.0):
    r"""Normalised 2-D Gaussian kernel of side :math:`2 \lceil 3\sigma \rceil + 1`.

    Parameters
    ----------
    sigma : float, default=1.0
        Standard deviation in pixels (positive).

    Returns
    -------
    ndarray of shape (2 * ceil(3 * sigma) + 1,) * 2
        :math:`k_{pq} \propto \exp(-(p^2 + q^2) / 2\sigma^2)`, summing to one.

    Examples
    --------
    >>> from skunfold.imaging import gaussian_kernel
    >>> k = gaussian_kernel(1.0)
    >>> k.shape, round(float(k.sum()), 12)
    ((7, 7), 1.0)
    """
    sigma = check_sigma(sigma)
    r = math.ceil(3 * sigma)
    g = np.exp(-np.arange(-r, r + 1) ** 2 / (2 * sigma ** 2))
    g /= g.sum()
    return np.outer(g, g)


class ImagingOperator(LinearOperator):
    r"""Base of the matrix-free operators: a SciPy ``LinearOperator`` with torch methods.

    A subclass implements ``_torch_forward(x)`` and ``_torch_adjoint(y)`` on 2-D tensors
    with torch operations only; the base adds input checks, the NumPy methods
    (``matvec``, ``rmatvec``, ``matmat``, ``rmatmat``, batched through torch), ``norm``
    and ``lipschitz``.

    Parameters
    ----------
    image_shape : tuple of int (H, W) or None
        Shape of the images; ``None`` for operators on plain vectors (then ``n_in``).
    n_out : int
        Number of measurements :math:`m`.
    dtype : numpy dtype, default=float64
        SciPy's dtype of the operator (``complex128`` for complex measurements).
    n_in : int, optional
        Input size when ``image_shape`` is None.

    Attributes
    ----------
    shape : tuple (m, n)
    image_shape : tuple of int or None
    output_shape : tuple of int
        Shape of one measurement (an image for a blur, ``(m,)`` for a selection).

    Examples
    --------
    >>> import torch
    >>> from skunfold.imaging import Blur
    >>> A = Blur((8, 12), sigma=1.0)
    >>> A.shape, A.forward(torch.zeros(3, 96)).shape
    ((96, 96), torch.Size([3, 96]))
    >>> round(A.norm(), 6)   # a circular normalised blur: 2-norm 1 (the flat image)
    1.0
    """

    output_shape = None

    def __init__(self, image_shape, n_out, dtype=np.float64, n_in=None):
        if image_shape is not None:
            image_shape = check_image_shape(image_shape)
            size = image_shape[0] * image_shape[1]
            if n_in is not None and n_in != size:
                raise ValueError(f"image_shape {image_shape} has {size} pixels, but the "
                                 f"operator takes vectors of size {n_in}")
            n_in = size
        self.image_shape = image_shape
        super().__init__(dtype, (int(n_out), int(n_in)))
        if self.output_shape is None:
            self.output_shape = (int(n_out),)
        self._norms = {}

    # SciPy's adjoint operator; ``adjoint`` is the torch method here.
    H = property(lambda self: self._adjoint())

    def _where(self, size):
        what = "measurements" if size == self.shape[0] else "pixels"
        if size == self.shape[1] and self.image_shape is not None:
            what = "pixels: flattened {}x{} images".format(*self.image_shape)
        return what

    def _check_tensor(self, x, size, method):
        x = torch.as_tensor(x)
        if not (x.is_floating_point() or x.is_complex()):
            x = x.to(torch.float64)
        if x.ndim not in (1, 2) or x.shape[-1] != size:
            raise ValueError(f"{type(self).__name__}.{method} expects a tensor of shape "
                             f"(batch, {size}) ({self._where(size)}), got shape "
                             f"{tuple(x.shape)}")
        return x

    def forward(self, x):
        r"""Apply :math:`A` to a batch of flattened images.

        Parameters
        ----------
        x : tensor of shape (batch, n) or (n,)
            Any float dtype and device; the output has the same precision.

        Returns
        -------
        tensor of shape (batch, m) or (m,)
        """
        x = self._check_tensor(x, self.shape[1], "forward")
        return self._torch_forward(x[None])[0] if x.ndim == 1 else self._torch_forward(x)

    def adjoint(self, y):
        r"""Apply the adjoint :math:`A^\top` (:math:`A^H`) to a batch of measurements.

        Parameters
        ----------
        y : tensor of shape (batch, m) or (m,)

        Returns
        -------
        tensor of shape (batch, n) or (n,)
            Exact: :math:`\langle A x, y\rangle = \langle x, A^\top y\rangle`.
        """
        y = self._check_tensor(y, self.shape[0], "adjoint")
        return self._torch_adjoint(y[None])[0] if y.ndim == 1 else self._torch_adjoint(y)

    def _check_array(self, x, size, method, vector):
        x = np.asanyarray(x)
        ok = x.shape in ((size,), (size, 1)) if vector else (x.ndim == 2 and x.shape[0] == size)
        if not ok:
            shape = f"({size},) or ({size}, 1)" if vector else f"({size}, k)"
            raise ValueError(f"{type(self).__name__}.{method} expects an array of shape "
                             f"{shape} ({self._where(size)}), got shape {x.shape}")
        return x

    def matvec(self, x):
        return super().matvec(self._check_array(x, self.shape[1], "matvec", True))

    def rmatvec(self, x):
        return super().rmatvec(self._check_array(x, self.shape[0], "rmatvec", True))

    def matmat(self, X):
        return super().matmat(self._check_array(X, self.shape[1], "matmat", False))

    def rmatmat(self, X):
        return super().rmatmat(self._check_array(X, self.shape[0], "rmatmat", False))

    def _host(self, X, adjoint):
        X = np.asarray(X)
        if not (np.issubdtype(X.dtype, np.floating) or np.iscomplexobj(X)):
            X = X.astype(np.float64)
        if np.iscomplexobj(X) and (not adjoint or not np.iscomplexobj(np.empty(0, self.dtype))):
            # the image domain is real: split a complex input into its two real parts
            return self._host(X.real, adjoint) + 1j * self._host(X.imag, adjoint)
        with torch.no_grad():
            x = torch.from_numpy(np.ascontiguousarray(X.T))
            out = self._torch_adjoint(x) if adjoint else self._torch_forward(x)
        return out.numpy().T

    def _matmat(self, X):
        return self._host(X, False)

    def _rmatmat(self, X):
        return self._host(X, True)

    def norm(self, n_iter=50, random_state=0, tol=None):
        r"""Operator 2-norm :math:`\|A\|_2` by power iteration on :math:`A^\top A`.

        The estimate :math:`\|A v_k\|` (:math:`v_k` the normalised iterate) grows to
        :math:`\|A\|_2` from below, at the rate :math:`(\sigma_2/\sigma_1)^{2k}`. The start
        is random and non-negative, close to the top singular vector of a blur or a
        decimation (non-negative kernels), whose leading singular values cluster. The value
        is cached (a float) per ``(n_iter, random_state)`` when ``random_state`` is an int.

        Parameters
        ----------
        n_iter : int, default=50
            Number of power iterations (each one ``forward`` and ``adjoint``).
        random_state : int, RandomState or None, default=0
            Seed of the random start.
        tol : float, optional
            Stop before ``n_iter`` iterations once the estimate changes by at
            most ``tol`` (relative); ``None``: run all ``n_iter``.

        Returns
        -------
        float

        Examples
        --------
        >>> from skunfold.imaging import Downsample
        >>> A = Downsample((16, 16), factor=2)
        >>> round(A.norm(), 3), round(A.lipschitz, 3)
        (0.5, 0.25)
        """
        if isinstance(n_iter, bool) or not isinstance(n_iter, numbers.Integral) or n_iter < 1:
            raise ValueError(f"n_iter must be a positive integer, got {n_iter!r}")
        key = (int(n_iter), random_state, tol) \
            if isinstance(random_state, numbers.Integral) else None
        if key in self._norms:
            return self._norms[key]
        start = check_random_state(random_state).standard_normal((1, self.shape[1]))
        v = torch.from_numpy(np.abs(start))
        value = 0.0
        with torch.no_grad():
            for _ in range(int(n_iter)):
                v = v / torch.linalg.vector_norm(v)
                u = self.forward(v)
                previous, value = value, float(torch.linalg.vector_norm(u))
                v = self.adjoint(u)
                if value == 0.0 or not float(torch.linalg.vector_norm(v)) > 0.0:
                    break
                if tol is not None and abs(value - previous) <= tol * value:
                    break
        if key is not None:
            self._norms[key] = value
        return value

    @property
    def lipschitz(self):
        r"""``norm() ** 2``: the Lipschitz constant of :math:`\nabla \tfrac12\|Ax - y\|^2`."""
        return self.norm() ** 2


class Identity(ImagingOperator):
    r"""The identity :math:`A = I` on images: denoising.

    Parameters
    ----------
    image_shape : tuple of int (H, W)

    Examples
    --------
    >>> from skunfold.imaging import Identity
    >>> A = Identity((4, 4))
    >>> A.shape, A.norm()
    ((16, 16), 1.0)
    """

    def __init__(self, image_shape):
        image_shape = check_image_shape(image_shape)
        self.output_shape = image_shape
        super().__init__(image_shape, image_shape[0] * image_shape[1])

    def _torch_forward(self, x):
        return x

    def _torch_adjoint(self, y):
        return y


class Blur(ImagingOperator):
    r"""Convolution :math:`A x = k * x` with a Gaussian or a given kernel: deblurring.

    :math:`(Ax)_{ij} = \sum_{p, q} k_{pq}\, x_{i - p + c_1,\, j - q + c_2}` with the
    kernel's centre :math:`c = (\lfloor k_h/2 \rfloor, \lfloor k_w/2 \rfloor)` (SciPy's
    ``ndimage.convolve``); the output is an image of the input's size. The boundary sets
    the pixels outside the image:

    * ``"circular"``: periodic, :math:`x_{i, j} = x_{i \bmod H,\, j \bmod W}` (a circulant
      matrix; a kernel larger than the image wraps around);
    * ``"zero"``: zero outside the image (a truncated Toeplitz matrix: the borders lose
      the kernel's mass that falls outside).

    Both are products with 1-D blur matrices, :math:`A X = \sum_r R_r X C_r^\top` over the
    :math:`r = \mathrm{rank}(k)` separable terms of the kernel (one for a Gaussian), when
    :math:`r (H + W) \le 256`: fast in torch and in onnxruntime. Otherwise they are real
    FFTs (``"zero"`` on a zero-padded grid of side :math:`\ge H + k_h - 1`). Both
    adjoints are exact: the transposed factors, or the conjugate spectrum.

    Parameters
    ----------
    image_shape : tuple of int (H, W)
    sigma : float, default=1.0
        Standard deviation of the Gaussian kernel (:func:`gaussian_kernel`, side
        :math:`2\lceil 3\sigma\rceil + 1`), used when ``kernel`` is None.
    kernel : array-like of shape (kh, kw), optional
        A 2-D kernel used as it is (not normalised); overrides ``sigma``.
    boundary : {"circular", "zero"}, default="circular"

    Attributes
    ----------
    kernel : ndarray of shape (kh, kw)
        The kernel in use (float64).

    Examples
    --------
    >>> import torch
    >>> from skunfold.imaging import Blur
    >>> A = Blur((8, 12), sigma=1.0, boundary="zero")
    >>> y = A.forward(torch.ones(1, 96, dtype=torch.float32))
    >>> y.dtype, round(float(y.max()), 4), round(float(y.min()), 4)  # corners lose mass
    (torch.float32, 1.0, 0.4893)
    """

    def __init__(self, image_shape, sigma=1.0, kernel=None, boundary="circular"):
        image_shape = check_image_shape(image_shape)
        if kernel is None:
            kernel = gaussian_kernel(sigma)
        else:
            kernel = np.array(kernel, dtype=np.float64)
            if kernel.ndim != 2 or kernel.size == 0 or not np.isfinite(kernel).all():
                raise ValueError(f"kernel must be a finite non-empty 2-D array, got shape "
                                 f"{kernel.shape}")
        if boundary not in ("circular", "zero"):
            raise ValueError(f"boundary must be 'circular' or 'zero', got {boundary!r}")
        self.sigma, self.kernel, self.boundary = sigma, kernel, boundary
        self.output_shape = image_shape
        super().__init__(image_shape, image_shape[0] * image_shape[1])
        grid = image_shape
        if boundary == "zero":
            grid = tuple(next_fast_len(n + k - 1, real=True)
                         for n, k in zip(image_shape, kernel.shape))
        wrapped = np.zeros(grid)
        rows, cols = ((np.arange(k) - k // 2) % n for k, n in zip(kernel.shape, grid))
        np.add.at(wrapped, (rows[:, None], cols[None, :]), kernel)
        spectrum = np.fft.rfft2(wrapped)
        self._grid, self._spectra = grid, (spectrum, np.ascontiguousarray(spectrum.conj()))
        u, s, vt = np.linalg.svd(kernel)  # rank r: r separable terms, A X = sum R_r X C_r^T
        rank = max(1, int((s > 1e-12 * s[0]).sum()))
        self._matmul = rank * sum(image_shape) <= _MATMUL_COST
        if self._matmul:
            rows = [_blur_matrix(u[:, r] * s[r], image_shape[0], boundary) for r in range(rank)]
            cols = [_blur_matrix(vt[r], image_shape[1], boundary) for r in range(rank)]
            self._factors = ([(R, C.T.copy()) for R, C in zip(rows, cols)],
                             [(R.T.copy(), C) for R, C in zip(rows, cols)])

    def _filter(self, x, adjoint):
        (H, W), (gh, gw), dtype = self.image_shape, self._grid, x.dtype
        image = x.reshape(x.shape[0], H, W)
        if dtype not in (torch.float32, torch.float64):
            image = image.to(torch.float32)
        if self._matmul:  # A^T X = sum_r R_r^T X C_r: the transposed factors
            cast = np.float32 if image.dtype == torch.float32 else np.float64
            out = [torch.as_tensor(R.astype(cast), device=x.device)
                   @ (image @ torch.as_tensor(Ct.astype(cast), device=x.device))
                   for R, Ct in self._factors[adjoint]]
            out = sum(out[1:], out[0])
            return out.reshape(x.shape[0], H * W).to(dtype)
        if self.boundary == "zero":
            image = F.pad(image, (0, gw - W, 0, gh - H))
        # cast in numpy: a traced cast of a complex constant has no ONNX function
        spectrum = self._spectra[adjoint].astype(
            np.complex64 if image.dtype == torch.float32 else np.complex128)
        spectrum = torch.as_tensor(spectrum, device=x.device)
        out = torch.fft.irfft2(torch.fft.rfft2(image) * spectrum, s=(gh, gw))
        return out[:, :H, :W].reshape(x.shape[0], H * W).to(dtype)

    def _torch_forward(self, x):
        return self._filter(x, 0)

    def _torch_adjoint(self, y):
        return self._filter(y, 1)


class Downsample(ImagingOperator):
    r"""Blur then decimation by ``factor``: super-resolution, :math:`A = S_f B`.

    :math:`B` is :class:`Blur` (Gaussian, ``sigma``, ``boundary``) and :math:`S_f` keeps
    the pixels :math:`(f i, f j)`; the output is an image of shape ``(H / f, W / f)``.
    The adjoint puts the measurements back on that grid (zeros elsewhere) and applies
    :math:`B^\top`.

    Parameters
    ----------
    image_shape : tuple of int (H, W)
        Both sides divisible by ``factor``.
    factor : int, default=2
        Decimation factor (1: blur only).
    sigma : float, default=1.0
        Standard deviation of the anti-aliasing Gaussian blur.
    boundary : {"circular", "zero"}, default="circular"
        Boundary of the blur (see :class:`Blur`).

    Attributes
    ----------
    blur : Blur
        The blur :math:`B`.

    Examples
    --------
    >>> import torch
    >>> from skunfold.imaging import Downsample
    >>> A = Downsample((16, 12), factor=4)
    >>> A.shape, A.output_shape
    ((12, 192), (4, 3))
    """

    def __init__(self, image_shape, factor=2, sigma=1.0, boundary="circular"):
        image_shape = check_image_shape(image_shape)
        if isinstance(factor, bool) or not isinstance(factor, numbers.Integral) or factor < 1:
            raise ValueError(f"factor must be an integer >= 1, got {factor!r}")
        if image_shape[0] % factor or image_shape[1] % factor:
            raise ValueError(f"image_shape {image_shape} is not divisible by factor={factor}: "
                             f"crop the images to a multiple of {factor}")
        self.factor, self.sigma, self.boundary = int(factor), sigma, boundary
        self.blur = Blur(image_shape, sigma=sigma, boundary=boundary)
        self.output_shape = (image_shape[0] // factor, image_shape[1] // factor)
        super().__init__(image_shape, self.output_shape[0] * self.output_shape[1])

    def _torch_forward(self, x):
        (h, w), f = self.output_shape, self.factor
        z = self.blur._torch_forward(x).reshape(x.shape[0], h, f, w, f)
        return z[:, :, 0, :, 0].reshape(x.shape[0], h * w)

    def _torch_adjoint(self, y):
        (h, w), f = self.output_shape, self.factor
        z = F.pad(y.reshape(y.shape[0], h, 1, w, 1), (0, f - 1, 0, 0, 0, f - 1))
        return self.blur._torch_adjoint(z.reshape(y.shape[0], h * f * w * f))


class Inpaint(ImagingOperator):
    r"""Pixel selection :math:`A x = x_\Omega`: inpainting.

    The output holds the kept pixels only (``mask.sum()`` values, in row-major order), so
    that :math:`A A^\top = I`, :math:`\|A\|_2 = 1`; the adjoint puts them back into an
    image with zeros at the missing pixels (``adjoint(forward(x))`` is the masked image).

    Parameters
    ----------
    image_shape : tuple of int (H, W)
    mask : array-like of bool, shape (H, W)
        True at the kept (observed) pixels.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from skunfold.imaging import Inpaint
    >>> mask = np.array([[True, False], [False, True]])
    >>> A = Inpaint((2, 2), mask)
    >>> A.forward(torch.tensor([1.0, 2.0, 3.0, 4.0]))
    tensor([1., 4.])
    >>> A.adjoint(torch.tensor([1.0, 4.0]))
    tensor([1., 0., 0., 4.])
    """

    def __init__(self, image_shape, mask):
        image_shape = check_image_shape(image_shape)
        self.mask = check_mask(mask, image_shape, "Inpaint")
        self._index, self._scatter = selection(self.mask)
        super().__init__(image_shape, self._index.size)

    def _torch_forward(self, x):
        return x.index_select(1, torch.as_tensor(self._index, device=x.device))

    def _torch_adjoint(self, y):
        padded = torch.cat([y, y.new_zeros(y.shape[0], 1)], dim=1)
        return padded.index_select(1, torch.as_tensor(self._scatter, device=y.device))


class MRI(ImagingOperator):
    r"""Masked orthonormal 2-D Fourier transform :math:`A x = M_\Omega F x`: MRI.

    :math:`F` is the unitary 2-D DFT (``torch.fft.fft2(..., norm="ortho")``) and the
    output holds the sampled frequencies only (complex, ``mask.sum()`` values). The mask
    is in the DFT's order (zero frequency at ``[0, 0]``); pass
    ``np.fft.ifftshift(centred_mask)`` for a mask drawn with the zero frequency in the
    middle.

    Images are real, so :math:`A` is a real-linear map
    :math:`\mathbb{R}^n \to \mathbb{C}^m \simeq \mathbb{R}^{2m}`, with the real inner
    product :math:`\langle u, v\rangle = \mathrm{Re}\sum_i \bar u_i v_i` on measurements.
    Its adjoint is :math:`A^\top y = \mathrm{Re}(F^H M_\Omega^\top y)` (real images), the
    gradient of :math:`\tfrac12\|Ax - y\|^2` is :math:`A^\top(Ax - y)`, and with a full
    mask :math:`A^\top A = I`. SciPy's ``dtype`` is complex128; ``forward`` of a float32
    batch gives complex64.

    Parameters
    ----------
    image_shape : tuple of int (H, W)
    mask : array-like of bool, shape (H, W)
        True at the sampled frequencies.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from skunfold.imaging import MRI
    >>> A = MRI((4, 4), np.ones((4, 4), dtype=bool))
    >>> x = torch.rand(2, 16, dtype=torch.float64)
    >>> A.forward(x).dtype, torch.allclose(A.adjoint(A.forward(x)), x)
    (torch.complex128, True)
    """

    def __init__(self, image_shape, mask):
        image_shape = check_image_shape(image_shape)
        self.mask = check_mask(mask, image_shape, "MRI")
        self._index, self._scatter = selection(self.mask)
        super().__init__(image_shape, self._index.size, dtype=np.complex128)

    def _torch_forward(self, x):
        k = torch.fft.fft2(x.reshape(x.shape[0], *self.image_shape), norm="ortho")
        k = k.reshape(x.shape[0], -1)
        return k.index_select(1, torch.as_tensor(self._index, device=x.device))

    def _torch_adjoint(self, y):
        padded = torch.cat([y, y.new_zeros(y.shape[0], 1)], dim=1)
        k = padded.index_select(1, torch.as_tensor(self._scatter, device=y.device))
        image = torch.fft.ifft2(k.reshape(y.shape[0], *self.image_shape), norm="ortho")
        return image.real.reshape(y.shape[0], -1)
