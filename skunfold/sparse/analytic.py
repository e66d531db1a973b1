r"""ALISTA's analytic weights on any dictionary, and the coherence that judges them.

:func:`analytic_weights` solves ALISTA's problem in the range of :math:`H`;
:func:`generalized_coherence` and :func:`analytic_coherence` measure it, and
:func:`check_coherence` issues :class:`CoherentDictionaryWarning` where the
analytic weights' guarantees are void (dictionaries learned from data).
"""

import warnings

import numpy as np
from threadpoolctl import threadpool_limits

from ..core import constraints

__all__ = ["CoherentDictionaryWarning", "COHERENCE_LIMIT", "HYPERLISTA_STEP_LIMIT",
           "generalized_coherence", "analytic_weights", "analytic_step", "analytic_coherence",
           "check_coherence", "range_basis"]


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


def range_basis(D):
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
    U, s, V = range_basis(D)
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
