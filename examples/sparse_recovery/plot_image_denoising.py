"""
===============================================================
Image denoising with a learned dictionary and an unfolded coder
===============================================================

scikit-learn's example `Image denoising using dictionary learning
<https://scikit-learn.org/stable/auto_examples/decomposition/plot_image_denoising.html>`_
learns a dictionary on the patches of the clean left half of a photograph,
adds noise to the right half, codes every overlapping patch of the noisy half
with :class:`~sklearn.decomposition.SparseCoder` and puts the image back
together with :func:`~sklearn.feature_extraction.image.reconstruct_from_patches_2d`.

Here the same workflow codes the patches three ways:

* ``SparseCoder(transform_algorithm="lasso_cd")``: the LASSO solved to
  convergence, patch by patch (the reference);
* :class:`~skunfold.sparse.FISTA` with ``K = 10`` iterations (nothing learned);
* an unfolded coder, LISTA-CP with ``K = 10`` layers
  (:class:`~skunfold.sparse.UnfoldedISTA`), trained to reproduce lasso_cd's
  codes: the original use of LISTA, a fast approximation of a sparse coder.
  Its training patches come from the clean left half with noise of the same
  level added (the noise is synthetic here, as in scikit-learn's example), and
  their targets are lasso_cd's codes of these noisy patches.

The learned dictionary is coherent (its atoms are far from orthogonal), unlike
the Gaussian dictionaries of the other examples; the benchmark
:doc:`/real_dictionaries_benchmark` compares every sparse estimator of the
package on such dictionaries.

By default the image is a 128 x 128 crop of scikit-image's "camera" photograph
(a few seconds on one core). With the environment variable
``SKUNFOLD_PAPER_SIZE=1`` it is the whole photograph at 256 x 256 pixels, with
more training patches and epochs (about a minute).
"""

# %%
# The image, half of it noisy
# ---------------------------
import os
import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.decomposition import MiniBatchDictionaryLearning, SparseCoder
from sklearn.feature_extraction.image import extract_patches_2d, reconstruct_from_patches_2d

from skunfold.datasets import load_image
from skunfold.metrics import psnr
from skunfold.sparse import FISTA, UnfoldedISTA

if os.environ.get("SKUNFOLD_PAPER_SIZE") == "1":
    crop, n_dictionary, n_train, max_epochs = 256, 10000, 8000, 40
else:
    crop, n_dictionary, n_train, max_epochs = 128, 2000, 1500, 10
patch_size, n_atoms, K, noise, alpha = (7, 7), 98, 10, 0.1, 0.1

photo = load_image("camera")  # 256 x 256 pixels in [0, 1]
image = photo[:crop, (256 - crop) // 2:(256 + crop) // 2]
height, width = image.shape
half = width // 2
rng = np.random.default_rng(0)
noisy = image.copy()
noisy[:, half:] += noise * rng.standard_normal((height, width - half))
noisy_psnr = psnr(image[:, half:], noisy[:, half:])
print(f"{height} x {width} image; noisy right half at {noisy_psnr:.2f} dB")

# %%
# A dictionary learned on the clean left half
# -------------------------------------------
# As in scikit-learn's example: patches of the left half (2000 of them at the
# default size), each minus its mean and divided by its standard deviation, and
# :class:`~sklearn.decomposition.MiniBatchDictionaryLearning`; 98 atoms of
# 7 x 7 = 49 pixels (2x over-complete).
left = extract_patches_2d(image[:, :half], patch_size, max_patches=n_dictionary,
                          random_state=0).reshape(-1, 49)
left = left - left.mean(axis=1, keepdims=True)
t0 = time.perf_counter()
learner = MiniBatchDictionaryLearning(n_components=n_atoms, alpha=1.0, batch_size=200,
                                      max_iter=1, random_state=0)
D = learner.fit(left / (left.std(axis=1, keepdims=True) + 1e-8)).components_
gram = np.abs(D @ D.T - np.eye(n_atoms))
print(f"dictionary {D.shape} learned in {time.perf_counter() - t0:.1f} s; "
      f"mutual coherence {gram.max():.2f}")

# %%
# The patches to code: every overlapping patch of the noisy right half
# --------------------------------------------------------------------
right = extract_patches_2d(noisy[:, half:], patch_size).reshape(-1, 49)
intercept = right.mean(axis=1, keepdims=True)
right = right - intercept
print(f"{len(right)} patches to code")


def denoised(codes):
    """The right half put back together from the codes of its patches."""
    patches = (codes @ D + intercept).reshape(len(right), *patch_size)
    return reconstruct_from_patches_2d(patches, (height, width - half))


# %%
# Training the unfolded coder
# ---------------------------
# Training patches: random patches of the clean left half with noise of the
# same level; targets: lasso_cd's codes of these noisy patches at the same
# ``alpha``. The network starts from ISTA (an untrained LISTA-CP computes ISTA)
# and learns one matrix and one threshold per layer.
train = extract_patches_2d(image[:, :half], patch_size, max_patches=n_train,
                           random_state=0).reshape(-1, 49)
train = train + noise * rng.standard_normal(train.shape)
train = train - train.mean(axis=1, keepdims=True)
lasso = SparseCoder(D, transform_algorithm="lasso_cd", transform_alpha=alpha)
targets = lasso.transform(train)

lista = UnfoldedISTA(D, n_layers=K, paradigm="objective", coupling="cp", alpha=alpha,
                     max_epochs=max_epochs, early_stopping=True, n_threads=1, random_state=0)
t0 = time.perf_counter()
lista.fit(train.astype(np.float32), targets.astype(np.float32))
print(f"LISTA-CP trained on {n_train} patches in {time.perf_counter() - t0:.1f} s")

# %%
# Coding the noisy half three ways
# --------------------------------
# Each coder is timed on all the patches of the noisy half (one thread). At
# ``SKUNFOLD_PAPER_SIZE=1`` scikit-learn's lasso_cd may raise a
# ``ConvergenceWarning`` for a few patches: coordinate descent reached its
# iteration limit on them (the dictionary is very coherent; the gap left is tiny).
coders = {
    "lasso_cd": lambda X: lasso.transform(X),
    f"FISTA, K={K}": lambda X: FISTA(D, n_layers=K, alpha=alpha, n_threads=1).fit(X).predict(X),
    f"LISTA-CP, K={K}": lambda X: lista.predict(X),
}
results = {}
for name, code in coders.items():
    X_in = right if name == "lasso_cd" else right.astype(np.float32)
    t0 = time.perf_counter()
    codes = code(X_in)
    seconds = time.perf_counter() - t0
    restored = denoised(np.asarray(codes, dtype=np.float64))
    results[name] = (restored, psnr(image[:, half:], restored), seconds)

base = results["lasso_cd"][2]
print(f"{'coder':<16} {'PSNR (dB)':>10} {'coding (s)':>11} {'speed-up':>9}")
for name, (_, value, seconds) in results.items():
    print(f"{name:<16} {value:10.2f} {seconds:11.3f} {base / seconds:8.1f}x")

# %%
# The images
# ----------
# The left half of every panel is the clean image; only the right half is
# denoised. Titles give the PSNR of the right half and the coding time.
fig, axes = plt.subplots(2, 3, figsize=(9, 6.4), layout="constrained")
shown = {"original": image,
         f"noisy, {noisy_psnr:.2f} dB": noisy}
for name, (restored, value, seconds) in results.items():
    panel = image.copy()
    panel[:, half:] = restored
    shown[f"{name}\n{value:.2f} dB, {seconds:.2f} s"] = panel
mosaic = np.ones((7 * 8, 14 * 8))  # the atoms, each scaled to its own range, 1-pixel gaps
for j, atom in enumerate(D):
    r, c = divmod(j, 14)
    mosaic[r * 8:r * 8 + 7, c * 8:c * 8 + 7] = ((atom - atom.min()) / np.ptp(atom)).reshape(7, 7)
panels = list(shown.items())
order = [panels[0], panels[1], ("dictionary (98 atoms)", mosaic)] + panels[2:]
for ax, (title, img) in zip(axes.ravel(), order):
    ax.imshow(img, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_title(title, fontsize=10)
    ax.set_axis_off()
fig.suptitle("Denoising the right half: lasso_cd, FISTA and an unfolded coder")
plt.show()

# %%
# The unfolded coder computes ten layers of two matrix products each, for all
# patches at once; lasso_cd runs coordinate descent to convergence on each
# patch. Trained to approximate lasso_cd, it reaches about the same PSNR at a
# fraction of the time (the training, a few seconds, is paid once and reused
# on every new image of the same kind). FISTA at the same depth, untrained, is
# as fast; how close it comes depends on the image and on ``alpha`` (see
# :doc:`/real_dictionaries_benchmark`).
