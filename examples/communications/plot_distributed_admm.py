"""
=================================================================
Distributed LASSO over a network: deep unfolded D-ADMM
=================================================================

Agents on a communication graph each hold a few rows of one sparse-recovery
problem ``x = H s + e`` and must agree on ``s`` by exchanging their
estimates with their neighbours only. Every iteration of distributed ADMM
(D-ADMM) is one communication round, so an iteration saved is a round of
messages saved (Noah & Shlezinger, IEEE TMC 2025).

* :class:`~skunfold.distributed.DistributedADMM` is the classical solver
  (Gauss–Seidel over a colouring of the graph): it needs hundreds of rounds;
* :class:`~skunfold.distributed.UnfoldedDADMM` fixes the number of rounds
  and learns, per round and per agent, the ADMM penalty, the primal and
  dual steps and the l1 weight.

By default the example is small (12 agents, a few seconds of training on
one core); set ``SKUNFOLD_PAPER_SIZE=1`` for the benchmark's size (50 agents,
edge probability 0.12, m = 250, n = 500, K = 25).
"""

import os
import time

import matplotlib.pyplot as plt
import networkx as nx
import numpy as np

from skunfold.datasets import make_distributed_lasso
from skunfold.distributed import DistributedADMM, UnfoldedDADMM, rounds_to_target

PAPER = os.environ.get("SKUNFOLD_PAPER_SIZE", "0") == "1"
if PAPER:
    P, p_edge, m, n, K, n_train, epochs, rounds = 50, 0.12, 250, 500, 25, 500, 5, 1000
else:
    P, p_edge, m, n, K, n_train, epochs, rounds = 12, 0.3, 48, 80, 10, 300, 10, 200

# %%
# The network and the data
# ------------------------
# ``make_distributed_lasso`` draws a connected Erdős–Rényi graph and the
# standard sparse-recovery data; agent ``p`` holds the ``p``-th block of the
# ``m`` measurements. ``G`` is the adjacency matrix.

X, S, D, G = make_distributed_lasso(n_train + 100, n_agents=P, n_measurements=m,
                                    n_components=n, edge_probability=p_edge, snr_db=30,
                                    random_state=0)
X = X.astype(np.float32)
X_train, S_train, X_test, S_test = X[:n_train], S[:n_train], X[n_train:], S[n_train:]
alpha, rho = 0.01, 0.03

classical = DistributedADMM(G, D, n_layers=rounds, alpha=alpha, rho=rho).fit(X_train[:1])
print(f"{P} agents, {classical.messages_per_round_} messages per round, "
      f"{len(classical.colours_)} colours")

graph = nx.from_numpy_array(G)
colour = np.zeros(P)
for c, members in enumerate(classical.colours_):
    colour[members] = c
fig, ax = plt.subplots(figsize=(5, 5))
nx.draw_networkx(graph, pos=nx.spring_layout(graph, seed=0), node_color=colour,
                 cmap="Set2", ax=ax, font_size=8)
ax.set_title("Agents, coloured by update group (Gauss–Seidel)")
ax.set_axis_off()

# %%
# Training the unfolded D-ADMM
# ----------------------------
# ``K`` rounds with learned hyperparameters per agent, trained on the mean
# squared error of every agent's estimate; untrained, it *is* ``K`` rounds
# of the classical solver with the same hyperparameters.

start = time.process_time()
step = 2 * classical.problem_.hyperparameters["step"]
classical = DistributedADMM(G, D, n_layers=rounds, alpha=alpha, rho=rho, step=step).fit(X_train)
unfolded = UnfoldedDADMM(G, D, n_layers=K, alpha=alpha, rho=rho, step=step, max_epochs=epochs,
                         lr=0.03, batch_size=50, random_state=0).fit(X_train, S_train)
print(f"trained in {time.process_time() - start:.1f} s of CPU")

# %%
# Error against communication rounds
# ----------------------------------
# ``rounds_to_target`` gives the error after every round and the rounds (and
# messages) needed to reach an error.

c = rounds_to_target(classical, X_test, S_test, -np.inf)["nmse_db"]
u = rounds_to_target(unfolded, X_test, S_test, -np.inf)["nmse_db"]
need = rounds_to_target(classical, X_test, S_test, u[-1])["rounds"]
print(f"unfolded, {K} rounds: {u[-1]:.2f} dB; classical needs "
      f"{need if need else f'more than {rounds}'} rounds for it")

fig, ax = plt.subplots(figsize=(6, 4))
ax.semilogx(np.arange(1, rounds + 1), c, label="D-ADMM (classical)")
ax.semilogx(np.arange(1, K + 1), u, "o-", ms=3, label=f"unfolded D-ADMM, K={K}")
ax.set_xlabel("communication rounds")
ax.set_ylabel("NMSE (dB)")
ax.set_title(f"Held-out data, {P} agents")
ax.legend()
fig.tight_layout()
plt.show()
