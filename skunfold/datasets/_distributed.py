"""Distributed regression problems: rows of one measurement model split across agents on a graph."""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state

from ..distributed.graph import check_graph, random_graph
from ._sparse import make_sparse_recovery

__all__ = ["make_distributed_lasso", "make_distributed_regression"]


def _graph(graph, n_agents, edge_probability, rng):
    if isinstance(graph, str):
        if graph != "erdos_renyi":
            raise ValueError(f"graph must be 'erdos_renyi' or an adjacency matrix, got {graph!r}")
        if not isinstance(n_agents, Integral) or isinstance(n_agents, bool) or n_agents < 1:
            raise ValueError(f"n_agents must be a positive integer, got {n_agents!r}")
        return random_graph(int(n_agents), edge_probability, random_state=rng)
    adjacency = check_graph(graph)
    if n_agents is not None and n_agents != len(adjacency):
        raise ValueError(f"n_agents={n_agents} but the graph has {len(adjacency)} agents")
    return adjacency


def make_distributed_lasso(n_samples=1000, n_agents=50, n_measurements=250, n_components=500,
                           graph="erdos_renyi", edge_probability=0.12, sparsity=0.1,
                           snr_db=None, dictionary=None, random_state=None):
    """The sparse-recovery benchmark :math:`x = H s + e`, its rows split across agents on a graph.

    The measurements are those of
    :func:`~skunfold.datasets.make_sparse_recovery` (``H`` with i.i.d.
    N(0, 1/m) entries and unit-norm columns, Bernoulli-Gaussian ``s``); agent
    ``p`` holds the contiguous block ``p`` of ``numpy.array_split`` of the
    ``m`` rows (:func:`~skunfold.distributed.agent_rows`), the default split
    of the distributed estimators. The agents communicate over a connected
    Erdős–Rényi graph (networkx; re-drawn until connected, at most 100
    times, else a ``ValueError``) or over a given graph.

    Parameters
    ----------
    n_samples : int, default=1000
    n_agents : int, default=50
        ``P``; with a given ``graph`` it may be ``None`` (read from the graph).
    n_measurements : int, default=250
        Rows ``m`` of ``H`` (features of ``X``), shared among the agents.
    n_components : int, default=500
    graph : "erdos_renyi", array-like, scipy sparse matrix or networkx.Graph, default="erdos_renyi"
        A random graph, or the agents' own adjacency matrix (connected,
        symmetric, no self-loops).
    edge_probability : float, default=0.12
        Of the random graph.
    sparsity : float, default=0.1
    snr_db : float or None, default=None
    dictionary : array-like of shape (n_components, n_measurements), default=None
        Reuse a dictionary (training and test sets of one network).
    random_state : int, RandomState instance or None, default=None
        Seed of the graph and the data (the graph is drawn first: the same
        seed gives the same graph whatever ``n_samples``).

    Returns
    -------
    X : ndarray of shape (n_samples, n_measurements)
    S : ndarray of shape (n_samples, n_components)
    dictionary : ndarray of shape (n_components, n_measurements)
        ``H`` transposed (row convention, ``X = S @ dictionary + E``).
    adjacency : ndarray of shape (n_agents, n_agents)
        0/1, symmetric, zero diagonal.

    Examples
    --------
    >>> from skunfold.datasets import make_distributed_lasso
    >>> X, S, D, G = make_distributed_lasso(n_samples=10, n_agents=5, n_measurements=20,
    ...                                     n_components=40, edge_probability=0.5,
    ...                                     random_state=0)
    >>> X.shape, S.shape, D.shape, G.shape
    ((10, 20), (10, 40), (40, 20), (5, 5))
    """
    rng = check_random_state(random_state)
    adjacency = _graph(graph, n_agents, edge_probability, rng)
    if isinstance(n_measurements, Integral) and n_measurements < len(adjacency):
        raise ValueError(f"n_measurements={n_measurements} leaves some of the {len(adjacency)} "
                         "agents without measurements; use at least one row per agent")
    X, S, D = make_sparse_recovery(n_samples, n_measurements, n_components, sparsity, snr_db,
                                   dictionary=dictionary, random_state=rng)
    return X, S, D, adjacency


def make_distributed_regression(n_samples=1000, n_agents=50, n_measurements=250,
                                n_components=100, graph="erdos_renyi", edge_probability=0.12,
                                snr_db=20.0, dictionary=None, random_state=None):
    r"""Distributed least squares / ridge: dense Gaussian ``s``, rows split across agents.

    As :func:`make_distributed_lasso`, with :math:`s \sim \mathcal{N}(0, I)` (no sparsity): the
    data of ``DistributedADMM(penalty="l2")`` (ridge; least squares with
    ``alpha=0``). With ``n_measurements >= n_components`` the problem is
    well posed without a regulariser.

    Returns
    -------
    X, S, dictionary, adjacency
        As :func:`make_distributed_lasso`.

    Examples
    --------
    >>> from skunfold.datasets import make_distributed_regression
    >>> X, S, D, G = make_distributed_regression(n_samples=10, n_agents=4, n_measurements=40,
    ...                                          n_components=8, edge_probability=0.6,
    ...                                          random_state=0)
    >>> X.shape, S.shape
    ((10, 40), (10, 8))
    """
    if snr_db is not None and (not isinstance(snr_db, Real) or not np.isfinite(snr_db)):
        raise ValueError(f"snr_db must be a finite number or None, got {snr_db!r}")
    return make_distributed_lasso(n_samples, n_agents, n_measurements, n_components, graph,
                                  edge_probability, 1.0, snr_db, dictionary, random_state)

