"""Draw the lead figures of the AMP, DEQ, robustness and RPCA benchmark pages.

Every number comes from the committed results in ``benchmarks/results/``;
nothing is re-run. Run from the repository root::

    python benchmarks/plot_pages_a.py

and the PNGs ``docs/images/bench_*.png`` are rewritten (a few seconds).
"""

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
IMAGES = ROOT / "docs" / "images"

# 6.5 inches at 123 dpi is 800 px wide. The page's column shows it at about
# 650 px, where the 10-11 pt text below is 14-15 px tall.
DPI = 123
plt.rcParams.update(
    {
        "font.size": 11,
        "axes.titlesize": 11,
        "axes.labelsize": 11,
        "xtick.labelsize": 10,
        "ytick.labelsize": 10,
        "legend.fontsize": 10,
        "axes.grid": True,
        "grid.alpha": 0.3,
    }
)

CLASSICAL = {"color": "0.35", "linestyle": "--", "linewidth": 2}


def load(name):
    with open(RESULTS / name) as f:
        return json.load(f)


def save(fig, name):
    IMAGES.mkdir(parents=True, exist_ok=True)
    path = IMAGES / name
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size // 1024} KB)")


def amp():
    """NMSE per layer of AMP, LAMP, LISTA and ALISTA, full budget."""
    d = load("amp_full.json")
    models = d["models"]
    K = 15
    layers = list(range(1, K + 1))
    fig, ax = plt.subplots(figsize=(6.5, 4.2), layout="constrained")
    ax.plot(
        layers,
        d["se"]["bg"][:K],
        color="0.6",
        linestyle=":",
        linewidth=2,
        label="state evolution, BG",
    )
    ax.plot(layers, models["AMP-bg"]["per_layer"][:K], label="AMP-bg (classical)", **CLASSICAL)
    ax.plot(
        layers,
        models["AMP"]["per_layer"][:K],
        label="AMP-soft (classical)",
        color="0.35",
        linestyle="-.",
        linewidth=1.5,
    )
    styles = {
        "LAMP-bg": ("C0", "o"),
        "LAMP-pwlin": ("C1", "s"),
        "LAMP-soft": ("C2", "^"),
        "ALISTA": ("C3", "D"),
        "LISTA": ("C4", "v"),
    }
    for name, (color, marker) in styles.items():
        ax.plot(
            layers,
            models[name]["per_layer"][:K],
            color=color,
            marker=marker,
            markersize=4,
            label=name,
        )
    ax.axhline(d["oracle_db"], color="k", linewidth=1)
    ax.annotate(
        f"support oracle {d['oracle_db']:.1f} dB",
        (1, d["oracle_db"]),
        xytext=(0, 4),
        textcoords="offset points",
        fontsize=10,
    )
    ax.set_xlabel("layer / iteration k")
    ax.set_ylabel("test NMSE (dB)")
    ax.set_xticks([1, 3, 5, 7, 10, 12, 15])
    ax.set_ylim(-50, 0)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    save(fig, "bench_amp_layers.png")


def deq():
    """NMSE at K = 16 / 64 / 256 and training memory against depth."""
    d = load("deq_full.json")
    bounded = load("deq_full_bounded_step.json")["accuracy"]["DEQ hyperparameters"]
    acc = d["accuracy"]
    Ks = [16, 64, 256]
    fig, (ax1, ax2) = plt.subplots(
        1, 2, figsize=(6.5, 3.6), layout="constrained", gridspec_kw={"width_ratios": [1.25, 1]}
    )
    ax1.plot(
        Ks,
        [acc["ISTA"][str(k)] for k in Ks],
        label="ISTA",
        color="0.35",
        linestyle="-.",
        marker="o",
        markersize=4,
    )
    ax1.plot(
        Ks, [acc["FISTA"][str(k)] for k in Ks], label="FISTA", **CLASSICAL, marker="o", markersize=4
    )
    ax1.plot(
        Ks,
        [bounded[str(k)] for k in Ks],
        label="DEQ, step & thr.",
        color="C0",
        marker="s",
        linewidth=2.5,
    )
    ax1.plot(
        Ks,
        [acc["DEQ correction"][str(k)] for k in Ks],
        label="DEQ, correction",
        color="C1",
        marker="^",
    )
    ax1.plot(
        Ks,
        [acc["unrolled hyperparameters (tied)"][str(k)] for k in Ks],
        label="unrolled (tied)",
        color="C3",
        marker="D",
    )
    ax1.plot(
        [16],
        [acc["unrolled hyperparameters (untied)"]["16"]],
        label="unrolled (untied)",
        color="C2",
        marker="*",
        markersize=11,
        linestyle="none",
    )
    ax1.set_xscale("log", base=2)
    ax1.set_xticks(Ks, [str(k) for k in Ks])
    ax1.set_xlabel("iterations at test time K")
    ax1.set_ylabel("test NMSE (dB)")
    ax1.set_title("accuracy (full budget)")
    ax1.legend(loc="lower left", fontsize=9.5, framealpha=0.9)

    rows = d["memory"]["rows"]
    mK = [r["K"] for r in rows]
    mb = {
        "unrolled": [r["unrolled"]["bytes"] / 1e6 for r in rows],
        "DEQ, implicit": [r["implicit"]["bytes"] / 1e6 for r in rows],
        "DEQ, Jacobian-free": [r["jacobian_free"]["bytes"] / 1e6 for r in rows],
    }
    for (name, values), color, marker in zip(
        mb.items(), ["C3", "C0", "C1"], ["D", "s", "^"], strict=True
    ):
        ax2.plot(mK, values, color=color, marker=marker, label=name)
    ax2.set_xscale("log", base=2)
    ax2.set_yscale("log")
    ax2.set_xticks(mK, [str(k) for k in mK])
    ax2.set_xlabel("depth K")
    ax2.set_ylabel("saved for backward (MB)")
    ax2.set_ylim(0.5, 3000)
    ax2.set_title("memory of one training step")
    ax2.legend(loc="upper left", fontsize=9.5, framealpha=0.9)
    save(fig, "bench_deq.png")


ROBUST_MODELS = ["LISTA", "LISTA-robust", "ALISTA", "LAMP", "HyperLISTA"]


def robustness():
    """NMSE per setting (guarded models against classical) and the target gaps."""
    d = load("robustness_full.json")
    nm = d["nmse_db"]
    settings = list(nm)
    short = {
        "in-distribution": "in-dist.",
        "H perturbed 0.1": "H pert. 0.1",
        "H perturbed 0.3": "H pert. 0.3",
        "20 cols replaced": "20 cols",
        "SNR 20 dB": "SNR 20",
        "SNR 10 dB": "SNR 10",
        "PGD 0.05": "PGD 0.05",
        "PGD 0.1": "PGD 0.1",
    }
    fig, (ax1, ax2) = plt.subplots(
        1, 2, figsize=(6.5, 4.4), layout="constrained", gridspec_kw={"width_ratios": [1.6, 1]}
    )
    x = range(len(settings))
    ax1.plot(
        x,
        [nm[s]["ISTA"] for s in settings],
        label="ISTA",
        color="0.35",
        linestyle="-.",
        linewidth=2,
    )
    ax1.plot(x, [nm[s]["AMP"] for s in settings], label="AMP", **CLASSICAL)
    markers = ["v", "x", "D", "o", "s"]
    for i, (name, marker) in enumerate(zip(ROBUST_MODELS, markers, strict=True)):
        ax1.plot(
            x,
            [nm[s][name + "+SG"] for s in settings],
            color=f"C{i}",
            marker=marker,
            markersize=5,
            linewidth=1,
            label=name + " +SG",
        )
    ax1.set_xticks(list(x), [short[s] for s in settings], rotation=40, ha="right")
    ax1.set_ylabel("test NMSE (dB)")
    ax1.set_title("safeguarded models vs classical")
    ax1.set_ylim(-60, -2)
    ax1.set_yticks([-40, -30, -20, -10])
    ax1.legend(loc="lower right", fontsize=9, ncol=2, framealpha=0.9)

    targets = d["targets"]
    y = range(len(ROBUST_MODELS))
    gap = [targets[m]["worst_gap_db"] for m in ROBUST_MODELS]
    loss = [targets[m]["in_distribution_loss_db"] for m in ROBUST_MODELS]
    h = 0.38
    ax2.barh([i - h / 2 for i in y], gap, height=h, color="C0", label="worst mismatch gap")
    ax2.barh([i + h / 2 for i in y], loss, height=h, color="C1", label="in-dist. loss (SG)")
    ax2.axvline(1.0, color="C3", linestyle="--", linewidth=1.5)
    ax2.annotate(
        "target",
        (1.0, 2),
        xytext=(4, 0),
        textcoords="offset points",
        rotation=90,
        va="center",
        fontsize=10,
        color="C3",
    )
    ax2.set_xlim(-4.6, 1.8)
    ax2.axvline(0, color="k", linewidth=0.8)
    labels = [f"{m}\n(vs {targets[m]['classical']})" for m in ROBUST_MODELS]
    ax2.set_yticks(list(y), labels, fontsize=9.5)
    ax2.invert_yaxis()
    ax2.set_xlabel("dB (negative: better)")
    ax2.set_title("target check")
    ax2.legend(loc="upper center", bbox_to_anchor=(0.4, -0.16), fontsize=9.5, frameon=False)
    save(fig, "bench_robustness.png")


PARADIGMS = ["hyperparameters", "objective", "correction", "dnn"]


def rpca():
    """Error per layer per paradigm (n = 200, both settings) and the speed at n = 1000."""
    q = load("rpca_quick.json")
    sp = load("rpca_speed.json")["speed"]
    fig, axes = plt.subplots(
        1, 3, figsize=(6.5, 3.8), layout="constrained", gridspec_kw={"width_ratios": [1, 1, 1.05]}
    )
    layers = list(range(q["K"] + 1))
    for ax, setting, title in [
        (axes[0], "matched", "matched $\\Psi$"),
        (axes[1], "mismatched", "mismatched $\\Psi$"),
    ]:
        res = q[setting]
        ax.plot(layers, res["classical"]["errors"], label="classical", **CLASSICAL)
        for i, p in enumerate(PARADIGMS):
            ax.plot(layers, res[p]["errors"], color=f"C{i}", marker="o", markersize=3, label=p)
        ax.set_yscale("log")
        ax.set_ylim(1e-5, 1e-1)
        ax.set_xticks([0, 2, 4, 6, 8, 10])
        ax.set_xlabel(f"layer k (n = {q['n']})")
        ax.set_title(title)
    axes[0].set_ylabel("relative error of L")
    axes[1].tick_params(labelleft=False)
    fig.legend(
        *axes[0].get_legend_handles_labels(),
        loc="outside lower center",
        ncol=5,
        fontsize=10,
        frameon=False,
    )

    ax = axes[2]
    names = ["trained model", "classical,\nsame error", "scipy svds", "full SVD"]
    ms = [
        1e3 * sp["t_model_module"],
        1e3 * sp["t_classical_to_target"],
        1e3 * sp["t_svds"],
        1e3 * sp["t_full_svd"],
    ]
    colors = ["C0", "0.45", "0.7", "0.7"]
    ax.barh(names, ms, color=colors)
    for i, v in enumerate(ms):
        ax.annotate(
            f"{v:.1f} ms",
            (v, i),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            fontsize=9.5,
        )
    ax.set_xscale("log")
    ax.set_xlim(3, 3000)
    ax.invert_yaxis()
    ax.tick_params(axis="y", labelsize=9.5)
    ax.set_xlabel("ms per instance")
    ax.set_title(f"speed, n = {sp['n']}")
    ax.grid(axis="y", visible=False)
    save(fig, "bench_rpca.png")


def main():
    amp()
    deq()
    robustness()
    rpca()


if __name__ == "__main__":
    main()
