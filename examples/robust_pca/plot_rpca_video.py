"""
=====================================================
Background subtraction with unfolded robust PCA
=====================================================

A static camera films a scene: the background changes only slowly (a global
flicker and a sweeping light make it rank 2) while a few objects move across
it. Stacking the frames as the columns of a matrix, the background is a
low-rank matrix and the objects a sparse one -- robust PCA's model. We
separate them on synthetic videos with ground truth
(:func:`~skunfold.datasets.make_static_video`):

* with the classical solver (:class:`~skunfold.rpca.RobustPCA`) run for a few
  iterations and to convergence, and
* with :class:`~skunfold.rpca.LearnedRPCA` (``paradigm="hyperparameters"``,
  i.e. LRPCA) unfolded to the same few layers and trained on other videos.

By default the frames are 24 x 32 pixels and 40 frames long (seconds on one
core); ``SKUNFOLD_PAPER_SIZE=1`` uses 48 x 64 pixels and 100 frames.
"""

# %%
# Synthetic videos with ground truth
# ----------------------------------
import math
import os

import matplotlib.pyplot as plt
import numpy as np

from skunfold.core import SequentialEndToEnd
from skunfold.datasets import make_static_video
from skunfold.rpca import LearnedRPCA, RobustPCA

if os.environ.get("SKUNFOLD_PAPER_SIZE") == "1":
    frame_shape, n_frames, n_videos, max_epochs = (48, 64), 100, 17, 40
else:
    frame_shape, n_frames, n_videos, max_epochs = (24, 32), 40, 13, 20
K = 6
# sequential training, ceil(max_epochs / (2 K)) epochs per layer, then max_epochs / 2 end to end
schedule = SequentialEndToEnd(epochs_per_stage=math.ceil(max_epochs / (2 * K)))

X, background, foreground = make_static_video(n_videos=n_videos, n_frames=n_frames,
                                              frame_shape=frame_shape, n_objects=3,
                                              random_state=0)
X_train, B_train = X[:-1], background[:-1]
video, truth = X[-1], background[-1]  # one held-out video: (pixels, frames)
print(f"{n_videos - 1} training videos; each a {video.shape[0]} x {video.shape[1]} matrix")


def relative_error(B):
    return np.linalg.norm(B - truth) / np.linalg.norm(truth)


# %%
# Classical solver and unfolded model
# -----------------------------------
# The learned model is trained on the other videos, supervised by their
# backgrounds; the classical solver needs no training. ``decompose`` returns
# the low-rank (background) and sparse (foreground) parts.
few = RobustPCA(rank=2, n_layers=K).fit(video)
many = RobustPCA(rank=2, n_layers=200).fit(video)
learned = LearnedRPCA(rank=2, n_layers=K, max_epochs=max_epochs, loss_schedule=schedule,
                      batch_size=2, random_state=0).fit(X_train, B_train)

results = {f"classical, {K} iterations": few.decompose(video),
           "classical, 200 iterations": many.decompose(video),
           f"learned, {K} layers": learned.decompose(video)}
for name, (B, F) in results.items():
    print(f"{name:>26}: background error {relative_error(B):.1e}")

# %%
# A few frames
# ------------
# Rows: the observed frame, the true background, then the background and the
# foreground found by the classical solver and by the unfolded model at the
# same depth ``K``.
frames = np.linspace(0, n_frames - 1, 4).astype(int)
rows = [("observed", video), ("true background", truth),
        (f"classical ({K} it.): background", results[f"classical, {K} iterations"][0]),
        (f"classical ({K} it.): foreground", results[f"classical, {K} iterations"][1]),
        (f"learned ({K} layers): background", results[f"learned, {K} layers"][0]),
        (f"learned ({K} layers): foreground", results[f"learned, {K} layers"][1])]
fig, axes = plt.subplots(len(rows), len(frames), figsize=(2.2 * len(frames), 1.9 * len(rows)))
for r, (label, M) in enumerate(rows):
    fg = "foreground" in label
    for c, t in enumerate(frames):
        ax = axes[r, c]
        img = M[:, t].reshape(frame_shape)
        ax.imshow(np.abs(img) if fg else img, cmap="gray", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        if r == 0:
            ax.set_title(f"frame {t}")
        if c == 0:
            ax.set_ylabel(label, fontsize=7)
fig.tight_layout()
plt.show()
