"""
==========================================================
Export a trained LISTA to ONNX and run it with onnxruntime
==========================================================

An unfolded network is a fixed, small number of layers: once trained, it no
longer needs skunfold, scikit-learn or even Python. Here a LISTA is trained in
a few seconds, then written with :mod:`skunfold.export` as

* an ONNX model in float32 (:func:`~skunfold.export.to_onnx`), and with int8
  weights (``quantize="int8"``, onnxruntime's dynamic quantisation),
* a ``torch.export`` program (:func:`~skunfold.export.to_torch`),

reloaded from the files, checked against ``predict`` and timed at batch 1,
each backend on one thread. The per-family figures (every family, batch 1 and
1024, float16 too) are in ``benchmarks/deployment.py`` and in the
:doc:`deployment guide </deployment>`.

Set ``SKUNFOLD_PAPER_SIZE=1`` for the LISTA papers' problem (250 x 500, 16
layers), longer to train and to export.
"""

# %%
# A trained LISTA
# ---------------
import os
import shutil
import tempfile
import timeit

import matplotlib.pyplot as plt
import numpy as np
import onnx
import onnxruntime as ort
import torch

from skunfold.datasets import make_sparse_recovery
from skunfold.export import to_onnx, to_torch
from skunfold.metrics import nmse_db
from skunfold.sparse import UnfoldedISTA

torch.set_num_threads(1)
if os.environ.get("SKUNFOLD_PAPER_SIZE") == "1":
    m, n, K, n_train, max_epochs = 250, 500, 16, 20000, 50
else:
    m, n, K, n_train, max_epochs = 32, 64, 6, 2000, 10

X, S, D = make_sparse_recovery(n_samples=n_train, n_measurements=m, n_components=n,
                               random_state=0)
X_test, S_test, _ = make_sparse_recovery(n_samples=1000, n_measurements=m, n_components=n,
                                         dictionary=D, random_state=1)
X, X_test = X.astype(np.float32), X_test.astype(np.float32)  # a float32 model
lista = UnfoldedISTA(D, n_layers=K, max_epochs=max_epochs, batch_size=64, random_state=0)
lista.fit(X, S)
print(f"LISTA, {K} layers: held-out NMSE {nmse_db(S_test, lista.predict(X_test)):.2f} dB")

# %%
# Export, save, reload
# --------------------
# ``X_test[:2]`` fixes what the models take: float32 rows of ``m`` measurements,
# any number of them. The files are all a deployment needs: onnxruntime (or
# PyTorch) loads them without skunfold.
folder = tempfile.mkdtemp()
files = {"ONNX fp32": os.path.join(folder, "lista.onnx"),
         "ONNX int8": os.path.join(folder, "lista.int8.onnx"),
         "torch.export": os.path.join(folder, "lista.pt2")}
onnx.save(to_onnx(lista, X_test[:2]), files["ONNX fp32"])
onnx.save(to_onnx(lista, X_test[:2], quantize="int8"), files["ONNX int8"])
torch.export.save(to_torch(lista, X_test[:2]), files["torch.export"])
for name, path in files.items():
    print(f"{name:<13} {os.path.getsize(path) / 1e3:7.1f} kB")

options = ort.SessionOptions()
options.intra_op_num_threads = options.inter_op_num_threads = 1
sessions = {name: ort.InferenceSession(files[name], options,
                                       providers=["CPUExecutionProvider"])
            for name in ("ONNX fp32", "ONNX int8")}
program = torch.export.load(files["torch.export"]).module()
shutil.rmtree(folder)  # the models are in memory now

# %%
# The same codes as ``predict``
# -----------------------------
# The float32 graph computes what ``predict`` computes, to float rounding; the
# int8 weights cost a fraction of a decibel.
reference = lista.predict(X_test)
outputs = {name: session.run(None, {"X": X_test})[0] for name, session in sessions.items()}
with torch.inference_mode():
    outputs["torch.export"] = program(torch.from_numpy(X_test))[0].numpy()
print(f"{'predict':<13} NMSE {nmse_db(S_test, reference):7.2f} dB")
for name, codes in outputs.items():
    print(f"{name:<13} NMSE {nmse_db(S_test, codes):7.2f} dB, largest difference to predict "
          f"{np.abs(codes - reference).max():.1e}")

# %%
# Latency at batch 1
# ------------------
# ``predict`` validates its input and converts arrays on every call; an
# exported graph is the layers alone. Each figure is the best of 5 repeats of
# the mean time per call.
x1 = X_test[:1]
t1 = torch.from_numpy(x1)


def run_program():
    with torch.inference_mode():
        return program(t1)


calls = {"predict": lambda: lista.predict(x1), "torch.export": run_program}
calls.update({name: (lambda s=session: s.run(None, {"X": x1}))
              for name, session in sessions.items()})
latency = {name: 1e6 * min(timeit.repeat(call, number=200, repeat=5)) / 200
           for name, call in calls.items()}
for name, us in latency.items():
    print(f"{name:<13} {us:8.1f} us per sample ({latency['predict'] / us:5.1f}x predict)")

fig, ax = plt.subplots(figsize=(6, 3.2))
ax.barh(list(latency), list(latency.values()), color=["0.6", "C0", "C1", "C2"])
ax.set_xscale("log")
ax.invert_yaxis()
ax.set_xlabel("latency at batch 1 (microseconds, one thread, log scale)")
ax.set_title(f"LISTA ({m} x {n}, {K} layers)")
ax.grid(True, axis="x", alpha=0.3)
fig.tight_layout()
