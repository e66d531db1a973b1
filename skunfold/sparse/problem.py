r"""Sparse recovery :math:`x = H s + e` as a :class:`~skunfold.core.Problem`: the LASSO and ISTA.

Row convention throughout: a batch of observations ``x`` has shape
``(batch, m)``, codes ``s`` have shape ``(batch, n)`` and the dictionary ``D``
has shape ``(n, m)`` (:math:`D = H^\top`), so that ``x ~ s @ D``. The ISTA step
:math:`s + \mu H^\top (x - H s)` reads ``s + mu * (x - s @ D) @ D.T`` in code.
"""

import math
import warnings

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from ..core import Problem, constraints, soft_threshold
from .iterations import sparse_layers

__all__ = [
    "SparseCoding",
    "HyperLISTAProblem",
    "AnalyticGuard",
    "support_selected_threshold",
    "analytic_weights",
    "analytic_step",
    "generalized_coherence",
    "check_coherence",
    "analytic_coherence",
    "CoherentDictionaryWarning",
    "COHERENCE_LIMIT",
    "lipschitz_constant",
    "fista_momentum",
    "DEFAULT_SUPPORT_SELECTION",
]

#: Support selection of LISTA-CPSS / ALISTA: p_k = min(1.2 k, 13) percent.
DEFAULT_SUPPORT_SELECTION = (1.2, 13.0)


def support_selected_threshold(z, theta, fraction):
    """Soft thresholding with support selection (the "SS" of LISTA-CPSS / ALISTA).

    Per sample, the entries among the largest ``fraction`` of :math:`|z|` that also
    exceed ``theta`` bypass the shrinkage. ``fraction`` is a float or a
    tensor of shape ``(batch, 1)``; the bypass mask carries no gradient.
    """
    shrunk = soft_threshold(z, theta)
    n = z.shape[-1]
    absz = torch.abs(z)
    if torch.is_tensor(fraction):
        # per-sample fraction (HyperLISTA): the count-th largest magnitude of each row, by a
        # partial selection (top-k up to the largest count), only for the rows that need it
        with torch.no_grad():
            counts = torch.clamp((fraction * n).ceil().long(), 0, n)
            mask = absz > theta
            # rows with at most ``count`` entries above theta bypass all of them
            crowded = (mask.sum(dim=-1, keepdim=True) > counts) & (counts > 0)
            mask &= counts > 0
            rows = crowded[:, 0]
            if bool(rows.any()):
                sub, k = absz[rows], counts[rows]
                top = torch.topk(sub, int(k.max()), dim=-1).values
                kth = torch.gather(top, -1, k - 1)
                mask[rows] = mask[rows] & (sub >= kth)
        return torch.where(mask, z, shrunk)
    count = int(math.ceil(fraction * n))
    if count <= 0:
        return shrunk
    with torch.no_grad():
        mask = absz > theta
        # rows with at most ``count`` entries above theta bypass all of them: only the
        # other rows need the (costly) top-k; the result is the same as top-k everywhere
        crowded = mask.sum(dim=-1) > count
        if bool(crowded.any()):
            rows = absz[crowded]
            kth = torch.topk(rows, min(count, n), dim=-1).values[..., -1:]
            mask[crowded] = mask[crowded] & (rows >= kth)
    return torch.where(mask, z, shrunk)


def lipschitz_constant(D):
    r""":math:`L = 1.001 \|H\|_2^2`, the Lipschitz constant of the least-squares gradient.

    The SVD runs on one BLAS thread: for a dictionary of a few hundred atoms
    that is as fast as several on a quiet machine and many times faster on a
    busy one (threads that share cores wait for each other).
    """
    D = np.asarray(D, dtype=np.float64)
    with threadpool_limits(limits=1, user_api="blas"):
        return 1.001 * float(np.linalg.norm(D, ord=2)) ** 2


class CoherentDictionaryWarning(UserWarning):
    r"""The dictionary is too coherent for ALISTA's and HyperLISTA's analytic weights.

    Issued when the generalised coherence :math:`\tilde\mu` of the analytic
    weight (see :func:`generalized_coherence`) is at least
    :data:`COHERENCE_LIMIT` (0.35). ALISTA's recovery guarantee (Liu et al.
    2019, Theorem 2) needs a support size :math:`s < (1 + 1/\tilde\mu)/2`:
    from :math:`\tilde\mu > 1/3` it covers no code with two non-zeros or
    more. The limit sits just above 1/3 for finite-size fluctuations:
    the Gaussian dictionaries of
    :func:`~skunfold.datasets.make_sparse_recovery` reach
    :math:`\tilde\mu \approx 0.33` at 20 x 40 (0.09 at the standard
    250 x 500), whereas dictionaries learned on natural-image patches
    (mutual coherence 0.7 to 0.9) give 0.38 to 0.46 even with the optimised
    weight, and there ALISTA and HyperLISTA code several dB worse than ISTA.
    Use weights computed from the dictionary itself instead
    (``UnfoldedISTA`` with ``weights="dictionary"``, LISTA, LISTA-CP) or FISTA.
    """


#: HyperLISTA's step is ``min(1, 2.5 / lambda_max(W^T H))``: the paper's 1 on the Gaussian
#: dictionaries it was designed for (lambda_max 2.2 to 2.5 at 2x over-complete, where the
#: thresholds damp the overshoot), no expanding direction beyond (learned dictionaries: 3.5 to 8).
HYPERLISTA_STEP_LIMIT = 2.5

#: Generalised coherence from which :class:`CoherentDictionaryWarning` is issued (see there).
COHERENCE_LIMIT = 0.35

_RANK_RTOL = 1e-10  # singular values below this fraction of the largest span no atom direction


def _range_basis(D):
    r"""``U_r, s_r, V_r`` of :math:`H = D^\top = U_r \mathrm{diag}(s_r) V_r^\top`, numerical rank r.

    Directions of singular values below :math:`10^{-10}` times the largest (e.g. the
    constant patch, absent from mean-removed dictionaries) are left out: an
    analytic weight along them only amplifies rounding errors.
    """
    H = np.asarray(D, dtype=np.float64).T
    with threadpool_limits(limits=1, user_api="blas"):  # see lipschitz_constant
        U, s, Vt = np.linalg.svd(H, full_matrices=False)
    r = int(np.sum(s > _RANK_RTOL * s[0])) if s.size and s[0] > 0 else 0
    return U[:, :r], s[:r], Vt[:r].T


def generalized_coherence(W, D):
    r"""ALISTA's generalised coherence :math:`\max_{i \neq j} |w_i^\top h_j|`.

    Parameters
    ----------
    W : ndarray of shape (n_features, n_components)
        Columns :math:`w_i` (row convention of :func:`analytic_weights`).
        ``None``: the dictionary's own normalised atoms, so that the value is
        the mutual coherence :math:`\max_{i \neq j} |h_i^\top h_j| / (\|h_i\| \|h_j\|)`.
    D : ndarray of shape (n_components, n_features)
        The dictionary, rows :math:`h_j` (with ``W=None``, normalised).

    Returns
    -------
    mu : float
    """
    D = np.asarray(D, dtype=np.float64)
    if W is None:
        D = D / np.maximum(np.linalg.norm(D, axis=1, keepdims=True), 1e-300)
        W = D.T
    with threadpool_limits(limits=1, user_api="blas"):
        M = np.abs(np.asarray(W, dtype=np.float64).T @ D.T)
    np.fill_diagonal(M, 0.0)
    return float(M.max()) if M.size else 0.0


_ANALYTIC_CACHE = {}


def analytic_weights(D, objective="frobenius", n_iter=40):
    r"""ALISTA's analytic weight matrix, in row convention (shape ``(m, n)``).

    The weight of Liu et al. (ICLR 2019) minimises the generalised coherence
    with the dictionary :math:`H = D^\top`,

    .. math:: \min_W \max_{i \neq j} |w_i^\top h_j|
              \quad \text{subject to} \quad w_i^\top h_i = 1 \text{ for all } i.

    Each :math:`w_i` is taken in the range of :math:`H` (a component outside
    it changes no product :math:`w_i^\top h_j` and only amplifies noise), in
    the coordinates :math:`w_i = U \Sigma^{-1} c_i` of the truncated SVD
    :math:`H = U \Sigma V^\top` (numerical rank, relative tolerance
    ``1e-10``): there :math:`w_i^\top h_j = c_i^\top v_j` with orthonormal
    :math:`V`, a well-conditioned problem. The start is the minimiser of
    the smooth surrogate :math:`\|W^\top H\|_F` under the same constraint,
    in closed form :math:`c_i = v_i / \|v_i\|^2` (what the paper solves by
    projected gradient, and the default here); ``objective="coherence"`` then
    refines it toward the
    max by projected gradient descent on the :math:`\ell_p` norms of the rows
    of :math:`W^\top H` off its diagonal, :math:`p = 4, 8, 16, 32, 64`
    (``n_iter`` steps each, of length :math:`\propto 1/\sqrt{k}`, each
    projected back onto :math:`w_i^\top h_i = 1`), keeping per atom the
    iterate of smallest max. Deterministic; the result is cached per
    dictionary.

    Parameters
    ----------
    D : array-like of shape (n_components, n_features)
        The dictionary (rows are the atoms :math:`h_j`).
    objective : {"frobenius", "coherence"}, default="frobenius"
        The Frobenius surrogate, or the max (the paper's problem). The max
        lowers the generalised coherence (0.69 to 0.43 on a learned 8x8-patch
        dictionary, 0.20 to 0.09 on a 250 x 500 Gaussian one) but, with
        ALISTA's learned steps and thresholds, coded no better in our
        measurements (0.4 to 2.6 dB worse on 20 x 40 Gaussian and patch
        dictionaries, comparable for HyperLISTA), hence the default; the
        max's value is what :class:`CoherentDictionaryWarning` judges.
    n_iter : int, default=40
        Projected-gradient steps per exponent :math:`p`.

    Returns
    -------
    W : ndarray of shape (n_features, n_components)
        Columns :math:`w_i` with :math:`w_i^\top h_i = 1`.

    Examples
    --------
    >>> from skunfold.datasets import make_sparse_recovery
    >>> from skunfold.sparse import analytic_weights, generalized_coherence
    >>> _, _, D = make_sparse_recovery(n_samples=1, n_measurements=20, n_components=40,
    ...                                random_state=0)
    >>> F, W = analytic_weights(D), analytic_weights(D, objective="coherence")
    >>> bool(generalized_coherence(W, D) < generalized_coherence(F, D))
    True
    """
    if objective not in ("coherence", "frobenius"):
        raise ValueError(f"objective must be 'coherence' or 'frobenius', got {objective!r}")
    D = np.ascontiguousarray(D, dtype=np.float64)
    key = (D.shape, hash(D.tobytes()), objective, int(n_iter))
    if key in _ANALYTIC_CACHE:
        return _ANALYTIC_CACHE[key].copy()
    U, s, V = _range_basis(D)
    lev = np.sum(V * V, axis=1)  # ||v_i||^2 = h_i^T (H H^T)^+ h_i
    if np.any(lev < 1e-12):
        raise ValueError("the dictionary is rank deficient: analytic (ALISTA) weights do not "
                         "exist (an atom lies in the span of no direction of H)")
    C = V / lev[:, None]  # Frobenius minimiser
    if objective == "coherence" and D.shape[0] > 1:
        with threadpool_limits(limits=1, user_api="blas"):
            C = _refine_coherence(C, V, lev, int(n_iter))
    W = (U / s) @ C.T
    if len(_ANALYTIC_CACHE) > 16:
        _ANALYTIC_CACHE.clear()
    _ANALYTIC_CACHE[key] = W
    return W.copy()


def _refine_coherence(C, V, lev, n_iter, powers=(4, 8, 16, 32, 64)):
    r"""Projected gradient on :math:`\|\mathrm{offdiag}(C V^\top)_i\|_p`, best max kept per row."""
    diag = np.arange(len(C))
    M = C @ V.T
    M[diag, diag] = 0.0
    best, best_max = C.copy(), np.abs(M).max(axis=1)
    for p in powers:
        for k in range(n_iter):
            m = np.maximum(np.abs(M).max(axis=1, keepdims=True), 1e-300)
            R = M / m  # |R| <= 1: the p-th powers stay finite
            A = np.abs(R)
            G = (A ** (p - 1) * np.sign(R)) @ V  # gradient direction of ||M_i||_p wrt c_i
            G -= (np.sum(G * V, axis=1) / lev)[:, None] * V  # tangent to c_i^T v_i = 1
            norm = np.maximum(np.linalg.norm(G, axis=1, keepdims=True), 1e-300)
            C = C - (0.1 / np.sqrt(k + 1)) * m * G / norm
            C -= ((np.sum(C * V, axis=1) - 1.0) / lev)[:, None] * V  # back onto the constraint
            M = C @ V.T
            M[diag, diag] = 0.0
            row_max = np.abs(M).max(axis=1)
            better = row_max < best_max
            best[better] = C[better]
            best_max = np.minimum(best_max, row_max)
    return best


def analytic_step(W, D):
    r"""The step :math:`1 / \lambda_{\max}(W^\top H)` of the analytic iteration.

    The eigenvalues of :math:`W^\top H` are real and non-negative for the
    Frobenius weight (:math:`W^\top H = \Lambda^{-1} V V^\top`) and close to it
    after the refinement; :math:`s \mapsto s + \gamma W^\top (x - H s)` then
    has no expanding direction for :math:`\gamma \lambda_{\max} \leq 2`.
    The largest real part of the eigenvalues is used.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        A = np.asarray(W, dtype=np.float64).T @ np.asarray(D, dtype=np.float64).T
        lam = float(np.max(np.linalg.eigvals(A).real))
    return 1.0 / max(lam, 1e-12)


def analytic_coherence(D):
    r"""The smallest generalised coherence of an analytic weight: :math:`\tilde\mu(H)`.

    The value of ALISTA's problem (see :func:`analytic_weights` with
    ``objective="coherence"``, an upper bound of the exact minimum, cached per
    dictionary): the figure ALISTA's guarantees depend on.
    """
    return generalized_coherence(analytic_weights(D, objective="coherence"), D)


def check_coherence(D, owner):
    """Issue :class:`CoherentDictionaryWarning` when :func:`analytic_coherence` is too high.

    Returns the generalised coherence.
    """
    mu = analytic_coherence(D)
    if mu >= COHERENCE_LIMIT:
        warnings.warn(
            f"{owner}: the best analytic weight's generalised coherence with this dictionary is "
            f"{mu:.2f} (mutual coherence of the atoms {generalized_coherence(None, D):.2f}), "
            f">= {COHERENCE_LIMIT:.2f}: ALISTA's recovery guarantee (support size < "
            "(1 + 1/mu)/2) covers no code with two non-zeros or more, and analytic weights "
            "usually code worse than ISTA here. Use weights='dictionary' (UnfoldedISTA's "
            "'hyperparameters' paradigm), LISTA / LISTA-CP (paradigm='objective'), or FISTA",
            CoherentDictionaryWarning, stacklevel=constraints.caller_stacklevel())
    return mu


_FISTA_T = [1.0]


def fista_momentum(k):
    """FISTA's extrapolation coefficient :math:`(t_k - 1) / t_{k+1}` of iteration k (0-based)."""
    while len(_FISTA_T) < k + 2:
        t = _FISTA_T[-1]
        _FISTA_T.append((1.0 + math.sqrt(1.0 + 4.0 * t * t)) / 2.0)
    return (_FISTA_T[k] - 1.0) / _FISTA_T[k + 1]


class SparseCoding(Problem):
    r"""The LASSO :math:`\min_s \tfrac12 \|x - H s\|_2^2 + \alpha \|s\|_1`, solved by ISTA.

    One iteration is :math:`s \leftarrow \eta_{\theta}(\tilde s + \gamma W^\top (x - H \tilde s))`
    with :math:`\tilde s = s + \beta_k (s - s_{\text{prev}})` (FISTA's momentum when
    ``momentum``), :math:`W = H` (ISTA) or ALISTA's analytic matrix, and
    :math:`\eta_{\theta}` the soft thresholding, with support selection when asked.
    Its hyperparameters are the step :math:`\gamma = 1/L`, the threshold
    :math:`\theta = \alpha/L` and, with ``momentum``, FISTA's :math:`\beta_k`
    (``step``, ``threshold``, ``momentum``); with support selection, the fraction
    ``support`` of entries that bypass the shrinkage is a fixed per-layer
    schedule. The state is ``(s, s_prev)``, the readout ``s``.

    Parameters
    ----------
    dictionary : ndarray of shape (n_components, n_features)
        :math:`D = H^\top` (row convention, ``X = S @ D``).
    alpha : float, default=0.1
        The :math:`\ell_1` weight :math:`\alpha` of the objective; the initial threshold is
        :math:`\alpha / L`.
    weights : {"dictionary", "analytic"} or ndarray of shape (n_features, n_components)
        The matrix :math:`W` of the step.
    support_selection : (float, float) or None, default=None
        ``(step, max)`` percentages: layer :math:`k` (1-based) lets
        :math:`\min(\text{step} \cdot k, \text{max})` percent of the entries bypass the
        shrinkage.
    momentum : bool, default=False
    coupling : {None, "cp"}, default=None
        The objective paradigm's layers: LISTA (``None``) or LISTA-CP.
    """

    hyperparameter_constraints = {"momentum": "real", "support": "fixed"}

    def __init__(self, dictionary, alpha=0.1, weights="dictionary", support_selection=None,
                 momentum=False, coupling=None):
        D = np.asarray(dictionary, dtype=np.float64)
        self.D = torch.tensor(D)
        self.weights_kind = weights if isinstance(weights, str) else "given"
        W = analytic_weights(D) if weights == "analytic" else D.T if isinstance(weights, str) \
            else np.asarray(weights, dtype=np.float64)
        self.W = torch.tensor(np.ascontiguousarray(W))
        self.alpha = float(alpha)
        self.lipschitz = lipschitz_constant(D)
        # the step of the untrained iteration, 1/L: for W = H, ISTA; for the analytic W,
        # min(1/L, 1/lambda_max(W^T H)): usually lambda_max(W^T H) < L (2 to 8 against
        # L = ||H||^2), but an atom of small leverage (an arbitrary or estimated dictionary)
        # gives a larger eigenvalue; either way I - step W^T H has its eigenvalues in [0, 1]
        # (W^T H = diag(1/lev) P is similar to a symmetric PSD matrix, and the elementwise
        # shrinkage is non-expansive in the matching diagonal norm): a non-expansive start
        self.base_step = 1.0 / self.lipschitz
        if weights == "analytic":
            self.base_step = min(self.base_step, analytic_step(W, D))
        self.support_selection = support_selection
        self.momentum = bool(momentum)
        self.coupling = coupling
        self.hyperparameters = self.layer_hyperparameters(0)

    # -- the solver ---------------------------------------------------------------------
    def layer_hyperparameters(self, k):
        values = {"step": self.base_step, "threshold": self.alpha * self.base_step}
        if self.momentum:
            values["momentum"] = fista_momentum(k)
        if self.support_selection:
            values["support"] = self.support_fraction(k)
        return values

    def support_fraction(self, k):
        r"""Fraction bypassing shrinkage at layer ``k`` (0-based).

        :math:`\min(\text{step} \cdot (k + 1), \text{max})` percent.
        """
        if not self.support_selection:
            return 0.0
        step, cap = self.support_selection
        return min(step * (k + 1), cap) / 100.0

    def shrink(self, z, theta, support=0.0):
        """Soft thresholding, with support selection of a ``support`` fraction when positive."""
        if support > 0.0:
            return support_selected_threshold(z, theta, support)
        return soft_threshold(z, theta)

    def initial_state(self, x):
        s0 = x.new_zeros((x.shape[0], self.D.shape[0]))
        return (s0, s0)

    def step(self, state, x, step, threshold, momentum=None, support=0.0):
        s, s_prev = state
        s_in = s if momentum is None else s + momentum * (s - s_prev)
        z = s_in + step * (x - s_in @ self.D) @ self.W
        return self.shrink(z, threshold, support), s

    def readout(self, state):
        return state[0]

    def objective(self, estimate, x):
        r = x - estimate @ self.D
        return 0.5 * (r * r).sum(-1) + self.alpha * estimate.abs().sum(-1)

    def make_layers(self, paradigm, n_layers, *, tied, hidden_layer_sizes, sample):
        return sparse_layers(self, paradigm, n_layers, tied, hidden_layer_sizes)

    # -- transfer -------------------------------------------------------------------------
    def with_dictionary(self, dictionary):
        """The same problem on another dictionary (possibly of other sizes).

        The learned parameters of the classical and hyperparameters paradigms
        do not depend on the dictionary, so a fitted model of those paradigms
        runs on the new problem (see ``predict(X, dictionary=...)``).
        """
        weights = "dictionary" if self.weights_kind == "given" else self.weights_kind
        return type(self)._from(self, dictionary, weights)

    @classmethod
    def _from(cls, other, dictionary, weights):
        return cls(dictionary, other.alpha, weights, other.support_selection, other.momentum,
                   other.coupling)


class HyperLISTAProblem(SparseCoding):
    r"""HyperLISTA's iteration: ALISTA with momentum and instance-adaptive thresholds.

    :math:`z = s + W^\top (x - H s) + \beta (s - s_{\text{prev}})` with ALISTA's analytic
    :math:`W`, threshold :math:`\theta = c_1 \|H^+ (H s - x)\|_1`, momentum
    :math:`\beta = c_2 \|s\|_0` and support fraction
    :math:`\operatorname{clip}(c_3 \log(\|H^+ x\|_1 / \|H^+ (H s - x)\|_1), 0, 1)`:
    three hyperparameters for every layer (:math:`c_1, c_2, c_3` are ``c_threshold``,
    ``c_momentum``, ``c_support``).
    """

    hyperparameter_constraints = {}

    def __init__(self, dictionary, c_threshold=0.01, c_momentum=0.005, c_support=0.05,
                 alpha=0.1):
        super().__init__(dictionary, alpha, weights="analytic")
        D = np.asarray(dictionary, dtype=np.float64)
        U, s, V = _range_basis(D)  # H^+ on the numerical range of H (see analytic_weights)
        self.Hpinv = torch.as_tensor((U / s) @ V.T)  # (m, n): x @ Hpinv = (H^+ x)^T
        # the step of W^T (x - H s): see HYPERLISTA_STEP_LIMIT (step 1 diverged on learned
        # dictionaries, -200 dB)
        self.step_size = min(1.0, HYPERLISTA_STEP_LIMIT * analytic_step(self.W.numpy(), D))
        # [H^+ | W] side by side: the two products of the residual in one matrix product
        self.HpinvW = torch.cat([self.Hpinv.to(self.W.dtype), self.W], dim=1)
        self.hyperparameters = {"c_threshold": float(c_threshold),
                                "c_momentum": float(c_momentum),
                                "c_support": float(c_support)}

    def layer_hyperparameters(self, k):
        return self.hyperparameters

    def initial_state(self, x):
        r"""The state :math:`(s, s_{\text{prev}}, \|H^+ x\|_1) = (0, 0, \|H^+ x\|_1)`: the norm
        every layer needs, computed once."""
        s0 = x.new_zeros((x.shape[0], self.D.shape[0]))
        return (s0, s0, torch.abs(x @ self.Hpinv).sum(-1, keepdim=True))

    def step(self, state, x, c_threshold, c_momentum, c_support):
        s, s_prev, x_norm = state
        resid = x - s @ self.D                                           # x - H s
        n = self.D.shape[0]
        both = resid @ self.HpinvW                                       # [H^+ r, W^T r]
        res_norm = torch.abs(both[:, :n]).sum(-1, keepdim=True)          # ||H^+(Hs - x)||_1
        theta = c_threshold * res_norm
        beta = c_momentum * (s != 0).sum(-1, keepdim=True).to(s.dtype)
        z = s + self.step_size * both[:, n:] + beta * (s - s_prev)
        ratio = torch.clamp(x_norm, min=1e-30) / torch.clamp(res_norm, min=1e-30)
        frac = torch.clamp(c_support * torch.log(ratio), 0.0, 1.0)
        if not bool((frac > 0).any()):                                   # no support selection
            return soft_threshold(z, theta), s, x_norm
        return support_selected_threshold(z, theta, frac), s, x_norm

    def make_layers(self, paradigm, n_layers, *, tied, hidden_layer_sizes, sample):
        return None

    def safeguard_problem(self):
        """The classical map guarding HyperLISTA (core safeguard hook): :class:`AnalyticGuard`.

        HyperLISTA's own iteration computes its threshold, momentum and
        support from the iterate, so it is no classical, convergent map; the
        classical iteration it unfolds is ALISTA's analytic one.
        """
        return AnalyticGuard(self)

    @classmethod
    def _from(cls, other, dictionary, weights):
        h = other.hyperparameters
        return cls(dictionary, h["c_threshold"], h["c_momentum"], h["c_support"], other.alpha)


class AnalyticGuard(Problem):
    r"""ALISTA's classical iteration on HyperLISTA's states: the map of HyperLISTA's safeguard.

    :math:`s \leftarrow \eta_{\alpha/L}(s + W^\top (x - H s) / L)` with HyperLISTA's
    analytic :math:`W`, the LASSO threshold :math:`\alpha / L` and ALISTA's support
    selection (:math:`p_k = \min(1.2 (k + 1), 13)` percent bypass the shrinkage), i.e. the
    iteration an untrained ALISTA (``UnfoldedISTA(weights="analytic",
    support_selection=True)``) computes. It takes HyperLISTA's state
    :math:`(s, s_{\text{prev}}, \|H^+ x\|_1)` and returns
    :math:`(T(s), s, \|H^+ x\|_1)`: after
    a fallback, the next learned layer's momentum :math:`\beta (s_{k+1} - s_k)`
    is the classical step's, as after one of its own layers. It shares the
    tensors of the HyperLISTA problem it guards (no copy, any dtype/device).

    Parameters
    ----------
    problem : HyperLISTAProblem
    """

    def __init__(self, problem):
        self.guarded = problem

    def layer_hyperparameters(self, k):
        p = self.guarded
        step, cap = DEFAULT_SUPPORT_SELECTION
        return {"step": p.base_step, "threshold": p.alpha * p.base_step,
                "support": min(step * (k + 1), cap) / 100.0}

    def step(self, state, x, step, threshold, support):
        p = self.guarded
        s, _, *rest = state
        z = s + step * (x - s @ p.D) @ p.W
        return (p.shrink(z, threshold, support), s, *rest)

    def readout(self, state):
        return state[0]

    def objective(self, estimate, x):
        return self.guarded.objective(estimate, x)
