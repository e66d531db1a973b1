r"""The hybrid precoders' linear algebra, in real arithmetic: complex matrices as real embeddings.

ONNX has no complex arithmetic and no eigen-decomposition, so that the
iteration and its initialisation are written with real tensors only:

* a complex ``m x n`` matrix :math:`A = A_r + i A_i` is carried as the real
  ``2m x 2n`` matrix :math:`\begin{bmatrix} A_r & -A_i \\ A_i & A_r \end{bmatrix}`
  (:func:`embed`), the representation of :math:`a + ib` as a real ``2 x 2``
  matrix: products, sums, the conjugate transpose (the transpose) and linear
  solves of embeddings are the embeddings of the complex results, so the
  rate gradients are the same formulas on real tensors. Real matrices are
  carried as they are.
* the initial analog precoder is made of the dominant eigenvectors of the
  band-averaged channel covariance, :func:`dominant_eigenvectors`: LAPACK's
  ``eigh`` in Python, the same vectors by repeated squarings with deflation
  (:func:`~skunfold.core.export_linalg.leading_eigenvectors` on the real
  embedding, written out: no loop) while a model is traced
  for ``torch.export`` or ONNX; each vector with the phase that makes its first
  entry real and positive, so that both give the same precoders to round-off.
* the rate's linear solves with the Hermitian positive definite
  :math:`I + G G^H`, :func:`hpd_solve`: LAPACK in Python, Gauss--Jordan
  elimination without pivoting (a few operations a step) while traced.
"""

import numpy as np
import torch

from ..core import export_linalg

tracing = export_linalg.tracing

__all__ = ["embed", "embed_parts", "parts", "compact", "tracing", "channel_covariance",
           "dominant_eigenvectors", "hpd_solve", "orthonormal_completion"]


def embed_parts(re, im):
    r"""The real embedding :math:`[[A_r, -A_i], [A_i, A_r]]` of ``re + i im``."""
    if im is None:
        return re
    return torch.cat([torch.cat([re, -im], dim=-1), torch.cat([im, re], dim=-1)], dim=-2)


def _times_i(n, like):
    """The real embedding of :math:`i I_n`, ``[v_r; v_i] -> [-v_i; v_r]`` (``like``'s dtype)."""
    eye, zero = np.eye(n), np.zeros((n, n))
    return torch.as_tensor(np.block([[zero, -eye], [eye, zero]]), dtype=like.dtype,
                           device=like.device)


def embed(A):
    """The real embedding of a complex ``A`` (shape ``(..., m, n)`` to ``(..., 2m, 2n)``).

    A real ``A`` is returned as it is.

    Examples
    --------
    >>> import torch
    >>> from skunfold.beamforming.linalg import compact, embed
    >>> A = torch.randn(3, 2, dtype=torch.complex128)
    >>> B = torch.randn(2, 4, dtype=torch.complex128)
    >>> bool(torch.allclose(compact(embed(A) @ embed(B), True), A @ B))
    True
    >>> bool(torch.allclose(compact(embed(A).mT, True), A.mH))
    True
    """
    if not A.is_complex():
        return A
    pair = torch.view_as_real(A)
    return embed_parts(pair[..., 0], pair[..., 1])


def parts(E, complex_valued):
    """``(real part, imaginary part)`` of an embedding (``(E, None)`` for a real matrix)."""
    if not complex_valued:
        return E, None
    m, n = E.shape[-2] // 2, E.shape[-1] // 2
    return E[..., :m, :n], E[..., m:, :n]


def compact(E, complex_valued):
    """The complex matrix of an embedding (``E`` itself for a real matrix)."""
    re, im = parts(E, complex_valued)
    return re if im is None else torch.complex(re, im)


def channel_covariance(x):
    r""":math:`\frac{1}{B} \sum_b H_b^H H_b` of channels ``x`` (``(batch, B, N, M)``), in float64.

    Returns ``(real part, imaginary part)``, each ``(batch, M, M)`` (the
    imaginary part ``None`` for real channels).
    """
    if not x.is_complex():
        H = x.to(torch.float64)
        return (H.mT @ H).mean(1), None
    pair = torch.view_as_real(x).to(torch.float64)
    Hr, Hi = pair[..., 0], pair[..., 1]
    return (Hr.mT @ Hr + Hi.mT @ Hi).mean(1), (Hr.mT @ Hi - Hi.mT @ Hr).mean(1)


def hpd_solve(A, B, complex_valued):
    r""":math:`A^{-1} B` for Hermitian positive definite ``A``, or its real embedding.

    ``torch.linalg.solve`` in Python; while traced (ONNX has no solver),
    Gauss--Jordan elimination on :math:`[A \mid B]` without pivoting, which a
    positive definite matrix does not need (its pivots, Schur complements'
    diagonals, are real and positive): for an embedding (``complex_valued``),
    step ``j`` eliminates the pair of rows and columns ``j`` and ``j + n/2``
    (one complex pivot) with one product, so ``n/2`` steps of eight operations,
    on the first half of the columns of ``B`` only: the result is completed to
    an exact embedding (the iteration of :class:`HybridPrecoding
    <skunfold.beamforming.HybridPrecoding>` amplifies perturbations that are no
    embedding of a complex matrix, ``2.5x`` a layer: solves that leave them
    drifted ``1e-3`` from ``predict`` after ten layers in float32).
    Both in float64 (complex128) whatever the dtype, the result cast back to the
    dtype of ``B``: the iteration amplifies the rounding of float32 solves (on a
    few channels to ``1e-3`` relative after ten layers), and Python and graph
    then agree to float32 round-off.

    Parameters
    ----------
    A : tensor of shape (..., n, n)
    B : tensor of shape (..., n, p)
    complex_valued : bool
        Whether ``A`` and ``B`` are the real embeddings of complex matrices.

    Examples
    --------
    >>> import torch
    >>> from skunfold.beamforming.linalg import compact, embed, hpd_solve
    >>> G = torch.randn(3, 4, 4, dtype=torch.complex128)
    >>> A, B = torch.eye(4) + G @ G.mH, torch.randn(3, 4, 2, dtype=torch.complex128)
    >>> X = compact(hpd_solve(embed(A), embed(B), True), True)
    >>> bool(torch.allclose(A @ X, B))
    True
    """
    if not tracing():
        wide = torch.complex128 if A.is_complex() else torch.float64
        return torch.linalg.solve(A.to(wide), B.to(wide)).to(B.dtype)
    n, shape, dtype = A.shape[-1], B.shape, B.dtype
    half, width = (n // 2, shape[-1] // 2) if complex_valued else (n, shape[-1])
    if complex_valued:  # the first half of the columns: [B_r; B_i]
        B = B[..., :width]
    # three axes: the products are batched ones, with no reshapes around them
    M = torch.cat([A, B], dim=-1).reshape(-1, n, n + width).to(torch.float64)
    for j in range(half):  # rows j and j + half of an embedding (j alone of a real matrix)
        rows = M[:, j::half, :]
        unit = torch.as_tensor(np.eye(n)[:, j::half], dtype=M.dtype, device=M.device)
        pivot = rows / M[:, j:j + 1, j:j + 1]
        M = M - torch.bmm(M[:, :, j:n:half] - unit, pivot)
    X = M[:, :, n:]
    if complex_valued:  # [X_r; X_i] completed by [-X_i; X_r]: exactly an embedding
        X = torch.cat([X, torch.bmm(_times_i(half, X).expand(X.shape[0], n, n), X)], dim=-1)
    return X.reshape(shape).to(dtype)


def _first_entry_real(Vr, Vi):
    """Each column turned (a phase, or a sign) so that its first entry is real and positive."""
    ar = Vr[..., :1, :]
    if Vi is None:
        return Vr * torch.where(ar < 0, -1.0, 1.0)
    ai = Vi[..., :1, :]
    r = torch.sqrt(ar * ar + ai * ai)
    cos = torch.where(r > 0, ar / torch.where(r > 0, r, 1.0), 1.0)
    sin = ai / torch.where(r > 0, r, 1.0)
    return Vr * cos + Vi * sin, Vi * cos - Vr * sin


def _traced_eigenvectors(Cr, Ci, k):
    """The ``k`` leading eigenvectors of ``Cr + i Ci`` (real and imaginary parts), written out."""
    if Ci is None:
        return export_linalg.leading_eigenvectors(Cr, k), None
    M = Cr.shape[-1]
    # the embedding of i v: the partner of eigenvector v, of the same eigenvalue
    V = export_linalg.leading_eigenvectors(embed_parts(Cr, Ci), k, partner=_times_i(M, Cr))
    return V[..., :M, 0::2], V[..., M:, 0::2]


def dominant_eigenvectors(Cr, Ci, k):
    """The ``k`` leading eigenvectors of Hermitian ``Cr + i Ci``, first entries real positive.

    ``torch.linalg.eigh`` in Python; while traced (``torch.export``, ONNX),
    :func:`~skunfold.core.export_linalg.leading_eigenvectors` of the real
    embedding of ``C``, where each eigenvalue is double: every vector is found
    with its partner, the embedding of ``i`` times it. The same vectors to
    round-off where the leading ``k + 1`` eigenvalues are distinct (in float64
    where the ratios of consecutive ones are below ``0.9994``; on the wideband
    channels of 12 antennas the largest ratio among the leading twelve was
    ``0.998`` in 2,000 draws).

    Returns
    -------
    Vr, Vi : tensor of shape (..., M, k)
        ``Vi`` None for real ``C``.

    Examples
    --------
    >>> import torch
    >>> from skunfold.beamforming.linalg import dominant_eigenvectors
    >>> A = torch.randn(4, 6, dtype=torch.complex128)
    >>> C = A.mH @ A
    >>> Vr, Vi = dominant_eigenvectors(C.real, C.imag, 2)
    >>> Vr.shape, bool((Vi[0] == 0).all()), bool((Vr[0] > 0).all())
    (torch.Size([6, 2]), True, True)
    """
    if tracing():
        Vr, Vi = _traced_eigenvectors(Cr, Ci, k)
    else:
        V = torch.linalg.eigh(Cr if Ci is None else torch.complex(Cr, Ci))[1][..., -k:].flip(-1)
        Vr, Vi = (V, None) if Ci is None else (V.real, V.imag)
    return _first_entry_real(Vr, Vi) if Vi is not None else (_first_entry_real(Vr, None), None)


def orthonormal_completion(Vr, Vi, n_columns):
    r"""``V`` (orthonormal columns) completed to ``n_columns`` by beams of the Hartley basis.

    Column ``j`` added is the real beam :math:`h_j` (entries
    :math:`(\cos(2\pi jm/M) + \sin(2\pi jm/M)) / \sqrt{M}`, :math:`h_0` the broadside
    beam) made orthogonal to the columns before it by classical Gram--Schmidt
    run twice, then normalised (left at zero if :math:`h_j` is in their span).
    Unlike unit vectors, these leave no entry zero by construction (a zero
    entry has no phase for the unit-modulus projection).

    Examples
    --------
    >>> import torch
    >>> from skunfold.beamforming.linalg import orthonormal_completion
    >>> V = torch.tensor([[1.0], [0.0], [0.0]], dtype=torch.float64)
    >>> W = orthonormal_completion(V, None, 3)[0]
    >>> bool(torch.allclose(W.mT @ W, torch.eye(3, dtype=torch.float64)))
    True
    """
    k = Vr.shape[-1]
    M = Vr.shape[-2]
    if n_columns <= k:  # (no empty constant: torch.export.save cannot write one)
        return Vr, Vi
    angle = 2 * np.pi * np.outer(np.arange(M), np.arange(n_columns - k)) / M
    beams = torch.as_tensor((np.cos(angle) + np.sin(angle)) / np.sqrt(M), device=Vr.device)
    for j in range(n_columns - k):
        e = torch.zeros_like(Vr[..., :1]) + beams[:, j:j + 1].to(Vr.dtype)
        vr, vi = e, (None if Vi is None else torch.zeros_like(e))
        for _ in range(2):
            if Vi is None:
                vr = vr - Vr @ (Vr.mT @ vr)
            else:  # v - V (V^H v)
                cr, ci = Vr.mT @ vr + Vi.mT @ vi, Vr.mT @ vi - Vi.mT @ vr
                vr, vi = vr - (Vr @ cr - Vi @ ci), vi - (Vr @ ci + Vi @ cr)
        squares = (vr * vr).sum(-2, keepdim=True)
        if vi is not None:
            squares = squares + (vi * vi).sum(-2, keepdim=True)
        norm = torch.sqrt(squares)
        keep = norm > 1e-8
        scale = torch.where(keep, 1.0 / torch.where(keep, norm, 1.0), 0.0)
        Vr = torch.cat([Vr, vr * scale], dim=-1)
        Vi = None if Vi is None else torch.cat([Vi, vi * scale], dim=-1)
    return Vr, Vi
