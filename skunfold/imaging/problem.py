r"""Imaging inverse problems :math:`y = A x + e` as a :class:`~skunfold.core.Problem`: PGD, FISTA.

Row convention: a batch of measurements ``y`` has shape ``(batch, m)`` (complex for
:class:`~skunfold.imaging.MRI`), images ``x`` are flattened, ``(batch, H * W)``. The
problem is the regularised least squares

.. math:: \min_x \tfrac12 \|A x - y\|_2^2 + \alpha \sum_g \|(\Psi x)_g\|_1,

the operator :math:`A` matrix-free (``forward`` / ``adjoint``), the prior
:math:`\Psi` with its coefficient groups :math:`g` (:class:`~skunfold.imaging.Prior`),
solved by proximal gradient descent from the adjoint image :math:`A^\top y`.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F

from ..core import Problem
from .iterations import imaging_layers
from .priors import PixelL1, Prior

__all__ = ["ImagingProblem", "fista_momentum", "resolve_prior", "PRIORS"]

#: The prior names ``prior=`` accepts (the wavelet and TV priors are imported when asked for).
PRIORS = ("l1", "wavelet", "tv")

_FISTA_T = [1.0]


def fista_momentum(k):
    """FISTA's coefficient :math:`(t_k - 1) / t_{k+1}` of iteration ``k`` (0-based)."""
    while len(_FISTA_T) < k + 2:
        t = _FISTA_T[-1]
        _FISTA_T.append((1.0 + math.sqrt(1.0 + 4.0 * t * t)) / 2.0)
    return (_FISTA_T[k] - 1.0) / _FISTA_T[k + 1]


def resolve_prior(prior, image_shape, name="prior"):
    """A :class:`~skunfold.imaging.Prior` for ``image_shape`` from a name or an instance.

    ``"l1"``: :class:`~skunfold.imaging.PixelL1`; ``"wavelet"``: the orthonormal Haar
    wavelet prior (approximation band left free); ``"tv"``: total variation. An instance
    must have the images' shape.
    """
    if isinstance(prior, Prior):
        if tuple(prior.image_shape) != tuple(image_shape):
            raise ValueError(f"{name} {prior!r} works on images of shape "
                             f"{tuple(prior.image_shape)}, but the operator's images have "
                             f"shape {tuple(image_shape)}")
        return prior
    if isinstance(prior, str) and prior == "l1":
        return PixelL1(image_shape)
    if isinstance(prior, str) and prior == "wavelet":
        from .wavelets import Wavelet
        return Wavelet(image_shape)
    if isinstance(prior, str) and prior == "tv":
        from .tv import TotalVariation
        return TotalVariation(image_shape)
    raise ValueError(f"{name} must be one of {list(PRIORS)} or a skunfold.imaging.Prior "
                     f"instance, got {prior!r}")


def _circular_conv(images, kernel):
    """``images`` (batch, H, W) convolved with a small ``kernel`` (kh, kw), periodic boundary."""
    kh, kw = kernel.shape
    padded = F.pad(images[:, None], (kw // 2, (kw - 1) // 2, kh // 2, (kh - 1) // 2),
                   mode="circular")
    return F.conv2d(padded, kernel.flip(0, 1)[None, None])[:, 0]


class ImagingProblem(Problem):
    r"""Regularised least squares on images, solved by proximal gradient descent (PGD/FISTA).

    One iteration is

    .. math:: x \leftarrow \operatorname{prox}_{\theta}\big(\tilde x - \gamma P\,
       A^\top (A \tilde x - y)\big), \qquad \tilde x = x + \beta_k (x - x_{\text{prev}}),

    with :math:`\beta_k` FISTA's coefficient when ``momentum`` (else no extrapolation),
    :math:`\operatorname{prox}_\theta` the prior's proximal map with one threshold per
    coefficient group, and :math:`P` the identity (a learned convolution in the
    ``"objective"`` paradigm, see ``preconditioner``). The hyperparameters are the
    step :math:`\gamma = 1/L` (``step``, :math:`L` the operator's ``lipschitz``), the
    thresholds :math:`\theta_g = \alpha / L` (``threshold``, a tensor of shape
    ``(n_groups,)``; free groups are never thresholded) and, with ``momentum``,
    :math:`\beta_k` (``momentum``). The state is :math:`(x, x_{\text{prev}})`, starting at
    :math:`(A^\top y, A^\top y)` (the real part for complex measurements); the readout
    is :math:`x`.

    Parameters
    ----------
    operator : ImagingOperator
        :math:`A`, of shape ``(m, H * W)``, with ``image_shape`` ``(H, W)``.
    prior : Prior
        The regulariser, on images of the operator's shape.
    alpha : float, default=0.1
        Weight :math:`\alpha` of the prior.
    momentum : bool, default=False
        FISTA's extrapolation.
    preconditioner : int or None, default=None
        Side (odd, at most the image's) of a convolution filter :math:`P` applied to the
        gradient, declared as the objective parameter ``filter`` (a centred delta:
        :math:`P = I`), which the ``"objective"`` paradigm learns per layer; ``None``: no
        filter.
    dtype : torch.dtype or None, default=torch.float32
        The computation dtype (see :class:`~skunfold.core.Problem`).

    Examples
    --------
    >>> import torch
    >>> from skunfold.imaging import Identity, ImagingProblem, PixelL1
    >>> problem = ImagingProblem(Identity((2, 2)), PixelL1((2, 2)), alpha=0.5)
    >>> y = torch.tensor([[1.0, -0.2, 0.3, 2.0]])
    >>> state = problem.initial_state(y)
    >>> problem.readout(problem.step(state, y, **problem.hyperparameters))
    tensor([[0.5000, 0.0000, 0.0000, 1.5000]])
    """

    hyperparameter_constraints = {"momentum": "real"}

    def __init__(self, operator, prior, alpha=0.1, momentum=False, preconditioner=None,
                 dtype=torch.float32):
        if tuple(prior.image_shape) != tuple(operator.image_shape or ()):
            raise ValueError(f"the prior works on images of shape {tuple(prior.image_shape)}, "
                             f"but the operator's images have shape {operator.image_shape}")
        self.operator = operator
        self.prior = prior
        self.image_shape = tuple(prior.image_shape)
        self.alpha = float(alpha)
        self.momentum = bool(momentum)
        self.dtype = dtype
        self.complex_input = bool(np.iscomplexobj(np.empty(0, dtype=operator.dtype)))
        self.lipschitz = float(operator.lipschitz)
        if not (self.lipschitz > 0 and math.isfinite(self.lipschitz)):
            raise ValueError(f"the operator's Lipschitz constant (norm squared) must be "
                             f"positive and finite, got {self.lipschitz!r}")
        self.weights = torch.ones(prior.n_groups, dtype=torch.float64)
        # the classical thresholds, a tensor attribute: it follows the model's device and dtype
        self.base_threshold = torch.as_tensor(prior.thresholds(self.alpha / self.lipschitz),
                                              dtype=torch.float64)
        self.preconditioner = preconditioner
        if preconditioner is not None:
            # odd sides, at most the image's (a row image gets a 1-D filter)
            kh, kw = (min(int(preconditioner), 2 * ((n - 1) // 2) + 1) for n in self.image_shape)
            delta = torch.zeros(kh, kw, dtype=torch.float64)
            delta[kh // 2, kw // 2] = 1.0
            self.objective_parameters = {"filter": delta}
        self.hyperparameters = self.layer_hyperparameters(0)

    # -- the solver ---------------------------------------------------------------------
    def layer_hyperparameters(self, k):
        step = 1.0 / self.lipschitz
        values = {"step": step, "threshold": self.base_threshold}
        if self.momentum:
            values["momentum"] = fista_momentum(k)
        return values

    def adjoint_image(self, y):
        """:math:`A^\\top y` as a real image batch ``(batch, H * W)``."""
        x = self.operator.adjoint(y)
        return x.real if x.is_complex() else x

    def gradient(self, x, y):
        r""":math:`A^\top (A x - y)`, the gradient of the data term."""
        return self.adjoint_image(self.operator.forward(x) - y)

    def initial_state(self, y):
        x0 = self.adjoint_image(y)
        return (x0, x0)

    def extrapolate(self, state, momentum=None):
        r""":math:`\tilde x = x + \beta (x - x_{\text{prev}})` (``x`` when ``momentum`` is None)."""
        x, x_prev = state
        return x if momentum is None else x + momentum * (x - x_prev)

    def precondition(self, g, filter=None):
        """The gradient through the learned filter (unchanged when ``filter`` is None)."""
        if filter is None:
            return g
        images = g.reshape(g.shape[0], *self.image_shape)
        return _circular_conv(images, filter.to(g.dtype)).reshape(g.shape)

    def step(self, state, y, step, threshold, momentum=None, filter=None):
        z = self.extrapolate(state, momentum)
        g = self.precondition(self.gradient(z, y), filter)
        return self.prior.prox(z - step * g, threshold), state[0]

    def readout(self, state):
        return state[0]

    def objective(self, estimate, y):
        r = self.operator.forward(estimate) - y
        data = (r.real * r.real + r.imag * r.imag) if r.is_complex() else r * r
        penalty = self.prior.penalty(estimate, self.weights.to(estimate.dtype))
        return 0.5 * data.sum(-1) + self.alpha * penalty

    def make_layers(self, paradigm, n_layers, *, tied, hidden_layer_sizes, sample):
        return imaging_layers(self, paradigm, n_layers, tied, hidden_layer_sizes)
