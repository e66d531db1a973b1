"""The safeguard (Heaton et al., AAAI 2023) and robust training, in the core."""

import math
import pickle

import numpy as np
import pytest
import torch

from skunfold.core import (
    Problem,
    Safeguard,
    UnfoldedRegressor,
    pgd_perturbation,
)
from skunfold.core.safeguard import guard_problem
from skunfold.datasets import make_sparse_recovery
from skunfold.metrics import nmse_db
from skunfold.sparse import ISTA, AnalyticGuard, HyperLISTA, UnfoldedAMP, UnfoldedISTA


class Averaging(Problem):
    """``s <- s + step (x - s)``: converges to ``x`` for ``0 < step < 2``."""

    hyperparameters = {"step": 0.5}

    def initial_state(self, x):
        return torch.zeros_like(x)

    def step(self, s, x, step):
        return s + step * (x - s)

    def objective(self, s, x):
        return 0.5 * ((x - s) ** 2).sum(dim=1)


class Gain(Problem):
    """A maximised objective (the objective residual is not defined for it)."""

    hyperparameters = {"step": 0.5}
    maximize = True

    def initial_state(self, x):
        return torch.zeros_like(x)

    def step(self, s, x, step):
        return s + step * (x - s)

    def objective(self, s, x):
        return -((x - s) ** 2).sum(dim=1)


@pytest.fixture(scope="module")
def sparse():
    X, S, D = make_sparse_recovery(n_samples=200, n_measurements=15, n_components=30,
                                   snr_db=40, random_state=0)
    return X, S, D


def _broken_regressor(step, n_layers=4, **params):
    """An averaging model whose learned step sizes are set to ``step`` (>= 2: it diverges)."""
    est = UnfoldedRegressor(Averaging(), n_layers=n_layers, max_epochs=0, safeguard=True,
                            **params)
    X = np.random.default_rng(0).normal(size=(20, 1))
    est.fit(X)
    with torch.no_grad():
        for name, p in est.module_.named_parameters():
            assert name.endswith("step")
            p.fill_(math.log(step))      # positive hyperparameters are learned by their log
    return est, X


def test_fallback_report_matches_a_numpy_reference():
    est, X = _broken_regressor(5.0, n_layers=4, safeguard_delta=0.1, safeguard_theta=0.5)
    with torch.no_grad():  # per-layer learned steps: 5, 0.9, 5, 1.5
        for k, value in enumerate([5.0, 0.9, 5.0, 1.5]):
            est.module_.iterations[k].hyperparameters.raw["step"].fill_(math.log(value))
    s = np.zeros_like(X)
    mu = np.abs(0.5 * X).sum(axis=1)
    fb = []
    for value in [5.0, 0.9, 5.0, 1.5]:
        y = s + value * (X - s)
        r = np.abs(0.5 * (X - y)).sum(axis=1)
        accept = r < 0.9 * mu
        mu = np.where(accept, 0.5 * r + 0.5 * mu, mu)
        s = np.where(accept[:, None], y, s + 0.5 * (X - s))
        fb.append(~accept)
    expected_s, expected_fb = s, np.array(fb).T
    np.testing.assert_allclose(est.predict(X), expected_s, rtol=1e-5)
    np.testing.assert_array_equal(est.module_.safeguard.last_fallback, expected_fb)
    report = est.safeguard_report(X)
    np.testing.assert_allclose(report, expected_fb.mean(axis=0))
    assert report[0] == 1.0 and report[1] == 0.0     # 5x overshoots, 0.9 is accepted
    # past the learned layers: classical updates, reported as fallbacks
    deeper = est.safeguard_report(X, n_layers=7)
    np.testing.assert_allclose(deeper[:4], report)
    np.testing.assert_array_equal(deeper[4:], 1.0)


def test_broken_model_falls_back_and_converges_to_the_classical_solution():
    est, X = _broken_regressor(5.0, n_layers=3)
    guard, est.module_.safeguard = est.module_.safeguard, None
    unguarded = est.iterate(X, n_layers=3)
    assert np.abs(unguarded - X).max() > 10 * np.abs(X).max()   # the broken model diverges
    est.module_.safeguard = guard
    np.testing.assert_allclose(est.iterate(X, n_layers=200), X, atol=1e-6)
    assert est.safeguard_report(X)[0] == 1.0


def test_broken_sparse_model_converges_to_ista(sparse):
    X, S, D = sparse
    est = UnfoldedISTA(D, n_layers=4, paradigm="objective", max_epochs=0, safeguard=True,
                       alpha=0.1).fit(X[:150], S[:150])
    with torch.no_grad():
        for p in est.module_.parameters():
            p.mul_(4.0)                      # matrices and thresholds scaled up: broken
    Xv = X[150:]
    reference = ISTA(D, n_layers=3000, alpha=0.1).fit(Xv).predict(Xv)
    assert est.safeguard_report(Xv).max() > 0.5
    guarded = est.iterate(Xv, n_layers=3000)
    np.testing.assert_allclose(guarded, reference, atol=1e-4)
    est.module_.safeguard = None
    assert np.abs(est.iterate(Xv) - reference).max() > 1.0


def test_tied_model_with_safeguard_converges_to_ista(sparse):
    X, S, D = sparse
    est = UnfoldedISTA(D, n_layers=4, paradigm="hyperparameters", tied=True, max_epochs=0,
                       safeguard=True, safeguard_rule="geometric", alpha=0.1).fit(X, S)
    with torch.no_grad():
        est.module_.iterations[0].hyperparameters.raw["step"].add_(math.log(3.0))
    reference = ISTA(D, n_layers=3000, alpha=0.1).fit(X).predict(X)
    np.testing.assert_allclose(est.iterate(X, n_layers=3000), reference, atol=1e-4)


def test_safeguard_off_and_untrained_models_are_unchanged(sparse):
    X, S, D = sparse
    for safeguard in (False, True):
        plain = UnfoldedISTA(D, n_layers=5, paradigm="objective", max_epochs=2,
                             random_state=0).fit(X, S)
        guarded = UnfoldedISTA(D, n_layers=5, paradigm="objective", max_epochs=2,
                               random_state=0, safeguard=safeguard).fit(X, S)
        same = np.array_equal(plain.predict(X), guarded.predict(X))
        assert same or safeguard           # off: bitwise unchanged
    assert plain.module_.safeguard is None
    # an untrained model's learned update is the classical one: the safeguard changes nothing
    untrained = UnfoldedISTA(D, n_layers=5, max_epochs=0).fit(X, S)
    guarded = UnfoldedISTA(D, n_layers=5, max_epochs=0, safeguard=True).fit(X, S)
    np.testing.assert_allclose(guarded.predict(X), untrained.predict(X), rtol=1e-6, atol=1e-7)
    for a, b in zip(guarded.staged_predict(X), untrained.staged_predict(X)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_staged_predict_agrees_with_predict_and_keeps_dtype(sparse):
    X, S, D = sparse
    est = UnfoldedISTA(D, n_layers=4, paradigm="objective", max_epochs=2, random_state=0,
                       safeguard=True).fit(X, S)
    with torch.no_grad():
        for p in est.module_.parameters():
            p.mul_(2.0)
    staged = list(est.staged_predict(X, n_layers=6))
    assert len(staged) == 6
    np.testing.assert_allclose(staged[-1], est.iterate(X, n_layers=6), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(staged[3], est.predict(X), rtol=1e-6, atol=1e-7)
    assert est.predict(X.astype(np.float32)).dtype == np.float32


def test_lamp_offers_the_safeguard():
    X, S, D = make_sparse_recovery(n_samples=100, n_measurements=20, n_components=40,
                                   snr_db=40, random_state=0)
    est = UnfoldedAMP(D, n_layers=3, max_epochs=1, random_state=0, safeguard=True).fit(X, S)
    report = est.safeguard_report(X, n_layers=5)
    assert report.shape == (5,) and np.all((report >= 0) & (report <= 1))


@pytest.mark.parametrize("params, message", [
    (dict(safeguard_delta=0.0), "safeguard_delta must be > 0"),
    (dict(safeguard_delta=1.0), r"safeguard_delta must be in the open interval \(0, 1\)"),
    (dict(safeguard_delta="big"), "safeguard_delta must be a real number"),
    (dict(safeguard_theta=0.0), "safeguard_theta must be > 0"),
    (dict(safeguard_theta=1.5), "safeguard_theta must be <= 1"),
    (dict(safeguard_rule="mean"), "safeguard_rule must be one of"),
    (dict(safeguard_residual="gap"), "safeguard_residual must be one of"),
    (dict(safeguard=True, fixed_point=True, tied=True), "cannot be combined"),
    (dict(adversarial_radius=-0.1), "adversarial_radius must be >= 0"),
    (dict(adversarial_steps=0), "adversarial_steps must be >= 1"),
])
def test_bad_parameters_give_clear_errors(sparse, params, message):
    X, S, D = sparse
    with pytest.raises((ValueError, TypeError), match=message):
        UnfoldedISTA(D, n_layers=2, max_epochs=0, **params).fit(X, S)


def test_other_errors(sparse):
    X, S, D = sparse
    est = UnfoldedISTA(D, n_layers=2, max_epochs=0).fit(X, S)
    with pytest.raises(ValueError, match="fitted with safeguard=False"):
        est.safeguard_report(X)
    with pytest.raises(ValueError, match="cannot be run with n_layers=3"):
        est.iterate(X, n_layers=3)
    gain = UnfoldedRegressor(Gain(), n_layers=2, max_epochs=0, safeguard=True,
                             safeguard_residual="objective").fit(np.ones((4, 2)))
    with pytest.raises(ValueError, match="minimises its objective"):
        gain.predict(np.ones((4, 2)))
    with pytest.raises(ValueError, match="delta must be <= 1"):
        Safeguard(delta=1.5)


def test_objective_residual_converges():
    est, X = _broken_regressor(5.0, n_layers=2, safeguard_residual="objective")
    np.testing.assert_allclose(est.iterate(X, n_layers=200), X, atol=1e-6)


def test_pickling_keeps_the_safeguard(sparse):
    X, S, D = sparse
    est = UnfoldedISTA(D, n_layers=3, paradigm="objective", max_epochs=1, random_state=0,
                       safeguard=True).fit(X, S)
    report = est.safeguard_report(X)
    loaded = pickle.loads(pickle.dumps(est))
    assert loaded.module_.safeguard.last_fallback is None      # the report is not pickled
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    np.testing.assert_array_equal(loaded.safeguard_report(X), report)


def test_pgd_stays_in_the_ball_and_increases_the_loss():
    x = torch.randn(16, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    A = torch.randn(5, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)

    def loss(z):
        return ((z @ A) ** 2).sum()

    adv = pgd_perturbation(loss, x, radius=0.1, n_steps=5)
    norms = torch.linalg.vector_norm(adv - x, dim=1) / torch.linalg.vector_norm(x, dim=1)
    assert float(norms.max()) <= 0.1 + 1e-9 and float(norms.min()) > 0.09
    assert float(loss(adv)) > float(loss(x))
    assert torch.equal(pgd_perturbation(loss, x, radius=0.0), x)


def test_robust_training_trains_on_perturbed_inputs(sparse):
    X, S, D = sparse
    clean = UnfoldedISTA(D, n_layers=3, max_epochs=2, random_state=0).fit(X, S)
    robust = UnfoldedISTA(D, n_layers=3, max_epochs=2, random_state=0,
                          adversarial_radius=0.05, adversarial_steps=2).fit(X, S)
    assert not np.allclose(clean.predict(X), robust.predict(X))
    assert robust.module_.adversarial.radius == 0.05
    assert clean.module_.adversarial is None


@pytest.fixture(scope="module")
def larger_sparse():
    X, S, D = make_sparse_recovery(n_samples=400, n_measurements=40, n_components=80,
                                   snr_db=40, random_state=0)
    return X, S, D


def test_hyperlista_is_guarded_by_alista_classical_iteration(larger_sparse):
    X, S, D = larger_sparse
    Xt, St = X[300:], S[300:]
    plain = HyperLISTA(D, n_layers=12, c_threshold=0.02, c_momentum=0.0).fit(X[:300])
    guarded = HyperLISTA(D, n_layers=12, c_threshold=0.02, c_momentum=0.0,
                         safeguard=True).fit(X[:300])
    assert isinstance(guard_problem(guarded.module_.problem), AnalyticGuard)
    # in distribution the safeguard costs at most 1 dB (it was > 10 dB with the ISTA map,
    # whose fixed point, the biased LASSO solution, HyperLISTA's iterates pass)
    loss = nmse_db(St, guarded.predict(Xt)) - nmse_db(St, plain.predict(Xt))
    assert loss < 1.0
    report = guarded.safeguard_report(Xt)
    assert report.shape == (12,) and report[0] < 0.1


def test_broken_hyperlista_falls_back_to_the_analytic_iteration(larger_sparse):
    X, S, D = larger_sparse
    Xt = X[300:]
    # the classical iteration of the guard: an untrained ALISTA run past its single layer
    alista = UnfoldedISTA(D, n_layers=1, weights="analytic", support_selection=True,
                          max_epochs=0, safeguard=True).fit(X[:300], S[:300])
    reference = alista.iterate(Xt, n_layers=1500)
    np.testing.assert_allclose(alista.iterate(Xt, n_layers=1000), reference, atol=1e-5)
    # a threshold that zeroes everything: every learned update is rejected
    dead = HyperLISTA(D, n_layers=4, c_threshold=1e4, c_momentum=0.0,
                      safeguard=True).fit(X[:300])
    assert np.all(dead.safeguard_report(Xt, n_layers=20) == 1.0)
    np.testing.assert_allclose(dead.iterate(Xt, n_layers=1500), reference, atol=1e-5)
    # a diverging momentum: the unguarded model blows up, the guarded one stays finite and
    # ends at a fixed point of the classical map
    wild = HyperLISTA(D, n_layers=4, c_threshold=0.0, c_momentum=0.5).fit(X[:300])
    assert not np.abs(wild.iterate(Xt, n_layers=30)).max() < 1e3
    wild.set_params(safeguard=True).fit(X[:300])
    assert wild.safeguard_report(Xt)[0] == 1.0
    final = wild.iterate(Xt, n_layers=1500)
    assert np.all(np.isfinite(final))
    module = wild.module_
    guard = guard_problem(module.problem)
    s = torch.as_tensor(final, dtype=module.dtype)
    x = torch.as_tensor(Xt, dtype=module.dtype)
    step = guard.step((s, s, None), x, **guard.layer_hyperparameters(1500))[0]
    assert float((step - s).abs().max()) < 1e-4
