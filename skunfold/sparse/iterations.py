"""The sparse family's own layers: LISTA, LISTA-CP, the correction network, the DNN shrinkage, LAMP.

The classical and hyperparameters paradigms use the core's generic layers on
:class:`~skunfold.sparse.SparseCoding` and :class:`~skunfold.sparse.AMPProblem`
(their steps with learned step sizes, thresholds, momentum or shrinkage
parameters); the layers here are those whose parameters are matrices or
networks. Each reports its scalar hyperparameters (learned thresholds,
momentum, shrinkage parameters) through :meth:`hyperparameter_values`, the
columns of an estimator's ``layer_parameters_``.
"""

import torch
import torch.nn.functional as F
from torch import nn

from ..core import CorrectionIteration, Iteration, LearnedHyperparameters, mlp

__all__ = [
    "SparseLayer",
    "LISTALayer",
    "LISTACPLayer",
    "SharedInput",
    "SparseCorrection",
    "ElementwiseNet",
    "DNNLayer",
    "Preconditioner",
    "PreconditionedLayer",
    "sparse_layers",
    "LearnedMatrix",
    "LAMPLayer",
    "lamp_layers",
]


class SparseLayer(Iteration):
    r"""Common part of the sparse layers: optional learned momentum, then :meth:`update`.

    :math:`\tilde s = s + \beta (s - s_{\text{prev}})` (a skip connection; :math:`\beta`,
    the attribute ``beta``, starts at FISTA's value of the layer and is learned), then
    :math:`s \leftarrow u(\tilde s, x)`, :math:`u` being the layer's :meth:`update`.
    """

    def __init__(self, momentum=None):
        super().__init__()
        self.beta = None if momentum is None else nn.Parameter(
            torch.tensor(float(momentum), dtype=torch.float64))

    def forward(self, problem, k, state, x, side):
        s, s_prev = state
        s_in = s if self.beta is None else s + self.beta * (s - s_prev)
        return self.update(problem, k, s_in, x), s

    def hyperparameter_values(self, problem, k):
        """The layer's threshold, support fraction and momentum (learned scalars), by name."""
        values = {}
        theta = getattr(self, "theta", None)
        if theta is not None:
            values["threshold"] = theta
            if problem.support_selection:
                values["support"] = problem.support_fraction(k)
        if self.beta is not None:
            values["momentum"] = self.beta
        return values


class SharedInput(nn.Module):
    """LISTA's input matrix :math:`W_1` (``W1``), shared by every layer (trained at every stage)."""

    shared_across_layers = True

    def __init__(self, W1):
        super().__init__()
        self.W1 = nn.Parameter(torch.as_tensor(W1).clone())


class LISTALayer(SparseLayer):
    r"""LISTA (eq. 13): :math:`s \leftarrow \eta_{\theta_k}(W_1 x + W_{2,k} s)`.

    :math:`W_1` (a :class:`SharedInput`) is shared by all layers.
    """

    def __init__(self, shared, W2, threshold, momentum=None):
        super().__init__(momentum)
        self.shared = shared
        self.W2 = nn.Parameter(torch.as_tensor(W2).clone())
        self.theta = nn.Parameter(torch.tensor(float(threshold), dtype=torch.float64))

    def update(self, problem, k, s, x):
        z = x @ self.shared.W1 + s @ self.W2
        return problem.shrink(z, self.theta, problem.support_fraction(k))


class LISTACPLayer(SparseLayer):
    r"""LISTA-CP: LISTA with coupled weights :math:`W_2 = I - W_1 H`.

    That is, :math:`s \leftarrow \eta_{\theta_k}(s + W_k^\top (x - H s))`.
    """

    def __init__(self, W, threshold, momentum=None):
        super().__init__(momentum)
        self.W = nn.Parameter(torch.as_tensor(W).clone())
        self.theta = nn.Parameter(torch.tensor(float(threshold), dtype=torch.float64))

    def update(self, problem, k, s, x):
        z = s + (x - s @ problem.D) @ self.W
        return problem.shrink(z, self.theta, problem.support_fraction(k))


class SparseCorrection(nn.Module):
    r"""The correction :math:`\Delta(s, x)`: an MLP on :math:`[s, H^\top (x - H s)]`.

    Its last layer is zero, so it starts at 0.
    """

    def __init__(self, n_components, hidden_layer_sizes):
        super().__init__()
        self.mlp = mlp([2 * n_components, *hidden_layer_sizes, n_components])

    def forward(self, problem, state, x, side):
        s = state[0]
        grad = problem.residual_correlation(s, x)
        return self.mlp(torch.cat([s, grad], dim=-1))


class ElementwiseNet(nn.Module):
    r"""A scalar-to-scalar ReLU network applied to every entry.

    :math:`\phi(z) = \sum_j c_j \operatorname{relu}(a_j z + b_j)`. Units 0 and 1 are
    initialised to represent soft thresholding exactly
    (:math:`\operatorname{relu}(z - \theta) - \operatorname{relu}(-z - \theta)`);
    the other units start with :math:`c_j = 0`, so the untrained network is the
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


class DNNLayer(SparseLayer):
    """Gradient step with the shrinkage replaced by a learned elementwise network."""

    def __init__(self, threshold, n_hidden=16, momentum=None):
        super().__init__(momentum)
        self.phi = ElementwiseNet(threshold, n_hidden)

    def update(self, problem, k, s, x):
        z = s + problem.residual_correlation(s, x, 1.0 / problem.lipschitz)
        return self.phi(z)

    def hyperparameter_values(self, problem, k):
        """The gradient step :math:`1/L` (fixed) and the learned momentum (shrinkage: a net)."""
        return {"step": 1.0 / problem.lipschitz, **super().hyperparameter_values(problem, k)}


#: Side of the learned filter of the matrix-free objective paradigm (as in skunfold.imaging).
FILTER_SIDE = 5

#: The filter's taps are learned at this fraction of the learning rate (see Preconditioner).
FILTER_RATE = 0.1


class Preconditioner(nn.Module):
    r"""A learned matrix-free preconditioner :math:`P` of the gradient :math:`H^\top (x - H s)`.

    With ``image_shape`` (codes that are images, e.g. for a :mod:`skunfold.imaging`
    operator) a small convolution filter (odd side at most :data:`FILTER_SIDE`, periodic
    boundary), else a diagonal (one weight per code entry). It starts as the identity (a
    centred delta, ones). The filter is stored as ``weight / FILTER_RATE`` (the parameter
    ``raw``): an optimizer step moves its taps :data:`FILTER_RATE` (0.1) times as far as it
    moves the diagonal or a log-step, so that one learning rate suits both (5e-2, about
    a 5 percent change of a step or a threshold per step). At that rate, 8 layers trained
    on blurred 12 x 12 and 16 x 16 spike images lost 4.1 and 2.6 dB of held-out NMSE with
    taps moved half as far as the scalars (0.5) instead of a tenth (see ``UnfoldedISTA``).

    Parameters
    ----------
    n_components : int
    image_shape : tuple of int (H, W) or None
    scale : float, default=1.0
        The start: ``scale`` times the identity.
    shared : bool, default=False
        Marks it shared by the layers (LAMP's tied matrix).
    """

    def __init__(self, n_components, image_shape=None, scale=1.0, shared=False):
        super().__init__()
        self.image_shape = None if image_shape is None else tuple(int(v) for v in image_shape)
        self.shared_across_layers = bool(shared)
        if self.image_shape is None:
            start = torch.ones(int(n_components), dtype=torch.float64)
        else:
            kh, kw = (min(FILTER_SIDE, 2 * ((v - 1) // 2) + 1) for v in self.image_shape)
            start = torch.zeros(kh, kw, dtype=torch.float64)
            start[kh // 2, kw // 2] = 1.0
        self.rate = 1.0 if self.image_shape is None else FILTER_RATE
        self.raw = nn.Parameter(float(scale) * start / self.rate)

    @property
    def weight(self):
        """The diagonal, shape ``(n_components,)``, or the filter, shape ``(kh, kw)``."""
        return self.rate * self.raw

    def forward(self, g):
        weight = self.weight
        if self.image_shape is None:
            return g * weight
        kh, kw = weight.shape
        images = F.pad(g.reshape(g.shape[0], 1, *self.image_shape),
                       (kw // 2, kw // 2, kh // 2, kh // 2), mode="circular")
        return F.conv2d(images, weight.flip(0, 1)[None, None]).reshape(g.shape)


class PreconditionedLayer(Iteration):
    r"""The objective paradigm on an operator: :math:`s \leftarrow \eta_{\theta_k}(\tilde s +
    \gamma_k P_k H^\top (x - H \tilde s))`, :math:`P_k` a learned :class:`Preconditioner`.

    LISTA-CP's :math:`W_k^\top` becomes :math:`\gamma_k P_k H^\top`: matrix-free, it
    learns a filter (or a diagonal) in place of a matrix. The step :math:`\gamma_k`, the
    threshold :math:`\theta_k` (and, with momentum, :math:`\beta_k`) are learned as in
    the hyperparameters paradigm, starting at ISTA's (FISTA's) values; support selection
    as the problem says. Untrained, the layer is an ISTA iteration.
    """

    def __init__(self, problem, k):
        super().__init__()
        self.hyperparameters = LearnedHyperparameters(problem.layer_hyperparameters(k),
                                                      problem.hyperparameter_constraints)
        self.preconditioner = Preconditioner(problem.n_components,
                                             getattr(problem.operator, "image_shape", None))

    def forward(self, problem, k, state, x, side):
        values = self.hyperparameters(problem, k)
        s, s_prev = state
        momentum = values.get("momentum")
        s_in = s if momentum is None else s + momentum * (s - s_prev)
        gradient = self.preconditioner(problem.residual_correlation(s_in, x))
        z = s_in + values["step"] * gradient
        return problem.shrink(z, values["threshold"], values.get("support", 0.0)), s

    def hyperparameter_values(self, problem, k):
        """The layer's learned step, threshold (and momentum); the filter is in ``module_``."""
        return self.hyperparameters(problem, k)


def sparse_layers(problem, paradigm, n_layers, tied, hidden_layer_sizes):
    r"""The layers of the objective, correction and dnn paradigms (``None`` for the others).

    Every layer starts from ISTA: :math:`W_1 = H^\top / L`, :math:`W_2 = I - H^\top H / L` and
    :math:`W = H^\top / L` (LISTA-CP), thresholds :math:`\alpha / L`, a zero correction,
    shrinkage-shaped elementwise networks; with momentum, FISTA's coefficients. On a
    matrix-free dictionary the objective paradigm's layers are :class:`PreconditionedLayer`
    (either ``coupling``).
    """
    if paradigm not in ("objective", "correction", "dnn"):
        return None
    if paradigm == "objective" and problem.operator is not None:
        is_tied = bool(tied)
        layers = [PreconditionedLayer(problem, k) for k in range(1 if is_tied else n_layers)]
        return layers[0] if is_tied else layers
    D = problem.D
    L = problem.lipschitz
    theta = problem.alpha / L
    is_tied = (paradigm == "correction") if tied is None else bool(tied)
    count = 1 if is_tied else n_layers
    momenta = [problem.layer_hyperparameters(k).get("momentum") for k in range(count)]
    if paradigm == "objective":
        if problem.coupling == "cp":
            layers = [LISTACPLayer(D.T / L, theta, m) for m in momenta]
        else:
            shared = SharedInput(D.T / L)
            W2 = torch.eye(D.shape[0], dtype=D.dtype) - D @ D.T / L
            layers = [LISTALayer(shared, W2, theta, m) for m in momenta]
    elif paradigm == "correction":
        nets = [SparseCorrection(problem.n_components, hidden_layer_sizes) for _ in range(count)]
        layers = [CorrectionIteration(net) for net in nets]
    else:
        layers = [DNNLayer(theta, hidden_layer_sizes[0], m) for m in momenta]
    return layers[0] if is_tied else layers


# -- learned AMP -----------------------------------------------------------------------------

class LearnedMatrix(nn.Module):
    """A learned matrix :math:`B` (shape ``(m, n)``); ``shared=True`` marks it shared by layers."""

    def __init__(self, B, shared=False):
        super().__init__()
        self.B = nn.Parameter(torch.as_tensor(B).detach().clone())
        self.shared_across_layers = bool(shared)


class LAMPLayer(Iteration):
    """A LAMP layer: the AMP step with a learned matrix and learned shrinkage parameters.

    Parameters
    ----------
    problem : AMPProblem
    k : int
        The layer (its shrinkage parameters start at the classical values).
    matrix : LearnedMatrix or Preconditioner
        The layer's own :math:`B_k` (untied) or one shared by every layer (tied); on an
        operator :math:`A`, a :class:`Preconditioner` :math:`P_k` (:math:`B_k = P_k A^T`).
    """

    def __init__(self, problem, k, matrix):
        super().__init__()
        self.hyperparameters = LearnedHyperparameters(problem.layer_hyperparameters(k),
                                                      problem.hyperparameter_constraints)
        self.matrix = matrix

    def forward(self, problem, k, state, x, side):
        B = self.matrix.B if isinstance(self.matrix, LearnedMatrix) else self.matrix
        return problem.step(state, x, B=B, **self.hyperparameters(problem, k))

    def hyperparameter_values(self, problem, k):
        """The layer's learned shrinkage parameters (the matrix :math:`B_k` is in ``module_``)."""
        return self.hyperparameters(problem, k)


def lamp_layers(problem, paradigm, n_layers, tied):
    r"""LAMP's layers of the objective and dnn paradigms (``None`` for the others).

    The learned matrices start at :math:`c A^\top`, :math:`c` the problem's ``matrix_scale``
    (one shared by every layer when ``tied``), the shrinkage parameters at their classical
    values. On an operator :math:`A` the learned :math:`B_k = P_k A^T`, :math:`P_k` a
    :class:`Preconditioner` starting at ``matrix_scale`` times the identity.
    """
    if paradigm not in ("objective", "dnn"):
        return None  # classical, hyperparameters: the core's generic layers
    if problem.operator is not None:
        shape = getattr(problem.operator, "image_shape", None)

        def matrix(shared=False):
            return Preconditioner(problem.n_components, shape, problem.matrix_scale, shared)

        shared = matrix(shared=True) if tied else None
        return [LAMPLayer(problem, k, shared if tied else matrix()) for k in range(n_layers)]
    B0 = problem.objective_parameters["B"] * problem.matrix_scale
    shared = LearnedMatrix(B0, shared=True) if tied else None
    return [LAMPLayer(problem, k, shared if tied else LearnedMatrix(B0))
            for k in range(n_layers)]
