"""
=====================================================
Safeguarded LISTA under a mismatched dictionary
=====================================================

A learned solver is fast on the data it was trained on, but nothing
guarantees what it does off that distribution. The *safeguard* of Heaton et
al. ("Safeguarded Learned Convex Optimization", AAAI 2023) keeps, per sample
and layer, the learned update only when it lowers the residual
``||s - T(s)||`` of the classical ISTA map ``T`` below ``(1 - delta)`` times a
running reference, and takes the ISTA step otherwise
(``UnfoldedISTA(..., safeguard=True)``).

We train LISTA (``paradigm="objective"``) on ``x = H s + e``, then test it on
data made with a dictionary whose atoms are perturbed, while every solver
keeps the nominal ``H``. We compare, at equal depth ``K``:

* ISTA (the classical solver),
* LISTA, and
* LISTA with the safeguard,

and then run the safeguarded model past its ``K`` learned layers: it continues
with ISTA steps and converges to the ISTA (LASSO) solution.

By default the problem is small (seconds on one core). With the environment
variable ``SKUNFOLD_PAPER_SIZE=1`` it is the standard setting ``m=250``,
``n=500``, ``K=16`` (a long run on a CPU). The full study, with more models,
noise-level mismatch and adversarial inputs, is ``benchmarks/robustness.py``.
"""

# %%
# Data and models
# ---------------
import os
import time

import matplotlib.pyplot as plt
import numpy as np

from skunfold.core import Optimizer
from skunfold.datasets import make_sparse_recovery
from skunfold.metrics import nmse_db
from skunfold.sparse import ISTA, UnfoldedISTA

if os.environ.get("SKUNFOLD_PAPER_SIZE") == "1":
    m, n, K, n_train, max_epochs = 250, 500, 16, 10000, 20
else:
    m, n, K, n_train, max_epochs = 32, 64, 8, 1500, 10

X, S, D = make_sparse_recovery(n_samples=n_train, n_measurements=m, n_components=n,
                               snr_db=40, random_state=0)
t0 = time.perf_counter()
lista = UnfoldedISTA(D, n_layers=K, paradigm="objective", alpha=0.1, max_epochs=max_epochs,
                     optimizer=Optimizer(lr_schedule="cosine"), safeguard=True,
                     random_state=0).fit(X, S)
print(f"LISTA trained in {time.perf_counter() - t0:.1f} s")
ista = ISTA(D, n_layers=K, alpha=0.1).fit(X)

# %%
# Mismatch: perturbed atoms
# -------------------------
# Test data come from ``H + eps G`` (atoms renormalised); the solvers do not
# know it. ``safeguard_report`` gives the fraction of samples that took the
# ISTA step at each layer.
rng = np.random.default_rng(1)
levels = [0.0, 0.1, 0.2, 0.4, 0.8]
curves = {"ISTA": [], "LISTA": [], "LISTA + safeguard": []}
fallback = []
for eps in levels:
    P = D + eps * rng.normal(size=D.shape) / np.sqrt(m)
    P /= np.linalg.norm(P, axis=1, keepdims=True)
    Xt, St, _ = make_sparse_recovery(n_samples=300, n_measurements=m, n_components=n,
                                     snr_db=40, dictionary=P, random_state=2)
    curves["ISTA"].append(nmse_db(St, ista.predict(Xt)))
    guard, lista.module_.safeguard = lista.module_.safeguard, None
    curves["LISTA"].append(nmse_db(St, lista.predict(Xt)))
    lista.module_.safeguard = guard
    curves["LISTA + safeguard"].append(nmse_db(St, lista.predict(Xt)))
    fallback.append(lista.safeguard_report(Xt).mean())
for name, values in curves.items():
    print(f"{name:>18}: " + "  ".join(f"{v:6.1f}" for v in values))
print(f"{'fallback rate':>18}: " + "  ".join(f"{v:6.2f}" for v in fallback))

# %%
# Past the learned layers
# -----------------------
# With the safeguard the model runs at any depth: after its ``K`` learned
# layers it takes ISTA steps, and its output converges to the ISTA solution
# (here on the most perturbed data).
deep = 20 * K
guarded = [nmse_db(St, s) for s in lista.staged_predict(Xt, n_layers=deep)]
classical = [nmse_db(St, s) for s in ISTA(D, n_layers=deep, alpha=0.1).fit(Xt).staged_predict(Xt)]
longest = 2000
gap = np.abs(lista.iterate(Xt, n_layers=longest)
             - ISTA(D, n_layers=longest, alpha=0.1).fit(Xt).predict(Xt)).max()
print(f"after {longest} layers, largest difference to ISTA's output: {gap:.1e}")

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
for name, values in curves.items():
    ax1.plot(levels, values, marker="o", label=name)
ax1.set_xlabel("dictionary perturbation eps")
ax1.set_ylabel(f"test NMSE after K={K} layers (dB)")
ax1.set_title("Mismatched dictionary")
ax1.legend()
ax2.plot(range(1, deep + 1), guarded, label="LISTA + safeguard")
ax2.plot(range(1, deep + 1), classical, label="ISTA")
ax2.axvline(K, color="gray", linestyle=":", label=f"learned layers (K={K})")
ax2.set_xscale("log")
ax2.set_xlabel("layer / iteration")
ax2.set_ylabel("test NMSE (dB)")
ax2.set_title(f"eps={levels[-1]}: beyond the learned layers")
ax2.legend()
fig.tight_layout()
plt.show()
