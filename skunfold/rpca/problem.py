r"""Robust PCA :math:`X = L R^\top + \Psi Y` as a :class:`~skunfold.core.Problem`.

Shapes throughout: a batch of observations ``x`` has shape ``(batch, n1, n2)``
(every sample is a matrix), the factors ``L`` and ``R`` have shapes
``(batch, n1, r)`` and ``(batch, n2, r)``, the sparse part ``Y`` has the shape
of ``x``, and the sparsifying transform :math:`\Psi` has shape ``(n1, n1)`` and
acts on the columns: :math:`X = L R^\top + \Psi Y`.

Every threshold is *relative*: the threshold applied to an instance is the
stored value times the root-mean-square of that instance's entries,
:math:`\mathrm{rms}(X) = \|X\|_F / \sqrt{n_1 n_2}`. For LRPCA's generator :math:`\mathrm{rms}(X)` is
proportional to :math:`\sqrt{r} / n`, so this plays the role of LRPCA's rescaling of
its thresholds for other sizes, and it also makes every model invariant to the
amplitude of the data.
"""

import numpy as np
import torch

from ..core import Problem, soft_threshold
from .iterations import rpca_layers
from .linalg import (
    BLOCKED_MIN_ENTRIES,
    balanced_factors,
    blocked_readout,
    clipped,
    clipped_residual_products,
    eager_kernels,
    factor_update,
    instance_scale,
    residual,
    scaled_steps,
    solve,
    sparse_part,
)

__all__ = ["RobustPCAProblem"]


class RobustPCAProblem(Problem):
    r"""Robust PCA, :math:`\min \tfrac12 \|L R^\top + \Psi Y - X\|_F^2 + \lambda \|Y\|_1`.

    The classical solver (survey eqs. 22-27) alternates a soft-thresholding step on the sparse
    part and scaled gradient steps on the rank-``r`` factors:
    :math:`Y \leftarrow T_{\zeta_k}(\Psi^{-1}(X - L R^\top))`, :math:`G = X - L R^\top - \Psi Y`,
    :math:`L \leftarrow L + \eta_L G R (R^\top R)^{-1}`,
    :math:`R \leftarrow R + \eta_R G^\top L (L^\top L)^{-1}`,
    with relative thresholds :math:`\zeta_k = c \rho^k` (times :math:`\mathrm{rms}(X)`).

    The state is ``(L, R, Y, scale, lazy)``: with :math:`\Psi = I` a step leaves
    ``Y = None`` and a ``lazy`` description of ``Y``, formed only by a readout
    (see ``linalg.sparse_part``): ``(E, G)`` under autograd, ``(x, L, R,
    theta)`` in inference, where the step is LRPCA's layer computed in row
    blocks that stay in cache (``linalg.clipped_residual_products``: one pass
    over ``X``, no ``n1 x n2`` temporary). The initial state
    thresholds :math:`\Psi^{-1} X` with :math:`\zeta_0` (the initial hyperparameter
    ``init_threshold``, learned by every unfolded paradigm) and factors the
    rank-``r`` truncated SVD of the rest, :math:`L = U S^{1/2}`, :math:`R = V S^{1/2}`.
    :meth:`readout` stacks the low-rank part :math:`L R^\top` (channel 0) and the
    sparse part ``Y`` (channel 1), shape ``(batch, 2, n1, n2)``; the
    supervised :meth:`loss` is the relative Frobenius error of channel 0.

    Hyperparameters: ``step_L`` and ``step_R`` (:math:`\eta_L, \eta_R`, learned
    unconstrained, as LRPCA's) and ``threshold`` (:math:`\zeta_k`, learned through
    its logarithm: thresholds span orders of magnitude over the layers).

    Parameters
    ----------
    rank : int
        Rank ``r`` of the factors; clipped to ``min(n1, n2)`` of every batch
        (see ``linalg.balanced_factors``).
    step_size : float, default=0.5
        The classical :math:`\eta_L = \eta_R`.
    threshold : float, default=0.3
        Relative threshold ``c`` of the first iteration.
    threshold_decay : float, default=0.85
        Geometric decay :math:`\rho` of the threshold.
    init_threshold : float, default=3.0
        Relative threshold :math:`\zeta_0` of the initialisation.
    psi : ndarray of shape (n1, n1), optional
        The sparsifying transform (``None``: the identity, no matrix products).
        Its objective parameters are ``psi`` and its precomputed inverse
        ``psi_inv``.
    alpha : float, default=0.05
        Relative l1 weight of the objective, :math:`\lambda = \alpha\, \mathrm{rms}(X)`.
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
        r""":math:`\Psi Y` with the given transform."""
        psi = self.psi
        return Y if psi is None else psi @ Y

    def psi_solve(self, E):
        r""":math:`\Psi^{-1} E` with the given transform."""
        psi_inv = self.objective_parameters.get("psi_inv")
        return E if psi_inv is None else psi_inv @ E

    # -- the solver ----------------------------------------------------------------------
    def layer_hyperparameters(self, k):
        r"""Steps :math:`\eta_L = \eta_R =` ``step_size``, thresholds :math:`\zeta_k = c \rho^k`."""
        return {"step_L": self.step_size, "step_R": self.step_size,
                "threshold": self.threshold * self.threshold_decay ** k}

    def initial_state(self, x, init_threshold):
        scale = instance_scale(x)
        theta = init_threshold * scale
        if self.psi is None and eager_kernels(x, theta):
            # X - T(X) = clip(X) in one pass; Y = T(X) is formed only by a readout
            L, R = balanced_factors(clipped(x, theta), self.rank)
            return (L, R, None, scale, (x, None, None, theta))
        Y = soft_threshold(self.psi_solve(x), theta)
        L, R = balanced_factors(x - self.psi_apply(Y), self.rank)
        return (L, R, Y, scale, None)

    def step(self, state, x, step_L, step_R, threshold, psi=None, psi_inv=None, *,
             analysis=None, synthesis=None, correction=None):
        r"""One iteration: sparse update (25), then scaled gradient steps (26)-(27).

        ``psi`` and ``psi_inv`` are the objective parameters (``None``: the
        identity; a ``psi`` without ``psi_inv`` is inverted by a linear
        solve). The family's layers may pass ``analysis`` and ``synthesis``
        networks in place of :math:`\Psi^{-1}` and :math:`\Psi`, and a ``correction``
        network :math:`(L R^\top, \Psi Y, X, \mathrm{scale}, G) \mapsto (C_L, C_R)` added to the
        residual of the ``L`` and ``R`` steps.
        """
        L, R, _, scale, _ = state
        theta = threshold * scale
        if (psi is None and analysis is None and correction is None
                and eager_kernels(x, L, R, theta, step_L, step_R)):
            # inference: G R and G^T L without forming G (blocked, cache-resident); Y is
            # recomputed from (x, L, R, theta) when a readout asks for it
            GR, GtL = clipped_residual_products(x, L, R, theta)
            L_new, R_new = scaled_steps(L, R, GR, GtL, step_L, step_R)
            return (L_new, R_new, None, scale, (x, L, R, theta))
        E = residual(x, L, R)  # X - L R^T in one pass
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
                Z = solve(psi, E)
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
                and eager_kernels(L, R)):
            return blocked_readout(L, R, *lazy)
        return torch.stack([L @ R.mT, sparse_part(state)], dim=1)

    def objective(self, estimate, x):
        r"""Objective (24) of each instance, divided by :math:`\|X\|_F^2`.

        :math:`(\tfrac12 \|L R^\top + \Psi Y - X\|_F^2 + \lambda \|Y\|_1) / \|X\|_F^2` with
        :math:`\lambda = \alpha\, \mathrm{rms}(X)`, evaluated at the readout :math:`(L R^\top, Y)`;
        the division makes instances of every amplitude weigh alike.
        """
        V, Y = estimate[:, 0], estimate[:, 1]
        resid = V + self.psi_apply(Y) - x
        scale = instance_scale(x)[:, 0, 0]
        n_entries = x.shape[-2] * x.shape[-1]
        value = 0.5 * (resid * resid).sum((-2, -1)) + self.alpha * scale * Y.abs().sum((-2, -1))
        return value / (scale * scale * n_entries)

    def loss(self, estimate, target):
        r"""Relative Frobenius error :math:`\|L R^\top - X^*\|_F / \|X^*\|_F` of each instance."""
        V = estimate[:, 0]
        diff = (V - target).flatten(1)
        ref = target.flatten(1)
        tiny = torch.finfo(V.dtype).tiny
        num = torch.sqrt((diff * diff).sum(1) + tiny)
        den = torch.clamp(torch.sqrt((ref * ref).sum(1)), min=tiny)
        return num / den

    def make_layers(self, paradigm, n_layers, *, tied, hidden_layer_sizes, sample):
        """The family's layers of the ``"objective"``, ``"correction"`` and ``"dnn"`` paradigms."""
        if paradigm not in ("objective", "correction", "dnn"):
            return None  # the core's generic layers
        if sample is None and self.psi is None:
            raise ValueError(f"paradigm={paradigm!r} needs a sample batch to size its layers")
        n_rows = self.psi.shape[0] if self.psi is not None else sample[0].shape[-2]
        return rpca_layers(self, paradigm, n_layers, n_rows)
