"""Inference: staged predictions, depth, dtypes, batching, other dictionaries, HyperLISTA."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from skunfold.datasets import make_sparse_recovery
from skunfold.metrics import nmse_db
from skunfold.sparse import FISTA, ISTA, HyperLISTA, UnfoldedISTA, fista_momentum


def _est(D, **kw):
    params = dict(n_layers=4, max_epochs=3, batch_size=32, random_state=0, device="cpu")
    params.update(kw)
    return UnfoldedISTA(D, **params)


@pytest.fixture(scope="module")
def fitted(sparse_problem):
    """One trained model per paradigm (tiny training: these tests look at inference)."""
    p = sparse_problem
    X, S = p["X"][:200], p["S"][:200]
    models = {
        "hyperparameters": _est(p["D"], lr=5e-2),
        "objective": _est(p["D"], paradigm="objective"),
        "correction": _est(p["D"], paradigm="correction", hidden_layer_sizes=(8,)),
        "dnn": _est(p["D"], paradigm="dnn", hidden_layer_sizes=(4,)),
        "classical": _est(p["D"], paradigm="classical"),
        "ISTA": ISTA(p["D"], n_layers=4),
        "FISTA": FISTA(p["D"], n_layers=4),
        "HyperLISTA": HyperLISTA(p["D"], n_layers=4, c_threshold=0.02),
    }
    return {name: est.fit(X, S) for name, est in models.items()}


NAMES = ["hyperparameters", "objective", "correction", "dnn", "classical", "ISTA", "FISTA",
         "HyperLISTA"]


@pytest.mark.parametrize("name", NAMES)
def test_staged_predict_yields_every_layer(fitted, sparse_problem, name):
    est = fitted[name]
    X = sparse_problem["X_test"]
    staged = list(est.staged_predict(X))
    assert len(staged) == 4
    assert all(S_k.shape == (200, 40) for S_k in staged)
    assert_array_equal(staged[-1], est.predict(X))
    assert_array_equal(est.transform(X), est.predict(X))
    # the iterates differ from layer to layer
    assert np.abs(staged[0] - staged[-1]).max() > 1e-3
    # fewer layers: a prefix of the same iterates
    short = list(est.staged_predict(X, n_layers=2))
    assert len(short) == 2
    assert_array_equal(short[1], staged[1])


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_output_dtype_follows_input(fitted, sparse_problem, name, dtype):
    est = fitted[name]
    X = sparse_problem["X_test"][:10].astype(dtype)
    assert est.predict(X).dtype == dtype
    assert est.transform(X).dtype == dtype
    assert all(S_k.dtype == dtype for S_k in est.staged_predict(X))


def test_float32_and_float64_inputs_agree(fitted, sparse_problem):
    X = sparse_problem["X_test"]
    for name in ("objective", "hyperparameters"):
        est = fitted[name]
        assert_allclose(est.predict(X.astype(np.float32)), est.predict(X), rtol=1e-5, atol=1e-6)


def test_classical_solvers_compute_in_the_fit_dtype(sparse_problem):
    p = sparse_problem
    X = p["X_test"]
    est64 = ISTA(p["D"], n_layers=50).fit(X)
    est32 = ISTA(p["D"], n_layers=50).fit(X.astype(np.float32))
    diff = np.abs(est64.predict(X) - est32.predict(X)).max()
    assert 0 < diff < 1e-4  # float32 arithmetic, float64 output


@pytest.mark.parametrize("name", NAMES)
def test_predictions_do_not_depend_on_batching(fitted, sparse_problem, name):
    """Row i of predict(X) is bit for bit predict(X[i:i+1]) (float32 networks included)."""
    est = fitted[name]
    X = sparse_problem["X_test"][:40].astype(np.float32)
    full = est.predict(X)
    rows = np.concatenate([est.predict(X[i:i + 1]) for i in range(len(X))])
    chunks = np.concatenate([est.predict(X[i:i + 7]) for i in range(0, len(X), 7)])
    # the tolerance of scikit-learn's check_methods_subset_invariance
    assert_allclose(rows, full, rtol=1e-7, atol=1e-7)
    assert_allclose(chunks, full, rtol=1e-7, atol=1e-7)


def test_tied_networks_run_deeper_than_trained(fitted, sparse_problem):
    X = sparse_problem["X_test"]
    for name in ("correction", "ISTA"):
        est = fitted[name]
        deep = list(est.staged_predict(X, n_layers=7))
        assert len(deep) == 7
        assert_array_equal(deep[3], est.predict(X))
        assert np.abs(deep[6] - deep[3]).max() > 1e-4
    # a tied correction network trained at K=4 still improves when run to K=7 here
    S = sparse_problem["S_test"]
    deep = list(fitted["correction"].staged_predict(X, n_layers=7))
    assert nmse_db(S, deep[6]) < nmse_db(S, deep[3])


@pytest.mark.parametrize("name", ["hyperparameters", "objective", "dnn"])
def test_untied_networks_refuse_to_run_deeper(fitted, sparse_problem, name):
    with pytest.raises(ValueError, match="cannot be run with n_layers=5"):
        list(fitted[name].staged_predict(sparse_problem["X_test"], n_layers=5))


def test_fista_runs_deeper_with_its_momentum_schedule(fitted, sparse_problem):
    """A classical solver is one iteration asked for its hyperparameters at every k: any depth."""
    X, D = sparse_problem["X_test"], sparse_problem["D"]
    deep = list(fitted["FISTA"].staged_predict(X, n_layers=9))
    assert len(deep) == 9
    assert_array_equal(deep[-1], FISTA(D, n_layers=9).fit(X).predict(X))


def test_one_dimensional_targets(sparse_problem):
    p = sparse_problem
    D = p["D"][:1]  # a single atom: X = s * d
    rng = np.random.default_rng(0)
    s = rng.normal(size=60)
    X = np.outer(s, D[0])
    est = _est(D, n_layers=3, alpha=0.0).fit(X, s)
    pred = est.predict(X)
    assert pred.shape == (60,)
    assert [S_k.shape for S_k in est.staged_predict(X)] == [(60,)] * 3
    assert est.transform(X).shape == (60, 1)
    assert est.score(X, s) > 0.99


def test_score_is_r2(fitted, sparse_problem):
    from sklearn.metrics import r2_score

    est = fitted["objective"]
    X, S = sparse_problem["X_test"], sparse_problem["S_test"]
    assert est.score(X, S) == pytest.approx(r2_score(S, est.predict(X)))


def test_score_without_targets_is_the_objective(fitted, sparse_problem):
    X = sparse_problem["X_test"]
    for name in ("hyperparameters", "objective", "ISTA", "HyperLISTA"):
        est = fitted[name]
        objective = est.objective(X, est.predict(X)).mean()
        assert objective > 0
        assert est.score(X) == pytest.approx(-objective, rel=1e-12)


def test_layer_parameters_list_every_layer(fitted):
    ista = fitted["ISTA"]
    table = ista.layer_parameters_
    assert_array_equal(table["layer"], [1, 2, 3, 4])
    assert_allclose(table["step"], np.full(4, 1 / ista.lipschitz_), rtol=1e-12)
    assert_allclose(table["threshold"], np.full(4, 0.1 / ista.lipschitz_), rtol=1e-12)
    assert_allclose(fitted["FISTA"].layer_parameters_["momentum"],
                    [fista_momentum(k) for k in range(4)], rtol=1e-12)
    # LISTA's learned thresholds, one per layer (its matrices are in module_)
    lista = fitted["objective"]
    table = lista.layer_parameters_
    assert set(table) == {"layer", "threshold"}
    assert_allclose(table["threshold"],
                    [lista.module_.iteration(k).theta.item() for k in range(4)], rtol=1e-6)
    # ALISTA-style learned steps and thresholds, moved away from ISTA's by training
    learned = fitted["hyperparameters"].layer_parameters_
    assert set(learned) == {"layer", "step", "threshold"}
    assert np.abs(learned["threshold"] - 0.1 / ista.lipschitz_).max() > 1e-4
    assert fitted["HyperLISTA"].layer_parameters_["c_threshold"].tolist() == [0.02] * 4


# -- running on another dictionary ------------------------------------------------------

def test_hyperparameters_model_runs_on_another_dictionary(sparse_problem):
    p = sparse_problem
    X_big, S_big, _ = make_sparse_recovery(n_samples=2000, n_measurements=20, n_components=40,
                                           dictionary=p["D"], random_state=3)
    est = _est(p["D"], n_layers=5, lr=5e-2, max_epochs=5).fit(X_big, S_big)
    # another problem, other sizes: m=30, n=60
    X2, S2, D2 = make_sparse_recovery(n_samples=300, n_measurements=30, n_components=60,
                                      random_state=4)
    S_hat = est.predict(X2, dictionary=D2)
    assert S_hat.shape == (300, 60)
    staged = list(est.staged_predict(X2, dictionary=D2))
    assert len(staged) == 5
    assert_array_equal(staged[-1], S_hat)
    assert_array_equal(est.transform(X2, dictionary=D2), S_hat)
    transferred = nmse_db(S2, S_hat)
    ista_db = nmse_db(S2, ISTA(D2, n_layers=5).fit(X2).predict(X2))
    own_db = nmse_db(p["S_test"], est.predict(p["X_test"]))
    assert transferred < ista_db - 3.0, (transferred, ista_db)   # measured: -7.4 vs -3.0 dB
    assert abs(transferred - own_db) < 2.0                       # about what it does on its own H
    # the fitted model itself is untouched
    assert est.predict(p["X_test"]).shape == (200, 40)
    assert est.n_features_in_ == 20


def test_alista_runs_on_another_dictionary(sparse_problem):
    p = sparse_problem
    est = _est(p["D"], n_layers=4, weights="analytic", support_selection=True, lr=5e-2,
               max_epochs=5).fit(p["X"], p["S"])
    X2, S2, D2 = make_sparse_recovery(n_samples=200, n_measurements=30, n_components=60,
                                      random_state=4)
    ista_db = nmse_db(S2, ISTA(D2, n_layers=4).fit(X2).predict(X2))
    assert nmse_db(S2, est.predict(X2, dictionary=D2)) < ista_db - 3.0


def test_classical_solver_on_another_dictionary(sparse_problem):
    p = sparse_problem
    X2, _, D2 = make_sparse_recovery(n_samples=50, n_measurements=30, n_components=60,
                                     random_state=4)
    # fitted on D2 itself: the same as predicting without a dictionary
    on_d2 = ISTA(D2, n_layers=20).fit(X2)
    assert_array_equal(on_d2.predict(X2, dictionary=D2), on_d2.predict(X2))
    # fitted on D: nothing was learned, so it is ISTA on D2 (step 1/L2, threshold alpha/L2)
    est = ISTA(p["D"], n_layers=1, alpha=0.1).fit(p["X"])
    L2 = ISTA(D2, n_layers=1).fit(X2).lipschitz_
    assert L2 != pytest.approx(est.lipschitz_, rel=1e-3)
    z = X2 @ D2.T / L2
    expected = np.sign(z) * np.maximum(np.abs(z) - 0.1 / L2, 0)
    assert_allclose(est.predict(X2, dictionary=D2), expected, rtol=1e-12, atol=1e-14)
    assert_allclose(ISTA(p["D"], n_layers=20).fit(p["X"]).predict(X2, dictionary=D2),
                    on_d2.predict(X2), rtol=1e-12, atol=1e-14)


# -- HyperLISTA ---------------------------------------------------------------------------

def test_hyperlista_constants_matter_and_grid_search_tunes_them(sparse_problem):
    from sklearn.model_selection import GridSearchCV

    from skunfold.metrics import nmse_scorer

    p = sparse_problem
    grid = {"c_threshold": [0.005, 0.02, 0.1], "c_support": [0.0, 0.5]}
    search = GridSearchCV(HyperLISTA(p["D"], n_layers=6), grid, scoring=nmse_scorer, cv=2)
    search.fit(p["X"], p["S"])
    scores = search.cv_results_["mean_test_score"]
    assert scores.max() - scores.min() > 3.0  # dB
    best = search.best_estimator_
    best_db = nmse_db(p["S_test"], best.predict(p["X_test"]))
    ista_db = nmse_db(p["S_test"], ISTA(p["D"], n_layers=6).fit(p["X"]).predict(p["X_test"]))
    assert best_db < ista_db - 3.0, (best_db, ista_db)
    assert best.module_ is not None and best.net_ is None  # nothing trained by backprop
