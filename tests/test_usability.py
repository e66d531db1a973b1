"""What a new user meets first: threads, devices, short errors, progress, output conventions."""

import io
import re

import numpy as np
import pytest
import torch
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skunfold.core import Problem, SequentialEndToEnd, UnfoldedRegressor
from skunfold.sparse import ISTA, UnfoldedISTA


class ThreadProbe(Problem):
    """Records the torch thread count seen by every iteration."""

    hyperparameters = {"step": 0.5}
    seen = []

    def initial_state(self, x):
        return torch.zeros_like(x)

    def step(self, s, x, step):
        ThreadProbe.seen.append(torch.get_num_threads())
        return s + step * (x - s)

    def objective(self, s, x):
        return 0.5 * ((x - s) ** 2).sum(dim=1)


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("n_threads, expected", [(None, 1), (2, 2), (1, 1)])
def test_threads_are_chosen_for_the_work_and_restored(two_threads, n_threads, expected):
    X = np.random.default_rng(0).normal(size=(64, 4))
    ThreadProbe.seen = []
    est = UnfoldedRegressor(ThreadProbe(), n_layers=2, max_epochs=2, n_threads=n_threads,
                            random_state=0).fit(X, X)
    assert set(ThreadProbe.seen) == {expected}  # tiny matrices: one thread unless told
    assert torch.get_num_threads() == 2          # the user's setting is back
    ThreadProbe.seen = []
    est.predict(X)
    assert set(ThreadProbe.seen) == {expected} and torch.get_num_threads() == 2


def test_n_threads_is_validated():
    X = np.ones((8, 2))
    with pytest.raises(ValueError, match="n_threads must be >= 1"):
        UnfoldedRegressor(ThreadProbe(), n_threads=0).fit(X, X)


@pytest.mark.skipif(torch.cuda.is_available(), reason="tests the machine without a GPU")
@pytest.mark.parametrize("device", ["cuda", "cuda:0"])
def test_unusable_device_is_a_value_error_naming_device(sparse_problem, device):
    p = sparse_problem
    est = UnfoldedISTA(p["D"], n_layers=2, max_epochs=1, device=device)
    with pytest.raises(ValueError, match=rf"device='{device}' is not usable.*only 'cpu'"):
        est.fit(p["X"], p["S"])
    with pytest.raises(ValueError, match="device"):
        ISTA(p["D"], device=device).fit(p["X"])


def test_one_dimensional_X_gets_a_short_message(sparse_problem):
    p = sparse_problem
    with pytest.raises(ValueError) as err:
        ISTA(p["D"]).fit(p["X"][0])
    message = str(err.value)
    assert "Reshape your data" in message and "shape (20,)" in message
    assert len(message) < 300 and "\n" not in message  # no array dump


def test_repr_of_a_large_array_parameter_stays_short(sparse_problem):
    D = np.random.default_rng(0).normal(size=(128, 64))
    text = repr(UnfoldedISTA(D, n_layers=3))
    assert len(text.splitlines()) <= 4 and "shape=(128, 64)" in text
    assert np.get_printoptions()["threshold"] == 1000  # the user's numpy options are untouched


@pytest.mark.parametrize("make", [lambda D: ISTA(D, n_layers=5),
                                  lambda D: UnfoldedISTA(D, n_layers=2, max_epochs=1)])
def test_set_output_and_feature_names(sparse_problem, make):
    pd = pytest.importorskip("pandas")
    p = sparse_problem
    est = make(p["D"]).set_output(transform="pandas").fit(p["X"], p["S"])
    out = est.transform(p["X_test"])
    assert isinstance(out, pd.DataFrame) and out.shape == (200, 40)
    prefix = type(est).__name__.lower()
    assert list(out.columns[:2]) == [f"{prefix}0", f"{prefix}1"]
    assert list(est.get_feature_names_out()) == list(out.columns)
    assert isinstance(est.predict(p["X_test"]), np.ndarray)  # predict stays an array
    # inside a Pipeline
    pipe = make_pipeline(FunctionTransformer(feature_names_out="one-to-one"), make(p["D"]))
    pipe.set_output(transform="pandas")
    assert isinstance(pipe.fit(p["X"], p["S"]).transform(p["X_test"]), pd.DataFrame)


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_verbose_progress_reads_well_in_a_file_and_in_a_terminal(sparse_problem, capsys,
                                                                   monkeypatch):
    p = sparse_problem
    est = UnfoldedISTA(p["D"], n_layers=2, max_epochs=30, verbose=1, random_state=0)
    est.fit(p["X"], p["S"])
    out = capsys.readouterr().out
    assert "\r" not in out and "\033" not in out
    epoch_lines = [line for line in out.splitlines() if " epoch " in line]
    assert 2 <= len(epoch_lines) <= 11      # a few plain lines, not one per epoch
    assert "epoch 30/30" in out and "train_loss" in out
    assert re.search(r"done: 30 epoch\(s\) \(elapsed \d+\.\d s\)", out)
    terminal = _Terminal()
    monkeypatch.setattr("sys.stdout", terminal)
    est.fit(p["X"], p["S"])
    assert terminal.getvalue().count("\r") == 30  # the line is updated in place


def test_thread_choice_uses_the_free_cores(monkeypatch, two_threads):
    from skunfold.core import threads

    monkeypatch.setattr(threads, "free_cores", lambda: 1)        # one other process running
    assert threads.choose_threads(None, 1e9) == 1
    monkeypatch.setattr(threads, "free_cores", lambda: 8)        # a quiet machine
    assert threads.choose_threads(None, 1e9) == 2                # at most torch's setting
    assert threads.choose_threads(None, 1e3) == 1                # small work: one thread
    assert threads.choose_threads(3, 1e3) == 3                   # n_threads decides
    assert threads.choose_threads(None, 1e9, device="cuda") is None
    monkeypatch.setattr(threads, "free_cores", lambda: None)     # unknown load
    assert threads.choose_threads(None, 1e9) is None


@pytest.mark.skipif(not __import__("os").path.exists("/proc/loadavg"), reason="Linux only")
def test_free_cores_sees_another_busy_process():
    import subprocess
    import sys
    import time

    from skunfold.core.threads import _cores, free_cores

    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        assert free_cores(max_age=0) <= max(1, _cores() - 1)
    finally:
        busy.kill()
        busy.wait()


@pytest.mark.parametrize("paradigm", ["classical", "hyperparameters"])
def test_robust_pca_transformer_output_conventions(paradigm):
    pd = pytest.importorskip("pandas")
    from skunfold.datasets import make_rpca
    from skunfold.rpca import LearnedRPCA

    X, L, _ = make_rpca(1, (30, 20), rank=2, random_state=0)
    frame = pd.DataFrame(X[0], columns=[f"c{j}" for j in range(20)])
    # one epoch per sequential stage and one end to end (4 in all)
    est = LearnedRPCA(rank=2, n_layers=3, paradigm=paradigm, max_epochs=4, random_state=0,
                      loss_schedule=SequentialEndToEnd(epochs_per_stage=1, end_to_end_epochs=1))
    est.set_output(transform="pandas").fit(frame, L[0])
    out = est.transform(frame)
    assert isinstance(out, pd.DataFrame) and out.shape == (30, 20)
    assert list(out.columns) == list(frame.columns) == list(est.get_feature_names_out())
    assert isinstance(est.predict(frame), np.ndarray)
