"""Multiuser MIMO detection as a :class:`~skunfold.core.Problem`: soft interference cancellation.

Conventions: a batch of received vectors ``x`` has shape ``(batch, F)`` (real
features, see :mod:`skunfold.mimo.constellations`); the state of every
iteration is the per-user log-posterior over the alphabet, shape
``(batch, U, M)``; the real channel ``G`` (shape ``(F, U d)``) is held as
per-user blocks ``A`` of shape ``(U, F, d)`` and the real points ``P`` have
shape ``(M, d)``.
"""

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..core import Problem
from .iterations import mimo_layers

__all__ = ["MIMODetection", "soft_ic_loglik", "user_cross_entropy", "UserCrossEntropy",
           "MAX_DAMPING"]

#: Largest damping of the learned soft IC: :math:`\beta =` ``MAX_DAMPING * damping``.
MAX_DAMPING = 0.95


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
    noise_f : float or tensor (scalar)
        Noise variance of each real feature.
    noise_scale : tensor of shape (U,), optional
        Multiplies the noise variance seen by each user.

    Returns
    -------
    loglik : tensor of shape (batch, U, M)
        Log-likelihoods (up to a per-user constant).

    Examples
    --------
    >>> import math, torch
    >>> from skunfold.mimo import soft_ic_loglik
    >>> A = torch.eye(2).reshape(2, 2, 1)               # two users, one antenna each
    >>> P = torch.tensor([[-1.0], [1.0]])               # BPSK
    >>> logp = torch.full((1, 2, 2), -math.log(2))      # uniform posteriors
    >>> ll = soft_ic_loglik(logp, torch.tensor([[0.9, -1.1]]), A, P, 0.1)
    >>> ll.argmax(-1).tolist()
    [[1, 0]]
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
    sol = _solve_spd(sigma, rhs)                        # (B, U, F, d+1)
    d = A.shape[-1]
    q = torch.einsum("ufd,buf->bud", A, sol[..., d])     # A^T S^-1 r
    Q = torch.einsum("ufi,bufj->buij", A, sol[..., :d])  # A^T S^-1 A
    return q @ P.T - 0.5 * torch.einsum("mi,buij,mj->bum", P, Q, P)


def _solve_spd(A, B):
    """:math:`A^{-1} B` for symmetric positive definite ``A``: ``torch.linalg.solve``.

    Under ``torch.export`` (ONNX has no solve), Gauss--Jordan elimination: ``n``
    steps of elementwise operations, no pivoting (``A`` is positive definite).
    """
    if not torch.compiler.is_compiling():
        return torch.linalg.solve(A, B)
    n = A.shape[-1]
    rows = torch.arange(n, device=A.device)
    M = torch.cat([A, B], dim=-1)
    for j in range(n):
        scaled = M[..., j:j + 1, :] / M[..., j:j + 1, j:j + 1]
        M = M - (M[..., :, j:j + 1] - (rows == j).to(M.dtype).unsqueeze(-1)) * scaled
    return M[..., n:]


def user_cross_entropy(log_posteriors, y):
    """Cross-entropy of each sample, averaged over its users.

    Parameters
    ----------
    log_posteriors : tensor of shape (batch, U, M)
    y : tensor of shape (batch, U) or (batch,)
        Class indices (int64).

    Returns
    -------
    loss : tensor of shape (batch,)
    """
    B, M = log_posteriors.shape[0], log_posteriors.shape[-1]
    nll = F.nll_loss(log_posteriors.reshape(-1, M), y.reshape(-1).long(), reduction="none")
    return nll.reshape(B, -1).mean(dim=1)


class UserCrossEntropy(nn.Module):
    """Cross-entropy averaged over samples and users (:func:`user_cross_entropy`, averaged).

    Called as ``loss(log_posteriors, y)`` with ``log_posteriors`` of shape
    ``(batch, U, M)`` and ``y`` the int64 class indices of shape ``(batch, U)``.
    """

    def forward(self, logp, y):
        return user_cross_entropy(logp, y).mean()


def channel_blocks(channel, n_users):
    """The real channel ``G`` (shape ``(F, U d)``) as per-user blocks of shape ``(U, F, d)``."""
    G = np.asarray(channel, dtype=np.float64)
    d = G.shape[1] // n_users
    return np.ascontiguousarray(G.reshape(G.shape[0], n_users, d).transpose(1, 0, 2))


class MIMODetection(Problem):
    r"""Multiuser MIMO detection :math:`x = G s + w` by iterative soft interference cancellation.

    The state is every user's log-posterior over the ``M`` points of the
    alphabet (shape ``(batch, U, M)``), uniform before the first iteration;
    it is also the readout. One iteration (:meth:`step`) is soft interference
    cancellation: for each user the expected interference of the others is
    cancelled and the remainder modelled as Gaussian (:func:`soft_ic_loglik`).
    The supervised loss is the cross-entropy of the true symbols' class
    indices, averaged over the users; the problem has no objective (soft IC
    minimises no function of ``x`` alone), so it is trained supervised only.

    Its hyperparameters are a per-user inflation ``noise_scale`` of the noise
    variance (classically 1) and a ``damping`` in ``[0, 1]`` that mixes the
    new posteriors with the previous ones, :math:`\beta = 0.95\,` ``damping``
    (classically 0). The DNN paradigm (DeepSIC) needs neither the channel nor
    the points: its per-user networks replace the step. Built without them,
    the problem has no model to update the posteriors with, so its
    :meth:`step` keeps them (a state of the right shape, which is all that
    the core's check of the first call asks); any paradigm but ``"dnn"`` is
    then refused, as it would run soft IC.

    Parameters
    ----------
    n_users : int
        ``U``.
    n_classes : int
        Size ``M`` of the alphabet.
    n_features : int
        ``F``, real features of a received vector.
    channel : ndarray of shape (n_features, n_users * d), optional
        The real channel ``G`` (see :func:`~skunfold.mimo.constellations.real_channel`);
        needed by the soft IC step.
    points : ndarray of shape (n_classes, d), optional
        Real points of the alphabet.
    noise_var : float, optional
        Noise variance of each real feature.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from skunfold.mimo import MIMODetection
    >>> G = np.array([[1.0, 0.3], [0.3, 1.0]])
    >>> problem = MIMODetection(2, 2, 2, channel=G, points=[[-1.0], [1.0]], noise_var=0.1)
    >>> x = torch.tensor([[1.3, 0.7], [-0.7, -1.3]], dtype=torch.float64)
    >>> state = problem.initial_state(x)
    >>> state = problem.step(state, x, **problem.hyperparameters)
    >>> state.argmax(-1).tolist()
    [[1, 1], [0, 0]]
    """

    hyperparameter_constraints = {"noise_scale": "positive", "damping": "unit_interval"}

    def __init__(self, n_users, n_classes, n_features, channel=None, points=None,
                 noise_var=None):
        self.n_users = int(n_users)
        self.n_classes = int(n_classes)
        self.n_features = int(n_features)
        others = [[j for j in range(self.n_users) if j != u] for u in range(self.n_users)]
        self.others = torch.as_tensor(np.array(others, dtype=np.int64)
                                      .reshape(self.n_users, self.n_users - 1))
        self.has_model = channel is not None
        self.hyperparameters = {}
        if self.has_model:
            self.A = torch.as_tensor(channel_blocks(channel, self.n_users))
            self.P = torch.as_tensor(np.asarray(points, dtype=np.float64).reshape(self.n_classes,
                                                                                  -1))
            self.noise_var = float(noise_var)
            self.hyperparameters = {"noise_scale": torch.ones(self.n_users, dtype=torch.float64),
                                    "damping": 0.0}

    # -- the solver -------------------------------------------------------------------
    def initial_state(self, x):
        return x.new_full((x.shape[0], self.n_users, self.n_classes), -math.log(self.n_classes))

    def log_likelihoods(self, state, x, noise_scale=None):
        """Soft IC log-likelihoods of every user's symbols given the posteriors ``state``."""
        if not self.has_model:
            raise ValueError("soft interference cancellation needs the channel: this "
                             "MIMODetection problem was built without one (paradigm='dnn')")
        return soft_ic_loglik(state, x, self.A, self.P, self.noise_var, noise_scale)

    def step(self, state, x, noise_scale=None, damping=0.0):
        if not self.has_model:  # no channel: nothing to cancel, the posteriors stay
            return state
        new = F.log_softmax(self.log_likelihoods(state, x, noise_scale), dim=-1)
        if not torch.is_tensor(damping) and damping == 0.0:
            return new
        beta = MAX_DAMPING * damping
        return torch.logaddexp(torch.log1p(-beta) + new, torch.log(beta) + state)

    def loss(self, estimate, target):
        return user_cross_entropy(estimate, target)

    def apply_correction(self, state, delta):
        """A correction of the log-likelihoods: ``log_softmax(state + delta)``."""
        return F.log_softmax(state + delta, dim=-1)

    def make_layers(self, paradigm, n_layers, *, tied, hidden_layer_sizes, sample):
        if not self.has_model and paradigm != "dnn":
            raise ValueError(f"paradigm={paradigm!r} runs soft interference cancellation, which "
                             "needs the channel: this MIMODetection problem was built without "
                             "one (only paradigm='dnn' runs without it)")
        return mimo_layers(self, paradigm, n_layers, hidden_layer_sizes)
