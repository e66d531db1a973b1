"""LISTA-CP started from a trained ALISTA (``UnfoldedISTA(init=...)``)."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.base import clone

from skunfold.core import SampleSource
from skunfold.datasets import make_sparse_recovery
from skunfold.metrics import nmse_db
from skunfold.sparse import UnfoldedISTA

CP = dict(paradigm="objective", coupling="cp", n_layers=5, max_epochs=8, random_state=0)


@pytest.fixture(scope="module")
def data():
    X, S, D = make_sparse_recovery(1500, 20, 40, 0.1, random_state=0)
    Xt, St, _ = make_sparse_recovery(400, 20, 40, 0.1, dictionary=D, random_state=1)
    return D, X, S, Xt, St


@pytest.fixture(scope="module")
def started(data):
    """LISTA-CP from ALISTA, refined at a learning rate too small to move it."""
    D, X, S, _, _ = data
    return UnfoldedISTA(D, init="alista", **dict(CP, lr=1e-12)).fit(X, S)


def test_start_computes_what_the_trained_alista_computes(data, started):
    _, _, _, Xt, St = data
    alista = started.init_estimator_
    assert alista.paradigm == "hyperparameters" and alista.weights == "analytic"
    assert alista.n_layers == started.n_layers and alista.max_epochs == started.max_epochs
    assert_allclose(started.predict(Xt), alista.predict(Xt), atol=1e-4)
    for mine, its in zip(started.staged_predict(Xt), alista.staged_predict(Xt)):
        assert_allclose(mine, its, atol=1e-4)
    # ALISTA trained for real: far better than ISTA's 5 iterations (-2.9 dB)
    assert nmse_db(St, alista.predict(Xt)) < -12.0


def test_start_beats_the_ista_start_at_equal_budget(data, started):
    D, X, S, Xt, St = data
    refined = UnfoldedISTA(D, init="alista", **dict(CP, lr=1e-4)).fit(X, S)
    plain = UnfoldedISTA(D, **CP).fit(X, S)
    start_db = nmse_db(St, started.predict(Xt))
    assert nmse_db(St, refined.predict(Xt)) < start_db + 0.5  # the refinement keeps the start
    assert nmse_db(St, refined.predict(Xt)) < nmse_db(St, plain.predict(Xt)) - 3.0
    assert plain.init_estimator_ is None


def test_init_estimator_with_its_own_training_parameters(data):
    D, X, S, Xt, St = data
    prototype = UnfoldedISTA(paradigm="hyperparameters", weights="analytic", n_layers=2,
                             max_epochs=3, lr=0.05, random_state=1)
    est = UnfoldedISTA(D, init=prototype, **dict(CP, lr=1e-12)).fit(X, S)
    fitted = est.init_estimator_
    assert fitted is not prototype and not hasattr(prototype, "module_")  # a clone was fitted
    assert fitted.n_layers == est.n_layers and fitted.max_epochs == 3
    assert_allclose(fitted.dictionary_, D)
    assert_allclose(est.predict(Xt), fitted.predict(Xt), atol=1e-4)
    assert clone(est).get_params()["init__max_epochs"] == 3


def test_start_from_a_sample_source(data):
    D, _, _, Xt, St = data

    def sampler(n, random_state=None):
        X, S, _ = make_sparse_recovery(n, 20, 40, 0.1, dictionary=D, random_state=random_state)
        return X, S

    source = SampleSource(sampler, n_samples_per_epoch=500, validation=200)
    est = UnfoldedISTA(D, init="alista", **dict(CP, lr=1e-12)).fit(source)
    assert_allclose(est.predict(Xt), est.init_estimator_.predict(Xt), atol=1e-4)
    assert nmse_db(St, est.predict(Xt)) < -10.0  # ISTA's 5 iterations: -2.9 dB


@pytest.mark.parametrize("params, match", [
    (dict(paradigm="hyperparameters", init="alista"), "paradigm='objective', coupling='cp'"),
    (dict(paradigm="objective", init="alista"), "coupling='cp'"),
    (dict(paradigm="objective", coupling="cp", tied=True, init="alista"), "untied"),
    (dict(paradigm="objective", coupling="cp", init="lista"), "init must be"),
    (dict(paradigm="objective", coupling="cp", init=UnfoldedISTA(paradigm="objective")),
     "init must be"),
])
def test_bad_init_is_rejected_and_loses_nothing(data, params, match):
    D, X, S, Xt, _ = data
    est = UnfoldedISTA(D, n_layers=2, max_epochs=1, random_state=0).fit(X, S)
    before = est.predict(Xt)
    with pytest.raises(ValueError, match=match):
        est.set_params(**params).fit(X, S)
    np.testing.assert_array_equal(est.predict(Xt), before)
