r"""Robust PCA's factorisations written with the operations that ONNX has.

ONNX has no QR, SVD, inverse or linear solve, and ``torch.export`` traces
no data-dependent shape; the eager kernels (``linalg.py``: LAPACK, in-place
blocked products) are kept for running in Python, and these replace them
while a model is traced (:func:`tracing`: ``torch.export``, ONNX export,
``torch.compile``). Every loop is a :func:`torch.while_loop` over tensors of
fixed shapes, run a number of times fixed by the shapes: one loop node in the
exported program, an ONNX ``Loop``, made of matrix products and elementwise
operations (short loops are written out instead, see :data:`UNROLL`). The
results agree with LAPACK's to float round-off (up to the signs of singular
vectors, which the factor steps do not see):

* :func:`gram_schmidt` -- the ``Q`` of a thin QR by classical Gram--Schmidt
  run twice (CGS2, as orthogonal to working precision as Householder's);
* :func:`jacobi_svd` -- the leading singular triplets of a tall matrix by
  one-sided (Hestenes) Jacobi rotations in parallel (round-robin) order,
  a fixed number of sweeps (relative accuracy: no Gram matrix is formed);
* :func:`leading_singular_subspace` -- the leading singular triplets by
  repeated squaring of the Gram matrix and deflation, written out: a few
  matrix products per triplet, no loop (what the truncated SVDs of the
  factor steps need: their span);
* :func:`gauss_jordan_solve` -- :math:`A^{-1} B` by Gauss--Jordan
  elimination with partial pivoting (pivot rows chosen by ``argmax`` and
  swapped by masks); :func:`spd_inverse`, without pivoting, for the
  symmetric positive definite Gram matrices of the factor steps.
"""

import torch

from ..core import export_linalg

SQUARINGS = export_linalg.SQUARINGS
tracing = export_linalg.tracing

__all__ = ["tracing", "gram_schmidt", "jacobi_svd", "leading_singular_subspace",
           "gauss_jordan_solve", "spd_inverse", "JACOBI_SWEEPS", "SQUARINGS"]

#: Sweeps of :func:`jacobi_svd`: every pair of columns is rotated once per sweep. Jacobi
#: converges quadratically; on matrices of up to 25 columns (the range finder's rank + 10)
#: the leading five singular values reach float64 round-off in 10 sweeps, also with a
#: spread of 1e12 between the largest and the smallest.
JACOBI_SWEEPS = 10


#: Loops of at most this many passes whose body is small are written out (unrolled) instead:
#: an ONNX ``Loop`` costs onnxruntime about as much per pass as a few small operations.
UNROLL = 8


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

    return export_linalg.static_loop(q, body, (torch.zeros_like(A),))[0]


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
    is rotated with ``A`` (stacked below it). The loop ends after a sweep in
    which every pair was already orthogonal to working precision
    (:math:`|a^\top b| \le q\, \epsilon \|a\| \|b\|`), or after ``n_sweeps``.

    Parameters
    ----------
    A : torch.Tensor of shape (..., m, q)
    k : int
        Triplets returned, at most ``q``.
    n_sweeps : int, optional
        At most this many sweeps. Default: :data:`JACOBI_SWEEPS` in float64, 7 in lower
        precisions.

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
    # W's columns in the order of the slots 0, 2, 4, ..., 1, 3, ...: the pairs of a round are
    # column i of each half; after the rotation the slots move round the circle (one gather)
    half = size // 2
    slot = [2 * p if p < half else 2 * (p - half) + 1 for p in range(size)]  # of column p
    column = [s // 2 + (s % 2) * half for s in range(size)]  # of slot s
    order = _round_robin(size)
    moved = torch.as_tensor([column[order[slot[p]]] for p in range(size)], device=A.device)

    def rotate(i, quiet, W):
        a, b = W[..., :half], W[..., half:]
        top_a, top_b = a[..., :m, :], b[..., :m, :]
        alpha, beta = (top_a * top_a).sum(-2), (top_b * top_b).sum(-2)
        gamma = (top_a * top_b).sum(-2)
        # tan of the rotation making a and b orthogonal (the smaller root; 0 when gamma = 0)
        # (a pair of zero columns: no rotation; no clamp at the smallest normal number either,
        # which torch.onnx would write as a float32 constant, i.e. zero)
        d = beta - alpha
        root = torch.sqrt(d * d + 4.0 * gamma * gamma)
        den = d + torch.where(d >= 0, root, -root)
        t = 2.0 * gamma / torch.where(den != 0, den, 1.0)
        c = torch.rsqrt(1.0 + t * t).unsqueeze(-2)
        s = c * t.unsqueeze(-2)
        # rounds in a row whose pairs were all orthogonal to working precision
        excess = gamma.abs() - tol * torch.sqrt(alpha) * torch.sqrt(beta)
        rotated = torch.amax(excess, dim=tuple(range(excess.ndim))) > 0
        quiet = torch.where(rotated, 0, quiet + 1)
        return quiet, torch.cat([c * a - s * b, s * a + c * b], dim=-1).index_select(-1, moved)

    W = W.index_select(-1, torch.as_tensor(slot, device=A.device))
    tol = size * torch.finfo(A.dtype).eps
    quiet = torch.zeros((), dtype=torch.int64, device=A.device)
    # converged when a whole sweep (every pair once) rotated nothing
    W = export_linalg.static_loop(n_sweeps * (size - 1), rotate, (quiet, W),
              done=lambda quiet, W: quiet >= size - 1)[1]
    W = W.index_select(-1, torch.as_tensor(column, device=A.device))
    A, V = W[..., :m, :], W[..., m:m + q, :]
    S, index = torch.topk(torch.linalg.vector_norm(A, dim=-2), k, dim=-1)
    U = torch.gather(A, -1, index.unsqueeze(-2).expand(*A.shape[:-1], k))
    U = U / torch.where(S > 0, S, 1.0).unsqueeze(-2)
    V = torch.gather(V, -1, index.unsqueeze(-2).expand(*V.shape[:-1], k))
    return U, S, V


def leading_singular_subspace(A, k, n_squarings=SQUARINGS):
    r"""``k`` leading singular triplets of tall matrices ``A`` (shape ``(..., m, q)``), unrolled.

    The eigenvectors ``V`` of the Gram matrix :math:`C = A^\top A`: while traced,
    by repeated squaring and deflation
    (:func:`~skunfold.core.export_linalg.leading_eigenvectors`: a few matrix
    products per triplet, no loop; for onnxruntime many times faster than the
    rotations of :func:`jacobi_svd`), in Python by LAPACK's ``eigh``. The span
    of ``U`` (and :math:`U S V^\top`, all that the factor steps use) agrees
    with the SVD's to round-off times :math:`\sigma_1 / \sigma_k`; singular
    values below :math:`\sigma_1` times the square root of the precision are
    not accurate, as from any Gram matrix.

    Returns
    -------
    U : torch.Tensor of shape (..., m, k)
    S : torch.Tensor of shape (..., k)
    V : torch.Tensor of shape (..., q, k)
        ``A V = U diag(S)``.

    Examples
    --------
    >>> import torch
    >>> from skunfold.rpca.graphs import leading_singular_subspace
    >>> A = torch.randn(3, 30, 6, dtype=torch.float64)
    >>> U, S, V = leading_singular_subspace(A, 2)
    >>> U2, S2, _ = torch.linalg.svd(A, full_matrices=False)
    >>> bool(torch.allclose(U @ U.mT, U2[..., :2] @ U2[..., :2].mT))
    True
    """
    gram = A.mT @ A
    if tracing():
        V = export_linalg.leading_eigenvectors(gram, k, n_squarings)
    else:  # the same vectors from LAPACK (in Python, what a traced graph reproduces)
        V = torch.linalg.eigh(gram)[1][..., -k:].flip(-1)
    S = torch.sqrt(torch.clamp(((gram @ V) * V).sum(-2), min=0.0))
    U = (A @ V) / torch.where(S > 0, S, 1.0).unsqueeze(-2)
    return U, S, V


def gauss_jordan_solve(A, B):
    r""":math:`A^{-1} B` for square ``A`` (shape ``(..., n, n)``) and ``B`` (``(..., n, p)``).

    Gauss--Jordan elimination on ``[A | B]`` with partial pivoting: at step
    ``j`` the row of largest ``|a_ij|`` (``i >= j``) is swapped into row ``j``
    (by masks: no data-dependent indexing), scaled to a unit pivot and
    eliminated from every other row. ``n`` steps of a few elementwise
    operations each, on ``n x (n + p)``; written out for ``n <=``
    :data:`UNROLL` (the ``r x r`` Gram matrices of the factor steps), a loop above.

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

    return export_linalg.static_loop(n, eliminate, (M,), unroll=n <= UNROLL)[0][..., :, n:]


def spd_inverse(A):
    r""":math:`A^{-1}` of symmetric positive definite ``A`` (shape ``(..., n, n)``).

    Gauss--Jordan elimination on ``[A | I]`` without pivoting (stable for
    such matrices, as Cholesky is): half the operations of
    :func:`gauss_jordan_solve`, written out for ``n <=`` :data:`UNROLL`; for
    ``n <= 3`` the adjugate divided by the determinant (about a dozen operations
    instead of seven per step).

    Examples
    --------
    >>> import torch
    >>> from skunfold.rpca.graphs import spd_inverse
    >>> A = torch.tensor([[4.0, 2.0], [2.0, 3.0]], dtype=torch.float64)
    >>> bool(torch.allclose(spd_inverse(A) @ A, torch.eye(2, dtype=torch.float64)))
    True
    """
    n = A.shape[-1]
    if n <= 3:
        return _adjugate_inverse(A)
    eye = torch.eye(n, dtype=A.dtype, device=A.device)
    M = torch.cat([A, eye.expand(A.shape)], dim=-1)
    if n <= UNROLL:
        for j in range(n):
            row = M[..., j:j + 1, :] / M[..., j:j + 1, j:j + 1]
            M = M - (M[..., :, j:j + 1] - eye[:, j:j + 1]) * row
        return M[..., n:]

    def eliminate(j, M):
        at = j.reshape(1)
        row = M.index_select(-2, at)
        row = row / row.index_select(-1, at)
        return (M - (M.index_select(-1, at) - eye.index_select(-1, at)) * row,)

    return export_linalg.static_loop(n, eliminate, (M,))[0][..., n:]


def _adjugate_inverse(A):
    r""":math:`A^{-1} = \operatorname{adj}(A) / \det A` of symmetric ``A`` of size 1, 2 or 3.

    The cofactors come from two cyclic shifts of the rows and of the columns:
    for ``n = 3``, :math:`c_{ij} = a_{i+1,j+1} a_{i+2,j+2} - a_{i+1,j+2} a_{i+2,j+1}`
    (indices mod 3); for ``n = 2`` the swapped entries with alternating signs.
    Symmetric ``A`` has a symmetric adjugate, and its determinant is the first
    row of ``A`` against the first row of cofactors.
    """
    n = A.shape[-1]
    if n == 1:
        return 1.0 / A
    if n == 2:
        swap = torch.tensor([1, 0], device=A.device)
        signs = torch.tensor([[1.0, -1.0], [-1.0, 1.0]], dtype=A.dtype, device=A.device)
        adjugate = A.index_select(-2, swap).index_select(-1, swap) * signs
    else:
        one = torch.tensor([1, 2, 0], device=A.device)
        two = torch.tensor([2, 0, 1], device=A.device)
        rows_one, rows_two = A.index_select(-2, one), A.index_select(-2, two)
        adjugate = (rows_one.index_select(-1, one) * rows_two.index_select(-1, two)
                    - rows_one.index_select(-1, two) * rows_two.index_select(-1, one))
    det = (A[..., :1, :] * adjugate[..., :1, :]).sum(-1, keepdim=True)
    return adjugate / det

