"""Per-layer NMSE of the sparse-recovery family on the standard LISTA benchmark.

Setting (docs/published_results.rst, "Sparse recovery"): m = 250 measurements, n = 500 atoms,
Bernoulli(0.1) support, K = 16 layers, noiseless and SNR 40 / 30 / 20 dB, a
fixed 1000-sample test set. Every model is trained here, on this machine, with
the training budget printed beside its row; the published figure is shown for
comparison.

Usage::

    python benchmarks/sparse_recovery.py --quick          # a few minutes on 2 CPU cores
    python benchmarks/sparse_recovery.py                  # full CPU budget (tens of minutes)
    python benchmarks/sparse_recovery.py --snr inf 20 --models ALISTA LISTA-CPSS
    python benchmarks/sparse_recovery.py --recipe     # NMSE vs training time, default recipe
    python benchmarks/sparse_recovery.py --protocol --models ALISTA LISTA   # the papers' protocol
    python benchmarks/sparse_recovery.py --protocol --device cuda   # ... at the papers' size

``--protocol`` trains on fresh samples every step (a ``SampleSource``) with the
papers' stage-wise recipe: layer t alone at lr, then layers 1..t at lr x 0.2
and lr x 0.02, each stage ending after ``patience`` epochs without improvement
on a frozen 1000-sample validation set. On the CPU an epoch is 50 steps of 64
and each stage is capped (``--epochs-per-stage``); with ``--device cuda`` an
epoch is 1000 steps, the patience 4 epochs (2 for ALISTA) and the cap 100
epochs: the original code's 4000 / 2000 steps of patience.

Times are CPU seconds of this process (``time.process_time``) with one torch
thread, so they read as "seconds of one core" even on a busy machine.
"""

import argparse
import json
import os
import time
from functools import partial

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.model_selection import GridSearchCV, PredefinedSplit  # noqa: E402

from skunfold.core import (  # noqa: E402
    EarlyStopping,
    MultiIteration,
    SampleSource,
    Sequential,
    TrainingDivergedError,
)
from skunfold.datasets import make_sparse_recovery  # noqa: E402
from skunfold.metrics import nmse_db, nmse_scorer  # noqa: E402
from skunfold.sparse import FISTA, ISTA, HyperLISTA, UnfoldedISTA  # noqa: E402

torch.set_num_threads(1)

M, N, P, K = 250, 500, 0.1, 16

#: Published K = 16 figures (docs/published_results.rst): noiseless / 40 / 30 / 20 dB.
#: None = not published.
PUBLISHED = {
    "ISTA": {None: -6.2, 40: -6.2, 30: -6.2, 20: -6.1},
    "FISTA": {None: -10.9, 40: -10.9, 30: -10.8, 20: -10.5},
    "LISTA": {None: -35.0, 20: -18.5},
    "LISTA-CP": {None: -30.5, 20: -15.0},
    "LISTA-CPSS": {None: -63.0, 20: -20.0},
    "ALISTA": {None: -78.0, 20: -20.0},
    "HyperLISTA": {},
}
#: Targets of the issue at K = 16.
TARGETS = {
    "ISTA": {None: -6.2}, "FISTA": {None: -10.9},
    "LISTA": {None: -32.0}, "LISTA-CP": {None: -30.0},
    "LISTA-CPSS": {None: -55.0}, "ALISTA": {None: -65.0, 40: -40.0, 30: -33.0, 20: -20.0},
}
ORACLE = {40: -45.9, 30: -35.9, 20: -25.9}

LEARNED = {
    "LISTA": dict(paradigm="objective", alpha=0.4),
    "LISTA-CP": dict(paradigm="objective", coupling="cp", alpha=0.4),
    "LISTA-CPSS": dict(paradigm="objective", coupling="cp", support_selection=True, alpha=0.4),
    "ALISTA": dict(paradigm="hyperparameters", weights="analytic", support_selection=True,
                   alpha=0.4),
    "ALISTA-noSS": dict(paradigm="hyperparameters", weights="analytic", alpha=0.4),
    # support selection up to 16% (80 of 500 entries) instead of the papers' 13%
    "ALISTA-SS16": dict(paradigm="hyperparameters", weights="analytic",
                        support_selection=(1.2, 16.0), alpha=0.4),
}


def budgets(quick):
    """Training-set size and (loss schedule, max_epochs, lr) of each learned model.

    ALISTA is trained layer by layer with fine-tuning passes (the original
    code's scheme); the matrix-learning LISTA family with the multi-iteration
    loss (log(1+k) weights), which at a CPU budget trains them faster and more
    stably than the layer-wise scheme (see docs/benchmarks.rst).
    """
    if quick:
        lista = (MultiIteration("log"), 8, 2e-3)
        return {"n_train": 4000,
                "ALISTA": (Sequential(epochs_per_stage=1, fine_tune=(0.2,)), 1, None),
                "LISTA": lista, "LISTA-CP": lista, "LISTA-CPSS": lista}
    lista = (MultiIteration("log"), 16, 2e-3)
    return {"n_train": 10000,
            "ALISTA": (Sequential(epochs_per_stage=2, fine_tune=(0.2, 0.02)), 1, None),
            "LISTA": lista, "LISTA-CP": lista, "LISTA-CPSS": lista}


def tune_lambda(cls, D, X, S):
    """Pick a classical solver's l1 weight on a validation set (the papers tune lambda)."""
    best = None
    for alpha in (0.05, 0.1, 0.2, 0.3, 0.4, 0.6):
        est = cls(D, n_layers=K, alpha=alpha).fit(X)
        score = nmse_db(S, est.predict(X))
        if best is None or score < best[0]:
            best = (score, alpha)
    return best[1]


def effective_lr(est):
    """The learning rate an estimator trains with (its ``lr``, or its paradigm's default)."""
    if est.lr is not None:
        return est.lr
    return est.default_lr.get(est.paradigm, est.default_lr[None])


def run_setting(snr, models, quick, seed=0):
    X, S, D = make_sparse_recovery(budgets(quick)["n_train"], M, N, P, snr_db=snr,
                                   random_state=seed)
    Xv, Sv, _ = make_sparse_recovery(1000, M, N, P, snr_db=snr, dictionary=D, random_state=seed + 1)
    Xt, St, _ = make_sparse_recovery(1000, M, N, P, snr_db=snr, dictionary=D, random_state=seed + 2)
    X, S = X.astype(np.float32), S.astype(np.float32)
    Xt32 = Xt.astype(np.float32)
    rows = {}
    for name in models:
        t0 = time.process_time()
        if name in ("ISTA", "FISTA"):
            cls = ISTA if name == "ISTA" else FISTA
            alpha = tune_lambda(cls, D, Xv, Sv)
            est = cls(D, n_layers=K, alpha=alpha).fit(Xt32)
            budget = f"lambda={alpha} tuned on 1000 val."
        elif name == "HyperLISTA":
            # exhaustive grid scored on one 512-sample batch (as the authors do), no backprop
            # (the "training" fold is unused: HyperLISTA.fit learns nothing)
            Xg, Sg = Xv, Sv
            fold = np.r_[np.zeros(512, dtype=int), np.full(len(Xv) - 512, -1)]
            grid = {"c_threshold": [0.002, 0.004, 0.006, 0.008, 0.012, 0.016, 0.024],
                    "c_momentum": [0.0, 0.002, 0.003, 0.004, 0.005, 0.006, 0.008],
                    "c_support": [0.0, 0.01, 0.02, 0.04, 0.08, 0.16]}
            if quick:
                grid = {"c_threshold": [0.004, 0.008, 0.012], "c_momentum": [0.003, 0.005],
                        "c_support": [0.0, 0.02, 0.08]}
            search = GridSearchCV(HyperLISTA(D, n_layers=K), grid, scoring=nmse_scorer,
                                  cv=PredefinedSplit(fold), refit=False).fit(Xg, Sg)
            est = HyperLISTA(D, n_layers=K, **search.best_params_).fit(Xg, Sg)
            n_grid = int(np.prod([len(v) for v in grid.values()]))
            budget = f"grid {n_grid} pts on 512 val. " + ",".join(
                f"{k[2:]}={v:g}" for k, v in search.best_params_.items())
        else:
            sched, epochs, lr = budgets(quick)[name]
            while True:
                est = UnfoldedISTA(D, n_layers=K, loss_schedule=sched, max_epochs=epochs,
                                   batch_size=64, lr=lr, random_state=seed, **LEARNED[name])
                try:
                    est.fit(X, S)
                    val = nmse_db(Sv, est.predict(Xv.astype(np.float32)))
                    if not val < 0.0:  # worse than the zero estimate on held-out data
                        raise TrainingDivergedError(f"validation NMSE {val:.1f} dB")
                    break
                except TrainingDivergedError:
                    lr = effective_lr(est)
                    print(f"  {name}: diverged at lr={lr:g}, retrying at lr={lr / 3:g}", flush=True)
                    lr /= 3
            n_stages = len(sched.stages(K, epochs))
            budget = (f"{len(X)} samples, {sched!r}, max_epochs={epochs}, "
                      f"{n_stages} stage(s), lr={effective_lr(est):g}")
        cpu = time.process_time() - t0
        per_layer = [nmse_db(St, s) for s in est.staged_predict(Xt32)]
        rows[name] = dict(per_layer=per_layer, cpu_s=cpu, budget=budget)
        print(f"  {name:<11} K=16 NMSE {per_layer[-1]:7.1f} dB   ({cpu:6.1f} s CPU; {budget})",
              flush=True)
    return rows


def fmt(v):
    return "   -  " if v is None else f"{v:6.1f}"


def print_table(snr, rows):
    label = "noiseless" if snr is None else f"SNR {snr:g} dB"
    ks = [1, 2, 4, 6, 8, 10, 12, 14, 16]
    print(f"\nNMSE (dB) per layer, {label}, m={M}, n={N}, p={P}, test set 1000")
    head = "model       " + " ".join(f"k={k:<4d}" for k in ks) + "  published  target  CPU s"
    print(head)
    print("-" * len(head))
    for name, r in rows.items():
        pub = PUBLISHED.get(name.split(" (")[0], {}).get(snr)
        tgt = TARGETS.get(name.split(" (")[0], {}).get(snr)
        vals = " ".join(f"{r['per_layer'][k - 1]:6.1f}" for k in ks)
        print(f"{name:<11} {vals}    {fmt(pub)}   {fmt(tgt)}  {r['cpu_s']:6.1f}")
    if snr in ORACLE:
        print(f"(oracle floor: true support + least squares = {ORACLE[snr]} dB)")


def recipe_curve(seed=0, max_cpu=120.0):
    """NMSE vs training CPU time of the default ALISTA recipe at increasing budgets."""
    X, S, D = make_sparse_recovery(16000, M, N, P, random_state=seed)
    Xt, St, _ = make_sparse_recovery(1000, M, N, P, dictionary=D, random_state=seed + 2)
    X, S, Xt = X.astype(np.float32), S.astype(np.float32), Xt.astype(np.float32)
    print("\nDefault recipe: UnfoldedISTA(paradigm='hyperparameters', weights='analytic', "
          "support_selection=True, loss_schedule='sequential') -- lr default "
          "(5e-2 on log-step and log-threshold), batch 64")
    print(f"{'training samples':>16} {'max_epochs':>10} {'CPU s':>8} {'NMSE K=16 (dB)':>15}")
    out = []
    for n_train, epochs in [(1000, 16), (2000, 16), (4000, 16), (8000, 16), (16000, 16),
                            (16000, 32)]:
        t0 = time.process_time()
        est = UnfoldedISTA(D, n_layers=K, paradigm="hyperparameters", weights="analytic",
                           support_selection=True, alpha=0.4, loss_schedule="sequential",
                           max_epochs=epochs, random_state=seed).fit(X[:n_train], S[:n_train])
        cpu = time.process_time() - t0
        score = nmse_db(St, est.predict(Xt))
        out.append(dict(n_train=n_train, max_epochs=epochs, cpu_s=cpu, nmse_db=score))
        print(f"{n_train:>16} {epochs:>10} {cpu:8.1f} {score:15.1f}", flush=True)
        if cpu > max_cpu:
            break
    return out


#: The papers' learning rates: Adam 5e-4 (ALISTA: our default on its log-step and log-threshold).
PROTOCOL_LR = {"LISTA": 5e-4, "LISTA-CP": 5e-4, "LISTA-CPSS": 5e-4, "ALISTA": None,
               "ALISTA-noSS": None, "ALISTA-SS16": None}


def protocol_settings(device, epochs_per_stage=None, quick=False):
    """Samples per epoch, patience (epochs) and stage cap of the protocol on ``device``."""
    if device == "cuda":
        return dict(n_samples_per_epoch=64 * 1000, patience=4, patience_alista=2,
                    epochs_per_stage=epochs_per_stage or 100)
    if quick:
        return dict(n_samples_per_epoch=64 * 10, patience=2, patience_alista=2,
                    epochs_per_stage=epochs_per_stage or 2)
    return dict(n_samples_per_epoch=64 * 50, patience=3, patience_alista=3,
                epochs_per_stage=epochs_per_stage or 8)


def stage_curve(est, normaliser):
    """(cumulative training seconds, stage, depth, best validation NMSE dB) at each stage's end."""
    history, out, elapsed = est.history_, [], 0.0
    for i, row in enumerate(history):
        elapsed += row["dur"]
        last = i + 1 == len(history) or history[i + 1]["stage"] != row["stage"]
        if last:
            stage = row["stage"]
            losses = [r["valid_loss"] for r in history if r["stage"] == stage]
            depth = int(stage.split("[")[1].split("]")[0]) if "[" in stage else K
            out.append(dict(seconds=elapsed, stage=stage, depth=depth,
                            valid_nmse_db=float(10 * np.log10(min(losses) / normaliser))))
    return out


def run_protocol(models, snr, device, epochs_per_stage=None, quick=False, seed=0,
                 alista_init=False, refine="stagewise", refine_lr=None):
    """Train each model from a sample source with the papers' stage-wise recipe.

    With ``alista_init``, LISTA-CP / -CPSS are fitted with
    ``init=UnfoldedISTA(paradigm="hyperparameters", weights="analytic", ...)``:
    an ALISTA (with support selection for -CPSS) trained by the same recipe,
    whose layer k is LISTA-CP's starting layer k; the matrices are then
    refined at ``refine_lr`` (default a tenth of the papers' lr) either by the
    same stage-wise recipe or end to end (``refine="end_to_end"``: the loss
    of layer K, at most ``16 cap`` epochs with the same patience).
    """
    settings = protocol_settings(device, epochs_per_stage, quick)
    _, _, D = make_sparse_recovery(1, M, N, P, random_state=seed)
    Xv, Sv, _ = make_sparse_recovery(1000, M, N, P, snr_db=snr, dictionary=D, random_state=seed + 1)
    Xt, St, _ = make_sparse_recovery(1000, M, N, P, snr_db=snr, dictionary=D, random_state=seed + 2)
    Xv, Sv, Xt = Xv.astype(np.float32), Sv.astype(np.float32), Xt.astype(np.float32)
    sampler = partial(make_sparse_recovery, n_measurements=M, n_components=N, sparsity=P,
                      snr_db=snr, dictionary=D)
    print(f"protocol on {device}: {settings}", flush=True)
    rows = {}
    for name in models:
        patience = settings["patience_alista" if name.startswith("ALISTA") else "patience"]
        schedule = Sequential(epochs_per_stage=settings["epochs_per_stage"], fine_tune=(0.2, 0.02))
        source = SampleSource(sampler, n_samples_per_epoch=settings["n_samples_per_epoch"],
                              validation=(Xv, Sv))
        est = UnfoldedISTA(D, n_layers=K, loss_schedule=schedule, batch_size=64,
                           lr=PROTOCOL_LR[name],
                           early_stopping=EarlyStopping(n_iter_no_change=patience),
                           device=device, random_state=seed, **LEARNED[name])
        start = None
        if alista_init and name in ("LISTA-CP", "LISTA-CPSS"):
            start = UnfoldedISTA(D, n_layers=K, loss_schedule=schedule, batch_size=64,
                                 early_stopping=EarlyStopping(
                                     n_iter_no_change=settings["patience_alista"]),
                                 device=device, random_state=seed,
                                 **LEARNED["ALISTA" if name == "LISTA-CPSS" else "ALISTA-noSS"])
            est.set_params(init=start, lr=refine_lr or PROTOCOL_LR[name] / 10)
            if refine == "end_to_end":
                est.set_params(loss_schedule="end_to_end",
                               max_epochs=16 * settings["epochs_per_stage"])
            name = f"{name} (ALISTA init, {refine.replace('_', ' ')})"
        t0, w0 = time.process_time(), time.perf_counter()
        est.fit(source)
        cpu, wall = time.process_time() - t0, time.perf_counter() - w0
        per_layer = [nmse_db(St, s) for s in est.staged_predict(Xt)]
        errors = np.sum((est.predict(Xt) - St) ** 2, axis=1, dtype=np.float64)
        worst = np.sort(errors)[::-1]
        tail = dict(valid_nmse_db=nmse_db(Sv, est.predict(Xv)),
                    median_sample_nmse_db=float(10 * np.log10(np.median(
                        errors / np.maximum(np.sum(St.astype(np.float64) ** 2, axis=1),
                                            1e-30)))),
                    worst10_error_share=float(worst[:10].sum() / max(errors.sum(), 1e-300)),
                    without_worst10_nmse_db=float(10 * np.log10(
                        worst[10:].sum() / np.sum(St.astype(np.float64) ** 2))),
                    worst10_nonzeros=[int(v) for v in (St != 0).sum(axis=1)[
                        np.argsort(errors)[::-1][:10]]])
        if start is not None:  # the ALISTA it started from, and the refinement's epochs
            init = est.init_estimator_
            tail["start"] = dict(test_nmse_db=nmse_db(St, init.predict(Xt)),
                                 valid_nmse_db=nmse_db(Sv, init.predict(Xv)),
                                 epochs=len(init.history_), refine_epochs=len(est.history_))
            print(f"      started from ALISTA: test {tail['start']['test_nmse_db']:.1f} dB, "
                  f"validation {tail['start']['valid_nmse_db']:.1f} dB after "
                  f"{len(init.history_)} epochs; refined for {len(est.history_)} epochs",
                  flush=True)
        epochs = sum(len(e.history_) for e in (est, est.init_estimator_ if start else None)
                     if e is not None)
        steps = epochs * settings["n_samples_per_epoch"] // 64
        curve = stage_curve(est, float(np.mean(Sv.astype(np.float64) ** 2)))
        rows[name] = dict(per_layer=per_layer, cpu_s=cpu, wall_s=wall, steps=steps,
                          epochs=epochs, curve=curve, settings=settings,
                          lr=effective_lr(est), patience=patience, **tail)
        print(f"  {name:<11} K=16 NMSE {per_layer[-1]:7.1f} dB   ({cpu:7.1f} s CPU, {wall:7.1f} s "
              f"wall, {steps} steps of 64 in {epochs} epochs, lr={effective_lr(est):g})",
              flush=True)
        print(f"      validation set: {tail['valid_nmse_db']:.1f} dB; test set: median per-sample "
              f"NMSE {tail['median_sample_nmse_db']:.1f} dB, the 10 worst of 1000 samples hold "
              f"{100 * tail['worst10_error_share']:.0f}% of the error (without them "
              f"{tail['without_worst10_nmse_db']:.1f} dB; their non-zeros: "
              f"{tail['worst10_nonzeros']})", flush=True)
        for point in curve:
            if point["stage"].startswith("fine_tune") and point["stage"].endswith("x0.02"):
                print(f"      after layer {point['depth']:2d}: {point['seconds']:7.1f} s, "
                      f"validation NMSE {point['valid_nmse_db']:6.1f} dB", flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small training budget")
    parser.add_argument("--snr", nargs="*", default=None,
                        help="SNRs in dB ('inf' = noiseless); default inf 40 30 20")
    parser.add_argument("--models", nargs="*", default=None)
    parser.add_argument("--recipe", action="store_true", help="only the NMSE-vs-time curve")
    parser.add_argument("--json", default=None, help="write the results to this file")
    parser.add_argument("--protocol", action="store_true",
                        help="train from fresh samples with the papers' stage-wise recipe")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (--protocol)")
    parser.add_argument("--epochs-per-stage", type=int, default=None,
                        help="cap of every stage (--protocol; default 8 on cpu, 100 on cuda)")
    parser.add_argument("--alista-init", action="store_true",
                        help="--protocol: start LISTA-CP / -CPSS from a trained ALISTA")
    parser.add_argument("--refine", default="stagewise", choices=["stagewise", "end_to_end"],
                        help="--alista-init: how the matrices are refined from the start")
    parser.add_argument("--refine-lr", type=float, default=None,
                        help="--alista-init: lr of the refinement (default: papers' lr / 10)")
    args = parser.parse_args()
    results = {}
    if args.protocol:
        snr = None if not args.snr or args.snr[0] == "inf" else float(args.snr[0])
        models = args.models or ["ALISTA", "LISTA-CPSS", "LISTA-CP", "LISTA"]
        rows = run_protocol(models, snr, args.device, args.epochs_per_stage, args.quick,
                            alista_init=args.alista_init, refine=args.refine,
                            refine_lr=args.refine_lr)
        print_table(snr, {k: dict(v, cpu_s=v["cpu_s"]) for k, v in rows.items()})
        results["protocol"] = rows
    elif args.recipe:
        results["recipe"] = recipe_curve()
    else:
        snrs = [None if s == "inf" else float(s) for s in (args.snr or ["inf", "40", "30", "20"])]
        snrs = [None if s is None else int(s) if float(s).is_integer() else s for s in snrs]
        models = args.models or ["ISTA", "FISTA", "LISTA", "LISTA-CP", "LISTA-CPSS", "ALISTA",
                                 "HyperLISTA"]
        for snr in snrs:
            print(f"\n== {'noiseless' if snr is None else f'SNR {snr} dB'} "
                  f"({'quick' if args.quick else 'full'} budget) ==", flush=True)
            rows = run_setting(snr, models, args.quick)
            print_table(snr, rows)
            results[str(snr)] = rows
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1, default=float)


if __name__ == "__main__":
    main()
