r"""
=====================================================
Accelerated MRI: FISTA and its unfolded version
=====================================================

An MRI scanner measures the 2-D Fourier transform of the image (its
*k-space*), one line at a time; measuring a quarter of the lines makes the
scan four times faster. The measurements are

.. math:: y = M_\Omega F x + e,

with :math:`F` the orthonormal 2-D Fourier transform, :math:`M_\Omega` the
selection of the sampled columns of k-space (whole columns: Cartesian
sampling), :math:`x` the (real) image and :math:`e` complex noise. The
simplest reconstruction, *zero-filling*, fills the missing lines with zeros
and inverts the Fourier transform: it is the adjoint
:math:`A^\top y = \mathrm{Re}(F^H M_\Omega^\top y)`, and the missing columns
show as aliasing, copies of the image's edges shifted along the
undersampled axis. A prior removes it: here total variation, solved by
FISTA from the zero-filled image, then FISTA unfolded into ``K = 10``
layers whose step sizes and thresholds are trained.

Here:

* :class:`~skunfold.imaging.MRI` is :math:`A = M_\Omega F`, matrix-free, with
  complex measurements; :func:`~skunfold.datasets.make_imaging_problem` with
  ``"mri"`` builds it with 4x-accelerated sampling (a quarter of the columns,
  the central 8% of them, around the zero frequency, always kept: the setting
  of fastMRI, Zbontar et al., 2018) and draws crops of natural photographs:
  five photographs for training, two others held out;
* :class:`~skunfold.imaging.ProximalGradient` with ``momentum=True`` is FISTA
  on :math:`\tfrac12\|Ax - y\|_2^2 + \alpha\,\mathrm{TV}(x)`, its weight
  :math:`\alpha` tuned on the training crops, stopped at ``K = 10``
  iterations and run to convergence;
* :class:`~skunfold.imaging.UnfoldedProximalGradient` with
  ``paradigm="hyperparameters"`` is its unfolded version: ten layers, each
  with its own step size, total-variation threshold and momentum weight,
  trained end to end on the training crops.

By default the crops are 32 x 32 pixels, 200 of them for training, and the
training runs four epochs (well under 30 seconds in all on one core). With
the environment variable ``SKUNFOLD_PAPER_SIZE=1`` there are 1000 training
crops, 15 epochs with early stopping, and the ``"dnn"`` paradigm (a small CNN
added to each layer's proximal step) is trained too (four and a half minutes).
"""

# %%
# The problem: k-space of crops of natural images, a quarter of it sampled
# -------------------------------------------------------------------------
# The operator is built once on 32 x 32 images and shared by the training and
# the test crops; the complex noise has standard deviation 0.01 (pixels in
# [0, 1]). Total variation is computed with five inner (dual) iterations per
# proximal step, which is enough here and halves the cost of the default
# twenty.
import os
import time

import matplotlib.pyplot as plt
import numpy as np
import torch

from skunfold.datasets import make_imaging_problem
from skunfold.imaging import ProximalGradient, TotalVariation, UnfoldedProximalGradient
from skunfold.metrics import psnr, ssim

torch.set_num_threads(1)
if os.environ.get("SKUNFOLD_PAPER_SIZE") == "1":
    n_train, n_test, max_epochs, early_stopping = 1000, 200, 15, True
    paradigms = {"hyperparameters": max_epochs, "dnn": 8}
else:
    n_train, n_test, max_epochs, early_stopping = 200, 64, 4, False
    paradigms = {"hyperparameters": max_epochs}
K, noise, size = 10, 0.01, 32

Y, X, A = make_imaging_problem("mri", images="train", n_samples=n_train, patch_size=size,
                               noise=noise, random_state=0)
Y_test, X_test, _ = make_imaging_problem(A, images="test", n_samples=n_test, noise=noise,
                                         random_state=1)
tv = TotalVariation((size, size), n_iter=5)
print(f"operator A: {A.shape[1]} pixels ({size} x {size}) -> {A.shape[0]} complex "
      f"k-space samples ({A.mask.any(axis=0).sum()} of {size} columns), "
      f"measurements {Y.dtype}")
print(f"{len(X)} training crops, {len(X_test)} held-out crops")

# %%
# Zero-filling: the adjoint
# -------------------------
# :math:`A^\top y` is the adjoint of the SciPy ``LinearOperator`` (``rmatmat``
# on columns), a real image. The figure shows a held-out crop, its k-space
# (log-magnitude, zero frequency in the middle), the sampling mask (white:
# sampled columns) and the zero-filled image, whose missing columns of
# k-space show as horizontal ghosts of the edges.
zero_filled = A.rmatmat(Y_test.T).T
print(f"zero-filled, held-out crops: {psnr(X_test, zero_filled):.2f} dB, "
      f"SSIM {ssim(X_test, zero_filled):.3f}")

i = int(np.argmax(X_test.var(axis=1)))
crop = X_test[i].reshape(size, size)
fig, axes = plt.subplots(1, 4, figsize=(10, 2.9), layout="constrained")
axes[0].imshow(crop, cmap="gray", vmin=0, vmax=1)
axes[0].set_title("held-out crop")
kspace = np.fft.fftshift(np.abs(np.fft.fft2(crop, norm="ortho")))
axes[1].imshow(np.log10(kspace + 1e-3), cmap="magma")
axes[1].set_title("its k-space (log |Fx|)")
axes[2].imshow(np.fft.fftshift(A.mask), cmap="gray")
axes[2].set_title("sampling mask (4x)")
axes[3].imshow(zero_filled[i].reshape(size, size), cmap="gray", vmin=0, vmax=1)
axes[3].set_title(f"zero-filled\n{psnr(X_test[i], zero_filled[i]):.2f} dB")
for ax in axes:
    ax.set_axis_off()
plt.show()

# %%
# The classical solver, its weight tuned
# --------------------------------------
# FISTA depends on the weight :math:`\alpha` of the prior, and the best weight
# at ``K = 10`` iterations is not the best at convergence. Each is tuned over
# three values on training crops (64 of them at ``K = 10``, 32 at
# convergence); 200 iterations are enough for convergence here (500 give the
# same held-out PSNR to 0.01 dB). The unfolded model starts from FISTA at
# ``K = 10`` with its tuned weight.
alphas = [3e-3, 1e-2, 3e-2]


def tune(n_layers, n_crops):
    """FISTA at this depth, its weight the best on ``n_crops`` training crops."""
    scores = {}
    for alpha in alphas:
        model = ProximalGradient(A, prior=tv, alpha=alpha, n_layers=n_layers, momentum=True,
                                 n_threads=1).fit(Y[:n_crops])
        scores[alpha] = psnr(X[:n_crops], model.predict(Y[:n_crops]))
    print(f"FISTA, {n_layers} iterations: " + ", ".join(
        f"alpha = {a:g}: {s:.2f} dB" for a, s in scores.items()))
    best = max(scores, key=scores.get)
    return best, ProximalGradient(A, prior=tv, alpha=best, n_layers=n_layers, momentum=True,
                                  n_threads=1).fit(Y)


alpha, fista = tune(K, 64)
alpha_converged, converged = tune(200, 32)
print(f"chosen: alpha = {alpha:g} at K = {K}, alpha = {alpha_converged:g} at convergence")

# %%
# The unfolded solver
# -------------------
# Trained to minimise the mean squared error to the clean training crops. The
# ``"hyperparameters"`` paradigm learns, per layer, the step size, the
# total-variation threshold and FISTA's momentum weight (30 numbers in all);
# with the short budget it takes a larger learning rate than the default
# (3e-2 instead of 1e-2) and batches of 16, i.e. more, larger steps per
# epoch. Every model starts as the FISTA above (an untrained model computes
# it), and ``keep_best`` (on by default) compares the trained model with that
# start after training: should training not improve on it, the estimator
# keeps FISTA and says so with a ``WorseThanClassicalWarning``, which is then
# a result of this run, not an error.
settings = {"hyperparameters": dict(lr=3e-2, batch_size=16), "dnn": {}}
unfolded = {}
for paradigm, epochs in paradigms.items():
    model = UnfoldedProximalGradient(A, prior=tv, alpha=alpha, n_layers=K, momentum=True,
                                     paradigm=paradigm, max_epochs=epochs,
                                     early_stopping=early_stopping, n_threads=1,
                                     random_state=0, **settings[paradigm])
    t0 = time.perf_counter()
    unfolded[paradigm] = model.fit(Y, X)
    print(f"{paradigm}: trained in {time.perf_counter() - t0:.1f} s; "
          f"kept: {model.comparison_['kept']}")

# %%
# Held-out images
# ---------------
# Mean PSNR and SSIM over the held-out crops (photographs never used in
# training or tuning).
outputs = {"zero-filled": zero_filled,
           f"FISTA, K={K}": fista.predict(Y_test),
           "FISTA, converged": converged.predict(Y_test)}
outputs.update({f"unfolded {p}, K={K}": m.predict(Y_test) for p, m in unfolded.items()})
results = {}
for name, images in outputs.items():
    results[name] = psnr(X_test, images)
    print(f"{name:<32} {results[name]:6.2f} dB   SSIM {ssim(X_test, images):.3f}")

# %%
# Before and after
# ----------------
# The two held-out crops with the most detail (largest pixel variance); each
# title gives the PSNR of that crop.
shown = np.argsort(X_test.var(axis=1))[-2:]
names = ["zero-filled", f"FISTA, K={K}", "FISTA, converged", f"unfolded hyperparameters, K={K}"]
fig, axes = plt.subplots(len(shown), len(names) + 1, figsize=(11, 5), layout="constrained")
for row, i in zip(axes, shown):
    truth = X_test[i].reshape(size, size)
    for ax, name in zip(row, names):
        image = outputs[name][i].reshape(size, size)
        ax.imshow(image, cmap="gray", vmin=0, vmax=1)
        ax.set_title(f"{name.replace('unfolded hyperparameters', 'unfolded')}\n"
                     f"{psnr(truth, image):.2f} dB", fontsize=10)
    row[-1].imshow(truth, cmap="gray", vmin=0, vmax=1)
    row[-1].set_title("ground truth", fontsize=10)
    for ax in row:
        ax.set_axis_off()
fig.suptitle("4x-accelerated MRI of held-out crops")
plt.show()

# %%
# PSNR per layer
# --------------
# :meth:`~skunfold.imaging.UnfoldedProximalGradient.staged_predict` gives the
# image after each layer: the learned layers against FISTA's iterations, on
# the held-out crops.
layers = np.arange(1, K + 1)
fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
ax.plot(layers, [psnr(X_test, out) for out in fista.staged_predict(Y_test)], "o-",
        label=f"FISTA (alpha = {alpha:g})")
for (paradigm, model), marker in zip(unfolded.items(), "sD"):
    ax.plot(layers, [psnr(X_test, out) for out in model.staged_predict(Y_test)],
            marker + "-", label=f"unfolded ({paradigm})")
ax.axhline(results["FISTA, converged"], color="gray", ls="--",
           label=f"FISTA, converged (alpha = {alpha_converged:g})")
ax.axhline(results["zero-filled"], color="gray", ls=":", label="zero-filled")
ax.set_xlabel("layer / iteration k")
ax.set_ylabel("PSNR on held-out crops (dB)")
ax.set_xticks(layers)
ax.legend(loc="lower right", fontsize=9)
ax.set_title("4x MRI, PSNR per layer")
plt.show()

# %%
# What was learned
# ----------------
# The step sizes and thresholds per layer, relative to FISTA's :math:`1/L`
# and :math:`\alpha / L` (:math:`L = 1`: the Fourier transform is
# orthonormal and the mask a selection).
learned = unfolded["hyperparameters"]
params = learned.layer_parameters_
fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
ax.plot(layers, params["step"] * learned.lipschitz_, "o-", label=r"step / ($1/L$)")
ax.plot(layers, params["threshold"][:, 0] / (alpha / learned.lipschitz_), "s-",
        label=r"threshold / ($\alpha/L$)")
ax.axhline(1.0, color="gray", ls="--", label="FISTA")
ax.set_xlabel("layer k")
ax.set_ylabel("learned / FISTA's")
ax.set_xticks(layers)
ax.legend(fontsize=9)
plt.show()

# %%
# Reading the results
# -------------------
# At the default budget (200 crops, four epochs, about ten CPU-seconds of
# training) the learned step sizes and thresholds gain 1.7 dB over FISTA at
# the same depth on the held-out photographs (28.13 against 26.39 dB, SSIM
# 0.872 against 0.833), layer after layer: most learned steps are larger
# than FISTA's :math:`1/L`, some beyond the :math:`2/L` up to which a
# fixed-step iteration is sure to converge, and the thresholds are above
# :math:`\alpha/L` in the first layers and below it in the last. Unlike
# super-resolution (see :ref:`sphx_glr_auto_examples_imaging_plot_super_resolution.py`),
# where FISTA gets worse as it converges, here FISTA run to convergence (200
# iterations, its own weight) is the best reconstruction: 28.71 dB, 0.6 dB
# above the ten learned layers, at twenty times their cost. With
# ``SKUNFOLD_PAPER_SIZE=1`` (1000 training crops, 200 held out) the learned
# hyperparameters gain 1.65 dB over FISTA at ``K = 10`` (27.65 against
# 26.00 dB, 52 s of training) and stay 0.6 dB below FISTA at convergence
# (28.24 dB); the ``"dnn"`` paradigm, a CNN added to each proximal step
# (its steps and thresholds trained at the default 1e-2, the CNN at 1e-3),
# gains as much in eight epochs (27.63 dB, 100 s). In trials at the default
# budget (200 crops, three epochs, 13 to 15 CPU-seconds each) the CNN
# paradigms gained under a decibel (``"dnn"`` 0.7 dB, ``"correction"``
# 0.3 dB): on this problem, in a short budget, learning the steps and
# thresholds is what pays.
