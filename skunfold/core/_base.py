"""The estimator base shared by every unfolded model."""

import copy
import itertools
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ._net import ArrayData, BatchSlicer, TrainingDivergedError, UnfoldingNet
from ._schedules import get_loss_schedule

__all__ = ["BaseUnfoldedEstimator", "resolve_device", "run_transactional", "PARADIGMS", "OPTIMIZERS"]

#: The five paradigms, the same word on every estimator.
PARADIGMS = ("classical", "hyperparameters", "objective", "correction", "dnn")

#: Inference batches smaller than this are padded (see ``BaseUnfoldedEstimator._run``).
_MIN_BATCH_ROWS = 8

OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
}


def _module_device(module):
    for t in itertools.chain(module.parameters(), module.buffers()):
        return t.device
    return torch.device("cpu")


def _to_tensor(arr, dtype, device):
    arr = np.ascontiguousarray(arr)
    if not arr.flags.writeable:
        arr = arr.copy()
    return torch.as_tensor(arr, dtype=dtype, device=device)


def run_transactional(estimator, method, *args):
    """Call ``method(*args)``; if it raises, restore every attribute of ``estimator``.

    This is what makes ``fit`` transactional: a failed fit (bad input, a
    diverged training run) leaves a previously fitted estimator as it was.
    Returns ``estimator``.
    """
    snapshot = dict(estimator.__dict__)
    try:
        method(*args)
    except BaseException:
        estimator.__dict__.clear()
        estimator.__dict__.update(snapshot)
        raise
    return estimator


def resolve_device(device):
    """Turn ``"auto"`` into ``"cuda"`` when a GPU is available, else ``"cpu"``."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if isinstance(device, str):
        try:
            torch.device(device)
        except RuntimeError as exc:
            raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}") from exc
        return device
    raise ValueError(f"device must be a string such as 'auto', 'cpu' or 'cuda', got {device!r}")


def check_int(value, name, min_value=None, allow_none=False):
    if value is None and allow_none:
        return None
    if not isinstance(value, Integral) or isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, got {value!r} of type {type(value).__name__}")
    if min_value is not None and value < min_value:
        raise ValueError(f"{name} must be >= {min_value}, got {value}")
    return int(value)


def check_real(value, name, min_value=None, max_value=None, strict_min=False, allow_none=False):
    if value is None and allow_none:
        return None
    if not isinstance(value, Real) or isinstance(value, bool):
        raise TypeError(f"{name} must be a real number, got {value!r} of type {type(value).__name__}")
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if min_value is not None and (value < min_value or (strict_min and value == min_value)):
        op = ">" if strict_min else ">="
        raise ValueError(f"{name} must be {op} {min_value}, got {value}")
    if max_value is not None and value > max_value:
        raise ValueError(f"{name} must be <= {max_value}, got {value}")
    return float(value)


def check_option(value, name, options):
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name} must be one of {list(options)}, got {value!r}")
    return value


class BaseUnfoldedEstimator(BaseEstimator):
    """Training and inference machinery shared by the unfolded estimators.

    Subclasses declare their parameters in ``__init__`` (scikit-learn style,
    stored unchanged) and implement:

    * ``_check_params()`` — validate the family-specific parameters;
    * ``_prepare_fit(X, y)`` — validate data, set fitted attributes that
      describe the problem, return ``(X, y)`` as arrays ready for training;
    * ``_build_module()`` — return the untrained :class:`UnfoldedModule`;
    * ``_criterion()`` — the per-iterate supervised loss (a torch module class).

    The training parameters below carry skorch's names.

    Notes
    -----
    ``fit`` is transactional: if it raises (bad input, a diverged training
    run), every attribute of the estimator is restored to what it was before
    the call, so a previously fitted estimator stays usable.
    """

    _paradigms = PARADIGMS

    # -- parameter validation -----------------------------------------------------
    def _needs_training(self):
        """Whether ``fit`` trains parameters (False for classical solvers)."""
        return self.paradigm != "classical"

    def _check_common_params(self):
        check_int(self.n_layers, "n_layers", min_value=1)
        check_option(self.paradigm, "paradigm", self._paradigms)
        resolve_device(self.device)
        if not self._needs_training():
            return
        get_loss_schedule(self.loss_schedule)
        check_int(self.max_epochs, "max_epochs", min_value=0)
        check_real(self.lr, "lr", min_value=0, strict_min=True, allow_none=True)
        bs = check_int(self.batch_size, "batch_size")
        if bs < 1 and bs != -1:
            raise ValueError(f"batch_size must be a positive integer or -1 (full batch), got {bs}")
        if isinstance(self.optimizer, str):
            check_option(self.optimizer, "optimizer", OPTIMIZERS)
        elif not (isinstance(self.optimizer, type) and issubclass(self.optimizer, torch.optim.Optimizer)):
            raise ValueError(
                f"optimizer must be one of {list(OPTIMIZERS)} or a torch.optim.Optimizer "
                f"subclass, got {self.optimizer!r}"
            )
        if not isinstance(self.early_stopping, (bool, np.bool_)):
            raise TypeError(f"early_stopping must be a bool, got {self.early_stopping!r}")
        check_real(self.validation_fraction, "validation_fraction", min_value=0,
                   max_value=1, strict_min=True)
        if self.validation_fraction >= 1:
            raise ValueError(f"validation_fraction must be < 1, got {self.validation_fraction}")
        check_int(self.n_iter_no_change, "n_iter_no_change", min_value=1)
        check_real(self.unsupervised_weight, "unsupervised_weight", min_value=0)
        check_int(self.verbose, "verbose", min_value=0)

    # -- fitting ------------------------------------------------------------------
    def fit(self, X, y=None):
        """Fit the unfolded model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Observations.
        y : array-like of shape (n_samples, n_targets) or (n_samples,), default=None
            Ground truth. ``None`` trains unsupervised on the classical objective;
            rows that are entirely NaN count as unlabeled (semi-supervised).

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return run_transactional(self, self._fit, X, y)

    def _fit(self, X, y):
        self._check_common_params()
        self._check_params()
        X, y = self._prepare_fit(X, y)
        previous = self._previous_module()
        rng = check_random_state(getattr(self, "random_state", None))
        module_seed, shuffle_seed, split_seed = (int(s) for s in rng.randint(0, 2**31 - 1, size=3))
        device = resolve_device(self.device)
        if previous is not None:
            module = copy.deepcopy(previous).cpu()
        else:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(module_seed)
                module = self._build_module()
        if not self._needs_training():
            self.module_ = module.eval()
            self.net_ = None
            self.history_ = None
            return
        self.net_ = self._train(module, X, y, device, shuffle_seed, split_seed)
        self.history_ = self.net_.history
        self.module_ = None

    def _previous_module(self):
        """The fitted module to continue from when ``warm_start`` is set."""
        if not getattr(self, "warm_start", False) or getattr(self, "net_", None) is None:
            return None
        module = self.net_.module_
        if not self._module_is_compatible(module):
            return None
        return module

    def _module_is_compatible(self, module):
        return (getattr(module, "n_layers", None) == self.n_layers
                and getattr(self, "_fitted_paradigm", None) == self.paradigm)

    def _default_lr(self):
        """Learning rate used when ``lr=None`` (families override per paradigm)."""
        return 1e-3

    def _learning_rate(self):
        return self._default_lr() if self.lr is None else float(self.lr)

    def _make_net(self, module, device, shuffle_seed, valid_data, semi_supervised=None):
        from skorch.callbacks import EarlyStopping, ProgressBar
        from skorch.helper import predefined_split

        callbacks = []
        if self.early_stopping:
            callbacks.append(("early_stopping", EarlyStopping(
                monitor="valid_loss", patience=self.n_iter_no_change, load_best=True)))
        if self.verbose:
            callbacks.append(("progress_bar", ProgressBar()))
        opt = OPTIMIZERS[self.optimizer] if isinstance(self.optimizer, str) else self.optimizer
        return UnfoldingNet(
            module,
            criterion=self._criterion(),
            optimizer=opt,
            lr=self._learning_rate(),
            batch_size=self.batch_size,
            max_epochs=self.max_epochs,
            device=device,
            train_split=predefined_split(valid_data) if valid_data is not None else None,
            callbacks=callbacks,
            verbose=int(self.verbose),
            unsupervised_weight=self.unsupervised_weight,
            seed=shuffle_seed,
            semi_supervised=semi_supervised,
        )

    def _train(self, module, X, y, device, shuffle_seed, split_seed):
        schedule = get_loss_schedule(self.loss_schedule)
        valid = None
        if self.early_stopping:
            n = len(X)
            n_valid = int(np.ceil(self.validation_fraction * n))
            if n_valid < 1 or n - n_valid < 1:
                raise ValueError(
                    f"early_stopping needs at least 2 samples to split off a validation "
                    f"set with validation_fraction={self.validation_fraction}; got {n}"
                )
            perm = np.random.default_rng(split_seed).permutation(n)
            vi, ti = np.sort(perm[:n_valid]), np.sort(perm[n_valid:])
            valid = ArrayData(X[vi], None if y is None else y[vi])
            X, y = X[ti], None if y is None else y[ti]
        initial = copy.deepcopy(module)
        semi = False
        if y is not None and np.issubdtype(y.dtype, np.floating):
            semi = bool(np.isnan(y).any()) or (
                valid is not None and valid.y is not None and bool(np.isnan(valid.y).any()))
        net = self._make_net(module, device, shuffle_seed, valid, semi_supervised=semi)
        net.initialize()
        data = ArrayData(X, y)
        # max_epochs=0: the network stays as built (initialised from the classical solver)
        stages = schedule.stages(self.n_layers, self.max_epochs) if self.max_epochs > 0 else []
        for stage in stages:
            net.set_stage(stage)
            if self.verbose:
                print(f"[{type(self).__name__}] stage {stage.name}: {stage.epochs} epoch(s)")
            net.partial_fit(data, None)
        for p in net.module_.parameters():
            p.requires_grad_(True)
        net.module_.eval()
        if stages:
            self._check_not_diverged(net, initial, data)
        self._fitted_paradigm = self.paradigm
        return net

    #: A trained model whose training loss exceeds this multiple of the untrained
    #: (classical) model's loss is reported as diverged.
    _divergence_factor = 10.0

    def _check_not_diverged(self, net, initial, data, n_check=2048, chunk=256):
        """Raise :class:`TrainingDivergedError` when training made the model much worse.

        Non-finite losses are caught during training; this catches the runs whose
        loss stayed finite but blew up (e.g. a too large learning rate in a
        sequential schedule), comparing the final model with the untrained one on
        (up to) ``n_check`` training samples at full depth, in chunks of ``chunk``
        rows so that memory stays small.
        """
        n = min(len(data.X), n_check)
        n_active, weights = net.n_active_, net.layer_weights_
        net.n_active_ = self.n_layers
        net.layer_weights_ = [0.0] * (self.n_layers - 1) + [1.0]
        initial = initial.to(net.device).eval()
        final = start = trivial = 0.0
        try:
            with torch.no_grad():
                for lo in range(0, n, chunk):
                    hi = min(lo + chunk, n)
                    part = ArrayData(data.X[lo:hi], None if data.y is None else data.y[lo:hi])
                    xb, yb = next(iter(BatchSlicer(part, hi - lo, device=net.device,
                                                   dtype=net.dtype)))
                    w = (hi - lo) / n
                    iterates = net.module_(xb)
                    final += w * float(net.get_loss(iterates, yb, X=xb))
                    start += w * float(net.get_loss(initial(xb), yb, X=xb, module=initial))
                    # loss of the all-zero estimate: the scale below which losses are round-off
                    trivial += w * float(net.get_loss(
                        tuple(torch.zeros_like(it) for it in iterates), yb, X=xb))
        finally:
            net.n_active_, net.layer_weights_ = n_active, weights
        floor = max(start, 1e-6 * trivial, 1e-30)  # an exact untrained model is not a reference
        if not np.isfinite(final) or final > self._divergence_factor * floor:
            raise TrainingDivergedError(
                f"training diverged: the final training loss ({final:.3g}) is more than "
                f"{self._divergence_factor:g}x the untrained model's ({start:.3g}); lower `lr` "
                "or change the loss schedule. The estimator was left as it was before this fit."
            )

    # -- inference helpers --------------------------------------------------------
    def _fitted_module(self):
        return self.net_.module_ if getattr(self, "net_", None) is not None else self.module_

    def _module_dtype(self, module):
        for t in list(module.parameters()) + list(module.buffers()):
            if t.is_floating_point():
                return t.dtype
        return torch.float32

    def _run(self, X, n_layers=None, staged=False, module=None, batch_size=4096):
        """Run the fitted module on ``X`` (already validated).

        Returns the last iterate, or the list of every iterate when ``staged``;
        arrays come back in the dtype of ``X``.
        """
        module = self._fitted_module() if module is None else module
        dtype = self._module_dtype(module)
        device = _module_device(module)
        if not self._needs_training():
            device = torch.device(resolve_device(self.device))
            module = module.to(device)
        out_dtype = X.dtype if np.issubdtype(X.dtype, np.floating) else np.float64
        n_layers = module.check_depth(n_layers)
        outs = [] if not staged else [[] for _ in range(n_layers)]
        was_training = module.training
        module.eval()
        try:
            for start in range(0, max(len(X), 1), batch_size):
                xb = _to_tensor(X[start:start + batch_size], dtype, device)
                n_rows = xb.shape[0]
                if 0 < n_rows < _MIN_BATCH_ROWS:
                    # BLAS takes other kernels (other summation orders) for a
                    # handful of rows; padding with copies of the last row keeps
                    # each row's result independent of how X is split.
                    pad = xb[-1:].expand(_MIN_BATCH_ROWS - n_rows, *xb.shape[1:])
                    xb = torch.cat([xb, pad])
                its = [it[:n_rows] for it in module.iterate_no_grad(xb, n_layers=n_layers)]
                if staged:
                    for k, it in enumerate(its):
                        outs[k].append(it.cpu().numpy())
                else:
                    outs.append(its[-1].cpu().numpy())
        finally:
            module.train(was_training)
            if not self._needs_training():
                module.to("cpu")
        if staged:
            return [np.concatenate(o).astype(out_dtype, copy=False) for o in outs]
        return np.concatenate(outs).astype(out_dtype, copy=False)

    def __sklearn_is_fitted__(self):
        return hasattr(self, "n_features_in_") and hasattr(self, "net_")

    def _check_fitted(self):
        check_is_fitted(self)
