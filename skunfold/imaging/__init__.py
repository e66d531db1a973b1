"""Imaging inverse problems :math:`y = A x + e` with matrix-free operators.

* :class:`ImagingOperator` -- the base: a :class:`scipy.sparse.linalg.LinearOperator`
  over flattened images with batched torch ``forward`` / ``adjoint``, ``norm`` (power
  iteration) and ``lipschitz``;
* the operators: :class:`Identity` (denoising), :class:`Blur` (deblurring),
  :class:`Downsample` (super-resolution), :class:`Inpaint` (inpainting) and :class:`MRI`
  (masked 2-D Fourier, complex measurements); :func:`gaussian_kernel`;
* :func:`as_operator` -- any dense or sparse matrix, SciPy ``LinearOperator`` or PyLops
  operator as one: :class:`MatrixOperator` (torch matmuls) or :class:`ScipyOperator`
  (host products through a torch autograd bridge);
* the priors: :class:`Prior` (coefficient groups, proximal map), :class:`PixelL1`,
  :class:`Wavelet` (orthonormal wavelets, thresholds per band) and
  :class:`TotalVariation`;
* the solvers: :class:`ImagingProblem` (regularised least squares by proximal
  gradient), :class:`ProximalGradient` (PGD / FISTA, classical) and
  :class:`UnfoldedProximalGradient` (its unfolded, trainable version).
"""

from .bridge import MatrixOperator, ScipyOperator, as_operator
from .classical import OperatorEstimatedWarning, ProximalGradient
from .estimators import UnfoldedProximalGradient
from .iterations import ImageCNN, ImageCorrection, ProxCNNIteration
from .operators import MRI, Blur, Downsample, Identity, ImagingOperator, Inpaint, gaussian_kernel
from .priors import PixelL1, Prior
from .problem import ImagingProblem
from .tv import TotalVariation
from .wavelets import Wavelet

__all__ = ["ImagingOperator", "Identity", "Blur", "Downsample", "Inpaint", "MRI",
           "MatrixOperator", "ScipyOperator", "as_operator", "gaussian_kernel", "Prior", "PixelL1",
           "Wavelet", "TotalVariation",
           "ImagingProblem", "ProximalGradient", "UnfoldedProximalGradient",
           "OperatorEstimatedWarning", "ImageCNN", "ImageCorrection", "ProxCNNIteration"]
