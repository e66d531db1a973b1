"""Robust training: fit on inputs perturbed adversarially, and the attack that finds them.

The survey (Shlezinger et al., Sec. III-C, "Gains") notes that learned
objective parameters admit robust training directly: the unfolded optimizer
is trained on the worst inputs of a small neighbourhood of each training
input instead of the inputs themselves (Madry et al., ICLR 2018). With
``adversarial=Adversarial(radius=eps)`` (a shared training parameter), every
training batch is replaced by

    x + delta,  delta = argmax_{||delta_i|| <= eps ||x_i||} loss(model(x + delta), y)

approximated by ``steps`` steps of projected gradient ascent
(:func:`pgd_perturbation`) on the batch's training loss -- the loss schedule's
weighted iterates, supervised, unsupervised or semi-supervised, as the
training itself. The perturbation is recomputed at every step for the current
parameters; it costs ``steps`` extra forward and backward passes
per batch. The same attack measures robustness at test time (see
``benchmarks/robustness.py``).
"""

import torch

from .constraints import integer, real
from .data import Inputs
from .options import OptionGroup

__all__ = ["Adversarial", "pgd_perturbation"]


def _norms(t):
    return torch.linalg.vector_norm(t.reshape(t.shape[0], -1), dim=1)


def _per_sample(v, like):
    return v.view(-1, *([1] * (like.ndim - 1)))


def pgd_perturbation(loss, x, radius, n_steps=3, step_size=None):
    r"""Inputs that increase ``loss`` most within relative l2 balls: projected gradient ascent.

    Per sample ``i``, :math:`\delta_i` is kept within :math:`\|\delta_i\| \le \rho \|x_i\|`
    (:math:`\rho` is ``radius``); each step moves it by ``step_size`` times the ball's
    radius along the sample's normalised gradient and projects it back on the ball.

    Parameters
    ----------
    loss : callable
        ``loss(x) -> scalar tensor``, a sum or mean of per-sample losses (each
        sample's perturbation then only follows its own loss).
    x : torch.Tensor of shape (batch, ...)
    radius : float
        Relative radius of the ball (``0``: ``x`` is returned).
    n_steps : int, default=3
    step_size : float, optional
        Step as a fraction of the radius (default ``2.5 / n_steps``).

    Returns
    -------
    x_adv : torch.Tensor
        :math:`x + \delta`, detached.

    Examples
    --------
    >>> import torch
    >>> from skunfold.core import pgd_perturbation
    >>> x = torch.tensor([[3.0, 4.0]])
    >>> x_adv = pgd_perturbation(lambda z: (z ** 2).sum(), x, radius=0.1)
    >>> round(float(torch.linalg.vector_norm(x_adv - x)), 4)  # on the ball, along x
    0.5
    """
    x = x.detach()
    if radius <= 0:
        return x
    eps = radius * _norms(x)
    step = (2.5 / n_steps if step_size is None else step_size) * eps
    delta = torch.zeros_like(x)
    for _ in range(n_steps):
        delta.requires_grad_(True)
        with torch.enable_grad():
            (grad,) = torch.autograd.grad(loss(x + delta), delta)
        grad = grad / _per_sample(_norms(grad).clamp_min(1e-30), grad)
        delta = delta.detach() + _per_sample(step, grad) * grad
        scale = (eps / _norms(delta).clamp_min(1e-30)).clamp(max=1.0)
        delta = delta * _per_sample(scale, delta)
    return (x + delta).detach()


class Adversarial(OptionGroup):
    r"""Robust training (``adversarial=Adversarial(...)``): each batch replaced by its attack.

    Parameters
    ----------
    radius : float, default=0.05
        Relative l2 radius :math:`\rho` of the perturbations, :math:`\|\delta_i\| \le \rho \|x_i\|`
        (``0`` trains on the clean inputs).
    steps : int, default=3
        Projected gradient steps per batch (each costs a forward and a
        backward pass).

    Examples
    --------
    >>> from skunfold.core import Adversarial
    >>> Adversarial(radius=0.1, steps=2)
    Adversarial(radius=0.1, steps=2)
    """

    _constraints = {"radius": real(0), "steps": integer(1)}

    def __init__(self, radius=0.05, steps=3):
        self.radius = radius
        self.steps = steps

    def perturb(self, net, batch):
        """The batch ``(inputs, y)`` with its inputs perturbed to increase ``net``'s loss."""
        inputs, y = batch
        inputs = inputs if isinstance(inputs, Inputs) else Inputs(inputs)

        def loss(x):
            perturbed = Inputs(x, inputs.side)
            return net.get_loss(net.infer(perturbed), y, X=perturbed)

        return Inputs(pgd_perturbation(loss, inputs.x, self.radius, self.steps),
                      inputs.side), y
