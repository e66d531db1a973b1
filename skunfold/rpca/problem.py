"""Robust PCA ``X = L R^T + Psi Y`` as a :class:`~skunfold.core.Problem`.

Shapes throughout: a batch of observations ``x`` has shape ``(batch, n1, n2)``
(every sample is a matrix), the factors ``L`` and ``R`` have shapes
``(batch, n1, r)`` and ``(batch, n2, r)``, the sparse part ``Y`` has the shape
of ``x``, and the sparsifying transform ``Psi`` has shape ``(n1, n1)`` and
acts on the columns: ``X = L R^T + Psi Y``.

Every threshold is *relative*: the threshold applied to an instance is the
stored value times the root-mean-square of that instance's entries,
``rms(X) = ||X||_F / sqrt(n1 n2)``. For LRPCA's generator ``rms(X)`` is
proportional to ``sqrt(r) / n``, so this plays the role of LRPCA's rescaling of
its thresholds for other sizes, and it also makes every model invariant to the
amplitude of the data.
"""

import functools

import numpy as np
import torch

from ..core import Problem, soft_threshold

__all__ = [
    "RobustPCAProblem",
    "instance_scale",
    "truncated_svd",
    "factor_update",
    "scaled_steps",
    "clipped_residual_products",
    "balanced_factors",
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
    if A.stride(-1) != 1 and A.stride(-2) == 1:  # A = M^T of a row-major M
        return (B.mT @ A.mT).mT
    return A @ B


def _needs_grad(*tensors):
    """Whether autograd records operations on any of ``tensors`` (floats never)."""
    return torch.is_grad_enabled() and any(
        torch.is_tensor(t) and t.requires_grad for t in tensors)


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


def _clip(x, theta):
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


def truncated_svd(M, rank, n_oversamples=10, n_iter=2):
    """Rank-``rank`` SVD of a batch of matrices by a randomized range finder.

    Halko, Martinsson and Tropp's subspace iteration with ``n_iter`` power
    iterations and ``n_oversamples`` extra directions; costs
    ``O(n1 n2 (rank + n_oversamples) n_iter)`` instead of the ``O(n1 n2 min(n1, n2))``
    of a full SVD. The Gaussian test matrix is drawn from a fixed seed, so the
    result is deterministic, and the computation is differentiable.

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
    omega = _test_matrix(n2, q).to(M.dtype).to(M.device)
    Q = torch.linalg.qr(_times_thin(M, omega)).Q
    for _ in range(n_iter):
        Q = torch.linalg.qr(_times_thin(M.mT, Q)).Q
        Q = torch.linalg.qr(_times_thin(M, Q)).Q
    # the SVD of the small Q^T M, taken of its tall transpose M^T Q = V S Ub^T (LAPACK is
    # several times faster on a tall matrix than on a wide one)
    V, S, Ubh = torch.linalg.svd(_times_thin(M.mT, Q), full_matrices=False)
    return Q @ Ubh[..., :rank, :].mT, S[..., :rank], V[..., :rank]


@functools.lru_cache(maxsize=16)
def _test_matrix(n2, q):
    """The Gaussian test matrix of :func:`truncated_svd` (seed 0, float64; cached, read-only)."""
    gen = torch.Generator().manual_seed(0)
    return torch.randn(n2, q, generator=gen, dtype=torch.float64)


def _gram_inverses(R, L):
    """``(R^T R)^{-1}`` and ``(L^T L)^{-1}``, with a negligible ridge for rank-deficient factors.

    The ridge is ``eps trace / r + tiny``; both are inverted in one batched call
    (the ``r x r`` work is negligible, the number of small operations is not).
    """
    grams = torch.stack([R.mT @ R, L.mT @ L])
    r = grams.shape[-1]
    finfo = torch.finfo(grams.dtype)
    trace = torch.diagonal(grams, dim1=-2, dim2=-1).sum(-1, keepdim=True)
    ridge = trace * (finfo.eps / r) + finfo.tiny
    inverses = torch.linalg.inv(grams + torch.diag_embed(ridge.expand(*ridge.shape[:-1], r)))
    return inverses[0], inverses[1]


def factor_update(L, R, G_L, G_R, eta_L, eta_R):
    """The scaled gradient steps (26)-(27) of the factors.

    ``L' = L + eta_L G_L R (R^T R)^{-1}`` and ``R' = R + eta_R G_R^T L (L^T L)^{-1}``,
    both from the old ``L, R`` (as in LRPCA); ``-G R`` is the gradient of
    ``1/2 ||L R^T + Psi Y - X||_F^2`` with respect to ``L`` when
    ``G = X - L R^T - Psi Y``. Costs ``O(n1 n2 r)``.
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
    """Factors ``L = U S^1/2``, ``R = V S^1/2`` of the rank-``rank`` truncated SVD of ``M``.

    A ``rank`` of at least ``min(n1, n2)`` factors ``M`` exactly: the SVD is
    then computed without gradient and the factor on the long side is
    ``M^T U S^-1/2`` (or ``M V S^-1/2``), so the gradient reaches ``M``
    linearly, not through the SVD's, which is unbounded when singular values
    are close (as the smallest of a full-rank matrix often are). The scaled
    gradient steps do not depend on which factorisation of ``L R^T`` they start from.
    """
    n1, n2 = M.shape[-2:]
    if rank < min(n1, n2):
        U, S, V = truncated_svd(M, rank)
        root = torch.sqrt(S)[..., None, :]
        return U * root, V * root
    with torch.no_grad():
        U, S, Vh = torch.linalg.svd(M, full_matrices=False)
        root = torch.clamp(torch.sqrt(S), min=torch.finfo(M.dtype).tiny)[..., None, :]
    if n1 <= n2:
        return U * root, _times_thin(M.mT, U / root)
    V = Vh.mT
    return _times_thin(M, V / root), V * root


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
    E = x if L is None else torch.baddbmm(x, L, R.mT, alpha=-1.0)
    return soft_threshold(E, theta)


def _blocked_readout(L, R, x, L0, R0, theta):
    """:meth:`RobustPCAProblem.readout` of an inference state of large instances.

    Writes ``L R^T`` and ``Y = T_theta(x - L0 R0^T)`` (``T_theta(x)`` when
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


class RobustPCAProblem(Problem):
    """Robust PCA ``min 1/2 ||L R^T + Psi Y - X||_F^2 + lambda ||Y||_1`` (eqs. 22-27 of the survey).

    The classical solver alternates a soft-thresholding step on the sparse
    part and scaled gradient steps on the rank-``r`` factors:
    ``Y <- T_zeta_k(Psi^{-1}(X - L R^T))``, ``G = X - L R^T - Psi Y``,
    ``L <- L + eta_L G R (R^T R)^{-1}``, ``R <- R + eta_R G^T L (L^T L)^{-1}``,
    with relative thresholds ``zeta_k = c rho^k`` (times ``rms(X)``).

    The state is ``(L, R, Y, scale, lazy)``: with ``Psi = I`` a step leaves
    ``Y = None`` and a ``lazy`` description of ``Y``, formed only by a readout
    (see :func:`sparse_part`): ``(E, G)`` under autograd, ``(x, L, R, theta)``
    in inference, where the step is LRPCA's layer computed in row blocks that
    stay in cache (:func:`clipped_residual_products`: one pass over ``X``, no
    ``n1 x n2`` temporary). The initial state
    thresholds ``Psi^{-1} X`` with ``zeta_0`` (the initial hyperparameter
    ``init_threshold``, learned by every unfolded paradigm) and factors the
    rank-``r`` truncated SVD of the rest, ``L = U S^1/2``, ``R = V S^1/2``.
    :meth:`readout` stacks the low-rank part ``L R^T`` (channel 0) and the
    sparse part ``Y`` (channel 1), shape ``(batch, 2, n1, n2)``; the
    supervised :meth:`loss` is the relative Frobenius error of channel 0.

    Hyperparameters: ``step_L`` and ``step_R`` (``eta_L, eta_R``, learned
    unconstrained, as LRPCA's) and ``threshold`` (``zeta_k``, learned through
    its logarithm: thresholds span orders of magnitude over the layers).

    Parameters
    ----------
    rank : int
        Rank ``r`` of the factors; clipped to ``min(n1, n2)`` of every batch
        (see :func:`balanced_factors`).
    step_size : float, default=0.5
        The classical ``eta_L = eta_R``.
    threshold : float, default=0.3
        Relative threshold ``c`` of the first iteration.
    threshold_decay : float, default=0.85
        Geometric decay ``rho`` of the threshold.
    init_threshold : float, default=3.0
        Relative threshold ``zeta_0`` of the initialisation.
    psi : ndarray of shape (n1, n1), optional
        The sparsifying transform (``None``: the identity, no matrix products).
        Its objective parameters are ``psi`` and its precomputed inverse
        ``psi_inv``.
    alpha : float, default=0.05
        Relative l1 weight of the objective, ``lambda = alpha rms(X)``.
    n_channels : int, default=8
        Hidden channels of the correction CNN (paradigm ``"correction"``).
    kernel_size : int, optional
        Kernel size of the CNNs (``None``: 3 for the correction CNN, 1 for
        the ``"dnn"`` transform networks).

    Examples
    --------
    >>> import torch
    >>> from skunfold.datasets import make_rpca
    >>> from skunfold.rpca import RobustPCAProblem
    >>> X, L, S = make_rpca(n_instances=2, shape=(40, 30), rank=2, random_state=0)
    >>> problem = RobustPCAProblem(rank=2)
    >>> x = torch.as_tensor(X)
    >>> state = problem.initial_state(x, **problem.initial_hyperparameters)
    >>> for k in range(60):
    ...     state = problem.step(state, x, **problem.layer_hyperparameters(k),
    ...                          **problem.objective_parameters)
    >>> problem.readout(state).shape  # low-rank and sparse parts
    torch.Size([2, 2, 40, 30])
    >>> bool(problem.loss(problem.readout(state), torch.as_tensor(L)).max() < 1e-4)
    True
    """

    hyperparameter_constraints = {"step_L": "real", "step_R": "real", "threshold": "positive",
                                  "init_threshold": "positive"}

    def __init__(self, rank, step_size=0.5, threshold=0.3, threshold_decay=0.85,
                 init_threshold=3.0, psi=None, alpha=0.05, n_channels=8, kernel_size=None):
        self.rank = int(rank)
        self.step_size = float(step_size)
        self.threshold = float(threshold)
        self.threshold_decay = float(threshold_decay)
        self.alpha = float(alpha)
        self.n_channels = int(n_channels)
        self.kernel_size = kernel_size
        self.initial_hyperparameters = {"init_threshold": float(init_threshold)}
        self.hyperparameters = self.layer_hyperparameters(0)
        if psi is None:
            self.objective_parameters = {}
        else:
            psi = np.asarray(psi, dtype=np.float64)
            self.objective_parameters = {"psi": torch.as_tensor(psi),
                                         "psi_inv": torch.as_tensor(np.linalg.inv(psi))}

    # -- the given transform -------------------------------------------------------------
    @property
    def psi(self):
        """The given transform as a tensor (``None``: the identity)."""
        return self.objective_parameters.get("psi")

    def psi_apply(self, Y):
        """``Psi Y`` with the given transform."""
        psi = self.psi
        return Y if psi is None else psi @ Y

    def psi_solve(self, E):
        """``Psi^{-1} E`` with the given transform."""
        psi_inv = self.objective_parameters.get("psi_inv")
        return E if psi_inv is None else psi_inv @ E

    # -- the solver ----------------------------------------------------------------------
    def layer_hyperparameters(self, k):
        """``eta_L = eta_R = step_size`` and ``zeta_k = threshold * threshold_decay**k``."""
        return {"step_L": self.step_size, "step_R": self.step_size,
                "threshold": self.threshold * self.threshold_decay ** k}

    def initial_state(self, x, init_threshold):
        scale = instance_scale(x)
        theta = init_threshold * scale
        if self.psi is None and not _needs_grad(x, theta):
            # X - T(X) = clip(X) in one pass; Y = T(X) is formed only by a readout
            L, R = balanced_factors(_clip(x, theta), self.rank)
            return (L, R, None, scale, (x, None, None, theta))
        Y = soft_threshold(self.psi_solve(x), theta)
        L, R = balanced_factors(x - self.psi_apply(Y), self.rank)
        return (L, R, Y, scale, None)

    def step(self, state, x, step_L, step_R, threshold, psi=None, psi_inv=None, *,
             analysis=None, synthesis=None, correction=None):
        """One iteration: sparse update (25), then scaled gradient steps (26)-(27).

        ``psi`` and ``psi_inv`` are the objective parameters (``None``: the
        identity; a ``psi`` without ``psi_inv`` is inverted by a linear
        solve). The family's layers may pass ``analysis`` and ``synthesis``
        networks in place of ``Psi^{-1}`` and ``Psi``, and a ``correction``
        network ``(L R^T, Psi Y, X, scale, G) -> (C_L, C_R)`` added to the
        residual of the ``L`` and ``R`` steps.
        """
        L, R, _, scale, _ = state
        theta = threshold * scale
        if (psi is None and analysis is None and correction is None
                and not _needs_grad(x, L, R, theta, step_L, step_R)):
            # inference: G R and G^T L without forming G (blocked, cache-resident); Y is
            # recomputed from (x, L, R, theta) when a readout asks for it
            GR, GtL = clipped_residual_products(x, L, R, theta)
            L_new, R_new = scaled_steps(L, R, GR, GtL, step_L, step_R)
            return (L_new, R_new, None, scale, (x, L, R, theta))
        E = torch.baddbmm(x, L, R.mT, alpha=-1.0)  # X - L R^T in one pass
        if psi is None and analysis is None:
            # Psi = I: G = E - T(E) is the clipped residual; Y = E - G is formed only when
            # a readout (or the correction network) asks for it
            G = torch.maximum(torch.minimum(E, theta), -theta)
            Y, lazy = None, (E, G)
            P = E - G if correction is not None else None
        else:
            if analysis is not None:
                Z = analysis(E)
            elif psi_inv is not None:
                Z = psi_inv @ E
            else:
                Z = torch.linalg.solve(psi, E)
            Y = soft_threshold(Z, theta)
            P = synthesis(Y) if synthesis is not None else psi @ Y
            G = E - P
            lazy = None
        G_L = G_R = G
        if correction is not None:
            C = correction(x - E, P, x, scale, G)
            G_L, G_R = G + C[:, 0], G + C[:, 1]
        L, R = factor_update(L, R, G_L, G_R, step_L, step_R)
        return (L, R, Y, scale, lazy)

    def readout(self, state):
        L, R, Y, lazy = state[0], state[1], state[2], state[4]
        if (Y is None and len(lazy) == 4 and L.shape[-2] * R.shape[-2] >= BLOCKED_MIN_ENTRIES
                and not _needs_grad(L, R)):
            return _blocked_readout(L, R, *lazy)
        return torch.stack([L @ R.mT, sparse_part(state)], dim=1)

    def objective(self, estimate, x):
        """Objective (24) of each instance, divided by ``||X||_F^2``.

        ``(1/2 ||L R^T + Psi Y - X||_F^2 + lambda ||Y||_1) / ||X||_F^2`` with
        ``lambda = alpha rms(X)``, evaluated at the readout ``(L R^T, Y)``;
        the division makes instances of every amplitude weigh alike.
        """
        V, Y = estimate[:, 0], estimate[:, 1]
        resid = V + self.psi_apply(Y) - x
        scale = instance_scale(x)[:, 0, 0]
        n_entries = x.shape[-2] * x.shape[-1]
        value = 0.5 * (resid * resid).sum((-2, -1)) + self.alpha * scale * Y.abs().sum((-2, -1))
        return value / (scale * scale * n_entries)

    def loss(self, estimate, target):
        """Relative Frobenius error ``||L R^T - X*||_F / ||X*||_F`` of each instance."""
        V = estimate[:, 0]
        diff = (V - target).flatten(1)
        ref = target.flatten(1)
        tiny = torch.finfo(V.dtype).tiny
        num = torch.sqrt((diff * diff).sum(1) + tiny)
        den = torch.clamp(torch.sqrt((ref * ref).sum(1)), min=tiny)
        return num / den

    def make_layers(self, paradigm, n_layers, *, tied, hidden_layer_sizes, sample):
        """The family's layers of the ``"objective"``, ``"correction"`` and ``"dnn"`` paradigms."""
        from .iterations import rpca_layers

        if paradigm not in ("objective", "correction", "dnn"):
            return None  # the core's generic layers
        if sample is None and self.psi is None:
            raise ValueError(f"paradigm={paradigm!r} needs a sample batch to size its layers")
        n_rows = self.psi.shape[0] if self.psi is not None else sample[0].shape[-2]
        return rpca_layers(self, paradigm, n_layers, n_rows)
