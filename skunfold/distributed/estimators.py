"""UnfoldedDADMM: D-ADMM unfolded, with learned per-round (and per-agent) hyperparameters.

A preset of :class:`~skunfold.core.UnfoldedEstimator` on the
:class:`~skunfold.distributed.DistributedLasso` problem (DUDADMM, Noah &
Shlezinger 2025). The classical solver is
:class:`~skunfold.distributed.DistributedADMM`
(:mod:`skunfold.distributed.classical`); the data handling and the inference
API of both are in :class:`~skunfold.distributed.base.DistributedMixin`.
"""

from ..core import Param, UnfoldedEstimator, constraints, set_init_parameters
from .base import DistributedMixin

__all__ = ["UnfoldedDADMM"]


def _check_sharing(value, name):
    return constraints.options("agent", "shared")(value, name)


class UnfoldedDADMM(DistributedMixin, UnfoldedEstimator):
    """D-ADMM unfolded: ``n_layers`` rounds with learned hyperparameters (DUDADMM).

    Each layer is one round of :class:`DistributedADMM` whose penalty
    ``rho``, primal step ``step`` (the paper's alpha), l1 weight ``tau`` and
    dual step ``eta`` are learned, per round and per agent
    (``hyperparameter_sharing="agent"``, the paper's agent-specific model)
    or per round and shared by the agents (``"shared"``: it runs on any
    graph, of any size). With a fixed small number of rounds, every round
    is a communication round saved (Noah & Shlezinger 2025). Trained
    supervised on the mean squared error of every agent's estimate
    (``fit(X, S)``) or unsupervised on the objective (``fit(X)``: the mean
    over the agents of the global objective at their estimates); the
    authors' incremental layer-wise training is
    ``loss_schedule="sequential"``.

    Supported paradigms: ``"hyperparameters"`` and ``"classical"`` (nothing
    learned: :class:`DistributedADMM`). The others would learn networks
    or operators that the agents cannot compute locally; they are refused.
    An untrained model (``max_epochs=0``) is the classical solver.
    Samples whose targets are entirely NaN are unlabeled: they count with
    the objective, weighted by the loss schedule's ``unsupervised_weight``
    (e.g. ``loss_schedule=EndToEnd(unsupervised_weight=0.5)``).

    ``X`` holds the measurements ``(n_samples, n_features)``, every
    agent's rows stacked, and ``y`` the unknowns ``s`` ``(n_samples,
    n_components)``, as for :class:`DistributedADMM`. ``predict`` returns the
    consensus estimate (the mean of the agents' estimates), or every agent's
    estimate with ``return_agents=True``; ``score`` is the R² of the
    consensus estimate.

    Parameters
    ----------
    %(parameters)s

    Attributes
    ----------
    module_ : UnfoldedModule
    problem_ : DistributedLasso
    net_ : UnfoldingNet or None
    history_ : skorch.History or None
    dictionary_ : ndarray of shape (n_components, n_features)
    n_components_ : int
    adjacency_ : ndarray of shape (n_agents, n_agents)
    agents_ : ndarray of shape (n_features,)
        The agent of every measurement.
    n_agents_ : int
    colours_ : list of ndarray
        The agents of each colour, in update order (one colour for Jacobi).
    messages_per_round_ : int
        Messages sent in one round, ``2 |E|``: every agent sends its
        estimate to every neighbour.
    layer_parameters_ : dict of str to ndarray
        ``rho``, ``step``, ``tau`` and ``eta`` of every round (column
        ``"layer"``, then one per hyperparameter; arrays of shape
        ``(n_layers, n_agents)`` when learned per agent).
    layer_hyperparameters_ : dict of str to ndarray of shape (n_layers, n_agents)
        The same, for every agent.
    paradigm_ : str
        The paradigm fitted (``"classical"`` when nothing was trained).
    n_features_in_ : int

    See Also
    --------
    DistributedADMM : The classical solver.
    export_agents : The per-agent programs of a fitted model.

    References
    ----------
    .. [1] Y. Noah, N. Shlezinger, "Distributed learn-to-optimize: limited
       communications optimization over networks via deep unfolded
       distributed ADMM", IEEE Trans. Mobile Comput., 2025.

    Examples
    --------
    >>> from skunfold.datasets import make_distributed_lasso
    >>> from skunfold.distributed import DistributedADMM, UnfoldedDADMM
    >>> X, S, D, G = make_distributed_lasso(n_samples=300, n_agents=5, n_measurements=20,
    ...                                     n_components=30, edge_probability=0.5,
    ...                                     snr_db=30, random_state=0)
    >>> model = UnfoldedDADMM(G, D, n_layers=5, alpha=0.01, max_epochs=10,
    ...                       random_state=0).fit(X[:200], S[:200])
    >>> classical = DistributedADMM(G, D, n_layers=5, alpha=0.01).fit(X[:200])
    >>> bool(model.score(X[200:], S[200:]) > classical.score(X[200:], S[200:]))
    True
    """

    supports = ("training", "unsupervised", "semi_supervised")
    paradigms = ("classical", "hyperparameters")
    default_lr = {None: 1e-2}
    parameter_table = {
        "n_layers": Param(None, "int", """
        Communication rounds ``K``."""),
        "paradigm": Param(None, '{"hyperparameters", "classical"}', """
        ``"hyperparameters"`` learns ``(rho, step, tau, eta)`` of every round;
        ``"classical"`` learns nothing (:class:`DistributedADMM`)."""),
        "hyperparameter_sharing": Param(_check_sharing, '{"agent", "shared"}', """
        Learn every hyperparameter per agent (``4 K P`` scalars), or once
        per round for all agents (``4 K``)."""),
        "lr": Param(None, doc="""
        Learning rate of the optimizer (``None``: 1e-2; the hyperparameters
        are learned through their logarithms)."""),
    }

    def __init__(self, graph=None, dictionary=None, *, agents=None, n_layers=10,
                 paradigm="hyperparameters", hyperparameter_sharing="agent", alpha=0.1,
                 penalty="l1", schedule="gauss_seidel", shrinkage="soft_threshold", rho=1.0,
                 step=None, eta=None, loss_schedule="end_to_end", max_epochs=20, lr=None,
                 batch_size=32, optimizer="adam", early_stopping=False, device="auto",
                 keep_best=True, n_threads=None, warm_start=False, random_state=None, verbose=0):
        set_init_parameters(self, locals())

    @property
    def _sharing(self):
        return "shared" if self.paradigm == "classical" else self.hyperparameter_sharing
