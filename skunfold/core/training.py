"""Training: the skorch net, host-array batches, the stage loop and the divergence check."""

import copy
import time
import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from skorch import NeuralNet
from skorch.callbacks import GradientNormClipping
from skorch.helper import predefined_split

from .constraints import caller_stacklevel
from .data import ArrayData, BatchSlicer, Inputs, StreamSlicer
from .online import OptimizerMemory
from .problem import evaluation_mode
from .progress import EpochLog, Patience, StageCosineLR, TimeBudget
from .sources import StreamData

__all__ = [
    "ArrayData",
    "Inputs",
    "BatchSlicer",
    "StreamSlicer",
    "ProblemLoss",
    "UnfoldingNet",
    "TrainingDivergedError",
    "StageCosineLR",
    "TimeBudget",
    "train_stages",
    "check_not_diverged",
    "keep_improvement",
    "WorseThanClassicalWarning",
    "fit_module",
]


class TrainingDivergedError(FloatingPointError):
    """Raised when training diverges: a non-finite loss, or a final model much worse than the start.

    The estimator that was being fitted is left as it was before ``fit``.
    """


class ProblemLoss(torch.nn.Module):
    """skorch's ``criterion``: the mean over a batch of the problem's per-sample loss."""

    def forward(self, estimate, target, problem):
        return problem.loss(estimate, target).mean()


class UnfoldingNet(NeuralNet):
    """skorch ``NeuralNet`` for :class:`~skunfold.core.UnfoldedModule`.

    It differs from ``NeuralNet`` through small overrides only:

    * :meth:`infer` runs the module at the depth of the current training
      stage, computing only the readouts the stage's loss weighs;
    * :meth:`get_loss` combines the losses of the iterates with the stage's
      layer weights, supervised (the problem's ``loss``), unsupervised (its
      objective, negated when it is maximised) or semi-supervised (target
      rows that are entirely NaN are unlabeled);
    * :meth:`get_iterator` / :meth:`get_dataset` slice host arrays (see
      :class:`BatchSlicer`);
    * :meth:`train_step` stops with :class:`TrainingDivergedError` when the
      loss stops being finite;
    * :meth:`get_all_learnable_params` yields only parameters that require a
      gradient, so frozen layers are not given to the optimizer.

    Parameters
    ----------
    module : UnfoldedModule
    unsupervised_weight : float, default=1.0
        Weight of the objective term on unlabeled samples in semi-supervised
        training.
    dtype : torch.dtype, default=torch.float32
    seed : int, default=0
        Seed of the shuffling permutations.
    semi_supervised : bool or None, default=None
        Whether targets may contain unlabeled (all-NaN) rows. ``None`` checks
        every batch; ``False`` skips the check.
    **kwargs
        Passed to :class:`skorch.NeuralNet` (``criterion`` defaults to
        :class:`ProblemLoss`).
    """

    def __init__(self, module, *args, unsupervised_weight=1.0, dtype=torch.float32, seed=0,
                 semi_supervised=None, **kwargs):
        if not args:
            kwargs.setdefault("criterion", ProblemLoss)
        super().__init__(module, *args, **kwargs)
        self.unsupervised_weight = unsupervised_weight
        self.semi_supervised = semi_supervised
        self.dtype = dtype
        self.seed = seed

    # -- stages -------------------------------------------------------------------------
    def set_stage(self, stage, selection=None):
        """Configure the net for a :class:`~skunfold.core.Stage` and re-create the optimizer.

        ``selection`` (a set of parameter ids) further restricts training to
        those parameters. Returns whether any parameter is trainable.
        """
        module = self.module_
        trainable = None if stage.trainable is None else set(stage.trainable)
        for p in module.parameters():
            p.requires_grad_(selection is None or id(p) in selection)
        if trainable is not None and not module.tied:
            for k in range(len(module.iterations)):
                if k not in trainable:
                    for p in module.layer_parameters(k):
                        p.requires_grad_(False)
        self.n_active_ = int(stage.n_active)
        self.layer_weights_ = [float(w) for w in stage.weights]
        self.max_epochs = int(stage.epochs)
        self.stage_name_ = stage.name
        if not any(p.requires_grad for p in module.parameters()):
            return False
        self.initialize_optimizer()
        scale = float(getattr(stage, "lr_scale", 1.0))
        if scale != 1.0:
            for group in self.optimizer_.param_groups:
                group["lr"] = group["lr"] * scale
        return True

    def on_epoch_end(self, net, **kwargs):
        """Record the stage of the loss schedule beside the epoch's losses in ``history``."""
        super().on_epoch_end(net, **kwargs)
        self.history.record("stage", getattr(self, "stage_name_", "training"))

    def get_all_learnable_params(self):
        for name, param in super().get_all_learnable_params():
            if param.requires_grad:
                yield name, param

    # -- data -----------------------------------------------------------------------------
    def get_dataset(self, X, y=None):
        if isinstance(X, (ArrayData, StreamData)):
            return X
        return ArrayData(X, y)

    def get_iterator(self, dataset, training=False):
        if not isinstance(dataset, (ArrayData, StreamData)):
            return super().get_iterator(dataset, training=training)
        if not hasattr(self, "_rng"):
            self._rng = np.random.default_rng(self.seed)
        bs = self.batch_size if self.batch_size != -1 else len(dataset)
        if isinstance(dataset, StreamData):
            return StreamSlicer(dataset, bs, device=self.device, dtype=self.dtype, rng=self._rng)
        return BatchSlicer(dataset, bs, shuffle=training, device=self.device, dtype=self.dtype,
                           rng=self._rng)

    # -- forward and loss -----------------------------------------------------------------
    def _weights(self, n):
        weights = getattr(self, "layer_weights_", None)
        return [0.0] * (n - 1) + [1.0] if weights is None else weights

    def infer(self, x, **fit_params):
        n_active = getattr(self, "n_active_", None)
        weights = getattr(self, "layer_weights_", None)
        needed = None if weights is None else {k for k, w in enumerate(weights) if w != 0.0}
        if isinstance(x, Inputs):
            return self.module_(x.x, n_layers=n_active, side=x.side, needed=needed)
        return self.module_(x, n_layers=n_active, needed=needed, **fit_params)

    def get_loss(self, y_pred, y_true, X=None, training=False, module=None):
        """Weighted sum over iterates of the per-iterate losses (see the class docstring).

        ``module`` (default ``self.module_``) provides the problem.
        """
        module = self.module_ if module is None else module
        problem = module.problem
        sign = -1.0 if problem.maximize else 1.0
        inputs = X if isinstance(X, Inputs) else Inputs(X)
        labeled = None
        if y_true is not None and self.semi_supervised is not False and y_true.is_floating_point():
            nan_rows = torch.isnan(y_true.reshape(y_true.shape[0], -1)).all(dim=1)
            labeled = ~nan_rows if bool(nan_rows.any()) else None
        total = 0.0
        for w, est in zip(self._weights(len(y_pred)), y_pred):
            if w == 0.0:
                continue
            if y_true is None:
                term = sign * module.objective(est, inputs.x, inputs.side).mean()
            elif labeled is None:
                term = self.criterion_(est, y_true, problem)
            else:
                n = est.shape[0]
                term = est.new_zeros((), dtype=self.dtype)
                if bool(labeled.any()):
                    term = term + problem.loss(est[labeled], y_true[labeled]).sum() / n
                unl = inputs[~labeled]
                obj = module.objective(est[~labeled], unl.x, unl.side).sum() / n
                term = term + self.unsupervised_weight * sign * obj
            total = total + w * term
        return total

    def train_step(self, batch, **fit_params):
        adversarial = self.module_.adversarial  # robust training (core.robust)
        if adversarial is not None:
            batch = adversarial.perturb(self, batch)
        step = super().train_step(batch, **fit_params)
        loss = step["loss"]
        if not torch.isfinite(loss).all():
            raise TrainingDivergedError(
                f"training diverged: the loss became {loss.item()} at epoch {len(self.history)} "
                f"(stage {getattr(self, 'stage_name_', '?')}); lower `lr` or check the data. "
                "The estimator was left as it was before this fit.")
        return step


def train_stages(net, data, stages, selection=None, log=None):
    """Train ``net`` on ``data`` stage by stage: the one stage loop of every estimator.

    Parameters
    ----------
    net : UnfoldingNet
        An initialised net.
    data : ArrayData
    stages : list of Stage
        From a loss schedule.
    selection : set of int, optional
        Ids of the parameters that may be trained (default: all); stages that
        would train none of them are skipped.
    log : callable, optional
        Called with a line of text at the start of every stage (verbose output).
    """
    module = net.module_
    try:
        for i, stage in enumerate(stages):
            if net.__dict__.get("budget_spent_", False):
                if log is not None:
                    log(f"max_time spent: stages {i + 1} to {len(stages)} skipped")
                break
            if not net.set_stage(stage, selection=selection):
                continue
            if log is not None:
                log(f"stage {i + 1}/{len(stages)} {stage.name}: {stage.epochs} epoch(s)")
            net.partial_fit(data, None)
    finally:
        for p in module.parameters():
            p.requires_grad_(True)
        module.eval()


def _value(loss):
    return float(loss.detach()) if torch.is_tensor(loss) else float(loss)


def _worse(final, start, factor):
    """Whether a loss moved from ``start`` to ``final`` by ``factor`` in the wrong direction.

    A positive loss is worse when multiplied by ``factor``; a negative one (the
    negative of a maximised objective) when its magnitude is divided by
    ``factor``: the rule does not depend on the objective's sign.
    """
    if start > 0:
        return final > factor * start
    return final > start + (1.0 - 1.0 / factor) * abs(start)


def _losses(net, initial, data, n_layers, max_entries=1 << 23, max_samples=2048, chunk=256):
    """Full-depth losses of the trained net, of ``initial`` and of a zero estimate on ``data``.

    On a subset of ``data`` (at most ``max_samples`` samples and ``max_entries``
    input entries, in chunks): the loss of the last iterate, as ``predict``
    returns it.
    """
    per_sample = max(1, int(np.prod(data.X.shape[1:])))
    n = min(len(data), max_samples, max(1, max_entries // per_sample))
    chunk = max(1, min(chunk, max(1, max_entries // (4 * per_sample))))
    saved = (getattr(net, "n_active_", None), getattr(net, "layer_weights_", None))
    net.n_active_ = n_layers
    net.layer_weights_ = [0.0] * (n_layers - 1) + [1.0]
    initial = initial.to(net.device).eval()
    final = start = trivial = 0.0
    try:
        with evaluation_mode(net.module_.problem):
            for lo in range(0, n, chunk):
                hi = min(lo + chunk, n)
                xb, yb = next(iter(BatchSlicer(data.take(slice(lo, hi)), hi - lo,
                                               device=net.device, dtype=net.dtype)))
                w = (hi - lo) / n
                iterates = net.infer(xb)
                final += w * _value(net.get_loss(iterates, yb, X=xb))
                reference = initial(xb.x, n_layers=n_layers, side=xb.side, needed={n_layers - 1})
                start += w * _value(net.get_loss(reference, yb, X=xb, module=initial))
                # the loss of an all-zero estimate: the scale below which losses are round-off
                zeros = tuple(None if it is None else torch.zeros_like(it) for it in iterates)
                trivial += w * _value(net.get_loss(zeros, yb, X=xb))
    finally:
        net.n_active_, net.layer_weights_ = saved
    return final, start, trivial


def check_not_diverged(net, initial, data, n_layers, factor=10.0, losses=None, **kwargs):
    """Raise :class:`TrainingDivergedError` when training made the model much worse.

    Non-finite losses are caught during training; this catches the runs whose
    loss stayed finite but blew up (e.g. a too large learning rate in a
    sequential schedule). It compares the trained model's full-depth loss
    (the training loss on the last iterate) with the untrained model's -- the
    classical solver for every paradigm that starts from it -- on a subset of
    the training data, and raises when it moved by ``factor`` in the wrong
    direction, whatever the objective's sign. ``losses``: the result of
    ``_losses`` on the same arguments when already computed.
    """
    final, start, trivial = losses or _losses(net, initial, data, n_layers, **kwargs)
    if start >= 0:
        start = max(start, 1e-6 * abs(trivial), 1e-30)  # an exact untrained model is no scale
    if not np.isfinite(final) or _worse(final, start, factor):
        raise TrainingDivergedError(
            f"training diverged: the final training loss ({final:.3g}) is worse than the untrained "
            f"model's ({start:.3g}) by more than {factor:g}x; lower `lr` or change the loss "
            "schedule. The estimator was left as it was before this fit.")


class WorseThanClassicalWarning(ConvergenceWarning):
    """Training made the model worse than the classical solver it starts from.

    Raised by ``fit`` with both figures: the full-depth loss of the trained
    model and of the untrained one (the classical solver at the same depth,
    or the model training started from), on the validation set when
    ``early_stopping`` holds one out, else on the training data. With
    ``keep_best=True`` (the default) the estimator keeps the untrained
    model; with ``keep_best=False`` it keeps the trained one.
    """


#: Relative difference of two losses below which they are equal (float32 round-off).
_TIE = 1e-4


def keep_improvement(net, initial, data, n_layers, *, keep_best=True, on="validation",
                     losses=None):
    """Compare the trained model with the untrained one on ``data``; keep the better.

    Early stopping keeps the best *trained* epoch of every stage; this makes
    the untrained model (the classical solver) a candidate too: if the
    trained model's full-depth loss on ``data`` is above the untrained
    one's, a :class:`WorseThanClassicalWarning` gives both figures and, with
    ``keep_best``, the untrained parameters are restored. ``losses``: the
    result of ``_losses`` on the same arguments when already computed.

    Returns
    -------
    comparison : dict
        ``{"trained": loss, "classical": loss, "on": on, "kept": "trained" or
        "classical"}``.
    """
    final, start, _ = losses or _losses(net, initial, data, n_layers)
    comparison = {"trained": final, "classical": start, "on": on, "kept": "trained"}
    if final - start <= _TIE * abs(start) + 1e-30:  # a tie (round-off) keeps the trained model
        return comparison
    if keep_best:
        with torch.no_grad():
            old = dict(initial.named_parameters())
            for name, p in net.module_.named_parameters():
                p.copy_(old[name].to(p.device, p.dtype))
        comparison["kept"] = "classical"
        what = "the untrained model is kept (keep_best=True)"
    else:
        what = "the trained model is kept all the same (keep_best=False)"
    warnings.warn(
        f"training did not improve on the untrained model on the {on} data: loss {final:.4g} "
        f"after training, {start:.4g} before (the classical solver at the same depth, or the "
        f"model training started from); {what}. Lower `lr`, train longer or on more data, or "
        "try another paradigm",
        WorseThanClassicalWarning, stacklevel=caller_stacklevel())
    return comparison


#: A budget large enough for any schedule's stages, used only to read their structure.
_STRUCTURE_BUDGET = 1 << 20


def _split(data, fraction, seed):
    n = len(data)
    n_valid = int(np.ceil(fraction * n))
    if n_valid < 1 or n - n_valid < 1:
        raise ValueError(f"early_stopping needs at least 2 samples to split off a validation set "
                         f"with validation_fraction={fraction}; got {n}")
    perm = np.random.default_rng(seed).permutation(n)
    return data.take(np.sort(perm[n_valid:])), data.take(np.sort(perm[:n_valid]))


def fit_module(module, data, *, schedule, n_layers, max_epochs, lr, optimizer, batch_size,
               device="cpu", dtype=torch.float32, early_stopping=None, seeds=(0, 0), verbose=0,
               name="fit", epochs_per_stage=None, selection=None, keep_best=True,
               max_time=None, optimizer_states=None, group_lr=None):
    """Train an :class:`~skunfold.core.UnfoldedModule` through the stages of a loss schedule.

    The whole training of an estimator: an optional validation split (early
    stopping restores each stage's best epoch), the skorch net, the stages of ``schedule``
    (:func:`train_stages`) and the divergence check against the untrained
    module (:func:`check_not_diverged`), and the comparison of the trained
    model with the untrained one on the validation set (else on the training
    data), which keeps the better (:func:`keep_improvement`).

    Parameters
    ----------
    module : UnfoldedModule
        The untrained (or warm-started) module; trained in place.
    data : ArrayData or StreamData
        Training data; a stream (a fit from a
        :class:`~skunfold.core.SampleSource`) draws fresh samples every epoch
        and its own validation set.
    schedule : LossSchedule
        Also gives the weight of the objective on unlabeled samples.
    n_layers, max_epochs : int
    lr : float
    optimizer : Optimizer
        Validated: ``algorithm`` is a torch optimizer class.
    batch_size : int
    device : str, default="cpu"
    dtype : torch.dtype, default=torch.float32
    early_stopping : EarlyStopping or None, default=None
    seeds : (int, int), default=(0, 0)
        Seeds of the shuffling and of the validation split.
    verbose : int, default=0
    name : str, default="fit"
        Prefix of the progress lines.
    epochs_per_stage : int, optional
        Run every stage for this many epochs (continued training, see
        :func:`~skunfold.core.adapt`) instead of the schedule's own split of
        ``max_epochs``.
    selection : callable, optional
        ``selection(module) -> parameters`` restricting what is trained.
    keep_best : bool or None, default=True
        Restore the untrained model when the trained one is worse; ``None``
        (continued training) compares nothing and keeps the steps taken.
    max_time : float, optional
        Training time budget in seconds, from the start of this call: training
        stops at the end of the epoch after which one more epoch of the same
        length would overrun it, and the stages left are skipped
        (:class:`TimeBudget`).
    optimizer_states : dict, optional
        The ``optimizer_states_`` of the net of the previous run, whose
        optimizer state every stage continues (``partial_fit``; see
        :class:`~skunfold.core.online.OptimizerMemory`).
    group_lr : dict of str to float, optional
        Learning rates of parameter groups: a parameter whose name has the
        component ``key`` (``"iterations.3.hyperparameters.raw.step"`` is in
        the group ``"hyperparameters"``) trains at ``group_lr[key]``, the others
        at ``lr``.

    Returns
    -------
    net : UnfoldingNet
        Its attribute ``comparison_`` holds what :func:`keep_improvement`
        returned (``None`` when nothing was trained), ``optimizer_states_``
        the optimizer state of every stage (the previous one where the
        untrained model was kept).
    """
    valid, stream = None, isinstance(data, StreamData)
    if early_stopping is not None:
        if stream:
            valid = data.validation_set(early_stopping.validation_fraction)
        else:
            data, valid = _split(data, early_stopping.validation_fraction, seeds[1])
    reference = data.reference if stream else data
    ys = [d.y for d in (reference, valid) if d is not None and d.y is not None]
    semi = any(np.issubdtype(y.dtype, np.floating) and bool(np.isnan(y).any()) for y in ys)
    semi = None if stream and not semi else semi  # a later draw may hold unlabeled rows
    callbacks = []
    if valid is not None:
        callbacks.append(("early_stopping", Patience(
            monitor="valid_loss", patience=early_stopping.n_iter_no_change, load_best=True)))
    start = time.perf_counter()
    deadline = None if max_time is None else start + max_time
    if optimizer.lr_schedule == "cosine":
        callbacks.append(("stage_cosine_lr", StageCosineLR(deadline)))
    if optimizer.max_grad_norm is not None:
        callbacks.append(("gradient_clipping",
                          GradientNormClipping(gradient_clip_value=optimizer.max_grad_norm)))
    if max_time is not None:
        callbacks.append(("time_budget", TimeBudget(deadline)))
    if verbose:
        callbacks.append(("epoch_log", EpochLog(start, name)))
    memory = OptimizerMemory(optimizer_states)
    callbacks.append(("optimizer_memory", memory))
    initial = copy.deepcopy(module)
    groups = {}
    if group_lr:  # skorch's parameter groups (name patterns; the first that matches wins)
        groups["optimizer__param_groups"] = [
            (pattern, {"lr": rate}) for key, rate in group_lr.items()
            for pattern in (f"{key}.*", f"*.{key}.*")]
    net = UnfoldingNet(
        module, optimizer=optimizer.algorithm, lr=lr, batch_size=batch_size,
        max_epochs=max_epochs, device=device,
        train_split=predefined_split(valid) if valid is not None else None,
        callbacks=callbacks, verbose=0, unsupervised_weight=schedule.unsupervised_weight,
        seed=seeds[0], semi_supervised=semi, dtype=dtype, **groups)
    net.initialize()
    if epochs_per_stage is None:
        stages = schedule.stages(n_layers, max_epochs) if max_epochs > 0 else []
    else:  # continued training: the schedule's stages (any budget gives them), re-timed
        stages = [st.with_epochs(epochs_per_stage)
                  for st in schedule.stages(n_layers, _STRUCTURE_BUDGET)]
    selected = None if selection is None else {id(p) for p in selection(net.module_)}

    def log(line):
        print(f"[{name}] {line} (elapsed {time.perf_counter() - start:.1f} s)", flush=True)

    train_stages(net, data, stages, selection=selected, log=log if verbose else None)
    net.comparison_ = None
    # the full-depth losses of the trained and untrained models on the training data, once:
    # the divergence check and (without a validation set) keep_best both read them
    losses = _losses(net, initial, reference, n_layers) if stages else None
    if stages:
        check_not_diverged(net, initial, reference, n_layers, losses=losses)
    if stages and keep_best is not None:
        net.comparison_ = keep_improvement(
            net, initial, reference if valid is None else valid, n_layers, keep_best=keep_best,
            on="training" if valid is None else "validation",
            losses=losses if valid is None else None)
    kept = net.comparison_ is None or net.comparison_["kept"] == "trained"
    net.optimizer_states_ = memory.states if kept else dict(optimizer_states or {})
    memory.previous = None  # the net holds the states once
    if verbose:
        log(f"done: {len(net.history)} epoch(s)")
    return net
