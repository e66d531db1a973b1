"""The open core's public contract: a user's own Problem unfolded by UnfoldedRegressor.

The problems are defined at module level so that fitted estimators pickle.
"""

import pickle

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.model_selection import GridSearchCV

from skunfold.core import (
    PARADIGMS,
    EarlyStopping,
    Optimizer,
    Problem,
    TrainingDivergedError,
    UnfoldedRegressor,
)


def nmse_db(reference, estimate):
    """NMSE in dB over the whole set: 10 log10(sum of squared errors / sum of energies)."""
    return 10 * np.log10(np.sum((estimate - reference) ** 2) / np.sum(reference ** 2))


class NonNegativeLeastSquares(Problem):
    """min_s 0.5 ||x - s A||^2 subject to s >= 0, solved by projected gradient."""

    def __init__(self, A):
        self.A = torch.as_tensor(A, dtype=torch.float32)
        self.hyperparameters = {"step": 1.0 / float(torch.linalg.matrix_norm(self.A, ord=2) ** 2)}

    def initial_state(self, x):
        return x.new_zeros(x.shape[0], self.A.shape[0])

    def step(self, s, x, step):
        return torch.relu(s - step * (s @ self.A - x) @ self.A.T)

    def objective(self, s, x):
        return 0.5 * ((x - s @ self.A) ** 2).sum(dim=1)


class LearnableOperatorNNLS(NonNegativeLeastSquares):
    """The same solver, declaring A as an objective parameter (paradigm "objective")."""

    def __init__(self, A):
        super().__init__(A)
        self.objective_parameters = {"A": self.A}

    def step(self, s, x, step, A):
        return torch.relu(s - step * (s @ A - x) @ A.T)


def _classical_nnls(A, X, n_layers):
    """The solver written out in NumPy (float64), every iterate."""
    step = 1.0 / np.linalg.norm(A, 2) ** 2
    s, out = np.zeros((len(X), A.shape[0])), []
    for _ in range(n_layers):
        s = np.maximum(s - step * (s @ A - X) @ A.T, 0.0)
        out.append(s)
    return out


@pytest.fixture(scope="module")
def nnls():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(8, 16)) / 4.0
    A[0] *= 3.0  # ill-conditioned: the classical step (1/L) is slow on the other directions

    def draw(n):
        S = np.maximum(rng.normal(size=(n, 8)), 0.0)
        return S @ A + 0.01 * rng.normal(size=(n, 16)), S

    X, S = draw(800)
    X_test, S_test = draw(300)
    return {"A": A, "X": X, "S": S, "X_test": X_test, "S_test": S_test}


def _problem(paradigm, A):
    return (LearnableOperatorNNLS if paradigm == "objective" else NonNegativeLeastSquares)(A)


def _est(paradigm, A, **kw):
    params = dict(n_layers=5, paradigm=paradigm, max_epochs=10, batch_size=32, random_state=0,
                  device="cpu", hidden_layer_sizes=(16,))
    params.update(kw)
    return UnfoldedRegressor(_problem(paradigm, A), **params)


# -- untrained = classical ------------------------------------------------------------------

@pytest.mark.parametrize("paradigm", ["classical", "hyperparameters", "objective", "correction"])
def test_untrained_equals_classical_per_layer(nnls, paradigm):
    A, X = nnls["A"], nnls["X_test"]
    est = _est(paradigm, A, max_epochs=0).fit(nnls["X"], nnls["S"])
    reference = _classical_nnls(A, X, 5)
    staged = list(est.staged_predict(X))
    assert len(staged) == 5
    scale = np.abs(reference[-1]).max()
    for S_k, R_k in zip(staged, reference):
        assert_allclose(S_k, R_k, rtol=0, atol=1e-5 * scale)  # float32 against float64
    assert np.abs(staged[-1] - staged[0]).max() > 0.1


def test_classical_computes_in_the_input_precision(nnls):
    A, X = nnls["A"], nnls["X_test"]
    est = _est("classical", A).fit(X)
    # the problem rounded A to float32 (its own choice); the iterations run in float64
    A32 = A.astype(np.float32).astype(np.float64)
    step = est.problem_.hyperparameters["step"]
    s = np.zeros((len(X), 8))
    for _ in range(5):
        s = np.maximum(s - step * (s @ A32 - X) @ A32.T, 0.0)
    assert_allclose(est.predict(X), s, rtol=1e-12, atol=1e-14)
    assert est.predict(X).dtype == np.float64
    assert est.predict(X.astype(np.float32)).dtype == np.float32
    assert est.net_ is None and est.history_ is None
    # and a classical solver runs at any depth
    assert len(list(est.staged_predict(X, n_layers=12))) == 12


def test_untrained_generic_dnn_stays_at_the_initial_state(nnls):
    est = _est("dnn", nnls["A"], max_epochs=0).fit(nnls["X"], nnls["S"])
    assert_array_equal(est.predict(nnls["X_test"]), 0.0)


# -- training in every paradigm ------------------------------------------------------------

@pytest.mark.parametrize("supervised", [True, False], ids=["supervised", "unsupervised"])
@pytest.mark.parametrize("paradigm", [p for p in PARADIGMS if p != "classical"])
def test_every_paradigm_fits(nnls, paradigm, supervised):
    y = nnls["S"] if supervised else None
    est = _est(paradigm, nnls["A"], max_epochs=4, lr=3e-3).fit(nnls["X"], y)
    losses = est.history_[:, "train_loss"]
    assert len(losses) == 4 and losses[-1] < losses[0]
    pred = est.predict(nnls["X_test"])
    assert pred.shape == (300, 8) and np.all(np.isfinite(pred))


@pytest.mark.parametrize("paradigm, lr", [("hyperparameters", 3e-2), ("objective", 3e-3),
                                          ("correction", 3e-3)])
def test_trained_k5_beats_five_classical_iterations(nnls, paradigm, lr):
    est = _est(paradigm, nnls["A"], lr=lr, max_epochs=30).fit(nnls["X"], nnls["S"])
    classical = _est("classical", nnls["A"]).fit(nnls["X"])
    db = nmse_db(nnls["S_test"], est.predict(nnls["X_test"]))
    db0 = nmse_db(nnls["S_test"], classical.predict(nnls["X_test"]))
    assert db < db0 - 3.0, (db, db0)


def test_unsupervised_fit_lowers_the_objective(nnls):
    est = _est("hyperparameters", nnls["A"], lr=3e-2, max_epochs=20).fit(nnls["X"])
    classical = _est("classical", nnls["A"]).fit(nnls["X"])
    # score without targets: minus the mean objective (higher is better)
    assert est.score(nnls["X_test"]) > classical.score(nnls["X_test"]) * 0.7
    values = est.objective_values(nnls["X_test"], est.predict(nnls["X_test"]))
    assert est.score(nnls["X_test"]) == pytest.approx(-values.mean(), rel=1e-5)


def test_learned_hyperparameters_stay_in_their_range(nnls):
    est = _est("hyperparameters", nnls["A"], lr=0.3, max_epochs=5).fit(nnls["X"], nnls["S"])
    with torch.no_grad():
        steps = [float(it.hyperparameters(est.problem_, k)["step"])
                 for k, it in enumerate(est.module_.iterations)]
    assert all(s > 0 for s in steps)
    assert len(set(steps)) == 5  # learned per layer


def test_objective_paradigm_needs_objective_parameters(nnls):
    est = UnfoldedRegressor(NonNegativeLeastSquares(nnls["A"]), paradigm="objective")
    with pytest.raises(ValueError, match="declares none.*objective_parameters"):
        est.fit(nnls["X"], nnls["S"])


class NoHyperparameters(NonNegativeLeastSquares):
    def __init__(self, A):
        super().__init__(A)
        self.hyperparameters = {}

    def step(self, s, x):
        return torch.relu(s - 0.01 * (s @ self.A - x) @ self.A.T)


def test_hyperparameters_paradigm_needs_hyperparameters(nnls):
    est = UnfoldedRegressor(NoHyperparameters(nnls["A"]), paradigm="hyperparameters")
    with pytest.raises(ValueError, match="declares none that can be learned"):
        est.fit(nnls["X"], nnls["S"])


def test_a_problem_without_objective_trains_supervised_only(nnls):
    class NoObjective(NonNegativeLeastSquares):
        objective = Problem.objective

    UnfoldedRegressor(NoObjective(nnls["A"]), n_layers=2, max_epochs=1).fit(nnls["X"], nnls["S"])
    with pytest.raises(TypeError, match="supervised"):
        UnfoldedRegressor(NoObjective(nnls["A"]), n_layers=2, max_epochs=1).fit(nnls["X"])


@pytest.mark.parametrize("bad, exc, match", [
    (object(), TypeError, "instance of skunfold.core.Problem"),
    (None, ValueError, "needs a problem"),
])
def test_bad_problem(nnls, bad, exc, match):
    with pytest.raises(exc, match=match):
        UnfoldedRegressor(bad).fit(nnls["X"], nnls["S"])


def test_colliding_names_are_an_error(nnls):
    problem = LearnableOperatorNNLS(nnls["A"])
    problem.hyperparameters = {"step": 0.1, "A": 1.0}
    with pytest.raises(ValueError, match="both its hyperparameters and objective_parameters"):
        UnfoldedRegressor(problem).fit(nnls["X"], nnls["S"])


def test_the_users_problem_is_not_modified(nnls):
    problem = NonNegativeLeastSquares(nnls["A"])
    A = problem.A
    est = UnfoldedRegressor(problem, paradigm="classical").fit(nnls["X"].astype(np.float64))
    assert problem.A is A and problem.A.dtype == torch.float32
    assert est.problem_.A.dtype == torch.float64  # the fitted copy follows the computation


# -- scikit-learn integration ----------------------------------------------------------------

def test_pickle_round_trip(nnls):
    est = _est("correction", nnls["A"], max_epochs=2).fit(nnls["X"], nnls["S"])
    loaded = pickle.loads(pickle.dumps(est))
    assert_array_equal(loaded.predict(nnls["X_test"]), est.predict(nnls["X_test"]))
    assert isinstance(loaded.problem_, NonNegativeLeastSquares)


def test_grid_search_over_paradigm_and_depth(nnls):
    search = GridSearchCV(
        _est("hyperparameters", nnls["A"], max_epochs=5, lr=3e-2),
        {"paradigm": ["classical", "hyperparameters"], "n_layers": [2, 5]}, cv=2)
    search.fit(nnls["X"][:400], nnls["S"][:400])
    assert search.best_params_ == {"paradigm": "hyperparameters", "n_layers": 5}


def test_warm_start_continues_and_restarts_on_a_new_architecture(nnls):
    est = _est("hyperparameters", nnls["A"], max_epochs=3, lr=3e-2, warm_start=True)
    first = est.fit(nnls["X"], nnls["S"]).history_[:, "train_loss"]
    second = est.fit(nnls["X"], nnls["S"]).history_[:, "train_loss"]
    assert second[0] < first[0] and second[-1] < first[-1]
    est.set_params(n_layers=3, max_epochs=0).fit(nnls["X"], nnls["S"])
    assert_allclose(est.predict(nnls["X_test"]), _classical_nnls(nnls["A"], nnls["X_test"], 3)[-1],
                    atol=1e-5)


def test_diverged_fit_keeps_the_fitted_model(nnls):
    est = _est("hyperparameters", nnls["A"], lr=3e-2).fit(nnls["X"], nnls["S"])
    before = est.predict(nnls["X_test"])
    with pytest.raises(TrainingDivergedError):
        est.fit(nnls["X"] * 1e30, nnls["S"])
    assert_array_equal(est.predict(nnls["X_test"]), before)


# -- maximisation, side information, structured inputs ---------------------------------------

class WeightedDenoising(Problem):
    """Maximise -sum_i w_i (x_i - s_i)^2 / 2 by gradient ascent; w: per-sample side information."""

    maximize = True
    side_information = ("weights",)
    hyperparameters = {"step": 0.1}

    def initial_state(self, x, weights):
        return torch.zeros_like(x)

    def step(self, s, x, step, weights):
        return s + step * weights * (x - s)

    def objective(self, s, x, weights):
        return -0.5 * (weights * (x - s) ** 2).sum(dim=1)


def test_maximised_objective_with_side_information():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(256, 4))
    W = rng.uniform(0.5, 2.0, size=(256, 4))
    classical = UnfoldedRegressor(WeightedDenoising(), n_layers=3, paradigm="classical")
    classical.fit(X, weights=W)
    est = UnfoldedRegressor(WeightedDenoising(), n_layers=3, max_epochs=15, lr=0.1,
                            random_state=0).fit(X, weights=W)
    # score is the objective itself when it is maximised; training raised it
    assert classical.score(X, weights=W) < est.score(X, weights=W) <= 0.0
    values = est.objective_values(X, est.predict(X, weights=W), weights=W)
    assert est.score(X, weights=W) == pytest.approx(values.mean(), rel=1e-5)
    # the side information is batched with X: one sample's weight changes only its estimate
    W2 = W.copy()
    W2[7] *= 0.5
    diff = np.abs(est.predict(X, weights=W2) - est.predict(X, weights=W)).max(axis=1)
    assert diff[7] > 1e-3 and np.all(np.delete(diff, 7) == 0)
    with pytest.raises(TypeError, match="unexpected keyword argument 'weigths'"):
        est.predict(X, weigths=W)
    with pytest.raises(ValueError, match="'weights' has 10 samples but X has 256"):
        est.predict(X, weights=W[:10])
    with pytest.raises(ValueError, match=r"fitted with the side information \['weights'\]"):
        est.predict(X)


class MatrixSmoothing(Problem):
    """Samples are matrices: s <- s + step (x - s) + smooth * (row average of s - s)."""

    hyperparameters = {"step": 0.3, "smooth": 0.1}

    def initial_state(self, x):
        return torch.zeros_like(x)

    def step(self, s, x, step, smooth):
        return s + step * (x - s) + smooth * (s.mean(dim=-1, keepdim=True) - s)

    def objective(self, s, x):
        return 0.5 * ((x - s) ** 2).sum(dim=(1, 2))


def test_nd_input_through_split_batching_and_validation():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(120, 3, 4))
    est = UnfoldedRegressor(MatrixSmoothing(), n_layers=4, max_epochs=3, batch_size=16,
                            early_stopping=EarlyStopping(validation_fraction=0.25),
                            random_state=0)
    est.fit(X, X)
    assert est.n_features_in_ == 3
    assert "valid_loss" in est.history_[-1]
    assert est.predict(X).shape == (120, 3, 4)
    assert [p.shape for p in est.staged_predict(X[:5])] == [(5, 3, 4)] * 4
    with pytest.raises(ValueError, match=r"samples of shape \(3, 5\).*fitted on samples of shape "
                                         r"\(3, 4\)"):
        est.predict(rng.normal(size=(5, 3, 5)))
    with pytest.raises(ValueError, match="Expected a 2-D X"):
        est.predict(X[0, 0])


class ComplexAveraging(Problem):
    complex_input = True
    hyperparameters = {"step": 0.5}

    def initial_state(self, x):
        return torch.zeros_like(x)

    def step(self, s, x, step):
        return s + step * (x - s)

    def objective(self, s, x):
        return 0.5 * (torch.abs(x - s) ** 2).sum(dim=1)


@pytest.mark.parametrize("paradigm", ["classical", "hyperparameters", "correction", "dnn"])
def test_complex_input_stays_complex(paradigm):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(64, 3)) + 1j * rng.normal(size=(64, 3))
    est = UnfoldedRegressor(ComplexAveraging(), n_layers=3, paradigm=paradigm, max_epochs=2,
                            random_state=0).fit(X, X)
    pred = est.predict(X)
    assert pred.dtype == np.complex128 and pred.shape == (64, 3)
    assert est.predict(X.astype(np.complex64)).dtype == np.complex64
    if paradigm == "classical":
        assert_allclose(pred, (1 - 0.5 ** 3) * X, rtol=1e-12)
    # a real-valued problem rejects complex data
    with pytest.raises(ValueError, match="Complex data not supported"):
        UnfoldedRegressor(MatrixSmoothing()).fit(X)


def test_float32_input_gives_float32_output(nnls):
    X = nnls["X"].astype(np.float32)
    est = _est("hyperparameters", nnls["A"], max_epochs=1).fit(X, nnls["S"])
    assert est.predict(X).dtype == np.float32
    assert est.predict(nnls["X"]).dtype == np.float64


# -- problems whose step differentiates, clipping, models that change size ------------------

class AutogradDescent(Problem):
    """Gradient descent on 1/2 ||x - s||^2 with the gradient taken by autograd in the step."""

    step_uses_autograd = True
    hyperparameters = {"step": 0.3}

    def initial_state(self, x):
        return torch.zeros_like(x)

    def step(self, s, x, step):
        if not s.requires_grad:
            s = s.requires_grad_()
        (grad,) = torch.autograd.grad(self.objective(s, x).sum(), s, create_graph=True)
        return s - step * grad

    def objective(self, s, x):
        return 0.5 * ((x - s) ** 2).sum(dim=1)


@pytest.mark.parametrize("paradigm", ["classical", "hyperparameters"])
def test_a_step_may_use_autograd(paradigm):
    X = np.random.default_rng(4).normal(size=(64, 3))
    est = UnfoldedRegressor(AutogradDescent(), n_layers=3, paradigm=paradigm, max_epochs=5,
                            lr=0.1, random_state=0).fit(X, X)
    pred = est.predict(X)
    assert not np.any(np.isnan(pred))
    if paradigm == "classical":
        assert_allclose(pred, (1 - 0.7 ** 3) * X, rtol=1e-12)
    else:  # learned steps move towards 1 (one step solves the problem)
        assert np.abs(pred - X).max() < 0.5 * np.abs((1 - 0.7 ** 3) * X - X).max()


def test_gradient_clipping(nnls):
    kw = dict(max_epochs=1, lr=0.5)
    free = _est("hyperparameters", nnls["A"], optimizer="sgd", **kw).fit(nnls["X"], nnls["S"])
    clipped = _est("hyperparameters", nnls["A"], optimizer=Optimizer("sgd", max_grad_norm=1e-6),
                   **kw).fit(nnls["X"], nnls["S"])
    untrained = _est("hyperparameters", nnls["A"], max_epochs=0).fit(nnls["X"], nnls["S"])
    # steps of norm lr * 1e-6 barely move the model; without clipping it moves
    X = nnls["X_test"]
    moved = np.abs(free.predict(X) - untrained.predict(X)).max()
    barely = np.abs(clipped.predict(X) - untrained.predict(X)).max()
    assert moved > 1e-3 and barely < 1e-4
    with pytest.raises(ValueError, match="optimizer__max_grad_norm must be > 0"):
        _est("hyperparameters", nnls["A"], optimizer=Optimizer(max_grad_norm=0.0)).fit(
            nnls["X"], nnls["S"])


class AnySizeRegressor(UnfoldedRegressor):
    """A preset whose fitted model runs on samples of another size."""

    supports = UnfoldedRegressor.supports | {"variable_input_shape"}


def test_variable_input_shape_lets_a_model_change_size():
    rng = np.random.default_rng(5)
    est = AnySizeRegressor(MatrixSmoothing(), n_layers=2, max_epochs=1).fit(
        rng.normal(size=(32, 3, 4)))
    assert est.predict(rng.normal(size=(5, 6, 7))).shape == (5, 6, 7)
    with pytest.raises(ValueError, match="X has 6 features, but UnfoldedRegressor is expecting 3"):
        UnfoldedRegressor(MatrixSmoothing(), n_layers=2, max_epochs=1).fit(
            rng.normal(size=(32, 3, 4))).predict(rng.normal(size=(5, 6, 7)))


class StartsFromHalfStep(UnfoldedRegressor):
    """A preset overriding the ``initialize_parameters`` hook: layers start at half the step."""

    def initialize_parameters(self, module, X, y=None, **side_information):
        self.init_calls_ = getattr(self, "init_calls_", 0) + 1
        self.init_saw_ = (np.shape(X), None if y is None else np.shape(y))
        with torch.no_grad():
            for layer in module.iterations:
                layer.hyperparameters.raw["step"] -= np.log(2.0)


def test_initialize_parameters_hook_sets_the_start_of_a_fresh_fit_only(nnls):
    A, X, S = nnls["A"], nnls["X"], nnls["S"]
    base = dict(paradigm="hyperparameters", n_layers=3, max_epochs=0, random_state=0)
    plain = UnfoldedRegressor(NonNegativeLeastSquares(A), **base).fit(X, S)
    est = StartsFromHalfStep(NonNegativeLeastSquares(A), **base).fit(X, S)
    assert est.init_calls_ == 1 and est.init_saw_ == (X.shape, S.shape)
    step = 1.0 / np.linalg.norm(A, 2) ** 2
    for model, expected in ((plain, step), (est, step / 2)):
        values = [float(layer.hyperparameters(model.module_.problem, k)["step"].detach())
                  for k, layer in enumerate(model.module_.iterations)]
        assert_allclose(values, expected, rtol=1e-5)
    # a warm start continues from the fitted parameters: the hook is not called again
    est.set_params(warm_start=True).fit(X, S)
    assert est.init_calls_ == 1
    # nor for a classical solver, which has nothing to start
    classical = StartsFromHalfStep(NonNegativeLeastSquares(A), paradigm="classical").fit(X)
    assert not hasattr(classical, "init_calls_")
