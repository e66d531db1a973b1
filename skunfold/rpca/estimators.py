"""The unfolded robust-PCA estimator: :class:`LearnedRPCA`, in every paradigm.

A thin preset of :class:`~skunfold.rpca.decomposition.RobustPCABase` (the data
handling, the shared parameters and the decomposition API): its parameters,
their rows and its docstring.
"""

from ..core import Optimizer, Param, constraints, set_init_parameters
from .decomposition import IgnoredTargetWarning, RobustPCABase

__all__ = ["LearnedRPCA", "IgnoredTargetWarning"]


def _check_kernel_size(value, name):
    ks = constraints.check_int(value, name, min_value=1, allow_none=True)
    if ks is not None and ks % 2 == 0:
        raise ValueError(f"{name} must be odd, got {ks}")
    return ks


class LearnedRPCA(RobustPCABase):
    r"""Robust PCA unfolded into ``n_layers`` trainable layers, in any paradigm.

    Each layer is one iteration of :class:`RobustPCA` (eqs. 25-27):
    :math:`Y \leftarrow T_\zeta(\Psi^{-1}(X - L R^\top))`, :math:`G = X - L R^\top - \Psi Y`,
    :math:`L \leftarrow L + \eta_L G R (R^\top R)^{-1}`,
    :math:`R \leftarrow R + \eta_R G^\top L (L^\top L)^{-1}`. What is learned depends on
    ``paradigm``:

    =============== =============================================================
    paradigm        learned per layer
    =============== =============================================================
    classical       nothing: :class:`RobustPCA` run for ``n_layers`` iterations
    hyperparameters :math:`\{\eta_L, \eta_R, \zeta\}` (LRPCA; with ``psi=None`` exactly
                    LRPCA's model), plus the initial threshold :math:`\zeta_0`
    objective       additionally :math:`\Psi_k`, initialised from ``psi``
    correction      additionally a two-layer CNN taking :math:`(L R^\top, \Psi Y, X)`
                    and adding corrections to the ``L`` and ``R`` gradient steps
                    (last layer zero at initialisation)
    dnn             :math:`\Psi` and :math:`\Psi^{-1}` implemented by two-layer CNNs (rows
                    as channels, convolving along the columns), initialised to
                    compute the given ``psi`` exactly
    =============== =============================================================

    Every model is initialised with the classical solver's values, so the
    untrained model computes ``RobustPCA(n_layers=n_layers)``. Supervised
    training (``y`` = the low-rank ground truth) minimises the relative
    Frobenius error :math:`\|L R^\top - X^*\|_F / \|X^*\|_F`; unsupervised training
    (``y=None``) minimises objective (24) at the iterates. Thresholds are
    relative to each instance's root-mean-square, so a model with
    ``psi=None`` and paradigm ``"hyperparameters"`` or ``"correction"``,
    trained at one size, applies to matrices of another size (3-D input).
    Training computes in float32; inference in the precision of ``X``
    (float64 input runs in float64, so the decomposition does not depend on
    the order of the rows, which every layer sums over).

    Data model: each instance is a matrix. ``fit``, ``predict``, ``transform``
    and ``decompose`` accept a 3-D array ``(n_instances, n1, n2)`` -- a stack
    of problems, split by cross-validation along the first axis -- and a 2-D
    array is one instance. On a 2-D array the estimator is a denoising
    transformer of an ordinary data matrix (rows are samples, columns
    features): ``n_features_in_`` is ``n2``, and ``transform`` returns the
    low-rank part, of the shape of the input. The rows of one matrix are not
    independent samples: the decomposition of a subset of the rows differs
    from the same rows of the decomposition of the whole matrix. A 1-D ``y``
    (labels passed along a Pipeline) is ignored with an
    :class:`IgnoredTargetWarning`.

    Parameters
    ----------
    %(parameters)s

    Attributes
    ----------
    module_ : UnfoldedModule
        The fitted network (``net_.module_`` when trained).
    problem_ : RobustPCAProblem
        The fitted problem.
    net_ : UnfoldingNet or None
        The trained skorch net (``None`` for ``paradigm="classical"``).
    history_ : skorch.History or None
        Per-epoch training losses.
    instance_shape_ : tuple of int
        ``(n1, n2)`` of the matrices seen in ``fit``.
    rank_ : int
        The rank on the training matrices, ``min(rank, n1, n2)`` (matrices
        of other sizes use ``min(rank, n1', n2')``).
    psi_ : ndarray of shape (n1, n1) or None
        The validated ``psi``.
    n_iter_ : int
        Depth of the fitted model (``n_layers``).
    layer_parameters_ : dict of str to ndarray
        The hyperparameters of every layer, learned or classical (columns
        ``"layer"``, ``"step_L"``, ``"step_R"``, ``"threshold"``): a table for
        ``pandas.DataFrame``. The learned :math:`\Psi_k` and networks are in
        ``module_``.
    thresholds_ : ndarray of shape (n_layers + 1,)
        Relative thresholds :math:`\zeta_0, \dots, \zeta_K` (learned, or the
        classical :math:`c \rho^k`).
    step_sizes_ : ndarray of shape (n_layers, 2)
        :math:`(\eta_L, \eta_R)` of every layer.
    paradigm_ : str
        The paradigm fitted (``"classical"`` when nothing was trained).
    n_features_in_ : int
        ``n2``, the number of columns of each matrix.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined only when ``X`` is a DataFrame.

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

    supports = ("training", "unsupervised", "semi_supervised", "input_precision")
    default_lr = {None: 0.1}

    #: ``optimizer=None``: Adam with a half-cosine decay of the learning rate within every stage.
    default_optimizer = Optimizer(lr_schedule="cosine")

    # rows with check None give the core's rows (and checks) this estimator's text
    parameter_table = {
        "n_layers": Param(None, "int", """
            Depth ``K`` (the number of iterations of ``paradigm="classical"``)."""),
        "paradigm": Param(
            None, '{"hyperparameters", "objective", "correction", "dnn", "classical"}', """
            What the layers learn (see the table above)."""),
        "n_channels": Param(constraints.integer(1), "int", """
            Hidden channels of the correction CNN."""),
        "kernel_size": Param(_check_kernel_size, "int", """
            Kernel size of the CNNs (odd); ``None``: 3 for the correction CNN
            (3 x 3 over the matrix), 1 for the ``"dnn"`` transform networks."""),
        "lr": Param(None, doc=r"""
            Learning rate of the optimizer (``None``: 0.1). Thresholds are learned
            as logarithms, so ``lr`` is about the relative change of a threshold
            per step; the learned :math:`\Psi_k` and CNN weights are scaled so that the
            same rate suits them."""),
        "batch_size": Param(None, doc="""
            Instances (matrices) per mini-batch (``-1``: all)."""),
        "optimizer": Param(None, doc="""
            ``None``: Adam with a half-cosine decay of the learning rate within
            every stage of the loss schedule (never below 2% of ``lr``), i.e.
            ``Optimizer(lr_schedule="cosine")``, so each stage ends with small,
            precise steps. Otherwise ``"adam"``, ``"adamw"``, ``"sgd"``,
            ``"rmsprop"`` or a :class:`torch.optim.Optimizer` class (constant
            learning rate), or an :class:`~skunfold.core.Optimizer` (which also
            sets the decay and gradient clipping)."""),
    }

    def __init__(self, rank=5, *, n_layers=10, paradigm="hyperparameters", step_size=0.5,
                 threshold=0.3, threshold_decay=0.85, init_threshold=3.0, psi=None, alpha=0.05,
                 n_channels=8, kernel_size=None, loss_schedule="sequential+end_to_end",
                 max_epochs=60, lr=None, batch_size=4, optimizer=None, early_stopping=False,
                 keep_best=True, device="auto", n_threads=None, warm_start=False, random_state=None,
                 verbose=0):
        set_init_parameters(self, locals())
