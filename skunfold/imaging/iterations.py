r"""The imaging family's own layers: a CNN correction and a CNN proximal step.

The classical, hyperparameters and objective paradigms use the core's generic
layers on :class:`~skunfold.imaging.ImagingProblem` (its step with learned step
sizes, per-group thresholds and momentum; in ``"objective"``, a learned
convolution of the gradient per layer). The layers here hold convolutional
networks on the image; each starts as the classical iteration (its last
convolution is zero), so an untrained model computes proximal gradient descent.
All of them are static graphs (no branch on tensor values, no in-place writes).
"""

import torch
from torch import nn

from ..core import CorrectionIteration, Iteration, LearnedHyperparameters

__all__ = ["ImageCNN", "ImageCorrection", "ProxCNNIteration", "imaging_layers"]


class ImageCNN(nn.Module):
    r"""A small convolutional network on images: 3x3 convolutions and ReLUs, one output map.

    ``forward(images)`` maps ``(batch, channels, H, W)`` to ``(batch, H * W)``. The
    last convolution starts at zero, so the untrained network outputs zero.

    Parameters
    ----------
    in_channels : int
    hidden_layer_sizes : tuple of int
        Channels of the hidden convolutions (one convolution per entry, then the
        output convolution).
    """

    def __init__(self, in_channels, hidden_layer_sizes=(32, 32)):
        super().__init__()
        widths = [int(in_channels), *(int(h) for h in hidden_layer_sizes), 1]
        layers = []
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [nn.Conv2d(a, b, 3, padding=1), nn.ReLU()]
        layers.pop()
        self.net = nn.Sequential(*layers)
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, images):
        out = self.net(images.to(self.net[0].weight.dtype))
        return out.reshape(out.shape[0], -1)


class ImageCorrection(nn.Module):
    r"""The correction :math:`\Delta(x, y)`: a CNN on the image and its data gradient.

    Its two input channels are the current image :math:`x` and
    :math:`A^\top (A x - y)`; it outputs an image, zero until trained.
    """

    def __init__(self, hidden_layer_sizes=(32, 32)):
        super().__init__()
        self.cnn = ImageCNN(2, hidden_layer_sizes)

    def forward(self, problem, state, y, side):
        x = state[0]
        channels = (x, problem.gradient(x, y))
        images = [c.reshape(x.shape[0], 1, *problem.image_shape) for c in channels]
        return self.cnn(torch.cat(images, dim=1)).to(x.dtype)


class ProxCNNIteration(Iteration):
    r"""A gradient step and a learned proximal step: :math:`\operatorname{prox}_\theta(v) + N(v)`.

    :math:`v = \tilde x - \gamma A^\top (A \tilde x - y)` with the layer's learned step,
    thresholds and momentum (as in ``"hyperparameters"``), and :math:`N` a residual CNN
    (:class:`ImageCNN`) whose last convolution starts at zero: the untrained layer is the
    classical proximal-gradient step (unrolled plug-and-play with a learned denoiser).
    """

    def __init__(self, problem, k, hidden_layer_sizes=(32, 32)):
        super().__init__()
        self.hyperparameters = LearnedHyperparameters(problem.layer_hyperparameters(k),
                                                      problem.hyperparameter_constraints)
        self.cnn = ImageCNN(1, hidden_layer_sizes)

    def forward(self, problem, k, state, y, side):
        params = self.hyperparameters(problem, k)
        z = problem.extrapolate(state, params.get("momentum"))
        v = z - params["step"] * problem.gradient(z, y)
        images = v.reshape(v.shape[0], 1, *problem.image_shape)
        return problem.prior.prox(v, params["threshold"]) + self.cnn(images).to(v.dtype), state[0]

    def hyperparameter_values(self, problem, k):
        """The layer's learned step, thresholds and momentum (the CNN is in ``module_``)."""
        return self.hyperparameters(problem, k)


def imaging_layers(problem, paradigm, n_layers, tied, hidden_layer_sizes):
    """The layers of the correction and dnn paradigms (``None``: the core's generic ones).

    ``"correction"``: the classical step plus :class:`ImageCorrection`, one network
    shared by the layers unless ``tied=False``. ``"dnn"``: :class:`ProxCNNIteration`,
    one per layer unless ``tied=True``.
    """
    if paradigm not in ("correction", "dnn"):
        return None
    is_tied = (paradigm == "correction") if tied is None else bool(tied)
    count = 1 if is_tied else n_layers
    if paradigm == "correction":
        layers = [CorrectionIteration(ImageCorrection(hidden_layer_sizes)) for _ in range(count)]
    else:
        layers = [ProxCNNIteration(problem, k, hidden_layer_sizes) for k in range(count)]
    return layers[0] if is_tied else layers
