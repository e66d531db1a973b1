"""Deep equilibrium mode (``fixed_point=True``): solver, implicit gradient, LASSO, memory."""

import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Lasso

from skunfold.core import (
    FixedPoint,
    Problem,
    UnfoldedModule,
    UnfoldedRegressor,
    build_layers,
    fixed_point_iteration,
)
from skunfold.core.equilibrium import equilibrium_state
from skunfold.core.module import cast_module


def nmse_db(reference, estimate):
    """NMSE in dB over the whole set: 10 log10(sum of squared errors / sum of energies)."""
    return 10 * np.log10(np.sum((estimate - reference) ** 2) / np.sum(reference ** 2))


class LassoISTA(Problem):
    """ISTA on 0.5 ||x - s D||^2 + lam ||s||_1; the step is fixed, the threshold learned."""

    hyperparameter_constraints = {"step": "fixed"}

    def __init__(self, D, lam=0.05):
        self.D = torch.as_tensor(D, dtype=torch.float32)
        L = float(torch.linalg.matrix_norm(self.D, ord=2) ** 2)
        self.hyperparameters = {"step": 1.0 / L, "threshold": lam / L}

    def initial_state(self, x):
        return x.new_zeros(x.shape[0], self.D.shape[0])

    def step(self, s, x, step, threshold):
        z = s - step * (s @ self.D - x) @ self.D.T
        return torch.sign(z) * torch.relu(z.abs() - threshold)

    def objective(self, s, x):
        return 0.5 * ((x - s @ self.D) ** 2).sum(dim=1)


class RidgeNNLS(Problem):
    """Non-negative ridge regression by projected gradient, with a tuple state.

    The state ``(s, b)`` carries a constant ``b = x D^T`` computed once: the
    deep equilibrium mode must keep it out of the fixed-point unknowns.
    """

    hyperparameter_constraints = {"step": "fixed"}

    def __init__(self, D):
        self.D = torch.as_tensor(D, dtype=torch.float32)
        L = float(torch.linalg.matrix_norm(self.D, ord=2) ** 2)
        self.hyperparameters = {"step": 1.0 / (L + 0.5), "ridge": 0.5}

    def initial_state(self, x):
        return (x.new_zeros(x.shape[0], self.D.shape[0]), x @ self.D.T)

    def step(self, state, x, step, ridge):
        s, b = state
        return (torch.relu(s - step * (s @ self.D @ self.D.T + ridge * s - b)), b)

    def readout(self, state):
        return state[0]

    def objective(self, s, x):
        return 0.5 * ((x - s @ self.D) ** 2).sum(dim=1)


class StepInRange(LassoISTA):
    """The same ISTA with a learned step kept in ``(0, 2 / L)``, where it stays convergent."""

    def __init__(self, D, lam=0.05):
        super().__init__(D, lam)
        L = 1.0 / self.hyperparameters["step"]
        self.hyperparameter_constraints = {"step": ("interval", 0.0, 2.0 / L)}
        self.lipschitz = L


@pytest.fixture(scope="module")
def data():
    """300 noisy sparse codes (m=30, n=60, p=0.1, 30 dB SNR per sample) and the dictionary."""
    rng = np.random.default_rng(0)
    D = rng.normal(size=(60, 30))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    S = rng.normal(size=(300, 60)) * (rng.random((300, 60)) < 0.1)
    clean = S @ D
    noise = rng.normal(size=clean.shape)
    noise *= clean.std(axis=1, keepdims=True) / noise.std(axis=1, keepdims=True) * 10 ** (-1.5)
    return (clean + noise).astype(np.float32), S.astype(np.float32), D


@pytest.mark.parametrize("solver", ["anderson", "picard"])
def test_fixed_point_iteration_solves_a_contraction(solver):
    z, n_iter, res = fixed_point_iteration(torch.cos, torch.zeros(3, 2, dtype=torch.float64),
                                           tol=1e-10, max_iter=500, solver=solver)
    assert torch.allclose(z, torch.full_like(z, 0.7390851332151607), atol=1e-8)
    assert (res < 1e-10).all() and (n_iter < 500).all()


def test_anderson_needs_fewer_iterations_than_plain_iteration(data):
    X, _, D = data
    module = UnfoldedModule(LassoISTA(D), build_layers(LassoISTA(D), "classical", 1), 1)
    x = torch.as_tensor(X[:32])
    counts = {}
    for solver in ("anderson", "picard"):
        config = FixedPoint(tol=1e-5, max_iter=3000, solver=solver)
        with torch.no_grad():
            equilibrium_state(module, x, {}, config)
        counts[solver] = config.last_forward["n_iter"].mean()
    assert counts["anderson"] < 0.5 * counts["picard"]


def test_classical_fixed_point_is_the_lasso_solution(data):
    X, _, D = data
    lam = 0.05
    est = UnfoldedRegressor(LassoISTA(D, lam), paradigm="classical",
                            fixed_point=FixedPoint(tol=1e-6, max_iter=3000)).fit(X)
    pred = est.predict(X[:20])
    lasso = Lasso(alpha=lam / D.shape[1], fit_intercept=False, tol=1e-12, max_iter=100000)
    ref = np.array([lasso.fit(D.T, x).coef_ for x in X[:20]])
    assert np.abs(pred - ref).max() < 1e-3 * np.abs(ref).max()
    assert est.n_iter_.shape == (len(X),) and est.n_iter_.max() < 3000


def test_learned_threshold_converges_to_the_lasso_it_implies(data):
    X, S, D = data
    # 128 training samples (the other 172 held out): held-out NMSE -16.2 dB against the
    # starting lambda's -11.1 dB
    est = UnfoldedRegressor(LassoISTA(D, 0.2), fixed_point=FixedPoint(tol=1e-6, max_iter=2000),
                            max_epochs=5, lr=0.05, batch_size=32,
                            random_state=0).fit(X[:128], S[:128])
    hyper = est.module_.iteration(0).hyperparameters(est.problem_, 0)  # the one (tied) set
    step, threshold = float(hyper["step"]), float(hyper["threshold"].detach())
    assert step == pytest.approx(est.problem_.hyperparameters["step"])
    assert threshold != pytest.approx(0.2 * step)   # training moved it
    lam = threshold / step
    lasso = Lasso(alpha=lam / D.shape[1], fit_intercept=False, tol=1e-12, max_iter=100000)
    ref = np.array([lasso.fit(D.T, x).coef_ for x in X[:20]])
    assert np.abs(est.predict(X[:20]) - ref).max() < 1e-3 * np.abs(ref).max()
    # and the learned lambda is better than the starting one on held-out data
    start = UnfoldedRegressor(LassoISTA(D, 0.2), paradigm="classical",
                              fixed_point=FixedPoint(tol=1e-6, max_iter=2000)).fit(X[:128])
    assert nmse_db(S[128:], est.predict(X[128:])) < nmse_db(S[128:], start.predict(X[128:])) - 1.0


def _loss(module, x, target):
    return ((module(x)[-1] - target) ** 2).sum()


@pytest.mark.parametrize("problem_class", [LassoISTA, RidgeNNLS])
def test_implicit_gradient_matches_a_long_unrolled_run(data, problem_class):
    X, S, D = data
    problem = problem_class(D)
    module = UnfoldedModule(problem, build_layers(problem, "hyperparameters", 1, tied=True), 1)
    cast_module(module, torch.float64)
    with torch.no_grad():   # move away from the classical values so that gradients are generic
        for p in module.parameters():
            p.add_(0.1)
    x = torch.as_tensor(X[:16], dtype=torch.float64)
    target = torch.as_tensor(S[:16], dtype=torch.float64)
    params = list(module.parameters())
    module.fixed_point = FixedPoint(tol=1e-12, max_iter=5000)
    implicit = torch.autograd.grad(_loss(module, x, target), params)
    module.fixed_point = None
    unrolled = torch.autograd.grad(((module(x, n_layers=3000)[-1] - target) ** 2).sum(), params)
    for a, b in zip(implicit, unrolled):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-9 * float(b.abs().max()))
    module.fixed_point = FixedPoint(tol=1e-12, max_iter=5000, backward="jacobian_free")
    free = torch.autograd.grad(_loss(module, x, target), params)
    assert not all(torch.allclose(a, b, rtol=1e-3) for a, b in zip(free, unrolled))


def _saved_bytes(fn):
    total = [0]

    def pack(t):
        total[0] += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return total[0]


def test_memory_does_not_grow_with_forward_iterations(data):
    X, S, D = data
    problem = LassoISTA(D)
    module = UnfoldedModule(problem, build_layers(problem, "hyperparameters", 1, tied=True), 1)
    x, target = torch.as_tensor(X[:64]), torch.as_tensor(S[:64])
    saved = {}
    for max_iter in (5, 50, 500):
        module.fixed_point = FixedPoint(tol=1e-30, max_iter=max_iter, solver="picard")
        saved[max_iter] = _saved_bytes(lambda: _loss(module, x, target).backward())
        assert module.fixed_point.last_forward["n_iter"].max() == max_iter
    assert saved[5] == saved[50] == saved[500]
    module.fixed_point = None
    unrolled = {k: _saved_bytes(lambda k=k: ((module(x, n_layers=k)[-1] - target) ** 2).sum())
                for k in (5, 50)}
    assert unrolled[50] > 5 * unrolled[5]
    layer = (unrolled[50] - unrolled[5]) / 45   # the activations of one (inner) layer
    assert saved[500] <= 1.5 * layer


def test_a_deep_equilibrium_ista_trains_and_beats_eight_classical_iterations(data):
    X, S, D = data
    # 128 training samples (two batches of 64 per epoch); on the other 172: -18.2 dB against
    # eight classical iterations' -3.2 dB
    est = UnfoldedRegressor(LassoISTA(D), n_layers=8, paradigm="hyperparameters",
                            fixed_point=FixedPoint(max_iter=1000), max_epochs=5,
                            random_state=0).fit(X[:128], S[:128])
    assert est.module_.tied and est.module_.fixed_point is not None
    assert est.paradigm_ == "hyperparameters"
    assert est.n_iter_.shape == (128,) and len(est.backward_n_iter_) == 5 * 2
    classical = UnfoldedRegressor(LassoISTA(D), n_layers=8, paradigm="classical").fit(X[:128])
    held_out = X[128:], S[128:]
    assert nmse_db(held_out[1], est.predict(held_out[0])) < nmse_db(
        held_out[1], classical.predict(held_out[0])) - 3.0
    # staged_predict yields plain iterations of the learned map; predict the fixed point
    staged = list(est.staged_predict(X[:5], n_layers=3))
    assert len(staged) == 3
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_allclose(restored.predict(X[:10]), est.predict(X[:10]), rtol=1e-5,
                               atol=1e-6)


def test_samples_that_do_not_converge_are_named(data):
    X, _, D = data
    est = UnfoldedRegressor(LassoISTA(D), paradigm="classical",
                            fixed_point=FixedPoint(tol=1e-8, max_iter=3, solver="picard"))
    with pytest.warns(ConvergenceWarning, match="of 5 samples of X"):
        est.fit(X[:5])     # fit reports its training samples too (n_iter_)
    assert (est.n_iter_ == 3).all()
    with pytest.warns(ConvergenceWarning, match=r"for \d+ of 4 samples of X \(0, 1"):
        est.predict(X[:4])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est.set_params(fixed_point__max_iter=5000).fit(X[:5]).predict(X[:4])
    assert est.fixed_point.max_iter == 5000 and est.get_params()["fixed_point__tol"] == 1e-8


@pytest.mark.parametrize("params, message", [
    ({"fixed_point": FixedPoint(tol=0.0)}, "fixed_point__tol must be > 0"),
    ({"fixed_point": FixedPoint(tol=-1.0)}, "fixed_point__tol must be > 0"),
    ({"fixed_point": FixedPoint(max_iter=0)}, "fixed_point__max_iter must be >= 1"),
    ({"fixed_point": FixedPoint(solver="newton")}, "fixed_point__solver must be one of"),
    ({"fixed_point": FixedPoint(backward="exact")}, "fixed_point__backward must be one of"),
    ({"fixed_point": "yes"}, "fixed_point must be True, False or a FixedPoint"),
    ({"tied": False}, "tied weights"),
    ({"loss_schedule": "multi_iteration"}, "end_to_end"),
])
def test_bad_parameters_are_clear_errors(data, params, message):
    X, S, D = data
    est = UnfoldedRegressor(LassoISTA(D), max_epochs=1, **{"fixed_point": True, **params})
    with pytest.raises((ValueError, TypeError), match=message):
        est.fit(X, S)


def test_non_finite_input_is_an_error_and_loses_nothing(data):
    X, S, D = data
    est = UnfoldedRegressor(LassoISTA(D), paradigm="classical",
                            fixed_point=FixedPoint(max_iter=500)).fit(X)
    before = est.predict(X[:3])
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        est.fit(bad)
    np.testing.assert_array_equal(est.predict(X[:3]), before)


def test_interval_constraint_keeps_a_learned_step_in_range():
    from skunfold.core.problem import from_raw, to_raw

    raw = to_raw(0.3, ("interval", 0.0, 2.0))
    assert float(from_raw(raw, ("interval", 0.0, 2.0))) == pytest.approx(0.3)
    assert 0.0 < float(from_raw(raw + 100.0, ("interval", 0.0, 2.0))) <= 2.0
    with pytest.raises(ValueError, match="inside the interval"):
        to_raw(3.0, ("interval", 0.0, 2.0))

    class Bad(LassoISTA):
        hyperparameter_constraints = {"step": ("interval", 1.0, 0.0)}

    X = np.random.default_rng(0).normal(size=(16, 5)).astype(np.float32)
    with pytest.raises(ValueError, match="interval"):
        UnfoldedRegressor(Bad(np.eye(5)), max_epochs=1).fit(X, X)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # lr 0.5 on purpose
def test_deep_equilibrium_ista_keeps_its_step_below_two_over_l(data):
    X, S, D = data
    est = UnfoldedRegressor(StepInRange(D), n_layers=4, fixed_point=FixedPoint(max_iter=300),
                            lr=0.5, max_epochs=3, random_state=0).fit(X[:128], S[:128])
    step = float(est.layer_parameters_["step"][0])
    assert step != pytest.approx(1.0 / est.problem_.lipschitz)   # training moved it
    assert 0.0 < step < 2.0 / est.problem_.lipschitz
