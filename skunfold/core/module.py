"""The unfolded network: K iteration modules over a problem, returning every iterate."""

import torch
from torch import nn

from .equilibrium import equilibrium_state
from .ops import complex_dtype
from .problem import apply_to_problem, check_problem, fixed_value, problem_tensors

__all__ = ["UnfoldedModule", "cast_module", "module_device", "module_dtype"]


class UnfoldedModule(nn.Module):
    """``K`` iterations of a problem's solver as one torch module.

    :meth:`forward` runs the layers in order and returns the problem's
    readout after every layer, so losses on intermediate layers (the
    multi-iteration and sequential loss schedules) and ``staged_predict``
    need no second pass. The problem travels with the module: moving or
    casting the module (``.to(device)``, :func:`cast_module`) moves and casts
    the problem's tensors too, and pickling the module pickles the problem.

    Parameters
    ----------
    problem : Problem
    iterations : Iteration or sequence of Iteration
        One module per layer (untied), or a single module applied at every
        layer (tied: the network then runs at any depth).
    n_layers : int
        Number of layers ``K`` the network was built with.
    initial : LearnedHyperparameters, optional
        Learned values of the problem's ``initial_hyperparameters`` (shared by
        the layers); ``None``: the problem's own values.

    Attributes
    ----------
    tied : bool
        Whether a single iteration module is shared by every layer.
    fixed_point : FixedPoint or None
        When set (tied modules only), a run at the full depth ``n_layers``
        computes the fixed point of the tied iteration instead (deep
        equilibrium mode, see :mod:`skunfold.core.equilibrium`); shallower
        runs are plain iterations.
    safeguard : Safeguard or None
        When set, runs in eval mode route every layer through it (learned
        updates kept only when they make progress on the classical map, see
        :mod:`skunfold.core.safeguard`), and the module runs at any depth.
    adversarial : Adversarial or None
        When set, training replaces every batch by its adversarial
        perturbation (see :mod:`skunfold.core.robust`).
    """

    def __init__(self, problem, iterations, n_layers, initial=None):
        super().__init__()
        self.problem = check_problem(problem)
        self.initial = initial
        if isinstance(iterations, nn.Module) and not isinstance(iterations, nn.ModuleList):
            iterations = [iterations]
            self.tied = True
        else:
            iterations = list(iterations)
            self.tied = len(iterations) == 1 and n_layers != 1
            if not self.tied and len(iterations) != n_layers:
                raise ValueError(f"got {len(iterations)} iteration modules for n_layers={n_layers}")
        self.iterations = nn.ModuleList(iterations)
        self.n_layers = int(n_layers)
        self.device = torch.device("cpu")
        self.dtype = torch.float32
        self.fixed_point = None
        self.safeguard = None
        self.adversarial = None
        apply_to_problem(self.problem, lambda t: t)  # numpy arrays -> tensors

    # -- the problem follows the module ------------------------------------------------
    def _apply(self, fn, *args, **kwargs):
        super()._apply(fn, *args, **kwargs)
        apply_to_problem(self.problem, fn)
        # where a move went, also for a module holding no tensor (a classical solver)
        self.device = fn(torch.empty(0)).device
        return self

    # -- depth and layers -----------------------------------------------------------------
    @property
    def max_layers(self):
        """Deepest network this module can run (unbounded when weights are tied)."""
        if self.tied or self.safeguard is not None:
            return float("inf")
        return len(self.iterations)

    def iteration(self, k):
        """The iteration module of layer ``k`` (0-based)."""
        return self.iterations[0] if self.tied else self.iterations[k]

    def layer_parameters(self, k):
        """Parameters owned by layer ``k`` alone.

        Empty when weights are tied. Parameters shared by several layers (a
        shared correction network) belong to none, nor do those of submodules
        marked ``shared_across_layers = True`` (e.g. LISTA's input matrix): the
        sequential schedule trains them at every stage.
        """
        if self.tied:
            return []
        shared = {id(p) for m in self.modules() if getattr(m, "shared_across_layers", False)
                  for p in m.parameters()}
        shared |= {id(p) for j, it in enumerate(self.iterations) if j != k
                   for p in it.parameters()}
        return [p for p in self.iterations[k].parameters() if id(p) not in shared]

    def check_depth(self, n_layers, allow_zero=False):
        """Validate a depth to run (``None``: the built depth)."""
        n_layers = self.n_layers if n_layers is None else int(n_layers)
        if n_layers < (0 if allow_zero else 1):
            raise ValueError(f"n_layers must be >= {0 if allow_zero else 1}, got {n_layers}")
        if n_layers > self.max_layers:
            raise ValueError(
                f"this network has {self.n_layers} untied layers and cannot be run with "
                f"n_layers={n_layers}; only fewer layers than it was trained with, or any "
                "number when the weights are tied (classical solvers included)")
        return n_layers

    # -- running ------------------------------------------------------------------------
    def initial_state(self, x, side=None):
        """The problem's initial state for a batch."""
        if self.initial is not None:
            params = self.initial(self.problem)
        else:
            params = {name: fixed_value(v)
                      for name, v in self.problem.initial_hyperparameters.items()}
        return self.problem.initial_state(x, **params, **(side or {}))

    def step(self, k, state, x, side=None):
        """Apply layer ``k`` (0-based) to a state."""
        return self.iteration(k)(self.problem, k, state, x, side or {})

    def start_safeguard(self, x, side, state):
        """The :class:`~skunfold.core.SafeguardedRun` of a batch; ``None`` if off or training."""
        guard = self.safeguard
        return None if guard is None or self.training else guard.start(self, x, side or {}, state)

    def readout(self, state):
        """The estimate of a state."""
        return self.problem.readout(state)

    def final_state(self, x, n_layers, side=None):
        """The state after ``n_layers`` layers, or at the fixed point in deep equilibrium mode."""
        side = side or {}
        if self.fixed_point is not None and n_layers == self.n_layers:
            return equilibrium_state(self, x, side, self.fixed_point)
        state = self.initial_state(x, side)
        run = self.start_safeguard(x, side, state)
        for k in range(n_layers):
            state = self.step(k, state, x, side) if run is None else run.step(k, state)
        return state

    def forward(self, x, n_layers=None, side=None, needed=None):
        """Run the first ``n_layers`` layers and return every iterate.

        Parameters
        ----------
        x : torch.Tensor
            A batch of observations.
        n_layers : int, optional
            Depth to run (default: the built depth).
        side : dict of str to torch.Tensor, optional
            Per-sample side information.
        needed : collection of int, optional
            Layers (0-based) whose readout is wanted; the others are returned
            as ``None`` (their readout is not computed). Default: all.

        Returns
        -------
        iterates : tuple
            ``readout(state_k)`` for ``k = 1, ..., n_layers``.
        """
        n_layers = self.check_depth(n_layers)
        side = side or {}
        if self.fixed_point is not None and n_layers == self.n_layers:
            final = self.readout(equilibrium_state(self, x, side, self.fixed_point))
            return (None,) * (n_layers - 1) + (final,)
        state = self.initial_state(x, side)
        run = self.start_safeguard(x, side, state)
        iterates = []
        for k in range(n_layers):
            state = self.step(k, state, x, side) if run is None else run.step(k, state)
            iterates.append(self.readout(state) if needed is None or k in needed else None)
        return tuple(iterates)

    def objective(self, estimate, x, side=None):
        """The problem's objective of each sample (shape ``(batch,)``)."""
        return self.problem.objective(estimate, x, **(side or {}))


#: The complex dtype of the half precisions: complex64 (bfloat16 has no complex dtype, torch's
#: complex32 is experimental and most operators lack it).
_LOW_PRECISION_COMPLEX = {torch.float16: torch.complex64, torch.bfloat16: torch.complex64}


def cast_module(module, dtype):
    """Cast a module's floating parameters and buffers (and its problem's tensors) to ``dtype``.

    Complex tensors take the complex dtype of the same precision (complex64
    for float16 and bfloat16); integer tensors are left alone. Returns the
    module.
    """
    cdtype = _LOW_PRECISION_COMPLEX.get(dtype) or complex_dtype(dtype)

    def convert(t):
        if t.is_complex():
            return t.to(cdtype)
        if t.is_floating_point():
            return t.to(dtype)
        return t

    module._apply(convert)
    if isinstance(module, UnfoldedModule):
        module.dtype = dtype
    return module


def _tensors(module, held=True):
    if held:
        yield from module.parameters()
        yield from module.buffers()
    problem = getattr(module, "problem", None)
    if problem is not None:
        for container, key in problem_tensors(problem):
            if torch.is_tensor(container[key]):
                yield container[key]


def _first_device(module, kind):
    """The device of the first tensor in the ``kind`` dicts of ``module``'s tree, in pre-order.

    The order of ``module.parameters()`` (or ``buffers()``), found without
    walking the whole tree: predict asks once per call.
    """
    for t in getattr(module, kind).values():
        if t is not None:
            return t.device
    for child in module._modules.values():
        if child is not None:
            device = _first_device(child, kind)
            if device is not None:
                return device
    return None


def module_device(module):
    """The device of a module: of its parameters, buffers or problem tensors.

    A module holding no tensor (a classical solver) reports where it was last
    moved, or the CPU when that device is not available (a model pickled on
    a GPU machine and loaded on a CPU-only one).
    """
    for kind in ("_parameters", "_buffers"):  # the first of ``parameters()``, ``buffers()``
        device = _first_device(module, kind)
        if device is not None:
            return device
    for t in _tensors(module, held=False):
        return t.device
    device = module.device
    if device.type == "cuda" and not torch.cuda.is_available():
        return torch.device("cpu")
    return device


def module_dtype(module):
    """The real floating dtype a module computes in (float32 when it holds no float tensor)."""
    if isinstance(module, UnfoldedModule):
        return module.dtype
    for t in _tensors(module):
        if t.is_complex():
            return torch.float64 if t.dtype == torch.complex128 else torch.float32
        if t.is_floating_point():
            return t.dtype
    return torch.float32
