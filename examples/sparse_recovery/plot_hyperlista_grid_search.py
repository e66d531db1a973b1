"""
=======================================================
HyperLISTA: three hyperparameters tuned by GridSearchCV
=======================================================

:class:`~skunfold.sparse.HyperLISTA` is ALISTA (analytic weights, support
selection) with momentum and thresholds that adapt to each instance. All that
is left to choose are three constants,

* ``c_threshold``: the threshold is ``c_threshold ||H^+ (H s - x)||_1``,
* ``c_momentum``: the momentum is ``c_momentum ||s||_0``,
* ``c_support``: the fraction of entries that bypass the shrinkage grows with
  ``c_support log(||H^+ x||_1 / ||H^+ (H s - x)||_1)``,

so no back-propagation is needed: ``fit`` only prepares ``W`` and ``H^+``, and
the constants are tuned by an ordinary
:class:`~sklearn.model_selection.GridSearchCV` with
:data:`skunfold.metrics.nmse_scorer`. We compare the tuned model with ALISTA,
whose ``2K`` step sizes and thresholds are trained by back-propagation, and
with the classical ISTA and FISTA at the same depth.
"""

# %%
import os
import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import GridSearchCV

from skunfold.datasets import make_sparse_recovery
from skunfold.metrics import nmse_db, nmse_scorer
from skunfold.sparse import FISTA, ISTA, HyperLISTA, UnfoldedISTA

if os.environ.get("SKUNFOLD_PAPER_SIZE") == "1":
    m, n, K, n_train, max_epochs = 250, 500, 16, 10000, 100
else:
    m, n, K, n_train, max_epochs = 40, 80, 8, 1500, 15

X, S, D = make_sparse_recovery(n_samples=n_train, n_measurements=m, n_components=n,
                               sparsity=0.1, random_state=0)
X_test, S_test, _ = make_sparse_recovery(n_samples=1000, n_measurements=m, n_components=n,
                                         sparsity=0.1, dictionary=D, random_state=1)

# %%
# Grid search over the three constants
# ------------------------------------
param_grid = {
    "c_threshold": [0.03, 0.05, 0.07, 0.1],
    "c_momentum": [0.0, 0.015, 0.03, 0.045],
    "c_support": [0.0, 0.5, 2.0],
}
t0 = time.perf_counter()
search = GridSearchCV(HyperLISTA(dictionary=D, n_layers=K), param_grid,
                      scoring=nmse_scorer, cv=3)
search.fit(X, S)
t_search = time.perf_counter() - t0
print(f"{len(search.cv_results_['params'])} candidates x 3 folds in {t_search:.1f} s")
print("best:", search.best_params_, f"cross-validated NMSE {-search.best_score_:.1f} dB")

# %%
# ALISTA trained by back-propagation, and the classical solvers
# -------------------------------------------------------------
t0 = time.perf_counter()
alista = UnfoldedISTA(dictionary=D, n_layers=K, paradigm="hyperparameters",
                      weights="analytic", support_selection=True, batch_size=128,
                      loss_schedule="multi_iteration", max_epochs=max_epochs,
                      random_state=0).fit(X, S)
print(f"ALISTA trained in {time.perf_counter() - t0:.1f} s")

models = {
    "ISTA (alpha=0.2)": ISTA(dictionary=D, n_layers=K, alpha=0.2).fit(X),
    "FISTA (alpha=0.2)": FISTA(dictionary=D, n_layers=K, alpha=0.2).fit(X),
    "ALISTA (trained)": alista,
    "HyperLISTA (grid search)": search.best_estimator_,
}
curves = {name: [nmse_db(S_test, s) for s in est.staged_predict(X_test)]
          for name, est in models.items()}

# %%
# Held-out NMSE after each layer, and the landscape of the search
# ----------------------------------------------------------------
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
for name, curve in curves.items():
    ax1.plot(range(1, K + 1), curve, "--" if "ISTA (" in name else "-", marker="o", label=name)
    print(f"{name:<26} NMSE after {K} layers: {curve[-1]:6.1f} dB")
ax1.set_xlabel("layer k")
ax1.set_ylabel("held-out NMSE (dB)")
ax1.set_title(f"m={m}, n={n}, p=0.1, noiseless")
ax1.grid(True, alpha=0.3)
ax1.legend()

# best cross-validated NMSE over c_support for each (c_threshold, c_momentum)
res = search.cv_results_
grid = np.full((len(param_grid["c_momentum"]), len(param_grid["c_threshold"])), np.inf)
for params, score in zip(res["params"], res["mean_test_score"]):
    i = param_grid["c_momentum"].index(params["c_momentum"])
    j = param_grid["c_threshold"].index(params["c_threshold"])
    grid[i, j] = min(grid[i, j], -score)
im = ax2.imshow(grid, origin="lower", cmap="viridis_r", aspect="auto")
ax2.set_xticks(range(len(param_grid["c_threshold"])), param_grid["c_threshold"])
ax2.set_yticks(range(len(param_grid["c_momentum"])), param_grid["c_momentum"])
ax2.set_xlabel("c_threshold")
ax2.set_ylabel("c_momentum")
ax2.set_title("cross-validated NMSE (dB), best c_support")
fig.colorbar(im, ax=ax2)
fig.tight_layout()
