"""scikit-learn integration: clone, parameters, pickling, Pipeline + GridSearchCV (joblib, dask)."""

import pickle
import re
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from skunfold.core import MultiIteration, Safeguard, Sequential
from skunfold.metrics import nmse_db, nmse_scorer
from skunfold.sparse import FISTA, ISTA, HyperLISTA, UnfoldedISTA

ALL = [
    UnfoldedISTA(n_layers=3, paradigm="objective", coupling="cp", support_selection=(1.0, 5.0),
                 loss_schedule=MultiIteration("uniform"), max_epochs=2, random_state=0),
    UnfoldedISTA(n_layers=3, paradigm="correction", hidden_layer_sizes=(8, 4), max_epochs=2,
                 random_state=0),
    UnfoldedISTA(n_layers=3, paradigm="dnn", hidden_layer_sizes=(4,), max_epochs=2,
                 random_state=0),
    # 3 epochs: one per layer, as the sequential schedule shares max_epochs among its stages
    UnfoldedISTA(n_layers=3, weights="analytic", momentum=True, max_epochs=3, random_state=0,
                 loss_schedule="sequential"),
    ISTA(n_layers=5),
    FISTA(n_layers=5),
    HyperLISTA(n_layers=3, c_support=0.3),
]


@pytest.mark.parametrize("est", ALL, ids=lambda e: type(e).__name__)
def test_get_set_params_and_clone(sparse_problem, est):
    est = clone(est).set_params(dictionary=sparse_problem["D"])
    params = est.get_params()
    assert params["dictionary"] is sparse_problem["D"]
    assert "n_layers" in params and "device" in params and params["device"] == "auto"
    est.set_params(n_layers=2)
    assert est.n_layers == 2 and est.get_params()["n_layers"] == 2
    with pytest.raises(ValueError, match="Invalid parameter"):
        est.set_params(n_layer=2)
    est.fit(sparse_problem["X"][:64], sparse_problem["S"][:64])
    cloned = clone(est)
    assert not hasattr(cloned, "n_features_in_")
    for key, value in est.get_params().items():
        other = cloned.get_params()[key]
        if isinstance(value, np.ndarray):
            assert_array_equal(other, value)  # clone copies array parameters
        else:
            assert other == value
    # a clone refits to the same model (random_state fixed / nothing random)
    X = sparse_problem["X_test"]
    assert_array_equal(cloned.fit(sparse_problem["X"][:64], sparse_problem["S"][:64]).predict(X),
                       est.predict(X))


@pytest.mark.parametrize("est", ALL, ids=lambda e: type(e).__name__)
def test_pickle_round_trip(sparse_problem, est):
    est = clone(est).set_params(dictionary=sparse_problem["D"])
    X = sparse_problem["X_test"]
    unfitted = pickle.loads(pickle.dumps(est))
    assert unfitted.get_params()["n_layers"] == est.n_layers
    est.fit(sparse_problem["X"][:64], sparse_problem["S"][:64])
    loaded = pickle.loads(pickle.dumps(est))
    assert_array_equal(loaded.predict(X), est.predict(X))
    staged, staged_loaded = list(est.staged_predict(X)), list(loaded.staged_predict(X))
    assert len(staged_loaded) == len(staged)
    assert_array_equal(staged_loaded[0], staged[0])
    assert loaded.n_features_in_ == est.n_features_in_


def test_pickled_gpu_net_loads_on_cpu(sparse_problem):
    """A net recorded as trained on CUDA unpickles on a CPU-only machine (device -> cpu).

    skorch maps CUDA tensors to the CPU when CUDA is not available; this machine has
    no GPU, so the net is marked as a CUDA net before pickling to take that path.
    """
    import torch

    if torch.cuda.is_available():  # then the real thing is tested below on the GPU itself
        est = UnfoldedISTA(sparse_problem["D"], n_layers=3, max_epochs=1, device="cuda",
                           random_state=0).fit(sparse_problem["X"][:64], sparse_problem["S"][:64])
    else:
        est = UnfoldedISTA(sparse_problem["D"], n_layers=3, max_epochs=1, device="cpu",
                           random_state=0).fit(sparse_problem["X"][:64], sparse_problem["S"][:64])
        est.net_.device = "cuda"
    expected = est.predict(sparse_problem["X_test"])
    blob = pickle.dumps(est)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # skorch: "no CUDA devices are available"
        loaded = pickle.loads(blob)
    if not torch.cuda.is_available():
        assert str(loaded.net_.device) == "cpu"
    assert_allclose(loaded.predict(sparse_problem["X_test"]), expected, rtol=1e-6, atol=1e-7)


# -- grid search ------------------------------------------------------------------------------

def _scale(X):
    return 2.0 * X


def _search_setup(sparse_problem):
    X, S = sparse_problem["X"][:120], sparse_problem["S"][:120]
    # the FunctionTransformer doubles X, so the model is given the dictionary 2 D;
    # lr is left to its default (per paradigm)
    pipe = Pipeline([
        ("double", FunctionTransformer(_scale)),
        ("coder", UnfoldedISTA(2.0 * sparse_problem["D"], max_epochs=6, batch_size=30,
                               random_state=0, device="cpu")),
    ])
    # the sequential schedule runs 3 epochs per layer at depth 2 and 2 per layer at depth 4
    # (6 and 8 epochs in all); end to end runs max_epochs=6
    grid = [{
        "coder__n_layers": [n_layers],
        "coder__loss_schedule": ["end_to_end", Sequential(epochs_per_stage=epochs)],
        "coder__paradigm": ["hyperparameters", "objective"],
    } for n_layers, epochs in ((2, 3), (4, 2))]
    return pipe, grid, X, S


def _schedule_name(schedule):
    return schedule if isinstance(schedule, str) else schedule.alias


def _search(pipe, grid, n_jobs):
    return GridSearchCV(pipe, grid, scoring=nmse_scorer, n_jobs=n_jobs,
                        cv=KFold(2, shuffle=True, random_state=0))


@pytest.fixture(scope="module")
def serial_search(sparse_problem):
    pipe, grid, X, S = _search_setup(sparse_problem)
    return _search(pipe, grid, n_jobs=None).fit(X, S)


def test_pipeline_grid_search(serial_search, sparse_problem):
    search = serial_search
    scores = search.cv_results_["mean_test_score"]
    assert len(scores) == 8 and np.all(np.isfinite(scores))
    # 4 layers with learned step sizes and thresholds win; deeper is better for them
    assert search.best_params_["coder__n_layers"] == 4
    assert search.best_params_["coder__paradigm"] == "hyperparameters"
    by = {(p["coder__n_layers"], _schedule_name(p["coder__loss_schedule"]),
           p["coder__paradigm"]): s for p, s in zip(search.cv_results_["params"], scores)}
    assert len(by) == 8
    for schedule in ("end_to_end", "sequential"):
        assert by[4, schedule, "hyperparameters"] > by[2, schedule, "hyperparameters"]
    # the refitted pipeline predicts through the transformer
    best = search.best_estimator_
    X_test, S_test = sparse_problem["X_test"], sparse_problem["S_test"]
    assert best.named_steps["coder"].n_features_in_ == 20
    assert -search.score(X_test, S_test) == pytest.approx(nmse_db(S_test, best.predict(X_test)))
    assert nmse_db(S_test, best.predict(X_test)) < -3.0


@pytest.mark.slow
def test_pipeline_grid_search_with_two_processes(serial_search, sparse_problem):
    pipe, grid, X, S = _search_setup(sparse_problem)
    parallel = _search(pipe, grid, n_jobs=2).fit(X, S)
    # worker processes give the numbers of the serial run (deterministic CPU training)
    assert_allclose(parallel.cv_results_["mean_test_score"],
                    serial_search.cv_results_["mean_test_score"], rtol=1e-6)
    assert_array_equal(parallel.cv_results_["rank_test_score"],
                       serial_search.cv_results_["rank_test_score"])


def test_loss_schedule_objects_in_a_grid(sparse_problem):
    X, S = sparse_problem["X"][:80], sparse_problem["S"][:80]
    est = UnfoldedISTA(sparse_problem["D"], n_layers=2, max_epochs=2, random_state=0)
    grid = {"loss_schedule": [MultiIteration("log"), Sequential(epochs_per_stage=1)]}
    search = GridSearchCV(est, grid, scoring=nmse_scorer, cv=2).fit(X, S)
    scores = search.cv_results_["mean_test_score"]
    assert len(scores) == 2
    # each candidate's score is that of the estimator trained with that schedule object
    for schedule, score in zip(grid["loss_schedule"], scores):
        expected = cross_val_score(clone(est).set_params(loss_schedule=schedule), X, S,
                                   scoring=nmse_scorer, cv=2).mean()
        assert score == pytest.approx(expected, rel=1e-6)
    assert scores[0] != pytest.approx(scores[1], rel=1e-3)  # the schedules train differently
    assert search.best_estimator_.loss_schedule == grid["loss_schedule"][np.argmax(scores)]


def test_grid_search_reaches_the_settings_of_option_objects(sparse_problem):
    X, S = sparse_problem["X"][:80], sparse_problem["S"][:80]
    est = UnfoldedISTA(sparse_problem["D"], n_layers=2, max_epochs=2, random_state=0,
                       safeguard=Safeguard(), loss_schedule=MultiIteration())
    grid = {"safeguard__delta": [0.01, 0.2], "loss_schedule__unsupervised_weight": [0.5]}
    search = GridSearchCV(est, grid, scoring=nmse_scorer, cv=2).fit(X, S)
    assert [p["safeguard__delta"] for p in search.cv_results_["params"]] == [0.01, 0.2]
    best = search.best_estimator_
    assert best.safeguard.delta == search.best_params_["safeguard__delta"]
    assert best.loss_schedule == MultiIteration(unsupervised_weight=0.5)
    assert est.safeguard == Safeguard() and est.loss_schedule == MultiIteration()


@pytest.mark.slow
def test_grid_search_on_a_dask_cluster_matches_serial(serial_search, sparse_problem):
    """The route to a cluster: joblib's dask backend, a scheduler and workers on loopback TCP.

    Worker threads (``processes=False``) keep the test short; the tasks still travel
    serialised over TCP, and worker processes are exercised by the ``n_jobs=2`` test.
    """
    import joblib
    from distributed import Client, LocalCluster, get_task_stream

    pipe, grid, X, S = _search_setup(sparse_problem)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with LocalCluster(host="127.0.0.1", protocol="tcp://", n_workers=2, threads_per_worker=1,
                          processes=False, dashboard_address=None) as cluster, \
                Client(cluster) as client:
            assert len(client.scheduler_info()["workers"]) == 2
            assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
            with get_task_stream(client) as stream, joblib.parallel_backend("dask"):
                on_dask = _search(pipe, grid, n_jobs=-1).fit(X, S)
    # the 8 candidates x 2 folds ran as tasks on the cluster's two workers (joblib
    # batches calls into tasks named "batch_of__fit_and_score_<n>_calls")
    n_calls = sum(int(re.search(r"_(\d+)_calls", task["key"]).group(1))
                  if "_calls" in task["key"] else 1 for task in stream.data)
    assert n_calls >= 16
    assert len({task["worker"] for task in stream.data}) == 2
    assert_array_equal(on_dask.cv_results_["rank_test_score"],
                       serial_search.cv_results_["rank_test_score"])
    assert_allclose(on_dask.cv_results_["mean_test_score"],
                    serial_search.cv_results_["mean_test_score"], rtol=1e-6)
    assert on_dask.best_params_ == serial_search.best_params_
