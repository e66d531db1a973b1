"""Classical solvers against scikit-learn, and untrained unfolded models against ISTA/FISTA."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.decomposition import SparseCoder
from sklearn.linear_model import Lasso

from skunfold.datasets import make_sparse_recovery
from skunfold.sparse import FISTA, ISTA, UnfoldedISTA

ALPHA = 0.05


@pytest.fixture(scope="module")
def lasso_problem():
    X, S, D = make_sparse_recovery(n_samples=20, n_measurements=20, n_components=40,
                                   sparsity=0.1, snr_db=30, random_state=0)
    m = X.shape[1]
    # scikit-learn's Lasso minimises 1/(2 m) ||x - H s||^2 + a ||s||_1 per sample, so
    # a = alpha / m gives our objective 1/2 ||x - H s||^2 + alpha ||s||_1.
    ref = np.array([
        Lasso(alpha=ALPHA / m, fit_intercept=False, tol=1e-12, max_iter=100_000).fit(D.T, x).coef_
        for x in X
    ])
    return X, D, ref


@pytest.mark.parametrize("cls, n_layers, atol", [(ISTA, 3000, 1e-6), (FISTA, 1000, 2e-4)])
def test_classical_solvers_agree_with_lasso(lasso_problem, cls, n_layers, atol):
    X, D, ref = lasso_problem
    est = cls(D, n_layers=n_layers, alpha=ALPHA).fit(X)
    S_hat = est.predict(X)
    assert S_hat.dtype == np.float64
    assert_allclose(S_hat, ref, atol=atol)
    # same objective value (ours is never worse than the coordinate-descent reference)
    obj, obj_ref = est.objective(X, S_hat), est.objective(X, ref)
    assert_allclose(obj, obj_ref, rtol=1e-7)
    # same support
    assert_array_equal(np.abs(S_hat) > 1e-3, np.abs(ref) > 1e-3)
    # and a substantial sparsity: the problem is not trivial
    assert 0 < np.mean(ref != 0) < 0.5


def test_classical_solvers_agree_with_sparse_coder(lasso_problem):
    X, D, _ = lasso_problem
    coder = SparseCoder(dictionary=D, transform_algorithm="lasso_cd", transform_alpha=ALPHA,
                        transform_max_iter=10_000)
    ref = coder.transform(X)
    for est in (ISTA(D, n_layers=3000, alpha=ALPHA), FISTA(D, n_layers=1000, alpha=ALPHA)):
        assert_allclose(est.fit(X).transform(X), ref, atol=2e-4)


def test_fista_converges_faster_than_ista(lasso_problem):
    X, D, ref = lasso_problem
    err = {}
    for cls in (ISTA, FISTA):
        S_hat = cls(D, n_layers=100, alpha=ALPHA).fit(X).predict(X)
        err[cls.__name__] = np.abs(S_hat - ref).max()
    assert err["FISTA"] < 0.1 * err["ISTA"]


def test_ista_iterates_decrease_the_objective(lasso_problem):
    X, D, _ = lasso_problem
    est = ISTA(D, n_layers=30, alpha=ALPHA).fit(X)
    values = [est.objective(X, S_k).sum() for S_k in est.staged_predict(X)]
    assert len(values) == 30
    # step 1/L with L >= ||H||^2: ISTA is a descent method
    assert np.all(np.diff(values) <= 1e-12)


def test_classical_matches_unfolded_classical_paradigm(lasso_problem):
    X, D, _ = lasso_problem
    ista = ISTA(D, n_layers=7, alpha=ALPHA).fit(X)
    unf = UnfoldedISTA(D, n_layers=7, alpha=ALPHA, paradigm="classical").fit(X)
    assert unf.net_ is None and unf.history_ is None
    assert_array_equal(unf.predict(X), ista.predict(X))
    fista = FISTA(D, n_layers=7, alpha=ALPHA).fit(X)
    unf_m = UnfoldedISTA(D, n_layers=7, alpha=ALPHA, paradigm="classical", momentum=True).fit(X)
    assert_allclose(unf_m.predict(X), fista.predict(X), rtol=1e-12, atol=1e-12)


def test_ista_first_iterate_is_a_thresholded_gradient_step(lasso_problem):
    X, D, _ = lasso_problem
    est = ISTA(D, n_layers=1, alpha=ALPHA).fit(X)
    L = 1.001 * np.linalg.norm(D, 2) ** 2
    assert est.lipschitz_ == pytest.approx(L)
    z = X @ D.T / L
    expected = np.sign(z) * np.maximum(np.abs(z) - ALPHA / L, 0)
    assert_allclose(est.predict(X), expected, rtol=1e-12, atol=1e-14)


# -- untrained unfolded models compute the classical solver -------------------------------

UNTRAINED = [
    dict(paradigm="hyperparameters"),
    dict(paradigm="objective"),
    dict(paradigm="objective", coupling="cp"),
    dict(paradigm="correction"),
    dict(paradigm="correction", tied=False),
    dict(paradigm="dnn"),
]


# momentum=True: FISTA's coefficients beta_k vary with k, which a tied network (one shared
# layer, the default of "correction") cannot hold, so only untied networks start as FISTA.
CASES = [(p, False) for p in UNTRAINED] + [
    (p, True) for p in UNTRAINED if p != dict(paradigm="correction")]


@pytest.mark.parametrize("params, momentum", CASES,
                         ids=lambda p: "-".join(map(str, p.values())) if isinstance(p, dict)
                         else f"momentum={p}")
def test_untrained_equals_classical(sparse_problem, params, momentum):
    """max_epochs=0 builds the network without training it: every layer equals ISTA (FISTA)."""
    X, S, D = sparse_problem["X"], sparse_problem["S"], sparse_problem["D"]
    X = X[:100]
    K = 6
    est = UnfoldedISTA(D, n_layers=K, max_epochs=0, momentum=momentum, hidden_layer_sizes=(8,),
                       random_state=0, device="cpu", **params).fit(X, S[:100])
    assert len(est.history_) == 0
    ref = (FISTA if momentum else ISTA)(D, n_layers=K).fit(X)
    staged, ref_staged = list(est.staged_predict(X)), list(ref.staged_predict(X))
    assert len(staged) == len(ref_staged) == K
    scale = np.abs(ref_staged[-1]).max()
    assert scale > 0.5
    for S_k, R_k in zip(staged, ref_staged):
        # float32 computation against the float64 classical solver
        assert_allclose(S_k, R_k, rtol=0, atol=2e-6 * scale)
    # and the layers are not trivially equal to each other
    assert np.abs(staged[-1] - staged[0]).max() > 0.1


def test_untrained_analytic_weights_differ_from_ista(sparse_problem):
    """weights="analytic" starts from ALISTA's matrix, not from H: not ISTA."""
    X, S, D = sparse_problem["X"][:50], sparse_problem["S"][:50], sparse_problem["D"]
    est = UnfoldedISTA(D, n_layers=4, max_epochs=0, weights="analytic").fit(X, S)
    ista = ISTA(D, n_layers=4).fit(X)
    assert np.abs(est.predict(X) - ista.predict(X)).max() > 1e-2


def test_ista_runs_deeper_and_shallower_than_fitted(sparse_problem):
    X, D = sparse_problem["X"][:50], sparse_problem["D"]
    est = ISTA(D, n_layers=5).fit(X)
    deep = list(est.staged_predict(X, n_layers=9))
    assert len(deep) == 9
    assert_array_equal(deep[4], est.predict(X))
    assert_array_equal(ISTA(D, n_layers=9).fit(X).predict(X), deep[-1])
    assert len(list(est.staged_predict(X, n_layers=2))) == 2
