"""Torch CPU threads chosen for the work at hand, restored afterwards.

Unfolded models multiply small matrices: a few hundred by a few hundred,
for a batch of 64 samples. For such products torch's default of one thread
per core costs more in synchronisation than it gains, and on a machine where
anything else runs (a CI runner, a laptop, ``GridSearchCV(n_jobs=2)``) the
threads wait for each other: small fits then run several times slower than
with one thread. Estimators therefore measure the floating-point work of
one layer on one batch when they build their network and use one thread when
it is small, and torch's setting otherwise; ``n_threads`` overrides the
choice. The global setting is restored when ``fit`` or ``predict`` returns.
"""

import contextlib

import torch

__all__ = ["torch_threads", "choose_threads", "count_flops", "SMALL_WORK_FLOPS"]

#: Floating-point operations of one layer on one batch below which one thread is used.
#: Measured on a 2-core machine (benchmarks/threads.py): a layer of this size takes about
#: a millisecond, where a second thread saves little on a quiet machine and loses a lot
#: on a busy one.
SMALL_WORK_FLOPS = 2e7


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


def choose_threads(n_threads, flops_per_layer, device="cpu"):
    """The thread count for a run: ``n_threads`` if given, else one for small work.

    Parameters
    ----------
    n_threads : int or None
        The estimator's ``n_threads`` parameter.
    flops_per_layer : float or None
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
    if torch.device(device).type != "cpu" or flops_per_layer is None:
        return None
    if torch.get_num_threads() > 1 and flops_per_layer < SMALL_WORK_FLOPS:
        return 1
    return None
