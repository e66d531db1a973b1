"""
==========================================================
AMP, its state evolution, and learned AMP (LAMP)
==========================================================

Approximate message passing (AMP) is ISTA with one extra term, the *Onsager
correction* ``b_t v_{t-1}`` in the residual. For a matrix with i.i.d. entries it
makes the input of every shrinkage look like the true signal in Gaussian noise,
whose variance ``tau_t^2`` follows a scalar recursion, *state evolution*: the
error of every iteration is predicted before running the algorithm
(:func:`~skunfold.sparse.amp_state_evolution`).

We compare, layer by layer,

* the state-evolution prediction for AMP with soft thresholding and for
  Bayes-optimal AMP (the Bernoulli-Gaussian MMSE denoiser),
* the measured :class:`~skunfold.sparse.AMP` (both denoisers),
* learned AMP, :class:`~skunfold.sparse.UnfoldedAMP`: LAMP-soft (learned
  matrices ``B_t`` and thresholds, ``paradigm="objective"``) and LAMP-bg
  (a learned Bernoulli-Gaussian shrinkage, ``paradigm="dnn"``), trained layer
  by layer.

By default the problem is the standard one, ``m = 250``, ``n = 500``,
``p = 0.1``, SNR 40 dB, with a small training budget (seconds on one core);
state evolution describes large systems, and at ``n = 500`` real AMP is a
few dB behind it. With the environment variable ``SKUNFOLD_PAPER_SIZE=1``, AMP
also runs at ``n = 5000`` (where it follows state evolution closely) and LAMP
is trained longer (minutes).
"""

# %%
# The problem: i.i.d. N(0, 1/m) matrix, Bernoulli-Gaussian codes
# ----------------------------------------------------------------
import os
import time

import matplotlib.pyplot as plt
import numpy as np

from skunfold.core import Sequential
from skunfold.metrics import nmse_db
from skunfold.sparse import AMP, UnfoldedAMP, amp_state_evolution

PAPER = os.environ.get("SKUNFOLD_PAPER_SIZE") == "1"
m, n, p, snr_db, K = 250, 500, 0.1, 40.0, 10
n_train, epochs = (10000, 4) if PAPER else (1000, 1)

rng = np.random.default_rng(0)


def make(n_samples, A, rng):
    S = np.where(rng.random((n_samples, A.shape[1])) < p,
                 rng.normal(size=(n_samples, A.shape[1])), 0.0)
    sigma2 = p * A.shape[1] / A.shape[0] * 10 ** (-snr_db / 10)
    X = S @ A.T + np.sqrt(sigma2) * rng.normal(size=(n_samples, A.shape[0]))
    return X.astype(np.float32), S


A = rng.normal(0, 1 / np.sqrt(m), size=(m, n))
D = A.T.copy()  # scikit-learn's row convention: X = S @ D
X, S = make(n_train, A, rng)
X_test, S_test = make(500, A, rng)

# %%
# State evolution and measured AMP
# --------------------------------
# ``amp_state_evolution`` integrates the scalar recursion numerically; ``AMP``
# runs the algorithm (nothing to learn: ``fit`` only takes the dictionary).
T = 20
curves = {
    "SE, soft": amp_state_evolution(T, sparsity=p, measurement_ratio=m / n, snr_db=snr_db),
    "SE, BG-MMSE": amp_state_evolution(T, sparsity=p, measurement_ratio=m / n, snr_db=snr_db,
                                       denoiser="bg"),
}
for denoiser in ("soft", "bg"):
    amp = AMP(D, n_layers=T, denoiser=denoiser).fit(X_test)
    curves[f"AMP {denoiser}, n={n}"] = [nmse_db(S_test, s) for s in amp.staged_predict(X_test)]

if PAPER:  # a large system follows state evolution closely
    A_big = rng.normal(0, 1 / np.sqrt(2500), size=(2500, 5000)).astype(np.float32)
    X_big, S_big = make(100, A_big, rng)
    amp = AMP(A_big.T.copy(), n_layers=T).fit(X_big)
    curves["AMP soft, n=5000"] = [nmse_db(S_big, s) for s in amp.staged_predict(X_big)]

# %%
# Learned AMP
# -----------
# Layer-wise training (each new layer trained with the earlier ones frozen:
# one epoch per layer here, four with ``SKUNFOLD_PAPER_SIZE=1``), Adam at 1e-3
# as in the paper. Untrained, each model is AMP.
for name, params in (("LAMP-soft", {"paradigm": "objective"}),
                     ("LAMP-bg", {"paradigm": "dnn", "shrinkage": "bg"})):
    t0 = time.process_time()
    lamp = UnfoldedAMP(D, n_layers=K, lr=1e-3, random_state=0,
                       loss_schedule=Sequential(epochs_per_stage=epochs),
                       **params).fit(X, S)
    curves[name] = [nmse_db(S_test, s) for s in lamp.staged_predict(X_test)]
    print(f"{name}: {curves[name][-1]:.1f} dB at K={K} "
          f"({time.process_time() - t0:.1f} s CPU, {n_train} training samples)")

# %%
# Support-oracle floor and the plot
# ---------------------------------
# Least squares on the true support of each sample: no method can do better.
# ``A`` restricted to a support (about 50 of its 500 columns) is tall and well
# conditioned, so the normal equations give the least-squares solution to
# rounding, at a fraction of the cost of the SVD-based ``np.linalg.lstsq``.
oracle = np.zeros_like(S_test)
for i, (x, s) in enumerate(zip(X_test, S_test)):
    idx = np.flatnonzero(s)
    if idx.size:
        A_s = A[:, idx]
        oracle[i, idx] = np.linalg.solve(A_s.T @ A_s, A_s.T @ x)
floor = nmse_db(S_test, oracle)

fig, ax = plt.subplots(figsize=(7, 4.5))
styles = {"SE": {"ls": "--", "lw": 2}, "AMP": {"marker": "o", "ms": 3},
          "LAMP": {"marker": "s", "ms": 4}}
for label, values in curves.items():
    style = styles[label.split(" ")[0].split(",")[0].split("-")[0]]
    ax.plot(np.arange(1, len(values) + 1), values, label=label, **style)
ax.axhline(floor, color="k", lw=1, label=f"support oracle ({floor:.1f} dB)")
ax.set_xlabel("layer / iteration t")
ax.set_ylabel("NMSE (dB)")
ax.set_title(f"AMP vs state evolution vs LAMP (m={m}, n={n}, p={p}, SNR {snr_db:g} dB)")
ax.grid(alpha=0.3)
ax.legend(fontsize=8, ncol=2)
plt.tight_layout()
plt.show()
