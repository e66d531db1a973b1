"""Sparse-recovery estimators: ISTA, FISTA, UnfoldedISTA (LISTA family), HyperLISTA.

Each is a preset of :class:`~skunfold.core.UnfoldedEstimator` on the
:class:`~skunfold.sparse.SparseCoding` problem: its parameters, its
docstring, and the sparse coder's data handling (the dictionary, targets,
``transform``, ``predict`` on another dictionary).
"""

import torch
from sklearn.base import clone

from ..core import (
    SafeguardMixin,
    UnfoldedEstimator,
    check_bool,
    check_layer_sizes,
    document_parameters,
    set_init_parameters,
)
from ..core.constraints import options, real
from .coding import DictionaryEstimatedWarning, SparseCoderMixin, check_support_selection
from .problem import HyperLISTAProblem, SparseCoding

__all__ = ["ISTA", "FISTA", "UnfoldedISTA", "HyperLISTA", "DictionaryEstimatedWarning"]


def _check_tied(value, name):
    if value not in (None, True, False):
        raise TypeError(f"{name} must be None or a bool, got {value!r}")
    return value


def _check_init(value, name):
    if isinstance(value, str) and value in ("ista", "alista"):
        return value
    if isinstance(value, UnfoldedISTA) and value.paradigm == "hyperparameters":
        return value
    raise ValueError(f"{name} must be 'ista', 'alista' or an UnfoldedISTA with "
                     f"paradigm='hyperparameters', got {value!r}")


@document_parameters(lr="""
        Learning rate; ``None`` picks the paradigm's default (5e-2 for the
        log-parameterised step sizes and thresholds of ``"hyperparameters"``,
        1e-3 otherwise).""")
class UnfoldedISTA(SafeguardMixin, SparseCoderMixin, UnfoldedEstimator):
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
    init : {"ista", "alista"} or UnfoldedISTA, default="ista"
        Where LISTA-CP's trainable layers start (``paradigm="objective"``,
        ``coupling="cp"``, untied). ``"ista"``: every layer is ISTA's.
        ``"alista"``: ``fit`` first trains an ALISTA with the same depth,
        support selection, momentum and training parameters (its own default
        ``lr``) on the same data, then starts layer ``k`` at ALISTA's trained
        layer ``k`` (``W_k = gamma_k W``, ALISTA's threshold), so the
        untrained model computes what the ALISTA computes; training then
        refines the matrices (a small ``lr``, e.g. 5e-5, suits it). An
        unfitted ``UnfoldedISTA`` with ``paradigm="hyperparameters"`` is the
        model to start from with its own training parameters (a clone is
        fitted with this estimator's dictionary and depth). If the refinement
        does not improve the validation loss of the start, ``early_stopping``
        keeps the start. The trained model is ``init_estimator_``.
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
    n_iter_ : ndarray of shape (n_samples,)
        With ``fixed_point=True``: forward iterations of every training sample
        at the end of ``fit``.
    backward_n_iter_ : ndarray of shape (n_steps,)
        With ``fixed_point=True``: iterations of every training step's
        backward solve.
    init_estimator_ : UnfoldedISTA or None
        The trained ALISTA the layers started from (``init="alista"``);
        ``None`` otherwise.

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
        "init": lambda v, name: _check_init(v, name),
    }
    default_lr = {"hyperparameters": 5e-2, None: 1e-3}

    def __init__(self, dictionary=None, *, n_layers=16, paradigm="hyperparameters", alpha=0.1,
                 weights="dictionary", coupling=None, support_selection=False, momentum=False,
                 tied=None, hidden_layer_sizes=(32,), init="ista", loss_schedule="end_to_end",
                 max_epochs=50, lr=None, lr_schedule="constant",
                 max_grad_norm=None, batch_size=64, optimizer="adam",
                 unsupervised_weight=1.0, early_stopping=False, validation_fraction=0.1,
                 n_iter_no_change=10, fixed_point=False, fixed_point_tol=1e-4,
                 fixed_point_max_iter=100, fixed_point_solver="anderson",
                 fixed_point_backward="implicit",
                 safeguard=False, safeguard_delta=0.05, safeguard_rule="ema", safeguard_theta=0.5,
                 safeguard_residual="fixed_point", adversarial_radius=0.0, adversarial_steps=3,
                 device="auto", n_threads=None, warm_start=False, random_state=None, verbose=0):
        set_init_parameters(self, locals())

    def _make_problem(self, D):
        self.init_estimator_ = None
        starts_from_alista = not (isinstance(self.init, str) and self.init == "ista")
        if starts_from_alista and not (self.paradigm == "objective" and self.coupling == "cp"
                                       and not self.tied and not self.fixed_point):
            raise ValueError("init starts LISTA-CP from an ALISTA: it needs "
                             "paradigm='objective', coupling='cp' and untied layers, got "
                             f"paradigm={self.paradigm!r}, coupling={self.coupling!r}, "
                             f"tied={self.tied!r}, fixed_point={self.fixed_point!r}")
        support = check_support_selection(self.support_selection)
        if support is not None and self.paradigm == "dnn":
            raise ValueError("support_selection is not available with paradigm='dnn' "
                             "(its shrinkage is a learned network)")
        if self.paradigm == "classical":  # ISTA / FISTA, whatever the learned options
            return SparseCoding(D, self.alpha, momentum=self.momentum)
        problem = SparseCoding(D, self.alpha, self.weights, support, self.momentum, self.coupling)
        if getattr(self, "fixed_point", False) and problem.weights_kind == "dictionary":
            # deep equilibrium: a learned step stays in (0, 2/L), where the ISTA map is
            # averaged and its iteration converges, so the fixed point keeps existing
            problem.hyperparameter_constraints = {
                **problem.hyperparameter_constraints,
                "step": ("interval", 0.0, 2.0 / problem.lipschitz)}
        return problem

    def initialize_parameters(self, module, X, y=None, **side_information):
        """With ``init="alista"``: train an ALISTA on the same data and start from it."""
        if isinstance(self.init, str) and self.init == "ista":
            return
        if isinstance(self.init, str):
            alista = clone(self).set_params(
                dictionary=self.dictionary_, paradigm="hyperparameters", weights="analytic",
                coupling=None, init="ista", lr=None, warm_start=False)
        else:
            alista = clone(self.init).set_params(dictionary=self.dictionary_,
                                                 n_layers=self.n_layers, warm_start=False)
        alista.fit(X, y, **side_information)
        trained = alista.module_
        with torch.no_grad():
            for k, layer in enumerate(module.iterations):
                values = trained.iterations[k].hyperparameters(trained.problem, k)
                layer.W.copy_(values["step"] * trained.problem.W.to(layer.W))
                layer.theta.copy_(values["threshold"].to(layer.theta))
                if layer.beta is not None:
                    layer.beta.copy_(values["momentum"].to(layer.beta))
        self.init_estimator_ = alista


@document_parameters
class ISTA(SparseCoderMixin, UnfoldedEstimator):
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
class HyperLISTA(SafeguardMixin, SparseCoderMixin, UnfoldedEstimator):
    """HyperLISTA: ALISTA with momentum and instance-adaptive thresholds, 3 hyperparameters.

    Each layer computes ``z = s + W^T (x - H s) + beta (s - s_prev)`` with ALISTA's
    analytic ``W``, then shrinks with support selection, where
    ``theta = c_threshold ||H^+ (H s - x)||_1``, ``beta = c_momentum ||s||_0`` and
    the bypassed fraction is ``clip(c_support log(||H^+ x||_1 / ||H^+(H s - x)||_1), 0, 1)``.
    Nothing is learned by back-propagation: tune the three constants with
    :class:`~sklearn.model_selection.GridSearchCV` (``fit`` only prepares ``W``
    and ``H^+``), e.g. with ``scoring=skunfold.metrics.nmse_scorer``.

    With ``safeguard=True`` a layer's update is kept only where it lowers the
    fixed-point residual of ALISTA's classical analytic iteration (threshold
    ``alpha / L``, support selection; see
    :class:`~skunfold.sparse.AnalyticGuard`), which is used instead elsewhere.

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
        l1 weight of the objective reported by :meth:`objective` (and of the
        classical iteration of the safeguard).
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
                 c_support=0.05, alpha=0.1, safeguard=False, safeguard_delta=0.05,
                 safeguard_rule="ema", safeguard_theta=0.5, safeguard_residual="fixed_point",
                 device="auto", n_threads=None):
        set_init_parameters(self, locals())

    def _make_problem(self, D):
        return HyperLISTAProblem(D, self.c_threshold, self.c_momentum, self.c_support,
                                 self.alpha)
