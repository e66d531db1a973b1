"""Deep unfolded distributed ADMM vs classical D-ADMM: NMSE vs communication rounds.

Setting (Noah & Shlezinger, IEEE TMC 2025, with the standard sparse problem):
P = 50 agents on a connected Erdős–Rényi graph (edge probability 0.12), the
sparse-recovery problem m = 250, n = 500 (sparsity 0.1, SNR 30 dB) with the
250 rows split into 50 blocks of 5, distributed LASSO with alpha = 0.01.

* classical D-ADMM (Gauss–Seidel over a greedy colouring), hyperparameters
  tuned over a grid of rho and step factors (5 x 4, on 10 validation samples;
  the largest factor diverges), up to 1000 rounds;
* UnfoldedDADMM with per-agent learned (rho, step, tau, eta), K = 10 and 25,
  each started at the grid point best at its depth; K = 25 is grown from the
  trained K = 10 model (its learned rounds copied in, classical rounds in
  between), then trained end to end;
* the rounds (and messages) classical D-ADMM needs to reach the unfolded
  models' NMSE: the tuned point, and the fewest of any stable grid point;
* transfer: the shared-hyperparameter model (K = 10) on five other graphs
  of the same size and density and on one of 25 agents, vs the per-agent
  model;
* the gap to the centralised scikit-learn ``Lasso`` on the stacked data.

Usage: ``python benchmarks/distributed.py [--quick] [--out PREFIX]``; results are
written to ``benchmarks/results/distributed_{quick,full}.{txt,json}`` (or
``PREFIX.{txt,json}``).
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

from skunfold.core import Optimizer
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


def grow(small, n_layers, params, X, S):
    """A deeper per-agent model started from a trained shallower one, then trained end to end.

    Warm start needs equal shapes, so the deeper model is built untrained (the classical
    rounds) and the trained model's learned values are copied into it: its rounds
    ``1..K-1`` first, its last round last, classical rounds in between; then it is trained
    with ``warm_start=True`` (cosine learning rate).
    """
    k = small.n_layers
    model = UnfoldedDADMM(small.graph, small.dictionary, hyperparameter_sharing="agent",
                          **{**params, "n_layers": n_layers, "max_epochs": 0}).fit(X, S)
    source = [*range(k - 1), *[None] * (n_layers - k), k - 1]
    learned = dict(small.module_.named_parameters())
    with torch.no_grad():
        for name, value in model.module_.named_parameters():
            layer = int(name.split(".")[1])
            if source[layer] is not None:
                value.copy_(learned[name.replace(f"iterations.{layer}.",
                                                 f"iterations.{source[layer]}.", 1)])
    return model.set_params(warm_start=True, max_epochs=params["max_epochs"],
                            optimizer=Optimizer(lr_schedule="cosine")).fit(X, S)


def main(quick, out_prefix=None):
    # the classical grid: rho x the step factor c (step = c / max_p(||H_p||^2 + 2 rho d_p));
    # tuned on the first n_tune validation samples, each point stopped once it diverges
    grid = [(r, c) for r in (0.001, 0.003, 0.01, 0.03, 0.1) for c in (1.0, 1.5, 2.0, 2.5)]
    cfg = ({"n_train": 200, "n_val": 30, "n_test": 60, "rounds": 500, "epochs": {10: 4, 25: 2},
                "grid": grid, "n_tune": 10} if quick else
           {"n_train": 500, "n_val": 50, "n_test": 100, "rounds": 1000, "epochs": {10: 10, 25: 5},
                "grid": grid, "n_tune": 10})
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
    local = max(float(np.linalg.norm(D[:, M // P * p:M // P * (p + 1)], ord=2)) ** 2
                for p in range(P))
    Xtune, Stune = Xv[:cfg["n_tune"]], Sv[:cfg["n_tune"]]
    say(f"classical grid on the first {cfg['n_tune']} validation samples, {cfg['rounds']} "
        f"rounds (max_p ||H_p||^2 = {local:.2f}: a local gradient step above "
        f"2/{local:.2f} = {2 / local:.3f} is unstable)")
    best, tune_curves = None, {}
    for rho, scale in cfg["grid"]:
        step = scale * DistributedLasso(D, G, alpha=ALPHA, rho=rho).hyperparameters["step"]
        est = DistributedADMM(G, D, n_layers=cfg["rounds"], alpha=ALPHA, rho=rho, step=step)
        curve_v = []
        for Sk in est.fit(Xtune).staged_predict(Xtune):
            curve_v.append(nmse_db(Sk, Stune))
            if not np.isfinite(curve_v[-1]) or curve_v[-1] > 10:  # diverged
                break
        if len(curve_v) < cfg["rounds"]:
            say(f"  rho={rho:g} c={scale:g} step={step:.3g}: diverges (NMSE {curve_v[-1]:+.0f} "
                f"dB at round {len(curve_v)})")
            continue
        tune_curves[(rho, scale)] = np.asarray(curve_v)
        say(f"  rho={rho:g} c={scale:g} step={step:.3g}: NMSE at rounds 100 / 250 / last "
            f"{curve_v[99]:.2f} / {curve_v[249]:.2f} / {curve_v[-1]:.2f} dB")
        if best is None or curve_v[-1] < best[0]:
            best = (curve_v[-1], rho, step, scale)
    _, rho, step, scale = best
    say(f"tuned classical D-ADMM (best at the last round): rho={rho:g}, c={scale:g}, "
        f"step={step:.3g}, eta=rho (untuned default step at rho=1: {base_step:.3g})")
    marks = [r for r in (1, 5, 10, 25, 50, 100, 250, 500, 1000) if r <= cfg["rounds"]]
    out["tuning"] = {"rounds": marks, "nmse_db": {f"{r:g},{c:g}": [round(float(v[k - 1]), 3)
                                                                   for k in marks]
                                                  for (r, c), v in tune_curves.items()}}

    def best_of_grid(model):
        """Fewest rounds any stable grid point needs (tuning samples) to reach the model there."""
        target = nmse_db(model.predict(Xtune), Stune)
        needs = [(first_round(v, target) or np.inf, key) for key, v in tune_curves.items()]
        rounds, key = min(needs)
        return target, (None if rounds == np.inf else int(rounds)), key

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
    # each unfolded model starts from the classical point that is best at its own depth K
    # (tuning samples): the point tuned for 1000 rounds is a poor start for 10 rounds
    def init_point(K):
        r0, c0 = min(tune_curves, key=lambda key: tune_curves[key][K - 1])
        return r0, c0 * DistributedLasso(D, G, alpha=ALPHA, rho=r0).hyperparameters["step"], c0

    for K in (10, 25):
        rho_k, step_k, c_k = init_point(K)
        say(f"unfolded K={K}: initialised at the grid point best at round {K}: rho={rho_k:g}, "
            f"c={c_k:g}, step={step_k:.3g}")
        out[f"init_K{K}"] = {"rho": rho_k, "step": step_k}
        common = {"n_layers": K, "alpha": ALPHA, "rho": rho_k, "step": step_k,
                  "max_epochs": cfg["epochs"][K], "lr": 0.03, "batch_size": 50, "random_state": 0}
        for sharing in ("agent", "shared") if K == 10 else ("agent",):
            t0 = time.process_time()
            if K == 10:
                model = UnfoldedDADMM(G, D, hyperparameter_sharing=sharing, **common).fit(Xt, St)
                recipe = "end-to-end"
            else:  # K = 25: start from the trained K = 10 model, then train end-to-end
                model = grow(models[(10, "agent")], K, common, Xt, St)
                recipe = (f"initialised from the trained K=10 model (its rounds 1-9, {K - 10} "
                          f"classical rounds, its round 10 last), then end-to-end, cosine lr")
            cpu = time.process_time() - t0
            models[(K, sharing)] = model
            u_curve = rounds_to_target(model, Xs, Ss, -np.inf)["nmse_db"]
            final = u_curve[-1]
            need = first_round(curve, final)
            budget = (f"{cfg['n_train']} samples x {cfg['epochs'][K]} epochs, Adam lr 0.03, "
                      f"batch 50, {recipe}, 1 thread: {cpu:.0f} CPU s")
            if K == 25:
                cpu10 = out["unfolded_K10_agent"]["cpu_seconds"]
                budget += f" (+ {cpu10:.0f} CPU s of the K=10 model: {cpu + cpu10:.0f} in all)"
            say(f"unfolded K={K} ({sharing}): test NMSE {final:.2f} dB (classical at {K} "
                f"rounds: {curve[K - 1]:.2f} dB); classical needs "
                f"{need if need else '>' + str(cfg['rounds'])} rounds "
                f"({'n/a' if not need else need * messages} messages vs {K * messages}) "
                f"to reach it")
            say("    per round: " + " / ".join(f"{v:.2f}" for v in u_curve))
            say(f"    training budget: {budget}")
            t_val, g_need, g_key = best_of_grid(model)
            say(f"    check against every stable grid point ({cfg['n_tune']} tuning samples, "
                f"model there {t_val:.2f} dB): fewest classical rounds "
                + (f"{g_need} (rho={g_key[0]:g}, c={g_key[1]:g})" if g_need else
                   f">{cfg['rounds']} (no grid point reaches it)"))
            out[f"unfolded_K{K}_{sharing}"] = {
                "nmse_db": u_curve.tolist(), "classical_rounds_needed": need,
                "best_of_grid_rounds_needed": g_need,
                "best_of_grid_point": list(g_key) if g_need else None,
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
    prefix = out_prefix or f"benchmarks/results/distributed_{name}"
    os.makedirs(os.path.dirname(prefix) or ".", exist_ok=True)
    with open(f"{prefix}.txt", "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(f"{prefix}.json", "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=None,
                        help="output prefix (default: benchmarks/results/distributed_<mode>)")
    args = parser.parse_args()
    main(args.quick, args.out)
