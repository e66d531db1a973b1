"""The sparse coders' shared estimator base: the dictionary, targets, transform, transfer.

:class:`SparseCoderMixin` (an :class:`~skunfold.core.UnfoldedEstimator`) holds
what every estimator of the family (ISTA, FISTA, AMP in
:mod:`~skunfold.sparse.classical`; UnfoldedISTA, HyperLISTA, UnfoldedAMP in
:mod:`~skunfold.sparse.estimators`) shares on top of the core: the dictionary
(given, or estimated from ``(X, y)`` -- the one place it is estimated), 1-D or
2-D targets, ``predict``/``transform``/``staged_predict`` with an optional
other dictionary, the objective and the scikit-learn tags.
:class:`AMPCoderMixin` adds the parameters AMP and UnfoldedAMP share.
"""

import warnings

import numpy as np
import scipy.sparse
from sklearn.base import ClassNamePrefixFeaturesOutMixin, RegressorMixin, TransformerMixin
from sklearn.utils.validation import check_array, check_is_fitted

from ..core import DivergedOutputError, Param, UnfoldedEstimator, constraints
from .amp import _check_damping
from .problem import (
    DEFAULT_SUPPORT_SELECTION,
    dictionary_operator,
    is_operator,
    n_atoms,
    reconstruct,
)

__all__ = ["SparseCoderMixin", "AMPCoderMixin", "DictionaryEstimatedWarning",
           "estimate_dictionary", "check_support_selection", "check_reconstruction",
           "compare_with_solver",
           "DICTIONARY_ROW", "OPERATOR_DICTIONARY_ROW", "EXPLOSION_FACTOR"]

#: A code whose reconstruction is this many times larger than its sample is "exploded".
EXPLOSION_FACTOR = 10.0


def check_reconstruction(S, X, D, owner, dictionary_norm=None):
    r"""Raise :class:`~skunfold.core.DivergedOutputError` when codes are non-finite or exploded.

    A LASSO solution :math:`s` never does worse than :math:`s = 0`, so
    :math:`\|H s\| \leq 2 \|x\|`; a code is called exploded when
    :math:`\|H s\| > 10 (\|x\| + \overline{\|x\|})`, ten times that
    bound's scale with the mean norm :math:`\overline{\|x\|}` of the rows of
    ``X`` (so that a zero sample does not count). ``D`` may be matrix-free (a sparse
    matrix or an operator, see :func:`~skunfold.sparse.is_operator`): then every
    reconstruction is computed by its ``forward``. ``dictionary_norm``: the
    Frobenius norm of a dense ``D`` when it is known (a fitted estimator keeps
    it), else computed here. Returns ``S``.
    """
    S2 = np.asarray(S).reshape(len(S), -1)
    if not np.all(np.isfinite(S2)):
        bad = int((~np.isfinite(S2)).any(axis=1).sum())
        raise DivergedOutputError(
            f"{owner} produced non-finite codes for {bad} of {len(S2)} samples: the iteration "
            "diverged (a step or threshold unsuited to this dictionary or to the scale of X)")
    if S2.shape[1] != n_atoms(D) or not len(S2):
        return S
    Xa = np.asarray(X, dtype=np.float64).reshape(len(S2), -1)
    x_norm = np.linalg.norm(Xa, axis=1)
    limit = EXPLOSION_FACTOR * (x_norm + x_norm.mean())
    r_norm = np.zeros(len(S2))
    if is_operator(D):  # one forward pass of the operator (a fraction of the coding)
        r_norm = np.linalg.norm(reconstruct(S2, D), axis=1)
        suspect = np.zeros(0, dtype=int)
    else:
        # ||s D|| <= ||s|| ||D||_2 <= ||s|| ||D||_F: only the rows this bound does not clear
        # are multiplied out (the check then costs a small fraction of the coding)
        if dictionary_norm is None:
            dictionary_norm = float(np.linalg.norm(D))
        bound = np.linalg.norm(S2, axis=1) * dictionary_norm
        suspect = np.flatnonzero(bound > limit)
    if suspect.size:
        r_norm[suspect] = np.linalg.norm(S2[suspect].astype(np.float64) @ D, axis=1)
    exploded = r_norm > limit
    if exploded.any():
        i = int(np.argmax(r_norm / (x_norm + x_norm.mean())))
        raise DivergedOutputError(
            f"{owner} produced exploded codes for {int(exploded.sum())} of {len(S2)} samples: "
            f"the reconstruction S @ D has norm {r_norm[i]:.3g} for a sample of norm "
            f"{x_norm[i]:.3g} (more than {EXPLOSION_FACTOR:g}x; a LASSO code stays within 2x). "
            "The iteration diverged: use smaller steps or thresholds suited to the data "
            "(e.g. FISTA, or a model trained on data like these)")
    return S


class DictionaryEstimatedWarning(UserWarning):
    """Issued when ``dictionary=None`` and the dictionary is estimated from ``(X, y)``."""


def check_support_selection(value, name="support_selection"):
    """``support_selection`` as ``(step, max)`` percentages, or ``None`` when off."""
    if value is False or value is None:
        return None
    if value is True:
        return DEFAULT_SUPPORT_SELECTION
    try:
        step, cap = value
        step, cap = float(step), float(cap)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a bool or a pair (step_percent, max_percent), "
                         f"got {value!r}") from None
    if not (step > 0 and 0 < cap <= 100):
        raise ValueError(f"{name} percentages must be positive and <= 100, got {value!r}")
    return (step, cap)


def _reject_complex(value, name):
    """Raise a ValueError naming ``name`` when ``value`` holds complex numbers."""
    if value is None:
        return
    dtype = getattr(value, "dtype", None)  # arrays, sparse matrices, tensors
    if not isinstance(dtype, np.dtype):
        if not isinstance(value, (list, tuple)):
            return  # other containers: scikit-learn's validation reports complex data
        try:
            dtype = np.asarray(value).dtype
        except (TypeError, ValueError):
            return  # ragged input: reported by scikit-learn's validation
    if dtype.kind == "c":
        raise ValueError(f"Complex data not supported: {name} must be real-valued (pass the "
                         "real and imaginary parts as separate features)")


def _check_dictionary(value, name):
    """``dictionary`` is checked against ``X`` in ``fit`` (its shape needs the data)."""
    return value


#: The ``dictionary`` row shared by every sparse coder (its docstring text).
DICTIONARY_ROW = Param(_check_dictionary, "array-like of shape (n_components, n_features)", """
        Row convention, ``X = S @ dictionary`` (see :class:`UnfoldedISTA`);
        ``None``: estimated from ``(X, y)`` by least squares.""")

#: The ``dictionary`` row of the coders that also run matrix-free (ISTA, FISTA, UnfoldedISTA).
OPERATOR_DICTIONARY_ROW = Param(
    _check_dictionary, "array-like or sparse matrix of shape (n_components, n_features), "
    "or linear operator of shape (n_features, n_components)", """
        Row convention, ``X = S @ dictionary`` (see :class:`UnfoldedISTA`), for a
        dense array or a SciPy sparse matrix. A linear operator -- a
        :mod:`skunfold.imaging` operator (e.g. :class:`~skunfold.imaging.Blur`), a SciPy
        ``LinearOperator`` or a PyLops operator -- maps codes to observations: it
        plays :math:`H` = ``dictionary.T``, shape (n_features, n_components).
        Sparse matrices and operators run matrix-free (``forward`` / ``adjoint``
        of :func:`skunfold.imaging.as_operator`, no dense copy; :math:`L` by power
        iteration), are stored as given in ``dictionary_``, and serve every
        paradigm (``"objective"`` then learns a filter or a diagonal, no matrix: see
        :class:`UnfoldedISTA`), not ``weights="analytic"``. ``None``: estimated from
        ``(X, y)`` by least squares.""")


def estimate_dictionary(X, y, owner):
    """The dictionary ``D`` of ``X ~ y @ D``: least squares on the labeled samples, with a warning.

    Used by the estimators whose ``dictionary=None`` (sparse coding, and the
    distributed LASSO): the unlabeled rows of ``y`` (all NaN) are left out;
    a :class:`DictionaryEstimatedWarning` names ``owner`` and the sizes.
    """
    lab = ~np.isnan(y).all(axis=1)
    D = np.linalg.lstsq(y[lab].astype(np.float64), X[lab].astype(np.float64), rcond=None)[0]
    warnings.warn(
        f"dictionary=None: {owner} estimated the dictionary ({D.shape[0]} atoms x "
        f"{D.shape[1]} features) from (X, y) by least squares; it is stored in `dictionary_`",
        DictionaryEstimatedWarning, stacklevel=constraints.caller_stacklevel())
    if not np.all(np.isfinite(D)) or np.linalg.norm(D) == 0:
        raise ValueError("could not estimate a usable dictionary from (X, y)")
    return D


def compare_with_solver(estimator, solver, X, y, max_samples=2048):
    """Compare a fitted sparse coder's codes with a classical solver's at the same depth.

    On (at most ``max_samples`` of) ``X``: the mean squared error of the
    reconstructions ``S @ D`` against ``y @ D`` (the labeled rows of ``y``)
    when ``y`` is given -- what a denoised or coded signal is judged by: on a
    coherent dictionary two codes far apart can reconstruct alike, and close
    codes differently -- else the mean LASSO objective; ``solver`` is a
    classical coder class (:class:`ISTA`, :class:`FISTA`) run with the
    estimator's dictionary, depth and ``alpha``. Codes that diverge count as
    ``inf``.

    Returns
    -------
    comparison : dict
        ``{"trained": value, "classical": the solver's value, "on": what was
        measured, "kept": "trained" if the estimator is not worse (up to
        round-off), else "classical"}``.
    """
    X = estimator.validate_input(X, reset=False)[:max_samples]
    reference = solver(estimator.dictionary_, n_layers=estimator.n_layers, alpha=estimator.alpha,
                       device=estimator.device, n_threads=estimator.n_threads).fit(X).iterate(X)
    try:
        codes = check_reconstruction(estimator.iterate(X), X, estimator.dictionary_,
                                     type(estimator).__name__)
    except DivergedOutputError:
        codes = None
    Y = None if y is None else np.asarray(y, dtype=np.float64)
    rows = None if Y is None else ~np.isnan(Y.reshape(len(Y), -1)[:max_samples]).all(axis=1)
    if rows is not None and rows.any():
        Y = Y.reshape(len(Y), -1)[:max_samples]
        D = estimator.dictionary_
        on = "mean squared reconstruction error against y @ dictionary"

        def figure(S):
            return float(np.mean(reconstruct(S.reshape(len(S), -1)[rows] - Y[rows], D) ** 2))
    else:
        on = "mean LASSO objective"

        def figure(S):
            return float(np.mean(estimator.objective(X, S)))
    classical = figure(reference)
    value = np.inf if codes is None else figure(codes)
    worse = not value <= classical + 1e-4 * abs(classical)
    return {"trained": value, "classical": classical, "on": on,
            "kept": "classical" if worse else "trained"}


class SparseCoderMixin(ClassNamePrefixFeaturesOutMixin, TransformerMixin, RegressorMixin,
                       UnfoldedEstimator):
    """Data handling and inference API shared by the sparse-recovery estimators.

    ``score`` is the core's: R² of the codes with ``y``, the objective
    (negated: higher is better) without.
    """

    parameter_table = {"dictionary": DICTIONARY_ROW,
                       "alpha": Param(constraints.real(0), "float")}
    #: Whether ``dictionary`` may be a sparse matrix or a linear operator (matrix-free).
    accepts_operators = False

    # one meaning of score for every estimator (the core's): R² with y, the objective without
    score = UnfoldedEstimator.score

    # -- hooks of the core --------------------------------------------------------------
    def validate_input(self, X, *, reset):
        _reject_complex(X, "X")
        return super().validate_input(constraints.check_input_ndim(X, self, max_ndim=2),
                                      reset=reset)

    def validate_target(self, y, X):
        _reject_complex(y, "y")
        ndim = constraints.array_ndim(y)
        if ndim not in (1, 2, None):
            raise ValueError(f"y must be 1-D or 2-D (n_samples, n_components), got an array "
                             f"with dim {ndim} of shape {np.asarray(y).shape}")
        return super().validate_target(y, X)

    def build_problem(self, X, y):
        D, estimated = self._resolve_dictionary(X, y)
        self.dictionary_ = D
        # the norm of the bound of check_reconstruction, computed once (not at every predict)
        self._dictionary_norm = (D, None if is_operator(D) else float(np.linalg.norm(D)))
        self.dictionary_estimated_ = estimated
        self.n_components_ = n_atoms(D)
        problem = self._make_problem(D)
        self.lipschitz_ = problem.lipschitz
        return problem

    # -- the dictionary -----------------------------------------------------------------
    def _validate_dictionary(self, D, n_features, name="dictionary"):
        if is_operator(D):
            return self._validate_operator(D, n_features, name)
        D = check_array(D, dtype=np.float64, input_name=name)
        if D.shape[1] != n_features:
            hint = ""
            if D.shape[0] == n_features:
                hint = (" It looks like the column-convention H (n_features, n_components); "
                        "pass its transpose.")
            raise ValueError(
                f"{name} has shape {D.shape}, expected (n_components, n_features) with "
                f"n_features={n_features} as in X (scikit-learn's row convention: "
                f"X = S @ dictionary).{hint}")
        return D

    def _validate_operator(self, D, n_features, name):
        """A sparse matrix (row convention) or an operator (:math:`H`), checked as it is."""
        what = ("a sparse matrix" if scipy.sparse.issparse(D)
                else f"an operator ({type(D).__name__})")
        if not self.accepts_operators:
            raise TypeError(
                f"{type(self).__name__} needs {name} as a dense array (its iteration uses the "
                f"matrix itself), got {what}; ISTA, FISTA, UnfoldedISTA, HyperLISTA, AMP and "
                "UnfoldedAMP run matrix-free on sparse matrices and operators, or pass a dense "
                "array")
        H = dictionary_operator(D)
        if np.iscomplexobj(np.empty(0, H.dtype)):
            raise ValueError(f"{name} is {what} with complex values: sparse coding needs a real "
                             "dictionary (for complex measurements, e.g. MRI, use "
                             "skunfold.imaging.UnfoldedProximalGradient)")
        if H.shape[0] != n_features:
            hint = ""
            if H.shape[1] == n_features:
                hint = (" A sparse matrix is a dictionary (n_components, n_features), an "
                        "operator maps codes to observations (n_features, n_components): pass "
                        "the transpose.")
            raise ValueError(f"{name} is {what} of shape {tuple(D.shape)}, which maps codes of "
                             f"size {H.shape[1]} to observations of size {H.shape[0]}, but X "
                             f"has n_features={n_features}.{hint}")
        return D

    def _resolve_dictionary(self, X, y):
        if self.dictionary is not None:
            D = self._validate_dictionary(self.dictionary, X.shape[1])
            if y is not None and y.shape[1] != n_atoms(D):
                raise ValueError(
                    f"y has {y.shape[1]} columns but the dictionary has {n_atoms(D)} atoms "
                    "(n_components); y must have shape (n_samples, n_components)")
            return D, False
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None: "
                "with dictionary=None the dictionary is estimated from (X, y); pass "
                "`dictionary` to fit without targets (unsupervised)")
        return estimate_dictionary(X, y, type(self).__name__), True

    def _problem_for(self, X, dictionary):
        """The fitted problem, or the same problem on another dictionary (transfer)."""
        if dictionary is None:
            return None
        check_is_fitted(self)
        if self.paradigm_ not in ("classical", "hyperparameters"):
            raise ValueError(
                "predicting with another dictionary is only possible for the classical and "
                "hyperparameters paradigms (learned parameters independent of H); this model "
                f"uses paradigm={self.paradigm_!r}")
        _reject_complex(X, "X")
        X = check_array(X, dtype=[np.float64, np.float32], input_name="X")
        return self.problem_.with_dictionary(self._validate_dictionary(dictionary, X.shape[1]))

    @property
    def _n_features_out(self):
        return self.n_components_

    def _squeeze(self, S, problem):
        return self.format_estimate(S) if problem is None else S

    # public inference API ----------------------------------------------------------
    def predict(self, X, dictionary=None):
        r"""Estimate the sparse codes of ``X`` (output of the last layer).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        dictionary : array-like of shape (n_components', n_features'), optional
            Run the fitted iteration on another dictionary (and other problem
            sizes): classical and ``paradigm="hyperparameters"`` models only.
            A classical solver runs as on that dictionary (its step :math:`1/L`
            and threshold :math:`\alpha/L` from the new :math:`L`); a hyperparameters
            model keeps its learned step sizes and thresholds.

        Returns
        -------
        S : ndarray of shape (n_samples, n_components) or (n_samples,)
            In the dtype of ``X`` (1-D when the model was fitted on a 1-D ``y``).
        """
        problem = self._problem_for(X, dictionary)
        return self._squeeze(self._checked_codes(X, problem, dictionary), problem)

    def _checked_codes(self, X, problem, dictionary):
        S = self.iterate(X, problem=problem)
        D = self.dictionary_
        if dictionary is not None:  # the new problem's H (operator) or D (dense)
            D = problem.operator if getattr(problem, "operator", None) is not None else \
                np.asarray(problem.D.detach().cpu().numpy(), dtype=np.float64)
        if hasattr(X, "to_numpy"):  # a DataFrame, validated by iterate
            X = X.to_numpy()
        known = self.__dict__.get("_dictionary_norm", (None, None))
        return check_reconstruction(S, X, D, type(self).__name__,
                                    known[1] if known[0] is D else None)

    def transform(self, X, dictionary=None):
        """Encode ``X`` as sparse codes, like :class:`sklearn.decomposition.SparseCoder`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        dictionary : array-like, optional
            See :meth:`predict`.

        Returns
        -------
        S : ndarray of shape (n_samples, n_components)
        """
        return self._checked_codes(X, self._problem_for(X, dictionary), dictionary)

    def staged_predict(self, X, n_layers=None, dictionary=None):
        r"""Yield the estimate after each layer :math:`k = 1, \dots, K` (:math:`K` = ``n_layers``).

        All iterates come from a single forward pass.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        n_layers : int, optional
            Depth to run; fewer layers than fitted always work, more only for
            tied weights and classical solvers.
        dictionary : array-like, optional
            See :meth:`predict`.

        Yields
        ------
        S_k : ndarray of shape (n_samples, n_components) or (n_samples,)
        """
        problem = self._problem_for(X, dictionary)
        for S in self.staged_iterate(X, n_layers, problem=problem):
            yield self._squeeze(S, problem)

    def objective(self, X, S):
        r"""The LASSO objective :math:`\tfrac12 \|x - H s\|_2^2 + \alpha \|s\|_1` of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        S : array-like of shape (n_samples, n_components)

        Returns
        -------
        values : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        X = self.validate_input(X, reset=False)
        S = check_array(S, ensure_2d=False, dtype=np.float64, input_name="S")
        if S.ndim == 1 and S.size == len(X) * self.n_components_:
            S = S.reshape(len(X), self.n_components_)  # 1-D codes (n_components=1 or one sample)
        if S.shape != (len(X), self.n_components_):
            raise ValueError(f"S has shape {S.shape}, expected (n_samples, n_components) = "
                             f"({len(X)}, {self.n_components_})")
        return self.objective_values(X, S)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.required = self.dictionary is None
        if tags.transformer_tags is not None:
            tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


def _check_sparsity(value, name):
    value = constraints.check_real(value, name, min_value=0, max_value=1, strict_min=True)
    if value >= 1:
        raise ValueError(f"{name} must be in (0, 1), got {value}")
    return value


class AMPCoderMixin(SparseCoderMixin):
    """What AMP and UnfoldedAMP share on top of the sparse coders' base: the prior's rows."""

    parameter_table = {
        "sparsity": Param(_check_sparsity, "float", """
        Prior probability :math:`p` of a non-zero entry (``"bg"``)."""),
        "signal_var": Param(constraints.real(0, strict_min=True), "float", """
        Prior variance of the non-zero entries (``"bg"``)."""),
        "damping": Param(lambda value, name: _check_damping(value), '"auto" or float', """
        Damping factor :math:`d` of damped AMP, in :math:`(0, 1]` (1: AMP). ``"auto"``: 1
        when the dictionary is close to the i.i.d. Gaussian ensemble (AMP
        unchanged), else the factor from
        :func:`~skunfold.sparse.gaussian_ensemble_statistics`, with which AMP
        stays stable on ill-conditioned and learned dictionaries, where it
        otherwise diverges; a :class:`~skunfold.sparse.NonGaussianDictionaryWarning`
        says so. A learned AMP's layers start from damped AMP."""),
    }

    def objective(self, X, S):
        r"""The residual energy :math:`\tfrac12 \|x - A s\|_2^2` of each sample.

        AMP minimises no explicit objective; this is the data fit that
        unsupervised training (``fit(X)`` with a dictionary) would minimise.
        LAMP is meant to be trained supervised.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        S : array-like of shape (n_samples, n_components)

        Returns
        -------
        values : ndarray of shape (n_samples,)
        """
        return super().objective(X, S)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # the Bernoulli-Gaussian MMSE denoiser assumes sparse codes (p = 0.1, unit variance):
        # on dense targets (scikit-learn's check data) its R^2 stays below 0.5
        bg = "bg" in (getattr(self, "denoiser", None), getattr(self, "shrinkage", None))
        if bg and tags.regressor_tags is not None:
            tags.regressor_tags.poor_score = True
        return tags
