"""How each paradigm of the survey turns a :class:`~skunfold.core.Problem` into layers.

An iteration module maps ``(problem, k, state, x, side) -> next state``:

================== =========================================================
paradigm           layer ``k``
================== =========================================================
``classical``      ``problem.step`` with the classical hyperparameters of
                   iteration ``k`` (one module for every layer: any depth)
``hyperparameters`` ``problem.step`` with per-layer learned hyperparameters
                   (θʰ), kept in their valid range
``objective``      per-layer learned objective parameters (θᵒ) and
                   hyperparameters
``correction``     the classical step plus a learned network Δ(s, x),
                   zero at initialisation (shared by the layers by default)
``dnn``            a network per layer on the estimate and the observation,
                   added to the state (a residual step)
================== =========================================================

The generic correction and DNN networks are multilayer perceptrons on the
flattened estimate and observation: they work for any problem whose samples
are vectors or small arrays. Problem families supply their own modules
through :meth:`Problem.make_layers <skunfold.core.Problem.make_layers>`.
"""

import math

import torch
from torch import nn

from .problem import check_problem, evaluation_mode, fixed_value, from_raw, to_raw

__all__ = [
    "Iteration",
    "ClassicalIteration",
    "LearnedHyperparameters",
    "HyperparameterIteration",
    "ObjectiveIteration",
    "CorrectionIteration",
    "DNNIteration",
    "StateMLP",
    "mlp",
    "build_layers",
    "build_initial",
    "classical_parameters",
]


def classical_parameters(problem, k):
    """The keyword arguments of ``problem.step`` at classical iteration ``k``."""
    params = {name: fixed_value(v) for name, v in problem.layer_hyperparameters(k).items()}
    params.update(problem.objective_parameters)
    return params


class Iteration(nn.Module):
    """Base class of iteration modules: ``forward(problem, k, state, x, side) -> state``.

    ``problem`` is the (device-resident) :class:`~skunfold.core.Problem`,
    ``k`` the 0-based layer index, ``side`` a dict of per-sample side
    information (empty when there is none).
    """

    def forward(self, problem, k, state, x, side):  # pragma: no cover - abstract
        raise TypeError(f"{type(self).__name__} must define forward(problem, k, state, x, side)")

    def hyperparameter_values(self, problem, k):
        """The hyperparameters layer ``k`` runs with, by name (learned or classical).

        What ``layer_parameters_`` of a fitted estimator lists. The default is
        empty (a network in place of the update has none); iteration modules
        with hyperparameters override it, e.g. to report a learned threshold.
        """
        return {}


class ClassicalIteration(Iteration):
    """The classical iteration: ``problem.step`` with the problem's own parameters."""

    def forward(self, problem, k, state, x, side):
        return problem.step(state, x, **classical_parameters(problem, k), **side)

    def hyperparameter_values(self, problem, k):
        return {name: fixed_value(v) for name, v in problem.layer_hyperparameters(k).items()}


class LearnedHyperparameters(nn.Module):
    """The learned hyperparameters of one layer, stored unconstrained.

    A ``"positive"`` hyperparameter is learned through its logarithm (an
    optimizer step changes it by a relative amount: thresholds that must
    shrink by orders of magnitude over the layers are reached in few steps),
    a ``"unit_interval"`` one through a logistic function; ``"fixed"`` ones are
    not stored and come from the problem at every call.

    Parameters
    ----------
    values : dict of str to float or tensor
        Initial (classical) values.
    constraints : dict of str to str
        Constraint per name (default ``"positive"``).
    """

    def __init__(self, values, constraints):
        super().__init__()
        self.constraints = {name: constraints.get(name, "positive") for name in values}
        self.raw = nn.ParameterDict({
            name: nn.Parameter(to_raw(value, self.constraints[name]))
            for name, value in values.items() if self.constraints[name] != "fixed"})

    def forward(self, problem, k=None):
        """The values of layer ``k``: learned ones in their range, fixed ones from the problem.

        ``k=None``: the values of the initialisation (fixed ones from the
        problem's ``initial_hyperparameters``).
        """
        out = {}
        fixed = [n for n, c in self.constraints.items() if c == "fixed"]
        if fixed:
            current = (problem.initial_hyperparameters if k is None
                       else problem.layer_hyperparameters(k))
            out.update({n: fixed_value(current[n]) for n in fixed})
        for name, raw in self.raw.items():
            out[name] = from_raw(raw, self.constraints[name])
        return out


class HyperparameterIteration(Iteration):
    """``problem.step`` with the layer's learned hyperparameters (``"hyperparameters"``)."""

    def __init__(self, problem, k):
        super().__init__()
        self.hyperparameters = LearnedHyperparameters(problem.layer_hyperparameters(k),
                                                      problem.hyperparameter_constraints)

    def forward(self, problem, k, state, x, side):
        return problem.step(state, x, **self.hyperparameters(problem, k),
                            **problem.objective_parameters, **side)

    def hyperparameter_values(self, problem, k):
        return self.hyperparameters(problem, k)


class ObjectiveIteration(HyperparameterIteration):
    """Per-layer learned objective parameters and hyperparameters (paradigm ``"objective"``).

    Each layer starts from a copy of the problem's objective parameters, so the
    untrained layer is the classical iteration.
    """

    def __init__(self, problem, k):
        super().__init__(problem, k)
        self.objective_parameters = nn.ParameterDict({
            name: nn.Parameter(torch.as_tensor(value).detach().clone())
            for name, value in problem.objective_parameters.items()})

    def forward(self, problem, k, state, x, side):
        return problem.step(state, x, **self.hyperparameters(problem, k),
                            **dict(self.objective_parameters.items()), **side)


def mlp(sizes, zero_last=True):
    """A ReLU multilayer perceptron through ``sizes`` (input, hidden..., output widths).

    With ``zero_last`` the last layer starts at zero, so the untrained network
    outputs zero: the starting point of a correction term.
    """
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(int(a), int(b)), nn.ReLU()]
    layers.pop()
    net = nn.Sequential(*layers)
    if zero_last:
        nn.init.zeros_(net[-1].weight)
        nn.init.zeros_(net[-1].bias)
    return net


def _real_features(t):
    """Flatten a batch to real features, shape ``(batch, n)`` (complex: real, imaginary parts)."""
    if t.is_complex():
        t = torch.view_as_real(t)
    return t.reshape(t.shape[0], -1)


def _correction_target(problem, state):
    return state[0] if isinstance(state, tuple) else state


class StateMLP(nn.Module):
    """A multilayer perceptron on the flattened estimate and observation.

    ``forward(problem, state, x, side)`` returns a tensor of the shape of the
    correction target (the state, or its first element), complex when the
    target is. The last layer starts at zero, so the untrained network
    outputs zero.

    Parameters
    ----------
    n_inputs : int
        Real features of the estimate and the observation together.
    hidden_layer_sizes : tuple of int
    target_shape : tuple of int
        Shape of one sample of the output.
    complex_output : bool
    """

    def __init__(self, n_inputs, hidden_layer_sizes, target_shape, complex_output=False):
        super().__init__()
        self.target_shape = tuple(int(s) for s in target_shape)
        self.complex_output = bool(complex_output)
        n_out = math.prod(self.target_shape) * (2 if complex_output else 1)
        self.mlp = mlp([n_inputs, *hidden_layer_sizes, n_out])

    @classmethod
    def for_problem(cls, problem, sample, hidden_layer_sizes):
        """Size the network from a sample batch ``(x, side)`` of the problem."""
        x, side = sample
        initial = {name: fixed_value(v) for name, v in problem.initial_hyperparameters.items()}
        with evaluation_mode(problem):
            state = problem.initial_state(x, **initial, **side)
            estimate = problem.readout(state)
            target = _correction_target(problem, state)
        n_in = _real_features(estimate).shape[1] + _real_features(x).shape[1]
        return cls(n_in, hidden_layer_sizes, target.shape[1:], target.is_complex())

    def forward(self, problem, state, x, side):
        z = torch.cat([_real_features(problem.readout(state)), _real_features(x)], dim=1)
        out = self.mlp(z.to(self.mlp[0].weight.dtype))
        if self.complex_output:
            out = torch.view_as_complex(out.reshape(out.shape[0], -1, 2).contiguous())
        return out.reshape(out.shape[0], *self.target_shape)


class CorrectionIteration(Iteration):
    r"""The classical update plus a learned correction: :math:`T(s) + \Delta(s, x)` (equation 14).

    Parameters
    ----------
    correction : torch.nn.Module
        ``forward(problem, state, x, side) -> delta`` (see :class:`StateMLP`).
    base : Iteration, optional
        The update being corrected (default: the classical iteration).
    """

    def __init__(self, correction, base=None):
        super().__init__()
        self.base = ClassicalIteration() if base is None else base
        self.correction = correction

    def forward(self, problem, k, state, x, side):
        new = self.base(problem, k, state, x, side)
        return problem.apply_correction(new, self.correction(problem, state, x, side))

    def hyperparameter_values(self, problem, k):
        return self.base.hyperparameter_values(problem, k)


class DNNIteration(Iteration):
    r"""A network in place of the update: :math:`s \leftarrow s + \Phi_k(s, x)` (a residual step).

    The generic DNN paradigm keeps the iteration's structure (a state in, a
    state out, ``K`` times) and nothing of its formula; :math:`\Phi` starts at zero, so the
    untrained model stays at the initial state. Families supply DNN layers
    initialised at their classical step instead.
    """

    def __init__(self, network):
        super().__init__()
        self.network = network

    def forward(self, problem, k, state, x, side):
        return problem.apply_correction(state, self.network(problem, state, x, side))


_DEFAULT_TIED = {"correction": True}


def _learnable(problem):
    return [n for n in problem.hyperparameters
            if problem.hyperparameter_constraints.get(n, "positive") != "fixed"]


def build_initial(problem, paradigm):
    """The learned initial hyperparameters of ``paradigm`` (``None`` when classical or none)."""
    if paradigm == "classical" or not problem.initial_hyperparameters:
        return None
    return LearnedHyperparameters(problem.initial_hyperparameters,
                                  problem.hyperparameter_constraints)


def build_layers(problem, paradigm, n_layers, *, tied=None, hidden_layer_sizes=(32,),
                 sample=None):
    """The iteration modules of ``problem`` in ``paradigm``, ``n_layers`` deep.

    The problem's own modules (:meth:`Problem.make_layers`) take precedence;
    otherwise the generic modules of this module are used.

    Parameters
    ----------
    problem : Problem
    paradigm : {"classical", "hyperparameters", "objective", "correction", "dnn"}
    n_layers : int
    tied : bool or None, default=None
        One module shared by every layer; ``None``: tied for ``"correction"``
        (a shared correction network), untied otherwise. The classical
        iteration is always a single module.
    hidden_layer_sizes : tuple of int, default=(32,)
        Hidden widths of the generic correction and DNN networks.
    sample : tuple (x, side), optional
        A few samples as tensors; needed by the generic networks.

    Returns
    -------
    Iteration or list of Iteration
        A single module (tied) or one per layer.
    """
    check_problem(problem)
    custom = problem.make_layers(paradigm, n_layers, tied=tied,
                                 hidden_layer_sizes=tuple(hidden_layer_sizes), sample=sample)
    if custom is not None:
        return custom
    if paradigm == "classical":
        return ClassicalIteration()
    is_tied = _DEFAULT_TIED.get(paradigm, False) if tied is None else bool(tied)
    count = 1 if is_tied else n_layers
    name = type(problem).__name__
    if paradigm == "hyperparameters":
        if not _learnable(problem):
            raise ValueError(
                f"paradigm='hyperparameters' learns the solver's hyperparameters, but {name} "
                "declares none that can be learned (its `hyperparameters` dict is empty or all "
                "'fixed'); declare them, e.g. self.hyperparameters = {'step': 0.1}")
        layers = [HyperparameterIteration(problem, k) for k in range(count)]
    elif paradigm == "objective":
        if not problem.objective_parameters:
            raise ValueError(
                f"paradigm='objective' learns the objective's parameters, but {name} declares "
                "none; declare the tensors step() should learn per layer, e.g. "
                "self.objective_parameters = {'A': A}, and have step() take them by name")
        layers = [ObjectiveIteration(problem, k) for k in range(count)]
    elif paradigm in ("correction", "dnn"):
        if sample is None:
            raise ValueError(f"paradigm={paradigm!r} needs a sample batch to size its networks")
        nets = [StateMLP.for_problem(problem, sample, hidden_layer_sizes) for _ in range(count)]
        wrap = CorrectionIteration if paradigm == "correction" else DNNIteration
        layers = [wrap(net) for net in nets]
    else:
        raise ValueError(f"unknown paradigm {paradigm!r}")
    return layers[0] if is_tied else layers
