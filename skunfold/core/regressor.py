"""UnfoldedRegressor: the estimator of a user's own :class:`~skunfold.core.Problem`."""

import copy

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.metrics import r2_score

from .estimator import UnfoldedEstimator
from .parameters import document_parameters, set_init_parameters
from .problem import check_problem
from .safeguard import SafeguardMixin

__all__ = ["UnfoldedRegressor"]


@document_parameters
class UnfoldedRegressor(SafeguardMixin, RegressorMixin, UnfoldedEstimator):
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
    tied : bool or None, default=None
        Share one layer's parameters by all layers (the network then runs at
        any depth); ``None``: tied for ``"correction"``, untied otherwise.
    hidden_layer_sizes : tuple of int, default=(32,)
        Hidden widths of the generic correction and DNN networks.
    %(training_parameters)s
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
    n_iter_ : ndarray of shape (n_samples,)
        With ``fixed_point=True``: forward iterations of every training sample
        at the end of ``fit`` (``fixed_point_max_iter`` where ``fixed_point_tol`` was
        not reached).
    backward_n_iter_ : ndarray of shape (n_steps,)
        With ``fixed_point=True``: iterations of the backward solve of every
        training step (empty for the Jacobian-free gradient).
    feature_names_in_ : ndarray of shape (n_features_in_,)
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

    default_lr = {"hyperparameters": 1e-2, None: 1e-3}

    def __init__(self, problem=None, *, n_layers=10, paradigm="hyperparameters", tied=None,
                 hidden_layer_sizes=(32,), loss_schedule="end_to_end", max_epochs=50, lr=None,
                 lr_schedule="constant", max_grad_norm=None, batch_size=64, optimizer="adam",
                 unsupervised_weight=1.0, early_stopping=False, validation_fraction=0.1,
                 n_iter_no_change=10, fixed_point=False, fixed_point_tol=1e-4,
                 fixed_point_max_iter=100, fixed_point_solver="anderson",
                 fixed_point_backward="implicit",
                 safeguard=False, safeguard_delta=0.05, safeguard_rule="ema", safeguard_theta=0.5,
                 safeguard_residual="fixed_point", adversarial_radius=0.0, adversarial_steps=3,
                 device="auto", n_threads=None, warm_start=False, random_state=None, verbose=0):
        set_init_parameters(self, locals())

    def build_problem(self, X, y):
        """A copy of ``problem``, prepared on the training data."""
        if self.problem is None:
            raise ValueError("UnfoldedRegressor needs a problem: UnfoldedRegressor(MyProblem(...))")
        problem = copy.deepcopy(check_problem(self.problem))
        prepared = problem.prepare(X, y)
        return problem if prepared is None else prepared

    def predict(self, X, **side_information):
        """The estimate after the last layer.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
        **side_information : array-like of shape (n_samples, ...)

        Returns
        -------
        estimate : ndarray of shape (n_samples, ...)
            The problem's readout, in the precision of ``X`` (1-D when the model
            was fitted on a 1-D ``y``).
        """
        return self._squeeze(self.iterate(X, **side_information))

    def staged_predict(self, X, n_layers=None, **side_information):
        """Yield the estimate after each layer ``k = 1, ..., n_layers``.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
        n_layers : int, optional
            Depth to run (default: the fitted depth).
        **side_information : array-like of shape (n_samples, ...)

        Yields
        ------
        estimate : ndarray of shape (n_samples, ...)
        """
        for estimate in self.staged_iterate(X, n_layers, **side_information):
            yield self._squeeze(estimate)

    def _squeeze(self, estimate):
        if getattr(self, "_target_1d", False) and estimate.ndim == 2 and estimate.shape[1] == 1:
            return estimate[:, 0]
        return estimate

    def score(self, X, y=None, sample_weight=None, **side_information):
        """R² of the estimate against ``y``; without ``y``, the objective.

        With targets, the coefficient of determination over all output entries
        (scikit-learn's regressor score). Without (``y=None``, as in a grid
        search of unsupervised fits), the mean objective: itself when the
        problem maximises it, its negative otherwise, so higher is better.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
        y : array-like of shape (n_samples, ...), default=None
        sample_weight : array-like of shape (n_samples,), default=None
        **side_information : array-like of shape (n_samples, ...)

        Returns
        -------
        score : float
        """
        estimate = self.iterate(X, **side_information)
        if y is None:
            values = self.objective_values(X, estimate, **side_information)
            mean = float(np.average(values, weights=sample_weight))
            return mean if self.problem_.maximize else -mean
        y = np.asarray(y)
        return float(r2_score(y.reshape(len(y), -1), estimate.reshape(len(estimate), -1),
                              sample_weight=sample_weight))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        tags.target_tags.multi_output = True
        return tags
