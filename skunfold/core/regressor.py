"""UnfoldedRegressor: the estimator of a user's own :class:`~skunfold.core.Problem`."""

import copy

from sklearn.base import RegressorMixin, TransformerMixin
from sklearn.utils import TransformerTags

from .estimator import UnfoldedEstimator
from .parameters import set_init_parameters
from .problem import Problem, check_problem

__all__ = ["UnfoldedRegressor"]


class UnfoldedRegressor(RegressorMixin, TransformerMixin, UnfoldedEstimator):
    """Any iterative solver, described as a :class:`~skunfold.core.Problem`, as an estimator.

    ``n_layers`` iterations of ``problem.step`` from ``problem.initial_state``
    become a network trained in the chosen paradigm (the survey's Sec. III):

    =============== ==========================================================
    paradigm        layer k
    =============== ==========================================================
    classical       the problem's step with its own hyperparameters (nothing
                    learned; exactly the classical solver)
    hyperparameters the step with learned per-layer hyperparameters (θʰ)
    objective       learned per-layer objective parameters (θᵒ) and
                    hyperparameters; the problem must declare
                    ``objective_parameters``
    correction      the classical step plus a learned network Δ(s, x), zero at
                    initialisation (shared by the layers unless ``tied=False``)
    dnn             a network per layer on the estimate and the observation, a
                    residual step from the current state
    =============== ==========================================================

    Every paradigm but ``"dnn"`` starts from the classical solver, so an
    untrained model (``max_epochs=0``) computes what the solver computes.
    ``fit(X, y)`` trains supervised on the problem's ``loss``, ``fit(X)`` on
    its objective (unsupervised), and targets that are entirely NaN are
    unlabeled (semi-supervised).

    Parameters
    ----------
    problem : Problem, default=None
        The solver to unfold (required; copied at every ``fit``, then prepared
        on the training data with :meth:`Problem.prepare`).
    n_layers : int, default=10
        Depth ``K``.
    paradigm : {"hyperparameters", "objective", "correction", "dnn", "classical"}, \
            default="hyperparameters"
    %(parameters)s
    Attributes
    ----------
    module_ : UnfoldedModule
        The fitted network (``net_.module_`` when trained).
    problem_ : Problem
        The fitted problem (its tensors on the model's device).
    net_ : UnfoldingNet or None
        The trained skorch net (``None`` when nothing was trained).
    history_ : skorch.History or None
        Per-epoch training (and validation) losses.
    n_features_in_ : int
        Size of the second axis of ``X``.
    layer_parameters_ : dict of str to ndarray
        The hyperparameters of every layer as plain numbers (column
        ``"layer"``, then one per hyperparameter): a table for
        ``pandas.DataFrame``.
    paradigm_ : str
        The paradigm fitted (``"classical"`` when nothing was trained).
    comparison_ : dict or None
        The check of ``fit`` against the untrained model (the classical solver)
        at the same depth: its full-depth loss ``"trained"`` and
        ``"classical"``, on what data (``"on"``) and which model was
        ``"kept"`` (see ``keep_best``); ``None`` when nothing was trained.
    n_iter_ : ndarray of shape (n_samples,)
        With ``fixed_point``: forward iterations of every training sample
        at the end of ``fit`` (the ``FixedPoint``'s ``max_iter`` where its
        ``tol`` was not reached).
    backward_n_iter_ : ndarray of shape (n_steps,)
        With ``fixed_point``: iterations of the backward solve of every
        training step (empty for the Jacobian-free gradient).
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Defined only when ``X`` has string feature names.

    See Also
    --------
    Problem : The contract a solver follows.
    skunfold.sparse.UnfoldedISTA : A family preset (LISTA, ALISTA).

    Examples
    --------
    >>> import numpy as np, torch
    >>> from skunfold.core import Problem, UnfoldedRegressor
    >>> class Averaging(Problem):
    ...     hyperparameters = {"step": 0.5}
    ...     def initial_state(self, x):
    ...         return torch.zeros_like(x)
    ...     def step(self, s, x, step):
    ...         return s + step * (x - s)
    ...     def objective(self, s, x):
    ...         return 0.5 * ((x - s) ** 2).sum(dim=1)
    >>> X = np.random.default_rng(0).normal(size=(64, 3))
    >>> est = UnfoldedRegressor(Averaging(), n_layers=3, max_epochs=0).fit(X)
    >>> bool(np.allclose(est.predict(X), (1 - 0.5 ** 3) * X))
    True
    >>> [round(float(np.abs(e - X).max() / np.abs(X).max()), 3) for e in est.staged_predict(X)]
    [0.5, 0.25, 0.125]
    """

    supports = ("training", "fixed_point", "safeguard", "adversarial", "unsupervised",
                "semi_supervised", "complex_input")
    default_lr = {"hyperparameters": 1e-2, None: 1e-3}

    def __init__(self, problem=None, *, n_layers=10, paradigm="hyperparameters", tied=None,
                 hidden_layer_sizes=(32,), loss_schedule="end_to_end", max_epochs=50, lr=None,
                 batch_size=64, optimizer=None, early_stopping=False, fixed_point=False,
                 keep_best=True, max_time=None, safeguard=False, adversarial=False, device="auto",
                 n_threads=None, warm_start=False, random_state=None, verbose=0):
        set_init_parameters(self, locals())

    def accepts_complex(self):
        """Whether ``X`` may be complex: the problem's ``complex_input``."""
        return isinstance(self.problem, Problem) and bool(self.problem.complex_input)

    def build_problem(self, X, y):
        """A copy of ``problem``, prepared on the training data."""
        if self.problem is None:
            raise ValueError("UnfoldedRegressor needs a problem: UnfoldedRegressor(MyProblem(...))")
        problem = copy.deepcopy(check_problem(self.problem))
        prepared = problem.prepare(X, y)
        return problem if prepared is None else check_problem(prepared)

    def transform(self, X, **side_information):
        """The estimate after the last layer, as a representation of ``X`` (for a Pipeline).

        The same values as :meth:`predict`, always of shape ``(n_samples, ...)``
        (not squeezed to 1-D).

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
        **side_information : array-like of shape (n_samples, ...)

        Returns
        -------
        estimate : ndarray of shape (n_samples, ...)
        """
        return self.iterate(X, **side_information)

    # one meaning of score for every regressor (the core's): R² with y, the objective without
    score = UnfoldedEstimator.score

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        tags.target_tags.multi_output = True
        tags.transformer_tags = TransformerTags(preserves_dtype=["float64", "float32"])
        return tags
