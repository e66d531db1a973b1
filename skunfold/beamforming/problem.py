r"""Wideband hybrid precoding as a :class:`~skunfold.core.Problem`: projected gradient ascent.

Shapes throughout: a batch of channels ``x`` has shape ``(batch, B, N, M)``
(``B`` frequency bands, ``N`` single-antenna users, ``M`` transmit antennas);
the analog precoder :math:`W_a` (shared by the bands) has shape ``(batch, M, L)``
and the digital precoders :math:`W_d` have shape ``(batch, B, L, N)`` (``L`` RF
chains). The effective precoder of band ``b`` is :math:`W_a W_{d,b}` (:math:`M \times N`).

The objective is the achievable rate in nats per band (natural logarithm,
unit noise variance), survey eq. (11):
:math:`R = \frac{1}{B} \sum_b \log\det(I_N + H_b W_a W_{d,b} W_{d,b}^H W_a^H H_b^H)`,
under the power constraint :math:`\sum_b \|W_a W_{d,b}\|_F^2 = N B`.

While a model is traced for export (ONNX has no complex arithmetic), complex
channels and precoders are carried as their real embeddings
(:mod:`skunfold.beamforming.linalg`): the iteration's products, conjugate
transposes and solves are then real ones, and give the same precoders.
"""

import math

import numpy as np
import torch

from ..core import Problem
from .iterations import beamforming_layers
from .linalg import (
    channel_covariance,
    dominant_eigenvectors,
    embed,
    embed_parts,
    hpd_solve,
    orthonormal_completion,
    parts,
    tracing,
)

__all__ = [
    "HybridPrecoding",
    "ANALOG_CONSTRAINTS",
    "sum_rate",
    "rate_gradients",
    "unit_modulus",
    "power_scale",
]

#: Values of ``analog_constraint``: the paper's phase shifters, or none (the reference code).
ANALOG_CONSTRAINTS = ("unit_modulus", None)


def _identity(n, like):
    return torch.eye(n, dtype=like.dtype, device=like.device)


def _band_rates(G):
    r""":math:`\log\det(I + G G^H)` of every :math:`N \times N` matrix ``G``."""
    return torch.linalg.slogdet(_identity(G.shape[-1], G) + G @ G.mH)[1]


def _stacked(x):
    """The bands' channels stacked, ``(batch, B N, M)``: one product with ``Wa`` for all bands."""
    return x.reshape(x.shape[0], -1, x.shape[-1])


def _through_analog(x, Wa):
    """``H_b Wa`` of every band, shape ``(batch, B, N, L)``, in one batched product."""
    return (_stacked(x) @ Wa).reshape(*x.shape[:-1], Wa.shape[-1])


def _solve_rate(G, embedded=False):
    r""":math:`(I + G G^H)^{-1} G` for every band (``embedded``: ``G`` a real embedding)."""
    return hpd_solve(_identity(G.shape[-1], G) + G @ G.mH, G, embedded)


def _analog_gradient(x, HWa, Wd, embedded=False):
    r"""The analog gradient :math:`\partial R / \partial W_a^*` (``HWa`` holds :math:`H_b W_a`).

    :math:`\frac{1}{B} \sum_b H_b^H (I + G_b G_b^H)^{-1} G_b W_{d,b}^H`.
    """
    C = _solve_rate(HWa @ Wd, embedded) @ Wd.mH
    return _stacked(x).mH @ C.reshape(C.shape[0], -1, C.shape[-1]) / x.shape[1]


def _digital_gradient(x, HWa, Wd, embedded=False):
    r"""The digital gradients :math:`\partial R / \partial W_{d,b}^*` of every band.

    :math:`\frac{1}{B} (H_b W_a)^H (I + G_b G_b^H)^{-1} G_b`.
    """
    return HWa.mH @ _solve_rate(HWa @ Wd, embedded) / x.shape[1]


def rate_gradients(x, Wa, Wd):
    r"""The rate's conjugate Wirtinger gradients, with respect to :math:`W_a` and :math:`W_{d,b}`.

    With :math:`G_b = H_b W_a W_{d,b}` and :math:`T_b = H_b^H (I + G_b G_b^H)^{-1} G_b`,
    :math:`\partial R / \partial W_a^* = \frac{1}{B} \sum_b T_b W_{d,b}^H` and
    :math:`\partial R / \partial W_{d,b}^* = \frac{1}{B} W_a^H T_b`.
    This is half the gradient :math:`\partial R / \partial \operatorname{Re} W +
    i\, \partial R / \partial \operatorname{Im} W` that
    :func:`torch.autograd.grad` returns for a complex ``W``, and for real
    channels and precoders half the ordinary gradient (the scaling of the
    reference code, so that step sizes mean the same there and here).

    Parameters
    ----------
    x : tensor of shape (batch, B, N, M)
        Channels.
    Wa : tensor of shape (batch, M, L)
    Wd : tensor of shape (batch, B, L, N)

    Returns
    -------
    grad_analog : tensor of shape (batch, M, L)
    grad_digital : tensor of shape (batch, B, L, N)

    Examples
    --------
    >>> import torch
    >>> from skunfold.beamforming import rate_gradients
    >>> x = torch.randn(2, 3, 2, 4, dtype=torch.complex128)
    >>> Wa = torch.randn(2, 4, 3, dtype=torch.complex128)
    >>> Wd = torch.randn(2, 3, 3, 2, dtype=torch.complex128)
    >>> ga, gd = rate_gradients(x, Wa, Wd)
    >>> ga.shape, gd.shape
    (torch.Size([2, 4, 3]), torch.Size([2, 3, 3, 2]))
    """
    HWa = _through_analog(x, Wa)
    return _analog_gradient(x, HWa, Wd), _digital_gradient(x, HWa, Wd)


def power_scale(Wa, Wd, budget):
    r"""The factor ``c`` (per sample) with :math:`\sum_b \|W_a (c W_{d,b})\|_F^2 =` ``budget``.

    Parameters
    ----------
    Wa : tensor of shape (batch, M, L)
    Wd : tensor of shape (batch, B, L, N)
    budget : float

    Returns
    -------
    scale : tensor of shape (batch,)

    Examples
    --------
    >>> import torch
    >>> from skunfold.beamforming import power_scale
    >>> Wa, Wd = torch.ones(1, 2, 1), torch.ones(1, 3, 1, 1)
    >>> power_scale(Wa, Wd, 24.0)
    tensor([2.])
    """
    n, B, L, N = Wd.shape
    P = Wa @ Wd.transpose(1, 2).reshape(n, L, B * N)   # [W_a W_d,1 | ... | W_a W_d,B]
    parts = torch.view_as_real(P) if P.is_complex() else P
    return torch.sqrt(budget / (parts * parts).reshape(n, -1).sum(1))


def _normalised(W):
    """``W`` divided by its largest entry (per sample): a rescaled update never overflows."""
    parts = torch.view_as_real(W) if W.is_complex() else W
    big = parts.abs().amax(dim=tuple(range(1, parts.ndim)), keepdim=True)
    if W.is_complex():
        big = big[..., 0]
    return W / torch.clamp(big, min=torch.finfo(big.dtype).tiny)


def unit_modulus(W, modulus=1.0):
    r"""Project ``W`` entrywise onto the entries of modulus ``modulus`` (phases kept).

    The nearest point in Frobenius norm: ``modulus`` :math:`\times W / |W|` entrywise; a
    zero entry becomes ``modulus``. For real ``W`` the entries become
    ``+-modulus`` (the signs).

    Examples
    --------
    >>> import torch
    >>> from skunfold.beamforming import unit_modulus
    >>> unit_modulus(torch.tensor([3 + 4j, -2j, 0j]))
    tensor([0.6000+0.8000j, 0.0000-1.0000j, 1.0000+0.0000j])
    """
    size = W.abs()
    nonzero = size > 0
    phase = W / torch.where(nonzero, size, torch.ones_like(size))
    return torch.where(nonzero, phase, torch.ones_like(W)) * modulus


def _unit_modulus_embedded(E, modulus, complex_valued):
    """:func:`unit_modulus` of the complex matrix embedded in ``E`` (real ``E``: its own).

    On the embedding itself: its squares plus their column halves swapped are the
    squared moduli in all four blocks (a few operations in a traced graph).
    """
    if not complex_valued:
        return unit_modulus(E, modulus)
    m, n = E.shape[-2] // 2, E.shape[-1] // 2
    squares = E * E
    size = torch.sqrt(squares + torch.cat([squares[..., n:], squares[..., :n]], dim=-1))
    nonzero = size > 0
    # a zero entry becomes the real ``modulus``: the embedding of ones
    ones = torch.as_tensor(np.kron(np.eye(2), np.ones((m, n))), dtype=E.dtype, device=E.device)
    return torch.where(nonzero, E / torch.where(nonzero, size, 1.0), ones) * modulus


class HybridPrecoding(Problem):
    r"""Wideband hybrid precoding by projected gradient ascent on the rate (survey equations 11-12).

    One analog precoder :math:`W_a` (:math:`M \times L`) is shared by ``B`` bands, each with
    a digital precoder :math:`W_{d,b}` (:math:`L \times N`); the objective (maximised) is the
    rate in nats per band, :func:`sum_rate`. Iteration ``k``:

    1. :math:`W_a \leftarrow W_a + \mu_{a,k} \partial R / \partial W_a^*`, then the
       analog constraint: with ``"unit_modulus"`` the projection onto
       :math:`|[W_a]_{ml}| = 1/\sqrt{M}` (the phases are kept) and the digital
       precoders rescaled to the power budget; with ``None`` (the reference
       code) :math:`W_a` rescaled to it;
    2. :math:`W_{d,b} \leftarrow W_{d,b} + \mu_{d,b,k} \partial R / \partial W_{d,b}^*`
       for every band, at the new :math:`W_a`, then the digital precoders
       rescaled together to the budget :math:`\sum_b \|W_a W_{d,b}\|_F^2 = N B`.

    The gradients are the closed forms of :func:`rate_gradients`. The
    initial :math:`W_a` is made of the ``L`` leading eigenvectors of the
    band-averaged channel covariance :math:`\frac{1}{B} \sum_b H_b^H H_b` (the right
    singular vectors of the bands' channels stacked), each turned so that its
    first entry is real and positive, completed by fixed beams (orthogonalised,
    :func:`~skunfold.beamforming.linalg.orthonormal_completion`) when ``L``
    exceeds the covariance's rank ``min(B N, M)``,
    then projected onto the constraint; the initial :math:`W_d` is
    ``initial_digital`` (a random draw of the estimator) rescaled to the
    budget for every sample. The state is :math:`(W_a, W_d, H W_a)` (the
    channels through the analog precoder, kept for the next iteration), complex
    matrices as their real embeddings while traced
    (:func:`~skunfold.beamforming.linalg.embed`); the readout packs the precoders
    into one array of shape ``(batch, L, M + B N)``,
    :math:`[W_a^\top \mid W_{d,1} \mid \dots \mid W_{d,B}]` (see :meth:`unpack`).

    Hyperparameters: ``analog_step`` (:math:`\mu_a`, a float) and ``digital_step``
    (:math:`\mu_d`, one per band, a tensor of shape ``(B,)``), both learned
    through their logarithm (they stay positive: a negative step would be a
    descent step).

    Parameters
    ----------
    channel_shape : tuple (B, N, M)
        Bands, users and antennas of the channels.
    n_rf_chains : int
        ``L``, at most ``M``.
    initial_digital : ndarray of shape (B, L, N)
        The digital precoders before the first iteration, up to scale (real or
        complex, as the channels).
    step_size : float, default=0.5
        The classical :math:`\mu_a` and :math:`\mu_{d,b}`.
    analog_constraint : {"unit_modulus", None}, default="unit_modulus"
        Phase shifters (every entry of :math:`W_a` of modulus :math:`1/\sqrt{M}`) or no
        constraint on :math:`W_a` beyond the power budget.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from skunfold.beamforming import HybridPrecoding
    >>> from skunfold.datasets import make_wideband_channels
    >>> H = make_wideband_channels(4, n_bands=2, n_users=2, n_antennas=4, random_state=0)
    >>> W0 = np.ones((2, 3, 2), dtype=complex)
    >>> problem = HybridPrecoding(H.shape[1:], n_rf_chains=3, initial_digital=W0)
    >>> x = torch.as_tensor(H)
    >>> state = problem.initial_state(x)
    >>> rates = [problem.objective(problem.readout(state), x).mean()]
    >>> for k in range(20):
    ...     state = problem.step(state, x, **problem.layer_hyperparameters(k))
    ...     rates.append(problem.objective(problem.readout(state), x).mean())
    >>> bool(rates[-1] > rates[0])
    True
    """

    maximize = True
    complex_input = True
    hyperparameter_constraints = {"analog_step": "positive", "digital_step": "positive"}

    def __init__(self, channel_shape, n_rf_chains, initial_digital, step_size=0.5,
                 analog_constraint="unit_modulus"):
        self.n_bands, self.n_users, self.n_antennas = (int(s) for s in channel_shape)
        self.n_rf_chains = int(n_rf_chains)
        if analog_constraint not in ANALOG_CONSTRAINTS:
            raise ValueError(f"analog_constraint must be one of {list(ANALOG_CONSTRAINTS)}, "
                             f"got {analog_constraint!r}")
        self.analog_constraint = analog_constraint
        self.step_size = float(step_size)
        initial_digital = np.asarray(initial_digital)
        expected = (self.n_bands, self.n_rf_chains, self.n_users)
        if initial_digital.shape != expected:
            raise ValueError(f"initial_digital must have shape (B, L, N) = {expected}, got "
                             f"{initial_digital.shape}")
        self.initial_digital = torch.as_tensor(initial_digital.astype(
            np.complex128 if np.iscomplexobj(initial_digital) else np.float64))
        # its real and imaginary parts, embedded without a (traced) cast of a complex tensor
        self._initial_real = torch.as_tensor(initial_digital.real.astype(np.float64))
        self._initial_imag = torch.as_tensor(np.imag(initial_digital).astype(np.float64))
        self.hyperparameters = {
            "analog_step": self.step_size,
            "digital_step": torch.full((self.n_bands,), self.step_size, dtype=torch.float64)}

    @property
    def budget(self):
        """The power budget ``N B``."""
        return float(self.n_users * self.n_bands)

    # -- the solver ------------------------------------------------------------------------
    def _embedded(self, Wa):
        """Whether a state's precoders are real embeddings of complex ones (``2M`` rows)."""
        return Wa.shape[-2] != self.n_antennas

    def _scale(self, Wa, Wd, embedded):
        """:func:`power_scale` per sample (the squares of an embedding count twice)."""
        return power_scale(Wa, Wd, self.budget * (2 if embedded else 1))

    def _project(self, Wa, embedded):
        modulus = 1.0 / math.sqrt(self.n_antennas)
        return _unit_modulus_embedded(Wa, modulus, True) if embedded else unit_modulus(Wa, modulus)

    def initial_analog(self, x):
        """The initial :math:`W_a` (before the constraint), in float64: see the class docstring.

        Computed in float64 whatever the computation dtype, so that models in
        float32 and float64 start from the same precoders; ``torch.linalg.eigh``
        in Python, repeated squarings in traced graphs
        (:func:`~skunfold.beamforming.linalg.dominant_eigenvectors`).

        Returns
        -------
        real, imag : tensor of shape (batch, M, L)
            ``imag`` None for real channels.

        Examples
        --------
        >>> import numpy as np, torch
        >>> from skunfold.beamforming import HybridPrecoding
        >>> problem = HybridPrecoding((2, 1, 4), 3, np.ones((2, 3, 1), dtype=complex))
        >>> x = torch.randn(5, 2, 1, 4, dtype=torch.complex128)
        >>> re, im = problem.initial_analog(x)       # rank B N = 2: one beam added
        >>> W = torch.complex(re, im)
        >>> bool(torch.allclose(W.mH @ W, torch.eye(3, dtype=W.dtype)))
        True
        >>> bool((im[:, 0, :2].abs() < 1e-12).all() and (re[:, 0, :2] > 0).all())  # eigenvectors
        True
        """
        with torch.no_grad():
            Cr, Ci = channel_covariance(x.detach())
            rank = min(self.n_bands * self.n_users, self.n_antennas)
            Vr, Vi = dominant_eigenvectors(Cr, Ci, min(self.n_rf_chains, rank))
            return orthonormal_completion(Vr, Vi, self.n_rf_chains)

    def initial_state(self, x):
        """:math:`W_a` from the channel covariance, :math:`W_d` at the power budget.

        Complex precoders are complex tensors in Python, real embeddings while
        traced (:func:`~skunfold.beamforming.linalg.tracing`: ONNX has no
        complex arithmetic); the iteration is the same on both.
        """
        embedded = x.is_complex() and tracing()
        real = torch.view_as_real(x).dtype if x.is_complex() else x.dtype
        Vr, Vi = self.initial_analog(x)
        re, im = self._initial_real, self._initial_imag
        re, im = re.to(device=x.device, dtype=real), im.to(device=x.device, dtype=real)
        if embedded:
            Wa, Wd, x = embed_parts(Vr, Vi).to(real), embed_parts(re, im), embed(x)
        elif x.is_complex():
            Wa, Wd = torch.complex(Vr, Vi).to(x.dtype), torch.complex(re, im)
        else:
            Wa, Wd = Vr.to(x.dtype), re
        if self.analog_constraint == "unit_modulus":
            Wa = self._project(Wa, embedded)
        Wd = Wd.expand(x.shape[0], -1, -1, -1)
        Wd = Wd * self._scale(Wa, Wd, embedded).reshape(-1, 1, 1, 1)
        return (Wa, Wd, _through_analog(x, Wa))

    def step(self, state, x, analog_step, digital_step, *, correction=None):
        """One iteration: analog step and constraint, then the digital steps and rescaling.

        ``correction``, when given (paradigm ``"correction"``), maps
        ``(W_d, grad_digital)`` (embedded) to a correction added to the digital
        gradient.
        """
        Wa, Wd, HWa = state
        embedded = self._embedded(Wa)
        if embedded:
            x = embed(x)
        Wa = _normalised(Wa + analog_step * _analog_gradient(x, HWa, Wd, embedded))
        if self.analog_constraint == "unit_modulus":
            Wa = self._project(Wa, embedded)
            Wd = Wd * self._scale(Wa, Wd, embedded).reshape(-1, 1, 1, 1)
        else:
            Wa = Wa * self._scale(Wa, Wd, embedded).reshape(-1, 1, 1)
        HWa = _through_analog(x, Wa)
        grad = _digital_gradient(x, HWa, Wd, embedded)
        if correction is not None:
            grad = grad + correction(Wd, grad)
        if torch.is_tensor(digital_step) and digital_step.ndim:
            digital_step = digital_step.reshape(-1, 1, 1)
        Wd = _normalised(Wd + digital_step * grad)
        Wd = Wd * self._scale(Wa, Wd, embedded).reshape(-1, 1, 1, 1)
        return (Wa, Wd, HWa)

    def readout(self, state):
        r"""Both precoders packed, :math:`[W_a^\top \mid W_{d,1} \mid \dots \mid W_{d,B}]`.

        Shape ``(batch, L, M + B N)``, complex for complex channels (a traced
        state's embeddings made complex again).
        """
        Wa, Wd = state[:2]
        complex_valued = self._embedded(Wa)

        def pack(Wa, Wd):
            digital = Wd.permute(0, 2, 1, 3).reshape(Wd.shape[0], self.n_rf_chains, -1)
            return torch.cat([Wa.mT, digital], dim=2)

        (ar, ai), (dr, di) = parts(Wa, complex_valued), parts(Wd, complex_valued)
        return pack(ar, dr) if ai is None else torch.complex(pack(ar, dr), pack(ai, di))

    def unpack(self, estimate):
        """:math:`(W_a, W_d)` of a packed readout (a tensor or an array ``(batch, L, M + B N)``).

        Further trailing axes (e.g. real and imaginary parts) are kept.
        """
        M, B, N, L = self.n_antennas, self.n_bands, self.n_users, self.n_rf_chains
        Wa = estimate[:, :, :M].swapaxes(1, 2)
        Wd = estimate[:, :, M:].reshape(-1, L, B, N, *estimate.shape[3:]).swapaxes(1, 2)
        return Wa, Wd

    def objective(self, estimate, x):
        """The rate of each sample in nats per band (eq. 11), shape ``(batch,)``."""
        Wa, Wd = self.unpack(estimate)
        return _band_rates(_through_analog(x, Wa) @ Wd).mean(1)

    def make_layers(self, paradigm, n_layers, *, tied, hidden_layer_sizes, sample):
        """The layers of paradigm ``"correction"`` (the core's generic ones otherwise)."""
        return beamforming_layers(self, paradigm, n_layers, hidden_layer_sizes)


def sum_rate(channels, precoders):
    r"""The achievable rate of precoded channels, in nats per band (survey equation 11).

    :math:`R = \frac{1}{B} \sum_b \log\det(I_N + H_b P_b P_b^H H_b^H)` for every sample,
    with unit noise variance; divide by ``log(2)`` for bit/s/Hz.

    Parameters
    ----------
    channels : array-like of shape (n_samples, B, N, M), (n_samples, N, M) or (n_samples, M)
        Channels ``H_b`` (``N`` users, ``M`` antennas; one band, or one band
        and one user).
    precoders : array-like of shape (n_samples, B, M, N), (n_samples, M, N) or (n_samples, M)
        Effective precoders :math:`P_b` (e.g. :math:`W_a W_{d,b}`, the output of
        ``predict``), in the layout of ``channels``.

    Returns
    -------
    rate : ndarray of shape (n_samples,)

    Examples
    --------
    >>> import numpy as np
    >>> from skunfold.beamforming import sum_rate
    >>> H = np.array([[[[1.0, 0.0]]]])        # one sample, band, user; two antennas
    >>> P = np.array([[[[2.0], [0.0]]]])      # all the power on the first antenna
    >>> round(float(sum_rate(H, P)[0]), 4)    # log(1 + 4)
    1.6094
    """
    H = np.asarray(channels)
    P = np.asarray(precoders)
    if H.ndim == 2:
        H, P = H[:, None, None, :], P[:, None, :, None]
    elif H.ndim == 3:
        H, P = H[:, None], P[:, None]
    if H.ndim != 4 or P.shape != H.shape[:2] + H.shape[:1:-1]:
        raise ValueError(f"precoders of shape {np.shape(precoders)} do not match channels of "
                         f"shape {np.shape(channels)}: expected the users and antennas swapped")
    G = H @ P
    gram = np.eye(G.shape[-1]) + G @ np.conj(np.swapaxes(G, -1, -2))
    return np.linalg.slogdet(gram)[1].mean(axis=1)
