"""Distributed optimisation over a network: D-ADMM and its deep unfolded version.

``P`` agents on a connected undirected graph each hold some rows of the
measurement model :math:`x = H s + e` of one shared unknown ``s`` and solve the
distributed LASSO (or ridge regression) together, exchanging their
estimates with their graph neighbours once per iteration: every iteration is
a communication round, so a fixed small number of unfolded rounds is
directly fewer messages (the survey's Sec. III-B and VI; Noah & Shlezinger,
IEEE TMC 2025).

* :class:`DistributedLasso` -- the problem on the open core: linearised
  D-ADMM, Gauss–Seidel over a graph colouring or Jacobi;
* :class:`DistributedADMM` -- the classical solver, fixed hyperparameters;
* :class:`UnfoldedDADMM` -- ``K`` rounds with learned ``(rho, step, tau,
  eta)`` per round, per agent or shared (the shared model runs on other
  graphs);
* :func:`export_agents`, :func:`run_agents` -- one program per agent, run
  with explicit message passing; :func:`rounds_to_target` -- rounds and
  messages needed to reach an error;
* :func:`check_graph`, :func:`random_graph`, :func:`graph_colouring`,
  :func:`agent_rows` -- the graph utilities (networkx).

Modules: :mod:`~skunfold.distributed.problem` (the problem),
:mod:`~skunfold.distributed.base` (the data handling and inference shared by
the estimators), :mod:`~skunfold.distributed.classical`
(:class:`DistributedADMM`), :mod:`~skunfold.distributed.estimators`
(:class:`UnfoldedDADMM`), :mod:`~skunfold.distributed.iterations` (the
learned round, and the refusal of the layers the agents cannot compute),
:mod:`~skunfold.distributed.agents` and :mod:`~skunfold.distributed.graph`.
"""

from .agents import Agent, export_agents, rounds_to_target, run_agents
from .base import DistributedMixin
from .classical import DistributedADMM
from .estimators import UnfoldedDADMM
from .graph import agent_rows, check_agents, check_graph, graph_colouring, random_graph
from .problem import HYPERPARAMETERS, DistributedLasso, default_hyperparameters

__all__ = [
           "HYPERPARAMETERS",
           "Agent",
           "DistributedADMM",
           "DistributedLasso",
           "DistributedMixin",
           "UnfoldedDADMM",
           "agent_rows",
           "check_agents",
           "check_graph",
           "default_hyperparameters",
           "export_agents",
           "graph_colouring",
           "random_graph",
           "rounds_to_target",
           "run_agents",
]
