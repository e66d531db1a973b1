"""The unfolded torch module: K iteration modules whose forward returns every iterate."""

from abc import ABC, abstractmethod

import torch
from torch import nn

__all__ = ["UnfoldedModule"]


class UnfoldedModule(nn.Module, ABC):
    """Base class of every unfolded network in skunfold.

    An unfolded network is ``K`` iterations of a solver. Each iteration is a
    torch module mapping ``(state, x, k) -> state``; :meth:`forward` runs them
    in order and returns the *readout* of the state after every iteration, so
    losses on intermediate layers (the multi-iteration and sequential loss
    schedules) and ``staged_predict`` need no second pass.

    Subclasses implement :meth:`initial_state` (the solver's initialisation),
    :meth:`readout` (what one iterate exposes, e.g. the sparse code) and
    :meth:`objective` (the classical objective, used as the loss for
    unsupervised training). Optionally they override :meth:`supervised_loss`.

    Parameters
    ----------
    iterations : torch.nn.Module or sequence of torch.nn.Module
        One module per layer (untied weights) or a single module applied at
        every layer (tied weights).
    n_layers : int
        Number of layers ``K`` the network was built with.

    Attributes
    ----------
    tied : bool
        Whether a single iteration module is shared by every layer. A tied
        network can be run with any depth.
    """

    def __init__(self, iterations, n_layers):
        super().__init__()
        if isinstance(iterations, nn.Module) and not isinstance(iterations, nn.ModuleList):
            iterations = [iterations]
            self.tied = True
        else:
            iterations = list(iterations)
            self.tied = len(iterations) == 1 and n_layers != 1
            if not self.tied and len(iterations) != n_layers:
                raise ValueError(
                    f"got {len(iterations)} iteration modules for n_layers={n_layers}"
                )
        self.iterations = nn.ModuleList(iterations)
        self.n_layers = int(n_layers)

    # -- to be provided by the problem family -------------------------------------
    @abstractmethod
    def initial_state(self, x):
        """Return the solver state before the first iteration."""

    @abstractmethod
    def readout(self, state):
        """Return the estimate exposed by a state (a tensor of shape (batch, ...))."""

    @abstractmethod
    def objective(self, estimate, x):
        """Return the classical objective of ``estimate`` for observations ``x``.

        Must return one value per sample (shape ``(batch,)``); it is the loss of
        unsupervised training (the survey's eq. 16).
        """

    def supervised_loss(self, estimate, target):
        """Per-sample supervised loss (default: squared error summed over features)."""
        diff = (estimate - target).reshape(estimate.shape[0], -1)
        return (diff * diff).sum(dim=1)

    def step(self, k, state, x):
        """Apply layer ``k`` (0-based). Override to hand the iteration extra context."""
        return self.iteration(k)(state, x, k)

    # -- generic machinery --------------------------------------------------------
    @property
    def max_layers(self):
        """Deepest network this module can run (unbounded when weights are tied)."""
        return float("inf") if self.tied else len(self.iterations)

    def iteration(self, k):
        """The iteration module of layer ``k`` (0-based)."""
        return self.iterations[0] if self.tied else self.iterations[k]

    def layer_parameters(self, k):
        """Parameters owned by layer ``k`` alone (empty when weights are tied)."""
        if self.tied:
            return []
        return list(self.iterations[k].parameters())

    def check_depth(self, n_layers):
        n_layers = self.n_layers if n_layers is None else int(n_layers)
        if n_layers < 1:
            raise ValueError(f"n_layers must be >= 1, got {n_layers}")
        if n_layers > self.max_layers:
            raise ValueError(
                f"this network has {self.n_layers} untied layers and cannot be run "
                f"with n_layers={n_layers}; only fewer layers than it was trained "
                "with, or any number when the weights are tied"
            )
        return n_layers

    def forward(self, x, n_layers=None):
        """Run the first ``n_layers`` iterations and return every iterate.

        Parameters
        ----------
        x : torch.Tensor
            A batch of observations.
        n_layers : int, optional
            Depth to run (default: the depth the network was built with).

        Returns
        -------
        iterates : tuple of torch.Tensor
            ``readout(state_k)`` for ``k = 1, ..., n_layers``.
        """
        n_layers = self.check_depth(n_layers)
        state = self.initial_state(x)
        iterates = []
        for k in range(n_layers):
            state = self.step(k, state, x)
            iterates.append(self.readout(state))
        return tuple(iterates)

    @torch.no_grad()
    def iterate_no_grad(self, x, n_layers=None):
        """:meth:`forward` without autograd bookkeeping (for prediction)."""
        return self.forward(x, n_layers=n_layers)
