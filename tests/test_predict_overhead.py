"""The cheap paths of ``predict`` behave as the full ones: same results, same checks, same state.

``predict`` skips work that a call does not need (see
``benchmarks/predict_latency.py``): the input checks of an array that
needs no conversion, the switch to eval mode of a module that is already in
it, the move of a classical solver to the device it is on, the scan for
shared memory of a small output. These tests hold it to the behaviour of the
full paths: equal results, every check and message kept, the threads set up
once per call and the user's torch setting restored.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from numpy.testing import assert_array_equal

from skunfold.core import UnfoldedModule, UnfoldedRegressor, constraints
from skunfold.core import inference as inference_kernels
from skunfold.datasets import make_interference_network, make_rpca
from skunfold.power import WMMSE
from skunfold.rpca import RobustPCA
from skunfold.sparse import FISTA, UnfoldedISTA


@pytest.fixture(scope="module")
def fitted(toy_problem):
    p = toy_problem
    est = UnfoldedRegressor(p["problem"](), n_layers=3, max_epochs=2, batch_size=64,
                            random_state=0, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(p["X"].astype(np.float32), p["S"].astype(np.float32))


def test_clean_array_detection():
    ok = np.ones((3, 4))
    assert constraints.is_clean_array(ok) and constraints.is_clean_array(ok.astype(np.float32))
    assert constraints.is_clean_array(ok[:, ::2])  # non-contiguous: check_array keeps it too
    assert constraints.is_clean_array(ok.astype(np.complex64), allow_complex=True)
    for bad in (ok.tolist(), ok.astype(int), ok.astype(np.float16), ok[0], ok[:0],
                ok.astype(np.complex128), np.ones((2, 0)), pd.DataFrame(ok),
                np.ma.masked_array(ok), ok.astype(">f8")):
        assert not constraints.is_clean_array(bad), repr(bad)
    for value in (np.nan, np.inf, -np.inf):
        X = ok.copy()
        X[1, 2] = value
        assert not constraints.is_clean_array(X)
    # finite values whose sum overflows are clean
    assert constraints.is_clean_array(np.full((2, 2), np.finfo(np.float32).max, np.float32))


def test_fast_and_full_validation_give_the_same_predictions(fitted, toy_problem):
    X = toy_problem["X_test"][:9]
    expected = fitted.predict(np.array(X, dtype=np.float64))
    assert_array_equal(fitted.predict(X.tolist()), expected)          # through check_array
    assert_array_equal(fitted.predict(X.astype(np.int64)),              # converted to float64
                       fitted.predict(X.astype(np.int64).astype(np.float64)))
    assert_array_equal(fitted.predict(np.asfortranarray(X)), expected)
    X32 = X.astype(np.float32)
    assert fitted.predict(X32).dtype == np.float32
    assert_array_equal(fitted.predict(X32), fitted.predict(pd.DataFrame(X32)))
    one = fitted.predict(X[:1])
    assert one.shape == (1, 40) and not np.shares_memory(one, X)


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_fast_path_keeps_the_finiteness_check(fitted, toy_problem, value):
    X = np.array(toy_problem["X_test"][:3])
    X[1, 0] = value
    with pytest.raises(ValueError, match="Input X contains"):
        fitted.predict(X)


def test_fast_path_keeps_the_shape_and_feature_checks(fitted, toy_problem):
    X = np.array(toy_problem["X_test"][:3])
    with pytest.raises(ValueError, match="X has 19 features, but UnfoldedRegressor is "
                                         "expecting 20 features"):
        fitted.predict(X[:, :19])
    with pytest.raises(ValueError, match="Expected a 2-D X"):
        fitted.predict(X[0])
    with pytest.raises(ValueError, match="0 sample"):
        fitted.predict(X[:0])


def test_feature_names_are_still_checked(toy_problem):
    p = toy_problem
    columns = [f"x{i}" for i in range(20)]
    est = UnfoldedRegressor(p["problem"](), n_layers=2, paradigm="classical").fit(
        pd.DataFrame(p["X"], columns=columns))
    X = np.array(p["X_test"][:2])
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        from_array = est.predict(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_array_equal(est.predict(pd.DataFrame(X, columns=columns)), from_array)


def test_threads_are_set_up_once_per_call_and_restored(fitted, toy_problem, monkeypatch):
    calls = []
    choose = inference_kernels.choose_threads

    def spy(n_threads, flops, device="cpu"):
        calls.append(n_threads)
        return choose(n_threads, flops, device)

    monkeypatch.setattr(inference_kernels, "choose_threads", spy)
    X = np.array(toy_problem["X_test"][:1], dtype=np.float32)
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        fitted.predict(X)
        assert calls == [None]
        assert torch.get_num_threads() == 2
        fitted.set_params(n_threads=1)  # read at every call: a change after fit applies
        fitted.predict(X)
        assert calls == [None, 1] and torch.get_num_threads() == 2
        bad = X.copy()
        bad[0, 0] = np.nan
        with pytest.raises(ValueError):
            fitted.predict(bad)
        assert torch.get_num_threads() == 2
    finally:
        fitted.set_params(n_threads=None)
        torch.set_num_threads(previous)


def test_a_module_in_eval_mode_is_not_switched(fitted, toy_problem, monkeypatch):
    X = np.array(toy_problem["X_test"][:4], dtype=np.float32)
    module = fitted.module_
    expected = fitted.predict(X)
    switches = []
    train = torch.nn.Module.train

    def spy(self, mode=True):
        switches.append(mode)
        return train(self, mode)

    monkeypatch.setattr(torch.nn.Module, "train", spy)
    assert not any(m.training for m in module.modules())
    fitted.predict(X)
    assert switches == []
    # a submodule in training mode: the whole module runs in eval mode, then takes the
    # top-level mode back, as before
    child = next(m for m in module.modules() if m is not module)
    child.train()
    assert_array_equal(fitted.predict(X), expected)
    assert switches and not any(m.training for m in module.modules())
    module.train()
    assert_array_equal(fitted.predict(X), expected)
    assert all(m.training for m in module.modules())
    module.eval()


def test_classical_solver_on_its_device_is_not_moved(sparse_problem, monkeypatch):
    p = sparse_problem
    est = FISTA(p["D"], n_layers=5, device="cpu").fit(p["X"])
    X = np.array(p["X_test"][:3])
    expected = est.predict(X)
    moves = []
    to = UnfoldedModule.to

    def spy(self, *args, **kwargs):
        moves.append(args)
        return to(self, *args, **kwargs)

    monkeypatch.setattr(UnfoldedModule, "to", spy)
    assert_array_equal(est.predict(X), expected)
    assert moves == []


def test_dictionary_norm_is_computed_once_and_gives_the_same_check(sparse_problem, monkeypatch):
    from skunfold.sparse import check_reconstruction

    p = sparse_problem
    est = UnfoldedISTA(p["D"], n_layers=3, max_epochs=1, random_state=0).fit(p["X"], p["S"])
    X = np.array(p["X_test"][:5])
    S = est.iterate(X)
    norms = []
    norm = np.linalg.norm

    def spy(x, *args, **kwargs):
        norms.append(np.shape(x))
        return norm(x, *args, **kwargs)

    monkeypatch.setattr(np.linalg, "norm", spy)
    assert_array_equal(est.predict(X), S)
    assert est.dictionary_.shape not in norms  # the fitted dictionary's norm is kept
    # an exploded code is caught with the kept norm as without it
    huge = S * 1e6
    with pytest.raises(Exception, match="exploded"):
        check_reconstruction(huge, X, est.dictionary_, "m", float(norm(est.dictionary_)))
    with pytest.raises(Exception, match="exploded"):
        check_reconstruction(huge, X, est.dictionary_, "m")


def test_large_outputs_still_share_no_memory_with_inputs():
    from skunfold.core import Iteration, Problem

    class Identity(Problem):
        hyperparameters = {"mu": 0.5}

        def initial_state(self, x):
            return x

        def step(self, a, x, mu):
            return a + mu * (x - a)

    class Step(Iteration):
        def forward(self, problem, k, state, x, side):
            return problem.step(state, x, mu=0.5)

    n = inference_kernels.COPY_MAX_ENTRIES // 2 + 1  # two rows: over the copy-always size
    X = np.random.default_rng(0).normal(size=(2, n)).astype(np.float32)
    module = UnfoldedModule(Identity(), Step(), 1)
    with torch.no_grad():
        out = inference_kernels.run_layers(module, X, {}, 0)  # the readout is x itself
    assert_array_equal(out, X)
    assert not np.shares_memory(out, X)


def test_family_fast_paths_match_the_full_checks():
    H, _ = make_interference_network(6, n_pairs=4, random_state=0)
    wmmse = WMMSE(n_layers=3).fit(H)
    assert_array_equal(wmmse.predict(H), wmmse.predict(H.tolist()))
    assert_array_equal(wmmse.predict(H.reshape(6, 16)), wmmse.predict(H))
    with pytest.raises(ValueError, match="Negative values"):
        wmmse.predict(-H)
    bad = H.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        wmmse.predict(bad)
    X, _, _ = make_rpca(2, (12, 10), rank=2, random_state=0)
    rpca = RobustPCA(rank=2, n_layers=3).fit(X)
    assert_array_equal(rpca.predict(X), rpca.predict(X.tolist()))
    assert_array_equal(rpca.predict(X[0]), rpca.predict(X[0].tolist()))
    with pytest.raises(ValueError, match="features"):
        rpca.predict(X[0][:, :9])
