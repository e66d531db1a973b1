"""Imaging inverse problems at K = 10: classical proximal gradient against its unfolded versions.

Issue 24's benchmark. The crops (32x32, noise 0.01, pixels in [0, 1]) come from
``skunfold.datasets.make_imaging_problem``: training crops from ``images="train"``
(camera, astronaut, coffee, china, flower), held-out crops from ``images="test"``
(coins, moon), the same operator for both. Tasks:

* ``superres2``: super-resolution x2 (Gaussian blur sigma 1, decimation by 2);
* ``superres4``: super-resolution x4 (Gaussian blur sigma 2, decimation by 4);
* ``deblur``: Gaussian blur sigma 1, circular boundary;
* ``inpaint``: 50% of the pixels kept, drawn at random;
* ``mri``: 4x-accelerated Cartesian k-space (complex measurements).

Methods, per task, all at depth ``K = 10`` unless said:

* ``FISTA K=10, <prior>``: ``skunfold.imaging.ProximalGradient`` (momentum on), its
  ``alpha`` the best of a small grid by PSNR on training crops, for the wavelet prior
  (Haar, approximation band free) and total variation (full mode: also pixel l1). The
  best of them on the training crops is "the best classical solver at depth K", the
  reference of the ``- best`` column, and the prior of the rows below;
* ``FISTA 200 it``: that solver at convergence (200 iterations, its own ``alpha``
  tuned on the training crops);
* ``UnfoldedProximalGradient`` on that prior, started at the tuned FISTA
  (``momentum=True``), trained end-to-end on the (measurement, image) pairs of the
  training crops with the default learning rate and ``keep_best``: paradigms
  ``hyperparameters``, ``correction`` and ``dnn`` (full mode: also ``objective``, the
  deep-equilibrium ``dnn``, ``fixed_point=True``, and ``dnn, fresh crops``: the same
  model trained on new crops of the training photographs every epoch, a
  ``SampleSource`` around ``make_imaging_problem``, as many per epoch as the fixed
  rows train on, with the cosine learning-rate schedule, validated on the last 10%
  of the fixed crops, where the fixed rows hold out a random 10%);
* deepinv (0.5.0) as a peer, only when it imports (it is not a dependency; see
  docs/imaging_benchmark.rst for an install that leaves torch alone), by
  ``benchmarks/imaging_deepinv.py``: its own physics on the same clean crops, its PGD
  and FISTA at K = 10 with the Haar ``WaveletPrior`` (lambda tuned on the same grid of
  thresholds) and its unfolded PGD (a step size and a lambda per iteration, Adam, the
  ``hyperparameters`` row's epochs). Otherwise its row says "skipped".

Reported per method: PSNR and SSIM (``skunfold.metrics``) on the held-out crops,
training wall-clock and CPU time, milliseconds per image for ``predict`` on the
held-out set (best of 3, one thread) and every warning raised by ``fit`` and
``predict`` (e.g. ``WorseThanClassicalWarning`` from ``keep_best``).

Then one forward pass of a K = 10 classical model (``ProximalGradient``, FISTA,
Gaussian blur sigma 1 and the Haar wavelet prior) on one image of 64x64, 256x256 and
1024x1024 pixels, against a plain torch loop of the same K steps written inline with
the same operator and prior objects (``A.forward``, ``A.adjoint``, ``prior.prox``):
wall-clock (best of 3 after a warm-up pass) and peak memory, each (size, method) in a
fresh subprocess. Memory is measured on one more pass, after the timing: glibc is set
to map every block of 64 KiB or more on its own and unmap it when freed
(``mallopt(M_MMAP_THRESHOLD)``, then ``malloc_trim``), so that the resident set
follows the live memory, Linux's peak resident set (``VmHWM``) is reset through
``/proc/self/clear_refs``, and the figure is its growth over the pass. torch's CPU
allocations are not seen by ``tracemalloc``; where the reset is refused,
``ru_maxrss`` is used, which can hide the pass under an earlier peak.

Usage::

    python benchmarks/imaging.py --quick   # super-resolution x2 only, few epochs: ~3-4 min
    python benchmarks/imaging.py           # the five tasks: ~2.6 CPU hours (96 min as two
                                           # processes of --tasks, merged by --merge)

Results go to ``benchmarks/results/imaging_{quick,full}.{txt,json}`` (``--out PREFIX``
to write them elsewhere); ``--tasks`` restricts the tasks, ``--no-timing`` skips the
forward-pass timing. ``--methods`` re-runs some rows only (learned rows by name,
``classical`` for the classical ones) and ``--update`` puts them into an earlier
report, which then lists what was re-run and where::

    python benchmarks/imaging.py --methods dnn objective --out /tmp/rows
    python benchmarks/imaging.py --update benchmarks/results/imaging_full.json /tmp/rows.json
"""

import argparse
import json
import os
import pathlib
import platform
import resource
import subprocess
import sys
import time
import warnings
from functools import partial

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import sklearn  # noqa: E402
import torch  # noqa: E402
from recording import Recorder  # noqa: E402  (benchmarks/ is on sys.path)

import skunfold  # noqa: E402
from skunfold.core import EarlyStopping, Optimizer, SampleSource  # noqa: E402
from skunfold.datasets import make_imaging_problem  # noqa: E402
from skunfold.imaging import (  # noqa: E402
    Blur,
    Downsample,
    ProximalGradient,
    UnfoldedProximalGradient,
    Wavelet,
)
from skunfold.metrics import psnr, ssim  # noqa: E402

torch.set_num_threads(1)

K = 10
NOISE = 0.01
PATCH = 32
RESULTS = pathlib.Path(__file__).parent / "results"
TASKS = ("superres2", "superres4", "deblur", "inpaint", "mri")
TASK_NAMES = {"superres2": "super-resolution x2", "superres4": "super-resolution x4",
              "deblur": "deblurring", "inpaint": "inpainting 50%", "mri": "MRI 4x"}
ALPHAS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)
SOLVERS = {"PGD": False, "FISTA": True}  # name: momentum
CONVERGED = 200


def budget(quick):
    """Settings and training budget of each mode."""
    if quick:
        return {"tasks": ("superres2",), "priors": ("wavelet", "tv"), "n_train": 400,
                "n_test": 64, "alpha_samples": 100,
                "epochs": {"hyperparameters": 15, "correction": 4, "dnn": 4},
                "max_time": {}, "peer_epochs": 15, "early_stopping": None, "batch_size": 32,
                "timing_sizes": (64, 256, 1024)}
    # full: each learned model trains until its epochs or its time budget (max_time, seconds
    # of wall-clock on one thread) run out, with early stopping on a 10% validation split
    return {"tasks": TASKS, "priors": ("wavelet", "l1", "tv"), "n_train": 1000, "n_test": 200,
            "alpha_samples": 200,
            "epochs": {"hyperparameters": 80, "objective": 20, "correction": 20, "dnn": 40,
                       "dnn, DEQ": 20, "dnn, fresh crops": 40},
            "max_time": {"hyperparameters": 600, "objective": 120, "correction": 600,
                         "dnn": 600, "dnn, DEQ": 300, "dnn, fresh crops": 600},
            "peer_epochs": 15, "early_stopping": 5, "batch_size": 32,
            "timing_sizes": (64, 256, 1024)}


def make_task(task, n_train, n_test, seed):
    """Training and held-out crops of one task, sharing its operator."""
    named = {"superres2": "superres", "deblur": "blur", "inpaint": "inpaint", "mri": "mri"}
    if task == "superres4":
        operator = Downsample((PATCH, PATCH), factor=4, sigma=2.0)
    else:
        operator = named[task]
    Y, X, A = make_imaging_problem(operator, images="train", n_samples=n_train,
                                   patch_size=PATCH if isinstance(operator, str) else None,
                                   noise=NOISE, random_state=seed)
    Yt, Xt, _ = make_imaging_problem(A, images="test", n_samples=n_test, noise=NOISE,
                                     random_state=seed + 1)
    dtype = np.complex64 if np.iscomplexobj(Y) else np.float32
    return Y.astype(dtype), X.astype(np.float32), Yt.astype(dtype), Xt, A


def best_time(fn, repeats=3):
    """Best wall-clock time of ``repeats`` calls (seconds) and the last result."""
    best, out = np.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def tune_alpha(A, prior, n_layers, Y, X, momentum=True, alphas=ALPHAS):
    """The grid's alpha with the best PSNR of PGD or FISTA (``n_layers`` its) on ``(Y, X)``."""
    scores = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the rows themselves record their warnings
        for a in alphas:
            model = ProximalGradient(A, prior=prior, alpha=a, n_layers=n_layers,
                                     momentum=momentum, n_threads=1).fit(Y)
            scores[a] = float(psnr(X, model.predict(Y)))
    return max(scores, key=scores.get), {str(a): v for a, v in scores.items()}


def run_task(task, b, seed, methods=None):
    """All methods on one task (``methods``: only these rows, by name or ``"classical"``)."""
    t0 = time.perf_counter()
    Y, X, Yt, Xt, A = make_task(task, b["n_train"], b["n_test"], seed)
    shape = A.image_shape
    n_a = b["alpha_samples"]
    setup = {"task": task, "name": TASK_NAMES[task], "operator": repr(A),
             "n_measurements": int(A.shape[0]), "n_pixels": int(A.shape[1]),
             "n_train": len(Y), "n_test": len(Yt), "alphas": {}}
    for prior in b["priors"]:
        for solver, momentum in SOLVERS.items():
            setup["alphas"][f"{solver}, {prior}"] = tune_alpha(A, prior, K, Y[:n_a], X[:n_a],
                                                               momentum)
    # the best classical solver at depth K: the solver, prior and alpha of the best PSNR on
    # the training crops; the learned models start from it
    best = max(setup["alphas"], key=lambda q: setup["alphas"][q][1][str(setup["alphas"][q][0])])
    solver, prior = best.split(", ")
    momentum = SOLVERS[solver]
    setup["best_prior"], setup["reference"] = prior, f"{solver} K={K}, {prior}"
    # at convergence, the grid from the depth-K alpha / 3 up (more iterations want no less
    # regularisation), on half the crops
    grid = [a for a in ALPHAS if a >= setup["alphas"][best][0] / 3.5][:4]
    setup["alphas"][f"{best}, converged"] = tune_alpha(A, prior, CONVERGED, Y[:n_a // 2],
                                                       X[:n_a // 2], momentum, grid)
    setup["setup_s"] = time.perf_counter() - t0
    alpha = setup["alphas"][best][0]
    print(f"\n{TASK_NAMES[task]}: {A!r}, {len(Y)} train / {len(Yt)} test crops "
          f"{shape[0]}x{shape[1]}, best classical on training crops: {setup['reference']}, "
          f"alpha {alpha:g}; set-up {setup['setup_s']:.1f} s", flush=True)
    rows = {}

    def record(name, kind, fit, note):
        row = {"kind": kind, "budget": note}
        with Recorder() as rec:
            try:
                t, c = time.perf_counter(), time.process_time()
                model = fit()
                row["train_s"] = time.perf_counter() - t
                row["train_cpu_s"] = time.process_time() - c
                pred_s, P = best_time(lambda: model.predict(Yt))
                row["ms_per_image"] = 1e3 * pred_s / len(Yt)
                P = np.asarray(P, dtype=np.float64)
                finite = bool(np.all(np.isfinite(P)))
                row["psnr"] = float(psnr(Xt, P)) if finite else None
                row["ssim"] = float(ssim(Xt, P, image_shape=shape)) if finite else None
                history = getattr(model, "history_", None)
                if history is not None:
                    row["epochs"] = len(history)
                comparison = getattr(model, "comparison_", None)
                if comparison is not None:
                    row["kept"] = comparison.get("kept")
            except Exception as exc:  # a failed default recipe is a result, not a crash
                row["error"] = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
                row["psnr"] = row["ssim"] = None
        row["warnings"] = [list(w) for w in rec.seen]
        rows[name] = row
        shown = "failed" if row["psnr"] is None else f"{row['psnr']:6.2f} dB {row['ssim']:.3f}"
        timing = (f"{row['ms_per_image']:6.2f} ms/image, train {row['train_s']:5.1f} s"
                  if "ms_per_image" in row else row.get("error", ""))
        flags = f"  [{', '.join(sorted({c for c, _ in rec.seen}))}]" if rec.seen else ""
        print(f"  {name:<26} {shown}  {timing}{flags}", flush=True)

    a_conv = setup["alphas"][f"{best}, converged"][0]
    if methods is None or "classical" in methods:
        for q in b["priors"]:
            for sv, mom in SOLVERS.items():
                a = setup["alphas"][f"{sv}, {q}"][0]
                record(f"{sv} K={K}, {q}", "classical",
                       lambda a=a, q=q, mom=mom: ProximalGradient(
                           A, prior=q, alpha=a, n_layers=K, momentum=mom, n_threads=1).fit(Y),
                       f"{K} iterations, alpha={a:g} tuned on training crops")
        record(f"{solver} {CONVERGED} it", "converged",
               lambda: ProximalGradient(A, prior=prior, alpha=a_conv, n_layers=CONVERGED,
                                        momentum=momentum, n_threads=1).fit(Y),
               f"{CONVERGED} iterations, {prior} prior, alpha={a_conv:g} tuned on training "
               "crops")

    stopping = (EarlyStopping(n_iter_no_change=b["early_stopping"]) if b["early_stopping"]
                else False)
    for name, epochs in b["epochs"].items():
        if methods is not None and name not in methods:
            continue
        paradigm, _, variant = name.partition(", ")
        extra = {"fixed_point": True} if variant == "DEQ" else {}
        fresh = variant == "fresh crops"
        if fresh:
            extra["optimizer"] = Optimizer(lr_schedule="cosine")

        def fit(paradigm=paradigm, epochs=epochs, extra=extra, fresh=fresh):
            est = UnfoldedProximalGradient(A, prior=prior, alpha=alpha, n_layers=K,
                                           paradigm=paradigm, momentum=momentum,
                                           max_time=b["max_time"].get(name),
                                           max_epochs=epochs,
                                           batch_size=b["batch_size"], early_stopping=stopping,
                                           n_threads=1, random_state=seed, **extra)
            if not fresh:
                return est.fit(Y, X)
            # as many new crops per epoch as the fixed rows train on (they hold out a random
            # 10% for validation); validated on the last 10% of the fixed crops
            n_valid = max(len(Y) // 10, 1)
            source = SampleSource(partial(make_imaging_problem, A, images="train", noise=NOISE),
                                  n_samples_per_epoch=len(Y) - n_valid,
                                  validation=(Y[-n_valid:], X[-n_valid:]))
            return est.fit(source)
        limit = b["max_time"].get(name)
        note = (("new crops every epoch (as many as the fixed rows train on), cosine lr, "
                 if fresh else "") + f"{len(Y)} crops, {epochs} epochs"
                + (f" or {limit} s (max_time)" if limit else "")
                + f", batch {b['batch_size']}, default lr"
                + (f", early stopping (10% validation, patience {b['early_stopping']})"
                   if stopping else "") + ", keep_best")
        record(name, "learned", fit, note)
        rows[name]["prior"] = prior

    if methods is not None:
        return {**setup, "methods": rows}
    import imaging_deepinv  # benchmarks/imaging_deepinv.py; it imports deepinv itself
    try:
        rows.update(imaging_deepinv.run_peer(
            task, A, X, Xt, K=K, epochs=b["peer_epochs"],
            batch_size=b["batch_size"], n_alpha=n_a, alphas=ALPHAS, seed=seed, noise=NOISE))
    except imaging_deepinv.Unavailable as exc:
        rows["deepinv"] = {"kind": "peer", "budget": f"skipped: {exc}", "psnr": None,
                           "ssim": None, "warnings": []}
        print(f"  {'deepinv':<26} skipped ({exc})", flush=True)
    except Exception as exc:  # a failed peer run is a result, not a crash
        error = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
        rows["deepinv"] = {"kind": "peer", "budget": f"failed: {error}", "error": error,
                           "psnr": None, "ssim": None, "warnings": []}
        print(f"  {'deepinv':<26} failed ({error})", flush=True)
    setup["adjoint_psnr"] = float(psnr(Xt, np.real(A.rmatmat(Yt.T.astype(
        np.complex128 if np.iscomplexobj(Yt) else np.float64)).T)))
    return {**setup, "methods": rows}


# -- forward-pass timing ---------------------------------------------------------------------
def _status_kb(field):
    """A field of /proc/self/status in kB (Linux; None elsewhere)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak_rss():
    """Make the resident set follow the live memory and reset its peak (VmHWM).

    glibc: every later block of 64 KiB or more gets its own mapping, returned to the system
    when freed (``mallopt(M_MMAP_THRESHOLD)``), and the free heap is given back
    (``malloc_trim``); then Linux's peak is reset (``/proc/self/clear_refs``). False where
    the reset is refused.
    """
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 65536)  # M_MMAP_THRESHOLD
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def forward_pass(size, method):
    """One K-step FISTA pass on a size x size image: seconds (best of 3) and peak RSS growth."""
    shape = (size, size)
    A, prior = Blur(shape, sigma=1.0), Wavelet(shape)
    rng = np.random.default_rng(0)
    image = rng.random((1, size * size))
    y = (A.matmat(image.T).T + NOISE * rng.standard_normal(image.shape)).astype(np.float32)
    alpha = 1e-3
    if method == "ProximalGradient":
        model = ProximalGradient(A, prior=prior, alpha=alpha, n_layers=K, momentum=True,
                                 n_threads=1).fit(y)
        run = lambda: model.predict(y)  # noqa: E731
    else:
        from skunfold.imaging.problem import fista_momentum
        L = A.lipschitz
        thresholds = torch.as_tensor(prior.thresholds(alpha / L), dtype=torch.float32)
        beta = [fista_momentum(k) for k in range(K)]

        def run():
            with torch.no_grad():
                yt = torch.from_numpy(y)
                x = x_prev = A.adjoint(yt)
                for k in range(K):
                    z = x + beta[k] * (x - x_prev)
                    x_prev, x = x, prior.prox(z - A.adjoint(A.forward(z) - yt) / L, thresholds)
                return x.numpy()
    run()  # warm-up: one-time set-ups (filters, kernels) are neither timed nor measured
    seconds, out = best_time(run)
    reset = _reset_peak_rss()
    base = _status_kb("VmRSS")
    run()
    peak = _status_kb("VmHWM") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    grown = None if base is None or peak is None else max(0, peak - base) / 1024
    return {"size": size, "method": method, "seconds": seconds, "peak_rss_growth_mb": grown,
            "peak_reset": reset, "finite": bool(np.all(np.isfinite(out)))}


def timing(sizes):
    """Each (size, method) in its own process, so that the peak resident set is its own."""
    rows = []
    for size in sizes:
        for method in ("ProximalGradient", "plain torch loop"):
            cmd = [sys.executable, __file__, "--_forward", str(size), method]
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            try:
                row = json.loads(done.stdout.strip().splitlines()[-1])
            except (IndexError, ValueError):
                row = {"size": size, "method": method,
                       "error": " ".join(done.stderr.split())[-300:]}
            rows.append(row)
            shown = (f"{1e3 * row['seconds']:9.1f} ms, peak RSS +{row['peak_rss_growth_mb']:7.1f}"
                     f" MB" if "seconds" in row else row["error"])
            print(f"  {size:>5}x{size:<5} {method:<18} {shown}", flush=True)
    return rows


# -- report ----------------------------------------------------------------------------------
def fmt(v, spec):
    """``v`` formatted, or ``--`` right-aligned in the same width."""
    width = int(spec.lstrip("+").split(".")[0] or 0)
    return "--".rjust(width) if v is None else format(v, spec)


def report(res):
    lines = [res["title"], res["machine"]]
    lines += [f"updated: {u}" for u in res.get("updates", [])] + [""]
    for s in res["tasks"]:
        m = s["methods"]
        best = s.get("reference", f"FISTA K={K}, {s.get('best_prior', 'wavelet')}")
        ref = m.get(best, {}).get("psnr")
        alphas = ", ".join(f"{p} {v[0]:g}" for p, v in s["alphas"].items())
        lines.append(f"{s['name']}: {s['operator']}, {s['n_train']} train / {s['n_test']} "
                     f"held-out crops, adjoint A^T y {fmt(s.get('adjoint_psnr'), '.2f')} dB; "
                     f"alpha: {alphas}; "
                     f"best classical (training crops): {best}")
        head = (f"  {'method':<26}{'PSNR dB':>8}{'- best':>8}{'SSIM':>7}{'ms/img':>8}"
                f"{'train s':>9}  warnings / error / note")
        lines += [head, "  " + "-" * (len(head) + 10)]
        for name, r in m.items():
            p = r.get("psnr")
            d = None if p is None or ref is None else p - ref
            note = r.get("error") or "; ".join(sorted({c for c, _ in r["warnings"]}))
            if r.get("kept") == "classical":
                note = ("kept the classical start; " + note).rstrip("; ")
            if r["kind"] == "peer" and p is None:
                note = r["budget"]
            lines.append(f"  {name:<26}{fmt(p, '8.2f')}{fmt(d, '+8.2f')}"
                         f"{fmt(r.get('ssim'), '7.3f')}{fmt(r.get('ms_per_image'), '8.2f')}"
                         f"{fmt(r.get('train_s'), '9.1f')}  {note}")
        lines.append("")
    if res.get("timing"):
        lines.append(f"One forward pass, K={K} FISTA steps, Gaussian blur sigma 1 + Haar wavelet "
                     "prox, one image, float32, one thread (best of 3 after a warm-up; memory: "
                     "growth of the peak resident set over one more pass, fresh process)")
        lines.append(f"  {'size':<11}{'ProximalGradient':>22}{'plain torch loop':>22}"
                     f"{'ratio':>7}")
        by = {(r["size"], r["method"]): r for r in res["timing"]}
        for size in sorted({r["size"] for r in res["timing"]}):
            a, t = by.get((size, "ProximalGradient"), {}), by.get((size, "plain torch loop"), {})
            cell = [f"{1e3 * r['seconds']:.1f} ms, +{r['peak_rss_growth_mb']:.0f} MB"
                    if "seconds" in r else "failed" for r in (a, t)]
            ratio = (a["seconds"] / t["seconds"]) if "seconds" in a and "seconds" in t else None
            lines.append(f"  {size}x{size:<6}{cell[0]:>22}{cell[1]:>22}{fmt(ratio, '7.2f')}")
        lines.append("")
    lines.append("Warnings (first message of each category, per task and method):")
    for s in res["tasks"]:
        for name, r in s["methods"].items():
            seen = set()
            for c, msg in r["warnings"]:
                if c not in seen:
                    seen.add(c)
                    lines.append(f"  {s['task']}, {name}: {c}: {msg[:200]}")
    return "\n".join(lines)


def write(res, prefix):
    text = report(res) + (f"\n\ntotal wall-clock {res['total_s']:.0f} s, CPU "
                          f"{res['total_cpu_s']:.0f} s (this process; the timing subprocesses "
                          "not counted in CPU)\n")
    print("\n" + text)
    prefix = pathlib.Path(prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    prefix.with_name(prefix.name + ".txt").write_text(text)
    prefix.with_name(prefix.name + ".json").write_text(json.dumps(res, indent=1))


def merge(paths, out):
    """One report from runs of disjoint tasks (the first run's settings and machine)."""
    runs = [json.loads(pathlib.Path(p).read_text()) for p in paths]
    res = dict(runs[0])
    res["tasks"] = sorted((t for r in runs for t in r["tasks"]),
                          key=lambda t: TASKS.index(t["task"]))  # the order of a single run
    res["timing"] = next((r["timing"] for r in runs if r.get("timing")), None)
    tasks = [t["task"] for t in res["tasks"]]
    res["title"] = res["title"].split(", tasks ")[0] + (
        f", tasks {', '.join(tasks)}, seed " + res["title"].rsplit(" seed ", 1)[-1]
        + f" (merged from {len(runs)} runs in parallel processes)")
    res["total_s"] = max(r["total_s"] for r in runs)
    res["total_cpu_s"] = sum(r["total_cpu_s"] for r in runs)
    write(res, out or RESULTS / f"imaging_{res['mode']}")
    return 0


def update(base, paths, out):
    """``base``'s report with the rows of the runs ``paths`` (``--methods``) put in place.

    The report's budget becomes the re-runs' (the current one); every row keeps its own
    budget line, so the rows not re-run still say what they were trained with.
    """
    res = json.loads(pathlib.Path(base).read_text())
    tasks = {t["task"]: t for t in res["tasks"]}
    for p in paths:
        run = json.loads(pathlib.Path(p).read_text())
        names = sorted({n for t in run["tasks"] for n in t["methods"]})
        for t in run["tasks"]:
            methods = tasks[t["task"]]["methods"]
            methods.update(t["methods"])
            # a new row goes before the peer's rows, where a single run puts it
            tasks[t["task"]]["methods"] = dict(sorted(
                methods.items(), key=lambda item: item[1].get("kind") == "peer"))
        res.setdefault("updates", []).append(
            f"rows {', '.join(names)} of tasks {', '.join(t['task'] for t in run['tasks'])} "
            f"re-run ({run['total_s']:.0f} s, CPU {run['total_cpu_s']:.0f} s)"
            + ("" if run["machine"] == res["machine"] else f" on {run['machine']}"))
        res["total_cpu_s"] += run["total_cpu_s"]
        res["budget"] = run["budget"]
    write(res, out or pathlib.Path(base).with_suffix(""))
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="super-resolution x2, few epochs")
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=None)
    parser.add_argument("--no-timing", action="store_true", help="skip the forward-pass timing")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="prefix of the .txt and .json outputs "
                        "(default benchmarks/results/imaging_{quick,full})")
    parser.add_argument("--merge", nargs="+", metavar="JSON", help="merge the results of "
                        "runs of other tasks (e.g. run in parallel with --tasks and --out) into "
                        "one report, written to --out (default: the full results)")
    parser.add_argument("--methods", nargs="+", metavar="NAME", help="only these learned "
                        "rows (e.g. dnn objective; 'classical': the classical and converged "
                        "rows), no peer or timing; put them into an earlier run with --update")
    parser.add_argument("--update", nargs="+", metavar="JSON", help="BASE NEW...: the rows of "
                        "the --methods runs NEW put into the report BASE, written to --out "
                        "(default: BASE's prefix)")
    parser.add_argument("--_forward", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._forward:
        print(json.dumps(forward_pass(int(args._forward[0]), args._forward[1])))
        return 0
    if args.merge:
        return merge(args.merge, args.out)
    if args.update:
        return update(args.update[0], args.update[1:], args.out)
    b = budget(args.quick)
    tasks = args.tasks or b["tasks"]
    mode = "quick" if args.quick else "full"
    t0, c0 = time.perf_counter(), time.process_time()
    machine = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
               f"python {platform.python_version()}, torch {torch.__version__}, "
               f"scikit-learn {sklearn.__version__}, skunfold {skunfold.__version__}, "
               "1 torch thread, OMP_NUM_THREADS=" + os.environ["OMP_NUM_THREADS"])
    title = (f"Imaging ({mode}): {PATCH}x{PATCH} crops, noise {NOISE}, K={K}, train images "
             f"'train', held-out 'test', tasks {', '.join(tasks)}, seed {args.seed}")
    print(title + "\n" + machine, flush=True)
    res = {"mode": mode, "title": title, "machine": machine, "K": K, "noise": NOISE,
           "patch_size": PATCH, "alpha_grid": list(ALPHAS), "converged_iterations": CONVERGED,
           "budget": {k: v for k, v in b.items() if k != "tasks"}, "tasks": []}
    for task in tasks:
        res["tasks"].append(run_task(task, b, args.seed, args.methods))
    if not args.no_timing and args.methods is None:
        print(f"\nforward pass, K={K}:", flush=True)
        res["timing"] = timing(b["timing_sizes"])
    res["total_s"] = time.perf_counter() - t0
    res["total_cpu_s"] = time.process_time() - c0
    write(res, args.out or RESULTS / f"imaging_{mode}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
