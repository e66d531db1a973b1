"""Draw the lead figure of the imaging benchmark page from its committed results.

Nothing is re-run: the figure is read from ``benchmarks/results/imaging_full.json``
when it exists, else from ``imaging_quick.json`` (``--quick`` forces the latter).
Run from the repository root::

    python benchmarks/plot_imaging.py          # the figure
    python benchmarks/plot_imaging.py --rst    # and the page's table, printed

and ``docs/images/bench_imaging.png`` is rewritten (a few seconds); ``--rst`` prints
the list-table of ``docs/imaging_benchmark.rst`` to paste.

Left: the held-out PSNR of every method minus that of the best classical solver at
K = 10 (FISTA with the prior and alpha best on the training crops), per task; the
label of each bar is its training time. Right: one K = 10 forward pass against image
size, ``ProximalGradient`` and the plain torch loop of the same steps, wall-clock
(lines) and peak resident-set growth (labels).
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
                     "xtick.labelsize": 9, "ytick.labelsize": 9, "legend.fontsize": 8,
                     "axes.grid": True, "grid.alpha": 0.3})
COLOURS = {"classical": "0.6", "converged": "0.3", "learned": None, "peer": "k"}


def reference(task):
    """The row of the best classical solver at depth K (by PSNR on the training crops)."""
    return task.get("reference", f"FISTA K=10, {task.get('best_prior', 'wavelet')}")


def load(quick):
    full = RESULTS / "imaging_full.json"
    path = RESULTS / "imaging_quick.json" if quick or not full.exists() else full
    return json.loads(path.read_text()), path


def draw(res, path):
    tasks = res["tasks"]
    # the converged solver, the learned models and deepinv's learned peer (the classical rows
    # of the other priors are in the table)
    names = list(dict.fromkeys(n for t in tasks for n, r in t["methods"].items()
                               if r.get("psnr") is not None and (
                                   r["kind"] in ("converged", "learned")
                                   or n == "deepinv unfolded PGD")))
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(6.5, 3.6), width_ratios=(1.6, 1))
    width = 0.8 / max(1, len(names))
    learned = iter(f"C{i}" for i in range(10))
    kinds = {n: r["kind"] for t in tasks for n, r in t["methods"].items()}
    colours = {n: COLOURS[kinds[n]] or next(learned) for n in names}
    for j, name in enumerate(names):
        for i, t in enumerate(tasks):
            r, ref = t["methods"].get(name, {}), t["methods"][reference(t)]["psnr"]
            if r.get("psnr") is None or name == reference(t):
                continue
            x = i + (j - (len(names) - 1) / 2) * width
            ax.bar(x, r["psnr"] - ref, width, color=colours[name],
                   label=name if i == 0 else None)
    ax.axhline(0, color="k", lw=0.8)
    short = {"superres2": "SR x2", "superres4": "SR x4", "deblur": "deblur",
             "inpaint": "inpaint", "mri": "MRI 4x"}
    ax.set_xticks(range(len(tasks)), [short.get(t["task"], t["name"]) for t in tasks])
    ax.set_ylabel("PSNR - best classical K=10 (dB)")
    ax.set_title(f"held-out crops, K={res['K']} ({res['mode']})")
    ax.legend(loc="upper left", frameon=False, fontsize=6.5, ncol=2)
    ax.margins(y=0.15)
    rows = res.get("timing") or []
    for method, style in (("ProximalGradient", "o-"), ("plain torch loop", "s--")):
        pts = sorted((r["size"], r["seconds"], r["peak_rss_growth_mb"]) for r in rows
                     if r["method"] == method and "seconds" in r)
        if not pts:
            continue
        sizes, secs, mem = (np.array(v) for v in zip(*pts))
        bx.loglog(sizes, 1e3 * secs, style, label=method)
        if method == "ProximalGradient":
            for s, t, m in zip(sizes, secs, mem):
                bx.annotate(f"+{m:.0f} MB", (s, 1e3 * t), textcoords="offset points",
                            xytext=(-7, 2), ha="right", va="bottom", fontsize=7)
    bx.set_xticks([64, 256, 1024], ["64²", "256²", "1024²"])
    bx.minorticks_off()
    bx.set_xlabel("image size (pixels)")
    bx.set_ylabel("ms per forward pass")
    bx.set_title("one pass, K=10 FISTA")
    bx.set_xlim(45, 1500)
    low, high = bx.get_ylim()
    bx.set_ylim(low, high * 3)
    bx.legend(loc="upper left", frameon=False)
    fig.tight_layout()
    IMAGES.mkdir(parents=True, exist_ok=True)
    out = IMAGES / "bench_imaging.png"
    fig.savefig(out, dpi=DPI)
    print(f"{out.relative_to(ROOT)} from {path.relative_to(ROOT)}")


def rst(res):
    """The page's list-table: per task and method, PSNR, gap, SSIM, ms/image, train wall/CPU s."""
    out = ["   * - task", "     - method", "     - PSNR dB", "     - vs best classical K=10",
           "     - SSIM", "     - ms / image", "     - train s (CPU s)", "     - warnings"]
    for t in res["tasks"]:
        ref = t["methods"][reference(t)]["psnr"]
        for name, r in t["methods"].items():
            p = r.get("psnr")
            label = f"{name}, {r['prior']}" if r.get("prior") else name
            cells = [t["name"], label,
                     "--" if p is None else f"{p:.2f}",
                     "--" if p is None else f"{p - ref:+.2f}",
                     "--" if r.get("ssim") is None else f"{r['ssim']:.3f}",
                     "--" if r.get("ms_per_image") is None else f"{r['ms_per_image']:.2f}",
                     "--" if r.get("kind") != "learned" or r.get("train_s") is None
                     else f"{r['train_s']:.0f} ({r.get('train_cpu_s', r['train_s']):.0f})",
                     (r.get("error") or "").split(":")[0] or
                     ", ".join(sorted({c for c, _ in r["warnings"]})) or
                     ("not installed" if str(r.get("budget", "")).startswith("skipped")
                      else "--")]
            out.append(f"   * - {cells[0]}")
            out += [f"     - {c}" for c in cells[1:]]
    print("\n".join(out))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="draw the quick run's results")
    parser.add_argument("--rst", action="store_true", help="print the page's list-table")
    args = parser.parse_args(argv)
    res, path = load(args.quick)
    draw(res, path)
    if args.rst:
        rst(res)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
