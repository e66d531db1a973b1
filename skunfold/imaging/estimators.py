r"""The unfolded imaging preset: UnfoldedProximalGradient.

A preset of :class:`~skunfold.core.UnfoldedEstimator` (through the imaging
estimators' base, :class:`~skunfold.imaging.classical.ImagingMixin`) on
:class:`~skunfold.imaging.ImagingProblem`: its declarations, its parameters and
its docstring. The classical solver is
:class:`~skunfold.imaging.ProximalGradient`.
"""

from ..core import FixedPoint, Param, constraints, set_init_parameters
from .classical import ImagingMixin
from .problem import ImagingProblem

__all__ = ["UnfoldedProximalGradient"]


class UnfoldedProximalGradient(ImagingMixin):
    r"""Proximal gradient descent on images unfolded into ``n_layers`` trainable layers.

    The model is :math:`y = A x + e` with the objective
    :math:`\tfrac12 \|A x - y\|_2^2 + \alpha R(x)`, :math:`A` a matrix-free operator
    (blur, downsampling, inpainting, MRI, any matrix) and :math:`R` a prior with
    coefficient groups (pixels, wavelet bands, total variation). Each layer is one
    step of :class:`ProximalGradient`,
    :math:`x \leftarrow \operatorname{prox}_{\theta}(\tilde x - \gamma A^\top (A \tilde x - y))`
    from :math:`x_0 = A^\top y`, whose parts become trainable according to ``paradigm``:

    =============== ============================================================
    paradigm        layer :math:`k` learns
    =============== ============================================================
    classical       nothing: PGD (FISTA with ``momentum=True``)
    hyperparameters the step :math:`\gamma_k` and one threshold per coefficient
                    group :math:`\theta_{k,g}` (both kept positive through
                    their logarithm), and FISTA's :math:`\beta_k` with
                    ``momentum``
    objective       the same, and a :math:`5 \times 5` convolution :math:`P_k`
                    applied to the gradient, :math:`\gamma_k P_k A^\top (A x - y)`
                    (a learned, matrix-free preconditioner: LISTA-CP's
                    :math:`W_k^\top = P_k A^\top`); it starts as the identity
    correction      the classical step plus a CNN :math:`\Delta(x, A^\top(Ax - y))`
                    on the image and its data gradient (shared by the layers
                    unless ``tied=False``), the survey's eq. 14
    dnn             the step and thresholds, and a residual CNN added to the
                    proximal map, :math:`\operatorname{prox}_{\theta_k}(v) + N_k(v)`:
                    a learned proximal step (unrolled plug-and-play); one per
                    layer unless ``tied=True``
    =============== ============================================================

    Every paradigm starts from the classical solver: the thresholds at
    :math:`\alpha / L`, the steps at :math:`1/L`, the filters at the identity, and the
    last convolution of every CNN at zero, so an untrained model
    (``max_epochs=0``) computes :class:`ProximalGradient` at the same depth, and
    ``keep_best`` (on by default) keeps that start when training does not improve
    on it. Computation is in float32 by default (``precision``); outputs come in
    the dtype of ``X``.

    Parameters
    ----------
    operator : ImagingOperator, array-like, sparse matrix, LinearOperator or None, default=None
        The forward operator :math:`A` of shape ``(m, H * W)``; ``None``: denoising
        (see :class:`ProximalGradient`).
    n_layers : int, default=10
        Depth :math:`K`.
    paradigm : str, default="hyperparameters"
        ``"hyperparameters"``, ``"objective"``, ``"correction"``, ``"dnn"`` or
        ``"classical"`` (see the table above).
    hidden_layer_sizes : tuple of int, default=(32, 32)
        Channels of the hidden 3x3 convolutions of the CNNs (``"correction"``,
        ``"dnn"``).
    %(parameters)s

    Attributes
    ----------
    module_ : UnfoldedModule
        The fitted network (``net_.module_`` when trained).
    problem_ : ImagingProblem
        The fitted problem.
    net_ : UnfoldingNet or None
        The trained skorch net (``None`` when nothing was trained).
    history_ : skorch.History or None
        Per-epoch training losses.
    operator_ : ImagingOperator
    prior_ : Prior
    image_shape_ : tuple of int
        ``(H, W)``.
    lipschitz_ : float
        :math:`L = \|A\|_2^2`.
    layer_parameters_ : dict of str to ndarray
        Per layer (column ``"layer"``): the step sizes, thresholds (shape
        ``(n_layers, n_groups)``) and momentum the layers run with.
    paradigm_ : str
        The paradigm fitted (``"classical"`` when nothing was trained).
    comparison_ : dict or None
        The check of ``fit`` against the untrained model (the classical solver
        at the same depth), see ``keep_best``; ``None`` when nothing was trained.
    n_features_in_ : int
        Measurements per sample (flattened).

    See Also
    --------
    ProximalGradient : The classical solver.

    References
    ----------
    .. [1] K. Gregor and Y. LeCun, "Learning fast approximations of sparse
       coding", ICML 2010.
    .. [2] V. Monga, Y. Li and Y. C. Eldar, "Algorithm unrolling: interpretable,
       efficient deep learning for signal and image processing", IEEE Signal
       Process. Mag. 38(2), 2021.

    Examples
    --------
    >>> import numpy as np
    >>> from skunfold.imaging import Identity, UnfoldedProximalGradient
    >>> rng = np.random.default_rng(0)
    >>> images = np.zeros((64, 8, 8)); images[:, 2:6, 2:6] = 1.0
    >>> Y = images + 0.1 * rng.normal(size=images.shape)
    >>> est = UnfoldedProximalGradient(Identity((8, 8)), n_layers=3, max_epochs=5,
    ...                                random_state=0).fit(Y, images)
    >>> est.predict(Y).shape
    (64, 8, 8)
    >>> est.layer_parameters_["threshold"].shape   # (n_layers, n_groups)
    (3, 1)
    """

    supports = ("training", "unsupervised", "semi_supervised", "complex_input", "fixed_point",
                "safeguard")
    parameter_table = {
        "lr": Param(constraints.real(0, strict_min=True, allow_none=True), "float or None", """
        Learning rate; ``None`` picks the paradigm's default: 1e-2 for the
        log-parameterised steps and thresholds (in every paradigm that learns
        them), 1e-3 for the filters and CNNs. A number trains every parameter
        at that rate."""),
        "fixed_point": Param(None, "bool or FixedPoint", r"""
        Deep equilibrium mode: run the tied learned iteration to its fixed
        point instead of ``n_layers`` times, in ``predict`` and in training
        (memory of one layer; Gilton, Ongie & Willett 2021). Needs tied weights
        (``tied=None`` then means tied) and the ``"end_to_end"`` schedule.
        ``True`` here is ``FixedPoint(backward="jacobian_free")``: the
        gradient of the last iteration only (Fung et al. 2022), since the
        exact implicit gradient solves :math:`g = J^\top g + u` by iteration,
        which does not converge when :math:`A` has a null space (the missing
        pixels of inpainting, the unsampled frequencies of MRI, the lost
        detail of super-resolution): there the Jacobian :math:`J` of the
        iteration keeps eigenvalues at 1. Pass
        ``FixedPoint(backward="implicit")`` for the exact gradient; see
        :class:`~skunfold.core.FixedPoint`."""),
    }
    default_lr = {"hyperparameters": 1e-2,
                  "objective": {"hyperparameters": 1e-2, None: 1e-3},
                  "dnn": {"hyperparameters": 1e-2, None: 1e-3},
                  None: 1e-3}
    # fixed_point=True: the Jacobian-free backward pass (see the parameter's row)
    default_fixed_point = FixedPoint(backward="jacobian_free")

    def __init__(self, operator=None, *, prior="tv", alpha=0.05, n_layers=10,
                 paradigm="hyperparameters", momentum=False, tied=None,
                 hidden_layer_sizes=(32, 32), precision="float32", loss_schedule="end_to_end",
                 max_epochs=50, lr=None, batch_size=32, optimizer="adam", early_stopping=False,
                 keep_best=True, max_time=None, fixed_point=False, safeguard=False,
                 device="auto", n_threads=None, warm_start=False, random_state=None, verbose=0):
        set_init_parameters(self, locals())

    def _make_problem(self, operator, prior, dtype):
        preconditioner = 5 if self.paradigm == "objective" else None
        return ImagingProblem(operator, prior, self.alpha, self.momentum,
                              preconditioner=preconditioner, dtype=dtype)
