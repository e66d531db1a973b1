"""Deployment: one fitted model per family, run by predict, torch.export and onnxruntime.

Issue 25's deployment benchmark. For one trained model of every family, the
script exports the model with :mod:`skunfold.export` and reports, per backend:

* ``predict``: the estimator's ``predict`` on a numpy array;
* ``torch.export``: ``to_torch(est, X[:2]).module()`` in eager PyTorch, under
  ``torch.inference_mode``, on the tensor of :func:`skunfold.export.as_input`;
* ``ort fp32``: ``to_onnx(est, X[:2])`` run by onnxruntime (CPU, one thread);
* ``ort int8``: that model after onnxruntime's dynamic int8 quantisation
  (``quantize_dynamic`` on the fp32 file: what ``to_onnx(..., quantize="int8")``
  does, without exporting twice);
* ``ort fp16``: ``to_onnx(est, X[:2], dtype=torch.float16)`` (half-precision weights
  and arithmetic, float32 input and output), where onnxruntime's CPU kernels run it;

the latency at batch 1 and batch 1024 (64 matrices for robust PCA), each the
minimum over repeats of the mean time per call (``timeit.repeat``; one torch
thread, one onnxruntime thread, wall clock), the file size of each exported
model (``.pt2`` and ``.onnx``), and the accuracy of each backend on the
held-out set in the family's own metric: NMSE (dB) of the codes, of the
low-rank part, of the distributed estimate; the symbol error rate; the sum
rate (bit/s/Hz) of the power allocation; the rate (nats per band) of the
hybrid precoders; the PSNR (dB) of the deblurred crops. ``speedup`` is
``predict(1) / ort fp32(1)`` (issue 25 asks for at least 5).

The models: in full mode those of ``benchmarks/predict_latency.py`` (LISTA
250x500 K=16, LearnedRPCA 48x48 rank 3 K=10, DeepSIC 4x4 BPSK K=3,
UnfoldedWMMSE 20 pairs K=4, UnfoldedHybridPGA 8 bands x 6 users x 12 antennas
K=10, UnfoldedDADMM 10 agents 50x100 K=10, UnfoldedProximalGradient on 32x32
blurred crops K=10) and Gregor and LeCun's tied LISTA at the same size, whose
one layer of weights stays in the cache (the untied model reads 16 MB per
call); ``--quick`` keeps them but for those whose ONNX export takes minutes
(the unrolled local solves of D-ADMM, the hybrid precoders) and robust PCA's
size: LearnedRPCA 32x32 K=10, UnfoldedDADMM 5 agents 20x40 K=5,
UnfoldedHybridPGA K=5.

A backend that fails (an export that raises or runs over ``--export-timeout``
seconds, a runtime without the kernels) is reported with its error message
instead of figures; the script goes on.

Training is short (the figures compare backends on the same model, not the
model's quality): ``--quick`` trains each model for 3 epochs on a few hundred
samples (DeepSIC: its default budget, early stopping) and leaves out float16
(``--fp16`` adds it); the full mode trains 20 epochs on more samples, times
more calls per point and runs float16. The ONNX exports take most of the time
(minutes for robust PCA, D-ADMM and the hybrid precoder, whose unrolled
factorisations and solves make large graphs; a busy machine multiplies them).

Usage::

    python benchmarks/deployment.py --quick     # minutes (ONNX exports dominate); no fp16
    python benchmarks/deployment.py             # more training, more repeats, fp16
    python benchmarks/deployment.py --quick --fp16 --families lista deepsic

Writes ``benchmarks/results/deployment_{quick,full}.{txt,json}`` (``--out`` for
another prefix). Needs the ``export`` extra (onnx, onnxruntime, onnxscript).
"""

import argparse
import contextlib
import io
import json
import logging
import os
import platform
import signal
import tempfile
import time
import timeit

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402
from onnxruntime.quantization import QuantType, quantize_dynamic  # noqa: E402
from recording import Recorder  # noqa: E402

torch.set_num_threads(1)

from skunfold.beamforming import UnfoldedHybridPGA, sum_rate  # noqa: E402
from skunfold.datasets import (  # noqa: E402
    make_distributed_lasso,
    make_imaging_problem,
    make_interference_network,
    make_mimo,
    make_rpca,
    make_sparse_recovery,
    make_wideband_channels,
)
from skunfold.distributed import UnfoldedDADMM  # noqa: E402
from skunfold.export import as_input, to_onnx, to_torch  # noqa: E402
from skunfold.imaging import UnfoldedProximalGradient  # noqa: E402
from skunfold.metrics import nmse_db, psnr, symbol_error_rate  # noqa: E402
from skunfold.mimo import DeepSICClassifier  # noqa: E402
from skunfold.power import UnfoldedWMMSE  # noqa: E402
from skunfold.rpca import LearnedRPCA  # noqa: E402
from skunfold.sparse import UnfoldedISTA  # noqa: E402

F32 = np.float32
N_TEST = 1024
#: Training budget per mode: (training samples, epochs).
BUDGET = {True: (400, 3), False: (2000, 20)}


class Case:
    """A fitted model, its held-out inputs and the family's metric of ``predict``-like outputs."""

    def __init__(self, name, metric, estimator, X, score, budget):
        self.name, self.metric, self.estimator, self.X = name, metric, estimator, X
        self.score, self.budget = score, budget


def _train(quick, rows=None):
    n, epochs = BUDGET[quick]
    return (n if rows is None else rows), dict(max_epochs=epochs, early_stopping=False,
                                               random_state=0, device="cpu", n_threads=1)


def lista(quick):
    n, fit = _train(quick)
    X, S, D = make_sparse_recovery(n + N_TEST, 250, 500, random_state=0)
    est = UnfoldedISTA(D, n_layers=16, paradigm="objective", batch_size=64, **fit)
    est.fit(X[:n].astype(F32), S[:n].astype(F32))
    return Case("LISTA (250x500, K=16)", "NMSE dB", est, X[n:].astype(F32),
                lambda out: nmse_db(S[n:], out), f"{n} samples, {fit['max_epochs']} epochs")


def lista_tied(quick):
    # Gregor and LeCun's LISTA shares one layer's matrices across the depth: 1.5 MB of weights
    # that stay in the cache, where the untied model reads 16 MB at every call
    n, fit = _train(quick)
    X, S, D = make_sparse_recovery(n + N_TEST, 250, 500, random_state=0)
    est = UnfoldedISTA(D, n_layers=16, paradigm="objective", tied=True, batch_size=64, **fit)
    est.fit(X[:n].astype(F32), S[:n].astype(F32))
    return Case("LISTA tied (250x500, K=16)", "NMSE dB", est, X[n:].astype(F32),
                lambda out: nmse_db(S[n:], out), f"{n} samples, {fit['max_epochs']} epochs")


def rpca(quick):
    n, fit = _train(quick, rows=32 if quick else 200)
    size, K = (32, 10) if quick else (48, 10)
    fit["max_epochs"] = max(fit["max_epochs"], 4)  # the schedule needs an epoch per stage
    X, L, _ = make_rpca(n + 64, (size, size), rank=3, outlier_fraction=0.1, random_state=0)
    est = LearnedRPCA(rank=3, n_layers=K, paradigm="hyperparameters",
                      loss_schedule="end_to_end", **fit)
    est.fit(X[:n].astype(F32), L[:n].astype(F32))
    return Case(f"LearnedRPCA ({size}x{size}, r=3, K={K})", "NMSE dB", est, X[n:].astype(F32),
                lambda out: nmse_db(L[n:].reshape(64, -1), out.reshape(64, -1)),
                f"{n} matrices, {fit['max_epochs']} epochs")


def deepsic(quick):
    n, _ = _train(quick)
    X, y, _ = make_mimo(n + N_TEST, n_users=4, n_antennas=4, constellation="bpsk", snr_db=10,
                        random_state=0)
    # DeepSIC's own budget (up to 1000 epochs per layer, early stopping): a few seconds here
    est = DeepSICClassifier(n_layers=3, constellation="bpsk", random_state=0, device="cpu",
                            n_threads=1)
    est.fit(X[:n].astype(F32), y[:n])
    return Case("DeepSIC (4x4 BPSK, K=3)", "SER", est, X[n:].astype(F32),
                lambda out: symbol_error_rate(y[n:], out), f"{n} samples, early stopping")


def uwmmse(quick):
    n, fit = _train(quick)
    X, _ = make_interference_network(n + N_TEST, n_pairs=20, random_state=0)
    est = UnfoldedWMMSE(n_layers=4, batch_size=64, **fit).fit(X[:n].astype(F32))
    test = X[n:].astype(F32)
    return Case("UWMMSE (M=20, K=4)", "rate b/s/Hz", est, test,
                lambda out: float(est.sum_rates(test, np.clip(out, 0, None)).mean()),
                f"{n} samples, {fit['max_epochs']} epochs")


def pga(quick):
    n, fit = _train(quick, rows=64 if quick else 1000)
    K = 5 if quick else 10
    H = make_wideband_channels(n + N_TEST, n_bands=8, n_users=6, n_antennas=12,
                               random_state=0).astype(np.complex64)
    est = UnfoldedHybridPGA(n_layers=K, n_rf_chains=6, paradigm="hyperparameters",
                            **fit).fit(H[:n])
    return Case(f"hybrid PGA (8x6x12, L=6, K={K})", "rate nats", est, H[n:],
                lambda out: float(sum_rate(H[n:], out).mean()),
                f"{n} samples, {fit['max_epochs']} epochs")


def dadmm(quick):
    # the agents' local solves are exported as unrolled eliminations: a graph (and an export
    # time) that grows with the agents, the atoms and the depth
    n, fit = _train(quick)
    agents, m, p, K = (5, 20, 40, 5) if quick else (10, 50, 100, 10)
    X, S, D, G = make_distributed_lasso(n + N_TEST, n_agents=agents, n_measurements=m,
                                        n_components=p, edge_probability=0.4, random_state=0)
    est = UnfoldedDADMM(G, D, n_layers=K, **fit)
    est.fit(X[:n].astype(F32), S[:n].astype(F32))
    return Case(f"D-ADMM ({agents} agents, {m}x{p}, K={K})", "NMSE dB", est,
                X[n:].astype(F32), lambda out: nmse_db(S[n:], out),
                f"{n} samples, {fit['max_epochs']} epochs")


def imaging(quick):
    n, fit = _train(quick, rows=64 if quick else 500)
    Y, images, A = make_imaging_problem("blur", n_samples=n, patch_size=32, random_state=0)
    Y_test, images_test, _ = make_imaging_problem("blur", images="test", n_samples=N_TEST,
                                                  patch_size=32, random_state=1)
    est = UnfoldedProximalGradient(A, prior="l1", alpha=0.01, n_layers=10,
                                   paradigm="hyperparameters", batch_size=16, **fit)
    est.fit(Y.astype(F32), images.astype(F32))
    return Case("proximal gradient (blur 32x32, K=10)", "PSNR dB", est, Y_test.astype(F32),
                lambda out: psnr(images_test, out), f"{n} crops, {fit['max_epochs']} epochs")


FAMILIES = {"lista": lista, "lista_tied": lista_tied, "rpca": rpca, "deepsic": deepsic,
            "uwmmse": uwmmse, "pga": pga, "dadmm": dadmm, "imaging": imaging}
BACKENDS = ("predict", "torch", "ort fp32", "ort int8", "ort fp16")


def _error(exc):
    """``Type: message`` of an exception, and of its root cause (the exporters chain them)."""
    text = f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
    cause = exc.__cause__
    while cause is not None and cause.__cause__ is not None:
        cause = cause.__cause__
    if cause is not None:
        text += f" (caused by {type(cause).__name__}: {' '.join(str(cause).split())[:200]})"
    return text


def _like_predict(out, reference):
    """An exported output in ``predict``'s form: complex from a last axis (real, imag)."""
    out = np.asarray(out)
    if np.iscomplexobj(reference) and not np.iscomplexobj(out):
        out = out[..., 0] + 1j * out[..., 1]
    return out


def _session(path):
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def _latency(fn, quick):
    """The minimum over repeats of the mean seconds per call of ``fn``."""
    fn()  # warm-up (and first-call set-up)
    once = min(timeit.repeat(fn, number=1, repeat=2))
    number = max(1, int((0.05 if quick else 0.2) / max(once, 1e-7)))
    return min(timeit.repeat(fn, number=number, repeat=3 if quick else 7)) / number


class ExportTimeout(Exception):
    """An export that ran over the time limit."""


def _limited(export, seconds):
    """``export()``, interrupted after ``seconds`` (SIGALRM; no limit where there is none)."""
    if not seconds or not hasattr(signal, "SIGALRM"):
        return export()

    def stop(*_):
        raise ExportTimeout(f"the export ran over {seconds} s (--export-timeout)")
    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(int(seconds))
    try:
        return export()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _runners(case, folder, fp16, timeout):
    """``{backend: (callable of an input, input layout, file size or None)}`` and the errors."""
    est, sample = case.estimator, case.X[:2]
    runners, errors = {"predict": (est.predict, "numpy", None)}, {}
    try:
        program = _limited(lambda: to_torch(est, sample), timeout)
        path = os.path.join(folder, "model.pt2")
        torch.export.save(program, path)
        module = program.module()

        def run_torch(x):
            with torch.inference_mode():
                return module(x)[0]
        runners["torch"] = (run_torch, "tensor", os.path.getsize(path))
    except Exception as exc:  # noqa: BLE001 - reported in the table
        errors["torch"] = _error(exc)
    fp32 = os.path.join(folder, "model.onnx")
    try:
        onnx.save(_limited(lambda: to_onnx(est, sample), timeout), fp32)
        runners["ort fp32"] = _ort_runner(fp32)
    except Exception as exc:  # noqa: BLE001
        errors["ort fp32"] = errors["ort int8"] = _error(exc)
    if "ort fp32" in runners:
        int8 = os.path.join(folder, "model.int8.onnx")
        try:
            root = logging.getLogger()  # onnxruntime.quantization's advice on the root logger
            level = root.level
            root.setLevel(logging.ERROR)
            try:  # (and its shape-inference notes, printed)
                with contextlib.redirect_stdout(io.StringIO()), \
                        contextlib.redirect_stderr(io.StringIO()):
                    quantize_dynamic(fp32, int8, weight_type=QuantType.QInt8)
            finally:
                root.setLevel(level)
            runners["ort int8"] = _ort_runner(int8)
        except Exception as exc:  # noqa: BLE001
            errors["ort int8"] = _error(exc)
    if fp16:
        path = os.path.join(folder, "model.fp16.onnx")
        try:
            onnx.save(_limited(lambda: to_onnx(est, sample, dtype=torch.float16), timeout), path)
            runners["ort fp16"] = _ort_runner(path)
        except Exception as exc:  # noqa: BLE001
            errors["ort fp16"] = _error(exc)
    else:
        errors["ort fp16"] = "not run (--fp16 runs it)"
    return runners, errors


def _ort_runner(path):
    session = _session(path)

    def run(x):
        return session.run(None, {"X": x})[0]
    return run, "array", os.path.getsize(path)


def measure(key, quick, fp16, timeout):
    t0 = time.perf_counter()
    with Recorder() as recorder:
        case = FAMILIES[key](quick)
    est, X = case.estimator, case.X
    row = {"family": case.name, "metric": case.metric, "training": case.budget,
           "fit_s": time.perf_counter() - t0, "backends": {}}
    big = len(X)
    reference = est.predict(X)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder, Recorder() as export_warnings:
        runners, errors = _runners(case, folder, fp16, timeout)
        row["export_s"] = time.perf_counter() - t0
        for backend in BACKENDS:
            if backend not in runners:
                row["backends"][backend] = {"error": errors.get(backend, "not run")}
                continue
            fn, layout, size = runners[backend]
            entry = {"file_bytes": size}
            try:
                inputs = {b: (X[:b] if layout == "numpy" else as_input(X[:b]) if layout ==
                              "tensor" else as_input(X[:b]).numpy()) for b in (1, big)}
                out = fn(inputs[big])
                out = _like_predict(out.numpy() if torch.is_tensor(out) else out, reference)
                entry["score"] = float(case.score(out))
                if out.dtype.kind in "fc":
                    scale = float(np.abs(reference).max()) or 1.0
                    entry["max_abs_diff"] = float(np.abs(out - reference).max()) / scale
                else:
                    entry["mismatches"] = int(np.sum(out != reference))
                for b, key in ((1, "us_1"), (big, "us_batch")):
                    entry[key] = 1e6 * _latency(lambda x=inputs[b]: fn(x), quick)
            except Exception as exc:  # noqa: BLE001
                entry = {"error": _error(exc)}
            row["backends"][backend] = entry
    row["batch"] = big
    row["warnings"] = recorder.seen + export_warnings.seen
    one, ort1 = row["backends"]["predict"], row["backends"]["ort fp32"]
    row["speedup"] = one["us_1"] / ort1["us_1"] if "us_1" in ort1 else None
    return row


def _fmt(value, spec, missing="--"):
    return missing if value is None else format(value, spec)


def table(rows):
    """Latency, file sizes and accuracy per family and backend, then the errors."""
    lines = [f"{'family / backend':<40}{'us (1)':>10}{'us (B)':>11}{'B':>6}{'file MB':>9}"
             f"{'metric':>13}{'max |diff|':>12}"]
    notes = []
    for r in rows:
        speed = _fmt(r["speedup"], ".1f")
        lines.append(f"{r['family']}  [{r['metric']}; trained on {r['training']}; "
                     f"predict(1) / ort fp32(1) = {speed}]")
        for backend in BACKENDS:
            e = r["backends"][backend]
            if "error" in e:
                lines.append(f"  {backend:<38}{'--':>10}{'--':>11}{'':>6}{'--':>9}"
                             f"{'--':>13}{'(error)':>12}")
                notes.append(f"{r['family']}, {backend}: {e['error']}")
                continue
            size = None if e["file_bytes"] is None else e["file_bytes"] / 1e6
            diff = e.get("max_abs_diff")
            diff = _fmt(diff, ".1e") if diff is not None else f"{e['mismatches']} diff"
            lines.append(f"  {backend:<38}{e['us_1']:>10.0f}{e['us_batch']:>11.0f}"
                         f"{r['batch']:>6}{_fmt(size, '.3f'):>9}{e['score']:>13.4f}"
                         f"{diff:>12}")
    if notes:
        lines += ["", "errors:"] + [f"  {n}" for n in notes]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="short training, fewer calls per point")
    parser.add_argument("--families", nargs="+", choices=list(FAMILIES), default=list(FAMILIES))
    parser.add_argument("--fp16", action=argparse.BooleanOptionalAction, default=None,
                        help="also export and run float16 ONNX models (a second export per "
                             "model; default: in full mode only)")
    parser.add_argument("--export-timeout", type=float, default=600,
                        help="seconds an export may take before it counts as failed (0: none)")
    parser.add_argument("--out", default=None, help="prefix of the .txt and .json outputs")
    args = parser.parse_args()
    args.fp16 = not args.quick if args.fp16 is None else args.fp16
    start, rows = time.perf_counter(), []
    for key in args.families:
        rows.append(measure(key, args.quick, args.fp16, args.export_timeout))
        print(table(rows[-1:]), flush=True)
    meets = [r["family"] for r in rows if r["speedup"] is not None and r["speedup"] >= 5]
    text = (f"Deployment: latency (min over repeats of the mean per call, us; wall clock, one "
            f"torch / onnxruntime thread), file size and held-out accuracy per backend\n"
            f"(torch {torch.__version__}, onnxruntime {ort.__version__}, onnx {onnx.__version__}"
            f", {platform.machine()}, {os.cpu_count()} CPUs; "
            f"{'quick' if args.quick else 'full'} mode, "
            f"{time.perf_counter() - start:.0f} s)\n"
            f"max |diff|: largest difference to predict's output, relative to its largest "
            "entry (labels: number of differing labels)\n\n"
            f"{table(rows)}\n\npredict(1) / ort fp32(1) >= 5 (issue 25): {len(meets)} of "
            f"{len(rows)} models" + (f" ({', '.join(meets)})" if meets else "") + "\n")
    print("\n" + text)
    here = os.path.dirname(os.path.abspath(__file__))
    prefix = args.out or os.path.join(here, "results",
                                      f"deployment_{'quick' if args.quick else 'full'}")
    with open(prefix + ".txt", "w") as fh:
        fh.write(text)
    with open(prefix + ".json", "w") as fh:
        json.dump({"args": vars(args), "torch": torch.__version__,
                   "onnxruntime": ort.__version__, "rows": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
