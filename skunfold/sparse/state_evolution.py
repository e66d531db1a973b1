r"""State evolution: the scalar recursion that predicts AMP's error layer by layer.

For :math:`A` with i.i.d. zero-mean entries of variance :math:`1/m` and
:math:`n, m` large at a fixed ratio :math:`\delta = m / n`, AMP's input to the
denoiser at iteration :math:`t` behaves like the signal in Gaussian noise of
variance :math:`\tau_t^2` (Donoho, Maleki & Montanari 2009):

.. math::

    \tau_0^2 &= \sigma^2 + E[X^2] / \delta \\
    \mathrm{MSE}_{t+1} &= E\big[(\eta_t(X + \tau_t Z) - X)^2\big],
    \quad Z \sim \mathcal{N}(0, 1) \\
    \tau_{t+1}^2 &= \sigma^2 + \mathrm{MSE}_{t+1} / \delta

The expectations are computed by adaptive quadrature (:func:`scipy.integrate.quad`)
over the two components of the Bernoulli-Gaussian prior.

The prediction holds for that ensemble (and i.i.d. sub-Gaussian ones) only: on
ill-conditioned or learned dictionaries AMP does not follow it, and undamped AMP
diverges (:func:`~skunfold.sparse.amp.gaussian_ensemble_statistics`,
:class:`~skunfold.sparse.amp.NonGaussianDictionaryWarning`).
"""

import itertools
import math
from numbers import Real

import numpy as np
from scipy import integrate, special

__all__ = ["amp_state_evolution"]

_SQRT_2PI = math.sqrt(2.0 * math.pi)


def _gauss_expectation(f, scale, knots):
    r""":math:`E[f(\mathrm{scale}\, u)]`, :math:`u \sim \mathcal{N}(0, 1)`, split at f's kinks."""
    inner = sorted({k / scale for k in knots if abs(k / scale) < 12.0})
    edges = [-12.0, *inner, 12.0]

    def integrand(u):
        return f(scale * u) * math.exp(-0.5 * u * u) / _SQRT_2PI

    return sum(integrate.quad(integrand, a, b, epsabs=1e-15, epsrel=1e-10, limit=200)[0]
               for a, b in itertools.pairwise(edges))


def _check_number(value, name, low=None, high=None, strict_low=True, strict_high=True):
    if not isinstance(value, Real) or isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    if low is not None and (value < low or (strict_low and value == low)):
        raise ValueError(f"{name} must be {'>' if strict_low else '>='} {low}, got {value!r}")
    if high is not None and (value > high or (strict_high and value == high)):
        raise ValueError(f"{name} must be {'<' if strict_high else '<='} {high}, got {value!r}")
    return float(value)


def amp_state_evolution(n_layers=20, *, sparsity=0.1, measurement_ratio=0.5, snr_db=40.0,
                        noise_var=None, denoiser="soft", alpha=1.1402, signal_var=1.0,
                        return_variances=False):
    r"""Per-layer NMSE of AMP predicted by state evolution (Bernoulli-Gaussian prior).

    The signal has i.i.d. entries
    :math:`X \sim (1 - p) \delta_0 + p \mathcal{N}(0, v)` (:math:`v` =
    ``signal_var``), the measurement matrix i.i.d. entries of variance
    :math:`1/m`, and the denoiser is soft thresholding at
    :math:`\alpha \tau_t` (:class:`AMP` with ``denoiser="soft"``) or the MMSE
    estimate of the prior for noise variance :math:`\tau_t^2`
    (``denoiser="bg"``, Bayes-optimal AMP). On other dictionaries the
    prediction does not hold (see the module docstring).

    Parameters
    ----------
    n_layers : int, default=20
        Number of iterations :math:`T`.
    sparsity : float, default=0.1
        :math:`p`, in (0, 1).
    measurement_ratio : float, default=0.5
        :math:`\delta = m / n` (positive).
    snr_db : float, default=40.0
        :math:`E\|A x\|^2 / E\|e\|^2` in dB; the noise variance is then
        :math:`\sigma^2 = p v \delta^{-1} 10^{-\mathrm{snr\_db} / 10}`. Ignored
        when ``noise_var`` is given.
    noise_var : float, optional
        :math:`\sigma^2` directly (non-negative).
    denoiser : {"soft", "bg"}, default="soft"
    alpha : float, default=1.1402
        Threshold multiplier of the soft denoiser.
    signal_var : float, default=1.0
    return_variances : bool, default=False
        Also return :math:`\tau_t^2` for :math:`t = 0, \dots, T - 1` (the
        effective noise variance at the input of the denoiser of iteration
        :math:`t + 1`).

    Returns
    -------
    nmse_db : ndarray of shape (n_layers,)
        :math:`10 \log_{10}(\mathrm{MSE}_t / E[X^2])` after iterations
        :math:`t = 1, \dots, T`.
    tau2 : ndarray of shape (n_layers,)
        Only with ``return_variances=True``.

    References
    ----------
    .. [1] D. L. Donoho, A. Maleki and A. Montanari, "Message-passing
       algorithms for compressed sensing", PNAS 106(45), 2009.
    .. [2] M. Borgerding, P. Schniter and S. Rangan, "AMP-inspired deep
       networks for sparse linear inverse problems", IEEE TSP 65(16), 2017.

    Examples
    --------
    >>> from skunfold.sparse import amp_state_evolution
    >>> se = amp_state_evolution(5, sparsity=0.1, measurement_ratio=0.5, snr_db=40)
    >>> [round(float(v), 1) for v in se]
    [-3.5, -6.4, -9.0, -11.4, -13.6]
    >>> round(float(amp_state_evolution(30, denoiser="bg")[-1]), 1)
    -45.6
    """
    if not isinstance(n_layers, (int, np.integer)) or isinstance(n_layers, bool) or n_layers < 1:
        raise ValueError(f"n_layers must be a positive integer, got {n_layers!r}")
    p = _check_number(sparsity, "sparsity", 0.0, 1.0)
    delta = _check_number(measurement_ratio, "measurement_ratio", 0.0)
    v = _check_number(signal_var, "signal_var", 0.0)
    alpha = _check_number(alpha, "alpha", 0.0, strict_low=False)
    if denoiser not in ("soft", "bg"):
        raise ValueError(f"denoiser must be 'soft' or 'bg', got {denoiser!r}")
    if noise_var is None:
        snr = _check_number(snr_db, "snr_db")
        sigma2 = p * v / delta * 10.0 ** (-snr / 10.0)
    else:
        sigma2 = _check_number(noise_var, "noise_var", 0.0, strict_low=False)
    log_odds = math.log(p) - math.log1p(-p)

    tau2 = sigma2 + p * v / delta
    nmse, taus = [], []
    for _ in range(int(n_layers)):
        taus.append(tau2)
        tau = math.sqrt(tau2)
        gain = v / (v + tau2)
        if denoiser == "soft":
            lam = alpha * tau

            def eta(r, lam=lam):
                return math.copysign(max(abs(r) - lam, 0.0), r)

            knots = (-lam, lam)
        else:
            curvature = gain / tau2
            offset = log_odds + 0.5 * math.log(tau2 / (v + tau2))

            def eta(r, curvature=curvature, offset=offset, gain=gain):
                return special.expit(offset + 0.5 * r * r * curvature) * gain * r

            knots = tuple(c * tau for c in (-6.0, -3.0, -1.0, 1.0, 3.0, 6.0))
        # X = 0 (prob. 1 - p): r = tau z. X ~ N(0, v) (prob. p): r ~ N(0, v + tau^2) and
        # X | r ~ N(gain r, gain tau^2), so E[(eta(r) - X)^2 | r] = (eta(r) - gain r)^2 + gain tau^2
        inactive = _gauss_expectation(lambda r: eta(r) ** 2, tau, knots)
        active = _gauss_expectation(
            lambda r, g=gain, t2=tau2: (eta(r) - g * r) ** 2 + g * t2, math.sqrt(v + tau2), knots)
        mse = (1.0 - p) * inactive + p * active
        nmse.append(10.0 * math.log10(max(mse, 1e-300) / (p * v)))
        tau2 = sigma2 + mse / delta
    nmse = np.asarray(nmse)
    return (nmse, np.asarray(taus)) if return_variances else nmse
