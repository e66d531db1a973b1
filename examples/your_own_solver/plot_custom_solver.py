"""
Unfold your own solver: deconvolution of a spike train
=======================================================

No family of skunfold covers blind-free deconvolution of a non-negative spike
train ``x = h * s + e``. Here it is written as a :class:`skunfold.core.Problem`
(about 30 lines: the projected gradient iteration, its objective and its
parameters by name), then unfolded by :class:`skunfold.core.UnfoldedRegressor`
in every paradigm without writing a single training loop. We compare the
classical solver with the learned ones layer by layer, then let
:class:`~sklearn.model_selection.GridSearchCV` choose the paradigm and the depth.

Set ``SKUNFOLD_PAPER_SIZE=1`` for longer signals and more training.
"""

import os

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.model_selection import GridSearchCV
from torch.nn import functional as F

from skunfold.core import Problem, UnfoldedRegressor
from skunfold.metrics import nmse_db, nmse_scorer


# %%
# The solver, described once
# --------------------------
# ``step`` is one iteration of projected (proximal) gradient descent on
# ``1/2 ||x - h * s||^2 + lam sum(s)`` subject to ``s >= 0``; ``step`` and
# ``threshold`` are its hyperparameters, the kernel ``h`` its objective
# parameter. The core passes both to ``step`` by name: their classical values,
# or per-layer learned copies in the unfolded paradigms.
def blur(v, kernel):
    """Correlate every row of ``v`` with ``kernel`` (odd length, same-size output)."""
    return F.conv1d(v[:, None], kernel.view(1, 1, -1), padding=kernel.numel() // 2)[:, 0]


class SpikeDeconvolution(Problem):
    """min_s 1/2 ||x - h * s||^2 + lam sum(s) subject to s >= 0, by projected gradient."""

    def __init__(self, kernel, lam=0.01):
        kernel = torch.as_tensor(kernel, dtype=torch.float32)
        L = float(torch.fft.rfft(kernel, 512).abs().max() ** 2)  # Lipschitz constant
        self.kernel, self.lam = kernel, lam
        self.hyperparameters = {"step": 1.0 / L, "threshold": lam / L}
        self.objective_parameters = {"h": kernel}

    def initial_state(self, x):
        return torch.zeros_like(x)

    def step(self, s, x, step, threshold, h):
        residual = blur(s, h) - x
        return torch.relu(s - step * blur(residual, h.flip(0)) - threshold)

    def objective(self, s, x):
        return 0.5 * ((x - blur(s, self.kernel)) ** 2).sum(1) + self.lam * s.sum(1)


# %%
# Data: blurred, noisy spike trains
# ---------------------------------
paper = os.environ.get("SKUNFOLD_PAPER_SIZE") == "1"
n, n_train, max_epochs = (256, 10000, 60) if paper else (64, 400, 10)
rng = np.random.default_rng(0)
t = np.arange(-6, 7)
kernel = np.exp(-0.5 * t ** 2)
kernel /= kernel.sum()


def spike_trains(n_samples):
    S = rng.exponential(size=(n_samples, n)) * (rng.random((n_samples, n)) < 0.05)
    X = blur(torch.as_tensor(S, dtype=torch.float32), torch.as_tensor(kernel,
                                                                      dtype=torch.float32))
    return X.numpy().astype(np.float64) + 0.005 * rng.normal(size=(n_samples, n)), S


X, S = spike_trains(n_train)
X_test, S_test = spike_trains(400)

# %%
# Classical against unfolded, layer by layer
# ------------------------------------------
# Every paradigm starts from the classical iteration, so untrained they would
# all follow the classical curve; training makes eight layers do the work of
# many more iterations (the dotted line: the classical solver run eight
# times deeper).
K = 8
models = {"classical": UnfoldedRegressor(SpikeDeconvolution(kernel), n_layers=K,
                                         paradigm="classical")}
for paradigm, lr in [("hyperparameters", 3e-2), ("objective", 3e-3)]:
    models[paradigm] = UnfoldedRegressor(SpikeDeconvolution(kernel), n_layers=K,
                                         paradigm=paradigm, lr=lr, max_epochs=max_epochs,
                                         batch_size=32, loss_schedule="multi_iteration",
                                         random_state=0)

fig, ax = plt.subplots(figsize=(6, 4))
for name, est in models.items():
    est.fit(X, S)
    curve = [nmse_db(S_test, S_k) for S_k in est.staged_predict(X_test)]
    ax.plot(range(1, K + 1), curve, marker="o", label=name)
    print(f"{name:>16}: {curve[-1]:6.1f} dB after {K} layers")
classical_deep = models["classical"]
deep = [nmse_db(S_test, S_k) for S_k in classical_deep.staged_predict(X_test, n_layers=8 * K)]
ax.axhline(deep[-1], color="gray", ls=":", label=f"classical, {8 * K} iterations")
ax.set_xlabel("layer k")
ax.set_ylabel("NMSE (dB)")
ax.set_title("Spike deconvolution: classical vs unfolded")
ax.legend()
fig.tight_layout()

# %%
# What was learned
# ----------------
# ``layer_parameters_`` lists the hyperparameters of every layer as plain
# numbers (a table for :class:`pandas.DataFrame`): the learned step sizes and
# thresholds against the classical ``1/L`` and ``lam/L``.
table = models["hyperparameters"].layer_parameters_
classical_values = models["classical"].layer_parameters_
for k, step, threshold in zip(table["layer"], table["step"], table["threshold"]):
    print(f"layer {k}: step {step / classical_values['step'][k - 1]:5.2f} x 1/L, "
          f"threshold {threshold / classical_values['threshold'][k - 1]:5.2f} x lam/L")

# %%
# Choosing the paradigm and the depth by cross-validation
# -------------------------------------------------------
# ``paradigm`` and ``n_layers`` are ordinary hyperparameters.
search = GridSearchCV(
    UnfoldedRegressor(SpikeDeconvolution(kernel), max_epochs=max_epochs // 2, lr=3e-2,
                      batch_size=32, random_state=0),
    {"paradigm": ["classical", "hyperparameters"], "n_layers": [4, 8]},
    scoring=nmse_scorer, cv=3)
search.fit(X[:240], S[:240])
for params, score in zip(search.cv_results_["params"], search.cv_results_["mean_test_score"]):
    print(f"{params}: {-score:6.1f} dB")
print("best:", search.best_params_)
