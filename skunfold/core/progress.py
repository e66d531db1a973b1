"""Callbacks of a fit: progress lines (``verbose=1``), patience, time budget, lr decay."""

import sys
import time

import numpy as np
from skorch.callbacks import Callback
from skorch.callbacks import EarlyStopping as _SkorchEarlyStopping

__all__ = ["EpochLog", "Patience", "StageCosineLR", "TimeBudget"]


class EpochLog(Callback):
    """A progress line per epoch that reads well in a terminal, a log file and a notebook.

    In a terminal the line of the current stage is rewritten in place; when
    the output is not a terminal (a file, a pipe, a notebook) at most
    ``max_lines`` plain lines are printed per stage, the last epoch always
    included -- no carriage returns, no colour codes.

    Parameters
    ----------
    start : float
        ``time.perf_counter()`` at the start of the fit (elapsed times are
        measured from it).
    name : str, default="fit"
        Prefix of every line (the estimator's class name).
    stream : file-like, optional
        Where to write (default: ``sys.stdout`` at the time of writing).
    max_lines : int, default=10
        Lines per stage when the output is not a terminal.
    """

    def __init__(self, start, name="fit", stream=None, max_lines=10):
        self.start = start
        self.name = name
        self.stream = stream
        self.max_lines = max_lines

    def _out(self):
        return self.stream if self.stream is not None else sys.stdout

    def _tty(self):
        isatty = getattr(self._out(), "isatty", None)
        try:
            return bool(isatty and isatty())
        except ValueError:  # closed stream
            return False

    def on_train_begin(self, net, **kwargs):
        self.epoch_ = 0
        self.open_line_ = False

    def on_epoch_end(self, net, **kwargs):
        self.epoch_ += 1
        total = max(int(net.max_epochs), 1)
        row = net.history[-1]
        parts = [f"[{self.name}] {getattr(net, 'stage_name_', 'training')} "
                 f"epoch {self.epoch_}/{total}"]
        for key in ("train_loss", "valid_loss"):
            if key in row:
                parts.append(f"{key} {row[key]:.4g}")
        parts.append(f"({time.perf_counter() - self.start:.1f} s)")
        line = "  ".join(parts)
        out = self._out()
        if self._tty():
            out.write("\r" + line + "\033[K")
            self.open_line_ = True
        else:
            every = max(1, -(-total // self.max_lines))
            if self.epoch_ == 1 or self.epoch_ % every == 0 or self.epoch_ == total:
                out.write(line + "\n")
        out.flush()

    def on_train_end(self, net, **kwargs):
        if self.open_line_:
            self._out().write("\n")
            self._out().flush()
            self.open_line_ = False


class Patience(_SkorchEarlyStopping):
    """skorch's early stopping, its relative threshold taken on the size of the loss.

    An epoch improves when its validation loss is below the best one's by
    ``threshold`` times the best's absolute value. skorch takes that fraction
    of the signed loss, so for a negative loss (a negated rate, an objective
    that is maximised) a slightly *worse* epoch counted as an improvement and
    became the one restored.
    """

    def _calc_new_threshold(self, score):
        if self.threshold_mode != "rel":
            return super()._calc_new_threshold(score)
        change = self.threshold * abs(score)
        return score - change if self.lower_is_better else score + change


class StageCosineLR(Callback):
    """Decay the learning rate along a half cosine within every training stage.

    The estimator re-creates the optimizer at the start of each stage of its
    loss schedule; this callback scales the learning rate of a stage by
    ``(1 + cos(pi p)) / 2`` (never below 2%), where ``p`` is the stage's
    progress: the fraction ``e / E`` of its ``E`` epochs done, or, with a
    ``deadline`` (``max_time``), the fraction of the time left at the stage's
    start that has passed, whichever is larger. So each stage ends with small,
    precise steps whether its epochs or the time budget run out first. Used by
    ``lr_schedule="cosine"``.

    Parameters
    ----------
    deadline : float, optional
        A :func:`time.perf_counter` value: the end of the time budget.
    """

    def __init__(self, deadline=None):
        self.deadline = deadline

    def on_train_begin(self, net, **kwargs):
        self.epoch_ = 0
        self.start_ = time.perf_counter()
        self.base_lr_ = [g["lr"] for g in net.optimizer_.param_groups]

    def progress(self, net):
        """The stage's progress ``p`` in [0, 1] at the start of the next epoch."""
        done = self.epoch_ / max(int(net.max_epochs), 1)
        if self.deadline is not None:
            span = self.deadline - self.start_
            elapsed = time.perf_counter() - self.start_
            done = max(done, elapsed / span if span > 0 else 1.0)
        return min(done, 1.0)

    def on_epoch_begin(self, net, **kwargs):
        factor = max(0.5 * (1.0 + np.cos(np.pi * self.progress(net))), 0.02)
        for group, lr in zip(net.optimizer_.param_groups, self.base_lr_):
            group["lr"] = lr * factor
        self.epoch_ += 1


class TimeBudget(Callback):
    """Stop training before an epoch would end after ``deadline``.

    ``deadline`` is a :func:`time.perf_counter` value. At the end of each
    epoch, training stops when the deadline has passed or when another epoch
    as long as this one would end after it, so that training stays within
    the budget whenever the epochs take the same time (a first epoch longer
    than the whole budget still runs). Like skorch's early stopping, the
    callback ends the current stage by raising ``KeyboardInterrupt`` (which
    skorch turns into the end of ``fit``) and records ``net.budget_spent_``,
    so that :func:`train_stages` skips the stages left. Used by the
    estimators' ``max_time``.
    """

    def __init__(self, deadline):
        self.deadline = deadline

    def on_epoch_begin(self, net, **kwargs):
        self.epoch_start_ = time.perf_counter()

    def on_epoch_end(self, net, **kwargs):
        now = time.perf_counter()
        epoch = now - getattr(self, "epoch_start_", now)
        if now + epoch > self.deadline:
            net.budget_spent_ = True
            raise KeyboardInterrupt
