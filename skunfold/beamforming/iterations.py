r"""The beamforming family's own layers: learned step sizes plus a correction of the digital step.

The classical and hyperparameters paradigms use the core's generic layers on
:class:`~skunfold.beamforming.HybridPrecoding` (its step with the classical
or the learned :math:`\mu_{a,k}` and :math:`\mu_{d,b,k}`, through their logarithm). The
correction paradigm keeps those learned step sizes and adds a small network,
shared by every layer and band, that corrects the digital gradient before the
step; it outputs zero until trained, so the untrained layer is the classical
iteration.
"""

import torch
from torch import nn

from ..core import HyperparameterIteration, LearnedHyperparameters, mlp
from .linalg import embed_parts, parts

__all__ = ["DigitalCorrection", "CorrectionLayer", "beamforming_layers", "restore_classical"]


def _column_features(re, im):
    r""":math:`W / \|W\|_F` per band, one row of real features per user, ``(..., N, 2L or L)``.

    ``W = re + i im`` (``im`` None: real); a complex entry gives its real and
    imaginary parts side by side.
    """
    squares = (re * re).sum((-2, -1), keepdim=True)
    if im is not None:
        squares = squares + (im * im).sum((-2, -1), keepdim=True)
    # clamped before the root: a zero gradient (a zero channel) has no infinite derivative
    norm = torch.sqrt(torch.clamp(squares, min=torch.finfo(squares.dtype).tiny))
    if im is None:
        return (re / norm).mT, norm
    return torch.stack([re / norm, im / norm], dim=-1).transpose(-3, -2).flatten(-2), norm


def _split(W):
    """``(real part, imaginary part or None)`` of a real or complex matrix."""
    if W.is_complex():
        pair = torch.view_as_real(W)
        return pair[..., 0], pair[..., 1]
    return W, None


class DigitalCorrection(nn.Module):
    r""":math:`\Delta(W_{d,b}, g_b)`: a correction of the digital gradient ``g_b``, user by user.

    For each band and user ``n`` a multilayer perceptron reads the user's
    column of :math:`W_{d,b} / \|W_{d,b}\|_F` and of :math:`g_b / \|g_b\|_F` (real and
    imaginary parts) and outputs a column of ``L`` entries; the result is
    multiplied by ``output_scale`` :math:`\times \|g_b\|_F`, so the correction is relative
    to the gradient and the network sees neither the power nor the gradient's
    scale. It is shared by the bands, the users and the layers (``B N``
    applications per layer), and its last layer starts at zero. It takes
    complex matrices, or their real embeddings (as the iteration carries them,
    :func:`~skunfold.beamforming.linalg.embed`) and returns the same kind.

    Parameters
    ----------
    n_rf_chains : int
        ``L``.
    complex_valued : bool
        Whether the precoders are complex.
    hidden_layer_sizes : tuple of int, default=(32,)

    Examples
    --------
    >>> import torch
    >>> from skunfold.beamforming import DigitalCorrection
    >>> net = DigitalCorrection(4, complex_valued=True)
    >>> Wd = torch.randn(2, 3, 4, 2, dtype=torch.complex64)
    >>> net(Wd, torch.randn_like(Wd)).abs().max().item()  # zero until trained
    0.0
    """

    #: The network is shared by the layers: the sequential schedule trains it at every stage.
    shared_across_layers = True
    #: Scale of the output relative to ``||g_b||_F``.
    output_scale = 0.1

    def __init__(self, n_rf_chains, complex_valued, hidden_layer_sizes=(32,)):
        super().__init__()
        self.complex_valued = bool(complex_valued)
        width = int(n_rf_chains) * (2 if self.complex_valued else 1)
        self.net = mlp([2 * width, *hidden_layer_sizes, width])

    def forward(self, Wd, grad):
        embedded = self.complex_valued and not grad.is_complex()
        if embedded:
            Wd, grad = parts(Wd, True), parts(grad, True)
        else:
            Wd, grad = _split(Wd), _split(grad)
        w, _ = _column_features(*Wd)
        g, g_norm = _column_features(*grad)
        dtype = self.net[0].weight.dtype
        out = self.net(torch.cat([w, g], dim=-1).to(dtype)).to(g_norm.dtype)
        scale = g_norm * self.output_scale
        if not self.complex_valued:
            return out.mT * scale
        out = out.reshape(*out.shape[:-1], -1, 2)          # (..., N, L, real and imaginary)
        re, im = out[..., 0].mT * scale, out[..., 1].mT * scale
        return embed_parts(re, im) if embedded else torch.complex(re, im)


class CorrectionLayer(HyperparameterIteration):
    r"""Learned step sizes of the layer plus the shared correction of the digital gradient.

    :math:`W_{d,b} \leftarrow W_{d,b} + \mu_{d,b,k} (g_b + \Delta(W_{d,b}, g_b))`, the rest of the
    iteration as in :meth:`HybridPrecoding.step
    <skunfold.beamforming.HybridPrecoding.step>`.

    Parameters
    ----------
    problem : HybridPrecoding
    k : int
        The layer (0-based).
    correction : DigitalCorrection
        The network, shared by the layers.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from skunfold.beamforming import CorrectionLayer, DigitalCorrection, HybridPrecoding
    >>> problem = HybridPrecoding((2, 2, 4), 3, np.ones((2, 3, 2)))
    >>> layer = CorrectionLayer(problem, 0, DigitalCorrection(3, complex_valued=False))
    >>> x = torch.randn(5, 2, 2, 4, dtype=torch.float64)
    >>> state = problem.initial_state(x)
    >>> ours = layer.double()(problem, 0, state, x, {})        # untrained: the classical step
    >>> theirs = problem.step(state, x, **problem.layer_hyperparameters(0))
    >>> all(torch.allclose(a, b) for a, b in zip(ours, theirs))
    True
    """

    def __init__(self, problem, k, correction):
        super().__init__(problem, k)
        self.correction = correction

    def forward(self, problem, k, state, x, side):
        return problem.step(state, x, **self.hyperparameters(problem, k),
                            correction=self.correction, **side)


def beamforming_layers(problem, paradigm, n_layers, hidden_layer_sizes=(32,)):
    """The layers of paradigm ``"correction"`` (``None`` for the others: the core's).

    One :class:`CorrectionLayer` per layer (its own step sizes), all sharing
    one :class:`DigitalCorrection`.

    Examples
    --------
    >>> import numpy as np
    >>> from skunfold.beamforming import HybridPrecoding
    >>> from skunfold.beamforming.iterations import beamforming_layers
    >>> problem = HybridPrecoding((2, 2, 4), 3, np.ones((2, 3, 2)))
    >>> layers = beamforming_layers(problem, "correction", 3)
    >>> len(layers), layers[0].correction is layers[2].correction
    (3, True)
    >>> beamforming_layers(problem, "hyperparameters", 3) is None   # the core's layers
    True
    """
    if paradigm != "correction":
        return None
    net = DigitalCorrection(problem.n_rf_chains, problem.initial_digital.is_complex(),
                            hidden_layer_sizes)
    return [CorrectionLayer(problem, k, net) for k in range(n_layers)]


@torch.no_grad()
def restore_classical(module):
    """Reset a module's learned step sizes to the classical ones and its corrections to zero.

    Used by the estimators when training did not improve on the classical
    solver: the module then computes the classical iteration again.

    Parameters
    ----------
    module : UnfoldedModule
        A module of :class:`~skunfold.beamforming.HybridPrecoding` layers.

    Returns
    -------
    module : UnfoldedModule

    Examples
    --------
    >>> from skunfold.datasets import make_wideband_channels
    >>> from skunfold.beamforming import UnfoldedHybridPGA
    >>> from skunfold.beamforming.iterations import restore_classical
    >>> H = make_wideband_channels(50, n_bands=2, n_users=2, n_antennas=4, random_state=0)
    >>> est = UnfoldedHybridPGA(n_layers=2, n_rf_chains=2, max_epochs=3,
    ...                         random_state=0).fit(H)
    >>> bool((est.step_sizes_ != 0.5).any())
    True
    >>> _ = restore_classical(est.module_)
    >>> est.step_sizes_.round(6).tolist()   # mu_a, mu_d,1, mu_d,2 of each layer
    [[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]]
    """
    problem = module.problem
    for k in range(len(module.iterations)):
        layer = module.iterations[k]
        if isinstance(layer, HyperparameterIteration):
            # the classical values, stored as the layer stores its learned ones
            classical = LearnedHyperparameters(problem.layer_hyperparameters(k),
                                               problem.hyperparameter_constraints)
            for name, raw in layer.hyperparameters.raw.items():
                raw.copy_(classical.raw[name].to(dtype=raw.dtype, device=raw.device)
                          .expand_as(raw))
    for sub in module.modules():
        if isinstance(sub, DigitalCorrection):
            nn.init.zeros_(sub.net[-1].weight)
            nn.init.zeros_(sub.net[-1].bias)
    return module
