"""make_sparse_recovery reproduces the benchmark; NMSE is a ratio of sums over the set."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from skunfold.datasets import make_sparse_recovery
from skunfold.metrics import nmse, nmse_db, nmse_scorer
from skunfold.sparse import ISTA

# -- make_sparse_recovery ------------------------------------------------------------


def test_shapes_and_row_convention():
    X, S, D = make_sparse_recovery(n_samples=30, n_measurements=25, n_components=50,
                                   random_state=0)
    assert X.shape == (30, 25) and S.shape == (30, 50) and D.shape == (50, 25)
    assert X.dtype == S.dtype == D.dtype == np.float64
    # noiseless: X = S @ D exactly (row convention, D = H^T)
    assert_allclose(X, S @ D, rtol=0, atol=1e-12)


def test_dictionary_has_unit_norm_gaussian_atoms():
    m, n = 250, 500
    _, _, D = make_sparse_recovery(n_samples=1, n_measurements=m, n_components=n,
                                   random_state=0)
    assert_allclose(np.linalg.norm(D, axis=1), 1.0, rtol=1e-12)  # atoms h_j = rows of D
    # N(0, 1/m) entries normalised: entries have variance 1/m, mean 0
    assert np.var(D) == pytest.approx(1 / m, rel=0.02)
    assert abs(np.mean(D)) < 3 / np.sqrt(m * n * m)
    # and the columns of H are not normalised by construction
    assert np.std(np.linalg.norm(D, axis=0)) > 0.01


def test_sparsity_rate_and_gaussian_values():
    p = 0.1
    _, S, _ = make_sparse_recovery(n_samples=2000, n_measurements=20, n_components=100,
                                   sparsity=p, random_state=0)
    support = S != 0
    n = support.size
    assert abs(support.mean() - p) < 4 * np.sqrt(p * (1 - p) / n)
    values = S[support]
    assert abs(values.mean()) < 0.03
    assert values.std() == pytest.approx(1.0, abs=0.03)
    # Bernoulli per entry: the number of non-zeros per sample varies (binomial)
    per_sample = support.sum(axis=1)
    assert per_sample.var() == pytest.approx(100 * p * (1 - p), rel=0.15)
    _, S_full, _ = make_sparse_recovery(n_samples=5, n_measurements=4, n_components=6,
                                        sparsity=1.0, random_state=0)
    assert np.all(S_full != 0)


@pytest.mark.parametrize("snr_db", [40.0, 20.0, 0.0])
def test_noise_has_the_requested_snr_per_sample(snr_db):
    X, S, D = make_sparse_recovery(n_samples=500, n_measurements=250, n_components=500,
                                   sparsity=0.1, snr_db=snr_db, random_state=0)
    clean = S @ D
    noise = X - clean
    per_sample = 10 * np.log10(clean.var(axis=1) / noise.var(axis=1))
    # each sample's noise is scaled to its own signal: estimates scatter by ~0.4 dB (m=250)
    assert np.mean(per_sample) == pytest.approx(snr_db, abs=0.15)
    assert np.all(np.abs(per_sample - snr_db) < 2.5)
    ratio = np.log(noise.std(axis=1) / clean.std(axis=1))
    assert ratio.std() < 0.1  # per-sample, not per-set, scaling
    assert np.abs(noise.mean()) < 1e-2 * noise.std()


@pytest.mark.parametrize("kappa", [5.0, 30.0, 50.0])
def test_condition_number(kappa):
    _, _, D = make_sparse_recovery(n_samples=1, n_measurements=100, n_components=200,
                                   condition_number=kappa, random_state=0)
    assert_allclose(np.linalg.norm(D, axis=1), 1.0, rtol=1e-12)
    # column normalisation after imposing the spectrum moves kappa by a few percent only
    assert np.linalg.cond(D) == pytest.approx(kappa, rel=0.05)
    _, _, D0 = make_sparse_recovery(n_samples=1, n_measurements=100, n_components=200,
                                    random_state=0)
    # Gaussian: about (1 + sqrt(m/n)) / (1 - sqrt(m/n)) = 5.8 (Marchenko-Pastur)
    assert np.linalg.cond(D0) == pytest.approx(5.83, rel=0.25)


def test_reusing_a_dictionary():
    X, S, D = make_sparse_recovery(n_samples=10, n_measurements=8, n_components=16,
                                   random_state=0)
    X2, S2, D2 = make_sparse_recovery(n_samples=12, n_measurements=8, n_components=16,
                                      dictionary=D, random_state=1)
    assert_array_equal(D2, D)
    assert X2.shape == (12, 8)
    assert_allclose(X2, S2 @ D, atol=1e-12)
    assert not np.array_equal(S2[:10], S)
    with pytest.raises(ValueError, match=r"dictionary must have shape .* \(16, 8\)"):
        make_sparse_recovery(n_samples=3, n_measurements=8, n_components=16, dictionary=D.T)


def test_determinism():
    a = make_sparse_recovery(n_samples=20, n_measurements=8, n_components=16, snr_db=10,
                             random_state=3)
    b = make_sparse_recovery(n_samples=20, n_measurements=8, n_components=16, snr_db=10,
                             random_state=3)
    c = make_sparse_recovery(n_samples=20, n_measurements=8, n_components=16, snr_db=10,
                             random_state=4)
    for x, y in zip(a, b):
        assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])
    rs = np.random.RandomState(3)
    d = make_sparse_recovery(n_samples=20, n_measurements=8, n_components=16, snr_db=10,
                             random_state=rs)
    assert_array_equal(d[0], a[0])


@pytest.mark.parametrize("kwargs, name", [
    ({"n_samples": 0}, "n_samples"),
    ({"n_measurements": -1}, "n_measurements"),
    ({"n_components": 2.5}, "n_components"),
    ({"sparsity": 0.0}, "sparsity"),
    ({"sparsity": 1.5}, "sparsity"),
    ({"snr_db": np.inf}, "snr_db"),
    ({"snr_db": "high"}, "snr_db"),
    ({"condition_number": 0.5}, "condition_number"),
])
def test_invalid_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        make_sparse_recovery(**kwargs)


# -- metrics -------------------------------------------------------------------------------

def test_nmse_is_a_ratio_of_sums():
    y_true = np.array([[1.0, 0.0], [10.0, 0.0]])
    y_pred = np.array([[0.0, 0.0], [10.0, 0.0]])
    # sum of errors 1 over sum of energies 101 (the mean of per-sample ratios would be 0.5)
    assert nmse(y_true, y_pred) == pytest.approx(1 / 101)
    assert nmse_db(y_true, y_pred) == pytest.approx(10 * np.log10(1 / 101))
    assert nmse_db(y_true, y_true) == -np.inf
    assert nmse_db(y_true, 0 * y_true) == pytest.approx(0.0)
    assert nmse_db([[1.0, 0.0]], [[0.9, 0.0]]) == pytest.approx(-20.0)
    # any array shape (e.g. matrices of robust PCA)
    assert nmse(np.ones((2, 3, 4)), np.zeros((2, 3, 4))) == pytest.approx(1.0)


def test_nmse_errors():
    with pytest.raises(ValueError, match="different shapes"):
        nmse(np.ones((3, 2)), np.ones((3, 3)))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        nmse(np.ones((3, 2)), np.ones((2, 2)))
    with pytest.raises(ValueError, match="identically zero"):
        nmse(np.zeros((3, 2)), np.ones((3, 2)))
    with pytest.raises(ValueError, match="y_pred"):
        nmse(np.ones((3, 2)), np.full((3, 2), np.nan))


def test_nmse_scorer(sparse_problem):
    p = sparse_problem
    est = ISTA(p["D"], n_layers=10).fit(p["X"])
    value = nmse_scorer(est, p["X_test"], p["S_test"])
    assert value == pytest.approx(-nmse_db(p["S_test"], est.predict(p["X_test"])))
    assert value > 2.0  # 10 ISTA iterations: a few dB below 0, so the score is positive
    better = ISTA(p["D"], n_layers=40).fit(p["X"])
    assert nmse_scorer(better, p["X_test"], p["S_test"]) > value
