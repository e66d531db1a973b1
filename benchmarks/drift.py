"""Online learning under drift: trained once, partial_fit, warm-start refit, retrained from scratch.

One setting per family, each an environment that drifts slowly over blocks of
data; every block brings a training set (pilots, labelled examples) and a test
set drawn from the environment of that block:

* **sparse**: LISTA (``UnfoldedISTA(D0, paradigm="objective")``) given the
  dictionary of block 0, while the true dictionary turns away from it,
  ``D_t = normalise(cos(t d) D0 + sin(t d) D1)`` (quality: NMSE of the codes, dB);
* **mimo**: DeepSIC on a 4x4 Gaussian channel that turns into another one,
  ``H_t = cos(t d) H0 + sin(t d) H1`` (BPSK, 10 dB; symbol error rate);
* **power**: unfolded WMMSE on an interference network whose path-loss
  exponent rises from 2.2 to 3.4 (same topology, new fading; mean sum rate,
  bit/s/Hz);
* **beamforming**: unfolded hybrid PGA on wideband channels whose users fade
  apart (user ``u`` loses up to ``8 u / (U - 1)`` dB; mean rate, nats per band);
* **rpca**: learned RPCA on matrices whose outliers grow denser and larger
  (fraction 0.05 to 0.2, scale 1 to 2; relative error of the low-rank part);
* **distributed**: unfolded D-ADMM on a graph of agents while the dictionary
  drifts as in the sparse setting (NMSE, dB);
* **imaging**: unfolded proximal gradient deblurring as the noise rises from
  0.01 to 0.05 (16x16 crops; training crops from the "train" images, test
  crops from the "test" images; PSNR, dB).

Four ways to keep a model, all starting from the same ``fit`` on block 0:

* **trained once**: never updated;
* **partial_fit**: ``partial_fit`` on each new block's training set (``PASSES``
  calls per block: a few passes, the optimizer state kept from call to call);
* **warm-start refit**: ``fit`` on each new block with ``warm_start=True``
  (the whole training budget, from the current parameters, a new optimizer);
* **retrained**: a new estimator ``fit`` on each new block.

Reported per setting and method: the quality on every block's test set
(blocks 1 to B - 1; block 0 is where all four are the same model), its mean
over the blocks, the seconds spent per block on the update (wall-clock,
one thread) and every warning raised.

Usage::

    python benchmarks/drift.py --quick      # 5 blocks, small models: about 2-3 minutes
    python benchmarks/drift.py              # 10 blocks, larger budgets
    python benchmarks/drift.py --quick --settings sparse mimo

Results go to ``benchmarks/results/drift_{quick,full}.{txt,json}`` (``--out
PREFIX`` to write them elsewhere).
"""

import argparse
import copy
import json
import os
import pathlib
import platform
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import sklearn  # noqa: E402
import torch  # noqa: E402
from recording import Recorder  # noqa: E402  (benchmarks/ is on sys.path)

import skunfold  # noqa: E402
from skunfold import datasets  # noqa: E402
from skunfold.beamforming import UnfoldedHybridPGA  # noqa: E402
from skunfold.distributed import UnfoldedDADMM  # noqa: E402
from skunfold.imaging import UnfoldedProximalGradient  # noqa: E402
from skunfold.metrics import nmse_db, psnr, symbol_error_rate  # noqa: E402
from skunfold.mimo import DeepSICClassifier  # noqa: E402
from skunfold.power import UnfoldedWMMSE  # noqa: E402
from skunfold.rpca import LearnedRPCA  # noqa: E402
from skunfold.sparse import UnfoldedISTA  # noqa: E402

torch.set_num_threads(1)

RESULTS = pathlib.Path(__file__).parent / "results"
METHODS = ("trained once", "partial_fit", "warm-start refit", "retrained")
#: partial_fit calls per block (each one pass over the block's training set per stage of the
#: loss schedule; DeepSIC's adapt_epochs=3 passes per layer)
PASSES = 3
#: Blocks of data (quick, full): the first trains every model, the others are updates.
N_BLOCKS = {True: 5, False: 10}
_COMMON = dict(device="cpu", n_threads=1)


def _turning(D0, D1, angle):
    """``cos(angle) D0 + sin(angle) D1`` with unit-norm rows (a slowly turning dictionary)."""
    D = np.cos(angle) * D0 + np.sin(angle) * D1
    return D / np.linalg.norm(D, axis=1, keepdims=True)


# -- the settings: estimator factory, block sampler, quality ---------------------------------
def sparse(quick, seed):
    m, n = (30, 60) if quick else (60, 120)
    _, _, D0 = datasets.make_sparse_recovery(n_samples=1, n_measurements=m, n_components=n,
                                             random_state=seed)
    _, _, D1 = datasets.make_sparse_recovery(n_samples=1, n_measurements=m, n_components=n,
                                             random_state=seed + 1)
    step = 0.12

    def block(t, n_samples, rs):
        X, S, _ = datasets.make_sparse_recovery(
            n_samples=n_samples, n_measurements=m, n_components=n, snr_db=30,
            dictionary=_turning(D0, D1, step * t), random_state=rs)
        return X, S

    def make(rs):
        return UnfoldedISTA(D0, paradigm="objective", n_layers=8, alpha=0.05,
                            max_epochs=10 if quick else 40, batch_size=64, random_state=rs,
                            **_COMMON)

    return dict(make=make, block=block, sizes=(300, 1000) if quick else (1000, 2000),
                quality=lambda est, X, y: nmse_db(y, est.predict(X)),
                unit="NMSE dB", higher_is_better=False,
                note=f"LISTA, K=8, {m}x{n} dictionary turning by {step} rad per block")


def mimo(quick, seed):
    rng = np.random.default_rng(seed)
    H0, H1 = rng.normal(size=(2, 4, 4))
    step = 0.15

    def block(t, n_samples, rs):
        channel = np.cos(step * t) * H0 + np.sin(step * t) * H1
        X, y, _ = datasets.make_mimo(n_samples, channel=channel, snr_db=10.0, random_state=rs)
        return X, y

    def make(rs):
        return DeepSICClassifier(n_layers=2 if quick else 3, constellation="bpsk",
                                 hidden_layer_sizes=(16,) if quick else (64,),
                                 max_epochs=100 if quick else 600, early_stopping=False,
                                 adapt_epochs=3, random_state=rs, **_COMMON)

    return dict(make=make, block=block, sizes=(300, 3000) if quick else (500, 10000),
                quality=lambda est, X, y: symbol_error_rate(y, est.predict(X)),
                unit="SER", higher_is_better=False,
                note=f"DeepSIC, 4x4 BPSK, 10 dB, a Gaussian channel turning by {step} rad per "
                     "block")


def power(quick, seed):
    n_blocks = N_BLOCKS[quick]

    def block(t, n_samples, rs):
        exponent = 2.2 + 1.2 * t / (n_blocks - 1)
        H, _ = datasets.make_interference_network(n_samples, n_pairs=6,
                                                  path_loss_exponent=exponent,
                                                  topology_random_state=seed,
                                                  random_state=rs)
        return H, None

    def make(rs):
        return UnfoldedWMMSE(n_layers=4, max_epochs=10 if quick else 40, batch_size=64,
                             random_state=rs, **_COMMON)

    return dict(make=make, block=block, sizes=(300, 1000) if quick else (1000, 2000),
                quality=lambda est, X, y: est.score(X) / np.log(2),
                unit="bit/s/Hz", higher_is_better=True,
                note="unfolded WMMSE, 6 pairs, path-loss exponent 2.2 -> 3.4")


def beamforming(quick, seed):
    n_blocks = N_BLOCKS[quick]
    n_users = 3

    def block(t, n_samples, rs):
        H = datasets.make_wideband_channels(n_samples, n_bands=1, n_users=n_users,
                                            n_antennas=8, random_state=rs)
        loss_db = 8.0 * (t / (n_blocks - 1)) * np.arange(n_users) / (n_users - 1)
        return H * 10 ** (-loss_db / 20)[None, None, :, None], None

    def make(rs):
        return UnfoldedHybridPGA(n_layers=4, n_rf_chains=3, max_epochs=8 if quick else 40,
                                 batch_size=64, random_state=rs, **_COMMON)

    return dict(make=make, block=block, sizes=(200, 500) if quick else (1000, 2000),
                quality=lambda est, X, y: est.score(X),
                unit="nats/band", higher_is_better=True,
                note="unfolded hybrid PGA, 1 band, 3 users, 8 antennas, 3 RF chains; users "
                     "fade apart by up to 8 dB")


def rpca(quick, seed):
    n_blocks = N_BLOCKS[quick]
    shape = (30, 20) if quick else (60, 40)

    def block(t, n_samples, rs):
        frac = 0.05 + 0.15 * t / (n_blocks - 1)
        X, L, _ = datasets.make_rpca(n_instances=n_samples, shape=shape, rank=2,
                                     outlier_fraction=frac, outlier_scale=1 + t / (n_blocks - 1),
                                     random_state=rs)
        return X, L

    def make(rs):
        return LearnedRPCA(n_layers=6, rank=2, max_epochs=12 if quick else 40, batch_size=8,
                           random_state=rs, **_COMMON)

    return dict(make=make, block=block, sizes=(16, 32) if quick else (64, 64),
                quality=lambda est, X, y: -est.score(X, y), unit="rel. error",
                higher_is_better=False,
                note=f"learned RPCA, {shape[0]}x{shape[1]} rank-2 matrices, outliers 5% -> 20%, "
                     "scale 1 -> 2")


def distributed(quick, seed):
    m, n = (16, 32) if quick else (40, 80)
    _, _, D0, G = datasets.make_distributed_lasso(
        n_samples=1, n_agents=4, n_measurements=m, n_components=n, edge_probability=0.8,
        random_state=seed)
    _, _, D1, _ = datasets.make_distributed_lasso(
        n_samples=1, n_agents=4, n_measurements=m, n_components=n, edge_probability=0.8,
        random_state=seed + 1)
    step = 0.12

    def block(t, n_samples, rs):
        X, S, _, _ = datasets.make_distributed_lasso(
            n_samples=n_samples, n_agents=4, n_measurements=m, n_components=n,
            edge_probability=0.8, dictionary=_turning(D0, D1, step * t), snr_db=30,
            random_state=rs)
        return X, S

    def make(rs):
        return UnfoldedDADMM(G, dictionary=D0, n_layers=6, max_epochs=10 if quick else 40,
                             batch_size=64, random_state=rs, **_COMMON)

    return dict(make=make, block=block, sizes=(300, 1000) if quick else (1000, 2000),
                quality=lambda est, X, y: nmse_db(y, est.predict(X)),
                unit="NMSE dB", higher_is_better=False,
                note=f"unfolded D-ADMM, 4 agents, {m}x{n} dictionary turning by {step} rad per "
                     "block")


def imaging(quick, seed):
    n_blocks = N_BLOCKS[quick]
    _, _, A = datasets.make_imaging_problem("blur", n_samples=1, patch_size=16,
                                            random_state=seed)

    def block(t, n_samples, rs):
        noise = 0.01 + 0.04 * t / (n_blocks - 1)
        images = "test" if rs == "test" else "train"
        Y, X, _ = datasets.make_imaging_problem(A, images=images, n_samples=n_samples,
                                                noise=noise,
                                                random_state=seed + t + (500 if rs == "test"
                                                                         else 0))
        return Y, X

    def make(rs):
        return UnfoldedProximalGradient(A, prior="l1", n_layers=6, max_epochs=8 if quick else 40,
                                        batch_size=32, random_state=rs, **_COMMON)

    return dict(make=make, block=block, sizes=(150, 200) if quick else (500, 500),
                quality=lambda est, X, y: psnr(y, est.predict(X)), unit="PSNR dB",
                higher_is_better=True,
                note="unfolded proximal gradient, 16x16 Gaussian deblurring, noise 0.01 -> 0.05")


SETTINGS = {"sparse": sparse, "mimo": mimo, "power": power, "beamforming": beamforming,
            "rpca": rpca, "distributed": distributed, "imaging": imaging}


# -- the run -------------------------------------------------------------------------------
def run_setting(name, quick, seed):
    spec = SETTINGS[name](quick, seed)
    n_blocks = N_BLOCKS[quick]
    n_train, n_test = spec["sizes"]
    train = [spec["block"](t, n_train, seed + 100 + t) for t in range(n_blocks)]
    test = [spec["block"](t, n_test, "test" if name == "imaging" else seed + 200 + t)
            for t in range(n_blocks)]
    records = {m: Recorder() for m in METHODS}
    quality = {m: [] for m in METHODS}
    seconds = {m: 0.0 for m in METHODS}

    def timed(method, fn):
        start = time.perf_counter()
        with records[method]:
            out = fn()
        seconds[method] += time.perf_counter() - start
        return out

    with records["trained once"]:
        start = time.perf_counter()
        base = spec["make"](seed).fit(*train[0])
        first_fit = time.perf_counter() - start
    models = {"trained once": base, "partial_fit": copy.deepcopy(base),
              "warm-start refit": copy.deepcopy(base).set_params(warm_start=True)}
    block_0 = spec["quality"](base, *test[0])
    for t in range(1, n_blocks):
        X, y = train[t]

        def online(X=X, y=y):
            for _ in range(PASSES):
                models["partial_fit"].partial_fit(X, y)
        timed("partial_fit", online)
        timed("warm-start refit", lambda X=X, y=y: models["warm-start refit"].fit(X, y))
        models["retrained"] = timed("retrained",
                                    lambda X=X, y=y: spec["make"](seed + t).fit(X, y))
        for method in METHODS:
            with records[method]:
                quality[method].append(float(spec["quality"](models[method], *test[t])))
        print(f"  {name} block {t}: " + "  ".join(f"{m}={quality[m][-1]:.4g}" for m in METHODS),
              flush=True)
    n_updates = n_blocks - 1
    return {"setting": name, "note": spec["note"], "unit": spec["unit"],
            "higher_is_better": spec["higher_is_better"], "n_blocks": n_blocks,
            "n_train": n_train, "n_test": n_test, "block_0": block_0, "first_fit_s": first_fit,
            "methods": {m: {"quality": quality[m], "mean": float(np.mean(quality[m])),
                            "seconds_per_block": seconds[m] / n_updates,
                            "warnings": records[m].seen} for m in METHODS}}


def report(res):
    lines = [res["title"], res["machine"], ""]
    for s in res["settings"]:
        lines.append(f"{s['setting']}: {s['note']}; {s['n_blocks']} blocks of {s['n_train']} "
                     f"training / {s['n_test']} test samples; block 0 {s['block_0']:.4g} "
                     f"{s['unit']} (fit {s['first_fit_s']:.1f} s)")
        better = "higher" if s["higher_is_better"] else "lower"
        head = (f"  {'method':<18}{'mean':>9}{'last':>9}{'s/block':>9}  "
                f"{s['unit']} per block 1..{s['n_blocks'] - 1} ({better} is better); warnings")
        lines += [head, "  " + "-" * 96]
        for m, r in s["methods"].items():
            per_block = " ".join(f"{q:.4g}" for q in r["quality"])
            cats = "; ".join(sorted({c for c, _ in r["warnings"]}))
            lines.append(f"  {m:<18}{r['mean']:9.4g}{r['quality'][-1]:9.4g}"
                         f"{r['seconds_per_block']:9.2f}  {per_block}" + (f"  [{cats}]"
                                                                           if cats else ""))
        lines.append("")
    lines.append(f"Total {res['total_s']:.0f} s.")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 blocks, small models")
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="prefix of the .txt and .json outputs "
                        "(default: benchmarks/results/drift_{quick,full})")
    args = parser.parse_args(argv)
    mode = "quick" if args.quick else "full"
    machine = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
               f"python {platform.python_version()}, torch {torch.__version__}, "
               f"scikit-learn {sklearn.__version__}, skunfold {skunfold.__version__}, "
               f"1 torch thread, OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}")
    start = time.perf_counter()
    settings = []
    for name in args.settings:
        print(f"{name} ...", flush=True)
        settings.append(run_setting(name, args.quick, args.seed))
    res = {"mode": mode, "title": f"Online learning under drift ({mode}): trained once, "
           f"partial_fit ({PASSES} calls per block), warm-start refit, retrained; seed "
           f"{args.seed}", "machine": machine, "passes": PASSES, "settings": settings,
           "total_s": time.perf_counter() - start}
    text = report(res)
    print(text)
    prefix = pathlib.Path(args.out) if args.out else RESULTS / f"drift_{mode}"
    prefix.parent.mkdir(parents=True, exist_ok=True)
    prefix.with_name(prefix.name + ".txt").write_text(text)
    prefix.with_name(prefix.name + ".json").write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
