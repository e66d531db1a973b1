r"""Robust PCA's factorisations written with the operations that ONNX has.

ONNX has no QR, SVD, inverse or linear solve, and ``torch.export`` traces
no data-dependent shape; the eager kernels (``linalg.py``: LAPACK, in-place
blocked products) are kept for running in Python, and these replace them
while a model is traced (:func:`tracing`: ``torch.export``, ONNX export,
``torch.compile``). Every loop is a :func:`torch.while_loop` over tensors of
fixed shapes, run a number of times fixed by the shapes: one loop node in the
exported program, an ONNX ``Loop``, made of matrix products and elementwise
operations. The results agree with LAPACK's to float round-off (up to the
signs of singular vectors, which the factor steps do not see):

* :func:`gram_schmidt` -- the ``Q`` of a thin QR by classical Gram--Schmidt
  run twice (CGS2, as orthogonal to working precision as Householder's);
* :func:`jacobi_svd` -- the leading singular triplets of a tall matrix by
  one-sided (Hestenes) Jacobi rotations in parallel (round-robin) order,
  a fixed number of sweeps (relative accuracy: no Gram matrix is formed);
* :func:`gauss_jordan_solve` -- :math:`A^{-1} B` by Gauss--Jordan
  elimination with partial pivoting (pivot rows chosen by ``argmax`` and
  swapped by masks).
"""

import torch

__all__ = ["tracing", "gram_schmidt", "jacobi_svd", "gauss_jordan_solve", "JACOBI_SWEEPS"]

#: Sweeps of :func:`jacobi_svd`: every pair of columns is rotated once per sweep. Jacobi
#: converges quadratically; on matrices of up to 25 columns (the range finder's rank + 10)
#: the leading five singular values reach float64 round-off in 10 sweeps, also with a
#: spread of 1e12 between the largest and the smallest.
JACOBI_SWEEPS = 10


def tracing():
    """Whether the code runs under ``torch.export``, ONNX export or ``torch.compile``."""
    return torch.compiler.is_compiling()


def _loop(n, body, state):
    """``state = body(state)`` ``n`` times (``state``: a tuple of tensors), as one loop node."""
    def step(i, *values):
        return (i + 1, *body(i, *values))
    start = torch.zeros((), dtype=torch.int64)
    return torch.while_loop(lambda i, *values: i < n, step, (start, *state))[1:]


def gram_schmidt(A):
    r"""The orthonormal ``Q`` of a thin QR of ``A`` (shape ``(..., m, q)``, ``m >= q``).

    Classical Gram--Schmidt with one re-orthogonalisation (CGS2): column
    ``j`` is projected off the ``j`` previous ones twice, then normalised. A
    column in the span of the previous ones (a rank-deficient ``A``) is left
    at zero instead of normalised round-off (a zero column adds nothing to a
    range finder). Spans and projectors equal LAPACK's to round-off; column
    signs may differ.

    Examples
    --------
    >>> import torch
    >>> from skunfold.rpca.graphs import gram_schmidt
    >>> A = torch.randn(2, 20, 4, dtype=torch.float64)
    >>> Q = gram_schmidt(A)
    >>> bool(torch.allclose(Q.mT @ Q, torch.eye(4, dtype=torch.float64)))
    True
    """
    q = A.shape[-1]
    tiny = torch.finfo(A.dtype).eps * torch.linalg.vector_norm(A, dim=(-2, -1), keepdim=True)
    columns = torch.arange(q, device=A.device)

    def body(j, Q):
        # the columns of Q after the j-th are still zero: projecting on all of Q is exact
        v = A.index_select(-1, j.reshape(1))
        v = v - Q @ (Q.mT @ v)
        v = v - Q @ (Q.mT @ v)
        norm = torch.linalg.vector_norm(v, dim=-2, keepdim=True)
        v = torch.where(norm > tiny, v / torch.where(norm > tiny, norm, 1.0), 0.0)
        return (Q + v * (columns == j).to(A.dtype),)

    return _loop(q, body, (torch.zeros_like(A),))[0]


def _round_robin(q):
    """The slot permutation of a parallel (round-robin) Jacobi ordering of ``q`` (even) columns.

    Columns sit in ``q`` slots, the pairs of a round in the slots ``(2i, 2i + 1)``.
    Permuting the slots by the returned order after every round (the circle
    method: the column of slot 0 stays, the others move one place round the
    circle) makes every pair of columns meet once in ``q - 1`` rounds.
    """
    circle = list(range(q))
    slots = [circle[i // 2] if i % 2 == 0 else circle[q - 1 - i // 2] for i in range(q)]
    circle = [circle[0], circle[-1], *circle[1:-1]]
    moved = [circle[i // 2] if i % 2 == 0 else circle[q - 1 - i // 2] for i in range(q)]
    return [slots.index(c) for c in moved]


def jacobi_svd(A, k, n_sweeps=None):
    r"""The ``k`` leading singular triplets of tall matrices ``A`` (shape ``(..., m, q)``).

    One-sided Jacobi: the columns of ``A`` are rotated in pairs until they
    are orthogonal, :math:`A V = U \Sigma`; the singular values are then the
    column norms. All pairs of a round are disjoint and rotated at once
    (``q - 1`` rounds a sweep, an odd ``q`` padded by a zero column); ``V``
    is rotated with ``A`` (stacked below it).

    Parameters
    ----------
    A : torch.Tensor of shape (..., m, q)
    k : int
        Triplets returned, at most ``q``.
    n_sweeps : int, optional
        Default: :data:`JACOBI_SWEEPS` in float64, 7 in lower precisions.

    Returns
    -------
    U : torch.Tensor of shape (..., m, k)
    S : torch.Tensor of shape (..., k)
        In decreasing order.
    V : torch.Tensor of shape (..., q, k)
        ``A = U diag(S) V^T`` on the leading ``k`` triplets.

    Examples
    --------
    >>> import torch
    >>> from skunfold.rpca.graphs import jacobi_svd
    >>> A = torch.randn(3, 30, 6, dtype=torch.float64)
    >>> U, S, V = jacobi_svd(A, 2)
    >>> bool(torch.allclose(S, torch.linalg.svdvals(A)[:, :2]))
    True
    """
    if n_sweeps is None:
        n_sweeps = JACOBI_SWEEPS if A.dtype == torch.float64 else 7
    m, q = A.shape[-2:]
    size = q + q % 2
    if size != q:
        A = torch.cat([A, torch.zeros_like(A[..., :1])], dim=-1)
    eye = torch.eye(size, dtype=A.dtype, device=A.device)
    W = torch.cat([A, eye.expand(*A.shape[:-2], size, size)], dim=-2)
    order = torch.as_tensor(_round_robin(size), device=A.device)

    def rotate(i, W):
        a, b = W[..., 0::2], W[..., 1::2]
        top_a, top_b = a[..., :m, :], b[..., :m, :]
        alpha, beta = (top_a * top_a).sum(-2), (top_b * top_b).sum(-2)
        gamma = (top_a * top_b).sum(-2)
        # tan of the rotation making a and b orthogonal (the smaller root; 0 when gamma = 0)
        # (a pair of zero columns: no rotation; no clamp at the smallest normal number either,
        # which torch.onnx would write as a float32 constant, i.e. zero)
        d = beta - alpha
        den = d.abs() + torch.sqrt(d * d + 4.0 * gamma * gamma)
        t = 2.0 * gamma / torch.where(den > 0, den, 1.0)
        t = torch.where(d >= 0, t, -t)
        c = torch.rsqrt(1.0 + t * t).unsqueeze(-2)
        s = c * t.unsqueeze(-2)
        W = torch.stack([c * a - s * b, s * a + c * b], dim=-1).flatten(-2)
        return (W.index_select(-1, order),)

    W = _loop(n_sweeps * (size - 1), rotate, (W,))[0]
    A, V = W[..., :m, :], W[..., m:m + q, :]
    S, index = torch.topk(torch.linalg.vector_norm(A, dim=-2), k, dim=-1)
    U = torch.gather(A, -1, index.unsqueeze(-2).expand(*A.shape[:-1], k))
    U = U / torch.where(S > 0, S, 1.0).unsqueeze(-2)
    V = torch.gather(V, -1, index.unsqueeze(-2).expand(*V.shape[:-1], k))
    return U, S, V


def gauss_jordan_solve(A, B):
    r""":math:`A^{-1} B` for square ``A`` (shape ``(..., n, n)``) and ``B`` (``(..., n, p)``).

    Gauss--Jordan elimination on ``[A | B]`` with partial pivoting: at step
    ``j`` the row of largest ``|a_ij|`` (``i >= j``) is swapped into row ``j``
    (by masks: no data-dependent indexing), scaled to a unit pivot and
    eliminated from every other row. ``n`` steps of a few elementwise
    operations each, on ``n x (n + p)``.

    Examples
    --------
    >>> import torch
    >>> from skunfold.rpca.graphs import gauss_jordan_solve
    >>> A = torch.tensor([[0.0, 2.0], [1.0, 1.0]], dtype=torch.float64)  # needs a row swap
    >>> gauss_jordan_solve(A, torch.tensor([[2.0], [3.0]], dtype=torch.float64)).ravel()
    tensor([2., 1.], dtype=torch.float64)
    """
    n, p = A.shape[-1], B.shape[-1]
    batch = torch.broadcast_shapes(A.shape[:-2], B.shape[:-2])
    M = torch.cat([A.expand(*batch, n, n), B.expand(*batch, n, p)], dim=-1)
    rows = torch.arange(n, device=A.device)

    def eliminate(j, M):
        at = j.reshape(1)
        column = torch.where(rows >= j, M.index_select(-1, at).squeeze(-1).abs(), -1.0)
        is_pivot = (rows == torch.argmax(column, dim=-1, keepdim=True)).to(M.dtype)
        is_pivot, is_j = is_pivot.unsqueeze(-1), (rows == j).to(M.dtype).unsqueeze(-1)
        row_p = (is_pivot * M).sum(-2, keepdim=True)
        M = M + (is_j - is_pivot) * (row_p - M.index_select(-2, at))   # swap rows j, pivot
        row = M.index_select(-2, at)
        scaled = row / row.index_select(-1, at)
        return (M - (M.index_select(-1, at) - is_j) * scaled,)

    return _loop(n, eliminate, (M,))[0][..., :, n:]
