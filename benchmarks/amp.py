"""AMP, learned AMP (LAMP) and state evolution on the standard sparse-recovery problem.

Setting (Borgerding, Schniter & Rangan, IEEE TSP 2017): ``A`` with i.i.d. N(0, 1/M)
entries (columns not renormalised), M = 250, N = 500, Bernoulli(0.1)-Gaussian codes,
noise variance from SNR 40 dB (``sigma^2 = p N / M * 10^-4``), a fixed 1000-sample
test set. Reported per layer (NMSE dB):

* AMP (soft thresholding, alpha = 1.1402) and Bayes-optimal AMP (BG-MMSE denoiser),
  beside their state evolution;
* LAMP-soft (``paradigm="objective"``), LAMP-bg and LAMP-pwlin (``paradigm="dnn"``),
  K = 15, trained layer by layer; the per-layer figures are the staged outputs of
  the K = 15 model. The quick mode trains on a fixed array, one epoch per layer;
  the full mode follows Borgerding et al.'s recipe on fresh samples (a
  ``SampleSource`` around ``make_problem``): layer t alone at lr, then layers 1..t
  at lr x 0.2 and lr x 0.02, each stage on the loss of iterate t, with patience on
  a fixed 1000-sample validation set and a cap of epochs per stage;
* LISTA and ALISTA (``UnfoldedISTA``) at K = 15, and the support-oracle floor
  (least squares on the true support);
* measured AMP at N = 5000 (M = 2500) beside state evolution.

Usage::

    python benchmarks/amp.py --quick     # a few minutes on one core
    python benchmarks/amp.py             # larger CPU budget (about 20 CPU minutes)

Times are CPU seconds of this process (``time.process_time``) with one torch
thread. Results go to ``benchmarks/results/amp_{quick,full}.{txt,json}`` (``--out PREFIX``
to write them elsewhere).
"""

import argparse
import json
import os
import pathlib
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch

from skunfold.core import (
    EarlyStopping,
    MultiIteration,
    SampleSource,
    Sequential,
    TrainingDivergedError,
)
from skunfold.metrics import nmse_db
from skunfold.sparse import AMP, UnfoldedAMP, UnfoldedISTA, amp_state_evolution

torch.set_num_threads(1)

M, N, P, SNR, K = 250, 500, 0.1, 40.0, 15
RESULTS = pathlib.Path(__file__).parent / "results"

LAMP = {
    "LAMP-soft": {"paradigm": "objective"},
    "LAMP-bg": {"paradigm": "dnn", "shrinkage": "bg"},
    "LAMP-pwlin": {"paradigm": "dnn", "shrinkage": "pwlin"},
}


def budgets(quick):
    """Training-set size and (loss schedule, lr) of each learned model."""
    if quick:
        return {"n_train": 4000, "n_se": 100,
                "LAMP": (Sequential(epochs_per_stage=1), 1e-3),
                "LISTA": (MultiIteration("log"), 8, 2e-3),
                "ALISTA": (Sequential(epochs_per_stage=1, fine_tune=(0.2,)), None)}
    # LAMP: the layer-wise recipe on fresh samples; an epoch is 50 steps of 64, every stage
    # stops after 2 epochs without improvement on the validation set or at 4 epochs.
    # LISTA starts at the rate that survives here (2e-3 diverges on this problem: quick run)
    return {"n_train": 10000, "n_se": 200,
            "LAMP": {"n_samples_per_epoch": 64 * 50, "patience": 2,
                     "schedule": Sequential(epochs_per_stage=4, fine_tune=(0.2, 0.02)),
                     "lr": 1e-3},
            "LISTA": (MultiIteration("log"), 8, 2e-3 / 3),
            "ALISTA": (Sequential(epochs_per_stage=1, fine_tune=(0.2,)), None)}


def make_problem(n_samples, A, rng, snr_db=SNR, p=P):
    """The authors' generator: BG codes, noise variance from the SNR (row convention)."""
    m, n = A.shape
    S = np.where(rng.random((n_samples, n)) < p, rng.normal(size=(n_samples, n)), 0.0)
    sigma2 = p * n / m * 10.0 ** (-snr_db / 10.0)
    X = S @ A.T + np.sqrt(sigma2) * rng.normal(size=(n_samples, m))
    return X, S


def oracle_nmse(X, S, A):
    """NMSE (dB) of least squares on the true support of each sample."""
    est = np.zeros_like(S)
    for i, (x, s) in enumerate(zip(X, S)):
        support = np.flatnonzero(s)
        if support.size:
            est[i, support] = np.linalg.lstsq(A[:, support], x, rcond=None)[0]
    return nmse_db(S, est)


def staged(est, X, S):
    return [nmse_db(S, s) for s in est.staged_predict(X)]


def fit_with_retry(make, data, Xv, Sv, lr, name):
    """Fit on ``data`` (``(X, S)`` or ``(source,)``); a run that diverges (or ends worse than
    zero on validation) retries at lr / 3."""
    while True:
        est = make(lr)
        try:
            est.fit(*data)
            val = nmse_db(Sv, est.predict(Xv))
            if not val < 0.0:
                raise TrainingDivergedError(f"validation NMSE {val:.1f} dB")
            return est, lr
        except TrainingDivergedError:
            print(f"  {name}: diverged at lr={lr:g}, retrying at lr={lr / 3:g}", flush=True)
            lr /= 3


def stage_depths(est, Sv):
    """Validation NMSE (dB) of the k-layer network at the end of its last stage, k = 1..K."""
    norm = float(np.mean(np.asarray(Sv, dtype=np.float64) ** 2))
    best = {}
    for row in est.history_:
        stage = row["stage"]
        depth = int(stage.split("[")[1].split("]")[0])
        best.setdefault(depth, {}).setdefault(stage, []).append(row["valid_loss"])
    return [float(10 * np.log10(min(list(best[k].values())[-1]) / norm)) for k in sorted(best)]


def run_standard(quick, seed=0):
    b = budgets(quick)
    rng = np.random.default_rng(seed)
    A = rng.normal(0.0, 1.0 / np.sqrt(M), size=(M, N))
    D = np.ascontiguousarray(A.T)
    X, S = make_problem(b["n_train"], A, np.random.default_rng(seed + 1))
    Xv, Sv = make_problem(1000, A, np.random.default_rng(seed + 2))
    Xt, St = make_problem(1000, A, np.random.default_rng(seed + 3))
    X, S, Xv, Xt32 = (a.astype(np.float32) for a in (X, S, Xv, Xt))
    rows = {}

    def record(name, per_layer, cpu, budget):
        rows[name] = {"per_layer": [float(v) for v in per_layer], "cpu_s": cpu, "budget": budget}
        shown = ", ".join(f"{per_layer[k - 1]:.1f}" for k in (1, 5, 10, 15) if k <= len(per_layer))
        print(f"  {name:<12} k=1,5,10,15: {shown} dB   ({cpu:.1f} s CPU; {budget})", flush=True)

    t0 = time.process_time()
    rows_oracle = oracle_nmse(Xt, St, A)
    print(f"  support-oracle floor {rows_oracle:.2f} dB", flush=True)
    for name, denoiser in (("AMP", "soft"), ("AMP-bg", "bg")):
        t0 = time.process_time()
        per_layer = staged(AMP(D, n_layers=30, denoiser=denoiser).fit(Xt), Xt, St)
        record(name, per_layer, time.process_time() - t0, "nothing learned")
    se = {d: amp_state_evolution(30, sparsity=P, measurement_ratio=M / N, snr_db=SNR,
                                 denoiser=d).tolist() for d in ("soft", "bg")}

    def sampler(n_samples, random_state=None):
        """Fresh samples of the same problem (same A), from the seed the source gives."""
        Xs, Ss = make_problem(n_samples, A, np.random.default_rng(random_state))
        return Xs.astype(np.float32), Ss.astype(np.float32)

    lamp = b["LAMP"]
    for name, params in LAMP.items():
        t0 = time.process_time()
        if isinstance(lamp, dict):  # full: the layer-wise recipe on fresh samples
            sched = lamp["schedule"]
            source = SampleSource(sampler, n_samples_per_epoch=lamp["n_samples_per_epoch"],
                                  validation=(Xv, Sv))
            est, used = fit_with_retry(
                lambda lr, params=params: UnfoldedAMP(
                    D, n_layers=K, loss_schedule=sched, lr=lr, batch_size=64,
                    early_stopping=EarlyStopping(n_iter_no_change=lamp["patience"]),
                    random_state=seed, **params),
                (source,), Xv, Sv, lamp["lr"], name)
            steps = source.n_draws_ * lamp["n_samples_per_epoch"] // 64
            budget = (f"fresh samples, {steps} steps of 64 in {source.n_draws_} epochs of "
                      f"{lamp['n_samples_per_epoch'] // 64} steps, {sched!r}, patience "
                      f"{lamp['patience']}, Adam lr={used:g}")
        else:
            sched, lr = lamp
            est, used = fit_with_retry(
                lambda lr, params=params: UnfoldedAMP(
                    D, n_layers=K, loss_schedule=sched, max_epochs=K, lr=lr, batch_size=64,
                    random_state=seed, **params),
                (X, S), Xv, Sv, lr, name)
            n_stages = len(sched.stages(K, K))
            budget = (f"{len(X)} samples, {sched!r}, {n_stages} stages, Adam lr={used:g}, "
                      "batch 64")
        record(name, staged(est, Xt32, St), time.process_time() - t0, budget)
        if isinstance(lamp, dict):
            rows[name].update(steps=steps, epochs=source.n_draws_,
                              validation_at_depth=stage_depths(est, Sv))

    sched, epochs, lr = b["LISTA"]
    t0 = time.process_time()
    est, used = fit_with_retry(
        lambda lr: UnfoldedISTA(D, n_layers=K, paradigm="objective", alpha=0.4,
                                loss_schedule=sched, max_epochs=epochs, lr=lr, batch_size=64,
                                random_state=seed),
        (X, S), Xv, Sv, lr, "LISTA")
    record("LISTA", staged(est, Xt32, St), time.process_time() - t0,
           f"{len(X)} samples, {sched!r}, {epochs} epochs, Adam lr={used:g}")

    sched, lr = b["ALISTA"]
    t0 = time.process_time()
    est = UnfoldedISTA(D, n_layers=K, paradigm="hyperparameters", weights="analytic",
                       support_selection=True, alpha=0.4, loss_schedule=sched, max_epochs=K,
                       lr=lr, batch_size=64, random_state=seed).fit(X, S)
    record("ALISTA", staged(est, Xt32, St), time.process_time() - t0,
           f"{len(X)} samples, {sched!r}, Adam lr=5e-2 (log-scalars)")
    return {"oracle_db": rows_oracle, "se": se, "models": rows}


def run_large(quick, seed=0):
    """Measured AMP at N = 5000 (M = 2500) beside state evolution."""
    m, n = 2500, 5000
    n_samples = budgets(quick)["n_se"]
    rng = np.random.default_rng(seed + 10)
    A = rng.normal(0.0, 1.0 / np.sqrt(m), size=(m, n)).astype(np.float32)
    X, S = make_problem(n_samples, A, np.random.default_rng(seed + 11))
    out = {}
    for denoiser, T in (("soft", 25), ("bg", 12)):
        t0 = time.process_time()
        amp = AMP(np.ascontiguousarray(A.T), n_layers=T, denoiser=denoiser)
        measured = staged(amp.fit(X.astype(np.float32)), X.astype(np.float32), S)
        se = amp_state_evolution(T, sparsity=P, measurement_ratio=m / n, snr_db=SNR,
                                 denoiser=denoiser)
        gap = np.abs(np.array(measured) - se)
        out[denoiser] = {"measured": [float(v) for v in measured], "se": se.tolist(),
                             "max_gap_db": float(gap.max()), "cpu_s": time.process_time() - t0,
                             "n_samples": n_samples}
        print(f"  N=5000 AMP-{denoiser}: max |measured - SE| = {gap.max():.2f} dB over "
              f"t = 1..{T} ({n_samples} samples, {time.process_time() - t0:.0f} s CPU)",
              flush=True)
    return out


def report(res, quick):
    """The printed tables and the verdict on the targets."""
    lines = []
    models, se, floor = res["models"], res["se"], res["oracle_db"]
    ks = list(range(1, K + 1))
    lines.append(f"NMSE (dB) per layer, M={M}, N={N}, p={P}, SNR {SNR:g} dB, i.i.d. N(0, 1/M) A, "
                 f"1000 test samples ({'quick' if quick else 'full'} budget)")
    head = "model        " + " ".join(f"{k:>6d}" for k in ks)
    lines += [head, "-" * len(head)]
    for name, row in [("SE soft", {"per_layer": se["soft"]}),
                      ("SE bg", {"per_layer": se["bg"]})] + list(models.items()):
        lines.append(f"{name:<12} " + " ".join(f"{v:6.1f}" for v in row["per_layer"][:K]))
    lines.append(f"{'oracle':<12} " + " ".join(f"{floor:6.1f}" for _ in ks))
    lines.append("")
    lines.append("AMP at t = 20, 25, 30: " + ", ".join(
        f"{models['AMP']['per_layer'][t - 1]:.1f}" for t in (20, 25, 30)) + " dB")
    lines.append("CPU seconds and budgets:")
    for name, row in models.items():
        lines.append(f"  {name:<12} {row['cpu_s']:7.1f} s  {row['budget']}")
    lines.append("")
    for name in LAMP:
        if "validation_at_depth" in models[name]:
            lines.append(f"  {name}: validation NMSE of the k-layer network at the end of its "
                         "stage: " + " ".join(f"{v:.1f}" for v in
                                               models[name]["validation_at_depth"]))
    lines.append("")
    bg10 = models["LAMP-bg"]["per_layer"][9]
    lines.append(f"target LAMP-bg within 2 dB of the oracle by layer 10: {bg10:.2f} vs "
                 f"{floor:.2f} + 2 -> {'met' if bg10 <= floor + 2 else 'NOT met'}")
    lista = np.array(models["LISTA"]["per_layer"])
    for name in LAMP:
        lamp = np.array(models[name]["per_layer"])
        worse = [k + 1 for k in range(K) if not lamp[k] < lista[k]]
        lines.append(f"target {name} better than LISTA at every depth: "
                     + ("met" if not worse else f"NOT met at k = {worse}")
                     + f" (margin min {np.min(lista - lamp):.1f} dB)")
    for d, row in res["large"].items():
        lines.append(f"target AMP-{d} within 1 dB of SE at N = 5000: max gap "
                     f"{row['max_gap_db']:.2f} dB -> "
                     + ("met" if row["max_gap_db"] <= 1 else "NOT met"))
        lines.append("   measured: " + " ".join(f"{v:6.1f}" for v in row["measured"]))
        lines.append("   SE:       " + " ".join(f"{v:6.1f}" for v in row["se"]))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="reduced budget (minutes)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None,
                        help="prefix of the .txt and .json outputs "
                             "(default benchmarks/results/amp_{quick,full})")
    args = parser.parse_args(argv)
    t0 = time.process_time()
    print("standard problem", flush=True)
    res = run_standard(args.quick, args.seed)
    print("N = 5000", flush=True)
    res["large"] = run_large(args.quick, args.seed)
    res["total_cpu_s"] = time.process_time() - t0
    text = report(res, args.quick) + f"\n\ntotal CPU {res['total_cpu_s']:.0f} s\n"
    print("\n" + text)
    tag = "quick" if args.quick else "full"
    prefix = pathlib.Path(args.out or RESULTS / f"amp_{tag}")
    prefix.parent.mkdir(parents=True, exist_ok=True)
    prefix.with_name(prefix.name + ".txt").write_text(text)
    prefix.with_name(prefix.name + ".json").write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
