"""UWMMSE's layers: graph neural networks that correct the WMMSE weights.

A layer of the unfolded WMMSE (Chowdhury et al., 2021) computes WMMSE's
receivers ``u`` and MSE weights ``w``, corrects the weights affinely with
coefficients produced *per node* by two small graph neural networks (GNNs)
whose shift operator is the channel matrix, and updates the transmit
amplitudes with a learned ``mu``. The networks' weights are shared by the
nodes, so a layer is permutation equivariant (permuting the pairs of a
network permutes its powers) and runs on networks of any number of pairs.
"""

import math

import torch
from torch import nn

from ..core import Iteration, constraints

__all__ = ["GraphConvolutionPair", "UWMMSELayer", "power_layers"]


class GraphConvolutionPair(nn.Module):
    r"""Two graph convolutional networks of the same architecture, evaluated together.

    Each network maps node features ``X`` through layers
    :math:`X \leftarrow \phi(S X W_1 + \mathrm{diag}(S) X W_0 + b)` (ReLU between layers, no
    activation after the last one) to one output per node, with the shift
    operator ``S = x * inv_scale`` of a channel ``x``; the pair returns
    shape ``(batch, M, 2)`` (network 0, network 1). The networks have
    separate weights but share their input, so both are computed with one
    product by the shift operator per layer, on whichever side of the
    weights has fewer columns. The weights are shared by the nodes: the
    networks are permutation equivariant and apply to any number of nodes.

    The paper's layer has two biases, :math:`S X W_1 + b_1 + \mathrm{diag}(S) X W_0 + b_0`;
    only their sum matters, so one bias is learned (with hidden widths
    ``(5,)``: 26 parameters per network instead of 32). The last layer starts
    at zero: the untrained pair outputs zeros. The first layer's weights are
    stored as one matrix (rows :math:`S X`, :math:`\mathrm{diag}(S) X` and the bias; columns
    network 0, then 1), the others per network.

    Parameters
    ----------
    n_features : int
        Input features per node.
    hidden_layer_sizes : tuple of int
        Hidden widths of each network (the paper's ``(5,)``): a non-empty
        tuple of positive integers (else a ``ValueError`` naming
        ``hidden_layer_sizes``).

    Examples
    --------
    >>> import torch
    >>> from skunfold.power import GraphConvolutionPair
    >>> net = GraphConvolutionPair(1, (5,))
    >>> sum(p.numel() for p in net.parameters())  # 2 networks x 26 weights
    52
    >>> x = torch.rand(3, 4, 4)
    >>> net(x, torch.ones(3, 1), torch.rand(3, 4, 1)).shape
    torch.Size([3, 4, 2])
    """

    def __init__(self, n_features, hidden_layer_sizes):
        super().__init__()
        sizes = [constraints.check_int(n_features, "n_features", min_value=1),
                 *constraints.check_layer_sizes(hidden_layer_sizes, "hidden_layer_sizes"), 1]
        self.sizes = tuple(sizes)
        self.n_layers = len(sizes) - 1
        for i, (f_in, f_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            bound = 1.0 / math.sqrt(f_in)
            if i == 0:
                # the shared input: rows [S X, diag(S) X, bias], columns [net 0, net 1]
                weight = torch.empty(2 * f_in + 1, 2 * f_out).uniform_(-bound, bound)
            else:
                # per network, columns [W1, W0]; then the bias of [net 0, net 1]
                weight = torch.empty(2, f_in, 2 * f_out).uniform_(-bound, bound)
                bias = torch.empty(2, f_out).uniform_(-bound, bound)
                if i == self.n_layers - 1:
                    bias = torch.zeros_like(bias)
                self.register_parameter(f"bias{i}", nn.Parameter(bias))
            if i == self.n_layers - 1:
                weight = torch.zeros_like(weight)
            self.register_parameter(f"weight{i}", nn.Parameter(weight))

    def forward(self, x, inv_scale, features, diag=None):
        """Outputs ``(batch, M, 2)`` for shift operators ``x * inv_scale`` and node ``features``.

        Parameters
        ----------
        x : torch.Tensor of shape (batch, M, M)
            The channel.
        inv_scale : torch.Tensor of shape (batch, 1)
            The shift operator is ``S = x * inv_scale`` (see
            :func:`~skunfold.power.shift_scale`).
        features : torch.Tensor of shape (batch, M, n_features)
        diag : torch.Tensor of shape (batch, M), optional
            ``diag(x)``, when already at hand.
        """
        inv = inv_scale.unsqueeze(-1)                                  # (batch, 1, 1)
        if diag is None:
            diag = torch.diagonal(x, dim1=-2, dim2=-1)
        diag_s = diag.unsqueeze(-1) * inv                              # diag(S)
        # layer 0 filters its (narrow) input, then one product for both networks:
        # [S X, diag(S) X, 1] @ [W1; W0; b]
        z = features * inv
        # S X for one feature as X^T S^T: the row-vector product is the faster batched kernel
        filtered = (torch.bmm(z.transpose(1, 2), x.transpose(1, 2)).transpose(1, 2)
                    if z.shape[-1] == 1 else torch.bmm(x, z))
        y = torch.cat([filtered, diag_s * features, torch.ones_like(z[..., :1])], dim=-1)
        y = y @ self.weight0
        for i in range(1, self.n_layers):
            # layer i: one product for both networks, then filter its narrow outputs
            W, bias = getattr(self, f"weight{i}"), getattr(self, f"bias{i}")
            y = torch.relu_(y) @ torch.block_diag(W[0], W[1])   # in place: no output kept
            y = y.unflatten(-1, (2, 2, -1))                       # (batch, M, net, [W1, W0], f)
            y = torch.baddbmm(
                torch.addcmul(bias, diag_s.unsqueeze(-1), y[:, :, :, 1]).flatten(-2), x,
                (y[:, :, :, 0] * inv.unsqueeze(-1)).flatten(-2))
        return y


class UWMMSELayer(Iteration):
    r"""One UWMMSE layer: WMMSE with GNN-corrected weights and a learned ``mu``.

    ``u, w`` are WMMSE's receivers and MSE weights; the
    :class:`GraphConvolutionPair` reads the shift operator ``S`` (the
    channel divided by the geometric mean of its direct links, see
    :func:`~skunfold.power.shift_scale`) and the node feature :math:`\log w_i`
    (the link's current rate in nats) and outputs ``z_a, z_b`` per node; the
    weights become :math:`\hat w_i = a_i (w_i + \beta_i)` with
    :math:`a_i = 2 \sigma(z_{a,i})` in ``(0, 2)`` and :math:`\beta_i = \sigma(z_{b,i}) - 1/2`
    in :math:`(-1/2, 1/2)`, i.e. the paper's affine correction :math:`a w + b` with
    :math:`b = a \beta` (so that :math:`\hat w \ge a/2 > 0`, as :math:`w \ge 1`); then
    :math:`v_i = \Pi_{[0, \sqrt{p_{\max}}]}(x_{ii} u_i \hat w_i /
    (\sum_j x_{ij}^2 u_j^2 \hat w_j + \mu))`.
    The networks' last layers and ``mu`` start at zero, hence :math:`a = 1`,
    :math:`\beta = 0`, :math:`\mu = 0`: the untrained layer is exactly WMMSE's iteration.

    Of the problem's hyperparameters (what ``layer_parameters_`` of a fitted
    estimator lists, see :meth:`hyperparameter_values`) the layer has the
    learned ``mu``; its weight correction is per node (no single
    ``weight_offset``) and it does not relax (``relaxation`` 1/2, the step 1).

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(5,)
        Hidden widths of the two GNNs.

    Examples
    --------
    >>> import torch
    >>> from skunfold.power import PowerAllocation, UWMMSELayer
    >>> problem, layer = PowerAllocation(noise_var=0.01), UWMMSELayer((5,)).double()
    >>> x = torch.rand(2, 3, 3, dtype=torch.float64)
    >>> state = problem.initial_state(x)
    >>> classical = problem.step(state, x, **problem.hyperparameters)
    >>> bool(torch.equal(layer(problem, 0, state, x, {})[0], classical[0]))
    True
    """

    def __init__(self, hidden_layer_sizes=(5,)):
        super().__init__()
        self.gnn = GraphConvolutionPair(1, hidden_layer_sizes)
        self.mu = nn.Parameter(torch.zeros((), dtype=torch.float64))

    def corrected_weights(self, w, x, inv_scale, diag=None):
        r""":math:`\hat w = a (w + \beta)` from the GNNs' outputs on :math:`\log w`."""
        z = torch.sigmoid(self.gnn(x, inv_scale, torch.log(w).unsqueeze(-1), diag))
        return 2.0 * z[..., 0] * (w + (z[..., 1] - 0.5))

    def forward(self, problem, k, state, x, side):
        # the problem's state: (v, G_off, g, d, inv_scale), see PowerAllocation
        v, gains = state[0], state[1:]
        u, w = problem.receivers(v, x, gains)
        w_hat = self.corrected_weights(w, x, gains[3], gains[2])
        return (problem.transmitters(u, w_hat, x, gains, self.mu), *gains)

    def hyperparameter_values(self, problem, k):
        """``mu`` (learned), ``weight_offset`` NaN (corrected per node), ``relaxation`` 1/2.

        The names of :class:`~skunfold.power.PowerAllocation`'s hyperparameters,
        so that the models of every paradigm have the same columns in
        ``layer_parameters_``.
        """
        return {"mu": self.mu, "weight_offset": float("nan"), "relaxation": 0.5}


def power_layers(problem, paradigm, n_layers, tied=None, hidden_layer_sizes=(5,)):
    """UWMMSE's layers for ``paradigm="correction"``; ``None`` (the core's) for the others.

    What :meth:`PowerAllocation.make_layers <skunfold.power.PowerAllocation.make_layers>`
    returns: the classical and hyperparameters paradigms use the core's
    generic layers on the problem's step.

    Parameters
    ----------
    problem : PowerAllocation
    paradigm : str
    n_layers : int
    tied : bool or None, default=None
        ``True``: one :class:`UWMMSELayer` shared by every layer (the model
        runs at any depth); otherwise one per layer, as in the paper.
    hidden_layer_sizes : tuple of int, default=(5,)
        Hidden widths of the two GNNs of a layer.

    Returns
    -------
    list of UWMMSELayer, UWMMSELayer or None

    Examples
    --------
    >>> from skunfold.power import PowerAllocation, power_layers
    >>> layers = power_layers(PowerAllocation(), "correction", 4)
    >>> len(layers), sum(p.numel() for layer in layers for p in layer.parameters())
    (4, 212)
    >>> power_layers(PowerAllocation(), "hyperparameters", 4) is None
    True
    """
    if paradigm != "correction":
        return None
    if tied:
        return UWMMSELayer(hidden_layer_sizes)
    return [UWMMSELayer(hidden_layer_sizes) for _ in range(n_layers)]
