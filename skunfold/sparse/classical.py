"""The classical sparse-recovery solvers as estimators: ISTA, FISTA and AMP (nothing learned).

Presets of :class:`~skunfold.core.UnfoldedEstimator` (through the sparse
coders' base, :mod:`skunfold.sparse.coding`) that declare no training: the
classical iteration of :class:`~skunfold.sparse.SparseCoding` or
:class:`~skunfold.sparse.AMPProblem`, run ``n_layers`` times.
"""

from ..core import Param, constraints, set_init_parameters
from .amp import AMPProblem
from .coding import OPERATOR_DICTIONARY_ROW, AMPCoderMixin, SparseCoderMixin
from .problem import SparseCoding

__all__ = ["ISTA", "FISTA", "AMP"]

#: The rows ISTA and FISTA share (their docstring text).
_ISTA_ROWS = {
    "dictionary": OPERATOR_DICTIONARY_ROW,
    "n_layers": Param(constraints.integer(1), "int", """
        Number of iterations."""),
    "alpha": Param(constraints.real(0), "float", """
        The l1 weight."""),
}


class ISTA(SparseCoderMixin):
    r"""Iterative soft-thresholding, the classical model-based solver (nothing learned).

    :math:`s \leftarrow \eta_{\alpha/L}(s + H^\top (x - H s) / L)` run for ``n_layers``
    iterations from :math:`s = 0`, with :math:`L = 1.001 \|H\|_2^2`; it minimises the
    LASSO :math:`\tfrac12 \|x - H s\|_2^2 + \alpha \|s\|_1`, the same objective as
    :class:`sklearn.decomposition.SparseCoder` with
    ``transform_algorithm="lasso_cd", transform_alpha=alpha``. Computation is
    done in the dtype of ``X`` (float32 or float64).

    ``dictionary`` may be matrix-free: a SciPy sparse matrix (row convention, like a
    dense one) or a linear operator playing :math:`H` (codes to observations, shape
    ``(n_features, n_components)``), e.g. a :class:`skunfold.imaging.Blur` for a
    deconvolution with sparse pixels, a SciPy ``LinearOperator`` or a PyLops operator.
    The iteration then applies its ``forward`` / ``adjoint`` (no dense copy) and
    :math:`L` comes from a power iteration (:func:`~skunfold.sparse.operator_lipschitz`);
    a dense array runs as before (exact :math:`L` by SVD).

    Parameters
    ----------
    %(parameters)s

    Attributes
    ----------
    module_ : UnfoldedModule
        The solver as a torch module.
    problem_ : SparseCoding
        The fitted problem.
    dictionary_ : ndarray of shape (n_components, n_features), sparse matrix or operator
        The dictionary used: a dense one as an array, a sparse matrix or an operator as
        given.
    dictionary_estimated_ : bool
    n_components_ : int
    lipschitz_ : float
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined only when ``X`` has string feature names.

    See Also
    --------
    FISTA, UnfoldedISTA

    Examples
    --------
    >>> from skunfold.datasets import make_sparse_recovery
    >>> from skunfold.sparse import ISTA
    >>> X, S, D = make_sparse_recovery(n_samples=5, n_measurements=20, n_components=40,
    ...                                random_state=0)
    >>> ISTA(dictionary=D, n_layers=50).fit(X).transform(X).shape
    (5, 40)
    """

    parameter_table = _ISTA_ROWS
    accepts_operators = True
    _momentum = False

    def __init__(self, dictionary=None, *, n_layers=100, alpha=0.1, device="auto",
                 n_threads=None, verbose=0):
        set_init_parameters(self, locals())

    def _make_problem(self, D):
        return SparseCoding(D, self.alpha, momentum=self._momentum)


class FISTA(ISTA):
    r"""FISTA: ISTA with Nesterov momentum :math:`s + \frac{t_k - 1}{t_{k+1}} (s - s_{k-1})`.

    Same parameters and attributes as :class:`ISTA`.

    Parameters
    ----------
    %(parameters)s

    Examples
    --------
    >>> from skunfold.datasets import make_sparse_recovery
    >>> from skunfold.sparse import FISTA
    >>> X, S, D = make_sparse_recovery(n_samples=5, n_measurements=20, n_components=40,
    ...                                random_state=0)
    >>> FISTA(dictionary=D, n_layers=50).fit(X).predict(X).shape
    (5, 40)
    """

    _momentum = True


class AMP(AMPCoderMixin):
    r"""Approximate message passing, the classical solver (nothing learned).

    From :math:`s_0 = 0`, :math:`v_{-1} = 0`, :math:`b_0 = 0`, each iteration computes
    the residual with the Onsager term :math:`v_t = x - A s_t + b_t v_{t-1}`, the
    per-sample noise-level estimate :math:`\sigma_t^2 = \|v_t\|_2^2 / m`, and
    :math:`s_{t+1} = \eta(s_t + A^\top v_t)` with
    :math:`b_{t+1} = \tfrac{n}{m} \operatorname{mean}(\eta')`.
    With ``denoiser="soft"``, :math:`\eta` is soft thresholding at
    :math:`\alpha \sigma_t` (:math:`b_{t+1} = \|s_{t+1}\|_0 / m`); with ``"bg"`` it is
    the MMSE estimate of the Bernoulli(``sparsity``)-Gaussian(``signal_var``)
    prior (Bayes-optimal AMP). For :math:`A` with i.i.d. entries the error of each
    iteration is predicted by :func:`amp_state_evolution`. Computation is done
    in the dtype of ``X``.

    Parameters
    ----------
    dictionary : array-like of shape (n_components, n_features), default=None
        :math:`A^\top` in scikit-learn's row convention, ``X = S @ dictionary`` (see
        :class:`UnfoldedISTA`); ``None``: estimated from ``(X, y)`` by least
        squares (a :class:`DictionaryEstimatedWarning` says so). AMP assumes
        :math:`A` with i.i.d. zero-mean entries of variance :math:`1/m` (or columns of
        unit norm). Also matrix-free, as for :class:`ISTA`: a SciPy sparse matrix (same
        convention) or a linear operator playing :math:`A` (a :mod:`skunfold.imaging`
        operator, a SciPy ``LinearOperator``, a PyLops operator), never copied densely:
        the Onsager term needs only the sizes, and the atoms' norm and the
        ensemble statistics of ``damping="auto"`` come from random probes (see
        :class:`AMPProblem`).
    n_layers : int, default=30
        Number of iterations.
    denoiser : {"soft", "bg"}, default="soft"
    alpha : float, default=1.1402
        Threshold multiplier of the soft denoiser (1.1402 is the minimax value
        for :math:`p = 0.1`, :math:`m / n = 0.5`).
    %(parameters)s

    Attributes
    ----------
    module_ : UnfoldedModule
        The solver as a torch module.
    problem_ : AMPProblem
        The fitted problem.
    dictionary_ : ndarray of shape (n_components, n_features)
    dictionary_estimated_ : bool
    n_components_ : int
    lipschitz_ : float
        :math:`1.001 \|A\|_2^2` (reported for comparison with ISTA; AMP does not use it).
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined only when ``X`` has string feature names.

    See Also
    --------
    UnfoldedAMP : AMP unfolded into trainable layers (LAMP).
    amp_state_evolution : The scalar recursion predicting AMP's error.
    ISTA, FISTA : Proximal-gradient solvers of the LASSO.

    References
    ----------
    .. [1] D. L. Donoho, A. Maleki and A. Montanari, "Message-passing
       algorithms for compressed sensing", PNAS 106(45), 2009.
    .. [2] M. Borgerding, P. Schniter and S. Rangan, "AMP-inspired deep
       networks for sparse linear inverse problems", IEEE Trans. Signal
       Process. 65(16), 2017.

    Examples
    --------
    >>> from skunfold.datasets import make_sparse_recovery
    >>> from skunfold.metrics import nmse_db
    >>> from skunfold.sparse import AMP
    >>> X, S, D = make_sparse_recovery(n_samples=200, n_measurements=100, n_components=200,
    ...                                snr_db=40, random_state=0)
    >>> amp = AMP(D, n_layers=20).fit(X)
    >>> amp.predict(X).shape
    (200, 200)
    >>> bool(nmse_db(S, amp.predict(X)) < -20)
    True
    """

    parameter_table = {"denoiser": Param(constraints.options("soft", "bg"), "str")}
    accepts_operators = True

    def __init__(self, dictionary=None, *, n_layers=30, denoiser="soft", alpha=1.1402,
                 sparsity=0.1, signal_var=1.0, damping="auto", device="auto", n_threads=None,
                 verbose=0):
        set_init_parameters(self, locals())

    def _make_problem(self, D):
        return AMPProblem(D, self.denoiser, self.alpha, self.sparsity, self.signal_var,
                          damping=self.damping, normalize=True)
