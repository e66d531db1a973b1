"""skunfold.export: every public estimator exported to torch.export and ONNX, equal to predict.

Each configuration is fitted small (fixed ``random_state``, one thread) once per session;
its exported program and ONNX model are compared with ``predict`` (and the estimator's
further outputs: ``predict_proba``, the sparse part, the agents' estimates, the hybrid
precoders) at batch 1 and batch 5, so the batch dimension is dynamic. The ONNX tests
need the ``export`` extra and are skipped without it.
"""

import functools
import warnings

import numpy as np
import pytest
import torch

from skunfold import datasets
from skunfold.beamforming import HybridPGA, UnfoldedHybridPGA
from skunfold.core import Problem, UnfoldedRegressor
from skunfold.distributed import DistributedADMM, UnfoldedDADMM
from skunfold.export import as_input, estimator_classes, to_onnx, to_torch
from skunfold.imaging import ProximalGradient, UnfoldedProximalGradient
from skunfold.mimo import DeepSICClassifier, LMMSEDetector, MLDetector, SoftICDetector
from skunfold.power import WMMSE, UnfoldedWMMSE
from skunfold.rpca import LearnedRPCA, RobustPCA
from skunfold.rpca.decomposition import RobustPCABase
from skunfold.sparse import AMP, FISTA, ISTA, HyperLISTA, UnfoldedAMP, UnfoldedISTA

_TRAIN = dict(max_epochs=2, batch_size=16, random_state=0, device="cpu", n_threads=1)


class Shrink(Problem):
    """A user's problem for UnfoldedRegressor: ``s <- s - step (s - x)``, readout ``s``."""

    def __init__(self):
        self.hyperparameters = {"step": 0.5}

    def initial_state(self, x):
        return torch.zeros_like(x)

    def step(self, s, x, step):
        return s - step * (s - x)

    def objective(self, s, x):
        return 0.5 * ((x - s) ** 2).sum(dim=1)


@functools.cache
def _sparse():
    return datasets.make_sparse_recovery(80, 10, 20, random_state=0)


def _sparse_case(estimator, supervised=True):
    def make():
        X, S, D = _sparse()
        return estimator(D).fit(X, S if supervised else None), X[:7]
    return make


def _rpca_case(estimator, matrix=False, float32=False):
    def make():
        X, L, _ = datasets.make_rpca(6, shape=(8, 6), rank=2, random_state=0)
        est = estimator().fit(X, L)
        X = X.astype(np.float32) if float32 else X  # (onnxruntime has no float64 convolution)
        return est, (X[0] if matrix else X[:5])
    return make


def _mimo_case(estimator, one_user=False, labels=None):
    def make():
        X, y, _ = datasets.make_mimo(200, n_users=1 if one_user else 2, n_antennas=4,
                                     random_state=0)
        if labels is not None:
            y = np.asarray(labels)[(y > 0).astype(int)]
        return estimator().fit(X, y[:, 0] if one_user else y), X[:7]
    return make


def _power_case(estimator, flat=False):
    def make():
        H, _ = datasets.make_interference_network(40, n_pairs=3, random_state=0)
        est = estimator().fit(H)
        return est, (H[:7].reshape(7, -1) if flat else H[:7])
    return make


def _beamforming_case(estimator, real_one_user=False):
    def make():
        H = datasets.make_wideband_channels(30, n_bands=2, n_users=2, n_antennas=4,
                                            random_state=0)
        if real_one_user:
            H = H[:, 0, 0].real.copy()
        return estimator().fit(H), H[:7]
    return make


@functools.cache
def _distributed():
    return datasets.make_distributed_lasso(60, n_agents=2, n_measurements=6, n_components=8,
                                           random_state=0)


def _distributed_case(estimator):
    def make():
        X, S, D, G = _distributed()
        return estimator(G, D).fit(X, S), X[:7]
    return make


@functools.cache
def _imaging(operator):
    return datasets.make_imaging_problem(operator, n_samples=20, patch_size=8, random_state=0)


def _imaging_case(estimator, operator="blur", images=False):
    def make():
        Y, X, A = _imaging(operator)
        if images:  # denoising of 8 x 8 images given as 3-D arrays
            images_ = X.reshape(-1, 8, 8)
            return estimator(None).fit(images_, X), images_[:7]
        return estimator(A).fit(Y, X), Y[:7]
    return make


def _regressor_case(one_d=False):
    def make():
        X = np.random.default_rng(0).normal(size=(64, 1 if one_d else 3))
        est = UnfoldedRegressor(Shrink(), n_layers=3, max_epochs=2, random_state=0)
        return est.fit(X, X[:, 0] if one_d else X), X[:7]
    return make


CASES = {
    # sparse recovery: every paradigm, ALISTA and LISTA-CPSS (support selection), classical
    "ISTA": _sparse_case(lambda D: ISTA(D, n_layers=5), supervised=False),
    "FISTA": _sparse_case(lambda D: FISTA(D, n_layers=5), supervised=False),
    "HyperLISTA": _sparse_case(lambda D: HyperLISTA(D, n_layers=3), supervised=False),
    "AMP": _sparse_case(lambda D: AMP(D, n_layers=4), supervised=False),
    "LISTA": _sparse_case(lambda D: UnfoldedISTA(D, n_layers=3, **_TRAIN)),
    "LISTA-objective": _sparse_case(lambda D: UnfoldedISTA(D, paradigm="objective", n_layers=3,
                                                           **_TRAIN)),
    "LISTA-correction": _sparse_case(lambda D: UnfoldedISTA(
        D, paradigm="correction", hidden_layer_sizes=(8,), n_layers=3, **_TRAIN)),
    "LISTA-dnn": _sparse_case(lambda D: UnfoldedISTA(D, paradigm="dnn", hidden_layer_sizes=(8,),
                                                     n_layers=3, **_TRAIN)),
    "ALISTA-ss": _sparse_case(lambda D: UnfoldedISTA(D, weights="analytic",
                                                     support_selection=True, n_layers=3,
                                                     **_TRAIN)),
    "LISTA-CPSS": _sparse_case(lambda D: UnfoldedISTA(
        D, paradigm="objective", coupling="cp", support_selection=True, momentum=True,
        n_layers=3, **_TRAIN)),
    "LISTA-safeguard": _sparse_case(lambda D: UnfoldedISTA(D, safeguard=True, n_layers=3,
                                                           **_TRAIN)),
    "UnfoldedAMP": _sparse_case(lambda D: UnfoldedAMP(D, n_layers=3, **_TRAIN)),
    "UnfoldedAMP-dnn": _sparse_case(lambda D: UnfoldedAMP(D, paradigm="dnn", shrinkage="pwlin",
                                                          n_layers=3, **_TRAIN)),
    # robust PCA: a stack of matrices, or one matrix (no batch axis)
    "RobustPCA": _rpca_case(lambda: RobustPCA(rank=2, n_layers=3)),
    "RobustPCA-matrix": _rpca_case(lambda: RobustPCA(rank=2, n_layers=3), matrix=True),
    "LearnedRPCA": _rpca_case(lambda: LearnedRPCA(rank=2, n_layers=2, max_epochs=4,
                                                  random_state=0, device="cpu")),
    "LearnedRPCA-dnn": _rpca_case(lambda: LearnedRPCA(rank=2, paradigm="dnn", n_layers=2,
                                                      n_channels=2, max_epochs=4, random_state=0,
                                                      device="cpu"), float32=True),
    # MIMO detection: class labels and predict_proba
    "DeepSIC": _mimo_case(lambda: DeepSICClassifier(n_layers=2, hidden_layer_sizes=(8,),
                                                    max_epochs=3, random_state=0, device="cpu")),
    "DeepSIC-1d": _mimo_case(lambda: DeepSICClassifier(n_layers=2, hidden_layer_sizes=(8,),
                                                       max_epochs=3, random_state=0,
                                                       device="cpu"), one_user=True),
    "SoftIC": _mimo_case(lambda: SoftICDetector(n_layers=2)),
    "LMMSE": _mimo_case(LMMSEDetector),
    "ML": _mimo_case(MLDetector),
    # power allocation: channel stacks, or flattened channels
    "WMMSE": _power_case(lambda: WMMSE(n_layers=4)),
    "WMMSE-flat": _power_case(lambda: WMMSE(n_layers=4), flat=True),
    "UWMMSE": _power_case(lambda: UnfoldedWMMSE(n_layers=2, max_epochs=2, random_state=0,
                                                device="cpu")),
    "UWMMSE-correction": _power_case(lambda: UnfoldedWMMSE(
        paradigm="correction", n_layers=2, max_epochs=2, random_state=0, device="cpu")),
    # hybrid precoding: complex channels (complex outputs), real channels of one user
    "HybridPGA": _beamforming_case(lambda: HybridPGA(n_layers=3, n_rf_chains=2,
                                                     random_state=0, device="cpu")),
    "HybridPGA-real": _beamforming_case(lambda: HybridPGA(n_layers=3, n_rf_chains=1,
                                                          random_state=0, device="cpu"),
                                        real_one_user=True),
    "UnfoldedHybridPGA": _beamforming_case(lambda: UnfoldedHybridPGA(
        n_layers=2, n_rf_chains=2, hidden_layer_sizes=(4,), paradigm="correction", **_TRAIN)),
    # distributed LASSO
    "DistributedADMM": _distributed_case(lambda G, D: DistributedADMM(G, dictionary=D,
                                                                      n_layers=3, device="cpu")),
    "UnfoldedDADMM": _distributed_case(lambda G, D: UnfoldedDADMM(G, dictionary=D, n_layers=2,
                                                                  **_TRAIN)),
    # imaging: FFT blur, complex MRI measurements, images as 3-D arrays, total variation (the
    # default prior: its prox's inner steps one loop node)
    "ProximalGradient": _imaging_case(lambda A: ProximalGradient(A, prior="l1", alpha=0.01,
                                                                 n_layers=4)),
    "ProximalGradient-mri": _imaging_case(lambda A: ProximalGradient(A, prior="l1", alpha=0.01,
                                                                     n_layers=4),
                                          operator="mri"),
    "ProximalGradient-tv": _imaging_case(lambda A: ProximalGradient(A, alpha=0.01, n_layers=4)),
    "UnfoldedProximalGradient": _imaging_case(lambda A: UnfoldedProximalGradient(
        A, prior="l1", alpha=0.01, paradigm="correction", n_layers=2, max_epochs=1,
        batch_size=8, random_state=0, device="cpu")),
    "UnfoldedProximalGradient-images": _imaging_case(lambda A: UnfoldedProximalGradient(
        A, prior="l1", alpha=0.05, paradigm="dnn", n_layers=2, max_epochs=1, batch_size=8,
        random_state=0, device="cpu"), images=True),
    # a user's problem, and a 1-D target (1-D predict)
    "UnfoldedRegressor": _regressor_case(),
    "UnfoldedRegressor-1d": _regressor_case(one_d=True),
}

#: ONNX exports of more than ~10 s here (large unrolled graphs, robust PCA's factorisations).
SLOW_ONNX = {"SoftIC", "DistributedADMM", "UnfoldedDADMM", "HyperLISTA", "RobustPCA",
             "RobustPCA-matrix", "LearnedRPCA", "LearnedRPCA-dnn", "UWMMSE-correction",
             "HybridPGA", "HybridPGA-real", "UnfoldedHybridPGA", "ProximalGradient-tv"}
#: What keeps a configuration from exporting to ONNX (with the reason, an expected failure).
ONNX_BLOCKED = {}


@functools.cache
def fitted(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CASES[name]()


def reference(estimator, X):
    """What the exported outputs must equal: predict, then the family's further outputs."""
    out = {"predict": estimator.predict(X)}
    if hasattr(estimator, "predict_proba"):
        proba = estimator.predict_proba(X)
        out["predict_proba"] = np.stack(proba, axis=1) if isinstance(proba, list) else proba
    if isinstance(estimator, RobustPCABase):
        out["sparse"] = estimator.predict_sparse(X)
    if isinstance(estimator, (DistributedADMM, UnfoldedDADMM)):
        out["agents"] = estimator.predict(X, return_agents=True)
    if isinstance(estimator, (HybridPGA, UnfoldedHybridPGA)):
        out["analog"], out["digital"] = estimator.decompose(X)
    return out


def assert_outputs_equal(outputs, expected, what):
    assert len(outputs) == len(expected), what
    for got, (name, want) in zip(outputs, expected.items()):
        got = got.detach().numpy() if torch.is_tensor(got) else np.asarray(got)
        if np.iscomplexobj(want):
            want = np.stack([want.real, want.imag], axis=-1)
        assert got.shape == want.shape, f"{what} {name}: shape {got.shape} != {want.shape}"
        assert got.dtype == want.dtype, f"{what} {name}: dtype {got.dtype} != {want.dtype}"
        if want.dtype.kind in "fc":
            scale = max(1.0, float(np.abs(want).max()))
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=2e-5 * scale,
                                       err_msg=f"{what} {name}")
        else:
            np.testing.assert_array_equal(got, want, err_msg=f"{what} {name}")


def batches(estimator, X):
    """Batch 1 and batch 5 (one matrix only, for a robust PCA given one matrix)."""
    if isinstance(estimator, RobustPCABase) and X.ndim == 2:
        return [X]
    return [X[:1], X[:5]]


def test_the_cases_cover_every_public_estimator():
    covered = {type(fitted(name)[0]) for name in ("ISTA", "FISTA", "HyperLISTA", "AMP", "LISTA",
                                                  "UnfoldedAMP", "RobustPCA", "LearnedRPCA",
                                                  "DeepSIC", "SoftIC", "LMMSE", "ML", "WMMSE",
                                                  "UWMMSE", "HybridPGA", "UnfoldedHybridPGA",
                                                  "DistributedADMM", "UnfoldedDADMM",
                                                  "ProximalGradient", "UnfoldedProximalGradient",
                                                  "UnfoldedRegressor")}
    assert covered == set(estimator_classes())


@pytest.mark.parametrize("name", CASES)
def test_torch_export_matches_predict(name):
    estimator, X = fitted(name)
    program = to_torch(estimator, X if "matrix" in name else X[:2])
    assert isinstance(program, torch.export.ExportedProgram)
    run = program.module()
    for batch in batches(estimator, X):
        assert_outputs_equal(run(as_input(batch)), reference(estimator, batch),
                             f"{name} batch {len(batch)}")


def _onnx_param(name):
    marks = []
    if name in SLOW_ONNX:
        marks.append(pytest.mark.slow)
    if name in ONNX_BLOCKED:
        marks.append(pytest.mark.xfail(strict=True, reason=ONNX_BLOCKED[name]))
    return pytest.param(name, marks=marks)


@functools.cache
def onnx_model(name):
    estimator, X = fitted(name)
    return to_onnx(estimator, X if "matrix" in name else X[:2])


def run_onnx(model, X):
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(model.SerializeToString())
    return session.run(None, {"X": as_input(X).numpy()})


@pytest.mark.parametrize("name", [_onnx_param(name) for name in CASES])
def test_onnx_export_matches_predict(name):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    estimator, X = fitted(name)
    model = onnx_model(name)
    expected = reference(estimator, X[:1] if "matrix" not in name else X)
    assert [o.name for o in model.graph.output] == list(expected)
    for batch in batches(estimator, X):
        assert_outputs_equal(run_onnx(model, batch), reference(estimator, batch),
                             f"{name} batch {len(batch)}")


@pytest.mark.slow
def test_total_variation_runs_its_inner_steps_as_one_loop_per_layer():
    # the prox's 20 dual steps written out made 4 layers about 3,200 nodes (and minutes of
    # export); as one Loop node per layer the graph keeps a few dozen nodes per layer
    pytest.importorskip("onnx")
    ops = [node.op_type for node in onnx_model("ProximalGradient-tv").graph.node]
    assert ops.count("Loop") == 4 and len(ops) < 200, (ops.count("Loop"), len(ops))


def test_onnx_string_class_labels_are_decoded():
    pytest.importorskip("onnxruntime")
    estimator, X = _mimo_case(LMMSEDetector, labels=["low", "high"])()
    outputs = run_onnx(to_onnx(estimator, X[:2]), X[:5])
    np.testing.assert_array_equal(outputs[0].astype(str), estimator.predict(X[:5]))
    with pytest.raises(ValueError, match="non-numeric class labels"):
        to_torch(estimator, X[:2])


def test_export_leaves_predict_unchanged():
    # the export runs on a copy: predict afterwards gives what it gave before
    estimator, X = fitted("LISTA-safeguard")
    before = estimator.predict(X)
    to_torch(estimator, X[:2])
    np.testing.assert_array_equal(estimator.predict(X), before)
    assert estimator.safeguard_report(X).shape == (3,)
