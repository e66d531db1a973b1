"""
=====================================================
Tracking a drifting channel with DeepSIC partial_fit
=====================================================

The SED channel of four BPSK users varies from block to block: user ``u``'s
column is scaled by ``0.8 + 0.2 cos(2 pi t / P_u)`` at block ``t``, with
periods of 21 to 51 blocks. Every block starts with pilots, followed by the
data to detect.

A :class:`~skunfold.mimo.DeepSICClassifier` trained on the first block only
slowly loses track of the channel. Since DeepSIC is a stack of small per-user
networks, it can be updated cheaply: :meth:`~skunfold.mimo.DeepSICClassifier.partial_fit`
takes a few gradient steps on each new block's pilots (``adapt_epochs`` per
layer), a fraction of the cost of training from scratch. Soft interference
cancellation given the true channel of every block is shown for reference.

By default the example is small (a few seconds); ``SKUNFOLD_PAPER_SIZE=1``
runs the 100-block setting of the DeepSIC papers (500 pilots and 10,000 data
symbols per block, 12 dB).
"""

import copy
import os
import time

import matplotlib.pyplot as plt
import numpy as np

from skunfold.datasets import make_mimo_stream
from skunfold.metrics import symbol_error_rate
from skunfold.mimo import DeepSICClassifier, SoftICDetector

PAPER = os.environ.get("SKUNFOLD_PAPER_SIZE", "0") == "1"
n_frames, n_data = (100, 10000) if PAPER else (25, 1000)
snr_db = 12.0
params = (dict(n_layers=5, max_epochs=1000) if PAPER
          else dict(n_layers=3, max_epochs=300))

# %%
# Detect block after block
# ------------------------

ser = {"soft IC (true channel)": [], "DeepSIC trained once": [], "DeepSIC + partial_fit": []}
adapt_seconds = []
for frame in make_mimo_stream(n_frames=n_frames, n_pilots=500, n_data=n_data,
                              snr_db=snr_db, random_state=0):
    if frame.index == 0:
        once = DeepSICClassifier(constellation="bpsk", adapt_epochs=10, random_state=0,
                                 **params).fit(frame.X_pilots, frame.y_pilots)
        tracked = copy.deepcopy(once)
    else:
        start = time.perf_counter()
        tracked.partial_fit(frame.X_pilots, frame.y_pilots)
        adapt_seconds.append(time.perf_counter() - start)
    soft = SoftICDetector(channel=frame.channel, noise_var=10 ** (-snr_db / 10),
                          constellation="bpsk").fit(frame.X)
    for name, det in zip(ser, (soft, once, tracked)):
        ser[name].append(symbol_error_rate(frame.y, det.predict(frame.X)))

for name, values in ser.items():
    print(f"{name:24s} mean SER {np.mean(values):.2e}")
print(f"partial_fit: {np.mean(adapt_seconds):.2f} s per block")

# %%
# SER per block
# -------------
# Blocks without errors are drawn at the bottom of the axis.

floor = 0.5 / (4 * n_data)
with plt.rc_context({"font.size": 12}):  # legible when the figure is shown at page width
    fig, ax = plt.subplots(figsize=(8, 4))
    for (name, values), style in zip(ser.items(), ("k--", "C1-", "C0-")):
        ax.semilogy(np.maximum(values, floor), style, label=name)
    ax.set_xlabel("block")
    ax.set_ylabel("symbol error rate")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
plt.show()
