"""Plot the NMSE-vs-training-time curves of ``sparse_recovery.py --protocol`` runs.

Reads the JSON files given on the command line (default: every
``benchmarks/results/sparse_protocol_*.json``) and draws, per model, the
validation NMSE reached after each layer's last fine-tuning stage against the
cumulative training time, with the model's target as a dashed line. The figure
goes to ``docs/images/sparse_protocol_curves.png``.

Usage::

    python benchmarks/plot_protocol.py [results.json ...]
"""

import glob
import json
import pathlib
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
TARGETS = {"LISTA": -32.0, "LISTA-CP": -30.0, "LISTA-CPSS": -55.0, "ALISTA": -65.0}


def layer_points(row):
    """(CPU seconds, depth, NMSE) at the end of each layer's last stage.

    The curve's times are sums of epoch durations (wall clock); they are scaled
    by the run's CPU / wall ratio, so that a busy machine does not stretch them.
    """
    out, scale = {}, row["cpu_s"] / row["wall_s"]
    for point in row["curve"]:
        out[point["depth"]] = (scale * point["seconds"], point["depth"], point["valid_nmse_db"])
    return [out[d] for d in sorted(out)]


def main(paths):
    paths = paths or sorted(glob.glob(str(ROOT / "benchmarks/results/sparse_protocol_*.json")))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for path in paths:
        for name, row in json.load(open(path))["protocol"].items():
            label_suffix = f"{row['settings']['epochs_per_stage']} epochs per stage at most"
            pts = layer_points(row)
            line, = ax.plot([p[0] / 60 for p in pts], [p[2] for p in pts], marker="o",
                            markersize=3, label=f"{name} ({label_suffix})")
            for seconds, depth, value in pts[3::4]:
                ax.annotate(f"k={depth}", (seconds / 60, value), fontsize=7,
                            textcoords="offset points", xytext=(3, 3))
            if name in TARGETS:
                ax.axhline(TARGETS[name], color=line.get_color(), linestyle="--", linewidth=0.8)
    ax.set_xlabel("training time (CPU minutes, one thread)")
    ax.set_ylabel("validation NMSE after layer k (dB)")
    ax.set_title("Layer-wise training from fresh samples (dashed: K = 16 targets)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    out = ROOT / "docs/images/sparse_protocol_curves.png"
    out.parent.mkdir(exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
