"""Per-call overhead of ``predict``: one fitted model per family against its raw torch module.

For one fitted model of every family the script times ``predict`` on one
sample (batch 1) and on a large batch (1024 samples; 64 matrices for robust
PCA), and the raw module on the same data, already converted to a tensor of
the module's dtype on its device::

    with torch.inference_mode():      # torch.enable_grad() where the step uses autograd
        module_.readout(module_.final_state(x, n_layers))

``raw(1)`` is that call on the one sample (the baseline of issue 25); the
ratio ``predict / raw(1)`` is the cost of everything ``predict`` adds. Part of
it is not overhead but a contract: inference pads a batch of fewer than 8
small samples with copies of the last one, so that every row's result is the
same whatever the batch it comes in (:mod:`skunfold.core.inference`), as far
as the module needs (``pad``: the rows it found for the model, 1 where its
products are per sample). ``raw(pad)`` is the raw module on those rows, in the
autograd mode of ``predict``: the computation ``predict`` runs, so that
``predict / raw(pad)`` is what remains, the cost of input validation, the
device, threads and dtype set-up, the conversions to and from torch and the
family's output conversion.

Times are the least over rounds of the mean time per call in a round,
``predict`` and the raw module interleaved
in rounds, with one torch thread, measured by default as the CPU time of the
calling thread (``--clock cpu``: on a machine shared with other work, wall
time mostly measures the other work; ``--clock wall`` for wall-clock time).
Inputs are in the module's dtype (float32 for trained models; complex64
channels for beamforming). The models are fitted for a single epoch: their
latency does not depend on how well they are trained.

Usage::

    python benchmarks/predict_latency.py --quick    # fewer calls per point (minutes)
    python benchmarks/predict_latency.py            # more calls per point
    python benchmarks/predict_latency.py --families lista deepsic --clock wall

Writes ``benchmarks/results/predict_latency_{quick,full}.{txt,json}`` (``--out`` for
another prefix).
"""

import argparse
import json
import math
import os
import platform
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

from skunfold.beamforming import UnfoldedHybridPGA  # noqa: E402
from skunfold.core import inference  # noqa: E402
from skunfold.datasets import (  # noqa: E402
    make_distributed_lasso,
    make_interference_network,
    make_mimo,
    make_rpca,
    make_sparse_recovery,
    make_wideband_channels,
)
from skunfold.distributed import UnfoldedDADMM  # noqa: E402
from skunfold.imaging import Blur, UnfoldedProximalGradient  # noqa: E402
from skunfold.mimo import DeepSICClassifier  # noqa: E402
from skunfold.power import UnfoldedWMMSE  # noqa: E402
from skunfold.rpca import LearnedRPCA  # noqa: E402
from skunfold.sparse import UnfoldedISTA  # noqa: E402

F32 = np.float32


def lista():
    X, S, D = make_sparse_recovery(1100, 250, 500, random_state=0)
    est = UnfoldedISTA(D, n_layers=16, paradigm="objective", max_epochs=1, batch_size=64,
                       early_stopping=False, random_state=0)
    return "LISTA (250x500, K=16)", est.fit(X[:100].astype(F32), S[:100].astype(F32)), \
        X[100:].astype(F32), 1024


def rpca():
    X, L, _ = make_rpca(80, (48, 48), rank=3, outlier_fraction=0.1, random_state=0)
    est = LearnedRPCA(rank=3, n_layers=10, paradigm="hyperparameters", max_epochs=1,
                      loss_schedule="end_to_end",
                      early_stopping=False, random_state=0)
    return "LearnedRPCA (48x48, r=3, K=10)", est.fit(X[:16].astype(F32), L[:16].astype(F32)), \
        X[16:].astype(F32), 64


def deepsic():
    X, y, _ = make_mimo(1100, n_users=4, n_antennas=4, constellation="bpsk", snr_db=10,
                        random_state=0)
    est = DeepSICClassifier(n_layers=3, constellation="bpsk", max_epochs=3,
                            early_stopping=False, random_state=0)
    return "DeepSIC (4x4 BPSK, K=3)", est.fit(X[:100].astype(F32), y[:100]), \
        X[100:].astype(F32), 1024


def uwmmse():
    X, _ = make_interference_network(1100, n_pairs=20, random_state=0)
    est = UnfoldedWMMSE(n_layers=4, max_epochs=1, batch_size=64, early_stopping=False,
                        random_state=0)
    return "UWMMSE (M=20, K=4)", est.fit(X[:100].astype(F32)), X[100:].astype(F32), 1024


def pga():
    H = make_wideband_channels(1100, n_bands=8, n_users=6, n_antennas=12, random_state=0)
    est = UnfoldedHybridPGA(n_layers=10, n_rf_chains=6, paradigm="hyperparameters",
                            max_epochs=1, early_stopping=False, random_state=0)
    return "hybrid PGA (8x6x12, L=6, K=10)", est.fit(H[:64].astype(np.complex64)), \
        H[64:].astype(np.complex64), 1024


def dadmm():
    X, S, D, G = make_distributed_lasso(1100, n_agents=10, n_measurements=50,
                                        n_components=100, edge_probability=0.4, random_state=0)
    est = UnfoldedDADMM(G, D, n_layers=10, max_epochs=1, early_stopping=False, random_state=0)
    return "D-ADMM (10 agents, 50x100, K=10)", est.fit(X[:100].astype(F32),
                                                        S[:100].astype(F32)), \
        X[100:].astype(F32), 1024


def imaging():
    rng = np.random.default_rng(0)
    A = Blur((32, 32), sigma=1.0)
    images = rng.random((1100, 32 * 32))
    Y = A.matmat(images.T).T + 0.01 * rng.normal(size=images.shape)
    est = UnfoldedProximalGradient(A, prior="l1", alpha=0.01, n_layers=10,
                                   paradigm="hyperparameters", max_epochs=1,
                                   early_stopping=False, random_state=0)
    return "proximal gradient (blur 32x32, K=10)", est.fit(Y[:64].astype(F32),
                                                            images[:64].astype(F32)), \
        Y[64:].astype(F32), 1024


FAMILIES = {"lista": lista, "rpca": rpca, "deepsic": deepsic, "uwmmse": uwmmse, "pga": pga,
            "dadmm": dadmm, "imaging": imaging}


def raw_call(est, X, grad_mode=torch.inference_mode):
    """The raw module on ``X`` converted beforehand: a function of no argument."""
    module = est.module_
    param = next(iter(module.parameters()), None)
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    x = torch.as_tensor(np.ascontiguousarray(est.validate_input(X, reset=False)))
    x = x.to(torch.complex64 if dtype == torch.float32 else torch.complex128) \
        if x.is_complex() else x.to(dtype)
    k = module.n_layers
    grad = module.problem.step_uses_autograd
    module.eval()

    def call():
        with torch.enable_grad() if grad else grad_mode():
            return module.readout(module.final_state(x, k))
    return call


CLOCKS = {"cpu": time.thread_time, "wall": time.perf_counter}


def min_times(fns, calls, rounds, clock="cpu"):
    """Least mean seconds per call of each of ``fns`` over ``rounds`` interleaved rounds.

    On a shared machine the other work only adds time: the least round is the
    closest to the cost of the call itself.
    """
    now = CLOCKS[clock]
    best = {name: math.inf for name in fns}
    for fn in fns.values():  # warm-up
        for _ in range(3):
            fn()
    for _ in range(rounds):
        for name, fn in fns.items():
            t = now()
            for _ in range(calls):
                fn()
            best[name] = min(best[name], (now() - t) / calls)
    return best


def padded_rows(est, X):
    """The rows ``predict`` computes for one sample: the padding found for the model."""
    est.predict(X[:1])
    shape = est.validate_input(X[:1], reset=False).shape[1:]
    if math.prod(shape) > inference.PAD_MAX_ENTRIES:
        return 1
    found = inference._PADDING.get(est.module_, {})
    return max(found.values(), default=inference.MIN_BATCH_ROWS)


def measure(name, est, X, big, quick, clock):
    row = {"family": name}
    one = np.ascontiguousarray(X[:1])
    pad = padded_rows(est, one)
    fns = {"predict": lambda: est.predict(one), "raw": raw_call(est, one),
           "raw_padded": raw_call(est, np.ascontiguousarray(np.repeat(one, pad, axis=0)),
                                  lambda: inference._grad_mode(est.module_))}
    times = min_times(fns, 20, 10 if quick else 40, clock)
    row["batch1"] = {"predict_us": 1e6 * times["predict"], "raw_us": 1e6 * times["raw"],
                     "padded_rows": pad, "raw_padded_us": 1e6 * times["raw_padded"],
                     "ratio": times["predict"] / times["raw"],
                     "ratio_padded": times["predict"] / times["raw_padded"]}
    Xb = np.ascontiguousarray(X[:big])
    times = min_times({"predict": lambda: est.predict(Xb), "raw": raw_call(est, Xb)},
                      1, 3 if quick else 7, clock)
    row["large"] = {"batch": big, "predict_us": 1e6 * times["predict"],
                    "raw_us": 1e6 * times["raw"], "ratio": times["predict"] / times["raw"]}
    return row


def table(rows):
    lines = [f"{'family':<38}{'predict(1)':>11}{'raw(1)':>9}{'ratio':>7}{'pad':>5}{'raw(pad)':>10}"
             f"{'ratio':>7}{'batch':>7}{'predict(B)':>12}{'raw(B)':>10}{'ratio':>7}",
             f"{'':<38}{'us':>11}{'us':>9}{'':>7}{'':>5}{'us':>10}{'':>7}{'':>7}{'us':>12}"
             f"{'us':>10}"]
    for r in rows:
        a, b = r["batch1"], r["large"]
        lines.append(f"{r['family']:<38}{a['predict_us']:>11.0f}{a['raw_us']:>9.0f}"
                     f"{a['ratio']:>7.2f}{a['padded_rows']:>5}{a['raw_padded_us']:>10.0f}"
                     f"{a['ratio_padded']:>7.2f}"
                     f"{b['batch']:>7}{b['predict_us']:>12.0f}{b['raw_us']:>10.0f}"
                     f"{b['ratio']:>7.2f}")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls per point")
    parser.add_argument("--families", nargs="+", choices=list(FAMILIES), default=list(FAMILIES))
    parser.add_argument("--clock", choices=list(CLOCKS), default="cpu",
                        help="cpu: CPU time of the calling thread (robust on a busy machine); "
                             "wall: wall-clock time")
    parser.add_argument("--out", default=None, help="prefix of the .txt and .json outputs")
    args = parser.parse_args()
    rows = []
    for key in args.families:
        name, est, X, big = FAMILIES[key]()
        rows.append(measure(name, est, X, big, args.quick, args.clock))
        print(table(rows[-1:]).splitlines()[-1], flush=True)
    text = (f"predict vs the raw module, least mean {args.clock} time per call over rounds (us), "
            "one torch thread; raw(1): inference_mode on the sample, raw(pad): the module on the "
            "pad rows that predict runs for one small sample, in predict's autograd mode\n"
            f"(torch {torch.__version__}, {platform.machine()}, "
            f"{os.cpu_count()} CPUs)\n{table(rows)}\n")
    print("\n" + text)
    here = os.path.dirname(os.path.abspath(__file__))
    prefix = args.out or os.path.join(here, "results",
                                      f"predict_latency_{'quick' if args.quick else 'full'}")
    with open(prefix + ".txt", "w") as fh:
        fh.write(text)
    with open(prefix + ".json", "w") as fh:
        json.dump({"args": vars(args), "torch": torch.__version__, "rows": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
