"""Robust PCA: generators, the classical solver, the unfolded model in every paradigm."""

import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline

from skunfold.core import MultiIteration, SequentialEndToEnd
from skunfold.datasets import make_rpca, make_static_video, perturb_psi
from skunfold.rpca import IgnoredTargetWarning, LearnedRPCA, RobustPCA, truncated_svd

PARADIGMS = ["hyperparameters", "objective", "correction", "dnn"]


def sequential(epochs_per_layer):
    """The default schedule, ``"sequential+end_to_end"``, with ``epochs_per_layer`` per layer.

    The schedule now shares ``max_epochs`` exactly among its stages; where a test's
    ``max_epochs`` does not divide evenly among the layers (or is smaller than their
    number), this keeps the epochs it trained with before: ``ceil(max_epochs / (2 K))``
    per layer, then ``ceil(max_epochs / 2)`` end to end.
    """
    return SequentialEndToEnd(epochs_per_stage=epochs_per_layer)


def rel_err(V, L):
    V, L = np.asarray(V, float), np.asarray(L, float)
    V, L = V.reshape(len(L), -1), L.reshape(len(L), -1)
    return float(np.mean(np.linalg.norm(V - L, axis=1) / np.linalg.norm(L, axis=1)))


@pytest.fixture(scope="module")
def small():
    """16 training and 8 test instances of 30 x 30, rank 2, 5% outliers."""
    X, L, S = make_rpca(16, (30, 30), rank=2, outlier_fraction=0.05, random_state=0)
    Xt, Lt, St = make_rpca(8, (30, 30), rank=2, outlier_fraction=0.05, random_state=1)
    return X, L, Xt, Lt


@pytest.fixture(scope="module")
def trained(small):
    X, L, _, _ = small
    return LearnedRPCA(rank=2, n_layers=4, max_epochs=16, random_state=0, device="cpu").fit(X, L)


# -- datasets -------------------------------------------------------------------------
def test_make_rpca_reproduces_lrpca_generator():
    X, L, S = make_rpca(3, (50, 40), rank=3, outlier_fraction=0.1, random_state=0)
    assert X.shape == L.shape == S.shape == (3, 50, 40)
    np.testing.assert_allclose(X, L + S)
    for i in range(3):
        assert np.linalg.matrix_rank(L[i]) == 3
        assert (S[i] != 0).sum() == 200  # exactly floor(0.1 * 50 * 40)
        assert np.abs(S[i]).max() <= np.abs(L[i]).mean()
        assert np.abs(S[i]).max() > 0.9 * np.abs(L[i]).mean()
    # factors N(0, 1) / sqrt(n): at n1 = n2 = 1000, r = 5, ||L||_F ~ sqrt(5)
    _, Lb, _ = make_rpca(1, (400, 400), rank=5, outlier_fraction=0.0, random_state=0)
    norm = np.linalg.norm(Lb[0])
    assert norm > 1.9 and norm < 2.6
    X2, _, _ = make_rpca(3, (50, 40), rank=3, outlier_fraction=0.1, random_state=0)
    np.testing.assert_array_equal(X, X2)


def test_make_rpca_with_psi_and_errors():
    psi = perturb_psi(20, 0.1, random_state=0)
    X, L, S = make_rpca(2, (20, 10), rank=2, psi=psi, random_state=0)
    np.testing.assert_allclose(X, L + psi @ S)
    with pytest.raises(ValueError, match="psi must have shape"):
        make_rpca(1, (20, 10), psi=np.eye(10))
    with pytest.raises(ValueError, match="rank"):
        make_rpca(1, (5, 4), rank=6)
    with pytest.raises(ValueError, match="outlier_fraction"):
        make_rpca(1, (5, 4), rank=1, outlier_fraction=1.5)
    with pytest.raises(ValueError, match="shape"):
        make_rpca(1, 5)


def test_perturb_psi():
    P = perturb_psi(200, noise_level=0.05, random_state=0)
    assert P.shape == (200, 200)
    gap = np.linalg.norm(P - np.eye(200), 2)
    assert 0.07 < gap < 0.13  # about 2 * noise_level
    Q = perturb_psi(np.eye(200), noise_level=0.05, random_state=0)
    np.testing.assert_allclose(P, Q)
    with pytest.raises(ValueError, match="square"):
        perturb_psi(np.ones((3, 2)))
    with pytest.raises(ValueError, match="noise_level"):
        perturb_psi(3, noise_level=-1.0)


def test_make_static_video():
    X, B, F = make_static_video(n_videos=2, n_frames=30, frame_shape=(16, 20), random_state=0)
    assert X.shape == B.shape == F.shape == (2, 320, 30)
    np.testing.assert_allclose(X, B + F)
    assert np.linalg.matrix_rank(B[0]) == 2
    frac = np.mean(F != 0)
    assert 0.01 < frac < 0.2
    X1, B1, _ = make_static_video(n_frames=10, frame_shape=(8, 8), rank=1, n_objects=0,
                                  random_state=0)
    assert np.linalg.matrix_rank(B1[0]) == 1
    np.testing.assert_allclose(X1, B1)


# -- building blocks ------------------------------------------------------------------
def test_truncated_svd_matches_full_svd():
    rng = np.random.default_rng(0)
    M = rng.normal(size=(2, 40, 3)) @ rng.normal(size=(2, 3, 30))
    M = M + 0.01 * rng.normal(size=(2, 40, 30))
    M = torch.tensor(M)
    U, S, V = truncated_svd(M, 3)
    S_full = torch.linalg.svdvals(M)[:, :3]
    np.testing.assert_allclose(S.numpy(), S_full.numpy(), rtol=1e-10)
    approx = (U * S[:, None, :]) @ V.mT
    U2, S2, Vh2 = torch.linalg.svd(M, full_matrices=False)
    best = (U2[..., :3] * S2[:, None, :3]) @ Vh2[:, :3]
    np.testing.assert_allclose(approx.numpy(), best.numpy(), atol=1e-10)
    U3, _, _ = truncated_svd(M, 3)
    np.testing.assert_array_equal(U.numpy(), U3.numpy())  # deterministic


def test_truncated_svd_of_a_small_matrix_is_its_svd():
    # rank + n_oversamples >= min(n1, n2): the SVD of M directly, equal to the range finder's
    rng = np.random.default_rng(1)
    M = torch.tensor(rng.normal(size=(2, 9, 6)))
    U, S, V = truncated_svd(M, 2)
    U2, S2, Vh2 = torch.linalg.svd(M, full_matrices=False)
    np.testing.assert_allclose(S.numpy(), S2[:, :2].numpy(), rtol=1e-12)
    best = (U2[..., :2] * S2[:, None, :2]) @ Vh2[:, :2]
    np.testing.assert_allclose(((U * S[:, None, :]) @ V.mT).numpy(), best.numpy(), atol=1e-12)


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_small_spd_inverse_is_the_adjugate_one(dtype, tol):
    # sizes 1-3 use the closed form, 4 Gauss-Jordan: all invert SPD Gram matrices of spread
    # eigenvalues to round-off times their condition number
    from skunfold.rpca.graphs import spd_inverse

    gen = torch.Generator().manual_seed(1)
    for n in (1, 2, 3, 4):
        B = torch.randn(5, 2 * n, n, generator=gen, dtype=dtype) * torch.logspace(0, -1, n,
                                                                                  dtype=dtype)
        G = B.mT @ B
        error = spd_inverse(G) @ G - torch.eye(n, dtype=dtype)
        assert float(error.abs().max()) < tol * float(torch.linalg.cond(G).max())


def test_truncated_svd_of_small_matrices_is_exact_without_gradient():
    from skunfold.rpca import truncated_svd

    gen = torch.Generator().manual_seed(2)
    M = (torch.randn(2, 40, 3, generator=gen, dtype=torch.float64)
         @ torch.randn(2, 3, 40, generator=gen, dtype=torch.float64)
         + 0.3 * torch.randn(2, 40, 40, generator=gen, dtype=torch.float64))
    U, S, V = truncated_svd(M, 3)
    U2, S2, Vh2 = torch.linalg.svd(M)
    best = (U2[..., :3] * S2[:, None, :3]) @ Vh2[:, :3]
    assert float(((U * S[:, None, :]) @ V.mT - best).abs().max()) < 1e-12
    # under autograd the range finder runs (its gradient stays finite); it is approximate
    Mg = M.clone().requires_grad_(True)
    Ug, Sg, Vg = truncated_svd(Mg, 3)
    approx = float(((Ug * Sg[:, None, :]) @ Vg.mT - best).detach().abs().max())
    assert 1e-12 < approx < 1e-2
    ((Ug * Sg[:, None, :]) @ Vg.mT).sum().backward()
    assert bool(torch.isfinite(Mg.grad).all())


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-12), (torch.float32, 2e-5)])
def test_exportable_factorisations_match_lapack(dtype, tol):
    from skunfold.rpca.graphs import leading_singular_subspace, spd_inverse

    gen = torch.Generator().manual_seed(0)
    for m, q, k in [(8, 6, 2), (40, 15, 5), (60, 25, 5)]:
        A = torch.randn(3, m, q, generator=gen, dtype=dtype) * torch.logspace(0, -4, q,
                                                                              dtype=dtype)
        U, S, V = leading_singular_subspace(A, k)
        U2, S2, Vh2 = torch.linalg.svd(A, full_matrices=False)
        assert torch.allclose(S, S2[:, :k], rtol=tol)
        best = (U2[..., :k] * S2[:, None, :k]) @ Vh2[:, :k]
        assert float(((U * S[:, None, :]) @ V.mT - best).abs().max()) < tol * float(S2.max())
        G = A.mT @ A + torch.eye(q, dtype=dtype)
        assert torch.allclose(spd_inverse(G) @ G, torch.eye(q, dtype=dtype), atol=tol)
    # rank-deficient and zero matrices: the deficient triplets are zero, nothing is NaN
    A = torch.randn(2, 8, 1, generator=gen, dtype=dtype) @ torch.randn(2, 1, 6, generator=gen,
                                                                        dtype=dtype)
    U, S, V = leading_singular_subspace(A, 3)
    assert float(((U * S[:, None, :]) @ V.mT - A).abs().max()) < 10 * tol * float(A.abs().max())
    U, S, V = leading_singular_subspace(torch.zeros(2, 8, 6, dtype=dtype), 2)
    assert bool(torch.isfinite(U).all()) and float(S.abs().max()) == 0.0


def _reference_lrpca_step(X, L, R, eta_L, eta_R, zeta):
    """LRPCA's layer written out plainly (numpy, float64), with ``zeta`` relative to rms(X)."""
    theta = zeta * np.sqrt(np.mean(X * X))
    E = X - L @ R.T
    Y = np.sign(E) * np.maximum(np.abs(E) - theta, 0.0)
    G = X - L @ R.T - Y
    L_new = L + eta_L * G @ R @ np.linalg.inv(R.T @ R)
    R_new = R + eta_R * G.T @ L @ np.linalg.inv(L.T @ L)
    return L_new, R_new, Y


@pytest.mark.parametrize("shape", [(30, 24), (400, 360)])  # batched; blocked (3 blocks)
def test_optimised_layer_equals_reference_step(shape):
    from skunfold.rpca import RobustPCAProblem

    X, _, _ = make_rpca(2, shape, rank=3, outlier_fraction=0.1, random_state=3)
    X[1] *= 7.0  # instances of different scales: per-instance thresholds
    x = torch.tensor(X)
    problem = RobustPCAProblem(rank=3)
    eta_L, eta_R, zeta, zeta0 = 0.8, 0.6, 0.4, 2.0
    with torch.no_grad():
        state = problem.initial_state(x, init_threshold=zeta0)
        L0, R0 = state[0].numpy(), state[1].numpy()
        # the initialisation: Y_0 = T(X), factors of the (randomized) truncated SVD of X - Y_0
        for i in range(2):
            theta0 = zeta0 * np.sqrt(np.mean(X[i] * X[i]))
            Y0 = np.sign(X[i]) * np.maximum(np.abs(X[i]) - theta0, 0.0)
            U, S, V = (t[0].numpy() for t in truncated_svd(torch.tensor(X[i] - Y0)[None], 3))
            best = (U * S) @ V.T
            np.testing.assert_allclose(L0[i] @ R0[i].T, best, atol=1e-12 * np.abs(best).max())
            np.testing.assert_allclose(problem.readout(state)[i, 1].numpy(), Y0, atol=1e-12)
        new = problem.step(state, x, step_L=eta_L, step_R=eta_R, threshold=zeta)
        out = problem.readout(new).numpy()
    # with autograd on, the step takes the plain path (kept for training): same values
    L_grad = state[0].clone().requires_grad_(True)
    plain = problem.step((L_grad,) + state[1:], x, step_L=eta_L, step_R=eta_R,
                         threshold=zeta)
    for i in range(2):
        L_ref, R_ref, Y_ref = _reference_lrpca_step(X[i], L0[i], R0[i], eta_L, eta_R, zeta)
        tol = 1e-10 * np.abs(X[i]).max()
        np.testing.assert_allclose(new[0][i].numpy(), L_ref, rtol=1e-9, atol=tol)
        np.testing.assert_allclose(new[1][i].numpy(), R_ref, rtol=1e-9, atol=tol)
        np.testing.assert_allclose(out[i, 0], L_ref @ R_ref.T, rtol=1e-9, atol=tol)
        np.testing.assert_allclose(out[i, 1], Y_ref, atol=tol)
        np.testing.assert_allclose(plain[0][i].detach().numpy(), L_ref, rtol=1e-9, atol=tol)
        np.testing.assert_allclose(plain[1][i].detach().numpy(), R_ref, rtol=1e-9, atol=tol)
    # float32 agrees to float32 round-off
    with torch.no_grad():
        s32 = problem.initial_state(x.float(), init_threshold=zeta0)
        n32 = problem.step(s32, x.float(), step_L=eta_L, step_R=eta_R, threshold=zeta)
    V32 = problem.readout(n32)[:, 0].double().numpy()
    np.testing.assert_allclose(V32, out[:, 0], atol=2e-5 * np.abs(out[:, 0]).max())


# -- the classical solver -------------------------------------------------------------
def test_robust_pca_converges():
    X, L, S = make_rpca(3, (60, 50), rank=2, outlier_fraction=0.05, random_state=0)
    est = RobustPCA(rank=2, n_layers=80, device="cpu").fit(X)
    V, Y = est.decompose(X)
    assert V.dtype == np.float64
    assert rel_err(V, L) < 1e-5
    np.testing.assert_allclose(Y, S, atol=1e-4 * np.abs(X).max())
    errs = [rel_err(Vk, L) for Vk in est.staged_predict(X)]
    assert len(errs) == 80 and errs[-1] < errs[9] < errs[0]
    np.testing.assert_allclose(est.predict(X), V)
    assert est.n_iter_ == 80 and est.thresholds_.shape == (81,)
    # a deeper classical run than fitted is fine (tied iteration)
    assert len(list(est.staged_predict(X[:1], n_layers=90))) == 90


def test_robust_pca_is_scale_invariant(small):
    _, _, Xt, _ = small
    est = RobustPCA(rank=2, n_layers=10, device="cpu").fit(Xt)
    np.testing.assert_allclose(est.predict(1000.0 * Xt), 1000.0 * est.predict(Xt), rtol=1e-8)


def test_robust_pca_with_psi():
    psi = perturb_psi(40, 0.3, random_state=0)
    X, L, S = make_rpca(2, (40, 40), rank=2, outlier_fraction=0.05, psi=psi, random_state=0)
    good = RobustPCA(rank=2, n_layers=150, psi=psi, device="cpu").fit(X)
    ignorant = RobustPCA(rank=2, n_layers=150, device="cpu").fit(X)
    assert rel_err(good.predict(X), L) < 1e-3
    assert rel_err(ignorant.predict(X), L) > 10 * rel_err(good.predict(X), L)
    V, Y = good.decompose(X)
    obj = good.objective(X, V, Y)
    assert obj.shape == (2,) and np.all(obj > 0)
    # objective (24) itself: 1/2 ||V + psi Y - X||^2 + alpha rms(X) ||Y||_1
    rms = np.sqrt(np.mean(X ** 2, axis=(1, 2)))
    expected = 0.5 * np.sum((V + psi @ Y - X) ** 2, axis=(1, 2)) \
        + 0.05 * rms * np.abs(Y).sum(axis=(1, 2))
    np.testing.assert_allclose(obj, expected, rtol=1e-10)
    clone = pickle.loads(pickle.dumps(good))
    np.testing.assert_array_equal(clone.predict(X), good.predict(X))


# -- the unfolded model -----------------------------------------------------------------
@pytest.mark.parametrize("paradigm", PARADIGMS)
def test_untrained_model_is_the_classical_solver(paradigm):
    psi = perturb_psi(24, 0.05, random_state=1) if paradigm in ("objective", "dnn") else None
    X, _, _ = make_rpca(3, (24, 20), rank=2, psi=psi, random_state=0)
    X = X.astype(np.float32)
    params = dict(rank=2, psi=psi, threshold=0.4, threshold_decay=0.7, step_size=0.6,
                  init_threshold=2.0, device="cpu")
    untrained = LearnedRPCA(n_layers=5, paradigm=paradigm, max_epochs=0, **params).fit(X)
    classical = RobustPCA(n_layers=5, **params).fit(X)
    V_u, Y_u = untrained.decompose(X)
    V_c, Y_c = classical.decompose(X)
    assert V_u.dtype == np.float32
    scale = np.abs(X).max()
    np.testing.assert_allclose(V_u, V_c, atol=2e-5 * scale)
    np.testing.assert_allclose(Y_u, Y_c, atol=2e-5 * scale)
    # layer by layer, the initialisation included
    for k in range(3):
        np.testing.assert_allclose(untrained.decompose(X, n_layers=k)[1],
                                   classical.decompose(X, n_layers=k)[1], atol=2e-5 * scale)
    staged = zip(untrained.staged_predict(X), classical.staged_predict(X, n_layers=5))
    for V_uk, V_ck in staged:
        np.testing.assert_allclose(V_uk, V_ck, atol=2e-5 * scale)
    np.testing.assert_allclose(untrained.step_sizes_, classical.step_sizes_, rtol=1e-6)
    np.testing.assert_allclose(untrained.thresholds_, classical.thresholds_, rtol=1e-6)
    as_classical = LearnedRPCA(n_layers=5, paradigm="classical", **params).fit(X)
    np.testing.assert_allclose(as_classical.predict(X), V_c, rtol=1e-6)


def test_learned_beats_classical_at_equal_depth(small, trained):
    X, L, Xt, Lt = small
    classical = RobustPCA(rank=2, n_layers=4, device="cpu").fit(Xt)
    err_learned = rel_err(trained.predict(Xt), Lt)
    err_classical = rel_err(classical.predict(Xt), Lt)
    assert err_learned < 0.3 * err_classical
    staged = [rel_err(V, Lt) for V in trained.staged_predict(Xt)]
    assert len(staged) == 4 and staged[-1] == pytest.approx(err_learned)
    thresholds = trained.thresholds_
    assert thresholds.shape == (5,) and np.all(thresholds > 0)
    assert trained.step_sizes_.shape == (4, 2)
    assert -trained.score(Xt, Lt) == pytest.approx(err_learned)


def test_trained_model_applies_to_another_size(trained):
    X2, L2, _ = make_rpca(6, (60, 50), rank=2, outlier_fraction=0.05, random_state=3)
    classical = RobustPCA(rank=2, n_layers=4, device="cpu").fit(X2)
    err_learned = rel_err(trained.predict(X2), L2)
    assert err_learned < 0.3 * rel_err(classical.predict(X2), L2)
    # the thresholds are relative to the instance's rms: the amplitude does not matter either
    np.testing.assert_allclose(trained.predict(7.0 * X2), 7.0 * trained.predict(X2),
                               rtol=1e-4, atol=1e-4 * np.abs(7.0 * X2).max())


def test_size_dependent_models_refuse_other_sizes(small):
    X, L, _, _ = small
    est = LearnedRPCA(rank=2, n_layers=2, paradigm="objective", max_epochs=1,
                      loss_schedule=sequential(1), random_state=0, device="cpu").fit(X[:4], L[:4])
    with pytest.raises(ValueError, match="size-dependent"):
        est.predict(np.zeros((1, 40, 30)) + 1.0)
    with pytest.raises(ValueError, match="psi was given"):
        LearnedRPCA(rank=2, n_layers=2, max_epochs=0, psi=np.eye(30)).fit(X[:2]).predict(
            np.ones((1, 20, 30)))


def test_rank_is_clipped_to_the_matrix_size(small):
    X, L, _, _ = small
    # a rank of at least min(n1, n2) is clipped: the low-rank part is then the whole matrix
    est = LearnedRPCA(rank=50, n_layers=2, max_epochs=1, loss_schedule=sequential(1),
                      random_state=0, device="cpu").fit(X, L)
    assert est.rank_ == 30
    assert est.predict(X[:2]).shape == (2, 30, 30)
    classical = RobustPCA(rank=2, n_layers=3, device="cpu").fit(X[:2])
    assert classical.rank_ == 2
    # a size-free model on a smaller matrix: the rank is clipped to that matrix
    V = classical.predict(X[:1, :2, :])
    assert V.shape == (1, 2, 30) and np.linalg.matrix_rank(V[0]) <= 2
    thin = RobustPCA(rank=5, n_layers=3, device="cpu").fit(X[0, :, :3])
    assert thin.rank_ == 3 and thin.transform(X[0, :, :3]).shape == (30, 3)


@pytest.mark.parametrize("paradigm", ["objective", "correction", "dnn"])
def test_other_paradigms_train_and_improve(small, paradigm):
    X, L, Xt, Lt = small
    est = LearnedRPCA(rank=2, n_layers=3, paradigm=paradigm, max_epochs=6,
                      random_state=0, device="cpu").fit(X, L)
    untrained = LearnedRPCA(rank=2, n_layers=3, paradigm=paradigm, max_epochs=0,
                            device="cpu").fit(X, L)
    assert rel_err(est.predict(Xt), Lt) < 0.7 * rel_err(untrained.predict(Xt), Lt)


def test_objective_paradigm_learns_the_true_transform():
    """Mismatched psi: learning Psi_k beats learning hyperparameters only."""
    n = 40
    X, L, _ = make_rpca(16, (n, n), rank=2, outlier_fraction=0.05, random_state=0)
    Xt, Lt, _ = make_rpca(8, (n, n), rank=2, outlier_fraction=0.05, random_state=1)
    noisy = perturb_psi(n, 0.3, random_state=2)  # the solvers get a wrong psi; data use I
    common = dict(rank=2, n_layers=4, psi=noisy, max_epochs=30, loss_schedule=sequential(4),
                  batch_size=2, lr=0.05, random_state=0, device="cpu")
    hyper = LearnedRPCA(paradigm="hyperparameters", **common).fit(X, L)
    obj = LearnedRPCA(paradigm="objective", **common).fit(X, L)
    assert rel_err(obj.predict(Xt), Lt) < 0.85 * rel_err(hyper.predict(Xt), Lt)


def test_unsupervised_and_semi_supervised_training(small):
    X, L, Xt, Lt = small
    untrained = LearnedRPCA(rank=2, n_layers=4, max_epochs=0, device="cpu").fit(X)
    unsup = LearnedRPCA(rank=2, n_layers=4, max_epochs=12, loss_schedule=sequential(2),
                        alpha=0.01, random_state=0, device="cpu").fit(X)
    assert unsup.score(Xt) > untrained.score(Xt)  # lower objective (24)
    assert rel_err(unsup.predict(Xt), Lt) < rel_err(untrained.predict(Xt), Lt)
    y = L.copy()
    y[8:] = np.nan
    semi = LearnedRPCA(rank=2, n_layers=4, max_epochs=12, loss_schedule=sequential(2),
                       random_state=0, device="cpu").fit(X, y)
    assert rel_err(semi.predict(Xt), Lt) < rel_err(untrained.predict(Xt), Lt)


def test_two_dimensional_input_is_one_instance(small):
    X, L, _, _ = small
    est = LearnedRPCA(rank=2, n_layers=3, max_epochs=4, loss_schedule=sequential(1),
                      random_state=0, device="cpu")
    est.fit(X[0], L[0])
    assert est.n_features_in_ == 30 and est.instance_shape_ == (30, 30)
    V = est.transform(X[1])
    assert V.shape == (30, 30)
    np.testing.assert_allclose(est.predict(X[1:2])[0], V, rtol=1e-5, atol=1e-7)
    low, sparse = est.decompose(X[1])
    np.testing.assert_allclose(low, V)
    np.testing.assert_allclose(sparse, est.predict_sparse(X[1]))
    assert np.mean(sparse != 0) < 0.5
    np.testing.assert_array_equal(est.get_feature_names_out(),
                                  [f"x{i}" for i in range(30)])
    # as a denoising step of a pipeline: 1-D labels are not a low-rank target
    labels = np.arange(30) % 2
    pipe = make_pipeline(LearnedRPCA(rank=2, n_layers=2, max_epochs=1,
                                     loss_schedule=sequential(1), device="cpu"))
    with pytest.warns(IgnoredTargetWarning):
        pipe.fit(X[0], labels)
    assert pipe.transform(X[0]).shape == (30, 30)


def test_grid_search_over_stacks(small):
    X, L, _, _ = small
    grid = GridSearchCV(
        LearnedRPCA(rank=2, max_epochs=4, random_state=0, device="cpu"),
        {"n_layers": [1, 3], "paradigm": ["classical", "hyperparameters"],
         "loss_schedule": ["end_to_end", MultiIteration()]},
        cv=KFold(2),
    )
    grid.fit(X, L)
    assert grid.best_params_["n_layers"] == 3
    assert grid.best_params_["paradigm"] == "hyperparameters"
    assert grid.predict(X[:2]).shape == (2, 30, 30)


def test_depth_and_learning_rate_schedule_parameters(trained, small):
    # depth is n_layers on every estimator; the half-cosine decay is the core's
    # Optimizer(lr_schedule="cosine"), what LearnedRPCA's optimizer=None means
    assert "max_iter" not in RobustPCA().get_params()
    assert "max_iter" not in LearnedRPCA().get_params()
    assert RobustPCA().n_layers == 100 and LearnedRPCA().n_layers == 10
    params = LearnedRPCA().get_params()
    assert params["optimizer"] is None
    assert not {"lr_decay", "lr_schedule", "max_grad_norm"} & set(params)
    assert len(params) <= 25 and len(RobustPCA().get_params()) <= 25
    assert any(type(cb).__name__ == "StageCosineLR" for _, cb in trained.net_.callbacks_)
    constant = LearnedRPCA(rank=2, n_layers=2, max_epochs=2, optimizer="adam",
                           loss_schedule="end_to_end", device="cpu").fit(small[0][:2], small[1][:2])
    assert not any(type(cb).__name__ == "StageCosineLR" for _, cb in constant.net_.callbacks_)


def test_pickle_and_warm_start(trained, small):
    _, _, Xt, _ = small
    clone = pickle.loads(pickle.dumps(trained))
    np.testing.assert_array_equal(clone.predict(Xt), trained.predict(Xt))
    X, L, _, _ = small
    est = LearnedRPCA(rank=2, n_layers=3, max_epochs=2, loss_schedule=sequential(1),
                      warm_start=True, random_state=0, device="cpu").fit(X, L)
    first = est.thresholds_
    est.fit(X, L)
    assert not np.allclose(est.thresholds_, first)  # continued from the first fit
    est.set_params(n_layers=2).fit(X, L)             # other architecture: fresh start
    assert est.thresholds_.shape == (3,)
    # a size-dependent model warm-started on matrices of another size starts afresh
    obj = LearnedRPCA(rank=2, n_layers=2, paradigm="objective", max_epochs=1, warm_start=True,
                      loss_schedule=sequential(1), random_state=0, device="cpu").fit(X[:4], L[:4])
    X2, L2, _ = make_rpca(4, (36, 30), rank=2, outlier_fraction=0.05, random_state=5)
    assert obj.fit(X2, L2).predict(X2).shape == (4, 36, 30)


# -- bad input --------------------------------------------------------------------------
def test_bad_input_gives_clear_errors(small):
    X, L, _, _ = small
    est = LearnedRPCA(rank=2, n_layers=2, max_epochs=1, loss_schedule=sequential(1), device="cpu")
    with pytest.raises(NotFittedError):
        est.predict(X)
    with pytest.raises(ValueError, match="square"):
        LearnedRPCA(rank=2, psi=np.ones((30, 20))).fit(X, L)
    with pytest.raises(ValueError, match="singular"):
        LearnedRPCA(rank=2, psi=np.ones((30, 30))).fit(X, L)
    with pytest.raises(ValueError, match="n1 = 30 rows"):
        LearnedRPCA(rank=2, psi=np.eye(20)).fit(X, L)
    bad = X.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        est.fit(bad, L)
    with pytest.raises(ValueError, match="different shapes"):
        est.fit([X[0], X[1, :20]])
    with pytest.raises(ValueError, match="1-D"):
        est.fit(X[0, 0])
    with pytest.raises(ValueError, match="4-D"):
        est.fit(X[None])
    with pytest.raises(ValueError, match="empty matrices"):
        est.fit(np.zeros((2, 0, 30)))
    with pytest.raises(ValueError, match="low-rank ground truth"):
        est.fit(X, L[:, :20])
    partly = L.copy()
    partly[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="partly NaN"):
        est.fit(X, partly)
    with pytest.raises(TypeError, match="[Ss]parse"):
        est.fit(sp.csr_matrix(X[0]))
    with pytest.raises(ValueError, match="[Cc]omplex"):
        est.fit(X[0] + 1j)
    for name, value in [("rank", 0), ("n_layers", 0), ("threshold", -1.0),
                        ("threshold_decay", 1.5), ("step_size", 0.0), ("kernel_size", 2),
                        ("paradigm", "lista")]:
        with pytest.raises((ValueError, TypeError), match=name):
            LearnedRPCA(**{"rank": 2, name: value}).fit(X, L)
    with pytest.raises(TypeError, match="rank"):
        LearnedRPCA(rank=2.5).fit(X, L)


def test_failed_fit_leaves_fitted_model_usable(trained, small):
    _, _, Xt, _ = small
    before = trained.predict(Xt)
    with pytest.raises(ValueError):
        trained.fit(np.full((2, 30, 30), np.inf))
    np.testing.assert_array_equal(trained.predict(Xt), before)


def test_dtypes(small):
    X, L, _, _ = small
    est = LearnedRPCA(rank=2, n_layers=2, max_epochs=1, loss_schedule=sequential(1),
                      random_state=0, device="cpu").fit(X, L)
    assert est.predict(X.astype(np.float32)).dtype == np.float32
    assert est.predict(X).dtype == np.float64
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert est.predict((X * 100).astype(np.int64)).dtype == np.float64
