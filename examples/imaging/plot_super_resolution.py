r"""
=========================================
Super-resolution as sparse recovery
=========================================

The survey of deep unfolding (N. Shlezinger et al., "Deep unfolding", its box
"Super-Resolution as Sparse Recovery") writes x2 super-resolution as a sparse
recovery problem: the low-resolution image is

.. math:: x = H \Psi s + e,

with :math:`H` a blur followed by decimation by 2, :math:`\Psi` an orthonormal
wavelet basis, :math:`s` the (sparse) wavelet coefficients of the
high-resolution image and :math:`e` noise. ISTA, or its accelerated version
FISTA, recovers :math:`s` from :math:`x`; unfolding ``K`` of its iterations
into layers and learning their step sizes and thresholds gives a solver of the
same cost that is trained for the images at hand.

Here:

* :class:`~skunfold.imaging.Downsample` is :math:`H` (a Gaussian blur of one
  pixel, then one pixel in two along each axis), matrix-free;
* ``prior="wavelet"`` is :math:`\Psi` (orthonormal Haar wavelets, one
  threshold per level, the coarse approximation band left unthresholded);
* :class:`~skunfold.imaging.ProximalGradient` with ``momentum=True`` is FISTA,
  the classical solver, stopped at ``K = 10`` iterations;
* :class:`~skunfold.imaging.UnfoldedProximalGradient` with
  ``paradigm="hyperparameters"`` is its unfolded version: ten layers, each with
  its own step size and one threshold per wavelet level (and FISTA's momentum
  weight), trained end to end on crops of ten photographs and evaluated on
  crops of two others that it never saw
  (:func:`~skunfold.datasets.make_imaging_problem`).

By default the crops are 32 x 32 pixels, 300 of them for training, and the
training runs a few epochs (well under 20 seconds on one core). With the
environment variable ``SKUNFOLD_PAPER_SIZE=1`` there are 2000 training crops
and up to 40 epochs with early stopping (about four minutes).
"""

# %%
# The problem: crops of natural images, blurred and downsampled
# -------------------------------------------------------------
# The operator is built once on 32 x 32 images and shared by the training and
# the test crops; the noise has standard deviation 0.01 (pixels in [0, 1]).
import os
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from scipy.ndimage import zoom

from skunfold.datasets import make_imaging_problem
from skunfold.imaging import ProximalGradient, UnfoldedProximalGradient
from skunfold.metrics import psnr

torch.set_num_threads(1)
if os.environ.get("SKUNFOLD_PAPER_SIZE") == "1":
    n_train, n_test, max_epochs, early_stopping = 2000, 400, 40, True
else:
    n_train, n_test, max_epochs, early_stopping = 300, 100, 8, False
K, noise = 10, 0.01

Y, X, H = make_imaging_problem("superres", images="train", n_samples=n_train, patch_size=32,
                               noise=noise, random_state=0)
Y_test, X_test, _ = make_imaging_problem(H, images="test", n_samples=n_test, noise=noise,
                                         random_state=1)
print(f"operator H: {H.shape[1]} pixels (32 x 32) -> {H.shape[0]} measurements (16 x 16)")
print(f"{len(X)} training crops, {len(X_test)} held-out crops")

# %%
# For reference: bicubic interpolation of the low-resolution crops (no model of
# the blur, no prior).
bicubic = np.stack([zoom(y.reshape(16, 16), 2, order=3) for y in Y_test])
bicubic = np.clip(bicubic, 0, 1).reshape(len(Y_test), -1)
print(f"bicubic interpolation, held-out crops: {psnr(X_test, bicubic):.2f} dB")

# %%
# The classical solver, its weight tuned
# --------------------------------------
# FISTA at ``K = 10`` depends on the weight :math:`\alpha` of the prior. For a
# fair comparison it is tuned on the *training* crops over a few values, and
# the unfolded model starts from the value chosen.
alphas = [3e-4, 1e-3, 3e-3, 1e-2]
train_psnr = {}
for alpha in alphas:
    fista = ProximalGradient(H, prior="wavelet", alpha=alpha, n_layers=K, momentum=True,
                             n_threads=1).fit(Y)
    train_psnr[alpha] = psnr(X, fista.predict(Y))
    print(f"alpha = {alpha:g}: FISTA K={K}, training crops {train_psnr[alpha]:.2f} dB")
alpha = max(train_psnr, key=train_psnr.get)
fista = ProximalGradient(H, prior="wavelet", alpha=alpha, n_layers=K, momentum=True,
                         n_threads=1).fit(Y)
converged = ProximalGradient(H, prior="wavelet", alpha=alpha, n_layers=500, momentum=True,
                             n_threads=1).fit(Y)
print(f"chosen alpha = {alpha:g}")

# %%
# The unfolded solver: learned step sizes and per-level thresholds
# ----------------------------------------------------------------
# Trained to minimise the mean squared error to the high-resolution crops. It
# starts as the FISTA above (an untrained model computes it), and ``keep_best``
# (on by default) compares the trained model with that start after training:
# should training not improve on it, the estimator keeps FISTA and warns
# (a ``UserWarning`` saying that the untrained model is kept), which is then a
# result of this run, not an error.
unfolded = UnfoldedProximalGradient(H, prior="wavelet", alpha=alpha, n_layers=K,
                                    momentum=True, paradigm="hyperparameters",
                                    max_epochs=max_epochs, early_stopping=early_stopping,
                                    n_threads=1, random_state=0)
t0 = time.perf_counter()
unfolded.fit(Y, X)
print(f"trained in {time.perf_counter() - t0:.1f} s; kept: {unfolded.comparison_['kept']}")

# %%
# Held-out images
# ---------------
# Mean PSNR over the held-out crops (photographs never used in training).
results = {
    "bicubic": psnr(X_test, bicubic),
    f"FISTA, K={K}": psnr(X_test, fista.predict(Y_test)),
    "FISTA, 500 iterations": psnr(X_test, converged.predict(Y_test)),
    f"unfolded, K={K}": psnr(X_test, unfolded.predict(Y_test)),
}
for name, value in results.items():
    print(f"{name:<22} {value:6.2f} dB")

# %%
# Before and after
# ----------------
# The two held-out crops with the most detail (largest pixel variance). The
# low-resolution input (16 x 16) is shown enlarged by bicubic interpolation;
# each title gives the PSNR of that crop.
shown = np.argsort(X_test.var(axis=1))[-2:]
fig, axes = plt.subplots(len(shown), 4, figsize=(9, 4.8), layout="constrained")
for row, i in zip(axes, shown):
    truth = X_test[i].reshape(32, 32)
    panels = [("low resolution (bicubic)", bicubic[i]),
              (f"FISTA, K={K}", fista.predict(Y_test[i:i + 1])),
              (f"unfolded, K={K}", unfolded.predict(Y_test[i:i + 1]))]
    for ax, (title, image) in zip(row, panels):
        image = image.reshape(32, 32)
        ax.imshow(image, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(f"{title}\n{psnr(truth, image):.2f} dB", fontsize=10)
    row[-1].imshow(truth, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    row[-1].set_title("ground truth", fontsize=10)
    for ax in row:
        ax.set_axis_off()
fig.suptitle("x2 super-resolution of held-out crops")
plt.show()

# %%
# PSNR per layer
# --------------
# :meth:`~skunfold.imaging.UnfoldedProximalGradient.staged_predict` gives the
# image after each layer: the learned layers against FISTA's iterations, on
# the held-out crops.
layers = np.arange(1, K + 1)
classical_curve = [psnr(X_test, out) for out in fista.staged_predict(Y_test)]
learned_curve = [psnr(X_test, out) for out in unfolded.staged_predict(Y_test)]
fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
ax.plot(layers, classical_curve, "o-", label=f"FISTA (alpha = {alpha:g})")
ax.plot(layers, learned_curve, "s-", label="unfolded (learned steps, thresholds)")
ax.axhline(results["FISTA, 500 iterations"], color="gray", ls="--",
           label="FISTA, 500 iterations")
ax.axhline(results["bicubic"], color="gray", ls=":", label="bicubic")
ax.set_xlabel("layer / iteration k")
ax.set_ylabel("PSNR on held-out crops (dB)")
ax.set_xticks(layers)
ax.legend(loc="center right")
ax.set_title("x2 super-resolution, PSNR per layer")
plt.show()

# %%
# What was learned
# ----------------
# The thresholds per layer and wavelet level, relative to FISTA's
# :math:`\alpha / L` (the approximation band is free and has none).
thresholds = unfolded.layer_parameters_["threshold"]
names = unfolded.prior_.group_names
fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
for g, name in enumerate(names):
    if name in unfolded.prior_.free_groups:
        continue
    ax.plot(layers, thresholds[:, g] / (alpha / unfolded.lipschitz_), "o-", label=name)
ax.axhline(1.0, color="gray", ls="--", label=r"FISTA ($\alpha / L$)")
ax.set_xlabel("layer k")
ax.set_ylabel(r"threshold / ($\alpha / L$)")
ax.set_xticks(layers)
ax.legend(fontsize=9)
plt.show()

# %%
# Reading the results
# -------------------
# At the default budget (300 crops, eight epochs) the learned step sizes and
# thresholds gain about 0.2 dB over FISTA at the same depth on the held-out
# photographs, and the gain is in the last layers: FISTA, its weight tuned for
# ten iterations, peaks around the sixth and then loses PSNR as it heads for
# the minimiser of its objective, while the learned layers (thresholds of the
# middle levels above FISTA's, of the finest and coarsest below) hold their
# PSNR to the last. That minimiser is not the best image: FISTA run to convergence
# (500 iterations) at the same weight is 2 dB worse than at ten, barely above
# bicubic interpolation, which ignores the blur. The gain of learning only the
# steps and thresholds stays small, and more training does not change it:
# with ``SKUNFOLD_PAPER_SIZE=1`` (2000 crops, 40 epochs, about four minutes)
# it was also about 0.2 dB. A step and four thresholds per layer are close to
# all they can give here; larger gains need richer layers, such as the
# ``"dnn"`` paradigm's learned proximal step.
