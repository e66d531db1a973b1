"""Sparse-recovery estimators: ISTA, FISTA, UnfoldedISTA (LISTA family), HyperLISTA.

Each is a preset of :class:`~skunfold.core.UnfoldedEstimator` on the
:class:`~skunfold.sparse.SparseCoding` problem: its parameters, its
docstring, and the sparse coder's data handling (the dictionary, targets,
``transform``, ``predict`` on another dictionary).
"""

import warnings

import numpy as np
from sklearn.base import ClassNamePrefixFeaturesOutMixin, RegressorMixin, TransformerMixin
from sklearn.utils.validation import check_array, check_is_fitted

from ..core import (
    UnfoldedEstimator,
    check_bool,
    check_layer_sizes,
    document_parameters,
    set_init_parameters,
)
from ..core.validation import array_ndim, options, real
from .problem import DEFAULT_SUPPORT_SELECTION, HyperLISTAProblem, SparseCoding

__all__ = ["ISTA", "FISTA", "UnfoldedISTA", "HyperLISTA", "DictionaryEstimatedWarning"]


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


def _check_tied(value, name):
    if value not in (None, True, False):
        raise TypeError(f"{name} must be None or a bool, got {value!r}")
    return value


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


class _SparseCoderMixin(ClassNamePrefixFeaturesOutMixin, TransformerMixin, RegressorMixin):
    """Data handling and inference API shared by the sparse-recovery estimators."""

    parameter_constraints = {"alpha": real(0)}

    # -- hooks of the core --------------------------------------------------------------
    def validate_input(self, X, *, reset):
        _reject_complex(X, "X")
        ndim = array_ndim(X)
        if ndim is not None and ndim > 2:
            raise ValueError(f"Found array with dim {ndim}; {type(self).__name__} expects a 2-D X "
                             "(n_samples, n_features)")
        return super().validate_input(X, reset=reset)

    def validate_target(self, y, X):
        _reject_complex(y, "y")
        ndim = array_ndim(y)
        if ndim not in (1, 2, None):
            raise ValueError(f"y must be 1-D or 2-D (n_samples, n_components), got an array "
                             f"with dim {ndim} of shape {np.asarray(y).shape}")
        return super().validate_target(y, X)

    def build_problem(self, X, y):
        D, estimated = self._resolve_dictionary(X, y)
        self.dictionary_ = D
        self.dictionary_estimated_ = estimated
        self.n_components_ = D.shape[0]
        problem = self._make_problem(D)
        self.lipschitz_ = problem.lipschitz
        return problem

    # -- the dictionary -----------------------------------------------------------------
    def _validate_dictionary(self, D, n_features, name="dictionary"):
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

    def _resolve_dictionary(self, X, y):
        if self.dictionary is not None:
            D = self._validate_dictionary(self.dictionary, X.shape[1])
            if y is not None and y.shape[1] != D.shape[0]:
                raise ValueError(
                    f"y has {y.shape[1]} columns but the dictionary has {D.shape[0]} atoms "
                    "(n_components); y must have shape (n_samples, n_components)")
            return D, False
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None: "
                "with dictionary=None the dictionary is estimated from (X, y); pass "
                "`dictionary` to fit without targets (unsupervised)")
        lab = ~np.isnan(y).all(axis=1)
        D = np.linalg.lstsq(y[lab].astype(np.float64), X[lab].astype(np.float64), rcond=None)[0]
        warnings.warn(
            f"dictionary=None: {type(self).__name__} estimated the dictionary "
            f"({D.shape[0]} atoms x {D.shape[1]} features) from (X, y) by least squares; "
            "it is stored in `dictionary_`", DictionaryEstimatedWarning, stacklevel=5)
        if not np.all(np.isfinite(D)) or np.linalg.norm(D) == 0:
            raise ValueError("could not estimate a usable dictionary from (X, y)")
        return D, True

    def _problem_for(self, X, dictionary):
        """The fitted problem, or the same problem on another dictionary (transfer)."""
        if dictionary is None:
            return None
        if self._fitted_paradigm not in ("classical", "hyperparameters"):
            raise ValueError(
                "predicting with another dictionary is only possible for the classical and "
                "hyperparameters paradigms (learned parameters independent of H); this model "
                f"uses paradigm={self._fitted_paradigm!r}")
        _reject_complex(X, "X")
        X = check_array(X, dtype=[np.float64, np.float32], input_name="X")
        return self.problem_.with_dictionary(self._validate_dictionary(dictionary, X.shape[1]))

    @property
    def _n_features_out(self):
        return self.n_components_

    def _squeeze(self, S, problem):
        return S[:, 0] if (getattr(self, "_target_1d", False) and problem is None) else S

    # public inference API ----------------------------------------------------------
    def predict(self, X, dictionary=None):
        """Estimate the sparse codes of ``X`` (output of the last layer).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        dictionary : array-like of shape (n_components', n_features'), optional
            Run the fitted iteration on another dictionary (and other problem
            sizes): classical and ``paradigm="hyperparameters"`` models only.
            A classical solver runs as on that dictionary (its step ``1/L``
            and threshold ``alpha/L`` from the new ``L``); a hyperparameters
            model keeps its learned step sizes and thresholds.

        Returns
        -------
        S : ndarray of shape (n_samples, n_components) or (n_samples,)
            In the dtype of ``X`` (1-D when the model was fitted on a 1-D ``y``).
        """
        problem = self._problem_for(X, dictionary)
        return self._squeeze(self.iterate(X, problem=problem), problem)

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
        return self.iterate(X, problem=self._problem_for(X, dictionary))

    def staged_predict(self, X, n_layers=None, dictionary=None):
        """Yield the estimate after each layer ``k = 1, ..., n_layers``.

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
        """The LASSO objective ``1/2 ||x - H s||^2 + alpha ||s||_1`` of each sample.

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


@document_parameters(lr="""
        Learning rate; ``None`` picks the paradigm's default (5e-2 for the
        log-parameterised step sizes and thresholds of ``"hyperparameters"``,
        1e-3 otherwise).""")
class UnfoldedISTA(_SparseCoderMixin, UnfoldedEstimator):
    """ISTA unfolded into ``n_layers`` trainable layers (LISTA and its family).

    The model is ``x = H s + e`` with the LASSO objective
    ``1/2 ||x - H s||^2 + alpha ||s||_1``. Each layer is one ISTA iteration
    ``s <- eta_{alpha/L}(s + H^T (x - H s) / L)`` whose parts become trainable
    according to ``paradigm``:

    =============== ==================================================== ===========
    paradigm        layer k                                              literature
    =============== ==================================================== ===========
    classical       ISTA (FISTA with ``momentum=True``), nothing learned ISTA, FISTA
    hyperparameters step ``gamma_k`` and threshold ``theta_k`` learned;  ALISTA
                    ``W = H`` or, with ``weights="analytic"``, ALISTA's
                    analytic ``W`` (only ``2K`` scalars learned)
    objective       ``W1, W2_k, theta_k`` learned (eq. 13); with         LISTA,
                    ``coupling="cp"``: ``s + W_k^T (x - H s)``           LISTA-CP
    correction      ISTA step plus learned ``Delta(s, x)`` (eq. 14),
                    shared by all layers unless ``tied=False``
    dnn             shrinkage replaced by a learned elementwise net
    =============== ==================================================== ===========

    Every model starts from its classical solver (``W1 = H^T/L``,
    ``W2 = I - H^T H / L``, ``theta = alpha / L``, zero correction, shrinkage-
    shaped elementwise nets), so an untrained model computes ISTA (with
    ``weights="analytic"``, ISTA with ALISTA's matrix).

    Parameters
    ----------
    dictionary : array-like of shape (n_components, n_features), default=None
        The dictionary in scikit-learn's row convention, ``X = S @ dictionary``
        (the paper's ``H`` transposed; row ``j`` is atom ``h_j``), as in
        :class:`sklearn.decomposition.SparseCoder`. ``None``: estimated from
        ``(X, y)`` by least squares during a supervised fit (a
        :class:`DictionaryEstimatedWarning` says so).
    n_layers : int, default=16
        Depth ``K``.
    paradigm : {"hyperparameters", "objective", "correction", "dnn", "classical"}, \
            default="hyperparameters"
    alpha : float, default=0.1
        The l1 weight ``lambda`` of the objective; the initial threshold is
        ``alpha / L`` with ``L = 1.001 ||H||_2^2``.
    weights : {"dictionary", "analytic"}, default="dictionary"
        Matrix of the ``"hyperparameters"`` paradigm: ``H`` itself, or ALISTA's
        analytic ``W``.
    coupling : {None, "cp"}, default=None
        ``"cp"`` couples LISTA's weights (``W2 = I - W1 H``, LISTA-CP).
    support_selection : bool or (float, float), default=False
        Let the largest ``p_k = min(1.2 k, 13)`` percent of entries that exceed
        the threshold bypass the shrinkage ("SS"); a pair gives
        ``(step, max)`` percentages. Not available with ``paradigm="dnn"``.
    momentum : bool, default=False
        FISTA-style extrapolation ``s + beta_k (s - s_prev)`` before each layer,
        a skip connection; ``beta_k`` starts at FISTA's values and is learned.
        With tied weights one coefficient is shared by all layers; it starts at 0
        (FISTA's first value), so an untrained tied model computes ISTA.
    tied : bool or None, default=None
        Share one layer's parameters across all layers (a tied network runs at
        any depth). ``None``: tied for ``"correction"`` (shared correction
        network), untied otherwise.
    hidden_layer_sizes : tuple of int, default=(32,)
        Hidden sizes of the correction network (``"correction"``); for
        ``"dnn"``, the first entry is the width of the elementwise network.
    %(training_parameters)s
    Attributes
    ----------
    module_ : UnfoldedModule
        The fitted network (``net_.module_`` when trained).
    problem_ : SparseCoding
        The fitted problem (dictionary, step matrix, classical hyperparameters).
    net_ : UnfoldingNet or None
        The trained skorch net (``None`` for ``paradigm="classical"``).
    history_ : skorch.History or None
        Per-epoch training losses.
    dictionary_ : ndarray of shape (n_components, n_features)
        The dictionary used (given or estimated).
    dictionary_estimated_ : bool
    n_components_ : int
    lipschitz_ : float
        ``L = 1.001 ||H||_2^2``.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined only when ``X`` has string feature names.

    See Also
    --------
    ISTA, FISTA : The classical solvers.
    HyperLISTA : Three hyperparameters, tuned without back-propagation.
    sklearn.decomposition.SparseCoder : Sparse coding by running a solver per sample.

    References
    ----------
    .. [1] K. Gregor and Y. LeCun, "Learning fast approximations of sparse
       coding", ICML 2010 (LISTA).
    .. [2] X. Chen et al., "Theoretical linear convergence of unfolded ISTA and
       its practical weights and thresholds", NeurIPS 2018 (LISTA-CP, -SS).
    .. [3] J. Liu et al., "ALISTA: Analytic weights are as good as learned
       weights in LISTA", ICLR 2019.
    .. [4] N. Shlezinger et al., "Deep unfolding: recent developments, theory,
       and design guidelines" (the four paradigms, loss schedules).

    Examples
    --------
    >>> from skunfold.datasets import make_sparse_recovery
    >>> from skunfold.sparse import UnfoldedISTA
    >>> from skunfold.metrics import nmse_db
    >>> X, S, D = make_sparse_recovery(n_samples=300, n_measurements=20, n_components=40,
    ...                                random_state=0)
    >>> est = UnfoldedISTA(dictionary=D, n_layers=4, max_epochs=5, random_state=0)
    >>> est.fit(X, S).predict(X).shape
    (300, 40)
    >>> [S_k.shape for S_k in est.staged_predict(X[:2])][-1]
    (2, 40)
    """


    parameter_constraints = {
        "weights": options("dictionary", "analytic"),
        "coupling": options("cp", allow_none=True),
        "support_selection": check_support_selection,
        "momentum": check_bool,
        "tied": _check_tied,
        "hidden_layer_sizes": lambda v, name: check_layer_sizes(v, name),
    }
    default_lr = {"hyperparameters": 5e-2, None: 1e-3}

    def __init__(self, dictionary=None, *, n_layers=16, paradigm="hyperparameters", alpha=0.1,
                 weights="dictionary", coupling=None, support_selection=False, momentum=False,
                 tied=None, hidden_layer_sizes=(32,), loss_schedule="end_to_end", max_epochs=50,
                 lr=None, lr_schedule="constant", batch_size=64, optimizer="adam",
                 unsupervised_weight=1.0, early_stopping=False, validation_fraction=0.1,
                 n_iter_no_change=10, device="auto", n_threads=None, warm_start=False,
                 random_state=None, verbose=0):
        set_init_parameters(self, locals())

    def _make_problem(self, D):
        support = check_support_selection(self.support_selection)
        if support is not None and self.paradigm == "dnn":
            raise ValueError("support_selection is not available with paradigm='dnn' "
                             "(its shrinkage is a learned network)")
        if self.paradigm == "classical":  # ISTA / FISTA, whatever the learned options
            return SparseCoding(D, self.alpha, momentum=self.momentum)
        return SparseCoding(D, self.alpha, self.weights, support, self.momentum, self.coupling)


@document_parameters
class ISTA(_SparseCoderMixin, UnfoldedEstimator):
    """Iterative soft-thresholding, the classical model-based solver (nothing learned).

    ``s <- eta_{alpha/L}(s + H^T (x - H s) / L)`` run for ``n_layers``
    iterations from ``s = 0``, with ``L = 1.001 ||H||_2^2``; it minimises the
    LASSO ``1/2 ||x - H s||^2 + alpha ||s||_1``, the same objective as
    :class:`sklearn.decomposition.SparseCoder` with
    ``transform_algorithm="lasso_cd", transform_alpha=alpha``. Computation is
    done in the dtype of ``X`` (float32 or float64).

    Parameters
    ----------
    dictionary : array-like of shape (n_components, n_features), default=None
        Row convention, ``X = S @ dictionary`` (see :class:`UnfoldedISTA`);
        ``None``: estimated from ``(X, y)`` by least squares.
    n_layers : int, default=100
        Number of iterations.
    alpha : float, default=0.1
        The l1 weight.
    %(training_parameters)s

    Attributes
    ----------
    module_ : UnfoldedModule
        The solver as a torch module.
    problem_ : SparseCoding
        The fitted problem.
    dictionary_ : ndarray of shape (n_components, n_features)
    dictionary_estimated_ : bool
    n_components_ : int
    lipschitz_ : float
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined only when ``X`` has string feature names.

    See Also
    --------
    FISTA, UnfoldedISTA

    Examples
    --------
    >>> from skunfold.datasets import make_sparse_recovery
    >>> from skunfold.sparse import ISTA
    >>> X, S, D = make_sparse_recovery(n_samples=5, n_measurements=20, n_components=40,
    ...                                random_state=0)
    >>> ISTA(dictionary=D, n_layers=50).fit(X).transform(X).shape
    (5, 40)
    """

    paradigm = "classical"
    _momentum = False

    def __init__(self, dictionary=None, *, n_layers=100, alpha=0.1, device="auto",
                 n_threads=None):
        set_init_parameters(self, locals())

    def _make_problem(self, D):
        return SparseCoding(D, self.alpha, momentum=self._momentum)


@document_parameters
class FISTA(ISTA):
    """FISTA: ISTA with Nesterov momentum ``s + (t_k - 1)/t_{k+1} (s - s_prev)``.

    Same parameters and attributes as :class:`ISTA`.

    Parameters
    ----------
    dictionary : array-like of shape (n_components, n_features), default=None
    n_layers : int, default=100
    alpha : float, default=0.1
    %(training_parameters)s

    Examples
    --------
    >>> from skunfold.datasets import make_sparse_recovery
    >>> from skunfold.sparse import FISTA
    >>> X, S, D = make_sparse_recovery(n_samples=5, n_measurements=20, n_components=40,
    ...                                random_state=0)
    >>> FISTA(dictionary=D, n_layers=50).fit(X).predict(X).shape
    (5, 40)
    """

    _momentum = True


@document_parameters
class HyperLISTA(_SparseCoderMixin, UnfoldedEstimator):
    """HyperLISTA: ALISTA with momentum and instance-adaptive thresholds, 3 hyperparameters.

    Each layer computes ``z = s + W^T (x - H s) + beta (s - s_prev)`` with ALISTA's
    analytic ``W``, then shrinks with support selection, where
    ``theta = c_threshold ||H^+ (H s - x)||_1``, ``beta = c_momentum ||s||_0`` and
    the bypassed fraction is ``clip(c_support log(||H^+ x||_1 / ||H^+(H s - x)||_1), 0, 1)``.
    Nothing is learned by back-propagation: tune the three constants with
    :class:`~sklearn.model_selection.GridSearchCV` (``fit`` only prepares ``W``
    and ``H^+``), e.g. with ``scoring=skunfold.metrics.nmse_scorer``.

    Parameters
    ----------
    dictionary : array-like of shape (n_components, n_features), default=None
        Row convention (see :class:`UnfoldedISTA`); ``None``: estimated from
        ``(X, y)`` by least squares.
    n_layers : int, default=16
    c_threshold : float, default=0.01
        Threshold constant; on the standard problem (m=250, n=500, p=0.1) good
        values lie in [0.004, 0.02].
    c_momentum : float, default=0.005
        Momentum constant (multiplies the number of non-zeros, ~50 there).
    c_support : float, default=0.05
        Support-selection constant.
    alpha : float, default=0.1
        l1 weight of the objective reported by :meth:`objective`.
    %(training_parameters)s

    Attributes
    ----------
    module_ : UnfoldedModule
        The solver as a torch module.
    problem_ : SparseCoding
        The fitted problem.
    dictionary_ : ndarray of shape (n_components, n_features)
    dictionary_estimated_ : bool
    n_components_ : int
    lipschitz_ : float
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined only when ``X`` has string feature names.

    References
    ----------
    .. [1] X. Chen, J. Liu, Z. Wang, W. Yin, "Hyperparameter tuning is all you
       need for LISTA", NeurIPS 2021.

    Examples
    --------
    >>> from sklearn.model_selection import GridSearchCV
    >>> from skunfold.datasets import make_sparse_recovery
    >>> from skunfold.metrics import nmse_scorer
    >>> from skunfold.sparse import HyperLISTA
    >>> X, S, D = make_sparse_recovery(n_samples=100, n_measurements=20, n_components=40,
    ...                                random_state=0)
    >>> search = GridSearchCV(HyperLISTA(dictionary=D, n_layers=8),
    ...                       {"c_threshold": [0.005, 0.01]}, scoring=nmse_scorer, cv=2)
    >>> search.fit(X, S).best_params_["c_threshold"] in (0.005, 0.01)
    True
    """

    paradigm = "hyperparameters"
    parameter_constraints = {"c_threshold": real(0), "c_momentum": real(0), "c_support": real(0)}

    def __init__(self, dictionary=None, *, n_layers=16, c_threshold=0.01, c_momentum=0.005,
                 c_support=0.05, alpha=0.1, device="auto", n_threads=None):
        set_init_parameters(self, locals())

    def _make_problem(self, D):
        return HyperLISTAProblem(D, self.c_threshold, self.c_momentum, self.c_support,
                                 self.alpha)
