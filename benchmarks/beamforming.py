"""Unfolded projected gradient ascent for wideband hybrid precoding, against the classical solver.

Setting of Lavi and Shlezinger's unfolded PGA (docs/beamforming_benchmark.rst):
``B = 8`` bands, ``N = 6`` users, ``L = 10`` RF chains, ``M = 12`` antennas,
1,000 training, 100 validation and 100 test channel realisations, the rate in
nats per band (survey eq. 11). For every combination of channels (complex, the
paper's model; real, the authors' public code) and analog constraint
(``"unit_modulus"``, the paper's hybrid model; ``None``, the public code) the
script runs

* the classical solver (:class:`~skunfold.beamforming.HybridPGA`, all step
  sizes 0.5) for 100 iterations and reports the mean test rate per iteration;
* the unfolded solver (:class:`~skunfold.beamforming.UnfoldedHybridPGA`,
  ``K = 5`` layers, 45 learned step sizes), trained unsupervised on minus the
  rate with the best validation epoch kept, and reports its rate per layer,
  its training curve, its learned step sizes and its training time;
* both solvers' inference time on the test set, in the same run, one thread.

The full run adds, on the public code's setting (real channels, no
constraint), the authors' learning rate (Adam 0.4 for 110 epochs, without
patience: the best validation epoch is what ``fit`` keeps), and, on the
paper's setting, the ``"correction"`` paradigm.

Usage::

    python benchmarks/beamforming.py --quick     # 500 training channels, 20 epochs: ~2 min
    python benchmarks/beamforming.py             # the authors' sizes, 40 epochs: ~10 min

Results go to ``benchmarks/results/beamforming_{quick,full}.{txt,json}``.
Everything runs with one torch thread (``n_threads=1``); training budgets are
CPU seconds of the process (``time.process_time``), inference times wall-clock
(best of several calls, both solvers in the same run).
"""

import argparse
import json
import os
import pathlib
import platform
import time
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from skunfold.beamforming import HybridPGA, UnfoldedHybridPGA  # noqa: E402
from skunfold.core import EarlyStopping  # noqa: E402
from skunfold.datasets import make_wideband_channels  # noqa: E402

torch.set_num_threads(1)

B, N, L, M, K = 8, 6, 10, 12, 5
SHOW = [1, 2, 3, 4, 5, 10, 20, 30, 50, 100]
RESULTS = pathlib.Path(__file__).parent / "results"

#: Re-run of the authors' public code (real channels, no unit-modulus projection): mean test
#: rate in nats per band of the classical PGA (mu = 0.5) and of the unfolded PGA (K = 5,
#: Adam lr 0.05, 40 epochs), as given in the issue; for comparison only.
REFERENCE = {"classical": {1: 8.96, 2: 9.64, 3: 10.12, 4: 10.48, 5: 10.74, 10: 11.47,
                           20: 11.89, 30: 11.96, 50: 11.92, 100: 11.78},
             "unfolded": {1: 9.81, 2: 11.49, 3: 12.24, 4: 12.52, 5: 12.63}}

#: (training channels, max_epochs) per mode; validation and test: 100 channels each.
BUDGET = {"quick": (500, 20), "full": (1000, 40)}


class Report:
    """Print and keep every line (the .txt output)."""

    def __init__(self):
        self.lines = []

    def __call__(self, line=""):
        print(line, flush=True)
        self.lines.append(line)


def best_time(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def unfolded(constraint, n_train, epochs, seed, patience=10, **params):
    """The unfolded PGA; early stopping holds out 100 channels, patience ``patience`` epochs."""
    stopping = EarlyStopping(validation_fraction=100 / (n_train + 100), n_iter_no_change=patience)
    options = dict(n_layers=K, n_rf_chains=L, analog_constraint=constraint, max_epochs=epochs,
                   batch_size=100, early_stopping=stopping, random_state=seed, n_threads=1)
    options.update(params)
    return UnfoldedHybridPGA(**options)


def fit_timed(est, H):
    """Fit; return the CPU seconds of the process (one core: one thread) and the fallback flag."""
    t = time.process_time()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        est.fit(H)
    fell_back = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    return time.process_time() - t, fell_back


def curve(est):
    return [-float(h["valid_loss"]) for h in est.history_]


def run_setting(kind, constraint, n_train, epochs, seed, report, repeat):
    H = make_wideband_channels(n_train + 100, B, N, M, complex=kind == "complex",
                               random_state=seed)
    H_test = make_wideband_channels(100, B, N, M, complex=kind == "complex",
                                    random_state=seed + 1000)
    name = f"{kind} channels, analog_constraint={constraint!r}"
    report(f"\n== {name}")
    pga = HybridPGA(n_layers=100, n_rf_chains=L, analog_constraint=constraint,
                    random_state=seed, n_threads=1).fit(H)
    classical = list(pga.staged_score(H_test))
    peak = int(np.argmax(classical)) + 1
    est = unfolded(constraint, n_train, epochs, seed)
    train_s, fell_back = fit_timed(est, H)
    rates = list(est.staged_score(H_test))
    valid = curve(est)
    best_epoch = int(np.argmax(valid)) + 1
    budget = (f"{n_train} channels x {len(valid)} epochs (max {epochs}, best epoch "
              f"{best_epoch}), Adam lr 0.05, batch 100, 1 thread: {train_s:.0f} CPU s")
    report(f"  classical PGA, mu = 0.5, iterations {'/'.join(map(str, SHOW))}:")
    report("    " + " / ".join(f"{classical[k - 1]:.2f}" for k in SHOW)
           + f"   (peak {classical[peak - 1]:.2f} at {peak})")
    report(f"  unfolded PGA, K = {K}, layers 1-5: "
           + " / ".join(f"{r:.2f}" for r in rates)
           + ("   [fell back to the classical step sizes]" if fell_back else ""))
    report(f"    training budget: {budget}")
    gain30 = rates[-1] / classical[29] - 1
    gain5 = rates[-1] / classical[K - 1] - 1
    report(f"  unfolded K=5 vs classical at 30 iterations: {rates[-1]:.2f} vs "
           f"{classical[29]:.2f} ({gain30:+.1%}); vs classical at 5: {gain5:+.1%}; vs the "
           f"classical peak over 100 iterations: {rates[-1] / classical[peak - 1] - 1:+.1%}")
    report("  validation rate per epoch: " + " ".join(f"{v:.2f}" for v in valid))
    steps = est.step_sizes_
    report("  learned step sizes (mu_a | mu_d,1..8 min-max) per layer:")
    for k, row in enumerate(steps):
        report(f"    k={k + 1}: {row[0]:.3g} | {row[1:].min():.3g}-{row[1:].max():.3g}")
    pga30 = HybridPGA(n_layers=30, n_rf_chains=L, analog_constraint=constraint,
                      random_state=seed, n_threads=1).fit(H)
    single = H_test.astype(np.complex64 if kind == "complex" else np.float32)
    t_pga = best_time(lambda: pga30.predict(single), repeat)
    t_unf = best_time(lambda: est.predict(single), repeat)
    report(f"  inference on the 100 test channels (predict, single precision, 1 thread, best "
           f"of {repeat}): "
           f"classical 30 iterations {1e3 * t_pga:.1f} ms, unfolded 5 layers "
           f"{1e3 * t_unf:.1f} ms ({t_pga / t_unf:.1f}x faster)")
    return {"setting": name, "channels": kind, "analog_constraint": constraint,
            "classical": classical, "classical_peak": [peak, classical[peak - 1]],
            "unfolded": rates, "gain_vs_classical_30": gain30, "gain_vs_classical_5": gain5,
            "validation_curve": valid, "best_epoch": best_epoch, "fell_back": fell_back,
            "step_sizes": steps.tolist(), "train_s": train_s, "n_train": n_train,
            "max_epochs": epochs, "epochs_run": len(valid), "budget": budget,
            "inference_ms": {"classical_30": 1e3 * t_pga, "unfolded_5": 1e3 * t_unf}}


def authors_learning_rate(n_train, seed, report):
    """Adam lr 0.4, 110 epochs, no patience: the reference code's run, with the best epoch kept."""
    H = make_wideband_channels(n_train + 100, B, N, M, complex=False, random_state=seed)
    H_test = make_wideband_channels(100, B, N, M, complex=False, random_state=seed + 1000)
    est = unfolded(None, n_train, 110, seed, lr=0.4, patience=110)
    train_s, fell_back = fit_timed(est, H)
    valid = curve(est)
    best = int(np.argmax(valid)) + 1
    rates = list(est.staged_score(H_test))
    report("\n== the authors' learning rate: real channels, no constraint, Adam lr 0.4, 110 epochs")
    report(f"  validation rate per epoch: {' '.join(f'{v:.2f}' for v in valid)}")
    report(f"  best epoch {best} ({valid[best - 1]:.2f}), last epoch {valid[-1]:.2f}; fit keeps "
           f"the best: test rate per layer {' / '.join(f'{r:.2f}' for r in rates)}"
           + (" [fell back to classical]" if fell_back else ""))
    report(f"    training budget: {n_train} channels x 110 epochs, batch 100, 1 thread: "
           f"{train_s:.0f} CPU s")
    report("  learned step sizes (mu_a | mu_d,b min-max) per layer: " + "; ".join(
        f"{r[0]:.3g} | {r[1:].min():.3g}-{r[1:].max():.3g}" for r in est.step_sizes_))
    return {"validation_curve": valid, "best_epoch": best, "unfolded": rates,
            "train_s": train_s, "step_sizes": est.step_sizes_.tolist(), "fell_back": fell_back}


def correction(n_train, epochs, seed, report, baseline):
    H = make_wideband_channels(n_train + 100, B, N, M, random_state=seed)
    H_test = make_wideband_channels(100, B, N, M, random_state=seed + 1000)
    est = unfolded("unit_modulus", n_train, epochs, seed, paradigm="correction")
    train_s, fell_back = fit_timed(est, H)
    rates = list(est.staged_score(H_test))
    report("\n== paradigm='correction' (complex channels, unit modulus): step sizes and a "
           "shared network correcting the digital gradient")
    report(f"  layers 1-5: {' / '.join(f'{r:.2f}' for r in rates)} (hyperparameters: "
           f"{' / '.join(f'{r:.2f}' for r in baseline)})"
           + (" [fell back to classical]" if fell_back else ""))
    report(f"    training budget: {n_train} channels x {len(curve(est))} epochs (max {epochs}), "
           f"Adam lr 0.05, batch 100, 1 thread: {train_s:.0f} CPU s")
    return {"unfolded": rates, "train_s": train_s, "validation_curve": curve(est),
            "fell_back": fell_back}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="500 training channels, 20 epochs (default: 1000, 40)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None,
                        help="output prefix (default: benchmarks/results/beamforming_<mode>)")
    args = parser.parse_args()
    mode = "quick" if args.quick else "full"
    n_train, epochs = BUDGET[mode]
    prefix = pathlib.Path(args.out) if args.out else RESULTS / f"beamforming_{mode}"
    report = Report()
    t0 = time.perf_counter()
    report(f"Hybrid beamforming benchmark ({mode}): B={B}, N={N}, L={L}, M={M}, K={K}; "
           f"{n_train} training + 100 validation + 100 test channels; rate in nats per band")
    report(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
           f"1 torch thread, seed {args.seed}")
    results = {"mode": mode, "sizes": {"B": B, "N": N, "L": L, "M": M, "K": K},
               "reference_public_code": REFERENCE, "settings": []}
    for kind in ("complex", "real"):
        for constraint in ("unit_modulus", None):
            results["settings"].append(run_setting(kind, constraint, n_train, epochs,
                                                   args.seed, report, 20 if args.quick else 50))
    report("\nReference (re-run of the public code: real channels, no constraint, its own "
           "sequential band updates): classical "
           + " / ".join(f"{v:.2f}" for v in REFERENCE["classical"].values())
           + "; unfolded " + " / ".join(f"{v:.2f}" for v in REFERENCE["unfolded"].values()))
    if mode == "full":
        results["authors_lr"] = authors_learning_rate(n_train, args.seed, report)
        baseline = results["settings"][0]["unfolded"]
        results["correction"] = correction(n_train, epochs, args.seed, report, baseline)
    total = time.perf_counter() - t0
    report(f"\nTotal wall time {total:.0f} s")
    results["total_s"] = total
    prefix.parent.mkdir(parents=True, exist_ok=True)
    prefix.with_suffix(".txt").write_text("\n".join(report.lines) + "\n")
    with open(prefix.with_suffix(".json"), "w") as fh:
        json.dump(results, fh, indent=1, default=float)


if __name__ == "__main__":
    main()
