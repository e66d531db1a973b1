"""DistributedADMM: classical D-ADMM over a graph, as an estimator (nothing learned).

A preset of :class:`~skunfold.core.UnfoldedEstimator` on the
:class:`~skunfold.distributed.DistributedLasso` problem; the data handling
and the inference API are in
:class:`~skunfold.distributed.base.DistributedMixin`.
"""

from ..core import Param, UnfoldedEstimator, set_init_parameters
from .base import DistributedMixin

__all__ = ["DistributedADMM"]


class DistributedADMM(DistributedMixin, UnfoldedEstimator):
    """Classical distributed ADMM (D-ADMM): one communication round per iteration.

    Agents on a connected graph each hold some rows of :math:`x = H s + e` and
    solve the global LASSO (or ridge) problem together, exchanging only
    their estimates with their neighbours, once per round. Each round an
    agent takes one proximal-gradient step on its augmented Lagrangian and
    updates its dual (linearised D-ADMM; see
    :class:`~skunfold.distributed.DistributedLasso` for the formulas). It
    converges to the centralised solution, slowly: hundreds of rounds.
    Nothing is learned; :class:`UnfoldedDADMM` learns the hyperparameters of
    a few rounds.

    ``X`` holds the measurements ``(n_samples, n_features)``: each row is
    one instance :math:`x = H s + e` with all :math:`m =` ``n_features`` measurements
    stacked; agent ``p`` holds the measurements ``agents == p`` and the
    matching rows of ``H`` (``dictionary[:, agents == p]``), and sees nothing
    else. ``y`` holds the unknowns ``s`` ``(n_samples, n_components)``.
    ``predict`` returns the consensus estimate (the mean of the agents'
    estimates, which agree at convergence), or every agent's estimate with
    ``return_agents=True``; ``score`` is the R² of the consensus estimate.

    Parameters
    ----------
    %(parameters)s

    Attributes
    ----------
    module_ : UnfoldedModule
    problem_ : DistributedLasso
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
        ``"layer"``, then one per hyperparameter).
    layer_hyperparameters_ : dict of str to ndarray of shape (n_layers, n_agents)
        The same, for every agent.
    paradigm_ : str
        ``"classical"``.
    n_features_in_ : int

    See Also
    --------
    UnfoldedDADMM : D-ADMM unfolded, with learned hyperparameters.
    rounds_to_target : Rounds and messages a model needs to reach an error.

    References
    ----------
    .. [1] J. F. C. Mota, J. M. F. Xavier, P. M. Q. Aguiar, M. Püschel, "D-ADMM:
       A communication-efficient distributed algorithm for separable
       optimization", IEEE Trans. Signal Process., 2013.

    Examples
    --------
    >>> from skunfold.datasets import make_distributed_lasso
    >>> from skunfold.distributed import DistributedADMM
    >>> X, S, D, G = make_distributed_lasso(n_samples=20, n_agents=5, n_measurements=20,
    ...                                     n_components=30, edge_probability=0.5,
    ...                                     random_state=0)
    >>> admm = DistributedADMM(G, D, n_layers=50, alpha=0.01).fit(X)
    >>> admm.predict(X).shape, admm.predict(X, return_agents=True).shape
    ((20, 30), (20, 5, 30))
    >>> admm.messages_per_round_ == int(G.sum())
    True
    """

    parameter_table = {
        "n_layers": Param(None, "int", """
        Communication rounds."""),
    }

    def __init__(self, graph=None, dictionary=None, *, agents=None, n_layers=100, alpha=0.1,
                 penalty="l1", schedule="gauss_seidel", shrinkage="soft_threshold", rho=1.0,
                 step=None, eta=None, device="auto", n_threads=None, verbose=0):
        set_init_parameters(self, locals())
