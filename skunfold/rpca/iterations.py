r"""The robust-PCA family's own layers: learned :math:`\Psi_k`, a correction CNN, CNN transforms.

The classical and hyperparameters paradigms use the core's generic layers on
:class:`~skunfold.rpca.RobustPCAProblem` (its step with the classical or the
learned :math:`\{\eta_L, \eta_R, \zeta_k\}`, the threshold through its logarithm).
The layers here learn the same hyperparameters
(:class:`~skunfold.core.HyperparameterIteration`) and hand the problem's
step a learned transform, a correction network or transform networks; each
is initialised so that the untrained layer computes the classical iteration.

Every layer is a :class:`~skunfold.core.HyperparameterIteration`, so the
fitted estimators' ``layer_parameters_`` list its :math:`\eta_L, \eta_R, \zeta_k`
(the learned :math:`\Psi_k`, CNNs and transform networks are in ``module_``). This
module imports only the core and ``linalg.py``; ``problem.py`` imports it.
"""

import math

import torch
from torch import nn
from torch.nn import functional as F

from ..core import HyperparameterIteration
from .linalg import instance_scale

__all__ = [
    "ObjectiveLayer",
    "CorrectionNet",
    "CorrectionLayer",
    "OffsetConv1d",
    "linear_map_cnn",
    "DNNLayer",
    "rpca_layers",
]


class ObjectiveLayer(HyperparameterIteration):
    r"""Learned hyperparameters plus a learned sparsifying transform :math:`\Psi_k` of the layer.

    :math:`\Psi_k = \Psi + \delta_k s / \sqrt{n_1}` (:math:`s` = ``offset_scale``), initialised at
    the given :math:`\Psi` (the identity when none is given). The scale gives the
    entries of :math:`\Psi_k` updates of the size of their natural perturbations
    under a first-order optimiser. :math:`\Psi_k^{-1}` is applied by a linear solve.
    """

    offset_scale = 0.05

    def __init__(self, problem, k, n_rows):
        super().__init__(problem, k)
        self.n_rows = int(n_rows)
        self.delta = nn.Parameter(torch.zeros(self.n_rows, self.n_rows))

    def transform(self, problem):
        r""":math:`\Psi_k`."""
        base = problem.psi
        if base is None:
            base = torch.eye(self.n_rows, dtype=self.delta.dtype, device=self.delta.device)
        return base + self.delta * (self.offset_scale / math.sqrt(self.n_rows))

    def forward(self, problem, k, state, x, side):
        return problem.step(state, x, **self.hyperparameters(problem, k),
                            psi=self.transform(problem), psi_inv=None, **side)


class CorrectionNet(nn.Module):
    r"""Two-layer CNN :math:`\Delta(L R^\top, \Psi Y, X)`: corrections of ``G`` for the factors.

    The inputs are divided by the instance scale :math:`\mathrm{rms}(X)`; the two output
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


class CorrectionLayer(HyperparameterIteration):
    r"""Learned hyperparameters plus a learned CNN correction of the ``L`` and ``R`` steps.

    :math:`L' = L + \eta_L (G + C_L) R (R^\top R)^{-1}`,
    :math:`R' = R + \eta_R (G + C_R)^\top L (L^\top L)^{-1}` with
    :math:`(C_L, C_R) = \Delta_k(L R^\top, \Psi Y, X)`. The CNN is convolutional, so a
    trained model applies to matrices of any size.
    """

    def __init__(self, problem, k, n_channels=8, kernel_size=3):
        super().__init__(problem, k)
        self.correction = CorrectionNet(n_channels, kernel_size)

    def forward(self, problem, k, state, x, side):
        return problem.step(state, x, **self.hyperparameters(problem, k),
                            **problem.objective_parameters, correction=self.correction, **side)


class OffsetConv1d(nn.Module):
    """Bias-free ``Conv1d`` whose kernel is ``weight0 + delta * offset_scale / sqrt(in_channels)``.

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


def linear_map_cnn(A, kernel_size):
    """Two-layer ReLU CNN over the columns computing exactly ``Z -> A Z`` at initialisation.

    The ``n1`` rows are the channels and the ``n2`` columns the positions:
    ``A Z = A relu(Z) - A relu(-Z)``, so the first layer has ``2 n1`` channels
    with kernel centre ``[I; -I]`` and the second the centre ``[A, -A]``; the
    other taps start at zero.
    """
    A = torch.as_tensor(A).detach().to("cpu", torch.float32)
    n = A.shape[0]
    c = kernel_size // 2
    eye = torch.eye(n)
    w1 = torch.zeros(2 * n, n, kernel_size)
    w1[:, :, c] = torch.cat([eye, -eye], dim=0)
    w2 = torch.zeros(n, 2 * n, kernel_size)
    w2[:, :, c] = torch.cat([A, -A], dim=1)
    return nn.Sequential(OffsetConv1d(w1), nn.ReLU(), OffsetConv1d(w2))


class DNNLayer(HyperparameterIteration):
    r"""Learned hyperparameters, with :math:`\Psi` and :math:`\Psi^{-1}` as two-layer CNNs.

    The analysis network maps the residual :math:`X - L R^\top` to the pre-threshold
    sparse part, the synthesis network maps ``Y`` to :math:`\Psi Y`. Both treat the
    ``n1`` rows as channels and convolve along the ``n2`` columns; they are
    initialised to compute the given :math:`\Psi^{-1}` and :math:`\Psi` exactly, so the
    given transform is used only through this initialisation.
    """

    def __init__(self, problem, k, psi, psi_inv, kernel_size=1):
        super().__init__(problem, k)
        self.analysis_net = linear_map_cnn(psi_inv, kernel_size)
        self.synthesis_net = linear_map_cnn(psi, kernel_size)

    def forward(self, problem, k, state, x, side):
        return problem.step(state, x, **self.hyperparameters(problem, k),
                            analysis=self.analysis_net, synthesis=self.synthesis_net, **side)


def rpca_layers(problem, paradigm, n_layers, n_rows):
    r"""The layers of the objective, correction and dnn paradigms (``None`` for the others).

    Untied (one module per layer), every one starting from the classical
    iteration ``k``: :math:`\Psi_k = \Psi`, a zero correction, CNNs computing
    :math:`\Psi^{-1}` and :math:`\Psi`. ``n_rows`` is ``n1``, the number of rows of the
    training matrices.
    """
    if paradigm not in ("objective", "correction", "dnn"):
        return None
    ks = problem.kernel_size
    if paradigm == "objective":
        return [ObjectiveLayer(problem, k, n_rows) for k in range(n_layers)]
    if paradigm == "correction":
        return [CorrectionLayer(problem, k, problem.n_channels, 3 if ks is None else ks)
                for k in range(n_layers)]
    psi = problem.psi
    if psi is None:
        psi = psi_inv = torch.eye(n_rows, dtype=torch.float64)
    else:
        psi_inv = problem.objective_parameters["psi_inv"]
    return [DNNLayer(problem, k, psi, psi_inv, 1 if ks is None else ks) for k in range(n_layers)]
