r"""Deep equilibrium models as exportable graphs: the fixed-point solve as one loop node.

``predict`` of a model fitted with ``fixed_point`` runs its tied layer until
every sample of the batch has reached the tolerance (or ``max_iter``
iterations are done), with Anderson acceleration or plain iteration, and
keeps each sample's iterate of lowest residual
(:func:`~skunfold.core.fixed_point_iteration`). :func:`fixed_point_loop` is
the same solve written with :func:`torch.while_loop` over tensors of fixed
shapes: one loop node in a ``torch.export`` program, an ONNX ``Loop``, whose
stopping rule is ``predict``'s:

* the loop runs while fewer than ``max_iter`` iterations are done and some
  sample of the batch has not yet reached :math:`\|f(z) - z\| / \|f(z)\| <
  \text{tol}` (a sample that has reached it goes on iterating with the
  others, as in ``predict``, and keeps its best iterate);
* Anderson's history of the last ``memory`` iterates is a buffer of fixed
  size, shifted at every iteration, whose entries not yet filled take no
  part in the mixing (their rows of the regularised least-squares system are
  the identity's, their right-hand side zero);
* the same safeguard: a blown-up or non-finite extrapolation, or
  ``2 * memory`` iterations without a new best residual, restart from a plain
  step of the best iterate with the history forgotten.

The results equal ``predict``'s to float round-off (the mixing solves one
``memory``-sized system where ``predict`` solves a growing one), as long as
the number of iterations is the same; a batch exported and run at once
stops when its slowest sample converges, as ``predict`` does per chunk.
"""

import math

import torch
from torch import nn

from .equilibrium import _restarts, packed_iteration
from .inference import MIN_BATCH_ROWS, PAD_MAX_ENTRIES
from .problem import evaluation_mode, no_grad

__all__ = ["EquilibriumRun", "fixed_point_loop"]


def _norms(t):
    return torch.linalg.vector_norm(t, dim=1)


def _mix(xs, fs, lam):
    """The Anderson-mixed iterate of the histories ``xs``, ``fs`` of shape ``(batch, m, n)``.

    :func:`~skunfold.core.equilibrium._anderson_step`'s arithmetic, with its
    fallback (the last image ``fs[:, -1]`` where the system is singular in
    any sample) read from the solver's status instead of an exception.
    """
    m = xs.shape[1]
    if m == 1:
        return fs[:, 0]
    G = fs - xs
    H = G @ G.transpose(1, 2)
    scale = torch.diagonal(H, dim1=1, dim2=2).mean(dim=1).clamp_min(1e-30)
    H = H + lam * scale[:, None, None] * torch.eye(m, dtype=H.dtype, device=H.device)
    ones = torch.ones(G.shape[0], m, 1, dtype=H.dtype, device=H.device)
    a, info = torch.linalg.solve_ex(H, ones)
    a = a / a.sum(dim=1, keepdim=True)
    return torch.where((info != 0).any(), fs[:, -1], (a.transpose(1, 2) @ fs).squeeze(1))


def fixed_point_loop(f, z0, tol=1e-4, max_iter=100, solver="anderson", memory=5, lam=1e-4):
    r"""The forward solve of :func:`~skunfold.core.fixed_point_iteration` as one ``while_loop``.

    Parameters
    ----------
    f : callable
        Batched map ``(batch, n) -> (batch, n)`` (traceable: no Python
        branch on tensor values).
    z0 : torch.Tensor of shape (batch, n)
        Starting point (real).
    tol, max_iter, solver, memory, lam
        See :class:`~skunfold.core.FixedPoint`.

    Returns
    -------
    z : torch.Tensor of shape (batch, n)
        Each sample's iterate of lowest residual :math:`\|f(z) - z\|`.

    Examples
    --------
    >>> import torch
    >>> from skunfold.core.export_loops import fixed_point_loop
    >>> z = fixed_point_loop(torch.cos, torch.zeros(2, 1, dtype=torch.float64), tol=1e-10)
    >>> round(float(z[0, 0]), 6)
    0.739085
    """
    batch = z0.shape[0]
    anderson = solver == "anderson" and memory >= 1
    inf = torch.full((batch,), float("inf"), dtype=z0.dtype, device=z0.device)
    state = (torch.zeros((), dtype=torch.int64, device=z0.device), z0, z0.clone(), z0.clone(), inf,
             torch.zeros(batch, dtype=torch.bool, device=z0.device),
             torch.zeros(batch, dtype=torch.int64, device=z0.device))

    def iteration(state, history):
        """One iteration of ``predict``'s solve; ``history``: the previous ``(xs, fs)``."""
        k, z, best, best_f, best_gap, done, stall = state
        fz = f(z)
        gap = _norms(fz - z)
        gap = torch.where(torch.isfinite(gap), gap, float("inf"))
        res = gap / (_norms(fz) + 1e-30)
        better = gap < best_gap
        best = torch.where(better[:, None], z, best)
        best_f = torch.where(better[:, None], fz, best_f)
        best_gap = torch.where(better, gap, best_gap)
        stall = torch.where(better, 0, stall + 1)
        done = done | (res < tol)
        if not anderson:
            return (k + 1, fz, best, best_f, best_gap, done, stall), history
        xs = torch.cat([history[0], z[:, None]], dim=1)
        fs = torch.cat([history[1], fz[:, None]], dim=1)
        z = _mix(xs, fs, lam)
        restart = _restarts(gap, best_gap, stall, z, memory)
        z = torch.where(restart[:, None], best_f, z)
        xs = torch.where(restart[:, None, None], best[:, None], xs)
        fs = torch.where(restart[:, None, None], best_f[:, None], fs)
        stall = torch.where(restart, 0, stall)
        return (k + 1, z, best, best_f, best_gap, done, stall), (xs, fs)

    def going(state):
        return (state[0] < max_iter) & ~state[5].all()

    # predict's history grows to `memory` entries in the first iterations: those are unrolled
    # (each one a no-op once the solve has stopped), the others run in the loop
    history = (z0.new_zeros(batch, 0, z0.shape[1]),) * 2 if anderson else ()
    for _ in range(min(max_iter, memory - 1) if anderson else 0):
        go = going(state)
        new, history = iteration(state, history)
        state = tuple((go & b) | (~go & a) if a.dtype == torch.bool  # onnxruntime: no bool Where
                      else torch.where(go, b, a) for a, b in zip(state, new))
    if anderson and max_iter < memory:  # the unrolled iterations were all of them
        return state[2]

    def body(*carried):
        new, past = iteration(carried[:7], carried[7:])
        return new + tuple(h[:, 1:].contiguous() for h in past)

    # copies: a loop's carried tensors may not alias its inputs (plain iteration carries z0)
    carried = tuple(t.clone() for t in state + history)
    if not torch.compiler.is_compiling():  # eager: the same iterations in a Python loop
        while bool(going(carried)):
            carried = body(*carried)
        return carried[2]
    return torch.while_loop(lambda *c: going(c), body, carried)[2]


class EquilibriumRun(nn.Module):
    """A deep equilibrium :class:`~skunfold.core.UnfoldedModule` run as ``predict`` runs it.

    ``x -> readout`` of the fixed point of its tied layer, found by
    :func:`fixed_point_loop` with the module's :class:`~skunfold.core.FixedPoint`
    settings.

    Parameters
    ----------
    module : UnfoldedModule
        With ``fixed_point`` set; run in eval mode (pass a copy: it is not copied).
    """

    def __init__(self, module):
        super().__init__()
        self.module = module.eval()
        config = module.fixed_point
        self.settings = dict(tol=float(config.tol), max_iter=int(config.max_iter),
                             solver=config.solver, memory=int(config.memory),
                             lam=float(config.lam))

    def forward(self, x, side=None):
        module, side, rows = self.module, side or {}, x.shape[0]
        if math.prod(x.shape[1:]) <= PAD_MAX_ENTRIES:  # predict's padding of small batches
            x, side = _pad(x), {name: _pad(value) for name, value in side.items()}
        with evaluation_mode(module.problem):
            z0, f, state_of = packed_iteration(module, x, side)
            with no_grad():
                z = fixed_point_loop(f, z0, **self.settings)
            return module.readout(state_of(z))[:rows]


def _pad(t):
    """``t`` and ``MIN_BATCH_ROWS - 1`` copies of its last row.

    ``predict`` pads a chunk of fewer than ``MIN_BATCH_ROWS`` samples to that
    many with copies of its last row (other BLAS kernels, whose round-off the
    Anderson mixing would amplify, run on fewer rows); the copies converge
    with the last sample, so the stopping rule is unchanged. Padding every
    batch (the batch size is not known to the graph) leaves the results of
    a large batch as they are.
    """
    return torch.cat([t, t[-1:].expand(MIN_BATCH_ROWS - 1, *t.shape[1:])])
