r"""Approximate message passing (AMP) and learned AMP (LAMP) as a :class:`~skunfold.core.Problem`.

Row convention as in :mod:`skunfold.sparse.problem`: observations ``x`` of
shape ``(batch, m)``, codes ``s`` of shape ``(batch, n)``, dictionary ``D`` of
shape ``(n, m)`` (:math:`D = A^T`, :math:`x \approx s D`). One AMP iteration
(Donoho, Maleki & Montanari 2009; Borgerding, Schniter & Rangan 2017) reads

.. math::

    v_t &= x - s_t D + b_t v_{t-1} \quad \text{(the residual with the Onsager term)} \\
    \sigma_t^2 &= \|v_t\|_2^2 / m \quad \text{(per-sample noise-level estimate)} \\
    r_t &= s_t + v_t B \quad (B = A^T \text{ classically, of shape } (m, n)) \\
    s_{t+1} &= \eta(r_t; \sigma_t^2, \theta_t) \\
    b_{t+1} &= \tfrac{1}{m} \textstyle\sum_j \eta'(r_t)_j
    \quad (= \|s_{t+1}\|_0 / m \text{ for soft thresholding})

from :math:`s_0 = 0`, :math:`b_0 = 0`. The state is ``(s, v, b)``; the readout is
``s``. LAMP's layers (a learned matrix per layer) are in
:mod:`skunfold.sparse.iterations`.

**Damping.** AMP's state evolution, and its convergence, hold for ``A`` with
i.i.d. (sub-)Gaussian entries; on other dictionaries -- ill-conditioned ones,
dictionaries learned on natural images -- undamped AMP diverges within a few
iterations (:func:`gaussian_ensemble_statistics` detects them and
:class:`NonGaussianDictionaryWarning` says so). With a damping factor
:math:`d \in (0, 1]` (damped AMP as in Rangan, Schniter & Fletcher 2014 and
Vila et al. 2015) each of the three state variables moves only part of the way:

.. math::

    v_t &= (1 - d)\, v_{t-1} + d\,(x - s_t D + b_t v_{t-1}) \\
    s_{t+1} &= (1 - d)\, s_t + d\, \eta(r_t; \sigma_t^2, \theta_t) \\
    b_{t+1} &= (1 - d)\, b_t + d\, \tfrac{1}{m} \textstyle\sum_j \eta'(r_t)_j

with :math:`v_{-1} = x` (so that :math:`v_0 = x` whatever :math:`d`); :math:`d = 1`
is AMP. A fixed point of damped AMP is a fixed point of AMP. Damped, the codes
are not exactly sparse: an entry thresholded to zero decays by :math:`1 - d` per iteration.

The shrinkage families and their parameters :math:`\theta` (the problem's
hyperparameters) are

========== ================================================ ================================
shrinkage  :math:`\eta(r)`                                  parameters (classical values)
========== ================================================ ================================
``soft``   :math:`\beta \operatorname{sign}(r)              ``alpha`` :math:`\alpha`
           \max(|r| - \alpha \sigma, 0)`                    (1.1402), ``scale``
                                                            :math:`\beta` (1)
``bg``     Bernoulli-Gaussian MMSE estimate                 ``variance`` (prior variance),
           :math:`E[s \mid r]` for noise variance           ``log_odds``
           :math:`\sigma^2`                                 (:math:`\log p/(1-p)`)
``pwlin``  piecewise linear, knees :math:`\alpha \sigma`    ``alpha``, ``gap``, ``slope0``,
           and :math:`(\alpha + \text{gap}) \sigma`,        ``slope1``, ``slope2``
           slopes ``slope0, slope1, slope2``                (1.1402, 1.1402, 0, 1, 1: soft)
========== ================================================ ================================

and the Onsager gain uses each family's derivative in closed form.
"""

import math
import warnings
from numbers import Real

import numpy as np
import scipy.sparse
import torch

from ..core import Problem, constraints, soft_threshold
from .iterations import LAMPLayer, LearnedMatrix, lamp_layers
from .problem import dictionary_operator, is_operator, lipschitz_constant, operator_lipschitz

__all__ = [
    "SHRINKAGES",
    "AMPProblem",
    "LAMPLayer",
    "LearnedMatrix",
    "NonGaussianDictionaryWarning",
    "bg_shrinkage",
    "gaussian_ensemble_statistics",
    "mean_atom_energy",
    "pwlin_shrinkage",
    "shrinkage_parameters",
    "soft_shrinkage",
]

#: The shrinkage families of AMP / LAMP.
SHRINKAGES = ("soft", "bg", "pwlin")

#: Smallest noise-level estimate used by the shrinkages (a residual of exactly zero).
_MIN_VARIANCE = 1e-20


class NonGaussianDictionaryWarning(UserWarning):
    """The dictionary is far from the i.i.d. Gaussian ensemble that AMP's theory assumes.

    Issued by :class:`AMPProblem` (so by :class:`AMP` and :class:`UnfoldedAMP`)
    when :func:`gaussian_ensemble_statistics` rejects the dictionary:
    ill-conditioned or coherent dictionaries, such as those learned on
    natural images. There AMP's state evolution does not predict its error,
    and undamped AMP diverges; AMP then runs damped (``damping="auto"``), and
    FISTA or LISTA (:class:`UnfoldedISTA`) are the better coders.
    """


def gaussian_ensemble_statistics(dictionary, n_probes=32, random_state=0):
    r"""How far a dictionary is from the i.i.d. Gaussian ensemble of AMP's state evolution.

    The atoms (rows of ``dictionary``, the columns of :math:`A`) are first
    scaled to unit norm, so that the test is about the shape of the
    dictionary, not its scale. Two statistics, both equal to about 1 for
    :math:`A` with i.i.d. Gaussian entries (or any i.i.d. sub-Gaussian
    ensemble), are compared with limits that allow for the fluctuations of
    that ensemble at the dictionary's size:

    * ``spectral_ratio``: the largest eigenvalue of the Gram matrix
      :math:`G = \hat A^T \hat A`, over its mean eigenvalue, divided by the
      upper edge :math:`(1 + \sqrt{y})^2` of the Marchenko-Pastur law for
      the aspect ratio :math:`y = \min(m, n) / \max(m, n)`; the limit is
      :math:`1.3 + 2 \min(m, n)^{-2/3}` (Tracy-Widom fluctuations of the edge).
    * ``gram_ratio``: :math:`m` times the mean squared inner product of two
      distinct atoms, :math:`\frac{m}{n(n-1)} \sum_{i \ne j} G_{ij}^2`
      (:math:`E[G_{ij}^2] = 1/m` for independent Gaussian atoms); the limit is
      :math:`1 + \max(0.15, 12 / n)` (its standard deviation is about
      :math:`2 / n` for that ensemble).

    A matrix-free dictionary (a sparse matrix or an operator, see
    :func:`~skunfold.sparse.is_operator`) is never formed. Its atoms are scaled by one
    factor, their root mean squared norm (:func:`mean_atom_energy`), instead of one each;
    the largest eigenvalue comes from a power iteration
    (:func:`~skunfold.sparse.operator_lipschitz`) and the sum of the squared Gram entries
    from ``n_probes`` random :math:`\pm 1` probes :math:`z` (Hutchinson's estimate
    :math:`E \|A^T A z\|^2 = \|A^T A\|_F^2`, one batch through the operator and its
    adjoint), of which the diagonal's share is taken to be :math:`n` (exact for atoms of
    equal norm; atoms of unequal norms make ``gram_ratio`` err towards non-Gaussian). On
    a 100 x 200 Gaussian matrix the estimates are within a few percent of the exact
    statistics.

    Parameters
    ----------
    dictionary : array-like or sparse matrix of shape (n_components, n_features), or operator
        :math:`A^T` in the row convention (``X = S @ dictionary``); or a linear operator of
        shape (n_features, n_components) playing :math:`A`.
    n_probes : int, default=32
        Random probes of a matrix-free dictionary (ignored for a dense one).
    random_state : int, default=0
        Seed of the probes.

    Returns
    -------
    statistics : dict
        ``spectral_ratio``, ``spectral_limit``, ``gram_ratio``, ``gram_limit``
        (floats), ``gaussian`` (bool: both ratios within their limits) and
        ``damping``: the damping factor ``damping="auto"`` uses, 1 for a
        Gaussian-like dictionary, else
        :math:`\min(1, 1 / \max(\text{spectral\_ratio}, \text{gram\_ratio}))`.

    Examples
    --------
    >>> from skunfold.datasets import make_sparse_recovery
    >>> from skunfold.sparse.amp import gaussian_ensemble_statistics
    >>> _, _, D = make_sparse_recovery(5, 50, 100, random_state=0)
    >>> gaussian_ensemble_statistics(D)["gaussian"]
    True
    >>> _, _, D = make_sparse_recovery(5, 50, 100, condition_number=50, random_state=0)
    >>> stats = gaussian_ensemble_statistics(D)
    >>> stats["gaussian"], round(stats["gram_ratio"], 1), round(stats["damping"], 2)
    (False, 3.2, 0.31)
    """
    if is_operator(dictionary):
        return _operator_statistics(dictionary, n_probes, random_state)
    D = np.asarray(dictionary, dtype=np.float64)
    n, m = D.shape
    norms = np.sqrt(np.sum(D * D, axis=1))
    G = D / np.where(norms > 0, norms, 1.0)[:, None]
    eig = np.linalg.svd(G, compute_uv=False) ** 2  # the min(n, m) eigenvalues of the Gram
    k, total = min(n, m), float(eig.sum())
    y = k / max(n, m)
    if total > 0:
        spectral = float(eig.max()) / (total / k) / (1.0 + math.sqrt(y)) ** 2
    else:  # every atom is zero: nothing to test
        spectral = 1.0
    if n > 1:
        off_diagonal = float(np.sum(eig * eig)) - float(np.sum((norms > 0).astype(float)))
        gram = m * max(off_diagonal, 0.0) / (n * (n - 1))
    else:
        gram = 1.0
    return _verdict(spectral, gram, n, k)


def _probes(H, n_probes, random_state):
    """``(mean ||H z||^2, mean ||H^T H z||^2)`` over random +-1 probes ``z`` (one batch)."""
    rng = np.random.default_rng(random_state)
    Z = torch.from_numpy(rng.choice([-1.0, 1.0], size=(int(n_probes), H.shape[1])))
    with torch.no_grad():
        HZ = H.forward(Z)
        GZ = H.adjoint(HZ)
    return float((HZ * HZ).sum(-1).mean()), float((GZ * GZ).sum(-1).mean())


def mean_atom_energy(dictionary, n_probes=32, random_state=0):
    r"""The atoms' mean squared norm :math:`\|A\|_F^2 / n`, without a dense copy.

    Exact for a dense array (rows are the atoms) and a SciPy sparse matrix (from its
    stored entries); for an operator :math:`A` (codes to observations), Hutchinson's
    estimate :math:`\|A\|_F^2 \approx \operatorname{mean} \|A z\|^2` over
    ``n_probes`` random :math:`\pm 1` probes :math:`z` (one batch through the operator;
    a few percent off on a Gaussian matrix, exact for an orthogonal one). 1.0 for an
    empty dictionary.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.sparse.linalg import aslinearoperator
    >>> from skunfold.sparse.amp import mean_atom_energy
    >>> D = 2.0 * np.eye(4)
    >>> mean_atom_energy(D), mean_atom_energy(aslinearoperator(D.T))
    (4.0, 4.0)
    """
    if scipy.sparse.issparse(dictionary):
        n = dictionary.shape[0]
        return float(abs(dictionary).power(2).sum()) / n if n else 1.0
    if is_operator(dictionary):
        H = dictionary_operator(dictionary)
        return _probes(H, n_probes, random_state)[0] / H.shape[1] if H.shape[1] else 1.0
    D = np.asarray(dictionary, dtype=np.float64)
    return float(np.mean(np.sum(D * D, axis=1))) if D.size else 1.0


def _operator_statistics(dictionary, n_probes, random_state):
    """:func:`gaussian_ensemble_statistics` of a matrix-free dictionary, by probes."""
    H = dictionary_operator(dictionary)
    m, n = H.shape
    k = min(n, m)
    frobenius, gram_frobenius = _probes(H, n_probes, random_state)
    # c^2, the atoms' mean squared norm (exact for a sparse matrix): atoms scaled by 1/c
    energy = mean_atom_energy(dictionary) if scipy.sparse.issparse(dictionary) \
        else frobenius / n
    if not energy > 0:
        return _verdict(1.0, 1.0, n, k)
    top = operator_lipschitz(H) / 1.001 / energy  # largest Gram eigenvalue; their sum is n
    spectral = top / (n / k) / (1.0 + math.sqrt(k / max(n, m))) ** 2
    gram = 1.0
    if n > 1:
        off_diagonal = gram_frobenius / energy ** 2 - n
        gram = m * max(off_diagonal, 0.0) / (n * (n - 1))
    return _verdict(spectral, gram, n, k)


def _verdict(spectral, gram, n, k):
    spectral_limit = 1.3 + 2.0 * k ** (-2.0 / 3.0)
    gram_limit = 1.0 + max(0.15, 12.0 / n)
    gaussian = spectral <= spectral_limit and gram <= gram_limit
    damping = 1.0 if gaussian else min(1.0, 1.0 / max(spectral, gram))
    return {"spectral_ratio": spectral, "spectral_limit": spectral_limit, "gram_ratio": gram,
            "gram_limit": gram_limit, "gaussian": bool(gaussian), "damping": damping}


def soft_shrinkage(r, sigma2, alpha, scale=1.0):
    r"""Scaled soft thresholding at :math:`\alpha \sigma` and its derivative.

    :math:`\eta(r) = \beta \operatorname{sign}(r) \max(|r| - \alpha \sigma, 0)`
    (:math:`\beta` = ``scale``), :math:`\eta'(r) = \beta\, 1[|r| > \alpha \sigma]`.

    Parameters
    ----------
    r : torch.Tensor of shape (batch, n)
    sigma2 : torch.Tensor of shape (batch, 1)
        Per-sample noise-level estimate.
    alpha, scale : float or torch.Tensor

    Returns
    -------
    eta, derivative : torch.Tensor of shape (batch, n)
    """
    lam = alpha * torch.sqrt(sigma2)
    out = scale * soft_threshold(r, lam)
    deriv = scale * (torch.abs(r) > lam).to(r.dtype)
    return out, deriv


def bg_shrinkage(r, sigma2, variance, log_odds):
    r"""The MMSE estimate of a Bernoulli-Gaussian entry seen in Gaussian noise, and its derivative.

    For :math:`s \sim (1 - p) \delta_0 + p \mathcal{N}(0, v)` (:math:`v` =
    ``variance``) and :math:`r = s + \sigma z`,
    :math:`E[s \mid r] = \pi(r)\, g\, r` with :math:`g = v / (v + \sigma^2)` and
    :math:`\pi(r)` the posterior probability that :math:`s \ne 0`, whose logit is
    :math:`\ell + \frac12 \log\frac{\sigma^2}{v + \sigma^2} + \frac{r^2 g}{2 \sigma^2}`
    (:math:`\ell` = ``log_odds`` :math:`= \log\frac{p}{1 - p}`). The derivative is
    :math:`g \pi \left(1 + (1 - \pi) \frac{r^2 g}{\sigma^2}\right)`.
    """
    s2 = torch.clamp(sigma2, min=_MIN_VARIANCE)  # as in AMPProblem.step, for direct calls
    total = variance + s2
    gain = variance / total
    curvature = gain / s2
    rr = r * r
    pi = torch.sigmoid(log_odds + 0.5 * torch.log(s2 / total) + 0.5 * rr * curvature)
    out = pi * gain * r
    deriv = gain * pi * (1.0 + (1.0 - pi) * rr * curvature)
    return out, deriv


def pwlin_shrinkage(r, sigma2, alpha, gap, slope0, slope1, slope2):
    r"""The piecewise-linear shrinkage of LAMP-pwlin and its derivative.

    Odd, continuous, with knees at :math:`t_1 = \alpha \sigma` and
    :math:`t_2 = (\alpha + \text{gap}) \sigma` and slopes ``slope0``
    (:math:`|r| < t_1`), ``slope1`` (:math:`t_1 < |r| < t_2`) and ``slope2``
    beyond. With ``slope0 = 0, slope1 = slope2 = 1`` it is soft thresholding
    at :math:`t_1`.
    """
    sigma = torch.sqrt(sigma2)
    t1 = alpha * sigma
    t2 = (alpha + gap) * sigma
    a = torch.abs(r)
    middle = torch.minimum(torch.clamp(a - t1, min=0.0), t2 - t1)
    magnitude = slope0 * torch.minimum(a, t1) + slope1 * middle + slope2 * torch.relu(a - t2)
    out = torch.sign(r) * magnitude
    zero = torch.zeros_like(r)
    deriv = torch.where(a <= t1, zero + slope0, torch.where(a <= t2, zero + slope1, zero + slope2))
    return out, deriv


_SHRINK = {"soft": soft_shrinkage, "bg": bg_shrinkage, "pwlin": pwlin_shrinkage}


def shrinkage_parameters(shrinkage, alpha=1.1402, sparsity=0.1, signal_var=1.0):
    r"""The classical parameters of a shrinkage family (its hyperparameters), by name.

    ``soft``: soft thresholding at :math:`\alpha \sigma` (gain 1); ``bg``: the
    MMSE denoiser of the Bernoulli(``sparsity``)-Gaussian(``signal_var``) prior;
    ``pwlin``: soft thresholding at :math:`\alpha \sigma` written piecewise linearly.
    """
    if shrinkage == "soft":
        return {"alpha": float(alpha), "scale": 1.0}
    if shrinkage == "bg":
        return {"variance": float(signal_var),
                "log_odds": math.log(sparsity) - math.log1p(-sparsity)}
    if shrinkage == "pwlin":
        return {"alpha": float(alpha), "gap": max(float(alpha), 1e-3), "slope0": 0.0,
                "slope1": 1.0, "slope2": 1.0}
    raise ValueError(f"shrinkage must be one of {list(SHRINKAGES)}, got {shrinkage!r}")


class AMPProblem(Problem):
    r"""AMP for :math:`x = A s + e` with a shrinkage family (see the module docstring).

    Its hyperparameters are the parameters of the shrinkage (per layer in the
    ``"hyperparameters"`` paradigm); its objective parameter is the matrix
    :math:`B` (:math:`A^T` classically; per layer in the ``"objective"`` and
    ``"dnn"`` paradigms, whose layers start from ``matrix_scale`` :math:`A^T`).

    On a matrix-free dictionary (a SciPy sparse matrix, or a linear operator playing
    :math:`A`: see :func:`~skunfold.sparse.is_operator`) AMP runs through the operator's
    ``forward`` / ``adjoint`` (:func:`~skunfold.imaging.as_operator`), never a dense copy:
    the Onsager term needs only :math:`m` and the shrinkage's derivative; the atoms'
    mean squared norm (``normalize``) and the ensemble statistics (``damping="auto"``)
    come from random probes (:func:`mean_atom_energy`,
    :func:`gaussian_ensemble_statistics`) and :math:`\|A\|_2` from a power iteration.
    There is then no objective parameter: the ``"objective"`` and ``"dnn"`` paradigms
    learn :math:`B_t = P_t A^T` with :math:`P_t` a small convolution filter (operators
    on images) or a diagonal (:class:`~skunfold.sparse.iterations.Preconditioner`).

    Parameters
    ----------
    dictionary : ndarray or sparse matrix of shape (n_components, n_features), or operator
        :math:`D = A^T` (row convention, ``X = S @ D``); or a linear operator of shape
        (n_features, n_components) playing :math:`A`.
    shrinkage : {"soft", "bg", "pwlin"}, default="soft"
    alpha : float, default=1.1402
        Threshold multiplier (soft, pwlin): the threshold is :math:`\alpha \sigma_t`.
    sparsity, signal_var : float, default=0.1, 1.0
        The Bernoulli-Gaussian prior of ``bg``.
    matrix_scale : float, default=1.0
        The learned matrices start at ``matrix_scale`` :math:`A^T`.
    normalize : bool, default=False
        Run on :math:`A / c` with codes :math:`c s` when the atoms' mean
        squared norm :math:`c^2` is outside :math:`[3/4, 4/3]` (AMP assumes
        atoms of unit norm and diverges far from it: one atom of squared norm
        2 already makes its step expand); the estimates are in
        the units of ``dictionary``. The classical :class:`AMP` sets it.
    damping : "auto" or float in (0, 1], default="auto"
        The damping factor :math:`d` of damped AMP (module docstring); 1 is
        AMP. ``"auto"``: 1 when the dictionary is close to the i.i.d. Gaussian
        ensemble (:func:`gaussian_ensemble_statistics`), so AMP is unchanged
        there, else :math:`\min(1, 1 / \max(\text{spectral\_ratio},
        \text{gram\_ratio}))`, with which AMP and an untrained LAMP stay
        stable on ill-conditioned and learned dictionaries. Either way a
        :class:`NonGaussianDictionaryWarning` is issued for such a dictionary.

    Attributes
    ----------
    damping_factor : float
        The damping factor used (``damping`` resolved).
    ensemble_statistics : dict
        The result of :func:`gaussian_ensemble_statistics` on the dictionary.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from skunfold.sparse import AMPProblem
    >>> D = np.random.default_rng(0).normal(size=(40, 20)) / np.sqrt(20)
    >>> problem = AMPProblem(D)
    >>> problem.damping_factor
    1.0
    >>> x = torch.zeros(3, 20, dtype=torch.float64)
    >>> s, v, b = problem.step(problem.initial_state(x), x, **problem.objective_parameters,
    ...                        **problem.hyperparameters)
    >>> s.shape, v.shape, b.shape
    (torch.Size([3, 40]), torch.Size([3, 20]), torch.Size([3, 1]))
    """

    def __init__(self, dictionary, shrinkage="soft", alpha=1.1402, sparsity=0.1,
                 signal_var=1.0, matrix_scale=1.0, *, damping="auto", normalize=False):
        self.operator = dictionary_operator(dictionary) if is_operator(dictionary) else None
        if self.operator is None:
            D = np.asarray(dictionary, dtype=np.float64)
            self.D = torch.tensor(D)
            self.n_components, self.n_features = D.shape
        else:
            if np.iscomplexobj(np.empty(0, self.operator.dtype)):
                raise ValueError(f"the dictionary operator ({type(dictionary).__name__}) is "
                                 "complex: AMP needs a real operator")
            self.D = D = None
            self.n_features, self.n_components = (int(v) for v in self.operator.shape)
        self.normalize = bool(normalize)
        # AMP assumes atoms of unit norm: on atoms of mean squared norm c^2 far from 1 it runs
        # on A / c and codes c s (a Python float fixed here: no branch on tensors)
        atoms = mean_atom_energy(dictionary)
        self.code_scale = math.sqrt(atoms) if normalize and not 0.75 <= atoms <= 4.0 / 3.0 \
            and atoms > 0 else 1.0
        self.shrinkage = shrinkage
        self.alpha, self.sparsity, self.signal_var = float(alpha), float(sparsity), \
            float(signal_var)
        self.matrix_scale = float(matrix_scale)
        self.damping = _check_damping(damping)
        self.lipschitz = lipschitz_constant(D) if self.operator is None \
            else operator_lipschitz(self.operator)
        self.hyperparameters = shrinkage_parameters(shrinkage, alpha, sparsity,
                                                    signal_var * self.code_scale ** 2)
        self.hyperparameter_constraints = {"log_odds": "real", "slope0": "real",
                                           "slope1": "real", "slope2": "real"}
        self.objective_parameters = {} if self.operator is not None else {
            "B": torch.tensor(np.ascontiguousarray(D.T) / self.code_scale)}
        self.ensemble_statistics = gaussian_ensemble_statistics(dictionary)
        stats = self.ensemble_statistics
        self.damping_factor = stats["damping"] if self.damping == "auto" else self.damping
        if not stats["gaussian"]:
            how = (f"damping='auto' runs it damped by {self.damping_factor:.2f}"
                   if self.damping == "auto" else f"it runs with damping={self.damping_factor:g}")
            warnings.warn(
                "The dictionary is far from the i.i.d. Gaussian ensemble that AMP assumes "
                f"(largest Gram eigenvalue {stats['spectral_ratio']:.2f}x the "
                f"Marchenko-Pastur edge, limit {stats['spectral_limit']:.2f}; mean squared "
                f"inner product of the atoms {stats['gram_ratio']:.2f}x the Gaussian 1/m, "
                f"limit {stats['gram_limit']:.2f}): AMP's state evolution does not hold and "
                f"undamped AMP diverges on such dictionaries; {how}. For ill-conditioned or "
                "learned dictionaries prefer FISTA, LISTA (UnfoldedISTA) or scikit-learn's "
                "SparseCoder (lasso_cd).",
                NonGaussianDictionaryWarning, stacklevel=constraints.caller_stacklevel())

    def initial_state(self, x):
        n, m = self.n_components, self.n_features
        # v_{-1} = x gives v_0 = x damped or not; undamped, the zeros keep AMP's original graph
        v = x if self.damping_factor < 1.0 else x.new_zeros((x.shape[0], m))
        return (x.new_zeros((x.shape[0], n)), v, x.new_zeros((x.shape[0], 1)))

    def synthesis(self, s):
        """:math:`A s` of each row of ``s``."""
        return s @ self.D if self.operator is None else self.operator.forward(s)

    def step(self, state, x, B=None, **theta):
        """One AMP iteration; ``B`` a matrix (dense dictionary), or on an operator ``None``
        (:math:`A^T`) or a learned preconditioner :math:`P` (:math:`P A^T`)."""
        s, v_prev, b = state
        m = x.shape[-1]
        v = x - self.synthesis(s) + b * v_prev
        d = self.damping_factor  # a Python float fixed at construction: no branch on tensors
        if d < 1.0:
            v = (1.0 - d) * v_prev + d * v
        # clamped: a zero residual (x = 0) would give sqrt'(0) = inf in the backward pass
        sigma2 = torch.clamp((v * v).sum(-1, keepdim=True) / m, min=_MIN_VARIANCE)
        c = self.code_scale  # 1.0 unless normalize: then the code of A / c is c s
        if self.operator is None:
            r = c * s + v @ B
        else:
            back = self.operator.adjoint(v) / c
            r = c * s + (back if B is None else B(back))
        s_new, deriv = _SHRINK[self.shrinkage](r, sigma2, **theta)
        s_new = s_new / c
        b_new = deriv.sum(-1, keepdim=True) / m
        if d < 1.0:
            s_new = (1.0 - d) * s + d * s_new
            b_new = (1.0 - d) * b + d * b_new
        return s_new, v, b_new

    def readout(self, state):
        return state[0]

    def objective(self, estimate, x):
        r"""The residual energy :math:`\frac12 \|x - A s\|_2^2` of each sample (no l1 term)."""
        r = x - self.synthesis(estimate)
        return 0.5 * (r * r).sum(-1)

    def make_layers(self, paradigm, n_layers, *, tied, hidden_layer_sizes, sample):
        """LAMP's layers (:func:`~skunfold.sparse.iterations.lamp_layers`): learned matrices."""
        return lamp_layers(self, paradigm, n_layers, tied)

    def with_dictionary(self, dictionary):
        """The same problem on another dictionary (to transfer a fitted model)."""
        return type(self)(dictionary, self.shrinkage, self.alpha, self.sparsity, self.signal_var,
                          self.matrix_scale, damping=self.damping, normalize=self.normalize)


def _squared_norm(dictionary):
    r""":math:`\|A\|_2^2`: by SVD for a dense dictionary, by power iteration otherwise."""
    if is_operator(dictionary):
        return operator_lipschitz(dictionary_operator(dictionary)) / 1.001
    return float(np.linalg.norm(np.asarray(dictionary, dtype=np.float64), ord=2)) ** 2


def _check_damping(damping):
    if isinstance(damping, str) and damping == "auto":
        return damping
    if (not isinstance(damping, Real) or isinstance(damping, bool)
            or not 0.0 < float(damping) <= 1.0):
        raise ValueError(f"damping must be 'auto' or a number in (0, 1], got {damping!r}")
    return float(damping)
