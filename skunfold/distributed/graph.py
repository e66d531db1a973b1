"""Communication graphs of the agents: validation, random graphs, colourings, row splits.

The graph work (random graphs, connectivity, greedy colouring) is done by
`networkx <https://networkx.org>`_; this module turns what a user passes
(a dense or scipy sparse adjacency matrix, or a :class:`networkx.Graph`)
into the dense 0/1 adjacency matrix the solvers use, with clear errors for
graphs they cannot run on.
"""

from numbers import Integral, Real

import networkx as nx
import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_random_state

__all__ = ["agent_rows", "check_agents", "check_graph", "graph_colouring", "random_graph"]


def check_graph(graph, name="graph"):
    """The dense adjacency matrix of a connected, undirected graph without self-loops.

    Parameters
    ----------
    graph : array-like or scipy sparse matrix of shape (n_agents, n_agents), or networkx.Graph
        Any non-zero entry ``(p, j)`` is an edge between agents ``p`` and
        ``j`` (weights are not used: every edge carries one message per
        round each way). A :class:`networkx.Graph` uses its node order.
    name : str, default="graph"
        The name used in error messages.

    Returns
    -------
    adjacency : ndarray of shape (n_agents, n_agents)
        Symmetric, 0/1 float64, zero diagonal.

    Raises
    ------
    ValueError
        If the matrix is not square, not symmetric, has self-loops, has
        non-finite entries, or the graph is not connected.

    Examples
    --------
    >>> from skunfold.distributed import check_graph
    >>> check_graph([[0, 1, 0], [1, 0, 1], [0, 1, 0]])
    array([[0., 1., 0.],
           [1., 0., 1.],
           [0., 1., 0.]])
    """
    if graph is None:
        raise ValueError(f"{name} is required: pass the adjacency matrix of the agents' "
                         "communication graph (dense, scipy sparse or a networkx.Graph)")
    if isinstance(graph, nx.Graph):
        if graph.is_directed():
            raise ValueError(f"{name} must be an undirected graph, got a directed networkx graph")
        graph = nx.to_numpy_array(graph, weight=None)
    if sp.issparse(graph):
        graph = graph.toarray()
    try:
        adjacency = np.asarray(graph, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an adjacency matrix (numbers), got "
                         f"{type(graph).__name__}") from None
    if adjacency.ndim != 2 or adjacency.shape[0] != adjacency.shape[1] or adjacency.size == 0:
        raise ValueError(f"{name} must be a square adjacency matrix (n_agents, n_agents), got "
                         f"shape {adjacency.shape}")
    if not np.all(np.isfinite(adjacency)):
        raise ValueError(f"{name} has non-finite entries")
    if np.any(np.diag(adjacency) != 0):
        loops = np.flatnonzero(np.diag(adjacency) != 0)
        raise ValueError(f"{name} has self-loops (non-zero diagonal at agents {loops[:5].tolist()})"
                         "; an agent does not message itself: set the diagonal to zero")
    edges = (adjacency != 0).astype(np.float64)
    if not np.array_equal(edges, edges.T):
        p, j = np.argwhere(edges != edges.T)[0]
        raise ValueError(f"{name} is not symmetric (entry ({p}, {j}) is an edge but ({j}, {p}) "
                         "is not): communication links are undirected")
    if len(edges) > 1 and not nx.is_connected(nx.from_numpy_array(edges)):
        n_parts = nx.number_connected_components(nx.from_numpy_array(edges))
        raise ValueError(f"{name} is not connected ({n_parts} components): the agents of "
                         "different components can never agree on one estimate")
    return edges


def random_graph(n_agents, edge_probability, *, random_state=None, max_tries=100):
    """A connected Erdős–Rényi graph: drawn again until connected, at most ``max_tries`` times.

    Parameters
    ----------
    n_agents : int
    edge_probability : float
        Probability of every edge, in ``(0, 1]``.
    random_state : int, RandomState instance or None, default=None
    max_tries : int, default=100

    Returns
    -------
    adjacency : ndarray of shape (n_agents, n_agents)
        0/1 float64.

    Raises
    ------
    ValueError
        When no connected graph was drawn in ``max_tries`` draws (the edge
        probability is too small for the number of agents).

    Examples
    --------
    >>> from skunfold.distributed import random_graph
    >>> A = random_graph(10, 0.4, random_state=0)
    >>> A.shape, bool((A == A.T).all())
    ((10, 10), True)
    """
    if not isinstance(n_agents, Integral) or isinstance(n_agents, bool) or n_agents < 1:
        raise ValueError(f"n_agents must be a positive integer, got {n_agents!r}")
    if not isinstance(edge_probability, Real) or not 0 < edge_probability <= 1:
        raise ValueError(f"edge_probability must be in (0, 1], got {edge_probability!r}")
    rng = check_random_state(random_state)
    for _ in range(int(max_tries)):
        g = nx.erdos_renyi_graph(int(n_agents), float(edge_probability),
                                 seed=int(rng.randint(0, 2**31 - 1)))
        if nx.is_connected(g):
            return nx.to_numpy_array(g, weight=None)
    raise ValueError(f"no connected Erdős–Rényi graph of {n_agents} agents with edge probability "
                     f"{edge_probability} in {max_tries} draws; raise edge_probability (about "
                     f"log(n)/n = {np.log(max(n_agents, 2)) / n_agents:.3g} or more is needed)")


def graph_colouring(adjacency, strategy="largest_first"):
    """A proper colouring of the graph by networkx's greedy colouring.

    Agents of one colour share no edge, so they update in parallel; the
    colours update one after the other (the Gauss–Seidel order of D-ADMM).

    Parameters
    ----------
    adjacency : array-like of shape (n_agents, n_agents)
    strategy : str, default="largest_first"
        A strategy of :func:`networkx.greedy_color`.

    Returns
    -------
    colours : list of ndarray of int
        The agents of every colour, in the order the colours update.

    Examples
    --------
    >>> from skunfold.distributed import graph_colouring
    >>> [c.tolist() for c in graph_colouring([[0, 1, 0], [1, 0, 1], [0, 1, 0]])]
    [[1], [0, 2]]
    """
    g = nx.from_numpy_array(np.asarray(adjacency) != 0)
    colour = nx.greedy_color(g, strategy=strategy)
    n_colours = max(colour.values()) + 1 if colour else 0
    return [np.array(sorted(p for p, c in colour.items() if c == k), dtype=np.int64)
            for k in range(n_colours)]


def agent_rows(n_rows, n_agents):
    """The default row split: contiguous blocks of (almost) equal size, agent 0 first.

    Agent ``p`` holds the rows of block ``p`` of ``numpy.array_split(range(n_rows),
    n_agents)``.

    Returns
    -------
    agents : ndarray of shape (n_rows,)
        The agent of every row.

    Examples
    --------
    >>> from skunfold.distributed import agent_rows
    >>> agent_rows(5, 2)
    array([0, 0, 0, 1, 1])
    """
    return np.concatenate([np.full(len(b), p, dtype=np.int64)
                           for p, b in enumerate(np.array_split(np.arange(n_rows), n_agents))])


def check_agents(agents, n_rows, n_agents, name="agents"):
    """The agent of every measurement row: ``agents`` validated, or the default split.

    Parameters
    ----------
    agents : array-like of int of shape (n_rows,) or None
        ``agents[i]`` is the agent that holds row ``i``; ``None``: contiguous
        blocks (:func:`agent_rows`).
    n_rows : int
        Rows of the measurement model (``n_features`` of ``X``).
    n_agents : int
        Agents of the graph.

    Returns
    -------
    agents : ndarray of int64 of shape (n_rows,)
    """
    if agents is None:
        return agent_rows(n_rows, n_agents)
    arr = np.asarray(agents)
    if arr.ndim != 1 or arr.dtype.kind not in "iu" and not (
            arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr))):
        raise ValueError(f"{name} must be a 1-D array of agent indices, one per row of the "
                         f"measurement model, got {arr.dtype} array of shape {arr.shape}")
    arr = arr.astype(np.int64)
    if len(arr) != n_rows:
        raise ValueError(f"{name} gives the agent of {len(arr)} rows, but the measurement model "
                         f"has {n_rows} rows (features of X): the row split does not match")
    if len(arr) and (arr.min() < 0 or arr.max() >= n_agents):
        raise ValueError(f"{name} holds agent indices in [{arr.min()}, {arr.max()}], but the "
                         f"graph has {n_agents} agents (indices 0 to {n_agents - 1}): the row "
                         "split does not match the graph")
    return arr
