"""Robust-PCA estimators: the classical solver (RobustPCA) and its unfolded version (LearnedRPCA).

Both are presets of :class:`~skunfold.core.UnfoldedEstimator` on the
:class:`~skunfold.rpca.RobustPCAProblem`: their parameters and docstrings;
the data handling and the public API (``decompose``, ``predict_sparse``,
``thresholds_``, ...) are in :class:`~skunfold.rpca.base.RobustPCAMixin`.
"""

from ..core import UnfoldedEstimator, document_parameters, set_init_parameters
from .base import IgnoredTargetWarning, RobustPCAMixin

__all__ = ["RobustPCA", "LearnedRPCA", "IgnoredTargetWarning"]

_DATA_DOC = """
    Data model: each instance is a matrix. ``fit``, ``predict``, ``transform``
    and ``decompose`` accept a 3-D array ``(n_instances, n1, n2)`` -- a stack
    of problems, split by cross-validation along the first axis -- and a 2-D
    array is one instance. On a 2-D array the estimator is a denoising
    transformer of an ordinary data matrix (rows are samples, columns
    features): ``n_features_in_`` is ``n2``, and ``transform`` returns the
    low-rank part, of the shape of the input. The rows of one matrix are not
    independent samples: the decomposition of a subset of the rows differs
    from the same rows of the decomposition of the whole matrix.
"""

_RANK_DOC = """
    rank : int, default=5
        Rank ``r`` of the low-rank part. A rank of at least ``min(n1, n2)`` is
        clipped to ``min(n1, n2)`` for every matrix (see ``rank_``): the
        low-rank part is then the whole matrix, and the defaults fit any data.
"""

_SOLVER_DOC = """
    step_size : float, default=0.5
        Step ``eta`` of the scaled gradient steps (the classical value, and
        the initial value of the learned ``eta_L, eta_R``).
    threshold : float, default=0.3
        Relative threshold ``c`` of the first iteration; iteration ``k``
        (1-based) uses ``zeta_k = c * threshold_decay**(k - 1)``, times the
        root-mean-square ``rms(X)`` of the instance.
    threshold_decay : float, default=0.85
        Geometric decay ``rho`` of the threshold.
    init_threshold : float, default=3.0
        Relative threshold ``zeta_0`` of the initialisation (large: the
        initialisation is close to a plain truncated SVD).
    psi : array-like of shape (n1, n1), default=None
        The sparsifying transform ``Psi`` of ``X = L R^T + Psi Y``; ``None``
        is the identity (then the model is exactly LRPCA and costs
        ``O(n1 n2 r)`` per iteration). Must be square and invertible.
    alpha : float, default=0.05
        Relative l1 weight of objective (24), ``lambda = alpha * rms(X)``
        (used by :meth:`objective`, :meth:`score` without ``y`` and
        unsupervised training).
"""

_FITTED_DOC = """
    instance_shape_ : tuple of int
        ``(n1, n2)`` of the matrices seen in ``fit``.
    rank_ : int
        The rank on the training matrices, ``min(rank, n1, n2)`` (matrices
        of other sizes use ``min(rank, n1', n2')``).
    psi_ : ndarray of shape (n1, n1) or None
    n_iter_ : int
        Depth of the fitted model (``n_layers``).
    thresholds_ : ndarray of shape (n_layers + 1,)
        Relative thresholds ``zeta_0, ..., zeta_K`` (learned, or the
        classical ``c rho^k``).
    step_sizes_ : ndarray of shape (n_layers, 2)
        ``(eta_L, eta_R)`` of every layer.
    n_features_in_ : int
        ``n2``, the number of columns of each matrix.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined only when ``X`` is a DataFrame.
"""


@document_parameters
class RobustPCA(RobustPCAMixin, UnfoldedEstimator):
    __doc__ = """Robust PCA by soft thresholding and scaled gradient steps (nothing learned).

    Decomposes each matrix as ``X = L R^T + Psi Y`` with rank-``rank``
    factors and a sparse ``Y`` (eqs. 22-27 of the survey): ``Y`` is
    initialised by soft thresholding ``Psi^{-1} X`` and ``L, R`` by a rank-``r``
    truncated SVD of the rest; every iteration then updates
    ``Y <- T_zeta_k(Psi^{-1}(X - L R^T))`` and takes scaled gradient steps
    ``L <- L + eta G R (R^T R)^{-1}``, ``R <- R + eta G^T L (L^T L)^{-1}``
    with ``G = X - L R^T - Psi Y``, with a geometrically decaying threshold.
    This is the model-based solver that :class:`LearnedRPCA` unfolds; with
    ``psi=None`` it is LRPCA's iteration with hand-set parameters. It computes
    in the precision of ``X``.
""" + _DATA_DOC + """
    Parameters
    ----------""" + _RANK_DOC + """    n_layers : int, default=100
        Number of iterations.""" + _SOLVER_DOC + """    %(training_parameters)s
    Attributes
    ----------
    module_ : UnfoldedModule
        The solver as a torch module.
    problem_ : RobustPCAProblem
        The fitted problem.""" + _FITTED_DOC + """
    See Also
    --------
    LearnedRPCA : The same iteration unfolded and trained.

    References
    ----------
    .. [1] X. Yi, D. Park, Y. Chen, C. Caramanis, "Fast algorithms for robust
       PCA via gradient descent", NeurIPS 2016.
    .. [2] H. Cai, J. Liu, W. Yin, "Learned robust PCA: a scalable deep
       unfolding approach for high-dimensional outlier detection", NeurIPS 2021.

    Examples
    --------
    >>> from skunfold.datasets import make_rpca
    >>> from skunfold.rpca import RobustPCA
    >>> X, L, S = make_rpca(n_instances=2, shape=(60, 50), rank=2, random_state=0)
    >>> est = RobustPCA(rank=2, n_layers=60).fit(X)
    >>> low_rank, sparse = est.decompose(X)
    >>> low_rank.shape
    (2, 60, 50)
    >>> bool(-est.score(X, L) < 1e-3)
    True
    """

    paradigm = "classical"

    def __init__(self, rank=5, *, n_layers=100, step_size=0.5, threshold=0.3,
                 threshold_decay=0.85, init_threshold=3.0, psi=None, alpha=0.05, device="auto",
                 n_threads=None):
        set_init_parameters(self, locals())


@document_parameters(lr="""
        Learning rate of the optimizer (``None``: 0.1). Thresholds are learned
        as logarithms, so ``lr`` is about the relative change of a threshold
        per step; the learned ``Psi_k`` and CNN weights are scaled so that the
        same rate suits them.""", batch_size="""
        Instances (matrices) per mini-batch (``-1``: all).""")
class LearnedRPCA(RobustPCAMixin, UnfoldedEstimator):
    __doc__ = """Robust PCA unfolded into ``n_layers`` trainable layers, in any paradigm.

    Each layer is one iteration of :class:`RobustPCA` (eqs. 25-27):
    ``Y <- T_zeta(Psi^{-1}(X - L R^T))``, ``G = X - L R^T - Psi Y``,
    ``L <- L + eta_L G R (R^T R)^{-1}``, ``R <- R + eta_R G^T L (L^T L)^{-1}``.
    What is learned depends on ``paradigm``:

    =============== =============================================================
    paradigm        learned per layer
    =============== =============================================================
    classical       nothing: :class:`RobustPCA` run for ``n_layers`` iterations
    hyperparameters ``{eta_L, eta_R, zeta}`` (LRPCA; with ``psi=None`` exactly
                    LRPCA's model), plus the initial threshold ``zeta_0``
    objective       additionally ``Psi_k``, initialised from ``psi``
    correction      additionally a two-layer CNN taking ``(L R^T, Psi Y, X)``
                    and adding corrections to the ``L`` and ``R`` gradient steps
                    (last layer zero at initialisation)
    dnn             ``Psi`` and ``Psi^{-1}`` implemented by two-layer CNNs (rows
                    as channels, convolving along the columns), initialised to
                    compute the given ``psi`` exactly
    =============== =============================================================

    Every model is initialised with the classical solver's values, so the
    untrained model computes ``RobustPCA(n_layers=n_layers)``. Supervised
    training (``y`` = the low-rank ground truth) minimises the relative
    Frobenius error ``||L R^T - X*||_F / ||X*||_F``; unsupervised training
    (``y=None``) minimises objective (24) at the iterates. Thresholds are
    relative to each instance's root-mean-square, so a model with
    ``psi=None`` and paradigm ``"hyperparameters"`` or ``"correction"``,
    trained at one size, applies to matrices of another size (3-D input).
""" + _DATA_DOC + """
    A 1-D ``y`` (labels passed along a Pipeline) is ignored with an
    :class:`IgnoredTargetWarning`.

    Parameters
    ----------""" + _RANK_DOC + """    n_layers : int, default=10
        Depth ``K`` (the number of iterations of ``paradigm="classical"``).
    paradigm : {"hyperparameters", "objective", "correction", "dnn", "classical"}, \
            default="hyperparameters\"""" + _SOLVER_DOC + """    n_channels : int, default=8
        Hidden channels of the correction CNN.
    kernel_size : int, default=None
        Kernel size of the CNNs (odd); ``None``: 3 for the correction CNN
        (3 x 3 over the matrix), 1 for the ``"dnn"`` transform networks.
    %(training_parameters)s
    Attributes
    ----------
    module_ : UnfoldedModule
        The fitted network (``net_.module_`` when trained).
    problem_ : RobustPCAProblem
        The fitted problem.
    net_ : UnfoldingNet or None
        The trained skorch net (``None`` for ``paradigm="classical"``).
    history_ : skorch.History or None
        Per-epoch training losses.""" + _FITTED_DOC + """
    See Also
    --------
    RobustPCA : The classical solver.

    References
    ----------
    .. [1] H. Cai, J. Liu, W. Yin, "Learned robust PCA: a scalable deep
       unfolding approach for high-dimensional outlier detection", NeurIPS 2021.
    .. [2] N. Shlezinger et al., "Deep unfolding: recent developments, theory,
       and design guidelines", Sec. V-B (the four unfolded RPCA variants).

    Examples
    --------
    >>> from skunfold.datasets import make_rpca
    >>> from skunfold.rpca import LearnedRPCA
    >>> X, L, S = make_rpca(n_instances=16, shape=(40, 40), rank=2, random_state=0)
    >>> est = LearnedRPCA(rank=2, n_layers=4, max_epochs=8, random_state=0).fit(X, L)
    >>> est.predict(X).shape
    (16, 40, 40)
    >>> est.thresholds_.shape, est.step_sizes_.shape
    ((5,), (4, 2))
    """

    default_lr = {None: 0.1}

    def __init__(self, rank=5, *, n_layers=10, paradigm="hyperparameters", step_size=0.5,
                 threshold=0.3, threshold_decay=0.85, init_threshold=3.0, psi=None, alpha=0.05,
                 n_channels=8, kernel_size=None, loss_schedule="sequential+end_to_end",
                 max_epochs=60, lr=None, lr_schedule="cosine",
                 max_grad_norm=None, batch_size=4, optimizer="adam",
                 unsupervised_weight=1.0, early_stopping=False, validation_fraction=0.1,
                 n_iter_no_change=10, device="auto", n_threads=None, warm_start=False,
                 random_state=None, verbose=0):
        set_init_parameters(self, locals())
