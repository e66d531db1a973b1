"""Sparse coders on real data: noisy image patches with a learned, coherent dictionary."""

import warnings

import numpy as np
import pytest

from skunfold.core import DivergedOutputError, WorseThanClassicalWarning
from skunfold.datasets import make_sparse_recovery
from skunfold.metrics import psnr
from skunfold.sparse import (
    FISTA,
    ISTA,
    CoherentDictionaryWarning,
    HyperLISTA,
    UnfoldedISTA,
    analytic_coherence,
    analytic_weights,
    generalized_coherence,
)

K = 10


def _psnr(p, est):
    return psnr(p["X_test_clean"], est.predict(p["X_test"]) @ p["D"])


def test_analytic_weight_lowers_the_generalised_coherence(patch_problem):
    D = patch_problem["D"]
    H = D.T
    old = np.linalg.pinv(H).T  # the former weight: the plain pseudo-inverse, normalised
    old = old / np.sum(H * old, axis=0)
    frob, best = analytic_weights(D), analytic_weights(D, objective="coherence")
    mu_d, mu_old = generalized_coherence(None, D), generalized_coherence(old, D)
    mu_frob, mu_best = generalized_coherence(frob, D), generalized_coherence(best, D)
    assert mu_best < mu_frob < mu_d and mu_best < mu_old - 0.2  # 0.43 < 0.69 < 0.72
    assert np.allclose(np.sum(H * best, axis=0), 1.0) and np.allclose(np.sum(H * frob, 0), 1.0)
    # the mean-removed atoms span 63 of 64 directions: no weight along the missing one
    assert np.linalg.norm(frob, axis=0).max() < 1e3 < np.linalg.norm(old, axis=0).max()


def test_coherent_dictionary_warning(patch_problem, sparse_problem):
    p = patch_problem
    with pytest.warns(CoherentDictionaryWarning, match="LISTA-CP"):
        HyperLISTA(p["D"], n_layers=K, alpha=p["alpha"]).fit(p["X"])
    with pytest.warns(CoherentDictionaryWarning, match="weights='dictionary'"):
        UnfoldedISTA(p["D"], n_layers=2, weights="analytic", max_epochs=0).fit(p["X"], p["S"])
    gaussian = make_sparse_recovery(n_samples=50, n_measurements=64, n_components=128,
                                    random_state=0)
    for X, D in ((gaussian[0], gaussian[2]), (sparse_problem["X"], sparse_problem["D"])):
        assert analytic_coherence(D) < 0.35  # 0.16 and 0.33 (0.09 at 250 x 500)
        with warnings.catch_warnings():
            warnings.simplefilter("error", CoherentDictionaryWarning)
            HyperLISTA(D, n_layers=2).fit(X)
            UnfoldedISTA(D, n_layers=2, weights="analytic", max_epochs=0).fit(X)


@pytest.mark.filterwarnings("ignore::skunfold.sparse.CoherentDictionaryWarning")
def test_alista_defaults_train_on_real_patches(patch_problem):
    p = patch_problem
    fista = _psnr(p, FISTA(p["D"], n_layers=K, alpha=p["alpha"]).fit(p["X"]))
    alista = UnfoldedISTA(p["D"], n_layers=K, alpha=p["alpha"], weights="analytic",
                          support_selection=True, max_epochs=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WorseThanClassicalWarning)  # checked below
        alista.fit(p["X"], p["S"])  # no TrainingDivergedError
    untrained = UnfoldedISTA(p["D"], n_layers=K, alpha=p["alpha"], weights="analytic",
                             support_selection=True, max_epochs=0).fit(p["X"], p["S"])
    # keep_best: the model fit hands back is never worse than its start on the training data
    comparison = alista.comparison_
    assert comparison["on"] == "training"
    assert min(comparison["trained"], comparison["classical"]) <= comparison["classical"]
    if comparison["kept"] == "classical":
        np.testing.assert_array_equal(alista.predict(p["X_test"]), untrained.predict(p["X_test"]))
    value = _psnr(p, alista)
    assert np.isfinite(value) and value > 15.0
    # analytic weights are a poor fit to a coherent dictionary (ALISTA ~21 dB, FISTA ~24.8):
    # the CoherentDictionaryWarning of the test above is what says so
    assert value < fista


@pytest.mark.filterwarnings("ignore::skunfold.sparse.CoherentDictionaryWarning")
def test_hyperlista_defaults_do_not_diverge_on_real_patches(patch_problem):
    p = patch_problem
    ista = _psnr(p, ISTA(p["D"], n_layers=K, alpha=p["alpha"]).fit(p["X"]))
    # worse than ISTA at equal depth: said, with both figures
    with pytest.warns(WorseThanClassicalWarning,
                      match=r"does worse than ISTA at the same depth \(10 layers, alpha=0.2\) on "
                            r"the training data: mean LASSO objective [\d.]+ against ISTA's "
                            r"[\d.]+"):
        hyper = HyperLISTA(p["D"], n_layers=K, alpha=p["alpha"]).fit(p["X"])
    assert hyper.comparison_["trained"] > hyper.comparison_["classical"]
    assert hyper.problem_.step_size < 1.0  # 2.5 / lambda_max(W^T H) on a learned dictionary
    assert _psnr(p, hyper) > ista - 6.0  # ~20 dB against ISTA's ~24 (was -200 dB)


def test_hyperlista_that_beats_ista_fits_silently():
    # its default constants suit Gaussian dictionaries of a hundred atoms and more
    X, S, D = make_sparse_recovery(n_samples=200, n_measurements=64, n_components=128,
                                   random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", WorseThanClassicalWarning)
        hyper = HyperLISTA(D, n_layers=16).fit(X, S)
    assert hyper.comparison_["trained"] < 0.5 * hyper.comparison_["classical"]
    assert hyper.comparison_["on"] == \
        "mean squared reconstruction error against y @ dictionary"


@pytest.mark.filterwarnings("ignore::skunfold.core.WorseThanClassicalWarning")
def test_predict_raises_on_exploding_codes(patch_problem):
    p = patch_problem
    with pytest.warns(CoherentDictionaryWarning):
        # step 1 on the coherent dictionary, without thresholds to stop it: it explodes
        hyper = HyperLISTA(p["D"], n_layers=K, c_threshold=0.0, c_momentum=0.0).fit(p["X"])
    hyper.problem_.step_size = 1.0
    with pytest.raises(DivergedOutputError, match="exploded|non-finite"):
        hyper.predict(p["X_test"])
    with pytest.raises(DivergedOutputError):
        hyper.transform(p["X_test"])
    ISTA(p["D"], n_layers=K, alpha=p["alpha"]).fit(p["X"]).predict(p["X_test"])  # no error


def test_unfolded_ista_worse_than_fista_at_equal_depth_warns(sparse_problem):
    p = sparse_problem
    # a learning rate too small to move the steps: the model stays ISTA, which FISTA beats
    est = UnfoldedISTA(p["D"], n_layers=6, max_epochs=1, lr=1e-9, random_state=0)
    with pytest.warns(WorseThanClassicalWarning,
                      match=r"does worse than FISTA at the same depth \(6 layers, alpha=0.1\) "
                            r"on the training data: mean squared reconstruction error "
                            r"against y @ dictionary [\d.]+ against FISTA's [\d.]+"):
        est.fit(p["X"], p["S"])
    fista = est.comparison_["fista"]
    assert fista["fista"] < fista["trained"]
    # a model that trains well passes silently
    with warnings.catch_warnings():
        warnings.simplefilter("error", WorseThanClassicalWarning)
        good = UnfoldedISTA(p["D"], n_layers=6, weights="analytic", support_selection=True,
                            max_epochs=40, random_state=0)
        good.fit(p["X"], p["S"])
    assert good.comparison_["fista"]["trained"] < good.comparison_["fista"]["fista"]
