"""Iteration modules of the sparse-recovery family, one per paradigm.

Row convention throughout: a batch of observations ``x`` has shape
``(batch, m)``, codes ``s`` have shape ``(batch, n)`` and the dictionary ``D``
has shape ``(n, m)`` (``D = H.T``), so that ``x ~ s @ D``. The ISTA step
``s + mu H^T (x - H s)`` reads ``s + mu (x - s @ D) @ D.T``.
"""

import math

import numpy as np
import torch
from torch import nn

from ..core import UnfoldedModule

__all__ = [
    "soft_threshold",
    "support_selected_threshold",
    "analytic_weights",
    "lipschitz_constant",
    "fista_momentum",
    "SparseUnfolded",
    "ClassicalStep",
    "HyperparameterStep",
    "LISTAStep",
    "LISTACPStep",
    "CorrectionStep",
    "DNNStep",
    "HyperLISTAStep",
]


def soft_threshold(z, theta):
    """Soft thresholding ``sign(z) max(|z| - theta, 0)`` (the prox of the l1 norm)."""
    return torch.sign(z) * torch.relu(torch.abs(z) - theta)


def support_selected_threshold(z, theta, fraction):
    """Soft thresholding with support selection (the "SS" of LISTA-CPSS / ALISTA).

    Per sample, the entries among the largest ``fraction`` of ``|z|`` that also
    exceed ``theta`` bypass the shrinkage. ``fraction`` is a float or a
    tensor of shape ``(batch, 1)``; the bypass mask carries no gradient.
    """
    shrunk = soft_threshold(z, theta)
    n = z.shape[-1]
    absz = torch.abs(z)
    if torch.is_tensor(fraction):
        # per-sample fraction (HyperLISTA): rank threshold from sorted magnitudes
        with torch.no_grad():
            counts = torch.clamp((fraction * n).ceil().long(), 0, n)
            sorted_abs = torch.sort(absz, dim=-1, descending=True).values
            idx = torch.clamp(counts - 1, min=0)
            kth = torch.gather(sorted_abs, -1, idx)
            kth = torch.where(counts > 0, kth, torch.full_like(kth, float("inf")))
            mask = (absz >= kth) & (absz > theta)
        return torch.where(mask, z, shrunk)
    count = int(math.ceil(fraction * n))
    if count <= 0:
        return shrunk
    with torch.no_grad():
        mask = absz > theta
        # rows with at most ``count`` entries above theta bypass all of them: only the
        # other rows need the (costly) top-k; the result is the same as top-k everywhere
        crowded = mask.sum(dim=-1) > count
        if bool(crowded.any()):
            rows = absz[crowded]
            kth = torch.topk(rows, min(count, n), dim=-1).values[..., -1:]
            mask[crowded] = mask[crowded] & (rows >= kth)
    return torch.where(mask, z, shrunk)


def lipschitz_constant(D):
    """``L = 1.001 ||H||_2^2``, the Lipschitz constant of the least-squares gradient."""
    D = np.asarray(D, dtype=np.float64)
    return 1.001 * float(np.linalg.norm(D, ord=2)) ** 2


def analytic_weights(D):
    """ALISTA's analytic weight matrix, in row convention (shape ``(m, n)``).

    ``W = (H H^T)^{-1} H`` with column ``j`` divided by ``h_j^T (H H^T)^{-1} h_j``,
    the closed-form minimiser of ``||off-diag(W^T H)||_F`` subject to
    ``w_j^T h_j = 1``. For a full-row-rank ``H`` (``m <= n``) ``(H H^T)^{-1} H``
    equals ``(H^+)^T``, which is what is computed (by SVD), so the formula stays
    well defined when ``H H^T`` is singular (``m > n``: then ``W^T H = I``).
    """
    H = np.asarray(D, dtype=np.float64).T  # (m, n)
    W = np.linalg.pinv(H).T
    scale = np.sum(H * W, axis=0)
    if np.any(np.abs(scale) < 1e-12):
        raise ValueError("the dictionary is rank deficient: analytic (ALISTA) weights do not exist")
    return W / scale


def fista_momentum(n_layers):
    """FISTA's extrapolation coefficients ``(t_k - 1) / t_{k+1}`` for each layer."""
    t, out = 1.0, []
    for _ in range(n_layers):
        t_next = (1.0 + math.sqrt(1.0 + 4.0 * t * t)) / 2.0
        out.append((t - 1.0) / t_next)
        t = t_next
    return out


def _ss_fraction(k, support_selection):
    """Fraction bypassing shrinkage at layer ``k`` (0-based): min(step*(k+1), max)%."""
    if not support_selection:
        return 0.0
    step, cap = support_selection
    return min(step * (k + 1), cap) / 100.0


class _SparseStep(nn.Module):
    """Common part of the sparse iterations: optional momentum, then ``update``."""

    def __init__(self, momentum=None, learn_momentum=True):
        super().__init__()
        if momentum is None:
            self.beta = None
        elif learn_momentum:
            self.beta = nn.Parameter(torch.tensor(float(momentum), dtype=torch.float64))
        else:
            self.register_buffer("beta", torch.tensor(float(momentum), dtype=torch.float64))

    def forward(self, state, x, k, net):
        s, s_prev = state
        s_in = s if self.beta is None else s + self.beta * (s - s_prev)
        return self.update(s_in, x, k, net), s

    def threshold(self, z, theta, k, net):
        frac = _ss_fraction(k, net.support_selection)
        if frac > 0.0:
            return support_selected_threshold(z, theta, frac)
        return soft_threshold(z, theta)


class ClassicalStep(_SparseStep):
    """ISTA (FISTA with momentum): fixed step ``1/L`` and threshold ``alpha/L``."""

    def __init__(self, step, threshold, momentum=None):
        super().__init__(momentum, learn_momentum=False)
        self.register_buffer("mu", torch.tensor(float(step), dtype=torch.float64))
        self.register_buffer("theta", torch.tensor(float(threshold), dtype=torch.float64))

    def update(self, s, x, k, net):
        z = s + self.mu * (x - s @ net.D) @ net.D.T
        return soft_threshold(z, self.theta)


class HyperparameterStep(_SparseStep):
    """Learned step ``gamma_k`` and threshold ``theta_k``; ``W`` (``H`` or ALISTA's) fixed.

    ``s <- eta_theta_k(s + gamma_k W^T (x - H s))``. Both scalars are positive
    and are learned through their logarithms, so an optimizer step changes them
    by a relative amount: thresholds that must shrink by orders of magnitude
    over the layers are reached in few steps.
    """

    def __init__(self, step, threshold, momentum=None):
        super().__init__(momentum)
        self.log_gamma = nn.Parameter(torch.tensor(math.log(float(step)), dtype=torch.float64))
        self.log_theta = nn.Parameter(
            torch.tensor(math.log(max(float(threshold), 1e-30)), dtype=torch.float64))

    @property
    def gamma(self):
        """The step size ``gamma_k``."""
        return torch.exp(self.log_gamma)

    @property
    def theta(self):
        """The threshold ``theta_k``."""
        return torch.exp(self.log_theta)

    def update(self, s, x, k, net):
        z = s + self.gamma * (x - s @ net.D) @ net.W
        return self.threshold(z, self.theta, k, net)


class LISTAStep(_SparseStep):
    """LISTA (eq. 13): ``s <- eta_theta_k(W1 x + W2_k s)`` with ``W1`` shared by all layers."""

    def __init__(self, W2, threshold, momentum=None):
        super().__init__(momentum)
        self.W2 = nn.Parameter(torch.as_tensor(W2).clone())
        self.theta = nn.Parameter(torch.tensor(float(threshold), dtype=torch.float64))

    def update(self, s, x, k, net):
        z = x @ net.W1 + s @ self.W2
        return self.threshold(z, self.theta, k, net)


class LISTACPStep(_SparseStep):
    """LISTA-CP: coupled ``W2 = I - W1 H``, i.e. ``s <- eta_theta_k(s + W_k^T (x - H s))``."""

    def __init__(self, W, threshold, momentum=None):
        super().__init__(momentum)
        self.W = nn.Parameter(torch.as_tensor(W).clone())
        self.theta = nn.Parameter(torch.tensor(float(threshold), dtype=torch.float64))

    def update(self, s, x, k, net):
        z = s + (x - s @ net.D) @ self.W
        return self.threshold(z, self.theta, k, net)


class CorrectionNet(nn.Module):
    """``Delta(s, x)``: an MLP on ``[s, H^T (x - H s)]``; last layer zero so it starts at 0."""

    def __init__(self, n_components, hidden_layer_sizes):
        super().__init__()
        sizes = [2 * n_components, *hidden_layer_sizes, n_components]
        layers = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        layers.pop()
        self.mlp = nn.Sequential(*layers)
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)

    def forward(self, s, grad):
        return self.mlp(torch.cat([s, grad], dim=-1))


class CorrectionStep(_SparseStep):
    """ISTA step plus a learned correction (eq. 14): ``s <- T(s) + Delta(s, x)``."""

    def __init__(self, step, threshold, correction, momentum=None):
        super().__init__(momentum)
        self.register_buffer("mu", torch.tensor(float(step), dtype=torch.float64))
        self.register_buffer("theta", torch.tensor(float(threshold), dtype=torch.float64))
        self.correction = correction

    def update(self, s, x, k, net):
        grad = (x - s @ net.D) @ net.D.T
        base = self.threshold(s + self.mu * grad, self.theta, k, net)
        return base + self.correction(s, grad)


class ElementwiseNet(nn.Module):
    """A scalar-to-scalar ReLU network applied to every entry.

    ``phi(z) = sum_j c_j relu(a_j z + b_j)``. Units 0 and 1 are initialised to
    represent soft thresholding exactly (``relu(z - theta) - relu(-z - theta)``);
    the other units start with ``c_j = 0``, so the untrained network is the
    ISTA shrinkage.
    """

    def __init__(self, threshold, n_hidden=16):
        super().__init__()
        n_hidden = max(2, int(n_hidden))
        g = torch.Generator().manual_seed(torch.randint(0, 2**31 - 1, (1,)).item())
        a = torch.randn(n_hidden, generator=g)
        b = -threshold * torch.rand(n_hidden, generator=g) * 2
        c = torch.zeros(n_hidden)
        a[0], b[0], c[0] = 1.0, -threshold, 1.0
        a[1], b[1], c[1] = -1.0, -threshold, -1.0
        self.a = nn.Parameter(a)
        self.b = nn.Parameter(b)
        self.c = nn.Parameter(c)

    def forward(self, z):
        return torch.relu(z.unsqueeze(-1) * self.a + self.b) @ self.c


class DNNStep(_SparseStep):
    """Gradient step with the shrinkage replaced by a learned elementwise network."""

    def __init__(self, step, threshold, n_hidden=16, momentum=None):
        super().__init__(momentum)
        self.register_buffer("mu", torch.tensor(float(step), dtype=torch.float64))
        self.phi = ElementwiseNet(threshold, n_hidden)

    def update(self, s, x, k, net):
        z = s + self.mu * (x - s @ net.D) @ net.D.T
        return self.phi(z)


class HyperLISTAStep(nn.Module):
    """HyperLISTA: ALISTA with momentum and instance-adaptive thresholds (3 constants).

    ``z = s + W^T (x - H s) + beta (s - s_prev)``, ``theta = c_theta ||H^+ (H s - x)||_1``,
    ``beta = c_beta ||s||_0``, support fraction
    ``p = clip(c_ss log(||H^+ x||_1 / ||H^+ (H s - x)||_1), 0, 1)``.
    """

    def __init__(self, c_threshold, c_momentum, c_support):
        super().__init__()
        self.register_buffer("c_threshold", torch.tensor(float(c_threshold), dtype=torch.float64))
        self.register_buffer("c_momentum", torch.tensor(float(c_momentum), dtype=torch.float64))
        self.register_buffer("c_support", torch.tensor(float(c_support), dtype=torch.float64))

    def forward(self, state, x, k, net):
        s, s_prev = state
        resid = x - s @ net.D                      # (batch, m) = x - H s
        res_norm = torch.abs(resid @ net.Hpinv).sum(-1, keepdim=True)  # ||H^+(Hs - x)||_1
        x_norm = torch.abs(x @ net.Hpinv).sum(-1, keepdim=True)
        theta = self.c_threshold * res_norm
        beta = self.c_momentum * (s != 0).sum(-1, keepdim=True).to(s.dtype)
        z = s + resid @ net.W + beta * (s - s_prev)
        ratio = torch.clamp(x_norm, min=1e-30) / torch.clamp(res_norm, min=1e-30)
        frac = torch.clamp(self.c_support * torch.log(ratio), 0.0, 1.0)
        return support_selected_threshold(z, theta, frac), s


class SparseUnfolded(UnfoldedModule):
    """Unfolded network for ``min_s 1/2 ||x - H s||^2 + alpha ||s||_1``.

    Holds the dictionary ``D = H^T`` (buffer ``D``), the weight matrix ``W``
    used by the hyperparameter paradigms (``H`` or ALISTA's analytic matrix),
    and, for LISTA, the shared input matrix ``W1``.

    Parameters
    ----------
    dictionary : ndarray of shape (n, m)
    iterations : list of modules or a single module (tied)
    n_layers : int
    alpha : float
        The l1 weight of the objective (used by unsupervised training).
    support_selection : tuple (step, max) in percent, or None
    W : ndarray of shape (m, n), optional
    W1 : ndarray of shape (m, n), optional
        Shared LISTA input weights (learned).
    Hpinv : ndarray of shape (m, n), optional
        ``(H^+)^T`` for HyperLISTA.
    dtype : torch.dtype
    """

    def __init__(self, dictionary, iterations, n_layers, alpha, support_selection=None,
                 W=None, W1=None, Hpinv=None, dtype=torch.float32):
        super().__init__(iterations, n_layers)
        self.alpha = float(alpha)
        self.support_selection = support_selection
        self.register_buffer("D", torch.tensor(np.asarray(dictionary), dtype=dtype))
        self.weights_kind = "analytic" if W is not None else "dictionary"
        W_t = torch.tensor(np.asarray(W if W is not None else np.asarray(dictionary).T),
                           dtype=dtype)
        self.register_buffer("W", W_t.contiguous())
        self.register_buffer("Hpinv", None if Hpinv is None
                             else torch.tensor(np.asarray(Hpinv), dtype=dtype))
        self.W1 = None if W1 is None else nn.Parameter(torch.tensor(np.asarray(W1), dtype=dtype))
        self.to(dtype)

    def with_dictionary(self, dictionary):
        """Copy of this network acting on another dictionary (possibly other sizes).

        Only the parameter-free operators (``D``, ``W``, ``H^+``) change; the
        learned per-layer scalars are kept. Valid for the classical and
        hyperparameter paradigms, whose learned parameters do not depend on
        the problem size.
        """
        import copy

        new = copy.deepcopy(self)
        dtype, device = self.D.dtype, self.D.device
        D = np.asarray(dictionary, dtype=np.float64)
        new.D = torch.tensor(D, dtype=dtype, device=device)
        W = analytic_weights(D) if self.weights_kind == "analytic" else D.T
        new.W = torch.as_tensor(np.ascontiguousarray(W), dtype=dtype, device=device)
        if self.Hpinv is not None:
            new.Hpinv = torch.as_tensor(np.linalg.pinv(D.T).T, dtype=dtype, device=device)
        return new

    def step(self, k, state, x):
        return self.iteration(k)(state, x, k, self)

    def initial_state(self, x):
        s0 = x.new_zeros((x.shape[0], self.D.shape[0]))
        return (s0, s0)

    def readout(self, state):
        return state[0]

    def objective(self, estimate, x):
        r = x - estimate @ self.D
        return 0.5 * (r * r).sum(-1) + self.alpha * estimate.abs().sum(-1)
