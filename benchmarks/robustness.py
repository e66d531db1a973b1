"""Robustness of the sparse family's learned solvers, without and with the safeguard.

The learned models (LISTA, ALISTA, LAMP, HyperLISTA, and LISTA with robust,
adversarial training) and the classical solvers (ISTA, FISTA, AMP) are
trained / set up on ``x = H s + e`` at 40 dB SNR and tested at equal depth K on

* ``in-distribution``: new samples of the training distribution;
* ``H perturbed eps``: data made with ``H + eps ||H||_F / sqrt(mn) G`` (columns
  renormalised) while every solver keeps the nominal ``H``;
* ``k cols replaced``: data made with ``k`` atoms of ``H`` replaced by fresh
  random atoms (the setting of Heaton et al.'s logs);
* ``SNR d dB``: test noise at ``d`` dB instead of 40 dB;
* ``PGD r``: per sample, the input ``x`` moved within ``||delta|| <= r ||x||``
  by 10 steps of projected gradient ascent on that model's own squared error
  ``||f(x + delta) - s||^2`` (white box; the safeguarded model is attacked
  through its safeguard).

Each learned model is reported without and with the safeguard (``delta=0.05``,
``rule="ema"``, ``theta=0.5``), as ``safeguard=True`` sets it: the fixed-point
residual of the classical iteration the model unfolds -- ISTA for LISTA, AMP
for LAMP, ALISTA's analytic iteration (analytic ``W``, threshold
``alpha / L``, support selection) for ALISTA (fitted with a quarter of the
shared ``alpha``: its own LASSO weight) and for HyperLISTA (through the
family's ``safeguard_problem`` hook, on HyperLISTA's states). The target of
issue 11: with the safeguard, no learned model is worse than its classical
solver (ISTA; AMP for LAMP) at equal depth by more than 1 dB on any mismatched
setting, while losing at most 1 dB in distribution.

Usage::

    python benchmarks/robustness.py --quick   # m=64, n=128, K=10: a few minutes on one core
    python benchmarks/robustness.py           # m=250, n=500, K=16 (small training budgets)

Results go to ``benchmarks/results/robustness_{quick,full}.{txt,json}`` (``--out PREFIX`` to
write them elsewhere).
"""

import argparse
import json
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from skunfold.core import (  # noqa: E402
    Adversarial,
    Optimizer,
    Safeguard,
    pgd_perturbation,
    to_tensor,
)
from skunfold.datasets import make_sparse_recovery  # noqa: E402
from skunfold.metrics import nmse_db  # noqa: E402
from skunfold.sparse import (  # noqa: E402
    AMP,
    FISTA,
    ISTA,
    HyperLISTA,
    UnfoldedAMP,
    UnfoldedISTA,
)

torch.set_num_threads(1)
ALPHA = 0.1          # the l1 weight of ISTA / FISTA and of the classical maps of the safeguard
SNR = 40.0
COSINE = Optimizer(lr_schedule="cosine")  # Adam, cosine-annealed learning rate
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def sizes(quick):
    if quick:
        return dict(m=64, n=128, K=10, n_train=4000, n_test=500, epochs=20, robust_epochs=10)
    return dict(m=250, n=500, K=16, n_train=6000, n_test=500, epochs=10, robust_epochs=4)


def perturbed(D, eps, rng):
    """``H + eps ||H||_F / sqrt(mn) G`` with unit-norm atoms (rows of D)."""
    G = rng.normal(size=D.shape)
    P = D + eps * np.linalg.norm(D) / np.sqrt(D.size) * G
    return P / np.linalg.norm(P, axis=1, keepdims=True)


def replaced(D, k, rng):
    P = D.copy()
    cols = rng.choice(len(D), size=k, replace=False)
    new = rng.normal(size=(k, D.shape[1]))
    P[cols] = new / np.linalg.norm(new, axis=1, keepdims=True)
    return P


def settings(D, cfg, seed=1):
    rng = np.random.default_rng(seed)
    n, k = cfg["n"], max(1, cfg["n"] // 25)
    out = {"in-distribution": make_sparse_recovery(
        cfg["n_test"], cfg["m"], n, snr_db=SNR, dictionary=D, random_state=seed)[:2]}
    for eps in (0.1, 0.3):
        out[f"H perturbed {eps:g}"] = make_sparse_recovery(
            cfg["n_test"], cfg["m"], n, snr_db=SNR, dictionary=perturbed(D, eps, rng),
            random_state=seed + 1)[:2]
    out[f"{k} cols replaced"] = make_sparse_recovery(
        cfg["n_test"], cfg["m"], n, snr_db=SNR, dictionary=replaced(D, k, rng),
        random_state=seed + 2)[:2]
    for snr in (20.0, 10.0):
        out[f"SNR {snr:g} dB"] = make_sparse_recovery(
            cfg["n_test"], cfg["m"], n, snr_db=snr, dictionary=D, random_state=seed + 3)[:2]
    return out


def attack(est, X, S, radius, n_steps=10):
    """PGD on the model's own squared error, through its module (and safeguard when set)."""
    module = est.module_
    x, s = to_tensor(X, module.dtype), to_tensor(S, module.dtype)
    module.eval()

    def loss(z):
        return ((module(z)[-1] - s) ** 2).sum()

    return pgd_perturbation(loss, x, radius, n_steps).double().numpy()


def train_models(D, X, S, cfg, log):
    K, ep = cfg["K"], cfg["epochs"]
    common = dict(n_layers=K, random_state=0, batch_size=64)
    specs = {
        "LISTA": lambda: UnfoldedISTA(D, paradigm="objective", alpha=ALPHA, max_epochs=ep,
                                      optimizer=COSINE, **common),
        "LISTA-robust": lambda: UnfoldedISTA(
            D, paradigm="objective", alpha=ALPHA, max_epochs=cfg["robust_epochs"],
            optimizer=COSINE, adversarial=Adversarial(radius=0.05, steps=2), **common),
        # ALISTA's own LASSO weight is a quarter of the shared one: its learned thresholds end
        # below ALPHA / L, so the fixed point of its classical iteration (the guard map) must be
        # less biased than ISTA's at ALPHA for the safeguard to accept its last layers (at
        # ALPHA / 2 it still lost 1.7 dB in distribution, at ALPHA / 4 0.6 dB)
        "ALISTA": lambda: UnfoldedISTA(D, paradigm="hyperparameters", weights="analytic",
                                       support_selection=True, alpha=ALPHA / 4, max_epochs=ep,
                                       optimizer=COSINE, **common),
        "LAMP": lambda: UnfoldedAMP(D, paradigm="objective", max_epochs=ep,
                                    optimizer=COSINE, **common),
    }
    models, budgets = {}, {}
    for name, make in specs.items():
        t = time.process_time()
        models[name] = make().fit(X, S)
        budgets[name] = (f"{models[name].max_epochs} epochs on {len(X)} samples, "
                         f"{time.process_time() - t:.0f} CPU s")
        log(f"trained {name}: {budgets[name]}")
    # HyperLISTA: three constants, chosen on a held-out split by a small grid (no backprop)
    Xv, Sv = X[-500:], S[-500:]
    t = time.process_time()
    best = max(((ct, cm) for ct in (0.005, 0.01, 0.02) for cm in (0.0, 0.005)),
               key=lambda c: -nmse_db(Sv, HyperLISTA(D, n_layers=K, c_threshold=c[0],
                                                     c_momentum=c[1]).fit(Xv).predict(Xv)))
    models["HyperLISTA"] = HyperLISTA(D, n_layers=K, c_threshold=best[0],
                                      c_momentum=best[1]).fit(X)
    budgets["HyperLISTA"] = (f"grid of 6 (c_threshold, c_momentum) on 500 samples, best "
                             f"{best}, {time.process_time() - t:.0f} CPU s")
    classical = {"ISTA": ISTA(D, n_layers=K, alpha=ALPHA).fit(X),
                 "FISTA": FISTA(D, n_layers=K, alpha=ALPHA).fit(X),
                 "AMP": AMP(D, n_layers=K).fit(X)}
    return models, classical, budgets


def guards(models):
    """The safeguard of each learned model, with the default settings of ``safeguard=True``.

    Its classical map is the one the model unfolds (ISTA for LISTA, AMP for
    LAMP, ALISTA's analytic iteration with support selection for ALISTA and,
    through :meth:`HyperLISTAProblem.safeguard_problem`, for HyperLISTA).
    """
    return {name: Safeguard() for name in models}


def evaluate(models, classical, guard, data, cfg, log):
    rows = {}
    radii = (0.05, 0.1)
    for setting, (X, S) in data.items():
        row = {name: nmse_db(S, est.predict(X)) for name, est in classical.items()}
        for name, est in models.items():
            est.module_.safeguard = None
            row[name] = nmse_db(S, est.predict(X))
            est.module_.safeguard = guard[name]
            row[name + "+SG"] = nmse_db(S, est.predict(X))
            row[name + "+SG fallback"] = float(est.module_.safeguard.last_fallback.mean())
            est.module_.safeguard = None
        rows[setting] = row
        log(f"{setting}: done")
    X, S = data["in-distribution"]
    for r in radii:
        row = {}
        for name, est in classical.items():
            row[name] = nmse_db(S, est.predict(attack(est, X, S, r)))
        for name, est in models.items():
            est.module_.safeguard = None
            row[name] = nmse_db(S, est.predict(attack(est, X, S, r)))
            est.module_.safeguard = guard[name]
            Xa = attack(est, X, S, r)
            row[name + "+SG"] = nmse_db(S, est.predict(Xa))
            row[name + "+SG fallback"] = float(est.module_.safeguard.last_fallback.mean())
            est.module_.safeguard = None
        rows[f"PGD {r:g}"] = row
        log(f"PGD {r:g}: done")
    return rows


def check_targets(rows, models):
    """Per learned model: the worst gap to its classical solver, and the in-distribution loss."""
    out = {}
    for name in models:
        ref = "AMP" if name == "LAMP" else "ISTA"
        gaps = {s: row[name + "+SG"] - row[ref] for s, row in rows.items()
                if s != "in-distribution"}
        worst = max(gaps, key=gaps.get)
        loss = rows["in-distribution"][name + "+SG"] - rows["in-distribution"][name]
        out[name] = dict(classical=ref, worst_setting=worst, worst_gap_db=gaps[worst],
                         in_distribution_loss_db=loss,
                         met=bool(gaps[worst] <= 1.0 and loss <= 1.0))
    return out


def table(rows, models, classical):
    names = list(classical) + [c for n in models for c in (n, n + "+SG")]
    width = max(len(n) for n in names) + 2
    lines = ["NMSE (dB) at equal depth; +SG: with the safeguard (fallback rate in brackets)",
             f"{'setting':<20}" + "".join(f"{n:>{width}}" for n in names)]
    for setting, row in rows.items():
        cells = []
        for n in names:
            cell = f"{row[n]:.1f}"
            if n.endswith("+SG"):
                cell += f" [{row[n + ' fallback']:.2f}]"
            cells.append(f"{cell:>{width + 7 if n.endswith('+SG') else width}}")
        lines.append(f"{setting:<20}" + "".join(cells))
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small problem, minutes")
    parser.add_argument("--out", default=None,
                        help="prefix of the .txt and .json outputs "
                             "(default benchmarks/results/robustness_{quick,full})")
    args = parser.parse_args()
    cfg = sizes(args.quick)
    start = time.perf_counter()
    lines = []

    def log(line):
        line = f"[{time.perf_counter() - start:6.0f} s] {line}"
        print(line, flush=True)

    X, S, D = make_sparse_recovery(cfg["n_train"], cfg["m"], cfg["n"], snr_db=SNR,
                                   random_state=0)
    models, classical, budgets = train_models(D, X, S, cfg, log)
    guard = guards(models)
    rows = evaluate(models, classical, guard, settings(D, cfg), cfg, log)
    targets = check_targets(rows, models)
    lines.append(f"Robustness study: m={cfg['m']}, n={cfg['n']}, p=0.1, K={cfg['K']}, "
                 f"trained at SNR {SNR:g} dB; test sets of {cfg['n_test']} samples")
    lines.append("Training budgets: " + "; ".join(f"{k}: {v}" for k, v in budgets.items()))
    lines.append(table(rows, models, classical))
    lines.append("Targets (with the safeguard: <= 1 dB worse than the classical solver on "
                 "every mismatched setting; <= 1 dB lost in distribution):")
    for name, t in targets.items():
        lines.append(f"  {name:<14} vs {t['classical']:<5} worst gap {t['worst_gap_db']:+.1f} dB "
                     f"({t['worst_setting']}), in-distribution loss "
                     f"{t['in_distribution_loss_db']:+.2f} dB: "
                     f"{'met' if t['met'] else 'NOT met'}")
    wall = time.perf_counter() - start
    lines.append(f"Total: {wall:.0f} s wall, {time.process_time():.0f} CPU s, one torch thread")
    text = "\n".join(lines)
    print(text)
    tag = "quick" if args.quick else "full"
    prefix = args.out or os.path.join(RESULTS, f"robustness_{tag}")
    os.makedirs(os.path.dirname(os.path.abspath(prefix)), exist_ok=True)
    with open(prefix + ".txt", "w") as f:
        f.write(text + "\n")
    with open(prefix + ".json", "w") as f:
        json.dump(dict(config=cfg, alpha=ALPHA, snr_db=SNR, budgets=budgets, nmse_db=rows,
                       targets=targets, wall_s=wall), f, indent=1)


if __name__ == "__main__":
    main()
