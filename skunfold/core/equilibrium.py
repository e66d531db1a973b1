r"""Deep equilibrium mode: a tied iteration run to its fixed point, differentiated implicitly.

A model whose layers share one set of parameters (a *tied* iteration :math:`f`)
can be run until its state stops changing instead of for ``K`` layers: the
fixed point :math:`z^* = f(z^*, x)`. Training then needs no graph through the
iterations (Bai, Kolter & Koltun 2019; Gilton, Ongie & Willett 2021):

* **forward**: iterate :math:`z \leftarrow f(z)` without autograd (plain iteration or
  Anderson acceleration) until each sample's relative residual
  :math:`\|f(z) - z\| / \|f(z)\|` is below ``tol`` or ``max_iter`` iterations are
  done; each sample keeps its lowest-residual iterate;
* **backward**: one call :math:`z = f(z^*)` with autograd, whose incoming gradient
  :math:`u` is replaced by the solution of :math:`g = J^\top g + u` (:math:`J` the Jacobian
  of :math:`f` at :math:`z^*`: the implicit function theorem), found by a second
  fixed-point iteration of vector-Jacobian products; or, with
  ``backward="jacobian_free"``, left as :math:`g = u` (Fung et al. 2022).

Memory is that of one layer, whatever the number of iterations.

The state of a problem may be a tensor or a tuple of tensors; the entries
that the step passes through unchanged (constants computed once in
``initial_state``, e.g. gains of a channel) are not part of ``z``.
"""

import math
import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning

from .constraints import caller_stacklevel, integer, options, real
from .options import OptionGroup

__all__ = ["FixedPoint", "fixed_point_iteration", "equilibrium_state", "packed_iteration",
           "warn_not_converged"]



class FixedPoint(OptionGroup):
    r"""Deep equilibrium mode (``fixed_point=FixedPoint(...)``): its settings and diagnostics.

    Parameters
    ----------
    tol : float, default=1e-4
        Relative residual :math:`\|f(z) - z\| / \|f(z)\|` at which a sample's
        forward (and backward) solve stops.
    max_iter : int, default=100
        Most iterations of each solve; samples that do not reach ``tol`` are
        named in a ``ConvergenceWarning``.
    solver : {"anderson", "picard"}, default="anderson"
        Anderson acceleration (``memory`` past iterates, regularisation
        ``lam``) or plain iteration. Anderson's solve of a sample restarts
        from a plain step of its best iterate, its history forgotten, where
        an extrapolation blows up or ``2 * memory`` iterations in a row bring no
        new best residual.
    backward : {"implicit", "jacobian_free"}, default="implicit"
        The exact implicit gradient (a second fixed-point solve of
        vector-Jacobian products) or the Jacobian-free approximation (the
        gradient of the last iteration only).
    memory : int, default=5
    lam : float, default=1e-4

    Attributes
    ----------
    last_forward : dict
        ``{"n_iter", "residual"}`` per sample of the last forward solve
        (numpy arrays), on the copy a fitted model holds.
    backward_log : list of (int, float)
        Iterations and largest relative residual of every backward solve since
        the list was last cleared.

    Examples
    --------
    >>> from skunfold.core import FixedPoint
    >>> FixedPoint(tol=1e-5, solver="picard")
    FixedPoint(tol=1e-05, solver='picard')
    """

    _constraints = {
        "tol": real(0, strict_min=True),
        "max_iter": integer(1),
        "solver": options("anderson", "picard"),
        "backward": options("implicit", "jacobian_free"),
        "memory": integer(0),
        "lam": real(0),
    }

    def __init__(self, tol=1e-4, max_iter=100, solver="anderson", backward="implicit",
                 memory=5, lam=1e-4):
        self.tol = tol
        self.max_iter = max_iter
        self.solver = solver
        self.backward = backward
        self.memory = memory
        self.lam = lam
        self.last_forward = None
        self.backward_log = []

    def __getstate__(self):
        state = dict(self.__dict__)
        state["last_forward"], state["backward_log"] = None, []
        return state


def _norms(t):
    return torch.linalg.vector_norm(t, dim=1)


def fixed_point_iteration(f, z0, tol=1e-4, max_iter=100, solver="anderson", memory=5,
                          lam=1e-4):
    r"""Solve :math:`z = f(z)` per sample of a batch ``z`` of shape ``(batch, n)``.

    Parameters
    ----------
    f : callable
        Batched map ``(batch, n) -> (batch, n)``, applied row-wise.
    z0 : torch.Tensor of shape (batch, n)
        Starting point (real).
    tol, max_iter, solver, memory, lam
        See :class:`FixedPoint`.

    Returns
    -------
    z : torch.Tensor of shape (batch, n)
        Each sample's iterate of lowest residual :math:`\|f(z) - z\|`.
    n_iter : torch.Tensor of shape (batch,)
        Iterations each sample needed to reach ``tol`` (``max_iter`` when it
        did not).
    residual : torch.Tensor of shape (batch,)
        The relative residual of the returned iterate.

    Examples
    --------
    >>> import torch
    >>> from skunfold.core import fixed_point_iteration
    >>> z, n_iter, res = fixed_point_iteration(torch.cos, torch.zeros(2, 1), tol=1e-8)
    >>> round(float(z[0, 0]), 6), bool((res < 1e-8).all())
    (0.739085, True)
    """
    batch = z0.shape[0]
    best = z0.clone()
    best_res = torch.full((batch,), float("inf"), dtype=z0.real.dtype, device=z0.device)
    n_iter = torch.full((batch,), max_iter, dtype=torch.long, device=z0.device)
    done = torch.zeros(batch, dtype=torch.bool, device=z0.device)
    z = z0
    xs, fs = [], []  # Anderson's history of iterates and their images
    best_f = z0
    best_gap = best_res.clone()
    stall = torch.zeros(batch, dtype=torch.long, device=z0.device)  # iterations since a best
    for k in range(max_iter):
        fz = f(z)
        gap = _norms(fz - z)
        gap = torch.where(torch.isfinite(gap), gap, torch.full_like(gap, float("inf")))
        res = gap / (_norms(fz) + 1e-30)
        # the best iterate has the smallest absolute residual: a relative one can be small
        # far away (an extrapolation that grew the iterate), an absolute one cannot
        better = gap < best_gap
        best = torch.where(better[:, None], z, best)
        best_f = torch.where(better[:, None], fz, best_f)
        best_gap = torch.where(better, gap, best_gap)
        best_res = torch.where(better, res, best_res)
        stall = torch.where(better, 0, stall + 1)
        newly = (res < tol) & ~done
        n_iter = torch.where(newly, torch.full_like(n_iter, k + 1), n_iter)
        done = done | newly
        if bool(done.all()):
            break
        if solver == "picard" or memory < 1:
            z = fz
            continue
        xs.append(z)
        fs.append(fz)
        if len(xs) > memory:
            xs.pop(0)
            fs.pop(0)
        z = _anderson_step(xs, fs, lam)
        restart = _restarts(gap, best_gap, stall, z, memory)
        if bool(restart.any()):  # rare: most iterations skip these copies
            z = torch.where(restart[:, None], best_f, z)
            xs = [torch.where(restart[:, None], best, h) for h in xs]
            fs = [torch.where(restart[:, None], best_f, h) for h in fs]
            stall = torch.where(restart, 0, stall)
    return best, n_iter, best_res


def _restarts(gap, best_gap, stall, z, memory):
    """The samples whose Anderson solve restarts from a plain step of their best iterate.

    Where the residual blew up (an extrapolation far in a wrong direction), the
    extrapolation is not finite, or ``2 * memory`` iterations in a row have not
    improved on the best residual (Anderson mixing can stagnate on a
    non-smooth map, e.g. a prox computed by a fixed number of inner steps,
    where plain iteration converges). A restart also forgets the history: its
    entries all become the best iterate and its image, so the next mixings
    use only what follows.
    """
    return ((gap > 10.0 * best_gap) | ~torch.isfinite(z).all(dim=1)
            | (stall >= 2 * memory))


def _anderson_step(xs, fs, lam):
    """The Anderson-mixed iterate from the histories (lists of (batch, n) tensors)."""
    if len(xs) == 1:
        return fs[0]
    F = torch.stack(fs, dim=1)                  # (batch, m, n)
    G = F - torch.stack(xs, dim=1)              # residuals
    m = G.shape[1]
    # min ||sum_i a_i G_i|| subject to sum_i a_i = 1 (Walker & Ni), regularised
    H = G @ G.transpose(1, 2)
    scale = torch.diagonal(H, dim1=1, dim2=2).mean(dim=1).clamp_min(1e-30)
    H = H + lam * scale[:, None, None] * torch.eye(m, dtype=H.dtype, device=H.device)
    ones = torch.ones(G.shape[0], m, 1, dtype=H.dtype, device=H.device)
    try:
        a = torch.linalg.solve(H, ones)
    except RuntimeError:                        # a singular system: plain iteration
        return fs[-1]
    a = a / a.sum(dim=1, keepdim=True)
    return (a.transpose(1, 2) @ F).squeeze(1)


# -- states as flat tensors ------------------------------------------------------------------
def _dynamic(state, new_state):
    """Indices of the tuple entries that the step changes (the others are constants)."""
    return [i for i, (a, b) in enumerate(zip(state, new_state)) if b is not a]


def _pack(parts):
    flat = [torch.view_as_real(p).reshape(p.shape[0], -1) if p.is_complex()
            else p.reshape(p.shape[0], -1) for p in parts]
    return torch.cat(flat, dim=1) if len(flat) > 1 else flat[0]


def _unpack(z, like):
    out, start = [], 0
    for p in like:
        shape = (*p.shape, 2) if p.is_complex() else p.shape
        size = math.prod(shape[1:])  # math: traceable (np.prod is not)
        piece = z[:, start:start + size].reshape(shape)
        out.append(torch.view_as_complex(piece.contiguous()) if p.is_complex() else piece)
        start += size
    return out


def packed_iteration(module, x, side):
    """The tied iteration of ``module`` on a batch, on flat real states ``(batch, n)``.

    Returns
    -------
    z0 : torch.Tensor
        The changing part of the state after one step from the initial
        state, flattened (complex entries as real pairs), without autograd.
    f : callable
        One step on flat states, ``(batch, n) -> (batch, n)``.
    state_of : callable
        The problem's state (a tensor or a tuple, like ``initial_state``'s)
        of a flat state.
    """
    state0 = module.initial_state(x, side)
    is_tuple = isinstance(state0, tuple)

    def step(state):
        return module.step(0, state, x, side)

    with torch.no_grad():
        first = step(state0)
    if is_tuple:
        dynamic = _dynamic(state0, first)
        like = [first[i] for i in dynamic]
    else:
        dynamic, like = None, [first]

    def assemble(parts):
        if not is_tuple:
            return parts[0]
        full = list(state0)
        for i, p in zip(dynamic, parts):
            full[i] = p
        return tuple(full)

    def split(state):
        return [state[i] for i in dynamic] if is_tuple else [state]

    def f(z):
        return _pack(split(step(assemble(_unpack(z, like)))))

    with torch.no_grad():
        z0 = _pack(split(first)).detach()
    return z0, f, lambda z: assemble(_unpack(z, like))


def equilibrium_state(module, x, side, config):
    """The state at the fixed point of ``module``'s tied iteration, for a batch.

    With autograd enabled, the returned state carries the gradient of the
    fixed point (implicit or Jacobian-free, as ``config.backward`` says);
    the forward diagnostics are stored in ``config.last_forward``.

    Parameters
    ----------
    module : UnfoldedModule
        A module with tied weights.
    x : torch.Tensor
    side : dict
    config : FixedPoint

    Returns
    -------
    state
        The problem's state (a tensor or a tuple, like ``initial_state``'s).
    """
    z0, f, state_of = packed_iteration(module, x, side)
    with torch.no_grad():
        z_star, n_iter, residual = fixed_point_iteration(
            f, z0, config.tol, config.max_iter, config.solver, config.memory, config.lam)
    config.last_forward = {"n_iter": n_iter.cpu().numpy(), "residual": residual.cpu().numpy()}
    if not torch.is_grad_enabled():
        return state_of(z_star)
    if config.backward != "implicit":
        return state_of(f(z_star))  # Jacobian-free: the last call's gradient
    # one call with autograd, whose graph serves both the backward solve (vector-Jacobian
    # products with respect to its input z_in) and the gradients of x and the parameters
    z_in = z_star.requires_grad_()
    z = f(z_in)
    if z.requires_grad:
        inside = []

        def implicit(grad):
            if inside:                               # the solve's own products pass through
                return grad

            def vjp(g):
                inside.append(True)
                try:
                    return torch.autograd.grad(z, z_in, g, retain_graph=True)[0] + grad
                finally:
                    inside.pop()

            g, b_iter, b_res = fixed_point_iteration(
                vjp, grad, config.tol, config.max_iter, config.solver, config.memory,
                config.lam)
            config.backward_log.append((int(b_iter.max()), float(b_res.max())))
            return g

        z.register_hook(implicit)
    return state_of(z)


def warn_not_converged(residual, tol, what="samples"):
    """A :class:`~sklearn.exceptions.ConvergenceWarning` naming the entries above ``tol``."""
    bad = np.flatnonzero(~(residual < tol))
    if len(bad):
        shown = ", ".join(str(i) for i in bad[:10]) + (", ..." if len(bad) > 10 else "")
        warnings.warn(
            f"the fixed-point iteration did not reach tol={tol:g} for {len(bad)} of "
            f"{len(residual)} {what} ({shown}; largest relative residual "
            f"{float(np.nanmax(residual[bad])):.3g}); raise the FixedPoint's "
            "max_iter or tol",
            ConvergenceWarning, stacklevel=caller_stacklevel())
