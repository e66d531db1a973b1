r"""Safeguarded inference: a learned update is kept only when it progresses on the classical map.

A learned solver is fast in distribution but carries no guarantee off it (a
perturbed operator, another noise level, an adversarial input). The
safeguard of Heaton, Chen, Wang & Yin ("Safeguarded Learned Convex
Optimization", AAAI 2023) restores the classical solver's convergence at a
small price: at layer ``k``, per sample,

* the learned update :math:`y = L_k(z_k)` is computed, and with it the residual
  :math:`r(y) = \|S_k(y)\|` of the classical fixed-point map :math:`T_k` (the
  problem's own ``step`` with its classical hyperparameters of layer ``k``):
  :math:`S_k(z) = \mathrm{readout}(z) - \mathrm{readout}(T_k(z))`; with
  ``residual="objective"``, :math:`r(y)` is the problem's objective at
  :math:`\mathrm{readout}(y)` instead;
* :math:`y` is accepted when :math:`r(y) < (1 - \delta) \mu_k` (:math:`\delta` is
  ``delta``), otherwise the classical update :math:`T_k(z_k)` is used for that sample;
* :math:`\mu_0 = r(z_0)` (the residual of the initial state), and on acceptance the
  reference is updated by ``rule``:

  ============== ===============================================
  rule           :math:`\mu_{k+1}` after an accepted update
  ============== ===============================================
  ``"ema"``      :math:`\theta\, r(y) + (1 - \theta) \mu_k` (moving average)
  ``"recent"``   :math:`r(y)` (the most recent accepted residual)
  ``"geometric"`` :math:`(1 - \delta) \mu_k`
  ============== ===============================================

  and is kept after a fallback.

Every accepted update lowers the residual below a reference that itself only
decreases, and every rejected one is a classical step, so when ``T`` is an
averaged operator (ISTA on a convex problem) the safeguarded iterates
converge to a fixed point of ``T`` -- the classical solution -- whatever the
learned layers do. Past the learned layers of an untied model the run
continues with classical updates (reported as fallbacks), so a safeguarded
model runs at any depth and converges to the classical solution.

The classical map ``T`` is, in this order: the ``reference`` problem given to
:class:`Safeguard`; the problem returned by the module's problem's
``safeguard_problem()`` method, when its family defines one (the public hook,
see :func:`guard_problem`); the module's problem itself (its ``step`` with its
classical hyperparameters: ISTA for LISTA, ALISTA's analytic iteration for
ALISTA, AMP for LAMP). A family defines the hook when its own iteration is not
a classical, convergent map (HyperLISTA: thresholds, momentum and support
selection computed from the iterate) or when its state carries more than the
classical iteration's (the guard map must take and return the module's states:
what ``T`` does not use, it passes on, so a fallback leaves a consistent state
for the next learned layer).

The safeguard can only keep the accuracy of the fixed point of ``T``: near
that fixed point, an update that gets closer to the ground truth but away from
the fixed point raises the residual and is rejected. Its classical
hyperparameters (e.g. the LASSO weight ``alpha`` of the sparse family) should
make that fixed point a good estimate.

The reference ``mu`` is carried by the run (:class:`SafeguardedRun`, one per
batch), outside the problem's state. The safeguard is an inference tool:
``fit`` trains the learned layers without it (its accept/reject choices are
not differentiable, and training must see the learned layers' own errors),
and :meth:`~skunfold.core.UnfoldedModule.forward` uses it only when the module
is in eval mode.
"""

import numpy as np
import torch

from .constraints import open_unit, options, real
from .options import OptionGroup
from .paradigms import classical_parameters
from .problem import Problem, converted_copy

__all__ = ["Safeguard", "SafeguardedRun", "guard_problem"]


def _check_reference(value, name):
    if value is not None and not isinstance(value, Problem):
        raise TypeError(f"{name} must be None or a skunfold.core.Problem, got "
                        f"{type(value).__name__}")
    return value


class Safeguard(OptionGroup):
    """Safeguarded inference (``safeguard=Safeguard(...)``): settings and report.

    See the module :mod:`skunfold.core.safeguard` for the rule. ``fit``
    trains without it; the fitted model's copy records the fallbacks.

    Parameters
    ----------
    delta : float, default=0.05
        Required relative decrease, in ``(0, 1)``.
    theta : float, default=0.5
        Weight of the new residual in the ``"ema"`` rule, in ``(0, 1]``.
    rule : {"ema", "recent", "geometric"}, default="ema"
    residual : {"fixed_point", "objective"}, default="fixed_point"
        ``"objective"`` needs a problem that minimises a non-negative objective.
    reference : Problem, optional
        The problem whose classical step is ``T`` and whose objective is the
        ``"objective"`` residual; ``None``: :func:`guard_problem` of the
        module's problem (its family's guard map, or the problem itself). It
        must take and return the module's states.

    Attributes
    ----------
    last_fallback : ndarray of shape (n_samples, n_layers) or None
        Per sample and layer, whether the classical update was used, for the
        samples of the last inference call (:func:`~skunfold.core.run_layers`).

    Examples
    --------
    >>> import numpy as np, torch
    >>> from skunfold.core import Problem, Safeguard, UnfoldedModule, ClassicalIteration
    >>> class Halving(Problem):
    ...     hyperparameters = {"step": 0.5}
    ...     def initial_state(self, x):
    ...         return torch.zeros_like(x)
    ...     def step(self, s, x, step):
    ...         return s + step * (x - s)
    ...     def objective(self, s, x):
    ...         return 0.5 * ((x - s) ** 2).sum(dim=1)
    >>> class Broken(ClassicalIteration):  # a "learned" layer that overshoots
    ...     def forward(self, problem, k, state, x, side):
    ...         return state + 5.0 * (x - state)
    >>> module = UnfoldedModule(Halving(), Broken(), n_layers=3).eval()
    >>> x = torch.ones(2, 1)
    >>> float(module(x, n_layers=10)[-1][0, 0])  # the broken model diverges: 1 - (-4)**10
    -1048575.0
    >>> module.safeguard = Safeguard(delta=0.1).validated("safeguard")
    >>> round(float(module(x, n_layers=200)[-1][0, 0]), 4)  # converges to the classical x
    1.0
    >>> module.safeguard.last_run.fallback_rate()[:4]
    array([1., 1., 1., 0.])
    """

    _constraints = {
        "delta": open_unit(),
        "theta": real(0, 1, strict_min=True),
        "rule": options("ema", "recent", "geometric"),
        "residual": options("fixed_point", "objective"),
        "reference": _check_reference,
    }

    def __init__(self, delta=0.05, theta=0.5, rule="ema", residual="fixed_point",
                 reference=None):
        self.delta = delta
        self.theta = theta
        self.rule = rule
        self.residual = residual
        self.reference = reference
        self.last_run = None
        self.last_fallback = None
        self._converted = {}

    def __getstate__(self):
        state = dict(self.__dict__)
        state["last_run"], state["last_fallback"], state["_converted"] = None, None, {}
        return state

    def reference_problem(self, module, like):
        """The reference problem with its tensors in the dtype and on the device of ``like``."""
        if self.reference is None:
            return guard_problem(module.problem)
        key = (like.dtype, like.device)
        if key not in self._converted:
            self._converted = {key: converted_copy(
                self.reference, lambda t: t.to(device=like.device,
                                               dtype=like.dtype if not t.is_complex() else t.dtype)
                if t.is_floating_point() or t.is_complex() else t.to(like.device))}
        return self._converted[key]

    def start(self, module, x, side, state):
        """A :class:`SafeguardedRun` of ``module`` on the batch ``x`` from ``state``."""
        run = SafeguardedRun(self, module, x, side, state)
        self.last_run = run
        return run


def guard_problem(problem):
    """The problem whose classical step guards a module on ``problem``: its ``safeguard_problem()``.

    The public hook of the families and of a user's solver is
    :meth:`Problem.safeguard_problem <skunfold.core.Problem.safeguard_problem>`;
    by default the problem guards itself (its own ``step`` with its classical
    hyperparameters).
    """
    return problem.safeguard_problem()


def _select(accept, y, fallback):
    """Per sample: ``y`` where ``accept``, ``fallback`` elsewhere (tensors or tuples of tensors)."""
    if isinstance(y, tuple):
        return tuple(_select(accept, a, b) for a, b in zip(y, fallback))
    if not torch.is_tensor(y) or y is fallback or y.ndim == 0 or y.shape[0] != accept.shape[0]:
        return y
    return torch.where(accept.view(-1, *([1] * (y.ndim - 1))), y, fallback)


def _norms(t):
    return torch.linalg.vector_norm(t.reshape(t.shape[0], -1), dim=1)


class SafeguardedRun:
    """The safeguard's state on one batch: the reference ``mu`` and the fallback record.

    Parameters
    ----------
    safeguard : Safeguard
    module : UnfoldedModule
    x : torch.Tensor
    side : dict
    state
        The initial state (``mu_0`` is its residual).

    Attributes
    ----------
    mu : torch.Tensor of shape (batch,)
    fallback : list of torch.Tensor of shape (batch,)
        Per layer run, whether each sample took the classical update.
    """

    def __init__(self, safeguard, module, x, side, state):
        self.safeguard, self.module, self.x, self.side = safeguard, module, x, side
        self.problem = safeguard.reference_problem(module, x if not x.is_complex() else x.real)
        if safeguard.residual == "objective" and self.problem.maximize:
            raise ValueError("Safeguard(residual='objective') needs a problem that minimises "
                             "its objective; use residual='fixed_point'")
        self.mu = self.residual(0, state)
        self.fallback = []

    def classical(self, k, state):
        """``T_k(state)``: the reference problem's step with its classical parameters of layer k."""
        return self.problem.step(state, self.x, **classical_parameters(self.problem, k),
                                 **self.side)

    def residual(self, k, state):
        r"""The residual :math:`r(z)` per sample (see :class:`Safeguard`)."""
        estimate = self.module.readout(state)
        if self.safeguard.residual == "objective":
            value = self.problem.objective(estimate, self.x, **self.side)
            return value.real if value.is_complex() else value
        return _norms(estimate - self.problem.readout(self.classical(k, state)))

    def step(self, k, state):
        """Layer ``k`` of the safeguarded run: the learned update where accepted, else ``T_k``."""
        guard = self.safeguard
        fallback = self.classical(k, state)
        if not self.module.tied and k >= len(self.module.iterations):
            self.fallback.append(torch.ones_like(self.mu, dtype=torch.bool))
            return fallback                             # past the learned layers: classical
        y = self.module.step(k, state, self.x, self.side)
        r = self.residual(k + 1, y)
        accept = torch.isfinite(r) & (r < (1.0 - guard.delta) * self.mu)
        if guard.rule == "ema":
            new_mu = guard.theta * r + (1.0 - guard.theta) * self.mu
        elif guard.rule == "recent":
            new_mu = r
        else:
            new_mu = (1.0 - guard.delta) * self.mu
        self.mu = torch.where(accept, new_mu, self.mu).detach()
        self.fallback.append(~accept)
        return _select(accept, y, fallback)

    def fallback_rate(self, rows=None):
        """Per layer, the fraction of the (first ``rows``) samples taking the classical update."""
        return np.array([float(f[:rows].double().mean()) for f in self.fallback])
