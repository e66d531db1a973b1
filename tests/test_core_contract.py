"""What the redesigned core contract added, on the core-only toy problem.

Option objects (``FixedPoint``, ``Safeguard``, ``Adversarial``, ``EarlyStopping``,
``Optimizer``, the schedules' ``unsupervised_weight``), the declaration check of
presets, the rendering of ``%(parameters)s``, ``layer_parameters_``,
``transform``/``score``, the exact sharing of ``max_epochs`` by sequential
stages, the checks of a problem's first call, and ``adapt``.
"""

import inspect
import pickle

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV

from skunfold.core import (
    Adversarial,
    EarlyStopping,
    EndToEnd,
    FixedPoint,
    MultiIteration,
    Optimizer,
    Param,
    Problem,
    Safeguard,
    Sequential,
    UnfoldedEstimator,
    UnfoldedRegressor,
    adapt,
    constraints,
    set_init_parameters,
)

OPTIONS = [FixedPoint, Safeguard, Adversarial, EarlyStopping, Optimizer]


def _est(p, **kw):
    params = dict(n_layers=3, max_epochs=2, batch_size=32, random_state=0, device="cpu")
    params.update(kw)
    return UnfoldedRegressor(p["problem"](), **params)


# -- option objects ---------------------------------------------------------------------------

@pytest.mark.parametrize("cls", OPTIONS)
def test_option_objects_have_params_and_clone(cls):
    default = cls()
    params = default.get_params()
    assert list(params) == [name for name in inspect.signature(cls).parameters]
    assert repr(default) == f"{cls.__name__}()"
    name, value = next(iter(params.items()))
    other = {"tol": 1e-6, "delta": 0.2, "radius": 0.1, "validation_fraction": 0.3,
             "algorithm": "sgd"}[name]
    changed = cls().set_params(**{name: other})
    assert changed.get_params()[name] == other and changed != default
    assert repr(changed) == f"{cls.__name__}({name}={other!r})"
    copy = clone(changed)
    assert copy is not changed and copy == changed
    assert pickle.loads(pickle.dumps(changed)) == changed
    with pytest.raises(ValueError, match=f"Invalid parameter 'nonsense' for {cls.__name__}"):
        cls().set_params(nonsense=1)


def test_option_objects_are_estimator_parameters(toy_problem):
    est = _est(toy_problem, safeguard=Safeguard(delta=0.2), early_stopping=EarlyStopping(),
               optimizer=Optimizer(lr_schedule="cosine"),
               loss_schedule=EndToEnd(unsupervised_weight=0.5))
    params = est.get_params()
    assert params["safeguard__delta"] == 0.2
    assert params["early_stopping__n_iter_no_change"] == 10
    assert params["optimizer__lr_schedule"] == "cosine"
    assert params["loss_schedule__unsupervised_weight"] == 0.5
    est.set_params(safeguard__delta=0.3, loss_schedule__unsupervised_weight=2.0)
    assert est.safeguard.delta == 0.3 and est.loss_schedule.unsupervised_weight == 2.0
    cloned = clone(est)
    for name in ("safeguard", "early_stopping", "optimizer", "loss_schedule"):
        assert getattr(cloned, name) == getattr(est, name)
        assert getattr(cloned, name) is not getattr(est, name)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # few iterations
def test_fit_never_changes_an_option_object(toy_problem):
    X, S = toy_problem["X"][:64], toy_problem["S"][:64]
    guard, fixed = Safeguard(delta=0.2), FixedPoint(max_iter=50)
    est = _est(toy_problem, safeguard=guard, max_epochs=1).fit(X, S)
    assert est.safeguard is guard and guard.get_params() == Safeguard(delta=0.2).get_params()
    assert est.module_.safeguard is not guard and est.module_.safeguard == guard
    est.safeguard_report(X)
    assert guard.last_fallback is None                 # the fitted copy records the report
    deq = _est(toy_problem, fixed_point=fixed, max_epochs=1).fit(X, S)
    assert deq.fixed_point is fixed and fixed.last_forward is None
    assert deq.module_.fixed_point.last_forward is not None


def test_grid_search_reaches_options_inside_objects(toy_problem):
    p = toy_problem
    est = _est(p, n_layers=2, max_epochs=1, safeguard=Safeguard(),
               loss_schedule=EndToEnd())
    grid = {"safeguard__delta": [0.01, 0.5],
            "loss_schedule__unsupervised_weight": [0.5, 1.0]}
    search = GridSearchCV(est, grid, cv=2).fit(p["X"][:96], p["S"][:96])
    assert sorted(sorted(c.items()) for c in search.cv_results_["params"]) == sorted(
        sorted({"safeguard__delta": d, "loss_schedule__unsupervised_weight": w}.items())
        for d in (0.01, 0.5) for w in (0.5, 1.0))
    best = search.best_estimator_
    assert best.safeguard.delta == search.best_params_["safeguard__delta"]
    assert best.loss_schedule.unsupervised_weight == \
        search.best_params_["loss_schedule__unsupervised_weight"]
    assert est.safeguard == Safeguard()                # the searched estimator is untouched
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))


def _fitted_option(est, name):
    """The validated option object a fitted model runs with (None when off)."""
    if name == "early_stopping":   # a validation split: a valid_loss column in the history
        return "valid_loss" in est.history_[-1] or None
    return getattr(est.module_, name)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # few iterations
@pytest.mark.parametrize("name, cls", [
    ("safeguard", Safeguard),
    ("adversarial", Adversarial),
    ("early_stopping", EarlyStopping),
    ("fixed_point", FixedPoint),
])
def test_true_means_the_defaults(toy_problem, name, cls):
    p = toy_problem
    X, S = p["X"][:64], p["S"][:64]
    on = _est(p, **{name: True}).fit(X, S)
    explicit = _est(p, **{name: cls()}).fit(X, S)
    off = _est(p, **{name: False}).fit(X, S)
    assert_array_equal(on.predict(p["X_test"]), explicit.predict(p["X_test"]))
    assert_array_equal(on.history_[:, "train_loss"], explicit.history_[:, "train_loss"])
    assert _fitted_option(off, name) is None
    if name != "early_stopping":
        assert _fitted_option(on, name) == cls() == _fitted_option(explicit, name)
    else:
        assert _fitted_option(on, name) is True


def test_optimizer_object_equals_the_named_optimizer_and_sets_decay_and_clipping(toy_problem):
    p = toy_problem
    X, S = p["X"][:128], p["S"][:128]
    named = _est(p, optimizer="adam").fit(X, S)
    wrapped = _est(p, optimizer=Optimizer()).fit(X, S)
    assert_array_equal(named.predict(p["X_test"]), wrapped.predict(p["X_test"]))
    cosine = _est(p, optimizer=Optimizer(lr_schedule="cosine"), max_epochs=4, lr=0.05).fit(X, S)
    lrs = [group["lr"] for group in cosine.net_.optimizer_.param_groups]
    assert all(lr < 0.05 for lr in lrs)                # decayed within the stage
    with pytest.raises(ValueError, match="optimizer__lr_schedule must be one of"):
        _est(p, optimizer=Optimizer(lr_schedule="step")).fit(X, S)
    with pytest.raises(ValueError, match="optimizer__algorithm must be one of"):
        _est(p, optimizer=Optimizer(algorithm="lbfgs")).fit(X, S)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        _est(p, optimizer=3).fit(X, S)


class _SGDRegressor(UnfoldedRegressor):
    """A preset whose default optimizer (``optimizer=None``) is SGD with clipping."""

    default_optimizer = Optimizer("sgd", max_grad_norm=1.0)


def test_optimizer_none_is_the_estimators_default(toy_problem):
    p = toy_problem
    X, S = p["X"][:128], p["S"][:128]
    assert UnfoldedRegressor().optimizer is None
    default = _est(p, optimizer=None).fit(X, S)
    assert isinstance(default.net_.optimizer_, torch.optim.Adam)
    assert_array_equal(default.predict(p["X_test"]),
                       _est(p, optimizer=Optimizer()).fit(X, S).predict(p["X_test"]))
    sgd = _SGDRegressor(p["problem"](), n_layers=3, max_epochs=2, batch_size=32, lr=1e-2,
                        random_state=0).fit(X, S)
    assert isinstance(sgd.net_.optimizer_, torch.optim.SGD)
    assert_array_equal(sgd.predict(p["X_test"]), _est(
        p, optimizer=Optimizer("sgd", max_grad_norm=1.0), lr=1e-2).fit(X, S).predict(p["X_test"]))


@pytest.mark.parametrize("params, message", [
    (dict(early_stopping=EarlyStopping(validation_fraction=1.0)),
     r"early_stopping__validation_fraction must be in the open interval \(0, 1\)"),
    (dict(early_stopping=EarlyStopping(n_iter_no_change=0)),
     "early_stopping__n_iter_no_change must be >= 1"),
    (dict(early_stopping="yes"), "early_stopping must be True, False or a EarlyStopping"),
    (dict(loss_schedule=Sequential(unsupervised_weight=-0.5)),
     "loss_schedule__unsupervised_weight must be >= 0"),
    (dict(tied="no"), "tied must be None, True or False, got 'no'"),
    (dict(max_epochs=-1), "max_epochs must be >= 0"),
    (dict(batch_size=0), "batch_size must be a positive integer or -1"),
    (dict(paradigm="learned"), "paradigm must be one of"),
])
def test_invalid_parameters_are_named(toy_problem, params, message):
    p = toy_problem
    with pytest.raises((ValueError, TypeError), match=message):
        _est(p, **params).fit(p["X"][:64], p["S"][:64])


def test_unsupervised_weight_weighs_the_unlabeled_samples(toy_problem):
    p = toy_problem
    X, S = p["X"][:128], p["S"][:128].copy()
    S[::2] = np.nan                                   # half the samples unlabeled
    fits = {w: _est(p, loss_schedule=MultiIteration(unsupervised_weight=w), max_epochs=3,
                    lr=0.05).fit(X, S) for w in (0.0, 1.0)}
    assert fits[0.0].net_.unsupervised_weight == 0.0
    assert fits[1.0].net_.unsupervised_weight == 1.0
    assert not np.allclose(fits[0.0].predict(p["X_test"]), fits[1.0].predict(p["X_test"]))


# -- declarations and docstrings ----------------------------------------------------------

class _Averaging(Problem):
    hyperparameters = {"step": 0.5}

    def initial_state(self, x):
        return torch.zeros_like(x)

    def step(self, s, x, step):
        return s + step * (x - s)

    def objective(self, s, x):
        return 0.5 * ((x - s) ** 2).sum(dim=1)


def test_a_class_whose_supports_and_init_disagree_is_a_type_error():
    with pytest.raises(TypeError, match=r"declares supports=\['training'\] but its __init__ "
                                        r"lacks the parameters \[.*'max_epochs'"):
        class MissingTraining(UnfoldedEstimator):
            supports = ("training",)

            def __init__(self, n_layers=3, paradigm="hyperparameters", verbose=0):
                set_init_parameters(self, locals())

    with pytest.raises(TypeError, match=r"takes the core parameters \['safeguard'\] of features "
                                        r"it does not declare"):
        class UndeclaredSafeguard(UnfoldedEstimator):
            supports = ()

            def __init__(self, n_layers=3, safeguard=False, verbose=0):
                set_init_parameters(self, locals())

    with pytest.raises(TypeError, match=r"names unknown features \['gpu'\]"):
        class UnknownFeature(UnfoldedEstimator):
            supports = ("gpu",)

            def __init__(self, n_layers=3, verbose=0):
                set_init_parameters(self, locals())

    # free core parameters need no feature; a consistent declaration is accepted
    class Classical(UnfoldedEstimator):
        supports = ("complex_input",)

        def __init__(self, n_layers=3, tied=None, device="auto", n_threads=None, verbose=0):
            set_init_parameters(self, locals())

    assert Classical.supports == frozenset({"complex_input"})


class Damped(UnfoldedEstimator):
    """Averaging with a damping factor, for the docstring test.

    Parameters
    ----------
    n_layers : int, default=4
        Iterations.
    damping : float, default=0.5
        The step.
    %(parameters)s
    Attributes
    ----------
    module_ : UnfoldedModule
    """

    supports = ("training", "safeguard")
    parameter_table = {
        "damping": Param(constraints.real(0, 1, strict_min=True), "float", None),
        "flavour": Param(constraints.options("plain", "fancy"), "str", """
            A parameter of the class, documented by its row."""),
        "max_epochs": Param(constraints.integer(0), "int", """
            The class's own text for a core parameter."""),
    }

    def __init__(self, n_layers=4, damping=0.5, flavour="plain", *, paradigm="hyperparameters",
                 loss_schedule="end_to_end", max_epochs=7, lr=None, batch_size=64,
                 optimizer="adam", early_stopping=False, safeguard=False, warm_start=False,
                 random_state=None, verbose=0):
        set_init_parameters(self, locals())

    def build_problem(self, X, y):
        problem = _Averaging()
        problem.hyperparameters = {"step": self.damping}
        return problem


def test_parameters_are_rendered_into_the_docstring():
    doc = Damped.__doc__
    assert "%(parameters)s" not in doc
    assert doc.count("    damping : ") == 1 and doc.count("    n_layers : ") == 1
    assert "    flavour : str, default=\"plain\"\n        A parameter of the class" in doc
    assert "    max_epochs : int, default=7\n        The class's own text" in doc
    assert "    safeguard : bool or Safeguard, default=False\n" in doc
    assert "    lr : float or None, default=None\n" in doc
    assert "    fixed_point : " not in doc and "    paradigm : " not in doc  # no core doc
    # in the signature's order, before the next section
    order = [doc.index(f"    {name} : ") for name in ("flavour", "loss_schedule", "max_epochs",
                                                       "lr", "safeguard", "verbose")]
    assert order == sorted(order) and order[-1] < doc.index("    Attributes")
    assert "%(parameters)s" not in UnfoldedRegressor.__doc__
    assert "    adversarial : bool or Adversarial, default=False\n" in UnfoldedRegressor.__doc__
    # the class's own check runs in fit
    X = np.ones((8, 2))
    with pytest.raises(ValueError, match="flavour must be one of"):
        Damped(flavour="odd").fit(X, X)
    with pytest.raises(ValueError, match="damping must be <= 1"):
        Damped(damping=2.0).fit(X, X)
    assert Damped(max_epochs=0, damping=0.25).fit(X, X).layer_parameters_["step"].tolist() \
        == [0.25] * 4


# -- fitted attributes and inference -----------------------------------------------------------

def test_layer_parameters_of_an_untrained_model_are_the_classical_values(toy_problem):
    p = toy_problem
    L = p["problem"]().lipschitz
    for paradigm in ("classical", "hyperparameters", "objective"):
        est = _est(p, paradigm=paradigm, n_layers=4, max_epochs=0).fit(p["X"], p["S"])
        table = est.layer_parameters_
        assert list(table) == ["layer", "step", "threshold"]
        assert_array_equal(table["layer"], [1, 2, 3, 4])
        assert table["step"].dtype == np.float64 and table["step"].shape == (4,)
        assert_allclose(table["step"], 1.0 / L, rtol=1e-6)
        assert_allclose(table["threshold"], 0.1 / L, rtol=1e-6)
    assert est.paradigm_ == "objective"
    with pytest.raises(NotFittedError):
        _est(p).layer_parameters_


def test_layer_parameters_are_the_learned_hyperparameters(toy_problem):
    p = toy_problem
    est = _est(p, n_layers=4, max_epochs=3, lr=0.05).fit(p["X"], p["S"])
    table = est.layer_parameters_
    module = est.module_
    for k in range(4):
        learned = module.iteration(k).hyperparameter_values(module.problem, k)
        assert table["step"][k] == pytest.approx(float(learned["step"].detach()), rel=1e-6)
        assert table["threshold"][k] == pytest.approx(float(learned["threshold"].detach()),
                                                      rel=1e-6)
    L = p["problem"]().lipschitz
    assert len(set(table["threshold"])) == 4              # learned per layer
    assert not np.allclose(table["threshold"], 0.1 / L)   # moved by training
    # a network in place of the update has no hyperparameters to report
    dnn = _est(p, paradigm="dnn", max_epochs=0, hidden_layer_sizes=(4,)).fit(p["X"], p["S"])
    assert list(dnn.layer_parameters_) == ["layer"]


def test_transform_and_score(toy_problem):
    p = toy_problem
    X, S, Xt, St = p["X"], p["S"], p["X_test"], p["S_test"]
    est = _est(p, max_epochs=2).fit(X, S)
    assert_array_equal(est.transform(Xt), est.predict(Xt))
    assert_array_equal(est.fit_transform(X, S), est.predict(X))
    assert est.score(Xt, St) == pytest.approx(r2_score(St, est.predict(Xt)), rel=1e-12)
    values = est.objective_values(Xt, est.predict(Xt))
    assert values.shape == (200,) and values.dtype == np.float64
    assert est.score(Xt) == pytest.approx(-values.mean(), rel=1e-12)
    weights = np.linspace(0, 1, 200)
    assert est.score(Xt, sample_weight=weights) == pytest.approx(
        -np.average(values, weights=weights), rel=1e-12)
    # a 1-D target: predict is 1-D, transform keeps the (n_samples, 1) layout
    y1 = S[:, 0]
    one = UnfoldedRegressor(_Averaging(), n_layers=2, max_epochs=1, random_state=0).fit(
        X[:, :1], y1)
    assert one.predict(Xt[:, :1]).shape == (200,)
    assert one.transform(Xt[:, :1]).shape == (200, 1)
    assert one.score(Xt[:, :1], St[:, 0]) == pytest.approx(
        r2_score(St[:, 0], one.predict(Xt[:, :1])), rel=1e-12)


def test_max_epochs_is_honoured_by_the_sequential_schedule(toy_problem):
    p = toy_problem
    X, S = p["X"][:64], p["S"][:64]
    for max_epochs in (3, 7):
        est = _est(p, loss_schedule="sequential", max_epochs=max_epochs).fit(X, S)
        assert len(est.history_) == max_epochs
    fine = _est(p, loss_schedule=Sequential(fine_tune=(0.1,)), max_epochs=8).fit(X, S)
    assert len(fine.history_) == 8
    both = _est(p, loss_schedule="sequential+end_to_end", max_epochs=10).fit(X, S)
    assert len(both.history_) == 10
    fitted = _est(p, loss_schedule="sequential", max_epochs=3).fit(X, S)
    before = fitted.predict(p["X_test"])
    with pytest.raises(ValueError, match=r"max_epochs=2 cannot give each stage an epoch; use "
                                         r"max_epochs >= 3"):
        fitted.set_params(max_epochs=2).fit(X, S)
    assert_array_equal(fitted.predict(p["X_test"]), before)  # the failed fit changed nothing


# -- a problem's first call ----------------------------------------------------------------------

class _Returns(_Averaging):
    """An averaging problem with one method broken on purpose."""

    def __init__(self, fault):
        self.fault = fault

    def step(self, s, x, step):
        new = s + step * (x - s)
        if self.fault == "numpy":
            return new.numpy()
        if self.fault == "shape":
            return new[:, :1]
        if self.fault == "tuple":
            return (new, new)
        return new

    def objective(self, s, x):
        if self.fault == "scalar":
            return 0.5 * ((x - s) ** 2).sum()
        return super().objective(s, x)

    def readout(self, state):
        if self.fault == "readout":
            return state.sum()
        return state


@pytest.mark.parametrize("fault, exc, message", [
    ("numpy", TypeError, r"_Returns.step\(state, x, ...\) is a numpy array; .* return torch "
                         r"tensors"),
    ("shape", ValueError, r"_Returns.step changed the shape of the state from \(8, 3\) to "
                          r"\(8, 1\)"),
    ("tuple", ValueError, r"_Returns.step returned a tuple of 2 where initial_state returned a "
                          r"tensor of shape \(8, 3\)"),
    ("scalar", ValueError, r"_Returns.objective\(estimate, x\) returned a tensor of shape \(\); "
                           r"it must return one value per sample, a tensor of shape \(8,\)"),
    ("readout", ValueError, r"_Returns.readout\(state\) returned a tensor of shape \(\) for a "
                            r"batch of 8 samples; expected a tensor of shape \(8, ...\)"),
])
def test_a_problems_first_call_is_checked(fault, exc, message):
    X = np.random.default_rng(0).normal(size=(32, 3))
    with pytest.raises(exc, match=message):
        UnfoldedRegressor(_Returns(fault), n_layers=2, paradigm="classical").fit(X)


def test_readout_shape_is_checked_against_the_targets():
    X = np.random.default_rng(0).normal(size=(32, 3))
    est = UnfoldedRegressor(_Averaging(), n_layers=2, max_epochs=1)
    with pytest.raises(ValueError, match=r"_Averaging.readout\(state\) gives estimates of shape "
                                         r"\(3,\) per sample but the targets y have shape "
                                         r"\(2,\)"):
        est.fit(X, X[:, :2])
    est.fit(X, X)  # the right shape trains


def test_an_error_raised_by_the_problem_names_the_call():
    class Raising(_Averaging):
        def initial_state(self, x):
            raise RuntimeError("no start")

    X = np.ones((16, 2))
    with pytest.raises(RuntimeError, match="no start") as err:
        UnfoldedRegressor(Raising(), n_layers=2, paradigm="classical").fit(X)
    assert any("Raising.initial_state on a batch of 8 samples" in note
               for note in err.value.__notes__)


# -- continued training ------------------------------------------------------------------------

def test_adapt_continues_training_from_the_fitted_parameters(toy_problem):
    p = toy_problem
    X, S = p["X"], p["S"]
    est = _est(p, max_epochs=2, lr=0.05).fit(X[:200], S[:200])
    before = est.layer_parameters_["threshold"].copy()
    prediction = est.predict(p["X_test"])
    assert adapt(est, X[200:], S[200:], epochs=3, lr=0.01) is est
    assert len(est.history_) == 3
    assert not np.allclose(est.layer_parameters_["threshold"], before)
    assert not np.array_equal(est.predict(p["X_test"]), prediction)
    # only what select returns is trained
    frozen = est.layer_parameters_
    adapt(est, X[:100], S[:100], epochs=1,
          select=lambda module: module.iteration(0).parameters())
    after = est.layer_parameters_
    assert after["threshold"][0] != frozen["threshold"][0]
    assert_array_equal(after["threshold"][1:], frozen["threshold"][1:])
    # a failed adaptation leaves the model as it was
    kept = est.predict(p["X_test"])
    with pytest.raises(ValueError, match="X has 10 features"):
        adapt(est, X[:50, :10], S[:50], epochs=1)
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        adapt(est, X, S, epochs=0)
    assert_array_equal(est.predict(p["X_test"]), kept)
    with pytest.raises(NotFittedError):
        adapt(_est(p), X, S, epochs=1)
