"""The robust-PCA estimators' shared base: data handling, parameters and the decomposition API.

Every instance is a matrix: ``X`` is a stack ``(n_instances, n1, n2)`` or one
2-D matrix. :class:`RobustPCABase` implements the hooks of
:class:`~skunfold.core.UnfoldedEstimator` (:meth:`validate_input`,
:meth:`validate_target`, :meth:`build_problem`), which turn both into a
stack and build a :class:`~skunfold.rpca.RobustPCAProblem`, and the public
methods (:meth:`decompose`, :meth:`predict`, :meth:`transform`,
:meth:`score`, ...), which run the fitted module through the core's
``iterate`` / ``staged_iterate`` and ``objective_values``. Its
``parameter_table`` holds the rows (check and documentation) of the
parameters that :class:`~skunfold.rpca.RobustPCA` and
:class:`~skunfold.rpca.LearnedRPCA` share.
"""

import warnings

import numpy as np
import torch
from sklearn.base import OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from ..core import Param, UnfoldedEstimator, constraints
from .problem import RobustPCAProblem

__all__ = ["IgnoredTargetWarning", "RobustPCABase", "SIZE_FREE_PARADIGMS"]

#: Paradigms whose learned parameters do not depend on the matrix size.
SIZE_FREE_PARADIGMS = ("classical", "hyperparameters", "correction")


class IgnoredTargetWarning(UserWarning):
    """Issued when ``y`` is a 1-D vector (e.g. class labels passed along a Pipeline).

    Robust PCA is supervised by the low-rank ground truth, an array of the
    shape of ``X``; a 1-D ``y`` cannot be one and is ignored (the model is then
    trained unsupervised).
    """


def _n_dims(X):
    """The number of dimensions of ``X``, with a clear message for ragged stacks."""
    if hasattr(X, "columns") or hasattr(X, "tocsr"):
        return 2  # DataFrames and sparse matrices: scikit-learn's validation handles them
    ndim = constraints.array_ndim(X)
    if ndim is None:
        raise ValueError("X must be one matrix (2-D) or a stack of matrices of one shape "
                         "(n_instances, n1, n2); its instances have different shapes")
    return ndim


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
            "psi acts on the columns (X = L R^T + psi @ Y) and must be (n1, n1)")
    cond = np.linalg.cond(psi)
    if not np.isfinite(cond) or cond > 1.0 / (n_rows * np.finfo(np.float64).eps):
        raise ValueError(f"psi must be invertible; it is singular (condition number {cond:.3g})")
    return psi


def _unchecked(value, name):
    """``psi`` is checked against the data's size in ``fit`` (``_check_psi``)."""
    return value


#: The rows of the parameters shared by RobustPCA and LearnedRPCA.
SHARED_ROWS = {
    "rank": Param(constraints.integer(1), "int", """
        Rank ``r`` of the low-rank part. A rank of at least ``min(n1, n2)`` is
        clipped to ``min(n1, n2)`` for every matrix (see ``rank_``): the
        low-rank part is then the whole matrix, and the defaults fit any data."""),
    "step_size": Param(constraints.real(0, strict_min=True), "float", r"""
        Step :math:`\eta` of the scaled gradient steps (the classical value, and
        the initial value of the learned :math:`\eta_L, \eta_R`)."""),
    "threshold": Param(constraints.real(0, strict_min=True), "float", r"""
        Relative threshold ``c`` of the first iteration; iteration ``k``
        (1-based) uses :math:`\zeta_k = c \rho^{k-1}` (:math:`\rho` = ``threshold_decay``), times
        the root-mean-square :math:`\mathrm{rms}(X)` of the instance."""),
    "threshold_decay": Param(constraints.real(0, 1, strict_min=True), "float", r"""
        Geometric decay :math:`\rho` of the threshold."""),
    "init_threshold": Param(constraints.real(0, strict_min=True), "float", r"""
        Relative threshold :math:`\zeta_0` of the initialisation (large: the
        initialisation is close to a plain truncated SVD)."""),
    "psi": Param(_unchecked, "array-like of shape (n1, n1)", r"""
        The sparsifying transform :math:`\Psi` of :math:`X = L R^\top + \Psi Y`; ``None``
        is the identity (then the model is exactly LRPCA and costs
        :math:`O(n_1 n_2 r)` per iteration). Must be square and invertible."""),
    "alpha": Param(constraints.real(0), "float", r"""
        Relative l1 weight of objective (24), :math:`\lambda = \alpha\, \mathrm{rms}(X)`
        (used by :meth:`objective`, :meth:`score` without ``y`` and
        unsupervised training)."""),
}


class RobustPCABase(OneToOneFeatureMixin, TransformerMixin, UnfoldedEstimator):
    """Data handling, shared parameters and decomposition API of the robust-PCA estimators.

    Not an estimator itself: :class:`~skunfold.rpca.RobustPCA` and
    :class:`~skunfold.rpca.LearnedRPCA` add their ``__init__`` and
    declarations.
    """

    parameter_table = SHARED_ROWS

    def _paradigm(self):
        """The ``paradigm`` parameter (``"classical"`` for an estimator that learns nothing)."""
        return self.get_params(deep=False).get("paradigm", "classical")

    # -- hooks of the core ---------------------------------------------------------------
    def validate_input(self, X, *, reset):
        """Validate ``X``, one matrix (2-D) or a stack (3-D); return it as a stack.

        With ``reset=True`` (in ``fit``) ``n_features_in_`` is ``n2``;
        otherwise a 2-D ``X`` must have ``n_features_in_`` columns and a
        matrix of another shape than the training matrices is accepted only
        by size-free models (``psi=None`` and a paradigm in
        ``("classical", "hyperparameters", "correction")``).
        """
        ndim = _n_dims(X)
        if ndim == 2:
            X = (validate_data(self, X, reset=True, dtype=[np.float64, np.float32]) if reset
                 else constraints.check_fitted_input(self, X))[None]
        elif ndim == 3:
            if not constraints.is_clean_array(X):
                X = check_array(X, allow_nd=True, dtype=[np.float64, np.float32], input_name="X")
            if 0 in X.shape[1:]:
                raise ValueError(f"X holds empty matrices (shape {X.shape}); each matrix needs "
                                 "at least one row and one column")
            if reset:
                self.n_features_in_ = X.shape[2]
                self.__dict__.pop("feature_names_in_", None)
        else:
            shape = np.shape(X) if ndim else ()
            raise ValueError(
                f"X must be one matrix (a 2-D array of shape (n1, n2)) or a stack of matrices "
                f"(a 3-D array of shape (n_instances, n1, n2)); got a {ndim}-D array of shape "
                f"{shape}. Reshape your data, e.g. X.reshape(n1, n2) for one matrix")
        if reset:
            self._rpca_2d_input = ndim == 2
        else:
            self._rpca_check_shape(X.shape[1:])
        return X

    def validate_target(self, y, X):
        """Validate the low-rank ground truth ``y`` (ignored by classical solvers).

        ``y`` has the shape of ``X`` (2-D for one matrix); instances that are
        entirely NaN are unlabeled (semi-supervised training). A 1-D ``y``
        (labels passed along a Pipeline) is ignored with an
        :class:`IgnoredTargetWarning`.
        """
        if self._paradigm() == "classical":
            return None
        y = self._rpca_target(y, X, self._rpca_2d_input, warn=True)
        return None if y is None else super().validate_target(y, X)

    def build_problem(self, X, y):
        """The :class:`~skunfold.rpca.RobustPCAProblem` of the estimator's parameters."""
        n1, n2 = X.shape[1:]
        self.psi_ = _check_psi(self.psi, n1)
        self.instance_shape_ = (int(n1), int(n2))
        self.rank_ = min(int(self.rank), int(n1), int(n2))
        self.n_iter_ = int(self.n_layers)
        self._rpca_size_free = self.psi_ is None and self._paradigm() in SIZE_FREE_PARADIGMS
        return RobustPCAProblem(
            self.rank, step_size=self.step_size, threshold=self.threshold,
            threshold_decay=self.threshold_decay, init_threshold=self.init_threshold,
            psi=self.psi_, alpha=self.alpha, n_channels=getattr(self, "n_channels", 8),
            kernel_size=getattr(self, "kernel_size", None))

    # -- helpers ---------------------------------------------------------------------------
    def _rpca_check_shape(self, shape):
        shape = tuple(int(s) for s in shape)
        if shape == tuple(self.instance_shape_) or self._rpca_size_free:
            return
        reason = ("a psi was given (its size is fixed)" if self.psi_ is not None
                  else f"paradigm={self._paradigm()!r} learns size-dependent parameters")
        raise ValueError(
            f"X holds matrices of shape {shape} but this model was fitted on matrices of shape "
            f"{tuple(self.instance_shape_)} and {reason}; only models with psi=None and "
            f"paradigm in {list(SIZE_FREE_PARADIGMS)} apply to other sizes")

    @staticmethod
    def _rpca_target(y, X, was_2d, warn):
        """``y`` as a stack of the shape of ``X`` (a stack), or None for a 1-D ``y``."""
        y = check_array(y, ensure_2d=False, allow_nd=True, dtype=[np.float64, np.float32],
                        ensure_all_finite="allow-nan", input_name="y")
        expected = X.shape[1:] if was_2d else X.shape
        if y.shape != expected:
            if y.ndim == 1 and len(y) == expected[0]:
                if warn:
                    warnings.warn(
                        f"y of shape {y.shape} is not a low-rank ground truth of the shape of X "
                        f"{expected} (it looks like the labels of a later step of a pipeline); "
                        "it is ignored and the model is trained unsupervised on objective (24)",
                        IgnoredTargetWarning, stacklevel=constraints.caller_stacklevel())
                return None
            raise ValueError(f"y must be the low-rank ground truth, an array of the shape of X "
                             f"{expected}; got shape {y.shape}")
        return y[None] if was_2d else y

    def _rpca_is_2d(self, X):
        check_is_fitted(self)
        return _n_dims(X) == 2

    def _rpca_run(self, X, n_layers=None, staged=False):
        """The readouts of the fitted module on ``X`` (``n_layers=0``: of the initial state)."""
        if staged:
            return self.staged_iterate(X, n_layers)
        return self.iterate(X, n_layers)

    # -- public inference API -------------------------------------------------------------
    def fit(self, X, y=None):
        """Fit the model (train it, or only validate and store the setting when classical).

        Parameters
        ----------
        X : array-like of shape (n1, n2) or (n_instances, n1, n2), or SampleSource
            One matrix or a stack of matrices, or a
            :class:`~skunfold.core.SampleSource` of ``(X, low_rank)`` (fresh
            instances every epoch).
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

    def decompose(self, X, n_layers=None):
        r"""Split ``X`` into its low-rank and sparse parts, ``X ~ low_rank + psi @ sparse``.

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
            :math:`L R^\top`, of rank ``min(rank, n1, n2)``.
        sparse : ndarray of the shape of X
            The sparse part ``Y`` (in the domain of ``psi``; with ``psi=None``,
            the outliers themselves).
        """
        was_2d = self._rpca_is_2d(X)
        both = self._rpca_run(X, n_layers)
        V, Y = both[:, 0], both[:, 1]
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
        return self.decompose(X)[0]

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
        return self.decompose(X)[1]

    def staged_predict(self, X, n_layers=None):
        """Yield the low-rank estimate after each layer ``k = 1, ..., n_layers``.

        Computed layer by layer, keeping only the current state of every
        instance, so deep classical runs use the memory of one iterate.

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
        was_2d = self._rpca_is_2d(X)
        for both in self._rpca_run(X, n_layers, staged=True):
            yield both[0, 0] if was_2d else both[:, 0]

    def objective(self, X, low_rank, sparse):
        r"""Objective (24), :math:`\tfrac12 \|L + \Psi Y - X\|_F^2 + \lambda \|Y\|_1`.

        :math:`L` is ``low_rank``, :math:`Y` is ``sparse``,
        :math:`\lambda = \alpha\, \mathrm{rms}(X)` per instance,
        :math:`\mathrm{rms}(X) = \|X\|_F / \sqrt{n_1 n_2}`; computed in float64 by the problem's
        objective.

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
        was_2d = self._rpca_is_2d(X)
        X3 = self.validate_input(X, reset=False)
        parts = []
        for name, A in (("low_rank", low_rank), ("sparse", sparse)):
            A = check_array(A, ensure_2d=False, allow_nd=True, dtype=np.float64, input_name=name)
            A = A[None] if A.ndim == 2 else A
            if A.shape != X3.shape:
                raise ValueError(f"{name} must have the shape of X {X3.shape}, got {A.shape}")
            parts.append(A)
        # the problem's objective is divided by ||X||_F^2 (clamped to the smallest normal)
        norms = np.maximum(np.sum(X3.astype(np.float64) ** 2, axis=(1, 2)),
                           np.finfo(np.float64).tiny)
        values = self.objective_values(X3, np.stack(parts, axis=1)) * norms
        return float(values[0]) if was_2d else values

    def score(self, X, y=None):
        r"""Minus the mean relative error :math:`\|L R^\top - X^*\|_F / \|X^*\|_F` over instances.

        The one meaning of ``score`` for robust PCA: how far the low-rank part
        is from the ground truth, relative to its size, averaged over the
        matrices (each weighs alike, whatever its amplitude) -- the quantity
        the supervised training minimises and the survey reports, not the
        core's R² over all entries. Without a ground truth (``y=None``, a
        ``y`` entirely NaN, or a 1-D ``y`` that cannot be one) it is the
        core's unsupervised score: minus the mean of objective (24) divided
        by :math:`\|X\|_F^2`, the objective of unsupervised training. Higher is
        better, as scikit-learn's model selection expects.

        Parameters
        ----------
        X : array-like of shape (n1, n2) or (n_instances, n1, n2)
            One matrix or a stack of matrices.
        y : array-like of the shape of X, default=None
            The low-rank ground truth (instances entirely NaN are left out).

        Returns
        -------
        score : float
            Minus the mean relative error (or normalised objective).
        """
        was_2d = self._rpca_is_2d(X)
        X3 = self.validate_input(X, reset=False)
        target = None if y is None else self._rpca_target(y, X3, was_2d, warn=False)
        estimate = self._rpca_run(X3)
        if target is not None:
            nan = np.isnan(target).reshape(len(target), -1)
            if (nan.any(axis=1) & ~nan.all(axis=1)).any():
                raise ValueError("y has instances that are only partly NaN; an instance of y is "
                                 "either fully labeled or entirely NaN (unlabeled)")
            lab = ~nan.all(axis=1)
            if lab.any():
                V = estimate[lab, 0].reshape(lab.sum(), -1).astype(np.float64)
                ref = target[lab].reshape(lab.sum(), -1).astype(np.float64)
                err = np.linalg.norm(V - ref, axis=1) / np.maximum(
                    np.linalg.norm(ref, axis=1), np.finfo(np.float64).tiny)
                return -float(np.mean(err))
        return -float(np.mean(self.objective_values(X3, estimate)))

    # -- fitted parameters -------------------------------------------------------------------
    @property
    def thresholds_(self):
        r"""Thresholds :math:`\zeta_0, \dots, \zeta_K`, relative to :math:`\mathrm{rms}(X)`."""
        check_is_fitted(self)
        module = self.module_
        with torch.no_grad():
            initial = (module.initial(module.problem) if module.initial is not None
                       else module.problem.initial_hyperparameters)
            first = float(initial["init_threshold"])
        return np.concatenate([[first], self.layer_parameters_["threshold"]])

    @property
    def step_sizes_(self):
        r"""Step sizes :math:`(\eta_L, \eta_R)` of each layer, shape ``(n_layers, 2)``."""
        table = self.layer_parameters_
        return np.stack([table["step_L"], table["step_R"]], axis=1)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.target_tags.required = False
        tags.target_tags.multi_output = True
        if tags.transformer_tags is not None:
            tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
