"""Training the unfolded sparse coders: gains over ISTA, schedules, supervision, warm start."""

import warnings

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal

from skunfold.core import EarlyStopping, EndToEnd, MultiIteration, Sequential, SequentialEndToEnd
from skunfold.datasets import make_sparse_recovery
from skunfold.metrics import nmse_db
from skunfold.sparse import FISTA, ISTA, DictionaryEstimatedWarning, UnfoldedISTA


def _est(D, **kw):
    params = dict(n_layers=4, max_epochs=5, batch_size=32, random_state=0, device="cpu")
    params.update(kw)
    return UnfoldedISTA(D, **params)


def _layer_params(est, k):
    return [p.detach().clone() for p in est.net_.module_.layer_parameters(k)]


def _same(a, b):
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b))


# -- learned models beat the classical solver ------------------------------------------

def test_trained_lista_beats_ista_on_held_out_data(sparse_problem):
    p = sparse_problem
    X, S, _ = make_sparse_recovery(n_samples=2000, n_measurements=20, n_components=40,
                                   dictionary=p["D"], random_state=2)
    K = 5
    lista = _est(p["D"], n_layers=K, paradigm="objective", lr=3e-3).fit(X, S)
    ista_db = nmse_db(p["S_test"], ISTA(p["D"], n_layers=K).fit(X).predict(p["X_test"]))
    fista_db = nmse_db(p["S_test"], FISTA(p["D"], n_layers=K).fit(X).predict(p["X_test"]))
    lista_db = nmse_db(p["S_test"], lista.predict(p["X_test"]))
    assert ista_db > -3.5 and fista_db > -4.5  # what K=5 iterations of the solvers reach here
    assert lista_db < ista_db - 3.0, (lista_db, ista_db)
    assert lista_db < fista_db - 2.0, (lista_db, fista_db)


@pytest.mark.parametrize("params", [
    dict(paradigm="hyperparameters", lr=5e-2),
    dict(paradigm="hyperparameters", weights="analytic", support_selection=True, lr=5e-2),
    dict(paradigm="objective", coupling="cp", lr=3e-3),
    dict(paradigm="dnn", hidden_layer_sizes=(8,), lr=1e-3),
    dict(paradigm="correction", hidden_layer_sizes=(16,), lr=3e-3),
    dict(paradigm="hyperparameters", momentum=True, lr=5e-2),
], ids=lambda p: "-".join(str(v) for k, v in p.items() if k != "lr"))
def test_every_paradigm_improves_on_ista_at_equal_depth(sparse_problem, params):
    p = sparse_problem
    est = _est(p["D"], **params).fit(p["X"], p["S"])
    ista = ISTA(p["D"], n_layers=4).fit(p["X"])
    losses = est.history_[:, "train_loss"]
    assert len(losses) == 5 and losses[-1] < 0.97 * losses[0]
    # on the training set
    db = nmse_db(p["S"], est.predict(p["X"]))
    assert db < nmse_db(p["S"], ista.predict(p["X"])) - 0.3
    if params["paradigm"] != "correction":
        # held out; the correction network (an MLP on [s, H^T(x - Hs)]) needs more than these
        # 400 samples x 5 epochs to generalise (measured: -2.5 dB vs ISTA's -2.6 dB)
        db = nmse_db(p["S_test"], est.predict(p["X_test"]))
        assert db < nmse_db(p["S_test"], ista.predict(p["X_test"])) - 0.3


# -- loss schedules ----------------------------------------------------------------------

@pytest.mark.parametrize("paradigm", ["hyperparameters", "objective"])
def test_sequential_training_freezes_earlier_layers(sparse_problem, paradigm):
    """Layer k's parameters after a K-layer sequential fit equal those after stage k.

    The fit of a k-layer network with the same seed runs exactly stages 1..k of the
    K-layer fit, so its layers are the K-layer network's layers as they were after
    stage k: later stages left them unchanged.
    """
    p = sparse_problem
    X, S = p["X"][:200], p["S"][:200]
    schedule = Sequential(epochs_per_stage=2)
    fits = {K: _est(p["D"], n_layers=K, paradigm=paradigm, loss_schedule=schedule,
                    lr=5e-2).fit(X, S) for K in (1, 2, 3)}
    init = _est(p["D"], n_layers=3, paradigm=paradigm, max_epochs=0).fit(X, S)
    full = fits[3]
    assert len(full.history_) == 6
    for k in range(3):
        trained = _layer_params(full, k)
        # each layer was trained (it moved away from its ISTA initialisation) ...
        assert not _same(trained, _layer_params(init, k))
        # ... during its own stage, and was frozen afterwards
        assert _same(trained, _layer_params(fits[k + 1], k))
    if paradigm == "objective":
        # LISTA's input matrix W1 is shared by all layers: trained in every stage
        W1 = {K: fits[K].module_.iteration(0).shared.W1.detach() for K in (1, 3)}
        assert not torch.equal(W1[1], W1[3])


def test_sequential_then_end_to_end_trains_all_layers_at_the_end(sparse_problem):
    p = sparse_problem
    X, S = p["X"][:200], p["S"][:200]
    schedule = SequentialEndToEnd(epochs_per_stage=1, end_to_end_epochs=2)
    seq = _est(p["D"], n_layers=3, loss_schedule=Sequential(epochs_per_stage=1), lr=5e-2)
    both = _est(p["D"], n_layers=3, loss_schedule=schedule, lr=5e-2)
    seq.fit(X, S)
    both.fit(X, S)
    assert len(seq.history_) == 3 and len(both.history_) == 5
    for k in range(3):  # the end-to-end phase moved every layer
        assert not _same(_layer_params(seq, k), _layer_params(both, k))


def test_multi_iteration_weights_shape_the_intermediate_layers(sparse_problem):
    p = sparse_problem
    kw = dict(paradigm="hyperparameters", lr=5e-2, max_epochs=8)
    first = _est(p["D"], loss_schedule=MultiIteration([1, 0, 0, 0]), **kw).fit(p["X"], p["S"])
    last = _est(p["D"], loss_schedule="end_to_end", **kw).fit(p["X"], p["S"])
    uniform = _est(p["D"], loss_schedule=MultiIteration("uniform"), **kw).fit(p["X"], p["S"])
    db = {name: [nmse_db(p["S_test"], S_k) for S_k in e.staged_predict(p["X_test"])]
          for name, e in [("first", first), ("last", last), ("uniform", uniform)]}
    # the loss on iterate 1 only makes layer 1 best; the loss on iterate K makes layer K best
    assert db["first"][0] < db["last"][0] - 1.0
    assert db["last"][-1] < db["first"][-1] - 1.0
    # uniform weights sit in between at both ends
    assert db["first"][0] < db["uniform"][0] < db["last"][0]
    assert db["last"][-1] < db["uniform"][-1] < db["first"][-1]


def test_multi_iteration_last_equals_end_to_end(sparse_problem):
    p = sparse_problem
    X, S = p["X"][:200], p["S"][:200]
    a = _est(p["D"], loss_schedule=MultiIteration("last"), lr=5e-2).fit(X, S)
    b = _est(p["D"], loss_schedule=EndToEnd(), lr=5e-2).fit(X, S)
    assert_array_equal(a.predict(p["X_test"]), b.predict(p["X_test"]))


# -- supervision modes ----------------------------------------------------------------

@pytest.mark.parametrize("paradigm, lr", [("hyperparameters", 1e-2), ("objective", 1e-3),
                                          ("dnn", 1e-3)])
def test_unsupervised_fit_decreases_the_lasso_objective(sparse_problem, paradigm, lr):
    p = sparse_problem
    est = _est(p["D"], paradigm=paradigm, lr=lr).fit(p["X"])  # y=None: the objective is the loss
    untrained = _est(p["D"], paradigm=paradigm, max_epochs=0).fit(p["X"])
    obj = est.objective(p["X_test"], est.predict(p["X_test"])).mean()
    obj0 = untrained.objective(p["X_test"], untrained.predict(p["X_test"])).mean()
    assert obj < 0.9 * obj0, (obj, obj0)
    # the untrained model is ISTA: same objective
    ista = ISTA(p["D"], n_layers=4).fit(p["X"])
    assert obj0 == pytest.approx(ista.objective(p["X_test"], ista.predict(p["X_test"])).mean(),
                                 rel=1e-5)


def test_all_nan_targets_train_unsupervised(sparse_problem):
    p = sparse_problem
    X = p["X"][:200]
    unsup = _est(p["D"], lr=5e-2).fit(X)
    nan_y = _est(p["D"], lr=5e-2).fit(X, np.full((200, 40), np.nan))
    assert_array_equal(unsup.predict(p["X_test"]), nan_y.predict(p["X_test"]))


def test_semi_supervised_uses_both_parts(sparse_problem):
    p = sparse_problem
    X, S = p["X"], p["S"].copy()
    Y = S.copy()
    Y[100:] = np.nan  # a quarter labeled
    kw = dict(paradigm="objective", lr=3e-3)
    semi = _est(p["D"], **kw).fit(X, Y)
    unsup = _est(p["D"], **kw).fit(X)
    labeled_only = _est(p["D"], **kw).fit(X[:100], S[:100])
    ista_db = nmse_db(p["S_test"], ISTA(p["D"], n_layers=4).fit(X).predict(p["X_test"]))
    semi_pred = semi.predict(p["X_test"])
    assert np.all(np.isfinite(semi_pred))
    assert nmse_db(p["S_test"], semi_pred) < ista_db - 1.0
    assert np.abs(semi_pred - unsup.predict(p["X_test"])).max() > 1e-3
    assert np.abs(semi_pred - labeled_only.predict(p["X_test"])).max() > 1e-3
    # the weight of the unlabeled term matters
    semi0 = _est(p["D"], loss_schedule=EndToEnd(unsupervised_weight=0.0), **kw).fit(X, Y)
    assert np.abs(semi_pred - semi0.predict(p["X_test"])).max() > 1e-3


def test_dictionary_estimated_from_targets(sparse_problem):
    p = sparse_problem
    est = _est(None, max_epochs=1)
    with pytest.warns(DictionaryEstimatedWarning, match="least squares"):
        est.fit(p["X"], p["S"])
    assert est.dictionary_estimated_
    assert_allclose(est.dictionary_, p["D"], atol=1e-8)  # noiseless data: exact
    given = _est(p["D"], max_epochs=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DictionaryEstimatedWarning)
        given.fit(p["X"], p["S"])
    assert not given.dictionary_estimated_


# -- reproducibility, warm start, early stopping -------------------------------------

def test_refit_with_same_random_state_is_identical(sparse_problem):
    p = sparse_problem
    X, S = p["X"][:200], p["S"][:200]
    for params in (dict(paradigm="dnn", hidden_layer_sizes=(8,)),
                   dict(paradigm="correction", hidden_layer_sizes=(8,))):
        est = _est(p["D"], max_epochs=2, **params)
        first = est.fit(X, S).predict(p["X_test"])
        assert_array_equal(est.fit(X, S).predict(p["X_test"]), first)
        other = _est(p["D"], max_epochs=2, **params).set_params(random_state=1).fit(X, S)
        assert np.abs(other.predict(p["X_test"]) - first).max() > 1e-6


def test_warm_start_continues(sparse_problem):
    p = sparse_problem
    X, S = p["X"][:200], p["S"][:200]
    est = _est(p["D"], paradigm="objective", lr=3e-3, max_epochs=3, warm_start=True).fit(X, S)
    first = est.history_[:, "train_loss"]
    pred = est.predict(p["X_test"])
    # zero further epochs: exactly the same model
    assert_array_equal(est.set_params(max_epochs=0).fit(X, S).predict(p["X_test"]), pred)
    est.set_params(max_epochs=3).fit(X, S)
    second = est.history_[:, "train_loss"]
    assert second[0] < first[0] and second[0] < 1.05 * first[-1]
    assert second[-1] < first[-1]
    # without warm start, the same call starts from scratch
    cold = _est(p["D"], paradigm="objective", lr=3e-3, max_epochs=3).fit(X, S)
    assert_allclose(cold.history_[:, "train_loss"], first, rtol=1e-6)
    # a changed architecture cannot continue: a fresh network is built
    est.set_params(n_layers=2, max_epochs=0).fit(X, S)
    assert est.net_.module_.n_layers == 2


def test_early_stopping_restores_best_epoch(sparse_problem):
    p = sparse_problem
    X, S = p["X"][:80], p["S"][:80]
    est = _est(p["D"], n_layers=3, paradigm="hyperparameters", lr=0.3, batch_size=16,
               max_epochs=40,
               early_stopping=EarlyStopping(validation_fraction=0.25, n_iter_no_change=3)
               ).fit(X, S)
    valid = est.history_[:, "valid_loss"]
    best = int(np.argmin(valid))
    assert len(valid) < 40                      # it stopped early ...
    assert best < len(valid) - 1                # ... after the best epoch
    assert valid[-1] > valid[best] * 1.01
    # the validation rows are those the net was given; the restored model scores the best loss
    valid_ds = est.net_.train_split.keywords["valid_ds"]
    assert len(valid_ds) == 20
    mse = np.mean((est.predict(valid_ds.X) - valid_ds.y) ** 2)
    assert mse == pytest.approx(valid[best], rel=1e-4)
    # identical to training for exactly the best number of epochs
    again = _est(p["D"], n_layers=3, paradigm="hyperparameters", lr=0.3, batch_size=16,
                 max_epochs=best + 1,
                 early_stopping=EarlyStopping(validation_fraction=0.25, n_iter_no_change=100)
                 ).fit(X, S)
    assert_array_equal(again.predict(p["X_test"]), est.predict(p["X_test"]))


def test_early_stopping_keeps_the_untrained_model_when_training_does_not_help(sparse_problem):
    """80 samples are too few for LISTA's matrices: every trained epoch is worse than ISTA."""
    from sklearn.exceptions import ConvergenceWarning

    p = sparse_problem
    X, S = p["X"][:80], p["S"][:80]
    kw = dict(n_layers=3, paradigm="objective", lr=3e-2, batch_size=16, max_epochs=40)
    stopping = EarlyStopping(validation_fraction=0.25, n_iter_no_change=3)
    with pytest.warns(ConvergenceWarning, match="untrained model is kept"):
        est = _est(p["D"], early_stopping=stopping, **kw).fit(X, S)
    untrained = _est(p["D"], **{**kw, "max_epochs": 0}).fit(X, S)
    assert_array_equal(est.predict(p["X_test"]), untrained.predict(p["X_test"]))
    # without a validation set nothing is compared: the trained model is returned
    trained = _est(p["D"], **kw).fit(X, S)
    assert np.abs(trained.predict(p["X_test"]) - untrained.predict(p["X_test"])).max() > 1e-3


def test_early_stopping_needs_two_samples(sparse_problem):
    p = sparse_problem
    est = _est(p["D"], early_stopping=EarlyStopping(validation_fraction=0.5))
    with pytest.raises(ValueError, match="validation_fraction"):
        est.fit(p["X"][:1], p["S"][:1])
