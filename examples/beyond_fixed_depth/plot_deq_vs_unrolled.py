"""
Deep equilibrium against unrolled: error and memory versus depth
=================================================================

An unrolled network of ``K`` tied ISTA layers backpropagates through every
layer, so its training memory grows with ``K``. With ``fixed_point=True`` the
same tied iteration is run *to its fixed point* without recording a graph,
and the gradient comes from the implicit function theorem: training memory
is that of one layer, whatever the number of iterations (a deep equilibrium
model). Here both are trained on a small sparse-recovery problem; we compare
their error when run for ``K`` iterations at test time, and the activations
autograd keeps for one training step.

Set ``SKUNFOLD_PAPER_SIZE=1`` for the standard 250 x 500 problem and more
training.
"""

import os

import matplotlib.pyplot as plt
import numpy as np
import torch

from skunfold.core import FixedPoint
from skunfold.datasets import make_sparse_recovery
from skunfold.metrics import nmse_db
from skunfold.sparse import FISTA, UnfoldedISTA

PAPER = os.environ.get("SKUNFOLD_PAPER_SIZE") == "1"
m, n, n_train, epochs = (250, 500, 8000, 10) if PAPER else (40, 80, 1000, 4)
X, S, D = make_sparse_recovery(n_train + 500, m, n, sparsity=0.1, snr_db=40, random_state=0)
X, S = X.astype(np.float32), S.astype(np.float32)
X_train, S_train, X_test, S_test = X[:n_train], S[:n_train], X[n_train:], S[n_train:]

# %%
# Train: 16 tied layers unrolled, and the same iteration as a fixed point
# -----------------------------------------------------------------------
# Both learn ISTA's step size and threshold (``paradigm="hyperparameters"``,
# one value for all layers). The deep equilibrium model trains with at most
# 50 Anderson-accelerated iterations per forward solve. That cap keeps the
# example fast but leaves some samples (and some backward solves) short of
# the default tolerance, so ``fit`` emits scikit-learn's ``ConvergenceWarning``
# saying how many and how far off they are; ``n_iter_`` records the iterations
# each sample used.
common = dict(paradigm="hyperparameters", tied=True, max_epochs=epochs, lr=0.02,
              random_state=0)
unrolled = UnfoldedISTA(D, n_layers=16, **common).fit(X_train, S_train)
deq = UnfoldedISTA(D, n_layers=16, fixed_point=FixedPoint(max_iter=50), **common)
deq.fit(X_train, S_train)
print(f"DEQ forward iterations per training sample: mean {deq.n_iter_.mean():.0f}, "
      f"max {deq.n_iter_.max()}")

# %%
# Error versus the number of iterations at test time
# --------------------------------------------------
# A tied model runs at any depth. The unrolled model was trained for 16
# iterations; the deep equilibrium model for its fixed point, so it keeps
# improving as it is given more iterations. Capping its solve at ``k``
# iterations stops it short of the tolerance on purpose, so ``predict`` warns
# (``ConvergenceWarning``) for the samples not yet converged at that depth.
depths = [4, 8, 16, 32, 64, 128]
fista = FISTA(D, n_layers=max(depths)).fit(X_test[:1])
fista_err = [nmse_db(S_test, s) for s in fista.staged_predict(X_test)]
unrolled_err = [nmse_db(S_test, unrolled.iterate(X_test, n_layers=k)) for k in depths]
deq_err = []
for k in depths:
    deq.module_.fixed_point.max_iter = k
    deq_err.append(nmse_db(S_test, deq.predict(X_test)))

# %%
# Memory of one training step versus depth
# ----------------------------------------
# The bytes of the tensors autograd saves for the backward pass, counted
# exactly with :func:`torch.autograd.graph.saved_tensors_hooks`.


def saved_megabytes(module, n_layers):
    total = [0]

    def pack(t):
        total[0] += t.numel() * t.element_size()
        return t

    x, s = torch.as_tensor(X_train[:64]), torch.as_tensor(S_train[:64])
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        ((module(x, n_layers=n_layers)[-1] - s) ** 2).sum().backward()
    return total[0] / 1e6


module = unrolled.module_
memory_unrolled = [saved_megabytes(module, k) for k in depths]
memory_deq = []
for k in depths:
    deq.module_.fixed_point = FixedPoint(tol=1e-30, max_iter=k, solver="picard")
    memory_deq.append(saved_megabytes(deq.module_, deq.module_.n_layers))

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
ax1.plot(depths, [fista_err[k - 1] for k in depths], "k:", label="FISTA")
ax1.plot(depths, unrolled_err, "o-", label="unrolled (trained at K=16)")
ax1.plot(depths, deq_err, "s-", label="deep equilibrium")
ax1.set(xscale="log", xlabel="iterations at test time", ylabel="test NMSE (dB)")
ax1.legend()
ax2.plot(depths, memory_unrolled, "o-", label="unrolled")
ax2.plot(depths, memory_deq, "s-", label="deep equilibrium (implicit gradient)")
ax2.set(xscale="log", yscale="log", xlabel="iterations in training",
        ylabel="activations of one step (MB)")
ax2.legend()
fig.tight_layout()
plt.show()

for k, a, b, ma, mb in zip(depths, unrolled_err, deq_err, memory_unrolled, memory_deq):
    print(f"K={k:4d}: unrolled {a:6.2f} dB ({ma:6.2f} MB), deep equilibrium {b:6.2f} dB "
          f"({mb:5.2f} MB)")
