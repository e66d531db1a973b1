"""No silently broken model: the post-fit comparison with the classical solver, and predict's check.

Runs on the core-only toy problem (``toy_problem`` in conftest.py).
"""

import warnings

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal

from skunfold.core import (
    DivergedOutputError,
    Problem,
    UnfoldedRegressor,
    WorseThanClassicalWarning,
)


class Ascent(torch.optim.SGD):
    """Gradient *ascent*: training that makes the model worse, deterministically."""

    def __init__(self, params, lr):
        super().__init__(params, lr=lr, maximize=True)


def _est(p, **kw):
    params = dict(n_layers=4, paradigm="hyperparameters", max_epochs=3, batch_size=50,
                  random_state=0, device="cpu")
    params.update(kw)
    return UnfoldedRegressor(p["problem"](), **params)


def _mse(a, b):
    return float(np.mean((a - b) ** 2))


def test_training_that_helps_is_kept_without_warning(toy_problem):
    p = toy_problem
    with warnings.catch_warnings():
        warnings.simplefilter("error", WorseThanClassicalWarning)
        est = _est(p, max_epochs=10, lr=5e-2).fit(p["X"], p["S"])
    assert est.comparison_["kept"] == "trained"
    assert est.comparison_["on"] == "training"
    assert est.comparison_["trained"] < 0.9 * est.comparison_["classical"]
    classical = _est(p, max_epochs=0).fit(p["X"], p["S"])
    assert classical.comparison_ is None
    assert _mse(est.predict(p["X_test"]), p["S_test"]) \
        < _mse(classical.predict(p["X_test"]), p["S_test"])


def test_worse_model_warns_with_both_figures_and_keeps_the_classical_one(toy_problem):
    p = toy_problem
    with pytest.warns(WorseThanClassicalWarning, match=r"loss [\d.e+-]+ after training, "
                      r"[\d.e+-]+ before .*keep_best=True") as record:
        est = _est(p, optimizer=Ascent, lr=1.0).fit(p["X"], p["S"])
    comparison = est.comparison_
    assert comparison["kept"] == "classical"
    assert comparison["trained"] > comparison["classical"]
    # both figures are in the message
    message = str(record[0].message)
    assert f"{comparison['trained']:.4g}" in message and f"{comparison['classical']:.4g}" in message
    classical = _est(p, max_epochs=0).fit(p["X"], p["S"])
    assert_array_equal(est.predict(p["X_test"]), classical.predict(p["X_test"]))


def test_keep_best_false_keeps_the_trained_model_but_still_warns(toy_problem):
    p = toy_problem
    with pytest.warns(WorseThanClassicalWarning, match="keep_best=False"):
        est = _est(p, optimizer=Ascent, lr=1.0, keep_best=False).fit(p["X"], p["S"])
    assert est.comparison_["kept"] == "trained"
    classical = _est(p, max_epochs=0).fit(p["X"], p["S"])
    assert _mse(est.predict(p["X_test"]), p["S_test"]) \
        > _mse(classical.predict(p["X_test"]), p["S_test"])


def test_comparison_uses_the_validation_set_with_early_stopping(toy_problem):
    p = toy_problem
    with pytest.warns(WorseThanClassicalWarning, match="on the validation data"):
        est = _est(p, optimizer=Ascent, lr=1.0, early_stopping=True).fit(p["X"], p["S"])
    assert est.comparison_["on"] == "validation"
    assert est.comparison_["kept"] == "classical"


def test_keep_best_is_validated(toy_problem):
    p = toy_problem
    with pytest.raises(TypeError, match="keep_best"):
        _est(p, keep_best="yes").fit(p["X"], p["S"])


class Exploding(Problem):
    """``s <- gain * s + x``: a solver that diverges when ``gain`` is large."""

    def __init__(self, gain=1e15):
        self.hyperparameters = {"gain": gain}

    def initial_state(self, x):
        return torch.zeros_like(x)

    def step(self, s, x, gain):
        return gain * s + x


def test_predict_raises_on_non_finite_output_and_leaves_the_estimator_usable():
    X = np.ones((5, 3))
    est = UnfoldedRegressor(Exploding(), n_layers=8, paradigm="classical", device="cpu").fit(X)
    with pytest.raises(DivergedOutputError, match=r"non-finite estimates after 8 layer\(s\) "
                       "for 5 of 5 samples"):
        est.predict(X.astype(np.float32))
    with pytest.raises(DivergedOutputError):
        list(est.staged_predict(X.astype(np.float32)))
    # a shallower run is finite: nothing was broken by the error
    assert np.isfinite(est.iterate(X, n_layers=2)).all()
    assert issubclass(DivergedOutputError, FloatingPointError)


def test_max_time_stops_training_and_skips_the_stages_left(toy_problem):
    p = toy_problem
    est = _est(p, max_epochs=100000, lr=1e-2, loss_schedule="sequential", max_time=0.5)
    est.fit(p["X"], p["S"])
    n_epochs = len(est.history_)
    assert n_epochs >= 1
    assert est.net_.budget_spent_
    # the budget ran out in the first of the four layer-wise stages (25,000 epochs each): the
    # other three were skipped
    assert n_epochs < 25000
    assert len({h["stage"] for h in est.history_}) == 1
    assert est.comparison_ is not None  # keep_best still compared the result
    with pytest.raises(ValueError, match="max_time"):
        _est(p, max_time=0.0).fit(p["X"], p["S"])


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_patience_needs_a_real_improvement_whatever_the_sign_of_the_loss(sign):
    # skorch's relative threshold on a negative loss (a negated rate) accepted an epoch
    # 5.7e-5 worse than the best as an improvement, and restored it
    from skunfold.core.progress import Patience

    patience = Patience(monitor="valid_loss", threshold=1e-4).initialize()
    best = sign * 3.436057
    patience.dynamic_threshold_ = patience._calc_new_threshold(best)
    assert not patience._is_score_improved(best)
    assert not patience._is_score_improved(best + 5.7e-5)        # worse
    assert not patience._is_score_improved(best - 1e-5)          # better by under 1e-4
    assert patience._is_score_improved(best - 1e-3)


def _fake_clock(monkeypatch, times):
    """Make ``skunfold.core.progress`` read ``times`` from its clock, one per call."""
    from types import SimpleNamespace

    from skunfold.core import progress

    clock = iter(times)
    monkeypatch.setattr(progress, "time", SimpleNamespace(perf_counter=lambda: next(clock)))
    return progress


def test_time_budget_stops_before_an_epoch_would_overrun(monkeypatch):
    class Net:
        pass

    # epochs of 3, 3 and 3.5 s against a 10-s budget
    progress = _fake_clock(monkeypatch, [0.0, 3.0, 3.0, 6.0, 6.0, 9.5])
    budget, net = progress.TimeBudget(deadline=10.0), Net()
    for _ in range(2):  # at 3 s and 6 s another 3-s epoch still ends within the budget
        budget.on_epoch_begin(net)
        budget.on_epoch_end(net)
    assert not hasattr(net, "budget_spent_")
    budget.on_epoch_begin(net)
    with pytest.raises(KeyboardInterrupt):  # at 9.5 s another 3.5-s epoch would end at 13 s
        budget.on_epoch_end(net)
    assert net.budget_spent_


def test_cosine_schedule_follows_the_time_budget_when_it_binds(monkeypatch):
    from types import SimpleNamespace

    class Net:
        max_epochs = 100
        optimizer_ = SimpleNamespace(param_groups=[{"lr": 1.0}])

    # start at 0 s with a deadline at 10 s; epochs begin at 0, 5 and 10 s
    progress = _fake_clock(monkeypatch, [0.0, 0.0, 5.0, 10.0])
    net, lrs = Net(), []
    schedule = progress.StageCosineLR(deadline=10.0)
    schedule.on_train_begin(net)
    for _ in range(3):
        schedule.on_epoch_begin(net)
        lrs.append(net.optimizer_.param_groups[0]["lr"])
    # by epochs alone (3 of 100) the rate would stay near 1; by time it halves, then bottoms out
    assert_allclose(lrs, [1.0, 0.5, 0.02])
    untimed = progress.StageCosineLR()
    net.optimizer_.param_groups[0]["lr"] = 1.0
    _fake_clock(monkeypatch, [0.0] * 52)
    untimed.on_train_begin(net)
    for _ in range(51):
        untimed.on_epoch_begin(net)
    assert_allclose(net.optimizer_.param_groups[0]["lr"], 0.5)  # epoch 50 of 100
