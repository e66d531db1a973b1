r"""The imaging estimators' shared base, and the classical solver: proximal gradient (PGD/FISTA).

:class:`ImagingMixin` (an :class:`~skunfold.core.UnfoldedEstimator`) holds what
:class:`ProximalGradient` and :class:`~skunfold.imaging.UnfoldedProximalGradient`
share: the operator and the prior (names or objects, resolved and checked
against the data), the layouts (rows of flattened measurements and images, or
``(n_samples, H, W)`` arrays, returned in the layout they came in), complex
measurements for complex operators, and the computation precision.
"""

import warnings

import numpy as np
import torch
from sklearn.base import RegressorMixin, TransformerMixin
from sklearn.utils import TransformerTags

from ..core import Param, UnfoldedEstimator, constraints, set_init_parameters
from .bridge import as_operator
from .operators import Identity
from .priors import Prior
from .problem import PRIORS, ImagingProblem, resolve_prior

__all__ = ["ImagingMixin", "ProximalGradient", "OperatorEstimatedWarning"]


class OperatorEstimatedWarning(UserWarning):
    """Issued when ``operator=None`` and the targets are not images of ``X``'s size.

    The operator is then estimated from ``(X, y)`` by least squares (see
    :class:`ProximalGradient`).
    """


def _check_operator(value, name):
    """``operator`` is resolved against ``X`` in ``fit`` (its shape needs the data)."""
    return value


def _check_prior(value, name):
    if isinstance(value, Prior) or (isinstance(value, str) and value in PRIORS):
        return value
    raise ValueError(f"{name} must be one of {list(PRIORS)} or a skunfold.imaging.Prior "
                     f"instance, got {value!r}")


def _is_complex_operator(operator):
    try:
        return bool(np.iscomplexobj(np.empty(0, dtype=getattr(operator, "dtype", None))))
    except TypeError:
        return False


class ImagingMixin(RegressorMixin, TransformerMixin, UnfoldedEstimator):
    """Data handling shared by the imaging estimators: operator, prior, layouts, precision.

    ``X`` holds the measurements :math:`y` of :math:`y = A x + e` (one row per sample,
    the flattened measurement; complex for a complex operator such as
    :class:`~skunfold.imaging.MRI`), the targets ``y`` and the outputs the images
    :math:`x`, flattened ``(n_samples, H * W)`` or ``(n_samples, H, W)``.
    """

    parameter_table = {
        "operator": Param(_check_operator, "ImagingOperator, array-like, sparse matrix, "
                          "LinearOperator or None", """
        The forward operator :math:`A` of shape ``(m, H * W)`` (any of
        :func:`~skunfold.imaging.as_operator`'s inputs: a dense matrix, a
        SciPy or PyLops operator). ``None``: denoising,
        :class:`~skunfold.imaging.Identity` on ``(1, n_features)`` images (on
        ``(H, W)`` images for ``(n_samples, H, W)`` input); when ``fit`` gets
        targets of another size than ``X`` (e.g. scikit-learn's 1-D
        ``y``), the operator is estimated from ``(X, y)`` by least squares
        and an :class:`OperatorEstimatedWarning` says so."""),
        "prior": Param(_check_prior, "{'tv', 'wavelet', 'l1'} or Prior", """
        The regulariser: ``"tv"`` (total variation, for natural images),
        ``"wavelet"`` (orthonormal Haar wavelets, the approximation band left
        free) or ``"l1"`` (:class:`~skunfold.imaging.PixelL1`, for images that
        are mostly zero: stars, spikes, sparse events), built for the
        operator's image shape; or a :class:`~skunfold.imaging.Prior`
        instance of that shape. Total variation was the strongest of the
        three on all five tasks of the imaging benchmark; at the default
        ``alpha`` and 100 iterations, on 100 held-out crops with noise 0.01,
        it ended 2.3 and 2.5 dB above the adjoint image :math:`A^\\top y` on
        deblurring and MRI, pixel :math:`\\ell_1` 1.7 and 1.8 dB below it."""),
        "alpha": Param(constraints.real(0), "float", """
        Weight :math:`\\alpha` of the prior; the initial thresholds are
        :math:`\\alpha / L`, :math:`L` the operator's ``lipschitz``."""),
        "momentum": Param(constraints.boolean(), "bool", """
        FISTA's extrapolation :math:`x + \\beta_k (x - x_{k-1})` before each step."""),
        "precision": Param(constraints.options("float32", "float64"), "str", """
        Computation precision. ``"float32"`` (several times faster on images)
        or ``"float64"``; outputs are in the dtype of ``X`` either way."""),
    }

    # -- layouts -------------------------------------------------------------------------
    def accepts_complex(self):
        """Complex ``X`` (measurements) only with a complex operator (e.g. MRI)."""
        return _is_complex_operator(self.operator)

    def validate_input(self, X, *, reset):
        X = constraints.check_input_ndim(X, self, max_ndim=3)
        shape = None
        if constraints.array_ndim(X) == 3:
            X = np.asarray(X)
            shape = X.shape[1:]
            X = X.reshape(len(X), -1)
        X = super().validate_input(X, reset=reset)
        if reset:
            self._measurement_shape = shape
        return X

    def validate_target(self, y, X):
        dtype = getattr(y, "dtype", None)
        if isinstance(dtype, np.dtype) and dtype.kind == "c":
            raise ValueError("y (the images) must be real-valued; only the measurements X may "
                             "be complex")
        if constraints.array_ndim(y) == 3:
            y = np.asarray(y)
            y = y.reshape(len(y), -1)
        checked = super().validate_target(y, X)
        if checked is None:  # every target NaN: no image to learn from or to size the model
            raise ValueError("y holds no image (every value is NaN); pass y=None to fit "
                             "without targets")
        return checked

    def _layout(self, X, out):
        if constraints.array_ndim(X) == 3 and out.ndim == 2:
            return out.reshape(len(out), *self.image_shape_)
        return out

    def _export_outputs(self, images, x):
        """skunfold.export's ``predict``: the images, in the layout of ``X`` (as ``_layout``)."""
        if x.ndim == 3 and images.ndim == 2:
            images = images.reshape((-1,) + tuple(self.image_shape_))
        return {"predict": images}

    # -- the problem ---------------------------------------------------------------------
    def build_problem(self, X, y):
        operator = self._resolve_operator(X, y)
        prior = resolve_prior(self.prior, operator.image_shape)
        if X.shape[1] != operator.shape[0]:
            raise ValueError(
                f"X has {X.shape[1]} features (measurements per sample), but the operator "
                f"{type(operator).__name__} of shape {operator.shape} makes {operator.shape[0]} "
                "measurements: X must have shape (n_samples, operator.shape[0])")
        if y is not None and y.shape[1] != operator.shape[1]:
            raise ValueError(
                f"y has {y.shape[1]} values per sample, but the operator's images have "
                f"{operator.shape[1]} pixels ({operator.image_shape[0]}x"
                f"{operator.image_shape[1]}): y must hold the flattened images")
        self.operator_, self.prior_ = operator, prior
        self.image_shape_ = tuple(operator.image_shape)
        dtype = torch.float32 if self.precision == "float32" else torch.float64
        problem = self._make_problem(operator, prior, dtype)
        self.lipschitz_ = problem.lipschitz
        return problem

    def _make_problem(self, operator, prior, dtype):
        return ImagingProblem(operator, prior, self.alpha, self.momentum, dtype=dtype)

    def _resolve_operator(self, X, y):
        prior_shape = self.prior.image_shape if isinstance(self.prior, Prior) else None
        if self.operator is not None:
            operator = as_operator(self.operator, prior_shape)
            if operator.image_shape is None:
                operator = as_operator(self.operator, (1, operator.shape[1]))
            return operator
        n = X.shape[1]
        if y is None or y.shape[1] == n:
            shape = prior_shape or self._measurement_shape or (1, n)
            if shape[0] * shape[1] != n:
                raise ValueError(f"operator=None (denoising) needs images of X's size: X has "
                                 f"{n} features, the prior's images {shape}")
            return Identity(shape)
        labeled = ~np.isnan(y).all(axis=1)
        A = np.linalg.lstsq(y[labeled].astype(np.float64), X[labeled].astype(np.float64),
                            rcond=None)[0].T
        if not np.all(np.isfinite(A)) or np.linalg.norm(A) == 0:
            raise ValueError("operator=None: could not estimate a usable operator from (X, y)")
        warnings.warn(
            f"operator=None and y has {y.shape[1]} values per sample for {n} measurements: "
            f"{type(self).__name__} estimated the operator ({A.shape[0]} x {A.shape[1]}) from "
            "(X, y) by least squares; it is stored in `operator_`",
            OperatorEstimatedWarning, stacklevel=constraints.caller_stacklevel())
        return as_operator(A, prior_shape or (1, A.shape[1]))

    # -- inference API -------------------------------------------------------------------
    def predict(self, X):
        """The reconstructed images (the last layer's estimate).

        Parameters
        ----------
        X : array-like of shape (n_samples, m) or (n_samples, h, w)
            Measurements (complex for a complex operator).

        Returns
        -------
        images : ndarray of shape (n_samples, H * W) or (n_samples, H, W)
            In the layout of ``X`` (3-D input, 3-D output) and its precision.
        """
        return self._layout(X, super().predict(X))

    def transform(self, X):
        """The reconstructed images, as a representation of ``X`` (for a Pipeline).

        Parameters
        ----------
        X : array-like of shape (n_samples, m) or (n_samples, h, w)

        Returns
        -------
        images : ndarray of shape (n_samples, H * W) or (n_samples, H, W)
        """
        return self._layout(X, self.iterate(X))

    def staged_predict(self, X, n_layers=None):
        """Yield the images after each layer :math:`k = 1, \\dots, K`.

        Parameters
        ----------
        X : array-like of shape (n_samples, m) or (n_samples, h, w)
        n_layers : int, optional
            Depth to run (more than fitted: classical and tied models only).

        Yields
        ------
        images : ndarray of shape (n_samples, H * W) or (n_samples, H, W)
        """
        for out in super().staged_predict(X, n_layers):
            yield self._layout(X, out)

    score = UnfoldedEstimator.score

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        tags.target_tags.multi_output = True
        tags.transformer_tags = TransformerTags(preserves_dtype=["float64", "float32"])
        return tags


class ProximalGradient(ImagingMixin):
    r"""Proximal gradient descent (ISTA) or FISTA on images, the classical solver (nothing learned).

    Solves :math:`\min_x \tfrac12 \|A x - y\|_2^2 + \alpha R(x)` by
    :math:`x \leftarrow \operatorname{prox}_{\alpha R / L}(\tilde x - A^\top (A \tilde x - y) / L)`,
    ``n_layers`` times from the adjoint image :math:`x_0 = A^\top y`, with
    :math:`\tilde x = x` (PGD) or FISTA's extrapolation (``momentum=True``) and
    :math:`L = \|A\|_2^2` from the operator's power iteration (never an SVD). The
    operator is matrix-free (:mod:`skunfold.imaging`'s operators, or any matrix or
    linear operator) and the prior's thresholds are per coefficient group (a
    wavelet approximation band is left alone). Computation is in float32 by
    default (``precision``); outputs come in the dtype of ``X``.

    Parameters
    ----------
    operator : ImagingOperator, array-like, sparse matrix, LinearOperator or None, default=None
        See :class:`ImagingMixin`'s row: the forward operator :math:`A`; ``None``:
        denoising.
    n_layers : int, default=100
        Number of iterations.
    %(parameters)s

    Attributes
    ----------
    module_ : UnfoldedModule
        The solver as a torch module.
    problem_ : ImagingProblem
        The fitted problem.
    operator_ : ImagingOperator
        The operator used (given, or :class:`~skunfold.imaging.Identity` for ``None``).
    prior_ : Prior
    image_shape_ : tuple of int
        ``(H, W)``.
    lipschitz_ : float
        :math:`L = \|A\|_2^2`.
    n_features_in_ : int
        Measurements per sample (flattened).

    See Also
    --------
    UnfoldedProximalGradient : The same solver unfolded into trainable layers.

    Examples
    --------
    >>> import numpy as np
    >>> from skunfold.imaging import Blur, ProximalGradient
    >>> from skunfold.metrics import psnr
    >>> rng = np.random.default_rng(0)
    >>> images = np.zeros((4, 16, 16)); images[:, 4:12, 4:12] = 1.0
    >>> A = Blur((16, 16), sigma=1.0)
    >>> Y = A.matmat(images.reshape(4, -1).T).T + 0.02 * rng.normal(size=(4, 256))
    >>> pgd = ProximalGradient(A, alpha=0.01, n_layers=50, momentum=True).fit(Y)
    >>> bool(psnr(images, pgd.predict(Y).reshape(4, 16, 16)) > psnr(images, Y.reshape(4, 16, 16)))
    True
    """

    supports = ("complex_input",)

    def __init__(self, operator=None, *, prior="tv", alpha=0.05, n_layers=100, momentum=False,
                 precision="float32", device="auto", n_threads=None, verbose=0):
        set_init_parameters(self, locals())
