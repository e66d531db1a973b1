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
  ``eigh`` in Python, the same vectors by cyclic Jacobi rotations (a fixed
  number of sweeps, one ``while_loop``) while a model is traced for
  ``torch.export`` or ONNX; each vector with the phase that makes its first
  entry real and positive, so that both give the same precoders to round-off.
"""

import numpy as np
import torch

__all__ = ["embed", "embed_parts", "parts", "compact", "tracing", "channel_covariance",
           "dominant_eigenvectors", "jacobi_eigenvectors", "orthonormal_completion",
           "JACOBI_SWEEPS"]

#: Sweeps of :func:`jacobi_eigenvectors` (every pair of columns rotated once per sweep).
#: Jacobi converges quadratically: on covariances of 12 to 64 antennas the eigenvectors
#: reach float64 round-off in 6 to 8 sweeps.
JACOBI_SWEEPS = 12


def tracing():
    """Whether the code runs under ``torch.export``, ONNX export or ``torch.compile``."""
    return torch.compiler.is_compiling()


def embed_parts(re, im):
    r"""The real embedding :math:`[[A_r, -A_i], [A_i, A_r]]` of ``re + i im``."""
    if im is None:
        return re
    return torch.cat([torch.cat([re, -im], dim=-1), torch.cat([im, re], dim=-1)], dim=-2)


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


def _loop(n, body, state):
    """``state = body(state)`` ``n`` times (a tuple of tensors), as one ``while_loop`` node."""
    def step(i, *values):
        return (i + 1, *body(*values))
    start = torch.zeros((), dtype=torch.int64)
    return torch.while_loop(lambda i, *values: i < n, step, (start, *state))[1:]


def _round_robin(q):
    """Slot permutation of a parallel (round-robin) Jacobi ordering of ``q`` (even) columns."""
    circle = list(range(q))
    slots = [circle[i // 2] if i % 2 == 0 else circle[q - 1 - i // 2] for i in range(q)]
    circle = [circle[0], circle[-1], *circle[1:-1]]
    moved = [circle[i // 2] if i % 2 == 0 else circle[q - 1 - i // 2] for i in range(q)]
    return [slots.index(c) for c in moved]


def jacobi_eigenvectors(Cr, Ci=None, n_sweeps=JACOBI_SWEEPS):
    r"""Eigenvalues and eigenvectors of Hermitian positive semi-definite ``C = Cr + i Ci``.

    One-sided (Hestenes) Jacobi on the columns of ``C``: pairs of columns are
    rotated (a complex pair first turned to a real inner product) until they
    are orthogonal, :math:`C V = U \Sigma`; for a positive semi-definite ``C``
    the column norms are its eigenvalues and ``V`` its eigenvectors. The pairs
    of a round are disjoint and rotated at once (round-robin order, ``M - 1``
    rounds a sweep, an odd ``M`` padded by a zero column), ``n_sweeps`` sweeps
    in one ``while_loop``: only real products and elementwise operations.

    Parameters
    ----------
    Cr, Ci : tensor of shape (..., M, M)
        Real and imaginary parts (``Ci=None``: a real symmetric ``C``).
    n_sweeps : int, default=JACOBI_SWEEPS

    Returns
    -------
    values : tensor of shape (..., M + M % 2)
        Unordered (an odd ``M``: one more, zero, with a zero vector).
    Vr, Vi : tensor of shape (..., M, M + M % 2)
        The eigenvectors (columns, in the order of ``values``); ``Vi`` None for real ``C``.

    Examples
    --------
    >>> import torch
    >>> from skunfold.beamforming.linalg import jacobi_eigenvectors
    >>> A = torch.randn(2, 6, 6, dtype=torch.complex128)
    >>> C = A.mH @ A
    >>> values, Vr, Vi = jacobi_eigenvectors(C.real, C.imag)
    >>> bool(torch.allclose(values.sort(-1).values, torch.linalg.eigvalsh(C)))
    True
    >>> V = torch.complex(Vr, Vi)
    >>> bool(torch.allclose(C @ V, V * values.unsqueeze(-2).to(V.dtype)))
    True
    """
    M = Cr.shape[-1]
    size = M + M % 2
    if size != M:
        Cr = torch.cat([Cr, torch.zeros_like(Cr[..., :1])], dim=-1)
        Ci = None if Ci is None else torch.cat([Ci, torch.zeros_like(Ci[..., :1])], dim=-1)
    eye = torch.eye(size, M, dtype=Cr.dtype, device=Cr.device).mT.expand(*Cr.shape[:-2], M, size)
    # the matrix on top of the rotated identity (padded): both rotated together
    Wr = torch.cat([Cr, eye], dim=-2)
    state = (Wr,) if Ci is None else (Wr, torch.cat([Ci, torch.zeros_like(eye)], dim=-2))
    order = torch.as_tensor(_round_robin(size), device=Cr.device)

    def rotate(*W):
        a = [w[..., 0::2] for w in W]
        b = [w[..., 1::2] for w in W]
        ta, tb = [w[..., :M, :] for w in a], [w[..., :M, :] for w in b]
        alpha = sum((t * t).sum(-2) for t in ta)
        beta = sum((t * t).sum(-2) for t in tb)
        if len(W) == 1:
            g = (ta[0] * tb[0]).sum(-2)
        else:  # a^H b = g e^{i theta}: b turned by e^{-i theta} has a real inner product g
            gr = (ta[0] * tb[0] + ta[1] * tb[1]).sum(-2)
            gi = (ta[0] * tb[1] - ta[1] * tb[0]).sum(-2)
            g = torch.sqrt(gr * gr + gi * gi)
            safe = torch.where(g > 0, g, 1.0)
            cos = torch.where(g > 0, gr / safe, 1.0).unsqueeze(-2)
            sin = (gi / safe).unsqueeze(-2)
            b = [b[0] * cos + b[1] * sin, b[1] * cos - b[0] * sin]
        # tan of the rotation making a and b orthogonal (the smaller root; 0 when g = 0)
        d = beta - alpha
        den = d.abs() + torch.sqrt(d * d + 4.0 * g * g)
        t = 2.0 * g / torch.where(den > 0, den, 1.0)
        t = torch.where(d >= 0, t, -t)
        c = torch.rsqrt(1.0 + t * t).unsqueeze(-2)
        s = c * t.unsqueeze(-2)
        return tuple(torch.stack([c * p - s * q, s * p + c * q], dim=-1).flatten(-2)
                     .index_select(-1, order) for p, q in zip(a, b))

    W = _loop(n_sweeps * (size - 1), rotate, state)
    values = sum((w[..., :M, :] * w[..., :M, :]).sum(-2) for w in W).sqrt()
    V = [w[..., M:, :] for w in W]
    return values, V[0], (V[1] if len(V) > 1 else None)


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


def dominant_eigenvectors(Cr, Ci, k):
    """The ``k`` leading eigenvectors of Hermitian ``Cr + i Ci``, first entries real positive.

    ``torch.linalg.eigh`` in Python, :func:`jacobi_eigenvectors` while traced
    (``torch.export``, ONNX): the same vectors to round-off where the leading
    ``k + 1`` eigenvalues are distinct.

    Returns
    -------
    Vr, Vi : tensor of shape (..., M, k)
        ``Vi`` None for real ``C``.

    Examples
    --------
    >>> import torch
    >>> from skunfold.beamforming.linalg import dominant_eigenvectors, jacobi_eigenvectors
    >>> A = torch.randn(4, 6, dtype=torch.complex128)
    >>> C = A.mH @ A
    >>> Vr, Vi = dominant_eigenvectors(C.real, C.imag, 2)
    >>> Vr.shape, bool((Vi[0] == 0).all()), bool((Vr[0] > 0).all())
    (torch.Size([6, 2]), True, True)
    """
    if tracing():
        values, Vr, Vi = jacobi_eigenvectors(Cr, Ci)
        index = torch.topk(values, k, dim=-1).indices.unsqueeze(-2)
        Vr = torch.gather(Vr, -1, index.expand(*Vr.shape[:-1], k))
        Vi = None if Vi is None else torch.gather(Vi, -1, index.expand(*Vi.shape[:-1], k))
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
