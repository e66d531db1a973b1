"""HyperLISTA: ALISTA with momentum and instance-adaptive thresholds, three constants.

A preset of the sparse coders' base on :class:`~skunfold.sparse.HyperLISTAProblem`
(:class:`OperatorHyperLISTAProblem` where the dictionary may be matrix-free);
nothing is learned by back-propagation (the constants are tuned by a grid
search), and ``fit`` compares the model with ISTA at the same depth.
"""

import math
import warnings

from ..core import Param, WorseThanClassicalWarning, constraints, set_init_parameters
from .amp import mean_atom_energy
from .analytic import HYPERLISTA_STEP_LIMIT, check_coherence
from .coding import OPERATOR_DICTIONARY_ROW, SparseCoderMixin, compare_with_solver
from .estimators import shown
from .problem import AnalyticGuard, HyperLISTAProblem, SparseCoding, is_operator

__all__ = ["HyperLISTA", "OperatorHyperLISTAProblem", "MatrixFreeWeightsWarning"]


class MatrixFreeWeightsWarning(UserWarning):
    """HyperLISTA on a matrix-free dictionary runs without ALISTA's analytic weights.

    The analytic weights solve an optimisation over the dictionary's Gram matrix and
    :math:`H^+` needs its SVD: on a sparse matrix or an operator
    :class:`OperatorHyperLISTAProblem` uses the scaled operator and a scaled adjoint
    instead (no dense copy).
    """


class OperatorHyperLISTAProblem(HyperLISTAProblem):
    r"""HyperLISTA's iteration on a dense or a matrix-free dictionary.

    A dense dictionary gives :class:`~skunfold.sparse.HyperLISTAProblem` itself (ALISTA's
    analytic :math:`W`, :math:`H^+` by SVD). A sparse matrix or an operator (see
    :func:`~skunfold.sparse.is_operator`) runs through its ``forward`` / ``adjoint``,
    never a dense copy, with what needs no matrix:

    * :math:`W = H / c^2`, :math:`c^2 = \|H\|_F^2 / n` the atoms' mean squared norm
      (:func:`~skunfold.sparse.amp.mean_atom_energy`): the dictionary itself, scaled so
      that :math:`w_i^\top h_i = 1` on average, ALISTA's constraint (exact for atoms of
      equal norm, as a convolution's);
    * :math:`H^+ \approx H^\top / \|H\|_2^2`: exact on the top singular directions (and
      for a tight frame, :math:`H H^\top = \|H\|_2^2 I`), a smoothed pseudo-inverse for
      an ill-conditioned operator such as a blur, whose exact :math:`H^+` amplifies the
      noise. It sets the threshold's scale: with the default ``c_threshold=0.01``, 16
      layers code 16 x 16 spike images blurred (Gaussian, :math:`\sigma = 1`) or
      decimated (x2) as well as the best constant of a grid from 3e-4 to 0.1 (-5.4 and
      -2.3 dB NMSE, against ISTA's -2.1 and -1.8 dB), whereas on a 64 x 128 Gaussian
      dictionary the best is about 0.03 (-13 dB, -8 dB at 0.01; with the analytic
      weights, about 0.02);
    * the step :math:`\min(1, 2.5 / \lambda_{\max}(W^\top H))` as on a dense dictionary,
      :math:`\lambda_{\max}(W^\top H) = \|H\|_2^2 / c^2` from a power iteration.

    Parameters
    ----------
    dictionary : ndarray or sparse matrix of shape (n_components, n_features), or operator
    c_threshold, c_momentum, c_support, alpha : float
        As for :class:`~skunfold.sparse.HyperLISTAProblem`.
    """

    def __init__(self, dictionary, c_threshold=0.01, c_momentum=0.005, c_support=0.05,
                 alpha=0.1):
        if not is_operator(dictionary):
            super().__init__(dictionary, c_threshold, c_momentum, c_support, alpha)
            return
        SparseCoding.__init__(self, dictionary, alpha)  # matrix-free: W = H, L by power iter.
        energy = mean_atom_energy(dictionary)
        if not (energy > 0 and math.isfinite(energy)):
            raise ValueError(f"the dictionary's atoms have mean squared norm {energy!r}: "
                             "HyperLISTA needs a non-zero dictionary")
        self.weights_kind = "scaled dictionary"
        self.weight_scale = 1.0 / energy                    # W = H / c^2
        self.pinv_scale = 1.001 / self.lipschitz            # H^+ ~ H^T / ||H||^2
        top = self.lipschitz / 1.001 / energy               # lambda_max(W^T H)
        self.base_step = min(self.base_step, 1.0 / top)     # the guard's classical step
        self.step_size = min(1.0, HYPERLISTA_STEP_LIMIT / top)
        self.Hpinv = self.HpinvW = None
        self.hyperparameters = {"c_threshold": float(c_threshold),
                                "c_momentum": float(c_momentum),
                                "c_support": float(c_support)}

    def synthesis(self, s):
        return super().synthesis(s) if self.operator is None else self.operator.forward(s)

    def pseudo_inverse(self, r):
        if self.operator is None:
            return super().pseudo_inverse(r)
        return self.pinv_scale * self.operator.adjoint(r)

    def residual_products(self, r):
        if self.operator is None:
            return super().residual_products(r)
        g = self.operator.adjoint(r)
        return self.pinv_scale * g, self.weight_scale * g

    def safeguard_problem(self):
        """:class:`~skunfold.sparse.AnalyticGuard`, through the operator when matrix-free."""
        return AnalyticGuard(self) if self.operator is None else _OperatorGuard(self)


class _OperatorGuard(AnalyticGuard):
    r""":class:`~skunfold.sparse.AnalyticGuard` with :math:`W^\top r` matrix-free."""

    def step(self, state, x, step, threshold, support):
        p = self.guarded
        s, _, *rest = state
        z = s + step * p.residual_products(x - p.synthesis(s))[1]
        return (p.shrink(z, threshold, support), s, *rest)


class HyperLISTA(SparseCoderMixin):
    r"""HyperLISTA: ALISTA with momentum and instance-adaptive thresholds, 3 hyperparameters.

    Each layer computes :math:`z = s + W^\top (x - H s) + \beta (s - s_{\text{prev}})` with
    ALISTA's analytic :math:`W`, then shrinks :math:`z` with support selection, where

    .. math::

        \theta &= c_1 \|H^+ (H s - x)\|_1, \qquad \beta = c_2 \|s\|_0, \\
        p &= \operatorname{clip}(c_3 \log(\|H^+ x\|_1 / \|H^+ (H s - x)\|_1), 0, 1),

    :math:`\theta` the threshold, :math:`p` the bypassed fraction and :math:`c_1, c_2, c_3`
    the parameters ``c_threshold``, ``c_momentum``, ``c_support``.
    Nothing is learned by back-propagation: tune the three constants with
    :class:`~sklearn.model_selection.GridSearchCV` (``fit`` only prepares :math:`W`
    and :math:`H^+`), e.g. with ``scoring=skunfold.metrics.nmse_scorer``.

    With ``safeguard=True`` a layer's update is kept only where it lowers the
    fixed-point residual of ALISTA's classical analytic iteration (threshold
    :math:`\alpha / L`, support selection; see
    :class:`~skunfold.sparse.AnalyticGuard`), which is used instead elsewhere.

    ``dictionary`` may be matrix-free (a SciPy sparse matrix, or a linear operator playing
    :math:`H`: a :mod:`skunfold.imaging` operator, a SciPy ``LinearOperator``, a PyLops
    operator). The analytic :math:`W` and :math:`H^+` need the matrix (an optimisation
    over its Gram matrix, an SVD), so there :math:`W` is the operator scaled by its atoms'
    mean squared norm and :math:`H^+` its scaled adjoint
    (:class:`~skunfold.sparse.hyperlista.OperatorHyperLISTAProblem`), never a dense copy;
    a :class:`~skunfold.sparse.hyperlista.MatrixFreeWeightsWarning` says so.

    Parameters
    ----------
    %(parameters)s

    Attributes
    ----------
    module_ : UnfoldedModule
        The solver as a torch module.
    problem_ : SparseCoding
        The fitted problem.
    dictionary_ : ndarray of shape (n_components, n_features), sparse matrix or operator
        The dictionary used (a sparse matrix or an operator as given).
    dictionary_estimated_ : bool
    n_components_ : int
    lipschitz_ : float
    comparison_ : dict
        The check of ``fit`` against :class:`ISTA` at the same depth:
        ``"trained"`` (HyperLISTA's figure), ``"classical"`` (ISTA's) and
        ``"on"`` (the reconstruction error against ``y @ dictionary``, or the
        LASSO objective).
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
    >>> X, S, D = make_sparse_recovery(n_samples=100, n_measurements=64, n_components=128,
    ...                                random_state=0)
    >>> search = GridSearchCV(HyperLISTA(dictionary=D, n_layers=8),
    ...                       {"c_threshold": [0.005, 0.01]}, scoring=nmse_scorer, cv=2)
    >>> search.fit(X, S).best_params_["c_threshold"] in (0.005, 0.01)
    True
    """

    supports = ("safeguard",)
    core_defaults = {"paradigm": "hyperparameters"}
    accepts_operators = True
    parameter_table = {
        "dictionary": Param(None, OPERATOR_DICTIONARY_ROW.type, """
        Row convention, ``X = S @ dictionary`` (see :class:`UnfoldedISTA`), for a dense
        array or a SciPy sparse matrix; a linear operator maps codes to observations, it
        plays :math:`H` = ``dictionary.T``. Matrix-free dictionaries run without ALISTA's
        analytic weights (see above). ``None``: estimated from ``(X, y)`` by least
        squares."""),
        "n_layers": Param(constraints.integer(1), "int", """
        Depth :math:`K`."""),
        "c_threshold": Param(constraints.real(0), "float", """
        Threshold constant; on the standard problem (:math:`m = 250`, :math:`n = 500`,
        :math:`p = 0.1`) good values lie in [0.004, 0.02]."""),
        "c_momentum": Param(constraints.real(0), "float", """
        Momentum constant (multiplies the number of non-zeros, ~50 there)."""),
        "c_support": Param(constraints.real(0), "float", """
        Support-selection constant."""),
        "alpha": Param(constraints.real(0), "float", r"""
        :math:`\ell_1` weight of the objective reported by :meth:`objective` (and of the
        classical iteration of the safeguard)."""),
    }

    def __init__(self, dictionary=None, *, n_layers=16, c_threshold=0.01, c_momentum=0.005,
                 c_support=0.05, alpha=0.1, safeguard=False, device="auto", n_threads=None,
                 verbose=0):
        set_init_parameters(self, locals())

    def _make_problem(self, D):
        problem = OperatorHyperLISTAProblem(D, self.c_threshold, self.c_momentum,
                                            self.c_support, self.alpha)
        if problem.operator is None:
            check_coherence(D, "HyperLISTA")
        else:
            warnings.warn(
                f"HyperLISTA: the dictionary is matrix-free ({type(D).__name__}): ALISTA's "
                "analytic weights (an optimisation over the Gram matrix) and the "
                "pseudo-inverse (an SVD) need the dense matrix, so W is the operator scaled "
                "by its atoms' mean squared norm and H^+ its scaled adjoint (no dense copy). "
                "Tune c_threshold for it (GridSearchCV), or use UnfoldedISTA / FISTA, which "
                "need no analytic weights", MatrixFreeWeightsWarning,
                stacklevel=constraints.caller_stacklevel())
        return problem

    def fit(self, X, y=None):
        """Prepare the analytic matrix and the pseudo-inverse, then compare with ISTA.

        Nothing is learned. On (at most 2048 of) the training samples the
        codes are compared with those of :class:`ISTA` at the same depth and
        ``alpha``: by the squared error of their reconstructions against those
        of ``y`` when it is given (unlabeled rows left out), else by the LASSO
        objective. If
        HyperLISTA's constants do worse, a
        :class:`~skunfold.core.WorseThanClassicalWarning` gives both figures
        (they are in ``comparison_``); codes that diverge are reported the
        same way, and ``predict`` raises
        :class:`~skunfold.core.DivergedOutputError` on them.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples, n_components), default=None
            Codes (needed with ``dictionary=None``).

        Returns
        -------
        self : object
            The fitted estimator.
        """
        super().fit(X, y)
        self.comparison_ = self._compare_with_ista(X, y)
        return self

    def _compare_with_ista(self, X, y):
        from .classical import ISTA

        comparison = compare_with_solver(self, ISTA, X, y)
        if comparison["kept"] != "trained":
            comparison["kept"] = "trained"  # nothing else to keep: HyperLISTA learns nothing
            warnings.warn(
                f"HyperLISTA (c_threshold={self.c_threshold:g}, c_momentum={self.c_momentum:g}, "
                f"c_support={self.c_support:g}) does worse than ISTA at the same depth "
                f"({self.n_layers} layers, alpha={self.alpha:g}) on the training data: "
                f"{comparison['on']} {shown(comparison['trained'])} against ISTA's "
                f"{comparison['classical']:.4g}. Tune the constants (GridSearchCV) or use FISTA "
                "or UnfoldedISTA on this dictionary", WorseThanClassicalWarning,
                stacklevel=constraints.caller_stacklevel())
        return comparison
