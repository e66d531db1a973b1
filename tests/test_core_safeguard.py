"""The safeguard (Heaton et al., AAAI 2023) and robust training, in the core (toy problems)."""

import math
import pickle

import numpy as np
import pytest
import torch
from numpy.testing import assert_array_equal

from skunfold.core import (
    Adversarial,
    Problem,
    Safeguard,
    UnfoldedRegressor,
    pgd_perturbation,
)
from skunfold.core.safeguard import guard_problem


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


def _ista(p, X, n_layers, lam=0.1):
    """The classical ISTA of the toy problem, ``n_layers`` iterations (float64)."""
    return UnfoldedRegressor(p["problem"](lam), n_layers=n_layers,
                             paradigm="classical").fit(X).predict(X)


def _broken_regressor(step, n_layers=4, safeguard=True):
    """An averaging model whose learned step sizes are set to ``step`` (>= 2: it diverges)."""
    est = UnfoldedRegressor(Averaging(), n_layers=n_layers, max_epochs=0, safeguard=safeguard)
    X = np.random.default_rng(0).normal(size=(20, 1))
    est.fit(X)
    with torch.no_grad():
        for name, p in est.module_.named_parameters():
            assert name.endswith("step")
            p.fill_(math.log(step))      # positive hyperparameters are learned by their log
    return est, X


def _break(est, step_factor=3.0, operator_factor=4.0):
    """Scale a toy model's learned operators and step sizes up: every layer overshoots."""
    with torch.no_grad():
        for layer in est.module_.iterations:
            layer.hyperparameters.raw["step"].add_(math.log(step_factor))
            for value in getattr(layer, "objective_parameters", {}).values():
                value.mul_(operator_factor)


def test_fallback_report_matches_a_numpy_reference():
    est, X = _broken_regressor(5.0, n_layers=4, safeguard=Safeguard(delta=0.1, theta=0.5))
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


def test_broken_toy_model_converges_to_ista(toy_problem):
    p = toy_problem
    X, S = p["X"], p["S"]
    est = UnfoldedRegressor(p["problem"](), n_layers=4, paradigm="objective", max_epochs=0,
                            safeguard=True).fit(X[:150], S[:150])
    _break(est)
    Xv = X[150:]
    reference = _ista(p, Xv, 3000)
    assert est.safeguard_report(Xv).max() > 0.5
    guarded = est.iterate(Xv, n_layers=3000)
    np.testing.assert_allclose(guarded, reference, atol=1e-4)
    est.module_.safeguard = None
    assert np.abs(est.iterate(Xv) - reference).max() > 1.0


def test_tied_model_with_safeguard_converges_to_ista(toy_problem):
    p = toy_problem
    X, S = p["X"], p["S"]
    est = UnfoldedRegressor(p["problem"](), n_layers=4, paradigm="hyperparameters", tied=True,
                            max_epochs=0, safeguard=Safeguard(rule="geometric")).fit(X, S)
    assert est.module_.tied
    _break(est)
    reference = _ista(p, X, 3000)
    np.testing.assert_allclose(est.iterate(X, n_layers=3000), reference, atol=1e-4)


def test_safeguard_off_and_untrained_models_are_unchanged(toy_problem):
    p = toy_problem
    X, S = p["X"], p["S"]
    params = dict(n_layers=5, paradigm="objective", max_epochs=2, random_state=0)
    plain = UnfoldedRegressor(p["problem"](), **params).fit(X, S)
    off = UnfoldedRegressor(p["problem"](), safeguard=False, **params).fit(X, S)
    assert_array_equal(off.predict(X), plain.predict(X))      # off: bitwise unchanged
    assert plain.module_.safeguard is None and off.module_.safeguard is None
    # on: the same training (the safeguard acts at inference only)
    on = UnfoldedRegressor(p["problem"](), safeguard=True, **params).fit(X, S)
    assert_array_equal(on.history_[:, "train_loss"], plain.history_[:, "train_loss"])
    assert on.module_.safeguard == Safeguard()
    # an untrained model's learned update is the classical one: the safeguard changes nothing
    untrained = UnfoldedRegressor(p["problem"](), n_layers=5, max_epochs=0).fit(X, S)
    guarded = UnfoldedRegressor(p["problem"](), n_layers=5, max_epochs=0,
                                safeguard=True).fit(X, S)
    np.testing.assert_allclose(guarded.predict(X), untrained.predict(X), rtol=1e-6, atol=1e-7)
    for a, b in zip(guarded.staged_predict(X), untrained.staged_predict(X)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_staged_predict_agrees_with_predict_and_keeps_dtype(toy_problem):
    p = toy_problem
    X, S = p["X"], p["S"]
    est = UnfoldedRegressor(p["problem"](), n_layers=4, paradigm="objective", max_epochs=2,
                            random_state=0, safeguard=True).fit(X, S)
    with torch.no_grad():
        for param in est.module_.parameters():
            param.mul_(2.0)
    staged = list(est.staged_predict(X, n_layers=6))
    assert len(staged) == 6
    np.testing.assert_allclose(staged[-1], est.iterate(X, n_layers=6), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(staged[3], est.predict(X), rtol=1e-6, atol=1e-7)
    assert est.predict(X.astype(np.float32)).dtype == np.float32


def test_a_trained_guarded_model_reports_past_its_depth(toy_problem):
    p = toy_problem
    est = UnfoldedRegressor(p["problem"](), n_layers=3, max_epochs=1, random_state=0,
                            safeguard=True).fit(p["X"], p["S"])
    report = est.safeguard_report(p["X"], n_layers=5)
    assert report.shape == (5,) and np.all((report >= 0) & (report <= 1))
    np.testing.assert_array_equal(report[3:], 1.0)   # untied: classical past the learned layers


@pytest.mark.parametrize("params, message", [
    (dict(safeguard=Safeguard(delta=0.0)), "safeguard__delta must be > 0"),
    (dict(safeguard=Safeguard(delta=1.0)),
     r"safeguard__delta must be in the open interval \(0, 1\)"),
    (dict(safeguard=Safeguard(delta="big")), "safeguard__delta must be a real number"),
    (dict(safeguard=Safeguard(theta=0.0)), "safeguard__theta must be > 0"),
    (dict(safeguard=Safeguard(theta=1.5)), "safeguard__theta must be <= 1"),
    (dict(safeguard=Safeguard(rule="mean")), "safeguard__rule must be one of"),
    (dict(safeguard=Safeguard(residual="gap")), "safeguard__residual must be one of"),
    (dict(safeguard=Safeguard(reference="ista")),
     "safeguard__reference must be None or a skunfold.core.Problem"),
    (dict(safeguard=0.1), "safeguard must be True, False or a Safeguard"),
    (dict(safeguard=True, fixed_point=True, tied=True), "cannot be combined"),
    (dict(adversarial=Adversarial(radius=-0.1)), "adversarial__radius must be >= 0"),
    (dict(adversarial=Adversarial(steps=0)), "adversarial__steps must be >= 1"),
    (dict(adversarial=0.05), "adversarial must be True, False or a Adversarial"),
])
def test_bad_parameters_give_clear_errors(toy_problem, params, message):
    p = toy_problem
    with pytest.raises((ValueError, TypeError), match=message):
        UnfoldedRegressor(p["problem"](), n_layers=2, max_epochs=0, **params).fit(p["X"], p["S"])


def test_other_errors(toy_problem):
    p = toy_problem
    X, S = p["X"], p["S"]
    est = UnfoldedRegressor(p["problem"](), n_layers=2, max_epochs=0).fit(X, S)
    with pytest.raises(ValueError, match="fitted with safeguard=False"):
        est.safeguard_report(X)
    with pytest.raises(ValueError, match="cannot be run with n_layers=3"):
        est.iterate(X, n_layers=3)
    gain = UnfoldedRegressor(Gain(), n_layers=2, max_epochs=0,
                             safeguard=Safeguard(residual="objective")).fit(np.ones((4, 2)))
    with pytest.raises(ValueError, match="minimises its objective"):
        gain.predict(np.ones((4, 2)))
    with pytest.raises(ValueError, match="safeguard__delta must be <= 1"):
        Safeguard(delta=1.5).validated("safeguard")


def test_objective_residual_converges():
    est, X = _broken_regressor(5.0, n_layers=2, safeguard=Safeguard(residual="objective"))
    np.testing.assert_allclose(est.iterate(X, n_layers=200), X, atol=1e-6)


def test_pickling_keeps_the_safeguard(toy_problem):
    p = toy_problem
    X, S = p["X"], p["S"]
    est = UnfoldedRegressor(p["problem"](), n_layers=3, paradigm="objective", max_epochs=1,
                            random_state=0, safeguard=True).fit(X, S)
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


def test_robust_training_trains_on_perturbed_inputs(toy_problem):
    p = toy_problem
    X, S = p["X"], p["S"]
    params = dict(n_layers=3, max_epochs=2, random_state=0)
    clean = UnfoldedRegressor(p["problem"](), **params).fit(X, S)
    robust = UnfoldedRegressor(p["problem"](), adversarial=Adversarial(radius=0.05, steps=2),
                               **params).fit(X, S)
    assert not np.allclose(clean.predict(X), robust.predict(X))
    assert robust.module_.adversarial.radius == 0.05 and robust.module_.adversarial.steps == 2
    assert clean.module_.adversarial is None
    # True is the defaults
    default = UnfoldedRegressor(p["problem"](), adversarial=True, **params).fit(X, S)
    assert default.module_.adversarial == Adversarial()
    same = UnfoldedRegressor(p["problem"](), adversarial=Adversarial(), **params).fit(X, S)
    np.testing.assert_array_equal(default.predict(X), same.predict(X))


class GuardedByAnotherISTA(Problem):
    """ISTA with threshold ``lam``, guarded by the classical ISTA of ``guard_lam`` (a hook).

    The safeguard's classical map comes from :meth:`safeguard_problem`, not from
    the problem's own step: a model whose learned updates are all rejected
    converges to the fixed point of the guard's map.
    """

    def __init__(self, D, lam, guard_lam):
        self.D = torch.tensor(np.array(D), dtype=torch.float32)
        self.lam, self.guard_lam = lam, guard_lam
        L = float(torch.linalg.matrix_norm(self.D.double(), ord=2) ** 2)
        self.hyperparameters = {"step": 1.0 / L, "threshold": lam / L}

    def initial_state(self, x):
        return x.new_zeros(x.shape[0], self.D.shape[0])

    def step(self, s, x, step, threshold):
        z = s - step * (s @ self.D - x) @ self.D.T
        return torch.sign(z) * torch.relu(z.abs() - threshold)

    def objective(self, s, x):
        return 0.5 * ((x - s @ self.D) ** 2).sum(dim=1) + self.lam * s.abs().sum(dim=1)

    def safeguard_problem(self):
        guard = GuardISTA.__new__(GuardISTA)
        guard.__dict__.update(self.__dict__)
        step = self.hyperparameters["step"]
        guard.hyperparameters = {"step": step, "threshold": self.guard_lam * step}
        return guard


class GuardISTA(GuardedByAnotherISTA):
    """The guard map of :class:`GuardedByAnotherISTA` (sharing its tensors)."""


def test_a_problem_names_its_own_guard_map(toy_problem):
    p = toy_problem
    X = p["X"][:100]
    est = UnfoldedRegressor(GuardedByAnotherISTA(p["D"], 0.1, 0.02), n_layers=4,
                            max_epochs=0, safeguard=True).fit(X)
    assert isinstance(guard_problem(est.module_.problem), GuardISTA)
    # a threshold that zeroes everything: every learned update is rejected
    with torch.no_grad():
        for layer in est.module_.iterations:
            layer.hyperparameters.raw["threshold"].fill_(math.log(1e4))
    assert np.all(est.safeguard_report(X, n_layers=20) == 1.0)
    guard_reference = _ista(p, X, 3000, lam=0.02)
    own_reference = _ista(p, X, 3000, lam=0.1)
    assert np.abs(guard_reference - own_reference).max() > 0.05
    np.testing.assert_allclose(est.iterate(X, n_layers=3000), guard_reference, atol=1e-4)
    # without the hook, the problem's own step guards
    plain = UnfoldedRegressor(p["problem"](0.1), n_layers=4, max_epochs=0,
                              safeguard=True).fit(X)
    assert guard_problem(plain.module_.problem) is plain.module_.problem
    # a reference problem given to Safeguard overrides the hook
    with_reference = UnfoldedRegressor(
        GuardedByAnotherISTA(p["D"], 0.1, 0.02), n_layers=4, max_epochs=0,
        safeguard=Safeguard(reference=p["problem"](0.1))).fit(X)
    with torch.no_grad():
        for layer in with_reference.module_.iterations:
            layer.hyperparameters.raw["threshold"].fill_(math.log(1e4))
    np.testing.assert_allclose(with_reference.iterate(X, n_layers=3000), own_reference,
                               atol=1e-4)
