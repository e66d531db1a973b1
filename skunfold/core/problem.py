"""The problem contract: what an iterative solver is, for the core to unfold it.

A :class:`Problem` says how the classical solver starts (:meth:`~Problem.initial_state`),
what one iteration does (:meth:`~Problem.step`), what it minimises
(:meth:`~Problem.objective`) and what an iterate exposes as the estimate
(:meth:`~Problem.readout`). It names its solver hyperparameters
(``hyperparameters``) and its objective parameters (``objective_parameters``);
:meth:`~Problem.step` receives both by keyword. The core turns this
description into the five paradigms of the survey (see
:mod:`skunfold.core.paradigms`), trains it and wraps it as an estimator.
"""

import contextlib
import copy
import math

import numpy as np
import torch

__all__ = ["Problem", "CONSTRAINTS", "check_problem", "check_problem_outputs"]

#: How a hyperparameter is kept valid while it is learned (see :class:`Problem`).
CONSTRAINTS = ("positive", "real", "unit_interval", "fixed")


class Problem:
    """An iterative solver described for unfolding.

    Subclass it and implement :meth:`initial_state`, :meth:`step` and (for
    unsupervised training, ``score`` without targets and the divergence check
    of unsupervised fits) :meth:`objective`; override the other methods when
    the defaults do not fit. Attributes that are tensors (or numpy float
    arrays, converted on first use) follow the estimator's device and dtype:
    the core moves them, a problem never calls ``.to(device)``.

    Attributes
    ----------
    hyperparameters : dict of str to float or tensor
        The solver's hyperparameters (step sizes, thresholds, ...) and their
        classical values; :meth:`step` receives them by name. The paradigm
        ``"hyperparameters"`` learns one copy per layer, initialised at these
        values (or at :meth:`layer_hyperparameters` when they change with
        the iteration).
    hyperparameter_constraints : dict of str to str
        How each hyperparameter stays valid while it is learned:
        ``"positive"`` (the default: learned through its logarithm, as step
        sizes and thresholds), ``"real"`` (unconstrained), ``"unit_interval"``
        (through a logistic function), ``("interval", low, high)`` (the same,
        scaled to ``(low, high)``: e.g. a step size kept below :math:`2 / L`, where
        a gradient step stays convergent) or ``"fixed"`` (never learned, e.g. a
        schedule set by hand).
    initial_hyperparameters : dict of str to float or tensor
        Hyperparameters of the initialisation (e.g. the threshold of an
        initial thresholding), passed to :meth:`initial_state` by name, with
        the constraints of ``hyperparameter_constraints``. Every paradigm but
        ``"classical"`` learns them (one copy, shared by the layers).
    objective_parameters : dict of str to tensor
        The objective's parameters (an operator, a regularisation weight);
        :meth:`step` receives them by name. The paradigm ``"objective"``
        learns a copy per layer (and the hyperparameters too). Empty by
        default: that paradigm then raises a clear error.
    maximize : bool
        Whether :meth:`objective` is to be maximised (a rate, a likelihood).
        Unsupervised training then minimises its negative, and ``score``
        without targets returns the objective itself.
    side_information : tuple of str
        Names of per-sample arrays the problem accepts besides ``x`` (e.g. user
        weights, power budgets): passed to ``fit``/``predict`` as keyword
        arrays of length ``n_samples``, batched with ``X``, and handed to
        :meth:`initial_state`, :meth:`step` and :meth:`objective` by name.
    dtype : torch.dtype or None
        Force the computation dtype (e.g. ``torch.float64`` when tiny
        quantities need it); ``None`` lets the estimator choose (float32 for
        trained models, the input's precision for classical solvers).
    complex_input : bool
        Whether ``X`` may be complex. Complex data stay complex in torch
        (``complex64``/``complex128``); outputs come back complex when the
        readout is.
    step_uses_autograd : bool
        Whether :meth:`step` differentiates something itself (e.g. takes the
        gradient of its objective with :func:`torch.autograd.grad`). Inference
        then runs with autograd enabled (the outputs are detached) instead of
        under :func:`torch.no_grad`.

    Examples
    --------
    Non-negative least squares by projected gradient, unfolded:

    >>> import numpy as np, torch
    >>> from skunfold.core import Problem, UnfoldedRegressor
    >>> class NonNegativeLeastSquares(Problem):
    ...     def __init__(self, A):
    ...         self.A = torch.as_tensor(A, dtype=torch.float32)
    ...         self.hyperparameters = {
    ...             "step": 1.0 / float(torch.linalg.matrix_norm(self.A, ord=2) ** 2)}
    ...     def initial_state(self, x):
    ...         return x.new_zeros(x.shape[0], self.A.shape[0])
    ...     def step(self, s, x, step):
    ...         return torch.relu(s - step * (s @ self.A - x) @ self.A.T)
    ...     def objective(self, s, x):
    ...         return 0.5 * ((x - s @ self.A) ** 2).sum(dim=1)
    >>> rng = np.random.default_rng(0)
    >>> A = rng.normal(size=(5, 8))
    >>> S = np.abs(rng.normal(size=(200, 5)))
    >>> X = S @ A
    >>> est = UnfoldedRegressor(NonNegativeLeastSquares(A), n_layers=5, max_epochs=5,
    ...                         random_state=0).fit(X, S)
    >>> est.predict(X).shape
    (200, 5)
    """

    hyperparameters = {}
    hyperparameter_constraints = {}
    initial_hyperparameters = {}
    objective_parameters = {}
    maximize = False
    side_information = ()
    dtype = None
    complex_input = False
    step_uses_autograd = False

    # -- the solver -------------------------------------------------------------------
    def prepare(self, X, y=None):
        """Adapt the problem to the training data before the model is built.

        Called by ``fit`` on a copy of the problem with the validated arrays
        (numpy): estimate an operator that was not given, check that ``X`` has
        the sizes the problem needs (raise ``ValueError`` with a clear message
        otherwise), compute derived quantities. The default does nothing.

        Parameters
        ----------
        X : ndarray of shape (n_samples, ...)
        y : ndarray of shape (n_samples, ...) or None

        Returns
        -------
        self : Problem
        """
        return self

    def initial_state(self, x, **side):
        """The state before the first iteration for a batch of observations ``x``.

        Any tensor, or a tuple of tensors (estimate, momentum, duals, ...),
        with the batch along the first axis. Receives the
        ``initial_hyperparameters`` (learned values in the unfolded
        paradigms) and the side information by name.
        """
        raise TypeError(f"{type(self).__name__} must define initial_state(x)")

    def step(self, state, x, **params):
        """One classical iteration: the next state.

        ``params`` holds the hyperparameters and the objective parameters by
        name (and the side information, if any); in the unfolded paradigms they
        are the learned values of the layer.
        """
        raise TypeError(f"{type(self).__name__} must define step(state, x, **params)")

    def objective(self, estimate, x, **side):
        """The objective of each sample at ``estimate``, a tensor of shape ``(batch,)``.

        Minimised, unless :attr:`maximize` is set. It is the loss of
        unsupervised training (the survey's eq. 16).
        """
        raise TypeError(
            f"{type(self).__name__} defines no objective(estimate, x): it can only be trained "
            "supervised (pass y to fit)")

    def readout(self, state):
        """The estimate an iterate exposes (the identity when the state is a tensor).

        Override when the state is a tuple, e.g. ``return state[0]``.
        """
        if isinstance(state, (tuple, list)):
            return state[0]
        return state

    def loss(self, estimate, target):
        """Per-sample supervised loss: the mean squared error over each sample's entries.

        Its mean over a batch is :class:`torch.nn.MSELoss`. Override for other
        losses (a relative error, a cross-entropy on class indices).
        """
        diff = estimate - target
        sq = diff.real * diff.real + diff.imag * diff.imag if diff.is_complex() else diff * diff
        return sq.reshape(sq.shape[0], -1).mean(dim=1)

    def layer_hyperparameters(self, k):
        """The hyperparameters of iteration ``k`` (0-based): :attr:`hyperparameters` by default.

        Override when the classical solver changes them with the iteration
        (a decaying threshold, FISTA's momentum); a classical run calls this
        at every iteration, so any depth works.
        """
        return self.hyperparameters

    def apply_correction(self, state, delta):
        """Add the output of a correction network to a state (the survey's eq. 14).

        The default adds ``delta`` to the state, or to its first element when
        the state is a tuple.
        """
        if isinstance(state, tuple):
            return (state[0] + delta, *state[1:])
        return state + delta

    def safeguard_problem(self):
        """The problem whose classical step guards a safeguarded model (default: this one).

        Override when the problem's own iteration is not a classical,
        convergent map (e.g. HyperLISTA's instance-adaptive thresholds) or its
        state carries more than the classical iteration's: return a
        :class:`Problem` whose ``step`` (with its ``layer_hyperparameters(k)``
        and ``objective_parameters``) is the classical iteration, taking and
        returning this problem's states (passing on what it does not use),
        with this problem's ``readout`` and ``objective``. It is called on the
        module's (moved and cast) problem for every safeguarded batch, so it
        should be cheap (share this problem's tensors) and hold no learned
        parameter. See :class:`~skunfold.core.Safeguard`.
        """
        return self

    def make_layers(self, paradigm, n_layers, *, tied, hidden_layer_sizes, sample):
        """Iteration modules of a paradigm, when the problem has its own.

        Return ``None`` (the default) to use the core's generic modules (see
        :func:`skunfold.core.build_layers`); otherwise a list of ``n_layers``
        :class:`~skunfold.core.Iteration` modules, or a single module shared
        by every layer (tied). Families override this to supply LISTA's
        matrices, convolutional corrections or per-user networks.

        Parameters
        ----------
        paradigm : str
        n_layers : int
        tied : bool or None
            The estimator's ``tied`` parameter (``None``: the paradigm's default).
        hidden_layer_sizes : tuple of int
        sample : tuple (x, side)
            A few training samples as tensors, to size the networks.
        """
        return None


def _hyperparameter_names(problem):
    names = set(problem.hyperparameters) | set(problem.initial_hyperparameters)
    for name, constraint in problem.hyperparameter_constraints.items():
        if _interval(constraint) is None and constraint not in CONSTRAINTS:
            raise ValueError(f"{type(problem).__name__}: the constraint of hyperparameter "
                             f"{name!r} must be one of {list(CONSTRAINTS)} or "
                             f"('interval', low, high) with low < high, got {constraint!r}")
    return names


def _interval(constraint):
    """``(low, high)`` of an ``("interval", low, high)`` constraint, else ``None``."""
    if (isinstance(constraint, tuple) and len(constraint) == 3
            and constraint[0] == "interval"):
        low, high = float(constraint[1]), float(constraint[2])
        if low < high:
            return low, high
    return None


def check_problem(problem):
    """Raise a clear error when ``problem`` does not follow the :class:`Problem` contract.

    Returns the problem. Checks its type, that the names of its
    hyperparameters, objective parameters and side information do not
    collide, and that its constraints are known.
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be an instance of skunfold.core.Problem, got "
                        f"{type(problem).__name__}")
    hyper = _hyperparameter_names(problem)
    objective = set(problem.objective_parameters)
    side = set(problem.side_information)
    for a, b, what in ((hyper, objective, "hyperparameters and objective_parameters"),
                       (hyper | objective, side, "parameters and side_information")):
        both = a & b
        if both:
            raise ValueError(f"{type(problem).__name__}: the names {sorted(both)} appear in "
                             f"both its {what}; step() receives them by name")
    return problem


# -- learned hyperparameters: unconstrained raw values and back --------------------------

def to_raw(value, constraint):
    """The unconstrained value that :func:`from_raw` maps to ``value``."""
    t = torch.as_tensor(value, dtype=torch.float64)
    if constraint == "positive":
        if torch.any(t < 0):
            raise ValueError(f"a 'positive' hyperparameter must start non-negative, got {value!r}")
        return torch.log(torch.clamp(t, min=1e-30))
    bounds = _interval(constraint)
    if bounds is not None:
        low, high = bounds
        if torch.any((t <= low) | (t >= high)):
            raise ValueError(f"an ('interval', {low:g}, {high:g}) hyperparameter must start "
                             f"inside the interval, got {value!r}")
        t = (t - low) / (high - low)
        constraint = "unit_interval"
    if constraint == "unit_interval":
        t = torch.clamp(t, 1e-6, 1 - 1e-6)
        return torch.log(t) - torch.log1p(-t)
    return t.clone()


def from_raw(raw, constraint):
    """Map an unconstrained learned value to the hyperparameter's valid range."""
    if constraint == "positive":
        return torch.exp(raw)
    if constraint == "unit_interval":
        return torch.sigmoid(raw)
    bounds = _interval(constraint)
    if bounds is not None:
        return bounds[0] + (bounds[1] - bounds[0]) * torch.sigmoid(raw)
    return raw


def is_array(value):
    """Whether ``value`` is an array the core converts to a tensor (float or complex numpy)."""
    return isinstance(value, np.ndarray) and value.dtype.kind in "fc"


def problem_tensors(problem):
    """Yield ``(container, key)`` for every tensor attribute of ``problem``.

    Covers tensor attributes and tensors inside ``hyperparameters`` and
    ``objective_parameters`` dicts (and plain lists/tuples/dicts one level
    deep), so the core can move and cast them.
    """
    attrs = vars(problem)
    for key, value in list(attrs.items()):
        if torch.is_tensor(value) or is_array(value):
            yield attrs, key
        elif isinstance(value, dict):
            for k, v in value.items():
                if torch.is_tensor(v) or is_array(v):
                    yield value, k
        elif isinstance(value, list):
            for i, v in enumerate(value):
                if torch.is_tensor(v) or is_array(v):
                    yield value, i


def apply_to_problem(problem, fn):
    """Apply ``fn`` to every tensor of ``problem`` in place (numpy arrays become tensors first)."""
    for container, key in list(problem_tensors(problem)):
        value = container[key]
        if not torch.is_tensor(value):
            value = torch.from_numpy(np.array(value, copy=True))
        container[key] = fn(value)
    for value in vars(problem).values():
        if isinstance(value, tuple) and any(torch.is_tensor(v) for v in value):
            raise TypeError(f"{type(problem).__name__} holds tensors in a tuple attribute; use a "
                            "list or a dict so that the core can move them to the device")
        if isinstance(value, torch.nn.Module):
            value._apply(fn)


def converted_copy(problem, fn):
    """A copy of ``problem`` whose tensors are ``fn`` of the original's (the original is untouched).

    The copy shares everything but its tensor containers (attributes, dicts
    and lists holding tensors) and its torch modules, which are copied.
    """
    new = copy.copy(problem)
    attrs = dict(vars(problem))
    for key, value in attrs.items():
        if isinstance(value, (dict, list)):
            attrs[key] = type(value)(value)
        elif isinstance(value, torch.nn.Module):
            attrs[key] = copy.deepcopy(value)
    new.__dict__ = attrs
    apply_to_problem(new, fn)
    return new


def evaluation_mode(problem):
    """The autograd context of running ``problem`` without training it.

    :func:`torch.no_grad`, unless the problem's step uses autograd itself
    (``step_uses_autograd``): then :func:`torch.enable_grad`. Nothing where
    autograd is already off (as while a model is exported): a switch of the
    autograd state is a node of a traced graph, and ``torch.export`` cannot
    trace a loop node nested in another inside such a switch.
    """
    if problem.step_uses_autograd:
        return torch.enable_grad()
    return no_grad()


def no_grad():
    """:func:`torch.no_grad`, or nothing where autograd is already off (see
    :func:`evaluation_mode`)."""
    return torch.no_grad() if torch.is_grad_enabled() else contextlib.nullcontext()


def fixed_value(value):
    """A hyperparameter value as a step receives it: tensors as they are, numbers as floats."""
    if torch.is_tensor(value):
        return value
    if isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool):
        return float(value)
    return value


def is_finite_number(value):
    """Whether ``value`` is a finite real number or a tensor of finite values."""
    if torch.is_tensor(value):
        return bool(torch.isfinite(value).all())
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


# -- a problem's first call, checked ------------------------------------------------------

def _describe(value):
    if torch.is_tensor(value):
        return f"a tensor of shape {tuple(value.shape)}"
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)}"
    return f"a {type(value).__module__}.{type(value).__name__}"


def _call(problem, method, batch, *args, **kwargs):
    """``problem.method(*args, **kwargs)``, an error it raises annotated with the call."""
    try:
        return getattr(problem, method)(*args, **kwargs)
    except Exception as err:
        err.add_note(f"(raised by {type(problem).__name__}.{method} on a batch of {batch} "
                     "samples while fit checked the problem's first call)")
        raise


def _state_parts(state, where, batch):
    """The tensors of a state (a tensor or a tuple of tensors), checked."""
    parts = state if isinstance(state, (tuple, list)) else (state,)
    if not parts:
        raise TypeError(f"{where} returned an empty {type(state).__name__}; a state is a tensor "
                        "or a tuple of tensors with the batch along the first axis")
    for i, part in enumerate(parts):
        label = where if len(parts) == 1 and part is state else f"{where}[{i}]"
        if isinstance(part, np.ndarray):
            raise TypeError(f"{label} is a numpy array; a problem computes with torch: return "
                            "torch tensors (torch.as_tensor, torch operations) so that the "
                            "layers can be trained and run on any device")
        if torch.is_tensor(part) and (part.ndim == 0 or part.shape[0] != batch):
            raise ValueError(f"{label} is {_describe(part)} for a batch of {batch} samples; "
                             f"expected a tensor of shape ({batch}, ...), the batch first")
    return parts


def check_problem_outputs(problem, x, side, y=None, step=True):
    """Run a problem's methods once on a small batch and check what they return.

    Called by ``fit`` before the network is built, with a few training
    samples as tensors: ``initial_state`` and ``step`` must return a tensor or
    a tuple of tensors with the batch first, ``step`` the same structure and
    shapes as ``initial_state``; ``readout`` a tensor with the batch first
    (of the shape of the targets ``y`` when the default loss compares them);
    ``objective``, when the problem defines it, one value per sample. The
    messages name the method and the expected shape. With ``step=False``
    (a paradigm whose layers replace the step) the step is not called and
    the readout of the initial state is checked.
    """
    name = type(problem).__name__
    batch = x.shape[0]
    initial = {k: fixed_value(v) for k, v in problem.initial_hyperparameters.items()}
    state = _call(problem, "initial_state", batch, x, **initial, **side)
    before = _state_parts(state, f"{name}.initial_state(x)", batch)
    if not step:
        new, after = state, before
    else:
        params = {k: fixed_value(v) for k, v in problem.layer_hyperparameters(0).items()}
        params.update(problem.objective_parameters)
        new = _call(problem, "step", batch, state, x, **params, **side)
        after = _state_parts(new, f"{name}.step(state, x, ...)", batch)
    if len(after) != len(before) or isinstance(new, tuple) != isinstance(state, tuple):
        raise ValueError(f"{name}.step returned {_describe(new)} where initial_state returned "
                         f"{_describe(state)}; a step returns a state of the same structure")
    for i, (a, b) in enumerate(zip(before, after)):
        if torch.is_tensor(a) and torch.is_tensor(b) and a.shape != b.shape:
            part = "the state" if len(before) == 1 else f"state[{i}]"
            raise ValueError(f"{name}.step changed the shape of {part} from {tuple(a.shape)} to "
                             f"{tuple(b.shape)}; a step keeps the shapes of initial_state's "
                             "state")
    estimate = problem.readout(new)
    if not torch.is_tensor(estimate):
        raise TypeError(f"{name}.readout(state) returned {_describe(estimate)}; it must return "
                        f"a torch tensor of shape ({batch}, ...)")
    if estimate.ndim == 0 or estimate.shape[0] != batch:
        raise ValueError(f"{name}.readout(state) returned {_describe(estimate)} for a batch of "
                         f"{batch} samples; expected a tensor of shape ({batch}, ...)")
    if y is not None and type(problem).loss is Problem.loss and y.is_floating_point() \
            and estimate.shape != y.shape:
        raise ValueError(f"{name}.readout(state) gives estimates of shape "
                         f"{tuple(estimate.shape[1:])} per sample but the targets y have shape "
                         f"{tuple(y.shape[1:])}; the default loss compares them entry by entry "
                         "(override Problem.loss for other targets)")
    if type(problem).objective is not Problem.objective:
        value = _call(problem, "objective", batch, estimate, x, **side)
        if not torch.is_tensor(value) or tuple(value.shape) != (batch,):
            raise ValueError(f"{name}.objective(estimate, x) returned {_describe(value)}; it "
                             f"must return one value per sample, a tensor of shape ({batch},)")
