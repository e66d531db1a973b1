r"""Distributed LASSO / ridge regression over a graph as a :class:`~skunfold.core.Problem`: D-ADMM.

``P`` agents on a connected undirected graph each hold a block of rows of
the measurement model :math:`x = H s + e` of one shared unknown ``s``: agent
``p`` holds :math:`b_p` = ``x[rows_p]`` and :math:`H_p` = ``H[rows_p]``. Together they solve

.. math::

    \min_s \sum_p \tfrac12 \|b_p - H_p s\|^2 + \alpha \|s\|_1
    \quad \text{or} \quad
    \min_s \sum_p \tfrac12 \|b_p - H_p s\|^2 + \tfrac{\alpha}{2} \|s\|^2

(``penalty="l1"``, the LASSO, or ``penalty="l2"``, ridge regression; least
squares with ``alpha=0``), with a copy :math:`s_p` per agent and the consensus constraints
:math:`s_p = s_j` on every edge: each agent carries :math:`1/P` of the regulariser (its weight
:math:`\tau / P`, classically :math:`\tau = \alpha`, so that a learned ``tau`` keeps its
meaning on a network of another size). Row convention as
in :mod:`skunfold.sparse`: the dictionary :math:`D = H^\top` has shape
``(n_components, n_features)``, :math:`x \approx s D`.

One round of linearised D-ADMM (Mota et al. 2013; the unfolded form of Noah
& Shlezinger 2025), for agent ``p`` of degree :math:`d_p` with neighbours
:math:`\mathcal{N}(p)`, with the hyperparameters ``rho``, ``step``, ``tau``, ``eta`` as
:math:`\rho_p, \gamma_p, \tau_p, \eta_p`:

.. math::

    g_p &= H_p^\top (H_p s_p - b_p) + u_p
           + \rho_p \bigl(d_p s_p - \textstyle\sum_{j \in \mathcal{N}(p)} s_j\bigr) \\
    s_p &\leftarrow \operatorname{prox}_{\gamma_p (\tau_p / P) r}(s_p - \gamma_p g_p) \\
    u_p &\leftarrow u_p + \eta_p \bigl(d_p s_p - \textstyle\sum_{j \in \mathcal{N}(p)} s_j\bigr)

(the proximal step of :math:`r = \|\cdot\|_1` is soft thresholding).

:math:`u_p` is the sum of the multipliers of agent ``p``'s edges. Gauss–Seidel:
the colours of a proper colouring update one after the other, every agent
using its neighbours' latest estimates; then every agent updates its dual.
Jacobi: every agent updates from the previous round's estimates. Either
way one round costs one message per agent and neighbour (:math:`2 |E|`).
"""

import numpy as np
import torch

from ..core import Problem, soft_threshold
from .graph import check_agents, check_graph, graph_colouring
from .iterations import distributed_layers

__all__ = ["HYPERPARAMETERS", "DistributedLasso", "default_hyperparameters"]

#: The learned hyperparameters of a round: the penalty, primal step, l1 weight and dual step.
HYPERPARAMETERS = ("rho", "step", "tau", "eta")


def default_hyperparameters(blocks, degrees, alpha, rho=1.0, step=None, eta=None):
    r"""Classical values: ``step`` :math:`= 1 / \max_p(\|H_p\|^2 + 2 \rho d_p)`,
    ``tau`` :math:`= \alpha`, ``eta`` :math:`= \rho`.

    Parameters
    ----------
    blocks : ndarray of shape (n_agents, n_rows, n_components)
        The agents' rows of ``H`` (zero rows pad the smaller blocks).
    degrees : ndarray of shape (n_agents,)
    alpha : float
    rho, step, eta : float or None
        Given values are kept; ``None``: the classical choice above.
    """
    rho = float(rho)
    if step is None:
        local = max(float(np.linalg.norm(b, ord=2)) ** 2 if b.size else 0.0 for b in blocks)
        step = 1.0 / (local + 2.0 * rho * float(np.max(degrees)) + 1e-12)
    return {"rho": rho, "step": float(step), "tau": float(alpha),
            "eta": rho if eta is None else float(eta)}


class DistributedLasso(Problem):
    r"""The distributed LASSO (or ridge) solved by D-ADMM, one communication round per layer.

    The state is ``(S, U, B)``: every agent's estimate ``S`` and dual ``U``
    (shape ``(batch, n_agents, n_components)``) and the agents' measurement
    blocks ``B`` (shape ``(batch, n_agents, n_rows)``, zero-padded), cut from
    ``x`` once by :meth:`initial_state`. The readout is every agent's
    estimate ``S``; the loss is the mean squared error of every agent's
    estimate (as the authors train), the objective the mean over the agents
    of the global objective at each agent's estimate.

    Hyperparameters (see the module docstring): ``rho``, ``step``, ``tau``
    and ``eta``, all ``"positive"``; scalars (shared by the agents), or, with
    ``sharing="agent"``, one value per agent (arrays of shape ``(n_agents,)``
    initialised at the shared classical values).

    Parameters
    ----------
    dictionary : ndarray of shape (n_components, n_features)
    adjacency : array-like of shape (n_agents, n_agents)
    agents : array-like of int of shape (n_features,) or None
        The agent of every measurement row (default: contiguous blocks).
    alpha : float, default=0.1
    penalty : {"l1", "l2"}, default="l1"
    schedule : {"gauss_seidel", "jacobi"}, default="gauss_seidel"
    shrinkage : {"soft_threshold", "subgradient"}, default="soft_threshold"
        The l1 term: its proximal step, or the authors' subgradient
        :math:`\tau \operatorname{sign}(s_p)` inside :math:`g_p`.
    rho, step, eta : float or None
        Classical values (see :func:`default_hyperparameters`).
    sharing : {"shared", "agent"}, default="shared"

    Examples
    --------
    >>> import numpy as np, torch
    >>> from skunfold.distributed import DistributedLasso
    >>> rng = np.random.default_rng(0)
    >>> D = rng.normal(size=(6, 8)) / np.sqrt(8)
    >>> problem = DistributedLasso(D, [[0, 1], [1, 0]], alpha=0.01)
    >>> x = torch.as_tensor(rng.normal(size=(3, 8)))
    >>> state = problem.initial_state(x)
    >>> for _ in range(5):
    ...     state = problem.step(state, x, **problem.hyperparameters)
    >>> problem.readout(state).shape
    torch.Size([3, 2, 6])
    """

    def __init__(self, dictionary, adjacency, agents=None, alpha=0.1, penalty="l1",
                 schedule="gauss_seidel", shrinkage="soft_threshold", rho=1.0, step=None,
                 eta=None, sharing="shared"):
        D = np.asarray(dictionary, dtype=np.float64)
        adjacency = check_graph(adjacency)
        self.n_agents = P = len(adjacency)
        self.n_components, self.n_features = D.shape
        self.agents = check_agents(agents, self.n_features, P)
        self.alpha, self.penalty, self.schedule = float(alpha), penalty, schedule
        self.shrinkage, self.sharing = shrinkage, sharing
        rows = [np.flatnonzero(self.agents == p) for p in range(P)]
        self.n_rows = max(1, max(len(r) for r in rows))
        blocks = np.zeros((P, self.n_rows, self.n_components))
        gather = np.full((P, self.n_rows), self.n_features, dtype=np.int64)  # padding: a zero
        for p, r in enumerate(rows):
            blocks[p, :len(r)] = D[:, r].T
            gather[p, :len(r)] = r
        degrees = adjacency.sum(axis=1)
        self.colours = (graph_colouring(adjacency) if schedule == "gauss_seidel"
                        else [np.arange(P, dtype=np.int64)])
        # the state keeps the agents in colour order, so that a colour is a contiguous slice
        order = np.concatenate(self.colours)
        self.bounds = np.cumsum([0] + [len(c) for c in self.colours]).tolist()
        self.order = torch.as_tensor(order)
        self.inverse = torch.as_tensor(np.argsort(order))
        ordered = adjacency[np.ix_(order, order)]
        self.D = torch.tensor(D)
        self.adjacency = torch.as_tensor(adjacency)
        self.degrees = torch.as_tensor(degrees[order, None])
        self.gather = torch.as_tensor(gather[order])
        self.blocks = torch.as_tensor(blocks[order])
        # adjacency of colour c to colour c' (colour order), for the neighbours' sums
        self.colour_adjacency = [torch.as_tensor(ordered[lo:hi, lo2:hi2])
                                 for lo, hi in zip(self.bounds[:-1], self.bounds[1:])
                                 for lo2, hi2 in zip(self.bounds[:-1], self.bounds[1:])]
        self.given = {"rho": rho, "step": step, "eta": eta}
        values = default_hyperparameters(blocks, degrees, alpha, rho, step, eta)
        self.classical_values = dict(values)
        if sharing == "agent":
            values = {k: torch.full((P,), v, dtype=torch.float64) for k, v in values.items()}
        self.hyperparameters = values

    @property
    def messages_per_round(self):
        """Messages (vectors of ``n_components`` numbers) sent in one round: ``2 |E|``."""
        return int(self.adjacency.sum())

    # -- the solver ---------------------------------------------------------------------
    def initial_state(self, x):
        """Zero estimates and duals, and every agent's (zero-padded) measurement block."""
        padded = torch.cat([x, x.new_zeros(x.shape[0], 1)], dim=1)
        B = padded[:, self.gather]
        S = x.new_zeros(x.shape[0], self.n_agents, self.n_components)
        return (S, torch.zeros_like(S), B)

    def local_update(self, s, u, b, neighbour_sum, blocks, degrees, rho, step, tau):
        r"""The primal update of a set of agents from their own data and their neighbours' sum.

        Shapes: ``s, u, neighbour_sum`` ``(batch, agents, n_components)``,
        ``b`` ``(batch, agents, n_rows)``, ``blocks`` ``(agents, n_rows,
        n_components)``, ``degrees`` ``(agents, 1)``; hyperparameters scalars
        or ``(agents, 1)``, ``tau`` the agent's share :math:`\tau / P`. This is all an agent
        computes (see :func:`~skunfold.distributed.export_agents`).
        """
        resid = torch.einsum("bpn,prn->bpr", s, blocks) - b
        g = torch.einsum("bpr,prn->bpn", resid, blocks) + u + rho * (degrees * s - neighbour_sum)
        if self.penalty == "l2":
            return s - step * (g + tau * s)
        if self.shrinkage == "subgradient":
            return s - step * (g + tau * torch.sign(s))
        return soft_threshold(s - step * g, step * tau)

    def _slice(self, value, lo, hi):
        """A hyperparameter for the agents ``lo:hi`` (colour order): a scalar, or a column."""
        if torch.is_tensor(value) and value.ndim > 0 and value.numel() > 1:
            return value[self.order[lo:hi]].unsqueeze(-1)
        return value

    def neighbour_sums(self, pieces, c):
        r"""The sums :math:`\sum_{j \in \mathcal{N}(p)} s_j` of the agents of colour ``c``."""
        n = len(pieces)
        total = None
        for c2, piece in enumerate(pieces):
            term = torch.matmul(self.colour_adjacency[c * n + c2], piece)
            total = term if total is None else total + term
        return total

    def step(self, state, x, rho, step, tau, eta):
        S, U, B = state
        bounds = list(zip(self.bounds[:-1], self.bounds[1:]))
        pieces = [S[:, lo:hi] for lo, hi in bounds]
        for c, (lo, hi) in enumerate(bounds):
            nb = self.neighbour_sums(pieces, c)
            pieces[c] = self.local_update(pieces[c], U[:, lo:hi], B[:, lo:hi], nb,
                                          self.blocks[lo:hi], self.degrees[lo:hi],
                                          self._slice(rho, lo, hi), self._slice(step, lo, hi),
                                          self._slice(tau, lo, hi) / self.n_agents)
        duals = [U[:, lo:hi] + self._slice(eta, lo, hi) * (
            self.degrees[lo:hi] * pieces[c] - self.neighbour_sums(pieces, c))
            for c, (lo, hi) in enumerate(bounds)]
        if len(bounds) == 1:
            return (pieces[0], duals[0], B)
        return (torch.cat(pieces, dim=1), torch.cat(duals, dim=1), B)

    def readout(self, state):
        """Every agent's estimate, shape ``(batch, n_agents, n_components)`` (agent order)."""
        S = state[0]
        return S if len(self.colours) == 1 else S[:, self.inverse]

    def loss(self, estimate, target):
        """Mean squared error of every agent's estimate against the target."""
        diff = estimate - target.unsqueeze(1)
        return (diff * diff).reshape(diff.shape[0], -1).mean(dim=1)

    def objective(self, estimate, x):
        """Mean over the agents of the global objective at each agent's estimate."""
        if estimate.ndim == 2:
            estimate = estimate.unsqueeze(1)
        r = x.unsqueeze(1) - estimate @ self.D
        data = 0.5 * (r * r).sum(-1)
        reg = (self.alpha * estimate.abs().sum(-1) if self.penalty == "l1"
               else 0.5 * self.alpha * (estimate * estimate).sum(-1))
        return (data + reg).mean(dim=1)

    def make_layers(self, paradigm, n_layers, *, tied, hidden_layer_sizes, sample):
        """The layers: a learned :class:`~skunfold.distributed.iterations.DADMMRound` per round.

        The classical round is the core's; the paradigms whose layers the
        agents cannot compute locally are refused.
        """
        return distributed_layers(self, paradigm, n_layers, tied)

    # -- another network ------------------------------------------------------------------
    def on_graph(self, adjacency, agents=None):
        """The same problem (dictionary, options, classical values) on another graph."""
        new = type(self)(self.D.detach().cpu().double().numpy(), adjacency, agents, self.alpha,
                         self.penalty, self.schedule, self.shrinkage, **self.given,
                         sharing=self.sharing)
        return new
