"""The estimator base: devices, training options, transactional fit, verbose output.

Every test runs on the core-only toy problem (``toy_problem`` in conftest.py).
"""

import numpy as np
import pytest
import torch
from numpy.testing import assert_array_equal

from skunfold.core import PARADIGMS, Optimizer, UnfoldedRegressor, constraints
from skunfold.core.options import OPTIMIZERS


def _est(p, **kw):
    params = dict(n_layers=3, max_epochs=2, batch_size=32, random_state=0, device="cpu")
    params.update(kw)
    return UnfoldedRegressor(p["problem"](), **params)


def test_resolve_device():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert constraints.resolve_device("auto") == expected
    assert constraints.resolve_device("cpu") == "cpu"
    n_gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    # a CUDA device this machine cannot use is a ValueError naming `device` and what there is
    with pytest.raises(ValueError, match=r"device='cuda:%d' is not usable.*available" % n_gpus):
        constraints.resolve_device(f"cuda:{n_gpus}")
    if n_gpus == 0:
        with pytest.raises(ValueError, match=r"device='cuda' is not usable.*only 'cpu'"):
            constraints.resolve_device("cuda")
    with pytest.raises(ValueError, match="device"):
        constraints.resolve_device("quantum")
    with pytest.raises(ValueError, match="device"):
        constraints.resolve_device(None)


def test_paradigm_vocabulary():
    assert PARADIGMS == ("classical", "hyperparameters", "objective", "correction", "dnn")
    assert set(OPTIMIZERS) == {"adam", "adamw", "sgd", "rmsprop"}


def test_default_device_is_auto_and_trains_here(toy_problem):
    p = toy_problem
    est = UnfoldedRegressor(p["problem"](), n_layers=2, max_epochs=1, random_state=0)
    assert est.device == "auto"
    est.fit(p["X"][:32], p["S"][:32])
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert next(est.net_.module_.parameters()).device.type == expected


def test_max_epochs_zero_builds_without_training(toy_problem):
    p = toy_problem
    est = _est(p, paradigm="objective", max_epochs=0).fit(p["X"], p["S"])
    assert len(est.history_) == 0
    module = est.net_.module_
    L = est.problem_.lipschitz
    np.testing.assert_allclose(module.iteration(0).objective_parameters["D"].detach().numpy(),
                               p["D"], rtol=1e-6)
    for k in range(3):
        values = est.layer_parameters_
        assert values["threshold"][k] == pytest.approx(0.1 / L, rel=1e-6)
        assert values["step"][k] == pytest.approx(1.0 / L, rel=1e-6)
    for schedule in ("sequential", "sequential+end_to_end", "multi_iteration"):
        again = _est(p, paradigm="objective", max_epochs=0,
                     loss_schedule=schedule).fit(p["X"], p["S"])
        assert len(again.history_) == 0
        assert_array_equal(again.predict(p["X_test"]), est.predict(p["X_test"]))


def test_batch_size_full_batch_and_optimizer_class(toy_problem):
    p = toy_problem
    X, S = p["X"][:100], p["S"][:100]
    full = _est(p, batch_size=-1, max_epochs=3).fit(X, S)
    assert len(full.history_) == 3
    assert len(full.history_[-1]["batches"]) == 1
    mini = _est(p, batch_size=30, max_epochs=1).fit(X, S)
    assert len(mini.history_[-1]["batches"]) == 4
    sgd = _est(p, optimizer=torch.optim.SGD, lr=1e-2).fit(X, S)
    assert isinstance(sgd.net_.optimizer_, torch.optim.SGD)
    assert isinstance(_est(p, optimizer="rmsprop").fit(X, S).net_.optimizer_,
                      torch.optim.RMSprop)
    # an Optimizer object names the algorithm the same way
    wrapped = _est(p, optimizer=Optimizer("rmsprop")).fit(X, S)
    assert isinstance(wrapped.net_.optimizer_, torch.optim.RMSprop)
    assert_array_equal(wrapped.predict(p["X_test"]),
                       _est(p, optimizer="rmsprop").fit(X, S).predict(p["X_test"]))


def test_history_records_losses(toy_problem):
    p = toy_problem
    est = _est(p, max_epochs=3, lr=1e-2).fit(p["X"][:100], p["S"][:100])
    losses = est.history_[:, "train_loss"]
    assert len(losses) == 3 and all(np.isfinite(losses))
    assert est.history_ is est.net_.history


def test_verbose_prints_stages_and_losses(toy_problem, capsys):
    p = toy_problem
    _est(p, verbose=1, loss_schedule="sequential", max_epochs=3).fit(p["X"][:64], p["S"][:64])
    out = capsys.readouterr().out
    assert "stage 1/3 sequential[1]" in out and "stage 3/3 sequential[3]" in out
    assert "train_loss" in out and "elapsed" in out
    assert out.startswith("[UnfoldedRegressor] ")
    assert "\r" not in out and "\033" not in out  # not a terminal: plain lines
    _est(p, verbose=0).fit(p["X"][:64], p["S"][:64])
    assert capsys.readouterr().out == ""


def test_verbose_classical_solver_prints_one_line(toy_problem, capsys):
    p = toy_problem
    _est(p, paradigm="classical", verbose=1).fit(p["X"][:64])
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("[UnfoldedRegressor] ToyISTA solver built: 3 iterations, "
                               "nothing learned (")
    _est(p, paradigm="classical").fit(p["X"][:64])
    assert capsys.readouterr().out == ""
    with pytest.raises(ValueError, match="verbose must be >= 0"):
        _est(p, verbose=-1).fit(p["X"][:64], p["S"][:64])


def test_fit_restores_state_on_any_exception(toy_problem):
    p = toy_problem
    est = _est(p).fit(p["X"][:64], p["S"][:64])
    before = dict(est.__dict__)
    pred = est.predict(p["X_test"])

    class Interrupting(type(p["problem"]())):
        """Raises KeyboardInterrupt after the first call check, in the middle of training."""

        calls = 0

        def step(self, s, x, step, threshold, D):
            Interrupting.calls += 1
            if Interrupting.calls > 3:
                raise KeyboardInterrupt
            return super().step(s, x, step, threshold, D)

    # the parameters change (another problem and depth) and fit is interrupted mid-way
    est.set_params(problem=Interrupting(p["D"]), n_layers=2)
    with pytest.raises(KeyboardInterrupt):
        est.fit(p["X"][:32, :], p["S"][:32])
    assert Interrupting.calls > 3
    est.set_params(problem=before["problem"], n_layers=3)
    assert est.__dict__.keys() == before.keys()
    for key, value in before.items():
        assert est.__dict__[key] is value, key
    assert est.net_ is before["net_"]
    assert_array_equal(est.predict(p["X_test"]), pred)
