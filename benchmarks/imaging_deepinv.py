r"""deepinv 0.5.0 as a peer in the imaging benchmark (``benchmarks/imaging.py``).

deepinv (DeepInverse: J. Tachella et al., JOSS 10(115), 8923, 2025,
doi:10.21105/joss.08923) is not a dependency of skunfold: this
module imports it only inside :func:`load`, and the benchmark calls :func:`run_peer` per
task when it imports (see docs/imaging_benchmark.rst, "deepinv as a peer", for an install
in its own virtual environment that leaves torch alone).

Per task, deepinv's own physics on the benchmark's clean crops ``X`` (training) and ``Xt``
(held-out), with its own noise model, so that both libraries see the same images:

* ``superres2`` / ``superres4``: ``physics.Downsampling`` (circular padding, factor 2 / 4)
  with deepinv's Gaussian filter ``gaussian_blur(sigma)`` (sigma 1 / 2; deepinv's kernel
  side is ``2 int(sigma / 0.3 + 1) + 1``, 9 / 15, ours ``2 ceil(3 sigma) + 1``, 7 / 13);
* ``deblur``: ``physics.BlurFFT`` with ``gaussian_blur(1)`` (circular, as ours);
* ``inpaint``: ``physics.Inpainting`` with our mask (its output is the masked image, ours
  the kept pixels: the same :math:`A^\top A`);
* ``mri``: ``physics.MRI`` with our column mask moved to deepinv's centred k-space
  (``fftshift``). deepinv's MRI acts on complex images (2 channels): its estimate has an
  imaginary part, ours is real; the real channel is scored.

Noise: ``GaussianNoise`` of standard deviation 0.01 (MRI: 0.01 / sqrt(2) on each of the
real and imaginary parts, our circular complex noise), drawn from a seeded generator.

Methods, all with ``WaveletPrior(level=4, wv="haar", p=1)`` (detail bands thresholded,
approximation band free, as our ``Wavelet``) and ``L2`` data fidelity, step size
:math:`1/L` with :math:`L` from deepinv's ``compute_sqnorm`` (tolerance 1e-5; its default
1e-3 stops 2-20% short of the norm here):

* ``deepinv PGD K=10`` / ``deepinv FISTA K=10``: ``optim.PGD`` / ``optim.FISTA``, K
  iterations from :math:`A^\top y`, ``lambda`` the best of our alpha grid by PSNR on the
  first ``n_alpha`` training crops (our ``tune_alpha``). deepinv's ``WaveletPrior.prox``
  thresholds at ``ths * gamma`` with ``ths`` left at its default 0.1 by PGD, and PGD passes
  ``gamma = lambda * stepsize``: the threshold is ``0.1 lambda / L``, ours ``alpha / L``,
  so the grid is ``alpha / 0.1``, the same thresholds.
* ``deepinv unfolded PGD``: ``optim.PGD(..., unfold=True, trainable_params=["lambda",
  "stepsize"])`` (the current form of the deprecated ``unfolded.unfolded_builder``), one
  ``lambda`` and one ``stepsize`` per iteration, started at the tuned PGD, trained on the
  training pairs with Adam at lr 1e-3 (torch's default, the one of deepinv's unfolded
  examples) and the mean squared error, for the epochs and batch size of our
  ``hyperparameters`` row; no early stopping, no keep-best.

Each row: PSNR and SSIM (``skunfold.metrics``) on the held-out crops, training seconds,
ms per image (best of 3), the warnings, and a note with the operators' agreement.
"""

import sys
import time

import numpy as np
import torch
from recording import Recorder

from skunfold.metrics import psnr, ssim

__all__ = ["Unavailable", "load", "run_peer"]

LR = 1e-3
THS = 0.1  # deepinv's WaveletPrior.prox default ``ths``, a factor of every threshold
SIGMA = {"superres2": 1.0, "superres4": 2.0, "deblur": 1.0}
FACTOR = {"superres2": 2, "superres4": 4}


class Unavailable(Exception):
    """deepinv does not import: the peer is skipped."""


def _declare_torchvision_ops():
    """Declare torchvision's ``nms`` / ``qnms`` schemas, without kernels.

    torchvision 0.28's Python part registers fake kernels for these two operators whatever
    happens, and fails where its C++ extension cannot load: on PyPI, Linux wheels of
    torchvision are CUDA builds that do not load beside a CPU torch. With the schemas
    declared, the rest of torchvision imports; deepinv's physics, optim and unfolded never
    call them (``nms`` raises if called).
    """
    lib = torch.library.Library("torchvision", "DEF")
    lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    return lib


_SHIM = []


def load():
    """``(deepinv, note)``; ``note`` says whether torchvision's operators were declared.

    Raises :class:`Unavailable` where deepinv does not import.
    """
    try:
        import deepinv
        return deepinv, "torchvision C++ ops loaded" if not _SHIM else _SHIM[0][1]
    except RuntimeError as exc:
        if "torchvision::nms" not in str(exc) or _SHIM:
            raise Unavailable(f"RuntimeError: {' '.join(str(exc).split())[:200]}") from exc
    except Exception as exc:  # ImportError, or a broken install
        raise Unavailable(f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}") from exc
    for name in [m for m in sys.modules if m.split(".")[0] in ("torchvision", "deepinv")]:
        del sys.modules[name]
    note = ("torchvision's C++ ops did not load (a CUDA build beside CPU torch): nms/qnms "
            "declared without kernels, unused by deepinv's physics/optim/unfolded")
    _SHIM.append((_declare_torchvision_ops(), note))
    try:
        import deepinv
    except Exception as exc:
        raise Unavailable(f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}") from exc
    return deepinv, note


def make_physics(dinv, task, A, noise, seed):
    """deepinv's physics of ``task`` (``A`` gives the masks) and its image channels."""
    shape = A.image_shape
    std = noise / np.sqrt(2) if task == "mri" else noise
    kw = {"noise_model": dinv.physics.GaussianNoise(
        sigma=std, rng=torch.Generator().manual_seed(seed))}
    if task in FACTOR:
        return dinv.physics.Downsampling(
            img_size=(1, *shape), filter=dinv.physics.blur.gaussian_blur(SIGMA[task]),
            factor=FACTOR[task], padding="circular", **kw), 1
    if task == "deblur":
        return dinv.physics.BlurFFT(img_size=(1, *shape),
                                    filter=dinv.physics.blur.gaussian_blur(SIGMA[task]), **kw), 1
    mask = torch.as_tensor(np.asarray(A.mask), dtype=torch.float32)
    if task == "inpaint":
        return dinv.physics.Inpainting(img_size=(1, *shape), mask=mask[None], **kw), 1
    if task == "mri":
        return dinv.physics.MRI(mask=torch.fft.fftshift(mask), img_size=(1, 2, *shape), **kw), 2
    raise ValueError(f"task must be one of superres2, superres4, deblur, inpaint, mri, got "
                     f"{task!r}")


def as_images(X, shape, channels):
    """Flattened real images ``(n, H*W)`` to deepinv's ``(n, channels, H, W)`` (imag 0)."""
    x = torch.as_tensor(np.asarray(X, dtype=np.float32)).reshape(len(X), 1, *shape)
    return torch.cat([x, torch.zeros_like(x)], 1) if channels == 2 else x


def agreement(task, A, physics, x):
    """Relative differences of deepinv's operator and ours on one crop, as a note."""
    with torch.no_grad():
        ours = A.forward(x[:1, 0].reshape(1, -1).double())
        normal = A.adjoint(ours)
        theirs = physics.A(x[:1])
        their_normal = physics.A_adjoint(theirs)
        rel = lambda a, b: float(torch.linalg.vector_norm(a - b)  # noqa: E731
                                 / torch.linalg.vector_norm(b))
        parts = []
        if task in FACTOR or task == "deblur":
            parts.append(f"A x {rel(theirs.reshape(1, -1).double(), ours):.1e}")
        parts.append("A^T A x " + f"{rel(their_normal[:, 0].reshape(1, -1).double(), normal):.1e}"
                     + (" (real part)" if task == "mri" else ""))
        parts.append(f"|A x| ratio {float(theirs.norm() / ours.abs().norm()):.6f}")
        if task == "mri":
            imag = float(their_normal[:, 1].norm() / normal.norm())
            parts.append(f"their A^T A x has an imaginary part ({imag:.2f} of its norm): "
                         "deepinv's MRI images are complex, ours real")
    return "operator vs ours: " + ", ".join(parts)


def _scores(P, Xt, shape):
    P = np.asarray(P, dtype=np.float64)
    if not np.all(np.isfinite(P)):
        return None, None
    return float(psnr(Xt, P)), float(ssim(Xt, P, image_shape=shape))


def _estimate(model, y, physics):
    """Real channel of the estimate, flattened, as float64 NumPy."""
    with torch.no_grad():
        out = model(y, physics)
    return out[:, 0].reshape(len(out), -1).double().numpy()


def run_peer(task, A, X, Xt, *, K, epochs, batch_size, n_alpha, alphas, seed, noise=0.01):
    """deepinv's classical and unfolded proximal gradient on one task: the rows.

    Parameters
    ----------
    task : str
        One of the benchmark's tasks (``superres2``, ``superres4``, ``deblur``,
        ``inpaint``, ``mri``).
    A : skunfold.imaging operator
        The benchmark's operator of the task (its masks are reused; the agreement of the two
        operators is measured).
    X, Xt : ndarray of shape (n, H * W)
        Clean training and held-out crops.
    K : int
        Iterations (layers).
    epochs, batch_size : int
        Training budget of the unfolded model (our ``hyperparameters`` row's).
    n_alpha : int
        Training crops on which ``lambda`` is tuned.
    alphas : sequence of float
        Our alpha grid (thresholds ``alpha / L``).
    seed : int
    noise : float, default=0.01

    Returns
    -------
    dict
        name -> row (the keys of ``benchmarks/imaging.py``'s rows, ``kind="peer"``, plus
        ``note``, ``lambda`` and, for the unfolded model, ``learned``).
    """
    dinv, shim = load()
    shape = A.image_shape
    physics, channels = make_physics(dinv, task, A, noise, seed)
    x, xt = as_images(X, shape, channels), as_images(Xt, shape, channels)
    with torch.no_grad():
        y, yt = physics(x), physics(xt)
    x0 = torch.rand((1, channels, *shape), generator=torch.Generator().manual_seed(seed))
    # deepinv's default tolerance (1e-3) stops the power method 2-20% short of the norm on
    # these operators (clustered top singular values), a longer step than ours: 1e-5
    L = float(physics.compute_sqnorm(x0, max_iter=100, tol=1e-5, verbose=False))
    note = (f"deepinv {dinv.__version__}; {agreement(task, A, physics, x)}; L {L:.4g} "
            f"(ours {A.lipschitz:.4g}); {shim}")
    print(f"  deepinv: {note}", flush=True)
    fidelity = dinv.optim.data_fidelity.L2()
    prior = lambda: dinv.optim.WaveletPrior(level=4, wv="haar", p=1)  # noqa: E731
    grid = [a / THS for a in alphas]
    rows = {}

    def record(name, fit, budget, extra=None):
        row = {"kind": "peer", "prior": "wavelet", "budget": budget, "note": note}
        with Recorder() as rec:
            try:
                t, c = time.perf_counter(), time.process_time()
                model = fit(row)  # the tuning of lambda, if any, is not training time
                row["train_s"] = time.perf_counter() - t - row.get("tune_s", 0.0)
                row["train_cpu_s"] = time.process_time() - c - row.get("tune_cpu_s", 0.0)
                best, P = np.inf, None
                for _ in range(3):
                    t = time.perf_counter()
                    P = _estimate(model, yt, physics)
                    best = min(best, time.perf_counter() - t)
                row["ms_per_image"] = 1e3 * best / len(Xt)
                row["psnr"], row["ssim"] = _scores(P, Xt, shape)
            except Exception as exc:  # a failed recipe is a result, not a crash
                row["error"] = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
                row["psnr"] = row["ssim"] = None
        row["warnings"] = [list(w) for w in rec.seen]
        rows[name] = row
        shown = "failed" if row["psnr"] is None else f"{row['psnr']:6.2f} dB {row['ssim']:.3f}"
        timing = (f"{row['ms_per_image']:6.2f} ms/image, train {row['train_s']:5.1f} s"
                  if "ms_per_image" in row else row.get("error", ""))
        flags = f"  [{', '.join(sorted({c for c, _ in rec.seen}))}]" if rec.seen else ""
        print(f"  {name:<26} {shown}  {timing}{flags}", flush=True)
        return row

    def classical(cls, lam):
        return cls(data_fidelity=fidelity, prior=prior(), lambda_reg=lam, stepsize=1.0 / L,
                   max_iter=K, early_stop=False)

    def tune(cls):
        scores = {}
        for lam in grid:
            P = _estimate(classical(cls, lam), y[:n_alpha], physics)
            scores[lam] = float(psnr(X[:n_alpha], P))
        return max(scores, key=scores.get), {f"{v:g}": s for v, s in scores.items()}

    tuned = {}
    for label, cls in (("PGD", dinv.optim.PGD), ("FISTA", dinv.optim.FISTA)):
        def fit(row, cls=cls, label=label):
            t, c = time.perf_counter(), time.process_time()
            lam, scores = tune(cls)
            row["tune_s"], row["tune_cpu_s"] = time.perf_counter() - t, time.process_time() - c
            row["lambda"], row["lambda_scores"] = lam, scores
            tuned[label] = lam
            row["budget"] = (f"{K} iterations, lambda={lam:g} (threshold 0.1 lambda/L = ours "
                             f"at alpha={lam * THS:g}) tuned on {n_alpha} training crops")
            return classical(cls, lam)
        record(f"deepinv {label} K={K}", fit, "")

    def fit_unfolded(row):
        lam = tuned.get("PGD", grid[len(grid) // 2])
        model = dinv.optim.PGD(data_fidelity=fidelity, prior=prior(), lambda_reg=[lam] * K,
                               stepsize=[1.0 / L] * K, max_iter=K, unfold=True,
                               trainable_params=["lambda", "stepsize"])
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.Adam(params, lr=LR)
        rng = torch.Generator().manual_seed(seed)
        losses = []
        model.train()
        for _ in range(epochs):
            order, total = torch.randperm(len(x), generator=rng), 0.0
            for start in range(0, len(x), batch_size):
                idx = order[start:start + batch_size]
                optimizer.zero_grad()
                loss = torch.mean((model(y[idx], physics) - x[idx]) ** 2)
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * len(idx)
            losses.append(total / len(x))
        model.eval()
        lams = [float(v.detach()) for v in model.params_algo["lambda"]]
        steps = [float(v.detach()) for v in model.params_algo["stepsize"]]
        row["learned"] = {"lambda": lams, "stepsize_times_L": [s * L for s in steps],
                          "threshold_over_start": [THS * a * s / (THS * lam / L)
                                                   for a, s in zip(lams, steps)],
                          "train_mse": losses, "n_parameters": sum(p.numel() for p in params)}
        return model

    record("deepinv unfolded PGD", fit_unfolded,
           f"{len(X)} crops, {epochs} epochs, batch {batch_size}, Adam lr {LR:g}, MSE; "
           f"{K} lambdas and {K} step sizes, started at the tuned PGD; no keep-best")
    return rows
