"""
===========================================================
DeepSIC vs soft interference cancellation: SER against SNR
===========================================================

Four users send BPSK symbols to a receiver with four antennas over the
spatial-exponential-decay (SED) channel ``H[n, u] = exp(-|n - u|)``. We compare

* :class:`~skunfold.mimo.SoftICDetector`, the model-based iterative soft
  interference cancellation, which is given the true channel and noise variance;
* :class:`~skunfold.mimo.LMMSEDetector`, the linear MMSE reference;
* :class:`~skunfold.mimo.DeepSICClassifier`, the same iterations unfolded into
  small per-user networks learned from pilots alone (no channel knowledge).

On the linear Gaussian channel soft IC is close to optimal and DeepSIC
approaches it. Behind a saturating receiver front end, ``x <- tanh(0.5 x)``,
the linear model soft IC relies on no longer holds, while DeepSIC simply learns
the non-linear channel from its pilots.

By default the example is small (a few seconds); set the environment variable
``SKUNFOLD_PAPER_SIZE=1`` for the paper's setting (0-14 dB, 500 pilots,
5 layers trained 200 epochs each, 20,000 test symbols).
"""

import os

import matplotlib.pyplot as plt
import numpy as np

from skunfold.datasets import make_mimo
from skunfold.metrics import symbol_error_rate
from skunfold.mimo import DeepSICClassifier, LMMSEDetector, SoftICDetector

PAPER = os.environ.get("SKUNFOLD_PAPER_SIZE", "0") == "1"
if PAPER:
    snrs = np.arange(0, 15, 2)
    n_pilots, n_test = 500, 20000
    deepsic_params = dict(n_layers=5, max_epochs=1000)
else:
    snrs = np.array([4, 8, 12])
    n_pilots, n_test = 500, 5000
    deepsic_params = dict(n_layers=3, max_epochs=150)

# %%
# Symbol error rates
# ------------------
# For each SNR we draw pilots and test symbols over the same channel
# realisation (``channel=H`` passes it back), train DeepSIC on the pilots and
# detect the test symbols with every detector.

results = {}
for receiver in (None, "tanh"):
    rows = []
    for snr in snrs:
        noise_var = 10.0 ** (-snr / 10)
        X_pilots, y_pilots, H = make_mimo(n_pilots, snr_db=snr, nonlinearity=receiver,
                                          random_state=0)
        X, y, _ = make_mimo(n_test, snr_db=snr, channel=H, nonlinearity=receiver,
                            random_state=1)
        soft = SoftICDetector(channel=H, noise_var=noise_var, constellation="bpsk").fit(X)
        mmse = LMMSEDetector(channel=H, noise_var=noise_var, constellation="bpsk").fit(X)
        deep = DeepSICClassifier(constellation="bpsk", random_state=0,
                                 **deepsic_params).fit(X_pilots, y_pilots)
        rows.append([symbol_error_rate(y, det.predict(X)) for det in (soft, mmse, deep)])
    results["linear" if receiver is None else receiver] = np.array(rows)

for name, rows in results.items():
    print(f"{name} receiver")
    for snr, (s, m, d) in zip(snrs, rows):
        print(f"  {snr:4.0f} dB  soft IC {s:.2e}  LMMSE {m:.2e}  DeepSIC {d:.2e}")

# %%
# Plot
# ----
# Zero errors are drawn at the bottom of the axis (fewer than one error in
# ``n_test`` symbols).

floor = 0.5 / (4 * n_test)
with plt.rc_context({"font.size": 13}):  # legible when the figure is shown at page width
    fig, axes = plt.subplots(1, 2, figsize=(9, 4), sharey=True)
    for ax, (name, rows) in zip(axes, results.items()):
        for col, (label, style) in enumerate([("soft IC (true channel)", "s-"),
                                              ("LMMSE (true channel)", "^--"),
                                              ("DeepSIC (pilots only)", "o-")]):
            ax.semilogy(snrs, np.maximum(rows[:, col], floor), style, label=label)
        ax.set_title(f"{name} receiver")
        ax.set_xticks(snrs)
        ax.set_xlabel("SNR [dB]")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("symbol error rate")
    axes[1].legend(fontsize=11)
    fig.tight_layout()
plt.show()
