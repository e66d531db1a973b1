"""Any matrix or linear operator as an imaging operator: :func:`as_operator`.

Dense matrices run as torch matmuls (:class:`MatrixOperator`); sparse
matrices, SciPy ``LinearOperator`` objects and PyLops operators run on the
host through a torch autograd bridge (:class:`ScipyOperator`), so gradients
flow through their ``matvec`` / ``rmatvec``.
"""

import numpy as np
import scipy.sparse
import torch
from scipy.sparse.linalg import aslinearoperator

from .checks import check_image_shape
from .operators import _COMPLEX, ImagingOperator

__all__ = ["MatrixOperator", "ScipyOperator", "as_operator"]


class MatrixOperator(ImagingOperator):
    r"""A dense matrix :math:`A` (m, n) as an operator: torch matmuls, no copy.

    ``forward(x) = x @ A.T`` and ``adjoint(y) = y @ conj(A)`` (:math:`A^H`), in the input's
    precision (the matrix is cast to it at each call; a complex matrix makes complex
    outputs). Built by :func:`as_operator`.

    Parameters
    ----------
    matrix : ndarray of shape (m, n)
    image_shape : tuple of int (H, W), optional
        With ``H * W == n``.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from skunfold.imaging import MatrixOperator
    >>> A = MatrixOperator(np.diag([3.0, 1.0]))
    >>> A.forward(torch.tensor([[1.0, 1.0]])), A.norm()
    (tensor([[3., 1.]]), 3.0)
    """

    def __init__(self, matrix, image_shape=None):
        matrix = np.asarray(matrix)
        if matrix.ndim != 2 or not (np.issubdtype(matrix.dtype, np.number)):
            raise ValueError(f"matrix must be a 2-D numeric array, got shape {matrix.shape} "
                             f"and dtype {matrix.dtype}")
        if not np.issubdtype(matrix.dtype, np.inexact):
            matrix = matrix.astype(np.float64)
        self.matrix = matrix
        super().__init__(image_shape, matrix.shape[0], matrix.dtype, n_in=matrix.shape[1])

    def _cast(self, x):
        M = torch.as_tensor(self.matrix, device=x.device)
        if M.is_complex() and not x.is_complex():
            x = x.to(_COMPLEX[x.dtype])
        return x, M.to(x.dtype)

    def _torch_forward(self, x):
        x, M = self._cast(x)
        return x @ M.T

    def _torch_adjoint(self, y):
        y, M = self._cast(y)
        return y @ M.conj()

    def _matmat(self, X):
        return self.matrix @ X

    def _rmatmat(self, X):
        return self.matrix.conj().T @ X


class _HostApply(torch.autograd.Function):
    """``op.matmat`` (or ``rmatmat``) on the host in float64; backward = the other one."""

    @staticmethod
    def forward(ctx, x, op, adjoint):
        ctx.op, ctx.adjoint, ctx.real = op, adjoint, not x.is_complex()
        host = torch.complex128 if x.is_complex() else torch.float64
        X = x.detach().to("cpu", host).numpy()
        out = np.ascontiguousarray(op._apply_host(X.T, adjoint).T)
        dtype = x.dtype
        if np.iscomplexobj(out) and not x.is_complex():
            dtype = _COMPLEX[x.dtype]
        elif not np.iscomplexobj(out):
            out = out.astype(np.float64, copy=False)
        return torch.from_numpy(out).to(x.device, dtype)

    @staticmethod
    def backward(ctx, grad):
        g = _HostApply.apply(grad, ctx.op, not ctx.adjoint)
        return (g.real if ctx.real and g.is_complex() else g), None, None


class ScipyOperator(ImagingOperator):
    r"""Any SciPy ``LinearOperator`` or sparse matrix (or PyLops operator) as an operator.

    ``forward`` and ``adjoint`` go through a ``torch.autograd.Function`` that calls the
    wrapped operator's ``matmat`` / ``rmatmat`` on the host (NumPy, float64) and casts the
    result back to the input's dtype and device; the backward pass of ``forward`` is the
    adjoint and vice versa, so gradients flow (a real input gets the real part of a
    complex adjoint). For a complex operator ``adjoint`` is the complex :math:`A^H` (take
    ``.real`` for real images; :class:`MRI` does it itself). Sparse matrices go through
    SciPy's sparse products the same way.
    Objects with ``shape``, ``matvec`` and ``rmatvec`` (``matmat`` / ``rmatmat`` when
    they have them), such as PyLops operators, are accepted as they are. Built by
    :func:`as_operator`.

    Parameters
    ----------
    operator : LinearOperator, sparse matrix or PyLops operator of shape (m, n)
    image_shape : tuple of int (H, W), optional
        With ``H * W == n``.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from scipy.sparse import diags
    >>> from skunfold.imaging import ScipyOperator
    >>> A = ScipyOperator(diags([2.0, 1.0]))
    >>> A.forward(torch.tensor([[1.0, 1.0]])), round(A.norm(), 6)
    (tensor([[2., 1.]]), 2.0)
    """

    def __init__(self, operator, image_shape=None):
        if scipy.sparse.issparse(operator):
            if not np.issubdtype(operator.dtype, np.inexact):
                operator = operator.astype(np.float64)
            operator = aslinearoperator(operator)
        if not all(hasattr(operator, a) for a in ("shape", "matvec", "rmatvec")):
            raise TypeError(f"operator must have shape, matvec and rmatvec, got "
                            f"{type(operator).__name__}")
        self.operator = operator
        m, n = operator.shape
        dtype = getattr(operator, "dtype", None) or np.float64
        super().__init__(image_shape, m, dtype, n_in=n)

    def _apply_host(self, X, adjoint):
        op = self.operator
        name = "rmatmat" if adjoint else "matmat"
        if hasattr(op, name):
            return np.asarray(getattr(op, name)(X))
        fn = op.rmatvec if adjoint else op.matvec
        return np.stack([np.asarray(fn(col)).reshape(-1) for col in X.T], axis=1)

    def _torch_forward(self, x):
        return _HostApply.apply(x, self, False)

    def _torch_adjoint(self, y):
        return _HostApply.apply(y, self, True)

    def _matmat(self, X):
        return self._apply_host(np.asarray(X), False)

    def _rmatmat(self, X):
        return self._apply_host(np.asarray(X), True)


def as_operator(A, image_shape=None):
    r"""Any linear map as an operator with ``forward`` / ``adjoint`` / ``norm``.

    Parameters
    ----------
    A : ImagingOperator, ndarray (m, n), sparse matrix, LinearOperator or PyLops operator
        An :class:`ImagingOperator` is returned as it is; a dense array becomes a
        :class:`MatrixOperator` (torch matmuls, no copy); a SciPy sparse matrix, a SciPy
        ``LinearOperator`` or a PyLops operator becomes a :class:`ScipyOperator` (host
        products through an autograd bridge).
    image_shape : tuple of int (H, W), optional
        The images' shape, ``H * W == n``.

    Returns
    -------
    ImagingOperator

    Examples
    --------
    >>> import numpy as np, torch
    >>> from scipy.sparse.linalg import aslinearoperator
    >>> from skunfold.imaging import as_operator
    >>> M = np.arange(6.0).reshape(2, 3)
    >>> x = torch.ones(1, 3, dtype=torch.float64)
    >>> as_operator(M).forward(x), as_operator(aslinearoperator(M)).forward(x)
    (tensor([[ 3., 12.]], dtype=torch.float64), tensor([[ 3., 12.]], dtype=torch.float64))
    """
    if isinstance(A, ImagingOperator):
        if image_shape is not None and check_image_shape(image_shape) != A.image_shape:
            raise ValueError(f"image_shape {tuple(image_shape)} does not match the "
                             f"operator's image_shape {A.image_shape}")
        return A
    if isinstance(A, torch.Tensor):
        A = A.detach().cpu().numpy()
    if isinstance(A, (np.ndarray, list, tuple)):
        return MatrixOperator(A, image_shape)
    if scipy.sparse.issparse(A) or all(hasattr(A, a) for a in ("shape", "matvec", "rmatvec")):
        return ScipyOperator(A, image_shape)
    raise TypeError(f"as_operator expects an ImagingOperator, a 2-D array, a scipy sparse "
                    f"matrix or a LinearOperator (with shape, matvec and rmatvec), got "
                    f"{type(A).__name__}")
