"""Inference kernels: a fitted module run over host arrays in chunks, layer by layer.

Plain functions under :class:`~skunfold.core.UnfoldedEstimator`'s ``iterate``
and ``staged_iterate``: inputs are split into chunks of a bounded number of
entries, converted to the module's dtype on its device, and outputs come back
as numpy arrays in the precision of the input.
"""

import contextlib
import math

import numpy as np
import torch

from .equilibrium import warn_not_converged
from .module import cast_module, module_device, module_dtype
from .ops import output_dtype, to_numpy, to_tensor
from .problem import evaluation_mode
from .threads import choose_threads, torch_threads

__all__ = ["run_layers", "run_layers_staged", "inference_mode"]

#: Inference batches smaller than this are padded (see :func:`batches`).
MIN_BATCH_ROWS = 8
#: Samples of more entries than this are not padded (see :func:`batches`).
PAD_MAX_ENTRIES = 4096
#: Input entries per inference chunk.
CHUNK_ENTRIES = 1 << 22
#: Readouts of at most this many entries are always copied (see :func:`_to_output`).
COPY_MAX_ENTRIES = 1 << 16


@contextlib.contextmanager
def inference_mode(module, device=None, n_threads=None, flops_per_layer=None, dtype=None):
    """Run a block with ``module`` in eval mode, without autograd, with threads chosen.

    ``device``: move the module there for the block and back to the CPU after
    (classical solvers are kept on the CPU between calls; a module already
    there stays, unmoved); ``None`` leaves it
    where it is (a trained network stays on its training device). ``dtype``:
    compute in this precision for the block and cast back after (exactly,
    when it is the wider one); ``None`` keeps the module's.
    """
    previous = module_dtype(module)
    if dtype is not None and dtype != previous:
        cast_module(module, dtype)
    else:
        dtype = None
    move = device is not None and torch.device(device) != module_device(module)
    if move:
        module.to(device)
    threads = choose_threads(n_threads, flops_per_layer, module_device(module))
    # a fitted module is kept in eval mode: switching (a walk over every submodule, twice)
    # is only needed when some submodule trains
    switch = _any_training(module)
    was_training = module.training
    if switch:
        module.eval()
    try:
        with torch_threads(threads), evaluation_mode(module.problem):
            yield module
    finally:
        if switch:
            module.train(was_training)
        if move:
            module.to("cpu")
        if dtype is not None:
            cast_module(module, previous)


def _any_training(module):
    """Whether ``module`` or any of its submodules is in training mode."""
    stack = [module]
    while stack:
        child = stack.pop()
        if child is not None:
            if child.training:
                return True
            stack.extend(child._modules.values())
    return False


def chunk_rows(module, sample_shape):
    """Samples per inference chunk for samples of ``sample_shape``."""
    return max(1, min(4096, CHUNK_ENTRIES // max(1, math.prod(sample_shape))))


def batches(module, X, side):
    """Tensor chunks of ``X`` and its side information, with their true row counts.

    Chunks of vector-like samples smaller than ``MIN_BATCH_ROWS`` rows are
    padded with copies of their last row: BLAS takes other kernels (other
    summation orders) for a handful of rows, and the padding keeps each row's
    result independent of how ``X`` is split. Large samples (a matrix per
    sample, over ``PAD_MAX_ENTRIES`` entries) are not padded: their products
    are per sample, and padding one matrix to eight would cost eight times as
    much.
    """
    dtype, device = module_dtype(module), module_device(module)
    per_sample = max(1, math.prod(X.shape[1:]))
    chunk = chunk_rows(module, X.shape[1:])
    for lo in range(0, len(X), chunk):
        hi = min(lo + chunk, len(X))
        parts = [to_tensor(X[lo:hi], dtype, device)]
        parts += [to_tensor(v[lo:hi], dtype, device) for v in side.values()]
        rows = hi - lo
        if rows < MIN_BATCH_ROWS and per_sample <= PAD_MAX_ENTRIES:
            parts = [torch.cat([t, t[-1:].expand(MIN_BATCH_ROWS - rows, *t.shape[1:])])
                     for t in parts]
        yield parts[0], dict(zip(side, parts[1:])), rows


def _storages(tensors):
    return {t.untyped_storage().data_ptr() for t in tensors if torch.is_tensor(t)}


def _owned_tensors(module):
    """The tensors a module holds: parameters, buffers and the problem's tensor attributes."""
    held = list(module.parameters()) + list(module.buffers())
    for value in vars(getattr(module, "problem", None) or object()).values():
        held += list(value.values()) if isinstance(value, dict) else [value]
    return held


def _to_output(readouts, X, inputs=None, module=None):
    """The readouts of the chunks of ``X`` as one numpy array in the precision of ``X``.

    The readouts are concatenated into a new array, except that a single
    chunk's readout of a finished run (``inputs`` given: the chunk's
    tensors) is returned without a copy (a large readout costs as much to
    copy as a layer to compute) when it shares no memory with ``inputs`` (a
    readout may return the observation itself, which shares the caller's
    array) nor with the tensors of ``module``. A small readout (at most
    ``COPY_MAX_ENTRIES`` entries) is copied without looking: the copy costs
    less than listing the module's tensors. Staged runs always copy: their
    states live on.
    """
    out = readouts[0]
    if inputs is None or len(readouts) > 1 or out.numel() <= COPY_MAX_ENTRIES or (
            out.untyped_storage().data_ptr() in _storages(list(inputs) + _owned_tensors(module))):
        out = torch.cat(readouts)
    in_dtype = X.dtype if X.dtype.kind in "fc" else np.dtype(np.float64)
    with np.errstate(over="ignore"):  # an overflow is inf, which predict reports as divergence
        return to_numpy(out, output_dtype(in_dtype, out.is_complex()))


def run_layers(module, X, side, n_layers):
    """The readout after ``n_layers`` layers (``0``: of the initial state), as a numpy array."""
    outs, n_iter, residual, fallback, inputs = [], [], [], [], []
    guard = module.safeguard
    for x, s, rows in batches(module, X, side):
        outs.append(module.readout(module.final_state(x, n_layers, s))[:rows])
        inputs += [x, *s.values()]
        if guard is not None:
            fallback.append(_fallback([guard.last_run], [rows], n_layers))
        info = module.fixed_point is not None and module.fixed_point.last_forward
        if info and n_layers == module.n_layers:
            n_iter.append(info["n_iter"][:rows])
            residual.append(info["residual"][:rows])
    if n_iter:
        n_iter, residual = np.concatenate(n_iter), np.concatenate(residual)
        module.fixed_point.last_forward = {"n_iter": n_iter, "residual": residual}
        warn_not_converged(residual, module.fixed_point.tol, "samples of X")
    if guard is not None:
        guard.last_fallback = np.concatenate(fallback)
    return _to_output(outs, X, inputs, module)


def _fallback(runs, rows, n_layers):
    """The safeguard's record of the runs of some chunks: (samples, layers) bools."""
    parts = [np.zeros((r, n_layers), dtype=bool) if run is None else
             torch.stack(run.fallback, dim=1)[:r].cpu().numpy() if run.fallback else
             np.zeros((r, 0), dtype=bool) for run, r in zip(runs, rows)]
    return np.concatenate(parts)


def run_layers_staged(module, X, side, n_layers):
    """Yield the readout after each layer, computed layer by layer over all of ``X``.

    Only the current state of every chunk is kept, so a deep run costs the
    memory of one iterate.
    """
    chunks = list(batches(module, X, side))
    states = [module.initial_state(x, s) for x, s, _ in chunks]
    runs = [module.start_safeguard(x, s, st) for st, (x, s, _) in zip(states, chunks)]
    for k in range(n_layers):
        states = [module.step(k, st, x, s) if run is None else run.step(k, st)
                  for st, run, (x, s, _) in zip(states, runs, chunks)]
        if module.safeguard is not None:
            module.safeguard.last_fallback = _fallback(runs, [r for *_, r in chunks], k + 1)
        yield _to_output([module.readout(st)[:rows] for st, (_, _, rows) in zip(states, chunks)],
                         X)
