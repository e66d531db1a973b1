"""The estimator life-cycle shared by every unfolded model."""

import copy

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from .equilibrium import fixed_point_settings, record_fixed_point
from .inference import chunk_rows, inference_mode, run_layers, run_layers_staged
from .module import UnfoldedModule, cast_module, module_device, module_dtype
from .ops import complex_dtype, compute_dtype, to_numpy, to_tensor
from .paradigms import build_initial, build_layers
from .parameters import PARADIGMS, SHARED_PARAMETERS
from .problem import apply_to_problem, check_problem, converted_copy, evaluation_mode
from .robust import adversarial_settings
from .safeguard import safeguard_settings
from .schedules import get_loss_schedule
from .sources import SampleSource, StreamData, draw_checker, first_draw
from .threads import choose_threads, count_flops, torch_threads
from .training import ArrayData, fit_module
from .validation import (
    check_complex_array,
    check_input_ndim,
    check_int,
    check_option,
    check_parameters,
    integer,
    resolve_device,
)

__all__ = ["UnfoldedEstimator", "run_transactional"]

#: Samples of the training data used to size the networks and measure the work of a layer.
_SAMPLE_ROWS = 8


def run_transactional(estimator, method, *args):
    """Call ``method(*args)``; if it raises, restore every attribute of ``estimator``.

    This is what makes ``fit`` transactional: a failed fit (bad input, a
    diverged training run, an interruption) leaves a previously fitted
    estimator as it was. Returns ``estimator``.
    """
    snapshot = dict(estimator.__dict__)
    try:
        method(*args)
    except BaseException:
        estimator.__dict__.clear()
        estimator.__dict__.update(snapshot)
        raise
    return estimator


def _check_paradigm(value, name):
    return check_option(value, name, PARADIGMS)


class UnfoldedEstimator(BaseEstimator):
    """The life-cycle of an unfolded estimator: validation, training, inference.

    A preset (an estimator of a problem family, or :class:`UnfoldedRegressor`
    for a user's problem) lists its parameters in ``__init__`` and implements
    one hook, :meth:`build_problem`; it may refine the data validation
    (:meth:`validate_input`, :meth:`validate_target`) and declares the checks
    of its own parameters in ``parameter_constraints``. Everything else is
    shared: the paradigm mechanics (:func:`~skunfold.core.build_layers`),
    loss schedules and their stages, supervised / unsupervised /
    semi-supervised training, early stopping, warm start, devices and
    threads, the divergence check, a transactional ``fit`` and inference in
    the input's dtype (:meth:`iterate`).

    Which parameters the estimator has decides what it does: without
    ``max_epochs`` (a classical solver) or with ``paradigm="classical"`` it
    learns nothing and ``fit`` only validates the data and builds the solver.

    Attributes
    ----------
    paradigms : tuple of str
        The accepted values of ``paradigm`` (class attribute).
    parameter_constraints : dict
        Checks of the estimator's own parameters (class attribute), merged with
        those of its bases; see :mod:`skunfold.core.validation`.
    default_lr : dict
        Learning rate used when ``lr=None``, per paradigm (key ``None``: any
        other paradigm).
    variable_input_shape : bool
        Whether a fitted model runs on samples of another shape than those it
        was fitted on (e.g. a permutation-equivariant model on networks of
        another size; class attribute, default ``False``): ``predict`` then
        checks neither ``n_features_in_`` nor the sample shape, and the
        problem must handle the new sizes.

    Notes
    -----
    ``fit`` is transactional: if it raises (bad input, a diverged training
    run), every attribute of the estimator is restored to what it was before
    the call, so a previously fitted estimator stays usable.
    """

    paradigms = PARADIGMS
    parameter_constraints = {"n_layers": integer(1), "paradigm": _check_paradigm,
                             **{name: spec[0] for name, spec in SHARED_PARAMETERS.items()}}
    default_lr = {None: 1e-3}
    complex_input = False
    variable_input_shape = False

    # -- hooks of a preset -------------------------------------------------------------
    def build_problem(self, X, y):
        """Return the :class:`~skunfold.core.Problem` to unfold for the training data.

        Called by ``fit`` after validation, with the validated ``X`` and
        ``y`` (``None`` when unsupervised); the place to estimate an operator
        from the data or check sizes. Presets must implement it.
        """
        raise TypeError(f"{type(self).__name__} must implement build_problem(X, y)")

    def initialize_parameters(self, module, X, y=None, **side_information):
        """Set the untrained module's parameters before training (default: leave them).

        Called by a training ``fit`` that starts afresh (not a warm start or
        an adaptation) with the new module and ``fit``'s own arguments (``X``
        may be a :class:`~skunfold.core.SampleSource`): the place to start
        from another trained model, as LISTA-CP from ALISTA.
        """

    def validate_input(self, X, *, reset):
        """Validate ``X``: a 2-D array ``(n_samples, n_features)`` or n-d ``(n_samples, ...)``.

        Finite floating values (complex when the problem accepts it); a 1-D
        array is rejected with a short message. With ``reset=True`` (in
        ``fit``) ``n_features_in_`` (the size of the second axis, as in
        scikit-learn) and ``feature_names_in_`` are set; otherwise ``X`` must
        match what ``fit`` saw (unless ``variable_input_shape``).
        """
        X = check_input_ndim(X, self)
        if not reset and self.variable_input_shape:
            if self._accepts_complex() and np.iscomplexobj(X):
                return check_complex_array(X, "X", min_ndim=2)
            return check_array(X, allow_nd=True, dtype=[np.float64, np.float32], input_name="X")
        if self._accepts_complex() and np.iscomplexobj(X):
            X = check_complex_array(X, "X", min_ndim=2)
            self._check_n_features(X, reset)
        else:
            X = validate_data(self, X, reset=reset, dtype=[np.float64, np.float32],
                              allow_nd=True)
        if reset:
            self._input_shape = X.shape[1:]
        elif X.shape[1:] != self._input_shape:
            raise ValueError(f"X has samples of shape {X.shape[1:]}, but {type(self).__name__} "
                             f"was fitted on samples of shape {self._input_shape}")
        return X

    def validate_target(self, y, X):
        """Validate regression targets ``y`` against ``X``; ``None`` means unsupervised.

        A 1-D ``y`` is one target per sample (outputs are 1-D again). Samples
        whose targets are entirely NaN are unlabeled (semi-supervised
        training); targets that are only partly NaN are an error; all-NaN
        targets train unsupervised.
        """
        if self._accepts_complex() and np.iscomplexobj(y):
            y = check_complex_array(y, "y", allow_nan=True)
        else:
            y = check_array(y, ensure_2d=False, allow_nd=True, dtype=[np.float64, np.float32],
                            ensure_all_finite="allow-nan", input_name="y")
        if len(y) != len(X):
            raise ValueError(f"y has {len(y)} samples but X has {len(X)}; X and y must have the "
                             "same number of samples")
        self._target_1d = y.ndim == 1
        if y.ndim == 1:
            y = y[:, None]
        nan = np.isnan(y).reshape(len(y), -1)
        if (nan.any(axis=1) & ~nan.all(axis=1)).any():
            raise ValueError("y has samples whose targets are only partly NaN; a sample's targets "
                             "are either all given or all NaN (unlabeled, semi-supervised "
                             "training)")
        return None if nan.all() else y

    # -- fitting -------------------------------------------------------------------------
    def fit(self, X, y=None, **side_information):
        """Fit the estimator: build the unfolded solver and train it (unless classical).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, ...), or SampleSource
            Observations, or a :class:`~skunfold.core.SampleSource` that
            draws fresh ``(X, y)`` every epoch (then ``y`` and the side
            information come from it).
        y : array-like of shape (n_samples, ...), default=None
            Targets. ``None`` trains unsupervised on the problem's objective;
            samples whose targets are entirely NaN are unlabeled
            (semi-supervised training).
        **side_information : array-like of shape (n_samples, ...)
            Per-sample side information the problem declares.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return run_transactional(self, self._fit, X, y, side_information, None)

    def _trains(self):
        return "max_epochs" in self.get_params() and self.paradigm != "classical"

    def _check_parameters(self):
        check_parameters(self)
        if self.paradigm not in self.paradigms:
            raise ValueError(f"paradigm must be one of {list(self.paradigms)} for "
                             f"{type(self).__name__}, got {self.paradigm!r}")

    def _fit(self, X, y, side, adaptation):
        self._check_parameters()
        arguments = (X, y, side)
        rng = check_random_state(getattr(self, "random_state", None))
        module_seed, shuffle_seed, split_seed = (int(s) for s in rng.randint(0, 2**31 - 1, 3))
        source = X if isinstance(X, SampleSource) else None
        if source is not None:
            X, y, side = first_draw(self, source, y, side, adaptation, shuffle_seed)
        X = self.validate_input(X, reset=adaptation is None)
        y = None if y is None else self.validate_target(y, X)
        problem = check_problem(self.build_problem(X, y))
        side = self._validate_side(side, problem, len(X))
        self._side_names = tuple(sorted(side))
        trains = self._trains()
        dtype = compute_dtype(X.dtype, exact=not trains, override=problem.dtype)
        device = resolve_device(getattr(self, "device", "auto"))
        with torch_threads(getattr(self, "n_threads", None) or 1):  # a few samples: one thread
            module, flops = self._build_module(problem, X, side, dtype, module_seed)
        previous = self._previous_module(adaptation)
        if previous is None or not self._load_parameters(module, previous):
            if adaptation is not None:
                raise ValueError(f"{type(self).__name__} cannot continue training on these "
                                 "data: they need another architecture than the fitted model's "
                                 "(other sizes or labels); fit it on them instead")
            if trains:
                self.initialize_parameters(module, arguments[0], arguments[1], **arguments[2])
        self._layer_flops = flops
        batch = getattr(self, "batch_size", 64)
        batch = len(X) if batch == -1 else min(batch, len(X))
        threads = choose_threads(getattr(self, "n_threads", None), flops * batch, device)
        with torch_threads(threads):
            if not trains:
                self._module, self.net_, self.history_ = module.eval(), None, None
            else:
                data = ArrayData(X, y, side)
                if source is not None:
                    data = StreamData(source, data, draw_checker(self, problem),
                                      (shuffle_seed, split_seed))
                self.net_ = self._train(module, data, device, dtype, shuffle_seed, split_seed,
                                        adaptation)
                self.history_ = self.net_.history
                self._module = None
            if self.module_.fixed_point is not None:
                record_fixed_point(self, X, side)
        self._fitted_paradigm = self.paradigm

    def _validate_side(self, side, problem, n):
        allowed = tuple(problem.side_information)
        out = {}
        for name, value in side.items():
            if name not in allowed:
                raise TypeError(f"{type(self).__name__} got an unexpected keyword argument "
                                f"{name!r}; {type(problem).__name__} accepts the side information "
                                f"{list(allowed) or 'none'}")
            arr = check_array(value, ensure_2d=False, allow_nd=True, dtype="numeric",
                              input_name=name)
            if len(arr) != n:
                raise ValueError(f"side information {name!r} has {len(arr)} samples but X has {n}")
            out[name] = arr
        return out

    def _build_module(self, problem, X, side, dtype, seed):
        """The untrained module (classical values as initialisation) and its work per sample."""
        def convert(t):
            if t.is_complex():
                return t.to(complex_dtype(dtype))
            return t.to(dtype) if t.is_floating_point() else t

        apply_to_problem(problem, convert)
        n = min(len(X), _SAMPLE_ROWS)
        sample = (to_tensor(X[:n], dtype), {k: to_tensor(v[:n], dtype) for k, v in side.items()})
        paradigm = self.paradigm if self._trains() else "classical"
        fixed_point = fixed_point_settings(self)
        tied = getattr(self, "tied", None)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            layers = build_layers(problem, paradigm, self.n_layers,
                                  tied=True if fixed_point and tied is None else tied,
                                  hidden_layer_sizes=getattr(self, "hidden_layer_sizes", (32,)),
                                  sample=sample)
            initial = build_initial(problem, paradigm)
        module = cast_module(UnfoldedModule(problem, layers, self.n_layers, initial), dtype)
        if fixed_point is not None:
            if not module.tied:
                raise ValueError(f"fixed_point=True needs tied weights; {type(self).__name__} "
                                 f"built {self.n_layers} untied layers for paradigm={paradigm!r}")
            module.fixed_point = fixed_point
        module.safeguard = safeguard_settings(self, fixed_point)
        module.adversarial = adversarial_settings(self)
        with evaluation_mode(problem):
            flops = count_flops(lambda: module.step(0, module.initial_state(sample[0], sample[1]),
                                                    sample[0], sample[1]))
        return module, flops / n

    def _previous_module(self, adaptation):
        if adaptation is None and not getattr(self, "warm_start", False):
            return None
        if not self.__sklearn_is_fitted__():
            return None
        return self.module_

    @staticmethod
    def _load_parameters(module, previous):
        """Copy the learned parameters of ``previous`` into ``module`` if architectures match."""
        new = dict(module.named_parameters())
        old = dict(previous.named_parameters())
        if new.keys() != old.keys() or any(new[k].shape != old[k].shape for k in new):
            return False
        with torch.no_grad():
            for name, p in new.items():
                p.copy_(old[name].to(p.device, p.dtype))
        return True

    def _learning_rate(self):
        if self.lr is not None:
            return float(self.lr)
        return self.default_lr.get(self.paradigm, self.default_lr[None])

    def _train(self, module, data, device, dtype, shuffle_seed, split_seed, adaptation):
        lr = self._learning_rate()
        options = dict(early_stopping=self.early_stopping, epochs_per_stage=None, selection=None)
        if adaptation is not None:
            lr = lr if adaptation.lr is None else adaptation.lr
            options = dict(early_stopping=False, epochs_per_stage=adaptation.epochs,
                           selection=adaptation.select)
        return fit_module(
            module, data, schedule=get_loss_schedule(self.loss_schedule), n_layers=self.n_layers,
            max_epochs=self.max_epochs, lr=lr,
            lr_schedule=getattr(self, "lr_schedule", "constant"),
            max_grad_norm=getattr(self, "max_grad_norm", None),
            optimizer=SHARED_PARAMETERS["optimizer"][0](self.optimizer, "optimizer"),
            batch_size=self.batch_size, device=device, dtype=dtype,
            unsupervised_weight=getattr(self, "unsupervised_weight", 1.0),
            validation_fraction=self.validation_fraction, n_iter_no_change=self.n_iter_no_change,
            seeds=(shuffle_seed, split_seed), verbose=self.verbose, name=type(self).__name__,
            **options)

    # -- fitted state ----------------------------------------------------------------------
    @property
    def module_(self):
        """The fitted :class:`~skunfold.core.UnfoldedModule` (``net_.module_`` when trained)."""
        net = self.__dict__.get("net_", None)
        if net is not None:
            return net.module_
        if "_module" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__} is not fitted: it has no module_")
        return self._module

    @property
    def problem_(self):
        """The fitted :class:`~skunfold.core.Problem` (its tensors on the model's device)."""
        return self.module_.problem

    def __sklearn_is_fitted__(self):
        return hasattr(self, "n_features_in_") and hasattr(self, "net_")

    # -- inference -------------------------------------------------------------------------
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
        check_is_fitted(self)
        if problem is None:
            X = self.validate_input(X, reset=False)
        else:
            X = check_input_ndim(X, self)
            if self._accepts_complex() and np.iscomplexobj(X):
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
        with self._inference_mode(module, X.shape):
            return run_layers(module, X, side, n_layers)

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
        stages = run_layers_staged(module, X, side, self._check_depth(n_layers, module))
        while True:  # the mode (no autograd, threads) is set per layer, never while suspended
            with self._inference_mode(module, X.shape):
                estimate = next(stages, None)
            if estimate is None:
                return
            yield estimate

    def _inference_mode(self, module, shape):
        classical = self.net_ is None
        flops = getattr(self, "_layer_flops", None)
        rows = min(shape[0], chunk_rows(module, shape[1:]))
        return inference_mode(
            module, device=resolve_device(getattr(self, "device", "auto")) if classical else None,
            n_threads=getattr(self, "n_threads", None),
            flops_per_layer=None if flops is None else flops * rows)

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

    # -- helpers -----------------------------------------------------------------------------
    def _accepts_complex(self):
        problem = self.__dict__.get("problem")
        if problem is not None and hasattr(problem, "complex_input"):
            return bool(problem.complex_input)
        return bool(self.complex_input)

    def _check_n_features(self, X, reset):
        if reset:
            self.n_features_in_ = X.shape[1]
            self.__dict__.pop("feature_names_in_", None)
        elif X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but {type(self).__name__} is "
                             f"expecting {self.n_features_in_} features as input.")

    def __repr__(self, N_CHAR_MAX=700):
        # array parameters (a dictionary, a channel) in three short lines, not twenty: the
        # repr ends up in error messages (e.g. of a Pipeline or a grid search)
        with np.printoptions(threshold=4, edgeitems=1, precision=3):
            return super().__repr__(N_CHAR_MAX=N_CHAR_MAX)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags
