"""Export of deep equilibrium models (``fixed_point``) and of models with side information.

A deep equilibrium model's ``predict`` runs its tied layer until every sample
of the batch reaches the tolerance (Anderson acceleration, a safeguard, the
best iterate per sample); the exported graph runs the same iterations in one
loop node (:mod:`skunfold.core.export_loops`). The torch program repeats
``predict``'s arithmetic exactly; onnxruntime's kernels round otherwise, which
the Anderson mixing amplifies: its solve ends within the solve's accuracy of
``predict``'s and of the fixed point.
"""

import copy
import functools
import warnings

import numpy as np
import pytest
import torch

from skunfold import datasets
from skunfold.core import FixedPoint, Problem, UnfoldedRegressor, fixed_point_iteration
from skunfold.export import as_input, inference_module, to_onnx, to_torch
from skunfold.imaging import UnfoldedProximalGradient
from skunfold.sparse import UnfoldedISTA

pytestmark = [pytest.mark.filterwarnings("ignore:the fixed-point iteration did not reach"),
              pytest.mark.filterwarnings("ignore::skunfold.core.WorseThanClassicalWarning")]


class WeightedLasso(Problem):
    """ISTA on ``0.5 sum_i w_i (x - s D)_i^2 + lam ||s||_1``; ``w``: per-sample side information."""

    side_information = ("weights",)
    hyperparameter_constraints = {"step": "fixed"}

    def __init__(self, D, lam=0.05):
        self.D = torch.as_tensor(D, dtype=torch.float32)
        L = float(torch.linalg.matrix_norm(self.D, ord=2) ** 2)
        self.hyperparameters = {"step": 0.5 / L, "threshold": lam / L}

    def initial_state(self, x, weights):
        return x.new_zeros(x.shape[0], self.D.shape[0])

    def step(self, s, x, step, threshold, weights):
        # .t(), not .T: torch.while_loop's tracer lifts D.T as an input aliasing D
        z = s - step * ((s @ self.D - x) * weights) @ self.D.t()
        return torch.sign(z) * torch.relu(z.abs() - threshold)

    def objective(self, s, x, weights):
        return 0.5 * (weights * (x - s @ self.D) ** 2).sum(dim=1)


class WeightedDenoising(Problem):
    """``s <- s + step w (x - s)``: side information without a fixed point."""

    side_information = ("weights",)
    hyperparameters = {"step": 0.1}

    def initial_state(self, x, weights):
        return torch.zeros_like(x)

    def step(self, s, x, step, weights):
        return s + step * weights * (x - s)

    def objective(self, s, x, weights):
        return 0.5 * (weights * (x - s) ** 2).sum(dim=1)


def _ista(fixed_point=True):
    X, S, D = datasets.make_sparse_recovery(64, 10, 20, random_state=0)
    est = UnfoldedISTA(D, n_layers=3, tied=True, fixed_point=fixed_point, max_epochs=2,
                       batch_size=16, random_state=0, n_threads=1).fit(X, S)
    return est, X[:5].astype(np.float32), None


def _regressor():
    X, S, D = datasets.make_sparse_recovery(64, 10, 20, random_state=1)
    W = np.random.default_rng(0).uniform(0.5, 2.0, size=X.shape)
    est = UnfoldedRegressor(WeightedLasso(D), n_layers=3, tied=True, fixed_point=True,
                            max_epochs=2, batch_size=16, random_state=0, n_threads=1)
    return est.fit(X, S, weights=W), X[:5].astype(np.float32), {"weights": W[:5]}


def _imaging(prior="l1"):
    Y, X, A = datasets.make_imaging_problem("inpaint", n_samples=20, patch_size=8,
                                            random_state=0)
    est = UnfoldedProximalGradient(A, prior=prior, alpha=0.01, n_layers=3, tied=True,
                                   fixed_point=FixedPoint(max_iter=400), max_epochs=1,
                                   batch_size=8, random_state=0, n_threads=1).fit(Y, X)
    return est, Y[:5].astype(np.float32), None


# total variation: a prox of 20 inner steps (a loop nested in the solve's, once exported), on
# which Anderson mixing stagnated for one of these samples before its restarts
CASES = {"UnfoldedISTA": _ista, "UnfoldedRegressor": _regressor,
         "UnfoldedProximalGradient": _imaging,
         "UnfoldedProximalGradient-tv": functools.partial(_imaging, prior="tv")}
_FITTED = {}


def fitted(name):
    if name not in _FITTED:
        torch.set_num_threads(1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _FITTED[name] = CASES[name]()
    return _FITTED[name]


def _rows(side, n):
    return None if side is None else {k: v[:n] for k, v in side.items()}


def _predict(est, X, side):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.predict(X, **(side or {}))


def _inputs(X, side):
    return (as_input(X),) + tuple(as_input(side[k]) for k in sorted(side or {}))


# -- the loop ---------------------------------------------------------------------------------
@pytest.mark.parametrize("settings", [
    dict(), dict(memory=1), dict(memory=2, lam=0.0), dict(solver="picard"),
    dict(max_iter=3), dict(tol=1e-12, max_iter=40)])
def test_the_loop_is_predicts_solve_bit_for_bit(settings):
    from skunfold.core.export_loops import fixed_point_loop

    rng = np.random.default_rng(0)
    A = torch.as_tensor(rng.normal(size=(12, 12)) / 5, dtype=torch.float64)
    b = torch.as_tensor(rng.normal(size=(6, 12)), dtype=torch.float64)

    def f(z):
        return torch.tanh(z @ A + b)

    z0 = torch.zeros(6, 12, dtype=torch.float64)
    expected, n_iter, _ = fixed_point_iteration(f, z0, **settings)
    assert torch.equal(fixed_point_loop(f, z0, **settings), expected)
    assert int(n_iter.max()) > 2


def test_anderson_restarts_where_it_stagnates_and_reaches_the_fixed_point():
    # one epoch leaves the tied layer's step above 1/L: plain iteration still converges,
    # Anderson mixing without restarts stalled at a relative residual of 8e-3 on sample 0
    est, X, _ = fitted("UnfoldedProximalGradient-tv")
    solves = {}
    for solver in ("anderson", "picard"):
        model = copy.deepcopy(est)
        model.module_.fixed_point = FixedPoint(tol=1e-6, max_iter=1000, solver=solver)
        solves[solver] = _predict(model, X, None), model.module_.fixed_point.last_forward
    (z, stats), (z_picard, stats_picard) = solves["anderson"], solves["picard"]
    assert (stats["residual"] < 1e-6).all() and (stats_picard["residual"] < 1e-6).all()
    assert np.abs(z - z_picard).max() <= 1e-3 * np.abs(z_picard).max()
    assert stats["n_iter"].sum() < 0.6 * stats_picard["n_iter"].sum()


@pytest.mark.parametrize("name", CASES)
def test_the_inference_module_is_predict(name):
    est, X, side = fitted(name)
    module = inference_module(est, X[:2], side=_rows(side, 2))
    for n in (1, 5):
        with torch.no_grad():
            out = module(*_inputs(X[:n], _rows(side, n)))[0].numpy()
        assert np.array_equal(out, _predict(est, X[:n], _rows(side, n)))


# -- torch.export and ONNX ----------------------------------------------------------------------
def test_a_picard_equilibrium_exports_to_torch_exactly():
    est, X, _ = _ista(FixedPoint(solver="picard", max_iter=200))
    program = to_torch(est, X[:2])
    assert any("while_loop" in str(node.target) for node in program.graph.nodes)
    for n in (1, 5):
        out = program.module()(as_input(X[:n]))[0].numpy()
        assert np.abs(out - _predict(est, X[:n], None)).max() <= 1e-6


def test_a_picard_equilibrium_exports_to_onnx():
    ort = pytest.importorskip("onnxruntime")
    est, X, _ = _ista(FixedPoint(solver="picard", max_iter=200))
    session = ort.InferenceSession(to_onnx(est, X[:2]).SerializeToString())
    for n in (1, 5):
        out = session.run(None, {"X": X[:n]})[0]
        assert np.abs(out - _predict(est, X[:n], None)).max() <= 1e-5


@pytest.mark.slow
@pytest.mark.parametrize("name", CASES)
def test_equilibrium_models_export_to_torch_exactly(name):
    est, X, side = fitted(name)
    program = to_torch(est, X[:2], side=_rows(side, 2))
    assert any("while_loop" in str(node.target) for node in program.graph.nodes)
    for n in (1, 5):
        out = program.module()(*_inputs(X[:n], _rows(side, n)))[0].numpy()
        assert np.abs(out - _predict(est, X[:n], _rows(side, n))).max() <= 1e-6


@pytest.mark.slow
@pytest.mark.parametrize("name", CASES)
def test_equilibrium_models_export_to_onnx(name):
    ort = pytest.importorskip("onnxruntime")
    est, X, side = fitted(name)
    model = to_onnx(est, X[:2], side=_rows(side, 2))
    assert "Loop" in {node.op_type for node in model.graph.node}
    assert [i.name for i in model.graph.input] == ["X", *sorted(side or {})]
    session = ort.InferenceSession(model.SerializeToString())
    # the fixed point to a tight tolerance: the graph's solve ends within the solve's accuracy
    tight = copy.deepcopy(est)
    tight.module_.fixed_point = FixedPoint(tol=1e-6, max_iter=3000)
    for n in (1, 5):
        feeds = dict(zip([i.name for i in model.graph.input],
                         (t.numpy() for t in _inputs(X[:n], _rows(side, n)))))
        out = session.run(None, feeds)[0]
        expected = _predict(est, X[:n], _rows(side, n))
        reference = _predict(tight, X[:n], _rows(side, n))
        scale = np.abs(expected).max()
        assert np.abs(out - expected).max() <= 2e-3 * scale
        assert np.abs(out - reference).max() <= 2e-3 * scale


# -- side information ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def weighted():
    rng = np.random.default_rng(1)
    X, W = rng.normal(size=(64, 4)).astype(np.float32), rng.uniform(0.5, 2.0, size=(64, 4))
    est = UnfoldedRegressor(WeightedDenoising(), n_layers=3, max_epochs=3, lr=0.1,
                            random_state=0, n_threads=1).fit(X, weights=W)
    return est, X, W


def test_side_information_is_a_further_input(weighted):
    est, X, W = weighted
    program = to_torch(est, X[:2], side={"weights": W[:2]})
    for n in (1, 5):
        out = program.module()(as_input(X[:n]), as_input(W[:n]))[0].numpy()
        assert np.abs(out - est.predict(X[:n], weights=W[:n])).max() <= 1e-6
    ort = pytest.importorskip("onnxruntime")
    model = to_onnx(est, X[:2], side={"weights": W[:2]})
    session = ort.InferenceSession(model.SerializeToString())
    assert [i.name for i in session.get_inputs()] == ["X", "weights"]
    out = session.run(None, {"X": X[:5], "weights": W[:5]})[0]
    assert np.abs(out - est.predict(X[:5], weights=W[:5])).max() <= 1e-6
    # one sample's weight changes only its output, as in predict
    W2 = W[:5].copy()
    W2[3] *= 0.5
    moved = np.abs(session.run(None, {"X": X[:5], "weights": W2})[0] - out).max(axis=1)
    assert moved[3] > 1e-3 and np.all(np.delete(moved, 3) == 0)


def test_side_information_errors_are_clear(weighted):
    est, X, W = weighted
    with pytest.raises(ValueError, match=r"fitted with the side information \['weights'\]"):
        to_torch(est, X[:2])
    with pytest.raises(ValueError, match=r"received \['weigths'\]"):
        to_torch(est, X[:2], side={"weigths": W[:2]})
    with pytest.raises(TypeError, match="side must be a dict"):
        to_torch(est, X[:2], side=W[:2])
    with pytest.raises(ValueError, match="'weights' has 3 samples but X has 2"):
        to_torch(est, X[:2], side={"weights": W[:3]})
    plain, X_plain, _ = fitted("UnfoldedISTA")
    with pytest.raises(ValueError, match=r"fitted with the side information \[\]"):
        to_torch(plain, X_plain[:2], side={"weights": W[:2]})
    module = inference_module(est, X[:2], side={"weights": W[:2]})
    with pytest.raises(TypeError, match="takes X and the side information"):
        module(as_input(X[:2]))
