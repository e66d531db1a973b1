"""The generic core: UnfoldedModule over a Problem, the skorch net (losses, stages, batches)."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from torch import nn

from skunfold.core import (
    EndToEnd,
    Iteration,
    MultiIteration,
    Problem,
    Sequential,
    TrainingDivergedError,
    UnfoldedModule,
)
from skunfold.core.module import cast_module, module_device, module_dtype
from skunfold.core.schedules import Stage
from skunfold.core.training import ArrayData, BatchSlicer, Inputs, UnfoldingNet, _worse


class Averaging(Problem):
    """a <- a + mu (x - a): gradient steps on 1/2 ||x - a||^2."""

    hyperparameters = {"mu": 0.5}

    def initial_state(self, x):
        return torch.zeros_like(x)

    def step(self, a, x, mu):
        return a + mu * (x - a)

    def objective(self, a, x):
        return 0.5 * ((x - a) ** 2).sum(dim=1)


class GradStep(Iteration):
    """A layer with its own learned step ``mu``."""

    def __init__(self, mu):
        super().__init__()
        self.mu = nn.Parameter(torch.tensor(float(mu)))

    def forward(self, problem, k, state, x, side):
        return problem.step(state, x, mu=self.mu)


def _module(mus, n_layers=None):
    if isinstance(mus, (int, float)):
        return UnfoldedModule(Averaging(), GradStep(mus), n_layers)
    return UnfoldedModule(Averaging(), [GradStep(m) for m in mus], len(mus))


def test_forward_returns_every_iterate():
    module = _module([0.5, 0.25, 1.0])
    assert not module.tied and module.max_layers == 3
    x = torch.tensor([[4.0, -8.0]])
    its = module(x)
    assert isinstance(its, tuple) and len(its) == 3
    # a1 = x/2, a2 = a1 + (x - a1)/4 = 5x/8, a3 = x
    assert_allclose(its[0].detach().numpy(), [[2.0, -4.0]])
    assert_allclose(its[1].detach().numpy(), [[2.5, -5.0]])
    assert_allclose(its[2].detach().numpy(), [[4.0, -8.0]])
    assert len(module(x, n_layers=2)) == 2
    assert [p.item() for p in module.layer_parameters(1)] == [0.25]
    assert module.iteration(2).mu.item() == 1.0
    # only the readouts asked for are computed
    sparse = module(x, needed={2})
    assert sparse[0] is None and sparse[1] is None
    assert_allclose(sparse[2].detach().numpy(), its[2].detach().numpy())


def test_tied_module_runs_any_depth():
    module = _module(0.5, n_layers=2)
    assert module.tied and module.max_layers == float("inf")
    assert module.layer_parameters(0) == []
    x = torch.ones(3, 2)
    with torch.no_grad():
        its = module(x, n_layers=6)
    assert len(its) == 6
    # a_k = 1 - 2^-k
    assert_allclose(its[5].numpy(), np.full((3, 2), 1 - 2.0 ** -6))
    # a one-element list with n_layers > 1 is also tied
    assert UnfoldedModule(Averaging(), [GradStep(0.5)], 3).tied
    assert not UnfoldedModule(Averaging(), [GradStep(0.5)], 1).tied


def test_untied_depth_checks():
    module = _module([0.5] * 3)
    with pytest.raises(ValueError, match="n_layers=4"):
        module(torch.ones(1, 2), n_layers=4)
    with pytest.raises(ValueError, match="n_layers must be >= 1"):
        module.check_depth(0)
    assert module.check_depth(0, allow_zero=True) == 0
    assert module.check_depth(None) == 3
    with pytest.raises(ValueError, match="2 iteration modules for n_layers=3"):
        UnfoldedModule(Averaging(), [GradStep(0.5), GradStep(0.5)], 3)


def test_shared_parameters_belong_to_no_layer():
    class Shared(nn.Module):
        shared_across_layers = True

        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.ones(()))

    class WithShared(GradStep):
        def __init__(self, mu, shared):
            super().__init__(mu)
            self.shared = shared

    shared = Shared()
    module = UnfoldedModule(Averaging(), [WithShared(0.5, shared) for _ in range(2)], 2)
    assert [p.item() for p in module.layer_parameters(0)] == [0.5]
    # a single layer still does not own the marked shared parameters
    single = UnfoldedModule(Averaging(), [WithShared(0.5, Shared())], 1)
    assert [p.item() for p in single.layer_parameters(0)] == [0.5]


def test_default_supervised_loss_is_per_sample_mean_squared_error():
    est = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    tgt = torch.tensor([[0.0, 0.0], [3.0, 0.0]])
    assert_allclose(Averaging().loss(est, tgt).numpy(), [2.5, 4.5])
    # its batch mean is torch's MSELoss
    assert float(Averaging().loss(est, tgt).mean()) == pytest.approx(
        float(nn.functional.mse_loss(est, tgt)))
    # complex: the squared modulus
    z = torch.tensor([[1 + 1j, 0j]])
    assert_allclose(Averaging().loss(z, torch.zeros_like(z)).numpy(), [1.0])


def test_module_moves_and_casts_the_problem_tensors():
    class Operator(Averaging):
        def __init__(self):
            self.A = np.eye(2)                       # numpy: becomes a tensor
            self.Z = torch.ones(2, dtype=torch.complex128)
            self.objective_parameters = {"B": torch.ones(2)}
            self.index = torch.arange(2)            # integers keep their dtype

    module = cast_module(UnfoldedModule(Operator(), GradStep(0.5), 2), torch.float32)
    problem = module.problem
    assert torch.is_tensor(problem.A) and problem.A.dtype == torch.float32
    assert problem.Z.dtype == torch.complex64
    assert problem.objective_parameters["B"].dtype == torch.float32
    assert problem.index.dtype == torch.int64
    assert module_dtype(module) == torch.float32
    assert module_device(module).type == "cpu"
    cast_module(module, torch.float64)
    assert problem.A.dtype == torch.float64 and problem.Z.dtype == torch.complex128


# -- batches ------------------------------------------------------------------------------

def test_batch_slicer_covers_every_sample_once():
    X = np.arange(23, dtype=np.float64).reshape(23, 1)
    y = np.arange(23, dtype=np.int64)
    w = np.arange(23, dtype=np.float64) * 10
    slicer = BatchSlicer(ArrayData(X, y, {"w": w}), batch_size=5, shuffle=True,
                         rng=np.random.default_rng(0))
    assert len(slicer) == 5
    batches = list(slicer)
    assert [len(xb) for xb, _ in batches] == [5, 5, 5, 5, 3]
    seen = np.concatenate([yb.numpy() for _, yb in batches])
    assert sorted(seen.tolist()) == list(range(23))
    assert not np.array_equal(seen, np.arange(23))  # shuffled across batches
    for xb, yb in batches:
        assert isinstance(xb, Inputs)
        assert xb.x.dtype == torch.float32          # floating arrays take the net's dtype
        assert yb.dtype == torch.int64              # integer arrays keep theirs
        assert_array_equal(xb.x[:, 0].numpy(), yb.numpy().astype(np.float32))  # rows paired
        assert_array_equal(xb.side["w"].numpy(), 10 * yb.numpy().astype(np.float32))
    # a second epoch draws another permutation
    seen2 = np.concatenate([yb.numpy() for _, yb in slicer])
    assert not np.array_equal(seen, seen2)


def test_batch_slicer_without_shuffle_and_without_y_on_nd_data():
    X = np.arange(40.0).reshape(5, 2, 4)
    X.flags.writeable = False
    batches = list(BatchSlicer(ArrayData(X), batch_size=2, shuffle=False))
    assert [yb for _, yb in batches] == [None, None, None]
    assert_array_equal(torch.cat([xb.x for xb, _ in batches]).numpy(), X.astype(np.float32))


# -- the net: losses and stages -------------------------------------------------------------

def _net(module, **kwargs):
    net = UnfoldingNet(module, optimizer=torch.optim.SGD, lr=0.1, batch_size=4, max_epochs=1,
                       train_split=None, verbose=0, **kwargs)
    return net.initialize()


def test_get_loss_combines_iterates_with_stage_weights():
    net = _net(_module([0.5] * 3))
    x = torch.tensor([[2.0, 0.0], [0.0, 4.0]])
    y = torch.tensor([[1.0, 1.0], [1.0, 1.0]])
    with torch.no_grad():
        preds = net.module_(x)
    mse = [float(nn.functional.mse_loss(p, y)) for p in preds]
    net.set_stage(MultiIteration([1.0, 0.0, 3.0]).stages(3, 1)[0])
    assert_allclose(float(net.get_loss(preds, y, X=Inputs(x))), 0.25 * mse[0] + 0.75 * mse[2],
                    rtol=1e-6)
    net.set_stage(EndToEnd().stages(3, 1)[0])
    assert_allclose(float(net.get_loss(preds, y, X=Inputs(x))), mse[2], rtol=1e-6)
    # unsupervised: the problem's objective, averaged over the batch
    obj = [float(net.module_.objective(p, x).mean()) for p in preds]
    assert_allclose(float(net.get_loss(preds, None, X=Inputs(x))), obj[2], rtol=1e-6)


def test_get_loss_maximised_objective_is_negated():
    class Rate(Averaging):
        maximize = True

    net = _net(UnfoldedModule(Rate(), GradStep(0.5), 1))
    x = torch.tensor([[2.0, 0.0]])
    with torch.no_grad():
        (pred,) = net.module_(x)
    obj = float(net.module_.objective(pred, x).mean())
    assert_allclose(float(net.get_loss((pred,), None, X=Inputs(x))), -obj, rtol=1e-6)


def test_get_loss_semi_supervised_rows():
    net = _net(_module(0.5, n_layers=1), unsupervised_weight=2.0)
    net.set_stage(EndToEnd().stages(1, 1)[0])
    x = torch.tensor([[2.0, 0.0], [0.0, 4.0], [1.0, 1.0]])
    y = torch.tensor([[1.0, 1.0], [np.nan, np.nan], [0.0, 1.0]])
    with torch.no_grad():
        (pred,) = net.module_(x)
    labeled = torch.tensor([True, False, True])
    sup = float(nn.functional.mse_loss(pred[labeled], y[labeled]))
    obj = float(net.module_.objective(pred[~labeled], x[~labeled]).sum())
    expected = sup * 2 / 3 + 2.0 * obj / 3
    assert_allclose(float(net.get_loss((pred,), y, X=Inputs(x))), expected, rtol=1e-6)


def test_set_stage_freezes_other_layers():
    module = _module([0.5] * 3)
    net = _net(module)
    assert net.set_stage(Sequential(epochs_per_stage=2).stages(3, 1)[1])
    assert net.n_active_ == 2 and net.max_epochs == 2
    trainable = [p.requires_grad for p in module.parameters()]
    assert trainable == [False, True, False]
    in_optimizer = {id(p) for g in net.optimizer_.param_groups for p in g["params"]}
    assert in_optimizer == {id(module.iterations[1].mu)}
    # the active depth is what the net runs
    assert len(net.infer(Inputs(torch.ones(1, 2)))) == 2
    net.set_stage(Stage(3, None, 1, np.array([0, 0, 1.0]), "all"))
    assert all(p.requires_grad for p in module.parameters())
    # a selection restricts further; a stage with nothing to train says so
    assert not net.set_stage(Stage(3, (0,), 1, np.array([0, 0, 1.0]), "s"),
                             selection={id(module.iterations[2].mu)})


def test_training_on_stage_moves_only_trainable_layer():
    module = _module([0.1, 0.1])
    net = _net(module)
    X = np.random.default_rng(0).normal(size=(16, 2))
    net.set_stage(Stage(2, (1,), 3, np.array([0.0, 1.0]), "layer 2"))
    net.partial_fit(ArrayData(X, X), None)
    assert module.iterations[0].mu.item() == np.float32(0.1)  # frozen: bit for bit
    assert module.iterations[1].mu.item() > 0.2  # moved towards the exact step 1
    assert len(net.history) == 3


def test_non_finite_loss_raises_training_diverged():
    net = _net(_module(0.5, n_layers=1))
    net.set_stage(EndToEnd().stages(1, 1)[0])
    X = np.ones((4, 2))
    y = np.full((4, 2), np.inf)
    with pytest.raises(TrainingDivergedError, match="diverged"):
        net.partial_fit(ArrayData(X, y), None)
    assert issubclass(TrainingDivergedError, FloatingPointError)


@pytest.mark.parametrize("start, final, worse", [
    (1.0, 9.9, False), (1.0, 10.1, True),        # a positive loss: 10x larger is worse
    (-1.0, -0.11, False), (-1.0, -0.09, True),   # a maximised objective: 10x smaller is worse
    (-1.0, -5.0, False), (2.0, 0.1, False),      # improvements never are
])
def test_divergence_rule_does_not_depend_on_the_sign(start, final, worse):
    assert _worse(final, start, 10.0) is worse
