"""
==========================================================
Hybrid beamforming: unfolded vs classical gradient ascent
==========================================================

A base station with ``M`` antennas and ``L`` RF chains serves ``N`` users
over ``B`` frequency bands: one analog precoder ``W_a`` (phase shifters,
shared by the bands) and a digital precoder ``W_d,b`` per band. Projected
gradient ascent on the rate (:class:`~skunfold.beamforming.HybridPGA`) needs
tens of iterations; unfolding five of them and learning their step sizes
(:class:`~skunfold.beamforming.UnfoldedHybridPGA`, Lavi and Shlezinger's
unfolded PGA) reaches in five the rate the classical solver reaches in
thirty, or a higher one. This is an *optimizer as an estimator*: ``fit``
takes channel realisations and no labels (the loss is minus the rate),
``predict`` returns precoders, ``score`` the mean rate.

We plot the mean rate on held-out channels after every iteration, with the
paper's unit-modulus analog precoder and without it (the authors' public
code), and the learned step sizes. Without the constraint, five learned
iterations exceed thirty classical ones by about 5%; with phase shifters the
classical solver is close to converged after thirty iterations, and five
learned ones come within a fraction of a percent of it (the measured figures
at the paper's size are in the beamforming benchmark of the documentation).

By default the system is small (seconds on one core); with the environment
variable ``SKUNFOLD_PAPER_SIZE=1`` it is the paper's (``B = 8`` bands,
``N = 6`` users, ``L = 10`` RF chains, ``M = 12`` antennas, 1,000 training
channels, 40 epochs: a few minutes).
"""

# %%
# Channels
# --------
# i.i.d. complex Gaussian channels, one stack of ``B`` matrices ``N x M`` per
# realisation; no labels.
import os
import time

import matplotlib.pyplot as plt
import numpy as np

from skunfold.beamforming import HybridPGA, UnfoldedHybridPGA, sum_rate
from skunfold.datasets import make_wideband_channels

if os.environ.get("SKUNFOLD_PAPER_SIZE") == "1":
    B, N, L, M, n_train, max_epochs = 8, 6, 10, 12, 1000, 40
else:
    B, N, L, M, n_train, max_epochs = 4, 3, 5, 8, 300, 15
K, n_classical = 5, 30

H = make_wideband_channels(n_train, n_bands=B, n_users=N, n_antennas=M, random_state=0)
H_test = make_wideband_channels(200, n_bands=B, n_users=N, n_antennas=M, random_state=1)
print(f"channels: {H.shape} (samples, bands, users, antennas), {H.dtype}")

# %%
# Classical and unfolded projected gradient ascent
# ------------------------------------------------
# The classical solver runs 30 iterations with every step size at 0.5. The
# unfolded one has five layers, each with its own analog step and one digital
# step per band, trained on minus the mean rate; early stopping keeps the
# epoch of best validation rate.
curves, models = {}, {}
for constraint in ("unit_modulus", None):
    pga = HybridPGA(n_layers=n_classical, n_rf_chains=L, analog_constraint=constraint,
                    random_state=0).fit(H)
    unfolded = UnfoldedHybridPGA(n_layers=K, n_rf_chains=L, analog_constraint=constraint,
                                 max_epochs=max_epochs, batch_size=50, random_state=0)
    t0 = time.perf_counter()
    unfolded.fit(H)
    print(f"analog_constraint={constraint!r}: trained in {time.perf_counter() - t0:.1f} s")
    for name, est in (("classical PGA", pga), ("unfolded PGA", unfolded)):
        initial = sum_rate(H_test, np.einsum("nml,nbli->nbmi", *est.decompose(H_test, 0)))
        curves[name, constraint] = [initial.mean(), *est.staged_score(H_test)]
    models[constraint] = unfolded
    print(f"  rate (nats per band): unfolded {unfolded.score(H_test):.2f} after {K} layers, "
          f"classical {pga.score(H_test):.2f} after {n_classical} iterations")

# %%
# The precoders
# -------------
# ``predict`` returns the effective precoder ``W_a W_d,b`` of every band (one
# array, samples first); ``decompose`` the hybrid factors. The power budget
# and the phase-shifter constraint hold on every output.
est = models["unit_modulus"]
P = est.predict(H_test)
W_a, W_d = est.decompose(H_test)
print("precoders", P.shape, "analog", W_a.shape, "digital", W_d.shape)
print("power per sample (N B =", N * B, "):", np.round(np.sum(np.abs(P) ** 2, (1, 2, 3))[:3], 6))
print("analog moduli:", np.unique(np.round(np.abs(W_a), 6)), "= 1/sqrt(M) =",
      round(1 / np.sqrt(M), 6))

# %%
# Rate per iteration
# ------------------
# Solid lines: phase shifters (unit-modulus ``W_a``); dashed: no constraint.
# Iteration 0 is the shared initialisation.
fig, ax = plt.subplots(figsize=(7, 4.2))
styles = {"unit_modulus": "-", None: "--"}
for (name, constraint), rates in curves.items():
    marker = "o" if name.startswith("unfolded") else None
    color = "C1" if name.startswith("unfolded") else "C0"
    ax.plot(range(len(rates)), rates, styles[constraint], marker=marker, color=color,
            label=f"{name}, {'unit modulus' if constraint else 'no constraint'}")
ax.set_xlabel("iteration k")
ax.set_ylabel("rate (nats per band)")
ax.set_title("Held-out mean rate")
ax.grid(True, alpha=0.3)
ax.legend()
fig.tight_layout()
# sphinx_gallery_thumbnail_number = 1
plt.show()

# %%
# Learned step sizes
# ------------------
# ``step_sizes_`` holds ``mu_a,k`` (column 0) and ``mu_d,b,k`` (one column per
# band) of every layer (the columns ``analog_step`` and ``digital_step`` of
# ``layer_parameters_``, the per-layer table every estimator has); the
# classical solver uses 0.5 everywhere.
steps = models["unit_modulus"].step_sizes_
layers = np.arange(1, K + 1)
fig, ax = plt.subplots(figsize=(7, 4.2))
ax.semilogy(layers, steps[:, 0], "o-", color="C2", label="analog mu_a")
ax.semilogy(layers, steps[:, 1:], "s:", color="C3", alpha=0.6)
ax.plot([], [], "s:", color="C3", label="digital mu_d,b (one per band)")
ax.axhline(0.5, color="gray", lw=0.8, label="classical (0.5)")
ax.set_xticks(layers)
ax.set_xlabel("layer k")
ax.set_ylabel("step size")
ax.set_title("Learned step sizes (unit modulus)")
ax.grid(True, which="both", alpha=0.3)
ax.legend()
fig.tight_layout()
plt.show()
