"""The MIMO family's own layers: DeepSIC's per-user networks and the learned soft IC.

The classical paradigm uses the core's generic layer on
:class:`~skunfold.mimo.MIMODetection` (its soft IC step); the layers here are

* ``"dnn"``: :class:`DeepSICIteration`, one :class:`UserNet` per user
  (DeepSIC), all users evaluated in one batched product;
* ``"correction"``: the core's :class:`~skunfold.core.CorrectionIteration`,
  soft IC plus per-user networks added to the log-likelihoods (zero at
  initialisation, so the untrained layer is soft IC);
* ``"hyperparameters"``: :class:`LearnedSoftICIteration`, soft IC with a
  learned per-user noise inflation and damping.
"""

from numbers import Integral

import torch
from torch import nn
from torch.nn import functional as F

from ..core import CorrectionIteration, HyperparameterIteration, Iteration, mlp

__all__ = [
    "UserNet",
    "UserNetworks",
    "DeepSICIteration",
    "LearnedSoftICIteration",
    "mimo_layers",
    "user_parameters",
    "parse_modules",
]

#: Logit of the damping a learned soft IC layer starts from (``0.95 sigmoid(-5) ~ 0.006``).
INITIAL_DAMPING_LOGIT = -5.0


class UserNet(nn.Module):
    """One user's network: ``[x, soft estimates of the other users] -> logits`` (an MLP)."""

    def __init__(self, n_inputs, hidden_layer_sizes, n_classes, zero_last=False):
        super().__init__()
        self.mlp = mlp([n_inputs, *hidden_layer_sizes, n_classes], zero_last=zero_last)

    def forward(self, z):
        return self.mlp(z)


class UserNetworks(nn.Module):
    """The networks of one layer, one :class:`UserNet` per user (``nets[u]``).

    User ``u``'s network sees ``x`` and the posteriors of the other users
    from the previous layer (``M - 1`` probabilities each, the first dropped
    since they sum to one) and outputs ``M`` logits for user ``u``'s symbol.
    ``forward(problem, state, x, side)`` returns the logits of every user,
    shape ``(batch, U, M)``.

    Parameters
    ----------
    n_features, n_users, n_classes : int
    hidden_layer_sizes : tuple of int
    zero_last : bool, default=False
        Start the last layer at zero (the correction paradigm: the untrained
        networks output zero).
    """

    def __init__(self, n_features, n_users, n_classes, hidden_layer_sizes, zero_last=False):
        super().__init__()
        n_in = n_features + (n_users - 1) * (n_classes - 1)
        self.nets = nn.ModuleList([UserNet(n_in, hidden_layer_sizes, n_classes, zero_last)
                                   for _ in range(n_users)])

    def forward(self, problem, state, x, side):
        B, U = x.shape[0], len(self.nets)
        p = state.exp()[..., 1:]                           # (B, U, M-1)
        others = p[:, problem.others].reshape(B, U, -1)    # (B, U, (U-1)(M-1))
        z = torch.cat([x.unsqueeze(0).expand(U, -1, -1), others.transpose(0, 1)], dim=-1)
        # all users' networks at once: their weights stacked into batched matmuls
        layers = [net.mlp for net in self.nets]
        n_linear = (len(layers[0]) + 1) // 2
        h = z
        for i in range(n_linear):
            W = torch.stack([mlp[2 * i].weight for mlp in layers])   # (U, out, in)
            b = torch.stack([mlp[2 * i].bias for mlp in layers])     # (U, out)
            h = torch.baddbmm(b.unsqueeze(1), h, W.transpose(1, 2))
            if i < n_linear - 1:
                h = torch.relu(h)
        return h.transpose(0, 1)                           # (B, U, M)


class DeepSICIteration(Iteration):
    """One DeepSIC iteration: the per-user networks' logits, normalised to log-posteriors."""

    def __init__(self, networks):
        super().__init__()
        self.networks = networks

    def forward(self, problem, k, state, x, side):
        return F.log_softmax(self.networks(problem, state, x, side), dim=-1)


class LearnedSoftICIteration(HyperparameterIteration):
    """Soft IC with this layer's learned noise inflation and damping (``"hyperparameters"``).

    The core's :class:`~skunfold.core.HyperparameterIteration`, except that
    the damping starts at ``0.95 sigmoid(-5) ~ 0.006`` rather than at the
    classical 0: the damping is learned through a logistic function, whose
    gradient vanishes at 0. The noise inflation starts at the classical 1.
    The learned values of a layer (``hyperparameter_values``, the base's) are
    the rows of a fitted estimator's ``layer_parameters_``.
    """

    def __init__(self, problem, k):
        super().__init__(problem, k)
        with torch.no_grad():
            self.hyperparameters.raw["damping"].fill_(INITIAL_DAMPING_LOGIT)


def mimo_layers(problem, paradigm, n_layers, hidden_layer_sizes):
    """The layers of the dnn, correction and hyperparameters paradigms (``None`` otherwise).

    Untied: every layer has its own parameters (DeepSIC's layers are trained
    one after the other).
    """
    U, M, n_features = problem.n_users, problem.n_classes, problem.n_features
    if paradigm == "dnn":
        return [DeepSICIteration(UserNetworks(n_features, U, M, hidden_layer_sizes))
                for _ in range(n_layers)]
    if paradigm == "correction":
        return [CorrectionIteration(UserNetworks(n_features, U, M, hidden_layer_sizes,
                                                 zero_last=True))
                for _ in range(n_layers)]
    if paradigm == "hyperparameters":
        return [LearnedSoftICIteration(problem, k) for k in range(n_layers)]
    return None


def user_parameters(module, k, u):
    """Parameters of user ``u``'s network in layer ``k`` (0-based) of a fitted MIMO module.

    For the per-user networks of the ``"dnn"`` and ``"correction"``
    paradigms, those of network ``u``; for other layers (whose parameters
    are not per user), all the layer's parameters.

    Parameters
    ----------
    module : UnfoldedModule
        E.g. ``DeepSICClassifier().fit(X, y).module_``.
    k, u : int

    Returns
    -------
    list of torch.nn.Parameter

    Examples
    --------
    >>> from skunfold.datasets import make_mimo
    >>> from skunfold.mimo import DeepSICClassifier, user_parameters
    >>> X, y, _ = make_mimo(n_samples=100, random_state=0)
    >>> det = DeepSICClassifier(n_layers=2, max_epochs=2, random_state=0).fit(X, y)
    >>> [tuple(p.shape) for p in user_parameters(det.module_, 1, 3)]
    [(64, 7), (64,), (2, 64), (2,)]
    """
    layer = module.iteration(k)
    nets = getattr(layer, "networks", None) or getattr(layer, "correction", None)
    if isinstance(nets, UserNetworks):
        return list(nets.nets[u].parameters())
    return list(layer.parameters())


def parse_modules(modules, n_layers, n_users):
    """``modules`` of ``partial_fit`` -> set of ``(layer, user)`` pairs, or ``None`` for all."""
    if modules is None:
        return None
    if isinstance(modules, Integral) and not isinstance(modules, bool):
        modules = [modules]
    try:
        items = list(modules)
    except TypeError:
        raise ValueError(f"modules must be None, a layer index, a list of layer indices or "
                         f"a list of (layer, user) pairs, got {modules!r}") from None
    if not items:
        raise ValueError("modules must name at least one layer or (layer, user) pair")
    out = set()
    for item in items:
        if isinstance(item, Integral) and not isinstance(item, bool):
            k, users = int(item), range(n_users)
        else:
            try:
                k, u = item
                k, u = int(k), int(u)
            except (TypeError, ValueError):
                raise ValueError(f"modules entries must be layer indices or (layer, user) "
                                 f"pairs, got {item!r}") from None
            if not 0 <= u < n_users:
                raise ValueError(f"modules names user {u}, but there are {n_users} users "
                                 f"(0-based indices)")
            users = [u]
        if not 0 <= k < n_layers:
            raise ValueError(f"modules names layer {k}, but the network has {n_layers} layers "
                             "(0-based indices)")
        out.update((k, u) for u in users)
    return out
