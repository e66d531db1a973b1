"""The parameters the core reads, declared once: default, check and documentation.

Every parameter that :class:`~skunfold.core.UnfoldedEstimator` reads is a row
of :data:`CORE_PARAMETERS` (a :class:`Param`: the core's default, the check
run by ``fit``, the type and the text of the docstring). A preset

* lists in its ``__init__`` the core parameters it takes, with its own
  defaults (scikit-learn needs explicit signatures), and declares the
  features it supports in ``supports`` (``"training"``, ``"fixed_point"``,
  ``"safeguard"``, ``"adversarial"``, ...); the class is checked when it is
  defined: a feature's parameters must be in the signature, and a core
  parameter of a feature the class does not declare must not;
* adds rows of its own in ``parameter_table`` (merged with its bases');
* writes ``%(parameters)s`` in the Parameters section of its docstring: the
  rows of every parameter of the signature that the docstring does not
  describe itself are rendered there, with the defaults of the signature.

The core reads a parameter through the table (:func:`resolve_parameters`):
the estimator's value when it takes the parameter, else the core's default.
"""

import dataclasses
import inspect
import re
import textwrap

import numpy as np

from .constraints import (
    boolean,
    check_int,
    check_layer_sizes,
    check_real,
    integer,
    options,
    resolve_device,
)
from .equilibrium import FixedPoint
from .options import EarlyStopping, check_optimizer, resolve_option
from .robust import Adversarial
from .safeguard import Safeguard
from .schedules import get_loss_schedule

__all__ = ["Param", "CORE_PARAMETERS", "FEATURES", "PARADIGMS", "resolve_parameters",
           "render_docstring", "check_declaration", "set_init_parameters", "validate_parameters"]

#: The five paradigms, the same word on every estimator.
PARADIGMS = ("classical", "hyperparameters", "objective", "correction", "dnn")

_NO_DEFAULT = object()


@dataclasses.dataclass(frozen=True)
class Param:
    """One parameter: its check, type, description and (for the core's rows) default.

    Parameters
    ----------
    check : callable or None
        ``None`` in a preset's row of an inherited parameter: the inherited
        check (the row then only changes the docstring). Otherwise
        ``check(value, name) -> value`` raising ``TypeError``/``ValueError`` with a
        message naming the parameter (see :mod:`skunfold.core.constraints`); the
        returned value is what the core uses (e.g. a schedule object for a name).
    type : str, optional
        The type line of the docstring.
    doc : str, optional
        The description rendered into ``%(parameters)s``; ``None`` when the
        class's docstring describes the parameter itself.
    default : object, optional
        The core's value for estimators that do not take the parameter.
    """

    check: object
    type: str = ""
    doc: str = None
    default: object = _NO_DEFAULT


def _check_paradigm(value, name):
    return options(*PARADIGMS)(value, name)


def _check_tied(value, name):
    if value is not None and not isinstance(value, bool):
        raise TypeError(f"{name} must be None, True or False, got {value!r}")
    return value


def _check_batch_size(value, name):
    bs = check_int(value, name)
    if bs < 1 and bs != -1:
        raise ValueError(f"{name} must be a positive integer or -1 (full batch), got {bs}")
    return bs


def _check_random_state(value, name):
    if value is None or isinstance(value, np.random.RandomState):
        return value
    return check_int(value, name, min_value=0)


def _check_layer_sizes(value, name):
    return check_layer_sizes(value, name)


def _real_or_none(value, name):
    return check_real(value, name, min_value=0, strict_min=True, allow_none=True)


def _option(cls):
    return lambda value, name: resolve_option(value, cls, name)


CORE_PARAMETERS = {
    "n_layers": Param(integer(1), "int", default=10),
    "paradigm": Param(_check_paradigm, "str", default="classical"),
    "tied": Param(_check_tied, "bool or None", """
        Share one layer's parameters by all layers (the network then runs at
        any depth); ``None``: the paradigm's default (tied for
        ``"correction"``, untied otherwise).""", default=None),
    "hidden_layer_sizes": Param(_check_layer_sizes, "tuple of int", """
        Hidden widths of the learned networks of the ``"correction"`` and
        ``"dnn"`` paradigms.""", default=(32,)),
    "loss_schedule": Param(lambda v, name: get_loss_schedule(v, name), "str or LossSchedule", """
        How the losses of the iterates are combined (see
        :class:`~skunfold.core.LossSchedule`): ``"end_to_end"`` (L1, last
        layer only), ``"multi_iteration"`` (L2, log(1+k) weights),
        ``"sequential"`` (L3, layer by layer with earlier layers frozen),
        ``"sequential+end_to_end"``, or a schedule object (e.g.
        ``Sequential(epochs_per_stage=4, fine_tune=(0.2, 0.02))``, or
        ``EndToEnd(unsupervised_weight=0.5)`` for the weight of the objective
        on unlabeled samples).""", default="end_to_end"),
    "max_epochs": Param(integer(0), "int", """
        Passes over the training data in the whole schedule: a schedule of
        several stages shares them among its stages, and a schedule that sets
        its own epochs per stage stops when they are spent. ``0`` builds the
        network without training it: initialised from the classical solver,
        it computes the classical iteration (a baseline at equal depth).""", default=0),
    "lr": Param(lambda v, name: _real_or_none(v, name), "float or None", """
        Learning rate; ``None`` picks the estimator's default for its
        paradigm.""", default=None),
    "batch_size": Param(_check_batch_size, "int", """
        Mini-batch size (``-1``: full batch).""", default=64),
    "optimizer": Param(check_optimizer, 'str, torch.optim.Optimizer class, Optimizer or None', """
        ``"adam"``, ``"adamw"``, ``"sgd"``, ``"rmsprop"``, a
        :class:`torch.optim.Optimizer` class, or an
        :class:`~skunfold.core.Optimizer` that also sets the learning-rate
        decay within a stage and gradient clipping; ``None``: the
        estimator's default (``Optimizer()``, Adam, unless the estimator says
        otherwise). ``fit`` re-creates the optimizer at the start of every
        stage; ``partial_fit`` carries its state (e.g. Adam's moments) over
        from the previous call.""", default=None),
    "early_stopping": Param(_option(EarlyStopping), "bool or EarlyStopping", """
        Hold out a validation set, stop a stage when its loss stops improving
        and restore the stage's best epoch (``keep_best`` then compares the
        result with the classical solver on that set). ``True``: ``EarlyStopping()`` (10% held out,
        patience 10).""", default=False),
    "keep_best": Param(boolean(), "bool", """
        After training, compare the trained model's full-depth loss with the
        untrained model's (the classical solver at the same depth, which every
        paradigm starts from) on the validation set when ``early_stopping``
        holds one out, else on the training data. If training made it worse,
        a :class:`~skunfold.core.WorseThanClassicalWarning` gives both
        figures and, with ``True``, the untrained model is kept; ``False``
        keeps the trained one. The figures are in ``comparison_``. This
        applies to ``fit``; ``partial_fit`` keeps its steps (a diverged step
        is still undone).""", default=True),
    "max_time": Param(lambda v, name: _real_or_none(v, name), "float or None", """
        Training time budget in seconds: training stops at the end of the
        epoch after which one more epoch of the same length would overrun it
        (so it stays within the budget when epochs take the same time), the
        stages of the schedule left are skipped, and ``keep_best`` then
        compares the result with the untrained model as usual (these
        comparisons come after the budget). ``None``: no budget
        (``max_epochs`` alone).""", default=None),
    "fixed_point": Param(_option(FixedPoint), "bool or FixedPoint", """
        Deep equilibrium mode: run the tied learned iteration to its fixed
        point instead of ``n_layers`` times, in ``predict`` and in training,
        where the gradient comes from the implicit function theorem (memory
        of one layer). Needs tied weights (``tied=None`` then means tied)
        and the ``"end_to_end"`` schedule. ``True``: ``FixedPoint()``; see
        :class:`~skunfold.core.FixedPoint` for the tolerance, the solver and
        the backward pass.""", default=False),
    "safeguard": Param(_option(Safeguard), "bool or Safeguard", """
        At inference, keep a learned update only where it lowers the residual
        of the classical iteration enough, else take the classical update for
        that sample (Heaton et al., AAAI 2023): the model then runs at any
        depth and converges to the classical solution. ``True``:
        ``Safeguard()``; see :class:`~skunfold.core.Safeguard` and
        :meth:`safeguard_report`.""", default=False),
    "adversarial": Param(_option(Adversarial), "bool or Adversarial", """
        Robust training on adversarially perturbed inputs (projected gradient
        ascent within a relative l2 ball, per batch). ``True``:
        ``Adversarial()``; see :class:`~skunfold.core.Adversarial`.""",
        default=False),
    "warm_start": Param(boolean(), "bool", """
        Continue from the previous fit's learned parameters when the new
        network has the same architecture; otherwise start afresh.""", default=False),
    "random_state": Param(_check_random_state, "int, RandomState instance or None", """
        The single source of randomness (initialisation, shuffling, the
        validation split).""", default=None),
    "device": Param(lambda v, name: resolve_device(v), "str", """
        ``"auto"`` computes on CUDA when PyTorch sees a GPU, else on the CPU;
        also ``"cpu"``, ``"cuda"``, ``"cuda:N"``. A device this machine cannot
        use is a ``ValueError`` in ``fit``.""", default="auto"),
    "n_threads": Param(integer(1, allow_none=True), "int or None", """
        Torch CPU threads used by ``fit`` and ``predict``; ``None`` chooses
        for the work at hand (one thread for small layers, else the cores
        that no other process is using, at most torch's setting). The global
        setting is restored afterwards.""", default=None),
    "verbose": Param(integer(0), "int", """
        ``1`` reports progress: the training stages and a line per epoch with
        the elapsed time, or, for a solver that learns nothing, the solver
        built; ``0`` is silent.""", default=0),
}


#: The features an estimator may declare in ``supports``, and the core parameters each needs.
FEATURES = {
    "training": ("paradigm", "loss_schedule", "max_epochs", "lr", "batch_size", "optimizer",
                 "early_stopping", "warm_start", "random_state"),
    "fixed_point": ("fixed_point",),
    "safeguard": ("safeguard",),
    "adversarial": ("adversarial",),
    "unsupervised": (),
    "semi_supervised": (),
    "complex_input": (),
    "variable_input_shape": (),
    "input_precision": (),
}

#: Core parameters any estimator may take without a feature (they are read with their defaults).
_FREE = {"n_layers", "paradigm", "tied", "hidden_layer_sizes", "device", "n_threads", "verbose",
         "random_state", "keep_best", "max_time"}


def _signature_names(cls):
    return [p.name for p in inspect.signature(cls.__init__).parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def parameter_table(cls):
    """The merged table of a class: the core's rows, then its bases' and its own."""
    table = dict(CORE_PARAMETERS)
    for klass in reversed(cls.__mro__):
        for name, row in vars(klass).get("parameter_table", {}).items():
            if row.check is None:  # a new text (or type) for an inherited row: its check
                row = dataclasses.replace(row, check=table[name].check,
                                          type=row.type or table[name].type)
            table[name] = row
    return table


def check_declaration(cls):
    """Raise ``TypeError`` when a class's ``supports`` and ``__init__`` disagree."""
    if cls.__init__ is object.__init__:
        return
    names = set(_signature_names(cls))
    unknown = set(cls.supports) - set(FEATURES)
    if unknown:
        raise TypeError(f"{cls.__name__}.supports names unknown features {sorted(unknown)}; "
                        f"known: {sorted(FEATURES)}")
    required = {p for f in cls.supports for p in FEATURES[f]}
    missing = required - names
    if missing:
        raise TypeError(f"{cls.__name__} declares supports={sorted(cls.supports)} but its "
                        f"__init__ lacks the parameters {sorted(missing)}")
    stray = (names & set(CORE_PARAMETERS)) - required - _FREE
    if stray:
        raise TypeError(f"{cls.__name__} takes the core parameters {sorted(stray)} of features it "
                        f"does not declare in supports={sorted(cls.supports)}")


def validate_parameters(estimator):
    """Check every parameter of ``estimator`` that has a row; return the checked values.

    Returns a dict holding, for every core parameter, the checked value of
    the estimator (or the core's default when the estimator does not take
    it), and the checked values of the estimator's own rows.
    """
    table = parameter_table(type(estimator))
    params = estimator.get_params(deep=False)
    out = {}
    for name, row in table.items():
        if name in params:
            out[name] = row.check(params[name], name)
        elif name in CORE_PARAMETERS:
            out[name] = row.check(row.default, name)
    return out


class _Settings(dict):
    """A dict with attribute access (the checked parameters of one call)."""

    __getattr__ = dict.__getitem__


def resolve_parameters(estimator):
    """The checked parameters of ``estimator``, by attribute (:func:`validate_parameters`)."""
    return _Settings(validate_parameters(estimator))


# -- the docstring ---------------------------------------------------------------------

def _format_default(value):
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)


def _described(doc):
    return set(re.findall(r"^    (\w+) : ", doc, flags=re.M))


def render_docstring(cls):
    """Replace ``%(parameters)s`` in a class docstring by the rows of its undescribed parameters."""
    doc = cls.__dict__.get("__doc__") or ""
    marker = "    %(parameters)s\n"
    if marker not in doc:
        return
    signature = inspect.signature(cls.__init__)
    table = parameter_table(cls)
    described = _described(doc)
    lines = []
    for name in _signature_names(cls):
        row = table.get(name)
        if name in described or row is None or row.doc is None:
            continue
        default = signature.parameters[name].default
        body = textwrap.indent(textwrap.dedent(row.doc).strip(), " " * 8)
        lines.append(f"    {name} : {row.type}, default={_format_default(default)}\n{body}")
    rendered = "\n".join(lines) + "\n" if lines else ""
    after = doc[doc.index(marker) + len(marker):]
    if rendered and after.strip() and not after.startswith("\n"):
        rendered += "\n"  # numpydoc needs a blank line before the next section
    cls.__doc__ = doc.replace(marker, rendered)


def set_init_parameters(estimator, values):
    """Store ``__init__`` arguments as attributes, unchanged (scikit-learn's convention).

    Call as ``set_init_parameters(self, locals())`` at the end of a preset's
    ``__init__``: every argument except ``self`` becomes an attribute of the
    same name, with no validation (that happens in ``fit``).
    """
    for name, value in values.items():
        if name not in ("self", "__class__"):
            setattr(estimator, name, value)
