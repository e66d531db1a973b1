"""Plot the NMSE-vs-training-time curves of ``sparse_recovery.py --protocol`` runs.

Reads the JSON files given on the command line (default: every
``benchmarks/results/sparse_protocol_*.json``) and draws, per model, the
validation NMSE reached after each layer's last fine-tuning stage against the
cumulative training time, with the model's target as a dashed line; and, for
the models started from ISTA, the test NMSE at K = 16 of each run against its
training steps with a straight line fitted in dB against log2(steps) and
continued to the target (the budget it would need if the trend held, in steps
and in CPU hours at the model's measured rate). The
figure goes to ``docs/images/sparse_protocol_curves.png``; the fitted trends
are printed.

Usage::

    python benchmarks/plot_protocol.py [results.json ...]
"""

import glob
import json
import pathlib
import sys

import matplotlib
import numpy as np

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


def extrapolate(runs, target):
    """Fit NMSE = a + b log2(steps) through a model's runs; the steps at ``target``.

    Returns ``(slope in dB per doubling, intercept, steps at the target)``, or
    ``None`` with fewer than two budgets or a curve that does not fall.
    """
    x = np.log2([r[0] for r in runs])
    y = np.array([r[1] for r in runs])
    if len(set(x)) < 2:
        return None
    slope, intercept = np.polyfit(x, y, 1)
    if slope >= 0:
        return None
    return float(slope), float(intercept), float(2 ** ((target - intercept) / slope))


def budget_panel(ax, budgets):
    """Test NMSE at K = 16 against training steps per run, with the fitted trend to the target.

    The steps at the target are turned into CPU hours at the model's rate in
    its longest run (CPU seconds per step of this machine's one thread).
    """
    out = {}
    for name, runs in sorted(budgets.items()):
        runs = sorted(runs)
        line, = ax.plot([r[0] for r in runs], [r[1] for r in runs], marker="o", label=name)
        fit = extrapolate(runs, TARGETS[name])
        if fit is not None:
            slope, intercept, steps = fit
            rate = runs[-1][2] / runs[-1][0]
            out[name] = dict(db_per_doubling=slope, steps_at_target=steps,
                             cpu_hours_at_target=steps * rate / 3600, runs=runs)
            xs = np.geomspace(runs[0][0], max(steps, runs[-1][0]), 50)
            ax.plot(xs, intercept + slope * np.log2(xs), linestyle=":",
                    color=line.get_color(), linewidth=1)
            ax.annotate(f"{steps / 1e6:.2g}M steps, {steps * rate / 3600:.0f} CPU h",
                        (steps, TARGETS[name]), fontsize=7, textcoords="offset points",
                        xytext=(-60, 4))
        ax.axhline(TARGETS[name], color=line.get_color(), linestyle="--", linewidth=0.8)
    ax.axvline(240_000, color="grey", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("training steps of 64 (grey: the papers' minimum, 240k)")
    ax.set_ylabel("test NMSE at K = 16 (dB)")
    ax.set_title("Budget: runs and fitted trend (dotted)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return out


def main(paths):
    # default: the noiseless runs (the SNR-30 run has its own target and scale)
    paths = paths or sorted(p for p in glob.glob(str(ROOT / "benchmarks/results/"
                                                     "sparse_protocol_*.json"))
                            if "snr" not in pathlib.Path(p).name)
    fig, (ax, ax_budget) = plt.subplots(1, 2, figsize=(13, 4.8))
    budgets, drawn = {}, set()
    for path in paths:
        for name, row in json.load(open(path))["protocol"].items():
            if name in TARGETS and name != "ALISTA":  # budget-bound models, from ISTA's start
                budgets.setdefault(name, []).append(
                    (row["steps"], row["per_layer"][-1], row["cpu_s"]))
            key = (name, row["settings"]["epochs_per_stage"])
            if " (" in name or key in drawn:  # started from ALISTA, or the same run again
                continue
            drawn.add(key)
            label_suffix = f"at most {row['settings']['epochs_per_stage']} epochs per stage"
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
    ax.legend(fontsize=7)
    trends = budget_panel(ax_budget, budgets)
    for name, fit in trends.items():
        print(f"{name}: {fit['db_per_doubling']:.2f} dB per doubling of the steps through "
              f"{len(fit['runs'])} runs; target {TARGETS[name]} dB at "
              f"{fit['steps_at_target']:.3g} steps, {fit['cpu_hours_at_target']:.1f} CPU hours")
    out = ROOT / "docs/images/sparse_protocol_curves.png"
    out.parent.mkdir(exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
