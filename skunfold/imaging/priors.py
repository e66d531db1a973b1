r"""Sparsifying priors of images: coefficient groups, their :math:`\ell_1` norms, the prox.

A prior is the regulariser :math:`R(x) = \sum_g \lambda_g \|(\Psi x)_g\|_1` of
the imaging problem :math:`\tfrac12 \|A x - y\|_2^2 + R(x)`: a transform
:math:`\Psi` (the identity for :class:`PixelL1`, an orthonormal wavelet
transform, finite differences for total variation) whose coefficients fall
into groups :math:`g` (the wavelet bands), each with its own threshold
:math:`\lambda_g`. Groups listed in ``free_groups`` (a wavelet approximation
band, by default) are never thresholded: their thresholds are ignored.

Every prior works on batches of flattened images, ``(batch, H * W)`` torch
tensors, with torch operations only (no branch on tensor values), so the
layers built on it export as one static graph.
"""

import abc

import numpy as np

from ..core import soft_threshold
from .checks import check_image_shape

__all__ = ["Prior", "PixelL1"]


class Prior(abc.ABC):
    r"""Base of the priors: groups of coefficients, :meth:`prox` and :meth:`penalty`.

    A subclass sets ``group_names`` (one threshold per group) and implements
    :meth:`prox`, the proximal map of
    :math:`x \mapsto \sum_g t_g \|(\Psi x)_g\|_1` for thresholds :math:`t`,
    and :meth:`penalty`, that sum itself.

    Parameters
    ----------
    image_shape : (int, int)
        Height and width of the images.
    free_groups : tuple of str, optional
        Groups never thresholded (``None``: the prior's default,
        ``default_free_groups``).

    Attributes
    ----------
    group_names : tuple of str
    free_groups : tuple of str
    n_groups : int
    """

    group_names = ()
    default_free_groups = ()

    def __init__(self, image_shape, free_groups=None):
        self.image_shape = check_image_shape(image_shape)
        free = self.default_free_groups if free_groups is None else tuple(free_groups)
        unknown = sorted(set(free) - set(self.group_names))
        if unknown:
            raise ValueError(f"free_groups names unknown groups {unknown}; the groups of "
                             f"{type(self).__name__} are {list(self.group_names)}")
        self.free_groups = free

    @property
    def n_groups(self):
        return len(self.group_names)

    @property
    def n_pixels(self):
        return self.image_shape[0] * self.image_shape[1]

    def active(self):
        """Per group, 1.0 where it is thresholded and 0.0 for a free group (plain floats)."""
        return [0.0 if name in self.free_groups else 1.0 for name in self.group_names]

    def thresholds(self, value):
        """``value`` for every group, as an array of shape ``(n_groups,)``."""
        return np.full(self.n_groups, float(value))

    @abc.abstractmethod
    def prox(self, x, thresholds):
        r"""The proximal map of :math:`\sum_g t_g \|(\Psi x)_g\|_1` at ``x``.

        Parameters
        ----------
        x : torch.Tensor of shape (batch, H * W)
        thresholds : torch.Tensor of shape (n_groups,)
            Non-negative; those of free groups are ignored.

        Returns
        -------
        torch.Tensor of shape (batch, H * W)
        """

    @abc.abstractmethod
    def penalty(self, x, weights):
        r""":math:`\sum_g w_g \|(\Psi x)_g\|_1` per sample, free groups left out.

        Parameters
        ----------
        x : torch.Tensor of shape (batch, H * W)
        weights : torch.Tensor of shape (n_groups,)

        Returns
        -------
        torch.Tensor of shape (batch,)
        """

    def _check(self, x):
        if x.shape[-1] != self.n_pixels:
            raise ValueError(f"{type(self).__name__} works on images of {self.image_shape[0]}x"
                             f"{self.image_shape[1]} = {self.n_pixels} pixels, got samples of "
                             f"{x.shape[-1]} values")

    def __repr__(self):
        return f"{type(self).__name__}(image_shape={self.image_shape})"


class PixelL1(Prior):
    r"""Sparsity of the pixels themselves: :math:`\lambda \|x\|_1` (one group).

    Its prox is soft thresholding of every pixel; suited to images that are
    mostly zero (stars, spikes, masks of sparse events), and the simplest
    prior to test a problem with.

    Parameters
    ----------
    image_shape : (int, int)

    Examples
    --------
    >>> import torch
    >>> from skunfold.imaging import PixelL1
    >>> prior = PixelL1((1, 3))
    >>> prior.prox(torch.tensor([[0.5, -2.0, 1.0]]), torch.tensor([1.0]))
    tensor([[ 0., -1.,  0.]])
    """

    group_names = ("pixels",)

    def __init__(self, image_shape):
        super().__init__(image_shape)

    def prox(self, x, thresholds):
        self._check(x)
        return soft_threshold(x, thresholds[0] * self.active()[0])

    def penalty(self, x, weights):
        self._check(x)
        return weights[0] * self.active()[0] * x.abs().sum(-1)
