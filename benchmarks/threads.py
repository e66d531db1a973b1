"""Torch threads: the estimators' default choice against fixed thread counts, quiet and busy.

Measures wall-clock ``fit`` and ``predict`` times of the demo's models, the
README example and a large standard-size model with ``n_threads=None`` (the
default: chosen for the work at hand), ``n_threads=1`` and
``n_threads=<all cores>`` (torch's own default, what skunfold did before),
side by side in one run, on a quiet machine and while one other CPU-bound
process runs (a busy loop on one core: another job on a CI runner or a
laptop). Prints a table with the ratio of the default to the best setting
(target: within 1.2x of the best when busy, and no slower than torch's
default when quiet) and writes it to ``benchmarks/results/threads.txt``
(``--quick``: fewer repetitions and epochs, ``threads_quick.txt``).

Run as ``python benchmarks/threads.py [--quick]``.
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import time

import torch

from skunfold.datasets import make_sparse_recovery
from skunfold.sparse import UnfoldedISTA

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
CORES = os.cpu_count() or 1


def cases(quick):
    """(name, estimator factory, X, S, X_test) of every measured model."""
    epochs = 2 if quick else 4
    out = []
    small = make_sparse_recovery(5000, 64, 128, random_state=0)
    X_test, _, _ = make_sparse_recovery(1000, 64, 128, dictionary=small[2], random_state=1)
    demo = dict(n_layers=10, max_epochs=epochs, batch_size=128, loss_schedule="multi_iteration",
                random_state=0)
    out.append(("demo LISTA (64x128, K=10, batch 128)",
                lambda n: UnfoldedISTA(small[2], paradigm="objective", lr=1e-3, n_threads=n,
                                       **demo), small[0], small[1], X_test))
    out.append(("demo ALISTA (64x128, K=10, batch 128)",
                lambda n: UnfoldedISTA(small[2], weights="analytic", support_selection=True,
                                       n_threads=n, **demo), small[0], small[1], X_test))
    readme = make_sparse_recovery(3000, 64, 128, random_state=0)
    out.append(("README LISTA (64x128, K=10, batch 64)",
                lambda n: UnfoldedISTA(readme[2], n_layers=10, paradigm="objective",
                                       max_epochs=epochs, random_state=0, n_threads=n),
                readme[0], readme[1], X_test))
    large = make_sparse_recovery(4000, 250, 500, random_state=0)
    X_large, _, _ = make_sparse_recovery(1000, 250, 500, dictionary=large[2], random_state=1)
    out.append(("large ALISTA (250x500, K=16, batch 64)",
                lambda n: UnfoldedISTA(large[2], n_layers=16, weights="analytic",
                                       support_selection=True, max_epochs=max(1, epochs // 2),
                                       random_state=0, n_threads=n),
                large[0], large[1], X_large))
    return out


def measure(make, X, S, X_test, settings, repeat):
    """Best fit and predict times per setting, the settings interleaved in every round.

    Interleaving makes a change of the machine's load (other tenants of a
    virtual machine) hit every setting alike.
    """
    fit = {label: [] for label, _ in settings}
    predict = {label: [] for label, _ in settings}
    for _ in range(repeat):
        for label, n_threads in settings:
            est = make(n_threads)
            t0 = time.perf_counter()
            est.fit(X, S)
            fit[label].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            for _ in range(5):
                est.predict(X_test)
            predict[label].append((time.perf_counter() - t0) / 5)
    return {label: (min(fit[label]), min(predict[label])) for label, _ in settings}


def busy_process():
    """One other CPU-bound process: a Python busy loop on one core."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(CORES)  # torch's own default: one thread per core
    settings = [("default", None), ("1 thread", 1), (f"{CORES} threads", CORES)]
    repeat = 2 if args.quick else 4
    rows = []
    lines = [f"torch {torch.__version__}, {CORES} cores, wall-clock seconds (best of {repeat});"
             f" 'busy' = one other CPU-bound process running", ""]
    head = (f"{'model':<42}{'load':<7}{'call':<9}" + "".join(f"{s:>11}" for s, _ in settings)
            + f"{'default/best':>14}{'default/torch':>15}")
    lines += [head, "-" * len(head)]
    print("\n".join(lines), flush=True)
    for name, make, X, S, X_test in cases(args.quick):
        make(1).fit(X[:256], S[:256])  # warm-up (imports, allocator)
        for load in ("quiet", "busy"):
            proc = busy_process() if load == "busy" else None
            try:
                times = measure(make, X, S, X_test, settings, repeat)
            finally:
                if proc is not None:
                    proc.kill()
                    proc.wait()
            for i, call in enumerate(("fit", "predict")):
                t = {label: v[i] for label, v in times.items()}
                best = min(t.values())
                row = dict(model=name, load=load, call=call, times=t,
                           default_over_best=t["default"] / best,
                           default_over_torch=t["default"] / t[f"{CORES} threads"])
                rows.append(row)
                line = (f"{name:<42}{load:<7}{call:<9}"
                        + "".join(f"{t[label]:>11.3f}" for label, _ in settings)
                        + f"{row['default_over_best']:>14.2f}{row['default_over_torch']:>15.2f}")
                lines.append(line)
                print(line, flush=True)
    busy = [r["default_over_best"] for r in rows if r["load"] == "busy"]
    quiet = [r["default_over_torch"] for r in rows if r["load"] == "quiet"]
    summary = (f"\nworst default/best while busy: {max(busy):.2f} (target <= 1.2); worst "
               f"default/torch-default when quiet: {max(quiet):.2f} (target <= 1.0, within noise)")
    lines.append(summary)
    print(summary)
    RESULTS.mkdir(exist_ok=True)
    stem = "threads_quick" if args.quick else "threads"
    (RESULTS / f"{stem}.txt").write_text("\n".join(lines) + "\n")
    (RESULTS / f"{stem}.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
