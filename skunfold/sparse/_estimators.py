"""Sparse-recovery estimators: ISTA, FISTA, UnfoldedISTA (LISTA family), HyperLISTA."""

import warnings

import numpy as np
import torch
from sklearn.base import RegressorMixin, TransformerMixin
from sklearn.utils.validation import check_array, validate_data

from ..core import BaseUnfoldedEstimator
from ..core._base import check_int, check_option, check_real
from ._modules import (
    ClassicalStep,
    CorrectionNet,
    CorrectionStep,
    DNNStep,
    HyperLISTAStep,
    HyperparameterStep,
    LISTACPStep,
    LISTAStep,
    SparseUnfolded,
    analytic_weights,
    fista_momentum,
    lipschitz_constant,
)

__all__ = ["ISTA", "FISTA", "UnfoldedISTA", "HyperLISTA", "DictionaryEstimatedWarning"]

#: Support selection of LISTA-CPSS / ALISTA: p_k = min(1.2 k, 13) percent.
DEFAULT_SUPPORT_SELECTION = (1.2, 13.0)


class DictionaryEstimatedWarning(UserWarning):
    """Issued when ``dictionary=None`` and the dictionary is estimated from ``(X, y)``."""


def _check_support_selection(value):
    if value is False or value is None:
        return None
    if value is True:
        return DEFAULT_SUPPORT_SELECTION
    try:
        step, cap = value
        step, cap = float(step), float(cap)
    except (TypeError, ValueError):
        raise ValueError(
            "support_selection must be a bool or a pair (step_percent, max_percent), "
            f"got {value!r}"
        ) from None
    if not (step > 0 and 0 < cap <= 100):
        raise ValueError(f"support_selection percentages must be positive and <= 100, got {value!r}")
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


class _SparseCoderMixin:
    """Data handling shared by the sparse-recovery estimators."""

    # dictionary-dependent fitted state -----------------------------------------
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
                f"X = S @ dictionary).{hint}"
            )
        return D

    def _validate_targets(self, X, y):
        """Return (y as 2-D float array or None, y_was_1d)."""
        if y is None:
            return None, False
        y = check_array(y, ensure_2d=False, dtype=[np.float64, np.float32],
                        ensure_all_finite="allow-nan", input_name="y")
        y_1d = y.ndim == 1
        if y_1d:
            y = y[:, None]
        if y.ndim != 2:
            raise ValueError(f"y must be 1-D or 2-D (n_samples, n_components), got shape {y.shape}")
        if len(y) != len(X):
            raise ValueError(
                f"y has {len(y)} rows but X has {len(X)} samples; X and y must have the same "
                "number of samples"
            )
        nan = np.isnan(y)
        partial = nan.any(axis=1) & ~nan.all(axis=1)
        if partial.any():
            raise ValueError(
                "y has rows that are only partly NaN; a row of y is either fully labeled "
                "or entirely NaN (unlabeled, semi-supervised training)"
            )
        if nan.all():
            return None, y_1d
        return y, y_1d

    def _resolve_dictionary(self, X, y):
        if self.dictionary is not None:
            D = self._validate_dictionary(self.dictionary, X.shape[1])
            if y is not None and y.shape[1] != D.shape[0]:
                raise ValueError(
                    f"y has {y.shape[1]} columns but the dictionary has {D.shape[0]} atoms "
                    "(n_components); y must have shape (n_samples, n_components)"
                )
            return D, False
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None: "
                "with dictionary=None the dictionary is estimated from (X, y); pass "
                "`dictionary` to fit without targets (unsupervised)"
            )
        lab = ~np.isnan(y).all(axis=1)
        D = np.linalg.lstsq(y[lab].astype(np.float64), X[lab].astype(np.float64), rcond=None)[0]
        warnings.warn(
            f"dictionary=None: {type(self).__name__} estimated the dictionary "
            f"({D.shape[0]} atoms x {D.shape[1]} features) from (X, y) by least squares; "
            "it is stored in `dictionary_`", DictionaryEstimatedWarning, stacklevel=4)
        if not np.all(np.isfinite(D)) or np.linalg.norm(D) == 0:
            raise ValueError("could not estimate a usable dictionary from (X, y)")
        return D, True

    def _prepare_fit(self, X, y):
        _reject_complex(X, "X")
        _reject_complex(y, "y")
        X = validate_data(self, X, reset=True, dtype=[np.float64, np.float32])
        y, y_1d = self._validate_targets(X, y)
        D, estimated = self._resolve_dictionary(X, y)
        self.dictionary_ = D
        self.dictionary_estimated_ = estimated
        self.n_components_ = D.shape[0]
        self.lipschitz_ = lipschitz_constant(D)
        self._y_1d = y_1d
        self._fit_dtype = X.dtype
        return X, y

    def _validate_predict_X(self, X, dictionary=None):
        _reject_complex(X, "X")
        if dictionary is None:
            return validate_data(self, X, reset=False, dtype=[np.float64, np.float32]), None
        if self.paradigm not in ("classical", "hyperparameters"):
            raise ValueError(
                "predicting with another dictionary is only possible for the classical and "
                f"hyperparameters paradigms (learned parameters independent of H); this model "
                f"uses paradigm={self.paradigm!r}"
            )
        X = check_array(X, dtype=[np.float64, np.float32], input_name="X")
        D = self._validate_dictionary(dictionary, X.shape[1])
        return X, self._fitted_module().with_dictionary(D)

    # public inference API ----------------------------------------------------------
    def predict(self, X, dictionary=None):
        """Estimate the sparse codes of ``X`` (output of the last layer).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        dictionary : array-like of shape (n_components', n_features'), optional
            Run the fitted iteration on another dictionary (and other problem
            sizes): classical and ``paradigm="hyperparameters"`` models only.

        Returns
        -------
        S : ndarray of shape (n_samples, n_components) or (n_samples,)
            In the dtype of ``X`` (1-D when the model was fitted on a 1-D ``y``).
        """
        self._check_fitted()
        X, module = self._validate_predict_X(X, dictionary)
        S = self._run(X, module=module)
        return S[:, 0] if (self._y_1d and module is None) else S

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
        self._check_fitted()
        X, module = self._validate_predict_X(X, dictionary)
        return self._run(X, module=module)

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
        self._check_fitted()
        X, module = self._validate_predict_X(X, dictionary)
        for S in self._run(X, n_layers=n_layers, staged=True, module=module):
            yield S[:, 0] if (self._y_1d and module is None) else S

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
        self._check_fitted()
        X = validate_data(self, X, reset=False, dtype=np.float64)
        S = check_array(S, ensure_2d=False, dtype=np.float64, input_name="S")
        if S.ndim == 1 and S.size == len(X) * self.n_components_:
            S = S.reshape(len(X), self.n_components_)  # 1-D codes (n_components=1 or one sample)
        if S.shape != (len(X), self.n_components_):
            raise ValueError(f"S has shape {S.shape}, expected (n_samples, n_components) = "
                             f"({len(X)}, {self.n_components_})")
        R = X - S @ self.dictionary_
        return 0.5 * np.sum(R * R, axis=1) + self.alpha * np.sum(np.abs(S), axis=1)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.required = self.dictionary is None
        if tags.transformer_tags is not None:
            tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


_COMMON_TRAINING_DOC = """
    loss_schedule : str or LossSchedule, default="end_to_end"
        ``"end_to_end"`` (L1), ``"multi_iteration"`` (L2, log(1+k) weights),
        ``"sequential"`` (L3, layer by layer), ``"sequential+end_to_end"``, or a
        :class:`~skunfold.core.LossSchedule` object.
    max_epochs : int, default=50
        Passes over the training data (shared among the stages of a schedule).
        ``0`` builds the network without training it: initialised from the
        classical solver, it computes ISTA (a baseline at equal depth).
    lr : float or None, default=None
        Learning rate; ``None`` picks the paradigm's default (5e-2 for the
        log-parameterised step sizes and thresholds of ``"hyperparameters"``,
        1e-3 otherwise).
    batch_size : int, default=64
        Mini-batch size (``-1``: full batch).
    optimizer : {"adam", "adamw", "sgd", "rmsprop"} or torch.optim.Optimizer class, default="adam"
    unsupervised_weight : float, default=1.0
        Weight of the objective on the unlabeled rows (all-NaN rows of ``y``) in
        semi-supervised training.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data, stop a stage when the
        validation loss has not improved for ``n_iter_no_change`` epochs, and
        restore the best epoch.
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=10
    device : str, default="auto"
        ``"auto"`` trains on CUDA when available, else on the CPU.
    warm_start : bool, default=False
        Continue from the previous fit's parameters when the architecture is
        unchanged.
    random_state : int, RandomState instance or None, default=None
        The single source of randomness (initialisation, shuffling, split).
    verbose : int, default=0
        ``>0`` prints per-epoch losses and a progress bar.
"""


class UnfoldedISTA(_SparseCoderMixin, TransformerMixin, RegressorMixin, BaseUnfoldedEstimator):
    __doc__ = """ISTA unfolded into ``n_layers`` trainable layers (LISTA and its family).

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
""" + _COMMON_TRAINING_DOC + """
    Attributes
    ----------
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

    def __init__(self, dictionary=None, *, n_layers=16, paradigm="hyperparameters", alpha=0.1,
                 weights="dictionary", coupling=None, support_selection=False, momentum=False,
                 tied=None, hidden_layer_sizes=(32,), loss_schedule="end_to_end", max_epochs=50,
                 lr=None, batch_size=64, optimizer="adam", unsupervised_weight=1.0,
                 early_stopping=False, validation_fraction=0.1, n_iter_no_change=10,
                 device="auto", warm_start=False, random_state=None, verbose=0):
        self.dictionary = dictionary
        self.n_layers = n_layers
        self.paradigm = paradigm
        self.alpha = alpha
        self.weights = weights
        self.coupling = coupling
        self.support_selection = support_selection
        self.momentum = momentum
        self.tied = tied
        self.hidden_layer_sizes = hidden_layer_sizes
        self.loss_schedule = loss_schedule
        self.max_epochs = max_epochs
        self.lr = lr
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

    def _check_params(self):
        check_real(self.alpha, "alpha", min_value=0)
        check_option(self.weights, "weights", ("dictionary", "analytic"))
        if self.coupling not in (None, "cp"):
            raise ValueError(f"coupling must be None or 'cp', got {self.coupling!r}")
        ss = _check_support_selection(self.support_selection)
        if ss is not None and self.paradigm == "dnn":
            raise ValueError("support_selection is not available with paradigm='dnn' "
                             "(its shrinkage is a learned network)")
        if not isinstance(self.momentum, (bool, np.bool_)):
            raise TypeError(f"momentum must be a bool, got {self.momentum!r}")
        if self.tied not in (None, True, False):
            raise TypeError(f"tied must be None or a bool, got {self.tied!r}")
        try:
            sizes = tuple(self.hidden_layer_sizes)
        except TypeError:
            sizes = None
        if sizes is None or isinstance(self.hidden_layer_sizes, str) or not all(
                isinstance(h, (int, np.integer)) and not isinstance(h, bool) for h in sizes):
            raise ValueError(f"hidden_layer_sizes must be a tuple of positive integers, "
                             f"got {self.hidden_layer_sizes!r}")
        if not sizes or any(h < 1 for h in sizes):
            raise ValueError(f"hidden_layer_sizes must be a non-empty tuple of positive "
                             f"integers, got {self.hidden_layer_sizes!r}")

    def _criterion(self):
        return torch.nn.MSELoss

    def _default_lr(self):
        return 5e-2 if self.paradigm == "hyperparameters" else 1e-3

    def _is_tied(self):
        if self.tied is None:
            return self.paradigm == "correction"
        return bool(self.tied)

    def _build_module(self):
        D = self.dictionary_
        K = self.n_layers
        L = self.lipschitz_
        step, theta = 1.0 / L, self.alpha / L
        tied = self._is_tied()
        n_build = 1 if tied else K
        mom = fista_momentum(n_build) if self.momentum else [None] * n_build
        ss = _check_support_selection(self.support_selection)
        dtype = torch.float32
        W = W1 = None
        p = self.paradigm
        if p == "classical":
            dtype = torch.float64 if self._fit_dtype == np.float64 else torch.float32
            its = [ClassicalStep(step, theta, m) for m in mom]
            ss = None
        elif p == "hyperparameters":
            if self.weights == "analytic":
                W = analytic_weights(D)
            its = [HyperparameterStep(step, theta, m) for m in mom]
        elif p == "objective":
            if self.coupling == "cp":
                its = [LISTACPStep(torch.tensor(D.T / L, dtype=dtype), theta, m) for m in mom]
            else:
                W1 = D.T / L
                W2 = torch.tensor(np.eye(D.shape[0]) - D @ D.T / L, dtype=dtype)
                its = [LISTAStep(W2, theta, m) for m in mom]
        elif p == "correction":
            sizes = tuple(int(h) for h in self.hidden_layer_sizes)
            if tied:
                corr = CorrectionNet(D.shape[0], sizes)
                its = [CorrectionStep(step, theta, corr, mom[0])]
            else:
                its = [CorrectionStep(step, theta, CorrectionNet(D.shape[0], sizes), m)
                       for m in mom]
        else:  # dnn
            width = int(tuple(self.hidden_layer_sizes)[0])
            its = [DNNStep(step, theta, width, m) for m in mom]
        iterations = its[0] if tied else its
        return SparseUnfolded(D, iterations, K, self.alpha, support_selection=ss, W=W, W1=W1,
                              dtype=dtype)

    def _module_is_compatible(self, module):
        if not super()._module_is_compatible(module):
            return False
        if tuple(module.D.shape) != tuple(self.dictionary_.shape):
            return False
        D = torch.as_tensor(self.dictionary_, dtype=module.D.dtype, device=module.D.device)
        return bool(torch.allclose(module.D, D))


class ISTA(_SparseCoderMixin, TransformerMixin, RegressorMixin, BaseUnfoldedEstimator):
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
    device : str, default="auto"

    Attributes
    ----------
    module_ : SparseUnfolded
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

    def __init__(self, dictionary=None, *, n_layers=100, alpha=0.1, device="auto"):
        self.dictionary = dictionary
        self.n_layers = n_layers
        self.alpha = alpha
        self.device = device

    def _check_params(self):
        check_real(self.alpha, "alpha", min_value=0)

    def _build_module(self):
        L = self.lipschitz_
        dtype = torch.float64 if self._fit_dtype == np.float64 else torch.float32
        mom = fista_momentum(self.n_layers) if self._momentum else [None] * self.n_layers
        its = [ClassicalStep(1.0 / L, self.alpha / L, m) for m in mom]
        if not self._momentum:
            its = its[0]  # one tied iteration: runs at any depth
        return SparseUnfolded(self.dictionary_, its, self.n_layers, self.alpha, dtype=dtype)


class FISTA(ISTA):
    """FISTA: ISTA with Nesterov momentum ``s + (t_k - 1)/t_{k+1} (s - s_prev)``.

    Same parameters and attributes as :class:`ISTA`.

    Parameters
    ----------
    dictionary : array-like of shape (n_components, n_features), default=None
    n_layers : int, default=100
    alpha : float, default=0.1
    device : str, default="auto"

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


class HyperLISTA(_SparseCoderMixin, TransformerMixin, RegressorMixin, BaseUnfoldedEstimator):
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
    device : str, default="auto"

    Attributes
    ----------
    module_ : SparseUnfolded
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

    def __init__(self, dictionary=None, *, n_layers=16, c_threshold=0.01, c_momentum=0.005,
                 c_support=0.05, alpha=0.1, device="auto"):
        self.dictionary = dictionary
        self.n_layers = n_layers
        self.c_threshold = c_threshold
        self.c_momentum = c_momentum
        self.c_support = c_support
        self.alpha = alpha
        self.device = device

    def _needs_training(self):
        return False

    def _check_params(self):
        check_real(self.c_threshold, "c_threshold", min_value=0)
        check_real(self.c_momentum, "c_momentum", min_value=0)
        check_real(self.c_support, "c_support", min_value=0)
        check_real(self.alpha, "alpha", min_value=0)

    def _build_module(self):
        D = self.dictionary_
        dtype = torch.float64 if self._fit_dtype == np.float64 else torch.float32
        step = HyperLISTAStep(self.c_threshold, self.c_momentum, self.c_support)
        Hpinv = np.linalg.pinv(D.T).T  # (m, n): x @ Hpinv = (H^+ x)^T
        return SparseUnfolded(D, step, self.n_layers, self.alpha, W=analytic_weights(D),
                              Hpinv=Hpinv, dtype=dtype)

