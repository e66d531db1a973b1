"""UWMMSE against WMMSE: sum rate, depth, inference time, other network sizes.

Setting of the UWMMSE paper (Chowdhury, Verma, Rao, Swami, Segarra, IEEE TWC
2021; docs/power_benchmark.rst): ``M = 20`` transmitter-receiver pairs
(:func:`~skunfold.datasets.make_interference_network`: transmitters uniform
in ``[-20, 20]^2``, receivers within 5 of theirs, path loss ``d^-2.2``,
Rayleigh fading), ``p_max = 1``, noise ``-91 dB``. For every topology (a
topology is a data set; training and test channels share it) the script

* evaluates full power and :class:`~skunfold.power.WMMSE` with 1, 4, 10 and
  100 iterations on 6,400 held-out channels;
* trains :class:`~skunfold.power.UnfoldedWMMSE` with 4 layers, UWMMSE
  (``paradigm="correction"``) and the per-layer scalars
  (``paradigm="hyperparameters"``), unsupervised on the sum rate (Adam,
  ``lr=1e-3`` and ``1e-2``, batches of 64, gradient-norm clipping 5 and a
  half-cosine learning-rate decay: ``optimizer=Optimizer(lr_schedule="cosine",
  max_grad_norm=5.0)``), and reports their sum rate relative to
  WMMSE on the same channels, the training curve and the CPU time;
* times inference side by side in one run (one torch thread): ``predict``
  on the 6,400 test channels and one forward pass of a batch of 64, best of
  several interleaved repeats;
* applies the model trained on 20 pairs to networks of 30 and 50 pairs at
  the same density (square side ``40 sqrt(M / 20)``, receivers within 5),
  against WMMSE on those channels.

Usage::

    python benchmarks/power.py --quick                # 1 topology, 2,000 Adam steps: minutes
    python benchmarks/power.py                        # 4 topologies, 20,000 Adam steps each
    python benchmarks/power.py --topologies 0 --steps 60000

Writes ``benchmarks/results/power_{quick,full}.{txt,json}`` (``--out`` for
another prefix). Every estimator runs with ``n_threads=1``.
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from skunfold.core import Optimizer  # noqa: E402
from skunfold.datasets import make_interference_network  # noqa: E402
from skunfold.metrics import sum_rate  # noqa: E402
from skunfold.power import DEFAULT_NOISE_VAR, WMMSE, UnfoldedWMMSE  # noqa: E402

torch.set_num_threads(1)

M, K, BATCH = 20, 4, 64
WMMSE_DEPTHS = (1, 4, 10, 100)
LR = {"correction": 1e-3, "hyperparameters": 1e-2}


def network(n, n_pairs, topology, seed):
    """Channels of ``n_pairs`` pairs at the density of the paper's 20 pairs."""
    H, geometry = make_interference_network(
        n, n_pairs, area_side=40.0 * np.sqrt(n_pairs / 20.0), receiver_offset=5.0,
        topology_random_state=topology, random_state=seed)
    return H, geometry


def best_time(fn, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def batch_forward_time(est, X, repeat=30):
    """Seconds of one forward pass of a batch of 64 channels (no autograd), best of ``repeat``."""
    module = est.module_
    x = torch.as_tensor(X[:BATCH], dtype=torch.float64)
    with torch.no_grad():
        module(x, needed={module.n_layers - 1})
        return best_time(lambda: module(x, needed={module.n_layers - 1}), repeat)


def train(paradigm, H, steps, seed):
    epochs = max(1, int(round(steps * BATCH / len(H))))
    est = UnfoldedWMMSE(n_layers=K, paradigm=paradigm, lr=LR[paradigm],
                        optimizer=Optimizer(lr_schedule="cosine", max_grad_norm=5.0),
                        batch_size=BATCH, max_epochs=epochs, random_state=seed, n_threads=1,
                        device="cpu")
    start = time.process_time()
    est.fit(H)
    cpu = time.process_time() - start
    curve = [-float(v) for v in est.history_[:, "train_loss"]]
    return est, cpu, epochs * int(np.ceil(len(H) / BATCH)), curve


def run_topology(topology, args, log):
    H, geometry = network(args.n_train, M, topology, 1000 + topology)
    H_test, _ = network(args.n_test, M, topology, 2000 + topology)
    out = {"topology": topology, "n_train": len(H), "n_test": len(H_test)}
    full = float(sum_rate(H_test, np.ones(H_test.shape[:2]), DEFAULT_NOISE_VAR,
                          gains="amplitude").mean())
    wmmse = {k: WMMSE(n_layers=k, n_threads=1, device="cpu").fit(H_test) for k in WMMSE_DEPTHS}
    rates = {f"WMMSE-{k}": est.score(H_test) for k, est in wmmse.items()}
    out["full_power"] = full
    out["wmmse"] = rates
    log(f"topology {topology}: full power {full:.2f}, "
        + ", ".join(f"{name} {r:.2f}" for name, r in rates.items()) + " bit/s/Hz")
    ref, ref4 = rates["WMMSE-100"], rates["WMMSE-4"]
    models = {}
    for paradigm in args.paradigms:
        est, cpu, steps, curve = train(paradigm, H, args.steps, seed=topology)
        models[paradigm] = est
        rate = est.score(H_test)
        per_layer = [float(sum_rate(H_test, p, DEFAULT_NOISE_VAR, gains="amplitude").mean())
                     for p in est.staged_predict(H_test)]
        out[paradigm] = {"sum_rate": rate, "vs_wmmse100": rate / ref, "vs_wmmse4": rate / ref4,
                         "per_layer": per_layer, "train_cpu_s": cpu, "adam_steps": steps,
                         "epochs": len(curve), "train_curve": curve,
                         "n_parameters": sum(p.numel() for p in est.module_.parameters())}
        log(f"  {paradigm:15s} K={K}: {rate:.2f} bit/s/Hz = {100 * rate / ref:.2f}% of "
            f"WMMSE-100, {100 * (rate / ref4 - 1):+.2f}% vs WMMSE-4; {steps} Adam steps "
            f"({len(curve)} epochs of {len(H)} channels), {cpu:.0f} s CPU")
        every = max(1, len(curve) // 10)
        log("    curve, mean training sum rate per epoch: " + ", ".join(
            f"{e + 1}: {curve[e]:.2f}" for e in range(0, len(curve), every)
            if e + every < len(curve)) + f", {len(curve)}: {curve[-1]:.2f}")
        log("    test sum rate per layer: " + ", ".join(f"{r:.2f}" for r in per_layer))
    # inference, side by side in one run
    timed = {"WMMSE-100": wmmse[100], "WMMSE-4": wmmse[4],
             **{f"unfolded-{p}": est for p, est in models.items()}}
    predict = {name: [] for name in timed}
    for _ in range(args.repeat):   # interleaved: every model sees the same machine load
        for name, est in timed.items():
            predict[name].append(best_time(lambda: est.predict(H_test), 1))
    predict = {name: min(t) for name, t in predict.items()}
    batch = {name: batch_forward_time(est, H_test) for name, est in timed.items()}
    out["predict_s"], out["batch64_s"] = predict, batch
    for name in timed:
        log(f"  time {name:26s} predict {len(H_test)}: {predict[name] * 1e3:8.1f} ms  "
            f"(x{predict['WMMSE-100'] / predict[name]:5.1f});  batch of 64: "
            f"{batch[name] * 1e3:6.2f} ms (x{batch['WMMSE-100'] / batch[name]:5.1f})")
    # trained on 20 pairs, applied to 30 and 50 pairs at the same density
    out["transfer"] = {}
    for n_pairs in args.transfer:
        H_big, _ = network(args.n_test, n_pairs, topology, 3000 + topology)
        row = {f"WMMSE-{k}": WMMSE(n_layers=k, n_threads=1).fit(H_big).score(H_big)
               for k in (4, 100)}
        for paradigm, est in models.items():
            row[paradigm] = est.score(H_big)
        out["transfer"][n_pairs] = row
        log(f"  {n_pairs} pairs: " + ", ".join(
            f"{name} {r:.2f} ({100 * r / row['WMMSE-100']:.1f}%)" for name, r in row.items()))
    return out


def summary(results):
    lines = []
    for paradigm in ("correction", "hyperparameters"):
        runs = [r[paradigm] for r in results if paradigm in r]
        if runs:
            rel = [100 * r["vs_wmmse100"] for r in runs]
            gain = [100 * (r["vs_wmmse4"] - 1) for r in runs]
            lines.append(f"{paradigm}: {np.mean(rel):.2f}% of WMMSE-100 (min {min(rel):.2f}%), "
                         f"{np.mean(gain):+.2f}% vs WMMSE-4 (min {min(gain):+.2f}%), over "
                         f"{len(runs)} topologies")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="one topology, 2,000 Adam steps on 12,800 channels")
    parser.add_argument("--topologies", type=int, nargs="+", default=None)
    parser.add_argument("--steps", type=int, default=None, help="Adam steps per model")
    parser.add_argument("--n-train", type=int, default=None)
    parser.add_argument("--n-test", type=int, default=6400)
    parser.add_argument("--paradigms", nargs="+", default=["correction", "hyperparameters"],
                        choices=["correction", "hyperparameters"])
    parser.add_argument("--transfer", type=int, nargs="*", default=[30, 50])
    parser.add_argument("--repeat", type=int, default=5, help="timing repeats")
    parser.add_argument("--out", default=None, help="prefix of the .txt and .json outputs")
    args = parser.parse_args()
    if args.quick:
        defaults = dict(topologies=[0], steps=2000, n_train=12800)
    else:
        defaults = dict(topologies=[0, 1, 2, 3], steps=20000, n_train=25600)
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    name = "quick" if args.quick else "full"
    prefix = args.out or os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                                      f"power_{name}")
    lines = []

    def log(line):
        print(line, flush=True)
        lines.append(line)

    log(f"# python benchmarks/power.py {' '.join(sys.argv[1:])}")
    log(f"# {M} pairs, K={K} layers, {args.n_train} training and {args.n_test} test channels "
        f"per topology, {args.steps} Adam steps per model, one torch thread; "
        f"torch {torch.__version__}, {os.cpu_count()} CPUs")
    start = time.time()
    results = [run_topology(t, args, log) for t in args.topologies]
    for line in summary(results):
        log(line)
    log(f"# total wall time {time.time() - start:.0f} s")
    with open(prefix + ".json", "w") as fh:
        json.dump({"args": vars(args), "results": results}, fh, indent=1, default=float)
    with open(prefix + ".txt", "w") as fh:
        fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
