"""Draw the lead figure of the real-dictionaries benchmark page from its committed results.

Nothing is re-run: the figure is read from
``benchmarks/results/real_dictionaries_full.json`` (``--quick``: the quick run's).
Run from the repository root::

    python benchmarks/plot_real_dictionaries.py          # the figure
    python benchmarks/plot_real_dictionaries.py --rst    # and the page's tables, printed

and ``docs/images/bench_real_dictionaries.png`` is rewritten (a few seconds);
``--rst`` prints the tables of ``docs/real_dictionaries_benchmark.rst`` to paste.

Top: the PSNR of every method minus lasso_cd's, per image and dictionary size
(lasso_cd is the zero line, FISTA at the same depth a black bar); values below
the axis, and fits or predictions that raised, are drawn on its lower edge as
open triangles. Bottom: the coding
speed-up over lasso_cd (CPU time of the held-out set, one thread), median over
the settings, with the range.
"""

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
IMAGES = ROOT / "docs" / "images"
DPI = 123  # 6.5 inches wide at 123 dpi: 800 px, as the other benchmark figures
plt.rcParams.update({"font.size": 10, "axes.titlesize": 11, "axes.labelsize": 10,
                     "xtick.labelsize": 9, "ytick.labelsize": 9, "legend.fontsize": 8.5,
                     "axes.grid": True, "grid.alpha": 0.3})

#: Methods drawn (the rest are in the table), with colour and marker.
STYLE = {
    "ISTA": ("0.55", "x"),
    "AMP": ("0.55", "v"),
    "LISTA": ("C0", "o"),
    "LISTA-CP": ("C1", "s"),
    "LISTA-CPSS": ("C2", "D"),
    "ALISTA": ("C3", "^"),
    "hyperparameters, W=H": ("C4", "P"),
    "correction": ("C5", "*"),
    "dnn": ("C6", "h"),
    "LAMP": ("navy", "<"),
    "HyperLISTA": ("C8", ">"),
    "HyperLISTA, grid search": ("C9", "d"),
}
LOW, HIGH = -2.0, 1.0


ORDER = ["lasso_cd", "lasso_lars", "omp", "ISTA", "FISTA", "AMP"] + list(STYLE)[2:]


def _warned(r):
    return sorted({c for c, _ in r.get("warnings", [])})


def rst_tables(res):
    """The page's summary list-table and per-setting PSNR table, as reStructuredText."""
    settings = res["settings"]
    out = [".. list-table:: Per method, over the settings: PSNR minus lasso_cd's (mean, worst), "
           "minus FISTA@K's (mean), coding speed-up over lasso_cd (CPU time, median), "
           "training CPU s (median), warnings",
           "   :header-rows: 1",
           "   :widths: 24 10 10 10 10 10 26", "",
           "   * - method", "     - mean", "     - worst", "     - vs FISTA", "     - speed-up",
           "     - train s", "     - warnings (settings)"]
    for meth in ORDER:
        rows = [s["methods"][meth] for s in settings if meth in s["methods"]]
        ok = [(r["psnr"] - s["methods"]["lasso_cd"]["psnr"],
               r["psnr"] - s["methods"]["FISTA"]["psnr"])
              for s, r in zip(settings, rows) if r.get("psnr") is not None]
        if not rows:
            continue
        gaps = [g for g, _ in ok]
        speed = [s["methods"]["lasso_cd"]["code_cpu_s"] / r["code_cpu_s"]
                 for s, r in zip(settings, rows) if r.get("code_cpu_s")]
        train = [r["train_cpu_s"] for r in rows if "train_cpu_s" in r]
        cats = {}
        for r in rows:
            for c in _warned(r):
                cats[c] = cats.get(c, 0) + 1
        failed = sum(r.get("psnr") is None for r in rows)
        note = ", ".join(f"{c} ({n})" for c, n in sorted(cats.items())) or "--"
        if failed:
            note = f"failed in {failed}; " + note
        trained = meth not in ("lasso_cd", "lasso_lars", "omp", "ISTA", "FISTA", "AMP",
                               "HyperLISTA")
        out += [f"   * - {meth}",
                f"     - {np.mean(gaps):+.2f}" if gaps else "     - --",
                f"     - {min(gaps):+.2f}" if gaps else "     - --",
                f"     - {np.mean([f for _, f in ok]):+.2f}" if ok else "     - --",
                f"     - {np.median(speed):.1f}x" if speed else "     - --",
                f"     - {np.median(train):.1f}" if trained and train else "     - --",
                f"     - {note}"]
    out += ["", ".. csv-table:: PSNR (dB) of the held-out patches per setting",
            "   :header: \"method\", " + ", ".join(
                f"\"{s['image']} {s['overcompleteness']}x\"" for s in settings), ""]
    out.append("   \"noisy\", " + ", ".join(f"\"{s['noisy_psnr']:.2f}\"" for s in settings))
    for meth in ORDER:
        vals = [s["methods"].get(meth, {}).get("psnr") for s in settings]
        out.append(f"   \"{meth}\", " + ", ".join(
            "\"--\"" if v is None else f"\"{v:.2f}\"" for v in vals))
    out.append("   \"alpha\", " + ", ".join(f"\"{s['alpha']:g}\"" for s in settings))
    out.append("   \"coherence\", " + ", ".join(f"\"{s['coherence']:.2f}\"" for s in settings))
    return "\n".join(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="draw the quick run's results")
    parser.add_argument("--rst", action="store_true", help="print the page's tables")
    args = parser.parse_args(argv)
    name = "real_dictionaries_quick.json" if args.quick else "real_dictionaries_full.json"
    with open(RESULTS / name) as f:
        res = json.load(f)
    settings = res["settings"]
    short = {"astronaut": "astro."}
    labels = [f"{short.get(s['image'], s['image'])}\n{s['overcompleteness']}x" for s in settings]

    fig, (ax, bx) = plt.subplots(2, 1, figsize=(6.5, 7.4), height_ratios=(1.45, 1),
                                 layout="constrained")
    n = len(STYLE)
    offsets = np.linspace(-0.36, 0.36, n)
    ax.axhline(0.0, color="0.2", linewidth=1.5, label="lasso_cd (0)")
    for i, s in enumerate(settings):
        m = s["methods"]
        ref = m["lasso_cd"]["psnr"]
        f = m["FISTA"].get("psnr")
        if f is not None:
            ax.plot([i - 0.42, i + 0.42], [f - ref] * 2, color="k", linewidth=2.5,
                    label="FISTA, K=10" if i == 0 else None, zorder=1)
        for (meth, (color, marker)), dx in zip(STYLE.items(), offsets):
            if meth not in m:
                continue
            p = m[meth].get("psnr")
            gap = LOW - 1.0 if p is None else p - ref  # a failed fit or predict: off the axis
            if gap < LOW:
                ax.plot(i + dx, LOW + 0.04, marker="v", markerfacecolor="none",
                        markeredgecolor=color, markersize=5, linestyle="none", zorder=2)
            else:
                ax.plot(i + dx, min(gap, HIGH), marker=marker, color=color, markersize=5,
                        linestyle="none", label=meth if i == 0 else None, zorder=3)
    for meth, (color, marker) in STYLE.items():  # legend entries of methods never on the axes
        if meth not in ax.get_legend_handles_labels()[1]:
            ax.plot([], [], marker=marker, color=color, linestyle="none", label=meth)
    ax.set_xticks(range(len(settings)), labels)
    ax.set_xlim(-0.5, len(settings) - 0.5)
    ax.set_ylim(LOW, HIGH)
    ax.set_ylabel("PSNR minus lasso_cd's (dB)")
    ax.set_title(f"Denoised patches, K = {res['K']} ({res['mode']} run)")

    names = [meth for meth in ["FISTA", "omp", "lasso_lars"] + list(STYLE)
             if any("code_cpu_s" in s["methods"].get(meth, {}) for s in settings)]
    ratios = []
    for meth in names:
        r = [s["methods"]["lasso_cd"]["code_cpu_s"] / s["methods"][meth]["code_cpu_s"]
             for s in settings if s["methods"].get(meth, {}).get("code_cpu_s")]
        ratios.append((np.median(r), min(r), max(r)))
    x = np.arange(len(names))
    med = np.array([r[0] for r in ratios])
    err = np.array([[r[0] - r[1] for r in ratios], [r[2] - r[0] for r in ratios]])
    colors = [STYLE.get(meth, ("k" if meth == "FISTA" else "0.7", None))[0] for meth in names]
    bx.bar(x, med, yerr=err, color=colors, alpha=0.85, error_kw={"linewidth": 1})
    bx.axhline(1.0, color="0.2", linewidth=1.5)
    bx.axhline(10.0, color="0.2", linewidth=1, linestyle=":")
    bx.set_yscale("log")
    bx.set_xticks(x, names, rotation=35, ha="right", rotation_mode="anchor")
    bx.set_xlim(-0.6, len(names) - 0.4)
    bx.set_ylabel("speed-up over lasso_cd")
    bx.set_title("Coding speed-up over lasso_cd (CPU time; median, range)")
    handles, lab = ax.get_legend_handles_labels()
    fig.legend(handles, lab, loc="outside upper center", ncol=5, frameon=False,
               handletextpad=0.3, columnspacing=0.9)
    IMAGES.mkdir(parents=True, exist_ok=True)
    path = IMAGES / "bench_real_dictionaries.png"
    fig.savefig(path, dpi=DPI)
    print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size // 1024} KB)")
    if args.rst:
        print(rst_tables(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
