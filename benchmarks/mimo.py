"""MIMO detection benchmark: DeepSIC vs soft IC, LMMSE and ML (4x4 BPSK).

Three parts, each printed as a table (and saved as JSON and plots):

1. symbol error rate vs SNR on the linear SED channel, random Gaussian
   channels, the SED channel with CSI uncertainty (the model-based detector gets
   ``H * (1 + sqrt(0.1) n)``, redrawn every 500 symbols) and the SED channel
   behind non-linear receivers (``tanh(0.5 y)``; one-bit quantisation, with 8
   antennas); DeepSIC learns from 500 pilots per block; on the SED channel
   also **DeepSIC (synthetic pilots)**, trained on fresh samples of the channel
   and noise variance estimated from those 500 pilots (a ``SampleSource``);
2. the time-varying SED channel at 12 dB: SER per block of DeepSIC retrained
   on each block's pilots, DeepSIC adapted with ``partial_fit``, DeepSIC
   trained once, and soft IC with the true channel of every block;
3. detection throughput (symbols per second) of every detector in one run.

Usage::

    python benchmarks/mimo.py --quick        # a few minutes on 2 cores
    python benchmarks/mimo.py                # full: 0-14 dB, 100 blocks (long)
    python benchmarks/mimo.py --scenarios sed --skip tracking throughput \
        --n-test 200000 --tag _sed             # the SED part only (as committed)

One torch thread is used (``OMP_NUM_THREADS=1``), as the project's machines
are shared.
"""

import argparse
import copy
import functools
import json
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from skunfold.core import SampleSource  # noqa: E402
from skunfold.datasets import make_mimo, make_mimo_stream  # noqa: E402
from skunfold.metrics import symbol_error_rate  # noqa: E402
from skunfold.mimo import (  # noqa: E402
    DeepSICClassifier,
    LMMSEDetector,
    MLDetector,
    SoftICDetector,
)

torch.set_num_threads(1)

N_PILOTS = 500
CSI_ERROR = 0.1
#: The model-based detectors given a channel are fitted without pilot labels: name the alphabet.
BPSK = {"constellation": "bpsk"}


def deepsic(seed):
    return DeepSICClassifier(constellation="bpsk", random_state=seed, device="cpu")


#: Synthetic-pilot DeepSIC: fresh samples per epoch, in mini-batches of 500, 200 epochs per layer.
SYNTHETIC = {"n_samples_per_epoch": 5000, "batch_size": 500, "max_epochs": 1000}


def _label_indices(sampler, n_samples, random_state=None):
    X, y, _ = sampler(n_samples, random_state=random_state)
    return X, (y + 1) // 2


def synthetic_pilot_deepsic(Xp, yp, seed):
    """DeepSIC trained on synthetic pilots of the channel estimated from the real ones.

    The channel and noise variance are the least-squares estimates of soft IC
    (LS CSI) from the pilots ``(Xp, yp)``; every epoch draws
    ``SYNTHETIC["n_samples_per_epoch"]`` fresh samples of that model, and early
    stopping watches the cross-entropy on the real pilots. Returns
    ``(detector, predict)``, ``predict(X)`` giving BPSK symbols.
    """
    ls = SoftICDetector(device="cpu").fit(Xp, yp)
    sampler = functools.partial(make_mimo, snr_db=-10.0 * np.log10(ls.noise_var_),
                                channel=ls.channel_)
    # Labels as class indices 0/1 with constellation=None: fit(SampleSource) encodes the labels
    # of its first draw twice (once in first_draw, again in fit), so only labels that equal their
    # own index survive; predictions are mapped back to -1/+1.
    source = SampleSource(functools.partial(_label_indices, sampler),
                          n_samples_per_epoch=SYNTHETIC["n_samples_per_epoch"],
                          validation=(Xp, (yp + 1) // 2))
    det = DeepSICClassifier(batch_size=SYNTHETIC["batch_size"],
                            max_epochs=SYNTHETIC["max_epochs"], random_state=seed,
                            device="cpu").fit(source)
    return det, lambda X: 2 * det.predict(X) - 1


def noisy_soft_ic_ser(X, y, H, nv, rng, block=500):
    """SER of soft IC given H * (1 + sqrt(0.1) n), redrawn every ``block`` symbols."""
    errors = 0
    for start in range(0, len(X), block):
        H_hat = H * (1.0 + np.sqrt(CSI_ERROR) * rng.normal(size=H.shape))
        det = SoftICDetector(H_hat, nv, device="cpu", **BPSK).fit(X[start:start + block])
        errors += np.sum(det.predict(X[start:start + block]) != y[start:start + block])
    return errors / y.size


def ser_point(scenario, snr, n_test, seed):
    """SER of every detector for one scenario, SNR and channel draw."""
    nv = 10.0 ** (-snr / 10.0)
    channel = "gaussian" if scenario == "gaussian" else "sed"
    nonlin = {"tanh": "tanh", "one_bit": "one_bit"}.get(scenario)
    # one-bit outputs of 4 antennas take only 16 values: give that receiver 8 antennas
    n_ant = 8 if scenario == "one_bit" else 4
    Xp, yp, H = make_mimo(N_PILOTS, n_antennas=n_ant, snr_db=snr, channel=channel,
                          nonlinearity=nonlin, random_state=seed)
    Xt, yt, _ = make_mimo(n_test, n_antennas=n_ant, snr_db=snr, channel=H,
                          nonlinearity=nonlin, random_state=seed + 1000)
    out = {}
    for name, det in [("ML", MLDetector(H, nv, **BPSK)), ("LMMSE", LMMSEDetector(H, nv, **BPSK)),
                      ("SoftIC", SoftICDetector(H, nv, device="cpu", **BPSK))]:
        out[name] = symbol_error_rate(yt, det.fit(Xt).predict(Xt))
    out["SoftIC (LS CSI)"] = symbol_error_rate(
        yt, SoftICDetector(device="cpu").fit(Xp, yp).predict(Xt))
    if scenario == "sed":  # CSI uncertainty: same channel and pilots, noisy channel given
        out["SoftIC (noisy CSI)"] = noisy_soft_ic_ser(Xt, yt, H, nv,
                                                     np.random.default_rng(seed))
        # the paper's "mismatched" DeepSIC: pilots generated with the noisy channels
        Xm, ym, _ = make_mimo(N_PILOTS, snr_db=snr, channel=H, csi_error=CSI_ERROR,
                              csi_block=N_PILOTS // 10, random_state=seed + 2000)
        out["DeepSIC (noisy-CSI pilots)"] = symbol_error_rate(
            yt, deepsic(seed).fit(Xm, ym).predict(Xt))
    t0 = time.perf_counter()
    det = deepsic(seed).fit(Xp, yp)
    out["DeepSIC fit s"] = time.perf_counter() - t0
    out["DeepSIC"] = symbol_error_rate(yt, det.predict(Xt))
    if scenario == "sed":
        t0 = time.perf_counter()
        _, predict = synthetic_pilot_deepsic(Xp, yp, seed)
        out["DeepSIC (synthetic pilots) fit s"] = time.perf_counter() - t0
        out["DeepSIC (synthetic pilots)"] = symbol_error_rate(yt, predict(Xt))
    return out


def _shown(key):
    """Whether a result column is a symbol error rate (not the SNR or a fit time)."""
    return key != "snr_db" and not key.endswith(" fit s")


def run_ser(snrs, scenarios, n_test, n_channels):
    results = {}
    for scenario in scenarios:
        rows = []
        draws = n_channels if scenario == "gaussian" else 1
        for snr in snrs:
            points = [ser_point(scenario, snr, n_test, seed) for seed in range(draws)]
            row = {"snr_db": snr}
            for key in points[0]:
                row[key] = float(np.mean([p[key] for p in points]))
            rows.append(row)
            print(f"  [{scenario:8s}] {snr:5.1f} dB  "
                  + "  ".join(f"{k}={v:.2e}" for k, v in row.items()
                              if _shown(k)), flush=True)
        results[scenario] = rows
    if "sed" in results:  # split the CSI-uncertainty columns into their own table
        csi_cols = ["SoftIC", "SoftIC (noisy CSI)", "LMMSE", "DeepSIC",
                    "DeepSIC (noisy-CSI pilots)"]
        results["csi"] = [{"snr_db": r["snr_db"], **{c: r[c] for c in csi_cols}}
                          for r in results["sed"]]
        for r in results["sed"]:
            for c in ("SoftIC (noisy CSI)", "DeepSIC (noisy-CSI pilots)"):
                r.pop(c)
    return results


def run_tracking(n_frames, n_data, retrain_every=1, snr=12.0, seed=0):
    nv = 10.0 ** (-snr / 10.0)
    methods = ["SoftIC (true CSI)", "DeepSIC retrained", "DeepSIC partial_fit",
               "DeepSIC trained once"]
    ser = {m: [] for m in methods}
    seconds = {m: 0.0 for m in methods}
    adaptive = once = None
    for frame in make_mimo_stream(n_frames=n_frames, n_pilots=N_PILOTS, n_data=n_data,
                                  snr_db=snr, random_state=seed):
        Xp, yp, X, y = frame.X_pilots, frame.y_pilots, frame.X, frame.y
        t0 = time.perf_counter()
        soft = SoftICDetector(frame.channel, nv, device="cpu", **BPSK).fit(X)
        ser["SoftIC (true CSI)"].append(symbol_error_rate(y, soft.predict(X)))
        seconds["SoftIC (true CSI)"] += time.perf_counter() - t0
        if frame.index % retrain_every == 0:
            t0 = time.perf_counter()
            fresh = deepsic(seed + frame.index).fit(Xp, yp)
            seconds["DeepSIC retrained"] += time.perf_counter() - t0
            ser["DeepSIC retrained"].append(symbol_error_rate(y, fresh.predict(X)))
        else:
            ser["DeepSIC retrained"].append(float("nan"))
        t0 = time.perf_counter()
        if adaptive is None:
            once = deepsic(seed).fit(Xp, yp)
            adaptive = copy.deepcopy(once)
        else:
            adaptive.partial_fit(Xp, yp)
        seconds["DeepSIC partial_fit"] += time.perf_counter() - t0
        ser["DeepSIC partial_fit"].append(symbol_error_rate(y, adaptive.predict(X)))
        ser["DeepSIC trained once"].append(symbol_error_rate(y, once.predict(X)))
        print(f"  block {frame.index:3d}: "
              + "  ".join(f"{m}={ser[m][-1]:.2e}" for m in methods), flush=True)
    n_retrained = len(range(0, n_frames, retrain_every))
    per_block = {m: s / (n_retrained if m == "DeepSIC retrained" else n_frames)
                 for m, s in seconds.items()}
    return {"snr_db": snr, "n_frames": n_frames, "n_data": n_data,
            "retrain_every": retrain_every, "ser": ser, "seconds_per_block": per_block}


def run_throughput(n_vectors=10000, snr=10.0, repeats=3):
    nv = 10.0 ** (-snr / 10.0)
    Xp, yp, H = make_mimo(N_PILOTS, snr_db=snr, random_state=0)
    X, _, _ = make_mimo(n_vectors, snr_db=snr, channel=H, random_state=1)
    dets = {"ML": MLDetector(H, nv, **BPSK).fit(X), "LMMSE": LMMSEDetector(H, nv, **BPSK).fit(X),
            "SoftIC": SoftICDetector(H, nv, device="cpu", **BPSK).fit(X),
            "DeepSIC": deepsic(0).fit(Xp, yp)}
    out = {}
    for name, det in dets.items():
        det.predict(X[:100])
        best = min(_timed(det.predict, X) for _ in range(repeats))
        out[name] = X.shape[0] * 4 / best
    return out


def _timed(fn, X):
    t0 = time.perf_counter()
    fn(X)
    return time.perf_counter() - t0


def print_tables(res):
    for scenario, rows in res["ser"].items():
        cols = [k for k in rows[0] if _shown(k)]
        n_test = res.get("n_test")
        print(f"\nSER vs SNR, scenario {scenario!r} (DeepSIC: {N_PILOTS} pilots"
              + (f"; {n_test} test vectors, {4 * n_test} decisions" if n_test else "") + ")")
        ref = "SoftIC (noisy CSI)" if scenario == "csi" else "SoftIC"
        synth = "DeepSIC (synthetic pilots)"
        extra = [synth] if synth in cols else []
        print("| SNR dB | " + " | ".join(cols) + f" | DeepSIC/{ref} | DeepSIC/LMMSE |"
              + "".join(f" {c}/{ref} |" for c in extra))
        print("|---" * (len(cols) + 3 + len(extra)) + "|")
        for r in rows:
            print(f"| {r['snr_db']:g} | " + " | ".join(f"{r[c]:.2e}" for c in cols)
                  + f" | {_ratio(r['DeepSIC'], r[ref])} | "
                  + f"{_ratio(r['DeepSIC'], r['LMMSE'])} |"
                  + "".join(f" {_ratio(r[c], r[ref])} |" for c in extra))
    tr = res.get("tracking")
    if tr:
        print(f"\nTime-varying SED channel, {tr['snr_db']:g} dB, {tr['n_frames']} blocks of "
              f"{N_PILOTS} pilots + {tr['n_data']} data symbols")
        every = tr.get("retrain_every", 1)
        sub = ~np.isnan(tr["ser"]["DeepSIC retrained"])
        if every > 1:
            print(f"(DeepSIC retrained from scratch on every {every}th block only)")
        print("| method | mean SER, all blocks | mean SER, second half | mean SER, retrain "
              "blocks | s per block (training) |")
        print("|---|---|---|---|---|")
        half = len(sub) // 2
        for m, v in tr["ser"].items():
            v = np.asarray(v, dtype=float)
            print(f"| {m} | {np.nanmean(v):.2e} | {np.nanmean(v[half:]):.2e} | "
                  f"{np.mean(v[sub]):.2e} | {tr['seconds_per_block'][m]:.2f} |")
    tp = res.get("throughput")
    if tp:
        print("\nDetection throughput (4x4 BPSK, 10,000 vectors, 1 thread)")
        print("| detector | symbols/s |")
        print("|---|---|")
        for k, v in tp.items():
            print(f"| {k} | {v:,.0f} |")


def _ratio(a, b):
    if b == 0:
        return "inf" if a > 0 else "1 (both 0)"
    return f"{a / b:.2f}"


def plot(res, out_dir, tag=""):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scen = list(res["ser"])
    if scen:
        fig, axes = plt.subplots(1, len(scen), figsize=(4 * len(scen), 3.6), squeeze=False)
        for ax, s in zip(axes[0], scen):
            rows = res["ser"][s]
            snr = [r["snr_db"] for r in rows]
            for k in rows[0]:
                if not _shown(k):
                    continue
                vals = np.maximum([r[k] for r in rows], 1e-6)
                ax.semilogy(snr, vals, marker="o", label=k, lw=2.5 if k == "DeepSIC" else 1.2)
            ax.set_title(s)
            ax.set_xlabel("SNR [dB]")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=6)
        axes[0][0].set_ylabel("symbol error rate")
        fig.tight_layout()
        fig.savefig(os.path.join(out_dir, f"mimo_ser{tag}.png"), dpi=120)
    tr = res.get("tracking")
    if tr:
        fig, ax = plt.subplots(figsize=(6, 3.6))
        for m, v in tr["ser"].items():
            v = np.asarray(v, dtype=float)
            idx = np.flatnonzero(~np.isnan(v))
            ax.semilogy(idx, np.maximum(v[idx], 1e-6), marker="." if len(idx) < len(v) else None,
                        label=m)
        ax.set_xlabel("block")
        ax.set_ylabel("SER")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(os.path.join(out_dir, f"mimo_tracking{tag}.png"), dpi=120)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="3 SNRs, 2 Gaussian channels, 30 short blocks (a few minutes)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"))
    parser.add_argument("--skip", nargs="*", default=[],
                        choices=["ser", "tracking", "throughput"])
    parser.add_argument("--snrs", nargs="*", type=float, help="override the SNR grid (dB)")
    parser.add_argument("--scenarios", nargs="*",
                        choices=["sed", "gaussian", "tanh", "one_bit"],
                        help="override the channels (sed also gives the CSI-uncertainty table; "
                             "one_bit: 8 antennas, not in the default list)")
    parser.add_argument("--n-frames", type=int, help="override the number of blocks")
    parser.add_argument("--retrain-every", type=int,
                        help="retrain DeepSIC from scratch on every k-th block only")
    parser.add_argument("--n-channels", type=int, help="override the Gaussian channel draws")
    parser.add_argument("--n-data", type=int, help="override the data symbols per block")
    parser.add_argument("--n-test", type=int,
                        help="override the test vectors per SER point (4 decisions each)")
    parser.add_argument("--tag", default="", help="suffix of the result files")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    if args.quick:
        snrs, n_test, n_channels = [6.0, 10.0, 14.0], 10000, 2
        scenarios = ["sed", "gaussian", "tanh"]
        n_frames, n_data, retrain_every = 30, 1000, 5
    else:
        snrs, n_test, n_channels = [0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0], 20000, 5
        scenarios = ["sed", "gaussian", "tanh"]
        n_frames, n_data, retrain_every = 100, 10000, 1
    snrs = args.snrs or snrs
    scenarios = args.scenarios or scenarios
    n_frames = args.n_frames or n_frames
    retrain_every = args.retrain_every or retrain_every
    n_channels = args.n_channels or n_channels
    n_data = args.n_data or n_data
    n_test = args.n_test or n_test
    res = {"quick": args.quick, "torch_threads": torch.get_num_threads(), "n_test": n_test}
    t0 = time.time()
    if "ser" not in args.skip:
        print("SER vs SNR ...", flush=True)
        res["ser"] = run_ser(snrs, scenarios, n_test, n_channels)
    if "tracking" not in args.skip:
        print("time-varying channel ...", flush=True)
        res["tracking"] = run_tracking(n_frames, n_data, retrain_every)
    if "throughput" not in args.skip:
        print("throughput ...", flush=True)
        res["throughput"] = run_throughput()
    res["wall_seconds"] = time.time() - t0
    res.setdefault("ser", {})
    print_tables(res)
    name = ("mimo_quick" if args.quick else "mimo_full") + args.tag
    with open(os.path.join(args.out, name + ".json"), "w") as fh:
        json.dump(res, fh, indent=1)
    if res["ser"] or res.get("tracking"):
        plot(res, args.out, args.tag)
    print(f"\nwall time {res['wall_seconds']:.0f} s; results in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
