"""Deep unfolded distributed ADMM vs classical D-ADMM: NMSE vs communication rounds.

Setting (Noah & Shlezinger, IEEE TMC 2025, with the standard sparse problem):
P = 50 agents on a connected Erdős–Rényi graph (edge probability 0.12), the
sparse-recovery problem m = 250, n = 500 (sparsity 0.1, SNR 30 dB) with the
250 rows split into 50 blocks of 5, distributed LASSO with alpha = 0.01.

* classical D-ADMM (Gauss–Seidel over a greedy colouring), hyperparameters
  tuned on a validation set over a grid (rho, step), up to 1000 rounds;
* UnfoldedDADMM with per-agent learned (rho, step, tau, eta), K = 10 and 25;
* the rounds (and messages) classical D-ADMM needs to reach the unfolded
  models' NMSE;
* transfer: the shared-hyperparameter model (K = 10) on five other graphs
  of the same size and density and on one of 25 agents, vs the per-agent
  model;
* the gap to the centralised scikit-learn ``Lasso`` on the stacked data.

Usage: ``python benchmarks/distributed.py [--quick]``; results are written to
``benchmarks/results/distributed_{quick,full}.{txt,json}``.
"""

import argparse
import json
import os
import platform
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch
from sklearn.linear_model import Lasso

from skunfold.datasets import make_distributed_lasso
from skunfold.distributed import (
    DistributedADMM,
    DistributedLasso,
    UnfoldedDADMM,
    random_graph,
    rounds_to_target,
)

torch.set_num_threads(1)
P, M, N, EDGE_P, SNR, ALPHA = 50, 250, 500, 0.12, 30.0, 0.01


def nmse_db(S_hat, S):
    return float(10 * np.log10(((S_hat - S) ** 2).sum() / (S ** 2).sum()))


def first_round(curve, target):
    hit = np.flatnonzero(np.asarray(curve) <= target)
    return int(hit[0]) + 1 if len(hit) else None


def main(quick):
    cfg = ({"n_train": 200, "n_val": 30, "n_test": 60, "rounds": 500, "epochs": {10: 4, 25: 2},
                "grid": [(0.03, 2.0), (0.1, 2.0)]} if quick else
           {"n_train": 500, "n_val": 50, "n_test": 100, "rounds": 1000, "epochs": {10: 10, 25: 5},
                "grid": [(0.03, 1.0), (0.03, 2.0), (0.1, 1.0), (0.1, 2.0)]})
    out, lines = {"settings": {**cfg, "grid": cfg["grid"], "P": P, "m": M, "n": N,
                               "edge_probability": EDGE_P, "snr_db": SNR, "alpha": ALPHA}}, []

    def say(text):
        print(text, flush=True)
        lines.append(text)

    say(f"Distributed ADMM benchmark ({'quick' if quick else 'full'}): P={P} agents, "
        f"Erdos-Renyi p={EDGE_P}, m={M} rows (5 per agent), n={N}, sparsity 0.1, SNR {SNR:g} dB, "
        f"LASSO alpha={ALPHA}; {cfg['n_train']} training / {cfg['n_val']} validation / "
        f"{cfg['n_test']} test samples")
    say(f"torch {torch.__version__}, {platform.machine()}, 1 torch thread, seed 0")
    n_all = cfg["n_train"] + cfg["n_val"] + cfg["n_test"]
    X, S, D, G = make_distributed_lasso(n_all, P, M, N, edge_probability=EDGE_P, snr_db=SNR,
                                        random_state=0)
    X = X.astype(np.float32)
    a, b = cfg["n_train"], cfg["n_train"] + cfg["n_val"]
    Xt, St, Xv, Sv, Xs, Ss = X[:a], S[:a], X[a:b], S[a:b], X[b:], S[b:]
    messages = int(G.sum())
    say(f"graph: {messages // 2} edges, {messages} messages per round, max degree "
        f"{int(G.sum(1).max())}")

    # -- classical D-ADMM, tuned on the validation set ---------------------------------------
    base_step = DistributedLasso(D, G, alpha=ALPHA, rho=1.0).hyperparameters["step"]
    best = None
    for rho, scale in cfg["grid"]:
        step = scale * DistributedLasso(D, G, alpha=ALPHA, rho=rho).hyperparameters["step"]
        est = DistributedADMM(G, D, n_layers=cfg["rounds"], alpha=ALPHA, rho=rho, step=step)
        curve = rounds_to_target(est.fit(Xv), Xv, Sv, -np.inf)["nmse_db"]
        say(f"  classical rho={rho:g} step={step:.3g}: validation NMSE at the last round "
            f"{curve[-1]:.2f} dB")
        if best is None or curve[-1] < best[0]:
            best = (curve[-1], rho, step)
    _, rho, step = best
    say(f"tuned classical D-ADMM: rho={rho:g}, step={step:.3g}, eta=rho (untuned default step "
        f"at rho=1: {base_step:.3g})")
    classical = DistributedADMM(G, D, n_layers=cfg["rounds"], alpha=ALPHA, rho=rho,
                                step=step).fit(Xt)
    t0 = time.perf_counter()
    curve = rounds_to_target(classical, Xs, Ss, -np.inf)["nmse_db"]
    show = [r for r in (1, 5, 10, 25, 50, 100, 250, 500, 1000) if r <= cfg["rounds"]]
    say(f"classical test NMSE (dB) at rounds {'/'.join(map(str, show))}: "
        + " / ".join(f"{curve[r - 1]:.2f}" for r in show)
        + f"   ({time.perf_counter() - t0:.0f} s for {cfg['rounds']} rounds)")
    out["classical"] = {"rho": rho, "step": step, "nmse_db": curve.tolist()}

    # -- unfolded, per agent ------------------------------------------------------------------
    models = {}
    for K in (10, 25):
        common = {"n_layers": K, "alpha": ALPHA, "rho": rho, "step": step, "max_epochs": cfg["epochs"][K],
                      "lr": 0.03, "batch_size": 50, "random_state": 0}
        for sharing in ("agent", "shared") if K == 10 else ("agent",):
            t0 = time.process_time()
            model = UnfoldedDADMM(G, D, hyperparameter_sharing=sharing, **common).fit(Xt, St)
            cpu = time.process_time() - t0
            models[(K, sharing)] = model
            u_curve = rounds_to_target(model, Xs, Ss, -np.inf)["nmse_db"]
            final = u_curve[-1]
            need = first_round(curve, final)
            budget = (f"{cfg['n_train']} samples x {cfg['epochs'][K]} epochs, Adam lr 0.03, "
                      f"batch 50, end-to-end, 1 thread: {cpu:.0f} CPU s")
            say(f"unfolded K={K} ({sharing}): test NMSE {final:.2f} dB (classical at {K} "
                f"rounds: {curve[K - 1]:.2f} dB); classical needs "
                f"{need if need else '>' + str(cfg['rounds'])} rounds "
                f"({'n/a' if not need else need * messages} messages vs {K * messages}) "
                f"to reach it")
            say("    per round: " + " / ".join(f"{v:.2f}" for v in u_curve))
            say(f"    training budget: {budget}")
            out[f"unfolded_K{K}_{sharing}"] = {
                "nmse_db": u_curve.tolist(), "classical_rounds_needed": need,
                "cpu_seconds": cpu, "budget": budget}

    # -- transfer of the shared model -----------------------------------------------------------
    shared, agent = models[(10, "shared")], models[(10, "agent")]
    rows = []
    for seed in range(1, 6):
        G2 = random_graph(P, EDGE_P, random_state=100 + seed)
        rows.append((f"P=50 graph {seed}", G2,
                     nmse_db(shared.predict(Xs, graph=G2), Ss),
                     nmse_db(agent.predict(Xs, graph=G2), Ss)))
    G3 = random_graph(25, 0.24, random_state=7)
    rows.append(("P=25 graph (p=0.24)", G3, nmse_db(shared.predict(Xs, graph=G3), Ss), None))
    say("transfer at K=10 rounds (test NMSE dB): shared model / per-agent model / classical "
        "(tuned, 10 rounds)")
    say(f"  training graph: {nmse_db(shared.predict(Xs), Ss):.2f} / "
        f"{nmse_db(agent.predict(Xs), Ss):.2f} / {curve[9]:.2f}")
    out["transfer"] = []
    for name, G2, s_val, a_val in rows:
        c_val = nmse_db(DistributedADMM(G2, D, n_layers=10, alpha=ALPHA, rho=rho, step=step)
                        .fit(Xs).predict(Xs), Ss)
        say(f"  {name}: {s_val:.2f} / {'n/a (other size)' if a_val is None else f'{a_val:.2f}'}"
            f" / {c_val:.2f}")
        out["transfer"].append({"graph": name, "shared": s_val, "agent": a_val,
                                "classical": c_val})

    # -- the centralised LASSO --------------------------------------------------------------------
    H = D.T.astype(np.float64)
    lasso = np.stack([Lasso(alpha=ALPHA / M, fit_intercept=False, max_iter=20000, tol=1e-8)
                      .fit(H, x.astype(np.float64)).coef_ for x in Xs])
    ref = nmse_db(lasso, Ss)
    u25 = out["unfolded_K25_agent"]["nmse_db"][-1]
    say(f"centralised scikit-learn Lasso (alpha={ALPHA}/m, the same objective): {ref:.2f} dB; "
        f"gap: classical D-ADMM at {cfg['rounds']} rounds {curve[-1] - ref:+.2f} dB, "
        f"unfolded K=25 {u25 - ref:+.2f} dB")
    out["lasso_nmse_db"] = ref
    name = "quick" if quick else "full"
    os.makedirs("benchmarks/results", exist_ok=True)
    with open(f"benchmarks/results/distributed_{name}.txt", "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(f"benchmarks/results/distributed_{name}.json", "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    main(parser.parse_args().quick)
