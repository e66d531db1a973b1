"""Iteration modules of the MIMO-detection family (soft interference cancellation).

Conventions: a batch of received vectors ``x`` has shape ``(batch, F)`` (real
features, see :mod:`skunfold.mimo._constellations`); the state of every
iteration is the per-user log-posterior over the constellation, shape
``(batch, U, M)``; the real channel ``G`` has shape ``(F, U d)`` and the real
points ``P`` shape ``(M, d)``.
"""

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..core import UnfoldedModule

__all__ = [
    "soft_ic_loglik",
    "MIMOUnfolded",
    "SoftICLayer",
    "UserNet",
    "DeepSICLayer",
    "UserCrossEntropy",
]


def soft_ic_loglik(logp, x, A, P, noise_f, noise_scale=None):
    """One soft interference cancellation step (Choi, Cheong, Cioffi 2000).

    For every user ``u`` the interference of the other users is replaced by its
    mean under the current soft estimates and subtracted from ``x``; what is
    left is modelled as Gaussian with the covariance of the residual
    interference plus the noise, giving the likelihood of each candidate
    symbol.

    Parameters
    ----------
    logp : tensor of shape (batch, U, M)
        Current log-posteriors.
    x : tensor of shape (batch, F)
    A : tensor of shape (U, F, d)
        Per-user blocks of the real channel.
    P : tensor of shape (M, d)
        Real constellation points.
    noise_f : tensor (scalar)
        Noise variance of each real feature.
    noise_scale : tensor of shape (U,), optional
        Multiplies the noise variance seen by each user.

    Returns
    -------
    loglik : tensor of shape (batch, U, M)
        Log-likelihoods (up to a per-user constant).
    """
    p = logp.exp()
    mean = p @ P                                        # (B, U, d)
    second = torch.einsum("bum,mi,mj->buij", p, P, P)   # (B, U, d, d)
    cov = second - mean.unsqueeze(-1) * mean.unsqueeze(-2)
    n_feat = x.shape[-1]
    total_mean = torch.einsum("ufd,bud->bf", A, mean)   # (B, F)
    own = torch.einsum("ufi,buij,ugj->bufg", A, cov, A)  # (B, U, F, F)
    interference = own.sum(dim=1, keepdim=True) - own   # (B, U, F, F)
    eye = torch.eye(n_feat, dtype=x.dtype, device=x.device)
    noise = noise_f if noise_scale is None else noise_f * noise_scale.view(1, -1, 1, 1)
    sigma = interference + noise * eye
    resid = (x - total_mean).unsqueeze(1) + torch.einsum("ufd,bud->buf", A, mean)  # (B, U, F)
    rhs = torch.cat([A.unsqueeze(0).expand(x.shape[0], -1, -1, -1), resid.unsqueeze(-1)], dim=-1)
    sol = torch.linalg.solve(sigma, rhs)                # (B, U, F, d+1)
    d = A.shape[-1]
    q = torch.einsum("ufd,buf->bud", A, sol[..., d])     # A^T S^-1 r
    Q = torch.einsum("ufi,bufj->buij", A, sol[..., :d])  # A^T S^-1 A
    return q @ P.T - 0.5 * torch.einsum("mi,buij,mj->bum", P, Q, P)


class SoftICLayer(nn.Module):
    """Iterative soft IC, classical or with learned per-layer hyperparameters.

    With ``learn=True`` (``paradigm="hyperparameters"``) each layer learns a
    per-user noise-variance inflation ``exp(gamma_u)`` and a damping
    ``beta`` mixing the new posteriors with the previous ones; both start at
    the classical values (``gamma = 0``, ``beta ~ 0``).
    """

    def __init__(self, n_users, learn=False):
        super().__init__()
        self.learn = bool(learn)
        if self.learn:
            self.log_noise_scale = nn.Parameter(torch.zeros(n_users))
            self.damping_logit = nn.Parameter(torch.tensor(-5.0))

    def forward(self, logp, x, k, net):
        scale = self.log_noise_scale.exp() if self.learn else None
        new = F.log_softmax(soft_ic_loglik(logp, x, net.A, net.P, net.noise_f, scale), dim=-1)
        if not self.learn:
            return new
        beta = 0.95 * torch.sigmoid(self.damping_logit)
        return torch.logaddexp(torch.log1p(-beta) + new, torch.log(beta) + logp)


class UserNet(nn.Module):
    """One user's network: ``[x, soft estimates of the other users] -> logits`` (an MLP)."""

    def __init__(self, n_inputs, hidden_layer_sizes, n_classes, zero_last=False):
        super().__init__()
        sizes = [n_inputs, *hidden_layer_sizes, n_classes]
        layers = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        layers.pop()
        self.mlp = nn.Sequential(*layers)
        if zero_last:
            nn.init.zeros_(self.mlp[-1].weight)
            nn.init.zeros_(self.mlp[-1].bias)

    def forward(self, z):
        return self.mlp(z)


class DeepSICLayer(nn.Module):
    """One DeepSIC iteration: a :class:`UserNet` per user (``nets[u]``).

    User ``u``'s network sees ``x`` and the posteriors of the other users from
    the previous layer (``M - 1`` probabilities each, the first dropped since
    they sum to one) and outputs the logits of user ``u``'s symbol. With
    ``correction=True`` (``paradigm="correction"``) the output is added to the
    soft-IC log-likelihoods (the network starts at zero, so the untrained layer
    is soft IC).
    """

    def __init__(self, n_features, n_users, n_classes, hidden_layer_sizes, correction=False):
        super().__init__()
        n_in = n_features + (n_users - 1) * (n_classes - 1)
        self.correction = bool(correction)
        self.nets = nn.ModuleList([
            UserNet(n_in, hidden_layer_sizes, n_classes, zero_last=correction)
            for _ in range(n_users)
        ])

    def forward(self, logp, x, k, net):
        B, U = x.shape[0], len(self.nets)
        p = logp.exp()[..., 1:]                        # (B, U, M-1)
        others = p[:, net.others].reshape(B, U, -1)    # (B, U, (U-1)(M-1))
        z = torch.cat([x.unsqueeze(0).expand(U, -1, -1), others.transpose(0, 1)], dim=-1)
        # all users' networks at once: their weights stacked into batched matmuls
        layers = [net_u.mlp for net_u in self.nets]
        n_linear = (len(layers[0]) + 1) // 2
        h = z
        for i in range(n_linear):
            W = torch.stack([mlp[2 * i].weight for mlp in layers])   # (U, out, in)
            b = torch.stack([mlp[2 * i].bias for mlp in layers])     # (U, out)
            h = torch.baddbmm(b.unsqueeze(1), h, W.transpose(1, 2))
            if i < n_linear - 1:
                h = torch.relu(h)
        logits = h.transpose(0, 1)                     # (B, U, M)
        if self.correction:
            logits = logits + soft_ic_loglik(logp, x, net.A, net.P, net.noise_f)
        return F.log_softmax(logits, dim=-1)


class MIMOUnfolded(UnfoldedModule):
    """Unfolded soft interference cancellation (soft IC, DeepSIC and hybrids).

    The state is the per-user log-posterior ``log p_u^(k)`` (shape
    ``(batch, U, M)``), uniform before the first layer; :meth:`readout`
    returns it, so every iterate is a set of per-user posteriors.

    Parameters
    ----------
    iterations : list of modules or a single module (tied)
    n_layers : int
    n_users : int
    n_classes : int
    channel : ndarray of shape (F, U d), optional
        Real channel ``G`` (model-based and hybrid layers).
    points : ndarray of shape (M, d), optional
        Real constellation points.
    noise_var : float, optional
        Noise variance of each real feature.
    dtype : torch.dtype
    """

    def __init__(self, iterations, n_layers, n_users, n_classes, channel=None, points=None,
                 noise_var=None, dtype=torch.float32):
        super().__init__(iterations, n_layers)
        self.n_users = int(n_users)
        self.n_classes = int(n_classes)
        others = [[j for j in range(n_users) if j != u] for u in range(n_users)]
        self.register_buffer("others", torch.as_tensor(np.array(others, dtype=np.int64)
                                                       .reshape(n_users, n_users - 1)))
        if channel is not None:
            self.register_buffer("A", torch.as_tensor(self._blocks(channel), dtype=dtype))
            self.register_buffer("P", torch.as_tensor(np.asarray(points), dtype=dtype))
            self.register_buffer("noise_f", torch.tensor(float(noise_var), dtype=dtype))
        else:
            self.A = self.P = self.noise_f = None
        self.to(dtype)

    def _blocks(self, channel):
        G = np.asarray(channel, dtype=np.float64)
        d = G.shape[1] // self.n_users
        return np.ascontiguousarray(G.reshape(G.shape[0], self.n_users, d).transpose(1, 0, 2))

    @torch.no_grad()
    def set_channel(self, channel, noise_var):
        """Replace the real channel ``G`` and the per-feature noise variance (same sizes)."""
        A = torch.as_tensor(self._blocks(channel))
        if self.A is None or A.shape != self.A.shape:
            raise ValueError(f"set_channel expects a channel of shape "
                             f"{None if self.A is None else tuple(self.A.shape)} in blocks, "
                             f"got {tuple(A.shape)}")
        self.A.copy_(A.to(self.A))
        self.noise_f.fill_(float(noise_var))

    def step(self, k, state, x):
        return self.iteration(k)(state, x, k, self)

    def initial_state(self, x):
        return x.new_full((x.shape[0], self.n_users, self.n_classes),
                          -math.log(self.n_classes))

    def readout(self, state):
        return state

    def objective(self, estimate, x):
        """Entropy of the posteriors, summed over users.

        Soft interference cancellation minimises no objective of ``x`` alone;
        this is only a confidence measure (the estimators train supervised).
        """
        return -(estimate.exp() * estimate).sum(dim=(1, 2))

    def user_parameters(self, k, u):
        """Parameters of user ``u``'s network in layer ``k`` (DeepSIC layers)."""
        layer = self.iteration(k)
        if isinstance(layer, DeepSICLayer):
            return list(layer.nets[u].parameters())
        return list(layer.parameters())


class UserCrossEntropy(nn.Module):
    """Cross-entropy averaged over samples and users.

    Called as ``loss(log_posteriors, y)`` with ``log_posteriors`` of shape
    ``(batch, U, M)`` and ``y`` the int64 class indices of shape ``(batch, U)``.
    """

    def forward(self, logp, y):
        y = y.reshape(logp.shape[0], -1).long()
        return F.nll_loss(logp.reshape(-1, logp.shape[-1]), y.reshape(-1))
