"""Every family's fitted torch module exports: ``torch.export`` with a dynamic batch, and ONNX.

The fitted module's inference, ``readout(final_state(x, n_layers))``, is
wrapped in a small ``nn.Module`` and exported with a dynamic batch
dimension; the exported program (and the ONNX graph, run in onnxruntime,
when ``onnx``, ``onnxscript`` and ``onnxruntime`` are installed) is run on
another batch size and compared with the module run eagerly. The export-only
kernels (support selection by a comparison with the k-th largest magnitude,
robust PCA's factorisations by Gram--Schmidt, Jacobi and Gauss--Jordan in
``skunfold.rpca.graphs``) are also checked against the eager ones directly.
Complex inputs (beamforming channels, MRI measurements) are exported with
``torch.export`` only here; their ONNX route (real and imaginary parts as a
last axis) is :mod:`skunfold.export`'s.
"""

import math
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from skunfold import datasets
from skunfold.core.module import module_dtype
from skunfold.core.ops import to_tensor
from skunfold.rpca import linalg as rpca_linalg
from skunfold.rpca.graphs import gauss_jordan_solve, gram_schmidt, jacobi_svd
from skunfold.sparse.problem import support_selected_threshold


class Inference(nn.Module):
    """``x -> readout(final_state(x, n_layers))`` of a fitted estimator's module."""

    def __init__(self, module):
        super().__init__()
        self.module = module.eval()

    def forward(self, x):
        return self.module.readout(self.module.final_state(x, self.module.n_layers))


def _batch():
    return ({0: torch.export.Dim("batch", min=1)},)


def _input(estimator, X):
    X = estimator.validate_input(X, reset=False)
    return to_tensor(X, module_dtype(estimator.module_), torch.device("cpu"))


def _tolerance(x):
    return 1e-4 if x.dtype in (torch.float32, torch.complex64) else 1e-9


def check_export(estimator, X, onnx=True):
    """Export ``estimator``'s module at one batch size and compare at another.

    The module runs on the same rows as the export: a batch of other size can round
    a sample differently (another matrix-product kernel), and a discontinuous layer
    (HyperLISTA's support count, a ceiling) can turn that rounding into a different
    output.
    """
    module = Inference(estimator.module_)
    x = _input(estimator, X)
    with torch.no_grad():
        scale = float(module(x).abs().max()) or 1.0
        expected = module(x[:5])
        program = torch.export.export(module, (x,), dynamic_shapes=_batch())
        got = program.module()(x[:3])
    np.testing.assert_allclose(got.numpy(), module(x[:3]).detach().numpy(), rtol=0,
                               atol=_tolerance(x) * scale)
    if not onnx:
        return
    pytest.importorskip("onnxscript")
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = torch.onnx.export(module, (x,), dynamic_shapes=_batch(), dynamo=True,
                                  verbose=False).model_proto
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x[:5].numpy()})[0]
    # torch.onnx writes Python scalars as float32 constants (cast to float64 after): a
    # float64 graph agrees to about 1e-8 of float64 only
    atol = (1e-4 if x.dtype == torch.float32 else 1e-6) * scale
    np.testing.assert_allclose(got, expected.numpy(), rtol=0, atol=atol)


_SMALL = dict(max_epochs=2, random_state=0, device="cpu", n_threads=1)


# -- sparse: ALISTA / LISTA-CPSS support selection, HyperLISTA ------------------------------

@pytest.fixture(scope="module")
def sparse_data():
    return datasets.make_sparse_recovery(64, 20, 40, random_state=0)


@pytest.mark.parametrize("params", [
    dict(paradigm="hyperparameters", weights="analytic", support_selection=True),  # ALISTA
    dict(paradigm="objective", coupling="cp", support_selection=True, momentum=True),  # CPSS
])
def test_support_selection_exports(sparse_data, params):
    from skunfold.sparse import UnfoldedISTA

    X, S, D = sparse_data
    est = UnfoldedISTA(D, n_layers=3, batch_size=16, **params, **_SMALL).fit(X, S)
    check_export(est, X)


def test_hyperlista_exports(sparse_data):
    from skunfold.core import WorseThanClassicalWarning
    from skunfold.sparse import HyperLISTA

    X, S, D = sparse_data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WorseThanClassicalWarning)  # untuned constants
        est = HyperLISTA(D, n_layers=3, device="cpu").fit(X)
    check_export(est, X)


def test_hyperlista_rows_do_not_depend_on_their_batch(sparse_data):
    # the first layer's support fraction is log(||H^+ x|| / ||H^+ r||) with r = x: both norms
    # by one product, so it is exactly 0; by two products a rounding made it 4e-16 in a
    # batch of 64 and not in a batch of 3, selecting one more entry (0.035 on a row)
    from skunfold.core import WorseThanClassicalWarning
    from skunfold.sparse import HyperLISTA

    X, _, D = sparse_data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WorseThanClassicalWarning)
        est = HyperLISTA(D, n_layers=3, device="cpu").fit(X)
    module, x = Inference(est.module_), _input(est, X)
    with torch.no_grad():
        full = module(x).numpy()
        rows = np.vstack([module(x[i:i + 3]).numpy()[:1] for i in range(16)])
    np.testing.assert_allclose(rows, full[:16], rtol=0, atol=1e-9 * np.abs(full).max())


def test_support_selection_is_a_comparison_with_the_kth_largest():
    # many ties (half-integers): the traced selection (a full sort) and the eager one (top-k)
    # bypass exactly the same entries, for a fixed and a per-sample fraction
    gen = torch.Generator().manual_seed(0)
    z = torch.randint(-4, 5, (9, 30), generator=gen).double() * 0.5
    fraction = torch.rand(9, 1, generator=gen, dtype=torch.float64) * 0.6
    fraction[0] = 0.0

    class Select(nn.Module):
        def forward(self, z, fraction):
            return support_selected_threshold(z, 0.6, fraction)

    traced = torch.export.export(Select(), (z, fraction),
                                 dynamic_shapes=(_batch()[0], _batch()[0])).module()
    np.testing.assert_array_equal(traced(z, fraction), Select()(z, fraction))
    for f in (0.05, 0.2, 1.0):
        n_large = math.ceil(f * 30)
        out = support_selected_threshold(z, 0.6, f)
        kth = torch.topk(z.abs(), n_large, dim=-1).values[:, -1:]
        kept = (z.abs() > 0.6) & (z.abs() >= kth)
        np.testing.assert_array_equal(out[kept], z[kept])
        assert bool((out[~kept].abs() <= (z[~kept].abs() - 0.6).clamp(min=0)).all())


# -- robust PCA ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def rpca_data():
    return datasets.make_rpca(8, (12, 10), 2, random_state=0)


@pytest.mark.slow
@pytest.mark.parametrize("paradigm", ["hyperparameters", "objective", "correction", "dnn"])
def test_learned_rpca_exports(rpca_data, paradigm):
    from skunfold.rpca import LearnedRPCA

    X, L, _ = rpca_data
    est = LearnedRPCA(paradigm=paradigm, rank=2, n_layers=2, n_channels=2,
                      **dict(_SMALL, max_epochs=4)).fit(X, L)
    check_export(est, X, onnx=paradigm == "hyperparameters")


@pytest.mark.slow
def test_robust_pca_exports_in_float64(rpca_data):
    from skunfold.rpca import RobustPCA

    X, _, _ = rpca_data
    check_export(RobustPCA(rank=2, n_layers=3, device="cpu").fit(X), X)


def test_learned_rpca_exports_with_autograd_on_and_before_predict(rpca_data):
    # no in-place kernel under autograd, and the test matrix of a size never predicted is
    # drawn outside the trace: predict after the export gives what it gives without one
    from skunfold.rpca import LearnedRPCA

    X, L, _ = rpca_data
    est = LearnedRPCA(paradigm="hyperparameters", rank=2, n_layers=2,
                      **dict(_SMALL, max_epochs=4)).fit(X, L)
    X_new = datasets.make_rpca(4, (11, 9), 2, random_state=1)[0].astype(np.float32)
    rpca_linalg._TEST_MATRICES.clear()
    module = Inference(est.module_)
    x = torch.as_tensor(X_new)
    program = torch.export.export(module, (x,), dynamic_shapes=_batch())  # autograd on
    after = est.predict(X_new)
    rpca_linalg._TEST_MATRICES.clear()
    np.testing.assert_array_equal(after, est.predict(X_new))
    with torch.no_grad():
        np.testing.assert_allclose(program.module()(x)[:, 0].numpy(), after, atol=1e-5)


def test_full_rank_factors_export(rpca_data):
    # rank >= min(n1, n2): the exact factorisation, by Jacobi under tracing
    class Factor(nn.Module):
        def forward(self, m):
            left, right = rpca_linalg.balanced_factors(m, 10)
            return left @ right.mT

    m = torch.as_tensor(rpca_data[0][:4])
    traced = torch.export.export(Factor(), (m,), dynamic_shapes=_batch()).module()
    np.testing.assert_allclose(traced(m[:2]).numpy(), m[:2].numpy(), atol=1e-12)


def test_exportable_factorisations_match_lapack():
    gen = torch.Generator().manual_seed(0)
    A = torch.randn(3, 30, 8, generator=gen, dtype=torch.float64)
    Q = gram_schmidt(A)
    Q_ref = torch.linalg.qr(A).Q
    np.testing.assert_allclose(Q.mT @ Q, torch.eye(8).expand(3, 8, 8), atol=1e-14)
    np.testing.assert_allclose(Q @ Q.mT, Q_ref @ Q_ref.mT, atol=1e-14)
    # a rank-deficient matrix: zero columns, no NaN, the same range
    low = A[..., :2] @ torch.randn(3, 2, 8, generator=gen, dtype=torch.float64)
    Q = gram_schmidt(low)
    assert bool(torch.isfinite(Q).all())
    np.testing.assert_allclose(Q @ (Q.mT @ low), low, atol=1e-12)
    # singular values spread over 1e6: the leading triplets to round-off
    U0, V0 = torch.linalg.qr(A).Q, torch.linalg.qr(A[:, :8]).Q
    M = U0 * torch.logspace(0, -6, 8, dtype=torch.float64) @ V0.mT
    U, S, V = jacobi_svd(M, 3)
    U_ref, S_ref, Vh_ref = torch.linalg.svd(M, full_matrices=False)
    np.testing.assert_allclose(S, S_ref[:, :3], rtol=1e-13)
    np.testing.assert_allclose((U * S[:, None]) @ V.mT,
                               (U_ref[..., :3] * S_ref[:, None, :3]) @ Vh_ref[:, :3], atol=1e-13)
    G = torch.randn(4, 6, 6, generator=gen, dtype=torch.float64)
    B = torch.randn(4, 6, 2, generator=gen, dtype=torch.float64)
    np.testing.assert_allclose(gauss_jordan_solve(G, B), torch.linalg.solve(G, B), atol=1e-12)


# -- the other families ---------------------------------------------------------------------

def test_uwmmse_exports():
    from skunfold.power import UnfoldedWMMSE

    H, _ = datasets.make_interference_network(32, 4, random_state=0)
    est = UnfoldedWMMSE(paradigm="correction", n_layers=2, **_SMALL).fit(H)
    check_export(est, H)


@pytest.fixture(scope="module")
def mimo_data():
    return datasets.make_mimo(64, random_state=0)


def test_deepsic_exports(mimo_data):
    from skunfold.mimo import DeepSICClassifier

    X, y, _ = mimo_data
    check_export(DeepSICClassifier(n_layers=2, hidden_layer_sizes=(8,), max_epochs=2,
                                   random_state=0, device="cpu").fit(X, y), X)


@pytest.mark.slow
def test_soft_ic_exports(mimo_data):
    # its linear solves: Gauss-Jordan elimination under tracing (ONNX has no solve)
    from skunfold.mimo import SoftICDetector

    X, y, _ = mimo_data
    check_export(SoftICDetector(n_layers=2).fit(X, y), X)   # two rounds: a shorter graph


def test_unfolded_dadmm_exports():
    from skunfold.distributed import UnfoldedDADMM

    X, S, D, G = datasets.make_distributed_lasso(32, 4, 12, 20, random_state=0)
    check_export(UnfoldedDADMM(G, D, n_layers=2, batch_size=16, **_SMALL).fit(X, S), X)


def test_unfolded_proximal_gradient_exports_a_blur():
    from skunfold.imaging import UnfoldedProximalGradient

    Y, X, A = datasets.make_imaging_problem("blur", n_samples=16, patch_size=8, random_state=0)
    est = UnfoldedProximalGradient(A, prior="l1", n_layers=2,
                                   **dict(_SMALL, max_epochs=1)).fit(Y, X)
    check_export(est, Y)


def test_complex_inputs_export_with_torch_export():
    from skunfold.beamforming import UnfoldedHybridPGA

    H = datasets.make_wideband_channels(16, 2, 2, 4, random_state=0)
    est = UnfoldedHybridPGA(n_rf_chains=2, n_layers=2, batch_size=16, **_SMALL).fit(H)
    check_export(est, H, onnx=False)
