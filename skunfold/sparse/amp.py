"""Approximate message passing (AMP) and learned AMP (LAMP) as a :class:`~skunfold.core.Problem`.

Row convention as in :mod:`skunfold.sparse.problem`: observations ``x`` of
shape ``(batch, m)``, codes ``s`` of shape ``(batch, n)``, dictionary ``D`` of
shape ``(n, m)`` (``D = A^T``, ``x ~ s @ D``). One AMP iteration (Donoho,
Maleki & Montanari 2009; Borgerding, Schniter & Rangan 2017) reads::

    v_t      = x - s_t @ D + b_t v_{t-1}           # residual with the Onsager term
    sigma_t^2 = ||v_t||^2 / m                      # per-sample noise-level estimate
    r_t      = s_t + v_t @ B                       # B = A^T (row convention: (m, n))
    s_{t+1}  = eta(r_t; sigma_t^2, theta_t)        # shrinkage
    b_{t+1}  = sum_j eta'(r_t)_j / m               # = ||s_{t+1}||_0 / m for soft thresholding

The state is ``(s, v, b)``; the readout is ``s``. LAMP's layers (a learned
matrix per layer) are in :mod:`skunfold.sparse.iterations`. The shrinkage families and
their parameters ``theta`` (the problem's hyperparameters) are

========== ====================================== ==================================
shrinkage  eta(r)                                 parameters (classical values)
========== ====================================== ==================================
``soft``   ``scale * soft(r, alpha sigma)``        ``alpha`` (1.1402), ``scale`` (1)
``bg``     Bernoulli-Gaussian MMSE estimate        ``variance`` (prior variance),
           ``E[s | r]`` for noise variance         ``log_odds`` (``log p/(1-p)``)
           ``sigma^2``
``pwlin``  piecewise linear, knees ``alpha sigma`` ``alpha``, ``gap``, ``slope0``,
           and ``(alpha + gap) sigma``, slopes     ``slope1``, ``slope2``
           ``slope0, slope1, slope2``              (1.1402, 1.1402, 0, 1, 1: soft)
========== ====================================== ==================================

and the Onsager gain uses each family's derivative in closed form.
"""

import math

import numpy as np
import torch

from ..core import Problem, soft_threshold
from .iterations import LAMPLayer, LearnedMatrix, lamp_layers
from .problem import lipschitz_constant

__all__ = [
    "SHRINKAGES",
    "AMPProblem",
    "LAMPLayer",
    "LearnedMatrix",
    "bg_shrinkage",
    "pwlin_shrinkage",
    "shrinkage_parameters",
    "soft_shrinkage",
]

#: The shrinkage families of AMP / LAMP.
SHRINKAGES = ("soft", "bg", "pwlin")

#: Smallest noise-level estimate used by the shrinkages (a residual of exactly zero).
_MIN_VARIANCE = 1e-20


def soft_shrinkage(r, sigma2, alpha, scale=1.0):
    """Scaled soft thresholding at ``alpha * sigma`` and its derivative.

    Parameters
    ----------
    r : torch.Tensor of shape (batch, n)
    sigma2 : torch.Tensor of shape (batch, 1)
        Per-sample noise-level estimate.
    alpha, scale : float or torch.Tensor

    Returns
    -------
    eta, derivative : torch.Tensor of shape (batch, n)
    """
    lam = alpha * torch.sqrt(sigma2)
    out = scale * soft_threshold(r, lam)
    deriv = scale * (torch.abs(r) > lam).to(r.dtype)
    return out, deriv


def bg_shrinkage(r, sigma2, variance, log_odds):
    """The MMSE estimate of a Bernoulli-Gaussian entry seen in Gaussian noise, and its derivative.

    For ``s ~ (1 - p) delta_0 + p N(0, variance)`` and ``r = s + sigma z``,
    ``E[s | r] = pi(r) g r`` with ``g = variance / (variance + sigma^2)`` and
    ``pi(r)`` the posterior probability that ``s != 0``, whose logit is
    ``log_odds + log(sigma^2 / (variance + sigma^2)) / 2 + r^2 g / (2 sigma^2)``
    (``log_odds = log(p / (1 - p))``). The derivative is
    ``g pi (1 + (1 - pi) r^2 g / sigma^2)``.
    """
    s2 = torch.clamp(sigma2, min=_MIN_VARIANCE)  # as in AMPProblem.step, for direct calls
    total = variance + s2
    gain = variance / total
    curvature = gain / s2
    rr = r * r
    pi = torch.sigmoid(log_odds + 0.5 * torch.log(s2 / total) + 0.5 * rr * curvature)
    out = pi * gain * r
    deriv = gain * pi * (1.0 + (1.0 - pi) * rr * curvature)
    return out, deriv


def pwlin_shrinkage(r, sigma2, alpha, gap, slope0, slope1, slope2):
    """The piecewise-linear shrinkage of LAMP-pwlin and its derivative.

    Odd, continuous, with knees at ``t1 = alpha sigma`` and
    ``t2 = (alpha + gap) sigma`` and slopes ``slope0`` (``|r| < t1``),
    ``slope1`` (``t1 < |r| < t2``) and ``slope2`` beyond. With
    ``slope0 = 0, slope1 = slope2 = 1`` it is soft thresholding at ``t1``.
    """
    sigma = torch.sqrt(sigma2)
    t1 = alpha * sigma
    t2 = (alpha + gap) * sigma
    a = torch.abs(r)
    middle = torch.minimum(torch.clamp(a - t1, min=0.0), t2 - t1)
    magnitude = slope0 * torch.minimum(a, t1) + slope1 * middle + slope2 * torch.relu(a - t2)
    out = torch.sign(r) * magnitude
    zero = torch.zeros_like(r)
    deriv = torch.where(a <= t1, zero + slope0, torch.where(a <= t2, zero + slope1, zero + slope2))
    return out, deriv


_SHRINK = {"soft": soft_shrinkage, "bg": bg_shrinkage, "pwlin": pwlin_shrinkage}


def shrinkage_parameters(shrinkage, alpha=1.1402, sparsity=0.1, signal_var=1.0):
    """The classical parameters of a shrinkage family (its hyperparameters), by name.

    ``soft``: soft thresholding at ``alpha sigma`` (gain 1); ``bg``: the MMSE
    denoiser of the Bernoulli(``sparsity``)-Gaussian(``signal_var``) prior;
    ``pwlin``: soft thresholding at ``alpha sigma`` written piecewise linearly.
    """
    if shrinkage == "soft":
        return {"alpha": float(alpha), "scale": 1.0}
    if shrinkage == "bg":
        return {"variance": float(signal_var),
                "log_odds": math.log(sparsity) - math.log1p(-sparsity)}
    if shrinkage == "pwlin":
        return {"alpha": float(alpha), "gap": max(float(alpha), 1e-3), "slope0": 0.0,
                "slope1": 1.0, "slope2": 1.0}
    raise ValueError(f"shrinkage must be one of {list(SHRINKAGES)}, got {shrinkage!r}")


class AMPProblem(Problem):
    """AMP for ``x = A s + e`` with a shrinkage family (see the module docstring).

    Its hyperparameters are the parameters of the shrinkage (per layer in the
    ``"hyperparameters"`` paradigm); its objective parameter is the matrix
    ``B`` (``A^T`` classically; per layer in the ``"objective"`` and
    ``"dnn"`` paradigms, whose layers start from ``matrix_scale * A^T``).

    Parameters
    ----------
    dictionary : ndarray of shape (n_components, n_features)
        ``D = A^T`` (row convention, ``X = S @ D``).
    shrinkage : {"soft", "bg", "pwlin"}, default="soft"
    alpha : float, default=1.1402
        Threshold multiplier (soft, pwlin): the threshold is ``alpha sigma_t``.
    sparsity, signal_var : float, default=0.1, 1.0
        The Bernoulli-Gaussian prior of ``bg``.
    matrix_scale : float, default=1.0
        The learned matrices start at ``matrix_scale * A^T``.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from skunfold.sparse import AMPProblem
    >>> D = np.random.default_rng(0).normal(size=(40, 20)) / np.sqrt(20)
    >>> problem = AMPProblem(D)
    >>> x = torch.zeros(3, 20, dtype=torch.float64)
    >>> s, v, b = problem.step(problem.initial_state(x), x, **problem.objective_parameters,
    ...                        **problem.hyperparameters)
    >>> s.shape, v.shape, b.shape
    (torch.Size([3, 40]), torch.Size([3, 20]), torch.Size([3, 1]))
    """

    def __init__(self, dictionary, shrinkage="soft", alpha=1.1402, sparsity=0.1,
                 signal_var=1.0, matrix_scale=1.0):
        D = np.asarray(dictionary, dtype=np.float64)
        self.D = torch.tensor(D)
        self.shrinkage = shrinkage
        self.alpha, self.sparsity, self.signal_var = float(alpha), float(sparsity), \
            float(signal_var)
        self.matrix_scale = float(matrix_scale)
        self.lipschitz = lipschitz_constant(D)
        self.hyperparameters = shrinkage_parameters(shrinkage, alpha, sparsity, signal_var)
        self.hyperparameter_constraints = {"log_odds": "real", "slope0": "real",
                                           "slope1": "real", "slope2": "real"}
        self.objective_parameters = {"B": torch.tensor(np.ascontiguousarray(D.T))}

    def initial_state(self, x):
        n, m = self.D.shape
        return (x.new_zeros((x.shape[0], n)), x.new_zeros((x.shape[0], m)),
                x.new_zeros((x.shape[0], 1)))

    def step(self, state, x, B, **theta):
        s, v_prev, b = state
        m = x.shape[-1]
        v = x - s @ self.D + b * v_prev
        # clamped: a zero residual (x = 0) would give sqrt'(0) = inf in the backward pass
        sigma2 = torch.clamp((v * v).sum(-1, keepdim=True) / m, min=_MIN_VARIANCE)
        r = s + v @ B
        s_new, deriv = _SHRINK[self.shrinkage](r, sigma2, **theta)
        return s_new, v, deriv.sum(-1, keepdim=True) / m

    def readout(self, state):
        return state[0]

    def objective(self, estimate, x):
        """The residual energy ``1/2 ||x - A s||^2`` of each sample (no sparsity term)."""
        r = x - estimate @ self.D
        return 0.5 * (r * r).sum(-1)

    def make_layers(self, paradigm, n_layers, *, tied, hidden_layer_sizes, sample):
        """LAMP's layers (:func:`~skunfold.sparse.iterations.lamp_layers`): learned matrices."""
        return lamp_layers(self, paradigm, n_layers, tied)

    def with_dictionary(self, dictionary):
        """The same problem on another dictionary (to transfer a fitted model)."""
        return type(self)(dictionary, self.shrinkage, self.alpha, self.sparsity, self.signal_var,
                          self.matrix_scale)
