"""The classical robust-PCA solver as an estimator: :class:`RobustPCA` (nothing learned)."""

from ..core import Param, constraints, set_init_parameters
from .decomposition import RobustPCABase

__all__ = ["RobustPCA"]


class RobustPCA(RobustPCABase):
    r"""Robust PCA by soft thresholding and scaled gradient steps (nothing learned).

    Decomposes each matrix as :math:`X = L R^\top + \Psi Y` with rank-``rank``
    factors and a sparse ``Y`` (eqs. 22-27 of the survey): ``Y`` is
    initialised by soft thresholding :math:`\Psi^{-1} X` and ``L, R`` by a rank-``r``
    truncated SVD of the rest; every iteration then updates
    :math:`Y \leftarrow T_{\zeta_k}(\Psi^{-1}(X - L R^\top))` and takes scaled gradient steps
    :math:`L \leftarrow L + \eta\, G R (R^\top R)^{-1}`,
    :math:`R \leftarrow R + \eta\, G^\top L (L^\top L)^{-1}`
    with :math:`G = X - L R^\top - \Psi Y`, with a geometrically decaying threshold.
    This is the model-based solver that :class:`LearnedRPCA` unfolds; with
    ``psi=None`` it is LRPCA's iteration with hand-set parameters. It computes
    in the precision of ``X``.

    Data model: each instance is a matrix. ``fit``, ``predict``, ``transform``
    and ``decompose`` accept a 3-D array ``(n_instances, n1, n2)`` -- a stack
    of problems, split by cross-validation along the first axis -- and a 2-D
    array is one instance. On a 2-D array the estimator is a denoising
    transformer of an ordinary data matrix (rows are samples, columns
    features): ``n_features_in_`` is ``n2``, and ``transform`` returns the
    low-rank part, of the shape of the input. The rows of one matrix are not
    independent samples: the decomposition of a subset of the rows differs
    from the same rows of the decomposition of the whole matrix.

    Parameters
    ----------
    %(parameters)s

    Attributes
    ----------
    module_ : UnfoldedModule
        The solver as a torch module.
    problem_ : RobustPCAProblem
        The fitted problem.
    instance_shape_ : tuple of int
        ``(n1, n2)`` of the matrices seen in ``fit``.
    rank_ : int
        The rank on the training matrices, ``min(rank, n1, n2)`` (matrices
        of other sizes use ``min(rank, n1', n2')``).
    psi_ : ndarray of shape (n1, n1) or None
        The validated ``psi``.
    n_iter_ : int
        Number of iterations (``n_layers``).
    layer_parameters_ : dict of str to ndarray
        The hyperparameters of every iteration (columns ``"layer"``,
        ``"step_L"``, ``"step_R"``, ``"threshold"``): a table for
        ``pandas.DataFrame``.
    thresholds_ : ndarray of shape (n_layers + 1,)
        Relative thresholds :math:`\zeta_0, \dots, \zeta_K` (the classical :math:`c \rho^k`).
    step_sizes_ : ndarray of shape (n_layers, 2)
        :math:`(\eta_L, \eta_R)` of every iteration.
    paradigm_ : str
        ``"classical"``.
    n_features_in_ : int
        ``n2``, the number of columns of each matrix.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined only when ``X`` is a DataFrame.

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

    parameter_table = {
        "n_layers": Param(constraints.integer(1), "int", """
            Number of iterations."""),
    }

    def __init__(self, rank=5, *, n_layers=100, step_size=0.5, threshold=0.3,
                 threshold_decay=0.85, init_threshold=3.0, psi=None, alpha=0.05, device="auto",
                 n_threads=None, verbose=0):
        set_init_parameters(self, locals())
