"""Bad input and invalid parameters: clear errors naming the culprit; failed fits change nothing."""

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_array_equal
from sklearn.exceptions import NotFittedError

from skunfold.core import EarlyStopping, EndToEnd, MultiIteration, TrainingDivergedError
from skunfold.datasets import make_sparse_recovery
from skunfold.sparse import FISTA, ISTA, HyperLISTA, UnfoldedISTA


@pytest.fixture(scope="module")
def small():
    X, S, D = make_sparse_recovery(n_samples=48, n_measurements=6, n_components=10,
                                   random_state=0)
    return X, S, D


def _lista(D, **kw):
    params = dict(n_layers=2, max_epochs=1, batch_size=16, random_state=0, device="cpu")
    params.update(kw)
    return UnfoldedISTA(D, **params)


# -- invalid parameters --------------------------------------------------------------

@pytest.mark.parametrize("params, exc, name", [
    ({"n_layers": -1}, ValueError, "n_layers"),
    ({"n_layers": 0}, ValueError, "n_layers"),
    ({"n_layers": 2.5}, TypeError, "n_layers"),
    ({"n_layers": True}, TypeError, "n_layers"),
    ({"paradigm": "lista"}, ValueError, "paradigm"),
    ({"paradigm": None}, ValueError, "paradigm"),
    ({"loss_schedule": "layerwise"}, ValueError, "loss_schedule"),
    ({"loss_schedule": MultiIteration([1.0, 2.0, 3.0])}, ValueError, "n_layers=2"),
    ({"optimizer": "adagrad"}, ValueError, "optimizer"),
    ({"optimizer": int}, ValueError, "optimizer"),
    ({"max_epochs": -1}, ValueError, "max_epochs"),
    ({"lr": 0.0}, ValueError, "lr"),
    ({"lr": -1e-3}, ValueError, "lr"),
    ({"lr": float("inf")}, ValueError, "lr"),
    ({"lr": "fast"}, TypeError, "lr"),
    ({"batch_size": 0}, ValueError, "batch_size"),
    ({"batch_size": -2}, ValueError, "batch_size"),
    ({"early_stopping": "yes"}, TypeError, "early_stopping"),
    ({"early_stopping": EarlyStopping(validation_fraction=0.0)}, ValueError,
     "validation_fraction"),
    ({"early_stopping": EarlyStopping(validation_fraction=1.0)}, ValueError,
     "validation_fraction"),
    ({"early_stopping": EarlyStopping(n_iter_no_change=0)}, ValueError, "n_iter_no_change"),
    ({"loss_schedule": EndToEnd(unsupervised_weight=-1.0)}, ValueError, "unsupervised_weight"),
    ({"verbose": -1}, ValueError, "verbose"),
    ({"device": "tpu-ish"}, ValueError, "device"),
    ({"device": 0}, ValueError, "device"),
    ({"alpha": -0.1}, ValueError, "alpha"),
    ({"weights": "learned"}, ValueError, "weights"),
    ({"coupling": "full"}, ValueError, "coupling"),
    ({"support_selection": "yes"}, ValueError, "support_selection"),
    ({"support_selection": (0.0, 10.0)}, ValueError, "support_selection"),
    ({"support_selection": (1.0, 200.0)}, ValueError, "support_selection"),
    ({"support_selection": True, "paradigm": "dnn"}, ValueError, "support_selection"),
    ({"momentum": "yes"}, TypeError, "momentum"),
    ({"tied": "yes"}, TypeError, "tied"),
    ({"hidden_layer_sizes": ()}, ValueError, "hidden_layer_sizes"),
    ({"hidden_layer_sizes": (0,)}, ValueError, "hidden_layer_sizes"),
    ({"hidden_layer_sizes": (2.5,)}, ValueError, "hidden_layer_sizes"),
    ({"hidden_layer_sizes": "abc"}, ValueError, "hidden_layer_sizes"),
    ({"hidden_layer_sizes": 5}, ValueError, "hidden_layer_sizes"),
])
def test_invalid_parameters_unfolded(small, params, exc, name):
    X, S, D = small
    est = _lista(D, **params)
    with pytest.raises(exc, match=name):
        est.fit(X, S)
    assert not hasattr(est, "n_features_in_")  # nothing was fitted


@pytest.mark.parametrize("est, exc, name", [
    (ISTA(n_layers=0), ValueError, "n_layers"),
    (ISTA(alpha=-1.0), ValueError, "alpha"),
    (FISTA(n_layers=-3), ValueError, "n_layers"),
    (FISTA(alpha="big"), TypeError, "alpha"),
    (ISTA(device="gpu0"), ValueError, "device"),
    (HyperLISTA(c_threshold=-0.1), ValueError, "c_threshold"),
    (HyperLISTA(c_momentum=np.nan), ValueError, "c_momentum"),
    (HyperLISTA(c_support=-1.0), ValueError, "c_support"),
    (HyperLISTA(n_layers=0), ValueError, "n_layers"),
])
def test_invalid_parameters_classical_and_hyperlista(small, est, exc, name):
    X, S, D = small
    est.set_params(dictionary=D)
    with pytest.raises(exc, match=name):
        est.fit(X)


# -- bad data -----------------------------------------------------------------------

def _with(X, value):
    X = X.copy()
    X[3, 2] = value
    return X


@pytest.mark.parametrize("make_X, exc, match", [
    (lambda X: _with(X, np.nan), ValueError, "Input X contains NaN"),
    (lambda X: _with(X, np.inf), ValueError, "Input X contains infinity"),
    (lambda X: sp.csr_matrix(X), TypeError, "Sparse data was passed for X"),
    (lambda X: X + 1j, ValueError, "X must be real-valued"),
    (lambda X: X[:0], ValueError, "0 sample"),
    (lambda X: X[:, :, None], ValueError, "dim 3"),
])
@pytest.mark.parametrize("make_est", [
    lambda D: _lista(D, paradigm="objective"),
    lambda D: ISTA(D, n_layers=3),
    lambda D: HyperLISTA(D, n_layers=3),
])
def test_bad_X_at_fit(small, make_X, exc, match, make_est):
    X, S, D = small
    est = make_est(D)
    with pytest.raises(exc, match=match):
        est.fit(make_X(X), S)


@pytest.mark.parametrize("make_X, exc, match", [
    (lambda X: _with(X, np.nan), ValueError, "Input X contains NaN"),
    (lambda X: _with(X, -np.inf), ValueError, "Input X contains infinity"),
    (lambda X: sp.csr_matrix(X), TypeError, "Sparse data was passed for X"),
    (lambda X: X + 1j, ValueError, "X must be real-valued"),
    (lambda X: X[:, :5], ValueError, "X has 5 features, but UnfoldedISTA is expecting 6"),
    (lambda X: X[0], ValueError, r"Expected a 2-D X .* got a 1-D array of shape \(6,\)"),
])
@pytest.mark.parametrize("method", ["predict", "transform", "staged_predict", "score"])
def test_bad_X_at_predict(small, make_X, exc, match, method):
    X, S, D = small
    est = _lista(D).fit(X, S)
    bad = make_X(X)
    with pytest.raises(exc, match=match):
        if method == "staged_predict":
            list(est.staged_predict(bad))
        elif method == "score":
            est.score(bad, S)
        else:
            getattr(est, method)(bad)


def test_wrong_feature_count_for_classical(small):
    X, S, D = small
    est = ISTA(D, n_layers=3).fit(X)
    with pytest.raises(ValueError, match="X has 7 features, but ISTA is expecting 6"):
        est.predict(np.ones((2, 7)))


def test_dictionary_disagreeing_with_X(small):
    X, S, D = small
    with pytest.raises(ValueError, match=r"dictionary has shape \(10, 4\).*n_features=6"):
        _lista(D[:, :4]).fit(X, S)
    # the column convention H (n_features, n_components) is detected and explained
    with pytest.raises(ValueError, match="pass its transpose"):
        _lista(D.T).fit(X, S)
    with pytest.raises(ValueError, match="pass its transpose"):
        ISTA(D.T).fit(X)
    with pytest.raises(ValueError, match="Input dictionary contains NaN"):
        _lista(np.full_like(D, np.nan)).fit(X, S)
    with pytest.raises(ValueError, match="dictionary"):
        HyperLISTA(D[:, :5]).fit(X)


def test_bad_y(small):
    X, S, D = small
    est = _lista(D)
    with pytest.raises(ValueError, match="y has 47 samples but X has 48"):
        est.fit(X, S[:-1])
    with pytest.raises(ValueError, match="y has 3 columns but the dictionary has 10 atoms"):
        est.fit(X, S[:, :3])
    with pytest.raises(ValueError, match="dim 3"):
        est.fit(X, S[:, :, None])
    with pytest.raises(ValueError, match="Input y contains infinity"):
        est.fit(X, _with(S, np.inf))
    with pytest.raises(ValueError, match="y must be real-valued"):
        est.fit(X, S + 1j)
    with pytest.raises(ValueError, match="only partly NaN"):
        est.fit(X, _with(S, np.nan))
    assert not hasattr(est, "n_features_in_")


def test_no_dictionary_and_no_targets(small):
    X, _, _ = small
    for est in (UnfoldedISTA(max_epochs=1), ISTA(), HyperLISTA()):
        with pytest.raises(ValueError, match="requires y to be passed"):
            est.fit(X)


def test_objective_checks_shapes(small):
    X, S, D = small
    est = ISTA(D, n_layers=3).fit(X)
    with pytest.raises(ValueError, match=r"S has shape \(48, 3\)"):
        est.objective(X, S[:, :3])
    with pytest.raises(ValueError, match=r"S has shape \(47, 10\)"):
        est.objective(X, S[:-1])
    # one sample with a 1-D code is accepted
    assert est.objective(X[:1], S[0]).shape == (1,)


def test_untied_network_cannot_run_deeper(small):
    X, S, D = small
    est = _lista(D, paradigm="objective", n_layers=3).fit(X, S)
    with pytest.raises(ValueError, match="n_layers=5"):
        list(est.staged_predict(X, n_layers=5))
    with pytest.raises(ValueError, match="n_layers must be >= 1"):
        list(est.staged_predict(X, n_layers=0))


def test_other_dictionary_refused_for_learned_matrices(small):
    X, S, D = small
    for paradigm in ("objective", "correction", "dnn"):
        est = _lista(D, paradigm=paradigm).fit(X, S)
        with pytest.raises(ValueError, match=f"paradigm='{paradigm}'"):
            est.predict(X, dictionary=D)
    est = _lista(D, paradigm="hyperparameters").fit(X, S)
    with pytest.raises(ValueError, match=r"dictionary has shape \(10, 3\).*n_features=6"):
        est.predict(X, dictionary=D[:, :3])


# -- not fitted -----------------------------------------------------------------------

@pytest.mark.parametrize("est", [UnfoldedISTA(), ISTA(), FISTA(), HyperLISTA()])
def test_not_fitted(small, est):
    X, S, _ = small
    with pytest.raises(NotFittedError):
        est.predict(X)
    with pytest.raises(NotFittedError):
        est.transform(X)
    with pytest.raises(NotFittedError):
        list(est.staged_predict(X))
    with pytest.raises(NotFittedError):
        est.objective(X, S)
    with pytest.raises(NotFittedError):
        est.score(X, S)


# -- failures leave a fitted estimator intact ------------------------------------------

@pytest.mark.parametrize("paradigm", ["objective", "hyperparameters"])
@pytest.mark.parametrize("warm_start", [False, True])
def test_diverged_fit_keeps_previous_state(small, paradigm, warm_start):
    X, S, D = small
    est = _lista(D, paradigm=paradigm, n_layers=3, lr=1e-3, warm_start=warm_start).fit(X, S)
    before = est.predict(X)
    history_before = len(est.history_)
    net_before = est.net_
    est.set_params(lr=1e6, max_epochs=3)
    with pytest.raises(TrainingDivergedError, match="diverged.*lower `lr`"):
        est.fit(X, S)
    assert est.net_ is net_before
    assert len(est.history_) == history_before
    assert_array_equal(est.predict(X), before)


def test_diverged_fit_on_overflowing_data(small):
    X, S, D = small
    est = _lista(D, paradigm="objective").fit(X, S)
    before = est.predict(X)
    with pytest.raises(TrainingDivergedError):
        est.fit(X * 1e30, S)  # finite in float64, infinite loss in float32
    assert_array_equal(est.predict(X), before)
    assert est.n_features_in_ == 6


def test_failed_validation_keeps_previous_state(small):
    X, S, D = small
    est = _lista(D).fit(X, S)
    before = est.predict(X)
    with pytest.raises(ValueError, match="dictionary"):
        est.fit(X[:, :4], S)
    assert est.n_features_in_ == 6
    assert_array_equal(est.predict(X), before)
    with pytest.raises(ValueError, match="n_layers"):
        est.set_params(n_layers=-1).fit(X, S)
    assert_array_equal(est.predict(X), before)


def test_finite_but_exploded_loss_is_reported_as_divergence(small):
    X, S, D = small
    est = _lista(D, paradigm="objective", lr=1e-3).fit(X, S)
    before = est.predict(X)
    # Adam at lr=3 keeps the loss finite (9.3) but far above the untrained model's (0.06)
    est.set_params(lr=3.0, max_epochs=2)
    with pytest.raises(TrainingDivergedError,
                       match="worse than the untrained model.* by more than 10x"):
        est.fit(X, S)
    assert_array_equal(est.predict(X), before)


def test_exact_untrained_model_is_not_a_divergence_reference():
    """One atom, alpha=0: ISTA is exact (loss ~1e-15); round-off after training is fine."""
    rng = np.random.default_rng(0)
    d = rng.normal(size=(1, 5))
    s = rng.normal(size=40)
    X = np.outer(s, d[0])
    est = _lista(d / np.linalg.norm(d), alpha=0.0, lr=1e-3, max_epochs=2)
    est.fit(X / np.linalg.norm(d), s)
    assert est.score(X / np.linalg.norm(d), s) > 0.999
