"""The inference half of the estimator life-cycle: ``iterate``, ``predict``, ``score``.

:class:`Predictions` is a base of :class:`~skunfold.core.UnfoldedEstimator`
(the fit half lives there): it runs the fitted module over host arrays
(:mod:`skunfold.core.inference`) with the estimator's validation, device and
threads, and gives every estimator the same ``predict``, ``staged_predict``,
``score`` and ``objective_values``.
"""

import copy

import numpy as np
import torch
from sklearn.metrics import r2_score
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_array, check_is_fitted

from .constraints import check_complex_array, check_input_ndim, check_int
from .inference import chunk_rows, inference_mode, run_layers, run_layers_staged
from .module import module_device, module_dtype
from .ops import to_numpy, to_tensor
from .problem import check_problem, converted_copy, evaluation_mode

__all__ = ["Predictions", "DivergedOutputError", "check_finite_estimate"]


class DivergedOutputError(FloatingPointError):
    """Raised at inference when a model's output is not finite (or, as a family checks, exploded).

    A diverging iteration (a step too large for the data, a model trained on
    other data) returns garbage rather than an estimate; ``predict`` raises
    this instead, so a grid search scores the candidate as failed
    (``error_score``) instead of selecting it. The estimator is unchanged.
    """


def check_finite_estimate(estimate, owner, n_layers=None):
    """Return ``estimate``; raise :class:`DivergedOutputError` when it holds NaN or inf."""
    if estimate.dtype.kind in "fc" and not np.isfinite(estimate).all():
        bad = int((~np.isfinite(estimate.reshape(len(estimate), -1))).any(axis=1).sum())
        depth = "" if n_layers is None else f" after {n_layers} layer(s)"
        raise DivergedOutputError(
            f"{type(owner).__name__} produced non-finite estimates{depth} for {bad} of "
            f"{len(estimate)} samples: the iteration diverged on these inputs (a step or "
            "threshold unsuited to their scale, or inputs unlike the training data). Check the "
            "scale of X, use fewer layers or refit on data like these")
    return estimate


def _supports_safeguard(estimator):
    return "safeguard" in estimator.supports


class Predictions:
    """Inference of a fitted unfolded estimator (a base of :class:`UnfoldedEstimator`)."""

    def _check_depth(self, n_layers, module, allow_zero=False):
        if n_layers is None:
            return module.n_layers
        n_layers = check_int(n_layers, "n_layers", min_value=0 if allow_zero else 1)
        return module.check_depth(n_layers, allow_zero=allow_zero)

    def _inference_module(self, problem):
        module = self.module_
        if problem is not None:
            device, dtype = module_device(module), module_dtype(module)
            module = copy.copy(module)
            object.__setattr__(module, "problem", converted_copy(
                check_problem(problem), lambda t: to_tensor(t, dtype, device)))
        return module

    def _prepare_inference(self, X, side, problem):
        if not self.__sklearn_is_fitted__():  # the check's own message; it passes otherwise
            check_is_fitted(self)
        if problem is None:
            X = self.validate_input(X, reset=False)
        else:
            X = check_input_ndim(X, self)
            if self.accepts_complex() and np.iscomplexobj(X):
                X = check_complex_array(X, "X", min_ndim=2)
            else:
                X = check_array(X, allow_nd=True, dtype=[np.float64, np.float32], input_name="X")
        module = self._inference_module(problem)
        side = self._validate_side(side, module.problem, len(X))
        if problem is None and set(side) != set(self._side_names):
            raise ValueError(f"{type(self).__name__} was fitted with the side information "
                             f"{sorted(self._side_names)} and received the side information "
                             f"{sorted(side)}; pass the same arrays (one per sample of X)")
        return X, side, module

    def iterate(self, X, n_layers=None, *, problem=None, **side_information):
        """The raw estimate (the problem's readout) after the last layer.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
        n_layers : int, optional
            Depth to run (default: the fitted depth; ``0``: the readout of the
            initial state). Fewer layers than fitted always work, more only
            for tied weights and classical solvers.
        problem : Problem, optional
            Run the fitted layers on another problem (another operator or
            size), e.g. a hyperparameters model transferred to a new
            dictionary. ``X`` is then validated against that problem only.
        **side_information : array-like of shape (n_samples, ...)

        Returns
        -------
        estimate : ndarray of shape (n_samples, ...)
            In the precision of ``X`` (float64 for integer input).
        """
        X, side, module = self._prepare_inference(X, side_information, problem)
        n_layers = self._check_depth(n_layers, module, allow_zero=True)
        with self._inference_mode(module, X):
            # a copy on another problem is run once: no padding to find for it
            estimate = run_layers(module, X, side, n_layers, probe=problem is None)
        return check_finite_estimate(estimate, self, n_layers)

    def staged_iterate(self, X, n_layers=None, *, problem=None, **side_information):
        """Yield the raw estimate after each layer ``k = 1, ..., n_layers``.

        Computed layer by layer over the whole of ``X`` in one pass, keeping
        only the current state of every sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
        n_layers : int, optional
        problem : Problem, optional
            See :meth:`iterate`.
        **side_information : array-like of shape (n_samples, ...)

        Yields
        ------
        estimate : ndarray of shape (n_samples, ...)
        """
        X, side, module = self._prepare_inference(X, side_information, problem)
        stages = run_layers_staged(module, X, side, self._check_depth(n_layers, module),
                                   probe=problem is None)
        while True:  # the mode (no autograd, threads) is set per layer, never while suspended
            with self._inference_mode(module, X):
                estimate = next(stages, None)
            if estimate is None:
                return
            yield check_finite_estimate(estimate, self)

    def _inference_mode(self, module, X):
        classical = self.net_ is None
        flops = self.__dict__.get("_layer_flops")
        rows = min(X.shape[0], chunk_rows(module, X.shape[1:]))
        exact = "input_precision" in self.supports and not classical \
            and X.dtype in (np.float64, np.complex128)
        return inference_mode(
            module, device=self._core_value("device") if classical else None,
            n_threads=self._core_value("n_threads"),
            flops_per_layer=None if flops is None else flops * rows,
            dtype=torch.float64 if exact else None)

    def format_estimate(self, estimate):
        """An estimate in the layout of the fitted targets: 1-D when ``fit`` got a 1-D ``y``."""
        if self.__dict__.get("target_ndim_") == 1 and estimate.ndim == 2 \
                and estimate.shape[1] == 1:
            return estimate[:, 0]
        return estimate

    def predict(self, X, **side_information):
        """The estimate after the last layer.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
        **side_information : array-like of shape (n_samples, ...)

        Returns
        -------
        estimate : ndarray of shape (n_samples, ...)
            The problem's readout, in the precision of ``X`` (1-D when the
            model was fitted on a 1-D ``y``).
        """
        return self.format_estimate(self.iterate(X, **side_information))

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
            yield self.format_estimate(estimate)

    def score(self, X, y=None, sample_weight=None, **side_information):
        """R² of the estimate against ``y``; without ``y``, the objective (higher is better).

        With targets, the coefficient of determination over all output entries
        (scikit-learn's regressor score). Without (``y=None``, as in a grid
        search of unsupervised fits), the mean objective of the estimates:
        itself when the problem maximises it, its negative otherwise.

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

    def objective_values(self, X, estimate, **side_information):
        """The problem's objective of each sample at ``estimate``.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
        estimate : array-like of shape (n_samples, ...)
            E.g. the output of :meth:`iterate`.
        **side_information : array-like of shape (n_samples, ...)

        Returns
        -------
        values : ndarray of shape (n_samples,)
            In float64.
        """
        X, side, module = self._prepare_inference(X, side_information, None)
        estimate = np.asarray(estimate)
        if len(estimate) != len(X):
            raise ValueError(f"estimate has {len(estimate)} samples but X has {len(X)}")
        device, dtype = module_device(module), torch.float64
        problem = converted_copy(module.problem, lambda t: to_tensor(t, dtype, device))
        with evaluation_mode(problem):
            values = problem.objective(to_tensor(estimate, dtype, device),
                                       to_tensor(X, dtype, device),
                                       **{k: to_tensor(v, dtype, device) for k, v in side.items()})
        return to_numpy(values, np.float64)

    @available_if(_supports_safeguard)
    def safeguard_report(self, X, n_layers=None, **side_information):
        """Per layer, the fraction of the samples of ``X`` that took the classical update.

        Runs the fitted, safeguarded model on ``X`` (as :meth:`iterate` does)
        and records, at every layer, for which samples the learned update was
        rejected. Layers past the learned ones of an untied model are
        classical by construction and report ``1.0``.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
        n_layers : int, optional
            Depth to run (default: the fitted depth; more layers than fitted
            are allowed with the safeguard).
        **side_information : array-like of shape (n_samples, ...)

        Returns
        -------
        fallback_rate : ndarray of shape (n_layers,)
            In ``[0, 1]``; ``0`` at every layer means the learned model ran
            unchanged.
        """
        check_is_fitted(self)
        guard = self.module_.safeguard
        if guard is None:
            raise ValueError(f"{type(self).__name__} was fitted with safeguard=False: there is no "
                             "safeguard to report on; set safeguard=True and fit again")
        if n_layers is not None:
            n_layers = check_int(n_layers, "n_layers", min_value=1)
        self.iterate(X, n_layers, **side_information)
        return guard.last_fallback.mean(axis=0)

