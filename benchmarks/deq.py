"""Deep equilibrium (``fixed_point=True``) against unrolled models: memory, time, accuracy.

Standard sparse problem (docs/published_results.rst): m = 250 measurements,
n = 500 atoms, Bernoulli(0.1) support, SNR 40 dB, batch 64, one torch thread.

1. **Memory and time of one training step** (forward + backward) at depth
   K = 16, 64, 256: the unrolled model (K layers of a tied learned ISTA
   step, backpropagation through every layer) against the deep equilibrium
   model running exactly K forward iterations (``tol`` tiny, plain
   iteration, so both do the same forward work) with the implicit and the
   Jacobian-free backward. Memory is the bytes of the tensors autograd saves
   for the backward pass (the activations), counted exactly with
   ``torch.autograd.graph.saved_tensors_hooks``, against one layer's; time is
   the best of several steps.
2. **Accuracy at equal inference cost**: ISTA with learned hyperparameters
   and with a learned correction (a small MLP added to the ISTA step),
   trained unrolled at K = 16 and as deep equilibrium models (Anderson,
   ``tol=1e-4``, implicit gradient); test NMSE of the DEQ models run for 16,
   64 and 256 iterations at most, against the unrolled models, ISTA and
   FISTA at the same depths. The training budget is printed beside every row.

Usage::

    python benchmarks/deq.py --quick      # minutes on 2 cores
    python benchmarks/deq.py              # more training samples and epochs

Writes ``benchmarks/results/deq_{quick,full}.{txt,json}``.
"""

import argparse
import json
import os
import time
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from skunfold.core import FixedPoint, TrainingDivergedError  # noqa: E402
from skunfold.datasets import make_sparse_recovery  # noqa: E402
from skunfold.metrics import nmse_db  # noqa: E402
from skunfold.sparse import FISTA, ISTA, UnfoldedISTA  # noqa: E402

torch.set_num_threads(1)
M, N, P, SNR, BATCH = 250, 500, 0.1, 40.0, 64
DEPTHS = (16, 64, 256)


def saved_bytes(fn):
    total = [0]

    def pack(t):
        total[0] += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return total[0]


def best_time(fn, repeat):
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return min(out)


def memory_and_time(D, X, S, log, repeat):
    est = UnfoldedISTA(D, n_layers=1, tied=True, max_epochs=1, batch_size=BATCH,
                       random_state=0).fit(X[:BATCH], S[:BATCH])
    module = est.module_
    x, s = torch.as_tensor(X[:BATCH]), torch.as_tensor(S[:BATCH])

    def step(n_layers):
        module.zero_grad()
        ((module(x, n_layers=n_layers)[-1] - s) ** 2).sum().backward()

    module.fixed_point = None
    # one inner layer's activations (the first layer saves less: its input is a constant)
    one_layer = (saved_bytes(lambda: step(17)) - saved_bytes(lambda: step(16)))
    rows = []
    for K in DEPTHS:
        module.fixed_point = None
        entry = {"K": K, "unrolled": {"bytes": saved_bytes(lambda K=K: step(K)),
                                      "seconds": best_time(lambda K=K: step(K), repeat)}}
        for backward in ("implicit", "jacobian_free"):
            module.fixed_point = FixedPoint(tol=1e-30, max_iter=K, solver="picard",
                                            backward=backward)
            entry[backward] = {"bytes": saved_bytes(lambda: step(1)),
                               "seconds": best_time(lambda: step(1), repeat)}
            if backward == "implicit":
                log_b = module.fixed_point.backward_log
                entry[backward]["backward_iterations"] = max(it for it, _ in log_b)
        rows.append(entry)
        log(f"K={K:4d}: activations unrolled {entry['unrolled']['bytes'] / 1e6:8.2f} MB "
            f"({entry['unrolled']['bytes'] / one_layer:6.1f} layers), DEQ implicit "
            f"{entry['implicit']['bytes'] / 1e6:6.2f} MB "
            f"({entry['implicit']['bytes'] / one_layer:4.2f} layers), Jacobian-free "
            f"{entry['jacobian_free']['bytes'] / 1e6:6.2f} MB "
            f"({entry['jacobian_free']['bytes'] / one_layer:4.2f} layers); step time unrolled "
            f"{entry['unrolled']['seconds'] * 1e3:7.1f} ms, implicit "
            f"{entry['implicit']['seconds'] * 1e3:7.1f} ms "
            f"(backward solve {entry['implicit']['backward_iterations']} iterations), "
            f"Jacobian-free {entry['jacobian_free']['seconds'] * 1e3:7.1f} ms")
    module.fixed_point = None
    return {"one_layer_bytes": one_layer, "rows": rows}


def accuracy(D, X, S, Xte, Ste, args, log):
    results = {}
    classical = {"ISTA": ISTA(D), "FISTA": FISTA(D)}
    for name, est in classical.items():
        if args.models is not None and name not in args.models:
            continue
        est.set_params(n_layers=max(DEPTHS)).fit(Xte[:1])
        staged = list(est.staged_predict(Xte))
        results[name] = {K: nmse_db(Ste, staged[K - 1]) for K in DEPTHS}
        log(f"{name:34s} " + "  ".join(f"K={K}: {v:6.2f}" for K, v in results[name].items()))
    common = dict(max_epochs=args.epochs, batch_size=BATCH, random_state=0, n_threads=1)
    models = {
        "unrolled hyperparameters (tied)": dict(paradigm="hyperparameters", tied=True, lr=0.05),
        "unrolled hyperparameters (untied)": dict(paradigm="hyperparameters", lr=0.05),
        "unrolled correction": dict(paradigm="correction", lr=1e-3),
        "DEQ hyperparameters": dict(paradigm="hyperparameters", lr=0.05,
                                    fixed_point=FixedPoint(max_iter=args.train_iter)),
        "DEQ correction": dict(paradigm="correction", lr=args.correction_lr,
                               fixed_point=FixedPoint(max_iter=args.train_iter)),
        "DEQ correction, Jacobian-free": dict(
            paradigm="correction", lr=args.correction_lr,
            fixed_point=FixedPoint(max_iter=args.train_iter, backward="jacobian_free")),
    }
    for name, params in models.items():
        if args.models is not None and name not in args.models:
            continue
        deq = "fixed_point" in params
        est = UnfoldedISTA(D, n_layers=16, **params, **common)
        start = time.process_time()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                est.fit(X, S)
        except TrainingDivergedError as exc:
            results[name] = {"error": str(exc).split(";")[0]}
            log(f"{name:34s} training diverged ({results[name]['error']})")
            continue
        cpu = time.process_time() - start
        row = {"train_cpu_s": cpu}
        if deq:
            for K in DEPTHS:
                est.set_params(fixed_point__max_iter=K)
                est.module_.fixed_point.max_iter = K
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    pred = est.predict(Xte)
                info = est.module_.fixed_point.last_forward
                row[K] = nmse_db(Ste, pred)
                row[f"mean_iter_{K}"] = float(info["n_iter"].mean())
            row["backward_iterations_mean"] = float(np.mean(est.backward_n_iter_)) \
                if len(est.backward_n_iter_) else None
        else:
            staged = list(est.staged_predict(Xte, n_layers=16))
            row[16] = nmse_db(Ste, staged[-1])
            if est.module_.tied:
                for K in DEPTHS[1:]:
                    row[K] = nmse_db(Ste, est.iterate(Xte, n_layers=K))
        results[name] = row
        shown = "  ".join(f"K={K}: {row[K]:6.2f}" + (f" ({row[f'mean_iter_{K}']:.0f} it.)"
                                                       if deq else "")
                          for K in DEPTHS if K in row)
        log(f"{name:34s} {shown}   [{len(X)} samples x {args.epochs} epochs, lr "
            f"{params['lr']:g}, {cpu:.0f} s CPU]")
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--correction-lr", type=float, default=1e-4)
    parser.add_argument("--models", nargs="+", default=None,
                        help="train only these rows (names as printed), skip the memory part")
    parser.add_argument("--out", default=None, help="prefix of the .txt and .json outputs")
    args = parser.parse_args()
    args.n_train, args.epochs, args.train_iter = ((2000, 5, 50) if args.quick else (8000, 10, 100))
    name = "quick" if args.quick else "full"
    prefix = args.out or os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                                      f"deq_{name}")
    lines = []

    def log(line):
        print(line, flush=True)
        lines.append(line)

    log(f"# python benchmarks/deq.py {'--quick' if args.quick else ''}: m={M}, n={N}, p={P}, "
        f"SNR {SNR:g} dB, batch {BATCH}, one torch thread, torch {torch.__version__}")
    X, S, D = make_sparse_recovery(args.n_train + 1000, M, N, sparsity=P, snr_db=SNR,
                                   random_state=0)
    X, S = X.astype(np.float32), S.astype(np.float32)
    Xtr, Str, Xte, Ste = X[:args.n_train], S[:args.n_train], X[args.n_train:], S[args.n_train:]
    start = time.time()
    memory = None
    if args.models is None:
        log("## memory (autograd's saved tensors) and time of one training step")
        memory = memory_and_time(D, Xtr, Str, log, args.repeat)
    log(f"## test NMSE (dB) on 1000 samples at K iterations; DEQ models trained with at most "
        f"{args.train_iter} forward iterations (Anderson, tol 1e-4)")
    acc = accuracy(D, Xtr, Str, Xte, Ste, args, log)
    log(f"# total wall time {time.time() - start:.0f} s")
    with open(prefix + ".json", "w") as fh:
        json.dump({"memory": memory, "accuracy": acc}, fh, indent=1, default=float)
    with open(prefix + ".txt", "w") as fh:
        fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
