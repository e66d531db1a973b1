"""The inference kernels: outputs of a finished run are fresh arrays, never views of inputs."""

import numpy as np
import torch
from numpy.testing import assert_array_equal
from torch import nn

from skunfold.core import Iteration, Problem, UnfoldedModule
from skunfold.core.inference import run_layers


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
