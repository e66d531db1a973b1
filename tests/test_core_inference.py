"""The inference kernels: fresh output arrays, the padding of small batches, the autograd mode."""

import gc
import pickle
import warnings
import weakref

import numpy as np
import pytest
import torch
from numpy.testing import assert_array_equal
from torch import nn

from skunfold.core import Iteration, Problem, UnfoldedModule, UnfoldedRegressor, inference
from skunfold.core.inference import run_layers


@pytest.fixture(scope="module")
def fitted_toy(toy_problem):
    p = toy_problem
    est = UnfoldedRegressor(p["problem"](), n_layers=2, max_epochs=1, batch_size=64,
                            random_state=0, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(p["X"].astype(np.float32), p["S"].astype(np.float32))
    return est, p["X"][:64].astype(np.float32), p["S"][:64].astype(np.float32)


class Relaxation(Problem):
    """a <- a + mu (x - a), started from the observation or from a tensor the problem holds."""

    hyperparameters = {"mu": 0.5}

    def __init__(self, start=None):
        self.start = start

    def initial_state(self, x):
        return x if self.start is None else self.start.expand_as(x)

    def step(self, a, x, mu):
        return a + mu * (x - a)

    def objective(self, a, x):
        return 0.5 * ((x - a) ** 2).sum(dim=1)


class Step(Iteration):
    def __init__(self):
        super().__init__()
        self.mu = nn.Parameter(torch.tensor(0.5))

    def forward(self, problem, k, state, x, side):
        return problem.step(state, x, mu=self.mu)


def test_single_chunk_output_shares_no_memory_with_input_or_module():
    # samples larger than the padding limit: the chunk tensor shares the caller's array
    X = np.random.default_rng(0).normal(size=(3, 5000)).astype(np.float32)
    module = UnfoldedModule(Relaxation(), Step(), 1)
    with torch.no_grad():
        out0 = run_layers(module, X, {}, 0)   # the readout is the observation itself
        out1 = run_layers(module, X, {}, 1)   # a fresh readout (returned without a copy)
    assert_array_equal(out0, X)
    assert not np.shares_memory(out0, X)
    np.testing.assert_allclose(out1, X)  # x is the fixed point
    start = torch.ones(1, 5000)
    module = UnfoldedModule(Relaxation(start), Step(), 1)
    with torch.no_grad():
        out = run_layers(module, X, {}, 0)   # the readout views a tensor the problem holds
    out[:] = 7.0
    assert_array_equal(start.numpy(), 1.0)


class Product(Problem):
    """a <- a + mu (x - a W): a matrix product per layer (W is ``n x n``, stored transposed)."""

    hyperparameters = {"mu": 0.1}

    def __init__(self, n=250, coupled=False, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.W = torch.randn(n, n, generator=g).T / n ** 0.5  # the layout of nn.Linear
        self.coupled = coupled

    def initial_state(self, x):
        return x

    def step(self, a, x, mu):
        a = a + mu * (x - a @ self.W)
        return a - a.mean(dim=0) if self.coupled else a  # coupled: rows depend on the others


def test_small_batches_are_padded_only_as_far_as_the_module_needs():
    X = np.random.default_rng(0).normal(size=(16, 250)).astype(np.float32)
    module = UnfoldedModule(Product(), Step(), 3)
    with torch.inference_mode():
        full = {n: inference.run_layers(module, X[:n], {}, 3, probe=False) for n in range(1, 8)}
        found = {n: inference.run_layers(module, X[:n], {}, 3) for n in range(1, 8)}
    rows = set(inference._PADDING[module].values())
    assert len(rows) == 1 and 1 <= rows.pop() < inference.MIN_BATCH_ROWS
    for n in range(1, 8):  # the rows of the full padding, bitwise
        assert_array_equal(found[n], full[n])
    # products per sample (an elementwise step): no padding at all
    module = UnfoldedModule(Relaxation(), Step(), 2)
    with torch.inference_mode():
        out = inference.run_layers(module, X[:1], {}, 2)
    assert list(inference._PADDING[module].values()) == [1]
    np.testing.assert_allclose(out, X[:1])


def test_padding_keeps_the_full_batch_when_the_rows_cannot_tell_kernels_apart():
    X = np.random.default_rng(0).normal(size=(3, 250)).astype(np.float32)
    # rows that depend on the other rows of the batch: the full padding, as before
    module = UnfoldedModule(Product(coupled=True), Step(), 2)
    with torch.inference_mode():
        inference.run_layers(module, X[:1], {}, 2)
    assert list(inference._PADDING[module].values()) == [inference.MIN_BATCH_ROWS]
    # a sample of zeros: every probe row is zero, nothing is learned
    module = UnfoldedModule(Product(), Step(), 2)
    with torch.inference_mode():
        inference.run_layers(module, np.zeros((1, 250), np.float32), {}, 2)
    assert list(inference._PADDING[module].values()) == [inference.MIN_BATCH_ROWS]
    # the padding is kept per module, as a number: nothing in the module changes
    module = UnfoldedModule(Product(), Step(), 2)
    before = pickle.dumps(module)
    with torch.inference_mode():
        inference.run_layers(module, X[:1], {}, 2)
    assert pickle.dumps(module) == before
    key = next(iter(inference._PADDING[module]))
    assert isinstance(inference._PADDING[module][key], int)
    ref = weakref.ref(module)
    del module
    gc.collect()
    assert ref() is None and all(m is not None for m in inference._PADDING.keys())


def test_inference_runs_without_autograd_records_where_safe(fitted_toy):
    est, X, S = fitted_toy
    module = est.module_
    assert isinstance(inference._grad_mode(module), torch.inference_mode)
    before = est.predict(X)
    # the model trains on after predict (no inference tensor was kept)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.partial_fit(X, S)
    assert not np.array_equal(est.predict(X), before)
    module.safeguard = object()  # a safeguard keeps tensors between runs: no_grad
    try:
        assert isinstance(inference._grad_mode(module), torch.no_grad)
    finally:
        module.safeguard = None
