r"""Sparse recovery :math:`x = H s + e` as a :class:`~skunfold.core.Problem`: the LASSO and ISTA.

Row convention throughout: a batch of observations ``x`` has shape
``(batch, m)``, codes ``s`` have shape ``(batch, n)`` and the dictionary ``D``
has shape ``(n, m)`` (:math:`D = H^\top`), so that ``x ~ s @ D``. The ISTA step
:math:`s + \mu H^\top (x - H s)` reads ``s + mu * (x - s @ D) @ D.T`` in code.

The dictionary may also be matrix-free (see ``is_operator``): a SciPy sparse matrix
(still the dictionary :math:`D`, shape ``(n, m)``, row convention), or a linear
*operator* -- a :mod:`skunfold.imaging` operator, a SciPy ``LinearOperator``, a PyLops
operator -- which maps codes to observations: it plays :math:`H = D^\top`, shape
``(m, n)``. Either way the step runs through :func:`skunfold.imaging.as_operator`'s
``forward`` / ``adjoint`` (no dense copy) and :math:`L` comes from a power iteration.
"""

import math

import numpy as np
import scipy.sparse
import torch
from threadpoolctl import threadpool_limits

from ..core import Problem, soft_threshold
from ..imaging import ImagingOperator, as_operator
from .analytic import (
    HYPERLISTA_STEP_LIMIT,
    analytic_step,
    analytic_weights,
    range_basis,
)
from .iterations import sparse_layers

__all__ = [
    "SparseCoding",
    "HyperLISTAProblem",
    "AnalyticGuard",
    "support_selected_threshold",
    "lipschitz_constant",
    "operator_lipschitz",
    "is_operator",
    "dictionary_operator",
    "n_atoms",
    "reconstruct",
    "fista_momentum",
    "DEFAULT_SUPPORT_SELECTION",
]

#: Support selection of LISTA-CPSS / ALISTA: p_k = min(1.2 k, 13) percent.
DEFAULT_SUPPORT_SELECTION = (1.2, 13.0)


def support_selected_threshold(z, theta, fraction):
    """Soft thresholding with support selection (the "SS" of LISTA-CPSS / ALISTA).

    Per sample, the entries among the largest ``fraction`` of :math:`|z|` that also
    exceed ``theta`` bypass the shrinkage (ties with the last of the largest included).
    ``fraction`` is a float or a tensor of shape ``(batch, 1)``; the bypass mask carries
    no gradient. The selection is a comparison with the ``count``-th largest magnitude of
    each row: no data-dependent shapes or branches, so it exports (``torch.export``,
    ONNX) as it runs.
    """
    shrunk = soft_threshold(z, theta)
    n = z.shape[-1]
    absz = torch.abs(z)
    if torch.is_tensor(fraction):
        # per-sample fraction (HyperLISTA): the count-th largest magnitude of each row
        with torch.no_grad():
            counts = torch.clamp((fraction * n).ceil().long(), 0, n)
            kth = _kth_largest(absz, counts)
            mask = (absz > theta) & (absz >= kth) & (counts > 0)
        return torch.where(mask, z, shrunk)
    count = int(math.ceil(fraction * n))
    if count <= 0:
        return shrunk
    with torch.no_grad():
        # a row with at most ``count`` entries above theta bypasses all of them: they are all
        # at least its count-th largest magnitude
        kth = torch.topk(absz, min(count, n), dim=-1).values[..., -1:]
        mask = (absz > theta) & (absz >= kth)
    return torch.where(mask, z, shrunk)


def _kth_largest(absz, counts):
    """The ``counts``-th largest entry of each row of ``absz`` (shape ``(batch, 1)``; count 0: any).

    Eagerly a partial selection up to the largest count; under ``torch.export`` or
    ``torch.compile`` (no data-dependent shape there) a full sort: the same values.
    """
    index = torch.clamp(counts - 1, min=0)
    if torch.compiler.is_compiling():
        return torch.gather(torch.sort(absz, dim=-1, descending=True).values, -1, index)
    top = torch.topk(absz, max(1, int(counts.max())), dim=-1).values
    return torch.gather(top, -1, index)


def lipschitz_constant(D):
    r""":math:`L = 1.001 \|H\|_2^2`, the Lipschitz constant of the least-squares gradient.

    The SVD runs on one BLAS thread: for a dictionary of a few hundred atoms
    that is as fast as several on a quiet machine and many times faster on a
    busy one (threads that share cores wait for each other).
    """
    D = np.asarray(D, dtype=np.float64)
    with threadpool_limits(limits=1, user_api="blas"):
        return 1.001 * float(np.linalg.norm(D, ord=2)) ** 2


def is_operator(dictionary):
    """Whether ``dictionary`` is matrix-free: a SciPy sparse matrix or a linear operator.

    Operators are :class:`~skunfold.imaging.ImagingOperator` objects and anything with
    ``shape``, ``matvec`` and ``rmatvec`` (SciPy ``LinearOperator``, PyLops operators);
    arrays, lists and tensors are dense dictionaries.

    Examples
    --------
    >>> import numpy as np, scipy.sparse
    >>> from skunfold.sparse import is_operator
    >>> is_operator(np.eye(3)), is_operator(scipy.sparse.eye(3))
    (False, True)
    """
    if dictionary is None or isinstance(dictionary, (np.ndarray, torch.Tensor, list, tuple)):
        return False
    return scipy.sparse.issparse(dictionary) or isinstance(dictionary, ImagingOperator) or all(
        hasattr(dictionary, a) for a in ("shape", "matvec", "rmatvec"))


def dictionary_operator(dictionary):
    r""":math:`H` (shape ``(n_features, n_components)``) of a matrix-free dictionary.

    A sparse matrix is a dictionary in the row convention, ``(n_components, n_features)``:
    :math:`H` is its transpose (no copy). An operator maps codes to observations: it is
    :math:`H` itself. Returns an :class:`~skunfold.imaging.ImagingOperator`
    (:func:`~skunfold.imaging.as_operator`).
    """
    if scipy.sparse.issparse(dictionary):
        return as_operator(dictionary.T)
    return as_operator(dictionary)


def n_atoms(dictionary):
    """The number of atoms (``n_components``) of a dense or matrix-free dictionary."""
    if is_operator(dictionary) and not scipy.sparse.issparse(dictionary):
        return int(dictionary.shape[1])
    return int(np.shape(dictionary)[0])


def reconstruct(S, dictionary):
    r"""The reconstructions :math:`H s` of codes ``S`` (n_samples, n_components), in float64.

    ``S @ dictionary`` for a dense dictionary; the operator's ``forward`` otherwise.
    """
    if not is_operator(dictionary):
        return np.asarray(S, dtype=np.float64) @ dictionary
    H = dictionary_operator(dictionary)
    with torch.no_grad():
        out = H.forward(torch.from_numpy(np.ascontiguousarray(S, dtype=np.float64)))
    return out.numpy()


def operator_lipschitz(operator, rtol=1e-10, max_iter=200, random_state=0):
    r""":math:`L = 1.001 \|H\|_2^2` of an operator, by power iteration (never an SVD).

    :meth:`ImagingOperator.norm <skunfold.imaging.ImagingOperator.norm>`'s power
    iteration on :math:`H^\top H` (float64, non-negative random start) stops when its
    estimate :math:`\|H v_k\|` changes by less than ``rtol`` (relative), at most
    ``max_iter`` iterations (one ``forward`` and one ``adjoint`` each). The estimate grows
    to :math:`\|H\|_2` from below; on a dense matrix it agrees with the SVD's
    :func:`lipschitz_constant` to about ``rtol`` (1e-9 on a 20 x 40 Gaussian matrix in
    about 100 iterations); on a blur, whose top singular values cluster, 200 iterations
    leave it about 2e-7 low, well inside the 1.001 margin.

    Examples
    --------
    >>> import numpy as np
    >>> from skunfold.imaging import Blur, as_operator
    >>> from skunfold.sparse import operator_lipschitz
    >>> round(operator_lipschitz(as_operator(np.diag([2.0, 1.0]))), 6)
    4.004
    >>> round(operator_lipschitz(Blur((16, 16), sigma=1.0)), 4)
    1.001
    """
    value = operator.norm(n_iter=int(max_iter), random_state=random_state, tol=rtol)
    return 1.001 * value ** 2


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
    dictionary : ndarray or sparse matrix of shape (n_components, n_features), or operator
        :math:`D = H^\top` (row convention, ``X = S @ D``); or a linear operator of shape
        (n_features, n_components) playing :math:`H` (see ``is_operator``), run
        matrix-free (``weights="dictionary"`` only; no LISTA matrices).
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
        self.operator = None
        if is_operator(dictionary):
            self._init_operator(dictionary, alpha, weights, support_selection, momentum,
                                coupling)
            return
        D = np.asarray(dictionary, dtype=np.float64)
        self.n_components = D.shape[0]
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

    def _init_operator(self, dictionary, alpha, weights, support_selection, momentum, coupling):
        """The matrix-free problem: :math:`H` an operator, :math:`W = H`, :math:`L` by power
        iteration."""
        if not (isinstance(weights, str) and weights == "dictionary"):
            shown = weights if isinstance(weights, str) else "a given matrix"
            raise ValueError(f"weights={shown!r} needs the dictionary as a dense array (ALISTA's "
                             "analytic weights are computed from the matrix); with a sparse "
                             "matrix or an operator as dictionary only weights='dictionary' "
                             "works")
        self.operator = dictionary_operator(dictionary)
        if np.iscomplexobj(np.empty(0, self.operator.dtype)):
            raise ValueError(f"the dictionary operator ({type(dictionary).__name__}) is complex: "
                             "sparse coding needs a real operator (for complex measurements, "
                             "e.g. MRI, use skunfold.imaging.UnfoldedProximalGradient)")
        self.D = self.W = None
        self.n_components = int(self.operator.shape[1])
        self.weights_kind = "dictionary"
        self.alpha = float(alpha)
        self.lipschitz = operator_lipschitz(self.operator)
        self.base_step = 1.0 / self.lipschitz
        self.support_selection = support_selection
        self.momentum = bool(momentum)
        self.coupling = coupling
        self.hyperparameters = self.layer_hyperparameters(0)

    def residual_correlation(self, s, x, scale=1.0):
        r""":math:`c \, H^\top (x - H s)` (``scale`` :math:`c`): the negative gradient of the
        data fit."""
        if self.operator is None:
            return scale * (x - s @ self.D) @ self.D.T
        return scale * self.operator.adjoint(x - self.operator.forward(s))

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
        s0 = x.new_zeros((x.shape[0], self.n_components))
        return (s0, s0)

    def step(self, state, x, step, threshold, momentum=None, support=0.0):
        s, s_prev = state
        s_in = s if momentum is None else s + momentum * (s - s_prev)
        if self.operator is None:
            z = s_in + step * (x - s_in @ self.D) @ self.W
        else:
            z = s_in + step * self.operator.adjoint(x - self.operator.forward(s_in))
        return self.shrink(z, threshold, support), s

    def readout(self, state):
        return state[0]

    def objective(self, estimate, x):
        r = x - (estimate @ self.D if self.operator is None else self.operator.forward(estimate))
        return 0.5 * (r * r).sum(-1) + self.alpha * estimate.abs().sum(-1)

    def make_layers(self, paradigm, n_layers, *, tied, hidden_layer_sizes, sample):
        """The family's layers (:func:`~skunfold.sparse.iterations.sparse_layers`); on an
        operator, the objective paradigm learns a filter or a diagonal, no matrix."""
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
        U, s, V = range_basis(D)  # H^+ on the numerical range of H (see analytic_weights)
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
        every layer needs, computed once.

        By the product the first layer computes for its residual :math:`x - H 0`, so
        that the ratio of the two norms is exactly 1 there and the first support
        fraction exactly 0: by another product, a rounding of one unit could make it
        positive and select an entry, in some batches and not others."""
        s0 = x.new_zeros((x.shape[0], self.n_components))
        pinv_x, _ = self.residual_products(x)
        return (s0, s0, torch.abs(pinv_x).sum(-1, keepdim=True))

    # the three products of the iteration (hooks of the matrix-free HyperLISTA)
    def synthesis(self, s):
        """:math:`H s` of each row of ``s``."""
        return s @ self.D

    def pseudo_inverse(self, r):
        """:math:`H^+ r` of each row of ``r``."""
        return r @ self.Hpinv

    def residual_products(self, r):
        r""":math:`(H^+ r, W^\top r)` of each row of ``r``, by one matrix product."""
        both = r @ self.HpinvW
        return both[:, :self.n_components], both[:, self.n_components:]

    def step(self, state, x, c_threshold, c_momentum, c_support):
        s, s_prev, x_norm = state
        pinv_r, weighted = self.residual_products(x - self.synthesis(s))   # r = x - H s
        res_norm = torch.abs(pinv_r).sum(-1, keepdim=True)               # ||H^+(Hs - x)||_1
        theta = c_threshold * res_norm
        beta = c_momentum * (s != 0).sum(-1, keepdim=True).to(s.dtype)
        z = s + self.step_size * weighted + beta * (s - s_prev)
        ratio = torch.clamp(x_norm, min=1e-30) / torch.clamp(res_norm, min=1e-30)
        frac = torch.clamp(c_support * torch.log(ratio), 0.0, 1.0)
        # a row of fraction 0 is soft-thresholded (no branch on the values: exportable)
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
