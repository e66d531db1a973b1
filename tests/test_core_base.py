"""The estimator base: devices, training options, transactional fit, verbose output."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_array_equal

from skunfold.core import OPTIMIZERS, PARADIGMS, resolve_device
from skunfold.sparse import UnfoldedISTA


def _est(D, **kw):
    params = dict(n_layers=3, max_epochs=2, batch_size=32, random_state=0, device="cpu")
    params.update(kw)
    return UnfoldedISTA(D, **params)


def test_resolve_device():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto") == expected
    assert resolve_device("cpu") == "cpu"
    n_gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    # a CUDA device this machine cannot use is a ValueError naming `device` and what there is
    with pytest.raises(ValueError, match=r"device='cuda:%d' is not usable.*available" % n_gpus):
        resolve_device(f"cuda:{n_gpus}")
    if n_gpus == 0:
        with pytest.raises(ValueError, match=r"device='cuda' is not usable.*only 'cpu'"):
            resolve_device("cuda")
    with pytest.raises(ValueError, match="device"):
        resolve_device("quantum")
    with pytest.raises(ValueError, match="device"):
        resolve_device(None)


def test_paradigm_vocabulary():
    assert PARADIGMS == ("classical", "hyperparameters", "objective", "correction", "dnn")
    assert set(OPTIMIZERS) == {"adam", "adamw", "sgd", "rmsprop"}


def test_default_device_is_auto_and_trains_here(sparse_problem):
    p = sparse_problem
    est = UnfoldedISTA(p["D"], n_layers=2, max_epochs=1, random_state=0)
    assert est.device == "auto"
    est.fit(p["X"][:32], p["S"][:32])
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert next(est.net_.module_.parameters()).device.type == expected


def test_max_epochs_zero_builds_without_training(sparse_problem):
    p = sparse_problem
    est = _est(p["D"], paradigm="objective", max_epochs=0).fit(p["X"], p["S"])
    assert len(est.history_) == 0
    module = est.net_.module_
    L = est.lipschitz_
    np.testing.assert_allclose(module.iteration(0).shared.W1.detach().numpy(), p["D"].T / L,
                               rtol=1e-6)
    for step in module.iterations:
        assert step.theta.item() == pytest.approx(0.1 / L, rel=1e-6)
    for schedule in ("sequential", "sequential+end_to_end", "multi_iteration"):
        again = _est(p["D"], paradigm="objective", max_epochs=0,
                     loss_schedule=schedule).fit(p["X"], p["S"])
        assert len(again.history_) == 0
        assert_array_equal(again.predict(p["X_test"]), est.predict(p["X_test"]))


def test_batch_size_full_batch_and_optimizer_class(sparse_problem):
    p = sparse_problem
    X, S = p["X"][:100], p["S"][:100]
    full = _est(p["D"], batch_size=-1, max_epochs=3).fit(X, S)
    assert len(full.history_) == 3
    assert len(full.history_[-1]["batches"]) == 1
    mini = _est(p["D"], batch_size=30, max_epochs=1).fit(X, S)
    assert len(mini.history_[-1]["batches"]) == 4
    sgd = _est(p["D"], optimizer=torch.optim.SGD, lr=1e-2).fit(X, S)
    assert isinstance(sgd.net_.optimizer_, torch.optim.SGD)
    assert isinstance(_est(p["D"], optimizer="rmsprop").fit(X, S).net_.optimizer_,
                      torch.optim.RMSprop)


def test_history_records_losses(sparse_problem):
    p = sparse_problem
    est = _est(p["D"], max_epochs=3, lr=1e-2).fit(p["X"][:100], p["S"][:100])
    losses = est.history_[:, "train_loss"]
    assert len(losses) == 3 and all(np.isfinite(losses))
    assert est.history_ is est.net_.history


def test_verbose_prints_stages_and_losses(sparse_problem, capsys):
    p = sparse_problem
    _est(p["D"], verbose=1, loss_schedule="sequential", max_epochs=3).fit(
        p["X"][:64], p["S"][:64])
    out = capsys.readouterr().out
    assert "stage 1/3 sequential[1]" in out and "stage 3/3 sequential[3]" in out
    assert "train_loss" in out and "elapsed" in out
    assert "\r" not in out and "\033" not in out  # not a terminal: plain lines
    _est(p["D"], verbose=0).fit(p["X"][:64], p["S"][:64])
    assert capsys.readouterr().out == ""


def test_fit_restores_state_on_any_exception(sparse_problem, monkeypatch):
    p = sparse_problem
    est = _est(p["D"]).fit(p["X"][:64], p["S"][:64])
    before = dict(est.__dict__)
    pred = est.predict(p["X_test"])

    def interrupted(self, *args, **kwargs):
        self.half_done_ = True
        raise KeyboardInterrupt

    monkeypatch.setattr(UnfoldedISTA, "_train", interrupted)
    with pytest.raises(KeyboardInterrupt):
        est.fit(p["X"][:32, :], p["S"][:32])
    assert not hasattr(est, "half_done_")
    assert est.__dict__.keys() == before.keys()
    assert est.net_ is before["net_"]
    assert_array_equal(est.predict(p["X_test"]), pred)

