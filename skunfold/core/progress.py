"""Progress of long fits (``verbose=1``): epochs, losses and elapsed time, terminal or not."""

import sys
import time

from skorch.callbacks import Callback

__all__ = ["EpochLog"]


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
