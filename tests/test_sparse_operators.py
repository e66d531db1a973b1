"""The sparse coders on matrix-free dictionaries: sparse matrices, SciPy/PyLops operators, Blur.

Convention: a sparse matrix is a dictionary (n_components, n_features), like a dense one;
an operator maps codes to observations, it plays H = dictionary.T.
"""

import numpy as np
import pytest
import scipy.sparse
import torch
from numpy.testing import assert_allclose
from scipy.sparse.linalg import aslinearoperator

from skunfold.datasets import make_sparse_recovery
from skunfold.imaging import MRI, Blur, as_operator
from skunfold.metrics import nmse_db
from skunfold.sparse import (
    FISTA,
    ISTA,
    SparseCoding,
    UnfoldedISTA,
)
from skunfold.sparse.problem import lipschitz_constant, operator_lipschitz

pytestmark = pytest.mark.filterwarnings("ignore::skunfold.core.WorseThanClassicalWarning")


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def small():
    X, S, D = make_sparse_recovery(n_samples=60, n_measurements=20, n_components=40,
                                   random_state=0)
    return X, S, D


def _operators(D):
    return {"imaging": as_operator(D.T), "csr": scipy.sparse.csr_matrix(D),
            "linear_operator": aslinearoperator(D.T)}


@pytest.mark.parametrize("kind", ["imaging", "csr", "linear_operator"])
@pytest.mark.parametrize("solver", [ISTA, FISTA])
def test_matrix_free_solver_equals_the_dense_one(small, kind, solver):
    X, _, D = small
    dense = solver(D, n_layers=60).fit(X)
    free = solver(_operators(D)[kind], n_layers=60).fit(X)
    assert free.lipschitz_ == pytest.approx(dense.lipschitz_, rel=1e-8)
    assert_allclose(free.predict(X), dense.predict(X), atol=1e-7)
    assert_allclose(free.objective(X, free.predict(X)), dense.objective(X, dense.predict(X)),
                    rtol=1e-7)
    assert free.dictionary_ is free.dictionary  # stored as given, no dense copy
    assert free.n_components_ == 40
    # float32 data: computed in float32, same codes up to round-off
    assert free.predict(X.astype(np.float32)).dtype == np.float32


def test_power_iteration_matches_the_svd(small):
    D = small[2]
    assert operator_lipschitz(as_operator(D.T)) == pytest.approx(lipschitz_constant(D),
                                                                  rel=1e-8)


def test_unfolded_ista_trains_on_a_sparse_dictionary():
    rng = np.random.RandomState(0)
    n_components, n_features = 60, 30
    D = scipy.sparse.random(n_components, n_features, density=0.2, random_state=rng,
                            data_rvs=rng.standard_normal, format="csr")
    D = D.multiply(1.0 / np.sqrt(D.multiply(D).sum(axis=1) + 1e-12)).tocsr()  # unit atoms

    def data(n, seed):
        r = np.random.RandomState(seed)
        S = r.standard_normal((n, n_components)) * (r.rand(n, n_components) < 0.05)
        X = np.asarray(D.T @ S.T).T + 0.01 * r.standard_normal((n, n_features))
        return X, S

    X, S = data(600, 1)
    X_test, S_test = data(300, 2)
    K = 6
    est = UnfoldedISTA(D, n_layers=K, alpha=0.05, max_epochs=15, batch_size=32,
                       random_state=0, device="cpu").fit(X, S)
    assert scipy.sparse.issparse(est.dictionary_)
    start_db = nmse_db(S_test, ISTA(D, n_layers=K, alpha=0.05).fit(X).predict(X_test))
    trained_db = nmse_db(S_test, est.predict(X_test))
    print(f"sparse dictionary, K={K}: ISTA {start_db:.2f} dB, trained {trained_db:.2f} dB")
    assert trained_db < start_db - 1.0, (trained_db, start_db)


def test_ista_deconvolves_spikes_with_a_blur_operator():
    shape = (16, 16)
    blur = Blur(shape, sigma=1.0)
    rng = np.random.RandomState(0)
    S = (rng.rand(20, 256) < 0.03) * (1.0 + rng.rand(20, 256))     # spikes: sparse pixels
    X = blur.forward(torch.from_numpy(S)).numpy() + 0.005 * rng.standard_normal((20, 256))
    ista = ISTA(blur, n_layers=200, alpha=0.01).fit(X)
    assert ista.lipschitz_ == pytest.approx(1.001, rel=1e-4)   # normalised blur: norm 1
    adjoint_db = nmse_db(S, blur.adjoint(torch.from_numpy(X)).numpy())
    ista_db = nmse_db(S, ista.predict(X))
    print(f"deconvolution: adjoint {adjoint_db:.2f} dB, ISTA {ista_db:.2f} dB")
    assert ista_db < adjoint_db - 3.0, (ista_db, adjoint_db)
    # the hyperparameters paradigm runs on it too (untrained: ISTA itself)
    est = UnfoldedISTA(blur, n_layers=5, alpha=0.01, max_epochs=0).fit(X, S)
    assert_allclose(est.predict(X), ISTA(blur, n_layers=5, alpha=0.01).fit(X).predict(X),
                    atol=1e-6)


def test_pylops_operator(small):
    pylops = pytest.importorskip("pylops")
    X, S, D = small
    op = pylops.MatrixMult(D.T)
    dense = ISTA(D, n_layers=40).fit(X).predict(X)
    assert_allclose(ISTA(op, n_layers=40).fit(X).predict(X), dense, atol=1e-7)
    est = UnfoldedISTA(op, n_layers=3, max_epochs=2, batch_size=20, random_state=0,
                       device="cpu").fit(X, S)   # trained through the autograd bridge
    assert np.all(np.isfinite(est.predict(X)))
    assert est.layer_parameters_["step"].shape == (3,)


@pytest.mark.parametrize("paradigm", ["correction", "dnn"])
def test_correction_and_dnn_paradigms_run_matrix_free(small, paradigm):
    X, S, D = small
    dense = UnfoldedISTA(D, n_layers=3, paradigm=paradigm, max_epochs=0,
                         random_state=0).fit(X, S)
    free = UnfoldedISTA(as_operator(D.T), n_layers=3, paradigm=paradigm, max_epochs=0,
                        random_state=0).fit(X, S)
    assert_allclose(free.predict(X), dense.predict(X), atol=1e-7)
    free.set_params(max_epochs=1, batch_size=30).fit(X, S)
    assert np.all(np.isfinite(free.predict(X)))


def test_transfer_to_an_operator(small):
    X, S, D = small
    est = UnfoldedISTA(D, n_layers=4, max_epochs=2, random_state=0).fit(X, S)
    assert_allclose(est.predict(X, dictionary=scipy.sparse.csr_matrix(D)), est.predict(X),
                    atol=1e-7)


def test_clear_errors(small):
    X, S, D = small
    op = as_operator(D.T)
    with pytest.raises(ValueError, match="weights='analytic' needs the dictionary as a dense"):
        UnfoldedISTA(op, n_layers=2, weights="analytic", max_epochs=1).fit(X, S)
    with pytest.raises(ValueError, match="pass the transpose"):
        ISTA(as_operator(D)).fit(X)      # the dictionary, not H
    with pytest.raises(ValueError, match="pass the transpose"):
        ISTA(scipy.sparse.csr_matrix(D.T)).fit(X)
    mask = np.zeros((4, 5), dtype=bool)
    mask[:, :2] = True
    with pytest.raises(ValueError, match="complex"):
        ISTA(MRI((4, 5), mask)).fit(np.ones((3, 8)))
    with pytest.raises(ValueError, match="complex"):
        SparseCoding(MRI((4, 5), mask))
