"""The distributed estimators: classical D-ADMM and D-ADMM unfolded (learned per-agent scalars).

Each is a preset of :class:`~skunfold.core.UnfoldedEstimator` on the
:class:`~skunfold.distributed.DistributedLasso` problem. A sample of ``X`` is
one instance of the measurement model, all ``m`` measurements stacked in
row order (``X = S @ dictionary + E``, as in :mod:`skunfold.sparse`); the
graph and ``agents`` (which agent holds which measurement) say how the
rows are split among the agents, so ``X`` needs no special layout.
"""

import warnings

import numpy as np
import torch
from sklearn.base import RegressorMixin
from sklearn.utils.validation import check_array, check_is_fitted

from ..core import (
    HyperparameterIteration,
    UnfoldedEstimator,
    document_parameters,
    set_init_parameters,
)
from ..core.constraints import array_ndim, check_input_ndim, options, real
from ..sparse import DictionaryEstimatedWarning
from .graph import check_agents, check_graph
from .problem import HYPERPARAMETERS, DistributedLasso

__all__ = ["DistributedADMM", "DistributedMixin", "UnfoldedDADMM"]


def _positive_or_none(value, name):
    return real(0, strict_min=True, allow_none=True)(value, name)


class DistributedMixin(RegressorMixin):
    """Data handling and inference shared by the distributed estimators."""

    parameter_constraints = {  # noqa: RUF012
        "alpha": real(0), "penalty": options("l1", "l2"),
        "schedule": options("gauss_seidel", "jacobi"),
        "shrinkage": options("soft_threshold", "subgradient"),
        "rho": real(0, strict_min=True), "step": _positive_or_none, "eta": _positive_or_none,
    }
    _sharing = "shared"

    # -- hooks of the core --------------------------------------------------------------
    def validate_input(self, X, *, reset):
        return super().validate_input(check_input_ndim(X, self, max_ndim=2), reset=reset)

    def validate_target(self, y, X):
        ndim = array_ndim(y)
        if ndim not in (1, 2, None):
            raise ValueError(f"y must be 1-D or 2-D (n_samples, n_components), got an array "
                             f"with dim {ndim}")
        return super().validate_target(y, X)

    def build_problem(self, X, y):
        adjacency = check_graph(self.graph)
        D = self._dictionary(X, y)
        agents = check_agents(self.agents, X.shape[1], len(adjacency))
        problem = DistributedLasso(D, adjacency, agents, self.alpha, self.penalty, self.schedule,
                                   self.shrinkage, self.rho, self.step, self.eta,
                                   sharing=self._sharing)
        self.dictionary_, self.n_components_ = D, D.shape[0]
        self.adjacency_, self.agents_, self.n_agents_ = adjacency, agents, len(adjacency)
        self.colours_ = problem.colours
        self.messages_per_round_ = problem.messages_per_round
        return problem

    def _dictionary(self, X, y):
        if self.dictionary is not None:
            D = check_array(self.dictionary, dtype=np.float64, input_name="dictionary")
            if D.shape[1] != X.shape[1]:
                raise ValueError(f"dictionary has shape {D.shape}, expected (n_components, "
                                 f"n_features) with n_features={X.shape[1]} as in X "
                                 "(row convention: X = S @ dictionary)")
            if y is not None and y.shape[1] != D.shape[0]:
                raise ValueError(f"y has {y.shape[1]} columns but the dictionary has "
                                 f"{D.shape[0]} atoms (n_components)")
            return D
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y "
                             "is None: with dictionary=None the dictionary is estimated from "
                             "(X, y); pass `dictionary` to fit without targets (unsupervised)")
        lab = ~np.isnan(y).all(axis=1)
        D = np.linalg.lstsq(y[lab].astype(np.float64), X[lab].astype(np.float64), rcond=None)[0]
        warnings.warn(f"dictionary=None: {type(self).__name__} estimated the dictionary "
                      f"({D.shape[0]} atoms x {D.shape[1]} features) from (X, y) by least "
                      "squares; it is stored in `dictionary_`", DictionaryEstimatedWarning,
                      stacklevel=6)
        if not np.all(np.isfinite(D)):
            raise ValueError("could not estimate a usable dictionary from (X, y)")
        return D

    # -- another graph ------------------------------------------------------------------------
    def _problem_for(self, graph, agents):
        check_is_fitted(self)
        if graph is None and agents is None:
            return None
        adjacency = self.adjacency_ if graph is None else check_graph(graph)
        if self.problem_.sharing == "agent" and len(adjacency) != self.n_agents_:
            raise ValueError(f"this model learned hyperparameters per agent for a graph of "
                             f"{self.n_agents_} agents and cannot run on a graph of "
                             f"{len(adjacency)} agents; fit it with "
                             "hyperparameter_sharing='shared' to transfer it to other graphs")
        agents = check_agents(agents, self.n_features_in_, len(adjacency))
        return self.problem_.on_graph(adjacency, agents)

    def _consensus(self, S_agents, return_agents):
        if return_agents:
            return S_agents
        S = S_agents.mean(axis=1)
        return S[:, 0] if getattr(self, "_target_1d", False) else S

    # -- public inference API -----------------------------------------------------------------
    def predict(self, X, graph=None, agents=None, return_agents=False):
        """The consensus estimate (the mean of the agents' estimates) after the last round.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Measurements, all agents' rows stacked (see the class docstring).
        graph : array-like, scipy sparse matrix or networkx.Graph, optional
            Run on another communication graph (classical solvers and models
            with ``hyperparameter_sharing="shared"``: any size; per-agent
            models: the same number of agents only).
        agents : array-like of int of shape (n_features,), optional
            The row split on that graph (default: contiguous blocks).
        return_agents : bool, default=False
            Return every agent's estimate instead of their mean.

        Returns
        -------
        S : ndarray of shape (n_samples, n_components), or (n_samples, n_agents, n_components)
            In the dtype of ``X`` (1-D when fitted on a 1-D ``y``).
        """
        check_is_fitted(self)
        return self._consensus(self.iterate(X, problem=self._problem_for(graph, agents)),
                               return_agents)

    def staged_predict(self, X, n_layers=None, graph=None, agents=None, return_agents=False):
        """Yield the estimate after each communication round ``k = 1, ..., n_layers``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        n_layers : int, optional
            Rounds to run (a classical solver runs any number; an unfolded
            model at most its ``n_layers``).
        graph, agents, return_agents
            See :meth:`predict`.

        Yields
        ------
        S_k : ndarray of shape (n_samples, n_components)
        """
        check_is_fitted(self)
        problem = self._problem_for(graph, agents)
        for S in self.staged_iterate(X, n_layers, problem=problem):
            yield self._consensus(S, return_agents)

    def objective(self, X, S):
        """The global objective ``1/2 ||x - H s||^2 + alpha r(s)`` of each sample at ``S``.

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
        S = S.reshape(len(X), -1)
        if S.shape[1] != self.n_components_:
            raise ValueError(f"S has {S.shape[1]} components, expected {self.n_components_}")
        return self.objective_values(X, S)

    @property
    def layer_hyperparameters_(self):
        """The ``rho, step, tau, eta`` of every round, per agent.

        Returns
        -------
        values : dict of str to ndarray of shape (n_layers, n_agents)
            Learned values (``paradigm="hyperparameters"``), else the
            classical ones; a shared value is repeated for every agent.
        """
        check_is_fitted(self)
        module, P = self.module_, self.n_agents_
        out = {name: [] for name in HYPERPARAMETERS}
        with torch.no_grad():
            for k in range(module.n_layers):
                layer = module.iteration(k)
                values = (layer.hyperparameters(module.problem, k)
                          if isinstance(layer, HyperparameterIteration)
                          else module.problem.layer_hyperparameters(k))
                for name in HYPERPARAMETERS:
                    v = torch.as_tensor(values[name], dtype=torch.float64).cpu().numpy()
                    out[name].append(np.broadcast_to(v, (P,)).copy())
        return {name: np.asarray(v) for name, v in out.items()}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.required = self.dictionary is None
        return tags


_DATA_DOC = """
    ``X`` holds the measurements ``(n_samples, n_features)``: each row is
    one instance ``x = H s + e`` with all ``m = n_features`` measurements
    stacked; agent ``p`` holds the measurements ``agents == p`` and the
    matching rows of ``H`` (``dictionary[:, agents == p]``), and sees nothing
    else. ``y`` holds the unknowns ``s`` ``(n_samples, n_components)``.
    ``predict`` returns the consensus estimate (the mean of the agents'
    estimates, which agree at convergence), or every agent's estimate with
    ``return_agents=True``; ``score`` is the R² of the consensus estimate.
"""

_PROBLEM_DOC = """
    graph : array-like, scipy sparse matrix or networkx.Graph, default=None
        The agents' communication graph, ``(n_agents, n_agents)`` adjacency
        (required): connected, undirected, no self-loops
        (:func:`~skunfold.distributed.check_graph`).
    dictionary : array-like of shape (n_components, n_features), default=None
        ``H`` transposed (``X = S @ dictionary``), as in
        :mod:`skunfold.sparse`. ``None``: estimated from ``(X, y)`` by least
        squares (a :class:`~skunfold.sparse.DictionaryEstimatedWarning` says so).
    agents : array-like of int of shape (n_features,), default=None
        The agent holding each measurement; ``None``: contiguous blocks of
        almost equal size (:func:`~skunfold.distributed.agent_rows`).
    alpha : float, default=0.1
        Weight of the regulariser of the global objective.
    penalty : {"l1", "l2"}, default="l1"
        ``"l1"``: the LASSO; ``"l2"``: ridge regression
        ``alpha/2 ||s||^2`` (least squares with ``alpha=0``).
    schedule : {"gauss_seidel", "jacobi"}, default="gauss_seidel"
        ``"gauss_seidel"``: the colours of a greedy colouring (networkx)
        update in turn, using their neighbours' newest estimates (the
        authors' D-ADMM); ``"jacobi"``: every agent updates at once from the
        previous round. One round costs ``messages_per_round_`` messages
        either way.
    shrinkage : {"soft_threshold", "subgradient"}, default="soft_threshold"
        The l1 term: a proximal step, or the authors' subgradient.
    rho : float, default=1.0
        The ADMM penalty.
    step : float or None, default=None
        Primal step; ``None``: ``1 / max_p(||H_p||^2 + 2 rho d_p)``.
    eta : float or None, default=None
        Dual step; ``None``: ``rho``.
"""

_FITTED_DOC = """
    dictionary_ : ndarray of shape (n_components, n_features)
    n_components_ : int
    adjacency_ : ndarray of shape (n_agents, n_agents)
    agents_ : ndarray of shape (n_features,)
        The agent of every measurement.
    n_agents_ : int
    colours_ : list of ndarray
        The agents of each colour, in update order (one colour for Jacobi).
    messages_per_round_ : int
        Messages sent in one round, ``2 |E|``: every agent sends its
        estimate to every neighbour.
    n_features_in_ : int
"""


@document_parameters
class DistributedADMM(DistributedMixin, UnfoldedEstimator):
    __doc__ = """Classical distributed ADMM (D-ADMM): one communication round per iteration.

    Agents on a connected graph each hold some rows of ``x = H s + e`` and
    solve the global LASSO (or ridge) problem together, exchanging only
    their estimates with their neighbours, once per round. Each round an
    agent takes one proximal-gradient step on its augmented Lagrangian and
    updates its dual (linearised D-ADMM; see
    :class:`~skunfold.distributed.DistributedLasso` for the formulas). It
    converges to the centralised solution, slowly: hundreds of rounds.
    Nothing is learned; :class:`UnfoldedDADMM` learns the hyperparameters of
    a few rounds.
""" + _DATA_DOC + """
    Parameters
    ----------""" + _PROBLEM_DOC + """    n_layers : int, default=100
        Communication rounds.
    %(training_parameters)s
    Attributes
    ----------
    module_ : UnfoldedModule
    problem_ : DistributedLasso""" + _FITTED_DOC + """
    See Also
    --------
    UnfoldedDADMM : D-ADMM unfolded, with learned hyperparameters.
    rounds_to_target : Rounds and messages a model needs to reach an error.

    References
    ----------
    .. [1] J. F. C. Mota, J. M. F. Xavier, P. M. Q. Aguiar, M. Püschel, "D-ADMM:
       A communication-efficient distributed algorithm for separable
       optimization", IEEE Trans. Signal Process., 2013.

    Examples
    --------
    >>> from skunfold.datasets import make_distributed_lasso
    >>> from skunfold.distributed import DistributedADMM
    >>> X, S, D, G = make_distributed_lasso(n_samples=20, n_agents=5, n_measurements=20,
    ...                                     n_components=30, edge_probability=0.5,
    ...                                     random_state=0)
    >>> admm = DistributedADMM(G, D, n_layers=50, alpha=0.01).fit(X)
    >>> admm.predict(X).shape, admm.predict(X, return_agents=True).shape
    ((20, 30), (20, 5, 30))
    >>> admm.messages_per_round_ == int(G.sum())
    True
    """

    paradigm = "classical"

    def __init__(self, graph=None, dictionary=None, *, agents=None, n_layers=100, alpha=0.1,
                 penalty="l1", schedule="gauss_seidel", shrinkage="soft_threshold", rho=1.0,
                 step=None, eta=None, device="auto", n_threads=None):
        set_init_parameters(self, locals())


def _check_sharing(value, name):
    return options("agent", "shared")(value, name)


@document_parameters(lr="""
        Learning rate of Adam (``None``: 1e-2; the hyperparameters are
        learned through their logarithms).""")
class UnfoldedDADMM(DistributedMixin, UnfoldedEstimator):
    __doc__ = """D-ADMM unfolded: ``n_layers`` rounds with learned hyperparameters (DUDADMM).

    Each layer is one round of :class:`DistributedADMM` whose penalty
    ``rho``, primal step ``step`` (the paper's alpha), l1 weight ``tau`` and
    dual step ``eta`` are learned, per round and per agent
    (``hyperparameter_sharing="agent"``, the paper's agent-specific model)
    or per round and shared by the agents (``"shared"``: it runs on any
    graph, of any size). With a fixed small number of rounds, every round
    is a communication round saved (Noah & Shlezinger 2025). Trained
    supervised on the mean squared error of every agent's estimate
    (``fit(X, S)``) or unsupervised on the objective (``fit(X)``: the mean
    over the agents of the global objective at their estimates); the
    authors' incremental layer-wise training is
    ``loss_schedule="sequential"``.

    Supported paradigms: ``"hyperparameters"`` and ``"classical"`` (nothing
    learned: :class:`DistributedADMM`). The others would learn networks
    or operators that the agents cannot compute locally; they are refused.
    An untrained model (``max_epochs=0``) is the classical solver.
""" + _DATA_DOC + """
    Parameters
    ----------""" + _PROBLEM_DOC + """    n_layers : int, default=10
        Communication rounds ``K``.
    paradigm : {"hyperparameters", "classical"}, default="hyperparameters"
    hyperparameter_sharing : {"agent", "shared"}, default="agent"
        Learn every hyperparameter per agent (``4 K P`` scalars), or once
        per round for all agents (``4 K``).
    %(training_parameters)s
    Attributes
    ----------
    module_ : UnfoldedModule
    problem_ : DistributedLasso
    net_ : UnfoldingNet or None
    history_ : skorch.History or None""" + _FITTED_DOC + """
    See Also
    --------
    DistributedADMM : The classical solver.
    export_agents : The per-agent programs of a fitted model.

    References
    ----------
    .. [1] Y. Noah, N. Shlezinger, "Distributed learn-to-optimize: limited
       communications optimization over networks via deep unfolded
       distributed ADMM", IEEE Trans. Mobile Comput., 2025.

    Examples
    --------
    >>> from skunfold.datasets import make_distributed_lasso
    >>> from skunfold.distributed import DistributedADMM, UnfoldedDADMM
    >>> X, S, D, G = make_distributed_lasso(n_samples=300, n_agents=5, n_measurements=20,
    ...                                     n_components=30, edge_probability=0.5,
    ...                                     snr_db=30, random_state=0)
    >>> model = UnfoldedDADMM(G, D, n_layers=5, alpha=0.01, max_epochs=10,
    ...                       random_state=0).fit(X[:200], S[:200])
    >>> classical = DistributedADMM(G, D, n_layers=5, alpha=0.01).fit(X[:200])
    >>> bool(model.score(X[200:], S[200:]) > classical.score(X[200:], S[200:]))
    True
    """

    paradigms = ("classical", "hyperparameters")
    parameter_constraints = {"hyperparameter_sharing": _check_sharing}  # noqa: RUF012
    default_lr = {None: 1e-2}  # noqa: RUF012

    def __init__(self, graph=None, dictionary=None, *, agents=None, n_layers=10,
                 paradigm="hyperparameters", hyperparameter_sharing="agent", alpha=0.1,
                 penalty="l1", schedule="gauss_seidel", shrinkage="soft_threshold", rho=1.0,
                 step=None, eta=None, loss_schedule="end_to_end", max_epochs=20, lr=None,
                 lr_schedule="constant", max_grad_norm=None, batch_size=32, optimizer="adam",
                 unsupervised_weight=1.0, early_stopping=False, validation_fraction=0.1,
                 n_iter_no_change=10, device="auto", n_threads=None, warm_start=False,
                 random_state=None, verbose=0):
        set_init_parameters(self, locals())

    @property
    def _sharing(self):
        return "shared" if self.paradigm == "classical" else self.hyperparameter_sharing
