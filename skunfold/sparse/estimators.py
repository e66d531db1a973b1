"""The unfolded sparse-recovery presets: UnfoldedISTA (LISTA family) and UnfoldedAMP.

Each is a preset of :class:`~skunfold.core.UnfoldedEstimator` (through the
sparse coders' base, :mod:`skunfold.sparse.coding`) on
:class:`~skunfold.sparse.SparseCoding`, :class:`~skunfold.sparse.HyperLISTAProblem`
or :class:`~skunfold.sparse.AMPProblem`: its declarations, its parameters and
its docstring. The classical solvers are in :mod:`skunfold.sparse.classical`.
"""

import warnings

import numpy as np
import torch
from sklearn.base import clone

from ..core import (
    Param,
    SampleSource,
    WorseThanClassicalWarning,
    constraints,
    set_init_parameters,
)
from .amp import SHRINKAGES, AMPProblem, _squared_norm, mean_atom_energy
from .analytic import check_coherence
from .coding import (
    OPERATOR_DICTIONARY_ROW,
    AMPCoderMixin,
    SparseCoderMixin,
    check_support_selection,
    compare_with_solver,
)
from .problem import SparseCoding, is_operator

__all__ = ["UnfoldedISTA", "UnfoldedAMP"]


def shown(value):
    return "diverged" if not np.isfinite(value) else f"{value:.4g}"


def _lr_row(doc):
    """The core's ``lr`` row with a preset's text on its defaults (the same check)."""
    return Param(constraints.real(0, strict_min=True, allow_none=True), "float or None", doc)


def _check_init(value, name):
    if isinstance(value, str) and value in ("ista", "alista"):
        return value
    if isinstance(value, UnfoldedISTA) and value.paradigm == "hyperparameters":
        return value
    raise ValueError(f"{name} must be 'ista', 'alista' or an UnfoldedISTA with "
                     f"paradigm='hyperparameters', got {value!r}")


class UnfoldedISTA(SparseCoderMixin):
    r"""ISTA unfolded into ``n_layers`` trainable layers (LISTA and its family).

    The model is :math:`x = H s + e` with the LASSO objective
    :math:`\tfrac12 \|x - H s\|_2^2 + \alpha \|s\|_1`. Each layer is one ISTA iteration
    :math:`s \leftarrow \eta_{\alpha/L}(s + H^\top (x - H s) / L)` whose parts become
    trainable according to ``paradigm``:

    =============== ==================================================== ===========
    paradigm        layer :math:`k`                                      literature
    =============== ==================================================== ===========
    classical       ISTA (FISTA with ``momentum=True``), nothing learned ISTA, FISTA
    hyperparameters step :math:`\gamma_k` and threshold :math:`\theta_k` ALISTA
                    learned; :math:`W = H` or, with
                    ``weights="analytic"``, ALISTA's analytic :math:`W`
                    (only :math:`2K` scalars learned)
    objective       :math:`W_1, W_{2,k}, \theta_k` learned (eq. 13);     LISTA,
                    with ``coupling="cp"``:                              LISTA-CP
                    :math:`s + W_k^\top (x - H s)`. Matrix-free (an
                    operator): :math:`s + \gamma_k P_k H^\top (x - Hs)`,
                    :math:`P_k` a learned 5 x 5 filter (operators on
                    images) or diagonal, and :math:`\gamma_k, \theta_k`
    correction      ISTA step plus learned :math:`\Delta(s, x)`
                    (eq. 14), shared by all layers unless ``tied=False``
    dnn             shrinkage replaced by a learned elementwise net
    =============== ==================================================== ===========

    Every model starts from its classical solver (:math:`W_1 = H^\top / L`,
    :math:`W_2 = I - H^\top H / L`, :math:`\theta = \alpha / L`, zero correction,
    shrinkage-shaped elementwise nets), so an untrained model computes ISTA (with
    ``weights="analytic"``, ISTA with ALISTA's matrix).

    Parameters
    ----------
    dictionary : array-like of shape (n_components, n_features), default=None
        The dictionary in scikit-learn's row convention, ``X = S @ dictionary``
        (the paper's :math:`H` transposed; row :math:`j` is atom :math:`h_j`), as in
        :class:`sklearn.decomposition.SparseCoder`. ``None``: estimated from
        ``(X, y)`` by least squares during a supervised fit (a
        :class:`DictionaryEstimatedWarning` says so). Also matrix-free: a SciPy
        sparse matrix (same convention) or a linear operator playing :math:`H`
        (shape (n_features, n_components): a :mod:`skunfold.imaging` operator, a
        SciPy ``LinearOperator``, a PyLops operator), applied by its ``forward`` /
        ``adjoint`` with :math:`L` from a power iteration (see :class:`ISTA`), never
        copied densely. Every paradigm runs on it; ``"objective"`` learns what needs
        no matrix: LISTA-CP's :math:`W_k^\top` becomes :math:`\gamma_k P_k H^\top`,
        :math:`P_k` a per-layer convolution filter of the gradient when the codes are
        images (a :mod:`skunfold.imaging` operator's ``image_shape``; side 5,
        periodic boundary, starting as the identity), else a per-layer diagonal,
        with the step :math:`\gamma_k` and threshold :math:`\theta_k` learned as in
        ``"hyperparameters"`` (:class:`~skunfold.sparse.iterations.PreconditionedLayer`;
        either ``coupling``). On 16 x 16 spike images blurred by a Gaussian
        (:math:`\sigma = 1`), 8 such layers trained on 300 images reached -8.0 dB
        NMSE on held-out ones, against -4.2 dB for ``"hyperparameters"`` and
        -1.6 / -2.2 dB for ISTA / FISTA. ``weights="analytic"`` and
        ``init="alista"`` need a dense matrix (a ``ValueError`` says so).
    n_layers : int, default=16
        Depth :math:`K`.
    paradigm : str, default="hyperparameters"
        ``"hyperparameters"``, ``"objective"``, ``"correction"``, ``"dnn"`` or
        ``"classical"``: what each layer learns (see the table above).
    alpha : float, default=0.1
        The :math:`\ell_1` weight :math:`\alpha` of the objective (the papers'
        :math:`\lambda`); the initial threshold is :math:`\alpha / L` with
        :math:`L = 1.001 \|H\|_2^2`.
    weights : {"dictionary", "analytic"}, default="dictionary"
        Matrix of the ``"hyperparameters"`` paradigm: :math:`H` itself, or ALISTA's
        analytic :math:`W`.
    coupling : {None, "cp"}, default=None
        ``"cp"`` couples LISTA's weights (:math:`W_2 = I - W_1 H`, LISTA-CP).
    support_selection : bool or (float, float), default=False
        Let the largest :math:`p_k = \min(1.2 k, 13)` percent of entries that exceed
        the threshold bypass the shrinkage ("SS"); a pair gives
        ``(step, max)`` percentages. Not available with ``paradigm="dnn"``.
    momentum : bool, default=False
        FISTA-style extrapolation :math:`s + \beta_k (s - s_{\text{prev}})` before each
        layer, a skip connection; :math:`\beta_k` starts at FISTA's values and is learned.
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
        ``lr``) on the same data, then starts layer :math:`k` at ALISTA's trained
        layer :math:`k` (:math:`W_k = \gamma_k W`, ALISTA's threshold), so the
        untrained model computes what the ALISTA computes; training then
        refines the matrices (a small ``lr``, e.g. 5e-5, suits it). An
        unfitted ``UnfoldedISTA`` with ``paradigm="hyperparameters"`` is the
        model to start from with its own training parameters (a clone is
        fitted with this estimator's dictionary and depth). If the refinement
        does not improve the validation loss of the start, ``early_stopping``
        keeps the start. The trained model is ``init_estimator_``.
    %(parameters)s

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
    dictionary_ : ndarray of shape (n_components, n_features), sparse matrix or operator
        The dictionary used (given or estimated; a sparse matrix or operator as given).
    dictionary_estimated_ : bool
    n_components_ : int
    lipschitz_ : float
        :math:`L = 1.001 \|H\|_2^2`.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined only when ``X`` has string feature names.
    layer_parameters_ : dict of str to ndarray
        Per layer (column ``"layer"``): the step sizes, thresholds, support
        fractions and momentum the layers run with (learned or classical).
    paradigm_ : str
        The paradigm fitted (``"classical"`` when nothing was trained).
    comparison_ : dict or None
        The check of ``fit`` against the classical solvers at the same
        depth (``None`` when nothing was trained): the full-depth losses
        ``"trained"`` and ``"classical"`` (the untrained model, ISTA), on
        what data (``"on"``), which model was ``"kept"`` (see
        ``keep_best``), and ``"fista"``: the model against FISTA at the same
        depth, by the reconstruction error (see :meth:`fit`).
    n_iter_ : ndarray of shape (n_samples,)
        With ``fixed_point``: forward iterations of every training sample
        at the end of ``fit``.
    backward_n_iter_ : ndarray of shape (n_steps,)
        With ``fixed_point``: iterations of every training step's
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

    supports = ("training", "fixed_point", "safeguard", "adversarial", "unsupervised",
                "semi_supervised")
    accepts_operators = True
    parameter_table = {
        "dictionary": OPERATOR_DICTIONARY_ROW,
        "weights": Param(constraints.options("dictionary", "analytic"), "str"),
        "coupling": Param(constraints.options("cp", allow_none=True), "str or None"),
        "support_selection": Param(check_support_selection, "bool or (float, float)"),
        "momentum": Param(constraints.boolean(), "bool"),
        "tied": Param(None, "bool or None"),
        "init": Param(lambda v, name: _check_init(v, name), "str or UnfoldedISTA"),
        "lr": _lr_row("""
        Learning rate; ``None`` picks the paradigm's default (5e-2 for the
        log-parameterised step sizes and thresholds of ``"hyperparameters"``, and
        for the matrix-free ``"objective"`` paradigm on an operator; 1e-3
        otherwise)."""),
    }

    @property
    def default_lr(self):
        """The learning rate of ``lr=None``, per paradigm (the core reads it)."""
        lr = {"hyperparameters": 5e-2, None: 1e-3}
        if is_operator(self.dictionary):  # filters or diagonals and log-scalars: no matrix
            lr["objective"] = 5e-2
        return lr

    def __init__(self, dictionary=None, *, n_layers=16, paradigm="hyperparameters", alpha=0.1,
                 weights="dictionary", coupling=None, support_selection=False, momentum=False,
                 tied=None, hidden_layer_sizes=(32,), init="ista", loss_schedule="end_to_end",
                 max_epochs=50, lr=None, batch_size=64, optimizer="adam", early_stopping=False,
                 keep_best=True, fixed_point=False, safeguard=False, adversarial=False,
                 device="auto", n_threads=None, warm_start=False, random_state=None, verbose=0):
        set_init_parameters(self, locals())

    def fit(self, X, y=None, **side_information):
        """Fit the unfolded network, then compare it with FISTA at the same depth.

        Trains as every unfolded estimator does (see ``keep_best`` for the
        comparison with the untrained model, ISTA). A trained model is then
        also compared with :class:`FISTA` (the stronger classical solver at
        equal depth) on (at most 2048 of) the training samples, by the squared
        error of the reconstructions ``S @ dictionary`` against those of ``y``
        (the LASSO objective without ``y``); if it does worse, a
        :class:`~skunfold.core.WorseThanClassicalWarning` gives both figures
        (``comparison_["fista"]``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or SampleSource
        y : array-like of shape (n_samples, n_components), default=None
            Codes; ``None`` trains on the LASSO objective, all-NaN rows are
            unlabeled.
        **side_information : array-like
            Not used by sparse coding.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        super().fit(X, y, **side_information)
        if self.comparison_ is None or self.momentum or isinstance(X, SampleSource):
            return self
        from .classical import FISTA

        fista = compare_with_solver(self, FISTA, X, y)
        self.comparison_ = {**self.comparison_, "fista": {
            "trained": fista["trained"], "fista": fista["classical"], "on": fista["on"]}}
        if fista["kept"] != "trained":
            warnings.warn(
                f"{type(self).__name__}(paradigm={self.paradigm!r}) does worse than FISTA at "
                f"the same depth ({self.n_layers} layers, alpha={self.alpha:g}) on the training "
                f"data: {fista['on']} {shown(fista['trained'])} against FISTA's "
                f"{fista['classical']:.4g}. Train longer or with another lr, try "
                "coupling='cp' (LISTA-CP) or momentum=True, or use FISTA",
                WorseThanClassicalWarning, stacklevel=constraints.caller_stacklevel())
        return self

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
        if problem.weights_kind == "analytic":
            check_coherence(D, "UnfoldedISTA(weights='analytic')")
        if self.fixed_point and problem.weights_kind == "dictionary":
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
        values = alista.layer_parameters_
        W = alista.problem_.W
        with torch.no_grad():
            for k in range(module.n_layers):
                layer = module.iteration(k)
                step = torch.as_tensor(values["step"][k], dtype=W.dtype, device=W.device)
                layer.W.copy_(step * W.to(layer.W))
                layer.theta.copy_(torch.as_tensor(values["threshold"][k]).to(layer.theta))
                if layer.beta is not None:
                    layer.beta.copy_(torch.as_tensor(values["momentum"][k]).to(layer.beta))
        self.init_estimator_ = alista


class UnfoldedAMP(AMPCoderMixin):
    r"""AMP unfolded into ``n_layers`` trainable layers: learned AMP (LAMP).

    Each layer is one iteration of :class:`AMP` (the Onsager term, the
    per-sample noise estimate :math:`\sigma_t^2 = \|v_t\|_2^2 / m`),
    :math:`s_{t+1} = \eta_t(s_t + B_t v_t; \sigma_t)`, whose parts become trainable
    according to ``paradigm``:

    =============== ============================================= ==============
    paradigm        layer :math:`t` learns                        literature
    =============== ============================================= ==============
    classical       nothing: AMP (``shrinkage="bg"``: BG-MMSE     AMP
                    AMP; ``"pwlin"``: soft-threshold AMP)
    hyperparameters the shrinkage's parameters (``"soft"``: the   LAMP with
                    threshold scale :math:`\alpha_t` and gain     :math:`B = A^\top`
                    :math:`\beta_t`); :math:`B = A^\top` fixed,
                    shared
    objective       :math:`B_t` per layer (``tied=True``: one     LAMP-l1
                    :math:`B` for all), :math:`\alpha_t` and
                    :math:`\beta_t`; soft shrinkage only
    dnn             a learned shrinkage family (``shrinkage``     LAMP-bg,
                    ``"bg"`` or ``"pwlin"``) and :math:`B_t`      LAMP-pwlin
    =============== ============================================= ==============

    The Onsager gain :math:`b_{t+1} = \tfrac{1}{m} \sum_j \eta_t'(r_j)` uses the derivative
    of the layer's (learned) shrinkage, in closed form. Learned shrinkage
    parameters start at their classical values, and learned matrices at
    :math:`A^\top` (``matrix_init="transpose"``, and ``"auto"`` on a dictionary of
    atoms of about unit norm), so an untrained model computes AMP layer by
    layer; ``matrix_init="scaled"`` starts them at :math:`A^\top / (1.01 \|A\|_2^2)`,
    the initialisation of the authors' code.
    The ``"correction"`` paradigm is not offered.

    Parameters
    ----------
    dictionary : array-like of shape (n_components, n_features), default=None
        :math:`A^\top` in scikit-learn's row convention (see :class:`AMP`); ``None``:
        estimated from ``(X, y)`` by least squares. Also matrix-free (a sparse matrix,
        or an operator playing :math:`A`: see :class:`AMP`); the ``"objective"`` and
        ``"dnn"`` paradigms then learn :math:`B_t = P_t A^\top`, :math:`P_t` a
        convolution filter (operators on images) or a diagonal, in place of a matrix.
    n_layers : int, default=15
        Depth :math:`K`.
    paradigm : {"objective", "hyperparameters", "dnn", "classical"}, default="objective"
    shrinkage : {"soft", "bg", "pwlin"}, default="soft"
        The shrinkage family: soft thresholding (``alpha``, gain), the
        Bernoulli-Gaussian MMSE denoiser (prior variance, log-odds) or a
        piecewise-linear function (two knees, three slopes; it starts as soft
        thresholding). ``"bg"`` and ``"pwlin"`` are the ``"dnn"`` paradigm's
        families (or learned alone with ``"hyperparameters"``).
    alpha : float, default=1.1402
        Initial threshold multiplier (``soft``, ``pwlin``).
    sparsity : float, default=0.1
        Prior :math:`p` of ``bg`` (its initial log-odds is :math:`\log p/(1-p)`).
    signal_var : float, default=1.0
        Prior variance of ``bg``'s non-zero entries (initial value).
    matrix_init : {"auto", "transpose", "scaled"}, default="auto"
        Initial learned matrices: :math:`A^\top` (AMP) or :math:`A^\top / (1.01 \|A\|_2^2)`.
        ``"auto"``: :math:`A^\top` when the atoms have about unit norm (a mean squared
        norm in :math:`[1/4, 4]`, as AMP assumes), else the scaled start, with
        which the untrained network stays stable on a dictionary of another
        scale (e.g. one estimated from ``(X, y)``), where AMP diverges.
    tied : bool or None, default=None
        ``"objective"`` and ``"dnn"``: share one learned :math:`B` by every layer
        (the shrinkage parameters stay per layer). ``"hyperparameters"``:
        one set of shrinkage parameters for every layer (the network then
        runs at any depth). ``None``: untied.
    %(parameters)s

    Attributes
    ----------
    module_ : UnfoldedModule
        The fitted network (``net_.module_`` when trained).
    problem_ : AMPProblem
        The fitted problem.
    net_ : UnfoldingNet or None
        The trained skorch net (``None`` for ``paradigm="classical"``).
    history_ : skorch.History or None
    dictionary_ : ndarray of shape (n_components, n_features)
    dictionary_estimated_ : bool
    n_components_ : int
    lipschitz_ : float
    layer_parameters_ : dict of str to ndarray
        Per layer (column ``"layer"``): the shrinkage parameters the layers
        run with (learned or classical); the matrices are in ``module_``.
    paradigm_ : str
        The paradigm fitted (``"classical"`` when nothing was trained).
    comparison_ : dict or None
        The check of ``fit`` against the untrained model (AMP) at the same
        depth (``None`` when nothing was trained); see ``keep_best``.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined only when ``X`` has string feature names.

    See Also
    --------
    AMP, amp_state_evolution
    UnfoldedISTA : LISTA, ALISTA and their family.

    References
    ----------
    .. [1] M. Borgerding, P. Schniter and S. Rangan, "AMP-inspired deep
       networks for sparse linear inverse problems", IEEE Trans. Signal
       Process. 65(16), 2017.

    Examples
    --------
    >>> from skunfold.datasets import make_sparse_recovery
    >>> from skunfold.metrics import nmse_db
    >>> from skunfold.sparse import AMP, UnfoldedAMP
    >>> X, S, D = make_sparse_recovery(n_samples=400, n_measurements=40, n_components=80,
    ...                                snr_db=40, random_state=0)
    >>> lamp = UnfoldedAMP(D, n_layers=4, paradigm="hyperparameters", max_epochs=5,
    ...                    random_state=0).fit(X, S)
    >>> lamp.predict(X).shape
    (400, 80)
    >>> untrained = UnfoldedAMP(D, n_layers=4, max_epochs=0).fit(X, S)
    >>> bool(abs(nmse_db(S, untrained.predict(X))
    ...          - nmse_db(S, AMP(D, n_layers=4).fit(X).predict(X))) < 1e-3)
    True
    """

    supports = ("training", "safeguard", "adversarial", "unsupervised", "semi_supervised")
    paradigms = ("classical", "hyperparameters", "objective", "dnn")
    accepts_operators = True
    parameter_table = {
        "shrinkage": Param(constraints.options(*SHRINKAGES), "str"),
        "matrix_init": Param(constraints.options("auto", "transpose", "scaled"), "str"),
        "tied": Param(None, "bool or None"),
        "lr": _lr_row("""
        Learning rate; ``None`` picks the paradigm's default (1e-2 for the
        shrinkage parameters of ``"hyperparameters"``, mostly learned through
        their logarithm; 1e-3 otherwise, the paper's rate)."""),
    }
    default_lr = {"hyperparameters": 1e-2, None: 1e-3}

    def __init__(self, dictionary=None, *, n_layers=15, paradigm="objective", shrinkage="soft",
                 alpha=1.1402, sparsity=0.1, signal_var=1.0, damping="auto", matrix_init="auto",
                 tied=None, loss_schedule="end_to_end", max_epochs=50, lr=None, batch_size=64,
                 optimizer="adam", early_stopping=False, keep_best=True, safeguard=False,
                 adversarial=False, device="auto", n_threads=None, warm_start=False,
                 random_state=None, verbose=0):
        set_init_parameters(self, locals())

    def _make_problem(self, D):
        if self.paradigm == "dnn" and self.shrinkage == "soft":
            raise ValueError("paradigm='dnn' learns a shrinkage family: pass shrinkage='bg' or "
                             "'pwlin' (LAMP with soft thresholding is paradigm='objective')")
        if self.paradigm == "objective" and self.shrinkage != "soft":
            raise ValueError(f"shrinkage={self.shrinkage!r} with learned matrices is "
                             "paradigm='dnn' (paradigm='objective' is LAMP with soft "
                             "thresholding)")
        scale = 1.0
        atoms = mean_atom_energy(D)  # mean squared norm of the atoms (probes on an operator)
        if self.matrix_init == "scaled" or (self.matrix_init == "auto"
                                            and not 0.25 <= atoms <= 4.0):
            scale = 1.0 / (1.01 * _squared_norm(D))
        shrinkage = "soft" if self.paradigm == "classical" and self.shrinkage == "pwlin" \
            else self.shrinkage
        return AMPProblem(D, shrinkage, self.alpha, self.sparsity, self.signal_var, scale,
                          damping=self.damping)
