"""
=================================================
Classical ISTA/FISTA vs unfolded LISTA and ALISTA
=================================================

Sparse recovery ``x = H s``: the classical solvers ISTA and FISTA need many
iterations, while the same iterations *unfolded* into trainable layers reach a
far lower error in a handful of layers. We plot the held-out NMSE (dB) after
each layer ``k`` for

* ISTA and FISTA (``paradigm="classical"``, nothing learned; their l1 weight
  ``alpha`` picked on the training set),
* LISTA (``paradigm="objective"``: the matrices and thresholds of every layer
  are learned),
* ALISTA (``paradigm="hyperparameters"`` with analytic weights and support
  selection: only a step size and a threshold per layer are learned).

``staged_predict`` yields the estimate after every layer from one forward pass.

By default the problem is small (seconds on one core). With the environment
variable ``SKUNFOLD_PAPER_SIZE=1`` it is the standard benchmark of the LISTA
papers: ``m=250`` measurements, ``n=500`` components, ``K=16`` layers (a long
run on a CPU).
"""

# %%
# Data: a shared dictionary, training and held-out sets
# ------------------------------------------------------
import os
import time

import matplotlib.pyplot as plt

from skunfold.datasets import make_sparse_recovery
from skunfold.metrics import nmse_db
from skunfold.sparse import FISTA, ISTA, UnfoldedISTA

if os.environ.get("SKUNFOLD_PAPER_SIZE") == "1":
    m, n, K, n_train, max_epochs = 250, 500, 16, 20000, 100
else:
    m, n, K, n_train, max_epochs = 40, 80, 8, 2000, 15

X, S, D = make_sparse_recovery(n_samples=n_train, n_measurements=m, n_components=n,
                               sparsity=0.1, random_state=0)
X_test, S_test, _ = make_sparse_recovery(n_samples=1000, n_measurements=m, n_components=n,
                                         sparsity=0.1, dictionary=D, random_state=1)
print(f"H is {m} x {n}; dictionary (row convention, H transposed): {D.shape}")

# %%
# Classical solvers
# -----------------
# Nothing is learned, but the l1 weight ``alpha`` matters for a fixed number of
# iterations: we keep the one with the lowest training NMSE after ``K``
# iterations.
curves = {}
for name, cls in (("ISTA", ISTA), ("FISTA", FISTA)):
    fits = [cls(dictionary=D, n_layers=K, alpha=a).fit(X) for a in (0.02, 0.05, 0.1, 0.2, 0.5)]
    est = min(fits, key=lambda e: nmse_db(S, e.predict(X)))
    curves[f"{name} (alpha={est.alpha})"] = [nmse_db(S_test, s)
                                            for s in est.staged_predict(X_test)]

# %%
# Unfolded networks
# -----------------
# Both start from ISTA (an untrained network *is* ISTA) and are trained with
# the multi-iteration loss (L2), which weighs the error of every layer.
unfolded = {
    "LISTA": UnfoldedISTA(dictionary=D, n_layers=K, paradigm="objective", lr=1e-3),
    "ALISTA": UnfoldedISTA(dictionary=D, n_layers=K, paradigm="hyperparameters",
                           weights="analytic", support_selection=True),
}
for name, est in unfolded.items():
    est.set_params(loss_schedule="multi_iteration", max_epochs=max_epochs, batch_size=128,
                   random_state=0)
    t0 = time.perf_counter()
    est.fit(X, S)
    print(f"{name}: trained in {time.perf_counter() - t0:.1f} s")
    curves[name] = [nmse_db(S_test, s) for s in est.staged_predict(X_test)]

# %%
# NMSE after each layer
# ---------------------
fig, ax = plt.subplots(figsize=(6, 4))
layers = range(1, K + 1)
for name, curve in curves.items():
    style = "--" if "ISTA (" in name or name.startswith("FISTA") else "-"
    ax.plot(layers, curve, style, marker="o", label=name)
ax.set_xlabel("layer / iteration k")
ax.set_ylabel("held-out NMSE (dB)")
ax.set_title(f"Sparse recovery, m={m}, n={n}, p=0.1, noiseless")
ax.grid(True, alpha=0.3)
ax.legend()
fig.tight_layout()

for name, curve in curves.items():
    print(f"{name:<22} NMSE after {K} layers: {curve[-1]:6.1f} dB")
