"""Torch CPU threads chosen for the work at hand, restored afterwards.

Unfolded models multiply small matrices: a few hundred by a few hundred,
for a batch of 64 samples. For such products torch's default of one thread
per core costs more in synchronisation than it gains; and on a machine where
anything else runs (a CI runner, a laptop, ``GridSearchCV(n_jobs=2)``) a
thread that shares its core with another process makes all the others wait
for it at every product, so that fits run several times slower than with
one thread, large problems included (measured in ``benchmarks/threads.py``).
Estimators therefore measure the floating-point work of one layer when they
build their network and use one thread when it is small; otherwise they use
the cores that are free at the time of the call (the cores minus the other
running processes, read from ``/proc/loadavg`` where the system has it),
at most torch's setting. ``n_threads`` overrides the choice. The global
setting is restored when ``fit`` or ``predict`` returns.
"""

import contextlib
import os
import pathlib
import time

import torch

__all__ = ["torch_threads", "choose_threads", "count_flops", "free_cores", "SMALL_WORK_FLOPS"]

#: Floating-point operations of one layer on one batch below which one thread is used
#: whatever the load: a layer of this size takes a fraction of a millisecond, and a second
#: thread costs more in synchronisation than it saves. Above it, the free cores are used
#: (benchmarks/threads.py: on a quiet 2-core machine one or two threads are within noise
#: of each other from 64x128 layers on, and two threads win at 250x500).
SMALL_WORK_FLOPS = 2e6


@contextlib.contextmanager
def torch_threads(n_threads):
    """Run a block with ``n_threads`` torch threads (``None``: leave the setting alone)."""
    if n_threads is None:
        yield
        return
    previous = torch.get_num_threads()
    if previous == n_threads:
        yield
        return
    torch.set_num_threads(int(n_threads))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _numel(shape):
    n = 1
    for d in shape:
        n *= int(d)
    return n


def _einsum_flops(equation, operands, out):
    inputs, _, output = equation.replace(" ", "").partition("->")
    sizes = {}
    for spec, t in zip(inputs.split(","), operands):
        for letter, dim in zip(spec.replace("...", ""), t.shape[-len(spec.replace("...", "")):]):
            sizes[letter] = int(dim)
    contracted = set("".join(inputs.split(","))) - set(output) - {"."}
    return 2 * out.numel() * _numel(sizes.get(c, 1) for c in contracted)


class _FlopCounter(torch.overrides.TorchFunctionMode):
    """Counts the multiply-adds of matrix products, convolutions, einsums and solves."""

    _MATMUL = {torch.matmul, torch.mm, torch.bmm, torch.Tensor.__matmul__,
               torch.Tensor.__rmatmul__, torch.Tensor.matmul, torch.Tensor.mm,
               torch.Tensor.bmm}
    _ADDMM = {torch.addmm, torch.baddbmm, torch.Tensor.addmm, torch.Tensor.baddbmm}

    def __init__(self):
        super().__init__()
        self.flops = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        try:
            self.flops += self._count(func, args, out)
        except Exception:  # an op this estimate does not understand counts as free
            pass
        return out

    def _count(self, func, args, out):
        if not torch.is_tensor(out):
            return 0
        if func in self._MATMUL:
            a = args[1] if func is torch.Tensor.__rmatmul__ else args[0]
            return 2 * out.numel() * int(a.shape[-1])
        if func in self._ADDMM:
            return 2 * out.numel() * int(args[1].shape[-1])
        if func is torch.nn.functional.linear:
            return 2 * out.numel() * int(args[1].shape[-1])
        if func in (torch.conv1d, torch.conv2d, torch.nn.functional.conv1d,
                    torch.nn.functional.conv2d):
            weight = args[1]
            return 2 * out.numel() * _numel(weight.shape[1:])
        if func is torch.einsum:
            operands = args[1] if len(args) == 2 and isinstance(args[1], (list, tuple)) \
                else args[1:]
            return _einsum_flops(args[0], operands, out)
        if func in (torch.linalg.solve, torch.linalg.inv):
            return 2 * out.numel() * int(args[0].shape[-1])
        return 0


def count_flops(fn):
    """Floating-point operations of calling ``fn()``: matrix products, convolutions, solves.

    A cheap estimate (shapes of the products a torch function mode sees;
    elementwise work is not counted), enough to tell small layers from large
    ones.
    """
    with _FlopCounter() as counter:
        fn()
    return counter.flops


def _cores():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


_LOAD_CACHE = {"time": -1.0, "free": None}


def _own_running_threads():
    """Threads of this process that are running (torch's workers may spin after an operation)."""
    count = 0
    for stat in pathlib.Path("/proc/self/task").glob("*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the thread ended meanwhile
            continue
        if text[text.rindex(")") + 2] == "R":
            count += 1
    return max(1, count)


def free_cores(max_age=0.5):
    """Cores not used by other running processes right now (``None`` where unknown).

    Reads the number of runnable tasks in ``/proc/loadavg``, takes away this
    process's own running threads (``/proc/self/task``) and subtracts the
    others from the cores this process may use; the answer is reused for
    ``max_age`` seconds, so that a loop of small calls reads the file once.
    Linux only; elsewhere ``None``.
    """
    now = time.monotonic()
    if now - _LOAD_CACHE["time"] <= max_age:
        return _LOAD_CACHE["free"]
    try:
        with open("/proc/loadavg") as fh:
            running = int(fh.read().split()[3].split("/")[0])
        own = _own_running_threads()
    except (OSError, ValueError, IndexError):
        free = None
    else:
        free = max(1, _cores() - max(0, running - own))
    _LOAD_CACHE.update(time=now, free=free)
    return free


def choose_threads(n_threads, flops, device="cpu"):
    """The thread count for a run: ``n_threads`` if given, else chosen for the work and the load.

    Parameters
    ----------
    n_threads : int or None
        The estimator's ``n_threads`` parameter.
    flops : float or None
        Measured work of one layer on one batch (``None``: unknown).
    device : str or torch.device, default="cpu"
        On a GPU the CPU threads barely matter: torch's setting is kept.

    Returns
    -------
    int or None
        ``None`` keeps torch's current setting.
    """
    if n_threads is not None:
        return int(n_threads)
    current = torch.get_num_threads()
    if torch.device(device).type != "cpu" or current == 1:
        return None
    if flops is not None and flops < SMALL_WORK_FLOPS:
        return 1
    free = free_cores()
    return None if free is None else min(current, free)
