"""The layers of the unfolded D-ADMM: one communication round each, computable by the agents.

A layer must be something every agent can compute from its own data and
its neighbours' messages. The classical round (the core's
:class:`~skunfold.core.ClassicalIteration`) and :class:`DADMMRound` (the
round with learned ``rho, step, tau, eta``, scalars or one value per agent)
are; a network on the whole state (paradigms ``"correction"`` and
``"dnn"``) or a learned operator (``"objective"``) is not, and
:func:`distributed_layers` refuses them.
"""

from ..core import HyperparameterIteration

__all__ = ["DADMMRound", "distributed_layers", "LOCAL_PARADIGMS"]

#: The paradigms whose layers the agents compute locally.
LOCAL_PARADIGMS = ("classical", "hyperparameters")


class DADMMRound(HyperparameterIteration):
    """One D-ADMM round with the layer's learned hyperparameters.

    ``rho``, ``step``, ``tau`` and ``eta`` are learned through their
    logarithms, initialised at the problem's classical values: scalars
    (``sharing="shared"``) or arrays of one value per agent
    (``sharing="agent"``, in agent order), which :meth:`hyperparameter_values`
    reports (``layer_parameters_`` of the estimators).

    Parameters
    ----------
    problem : DistributedLasso
    k : int
        The round (0-based).

    Examples
    --------
    >>> import numpy as np, torch
    >>> from skunfold.distributed import DistributedLasso
    >>> from skunfold.distributed.iterations import DADMMRound
    >>> D = np.random.default_rng(0).normal(size=(6, 8)) / np.sqrt(8)
    >>> problem = DistributedLasso(D, [[0, 1], [1, 0]], alpha=0.01, sharing="agent")
    >>> layer = DADMMRound(problem, 0)
    >>> sorted(layer.hyperparameter_values(problem, 0))
    ['eta', 'rho', 'step', 'tau']
    >>> tuple(layer.hyperparameter_values(problem, 0)["rho"].shape)   # one per agent
    (2,)
    """

    def hyperparameter_values(self, problem, k):
        """The learned ``rho, step, tau, eta`` of the round (``tau``: the global weight)."""
        return self.hyperparameters(problem, k)


def distributed_layers(problem, paradigm, n_layers, tied=None):
    """The layers of ``paradigm``: :class:`DADMMRound` for ``"hyperparameters"``.

    ``None`` for ``"classical"`` (the core's classical iteration, any depth);
    a ``ValueError`` for the paradigms the agents cannot compute locally.

    Examples
    --------
    >>> import numpy as np
    >>> from skunfold.distributed import DistributedLasso
    >>> from skunfold.distributed.iterations import distributed_layers
    >>> problem = DistributedLasso(np.eye(4), [[0, 1], [1, 0]])
    >>> len(distributed_layers(problem, "hyperparameters", 3))
    3
    >>> distributed_layers(problem, "correction", 3)
    Traceback (most recent call last):
    ...
    ValueError: paradigm='correction' learns what the agents cannot compute locally ...
    """
    if paradigm not in LOCAL_PARADIGMS:
        raise ValueError(f"paradigm={paradigm!r} learns what the agents cannot compute locally "
                         f"(a network or an operator on the whole state); the distributed "
                         f"problem accepts {list(LOCAL_PARADIGMS)}")
    if paradigm == "classical":
        return None
    if tied:  # one round's hyperparameters shared by every round
        return DADMMRound(problem, 0)
    return [DADMMRound(problem, k) for k in range(n_layers)]
