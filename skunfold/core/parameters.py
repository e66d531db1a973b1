"""The parameters every unfolded estimator shares, declared once: checks and documentation.

A preset lists these parameters in its ``__init__`` signature (scikit-learn
requires explicit parameters) with its own defaults, and writes
``%(training_parameters)s`` where they belong in its docstring; the
:func:`document_parameters` decorator renders their descriptions there, with
the defaults read from the signature.
"""

import inspect
import textwrap

import numpy as np
import torch

from .schedules import get_loss_schedule
from .validation import boolean, check_int, check_real, integer, options, real, resolve_device

__all__ = ["OPTIMIZERS", "PARADIGMS", "SHARED_PARAMETERS", "document_parameters",
           "set_init_parameters"]

#: The five paradigms, the same word on every estimator.
PARADIGMS = ("classical", "hyperparameters", "objective", "correction", "dnn")

OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
}


def _check_schedule(value, name):
    return get_loss_schedule(value)


def _check_batch_size(value, name):
    bs = check_int(value, name)
    if bs < 1 and bs != -1:
        raise ValueError(f"{name} must be a positive integer or -1 (full batch), got {bs}")
    return bs


def _check_optimizer(value, name):
    if isinstance(value, str):
        if value in OPTIMIZERS:
            return OPTIMIZERS[value]
    elif isinstance(value, type) and issubclass(value, torch.optim.Optimizer):
        return value
    raise ValueError(f"{name} must be one of {list(OPTIMIZERS)} or a torch.optim.Optimizer "
                     f"subclass, got {value!r}")


def _check_fraction(value, name):
    value = check_real(value, name, min_value=0, max_value=1, strict_min=True)
    if value >= 1:
        raise ValueError(f"{name} must be < 1, got {value}")
    return value


def _check_open_unit(value, name):
    value = check_real(value, name, min_value=0, max_value=1, strict_min=True)
    if value >= 1:
        raise ValueError(f"{name} must be in the open interval (0, 1), got {value}")
    return value


def _check_device(value, name):
    return resolve_device(value)


def _check_threads(value, name):
    return check_int(value, name, min_value=1, allow_none=True)


def _check_random_state(value, name):
    if value is None or isinstance(value, np.random.RandomState):
        return value
    return check_int(value, name, min_value=0)


# name -> (check, type description, description); "{default}" is not needed: the default is
# written on the first line from the signature
SHARED_PARAMETERS = {
    "loss_schedule": (_check_schedule, "str or LossSchedule", """
        How the losses of the iterates are combined (see
        :mod:`skunfold.core.schedules`): ``"end_to_end"`` (L1, last layer
        only), ``"multi_iteration"`` (L2, log(1+k) weights), ``"sequential"``
        (L3, layer by layer with earlier layers frozen),
        ``"sequential+end_to_end"``, or a
        :class:`~skunfold.core.LossSchedule` object."""),
    "max_epochs": (integer(0), "int", """
        Passes over the training data, shared among the stages of the loss
        schedule. ``0`` builds the network without training it: initialised
        from the classical solver, it computes the classical iteration (a
        baseline at equal depth)."""),
    "lr": (real(0, strict_min=True, allow_none=True), "float or None", """
        Learning rate; ``None`` picks the estimator's default for its
        paradigm."""),
    "lr_schedule": (options("constant", "cosine"), '{"constant", "cosine"}', """
        ``"cosine"`` decays the learning rate along a half cosine within every
        stage of the loss schedule (see :class:`~skunfold.core.StageCosineLR`),
        so each stage ends with small, precise steps."""),
    "max_grad_norm": (real(0, strict_min=True, allow_none=True), "float or None", """
        Clip the global norm of the gradient to this value before every
        optimizer step (``None``: no clipping)."""),
    "batch_size": (_check_batch_size, "int", """
        Mini-batch size (``-1``: full batch)."""),
    "optimizer": (_check_optimizer, '{"adam", "adamw", "sgd", "rmsprop"} or '
                  'torch.optim.Optimizer class', """
        The optimizer, re-created at the start of every stage."""),
    "unsupervised_weight": (real(0), "float", """
        Weight of the objective on the unlabeled samples (targets that are
        entirely NaN) in semi-supervised training."""),
    "early_stopping": (boolean(), "bool", """
        Hold out ``validation_fraction`` of the training data, stop a stage
        when the validation loss has not improved for ``n_iter_no_change``
        epochs, and restore the stage's best epoch; if the trained model ends
        worse on the validation set than the untrained one (the classical
        solver), the untrained one is kept, with a ``ConvergenceWarning``."""),
    "validation_fraction": (_check_fraction, "float", """
        Fraction of the training data held out by ``early_stopping``."""),
    "n_iter_no_change": (integer(1), "int", """
        Patience of ``early_stopping``, in epochs."""),
    "device": (_check_device, "str", """
        ``"auto"`` computes on CUDA when PyTorch sees a GPU, else on the CPU;
        also ``"cpu"``, ``"cuda"``, ``"cuda:N"``. A device this machine cannot
        use is a ``ValueError`` in ``fit``."""),
    "n_threads": (_check_threads, "int or None", """
        Torch CPU threads used by ``fit`` and ``predict``; ``None`` chooses
        for the work at hand: one thread for small layers (more threads only
        add synchronisation), otherwise the cores that no other process is
        using at the time of the call, at most torch's setting. The global
        setting is restored afterwards."""),
    "fixed_point": (boolean(), "bool", """
        Deep equilibrium mode: run the (tied) learned iteration to its fixed
        point instead of ``n_layers`` times, in ``predict`` and in training,
        where the gradient comes from the implicit function theorem (memory of
        one layer, whatever the number of iterations). Needs tied weights
        (``tied=None`` then means tied) and the ``"end_to_end"`` loss
        schedule; ``staged_predict`` still yields plain iterations. The
        learned map must keep a fixed point: bound its step sizes (e.g. the
        ``("interval", 0, 2 / L)`` constraint of a problem's hyperparameter,
        which :class:`~skunfold.sparse.UnfoldedISTA` uses in this mode). See
        :mod:`skunfold.core.equilibrium`."""),
    "fixed_point_tol": (real(0, strict_min=True), "float", """
        With ``fixed_point=True``: relative residual
        ``||f(z) - z|| / ||f(z)||`` at which a sample's forward (and backward)
        solve stops."""),
    "fixed_point_max_iter": (integer(1), "int", """
        With ``fixed_point=True``: most iterations of each fixed-point solve;
        samples that do not reach ``fixed_point_tol`` are named in a
        ``ConvergenceWarning``."""),
    "fixed_point_solver": (options("anderson", "picard"), '{"anderson", "picard"}', """
        With ``fixed_point=True``: Anderson acceleration (memory 5) or plain
        iteration."""),
    "fixed_point_backward": (options("implicit", "jacobian_free"),
                             '{"implicit", "jacobian_free"}', """
        With ``fixed_point=True``: the exact implicit gradient (a second
        fixed-point solve of vector-Jacobian products) or the Jacobian-free
        approximation (the gradient of the last iteration only)."""),
    "safeguard": (boolean(), "bool", """
        At inference, keep a learned update only where it lowers the residual
        of the classical iteration below ``(1 - safeguard_delta)`` times a
        running reference, else take the classical update for that sample
        (Heaton et al., AAAI 2023). The model then runs at any depth and, past
        its learned layers, converges to the classical solution. ``fit``
        trains without it; :meth:`safeguard_report` gives the fallback rate
        per layer. See :mod:`skunfold.core.safeguard`."""),
    "safeguard_delta": (_check_open_unit, "float", """
        With ``safeguard=True``: required relative decrease ``delta``, in
        ``(0, 1)``."""),
    "safeguard_rule": (options("ema", "recent", "geometric"), '{"ema", "recent", "geometric"}',
                       """
        With ``safeguard=True``: update of the reference ``mu`` after an
        accepted learned step: ``theta r + (1 - theta) mu`` (``"ema"``), the
        new residual ``r`` (``"recent"``) or ``(1 - delta) mu``
        (``"geometric"``); ``mu`` starts at the initial state's residual."""),
    "safeguard_theta": (real(0, 1, strict_min=True), "float", """
        With ``safeguard=True`` and ``safeguard_rule="ema"``: weight of the
        new residual, in ``(0, 1]``."""),
    "safeguard_residual": (options("fixed_point", "objective"), '{"fixed_point", "objective"}',
                           """
        With ``safeguard=True``: the progress measure, the fixed-point residual
        ``||s - T(s)||`` of the classical step ``T`` or the problem's
        (minimised, non-negative) objective."""),
    "adversarial_radius": (real(0), "float", """
        Robust training: train on inputs perturbed adversarially within an
        l2 ball of radius ``adversarial_radius * ||x||`` per sample, found by
        ``adversarial_steps`` steps of projected gradient ascent on the
        training loss of each batch; ``0`` trains on the clean inputs. See
        :mod:`skunfold.core.robust`."""),
    "adversarial_steps": (integer(1), "int", """
        Projected gradient steps per batch of robust training."""),
    "warm_start": (boolean(), "bool", """
        Continue from the previous fit's learned parameters when the new
        network has the same architecture (the same parameters, of the same
        shapes); otherwise start afresh."""),
    "random_state": (_check_random_state, "int, RandomState instance or None", """
        The single source of randomness (initialisation, shuffling, the
        validation split)."""),
    "verbose": (integer(0), "int", """
        ``1`` reports the training stages and epochs with a progress line per
        epoch and the elapsed time; ``0`` is silent."""),
}


def _format_default(value):
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)


def _render(cls, overrides):
    signature = inspect.signature(cls.__init__)
    lines = []
    for name, (_, kind, description) in SHARED_PARAMETERS.items():
        if name not in signature.parameters:
            continue
        default = signature.parameters[name].default
        text = overrides.get(name, description)
        body = textwrap.indent(textwrap.dedent(text).strip(), " " * 8)
        lines.append(f"    {name} : {kind}, default={_format_default(default)}\n{body}")
    return "\n".join(lines) + "\n"


def document_parameters(cls=None, **overrides):
    """Class decorator rendering the shared parameters into the docstring.

    The class docstring holds a line ``%(training_parameters)s`` in its
    Parameters section; it is replaced by the description of every shared
    parameter the class's ``__init__`` takes, with its default. Keyword
    arguments replace a description (e.g. ``lr="Learning rate; None: 0.1."``).
    """
    def decorate(klass):
        doc = klass.__doc__ or ""
        marker = "    %(training_parameters)s\n"
        if marker in doc:
            klass.__doc__ = doc.replace(marker, _render(klass, overrides))
        return klass
    return decorate if cls is None else decorate(cls)


def set_init_parameters(estimator, values):
    """Store ``__init__`` arguments as attributes, unchanged (scikit-learn's convention).

    Call as ``set_init_parameters(self, locals())`` at the end of a preset's
    ``__init__``: every argument except ``self`` becomes an attribute of the
    same name, with no validation (that happens in ``fit``).
    """
    for name, value in values.items():
        if name not in ("self", "__class__"):
            setattr(estimator, name, value)
