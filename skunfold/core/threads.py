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


def count_flops(fn):
    """Floating-point operations (matrix products, convolutions) of calling ``fn()``.

    Uses :class:`torch.utils.flop_counter.FlopCounterMode`; elementwise work is
    not counted. Returns 0 when the counter is unavailable.
    """
    try:
        from torch.utils.flop_counter import FlopCounterMode
    except ImportError:  # pragma: no cover - torch < 2.1
        fn()
        return 0
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


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
