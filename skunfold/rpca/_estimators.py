"""Robust-PCA estimators: the classical solver (RobustPCA) and its unfolded version."""

import warnings

import numpy as np
import torch
from sklearn.base import OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_array, validate_data
from skorch.callbacks import Callback

from ..core import BaseUnfoldedEstimator
from ..core._base import _module_device, _to_tensor, check_int, check_real, resolve_device
from ._modules import (
    ClassicalStep,
    CorrectionStep,
    DNNStep,
    HyperparameterStep,
    ObjectiveStep,
    RelativeFrobeniusLoss,
    RPCAUnfolded,
)

__all__ = ["RobustPCA", "LearnedRPCA", "IgnoredTargetWarning", "StageCosineLR"]

#: Paradigms whose learned parameters do not depend on the matrix size.
_SIZE_FREE_PARADIGMS = ("classical", "hyperparameters", "correction")


class IgnoredTargetWarning(UserWarning):
    """Issued when ``y`` is a 1-D vector (e.g. class labels passed along a Pipeline).

    Robust PCA is supervised by the low-rank ground truth, an array of the
    shape of ``X``; a 1-D ``y`` cannot be one and is ignored (the model is then
    trained unsupervised).
    """


class StageCosineLR(Callback):
    """Decay the learning rate along a half cosine within every training stage.

    The estimator re-creates the optimizer at the start of each stage of its
    loss schedule; this callback scales the learning rate of epoch ``e`` of a
    stage of ``E`` epochs by ``(1 + cos(pi e / E)) / 2`` (never below 2%), so
    each stage ends with small, precise steps.
    """

    def on_train_begin(self, net, **kwargs):
        self.epoch_ = 0
        self.base_lr_ = [g["lr"] for g in net.optimizer_.param_groups]

    def on_epoch_begin(self, net, **kwargs):
        n_epochs = max(int(net.max_epochs), 1)
        factor = max(0.5 * (1.0 + np.cos(np.pi * self.epoch_ / n_epochs)), 0.02)
        for group, lr in zip(net.optimizer_.param_groups, self.base_lr_):
            group["lr"] = lr * factor
        self.epoch_ += 1


def _n_dims(X):
    if hasattr(X, "ndim") and not hasattr(X, "columns"):
        return X.ndim
    if hasattr(X, "columns") or hasattr(X, "tocsr"):
        return 2
    try:
        return np.asarray(X).ndim
    except ValueError as exc:
        raise ValueError(
            "X must be one matrix (2-D) or a stack of matrices of one shape "
            f"(n_instances, n1, n2); its instances have different shapes ({exc})"
        ) from None


def _same_psi(a, b):
    if a is None or b is None:
        return a is None and b is None
    return a.shape == b.shape and np.array_equal(a, b)


def _check_psi(psi, n_rows):
    """Validate the sparsifying transform; return a float64 array or None."""
    if psi is None:
        return None
    psi = check_array(psi, dtype=np.float64, input_name="psi")
    if psi.shape[0] != psi.shape[1]:
        raise ValueError(f"psi must be a square (n1, n1) matrix, got shape {psi.shape}")
    if psi.shape[0] != n_rows:
        raise ValueError(
            f"psi has shape {psi.shape} but the matrices in X have n1 = {n_rows} rows; "
            "psi acts on the columns (X = L R^T + psi @ Y) and must be (n1, n1)"
        )
    cond = np.linalg.cond(psi)
    if not np.isfinite(cond) or cond > 1.0 / (n_rows * np.finfo(np.float64).eps):
        raise ValueError(f"psi must be invertible; it is singular (condition number {cond:.3g})")
    return psi


def _check_rank(rank, shape):
    n1, n2 = shape
    if rank >= min(n1, n2):
        raise ValueError(
            f"rank={rank} must be smaller than min(n1, n2) = {min(n1, n2)} for matrices of "
            f"shape ({n1}, {n2}) (n_samples = {n1} rows, n_features = {n2} columns)"
        )


class _RPCAMixin(OneToOneFeatureMixin, TransformerMixin):
    """Data handling and inference shared by the robust-PCA estimators."""

    # -- validation ----------------------------------------------------------------
    def _validate_X(self, X, reset):
        """Return ``(X as (n_instances, n1, n2) float array, X_was_2d)``."""
        ndim = _n_dims(X)
        if ndim == 2:
            X = validate_data(self, X, reset=reset, dtype=[np.float64, np.float32])
            return X[None], True
        if ndim != 3:
            raise ValueError(
                f"X must be one matrix (a 2-D array of shape (n1, n2)) or a stack of "
                f"matrices (a 3-D array of shape (n_instances, n1, n2)); got a {ndim}-D array. "
                "Reshape your data, e.g. X.reshape(n1, n2) for one matrix"
            )
        X = check_array(X, allow_nd=True, dtype=[np.float64, np.float32], input_name="X")
        if reset:
            self.n_features_in_ = X.shape[2]
            if hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
        return X, False

    def _validate_target(self, y, X, was_2d):
        if y is None:
            return None
        y = check_array(y, ensure_2d=False, allow_nd=True, dtype=[np.float64, np.float32],
                        ensure_all_finite="allow-nan", input_name="y")
        expected = X.shape[1:] if was_2d else X.shape
        if y.shape != expected:
            if y.ndim == 1 and len(y) == expected[0]:
                warnings.warn(
                    f"y of shape {y.shape} is not a low-rank ground truth of the shape of X "
                    f"{expected} (it looks like the labels of a later step of a pipeline); it "
                    "is ignored and the model is trained unsupervised on objective (24)",
                    IgnoredTargetWarning, stacklevel=4)
                return None
            raise ValueError(
                f"y must be the low-rank ground truth, an array of the shape of X {expected}; "
                f"got shape {y.shape}"
            )
        y = y[None] if was_2d else y
        nan = np.isnan(y).reshape(len(y), -1)
        if (nan.any(axis=1) & ~nan.all(axis=1)).any():
            raise ValueError(
                "y has instances that are only partly NaN; an instance of y is either fully "
                "labeled or entirely NaN (unlabeled, semi-supervised training)"
            )
        if nan.all():
            return None
        return y

    def _check_instance_shape(self, shape):
        shape = tuple(int(s) for s in shape)
        if shape == tuple(self.instance_shape_):
            return
        if self.psi_ is not None or self.paradigm not in _SIZE_FREE_PARADIGMS:
            reason = ("a psi was given (its size is fixed)" if self.psi_ is not None
                      else f"paradigm={self.paradigm!r} learns size-dependent parameters")
            raise ValueError(
                f"X holds matrices of shape {shape} but this model was fitted on matrices of "
                f"shape {tuple(self.instance_shape_)} and {reason}; only models with psi=None "
                f"and paradigm in {list(_SIZE_FREE_PARADIGMS)} apply to other sizes"
            )
        _check_rank(self.rank, shape)

    def _validate_predict_X(self, X):
        X, was_2d = self._validate_X(X, reset=False)
        self._check_instance_shape(X.shape[1:])
        return X, was_2d

    def _prepare_fit(self, X, y):
        X, was_2d = self._validate_X(X, reset=True)
        _check_rank(self.rank, X.shape[1:])
        self.psi_ = _check_psi(self.psi, X.shape[1])
        self.instance_shape_ = (int(X.shape[1]), int(X.shape[2]))
        self.n_iter_ = int(self._depth())
        self._fit_dtype = X.dtype
        y = self._validate_target(y, X, was_2d) if self._needs_training() else None
        return X, y

    def _check_common_params(self):
        check_int(self.rank, "rank", min_value=1)
        if self.paradigm == "classical" and getattr(self, "max_iter", None) is not None:
            check_int(self.max_iter, "max_iter", min_value=1)
        super()._check_common_params()

    def fit(self, X, y=None):
        """Fit the model (train it, or only validate and store the setting when classical).

        Parameters
        ----------
        X : array-like of shape (n1, n2) or (n_instances, n1, n2)
            One matrix or a stack of matrices.
        y : array-like of the shape of X, default=None
            The low-rank ground truth; ``None`` trains unsupervised on
            objective (24); instances that are entirely NaN are unlabeled
            (semi-supervised training). Ignored by the classical solver.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return super().fit(X, y)

    def _check_solver_params(self):
        check_real(self.step_size, "step_size", min_value=0, strict_min=True)
        check_real(self.threshold, "threshold", min_value=0, strict_min=True)
        check_real(self.threshold_decay, "threshold_decay", min_value=0, max_value=1,
                   strict_min=True)
        check_real(self.init_threshold, "init_threshold", min_value=0, strict_min=True)
        check_real(self.alpha, "alpha", min_value=0)

    def _criterion(self):
        return RelativeFrobeniusLoss

    def _module_is_compatible(self, module):
        return (super()._module_is_compatible(module)
                and getattr(self, "_fitted_shape", None) == self.instance_shape_
                and _same_psi(getattr(self, "_fitted_psi", None), self.psi_))

    # -- inference -----------------------------------------------------------------
    def _iterate(self, X, n_layers, every_layer=True):
        """Yield ``(low_rank, sparse)`` for ``k = 0, ..., n_layers`` (numpy, X's dtype).

        With ``every_layer=False`` only the last one is computed and yielded.
        Only the current state of every instance is kept, so deep classical
        runs use the memory of one iterate.
        """
        module = self._fitted_module()
        dtype = self._module_dtype(module)
        classical = not self._needs_training()
        device = torch.device(resolve_device(self.device)) if classical else _module_device(module)
        out_dtype = X.dtype if np.issubdtype(X.dtype, np.floating) else np.float64
        n1, n2 = X.shape[1:]
        chunk = max(1, (1 << 22) // (n1 * n2))
        was_training = module.training
        module.to(device).eval()

        def emit(states):
            outs = [module.readout(s).cpu().numpy() for s in states]
            both = np.concatenate(outs).astype(out_dtype, copy=False)
            return both[:, 0], both[:, 1]

        try:
            with torch.no_grad():
                xs = [_to_tensor(X[i:i + chunk], dtype, device) for i in range(0, len(X), chunk)]
                if not every_layer:
                    yield emit([module.final_state(x, n_layers) for x in xs])
                    return
                states = [module.initial_state(x) for x in xs]
                yield emit(states)
                for k in range(n_layers):
                    states = [module.step(k, s, x) for s, x in zip(states, xs)]
                    yield emit(states)
        finally:
            module.train(was_training)
            if classical:
                module.to("cpu")

    def _check_n_layers(self, n_layers, allow_zero=False):
        depth = self._depth()
        if n_layers is None:
            return depth
        n_layers = check_int(n_layers, "n_layers", min_value=0 if allow_zero else 1)
        if n_layers == 0:
            return 0
        return self._fitted_module().check_depth(n_layers)

    def _decompose(self, X, n_layers=None):
        n_layers = self._check_n_layers(n_layers, allow_zero=True)
        return next(self._iterate(X, n_layers, every_layer=False))

    def decompose(self, X, n_layers=None):
        """Split ``X`` into its low-rank and sparse parts, ``X ~ low_rank + psi @ sparse``.

        Parameters
        ----------
        X : array-like of shape (n1, n2) or (n_instances, n1, n2)
            One matrix or a stack of matrices.
        n_layers : int, optional
            Depth to run (default: the fitted depth); ``0`` returns the
            initialisation (thresholding and a rank-``r`` truncated SVD).

        Returns
        -------
        low_rank : ndarray of the shape of X
            ``L R^T``, of rank ``rank``.
        sparse : ndarray of the shape of X
            The sparse part ``Y`` (in the domain of ``psi``; with ``psi=None``,
            the outliers themselves).
        """
        self._check_fitted()
        X, was_2d = self._validate_predict_X(X)
        V, Y = self._decompose(X, n_layers)
        return (V[0], Y[0]) if was_2d else (V, Y)

    def predict(self, X):
        """The low-rank part of ``X`` (output of the last layer).

        Parameters
        ----------
        X : array-like of shape (n1, n2) or (n_instances, n1, n2)
            One matrix or a stack of matrices.

        Returns
        -------
        low_rank : ndarray of the shape of X
            In the dtype of ``X`` (float64 for integer input).
        """
        self._check_fitted()
        X, was_2d = self._validate_predict_X(X)
        V = self._decompose(X)[0]
        return V[0] if was_2d else V

    def transform(self, X):
        """The low-rank part of ``X``: robust PCA as a denoising transformer.

        The output has the shape of the input (each matrix is replaced by its
        low-rank part, the outliers removed), so the estimator drops into a
        :class:`~sklearn.pipeline.Pipeline` in front of another model; use
        :meth:`decompose` or :meth:`predict_sparse` for the sparse part.

        Parameters
        ----------
        X : array-like of shape (n1, n2) or (n_instances, n1, n2)
            One matrix or a stack of matrices.

        Returns
        -------
        low_rank : ndarray of the shape of X
            The low-rank part of every matrix, in the dtype of ``X``.
        """
        return self.predict(X)

    def predict_sparse(self, X):
        """The sparse part ``Y`` of ``X = low_rank + psi @ Y``.

        Parameters
        ----------
        X : array-like of shape (n1, n2) or (n_instances, n1, n2)
            One matrix or a stack of matrices.

        Returns
        -------
        sparse : ndarray of the shape of X
            The sparse part of every matrix, in the dtype of ``X``.
        """
        self._check_fitted()
        X, was_2d = self._validate_predict_X(X)
        Y = self._decompose(X)[1]
        return Y[0] if was_2d else Y

    def staged_predict(self, X, n_layers=None):
        """Yield the low-rank estimate after each layer ``k = 1, ..., n_layers``.

        Parameters
        ----------
        X : array-like of shape (n1, n2) or (n_instances, n1, n2)
            One matrix or a stack of matrices.
        n_layers : int, optional
            Depth to run (default: the fitted depth; classical solvers run any
            depth, unfolded models at most their number of layers).

        Yields
        ------
        low_rank : ndarray of the shape of X
        """
        self._check_fitted()
        X, was_2d = self._validate_predict_X(X)
        n_layers = self._check_n_layers(n_layers)
        for k, (V, _) in enumerate(self._iterate(X, n_layers)):
            if k > 0:
                yield V[0] if was_2d else V

    def objective(self, X, low_rank, sparse):
        """Objective (24), ``1/2 ||low_rank + psi @ sparse - X||_F^2 + lambda ||sparse||_1``.

        ``lambda = alpha * rms(X)`` per instance, ``rms(X) = ||X||_F / sqrt(n1 n2)``.

        Parameters
        ----------
        X : array-like of shape (n1, n2) or (n_instances, n1, n2)
            One matrix or a stack of matrices.
        low_rank : array-like of the shape of X
            A low-rank part, e.g. from :meth:`decompose`.
        sparse : array-like of the shape of X
            A sparse part ``Y``.

        Returns
        -------
        values : float or ndarray of shape (n_instances,)
            The objective of each instance (a float for one matrix).
        """
        self._check_fitted()
        X, was_2d = self._validate_predict_X(X)
        X = X.astype(np.float64)
        parts = []
        for name, A in (("low_rank", low_rank), ("sparse", sparse)):
            A = check_array(A, ensure_2d=False, allow_nd=True, dtype=np.float64, input_name=name)
            A = A[None] if A.ndim == 2 else A
            if A.shape != X.shape:
                raise ValueError(f"{name} must have the shape of X {X.shape}, got {A.shape}")
            parts.append(A)
        V, Y = parts
        PY = Y if self.psi_ is None else np.matmul(self.psi_, Y)
        rms = np.sqrt(np.mean(X * X, axis=(1, 2)))
        values = 0.5 * np.sum((V + PY - X) ** 2, axis=(1, 2)) \
            + self.alpha * rms * np.sum(np.abs(Y), axis=(1, 2))
        return float(values[0]) if was_2d else values

    def score(self, X, y=None):
        """Minus the mean relative error ``||L R^T - X*||_F / ||X*||_F`` over instances.

        Without a ground truth (``y=None``, or a 1-D ``y`` that cannot be one)
        the score is minus the mean of objective (24) divided by ``||X||_F^2``.
        Higher is better, as scikit-learn's model selection expects.

        Parameters
        ----------
        X : array-like of shape (n1, n2) or (n_instances, n1, n2)
            One matrix or a stack of matrices.
        y : array-like of the shape of X, default=None
            The low-rank ground truth.

        Returns
        -------
        score : float
            Minus the mean relative error (or normalised objective).
        """
        self._check_fitted()
        X, was_2d = self._validate_predict_X(X)
        target = None
        if y is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", IgnoredTargetWarning)
                target = self._validate_target(y, X, was_2d)
        V, Y = self._decompose(X)
        if target is not None:
            lab = ~np.isnan(target).reshape(len(target), -1).all(axis=1)
            diff = np.linalg.norm((V - target)[lab].reshape(lab.sum(), -1), axis=1)
            ref = np.linalg.norm(target[lab].reshape(lab.sum(), -1), axis=1)
            return -float(np.mean(diff / np.maximum(ref, np.finfo(np.float64).tiny)))
        values = np.atleast_1d(self.objective(X, V, Y))
        norms = np.sum(X.astype(np.float64) ** 2, axis=(1, 2))
        return -float(np.mean(values / np.maximum(norms, np.finfo(np.float64).tiny)))

    # -- fitted parameters -------------------------------------------------------------
    @property
    def thresholds_(self):
        """Relative thresholds ``zeta_0, ..., zeta_K`` (multiplied by ``rms(X)`` when applied)."""
        self._check_fitted()
        module = self._fitted_module()
        values = [float(torch.exp(module.log_init_threshold.detach()))]
        for k in range(self._depth()):
            values.append(float(module.iteration(k).threshold(k).detach()))
        return np.asarray(values)

    @property
    def step_sizes_(self):
        """Step sizes ``(eta_L, eta_R)`` of each layer, shape ``(n_layers, 2)``."""
        self._check_fitted()
        module = self._fitted_module()
        return np.asarray([[float(v.detach()) for v in module.iteration(k).step_sizes()]
                           for k in range(self._depth())])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.target_tags.required = False
        tags.target_tags.multi_output = True
        if tags.transformer_tags is not None:
            tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


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


class RobustPCA(_RPCAMixin, BaseUnfoldedEstimator):
    __doc__ = """Robust PCA by soft thresholding and scaled gradient steps (nothing learned).

    Decomposes each matrix as ``X = L R^T + Psi Y`` with rank-``rank``
    factors and a sparse ``Y`` (eqs. 22-27 of the survey): ``Y`` is
    initialised by soft thresholding ``Psi^{-1} X`` and ``L, R`` by a rank-``r``
    truncated SVD of the rest; every iteration then updates
    ``Y <- T_zeta_k(Psi^{-1}(X - L R^T))`` and takes scaled gradient steps
    ``L <- L + eta G R (R^T R)^{-1}``, ``R <- R + eta G^T L (L^T L)^{-1}``
    with ``G = X - L R^T - Psi Y``, with a geometrically decaying threshold.
    This is the model-based solver that :class:`LearnedRPCA` unfolds; with
    ``psi=None`` it is LRPCA's iteration with hand-set parameters.
""" + _DATA_DOC + """
    Parameters
    ----------
    rank : int, default=5
        Rank ``r`` of the low-rank part; must be smaller than ``min(n1, n2)``.
    max_iter : int, default=100
        Number of iterations.
""" + _SOLVER_DOC + """
    device : str, default="auto"
        ``"auto"`` runs on CUDA when available, else on the CPU.

    Attributes
    ----------
    module_ : RPCAUnfolded
        The solver as a torch module.
    instance_shape_ : tuple of int
        ``(n1, n2)`` of the matrices seen in ``fit``.
    psi_ : ndarray of shape (n1, n1) or None
    n_iter_ : int
        Number of iterations run (``max_iter``).
    thresholds_ : ndarray of shape (max_iter + 1,)
        Relative thresholds of the initialisation and of every iteration.
    step_sizes_ : ndarray of shape (max_iter, 2)
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
    >>> est = RobustPCA(rank=2, max_iter=60).fit(X)
    >>> low_rank, sparse = est.decompose(X)
    >>> low_rank.shape
    (2, 60, 50)
    >>> bool(-est.score(X, L) < 1e-3)
    True
    """

    paradigm = "classical"

    def __init__(self, rank=5, *, max_iter=100, step_size=0.5, threshold=0.3,
                 threshold_decay=0.85, init_threshold=3.0, psi=None, alpha=0.05, device="auto"):
        self.rank = rank
        self.max_iter = max_iter
        self.step_size = step_size
        self.threshold = threshold
        self.threshold_decay = threshold_decay
        self.init_threshold = init_threshold
        self.psi = psi
        self.alpha = alpha
        self.device = device

    @property
    def n_layers(self):
        """Depth of the solver (its ``max_iter``)."""
        return self.max_iter

    def _depth(self):
        return self.max_iter

    def _check_params(self):
        check_int(self.max_iter, "max_iter", min_value=1)
        self._check_solver_params()

    def _build_module(self):
        return _build_rpca_module(self, "classical", self.max_iter)


def _build_rpca_module(est, paradigm, depth):
    """The untrained module of an estimator (classical solver values as initialisation)."""
    n1 = est.instance_shape_[0]
    psi = est.psi_
    c, rho, eta = est.threshold, est.threshold_decay, est.step_size
    dtype = torch.float32
    if paradigm == "classical":
        dtype = torch.float64 if est._fit_dtype == np.float64 else torch.float32
        iterations = ClassicalStep(eta, c, rho)
    elif paradigm == "hyperparameters":
        iterations = [HyperparameterStep(eta, c * rho ** k) for k in range(depth)]
    elif paradigm == "objective":
        iterations = [ObjectiveStep(eta, c * rho ** k, n1) for k in range(depth)]
    elif paradigm == "correction":
        ks = 3 if est.kernel_size is None else est.kernel_size
        iterations = [CorrectionStep(eta, c * rho ** k, est.n_channels, ks) for k in range(depth)]
    else:  # dnn
        ks = 1 if est.kernel_size is None else est.kernel_size
        base = np.eye(n1) if psi is None else psi
        base_inv = np.linalg.inv(base)
        iterations = [DNNStep(eta, c * rho ** k, base, base_inv, ks) for k in range(depth)]
    return RPCAUnfolded(iterations, depth, est.rank, est.init_threshold, psi=psi,
                        alpha=est.alpha, learn_init_threshold=paradigm != "classical",
                        dtype=dtype)


_TRAINING_DOC = """
    loss_schedule : str or LossSchedule, default="sequential+end_to_end"
        The survey's scheme (sequential layer-by-layer training, then
        end-to-end fine-tuning); also ``"end_to_end"``, ``"multi_iteration"``,
        ``"sequential"`` or a :class:`~skunfold.core.LossSchedule`.
    max_epochs : int, default=60
        Passes over the training instances, shared among the stages.
    lr : float, default=None
        Learning rate of the optimizer (``None``: 0.1). Thresholds are learned
        as logarithms, so ``lr`` is about the relative change of a threshold
        per step; the learned ``Psi_k`` and CNN weights are scaled so that the
        same rate suits them.
    lr_decay : bool, default=True
        Decay the learning rate along a half cosine within every stage of the
        loss schedule (see :class:`StageCosineLR`).
    batch_size : int, default=4
        Instances per mini-batch (``-1``: all).
    optimizer : {"adam", "adamw", "sgd", "rmsprop"} or torch.optim.Optimizer class, default="adam"
    unsupervised_weight : float, default=1.0
        Weight of objective (24) on unlabeled instances (all-NaN in ``y``).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the instances, stop a stage when
        the validation loss has not improved for ``n_iter_no_change`` epochs,
        and restore the best epoch.
    validation_fraction : float, default=0.1
        Fraction of the instances held out by ``early_stopping``.
    n_iter_no_change : int, default=10
        Patience of ``early_stopping``, in epochs.
    device : str, default="auto"
        ``"auto"`` trains on CUDA when available, else on the CPU.
    warm_start : bool, default=False
        Continue from the previous fit's parameters when the architecture and
        the matrix size are unchanged.
    random_state : int, RandomState instance or None, default=None
        The single source of randomness (initialisation of the CNNs,
        shuffling, validation split).
    verbose : int, default=0
        ``>0`` prints per-epoch losses and a progress bar.
"""


class LearnedRPCA(_RPCAMixin, BaseUnfoldedEstimator):
    __doc__ = """Robust PCA unfolded into ``n_layers`` trainable layers, in any paradigm.

    Each layer is one iteration of :class:`RobustPCA` (eqs. 25-27):
    ``Y <- T_zeta(Psi^{-1}(X - L R^T))``, ``G = X - L R^T - Psi Y``,
    ``L <- L + eta_L G R (R^T R)^{-1}``, ``R <- R + eta_R G^T L (L^T L)^{-1}``.
    What is learned depends on ``paradigm``:

    =============== =============================================================
    paradigm        learned per layer
    =============== =============================================================
    classical       nothing: :class:`RobustPCA` run for ``max_iter`` iterations
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
    untrained model computes ``RobustPCA(max_iter=n_layers)``. Supervised
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
    ----------
    rank : int, default=5
        Rank ``r`` of the low-rank part; must be smaller than ``min(n1, n2)``.
    n_layers : int, default=10
        Depth ``K``.
    paradigm : {"hyperparameters", "objective", "correction", "dnn", "classical"}, \
            default="hyperparameters"
    max_iter : int, default=None
        Iterations of ``paradigm="classical"`` (``None``: ``n_layers``).
""" + _SOLVER_DOC + """
    n_channels : int, default=8
        Hidden channels of the correction CNN.
    kernel_size : int, default=None
        Kernel size of the CNNs (odd); ``None``: 3 for the correction CNN
        (3 x 3 over the matrix), 1 for the ``"dnn"`` transform networks.
""" + _TRAINING_DOC + """
    Attributes
    ----------
    net_ : UnfoldingNet or None
        The trained skorch net (``None`` for ``paradigm="classical"``).
    module_ : RPCAUnfolded or None
        The solver module of ``paradigm="classical"``.
    history_ : skorch.History or None
    instance_shape_ : tuple of int
        ``(n1, n2)`` of the matrices seen in ``fit``.
    psi_ : ndarray of shape (n1, n1) or None
    n_iter_ : int
        Depth of the fitted model (``n_layers``, or ``max_iter`` when classical).
    thresholds_ : ndarray of shape (n_layers + 1,)
        Learned relative thresholds ``zeta_0, ..., zeta_K``.
    step_sizes_ : ndarray of shape (n_layers, 2)
        Learned ``(eta_L, eta_R)`` of every layer.
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

    def __init__(self, rank=5, *, n_layers=10, paradigm="hyperparameters", max_iter=None,
                 step_size=0.5, threshold=0.3, threshold_decay=0.85, init_threshold=3.0,
                 psi=None, alpha=0.05, n_channels=8, kernel_size=None,
                 loss_schedule="sequential+end_to_end", max_epochs=60, lr=None, lr_decay=True,
                 batch_size=4, optimizer="adam", unsupervised_weight=1.0, early_stopping=False,
                 validation_fraction=0.1, n_iter_no_change=10, device="auto", warm_start=False,
                 random_state=None, verbose=0):
        self.rank = rank
        self.n_layers = n_layers
        self.paradigm = paradigm
        self.max_iter = max_iter
        self.step_size = step_size
        self.threshold = threshold
        self.threshold_decay = threshold_decay
        self.init_threshold = init_threshold
        self.psi = psi
        self.alpha = alpha
        self.n_channels = n_channels
        self.kernel_size = kernel_size
        self.loss_schedule = loss_schedule
        self.max_epochs = max_epochs
        self.lr = lr
        self.lr_decay = lr_decay
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.unsupervised_weight = unsupervised_weight
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.device = device
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose

    def _depth(self):
        if self.paradigm == "classical" and self.max_iter is not None:
            return self.max_iter
        return self.n_layers

    def _check_params(self):
        check_int(self.max_iter, "max_iter", min_value=1, allow_none=True)
        self._check_solver_params()
        check_int(self.n_channels, "n_channels", min_value=1)
        if not isinstance(self.lr_decay, (bool, np.bool_)):
            raise TypeError(f"lr_decay must be a bool, got {self.lr_decay!r}")
        ks = check_int(self.kernel_size, "kernel_size", min_value=1, allow_none=True)
        if ks is not None and ks % 2 == 0:
            raise ValueError(f"kernel_size must be odd, got {ks}")

    def _default_lr(self):
        return 0.1

    def _build_module(self):
        return _build_rpca_module(self, self.paradigm, self._depth())

    def _train(self, module, X, y, device, shuffle_seed, split_seed):
        net = super()._train(module, X, y, device, shuffle_seed, split_seed)
        self._fitted_shape = self.instance_shape_
        self._fitted_psi = self.psi_
        return net

    def _make_net(self, module, device, shuffle_seed, valid_data, **kwargs):
        net = super()._make_net(module, device, shuffle_seed, valid_data, **kwargs)
        if self.lr_decay:
            net.callbacks = list(net.callbacks) + [("stage_cosine_lr", StageCosineLR())]
        return net

    def _check_not_diverged(self, net, initial, data, *args, **kwargs):
        # a few instances suffice, and full stacks of large matrices would not fit in memory
        n1, n2 = self.instance_shape_
        kwargs["n_check"] = max(1, min(64, (1 << 23) // (n1 * n2)))
        return super()._check_not_diverged(net, initial, data, *args, **kwargs)
