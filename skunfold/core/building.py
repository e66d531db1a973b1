"""Building and loading the network of an estimator: the glue between settings and module."""

import numpy as np
import torch

from .equilibrium import warn_not_converged
from .inference import inference_mode, run_layers
from .module import UnfoldedModule, cast_module
from .ops import complex_dtype, to_tensor
from .paradigms import build_initial, build_layers
from .problem import apply_to_problem, check_problem_outputs, evaluation_mode
from .schedules import EndToEnd
from .threads import count_flops

__all__ = ["build_module", "load_parameters", "record_fixed_point"]


def _check_modes(settings):
    """What deep equilibrium mode needs of the other settings."""
    if settings.fixed_point is None:
        return
    if settings.tied is False:
        raise ValueError("fixed_point needs tied weights (one iteration applied until it "
                         "converges); got tied=False")
    if not isinstance(settings.loss_schedule, EndToEnd):
        raise ValueError("fixed_point trains on the fixed point only: use "
                         f"loss_schedule='end_to_end', got {settings.loss_schedule!r}")
    if settings.safeguard is not None:
        raise ValueError("safeguard and fixed_point cannot be combined: the safeguard guards a "
                         "layer-by-layer run, the deep equilibrium mode solves for the fixed "
                         "point directly")


def build_module(problem, X, y, side, dtype, seed, settings, n_layers, name):
    """The untrained module of an estimator (classical values as initialisation), and its work.

    Parameters
    ----------
    problem : Problem
        Its tensors are cast to ``dtype`` in place.
    X, y, side : ndarray, ndarray or None, dict
        A few training samples: the problem's first call is checked on them
        (:func:`~skunfold.core.problem.check_problem_outputs`) and they size
        the generic networks.
    dtype : torch.dtype
    seed : int
        Seed of the initialisation.
    settings : mapping
        The estimator's checked parameters.
    n_layers : int
    name : str
        The estimator's name, for messages.

    Returns
    -------
    module : UnfoldedModule
    flops : float
        Floating-point operations of one layer per sample.
    """
    def convert(t):
        if t.is_complex():
            return t.to(complex_dtype(dtype))
        return t.to(dtype) if t.is_floating_point() else t

    apply_to_problem(problem, convert)
    n = len(X)
    sample = (to_tensor(X, dtype), {k: to_tensor(v, dtype) for k, v in side.items()})
    paradigm = settings.paradigm if settings.trains else "classical"
    with evaluation_mode(problem):  # the "dnn" paradigm's layers replace the problem's step
        check_problem_outputs(problem, sample[0], sample[1],
                              None if y is None else to_tensor(y, dtype), step=paradigm != "dnn")
    _check_modes(settings)
    fixed_point, tied = settings.fixed_point, settings.tied
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layers = build_layers(problem, paradigm, n_layers,
                              tied=True if fixed_point is not None and tied is None else tied,
                              hidden_layer_sizes=settings.hidden_layer_sizes, sample=sample)
        initial = build_initial(problem, paradigm)
    module = cast_module(UnfoldedModule(problem, layers, n_layers, initial), dtype)
    if fixed_point is not None:
        if not module.tied:
            raise ValueError(f"fixed_point needs tied weights; {name} built {n_layers} untied "
                             f"layers for paradigm={paradigm!r}")
        module.fixed_point = fixed_point
    module.safeguard = settings.safeguard
    module.adversarial = settings.adversarial
    with evaluation_mode(problem):
        flops = count_flops(lambda: module.step(0, module.initial_state(sample[0], sample[1]),
                                                sample[0], sample[1]))
    return module, flops / n


def load_parameters(module, previous):
    """Copy the learned parameters of ``previous`` into ``module`` if architectures match.

    Returns whether they were copied (warm start, continued training).
    """
    new = dict(module.named_parameters())
    old = dict(previous.named_parameters())
    if new.keys() != old.keys() or any(new[k].shape != old[k].shape for k in new):
        return False
    with torch.no_grad():
        for key, p in new.items():
            p.copy_(old[key].to(p.device, p.dtype))
    return True


def record_fixed_point(module, X, side, n_threads):
    """The diagnostics of a fitted deep equilibrium module: ``(n_iter, backward_n_iter)``.

    ``n_iter``: forward iterations of every training sample with the fitted
    model; ``backward_n_iter``: iterations of the backward solve of every
    training step. Warns about the samples and steps that did not converge.
    """
    config = module.fixed_point
    log, config.backward_log = config.backward_log, []
    backward = np.array([it for it, _ in log], dtype=int)
    if log:
        warn_not_converged(np.array([res for _, res in log]), config.tol,
                           "backward solves of the training steps")
    with inference_mode(module, n_threads=n_threads):
        run_layers(module, X, side, module.n_layers)
    return config.last_forward["n_iter"], backward
