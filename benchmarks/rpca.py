"""The survey's RPCA comparative study (Sec. V-B, Fig. 5) and LRPCA's speed claim.

Setting (docs/published_results.rst, "Robust PCA"): LRPCA's generator, ``n1 = n2 = n``,
rank ``r = 5``, 10% outliers, ``K = 10`` layers. The data follow
``X = L + S`` (true ``Psi = I``). Two settings:

* matched -- every solver is given the true ``Psi = I`` (Fig. 5 (a));
* mismatched -- every solver is given ``Psi + sigma G / sqrt(n)`` with
  ``sigma = 0.05`` (Fig. 5 (b)).

For each setting the script trains :class:`~skunfold.rpca.LearnedRPCA` in the
four paradigms (sequential training then end-to-end fine-tuning, the
survey's scheme; supervised by the low-rank ground truth) and prints the
held-out relative error ``||L R^T - X*||_F / ||X*||_F`` after every layer,
beside the classical solver (:class:`~skunfold.rpca.RobustPCA`, hand-set
step and geometrically decaying threshold) at the same depth and run to
convergence. It then times, at the same size, the trained ``K = 10``
model, the classical solver run to the trained model's error, and one
rank-``r`` truncated SVD.

Usage::

    python benchmarks/rpca.py --quick               # n = 200, minutes on 2 CPU cores
    python benchmarks/rpca.py                       # n = 1000 (LRPCA's size; a GPU run)
    python benchmarks/rpca.py --quick --settings matched --paradigms hyperparameters
    python benchmarks/rpca.py --quick --json rpca.json
    python benchmarks/rpca.py --n 1000 --settings matched --paradigms hyperparameters \
        --n-train 24 --epochs 12 --batch-size 2     # LRPCA's size on a CPU, ~10 minutes
    python benchmarks/rpca.py --speed-only          # the speed part alone at n = 1000, ~1 minute

``--speed-only`` trains the K = 10 model briefly on small matrices (the
learned hyperparameters are size-free; the time per instance does not depend
on their values) and runs the classical solver on one test instance only.

Times are wall-clock seconds with one torch thread.
"""

import argparse
import json
import math
import os
import time
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from skunfold.core import SequentialEndToEnd  # noqa: E402
from skunfold.datasets import make_rpca, perturb_psi  # noqa: E402
from skunfold.rpca import LearnedRPCA, RobustPCA, truncated_svd  # noqa: E402

torch.set_num_threads(1)

RANK, ALPHA, K, SIGMA = 5, 0.1, 10, 0.05
PARADIGMS = ["hyperparameters", "objective", "correction", "dnn"]
SHOW = [0, 1, 2, 4, 6, 8, 10]

#: Per-layer relative errors of LRPCA's released model at n = 1000 (docs/published_results.rst).
LRPCA_N1000 = {0: 1.44e-2, 1: 6.0e-3, 2: 2.6e-3, 4: 4.7e-4, 6: 1.4e-4, 8: 5.5e-5, 10: 2.1e-5}

#: Training budget: (n_train instances, max_epochs, batch_size) per paradigm and size.
BUDGET = {
    "quick": {"hyperparameters": (64, 16, 2), "objective": (64, 12, 2),
              "correction": (48, 8, 2), "dnn": (48, 8, 2)},
    "full": {"hyperparameters": (64, 40, 1), "objective": (64, 30, 1),
             "correction": (64, 20, 1), "dnn": (64, 20, 1)},
}


def schedule(epochs):
    """Sequential training, ``ceil(epochs / (2 K))`` epochs per layer, then ``ceil(epochs / 2)``
    end to end: the budget of every recorded run (``"sequential+end_to_end"`` now shares
    ``max_epochs`` exactly among its stages, which is fewer than K at these budgets)."""
    return SequentialEndToEnd(epochs_per_stage=max(1, math.ceil(epochs / (2 * K))))


def rel_errors(V, L):
    V = np.asarray(V, dtype=np.float64).reshape(len(L), -1)
    L = np.asarray(L, dtype=np.float64).reshape(len(L), -1)
    return np.linalg.norm(V - L, axis=1) / np.linalg.norm(L, axis=1)


def per_layer(est, X, L, n_layers):
    """Mean relative error after the initialisation and every layer."""
    errs = [rel_errors(est.decompose(X, n_layers=0)[0], L).mean()]
    errs += [rel_errors(V, L).mean() for V in est.staged_predict(X, n_layers=n_layers)]
    return errs


def best_time(fn, repeat=15):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def best_times(fns, repeat=15):
    """Best time of each of ``fns``, run in turn in every round (side by side: a machine whose
    speed drifts during the run affects them alike)."""
    times = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return {name: min(ts) for name, ts in times.items()}


def run_setting(name, psi, n, data, paradigms, budget, seed):
    X_all, L_all, X_test, L_test = data
    rows = {}
    classical = RobustPCA(rank=RANK, n_layers=500, psi=psi).fit(X_test)
    conv = per_layer(classical, X_test, L_test, 500)
    rows["classical"] = {"errors": conv[:K + 1], "converged": conv, "train_s": 0.0}
    print(f"  classical: k=10 {conv[K]:.2e}, k=100 {conv[100]:.2e}, k=500 {conv[500]:.2e}",
          flush=True)
    for paradigm in paradigms:
        n_train, epochs, batch = budget[paradigm]
        est = LearnedRPCA(rank=RANK, n_layers=K, paradigm=paradigm, psi=psi, max_epochs=epochs,
                          loss_schedule=schedule(epochs), batch_size=batch, random_state=seed)
        t = time.perf_counter()
        est.fit(X_all[:n_train], L_all[:n_train])
        train_s = time.perf_counter() - t
        errs = per_layer(est, X_test, L_test, K)
        rows[paradigm] = {"errors": errs, "train_s": train_s, "model": est,
                          "budget": [n_train, epochs, batch]}
        print(f"  {paradigm}: trained in {train_s:.0f} s ({n_train} instances, {epochs} epochs, "
              f"batch {batch}); k=10 {errs[K]:.2e}", flush=True)
    return rows


def print_table(title, rows, n):
    print(f"\n{title}: relative error ||L R^T - X*||_F / ||X*||_F per layer, n = {n}")
    head = "| model | " + " | ".join(f"k={k}" for k in SHOW) + " | train (s) |"
    print(head)
    print("|" + "---|" * (len(SHOW) + 2))
    for name, row in rows.items():
        vals = " | ".join(f"{row['errors'][k]:.1e}" for k in SHOW)
        print(f"| {name} | {vals} | {row['train_s']:.0f} |")
    if "converged" in rows.get("classical", {}):
        conv = rows["classical"]["converged"]
        print(f"| classical, k = 50 / 100 / 500 | {conv[50]:.1e} / {conv[100]:.1e} / "
              f"{conv[500]:.1e} |")
    if n == 1000 and title.startswith("matched"):
        vals = " | ".join(f"{LRPCA_N1000.get(k, float('nan')):.1e}" for k in SHOW)
        print(f"| LRPCA released model (published) | {vals} | |")


def speed(est, x1, target, conv, n, psi, repeat=15):
    """Trained K=10 model vs the classical solver to the same error vs one truncated SVD.

    ``x1``: one instance ``(1, n, n)``; ``target``: the trained model's error;
    ``conv``: the classical solver's error after 0, 1, ... iterations.
    """
    from scipy.sparse.linalg import svds

    reach = np.nonzero(np.asarray(conv) <= target)[0]
    k_same = int(reach[0]) if reach.size else None
    x32 = x1.astype(np.float32)  # every solver computes in float32
    module = est.module_
    xt = torch.as_tensor(x32)

    def final_state():  # the K layers on the torch module, without the readout
        state = module.initial_state(xt)
        for k in range(K):
            state = module.step(k, state, xt)
        return state

    with torch.no_grad():
        state0, state = module.initial_state(xt), final_state()
        fns = {"predict": lambda: est.predict(x32), "module": final_state,
               "init": lambda: module.initial_state(xt),
               "layer": lambda: module.step(K // 2, state0, xt),
               "readout": lambda: module.readout(state),
               "truncated_svd": lambda: truncated_svd(xt, RANK),
               "svds": lambda: svds(x32[0], k=RANK),
               "svd_lowrank": lambda: torch.svd_lowrank(xt[0], q=RANK + 5, niter=2)}
        t = best_times(fns, repeat)
        t_full = best_time(lambda: torch.linalg.svd(xt[0]), repeat=2)
    out = {"n": n, "target_error": target, "classical_iterations_to_target": k_same,
           "t_model_predict": t["predict"], "t_model_module": t["module"],
           "t_init": t["init"], "t_layer": t["layer"], "t_readout": t["readout"],
           "t_truncated_svd": t["truncated_svd"], "t_svd_lowrank": t["svd_lowrank"],
           "t_svds": t["svds"], "t_full_svd": t_full,
           "ratio_module_svds": t["module"] / t["svds"],
           "ratio_predict_svds": t["predict"] / t["svds"]}
    ms = {name: 1e3 * v for name, v in t.items()}
    print(f"\nSpeed at n = {n} (one instance, float32, one thread, best of {repeat}, all timed "
          "side by side in turn):")
    print(f"  trained K={K} model: {ms['predict']:.1f} ms (predict), {ms['module']:.1f} ms "
          f"(torch module), error {target:.1e}")
    print(f"    of which: initialisation (one truncated SVD) {ms['init']:.1f} ms, one layer "
          f"{ms['layer']:.2f} ms (x {K} = {K * ms['layer']:.1f} ms), readout {ms['readout']:.1f} "
          f"ms, predict's validation and conversions "
          f"{ms['predict'] - ms['module'] - ms['readout']:.1f} ms")
    if k_same is None:
        print(f"  classical solver: does not reach {target:.1e} within {len(conv) - 1} iterations")
    else:
        classical = RobustPCA(rank=RANK, n_layers=max(k_same, 1), psi=psi).fit(x32)
        t_cl = best_time(lambda: classical.predict(x32), repeat=5)
        out["t_classical_to_target"] = t_cl
        print(f"  classical solver to the same error: {k_same} iterations, {1e3 * t_cl:.1f} ms "
              f"({t_cl / t['predict']:.1f}x the trained model)")
    print(f"  one rank-{RANK} truncated SVD: {ms['svds']:.1f} ms (scipy svds), "
          f"{ms['truncated_svd']:.1f} ms (skunfold's randomized, as in the model), "
          f"{ms['svd_lowrank']:.1f} ms (torch.svd_lowrank); full SVD {1e3 * t_full:.1f} ms")
    print(f"  trained model / scipy svds: {t['module'] / t['svds']:.2f} (torch module), "
          f"{t['predict'] / t['svds']:.2f} (predict); / skunfold's truncated SVD: "
          f"{t['module'] / t['truncated_svd']:.2f}; / full SVD: {t['module'] / t_full:.3f}")
    return out


def speed_only(n, seed, json_path):
    """The speed part alone: a briefly trained model (size-free) timed at size ``n``."""
    t0 = time.perf_counter()
    n_small = min(n, 100)
    X, L, _ = make_rpca(16, (n_small, n_small), rank=RANK, outlier_fraction=ALPHA,
                        random_state=seed)
    est = LearnedRPCA(rank=RANK, n_layers=K, paradigm="hyperparameters", max_epochs=8,
                      loss_schedule=schedule(8), batch_size=2, random_state=seed).fit(X, L)
    x1, l1, _ = make_rpca(1, (n, n), rank=RANK, outlier_fraction=ALPHA,
                          random_state=seed + 1000)
    target = rel_errors(est.predict(x1), l1)[0]
    classical = RobustPCA(rank=RANK, n_layers=500).fit(x1)
    conv = per_layer(classical, x1, l1, 500)
    print(f"== speed only (n = {n}, r = {RANK}, {ALPHA:.0%} outliers, K = {K}): model trained "
          f"{time.perf_counter() - t0:.0f} s on 16 matrices of {n_small} x {n_small}; errors on "
          "one test instance")
    out = speed(est, x1, target, conv, n, None)
    print(f"\nTotal wall time {time.perf_counter() - t0:.0f} s")
    if json_path:
        with open(json_path, "w") as fh:
            json.dump({"speed": out}, fh, indent=1, default=float)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="n = 200 instead of 1000")
    parser.add_argument("--n", type=int, default=None, help="matrix size (overrides --quick)")
    parser.add_argument("--settings", nargs="+", default=["matched", "mismatched"],
                        choices=["matched", "mismatched"])
    parser.add_argument("--paradigms", nargs="+", default=PARADIGMS, choices=PARADIGMS)
    parser.add_argument("--sigma", type=float, default=SIGMA)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-train", type=int, default=None, help="override the training instances")
    parser.add_argument("--epochs", type=int, default=None, help="override max_epochs")
    parser.add_argument("--batch-size", type=int, default=None, help="override batch_size")
    parser.add_argument("--json", default=None, help="write the per-layer errors to this file")
    parser.add_argument("--speed-only", action="store_true",
                        help="only the speed part, with a briefly trained model (~1 minute)")
    args = parser.parse_args()
    warnings.simplefilter("ignore", UserWarning)
    n = args.n or (200 if args.quick else 1000)
    if args.speed_only:
        return speed_only(n, args.seed, args.json)
    budget = {p: tuple(o if o is not None else d for o, d in
                       zip((args.n_train, args.epochs, args.batch_size), b))
              for p, b in BUDGET["quick" if n <= 400 else "full"].items()}
    n_train = max(b[0] for p, b in budget.items() if p in args.paradigms)
    t0 = time.perf_counter()
    X_all, L_all, _ = make_rpca(n_train, (n, n), rank=RANK, outlier_fraction=ALPHA,
                                random_state=args.seed)
    X_test, L_test, _ = make_rpca(8, (n, n), rank=RANK, outlier_fraction=ALPHA,
                                  random_state=args.seed + 1000)
    data = (X_all, L_all, X_test, L_test)
    results = {"n": n, "rank": RANK, "outlier_fraction": ALPHA, "K": K, "sigma": args.sigma}
    for setting in args.settings:
        psi = None if setting == "matched" else perturb_psi(n, args.sigma,
                                                            random_state=args.seed + 7)
        print(f"\n== {setting} (n = {n}, r = {RANK}, {ALPHA:.0%} outliers, K = {K}"
              + ("" if psi is None else f", given psi = I + {args.sigma} G / sqrt(n)") + ")")
        rows = run_setting(setting, psi, n, data, args.paradigms, budget, args.seed)
        print_table(setting, rows, n)
        results[setting] = {name: {k: v for k, v in row.items() if k != "model"}
                            for name, row in rows.items()}
        if setting == "matched" and "hyperparameters" in rows:
            results["speed"] = speed(rows["hyperparameters"]["model"], X_test[:1],
                                     rows["hyperparameters"]["errors"][K],
                                     rows["classical"]["converged"], n, psi)
            est = rows["hyperparameters"]["model"]
            table = est.layer_parameters_
            print("\nLearned hyperparameters (matched): relative thresholds",
                  np.array2string(est.thresholds_, precision=4),
                  "\n  step sizes eta_L", np.array2string(table["step_L"], precision=2))
    print(f"\nTotal wall time {time.perf_counter() - t0:.0f} s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1, default=float)


if __name__ == "__main__":
    main()
