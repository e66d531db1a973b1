"""
=================================================================
Power allocation: WMMSE unfolded with graph neural networks
=================================================================

Twenty transmitter-receiver pairs share a band in an ad hoc network
(:func:`~skunfold.datasets.make_interference_network`, the setting of the
UWMMSE paper: transmitters uniform in a 40 x 40 square, each receiver within
5 of its transmitter, path loss ``d^-2.2``, Rayleigh fading). Every
transmitter chooses a power in ``[0, 1]``; more power strengthens its own
link and interferes with all the others. The goal is the largest sum rate
``sum_i log2(1 + SINR_i)``.

* :class:`~skunfold.power.WMMSE` is the classical iterative solver; it
  needs about a hundred iterations to converge.
* :class:`~skunfold.power.UnfoldedWMMSE` unfolds four of its iterations and
  corrects each with two tiny graph neural networks (UWMMSE), trained
  without labels to maximise the sum rate of the training channels.

These are optimizers as estimators: ``fit`` takes channels only,
``predict`` returns the powers and ``score`` the mean sum rate.

By default the example is small (a few seconds of training on one core);
set ``SKUNFOLD_PAPER_SIZE=1`` for the paper's budget (20,000 Adam steps on
25,600 training channels, 6,400 test channels).
"""

import os
import time

import matplotlib.pyplot as plt
import numpy as np

from skunfold.core import Optimizer
from skunfold.datasets import make_interference_network
from skunfold.metrics import sum_rate
from skunfold.power import DEFAULT_NOISE_VAR, WMMSE, UnfoldedWMMSE

PAPER = os.environ.get("SKUNFOLD_PAPER_SIZE", "0") == "1"
if PAPER:
    n_train, n_test, max_epochs = 25600, 6400, 50     # 20,000 Adam steps
else:
    n_train, n_test, max_epochs = 6400, 2000, 8       # 800 Adam steps

# %%
# Channels of one topology
# ------------------------
# A topology (the positions) is a data set: training and test channels share
# it and differ by their fading. ``H[b, j, i]`` is the amplitude gain from
# transmitter ``j`` to receiver ``i``.

H, geometry = make_interference_network(n_train, 20, topology_random_state=0, random_state=0)
H_test, _ = make_interference_network(n_test, 20, topology_random_state=0, random_state=1)
print(H.shape, H_test.shape)

# %%
# Training UWMMSE
# ---------------
# Four layers, unsupervised: the loss is minus the mean sum rate. Each layer
# has two graph convolutional networks (53 parameters with ``mu``) that
# correct WMMSE's weights; untrained, the model *is* four WMMSE iterations.
# Adam clips the gradient norm to 5 (the paper's) and the learning rate
# decays along a half cosine: an :class:`~skunfold.core.Optimizer`.

start = time.process_time()
uwmmse = UnfoldedWMMSE(n_layers=4, max_epochs=max_epochs,
                       optimizer=Optimizer(lr_schedule="cosine", max_grad_norm=5.0),
                       random_state=0).fit(H)
print(f"trained in {time.process_time() - start:.1f} s of CPU "
      f"({max_epochs} epochs of {n_train // 64} batches)")

wmmse = WMMSE(n_layers=100).fit(H)
wmmse4 = WMMSE(n_layers=4).fit(H)
full = sum_rate(H_test, np.ones(H_test.shape[:2]), DEFAULT_NOISE_VAR, gains="amplitude").mean()
scores = {"full power": full, "WMMSE, 4 it.": wmmse4.score(H_test),
          "WMMSE, 100 it.": wmmse.score(H_test), "UWMMSE, 4 layers": uwmmse.score(H_test)}
for name, value in scores.items():
    print(f"{name:18s} {value:6.2f} bit/s/Hz  ({100 * value / scores['WMMSE, 100 it.']:.1f}% "
          "of WMMSE-100)")

# %%
# Sum rate per layer
# ------------------
# ``staged_predict`` gives the powers after every iteration (layer). UWMMSE
# reaches in four layers what WMMSE reaches in many more iterations.

wmmse_curve = [wmmse.sum_rates(H_test, p).mean() for p in wmmse.staged_predict(H_test)]
uwmmse_curve = [uwmmse.sum_rates(H_test, p).mean() for p in uwmmse.staged_predict(H_test)]

fig, ax = plt.subplots(figsize=(6, 4))
ax.semilogx(np.arange(1, 101), wmmse_curve, label="WMMSE")
ax.semilogx(np.arange(1, 5), uwmmse_curve, "o-", label="UWMMSE (trained)")
ax.axhline(full, color="grey", ls=":", label="full power")
ax.set_xlabel("iteration / layer")
ax.set_ylabel("mean sum rate (bit/s/Hz)")
ax.set_title("Held-out channels, 20 pairs")
ax.legend()
fig.tight_layout()

# %%
# The network and its powers
# --------------------------
# One test channel: transmitters (squares) and receivers (dots), each pair
# joined by its link; the colour of a transmitter is the power that the
# solver allocates to it. Both solvers switch off (or nearly off) the pairs
# whose transmitter interferes strongly with its neighbours.

b = 0
powers = {"WMMSE, 100 iterations": wmmse.predict(H_test[b:b + 1])[0],
          "UWMMSE, 4 layers": uwmmse.predict(H_test[b:b + 1])[0]}
tx, rx = geometry.transmitters, geometry.receivers
fig, axes = plt.subplots(1, 2, figsize=(10, 4.6), sharey=True)
for ax, (name, p) in zip(axes, powers.items()):
    for i in range(len(tx)):
        ax.plot([tx[i, 0], rx[i, 0]], [tx[i, 1], rx[i, 1]], color="lightgrey", zorder=1)
    ax.scatter(rx[:, 0], rx[:, 1], s=12, color="black", zorder=2, label="receivers")
    points = ax.scatter(tx[:, 0], tx[:, 1], c=p, cmap="viridis", vmin=0, vmax=1, s=70,
                        marker="s", edgecolors="black", zorder=3, label="transmitters")
    rate = sum_rate(H_test[b:b + 1], p[None], DEFAULT_NOISE_VAR, gains="amplitude")[0]
    ax.set_title(f"{name}: {rate:.1f} bit/s/Hz")
    ax.set_aspect("equal")
    ax.set_xlabel("x")
axes[0].set_ylabel("y")
axes[0].legend(loc="lower left", fontsize=8)
fig.colorbar(points, ax=axes, label="allocated power")
plt.show()
