"""
========================================================
Choosing the depth and the loss schedule by GridSearchCV
========================================================

Unfolded estimators are ordinary scikit-learn estimators, so their depth
``n_layers`` and their training recipe ``loss_schedule`` are hyperparameters
like any other. Here :class:`~sklearn.model_selection.GridSearchCV` compares

* ``"end_to_end"`` (L1): only the last layer's error is trained on,
* ``"multi_iteration"`` (L2): the errors of all layers, weighted by ``log(1+k)``,
* ``"sequential"`` (L3): layer ``k`` is trained with layers ``1..k-1`` frozen,

at depths 2, 4 and 8, scoring by NMSE with :data:`skunfold.metrics.nmse_scorer`
(minus the NMSE in dB, so that greater is better as scikit-learn expects). The
classical ISTA goes through the same search over ``n_layers`` as a baseline.
"""

# %%
import os

import matplotlib.pyplot as plt
from sklearn.model_selection import GridSearchCV

from skunfold.datasets import make_sparse_recovery
from skunfold.metrics import nmse_scorer
from skunfold.sparse import ISTA, UnfoldedISTA

if os.environ.get("SKUNFOLD_PAPER_SIZE") == "1":
    m, n, n_samples, max_epochs = 250, 500, 10000, 50
else:
    m, n, n_samples, max_epochs = 30, 60, 750, 8

X, S, D = make_sparse_recovery(n_samples=n_samples, n_measurements=m, n_components=n,
                               sparsity=0.1, random_state=0)

# %%
# The search
# ----------
# ALISTA (learned step sizes and thresholds, analytic weights, support
# selection) trains fast, which keeps this search short.
alista = UnfoldedISTA(dictionary=D, paradigm="hyperparameters", weights="analytic",
                      support_selection=True, batch_size=128,
                      max_epochs=max_epochs, random_state=0)
param_grid = {"n_layers": [2, 4, 8],
              "loss_schedule": ["end_to_end", "multi_iteration", "sequential"]}
search = GridSearchCV(alista, param_grid, scoring=nmse_scorer, cv=3)
search.fit(X, S)
print("best:", search.best_params_, f"NMSE {-search.best_score_:.1f} dB")

baseline = GridSearchCV(ISTA(dictionary=D, alpha=0.2), {"n_layers": [2, 4, 8]},
                        scoring=nmse_scorer, cv=3).fit(X, S)

# %%
# Cross-validated NMSE against depth
# ----------------------------------
# ``cv_results_`` holds the mean and spread of the score of every candidate;
# the score is minus the NMSE in dB.
res = search.cv_results_
depths = param_grid["n_layers"]
fig, ax = plt.subplots(figsize=(6, 4))
for schedule in param_grid["loss_schedule"]:
    idx = [next(i for i, p in enumerate(res["params"])
                if p["n_layers"] == d and p["loss_schedule"] == schedule) for d in depths]
    ax.errorbar(depths, -res["mean_test_score"][idx], yerr=res["std_test_score"][idx],
                marker="o", capsize=3, label=f"ALISTA, {schedule}")
    print(f"{schedule:<16}", " ".join(f"{-res['mean_test_score'][i]:6.1f}" for i in idx))
ista = -baseline.cv_results_["mean_test_score"]
ax.plot(depths, ista, "k--", marker="s", label="ISTA (classical)")
print(f"{'ISTA':<16}", " ".join(f"{v:6.1f}" for v in ista))
ax.set_xticks(depths)
ax.set_xlabel("n_layers")
ax.set_ylabel("cross-validated NMSE (dB)")
ax.set_title("GridSearchCV over depth and loss schedule")
ax.grid(True, alpha=0.3)
ax.legend()
fig.tight_layout()
