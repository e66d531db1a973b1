"""A one-minute demonstration: classical ISTA/FISTA against unfolded LISTA/ALISTA.

About a minute on a 2-core machine (measured: 61 s, and 60 s with another CPU-bound
process running beside it); progress is printed as it goes.

Run it with ``python -m skunfold.demo`` (add ``--quick`` for a run of a few
seconds). It draws a sparse-recovery problem ``x = H s`` on built-in synthetic
data (:func:`skunfold.datasets.make_sparse_recovery`), fits the classical
solvers (their l1 weight ``alpha`` tuned on the training set) and a few
unfolded networks with the same number of layers, and prints the NMSE (dB) on
held-out data after each layer, with the training time of every model.

The process exits with status 1 if no unfolded network beats the best
classical solver at equal depth, so the demo doubles as a smoke test.
"""

import argparse
import sys
import time

from .datasets import make_sparse_recovery
from .metrics import nmse_db
from .sparse import FISTA, ISTA, UnfoldedISTA

__all__ = ["run_demo", "format_table", "main"]

#: Problem and training sizes of the full and the ``--quick`` demo.
SIZES = {
    "full": dict(n_measurements=64, n_components=128, n_layers=10, n_train=5000, n_test=1000,
                 max_epochs=30),
    "quick": dict(n_measurements=32, n_components=64, n_layers=6, n_train=1500, n_test=500,
                  max_epochs=15),
}

_ALPHAS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0)


def _tuned_classical(cls, D, X, S, n_layers):
    """Fit ``cls`` with the ``alpha`` of ``_ALPHAS`` that gives the lowest training NMSE."""
    best = None
    for alpha in _ALPHAS:
        est = cls(dictionary=D, n_layers=n_layers, alpha=alpha, device="cpu").fit(X)
        score = nmse_db(S, est.predict(X))
        if best is None or score < best[0]:
            best = (score, est)
    return best[1]


def _unfolded_models(n_layers, max_epochs, random_state):
    common = dict(n_layers=n_layers, max_epochs=max_epochs, batch_size=128,
                  loss_schedule="multi_iteration", device="cpu", random_state=random_state)
    return [
        ("LISTA", "objective",
         UnfoldedISTA(paradigm="objective", lr=1e-3, **common)),
        ("LISTA-CPSS", "objective",
         UnfoldedISTA(paradigm="objective", coupling="cp", support_selection=True, lr=1e-3,
                      **common)),
        ("ALISTA", "hyperparameters",
         UnfoldedISTA(paradigm="hyperparameters", weights="analytic", support_selection=True,
                      **common)),
    ]


def run_demo(quick=False, random_state=0, verbose=False):
    """Train and evaluate the demo models.

    Parameters
    ----------
    quick : bool, default=False
        Use the smaller problem and training budget of ``SIZES["quick"]``.
    random_state : int, default=0
        Seed of the data and of every model.
    verbose : bool, default=False
        Print progress as it goes: which model is fitted, its epochs and losses,
        the elapsed time.

    Returns
    -------
    results : list of dict
        One entry per model with keys ``"name"``, ``"paradigm"``,
        ``"fit_time"`` (seconds), ``"n_params"`` (trained scalars) and
        ``"nmse_db"`` (held-out NMSE in dB after each layer, a list).
    sizes : dict
        The sizes used.

    Examples
    --------
    >>> from skunfold.demo import run_demo
    >>> results, sizes = run_demo(quick=True)  # doctest: +SKIP
    >>> [r["name"] for r in results]  # doctest: +SKIP
    ['ISTA', 'FISTA', 'LISTA', 'LISTA-CPSS', 'ALISTA']
    """
    sizes = dict(SIZES["quick" if quick else "full"])
    m, n, K = sizes["n_measurements"], sizes["n_components"], sizes["n_layers"]
    X, S, D = make_sparse_recovery(n_samples=sizes["n_train"], n_measurements=m,
                                   n_components=n, sparsity=0.1, random_state=random_state)
    X_test, S_test, _ = make_sparse_recovery(n_samples=sizes["n_test"], n_measurements=m,
                                             n_components=n, sparsity=0.1, dictionary=D,
                                             random_state=random_state + 1)
    start = time.perf_counter()

    def log(line):
        if verbose:
            print(f"[demo {time.perf_counter() - start:6.1f} s] {line}", flush=True)

    log(f"data: {sizes['n_train']} training and {sizes['n_test']} test samples, m={m}, n={n}")
    results = []
    unfolded = _unfolded_models(K, sizes["max_epochs"], random_state)
    total = 2 + len(unfolded)
    for i, (name, cls) in enumerate((("ISTA", ISTA), ("FISTA", FISTA)), start=1):
        log(f"({i}/{total}) {name}: tuning alpha over {len(_ALPHAS)} values, K={K} iterations")
        t0 = time.perf_counter()
        est = _tuned_classical(cls, D, X, S, K)
        elapsed = time.perf_counter() - t0
        db = [nmse_db(S_test, s) for s in est.staged_predict(X_test)]
        results.append(dict(name=name, paradigm="classical", fit_time=elapsed, n_params=0,
                            alpha=est.alpha, nmse_db=db))
        log(f"({i}/{total}) {name}: alpha={est.alpha}, {db[-1]:.1f} dB in {elapsed:.1f} s")
    for i, (name, paradigm, est) in enumerate(unfolded, start=3):
        est.set_params(dictionary=D, verbose=int(verbose))
        log(f"({i}/{total}) {name} (paradigm={paradigm!r}): training {sizes['max_epochs']} "
            f"epochs on {len(X)} samples")
        t0 = time.perf_counter()
        est.fit(X, S)
        elapsed = time.perf_counter() - t0
        n_params = sum(p.numel() for p in est.module_.parameters() if p.requires_grad)
        db = [nmse_db(S_test, s) for s in est.staged_predict(X_test)]
        results.append(dict(name=name, paradigm=paradigm, fit_time=elapsed, n_params=n_params,
                            nmse_db=db))
        log(f"({i}/{total}) {name}: {db[-1]:.1f} dB in {elapsed:.1f} s")
    return results, sizes


def format_table(results, sizes):
    """Format the results of :func:`run_demo` as a plain-text table.

    Parameters
    ----------
    results : list of dict
    sizes : dict

    Returns
    -------
    str
    """
    K = sizes["n_layers"]
    layers = sorted({1, 2, max(1, K // 2), K})
    head = (f"{'model':<11} {'paradigm':<16} {'params':>8} {'fit (s)':>8}  "
            + " ".join(f"{'k=' + str(k):>7}" for k in layers))
    lines = [
        f"Sparse recovery x = H s: m={sizes['n_measurements']}, n={sizes['n_components']}, "
        f"p=0.1, noiseless; {sizes['n_train']} training / {sizes['n_test']} test samples, "
        f"K={K} layers, {sizes['max_epochs']} epochs.",
        "Held-out NMSE (dB) after layer k (lower is better):",
        "",
        head,
        "-" * len(head),
    ]
    for r in results:
        lines.append(
            f"{r['name']:<11} {r['paradigm']:<16} {r['n_params']:>8d} {r['fit_time']:>8.2f}  "
            + " ".join(f"{r['nmse_db'][k - 1]:>7.1f}" for k in layers))
    classical = [r for r in results if r["paradigm"] == "classical"]
    unfolded = [r for r in results if r["paradigm"] != "classical"]
    best_c = min(classical, key=lambda r: r["nmse_db"][-1])
    best_u = min(unfolded, key=lambda r: r["nmse_db"][-1])
    lines += [
        "",
        "(classical solvers: alpha tuned on the training set, "
        + ", ".join(f"{r['name']} alpha={r['alpha']}" for r in classical) + ")",
        f"Best unfolded ({best_u['name']}, {best_u['nmse_db'][-1]:.1f} dB) vs best classical "
        f"({best_c['name']}, {best_c['nmse_db'][-1]:.1f} dB) at K={K}: "
        f"{best_c['nmse_db'][-1] - best_u['nmse_db'][-1]:.1f} dB better.",
    ]
    return "\n".join(lines)


def main(argv=None):
    """Command-line entry point (``python -m skunfold.demo [--quick] [--seed N]``)."""
    parser = argparse.ArgumentParser(
        prog="python -m skunfold.demo",
        description="Classical ISTA/FISTA vs unfolded LISTA/ALISTA on synthetic sparse "
                    "recovery (about a minute on a 2-core machine; --quick: seconds).")
    parser.add_argument("--quick", action="store_true", help="smaller problem, fewer epochs")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    results, sizes = run_demo(quick=args.quick, random_state=args.seed, verbose=True)
    print()
    print(format_table(results, sizes))
    print(f"\nTotal time {time.perf_counter() - t0:.1f} s.")
    best_c = min(r["nmse_db"][-1] for r in results if r["paradigm"] == "classical")
    best_u = min(r["nmse_db"][-1] for r in results if r["paradigm"] != "classical")
    if not best_u < best_c:
        print("FAILED: no unfolded network beat the classical solvers.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
