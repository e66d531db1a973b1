"""
========================================================
Robust PCA: the four unfolding paradigms side by side
========================================================

The survey's comparative study (Sec. V-B, Fig. 5): robust PCA
``X = L R^T + Psi Y`` solved by alternating a soft-thresholding step on the
sparse part with scaled gradient steps on the rank-``r`` factors. The
classical solver (:class:`~skunfold.rpca.RobustPCA`) uses a hand-set step and
a geometrically decaying threshold; :class:`~skunfold.rpca.LearnedRPCA`
unfolds ``K`` of its iterations and learns, per layer,

* ``"hyperparameters"``: the step sizes and the threshold (LRPCA),
* ``"objective"``: additionally the sparsifying transform ``Psi_k``,
* ``"correction"``: additionally a small CNN correcting the gradient steps,
* ``"dnn"``: ``Psi`` implemented by convolutional networks.

Every model is trained on the same data, sequentially layer by layer and then
end to end, supervised by the low-rank ground truth. We plot the held-out
relative error ``||L R^T - X*||_F / ||X*||_F`` after each layer, (a) when the
solvers know the true ``Psi = I`` and (b) when they are given a noisy
``Psi + sigma G / sqrt(n)``.

By default the matrices are small (40 x 40, rank 2, ``sigma = 0.1``, ``K = 6``),
so the whole study runs in about 20 seconds on one core. With the environment
variable ``SKUNFOLD_PAPER_SIZE=1`` it is the survey's setting, n1 = n2 = 1000,
rank 5, 10% outliers, ``sigma = 0.05``, ``K = 10`` (a GPU run);
``benchmarks/rpca.py`` records the figures at n = 200.
"""

# %%
# Data: LRPCA's generator
# -----------------------
import math
import os
import time

import matplotlib.pyplot as plt
import numpy as np

from skunfold.core import SequentialEndToEnd
from skunfold.datasets import make_rpca, perturb_psi
from skunfold.rpca import LearnedRPCA, RobustPCA

if os.environ.get("SKUNFOLD_PAPER_SIZE") == "1":
    n, rank, n_train, max_epochs, batch_size, sigma, K = 1000, 5, 64, 30, 1, 0.05, 10
else:  # seconds on one core: smaller matrices and six layers
    n, rank, n_train, max_epochs, batch_size, sigma, K = 40, 2, 24, 8, 2, 0.1, 6
# sequential training, ceil(max_epochs / (2 K)) epochs per layer, then max_epochs / 2 end to end
schedule = SequentialEndToEnd(epochs_per_stage=math.ceil(max_epochs / (2 * K)))

X_train, L_train, _ = make_rpca(n_train, (n, n), rank=rank, outlier_fraction=0.1, random_state=0)
X_test, L_test, _ = make_rpca(8, (n, n), rank=rank, outlier_fraction=0.1, random_state=1)


def relative_error(V, L):
    V, L = V.reshape(len(L), -1), L.reshape(len(L), -1)
    return np.mean(np.linalg.norm(V - L, axis=1) / np.linalg.norm(L, axis=1))


def per_layer(est):
    """Held-out error after the initialisation (k = 0) and after each layer."""
    errs = [relative_error(est.decompose(X_test, n_layers=0)[0], L_test)]
    errs += [relative_error(V, L_test) for V in est.staged_predict(X_test, n_layers=K)]
    return errs


# %%
# Train every paradigm, with the true and with a noisy ``Psi``
# -------------------------------------------------------------
# The data follow ``X = L + S`` (true ``Psi = I``); in the mismatched setting
# every solver is given ``I + sigma G / sqrt(n)`` instead.
paradigms = ["hyperparameters", "objective", "correction", "dnn"]
results = {}
for setting, psi in [("matched", None),
                     ("mismatched", perturb_psi(n, sigma, random_state=2))]:
    curves = {"classical": per_layer(RobustPCA(rank=rank, n_layers=K, psi=psi).fit(X_test))}
    for paradigm in paradigms:
        start = time.perf_counter()
        est = LearnedRPCA(rank=rank, n_layers=K, paradigm=paradigm, psi=psi,
                          max_epochs=max_epochs, loss_schedule=schedule,
                          batch_size=batch_size, n_channels=4, random_state=0)
        est.fit(X_train, L_train)
        curves[paradigm] = per_layer(est)
        print(f"{setting:>10} {paradigm:>15}: k={K} error {curves[paradigm][-1]:.1e} "
              f"(trained in {time.perf_counter() - start:.1f} s)")
    print(f"{setting:>10} {'classical':>15}: k={K} error {curves['classical'][-1]:.1e}")
    results[setting] = curves

# %%
# Loss versus iteration (the survey's Fig. 5)
# -------------------------------------------
# With the true ``Psi`` every unfolded model is far ahead of the classical
# solver at equal depth. With a noisy ``Psi`` the classical solver and the
# models that apply the given ``Psi`` stall at an error floor set by the
# mismatch; learning ``Psi_k`` (``"objective"``) lowers it.
fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
for ax, (setting, curves) in zip(axes, results.items()):
    for name, errs in curves.items():
        ax.semilogy(range(K + 1), errs, "o-" if name != "classical" else "k--", label=name)
    ax.set_xlabel("iteration / layer k")
    ax.set_title(("(a) true Psi" if setting == "matched" else "(b) noisy Psi") + f", n = {n}")
    ax.grid(True, which="both", alpha=0.3)
axes[0].set_ylabel("||L R^T - X*||_F / ||X*||_F")
axes[1].legend()
fig.tight_layout()
plt.show()
