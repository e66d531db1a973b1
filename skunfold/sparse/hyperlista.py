"""HyperLISTA: ALISTA with momentum and instance-adaptive thresholds, three constants.

A preset of the sparse coders' base on :class:`~skunfold.sparse.HyperLISTAProblem`;
nothing is learned by back-propagation (the constants are tuned by a grid
search), and ``fit`` compares the model with ISTA at the same depth.
"""

import warnings

from ..core import Param, WorseThanClassicalWarning, constraints, set_init_parameters
from .analytic import check_coherence
from .coding import SparseCoderMixin, compare_with_solver
from .estimators import shown
from .problem import HyperLISTAProblem

__all__ = ["HyperLISTA"]


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

    Parameters
    ----------
    %(parameters)s

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
    parameter_table = {
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
        problem = HyperLISTAProblem(D, self.c_threshold, self.c_momentum, self.c_support,
                                    self.alpha)
        check_coherence(D, "HyperLISTA")
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
