"""The generic core: UnfoldedModule, the skorch net (losses, stages, batches)."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from torch import nn

from skunfold.core import (
    ArrayData,
    BatchSlicer,
    EndToEnd,
    MultiIteration,
    Sequential,
    Stage,
    TrainingDivergedError,
    UnfoldedModule,
    UnfoldingNet,
)


class GradStep(nn.Module):
    """a <- a + mu (x - a): one gradient step on 1/2 ||x - a||^2."""

    def __init__(self, mu):
        super().__init__()
        self.mu = nn.Parameter(torch.tensor(float(mu)))

    def forward(self, state, x, k):
        return state + self.mu * (x - state)


class Averager(UnfoldedModule):
    def initial_state(self, x):
        return torch.zeros_like(x)

    def readout(self, state):
        return state

    def objective(self, estimate, x):
        return 0.5 * ((x - estimate) ** 2).sum(dim=1)


def test_forward_returns_every_iterate():
    mus = [0.5, 0.25, 1.0]
    module = Averager([GradStep(m) for m in mus], n_layers=3)
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


def test_tied_module_runs_any_depth():
    module = Averager(GradStep(0.5), n_layers=2)
    assert module.tied and module.max_layers == float("inf")
    assert module.layer_parameters(0) == []
    x = torch.ones(3, 2)
    its = module.iterate_no_grad(x, n_layers=6)
    assert len(its) == 6
    # a_k = 1 - 2^-k
    assert_allclose(its[5].numpy(), np.full((3, 2), 1 - 2.0 ** -6))
    assert not its[0].requires_grad
    # a one-element list with n_layers > 1 is also tied
    assert Averager([GradStep(0.5)], n_layers=3).tied
    assert not Averager([GradStep(0.5)], n_layers=1).tied


def test_untied_depth_checks():
    module = Averager([GradStep(0.5) for _ in range(3)], n_layers=3)
    with pytest.raises(ValueError, match="n_layers=4"):
        module(torch.ones(1, 2), n_layers=4)
    with pytest.raises(ValueError, match="n_layers must be >= 1"):
        module.check_depth(0)
    assert module.check_depth(None) == 3
    with pytest.raises(ValueError, match="2 iteration modules for n_layers=3"):
        Averager([GradStep(0.5), GradStep(0.5)], n_layers=3)


def test_default_supervised_loss_is_per_sample_squared_error():
    module = Averager(GradStep(0.5), n_layers=1)
    est = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    tgt = torch.tensor([[0.0, 0.0], [3.0, 0.0]])
    assert_allclose(module.supervised_loss(est, tgt).numpy(), [5.0, 9.0])


# -- batches ----------------------------------------------------------------------

def test_batch_slicer_covers_every_sample_once():
    X = np.arange(23, dtype=np.float64).reshape(23, 1)
    y = np.arange(23, dtype=np.int64)
    slicer = BatchSlicer(ArrayData(X, y), batch_size=5, shuffle=True,
                         rng=np.random.default_rng(0))
    assert len(slicer) == 5
    batches = list(slicer)
    assert [len(xb) for xb, _ in batches] == [5, 5, 5, 5, 3]
    seen = np.concatenate([yb.numpy() for _, yb in batches])
    assert sorted(seen.tolist()) == list(range(23))
    assert not np.array_equal(seen, np.arange(23))  # shuffled across batches
    for xb, yb in batches:
        assert xb.dtype == torch.float32          # floating arrays take the net's dtype
        assert yb.dtype == torch.int64            # integer arrays keep theirs
        assert_array_equal(xb[:, 0].numpy(), yb.numpy().astype(np.float32))  # rows stay paired
    # a second epoch draws another permutation
    seen2 = np.concatenate([yb.numpy() for _, yb in slicer])
    assert not np.array_equal(seen, seen2)


def test_batch_slicer_without_shuffle_and_without_y():
    X = np.arange(10.0).reshape(5, 2)
    X.flags.writeable = False
    batches = list(BatchSlicer(ArrayData(X), batch_size=2, shuffle=False))
    assert [yb for _, yb in batches] == [None, None, None]
    assert_array_equal(torch.cat([xb for xb, _ in batches]).numpy(), X.astype(np.float32))


# -- the net: losses and stages -------------------------------------------------------

def _net(module, **kwargs):
    net = UnfoldingNet(module, criterion=nn.MSELoss, optimizer=torch.optim.SGD, lr=0.1,
                       batch_size=4, max_epochs=1, train_split=None, verbose=0, **kwargs)
    return net.initialize()


def test_get_loss_combines_iterates_with_stage_weights():
    net = _net(Averager([GradStep(0.5) for _ in range(3)], n_layers=3))
    x = torch.tensor([[2.0, 0.0], [0.0, 4.0]])
    y = torch.tensor([[1.0, 1.0], [1.0, 1.0]])
    with torch.no_grad():
        preds = net.module_(x)
    mse = [float(nn.functional.mse_loss(p, y)) for p in preds]
    net.set_stage(MultiIteration([1.0, 0.0, 3.0]).stages(3, 1)[0])
    assert_allclose(float(net.get_loss(preds, y, X=x)), 0.25 * mse[0] + 0.75 * mse[2], rtol=1e-6)
    net.set_stage(EndToEnd().stages(3, 1)[0])
    assert_allclose(float(net.get_loss(preds, y, X=x)), mse[2], rtol=1e-6)
    # unsupervised: the module's objective, averaged over the batch
    obj = [float(net.module_.objective(p, x).mean()) for p in preds]
    assert_allclose(float(net.get_loss(preds, None, X=x)), obj[2], rtol=1e-6)


def test_get_loss_semi_supervised_rows():
    net = _net(Averager(GradStep(0.5), n_layers=1), unsupervised_weight=2.0)
    net.set_stage(EndToEnd().stages(1, 1)[0])
    x = torch.tensor([[2.0, 0.0], [0.0, 4.0], [1.0, 1.0]])
    y = torch.tensor([[1.0, 1.0], [np.nan, np.nan], [0.0, 1.0]])
    with torch.no_grad():
        (pred,) = net.module_(x)
    labeled = torch.tensor([True, False, True])
    sup = float(nn.functional.mse_loss(pred[labeled], y[labeled]))
    obj = float(net.module_.objective(pred[~labeled], x[~labeled]).sum())
    expected = sup * 2 / 3 + 2.0 * obj / 3
    assert_allclose(float(net.get_loss((pred,), y, X=x)), expected, rtol=1e-6)


def test_set_stage_freezes_other_layers():
    module = Averager([GradStep(0.5) for _ in range(3)], n_layers=3)
    net = _net(module)
    net.set_stage(Sequential(epochs_per_stage=2).stages(3, 1)[1])
    assert net.n_active_ == 2 and net.max_epochs == 2
    trainable = [p.requires_grad for p in module.parameters()]
    assert trainable == [False, True, False]
    in_optimizer = {id(p) for g in net.optimizer_.param_groups for p in g["params"]}
    assert in_optimizer == {id(module.iterations[1].mu)}
    # the active depth is what the net runs
    assert len(net.infer(torch.ones(1, 2))) == 2
    net.set_stage(Stage(3, None, 1, np.array([0, 0, 1.0]), "all"))
    assert all(p.requires_grad for p in module.parameters())


def test_training_on_stage_moves_only_trainable_layer():
    module = Averager([GradStep(0.1) for _ in range(2)], n_layers=2)
    net = _net(module)
    X = np.random.default_rng(0).normal(size=(16, 2))
    net.set_stage(Stage(2, (1,), 3, np.array([0.0, 1.0]), "layer 2"))
    net.partial_fit(ArrayData(X, X), None)
    assert module.iterations[0].mu.item() == np.float32(0.1)  # frozen: bit for bit
    assert module.iterations[1].mu.item() > 0.2  # moved towards the exact step 1
    assert len(net.history) == 3


def test_non_finite_loss_raises_training_diverged():
    module = Averager(GradStep(0.5), n_layers=1)
    net = _net(module)
    net.set_stage(EndToEnd().stages(1, 1)[0])
    X = np.ones((4, 2))
    y = np.full((4, 2), np.inf)
    with pytest.raises(TrainingDivergedError, match="diverged"):
        net.partial_fit(ArrayData(X, y), None)
    assert issubclass(TrainingDivergedError, FloatingPointError)
