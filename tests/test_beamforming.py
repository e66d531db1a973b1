"""Hybrid beamforming: the rate and its gradients, the constraints, untrained = classical,
trained > classical, model selection and bad input."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV

from skunfold.beamforming import (
    HybridPGA,
    HybridPrecoding,
    UnfoldedHybridPGA,
    power_scale,
    rate_gradients,
    sum_rate,
    unit_modulus,
)
from skunfold.beamforming import linalg as bf_linalg
from skunfold.beamforming import problem as bf_problem
from skunfold.datasets import make_wideband_channels

SMALL = dict(n_bands=3, n_users=2, n_antennas=6)
L = 3


@pytest.fixture(scope="module")
def channels():
    """Small complex channels: 240 for training, 120 held out."""
    return (make_wideband_channels(240, random_state=0, **SMALL),
            make_wideband_channels(120, random_state=1, **SMALL))


def _power(P):
    return np.sum(np.abs(P) ** 2, axis=tuple(range(1, P.ndim)))


# -- the data ------------------------------------------------------------------------------

def test_make_wideband_channels():
    H = make_wideband_channels(2000, n_bands=2, n_users=3, n_antennas=4, random_state=0)
    assert H.shape == (2000, 2, 3, 4) and H.dtype == np.complex128
    assert abs(np.mean(np.abs(H) ** 2) - 1) < 0.02          # CN(0, 1)
    assert abs(np.mean(H.real ** 2) - 0.5) < 0.02
    R = make_wideband_channels(2000, n_bands=2, n_users=3, n_antennas=4, complex=False,
                               random_state=0)
    assert R.dtype == np.float64 and abs(np.mean(R ** 2) - 1) < 0.02
    assert np.array_equal(H, make_wideband_channels(2000, n_bands=2, n_users=3, n_antennas=4,
                                                    random_state=0))
    with pytest.raises(ValueError, match="n_users"):
        make_wideband_channels(10, n_users=0)
    with pytest.raises(ValueError, match="complex"):
        make_wideband_channels(10, complex="yes")


# -- the pieces of the iteration -------------------------------------------------------------

@pytest.mark.parametrize("dtype", [torch.complex128, torch.float64])
def test_closed_form_gradients_match_autograd(dtype):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 3, 2, 5, dtype=dtype, generator=g)
    Wa = torch.randn(4, 5, 3, dtype=dtype, generator=g).requires_grad_(True)
    Wd = torch.randn(4, 3, 3, 2, dtype=dtype, generator=g).requires_grad_(True)
    problem = HybridPrecoding((3, 2, 5), 3, np.ones((3, 3, 2)))
    rate = problem.objective(problem.readout((Wa, Wd)), x).sum()
    auto_a, auto_d = torch.autograd.grad(rate, (Wa, Wd))
    grad_a, grad_d = rate_gradients(x, Wa.detach(), Wd.detach())
    # the conjugate Wirtinger gradient is half of autograd's (d/dRe + i d/dIm)
    torch.testing.assert_close(2 * grad_a, auto_a)
    torch.testing.assert_close(2 * grad_d, auto_d)


def _det_rate(H, P):
    G = H @ P
    return np.log(np.linalg.det(np.eye(len(G)) + G @ G.conj().T).real)


def test_sum_rate(channels):
    H = channels[0][:5]
    rng = np.random.default_rng(0)
    P = rng.normal(size=(5, 3, 6, 2)) + 1j * rng.normal(size=(5, 3, 6, 2))
    expected = np.mean([[_det_rate(H[i, b], P[i, b]) for b in range(3)] for i in range(5)],
                       axis=1)
    np.testing.assert_allclose(sum_rate(H, P), expected, rtol=1e-12)
    with pytest.raises(ValueError, match="do not match"):
        sum_rate(H, P.swapaxes(2, 3))


@pytest.mark.parametrize("constraint", ["unit_modulus", None])
@pytest.mark.parametrize("shape, n_rf, kind", [((3, 2, 6), 3, "complex"), ((3, 2, 6), 3, "real"),
                                               ((1, 1, 5), 3, "complex"), ((2, 1, 5), 4, "real")])
def test_traced_iteration_is_predicts(monkeypatch, shape, n_rf, kind, constraint):
    """Traced (export): Jacobi rotations and real embeddings; the same precoders as in Python.

    Also with an odd number of antennas and more RF chains than the covariance's rank.
    """
    H = make_wideband_channels(6, *shape, complex=kind == "complex", random_state=0)
    rng = np.random.default_rng(0)
    W0 = rng.standard_normal((shape[0], n_rf, shape[1]))
    if kind == "complex":
        W0 = W0 + 1j * rng.standard_normal(W0.shape)
    problem = HybridPrecoding(shape, n_rf, W0, analog_constraint=constraint)
    x = torch.as_tensor(H)

    def run():
        state = problem.initial_state(x)
        estimates = [problem.readout(state)]
        for k in range(3):
            state = problem.step(state, x, **problem.layer_hyperparameters(k))
            estimates.append(problem.readout(state))
        return estimates

    eager = run()
    monkeypatch.setattr(bf_linalg, "tracing", lambda: True)
    monkeypatch.setattr(bf_problem, "tracing", lambda: True)
    traced = run()
    for a, b in zip(eager, traced):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=0, atol=1e-10)
    Wa = problem.unpack(eager[0].numpy())[0]
    if constraint is None:  # orthonormal; the eigenvectors' first entries real and positive
        gram = np.conj(Wa.swapaxes(1, 2)) @ Wa
        np.testing.assert_allclose(gram, np.broadcast_to(np.eye(n_rf), gram.shape), atol=1e-12)
        rank = min(shape[0] * shape[1], n_rf)
        assert np.all(Wa[:, 0, :rank].real > 0) and np.allclose(Wa[:, 0, :rank].imag, 0)


def test_traced_start_and_solves_match_lapack(monkeypatch):
    # the written-out graphs of an export: the squarings' eigenvectors and the solves without
    # pivoting agree with eigh and LAPACK's solve, in float64 and (solves) float32
    H = torch.as_tensor(make_wideband_channels(400, n_bands=8, n_users=6, n_antennas=12,
                                               random_state=0))
    Cr, Ci = bf_linalg.channel_covariance(H)
    G = bf_problem._through_analog(H, torch.randn(12, 6, dtype=H.dtype)) @ torch.randn(
        8, 6, 6, dtype=H.dtype)
    A = torch.eye(6) + G @ G.mH
    eager = [bf_linalg.dominant_eigenvectors(Cr, Ci, 6),
             bf_linalg.dominant_eigenvectors(Cr, None, 6)[0]]
    monkeypatch.setattr(bf_linalg, "tracing", lambda: True)
    start = bf_linalg.dominant_eigenvectors(Cr, Ci, 6)
    for a, b in zip(eager[0], start):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=0, atol=1e-11)
    np.testing.assert_allclose(bf_linalg.dominant_eigenvectors(Cr, None, 6)[0].numpy(),
                               eager[1].numpy(), rtol=0, atol=1e-11)
    for dtype, tol in ((torch.float64, 1e-12), (torch.float32, 1e-6)):
        # float32: the exact solution of the rounded system (the solve runs in float64)
        A, G = (M.to(torch.complex64).to(torch.complex128) if dtype == torch.float32 else M
                for M in (A, G))
        X = bf_linalg.compact(bf_linalg.hpd_solve(bf_linalg.embed(A).to(dtype),
                                                  bf_linalg.embed(G).to(dtype), True), True)
        assert X.dtype == (torch.complex128 if dtype == torch.float64 else torch.complex64)
        want = torch.linalg.solve(A, G)
        np.testing.assert_allclose(X.numpy(), want.numpy(), rtol=0,
                                   atol=tol * want.abs().max().item())
        X = bf_linalg.hpd_solve(A.real.to(dtype), G.real.to(dtype), False)
        want = torch.linalg.solve(A.real, G.real)
        np.testing.assert_allclose(X.numpy(), want.numpy(), rtol=0,
                                   atol=tol * want.abs().max().item())


def test_unit_modulus_and_power_scale():
    W = torch.tensor([[1 + 1j, 0j], [-3.0 + 0j, 2j]])
    np.testing.assert_allclose(unit_modulus(W, 0.5).abs().numpy(), 0.5)
    np.testing.assert_allclose(unit_modulus(torch.tensor([-2.0, 0.0, 3.0])).numpy(), [-1, 1, 1])
    Wa, Wd = torch.randn(2, 4, 3), torch.randn(2, 5, 3, 2)
    c = power_scale(Wa, Wd, 10.0)
    P = Wa[:, None] @ (Wd * c[:, None, None, None])
    np.testing.assert_allclose((P ** 2).sum((1, 2, 3)).numpy(), 10.0, rtol=1e-5)


def _numpy_pga(H, W0, n_iter, L, step=0.5, unit=True):
    """An independent numpy implementation of the documented iteration (float64)."""
    n, B, N, M = H.shape
    budget = N * B

    def scale(Wa, Wd):
        return np.sqrt(budget / np.sum(np.abs(Wa[:, None] @ Wd) ** 2, axis=(1, 2, 3)))

    def T(Wa, Wd):
        G = H @ Wa[:, None] @ Wd
        return np.conj(np.swapaxes(H, -1, -2)) @ np.linalg.solve(
            np.eye(N) + G @ np.conj(np.swapaxes(G, -1, -2)), G)

    def project(Wa):
        return np.exp(1j * np.angle(Wa)) / np.sqrt(M)

    # the leading eigenvectors of the band-averaged covariance, first entries real positive
    C = np.mean(np.conj(np.swapaxes(H, -1, -2)) @ H, axis=1)
    Wa = np.linalg.eigh(C)[1][:, :, ::-1][:, :, :L]
    Wa = Wa * np.exp(-1j * np.angle(Wa[:, :1]))
    if unit:
        Wa = project(Wa)
    Wd = np.broadcast_to(W0, (n,) + W0.shape)
    Wd = Wd * scale(Wa, Wd)[:, None, None, None]
    for _ in range(n_iter):
        Wa = Wa + step * np.sum(T(Wa, Wd) @ np.conj(np.swapaxes(Wd, -1, -2)), axis=1) / B
        if unit:
            Wa = project(Wa)
            Wd = Wd * scale(Wa, Wd)[:, None, None, None]
        else:
            Wa = Wa * scale(Wa, Wd)[:, None, None]
        Wd = Wd + step * np.conj(np.swapaxes(Wa, -1, -2))[:, None] @ T(Wa, Wd) / B
        Wd = Wd * scale(Wa, Wd)[:, None, None, None]
    return Wa, Wd


@pytest.mark.parametrize("constraint", ["unit_modulus", None])
def test_classical_solver_is_the_documented_iteration(channels, constraint):
    H = channels[1][:20]
    pga = HybridPGA(n_layers=4, n_rf_chains=L, analog_constraint=constraint,
                    random_state=3).fit(H)
    rng = np.random.RandomState(3)
    W0 = (rng.standard_normal((3, L, 2)) + 1j * rng.standard_normal((3, L, 2))) / np.sqrt(2)
    Wa, Wd = _numpy_pga(H, W0, 4, L, unit=constraint is not None)
    analog, digital = pga.decompose(H)
    np.testing.assert_allclose(analog, Wa, atol=1e-10)
    np.testing.assert_allclose(digital, Wd, atol=1e-10)
    np.testing.assert_allclose(pga.predict(H), Wa[:, None] @ Wd, atol=1e-10)


# -- the estimators -----------------------------------------------------------------------------

@pytest.mark.parametrize("constraint", ["unit_modulus", None])
@pytest.mark.parametrize("kind", ["complex", "real"])
def test_constraints_hold_on_every_output(channels, constraint, kind):
    H = channels[1][:30] if kind == "complex" else channels[1][:30].real.copy()
    M, budget = SMALL["n_antennas"], SMALL["n_users"] * SMALL["n_bands"]
    for est in (HybridPGA(n_layers=6, n_rf_chains=L, analog_constraint=constraint,
                          random_state=0),
                UnfoldedHybridPGA(n_layers=3, n_rf_chains=L, analog_constraint=constraint,
                                  max_epochs=2, random_state=0)):
        est.fit(H)
        outputs = [est.predict(H), *est.staged_predict(H)]
        for depth in range(est.n_layers + 1):
            analog, digital = est.decompose(H, n_layers=depth)
            outputs.append(analog[:, None] @ digital)
            if constraint == "unit_modulus":
                np.testing.assert_allclose(np.abs(analog), 1 / np.sqrt(M), rtol=1e-5)
        for P in outputs:
            assert np.iscomplexobj(P) == (kind == "complex")
            np.testing.assert_allclose(_power(P), budget, rtol=1e-4)


@pytest.mark.parametrize("paradigm", UnfoldedHybridPGA.paradigms)
@pytest.mark.parametrize("constraint", ["unit_modulus", None])
def test_untrained_is_classical_layer_by_layer(channels, paradigm, constraint):
    H, H_test = channels
    K = 4
    pga = HybridPGA(n_layers=K, n_rf_chains=L, analog_constraint=constraint,
                    random_state=7).fit(H)
    est = UnfoldedHybridPGA(n_layers=K, n_rf_chains=L, paradigm=paradigm, max_epochs=0,
                            analog_constraint=constraint, random_state=7).fit(H)
    reference = list(pga.staged_predict(H_test))
    for k, (ours, theirs) in enumerate(zip(est.staged_predict(H_test), reference)):
        np.testing.assert_allclose(ours, theirs, atol=2e-4, err_msg=f"layer {k + 1}")
    np.testing.assert_allclose(list(est.staged_score(H_test)), list(pga.staged_score(H_test)),
                               rtol=1e-5)
    np.testing.assert_allclose(est.step_sizes_, pga.step_sizes_)
    assert est.step_sizes_.shape == (K, 1 + SMALL["n_bands"])


@pytest.mark.parametrize("paradigm,constraint", [("hyperparameters", "unit_modulus"),
                                                 ("hyperparameters", None),
                                                 ("correction", None)])
def test_trained_beats_classical_at_equal_depth(channels, paradigm, constraint):
    H, H_test = channels
    K = 3
    pga = HybridPGA(n_layers=K, n_rf_chains=L, analog_constraint=constraint,
                    random_state=0).fit(H)
    est = UnfoldedHybridPGA(n_layers=K, n_rf_chains=L, paradigm=paradigm, max_epochs=12,
                            batch_size=40, analog_constraint=constraint,
                            random_state=0).fit(H)
    gain = est.score(H_test) / pga.score(H_test) - 1
    assert gain > 0.02, gain
    steps = est.step_sizes_
    assert steps.shape == (K, 1 + SMALL["n_bands"]) and np.all(steps > 0)
    assert not np.allclose(steps, 0.5)


def test_layer_parameters_are_the_step_sizes_of_the_layers(channels):
    """``layer_parameters_`` reads every layer's step sizes; ``step_sizes_`` is its two columns."""
    H = channels[0][:80]
    K, B = 2, SMALL["n_bands"]
    pga = HybridPGA(n_layers=K, n_rf_chains=L, random_state=0).fit(H)
    table = pga.layer_parameters_
    assert set(table) == {"layer", "analog_step", "digital_step"}
    np.testing.assert_array_equal(table["layer"], [1, 2])
    np.testing.assert_array_equal(table["analog_step"], [0.5, 0.5])
    np.testing.assert_array_equal(table["digital_step"], np.full((K, B), 0.5))
    for paradigm in ("hyperparameters", "correction"):
        est = UnfoldedHybridPGA(n_layers=K, n_rf_chains=L, paradigm=paradigm, max_epochs=2,
                                early_stopping=False, random_state=0).fit(H)
        table = est.layer_parameters_
        with torch.no_grad():
            for k in range(K):
                learned = est.module_.iteration(k).hyperparameters(est.problem_, k)
                assert table["analog_step"][k] == pytest.approx(float(learned["analog_step"]))
                np.testing.assert_allclose(table["digital_step"][k],
                                           learned["digital_step"].numpy(), rtol=1e-6)
        np.testing.assert_array_equal(
            est.step_sizes_, np.column_stack([table["analog_step"], table["digital_step"]]))
        assert not np.allclose(est.step_sizes_, 0.5)


def _validation_channels(est):
    """The channels early stopping held out (skorch's predefined split of the fitted net)."""
    return est.net_.train_split.keywords["valid_ds"].X


def test_fit_keeps_the_best_validation_epoch(channels):
    """A large learning rate oscillates: fit leaves the epoch of best validation rate."""
    H, H_test = channels
    est = UnfoldedHybridPGA(n_layers=3, n_rf_chains=L, analog_constraint=None, lr=2.0,
                            max_epochs=15, batch_size=20, random_state=0).fit(H)
    valid = -np.array([h["valid_loss"] for h in est.history_])
    assert valid.max() > valid[-1] + 1e-3              # the run got worse after its best epoch
    assert est.score(_validation_channels(est)) == pytest.approx(valid.max(), rel=1e-5)
    pga = HybridPGA(n_layers=3, n_rf_chains=L, analog_constraint=None, random_state=0).fit(H)
    assert est.score(H_test) > pga.score(H_test) * 1.05


def test_a_run_below_classical_falls_back_to_classical(channels):
    """lr = 5 drives the step sizes to where the rate is far below the classical one."""
    H, H_test = channels
    pga = HybridPGA(n_layers=3, n_rf_chains=L, analog_constraint=None, random_state=0).fit(H)
    est = UnfoldedHybridPGA(n_layers=3, n_rf_chains=L, analog_constraint=None, lr=5.0,
                            max_epochs=15, batch_size=20, random_state=0)
    # early stopping's validation set shows that training made things worse: the core keeps
    # the untrained (classical) model
    with pytest.warns(ConvergenceWarning, match="untrained model is kept"):
        est.fit(H)
    valid = -np.array([h["valid_loss"] for h in est.history_])
    assert valid.max() < pga.score(_validation_channels(est)) - 0.5
    np.testing.assert_allclose(est.step_sizes_, 0.5, rtol=1e-6)
    assert est.score(H_test) == pytest.approx(pga.score(H_test), rel=1e-5)


def test_a_worsened_warm_start_falls_back_to_classical(channels):
    """A model that ends training below the classical solver is not what fit leaves behind.

    The run warm-starts from step sizes of 1e-4 (the iteration then barely moves) with a
    learning rate too small to leave them.
    """
    H, H_test = channels
    pga = HybridPGA(n_layers=2, n_rf_chains=L, random_state=0).fit(H)
    est = UnfoldedHybridPGA(n_layers=2, n_rf_chains=L, max_epochs=1, random_state=0).fit(H)
    with torch.no_grad():
        for p in est.module_.parameters():
            p.fill_(np.log(1e-4))
    assert est.score(H_test) < pga.score(H_test) - 0.3
    est.set_params(warm_start=True, lr=1e-9)
    with pytest.warns(ConvergenceWarning, match="classical step sizes are kept"):
        est.fit(H)
    np.testing.assert_allclose(est.step_sizes_, 0.5, rtol=1e-6)
    assert est.score(H_test) == pytest.approx(pga.score(H_test), rel=1e-5)


def test_grid_search_over_depth_and_paradigm(channels):
    H = channels[0][:160]
    grid = GridSearchCV(
        UnfoldedHybridPGA(n_rf_chains=L, max_epochs=6, batch_size=40, analog_constraint=None,
                          hidden_layer_sizes=(8,), random_state=0),
        {"n_layers": [1, 3], "paradigm": ["classical", "hyperparameters", "correction"]}, cv=2)
    grid.fit(H)
    scores = {(p["n_layers"], p["paradigm"]): score for p, score in
              zip(grid.cv_results_["params"], grid.cv_results_["mean_test_score"])}
    assert scores[(3, "classical")] > scores[(1, "classical")]
    for paradigm in ("hyperparameters", "correction"):
        assert scores[(3, paradigm)] > scores[(3, "classical")] * 1.02
        assert scores[(1, paradigm)] > scores[(1, "classical")]
    assert grid.best_params_["n_layers"] == 3
    assert grid.best_params_["paradigm"] != "classical"
    assert grid.score(channels[1]) == pytest.approx(grid.best_estimator_.score(channels[1]))


def test_real_channels_and_input_layouts(channels):
    H = channels[0][:40]
    R = H.real.copy()
    real = HybridPGA(n_layers=3, n_rf_chains=L, random_state=0).fit(R)
    assert real.predict(R).dtype == np.float64 and not real.complex_channels_
    with pytest.raises(ValueError, match="fitted on real channels"):
        real.predict(H)
    cplx = HybridPGA(n_layers=3, n_rf_chains=L, random_state=0).fit(H)
    assert cplx.predict(R).dtype == np.complex128                   # real channels are complex
    np.testing.assert_allclose(cplx.predict(R), cplx.predict(R.astype(complex)))
    assert cplx.predict(H.astype(np.complex64)).dtype == np.complex64
    # one band (3-D), one band and one user (2-D): the outputs follow the layout
    one_band = HybridPGA(n_layers=3, n_rf_chains=L, random_state=0).fit(H[:, 0])
    assert one_band.predict(H[:, 0]).shape == (40, 6, 2)
    assert [a.shape for a in one_band.decompose(H[:, 0])] == [(40, 6, L), (40, L, 2)]
    miso = HybridPGA(n_layers=3, n_rf_chains=2, random_state=0).fit(R[:, 0, 0])
    assert miso.predict(R[:, 0, 0]).shape == (40, 6)
    np.testing.assert_allclose(sum_rate(R[:, 0, 0], miso.predict(R[:, 0, 0])).mean(),
                               miso.score(R[:, 0, 0]))
    assert miso.n_features_in_ == 6 and miso.channel_shape_ == (1, 1, 6)


def test_reproducible_by_random_state_and_pickle(channels):
    H, H_test = channels
    a = UnfoldedHybridPGA(n_layers=2, n_rf_chains=L, max_epochs=2, random_state=5).fit(H)
    b = UnfoldedHybridPGA(n_layers=2, n_rf_chains=L, max_epochs=2, random_state=5).fit(H)
    np.testing.assert_array_equal(a.predict(H_test), b.predict(H_test))
    c = HybridPGA(n_layers=2, n_rf_chains=L, random_state=6).fit(H)
    assert not np.allclose(c.predict(H_test), HybridPGA(n_layers=2, n_rf_chains=L,
                                                        random_state=5).fit(H).predict(H_test))
    d = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(d.predict(H_test), a.predict(H_test))


@pytest.mark.parametrize("make_bad,match", [
    (lambda H: H[:, 0, 0, 0], "Expected a 2-D X"),
    (lambda H: H[:, :, :, :, None], "stack of channels"),
    (lambda H: np.where(np.arange(H.size).reshape(H.shape) == 5, np.nan, H), "NaN"),
    (lambda H: H[:, :, :, :0], "empty"),
    (lambda H: [H[0], H[1, :2]], "samples have different shapes"),
])
def test_bad_channels_in_fit(channels, make_bad, match):
    with pytest.raises(ValueError, match=match):
        HybridPGA(n_rf_chains=L).fit(make_bad(channels[0][:10]))


def test_bad_channels_in_predict(channels):
    H = channels[0][:20]
    pga = HybridPGA(n_layers=2, n_rf_chains=L, random_state=0).fit(H)
    with pytest.raises(ValueError, match=r"fitted on channels of shape \(3, 2, 6\)"):
        pga.predict(H[:, :2])
    with pytest.raises(ValueError, match="fitted on channels of shape"):
        pga.predict(H[:, 0])
    with pytest.raises(ValueError, match="NaN"):
        pga.predict(np.full_like(H, np.nan))
    with pytest.raises(ValueError, match="at most their number of layers|cannot be run"):
        list(UnfoldedHybridPGA(n_layers=2, n_rf_chains=L, max_epochs=0).fit(H)
             .staged_predict(H, n_layers=3))


@pytest.mark.parametrize("params,match", [
    (dict(n_rf_chains=7), "n_rf_chains=7 exceeds the number of antennas M=6"),
    (dict(n_rf_chains=0), "n_rf_chains must be >= 1"),
    (dict(n_rf_chains=2.5), "n_rf_chains must be an integer"),
    (dict(step_size=0.0), "step_size must be > 0"),
    (dict(analog_constraint="phase"), "analog_constraint must be one of"),
])
def test_bad_parameters(channels, params, match):
    with pytest.raises((ValueError, TypeError), match=match):
        HybridPGA(**params).fit(channels[0][:10])


def test_bad_paradigm_and_single_sample(channels):
    H = channels[0]
    with pytest.raises(ValueError, match="paradigm must be one of"):
        UnfoldedHybridPGA(n_rf_chains=L, paradigm="dnn").fit(H[:10])
    with pytest.raises(ValueError, match="1 sample"):
        UnfoldedHybridPGA(n_rf_chains=L).fit(H[:1])
    # without early stopping one channel realisation is enough
    UnfoldedHybridPGA(n_rf_chains=L, max_epochs=1, early_stopping=False).fit(H[:1])
