"""Option objects: a group of related settings passed as one estimator parameter.

As a kernel is one parameter of :class:`~sklearn.gaussian_process.GaussianProcessRegressor`,
a group of settings that belong together is one parameter of an unfolded
estimator: ``fixed_point=FixedPoint(tol=1e-5)``, ``safeguard=Safeguard(delta=0.1)``,
``early_stopping=EarlyStopping(n_iter_no_change=5)``. Each object has
``get_params``/``set_params`` and is cloned with the estimator, so
:class:`~sklearn.model_selection.GridSearchCV` reaches ``safeguard__delta``.
For the on/off groups, ``True`` means "the defaults" and ``False`` "off".

An option object is never changed by ``fit``: the estimator validates a copy
(:meth:`OptionGroup.validated`), and that copy is what the fitted model holds
(with its diagnostics, e.g. the fixed-point iterations of the last call).
"""

import inspect

import numpy as np
import torch

from .constraints import integer, open_unit, options, real

__all__ = ["OptionGroup", "EarlyStopping", "Optimizer", "resolve_option", "OPTIMIZERS"]


class OptionGroup:
    """Base class of option objects: ``get_params``, ``set_params``, a short repr, validation.

    A subclass lists its settings as keyword arguments of ``__init__`` (stored
    unchanged, as scikit-learn's estimators do) and declares their checks in
    ``_constraints`` (name -> ``check(value, name)``, see
    :mod:`skunfold.core.constraints`).
    """

    _constraints = {}

    @classmethod
    def _param_names(cls):
        signature = inspect.signature(cls.__init__)
        return [p.name for p in signature.parameters.values()
                if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]

    def get_params(self, deep=True):
        """The settings, by name (``deep`` is accepted for scikit-learn's ``clone``)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params):
        """Change settings by name; returns the object."""
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"Invalid parameter {name!r} for {type(self).__name__}; valid "
                                 f"parameters are {valid}")
            setattr(self, name, value)
        return self

    def validated(self, name):
        """A checked copy (the settings converted by their checks); ``name`` prefixes messages."""
        new = type(self)(**self.get_params())
        for key, check in self._constraints.items():
            setattr(new, key, check(getattr(new, key), f"{name}__{key}"))
        return new

    def __repr__(self):
        defaults = {p.name: p.default for p in inspect.signature(type(self).__init__)
                    .parameters.values()}
        changed = []
        for name, value in self.get_params().items():
            default = defaults.get(name, inspect.Parameter.empty)
            try:
                same = value is default or bool(value == default)
            except (TypeError, ValueError):
                same = False
            if not same:
                changed.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(changed)})"

    def __eq__(self, other):
        return type(self) is type(other) and repr(self) == repr(other)

    def __hash__(self):
        return hash(repr(self))


def resolve_option(value, cls, name, allow_off=True):
    """An estimator's option parameter as a validated ``cls`` object, or ``None`` when off.

    ``True`` is ``cls()`` (the defaults), ``False`` and ``None`` are off (when
    ``allow_off``), an instance of ``cls`` is validated (a copy: the
    estimator's parameter is never changed).
    """
    if isinstance(value, (bool, np.bool_)):
        if value:
            return cls().validated(name)
        if allow_off:
            return None
    elif value is None and allow_off:
        return None
    elif isinstance(value, cls):
        return value.validated(name)
    accepted = f"True, False or a {cls.__name__}" if allow_off else f"a {cls.__name__}"
    raise TypeError(f"{name} must be {accepted}, got {value!r}")


class EarlyStopping(OptionGroup):
    """Early stopping on a held-out validation set (``early_stopping=True`` or an instance).

    A stage of the loss schedule stops when the validation loss has not
    improved for ``n_iter_no_change`` epochs, and its best epoch is restored;
    if the trained model ends worse on the validation set than the untrained
    one (the classical solver), the untrained one is kept, with a
    :class:`~sklearn.exceptions.ConvergenceWarning`.

    Parameters
    ----------
    validation_fraction : float, default=0.1
        Fraction of the training data held out, in ``(0, 1)`` (a fit from a
        :class:`~skunfold.core.SampleSource` draws its own validation set).
    n_iter_no_change : int, default=10
        Patience, in epochs.

    Examples
    --------
    >>> from skunfold.core import EarlyStopping
    >>> EarlyStopping(n_iter_no_change=3)
    EarlyStopping(n_iter_no_change=3)
    >>> EarlyStopping().get_params()
    {'validation_fraction': 0.1, 'n_iter_no_change': 10}
    """

    def __init__(self, validation_fraction=0.1, n_iter_no_change=10):
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change

    _constraints = {
        "validation_fraction": open_unit(),
        "n_iter_no_change": integer(1),
    }


#: The optimizers named by string.
OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
}


def _check_algorithm(value, name):
    if isinstance(value, str):
        if value in OPTIMIZERS:
            return OPTIMIZERS[value]
    elif isinstance(value, type) and issubclass(value, torch.optim.Optimizer):
        return value
    raise ValueError(f"{name} must be one of {list(OPTIMIZERS)} or a torch.optim.Optimizer "
                     f"subclass, got {value!r}")


class Optimizer(OptionGroup):
    """How training steps: the optimizer, the learning-rate decay within a stage, clipping.

    The estimator's ``optimizer`` parameter takes a name (``"adam"``), a
    :class:`torch.optim.Optimizer` class, or an instance of this class. The
    optimizer is re-created at the start of every stage of the loss schedule;
    the learning rate itself is the estimator's ``lr``.

    Parameters
    ----------
    algorithm : {"adam", "adamw", "sgd", "rmsprop"} or torch.optim.Optimizer class, \
            default="adam"
    lr_schedule : {"constant", "cosine"}, default="constant"
        ``"cosine"`` decays the learning rate along a half cosine within every
        stage (never below 2% of ``lr``), so each stage ends with small,
        precise steps. With a time budget (``max_time``) the decay follows
        the time spent when that runs out before the epochs do.
    max_grad_norm : float or None, default=None
        Clip the global norm of the gradient to this value before every step
        (``None``: no clipping).

    Examples
    --------
    >>> from skunfold.core import Optimizer
    >>> Optimizer(lr_schedule="cosine", max_grad_norm=5.0)
    Optimizer(lr_schedule='cosine', max_grad_norm=5.0)
    """

    def __init__(self, algorithm="adam", lr_schedule="constant", max_grad_norm=None):
        self.algorithm = algorithm
        self.lr_schedule = lr_schedule
        self.max_grad_norm = max_grad_norm

    _constraints = {
        "algorithm": _check_algorithm,
        "lr_schedule": options("constant", "cosine"),
        "max_grad_norm": real(0, strict_min=True, allow_none=True),
    }


def check_optimizer(value, name):
    """The ``optimizer`` parameter as a validated :class:`Optimizer` (``None`` stays ``None``)."""
    if value is None:
        return None
    if isinstance(value, Optimizer):
        return value.validated(name)
    if isinstance(value, str) or isinstance(value, type):
        return Optimizer(value).validated(name)
    raise ValueError(f"{name} must be one of {list(OPTIMIZERS)}, a torch.optim.Optimizer "
                     f"subclass, an Optimizer or None, got {value!r}")
