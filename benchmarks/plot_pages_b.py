"""Draw the lead figures of the MIMO, power, beamforming and distributed benchmark pages.

Reads only the committed results in ``benchmarks/results/`` (no benchmark is
run) and writes ``docs/images/bench_{mimo,power,beamforming,distributed}.png``::

    python benchmarks/plot_pages_b.py

Every number drawn is the one stored in the result files; the training budgets
quoted in the page captions come from the same files.
"""

import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
IMAGES = ROOT / "docs" / "images"
DPI = 100  # figures are sized in inches x 100 = pixels (about 800 px wide)

plt.rcParams.update(
    {
        "font.size": 11,
        "axes.titlesize": 11,
        "axes.labelsize": 11,
        "legend.fontsize": 10,
        "xtick.labelsize": 10,
        "ytick.labelsize": 10,
        "axes.grid": True,
        "grid.alpha": 0.3,
    }
)

# one colour per role, the same on every page
CLASSICAL = "#444444"
LEARNED = "#d62728"
LEARNED_2 = "#1f77b4"
LEARNED_3 = "#9467bd"
REFERENCE = "#2ca02c"
OTHER = "#ff7f0e"


def _load(name):
    with open(RESULTS / name) as f:
        return json.load(f)


def _save(fig, name):
    IMAGES.mkdir(parents=True, exist_ok=True)
    path = IMAGES / name
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size // 1024} KB)")


def _ser_axis(ax, rows, curves, title):
    snr = [r["snr_db"] for r in rows]
    for key, label, colour, marker, style in curves:
        # a zero SER (no error among the decisions) cannot be drawn on a log axis
        pts = [(s, r[key]) for s, r in zip(snr, rows) if r[key] > 0]
        ax.semilogy(
            [p[0] for p in pts],
            [p[1] for p in pts],
            style,
            color=colour,
            marker=marker,
            label=label,
            markersize=5,
        )
    ax.set_xlabel("SNR (dB)")
    ax.set_ylabel("symbol error rate")
    ax.set_title(title)
    ax.set_xticks(snr)


def plot_mimo():
    sed = _load("mimo_full_sed.json")["ser"]["sed"]
    gauss = _load("mimo_full_gauss.json")["ser"]["gaussian"]
    track = _load("mimo_full_track.json")["tracking"]
    curves = [
        ("ML", "ML (true channel)", REFERENCE, "s", ":"),
        ("LMMSE", "LMMSE (true channel)", OTHER, "v", "--"),
        ("SoftIC", "soft IC (true channel)", CLASSICAL, "o", "-"),
        ("DeepSIC", "DeepSIC (500 pilots)", LEARNED, "^", "-"),
    ]
    fig = plt.figure(figsize=(8, 7.6))
    grid = fig.add_gridspec(2, 2, height_ratios=[1.15, 1])
    ax1 = fig.add_subplot(grid[0, 0])
    ax2 = fig.add_subplot(grid[0, 1], sharey=ax1)
    ax3 = fig.add_subplot(grid[1, :])
    _ser_axis(
        ax1,
        sed,
        curves
        + [("DeepSIC (synthetic pilots)", "DeepSIC (synthetic pilots)", LEARNED_3, "d", "--")],
        "(a) SED channel",
    )
    _ser_axis(ax2, gauss, curves, "(b) random Gaussian channels")
    ax2.set_ylabel("")
    handles, labels = ax1.get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=3, frameon=False)

    ser = track["ser"]
    blocks = range(len(ser["SoftIC (true CSI)"]))
    styles = [
        ("SoftIC (true CSI)", "soft IC, true CSI", CLASSICAL, "-", None),
        ("DeepSIC trained once", "DeepSIC trained once", OTHER, "-", None),
        ("DeepSIC partial_fit", "DeepSIC + partial_fit", LEARNED, "-", None),
        ("DeepSIC retrained", "DeepSIC retrained", LEARNED_2, "none", "o"),
    ]
    for key, label, colour, style, marker in styles:
        pts = [(b, v) for b, v in zip(blocks, ser[key]) if not math.isnan(v) and v > 0]
        ax3.semilogy(
            [p[0] for p in pts],
            [p[1] for p in pts],
            linestyle=style,
            marker=marker,
            color=colour,
            label=label,
            linewidth=1.2,
        )
    ax3.set_xlabel("block (500 pilots + 10,000 data symbols each)")
    ax3.set_ylabel("symbol error rate")
    ax3.set_title(f"(c) time-varying SED channel, {track['snr_db']:g} dB")
    ax3.set_ylim(2e-5, None)
    ax3.legend(loc="lower right", ncol=2)
    fig.tight_layout(rect=(0, 0, 1, 0.92))
    _save(fig, "bench_mimo.png")


def plot_power():
    data = _load("power_full.json")["results"]
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(8, 3.9))
    # (a) sum rate after each layer, topology 0, with WMMSE at 1 / 4 / 100 iterations
    top = data[0]
    depth = [1, 2, 3, 4]
    wm = top["wmmse"]
    ax1.plot(depth, top["correction"]["per_layer"], "-^", color=LEARNED, label="UWMMSE")
    ax1.plot(depth, top["hyperparameters"]["per_layer"], "-d", color=LEARNED_2, label="scalars")
    ax1.plot(
        [1, 4, 10],
        [wm["WMMSE-1"], wm["WMMSE-4"], wm["WMMSE-10"]],
        "o",
        color=CLASSICAL,
        label="WMMSE",
    )
    ax1.axhline(wm["WMMSE-100"], color=CLASSICAL, linestyle=":", label="WMMSE-100")
    ax1.set_xticks([1, 2, 3, 4, 10])
    ax1.set_xlabel("layers / iterations")
    ax1.set_ylabel("test sum rate (bit/s/Hz)")
    ax1.set_title("(a) per layer, topology 0")

    # (b) % of WMMSE-100 at depth 4, per topology
    width = 0.27
    for i, (key, label, colour) in enumerate(
        [
            ("WMMSE-4", "WMMSE-4", CLASSICAL),
            ("correction", "UWMMSE-4", LEARNED),
            ("hyperparameters", "scalars-4", LEARNED_2),
        ]
    ):
        vals = []
        for r in data:
            v = r["wmmse"]["WMMSE-4"] if key == "WMMSE-4" else r[key]["sum_rate"]
            vals.append(100 * v / r["wmmse"]["WMMSE-100"])
        ax2.bar(
            [t + (i - 1) * width for t in range(len(data))], vals, width, color=colour, label=label
        )
    ax2.axhline(100, color=CLASSICAL, linestyle=":")
    ax2.set_ylim(85, 105)
    ax2.set_xticks(range(len(data)))
    ax2.set_xlabel("topology")
    ax2.set_ylabel("% of WMMSE-100")
    ax2.set_title("(b) four layers, 20 pairs")

    # (c) transfer to larger networks, mean over the four topologies (dots: each topology)
    sizes = [20, 30, 50]
    for key, label, colour, marker in [
        ("WMMSE-4", "WMMSE-4", CLASSICAL, "o"),
        ("correction", "UWMMSE-4", LEARNED, "^"),
        ("hyperparameters", "scalars-4", LEARNED_2, "d"),
    ]:
        per_top = []
        for r in data:
            row = []
            for m in sizes:
                if m == 20:
                    v = r["wmmse"]["WMMSE-4"] if key == "WMMSE-4" else r[key]["sum_rate"]
                    ref = r["wmmse"]["WMMSE-100"]
                else:
                    t = r["transfer"][str(m)]
                    v, ref = t[key], t["WMMSE-100"]
                row.append(100 * v / ref)
            per_top.append(row)
            ax3.plot(sizes, row, marker, color=colour, alpha=0.3, markersize=4)
        mean = [sum(c) / len(c) for c in zip(*per_top)]
        ax3.plot(sizes, mean, "-", marker=marker, color=colour)
    ax3.axhline(100, color=CLASSICAL, linestyle=":")
    ax3.set_xticks(sizes)
    ax3.set_xlabel("pairs (trained on 20)")
    ax3.set_ylabel("% of WMMSE-100")
    ax3.set_title("(c) other network sizes")
    handles, labels = ax1.get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=4, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    _save(fig, "bench_power.png")


def plot_beamforming():
    data = _load("beamforming_full.json")["settings"]
    fig, axes = plt.subplots(2, 2, figsize=(8, 6.4), sharex=True)
    for ax, s in zip(axes.flat, data):
        k = list(range(1, len(s["classical"]) + 1))
        ax.semilogx(k, s["classical"], "-", color=CLASSICAL, label="classical PGA")
        ax.semilogx(
            range(1, len(s["unfolded"]) + 1),
            s["unfolded"],
            "-^",
            color=LEARNED,
            label="unfolded PGA (learned steps)",
        )
        ax.axhline(
            s["classical"][29], color=CLASSICAL, linestyle=":", label="classical, 30 iterations"
        )
        model = "unit modulus" if s["analog_constraint"] == "unit_modulus" else "no constraint"
        gain = 100 * s["gain_vs_classical_30"]
        ax.set_title(f"{s['channels']}, {model}: {gain:+.1f}% at K=5")
    for ax in axes[1]:
        ax.set_xlabel("iteration / layer")
    for ax in axes[:, 0]:
        ax.set_ylabel("rate (nats per band)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=3, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    _save(fig, "bench_beamforming.png")


def plot_distributed():
    data = _load("distributed_full.json")
    classical = data["classical"]["nmse_db"]
    fig, ax = plt.subplots(figsize=(8, 4.6))
    ax.semilogx(
        range(1, len(classical) + 1),
        classical,
        "-",
        color=CLASSICAL,
        label=f"classical D-ADMM (tuned, rho={data['classical']['rho']:g})",
    )
    for key, label, colour, marker in [
        ("unfolded_K10_agent", "unfolded K=10, per agent", LEARNED, "^"),
        ("unfolded_K10_shared", "unfolded K=10, shared", LEARNED_2, "d"),
        ("unfolded_K25_agent", "unfolded K=25, per agent", LEARNED_3, "o"),
    ]:
        nmse = data[key]["nmse_db"]
        ax.semilogx(
            range(1, len(nmse) + 1),
            nmse,
            "-",
            marker=marker,
            markersize=4,
            color=colour,
            label=label,
        )
        needed = data[key]["classical_rounds_needed"]
        # the tuned classical solver's rounds to the same NMSE (None: not within its rounds)
        end = len(classical) if needed is None else needed
        text = f"> {len(classical)}" if needed is None else f"{needed}"
        ax.plot([len(nmse), end], [nmse[-1], nmse[-1]], ":", color=colour)
        ax.annotate(
            f"classical needs {text} rounds",
            (math.sqrt(len(nmse) * end), nmse[-1]),
            xytext=(0, 3),
            ha="center",
            textcoords="offset points",
            color=colour,
            fontsize=10,
        )
    ax.set_xlabel("communication rounds (302 messages each)")
    ax.set_ylabel("test NMSE (dB)")
    ax.set_xlim(1, len(classical) * 1.05)
    ax.legend(loc="upper right")
    ax.set_title("P = 50 agents, 250 x 500 LASSO, 100 test samples")
    fig.tight_layout()
    _save(fig, "bench_distributed.png")


def main():
    plot_mimo()
    plot_power()
    plot_beamforming()
    plot_distributed()


if __name__ == "__main__":
    main()
