"""Training from a SampleSource: fresh samples every epoch, a fixed held-out validation set."""

import pickle
from functools import partial

import numpy as np
import pytest
import torch
from conftest import ToyISTA  # the core-only test problem
from numpy.testing import assert_allclose, assert_array_equal

from skunfold.core import (
    EarlyStopping,
    Problem,
    SampleSource,
    SampleSourceError,
    Sequential,
    UnfoldedEstimator,
    UnfoldedRegressor,
    set_init_parameters,
)

M, N = 20, 40


def nmse_db(reference, estimate):
    """NMSE in dB over the whole set: 10 log10(sum of squared errors / sum of energies)."""
    return 10 * np.log10(np.sum((estimate - reference) ** 2) / np.sum(reference ** 2))


def make_codes(n_samples, dictionary, random_state=None):
    """``(X, S)``: Bernoulli-Gaussian codes (p=0.1) and their measurements ``X = S D``."""
    rng = np.random.default_rng(random_state)
    S = rng.normal(size=(n_samples, N)) * (rng.random((n_samples, N)) < 0.1)
    return S @ dictionary, S


@pytest.fixture(scope="module")
def dictionary(toy_problem):
    return toy_problem["D"]


def _sampler(D):
    return partial(make_codes, dictionary=D)


class Recorder:
    """A sampler that records the seeds and sizes it was asked for."""

    def __init__(self, D):
        self.D, self.calls = D, []

    def __call__(self, n_samples, random_state=None):
        self.calls.append((n_samples, random_state))
        return make_codes(n_samples, self.D, random_state=random_state)


class Fixed:
    """A sampler that ignores random_state and returns the same arrays every time."""

    def __init__(self, X, S):
        self.X, self.S = X, S

    def __call__(self, n_samples, random_state=None):
        assert n_samples == len(self.X)
        return self.X, self.S


def _params(model):
    return {k: v.detach().clone() for k, v in model.module_.named_parameters()}


def _model(D, **kwargs):
    options = dict(n_layers=4, max_epochs=4, batch_size=32, random_state=0)
    return UnfoldedRegressor(ToyISTA(D), **{**options, **kwargs})


def test_same_random_state_same_fit(dictionary):
    source = SampleSource(_sampler(dictionary), n_samples_per_epoch=128)
    a = _params(_model(dictionary).fit(source))
    b = _params(_model(dictionary).fit(source))
    c = _params(_model(dictionary, random_state=1).fit(source))
    for name in a:
        assert_array_equal(a[name].numpy(), b[name].numpy())
    assert any(not torch.equal(a[name], c[name]) for name in a)


def test_fresh_samples_every_epoch_and_a_separate_validation_stream(dictionary):
    recorder = Recorder(dictionary)
    source = SampleSource(recorder, n_samples_per_epoch=96, validation=50)
    model = _model(dictionary, max_epochs=5, early_stopping=EarlyStopping(n_iter_no_change=100))
    model.fit(source)
    sizes = [n for n, _ in recorder.calls]
    seeds = [s for _, s in recorder.calls]
    # epoch 0 is drawn first (it sizes the problem), then the validation set, then epochs 1..4
    assert sizes == [96, 50, 96, 96, 96, 96]
    assert len(set(seeds)) == len(seeds)  # every training draw is new; validation has its own
    assert source.n_draws_ == 5 == len(model.history_)
    valid_seed = seeds[1]
    train_X = np.concatenate([make_codes(96, dictionary, random_state=s)[0]
                              for s in seeds[:1] + seeds[2:]])
    valid_X = make_codes(50, dictionary, random_state=valid_seed)[0]
    valid_X = valid_X[np.abs(valid_X).sum(axis=1) > 0]  # codes with no atom give x = 0 anywhere
    assert not (valid_X[:, None, :] == train_X[None, :, :]).all(axis=2).any()
    # the validation losses of the history are those of the fixed set: refit, same figures
    again = _model(dictionary, max_epochs=5, early_stopping=EarlyStopping(n_iter_no_change=100))
    again.fit(SampleSource(Recorder(dictionary), n_samples_per_epoch=96, validation=50))
    assert_allclose(model.history_[:, "valid_loss"], again.history_[:, "valid_loss"])


def test_source_of_one_array_equals_fit_on_the_array(dictionary):
    X, S = make_codes(160, dictionary, random_state=3)
    on_array = _params(_model(dictionary, max_epochs=3).fit(X, S))
    from_source = _params(_model(dictionary, max_epochs=3).fit(
        SampleSource(Fixed(X, S), n_samples_per_epoch=len(X))))
    for name in on_array:
        assert_array_equal(on_array[name].numpy(), from_source[name].numpy())


@pytest.mark.parametrize("schedule", ["end_to_end", "multi_iteration", "sequential",
                                      "sequential+end_to_end",
                                      Sequential(epochs_per_stage=1, fine_tune=(0.2, 0.02))])
def test_every_loss_schedule_draws_once_per_epoch(dictionary, schedule):
    source = SampleSource(_sampler(dictionary), n_samples_per_epoch=64)
    model = _model(dictionary, loss_schedule=schedule, max_epochs=8).fit(source)
    assert source.n_draws_ == len(model.history_) >= 4


def test_training_from_a_source_learns(dictionary):
    X_test, S_test = make_codes(300, dictionary, random_state=99)
    classical = _model(dictionary, paradigm="classical").fit(X_test)
    classical = nmse_db(S_test, classical.predict(X_test))
    source = SampleSource(_sampler(dictionary), n_samples_per_epoch=256)
    # learned step sizes and thresholds, trained end to end on 16 fresh draws
    model = _model(dictionary, max_epochs=16, lr=0.1).fit(source)
    assert source.n_draws_ == 16
    assert nmse_db(S_test, model.predict(X_test)) < classical - 3.0


def test_unsupervised_source_and_given_validation_arrays(dictionary):
    X_val, S_val = make_codes(40, dictionary, random_state=7)
    source = SampleSource(_sampler(dictionary), n_samples_per_epoch=64, supervised=False,
                          validation=(X_val, S_val))
    model = _model(dictionary, max_epochs=3, early_stopping=True, lr=1e-2).fit(source)
    assert len(model.history_) >= 1
    assert np.isfinite(model.history_[-1, "valid_loss"])


def test_estimator_pickles_after_a_fit_from_a_source(dictionary):
    source = SampleSource(_sampler(dictionary), n_samples_per_epoch=64)
    model = _model(dictionary, max_epochs=1).fit(source)
    X = make_codes(5, dictionary, random_state=1)[0]
    assert_allclose(pickle.loads(pickle.dumps(model)).predict(X), model.predict(X))


class SizedOnData(ToyISTA):
    """ToyISTA whose operator is estimated from the first training data (least squares)."""

    def __init__(self):
        self.D = None

    def prepare(self, X, y=None):
        D = np.linalg.lstsq(y, X, rcond=None)[0]
        ToyISTA.__init__(self, D)
        return self


class Shift(Problem):
    """min_s 0.5 ||s - x||^2 + side term: s_{k+1} = s - step (s - x - offset)."""

    side_information = ("offset",)

    def __init__(self):
        self.hyperparameters = {"step": 0.3}

    def initial_state(self, x, offset):
        return torch.zeros_like(x)

    def step(self, s, x, step, offset):
        return s - step * (s - x - offset)

    def objective(self, s, x, offset):
        return 0.5 * ((s - x - offset) ** 2).sum(dim=1)


def _shift_sampler(n_samples, random_state=None):
    rng = np.random.default_rng(random_state)
    X = rng.normal(size=(n_samples, 3))
    offset = rng.normal(size=(n_samples, 3))
    return X, X + offset, {"offset": offset}


def test_users_problem_with_side_information_from_a_source():
    model = UnfoldedRegressor(Shift(), n_layers=3, paradigm="hyperparameters", max_epochs=10,
                              lr=0.05, random_state=0)
    model.fit(SampleSource(_shift_sampler, n_samples_per_epoch=64))
    X, y, side = _shift_sampler(50, random_state=123)
    untrained = UnfoldedRegressor(Shift(), n_layers=3, paradigm="classical").fit(X, y, **side)
    error = np.mean((model.predict(X, **side) - y) ** 2)
    assert error < 0.5 * np.mean((untrained.predict(X, **side) - y) ** 2)


# -- bad sources ----------------------------------------------------------------------------
class Faulty:
    """Good samples for the first ``good`` draws, then ``fault``."""

    def __init__(self, D, good, fault):
        self.D, self.good, self.fault, self.n = D, good, fault, 0

    def __call__(self, n_samples, random_state=None):
        self.n += 1
        X, S = make_codes(n_samples, self.D, random_state=random_state)
        if self.n <= self.good:
            return X, S
        if self.fault == "raise":
            raise RuntimeError("simulator crashed")
        if self.fault == "nan":
            X = X.copy()
            X[0, 0] = np.nan
        if self.fault == "shape":
            X = X[:, :-1]
        if self.fault == "count":
            X, S = X[:-1], S[:-1]
        if self.fault == "no_target":
            return X
        if self.fault == "not_arrays":
            return "samples"
        return X, S


@pytest.mark.parametrize("fault, message", [
    ("raise", "raised RuntimeError: simulator crashed"),
    ("nan", "NaN"),
    ("shape", "features"),
    ("count", "samples for epoch 2"),
    ("no_target", "other outputs"),
    ("not_arrays", "samples"),
])
def test_bad_source_is_reported_and_leaves_the_fitted_estimator(dictionary, fault, message):
    X = make_codes(20, dictionary, random_state=1)[0]
    model = _model(dictionary, max_epochs=2).fit(SampleSource(_sampler(dictionary), 64))
    before, prediction = _params(model), model.predict(X)
    with pytest.raises(SampleSourceError, match=message):
        model.set_params(max_epochs=4).fit(SampleSource(Faulty(dictionary, 2, fault), 64))
    assert_array_equal(model.predict(X), prediction)
    for name, value in _params(model).items():
        assert torch.equal(value, before[name])


def test_a_source_failing_on_its_first_draw(dictionary):
    with pytest.raises(SampleSourceError, match="epoch 0"):
        _model(dictionary).fit(SampleSource(Faulty(dictionary, 0, "nan"), 64))
    with pytest.raises(SampleSourceError, match="simulator crashed"):
        _model(dictionary).fit(SampleSource(Faulty(dictionary, 0, "raise"), 64))


def test_source_arguments_are_checked(dictionary):
    with pytest.raises(TypeError, match="callable"):
        SampleSource(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="n_samples_per_epoch"):
        SampleSource(_sampler(dictionary), n_samples_per_epoch=0)
    with pytest.raises(ValueError, match="validation"):
        SampleSource(_sampler(dictionary), validation=0.1)
    source = SampleSource(_sampler(dictionary), 64)
    S = np.zeros((64, N))
    with pytest.raises(ValueError, match="takes no y"):
        _model(dictionary).fit(source, S)


def test_a_source_sizes_a_problem_prepared_on_its_first_draw(dictionary):
    # the problem learns its operator's size from the first draw (Problem.prepare)
    model = UnfoldedRegressor(SizedOnData(), n_layers=3, paradigm="objective", max_epochs=1,
                              random_state=0)
    model.fit(SampleSource(_sampler(dictionary), n_samples_per_epoch=64))
    assert model.problem.D is None                      # the user's problem is untouched
    assert tuple(model.problem_.D.shape) == (N, M)
    assert model.n_features_in_ == M
    assert model.predict(np.zeros((2, M))).shape == (2, N)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_source_on_gpu(dictionary):
    source = SampleSource(_sampler(dictionary), n_samples_per_epoch=64)
    model = _model(dictionary, device="cuda", max_epochs=2).fit(source)
    assert source.n_draws_ == 2
    assert model.predict(np.zeros((2, M))).shape == (2, N)


def test_a_partly_consumed_staged_predict_leaves_autograd_on(dictionary):
    model = _model(dictionary, paradigm="classical").fit(np.zeros((4, M)))
    stages = model.staged_predict(np.ones((3, M)))
    next(stages)
    assert torch.is_grad_enabled()  # the caller's autograd mode, while the generator is paused
    del stages


class SignAveraging(Problem):
    """Average the observation; the estimate's sign is the label (a logistic loss on it)."""

    hyperparameters = {"step": 0.3}

    def initial_state(self, x):
        return torch.zeros_like(x)

    def step(self, s, x, step):
        return s + step * (x - s)

    def loss(self, estimate, target):
        return torch.nn.functional.softplus(-4.0 * (2 * target - 1) * estimate).mean(dim=1)


class SignClassifier(UnfoldedEstimator):
    """A toy preset whose targets are labels in {-1, +1}, encoded as {0, 1} by validate_target."""

    supports = ("training",)

    def __init__(self, n_layers=2, *, paradigm="hyperparameters", loss_schedule="end_to_end",
                 max_epochs=5, lr=0.05, batch_size=64, optimizer="adam", early_stopping=False,
                 warm_start=False, random_state=None, verbose=0):
        set_init_parameters(self, locals())

    def build_problem(self, X, y):
        return SignAveraging()

    def validate_target(self, y, X):
        y = np.asarray(y)
        if not np.isin(y, (-1, 1)).all():
            raise ValueError("labels must be -1 or +1")
        self.encoded_draws_ = getattr(self, "encoded_draws_", 0) + 1
        return (y > 0).astype(np.float64)

    def predict(self, X):
        return np.where(self.iterate(X) > 0, 1, -1)


def _signs(n_samples, random_state=None):
    rng = np.random.default_rng(random_state)
    y = rng.choice([-1, 1], size=(n_samples, 2))
    return y + 0.8 * rng.normal(size=y.shape), y


def test_classifier_from_a_source_of_labels():
    model = SignClassifier(n_layers=2, max_epochs=30, random_state=0)
    source = SampleSource(_signs, n_samples_per_epoch=256)
    model.fit(source)
    # the first draw is checked once before the model is built, then every draw is encoded
    assert model.encoded_draws_ == 1 + 30 and source.n_draws_ == 30
    X, y = _signs(500, random_state=9)
    assert set(np.unique(model.predict(X))) <= {-1, 1}
    assert np.mean(model.predict(X) == y) > 0.75  # chance: 0.5 (labels encoded every draw)
    bad = SampleSource(lambda n, random_state=None: (np.zeros((n, 2)), np.zeros((n, 2))), 16)
    with pytest.raises(SampleSourceError, match="labels must be -1 or \\+1"):
        SignClassifier().fit(bad)


def test_a_generator_whose_first_parameter_is_not_n_samples_fits_through_partial():
    # make_imaging_problem(operator, *, n_samples=...): the source passes n_samples by name
    from skunfold.datasets import make_imaging_problem
    from skunfold.imaging import Blur, UnfoldedProximalGradient
    from skunfold.metrics import psnr

    A = Blur((8, 8), sigma=1.0)
    source = SampleSource(partial(make_imaging_problem, A, noise=0.05), n_samples_per_epoch=64)
    model = UnfoldedProximalGradient(A, prior="tv", alpha=0.01, n_layers=3, max_epochs=12,
                                     random_state=0).fit(source)
    assert source.n_draws_ == 12 == len(model.history_)
    Y, X, _ = make_imaging_problem(A, images="test", n_samples=64, noise=0.05, random_state=1)
    start = UnfoldedProximalGradient(A, prior="tv", alpha=0.01, n_layers=3, max_epochs=0).fit(Y)
    assert psnr(X, model.predict(Y)) > psnr(X, start.predict(Y)) + 0.1
    # a sampler whose first parameter is n_samples, positional only, still works
    calls = []

    def positional(n, /, random_state=None):
        calls.append(n)
        return make_imaging_problem(A, n_samples=n, noise=0.05, random_state=random_state)[:2]

    UnfoldedProximalGradient(A, prior="tv", alpha=0.01, n_layers=3, max_epochs=2,
                             random_state=0).fit(SampleSource(positional, n_samples_per_epoch=32))
    assert calls == [32, 32]
