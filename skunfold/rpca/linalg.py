"""The numerical kernels of robust PCA: scaling, truncated SVD, factor steps, blocked products.

Plain functions on torch tensors, shared by the problem
(:class:`~skunfold.rpca.RobustPCAProblem`, ``problem.py``) and the family's
layers (``iterations.py``); they import nothing else of the family. Shapes: a
batch of matrices ``x`` is ``(batch, n1, n2)``, the factors ``L`` and ``R`` are
``(batch, n1, r)`` and ``(batch, n2, r)``.
"""

import concurrent.futures

import numpy as np
import torch

from ..core import soft_threshold
from .graphs import (
    gauss_jordan_solve,
    gram_schmidt,
    jacobi_svd,
    leading_singular_subspace,
    spd_inverse,
    tracing,
)

__all__ = [
    "BLOCKED_MIN_ENTRIES",
    "BLOCK_BYTES",
    "instance_scale",
    "needs_grad",
    "residual",
    "eager_kernels",
    "clipped",
    "clipped_residual_products",
    "truncated_svd",
    "factor_update",
    "scaled_steps",
    "balanced_factors",
    "solve",
    "sparse_part",
    "blocked_readout",
]


#: Instances of at least this many entries take the blocked, per-instance inference kernels.
BLOCKED_MIN_ENTRIES = 1 << 17
#: Bytes of one row block of the residual in the blocked kernels (kept in the L2 cache).
BLOCK_BYTES = 1 << 19


def instance_scale(x):
    """Root-mean-square of the entries of each instance, shape ``(batch, 1, 1)``."""
    n_entries = x.shape[-2] * x.shape[-1]
    rms = torch.linalg.vector_norm(x, dim=(-2, -1), keepdim=True) / np.sqrt(n_entries)
    return torch.clamp(rms, min=torch.finfo(x.dtype).tiny)


def _times_thin(A, B):
    """``A @ B`` for a large ``A`` and a thin ``B``, reading ``A`` in its memory order.

    CPU BLAS is several times slower when the large operand is read across
    its memory order (one core, float32, ``1000 x 1000`` by ``1000 x 5``:
    0.34 ms as ``A @ B`` for a row-major ``A`` but 1.6 ms as
    ``(B^T A^T)^T``; for a transposed view ``A = M^T`` of a row-major ``M``,
    0.5 ms as ``A @ B`` and 0.23 ms as ``(B^T M)^T``).
    """
    if not tracing() and A.stride(-1) != 1 and A.stride(-2) == 1:  # A = M^T of a row-major M
        return (B.mT @ A.mT).mT
    return A @ B


def residual(x, L, R):
    """``X - L R^T``: one fused ``baddbmm``; under tracing a product and a subtraction
    (``baddbmm`` exports as a product, a scaling and an addition)."""
    return x - L @ R.mT if tracing() else torch.baddbmm(x, L, R.mT, alpha=-1.0)


def needs_grad(*tensors):
    """Whether autograd records operations on any of ``tensors`` (floats never)."""
    return torch.is_grad_enabled() and any(
        torch.is_tensor(t) and t.requires_grad for t in tensors)


def eager_kernels(*tensors):
    """Whether the eager inference kernels may run: no autograd on ``tensors``, no tracing.

    The kernels write in place and read per-instance thresholds as Python
    floats: neither autograd nor ``torch.export`` (:func:`~skunfold.rpca.graphs.tracing`)
    can follow them, and both take the plain formulation instead (equal to
    float round-off).
    """
    return not tracing() and not needs_grad(*tensors)


def _instance_values(theta, batch):
    """A per-instance threshold ``(batch, 1, 1)`` (or a float) as a list of floats."""
    if not torch.is_tensor(theta):
        return [float(theta)] * batch
    return theta.expand(batch, 1, 1).reshape(batch).tolist()


def _clip_(E, theta):
    """``clip(E, -theta, theta)`` in place, without autograd (``theta``: per instance).

    Large instances are clipped one by one with scalar bounds (a single
    vectorised pass; bounds broadcast from a ``(batch, 1, 1)`` tensor cost
    several times more).
    """
    batch = E.shape[0]
    if E.shape[-2] * E.shape[-1] >= BLOCKED_MIN_ENTRIES or not torch.is_tensor(theta):
        for Ei, t in zip(E, _instance_values(theta, batch)):
            Ei.clamp_(-t, t)
        return E
    return torch.maximum(torch.minimum(E, theta, out=E), -theta, out=E)


def clipped(x, theta):
    """``clip(x, -theta, theta)`` as a new tensor, without autograd (one pass; see ``_clip_``)."""
    if x.shape[-2] * x.shape[-1] >= BLOCKED_MIN_ENTRIES or not torch.is_tensor(theta):
        out = torch.empty_like(x, memory_format=torch.contiguous_format)
        for xi, oi, t in zip(x, out, _instance_values(theta, x.shape[0])):
            torch.clamp(xi, -t, t, out=oi)
        return out
    return torch.maximum(torch.minimum(x, theta), -theta)


def clipped_residual_products(x, L, R, theta):
    """``(G R, G^T L)`` for ``G = clip(X - L R^T, -theta, theta)``, without autograd.

    The inference kernel of LRPCA's layer. Small instances are computed as a
    batch (``E = X - L R^T`` in one fused pass, clipped in place); large ones
    instance by instance in blocks of rows small enough to stay in the L2
    cache, each block formed by one fused ``addmm``, clipped in place and
    multiplied by ``R`` and ``L^T`` while in cache. No ``n1 x n2`` temporary
    is formed and ``X`` is read once. Equal to the plain computation up to
    float round-off (the summation order of ``G^T L`` differs).

    Parameters
    ----------
    x : torch.Tensor of shape (batch, n1, n2)
    L : torch.Tensor of shape (batch, n1, r)
    R : torch.Tensor of shape (batch, n2, r)
    theta : float or torch.Tensor broadcasting to (batch, 1, 1)
        Non-negative thresholds.

    Returns
    -------
    GR : torch.Tensor of shape (batch, n1, r)
    GtL : torch.Tensor of shape (batch, n2, r)
    """
    batch, n1, n2 = x.shape
    if n1 * n2 < BLOCKED_MIN_ENTRIES:
        E = _clip_(torch.baddbmm(x, L, R.mT, alpha=-1.0), theta)
        return E @ R, (L.mT @ E).mT
    r = L.shape[-1]
    rows = min(n1, max(1, BLOCK_BYTES // (n2 * x.element_size())))
    RtG = x.new_empty(batch, r, n1)  # (G R)^T: R^T E^T with a row-major R^T is the fast form
    LtG = x.new_empty(batch, r, n2)
    block = x.new_empty(rows, n2)
    for i, t in enumerate(_instance_values(theta, batch)):
        Xi, Li, RtGi, LtGi = x[i], L[i], RtG[i], LtG[i]
        Rt = R[i].mT.contiguous()
        for lo in range(0, n1, rows):
            hi = min(lo + rows, n1)
            E = block[:hi - lo]
            torch.addmm(Xi[lo:hi], Li[lo:hi], Rt, alpha=-1.0, out=E)
            E.clamp_(-t, t)
            torch.mm(Rt, E.mT, out=RtGi[:, lo:hi])
            if lo == 0:
                torch.mm(Li[lo:hi].mT, E, out=LtGi)
            else:
                LtGi.addmm_(Li[lo:hi].mT, E)
    return RtG.mT, LtG.mT


#: Matrices with ``min(n1, n2)`` at most this are truncated directly in :func:`truncated_svd`
#: (the eigenvectors of the Gram matrix of the short side) when no gradient flows: exact,
#: without the loops of the range finder's Gram--Schmidt in an exported graph, and, one
#: thread, faster than the range finder for one matrix (93 vs 203 us at 32 x 32, 147 vs 190 us
#: at 48 x 48), as fast for a batch of 64 at 32 x 32 (59 vs 62 us a matrix) and slower at
#: 48 x 48 (133 vs 70 us a matrix).
DIRECT_SVD_MAX = 48


def truncated_svd(M, rank, n_oversamples=10, n_iter=2):
    r"""Rank-``rank`` SVD of a batch of matrices by a randomized range finder.

    Halko, Martinsson and Tropp's subspace iteration with ``n_iter`` power
    iterations and ``n_oversamples`` extra directions; costs
    :math:`O(n_1 n_2 (r + p)\, q)` (rank :math:`r`, ``n_oversamples`` :math:`p`, ``n_iter``
    :math:`q`) instead of the :math:`O(n_1 n_2 \min(n_1, n_2))`
    of a full SVD. The Gaussian test matrix is drawn from a fixed seed, so the
    result is deterministic, and the computation is differentiable. When
    ``rank + n_oversamples`` reaches ``min(n1, n2)`` the range finder would span
    the whole column space, and when ``min(n1, n2) <=`` :data:`DIRECT_SVD_MAX` (and
    no gradient is needed: training keeps the range finder, whose gradient stays
    finite) one eigendecomposition of the small Gram matrix costs about as much
    as the range finder's QR factorisations: the leading triplets are then
    taken directly (the exact truncation, equal to the range finder's result to
    its accuracy; while traced for export, a graph without loops).

    Parameters
    ----------
    M : torch.Tensor of shape (batch, n1, n2)
        The matrices.
    rank : int
        Number of singular triplets kept (at most ``min(n1, n2)``).
    n_oversamples : int, default=10
        Extra random directions of the range finder.
    n_iter : int, default=2
        Power (subspace) iterations.

    Returns
    -------
    U : torch.Tensor of shape (batch, n1, rank)
        Left singular vectors.
    S : torch.Tensor of shape (batch, rank)
        Singular values, in decreasing order.
    V : torch.Tensor of shape (batch, n2, rank)
        Right singular vectors.

    Examples
    --------
    >>> import torch
    >>> from skunfold.rpca import truncated_svd
    >>> M = torch.randn(2, 30, 3, dtype=torch.float64) @ torch.randn(2, 3, 20, dtype=torch.float64)
    >>> U, S, V = truncated_svd(M, 3)
    >>> U.shape, S.shape, V.shape
    (torch.Size([2, 30, 3]), torch.Size([2, 3]), torch.Size([2, 20, 3]))
    >>> bool(torch.allclose((U * S[:, None, :]) @ V.mT, M))
    True
    """
    n1, n2 = M.shape[-2:]
    q = min(rank + n_oversamples, n1, n2)
    # the range finder would span the whole column (row) space of M, or M is small enough
    # that one direct SVD costs less than its QR factorisations (not under autograd: the
    # gradient of a full SVD is not finite where discarded singular values coincide)
    if q == min(n1, n2) or (min(n1, n2) <= DIRECT_SVD_MAX and not needs_grad(M)):
        return _leading_svd(M, rank)
    # stored as the transpose of a row-major array: MKL's product of a row-major M by it is
    # 1.5-2x faster than by a row-major omega (the QR factors below are column-major too)
    omega = torch.tensor(_test_matrix(n2, q).T, dtype=M.dtype, device=M.device).mT
    traced = tracing()
    orthonormal = gram_schmidt if traced else (lambda A: torch.linalg.qr(A).Q)
    Q = orthonormal(_times_thin(M, omega))
    for _ in range(n_iter):
        Q = orthonormal(_times_thin(M.mT, Q))
        Q = orthonormal(_times_thin(M, Q))
    # the SVD of the small Q^T M, taken of its tall transpose M^T Q = V S Ub^T (LAPACK is
    # several times faster on a tall matrix than on a wide one)
    if traced:
        V, S, Ub = leading_singular_subspace(_times_thin(M.mT, Q), rank)
        return Q @ Ub, S, V
    V, S, Ubh = torch.linalg.svd(_times_thin(M.mT, Q), full_matrices=False)
    return Q @ Ubh[..., :rank, :].mT, S[..., :rank], V[..., :rank]


def _leading_svd(M, rank):
    r"""The ``rank`` leading singular triplets ``(U, S, V)`` of ``M``, computed directly.

    What :func:`truncated_svd` computes when ``rank + n_oversamples`` reaches
    ``min(n1, n2)`` (its range finder then spans the whole column space and its
    result is this one, to round-off) or the matrix is small. From the Gram
    matrix :math:`A^\top A` of ``A``, ``M`` or its transpose, whichever is tall
    (:func:`~skunfold.rpca.graphs.leading_singular_subspace`): LAPACK's ``eigh``
    in Python (a batched ``eigh`` of the small Gram matrix is 1.6 to 1.8 times
    faster than the SVD of ``M``), its leading eigenvectors by squarings while
    traced. Under autograd,
    ``torch.linalg.svd`` (the gradient then goes through ``M``, not its Gram
    matrix). Singular values below :math:`\sigma_1` times the square root of the
    precision are not accurate from a Gram matrix: the truncation keeps the
    leading ones.
    """
    n1, n2 = M.shape[-2:]
    if needs_grad(M) and not tracing():
        U, S, Vh = torch.linalg.svd(M, full_matrices=False)
        return U[..., :rank], S[..., :rank], Vh[..., :rank, :].mT
    if n1 >= n2:
        return leading_singular_subspace(M, rank)
    V, S, U = leading_singular_subspace(M.mT, rank)
    return U, S, V


_TEST_MATRICES = {}


def _test_matrix(n2, q):
    """The Gaussian test matrix of :func:`truncated_svd`: seed 0, float64, a numpy array.

    Kept by shape (16 at most), as numpy: a cache of tensors would keep the
    fake tensor of a ``torch.export`` trace, which holds no values. Under
    tracing the draw runs on a helper thread, outside the tracing mode, so
    a traced model uses the values of an eager run.
    """
    key = (int(n2), int(q))
    if key not in _TEST_MATRICES:
        if tracing():
            with concurrent.futures.ThreadPoolExecutor(1) as pool:
                values = pool.submit(_draw_test_matrix, *key).result()
        else:
            values = _draw_test_matrix(*key)
        if len(_TEST_MATRICES) >= 16:
            _TEST_MATRICES.pop(next(iter(_TEST_MATRICES)))
        _TEST_MATRICES[key] = values
    return _TEST_MATRICES[key]


def _draw_test_matrix(n2, q):
    gen = torch.Generator().manual_seed(0)
    return torch.randn(n2, q, generator=gen, dtype=torch.float64).numpy()


def _gram_inverses(R, L):
    """``(R^T R)^{-1}`` and ``(L^T L)^{-1}``, with a negligible ridge for rank-deficient factors.

    The ridge is ``eps trace / r + tiny``; both are inverted in one batched call
    (the ``r x r`` work is negligible, the number of small operations is not).
    """
    grams = torch.stack([R.mT @ R, L.mT @ L])
    r = grams.shape[-1]
    finfo = torch.finfo(grams.dtype)
    eye = torch.eye(r, dtype=grams.dtype, device=grams.device)
    # (a mask by the identity: two operations in an exported graph, a diagonal is sixteen)
    trace = (grams * eye).sum((-2, -1), keepdim=True)
    grams = grams + (trace * (finfo.eps / r) + finfo.tiny) * eye
    if tracing():
        inverses = spd_inverse(grams)
    else:
        inverses = torch.linalg.inv(grams)
    return inverses[0], inverses[1]


def factor_update(L, R, G_L, G_R, eta_L, eta_R):
    r"""The scaled gradient steps (26)-(27) of the factors.

    ``L' = L + eta_L G_L R (R^T R)^{-1}`` and ``R' = R + eta_R G_R^T L (L^T L)^{-1}``,
    both from the old ``L, R`` (as in LRPCA); ``-G R`` is the gradient of
    ``1/2 ||L R^T + Psi Y - X||_F^2`` with respect to ``L`` when
    :math:`G = X - L R^\top - \Psi Y`. Costs :math:`O(n_1 n_2 r)`.
    """
    return scaled_steps(L, R, _times_thin(G_L, R), _times_thin(G_R.mT, L), eta_L, eta_R)


def scaled_steps(L, R, GR, GtL, eta_L, eta_R):
    """:func:`factor_update` from the products ``G_L R`` and ``G_R^T L`` (shapes of ``L``, ``R``).

    ``L + GR (eta_L (R^T R)^{-1})`` and ``R + GtL (eta_R (L^T L)^{-1})``, each one fused product.
    """
    inv_R, inv_L = _gram_inverses(R, L)
    if L.ndim == 3:
        return torch.baddbmm(L, GR, eta_L * inv_R), torch.baddbmm(R, GtL, eta_R * inv_L)
    return L + GR @ (eta_L * inv_R), R + GtL @ (eta_R * inv_L)


def balanced_factors(M, rank):
    r"""Factors :math:`L = U S^{1/2}`, :math:`R = V S^{1/2}` of a truncated SVD of ``M``.

    A ``rank`` of at least ``min(n1, n2)`` factors ``M`` exactly: the SVD is
    then computed without gradient and the factor on the long side is
    ``M^T U S^-1/2`` (or ``M V S^-1/2``), so the gradient reaches ``M``
    linearly, not through the SVD's, which is unbounded when singular values
    are close (as the smallest of a full-rank matrix often are). The scaled
    gradient steps do not depend on which factorisation of :math:`L R^\top` they start from.
    """
    n1, n2 = M.shape[-2:]
    if rank < min(n1, n2):
        U, S, V = truncated_svd(M, rank)
        root = torch.sqrt(S)[..., None, :]
        return U * root, V * root
    with torch.no_grad():
        U, S, Vh = _full_svd(M)
        root = torch.clamp(torch.sqrt(S), min=torch.finfo(M.dtype).tiny)[..., None, :]
    if n1 <= n2:
        return U * root, _times_thin(M.mT, U / root)
    V = Vh.mT
    return _times_thin(M, V / root), V * root


def _full_svd(M):
    """``torch.linalg.svd(M, full_matrices=False)``; under tracing, by Jacobi rotations."""
    if not tracing():
        return torch.linalg.svd(M, full_matrices=False)
    n1, n2 = M.shape[-2:]
    if n1 >= n2:
        U, S, V = jacobi_svd(M, n2)
        return U, S, V.mT
    V, S, U = jacobi_svd(M.mT, n1)
    return U, S, V.mT


def solve(A, B):
    r""":math:`A^{-1} B` by ``torch.linalg.solve``; under tracing, by Gauss--Jordan elimination."""
    return gauss_jordan_solve(A, B) if tracing() else torch.linalg.solve(A, B)


def sparse_part(state):
    """The sparse part ``Y`` of a state, formed from its lazy description when needed.

    ``lazy`` is ``(E, G)`` (``Y = E - G``, kept by steps under autograd) or
    ``(x, L, R, theta)`` (``Y = T_theta(x - L R^T)``, recomputed from the
    previous factors by inference steps, which keep no ``n1 x n2`` array;
    ``L = R = None`` for the initial state: ``Y = T_theta(x)``).
    """
    Y, lazy = state[2], state[4]
    if Y is not None:
        return Y
    if len(lazy) == 2:
        E, G = lazy
        return E - G
    x, L, R, theta = lazy
    E = x if L is None else residual(x, L, R)
    return soft_threshold(E, theta)


def blocked_readout(L, R, x, L0, R0, theta):
    r""":meth:`RobustPCAProblem.readout` of an inference state of large instances.

    Writes :math:`L R^\top` and ``Y = T_theta(x - L0 R0^T)`` (``T_theta(x)`` when
    ``L0`` is None) straight into the output, ``Y`` in row blocks that stay
    in cache; the values of :func:`sparse_part`, without its temporaries.
    """
    batch, n1, n2 = x.shape
    out = x.new_empty(batch, 2, n1, n2)
    rows = min(n1, max(1, BLOCK_BYTES // (n2 * x.element_size())))
    block = x.new_empty(rows, n2)
    for i, t in enumerate(_instance_values(theta, batch)):
        torch.mm(L[i], R[i].mT, out=out[i, 0])
        Y = out[i, 1]
        for lo in range(0, n1, rows):
            hi = min(lo + rows, n1)
            Yb = Y[lo:hi]
            if L0 is None:
                Yb.copy_(x[i, lo:hi])
            else:
                torch.addmm(x[i, lo:hi], L0[i, lo:hi], R0[i].mT, alpha=-1.0, out=Yb)
            Yb.sub_(torch.clamp(Yb, -t, t, out=block[:hi - lo]))
    return out
