"""The distributed estimators' data handling, parameters and inference (shared by both).

:class:`DistributedMixin` is the base of
:class:`~skunfold.distributed.DistributedADMM` and
:class:`~skunfold.distributed.UnfoldedDADMM`: the rows of their common
parameters (the graph, the dictionary, the row split and the D-ADMM
options), the hooks of :class:`~skunfold.core.UnfoldedEstimator`
(validation, :meth:`build_problem`) and the public inference API
(consensus ``predict``, ``staged_predict``, ``score``, ``objective``, runs on
another graph, the per-agent hyperparameters of every round).

A sample of ``X`` is one instance of the measurement model, all ``m``
measurements stacked in row order (``X = S @ dictionary + E``, as in
:mod:`skunfold.sparse`); the graph and ``agents`` (which agent holds which
measurement) say how the rows are split among the agents, so ``X`` needs no
special layout.
"""


import numpy as np
from sklearn.base import RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils.validation import check_array, check_is_fitted

from ..core import Param, constraints
from .graph import check_agents, check_graph
from .problem import HYPERPARAMETERS, DistributedLasso

__all__ = ["DistributedMixin"]


def _as_given(value, name):
    """No check here: the graph, dictionary and row split are validated by ``fit``."""
    return value


#: The rows of the parameters both distributed estimators take (in their signature order).
_SHARED_ROWS = {
    "graph": Param(_as_given, "array-like, scipy sparse matrix or networkx.Graph", """
        The agents' communication graph, ``(n_agents, n_agents)`` adjacency
        (required): connected, undirected, no self-loops
        (:func:`~skunfold.distributed.check_graph`)."""),
    "dictionary": Param(_as_given, "array-like of shape (n_components, n_features)", """
        ``H`` transposed (``X = S @ dictionary``), as in
        :mod:`skunfold.sparse`. ``None``: estimated from ``(X, y)`` by least
        squares (a :class:`~skunfold.sparse.DictionaryEstimatedWarning` says so)."""),
    "agents": Param(_as_given, "array-like of int of shape (n_features,)", """
        The agent holding each measurement; ``None``: contiguous blocks of
        almost equal size (:func:`~skunfold.distributed.agent_rows`)."""),
    "alpha": Param(constraints.real(0), "float", """
        Weight of the regulariser of the global objective."""),
    "penalty": Param(constraints.options("l1", "l2"), '{"l1", "l2"}', r"""
        ``"l1"``: the LASSO; ``"l2"``: ridge regression
        :math:`\tfrac{\alpha}{2} \|s\|^2` (least squares with ``alpha=0``)."""),
    "schedule": Param(constraints.options("gauss_seidel", "jacobi"),
                      '{"gauss_seidel", "jacobi"}', """
        ``"gauss_seidel"``: the colours of a greedy colouring (networkx)
        update in turn, using their neighbours' newest estimates (the
        authors' D-ADMM); ``"jacobi"``: every agent updates at once from the
        previous round. One round costs ``messages_per_round_`` messages
        either way."""),
    "shrinkage": Param(constraints.options("soft_threshold", "subgradient"),
                       '{"soft_threshold", "subgradient"}', """
        The l1 term: a proximal step, or the authors' subgradient."""),
    "rho": Param(constraints.real(0, strict_min=True), "float", """
        The ADMM penalty."""),
    "step": Param(constraints.real(0, strict_min=True, allow_none=True), "float or None", r"""
        Primal step; ``None``: :math:`1 / \max_p(\|H_p\|^2 + 2 \rho d_p)`."""),
    "eta": Param(constraints.real(0, strict_min=True, allow_none=True), "float or None", """
        Dual step; ``None``: ``rho``."""),
}


class DistributedMixin(RegressorMixin):
    """Data handling, parameters and inference shared by the distributed estimators.

    ``X`` holds the measurements ``(n_samples, n_features)``: each row is
    one instance :math:`x = H s + e` with all :math:`m =` ``n_features`` measurements
    stacked; agent ``p`` holds the measurements ``agents == p`` and the
    matching rows of ``H`` (``dictionary[:, agents == p]``), and sees nothing
    else. ``y`` holds the unknowns ``s`` ``(n_samples, n_components)``.
    """

    parameter_table = _SHARED_ROWS
    #: How the fitted problem holds its hyperparameters (``"agent"``: one value per agent).
    _sharing = "shared"

    # -- hooks of the core --------------------------------------------------------------
    def validate_input(self, X, *, reset):
        return super().validate_input(constraints.check_input_ndim(X, self, max_ndim=2),
                                      reset=reset)

    def validate_target(self, y, X):
        ndim = constraints.array_ndim(y)
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
        # imported on use: skunfold.datasets imports this package, which needs no other family
        from ..sparse.coding import estimate_dictionary

        return estimate_dictionary(X, y, type(self).__name__)

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
        return self.format_estimate(S_agents.mean(axis=1))

    def _export_outputs(self, S_agents, x):
        """skunfold.export's outputs: ``predict`` (the consensus) and the agents' estimates."""
        S = S_agents.mean(dim=1)
        if self.__dict__.get("target_ndim_") == 1 and S.shape[1] == 1:
            S = S[:, 0]
        return {"predict": S, "agents": S_agents}

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
        r"""The global objective, :math:`\tfrac12 \|x - H s\|^2 + \alpha\, r(s)`, at ``S``.

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

    def score(self, X, y=None, sample_weight=None):
        """R² of the consensus estimate against ``y``; without ``y``, minus the mean objective.

        With targets, scikit-learn's regressor score of :meth:`predict`.
        Without (``y=None``, as in a grid search of unsupervised fits), the
        problem's objective (the mean over the agents of the global objective
        at each agent's estimate) averaged over the samples and negated:
        higher is better either way.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples, n_components) or (n_samples,), default=None
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float
        """
        if y is None:
            values = self.objective_values(X, self.iterate(X))
            return -float(np.average(values, weights=sample_weight))
        return float(r2_score(y, self.predict(X), sample_weight=sample_weight))

    @property
    def layer_hyperparameters_(self):
        """The ``rho, step, tau, eta`` of every round, per agent.

        ``layer_parameters_`` with every hyperparameter broadcast to the
        agents.

        Returns
        -------
        values : dict of str to ndarray of shape (n_layers, n_agents)
            Learned values (``paradigm="hyperparameters"``), else the
            classical ones; a shared value is repeated for every agent.
        """
        table = self.layer_parameters_
        shape = (len(table["layer"]), self.n_agents_)
        return {name: np.broadcast_to(
            np.asarray(table[name], dtype=np.float64).reshape(shape[0], -1), shape).copy()
            for name in HYPERPARAMETERS}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.required = self.dictionary is None
        return tags


