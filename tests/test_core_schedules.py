"""Loss schedules: aliases, stages, layer weights, validation."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.base import clone

from skunfold.core import (
    EndToEnd,
    LossSchedule,
    MultiIteration,
    Sequential,
    SequentialEndToEnd,
    UnfoldedRegressor,
)
from skunfold.core.schedules import LOSS_SCHEDULES, get_loss_schedule


@pytest.mark.parametrize("alias, cls", [
    ("end_to_end", EndToEnd),
    ("multi_iteration", MultiIteration),
    ("sequential", Sequential),
    ("sequential+end_to_end", SequentialEndToEnd),
])
def test_aliases(alias, cls):
    schedule = get_loss_schedule(alias)
    assert type(schedule) is cls
    assert cls.alias == alias
    assert LOSS_SCHEDULES[alias] is cls
    # objects are returned as checked copies: equal, never the caller's object
    obj = cls()
    checked = get_loss_schedule(obj)
    assert checked == obj and type(checked) is cls and checked is not obj


@pytest.mark.parametrize("bad", ["end-to-end", "L2", "", None, 3, EndToEnd])
def test_unknown_schedule_raises(bad):
    with pytest.raises(ValueError, match="loss_schedule"):
        get_loss_schedule(bad)


def test_end_to_end_stage():
    (stage,) = EndToEnd().stages(4, 7)
    assert stage.n_active == 4
    assert stage.trainable is None
    assert stage.epochs == 7
    assert_allclose(stage.weights, [0, 0, 0, 1])


def test_multi_iteration_log_weights():
    (stage,) = MultiIteration().stages(4, 5)
    expected = np.log1p(np.arange(1, 5))
    assert_allclose(stage.weights, expected / expected.sum())
    assert stage.n_active == 4 and stage.trainable is None and stage.epochs == 5
    assert_allclose(stage.weights.sum(), 1.0)
    # increasing: later iterates weigh more
    assert np.all(np.diff(stage.weights) > 0)


def test_multi_iteration_other_weights():
    assert_allclose(MultiIteration("uniform").layer_weights(4), [0.25] * 4)
    assert_allclose(MultiIteration("last").layer_weights(3), [0, 0, 1])
    assert_allclose(MultiIteration([1, 0, 3]).layer_weights(3), [0.25, 0, 0.75])
    with pytest.raises(ValueError, match="3 weights for n_layers=4"):
        MultiIteration([1, 0, 3]).layer_weights(4)


@pytest.mark.parametrize("bad", ["linear", [], [1, -1], [np.nan, 1], [0, 0], [[1, 2]]])
def test_multi_iteration_invalid_weights(bad):
    with pytest.raises(ValueError, match="weights"):
        MultiIteration(bad)


def test_sequential_stages():
    stages = Sequential(epochs_per_stage=2).stages(3, 100)
    assert [s.n_active for s in stages] == [1, 2, 3]
    assert [s.trainable for s in stages] == [(0,), (1,), (2,)]
    assert [s.epochs for s in stages] == [2, 2, 2]
    for s in stages:
        assert_allclose(s.weights, np.eye(s.n_active)[-1])
    assert [s.name for s in stages] == ["sequential[1]", "sequential[2]", "sequential[3]"]
    # default: max_epochs shared by the stages exactly, as evenly as possible
    assert [s.epochs for s in Sequential().stages(4, 10)] == [3, 3, 2, 2]
    assert [s.epochs for s in Sequential().stages(4, 4)] == [1, 1, 1, 1]
    assert [s.epochs for s in Sequential(fine_tune=(0.1,)).stages(2, 7)] == [2, 2, 2, 1]
    # fewer epochs than stages cannot be shared: a clear error, not more epochs than asked
    with pytest.raises(ValueError, match=r"max_epochs=2 cannot give each stage an epoch; use "
                                         r"max_epochs >= 4"):
        Sequential().stages(4, 2)


def test_sequential_end_to_end_stages():
    stages = SequentialEndToEnd(epochs_per_stage=1, end_to_end_epochs=5).stages(2, 100)
    assert [s.n_active for s in stages] == [1, 2, 2]
    assert [s.trainable for s in stages] == [(0,), (1,), None]
    assert [s.epochs for s in stages] == [1, 1, 5]
    assert stages[-1].name == "end_to_end"
    # defaults: half the epochs sequentially (per layer), half end to end
    stages = SequentialEndToEnd().stages(2, 8)
    assert [s.epochs for s in stages] == [2, 2, 4]
    assert [s.epochs for s in SequentialEndToEnd().stages(3, 6)] == [1, 1, 1, 3]
    # too few epochs for the sequential phase: the message names what max_epochs needs
    with pytest.raises(ValueError, match=r"max_epochs=5 cannot give each stage an epoch; use "
                                         r"max_epochs >= 6"):
        SequentialEndToEnd().stages(3, 5)
    with pytest.raises(ValueError, match=r"max_epochs=4 .* use max_epochs >= 5"):
        SequentialEndToEnd(end_to_end_epochs=2).stages(3, 4)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_sequential_invalid_epochs(bad):
    with pytest.raises(ValueError, match="epochs_per_stage"):
        Sequential(epochs_per_stage=bad)
    with pytest.raises(ValueError, match="end_to_end_epochs"):
        SequentialEndToEnd(end_to_end_epochs=bad)


def test_equality_hash_repr_and_clone():
    assert MultiIteration("uniform") == MultiIteration("uniform")
    assert MultiIteration("uniform") != MultiIteration("log")
    assert Sequential(2) == Sequential(2) and Sequential(2) != SequentialEndToEnd(2)
    assert len({Sequential(2), Sequential(2), EndToEnd()}) == 2
    assert "epochs_per_stage=2" in repr(Sequential(2))
    assert isinstance(EndToEnd(), LossSchedule)
    # a schedule object is a valid, clonable estimator parameter
    est = UnfoldedRegressor(loss_schedule=MultiIteration([1.0, 2.0]))
    cloned = clone(est)
    assert cloned.loss_schedule == est.loss_schedule
    assert cloned.loss_schedule is not est.loss_schedule
    # every schedule object clones, with the parameters as given (scikit-learn checks identity)
    for schedule in (Sequential(epochs_per_stage=np.int64(2), fine_tune=(0.2, 0.02)),
                     SequentialEndToEnd(1, 3, fine_tune=[0.5]), MultiIteration(np.ones(3))):
        copy = clone(schedule)
        assert type(copy) is type(schedule) and repr(copy) == repr(schedule)
    assert [s.epochs for s in Sequential(np.int64(2), (0.5,)).stages(2, 1)] == [2, 2, 2, 2]


@pytest.mark.parametrize("cls", [EndToEnd, MultiIteration, Sequential, SequentialEndToEnd])
def test_every_schedule_takes_the_unsupervised_weight(cls):
    schedule = cls(unsupervised_weight=0.25)
    assert schedule.get_params()["unsupervised_weight"] == 0.25
    assert cls().unsupervised_weight == 1.0
    assert schedule.set_params(unsupervised_weight=2.0) is schedule
    assert schedule.unsupervised_weight == 2.0
    assert get_loss_schedule(schedule).unsupervised_weight == 2.0
    with pytest.raises(ValueError, match="loss_schedule__unsupervised_weight must be >= 0"):
        get_loss_schedule(cls(unsupervised_weight=-1.0))
    with pytest.raises(TypeError, match="loss_schedule__unsupervised_weight must be a real"):
        get_loss_schedule(cls(unsupervised_weight="high"))
    assert "unsupervised_weight=0.25" in repr(cls(unsupervised_weight=0.25))
    assert "unsupervised_weight" not in repr(cls())
