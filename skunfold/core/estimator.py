"""The estimator life-cycle shared by every unfolded model: validation, fit, inference."""

import functools
import time

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from .building import build_module, load_parameters, record_fixed_point
from .constraints import check_complex_array, check_input_ndim, is_clean_array
from .equilibrium import FixedPoint
from .online import offers_partial_fit, online_adaptation
from .ops import compute_dtype
from .options import EarlyStopping, Optimizer
from .parameters import (
    CORE_PARAMETERS,
    PARADIGMS,
    check_declaration,
    render_docstring,
    resolve_parameters,
)
from .prediction import Predictions
from .problem import check_problem
from .robust import Adversarial
from .safeguard import Safeguard
from .sources import SampleSource, StreamData, training_seed, validate_draw
from .tables import layer_table
from .threads import choose_threads, torch_threads
from .training import ArrayData, fit_module

__all__ = ["UnfoldedEstimator", "run_transactional"]

#: Samples of the training data used to size the networks and measure the work of a layer.
_SAMPLE_ROWS = 8


@functools.cache
def _init_names(cls):
    """The parameters of ``cls.__init__`` (``get_params`` inspects the signature at every call)."""
    return frozenset(cls._get_param_names())


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


class UnfoldedEstimator(Predictions, BaseEstimator):
    """The life-cycle of an unfolded estimator: validation, training, inference.

    A preset (an estimator of a problem family, or :class:`UnfoldedRegressor`
    for a user's problem) declares what it supports, lists its parameters in
    ``__init__`` and implements one hook, :meth:`build_problem`; it may refine
    the data validation (:meth:`validate_input`, :meth:`validate_target`), the
    start of training (:meth:`initialize_parameters`) and add rows for its own
    parameters in ``parameter_table``. Everything else is shared: the
    paradigm mechanics (:func:`~skunfold.core.build_layers`), loss schedules
    and their stages, supervised / unsupervised / semi-supervised training,
    early stopping, warm start, devices and threads, the divergence check, a
    transactional ``fit`` and inference in the input's dtype (:meth:`iterate`).

    The declarations (class attributes) are what the core asks:

    ``supports`` : frozenset of str
        Features of the estimator:
        ``"training"`` (it learns: its ``__init__`` takes the training
        parameters), ``"fixed_point"``, ``"safeguard"``, ``"adversarial"``
        (it takes that parameter), ``"unsupervised"`` (``fit(X)`` without
        targets trains on the objective), ``"semi_supervised"`` (all-NaN
        target rows are unlabeled), ``"complex_input"``,
        ``"variable_input_shape"`` (a fitted model runs on samples of
        another shape: ``predict`` then checks neither ``n_features_in_`` nor
        the sample shape), ``"input_precision"`` (a trained model, trained in
        float32, runs inference in float64 on float64 input: e.g. where a
        layer sums over the rows of a sample, so that the result does not
        depend on their order). A class whose ``__init__`` and ``supports``
        disagree is a ``TypeError`` when it is defined.
    ``paradigms`` : tuple of str
        The accepted values of ``paradigm``.
    ``core_defaults`` : dict
        The values the core uses for core parameters the class does not take
        (e.g. ``{"paradigm": "hyperparameters"}`` for a model whose
        hyperparameters are set by hand).
    ``parameter_table`` : dict of str to Param
        Checks (and docstring rows) of the class's own parameters, merged with
        those of its bases; ``%(parameters)s`` in the docstring renders them.
    ``default_lr`` : dict
        Learning rate used when ``lr=None``, per paradigm (key ``None``: any
        other paradigm). A paradigm's entry may itself be a dict: a rate per
        parameter group of the layers (``"hyperparameters"``,
        ``"objective_parameters"``, ``"correction"``, or any named submodule of
        an iteration), key ``None`` for the other parameters; e.g. learned step
        sizes at 1e-2 beside a CNN at 1e-3 (``{"dnn": {"hyperparameters":
        1e-2, None: 1e-3}}``). An explicit ``lr`` trains every parameter at
        that rate.
    ``default_optimizer`` : Optimizer
        The optimizer used when ``optimizer=None`` (default: Adam, no decay,
        no clipping).
    ``default_early_stopping`` : EarlyStopping
        What ``True`` means for ``early_stopping``; likewise
        ``default_fixed_point``, ``default_safeguard`` and
        ``default_adversarial`` for the other options (default: the option object's
        defaults), e.g. ``EarlyStopping(n_iter_no_change=20)`` for a model
        whose papers train with a longer patience.

    Notes
    -----
    ``fit`` is transactional: if it raises (bad input, a diverged training
    run), every attribute of the estimator is restored to what it was before
    the call, so a previously fitted estimator stays usable.
    """

    supports = frozenset()
    paradigms = PARADIGMS
    core_defaults = {}
    parameter_table = {}
    default_lr = {None: 1e-3}
    default_optimizer = Optimizer()
    default_early_stopping = EarlyStopping()
    default_fixed_point = FixedPoint()
    default_safeguard = Safeguard()
    default_adversarial = Adversarial()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.supports = frozenset(cls.supports)
        check_declaration(cls)
        render_docstring(cls)

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

    def accepts_complex(self):
        """Whether ``X`` may be complex (``"complex_input"`` in ``supports``)."""
        return "complex_input" in self.supports

    def validate_input(self, X, *, reset):
        """Validate ``X``: a 2-D array ``(n_samples, n_features)`` or n-d ``(n_samples, ...)``.

        Finite floating values (complex when :meth:`accepts_complex`); a 1-D
        array is rejected with a short message. With ``reset=True`` (in
        ``fit``) ``n_features_in_`` (the size of the second axis, as in
        scikit-learn) and ``feature_names_in_`` are set; otherwise ``X`` must
        match what ``fit`` saw (unless ``"variable_input_shape"`` is supported).
        """
        clean = not reset and is_clean_array(X, allow_complex=self.accepts_complex())
        if clean and ("variable_input_shape" in self.supports or (
                "feature_names_in_" not in vars(self)
                and X.shape[1:] == getattr(self, "_input_shape", None))):
            return X  # predict's usual input, of the fitted shape: every check passes as it is
        X = check_input_ndim(X, self)
        complex_ok = self.accepts_complex() and np.iscomplexobj(X)
        if not reset and "variable_input_shape" in self.supports:
            if complex_ok:
                return check_complex_array(X, "X", min_ndim=2)
            return check_array(X, allow_nd=True, dtype=[np.float64, np.float32], input_name="X")
        if complex_ok:
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

        A 1-D ``y`` is one target per sample (outputs are 1-D again, see
        :meth:`format_estimate`). Samples whose targets are entirely NaN are
        unlabeled (semi-supervised training); targets that are only partly NaN
        are an error; all-NaN targets train unsupervised.
        """
        if self.accepts_complex() and np.iscomplexobj(y):
            y = check_complex_array(y, "y", allow_nan=True)
        else:
            y = check_array(y, ensure_2d=False, allow_nd=True, dtype=[np.float64, np.float32],
                            ensure_all_finite="allow-nan", input_name="y")
        if len(y) != len(X):
            raise ValueError(f"y has {len(y)} samples but X has {len(X)}; X and y must have the "
                             "same number of samples")
        self.target_ndim_ = y.ndim
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

    @available_if(offers_partial_fit)
    def partial_fit(self, X, y=None, **side_information):
        """Take a few optimisation steps on one batch, continuing from the current model.

        Online learning (data that arrive in blocks, a drifting
        environment): every stage of ``loss_schedule`` runs ``adapt_epochs``
        passes over ``(X, y)`` (one when the estimator takes no
        ``adapt_epochs``) in mini-batches of ``batch_size``, at ``adapt_lr``
        (else ``lr``), without early stopping; the optimizer's state (e.g.
        Adam's moments and step counts) is kept from one call to the next,
        and from ``fit`` to the first ``partial_fit``. The problem is rebuilt
        from the batch as ``fit`` builds it (e.g. an operator estimated from
        the data) and the learned parameters are kept. On an unfitted
        estimator the first call initialises the model as ``fit`` does (from
        the classical solver) and then takes its steps. Like ``fit`` it is
        transactional and checks divergence (a training loss 10x worse than
        before the call raises :class:`~skunfold.core.TrainingDivergedError`
        and undoes the call); the steps are kept without the comparison of
        ``keep_best`` (``comparison_`` is ``None``), as an online
        optimisation's progress shows over calls, not within one batch.
        ``history_`` holds the epochs of this call. Only estimators that
        learn have it (not ``paradigm="classical"``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, ...)
            A batch of observations, of the shape ``fit`` saw.
        y : array-like of shape (n_samples, ...), default=None
            Its targets (``None``: unsupervised, as in ``fit``).
        **side_information : array-like of shape (n_samples, ...)
            Per-sample side information the problem declares.

        Returns
        -------
        self : object
            The updated estimator.
        """
        return run_transactional(self, self._fit, X, y, side_information,
                                 online_adaptation(self))

    def _settings(self):
        settings = resolve_parameters(self)
        params = self.get_params(deep=False)
        for name, value in self.core_defaults.items():
            if name not in params:
                settings[name] = CORE_PARAMETERS[name].check(value, name)
        if settings.paradigm not in self.paradigms:
            raise ValueError(f"paradigm must be one of {list(self.paradigms)} for "
                             f"{type(self).__name__}, got {settings.paradigm!r}")
        if settings.optimizer is None:
            settings["optimizer"] = self.default_optimizer.validated("optimizer")
        for name, default in (("early_stopping", self.default_early_stopping),
                              ("fixed_point", self.default_fixed_point),
                              ("safeguard", self.default_safeguard),
                              ("adversarial", self.default_adversarial)):
            if params.get(name) is True:
                settings[name] = default.validated(name)
        settings["trains"] = "training" in self.supports and settings.paradigm != "classical"
        return settings

    def _core_value(self, name):
        """One core parameter, checked (the estimator's value, else the core's default)."""
        value = getattr(self, name) if name in _init_names(type(self)) else \
            self.core_defaults.get(name, CORE_PARAMETERS[name].default)
        return CORE_PARAMETERS[name].check(value, name)

    def _check_supervision(self, y, trains):
        if not trains:
            return
        name = type(self).__name__
        if y is None and "unsupervised" not in self.supports:
            raise ValueError(f"{name} requires y to be passed, but the target y is None: it "
                             "trains supervised only (pass the targets y to fit, or "
                             "max_epochs=0 for the untrained solver)")
        if y is not None and y.dtype.kind in "fc" and "semi_supervised" not in self.supports \
                and np.isnan(y).any():
            raise ValueError(f"{name} does not train semi-supervised: y holds NaN (unlabeled) "
                             "targets")

    def _fit(self, X, y, side, adaptation):
        start = time.perf_counter()
        settings = self._settings()
        trains = settings.trains
        arguments = (X, y, side)
        rng = check_random_state(settings.random_state)
        module_seed, shuffle_seed, split_seed = (int(s) for s in rng.randint(0, 2**31 - 1, 3))
        source = X if isinstance(X, SampleSource) else None
        if source is not None:
            X, y, side = self._first_draw(source, y, side, adaptation, shuffle_seed)
        continuing = adaptation is not None and self.__sklearn_is_fitted__()
        X = self.validate_input(X, reset=not continuing)
        y = None if y is None else self.validate_target(y, X)
        self._check_supervision(y, trains)
        problem = check_problem(self.build_problem(X, y))
        side = self._validate_side(side, problem, len(X))
        self._side_names = tuple(sorted(side))
        dtype = compute_dtype(X.dtype, exact=not trains, override=problem.dtype)
        n = min(len(X), _SAMPLE_ROWS)
        with torch_threads(settings.n_threads or 1):  # a few samples: one thread
            module, flops = build_module(
                problem, X[:n], None if y is None else y[:n], {k: v[:n] for k, v in side.items()},
                dtype, module_seed, settings, self.n_layers, type(self).__name__)
        previous = self._previous_module(adaptation, settings.warm_start)
        if previous is None or not load_parameters(module, previous):
            if continuing:
                raise ValueError(f"{type(self).__name__} cannot continue training on these "
                                 "data: they need another architecture than the fitted model's "
                                 "(other sizes or labels); fit it on them instead")
            if trains:
                self.initialize_parameters(module, arguments[0], arguments[1], **arguments[2])
        self._layer_flops = flops
        batch = len(X) if settings.batch_size == -1 else min(settings.batch_size, len(X))
        threads = choose_threads(settings.n_threads, flops * batch, settings.device)
        with torch_threads(threads):
            if not trains:
                self._module, self.net_, self.history_ = module.eval(), None, None
                self.comparison_ = None
            else:
                data = ArrayData(X, y, side)
                if source is not None:
                    data = StreamData(source, data, self._draw_checker(problem),
                                      (shuffle_seed, split_seed))
                self.net_ = self._train(module, data, settings, dtype,
                                        (shuffle_seed, split_seed), adaptation)
                self.history_ = self.net_.history
                self.comparison_ = self.net_.comparison_
                self._module = None
            if self.module_.fixed_point is not None:
                self.n_iter_, self.backward_n_iter_ = record_fixed_point(
                    self.module_, X, side, settings.n_threads)
        self.paradigm_ = settings.paradigm if trains else "classical"
        if settings.verbose and not trains:
            print(f"[{type(self).__name__}] {type(problem).__name__} solver built: "
                  f"{self.n_layers} iterations, nothing learned "
                  f"({time.perf_counter() - start:.2f} s)", flush=True)

    def _first_draw(self, source, y, side, adaptation, entropy):
        """``(X, y, side)`` of the first epoch of a fit from ``source``, checked and as drawn.

        The arrays are returned as the sampler made them (``fit`` validates
        them, e.g. encodes class labels, once); the check here only names the
        draw in the message of a validation error.
        """
        if y is not None or side:
            raise ValueError(f"{type(self).__name__}.fit(source) takes no y or side information: "
                             "a SampleSource's sampler returns them")
        if adaptation is not None:
            raise ValueError("continued training (partial_fit, adapt) takes arrays, not a "
                             "SampleSource")
        what = "epoch 0"
        X, y, side = source.draw(source.n_samples_per_epoch, training_seed(entropy, 0), what)

        def check(X, y, side):
            checked = self.validate_input(X, reset=True)
            if y is not None:
                self.validate_target(y, checked)
            return X, y, side
        return validate_draw(check, (X, y, side), what)

    def _draw_checker(self, problem):
        """``check(X, y, side) -> ArrayData``: the validation of a later draw of a source."""
        def check(X, y, side):
            X = self.validate_input(X, reset=False)
            y = None if y is None else self.validate_target(y, X)
            return ArrayData(X, y, self._validate_side(side, problem, len(X)))
        return check

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

    def _previous_module(self, adaptation, warm_start):
        if adaptation is None and not warm_start:
            return None
        if not self.__sklearn_is_fitted__():
            return None
        return self.module_

    def _train(self, module, data, settings, dtype, seeds, adaptation):
        lr, group_lr = settings.lr, {}
        if lr is None:
            lr = self.default_lr.get(settings.paradigm, self.default_lr[None])
            if isinstance(lr, dict):  # a rate per parameter group of the layers
                lr, group_lr = lr[None], {k: v for k, v in lr.items() if k is not None}
        options = dict(early_stopping=settings.early_stopping, epochs_per_stage=None,
                       selection=None, keep_best=settings.keep_best, max_time=settings.max_time)
        if adaptation is not None:  # continued training: the previous optimizer state
            if adaptation.lr is not None:
                lr, group_lr = adaptation.lr, {}
            previous = self.__dict__.get("net_", None)
            options = dict(early_stopping=None, epochs_per_stage=adaptation.epochs,
                           selection=adaptation.select, keep_best=None,
                           max_time=settings.max_time,
                           optimizer_states=getattr(previous, "optimizer_states_", None))
        return fit_module(
            module, data, schedule=settings.loss_schedule, n_layers=self.n_layers,
            max_epochs=settings.max_epochs, lr=lr, optimizer=settings.optimizer,
            batch_size=settings.batch_size, device=settings.device, dtype=dtype, seeds=seeds,
            verbose=settings.verbose, name=type(self).__name__, group_lr=group_lr, **options)

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

    @property
    def layer_parameters_(self):
        """The hyperparameters of every layer of the fitted model, as plain numbers.

        A dict (a table: ``pandas.DataFrame(est.layer_parameters_)``) with the
        column ``"layer"`` (``1..n_layers``) and one column per scalar
        hyperparameter of the layers (learned values, or the classical ones
        of a layer that learns none); a hyperparameter of more than one value
        is an array of shape ``(n_layers, ...)``. Learned matrices and
        networks are not listed: they are in ``module_``.
        """
        check_is_fitted(self)
        return layer_table(self.module_)

    def __sklearn_is_fitted__(self):
        return hasattr(self, "n_features_in_") and hasattr(self, "net_")

    # -- helpers -----------------------------------------------------------------------------
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
        tags.target_tags.required = "training" in self.supports \
            and "unsupervised" not in self.supports
        return tags
