"""Inference kernels: a fitted module run over host arrays in chunks, layer by layer.

Plain functions under :class:`~skunfold.core.UnfoldedEstimator`'s ``iterate``
and ``staged_iterate``: inputs are split into chunks of a bounded number of
entries, converted to the module's dtype on its device, and outputs come back
as numpy arrays in the precision of the input.
"""

import math
import sys
import warnings
import weakref

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
#: The padding found for a module and a kind of chunk (see :func:`padded_rows`): no tensor.
_PADDING = weakref.WeakKeyDictionary()
#: Rows on which :func:`padded_rows` compares paddings (a multiple of ``MIN_BATCH_ROWS``).
PROBE_ROWS = 32
#: Samples of more entries than this are not padded (see :func:`batches`).
PAD_MAX_ENTRIES = 4096
#: Input entries per inference chunk.
CHUNK_ENTRIES = 1 << 22
#: Readouts of at most this many entries are always copied (see :func:`_to_output`).
COPY_MAX_ENTRIES = 1 << 16


def inference_mode(module, device=None, n_threads=None, flops_per_layer=None, dtype=None):
    """Run a block with ``module`` in eval mode, without autograd, with threads chosen.

    ``device``: move the module there for the block and back to the CPU after
    (classical solvers are kept on the CPU between calls; a module already
    there stays, unmoved); ``None`` leaves it
    where it is (a trained network stays on its training device). ``dtype``:
    compute in this precision for the block and cast back after (exactly,
    when it is the wider one); ``None`` keeps the module's. The context
    yields ``module``.
    """
    return _InferenceMode(module, device, n_threads, flops_per_layer, dtype)


class _InferenceMode:
    """The context of :func:`inference_mode`: a class, as it is entered at every ``predict``.

    A generator-based context costs a few microseconds more per call, as do
    nested contexts for the settings that are left alone (threads not set).
    Nothing is kept between calls.
    """

    def __init__(self, module, device, n_threads, flops_per_layer, dtype):
        self.module, self.device, self.n_threads = module, device, n_threads
        self.flops, self.dtype = flops_per_layer, dtype

    def __enter__(self):
        module = self.module
        self.previous = module_dtype(module)
        if self.dtype is not None and self.dtype != self.previous:
            cast_module(module, self.dtype)
        else:
            self.dtype = None
        self.move = self.device is not None and \
            torch.device(self.device) != module_device(module)
        if self.move:
            module.to(self.device)
        # the device only matters to a thread count left free (``choose_threads`` ignores it
        # for a given count, and keeps a single torch thread as it is): no look-up for these
        if self.n_threads is None and torch.get_num_threads() == 1:
            threads = None
        else:
            threads = choose_threads(self.n_threads, self.flops, "cpu" if self.n_threads
                                     is not None else module_device(module))
        # a fitted module is kept in eval mode: switching (a walk over every submodule,
        # twice) is only needed when some submodule trains
        self.switch = _any_training(module)
        self.was_training = module.training
        if self.switch:
            module.eval()
        self.threads = None if threads is None else torch_threads(threads)
        try:
            if self.threads is not None:
                self.threads.__enter__()
            try:
                self.grad = _grad_mode(module)
                self.grad.__enter__()
            except BaseException:
                if self.threads is not None:
                    self.threads.__exit__(*sys.exc_info())
                raise
        except BaseException:
            self._restore()
            raise
        return module

    def __exit__(self, *exc):
        try:
            try:
                self.grad.__exit__(*exc)
            finally:
                if self.threads is not None:
                    self.threads.__exit__(*exc)
        finally:
            self._restore()
        return False

    def _restore(self):
        module = self.module
        if self.switch:
            module.train(self.was_training)
        if self.move:
            module.to("cpu")
        if self.dtype is not None:
            cast_module(module, self.previous)


def _grad_mode(module):
    """The autograd context of inference: :func:`torch.inference_mode` where it is safe.

    It skips the bookkeeping that :func:`torch.no_grad` keeps (version
    counters, views' metadata: a tenth of the time of a small batch), but its
    tensors cannot enter autograd later: a module whose run keeps tensors for
    later (a safeguard converts its reference problem once per dtype) runs
    under :func:`torch.no_grad`, and a step that uses autograd under
    :func:`torch.enable_grad` (:func:`~skunfold.core.problem.evaluation_mode`).
    """
    if module.problem.step_uses_autograd or module.safeguard is not None:
        return evaluation_mode(module.problem)
    return torch.inference_mode()


def _any_training(module):
    """Whether ``module`` or any of its submodules is in training mode."""
    level = [module]
    while level:
        for child in level:
            if child.training:
                return True
        level = [c for child in level for c in child._modules.values() if c is not None]
    return False


def chunk_rows(module, sample_shape):
    """Samples per inference chunk for samples of ``sample_shape``."""
    return max(1, min(4096, CHUNK_ENTRIES // max(1, math.prod(sample_shape))))


def batches(module, X, side, n_layers=None):
    """Tensor chunks of ``X`` and its side information, with their true row counts.

    Chunks of vector-like samples smaller than ``MIN_BATCH_ROWS`` rows are
    padded with copies of their last row: BLAS takes other kernels (other
    summation orders) for a handful of rows, and the padding keeps each row's
    result independent of how ``X`` is split (of the splits into chunks of 8
    rows or so, as scikit-learn's checks compare single rows with batches of
    20: some products take yet another kernel from 11 to 16 rows on, e.g. a
    250 x 500 one stored transposed). They are padded only as far as the
    module needs (:func:`padded_rows`: often one row is enough, or two).
    Large samples (a matrix per sample, over ``PAD_MAX_ENTRIES`` entries) are
    not padded: their products are per sample, and padding one matrix to
    eight would cost eight times as much. ``n_layers``: the depth run on the
    chunks (``None``: pad to ``MIN_BATCH_ROWS`` without asking the module).
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
            pad = MIN_BATCH_ROWS if n_layers is None else \
                padded_rows(module, parts, list(side), n_layers)
            if rows == 1 < pad:  # the same rows as below, in one copy
                parts = [t.expand(pad, *t.shape[1:]).contiguous() for t in parts]
            elif rows < pad:
                parts = [torch.cat([t, t[-1:].expand(pad - rows, *t.shape[1:])])
                         for t in parts]
        yield parts[0], dict(zip(side, parts[1:])), rows


def padded_rows(module, parts, side_names, n_layers):
    """The rows a small chunk is padded to: the fewest that give the rows of a full padding.

    A row's result depends on the kernels that the matrix products of the
    module take, which depend on the number of rows (not on their values): on
    one row BLAS takes a matrix-vector kernel, on two to a dozen rows often
    the kernel of any number of rows. The module is run on ``PROBE_ROWS``
    distinct rows (the chunk's first sample, each entry scaled by a factor
    between 0.5 and 1.5: signs, zeros and scale kept) in batches of
    ``MIN_BATCH_ROWS``, then in batches of 1, 2, ... rows; the first size
    whose states and readouts are bitwise those of the full batches, on every
    row, is kept for the module and the kind of chunk (shapes and dtypes of
    the samples and side information, device, depth, threads). A run that
    fails, or whose rows cannot tell kernels apart (all equal, or not finite),
    keeps ``MIN_BATCH_ROWS``. Modules whose products are per sample (a matrix
    per sample) take one row: no padding.
    """
    key = (n_layers, torch.get_num_threads(), parts[0].device,
           tuple((t.dtype, tuple(t.shape[1:])) for t in parts))
    known = _PADDING.get(module)
    if known is None:
        known = _PADDING[module] = {}
    pad = known.get(key)
    if pad is None:
        pad = known[key] = _probe_padding(module, parts, side_names, n_layers)
    return pad


def _probe_padding(module, parts, side_names, n_layers):
    n, x0 = MIN_BATCH_ROWS, parts[0][:1]
    if not (x0.is_floating_point() or x0.is_complex()):
        return n
    g = torch.Generator().manual_seed(0)
    factor = 0.5 + torch.rand((PROBE_ROWS, *x0.shape[1:]), generator=g, dtype=torch.float64)
    x = x0 * factor.to(x0.real.dtype).to(x0.device)
    side = [t[:1].expand(PROBE_ROWS, *t.shape[1:]).contiguous() for t in parts[1:]]

    def run(lo, rows):
        state = module.final_state(x[lo:lo + rows], n_layers,
                                   {k: t[lo:lo + rows] for k, t in zip(side_names, side)})
        return [t for t in _state_tensors((state, module.readout(state))) if len(t) == rows]

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            full = [run(lo, n) for lo in range(0, PROBE_ROWS, n)]
            if not full[0] or not all(bool(torch.isfinite(t).all()) for f in full for t in f) \
                    or all(torch.equal(t, t[:1].expand_as(t)) for t in full[0]):
                return n  # these rows cannot tell one kernel from another
            full = [torch.cat(ts) for ts in zip(*full)]
            for rows in range(1, n):
                if all(_same(run(lo, rows), full, lo) for lo in
                       [*range(0, PROBE_ROWS - rows, rows), PROBE_ROWS - rows]):
                    return rows
    except Exception:  # noqa: BLE001 -- the chunk's own run reports the failure
        return n
    return n


def _same(out, full, lo):
    return len(out) == len(full) and all(
        torch.equal(a, b[lo:lo + len(a)]) for a, b in zip(out, full))


def _state_tensors(value):
    """The batched tensors in a state (a tensor, or nested tuples, lists and dicts of them)."""
    if torch.is_tensor(value):
        return [value] if value.dim() else []
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in _state_tensors(v)]
    return []


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
    arr, dtype = to_numpy(out), output_dtype(in_dtype, out.is_complex())
    if arr.dtype == dtype:
        return arr
    with np.errstate(over="ignore"):  # an overflow is inf, which predict reports as divergence
        return arr.astype(dtype, copy=False)


def run_layers(module, X, side, n_layers, probe=True):
    """The readout after ``n_layers`` layers (``0``: of the initial state), as a numpy array.

    ``probe``: pad small chunks only as far as the module needs (:func:`padded_rows`);
    ``False`` for a module run once (a copy on another problem): the full padding.
    """
    outs, n_iter, residual, fallback, inputs = [], [], [], [], []
    guard = module.safeguard
    for x, s, rows in batches(module, X, side, n_layers if probe else None):
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


def run_layers_staged(module, X, side, n_layers, probe=True):
    """Yield the readout after each layer, computed layer by layer over all of ``X``.

    Only the current state of every chunk is kept, so a deep run costs the
    memory of one iterate.
    """
    chunks = list(batches(module, X, side, n_layers if probe else None))
    states = [module.initial_state(x, s) for x, s, _ in chunks]
    runs = [module.start_safeguard(x, s, st) for st, (x, s, _) in zip(states, chunks)]
    for k in range(n_layers):
        states = [module.step(k, st, x, s) if run is None else run.step(k, st)
                  for st, run, (x, s, _) in zip(states, runs, chunks)]
        if module.safeguard is not None:
            module.safeguard.last_fallback = _fallback(runs, [r for *_, r in chunks], k + 1)
        yield _to_output([module.readout(st)[:rows] for st, (_, _, rows) in zip(states, chunks)],
                         X)
