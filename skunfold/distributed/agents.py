"""Agent-local deployment and communication accounting of the distributed estimators.

:func:`export_agents` cuts a fitted model into one small program per agent:
its own rows of ``H``, its degree and its hyperparameters of every round;
it sees nothing but its own measurements and its neighbours' messages.
:func:`run_agents` runs those programs one agent at a time, passing messages
explicitly, as a network would (the test of the batched simulation).
:func:`rounds_to_target` counts the rounds and messages a model needs.
"""

import numpy as np
import torch
from sklearn.utils.validation import check_array, check_is_fitted

from ..core import soft_threshold
from .graph import check_graph

__all__ = ["Agent", "export_agents", "rounds_to_target", "run_agents"]


class Agent:
    """The program of one agent: its data, its neighbours and its per-round hyperparameters.

    Parameters
    ----------
    index : int
    rows : ndarray of int
        The measurements (features of ``X``) this agent holds.
    block : ndarray of shape (n_rows, n_components)
        Its rows of ``H``.
    neighbours : ndarray of int
    colour : int
        Its colour (the step of a round in which it updates).
    hyperparameters : dict of str to ndarray of shape (n_layers,)
        ``rho, step, tau, eta`` of every round; ``tau`` is the global
        regulariser weight, the agent's share is ``tau / n_agents``.
    n_agents : int
    penalty, shrinkage : str
        As in :class:`~skunfold.distributed.DistributedLasso`.

    Examples
    --------
    See :func:`export_agents`.
    """

    def __init__(self, index, rows, block, neighbours, colour, hyperparameters, n_agents,
                 penalty="l1", shrinkage="soft_threshold"):
        self.index, self.rows, self.colour = int(index), np.asarray(rows), int(colour)
        self.block = np.asarray(block, dtype=np.float64)
        self.neighbours = np.asarray(neighbours)
        self.hyperparameters = {k: np.asarray(v, dtype=np.float64)
                                for k, v in hyperparameters.items()}
        self.n_agents, self.penalty, self.shrinkage = int(n_agents), penalty, shrinkage

    @property
    def n_layers(self):
        return len(self.hyperparameters["step"])

    def _h(self, name, k):
        return float(self.hyperparameters[name][k])

    def primal(self, k, s, u, b, neighbour_estimates):
        """Round ``k``'s estimate from its own state and data and the neighbours' messages.

        Parameters
        ----------
        k : int
            The round (0-based).
        s, u : ndarray of shape (batch, n_components)
            Its estimate and dual.
        b : ndarray of shape (batch, n_rows)
            Its measurements.
        neighbour_estimates : sequence of ndarray of shape (batch, n_components)
            The messages of its neighbours.
        """
        rho, step, tau = self._h("rho", k), self._h("step", k), self._h("tau", k) / self.n_agents
        nb = np.sum(neighbour_estimates, axis=0) if len(neighbour_estimates) else 0.0
        g = (s @ self.block.T - b) @ self.block + u + rho * (len(self.neighbours) * s - nb)
        if self.penalty == "l2":
            return s - step * (g + tau * s)
        if self.shrinkage == "subgradient":
            return s - step * (g + tau * np.sign(s))
        z = torch.as_tensor(s - step * g)
        return soft_threshold(z, step * tau).numpy()

    def dual(self, k, s, u, neighbour_estimates):
        """Round ``k``'s dual from its new estimate and its neighbours' new messages."""
        nb = np.sum(neighbour_estimates, axis=0) if len(neighbour_estimates) else 0.0
        return u + self._h("eta", k) * (len(self.neighbours) * s - nb)

    def __repr__(self):
        return (f"Agent({self.index}, {len(self.rows)} rows, {len(self.neighbours)} neighbours, "
                f"colour {self.colour}, {self.n_layers} rounds)")


def export_agents(estimator):
    """One :class:`Agent` per agent of a fitted distributed estimator.

    Parameters
    ----------
    estimator : DistributedADMM or UnfoldedDADMM
        Fitted.

    Returns
    -------
    agents : list of Agent
        Agent ``p`` holds only ``dictionary_[:, agents_ == p]``, its
        neighbours' indices, its colour and its learned (or classical)
        hyperparameters of every round.

    Examples
    --------
    >>> from skunfold.datasets import make_distributed_lasso
    >>> from skunfold.distributed import DistributedADMM, export_agents, run_agents
    >>> X, S, D, G = make_distributed_lasso(n_samples=4, n_agents=4, n_measurements=12,
    ...                                     n_components=10, edge_probability=0.7,
    ...                                     random_state=0)
    >>> admm = DistributedADMM(G, D, n_layers=3).fit(X)
    >>> agents = export_agents(admm)
    >>> import numpy as np
    >>> bool(np.allclose(run_agents(agents, X), admm.predict(X, return_agents=True)))
    True
    """
    check_is_fitted(estimator)
    values = estimator.layer_hyperparameters_
    problem = estimator.problem_
    colour_of = {int(p): c for c, members in enumerate(estimator.colours_) for p in members}
    out = []
    for p in range(estimator.n_agents_):
        rows = np.flatnonzero(estimator.agents_ == p)
        out.append(Agent(p, rows, estimator.dictionary_[:, rows].T,
                         np.flatnonzero(estimator.adjacency_[p]), colour_of[p],
                         {k: v[:, p] for k, v in values.items()}, estimator.n_agents_,
                         problem.penalty, problem.shrinkage))
    return out


def run_agents(agents, X, n_layers=None):
    """Run the agents' programs one agent at a time, exchanging messages explicitly.

    Every round, the colours update in order (a Jacobi model has one
    colour): each agent of the colour reads the latest message of each
    neighbour and its own measurements only; then every agent updates its
    dual from its neighbours' new messages.

    Parameters
    ----------
    agents : list of Agent
        From :func:`export_agents`.
    X : array-like of shape (n_samples, n_features)
    n_layers : int, optional
        Rounds (default: all the agents' rounds).

    Returns
    -------
    S : ndarray of shape (n_samples, n_agents, n_components)
        Every agent's estimate, in float64.
    """
    X = check_array(X, dtype=np.float64)
    n_layers = agents[0].n_layers if n_layers is None else int(n_layers)
    n = agents[0].block.shape[1]
    messages = {a.index: np.zeros((len(X), n)) for a in agents}   # the last estimate sent
    duals = {a.index: np.zeros((len(X), n)) for a in agents}
    data = {a.index: X[:, a.rows] for a in agents}
    colours = sorted({a.colour for a in agents})
    for k in range(n_layers):
        for c in colours:
            updated = {a.index: a.primal(k, messages[a.index], duals[a.index], data[a.index],
                                         [messages[j] for j in a.neighbours])
                       for a in agents if a.colour == c}
            messages.update(updated)                    # sent to the neighbours
        for a in agents:
            duals[a.index] = a.dual(k, messages[a.index], duals[a.index],
                                    [messages[j] for j in a.neighbours])
    return np.stack([messages[a.index] for a in agents], axis=1)


def rounds_to_target(estimator, X, S, target_nmse_db, n_layers=None, **predict_params):
    r"""The first round at which the consensus estimate reaches an NMSE, and its messages.

    Parameters
    ----------
    estimator : DistributedADMM or UnfoldedDADMM
        Fitted.
    X : array-like of shape (n_samples, n_features)
    S : array-like of shape (n_samples, n_components)
        The true unknowns.
    target_nmse_db : float
        Target NMSE :math:`10 \log_{10}(\sum \|\hat s - s\|^2 / \sum \|s\|^2)`, in dB.
    n_layers : int, optional
        Rounds to try (default: the fitted ``n_layers``; a classical solver
        runs any number).
    **predict_params
        ``graph``, ``agents``: see ``predict``.

    Returns
    -------
    result : dict
        ``rounds`` (``None`` when not reached), ``messages`` (``rounds *
        messages_per_round``, or ``None``), ``nmse_db`` (ndarray, every
        round) and ``messages_per_round``.

    Examples
    --------
    >>> from skunfold.datasets import make_distributed_lasso
    >>> from skunfold.distributed import DistributedADMM, rounds_to_target
    >>> X, S, D, G = make_distributed_lasso(n_samples=20, n_agents=5, n_measurements=20,
    ...                                     n_components=30, edge_probability=0.5,
    ...                                     random_state=0)
    >>> admm = DistributedADMM(G, D, n_layers=100, alpha=0.01).fit(X)
    >>> r = rounds_to_target(admm, X, S, target_nmse_db=-3)
    >>> r["messages"] == r["rounds"] * admm.messages_per_round_
    True
    """
    check_is_fitted(estimator)
    S = check_array(S, ensure_2d=False, dtype=np.float64, input_name="S").reshape(len(S), -1)
    energy = float((S ** 2).sum())
    nmse = np.array([10 * np.log10(float(((np.reshape(Sk, S.shape) - S) ** 2).sum()) / energy)
                     for Sk in estimator.staged_predict(X, n_layers, **predict_params)])
    graph = predict_params.get("graph")
    per_round = (estimator.messages_per_round_ if graph is None
                 else int(check_graph(graph).sum()))
    reached = np.flatnonzero(nmse <= target_nmse_db)
    rounds = int(reached[0]) + 1 if len(reached) else None
    return {"rounds": rounds, "messages": None if rounds is None else rounds * per_round,
            "nmse_db": nmse, "messages_per_round": per_round}
