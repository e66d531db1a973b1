r"""Linear algebra with the operations that ONNX has, for the families' traced graphs.

ONNX has no eigendecomposition, SVD, QR or linear solve, and ``torch.export``
traces no data-dependent control flow. A family computes with LAPACK in
Python and, while a model is traced (:func:`tracing`), with these instead:
small matrix products and elementwise operations, written out (no loop
node), whose results agree with LAPACK's to round-off where the problem is
well posed (distinct eigenvalues, non-singular systems).

* :func:`leading_eigenvectors` -- the leading eigenvectors of symmetric
  positive semi-definite matrices, one at a time by repeated squaring and
  deflation (the robust PCA graph's truncated SVDs, from Gram matrices; the
  hybrid precoder's start, from the real embedding of a complex covariance);
* :func:`gauss_jordan_solve` -- :math:`A^{-1} B` by Gauss--Jordan elimination
  with partial pivoting (what :func:`torch.linalg.solve` becomes in ONNX
  graphs, see :func:`~skunfold.core.export_hooks.onnx_decompositions`).

:func:`static_loop` runs a loop of a count fixed by the shapes as one loop
node (an ONNX ``Loop``), for inner iterations whose written-out copies would
make the graph, and its export, large.
"""

import math

import torch

__all__ = ["tracing", "static_loop", "leading_eigenvectors", "gauss_jordan_solve", "SQUARINGS"]

#: Squarings of :func:`leading_eigenvectors` per vector: the matrix to the power
#: ``2**SQUARINGS``, which separates consecutive eigenvalues to float64 round-off where their
#: ratio is below ``0.9994`` (``0.9994 ** 2 ** 16`` is ``1e-17``).
SQUARINGS = 16


def tracing():
    """Whether the code runs under ``torch.export``, ONNX export or ``torch.compile``."""
    return torch.compiler.is_compiling()


def static_loop(n, body, state, unroll=False, done=None):
    """``state = body(i, *state)`` for ``i < n`` (``state``: a tuple of tensors), as one loop node.

    A :func:`torch.while_loop` over tensors of fixed shapes: one node of the
    traced program, an ONNX ``Loop``, however large ``n``. Meant for traced
    code (:func:`tracing`): ``torch.while_loop`` has no autograd, so a
    caller keeps a Python loop of the same arithmetic for eager runs.

    Parameters
    ----------
    n : int
        Passes.
    body : callable
        ``body(i, *state) -> state``, ``i`` a 0-dimensional int64 tensor.
    state : tuple of torch.Tensor
        Carried tensors (copied: a loop's carried state may not alias its inputs).
    unroll : bool, default=False
        The ``n`` passes written out in the graph instead (``i`` a constant).
    done : callable, optional
        ``done(*state)``, a boolean tensor that ends the loop early when true.

    Returns
    -------
    tuple of torch.Tensor
        The state after the passes.

    Examples
    --------
    >>> import torch
    >>> from skunfold.core.export_linalg import static_loop
    >>> static_loop(3, lambda i, x: (2 * x + i,), (torch.ones(()),))
    (tensor(12.),)
    """
    if unroll:
        for i in range(n):
            state = body(torch.full((), i, dtype=torch.int64), *state)
        return tuple(state)

    def step(i, *values):
        return (i + 1, *body(i, *values))

    def more(i, *values):
        return i < n if done is None else (i < n) & ~done(*values)
    start = torch.zeros((), dtype=torch.int64)
    return tuple(torch.while_loop(more, step, (start, *(t.clone() for t in state)))[1:])


def _rescale_period(size, dtype):
    """Squarings between rescalings that keep ``P ** (2 ** s)`` finite.

    After a rescaling to a largest entry of one, the largest eigenvalue of a
    positive semi-definite ``P`` is at most its trace, at most ``size``: ``s``
    squarings stay below the dtype's largest number while ``size ** (2 ** s)`` does
    (with a factor ``size`` to spare, for the sums inside the products).
    """
    size = max(size, 2)
    room = (math.log(torch.finfo(dtype).max) - math.log(size)) / math.log(size)
    return max(1, int(math.floor(math.log2(room))))


def leading_eigenvectors(C, k, n_squarings=SQUARINGS, partner=None):
    r"""The ``k`` leading eigenvectors of symmetric positive semi-definite ``C``, written out.

    One vector at a time: the matrix :math:`P` (``C`` on the complement of the
    vectors ``V`` found so far, :math:`P = (I - V V^\top) C (I - V V^\top)`: no
    residue of them is left to be found again) is squared ``n_squarings``
    times, rescaled to a largest entry of one as often as its size and dtype
    need for nothing to overflow; the column of the largest diagonal entry of
    :math:`P^{2^s}`, orthogonalised against ``V`` and normalised, is the next
    vector. About ``1.25 n_squarings + 15`` small operations a vector, no
    loop: for onnxruntime many times faster than a loop of Jacobi rotations.

    The vectors agree with LAPACK's (up to sign) once the ratio of consecutive
    eigenvalues :math:`\lambda_{j+1} / \lambda_j` (``j <= k``) raised to the
    power :math:`2^s` is below the precision (16 squarings: ratios up to
    ``0.9994`` in float64); within a cluster of closer eigenvalues they are
    another orthonormal basis of the cluster's span.

    Parameters
    ----------
    C : torch.Tensor of shape (..., q, q)
        Symmetric positive semi-definite.
    k : int
        How many vectors, at most ``q``.
    n_squarings : int, default=SQUARINGS
    partner : torch.Tensor of shape (q, q) or None, default=None
        An orthogonal matrix :math:`J` with :math:`J v \perp v` that maps each
        eigenvector to another of the same eigenvalue: each vector found is
        deflated together with :math:`J v` (for the real embedding of a
        complex Hermitian matrix, whose eigenvalues are all double, :math:`J`
        the embedding of :math:`i`). The result then holds ``2 k`` columns,
        :math:`v_1, J v_1, v_2, J v_2, \ldots`.

    Returns
    -------
    V : torch.Tensor of shape (..., q, k), or (..., q, 2 k) with ``partner``
        Orthonormal columns, by decreasing eigenvalue.

    Examples
    --------
    >>> import torch
    >>> from skunfold.core.export_linalg import leading_eigenvectors
    >>> A = torch.randn(2, 9, 6, dtype=torch.float64)
    >>> C = A.mT @ A
    >>> V = leading_eigenvectors(C, 3)
    >>> values = torch.linalg.eigvalsh(C)[:, -3:].flip(-1)
    >>> bool(torch.allclose(C @ V, V * values.unsqueeze(-2)))
    True
    """
    q = C.shape[-1]
    if k == 0:
        return C.new_zeros(*C.shape[:-2], q, 0)
    eye = torch.eye(q, dtype=C.dtype, device=C.device)
    every, tiny = _rescale_period(q, C.dtype), torch.finfo(C.dtype).tiny
    V = None
    for _ in range(k):
        if V is None:
            P = C
        else:
            complement = eye - V @ V.mT
            P = complement @ C @ complement
        for j in range(n_squarings):
            if j % every == 0:  # P is positive semi-definite: its largest entry is diagonal
                # (tiny keeps a zero matrix zero, not NaN)
                P = P / (torch.amax(P, dim=(-2, -1), keepdim=True) + tiny)
            P = P @ P
        pick = torch.argmax((P * eye).sum(-2, keepdim=True), dim=-1, keepdim=True)
        v = torch.gather(P, -1, pick.expand(*P.shape[:-1], 1))                 # (..., q, 1)
        if V is not None:
            v = v - V @ (V.mT @ v)
        # entries up to the dtype's largest number: scaled to a largest of one before the
        # norm squares them
        v = v / (torch.amax(v.abs(), dim=-2, keepdim=True) + tiny)
        norm = torch.linalg.vector_norm(v, dim=-2, keepdim=True)
        v = v / torch.where(norm > 0, norm, 1.0)
        found = v if partner is None else torch.cat([v, partner.to(v.dtype) @ v], dim=-1)
        V = found if V is None else torch.cat([V, found], dim=-1)
    return V


def gauss_jordan_solve(A, B):
    """``solve(A, B)`` by Gauss-Jordan elimination with partial pivoting, in static operations.

    ``A`` of shape ``(..., n, n)``, ``B`` of shape ``(..., n, k)`` or ``(..., n)``.
    The ``n`` eliminations are unrolled and the rows swapped by a gather on the
    argmax of the pivot column: no data-dependent control flow, so it exports
    to ONNX, which has no solver.

    Examples
    --------
    >>> import torch
    >>> from skunfold.core.export_linalg import gauss_jordan_solve
    >>> A = torch.tensor([[0.0, 2.0], [3.0, 1.0]], dtype=torch.float64)
    >>> gauss_jordan_solve(A, torch.tensor([4.0, 5.0], dtype=torch.float64))
    tensor([1., 2.], dtype=torch.float64)
    """
    vector = B.ndim == A.ndim - 1
    if vector:
        B = B.unsqueeze(-1)
    batch = torch.broadcast_shapes(A.shape[:-2], B.shape[:-2])
    n = A.shape[-1]
    M = torch.cat([A.expand(batch + A.shape[-2:]), B.expand(batch + B.shape[-2:])], dim=-1)
    rows = torch.arange(n, device=A.device)
    for j in range(n):
        pivot_row = M[..., j:, j].abs().argmax(dim=-1, keepdim=True) + j          # (..., 1)
        order = torch.where(rows == j, pivot_row, torch.where(rows == pivot_row, j, rows))
        M = torch.gather(M, -2, order.unsqueeze(-1).expand(M.shape))
        pivot = M[..., j:j + 1, :] / M[..., j:j + 1, j:j + 1]                      # (..., 1, n+k)
        is_j = (rows == j).unsqueeze(-1)
        M = torch.where(is_j, pivot, M - torch.where(is_j, 0.0, M[..., :, j:j + 1]) * pivot)
    X = M[..., :, n:]
    return X.squeeze(-1) if vector else X
