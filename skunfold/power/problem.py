r"""Power allocation in an interference network as a :class:`~skunfold.core.Problem`: WMMSE.

``M`` single-antenna transmitter-receiver pairs share a band. A sample ``x``
is a channel matrix of *amplitude* gains, ``x[j, i]`` from transmitter ``j``
to receiver ``i`` (the layout of
:func:`~skunfold.datasets.make_interference_network`); the decision is the
transmit power :math:`p_i = v_i^2` of every transmitter, :math:`0 \le p_i \le p_{\max}`,
and the objective is the sum rate :math:`\sum_i \log_2(1 + \mathrm{SINR}_i)` with
:math:`\mathrm{SINR}_i = x_{ii}^2 p_i / (\sigma^2 + \sum_{j \ne i} x_{ji}^2 p_j)`,
maximised (:math:`\sigma^2` is ``noise_var``).

The scalar WMMSE algorithm of Shi, Razaviyayn, Luo and He (2011) solves it
by block-coordinate descent on an equivalent weighted mean-square-error
problem. From :math:`v = \sqrt{p_{\max}}`, one iteration computes the receivers
:math:`u`, the MSE weights :math:`w` and the amplitudes :math:`v`:

.. math::

    u_i &= \frac{x_{ii} v_i}{\sigma^2 + \sum_j x_{ji}^2 v_j^2} \\
    w_i &= \frac{1}{1 - u_i x_{ii} v_i} \\
    v_i &= \Pi_{[0, \sqrt{p_{\max}}]} \Bigl(\frac{x_{ii} u_i w_i}
                                            {\sum_j x_{ij}^2 u_j^2 w_j + \mu}\Bigr)

with :math:`\mu = 0` (the box projection :math:`\Pi` replaces the power multiplier).
"""

import math

import torch

from ..core import Problem
from .iterations import power_layers

__all__ = ["PowerAllocation", "DEFAULT_NOISE_VAR", "shift_scale"]

#: Noise power of the UWMMSE paper's setting, -91 dB (about 7.94e-10).
DEFAULT_NOISE_VAR = 10.0 ** -9.1


def shift_scale(d):
    r"""The scale of the channel's graph shift operator: the geometric mean of the direct links.

    UWMMSE's graph networks use :math:`S = x / \mathrm{scale}` as their shift operator,
    so that ``S`` has direct links of order one whatever the distances.
    ``scale`` is the geometric mean of the direct-link amplitudes :math:`d = \mathrm{diag}(x)`
    of each sample: a permutation-invariant statistic that does not depend
    on the number of pairs. Links weaker than 1e-6 times the strongest one
    count as that floor (a zero link does not make the scale zero); an
    all-zero diagonal has scale 1.

    Parameters
    ----------
    d : torch.Tensor of shape (batch, M)

    Returns
    -------
    torch.Tensor of shape (batch, 1)

    Examples
    --------
    >>> import torch
    >>> from skunfold.power import shift_scale
    >>> shift_scale(torch.tensor([[1.0, 4.0], [0.0, 0.0]]))
    tensor([[2.],
            [1.]])
    """
    top = d.amax(dim=-1, keepdim=True)
    scale = torch.exp(torch.log(torch.maximum(d, 1e-6 * top)).mean(dim=-1, keepdim=True))
    return torch.where(top > 0, scale, 1.0)


class PowerAllocation(Problem):
    r"""Sum-rate maximisation over transmit powers, solved by the scalar WMMSE algorithm.

    The state is ``(v, G_off, g, d, inv_scale)``: the transmit amplitudes
    ``v`` (shape ``(batch, M)``) and quantities of the batch computed once by
    :meth:`initial_state` and carried along so that no layer recomputes
    them: the gains (the power gains ``x**2`` with a zero diagonal, the
    direct power and amplitude gains; see :meth:`channel_gains`) and
    ``1 / shift_scale(d)``, the normalisation of the graph shift operator of
    UWMMSE's layers (see :func:`shift_scale`). The readout is the powers
    :math:`p = v^2` (at most ``p_max``, exactly ``p_max`` on saturated links).
    The objective is the sum rate (bit/s/Hz), maximised.

    One iteration (:meth:`step`) computes the receivers ``u`` and the MSE
    weights ``w`` (:meth:`receivers`), shifts the weights,
    :math:`\hat w = w + \beta`, and updates the amplitudes (:meth:`transmitters`)
    with a relaxation step :math:`\gamma`:

    .. math::

        \hat v_i &= \Pi_{[0, \sqrt{p_{\max}}]} \Bigl(\frac{x_{ii} u_i \hat w_i}
                    {\sum_j x_{ij}^2 u_j^2 \hat w_j + \mu}\Bigr) \\
        v &\leftarrow \Pi_{[0, \sqrt{p_{\max}}]} \bigl(\hat v + (\gamma - 1) (\hat v - v)\bigr)

    Its hyperparameters are ``mu`` (``"real"``, classical value 0),
    ``weight_offset`` :math:`= \beta + 1/2` (``"unit_interval"``, 1/2: :math:`\beta` stays
    in :math:`(-1/2, 1/2)`, so :math:`\hat w \ge 1/2` since :math:`w \ge 1`) and ``relaxation``
    ``r`` (``"unit_interval"``, 1/2), the step :math:`\gamma = R^{2 r - 1}` in
    :math:`(1/R, R)` with :math:`R =` ``MAX_RELAXATION`` = 10, from under- to
    over-relaxation (:meth:`relaxation_step`). At the classical values the
    iteration is exactly WMMSE's (every correction is an exact identity in
    floating point). A common scale of the weights is not a hyperparameter: it
    changes the update only through ``mu`` (:math:`a w` with :math:`\mu` is :math:`w` with
    :math:`\mu / a`).

    The MSE weight is computed as :math:`w_i = T_i / (\sigma^2 + I_i)` (total
    received power over noise plus interference), which equals
    :math:`1 / (1 - u_i x_{ii} v_i)` for the ``u`` of the same iteration but does
    not lose the digits that the difference :math:`1 - u x v` loses at high SINR.
    The problem computes in float64 (``dtype``): the paper's noise power,
    about 1e-9, is far below the signal powers.

    Parameters
    ----------
    p_max : float, default=1.0
        Power budget of every transmitter.
    noise_var : float, default=DEFAULT_NOISE_VAR
        Noise power at every receiver (-91 dB, about 7.94e-10, as in the
        UWMMSE paper).

    Examples
    --------
    >>> import torch
    >>> from skunfold.power import PowerAllocation
    >>> problem = PowerAllocation(p_max=1.0, noise_var=0.1)
    >>> x = torch.tensor([[[1.0, 0.1], [0.2, 1.0]]], dtype=torch.float64)
    >>> state = problem.initial_state(x)
    >>> for _ in range(20):
    ...     state = problem.step(state, x, **problem.hyperparameters)
    >>> problem.readout(state)
    tensor([[1., 1.]], dtype=torch.float64)
    >>> round(float(problem.objective(problem.readout(state), x)), 3)
    6.361
    """

    maximize = True
    dtype = torch.float64
    #: Largest relaxation step ``gamma`` of the hyperparameters paradigm (and ``1 / gamma``
    #: the smallest): larger steps make the update a sharp on-off switch whose training
    #: diverges slowly.
    MAX_RELAXATION = 10.0
    hyperparameter_constraints = {"mu": "real", "weight_offset": "unit_interval",
                                  "relaxation": "unit_interval"}

    def __init__(self, p_max=1.0, noise_var=DEFAULT_NOISE_VAR):
        self.p_max = float(p_max)
        self.v_max = math.sqrt(self.p_max)
        self.noise_var = float(noise_var)
        self.hyperparameters = {"mu": 0.0, "weight_offset": 0.5, "relaxation": 0.5}

    # -- pieces of one iteration ---------------------------------------------------------
    def receivers(self, v, x, gains):
        r"""Receivers ``u`` and MSE weights ``w`` of amplitudes ``v``.

        ``gains`` starts with ``(G_off, g, d)`` from :meth:`channel_gains`. Returns
        ``(u, w)``: :math:`u_i = x_{ii} v_i / T_i` and :math:`w_i = T_i / (\sigma^2 + I_i)`, with
        ``I_i`` the interference power at receiver ``i`` and ``T_i`` the total received power plus
        noise.
        """
        G_off, g, d = gains[:3]
        p = v * v
        noise_interference = self.noise_var + (p.unsqueeze(-2) @ G_off).squeeze(-2)
        total = noise_interference + g * p
        return d * v / total, total / noise_interference

    def transmitters(self, u, w_hat, x, gains, mu):
        r"""The amplitude update: the minimiser of the weighted MSE in the box.

        :math:`\Pi_{[0, v_{\max}]}\bigl(x_{ii} u_i w_i / (\sum_j x_{ij}^2 u_j^2 w_j + \mu)\bigr)`.
        Where the denominator is not positive (a learned ``mu < 0``), the
        weighted MSE decreases with ``v_i`` on the whole box: its minimiser
        is ``v_max``.
        """
        G_off, g, d = gains[:3]
        q = u * u * w_hat
        # G_off q as q^T G_off^T: the row-vector product is the faster batched kernel
        den = (q.unsqueeze(-2) @ G_off.transpose(-1, -2)).squeeze(-2) + g * q + mu
        positive = den > 0
        v = torch.clamp(d * u * w_hat / torch.where(positive, den, 1.0), 0.0, self.v_max)
        return torch.where(positive, v, self.v_max)

    def relax(self, v_hat, v, gamma):
        r"""The relaxed amplitudes :math:`\Pi_{[0, v_{\max}]}(\hat v + (\gamma - 1) (\hat v - v))`.

        ``v_hat`` itself when ``gamma`` is 1.
        """
        if not torch.is_tensor(gamma) and gamma == 1.0:
            return v_hat
        return torch.clamp(v_hat + (gamma - 1.0) * (v_hat - v), 0.0, self.v_max)

    @staticmethod
    def channel_gains(x):
        r"""``(G_off, g, d)``: power gains ``x**2`` with a zero diagonal, the direct links' gains.

        ``G_off`` has shape ``(batch, M, M)`` and an exactly zero diagonal;
        :math:`g = \mathrm{diag}(x)^2` and :math:`d = \mathrm{diag}(x)` are contiguous
        ``(batch, M)`` tensors (a strided diagonal view is several times slower to read).
        """
        d = torch.diagonal(x, dim1=-2, dim2=-1).contiguous()
        g = d * d
        # the diagonal zeroed by a mask, not in place through a view: exportable (ONNX)
        diagonal = torch.eye(x.shape[-1], dtype=torch.bool, device=x.device)
        G_off = torch.where(diagonal, 0.0, x * x)
        return G_off, g, d

    # -- the solver -------------------------------------------------------------------------
    def initial_state(self, x):
        r"""Full power :math:`v = \sqrt{p_{\max}}`, and the batch's gains and shift scale."""
        v = x.new_full(x.shape[:-1], self.v_max)
        G_off, g, d = self.channel_gains(x)
        return (v, G_off, g, d, 1.0 / shift_scale(d))

    def step(self, state, x, mu, weight_offset, relaxation):
        """One WMMSE iteration with the given (classical or learned) hyperparameters."""
        v, gains = state[0], state[1:]
        u, w = self.receivers(v, x, gains)
        w_hat = w + (weight_offset - 0.5)
        v_hat = self.transmitters(u, w_hat, x, gains, mu)
        return (self.relax(v_hat, v, self.relaxation_step(relaxation)), *gains)

    def relaxation_step(self, relaxation):
        r"""The relaxation step :math:`\gamma = R^{2 r - 1}`, exactly 1 at :math:`r = 1/2`.

        :math:`r` is ``relaxation`` and :math:`R` is ``MAX_RELAXATION``.
        """
        if not torch.is_tensor(relaxation):
            return self.MAX_RELAXATION ** (2.0 * relaxation - 1.0)
        return torch.exp((2.0 * relaxation - 1.0) * math.log(self.MAX_RELAXATION))

    def readout(self, state):
        r"""The powers :math:`p = v^2`, exactly ``p_max`` where :math:`v = \sqrt{p_{\max}}`."""
        v = state[0]
        return torch.where(v >= self.v_max, self.p_max, v * v)

    def objective(self, estimate, x):
        """Sum rate (bit/s/Hz) of each sample at powers ``estimate``."""
        G_off, g, _ = self.channel_gains(x)
        interference = (estimate.unsqueeze(-2) @ G_off).squeeze(-2)
        return torch.log2(1.0 + g * estimate / (self.noise_var + interference)).sum(dim=-1)

    def make_layers(self, paradigm, n_layers, *, tied, hidden_layer_sizes, sample):
        """UWMMSE's layers for ``"correction"`` (see :func:`~skunfold.power.power_layers`)."""
        return power_layers(self, paradigm, n_layers, tied=tied,
                            hidden_layer_sizes=hidden_layer_sizes)
