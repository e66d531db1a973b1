"""Iteration modules of the robust-PCA family, one per paradigm.

Shapes throughout: a batch of observations ``x`` has shape ``(batch, n1, n2)``,
the factors ``L`` and ``R`` have shapes ``(batch, n1, r)`` and
``(batch, n2, r)``, the sparse part ``Y`` has the shape of ``x``, and the
sparsifying transform ``Psi`` has shape ``(n1, n1)`` and acts on the columns:
``X = L R^T + Psi Y``.

Every threshold is *relative*: the threshold applied to an instance is the
stored value times the root-mean-square of that instance's entries,
``rms(X) = ||X||_F / sqrt(n1 n2)``. For LRPCA's generator ``rms(X)`` is
proportional to ``sqrt(r) / n``, so this plays the role of LRPCA's rescaling of
its thresholds for other sizes, and it also makes every model invariant to the
amplitude of the data.
"""

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..core import UnfoldedModule

__all__ = [
    "soft_threshold",
    "instance_scale",
    "truncated_svd",
    "factor_update",
    "RPCAUnfolded",
    "ClassicalStep",
    "HyperparameterStep",
    "ObjectiveStep",
    "CorrectionStep",
    "DNNStep",
    "RelativeFrobeniusLoss",
]


def soft_threshold(z, theta):
    """Soft thresholding ``sign(z) max(|z| - theta, 0)`` (the prox of the l1 norm).

    Computed as ``z - clip(z, -theta, theta)`` (``theta`` a tensor: two
    broadcasting passes are faster than ``clamp`` with tensor bounds); it may
    broadcast against ``z`` (e.g. one threshold per instance).
    """
    return z - torch.maximum(torch.minimum(z, theta), -theta)


def instance_scale(x):
    """Root-mean-square of the entries of each instance, shape ``(batch, 1, 1)``."""
    rms = torch.sqrt(torch.mean(x * x, dim=(-2, -1), keepdim=True))
    return torch.clamp(rms, min=torch.finfo(x.dtype).tiny)


def _times_thin(A, B):
    """``A @ B`` for a large ``A`` and a thin ``B``, computed as ``(B^T A^T)^T``.

    CPU BLAS is several times faster with the thin factor on the left (a
    ``1000 x 1000`` by ``1000 x 5`` product: 1.3 ms as ``A @ B``, 0.25 ms as
    ``(B^T A^T)^T`` on one core).
    """
    return (B.mT @ A.mT).mT


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
        Number of singular triplets kept.
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
    """
    n1, n2 = M.shape[-2:]
    q = min(rank + n_oversamples, n1, n2)
    gen = torch.Generator().manual_seed(0)
    omega = torch.randn(n2, q, generator=gen, dtype=torch.float64).to(M.dtype).to(M.device)
    Q = torch.linalg.qr(_times_thin(M, omega)).Q
    for _ in range(n_iter):
        Q = torch.linalg.qr(_times_thin(M.mT, Q)).Q
        Q = torch.linalg.qr(_times_thin(M, Q)).Q
    Ub, S, Vh = torch.linalg.svd(Q.mT @ M, full_matrices=False)
    return Q @ Ub[..., :rank], S[..., :rank], Vh[..., :rank, :].mT


def _precondition(A, F):
    """``A (F^T F)^{-1}`` for batches, with a negligible ridge for rank-deficient ``F``."""
    FtF = F.mT @ F
    r = FtF.shape[-1]
    eye = torch.eye(r, dtype=F.dtype, device=F.device)
    trace = torch.diagonal(FtF, dim1=-2, dim2=-1).sum(-1)[..., None, None]
    ridge = torch.finfo(F.dtype).eps * trace / r + torch.finfo(F.dtype).tiny
    return torch.linalg.solve(FtF + ridge * eye, A.mT).mT


def factor_update(L, R, G_L, G_R, eta_L, eta_R):
    """The scaled gradient steps (26)-(27) of the factors.

    ``L' = L + eta_L G_L R (R^T R)^{-1}`` and ``R' = R + eta_R G_R^T L (L^T L)^{-1}``,
    both from the old ``L, R`` (as in LRPCA); ``-G R`` is the gradient of
    ``1/2 ||L R^T + Psi Y - X||_F^2`` with respect to ``L`` when
    ``G = X - L R^T - Psi Y``. Costs ``O(n1 n2 r)``.
    """
    L_new = L + eta_L * _precondition(_times_thin(G_L, R), R)
    R_new = R + eta_R * _precondition(_times_thin(G_R.mT, L), L)
    return L_new, R_new


def _log_param(value):
    return nn.Parameter(torch.tensor(math.log(float(value)), dtype=torch.float64))


class _RPCAStep(nn.Module):
    """One layer: sparse update (25), then scaled gradient steps (26)-(27).

    ``Y <- T_zeta(Psi^{-1}(X - L R^T))``, ``G = X - L R^T - Psi Y``,
    ``L, R <- L + eta_L G R (R^T R)^{-1}, R + eta_R G^T L (L^T L)^{-1}``.
    Subclasses choose where the threshold and step sizes come from and may
    replace ``Psi`` (:meth:`analysis`, :meth:`synthesis`) or correct ``G``
    (:meth:`corrected`).
    """

    def forward(self, state, x, k, net):
        L, R, _, scale, _ = state
        E = torch.baddbmm(x, L, R.mT, alpha=-1.0)  # X - L R^T in one pass
        theta = self.threshold(k) * scale
        if net.psi is None and self._uses_given_psi():
            # Psi = I: G = E - T(E) is the clipped residual (LRPCA's layer, fewest passes);
            # Y = E - G is formed only when a readout asks for it
            G = torch.maximum(torch.minimum(E, theta), -theta)
            Y, lazy = None, (E, G)
            P = E - G if self._needs_sparse_part() else None
        else:
            Y = soft_threshold(self.analysis(E, net), theta)
            P = self.synthesis(Y, net)
            G = E - P
            lazy = None
        G_L, G_R = self.corrected(G, E, P, x, scale)
        eta_L, eta_R = self.step_sizes()
        L, R = factor_update(L, R, G_L, G_R, eta_L, eta_R)
        return (L, R, Y, scale, lazy)

    def _needs_sparse_part(self):
        return False

    @classmethod
    def _uses_given_psi(cls):
        return cls.analysis is _RPCAStep.analysis and cls.synthesis is _RPCAStep.synthesis

    def analysis(self, E, net):
        return net.psi_solve(E)

    def synthesis(self, Y, net):
        return net.psi_apply(Y)

    def corrected(self, G, E, P, x, scale):
        return G, G


class ClassicalStep(_RPCAStep):
    """The model-based iteration: fixed step ``eta`` and threshold ``zeta_k = c rho^k``.

    One module serves every layer (tied), so the solver runs at any depth.
    """

    def __init__(self, step_size, threshold, threshold_decay):
        super().__init__()
        self.register_buffer("step_size", torch.tensor(float(step_size), dtype=torch.float64))
        self.register_buffer("c", torch.tensor(float(threshold), dtype=torch.float64))
        self.register_buffer("rho", torch.tensor(float(threshold_decay), dtype=torch.float64))

    def threshold(self, k):
        return self.c * self.rho ** k

    def step_sizes(self):
        return self.step_size, self.step_size


class HyperparameterStep(_RPCAStep):
    """Learned ``{eta_L, eta_R, zeta}`` of one layer (LRPCA's parameters).

    The threshold is stored as its logarithm, so it stays positive and is
    learned multiplicatively (thresholds span several orders of magnitude
    across layers).
    """

    def __init__(self, step_size, threshold):
        super().__init__()
        self.log_threshold = _log_param(threshold)
        self.step_L = nn.Parameter(torch.tensor(float(step_size), dtype=torch.float64))
        self.step_R = nn.Parameter(torch.tensor(float(step_size), dtype=torch.float64))

    def threshold(self, k):
        return torch.exp(self.log_threshold)

    def step_sizes(self):
        return self.step_L, self.step_R


class ObjectiveStep(HyperparameterStep):
    """Hyperparameters plus a learned sparsifying transform ``Psi_k`` of the layer.

    ``Psi_k = Psi + delta_k / n1``, initialised at the given ``Psi`` (identity
    when none is given). The ``1 / n1`` factor gives the entries of ``Psi_k``
    updates of the size of their natural perturbations under a first-order
    optimiser. ``Psi_k^{-1}`` is applied by a linear solve.
    """

    offset_scale = 0.05

    def __init__(self, step_size, threshold, n_rows):
        super().__init__(step_size, threshold)
        self.n_rows = int(n_rows)
        self.delta = nn.Parameter(torch.zeros(self.n_rows, self.n_rows))

    def psi(self, net):
        base = net.psi if net.psi is not None else torch.eye(
            self.n_rows, dtype=self.delta.dtype, device=self.delta.device)
        return base + self.delta * (self.offset_scale / math.sqrt(self.n_rows))

    def analysis(self, E, net):
        return torch.linalg.solve(self.psi(net), E)

    def synthesis(self, Y, net):
        return self.psi(net) @ Y


class CorrectionNet(nn.Module):
    """Two-layer CNN ``Delta(L R^T, Psi Y, X)`` returning corrections of ``G`` for ``L`` and ``R``.

    The inputs are divided by the instance scale ``rms(X)``; the two output
    channels are multiplied by ``output_scale * rms(G)``, so the corrections
    shrink with the residual as the iteration converges. The last layer
    starts at zero: an untrained correction is exactly zero.
    """

    output_scale = 0.1

    def __init__(self, n_channels=8, kernel_size=3):
        super().__init__()
        pad = kernel_size // 2
        self.conv1 = nn.Conv2d(3, n_channels, kernel_size, padding=pad)
        self.conv2 = nn.Conv2d(n_channels, 2, kernel_size, padding=pad)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, V, P, x, scale, G):
        inputs = torch.stack([V, P, x], dim=1) / scale[:, None]
        out = self.conv2(torch.relu(self.conv1(inputs)))
        return out * (instance_scale(G)[:, None] * self.output_scale)


class CorrectionStep(HyperparameterStep):
    """Hyperparameters plus a learned CNN correction of the ``L`` and ``R`` gradient steps.

    ``L' = L + eta_L (G + C_L) R (R^T R)^{-1}``,
    ``R' = R + eta_R (G + C_R)^T L (L^T L)^{-1}`` with
    ``(C_L, C_R) = Delta_k(L R^T, Psi Y, X)``. The CNN is convolutional, so a
    trained model applies to matrices of any size.
    """

    def __init__(self, step_size, threshold, n_channels=8, kernel_size=3):
        super().__init__(step_size, threshold)
        self.correction = CorrectionNet(n_channels, kernel_size)

    def _needs_sparse_part(self):
        return True

    def corrected(self, G, E, P, x, scale):
        C = self.correction(x - E, P, x, scale, G)
        return G + C[:, 0], G + C[:, 1]


class OffsetConv1d(nn.Module):
    """Bias-free ``Conv1d`` whose kernel is ``weight0 + delta * offset_scale / in_channels``.

    A re-parametrisation of a convolution initialised at ``weight0`` (``delta``
    is learned from zero): the scale makes a first-order optimiser move the
    kernel by steps of the size of the entries of a dense ``n1 x n1``
    transform. Without a bias the network is positively homogeneous, like the
    linear map it starts from, so it does not depend on the amplitude of the data.
    """

    offset_scale = 0.05

    def __init__(self, weight0):
        super().__init__()
        weight0 = torch.as_tensor(weight0)
        self.register_buffer("weight0", weight0.clone())
        self.delta = nn.Parameter(torch.zeros_like(weight0))
        self.padding = weight0.shape[-1] // 2

    def forward(self, x):
        weight = self.weight0 + self.delta * (self.offset_scale / math.sqrt(self.weight0.shape[1]))
        return F.conv1d(x, weight, padding=self.padding)


def _linear_map_cnn(A, kernel_size):
    """Two-layer ReLU CNN over the columns computing exactly ``Z -> A Z`` at initialisation.

    The ``n1`` rows are the channels and the ``n2`` columns the positions:
    ``A Z = A relu(Z) - A relu(-Z)``, so the first layer has ``2 n1`` channels
    with kernel centre ``[I; -I]`` and the second the centre ``[A, -A]``; the
    other taps start at zero.
    """
    A = torch.as_tensor(A, dtype=torch.float32)
    n = A.shape[0]
    c = kernel_size // 2
    eye = torch.eye(n)
    w1 = torch.zeros(2 * n, n, kernel_size)
    w1[:, :, c] = torch.cat([eye, -eye], dim=0)
    w2 = torch.zeros(n, 2 * n, kernel_size)
    w2[:, :, c] = torch.cat([A, -A], dim=1)
    return nn.Sequential(OffsetConv1d(w1), nn.ReLU(), OffsetConv1d(w2))


class DNNStep(HyperparameterStep):
    """Hyperparameters with ``Psi`` and ``Psi^{-1}`` implemented by two-layer CNNs.

    The analysis network maps the residual ``X - L R^T`` to the pre-threshold
    sparse part, the synthesis network maps ``Y`` to ``Psi Y``. Both treat the
    ``n1`` rows as channels and convolve along the ``n2`` columns; they are
    initialised to compute the given ``Psi^{-1}`` and ``Psi`` exactly, so the
    given transform is used only through this initialisation.
    """

    def __init__(self, step_size, threshold, psi, psi_inv, kernel_size=1):
        super().__init__(step_size, threshold)
        self.analysis_net = _linear_map_cnn(psi_inv, kernel_size)
        self.synthesis_net = _linear_map_cnn(psi, kernel_size)

    def analysis(self, E, net):
        return self.analysis_net(E)

    def synthesis(self, Y, net):
        return self.synthesis_net(Y)


class RelativeFrobeniusLoss(nn.Module):
    """Mean over instances of ``||L R^T - X*||_F / ||X*||_F`` (the survey's supervised loss).

    ``estimate`` is a readout of :class:`RPCAUnfolded` (low-rank part in
    channel 0), ``target`` the low-rank ground truth.
    """

    def forward(self, estimate, target):
        V = estimate[:, 0]
        diff = (V - target).flatten(1)
        ref = target.flatten(1)
        num = torch.sqrt((diff * diff).sum(1) + torch.finfo(V.dtype).tiny)
        den = torch.clamp(torch.sqrt((ref * ref).sum(1)), min=torch.finfo(V.dtype).tiny)
        return (num / den).mean()


class RPCAUnfolded(UnfoldedModule):
    """Unfolded robust PCA ``X = L R^T + Psi Y`` (eqs. 22-27 of the survey).

    The state is ``(L, R, Y, scale, lazy)`` (with ``psi=None`` a layer leaves
    ``Y = None`` and ``lazy = (E, G)``, ``Y = E - G`` being formed only by a
    readout). The initial state thresholds
    ``Psi^{-1} X`` with ``zeta_0`` and factors the rank-``r`` truncated SVD of
    the rest, ``L = U S^1/2``, ``R = V S^1/2``; each layer then runs one
    iteration (:class:`ClassicalStep` or a learned step). :meth:`readout`
    stacks the low-rank part ``L R^T`` (channel 0) and the sparse part ``Y``
    (channel 1), shape ``(batch, 2, n1, n2)``.

    Parameters
    ----------
    iterations : list of modules or a single module (tied)
        One iteration module per layer (a single module: tied, any depth).
    n_layers : int
        Number of layers ``K``.
    rank : int
        Rank ``r`` of the factors.
    init_threshold : float
        Relative threshold ``zeta_0`` of the initialisation.
    psi : ndarray of shape (n1, n1) or None
        The sparsifying transform (``None``: identity, no matrix products).
    alpha : float
        Relative l1 weight of the objective (24), ``lambda = alpha rms(X)``.
    learn_init_threshold : bool
        Whether ``zeta_0`` is a trained parameter.
    dtype : torch.dtype
        Dtype of the parameters and buffers.
    """

    def __init__(self, iterations, n_layers, rank, init_threshold, psi=None, alpha=0.05,
                 learn_init_threshold=True, dtype=torch.float32):
        super().__init__(iterations, n_layers)
        self.rank = int(rank)
        self.alpha = float(alpha)
        log0 = torch.tensor(math.log(float(init_threshold)), dtype=torch.float64)
        if learn_init_threshold:
            self.log_init_threshold = nn.Parameter(log0)
        else:
            self.register_buffer("log_init_threshold", log0)
        if psi is None:
            self.register_buffer("psi", None)
            self.register_buffer("psi_inv", None)
        else:
            psi = np.asarray(psi, dtype=np.float64)
            self.register_buffer("psi", torch.as_tensor(psi))
            self.register_buffer("psi_inv", torch.as_tensor(np.linalg.inv(psi)))
        self.to(dtype)

    # -- the given transform ---------------------------------------------------------
    def psi_apply(self, Y):
        """``Psi Y`` with the given transform."""
        return Y if self.psi is None else self.psi @ Y

    def psi_solve(self, E):
        """``Psi^{-1} E`` with the given transform."""
        return E if self.psi_inv is None else self.psi_inv @ E

    # -- UnfoldedModule API ------------------------------------------------------------
    def step(self, k, state, x):
        return self.iteration(k)(state, x, k, self)

    def initial_state(self, x):
        scale = instance_scale(x)
        zeta0 = torch.exp(self.log_init_threshold) * scale
        Y = soft_threshold(self.psi_solve(x), zeta0)
        U, S, V = truncated_svd(x - self.psi_apply(Y), self.rank)
        root = torch.sqrt(S)[..., None, :]
        return (U * root, V * root, Y, scale, None)

    @staticmethod
    def sparse_part(state):
        """The sparse part ``Y`` of a state."""
        Y, lazy = state[2], state[4]
        if Y is None:
            E, G = lazy
            Y = E - G
        return Y

    def readout(self, state):
        L, R = state[0], state[1]
        return torch.stack([L @ R.mT, self.sparse_part(state)], dim=1)

    def final_state(self, x, n_layers=None):
        """The state after ``n_layers`` layers (0: the initialisation), without the readouts.

        The inference path of ``predict``: it costs one truncated SVD and
        ``O(n1 n2 r)`` per layer (with ``psi=None``).
        """
        n_layers = self.n_layers if n_layers is None else int(n_layers)
        if n_layers:
            self.check_depth(n_layers)
        state = self.initial_state(x)
        for k in range(n_layers):
            state = self.step(k, state, x)
        return state

    def objective(self, estimate, x):
        """Objective (24) of each instance, divided by ``||X||_F^2``.

        ``(1/2 ||L R^T + Psi Y - X||_F^2 + lambda ||Y||_1) / ||X||_F^2`` with
        ``lambda = alpha rms(X)``, evaluated at the iterate's ``(L R^T, Y)``;
        the division makes instances of every amplitude weigh alike.
        """
        V, Y = estimate[:, 0], estimate[:, 1]
        resid = V + self.psi_apply(Y) - x
        scale = instance_scale(x)[:, 0, 0]
        n_entries = x.shape[-2] * x.shape[-1]
        value = 0.5 * (resid * resid).sum((-2, -1)) + self.alpha * scale * Y.abs().sum((-2, -1))
        return value / (scale * scale * n_entries)

    def supervised_loss(self, estimate, target):
        diff = (estimate[:, 0] - target).flatten(1)
        return (diff * diff).sum(1)
