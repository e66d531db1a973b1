"""Speed and memory of the sparse-recovery estimators, measured side by side in one run.

(a) inference time of a trained K=16 model vs scikit-learn's ``SparseCoder``
    (``lasso_cd``) and vs FISTA, each at the NMSE the trained model reaches;
(b) forward-pass GFLOP/s as a fraction of this machine's ``torch.matmul``
    GFLOP/s on the same shapes;
(c) training-step time of the skorch-backed ``fit`` vs a tight hand-written
    PyTorch loop (and vs skorch's default DataLoader path);
(d) peak memory of ``fit`` on 10^5 samples (run in a subprocess);
(e) HyperLISTA's forward pass against ALISTA's at equal K (``predict`` on the
    1000-sample batch, interleaved, best of several), with support selection
    (the default constants) and without (``c_support=0``).

Usage::

    python benchmarks/speed.py            # m=250, n=500, K=16, 1000-sample batch, one thread
    python benchmarks/speed.py --quick    # smaller SparseCoder search, fewer repeats

Everything runs with one torch / BLAS thread.
"""

import argparse
import os
import subprocess
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from skunfold.datasets import make_sparse_recovery  # noqa: E402
from skunfold.metrics import nmse_db  # noqa: E402
from skunfold.sparse import FISTA, HyperLISTA, UnfoldedISTA  # noqa: E402

torch.set_num_threads(1)
M, N, K, P = 250, 500, 16, 0.1


def best_time(fn, repeat=5):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def train_model(D, seed=0):
    # the CPU recipe of benchmarks/sparse_recovery.py --recipe (about a minute of one core)
    X, S, _ = make_sparse_recovery(16000, M, N, P, dictionary=D, random_state=seed + 10)
    est = UnfoldedISTA(D, n_layers=K, paradigm="hyperparameters", weights="analytic",
                       support_selection=True, alpha=0.4, loss_schedule="sequential",
                       max_epochs=16, random_state=seed)
    return est.fit(X.astype(np.float32), S.astype(np.float32))


def part_a(est, D, Xt, St, quick):
    from sklearn.decomposition import SparseCoder

    print("\n(a) Inference on 1000 samples, trained K=16 model vs solvers at equal NMSE")
    X32 = Xt.astype(np.float32)
    t_model = best_time(lambda: est.predict(X32))
    target = nmse_db(St, est.predict(X32))
    rows = [("UnfoldedISTA (ALISTA-SS, K=16)", t_model, target, "16 layers")]

    # FISTA: smallest lambda grid value / iteration count that reaches the target
    fista_row = None
    for alpha in (0.01, 0.003, 0.001):
        f = FISTA(D, n_layers=2000, alpha=alpha).fit(X32)
        for k, S_k in enumerate(f.staged_predict(X32), 1):
            if nmse_db(St, S_k) <= target:
                fk = FISTA(D, n_layers=k, alpha=alpha).fit(X32)
                t = best_time(lambda: fk.predict(X32), repeat=2)
                fista_row = (f"FISTA (lambda={alpha})", t, nmse_db(St, fk.predict(X32)),
                             f"{k} iterations")
                break
        if fista_row:
            break
    rows.append(fista_row or ("FISTA (2000 it.)", float("nan"), float("nan"),
                              "does not reach the target"))

    # SparseCoder (coordinate descent Lasso per sample): decreasing lambda until the target
    coder_row = None
    lambdas = (0.01, 0.003, 0.001, 0.0003) if not quick else (0.01, 0.003)
    for alpha in lambdas:
        coder = SparseCoder(D, transform_algorithm="lasso_cd", transform_alpha=alpha,
                            transform_max_iter=5000)
        t0 = time.perf_counter()
        S_hat = coder.transform(Xt)
        t = time.perf_counter() - t0
        score = nmse_db(St, S_hat)
        print(f"    SparseCoder lambda={alpha}: {score:6.1f} dB in {t:6.2f} s", flush=True)
        if score <= target:
            coder_row = (f"SparseCoder lasso_cd (lambda={alpha})", t, score, "to convergence")
            break
        last = (f"SparseCoder lasso_cd (lambda={alpha})", t, score, "best lambda tried")
    rows.append(coder_row or last)
    print(f"{'method':<40}{'time (s)':>10}{'NMSE (dB)':>11}{'speed-up of model':>19}  note")
    for name, t, score, note in rows:
        ratio = t / t_model if np.isfinite(t) else float("nan")
        print(f"{name:<40}{t:>10.3f}{score:>11.1f}{ratio:>18.0f}x  {note}")
    return rows


def part_b(est, Xt):
    print("\n(b) Forward-pass throughput vs torch.matmul on the same shapes (1000 x 250 x 500)")
    module = est.module_
    x = torch.as_tensor(Xt, dtype=torch.float32)
    B = x.shape[0]
    flops = K * 2 * (2.0 * B * M * N)  # two matmuls per layer

    def forward(m):
        with torch.no_grad():
            return m(x, needed={K - 1})

    t_fwd = best_time(lambda: forward(module), repeat=7)
    # exactly the two products of a layer, same shapes and layouts: s @ D and r @ W
    Dm = module.problem.D
    Wm = module.problem.W
    s_ = torch.randn(B, N)
    r_ = torch.randn(B, M)

    def mm():
        for _ in range(K):
            s_ @ Dm
            r_ @ Wm

    t_mm = best_time(mm, repeat=7)
    g_fwd, g_mm = flops / t_fwd / 1e9, flops / t_mm / 1e9
    print(f"{'':<36}{'time (ms)':>10}{'GFLOP/s':>10}")
    print(f"{'UnfoldedISTA forward (K=16, SS)':<36}{1e3 * t_fwd:>10.1f}{g_fwd:>10.1f}")
    print(f"{'torch.matmul, same 32 products':<36}{1e3 * t_mm:>10.1f}{g_mm:>10.1f}")
    print(f"fraction of matmul throughput: {g_fwd / g_mm:.2f} (target >= 0.5)")
    # the same without support selection (pure ISTA-shaped layers)
    # (a classical model computes in its input's precision: fitted on float32, it runs in float32)
    plain = UnfoldedISTA(est.dictionary_, n_layers=K, paradigm="classical")
    mod2 = plain.fit(Xt[:2].astype(np.float32)).module_
    t_plain = best_time(lambda: forward(mod2), repeat=7)
    print(f"without support selection (ISTA layers): {flops / t_plain / 1e9:.1f} GFLOP/s, "
          f"fraction {t_mm / t_plain:.2f}")
    return g_fwd / g_mm


def part_c(D, quick):
    print("\n(c) Training-step time: skorch-backed fit vs hand-written loop (batch 64)")
    n = 4096 if quick else 8192
    X, S, _ = make_sparse_recovery(n, M, N, P, dictionary=D, random_state=5)
    X, S = X.astype(np.float32), S.astype(np.float32)
    epochs = 3 if quick else 4
    steps_per_epoch = (n + 63) // 64
    kw = dict(n_layers=K, paradigm="hyperparameters", weights="analytic", alpha=0.4,
              loss_schedule="end_to_end", max_epochs=epochs, batch_size=64, random_state=0,
              device="cpu")

    lr = UnfoldedISTA.default_lr["hyperparameters"]

    def built_module():
        # the untrained network of the same estimator (max_epochs=0 builds without training)
        return UnfoldedISTA(D, **{**kw, "max_epochs": 0}).fit(X, S).module_

    def ours():
        # skorch's EpochTimer measures each epoch's loop (batches, callbacks, history)
        est = UnfoldedISTA(D, **kw).fit(X, S)
        return min(est.history_[:, "dur"])

    def hand():
        module = built_module().train()
        opt = torch.optim.Adam(module.parameters(), lr=lr)
        Xt, St = torch.from_numpy(X), torch.from_numpy(S)
        g = torch.Generator().manual_seed(0)
        durations = []
        for _ in range(epochs):
            t0 = time.perf_counter()
            perm = torch.randperm(n, generator=g)
            Xs, Ss = Xt[perm], St[perm]
            for i in range(0, n, 64):
                xb, sb = Xs[i:i + 64], Ss[i:i + 64]
                opt.zero_grad()
                out = module(xb)
                loss = torch.nn.functional.mse_loss(out[-1], sb)
                loss.backward()
                opt.step()
            durations.append(time.perf_counter() - t0)
        return min(durations)

    def skorch_default():
        from skorch import NeuralNet

        module = built_module().train()

        class LastIterate(torch.nn.Module):
            def __init__(self, m):
                super().__init__()
                self.m = m

            def forward(self, x):
                return self.m(x)[-1]

        net = NeuralNet(LastIterate(module), criterion=torch.nn.MSELoss,
                        optimizer=torch.optim.Adam, lr=lr, max_epochs=epochs,
                        batch_size=64, train_split=None, iterator_train__shuffle=True,
                        verbose=0).fit(X, S)
        return min(net.history[:, "dur"])

    # interleave the three so that a change of machine load hits all of them alike
    t_hand, t_ours, t_def = [], [], []
    for _ in range(2 if quick else 3):
        t_hand.append(hand())
        t_ours.append(ours())
        t_def.append(skorch_default())
    t_hand, t_ours, t_def = min(t_hand), min(t_ours), min(t_def)
    print(f"(best epoch of {epochs}, {steps_per_epoch} steps each, over repeated runs)")
    print(f"{'':<44}{'ms/step':>9}{'ratio':>8}")
    print(f"{'hand-written loop (sliced shuffled tensors)':<44}"
          f"{1e3 * t_hand / steps_per_epoch:>9.2f}{1.0:>8.2f}")
    print(f"{'skunfold fit (skorch + BatchSlicer)':<44}{1e3 * t_ours / steps_per_epoch:>9.2f}"
          f"{t_ours / t_hand:>8.2f}  (target <= 1.10)")
    print(f"{'skorch NeuralNet, default DataLoader':<44}{1e3 * t_def / steps_per_epoch:>9.2f}"
          f"{t_def / t_hand:>8.2f}")
    return t_ours / t_hand


_MEMORY_CHILD = r"""
import os, resource, sys, numpy as np, torch
torch.set_num_threads(1)
from skunfold.datasets import make_sparse_recovery
from skunfold.sparse import UnfoldedISTA
n = int(sys.argv[1])
X, S, D = make_sparse_recovery(n, 250, 500, random_state=0)
X, S = X.astype(np.float32), S.astype(np.float32)
import gc; gc.collect()
def rss_mb():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
def hwm_mb():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM"):
                return int(line.split()[1]) / 1024
# warm up torch / skorch imports and allocator on a tiny fit
UnfoldedISTA(D, n_layers=16, paradigm="hyperparameters", max_epochs=1).fit(X[:128], S[:128])
gc.collect()
base = rss_mb()
# reset the high-water mark
with open("/proc/self/clear_refs", "w") as fh:
    fh.write("5")
UnfoldedISTA(D, n_layers=16, paradigm="hyperparameters", max_epochs=1).fit(X, S)
peak = hwm_mb()
data = (X.nbytes + S.nbytes) / 2**20
print(f"{n} {data:.1f} {base:.1f} {peak:.1f}")
"""


def part_d(n=100_000):
    print(f"\n(d) Peak memory of fit on {n} samples (float32 X {n}x{M}, S {n}x{N}; subprocess)")
    out = subprocess.run([sys.executable, "-c", _MEMORY_CHILD, str(n)], capture_output=True,
                         text=True, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    n_, data, base, peak = out.stdout.split()[-4:]
    data, base, peak = float(data), float(base), float(peak)
    extra = peak - base
    print(f"dataset (X + S): {data:.0f} MiB; RSS before fit: {base:.0f} MiB; peak during fit: "
          f"{peak:.0f} MiB")
    print(f"extra memory during fit: {extra:.0f} MiB = {extra / data:.2f} x the dataset "
          "(a full copy would add >= 1.0 x)")
    return extra / data


def part_e(D, Xt, St, repeat):
    print(f"\n(e) HyperLISTA vs ALISTA forward, K={K}, predict on {len(Xt)} samples, "
          f"best of {repeat} interleaved calls")
    X32 = Xt.astype(np.float32)
    models = {
        "ALISTA (analytic W, support selection)": UnfoldedISTA(
            D, n_layers=K, weights="analytic", support_selection=True, max_epochs=0),
        "HyperLISTA (default constants)": HyperLISTA(D, n_layers=K),
        "HyperLISTA, c_support=0": HyperLISTA(D, n_layers=K, c_support=0.0),
    }
    for est in models.values():
        est.fit(X32[:64])
    times = {name: [] for name in models}
    for _ in range(repeat):
        for name, est in models.items():
            start = time.perf_counter()
            est.predict(X32)
            times[name].append(time.perf_counter() - start)
    ref = min(times["ALISTA (analytic W, support selection)"])
    for name, est in models.items():
        t = min(times[name])
        print(f"  {name:42s} {t * 1e3:8.1f} ms   x{t / ref:5.2f} ALISTA   "
              f"NMSE {nmse_db(St, est.predict(X32)):6.1f} dB")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--parts", default="abcde")
    args = parser.parse_args()
    Xt, St, D = make_sparse_recovery(1000, M, N, P, random_state=0)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, m={M}, n={N}, K={K}")
    est = None
    if "a" in args.parts or "b" in args.parts:
        t0 = time.process_time()
        est = train_model(D)
        print(f"trained ALISTA-SS in {time.process_time() - t0:.0f} s CPU: "
              f"{nmse_db(St, est.predict(Xt.astype(np.float32))):.1f} dB on the test batch")
    if "a" in args.parts:
        part_a(est, D, Xt, St, args.quick)
    if "b" in args.parts:
        part_b(est, Xt)
    if "c" in args.parts:
        part_c(D, args.quick)
    if "d" in args.parts:
        part_d(20_000 if args.quick else 100_000)
    if "e" in args.parts:
        part_e(D, Xt, St, 3 if args.quick else 7)


if __name__ == "__main__":
    main()
