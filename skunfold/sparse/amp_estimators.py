"""AMP and learned AMP (LAMP) as sparse-recovery estimators.

Presets of :class:`~skunfold.core.UnfoldedEstimator` on
:class:`~skunfold.sparse.AMPProblem`, with the sparse coders' data handling
(the dictionary, targets, ``transform``, ``predict`` on another dictionary).
"""

import numpy as np

from ..core import (
    SafeguardMixin,
    UnfoldedEstimator,
    check_bool,
    check_real,
    document_parameters,
    set_init_parameters,
)
from ..core.constraints import options, real
from .amp import SHRINKAGES, AMPProblem
from .coding import SparseCoderMixin

__all__ = ["AMP", "UnfoldedAMP"]


def _check_sparsity(value, name):
    value = check_real(value, name, min_value=0, max_value=1, strict_min=True)
    if value >= 1:
        raise ValueError(f"{name} must be in (0, 1), got {value}")
    return value


class _AMPMixin:
    """What AMP and UnfoldedAMP share on top of the sparse coders' mixin."""

    parameter_constraints = {"alpha": real(0), "sparsity": _check_sparsity,  # noqa: RUF012
                             "signal_var": real(0, strict_min=True)}

    def objective(self, X, S):
        """The residual energy ``1/2 ||x - A s||^2`` of each sample.

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


@document_parameters
class AMP(_AMPMixin, SparseCoderMixin, UnfoldedEstimator):
    """Approximate message passing, the classical solver (nothing learned).

    From ``s_0 = 0``, ``v_{-1} = 0``, ``b_0 = 0``, each iteration computes the
    residual with the Onsager term ``v_t = x - A s_t + b_t v_{t-1}``, the
    per-sample noise-level estimate ``sigma_t^2 = ||v_t||^2 / m``, and
    ``s_{t+1} = eta(s_t + A^T v_t)`` with ``b_{t+1} = (n / m) mean(eta')``.
    With ``denoiser="soft"``, ``eta`` is soft thresholding at
    ``alpha sigma_t`` (``b_{t+1} = ||s_{t+1}||_0 / m``); with ``"bg"`` it is
    the MMSE estimate of the Bernoulli(``sparsity``)-Gaussian(``signal_var``)
    prior (Bayes-optimal AMP). For ``A`` with i.i.d. entries the error of each
    iteration is predicted by :func:`amp_state_evolution`. Computation is done
    in the dtype of ``X``.

    Parameters
    ----------
    dictionary : array-like of shape (n_components, n_features), default=None
        ``A^T`` in scikit-learn's row convention, ``X = S @ dictionary`` (see
        :class:`UnfoldedISTA`); ``None``: estimated from ``(X, y)`` by least
        squares (a :class:`DictionaryEstimatedWarning` says so). AMP assumes
        ``A`` with i.i.d. zero-mean entries of variance ``1/m`` (or columns of
        unit norm).
    n_layers : int, default=30
        Number of iterations.
    denoiser : {"soft", "bg"}, default="soft"
    alpha : float, default=1.1402
        Threshold multiplier of the soft denoiser (1.1402 is the minimax value
        for ``p = 0.1``, ``m / n = 0.5``).
    sparsity : float, default=0.1
        Prior probability ``p`` of a non-zero entry (``"bg"``).
    signal_var : float, default=1.0
        Prior variance of the non-zero entries (``"bg"``).
    %(training_parameters)s

    Attributes
    ----------
    module_ : UnfoldedModule
        The solver as a torch module.
    problem_ : AMPProblem
        The fitted problem.
    dictionary_ : ndarray of shape (n_components, n_features)
    dictionary_estimated_ : bool
    n_components_ : int
    lipschitz_ : float
        ``1.001 ||A||_2^2`` (reported for comparison with ISTA; AMP does not use it).
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined only when ``X`` has string feature names.

    See Also
    --------
    UnfoldedAMP : AMP unfolded into trainable layers (LAMP).
    amp_state_evolution : The scalar recursion predicting AMP's error.
    ISTA, FISTA : Proximal-gradient solvers of the LASSO.

    References
    ----------
    .. [1] D. L. Donoho, A. Maleki and A. Montanari, "Message-passing
       algorithms for compressed sensing", PNAS 106(45), 2009.
    .. [2] M. Borgerding, P. Schniter and S. Rangan, "AMP-inspired deep
       networks for sparse linear inverse problems", IEEE Trans. Signal
       Process. 65(16), 2017.

    Examples
    --------
    >>> from skunfold.datasets import make_sparse_recovery
    >>> from skunfold.metrics import nmse_db
    >>> from skunfold.sparse import AMP
    >>> X, S, D = make_sparse_recovery(n_samples=200, n_measurements=100, n_components=200,
    ...                                snr_db=40, random_state=0)
    >>> amp = AMP(D, n_layers=20).fit(X)
    >>> amp.predict(X).shape
    (200, 200)
    >>> bool(nmse_db(S, amp.predict(X)) < -20)
    True
    """

    paradigm = "classical"
    parameter_constraints = {"denoiser": options("soft", "bg")}  # noqa: RUF012

    def __init__(self, dictionary=None, *, n_layers=30, denoiser="soft", alpha=1.1402,
                 sparsity=0.1, signal_var=1.0, device="auto", n_threads=None):
        set_init_parameters(self, locals())

    def _make_problem(self, D):
        return AMPProblem(D, self.denoiser, self.alpha, self.sparsity, self.signal_var)


def _check_tied(value, name):
    if value not in (None, True, False):
        raise TypeError(f"{name} must be None or a bool, got {value!r}")
    return value


@document_parameters(lr="""
        Learning rate; ``None`` picks the paradigm's default (1e-2 for the
        shrinkage parameters of ``"hyperparameters"``, mostly learned through
        their logarithm; 1e-3 otherwise, the paper's rate).""")
class UnfoldedAMP(SafeguardMixin, _AMPMixin, SparseCoderMixin, UnfoldedEstimator):
    """AMP unfolded into ``n_layers`` trainable layers: learned AMP (LAMP).

    Each layer is one iteration of :class:`AMP` (the Onsager term, the
    per-sample noise estimate ``sigma_t^2 = ||v_t||^2 / m``),
    ``s_{t+1} = eta_t(s_t + B_t v_t; sigma_t)``, whose parts become trainable
    according to ``paradigm``:

    =============== ============================================= ==============
    paradigm        layer t learns                                literature
    =============== ============================================= ==============
    classical       nothing: AMP (``shrinkage="bg"``: BG-MMSE     AMP
                    AMP; ``"pwlin"``: soft-threshold AMP)
    hyperparameters the shrinkage's parameters (``"soft"``: the   LAMP with
                    threshold scale ``alpha_t`` and gain          ``B = A^T``
                    ``beta_t``); ``B = A^T`` fixed, shared
    objective       ``B_t`` per layer (``tied=True``: one ``B``   LAMP-l1
                    for all) and ``alpha_t, beta_t``;
                    soft shrinkage only
    dnn             a learned shrinkage family (``shrinkage``     LAMP-bg,
                    ``"bg"`` or ``"pwlin"``) and ``B_t``          LAMP-pwlin
    =============== ============================================= ==============

    The Onsager gain ``b_{t+1} = (1/m) sum_j eta_t'(r_j)`` uses the derivative
    of the layer's (learned) shrinkage, in closed form. Learned shrinkage
    parameters start at their classical values, and learned matrices at
    ``A^T`` (``matrix_init="transpose"``), so an untrained model computes AMP
    layer by layer; ``matrix_init="scaled"`` starts them at
    ``A^T / (1.01 ||A||_2^2)``, the initialisation of the authors' code.
    The ``"correction"`` paradigm is not offered.

    Parameters
    ----------
    dictionary : array-like of shape (n_components, n_features), default=None
        ``A^T`` in scikit-learn's row convention (see :class:`AMP`); ``None``:
        estimated from ``(X, y)`` by least squares.
    n_layers : int, default=15
        Depth ``K``.
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
        Prior ``p`` of ``bg`` (its initial log-odds is ``log p/(1-p)``).
    signal_var : float, default=1.0
        Prior variance of ``bg``'s non-zero entries (initial value).
    matrix_init : {"transpose", "scaled"}, default="transpose"
        Initial learned matrices: ``A^T`` (AMP) or ``A^T / (1.01 ||A||^2)``.
    tied : bool or None, default=None
        ``"objective"`` and ``"dnn"``: share one learned ``B`` by every layer
        (the shrinkage parameters stay per layer). ``"hyperparameters"``:
        one set of shrinkage parameters for every layer (the network then
        runs at any depth). ``None``: untied.
    %(training_parameters)s
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

    paradigms = ("classical", "hyperparameters", "objective", "dnn")
    parameter_constraints = {"shrinkage": options(*SHRINKAGES),  # noqa: RUF012
                             "matrix_init": options("transpose", "scaled"),
                             "tied": _check_tied}
    default_lr = {"hyperparameters": 1e-2, None: 1e-3}  # noqa: RUF012

    def __init__(self, dictionary=None, *, n_layers=15, paradigm="objective", shrinkage="soft",
                 alpha=1.1402, sparsity=0.1, signal_var=1.0, matrix_init="transpose", tied=None,
                 loss_schedule="end_to_end", max_epochs=50, lr=None, lr_schedule="constant",
                 max_grad_norm=None, batch_size=64, optimizer="adam", unsupervised_weight=1.0,
                 early_stopping=False, validation_fraction=0.1, n_iter_no_change=10,
                 safeguard=False, safeguard_delta=0.05, safeguard_rule="ema", safeguard_theta=0.5,
                 safeguard_residual="fixed_point", adversarial_radius=0.0, adversarial_steps=3,
                 device="auto", n_threads=None, warm_start=False, random_state=None, verbose=0):
        set_init_parameters(self, locals())

    def _make_problem(self, D):
        if self.paradigm == "dnn" and self.shrinkage == "soft":
            raise ValueError("paradigm='dnn' learns a shrinkage family: pass shrinkage='bg' or "
                             "'pwlin' (LAMP with soft thresholding is paradigm='objective')")
        if self.paradigm == "objective" and self.shrinkage != "soft":
            raise ValueError(f"shrinkage={self.shrinkage!r} with learned matrices is "
                             "paradigm='dnn' (paradigm='objective' is LAMP with soft "
                             "thresholding)")
        check_bool(self.tied if self.tied is not None else False, "tied")
        scale = 1.0
        if self.matrix_init == "scaled":
            scale = 1.0 / (1.01 * float(np.linalg.norm(D, ord=2)) ** 2)
        shrinkage = "soft" if self.paradigm == "classical" and self.shrinkage == "pwlin" \
            else self.shrinkage
        return AMPProblem(D, shrinkage, self.alpha, self.sparsity, self.signal_var, scale)
