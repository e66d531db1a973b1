"""Loss schedules: how the losses of the iterates are combined during training.

The survey (Sec. III-F, eq. 17) names three: end-to-end (L1), multi-iteration
weighted (L2) and sequential layer-by-layer (L3). Each is a small object with
a string alias, so it can be a value in a grid search.
"""

import dataclasses
import math
from dataclasses import dataclass
from numbers import Integral

import numpy as np

from .constraints import check_real
from .options import OptionGroup

__all__ = [
    "LossSchedule",
    "EndToEnd",
    "MultiIteration",
    "Sequential",
    "SequentialEndToEnd",
    "get_loss_schedule",
    "LOSS_SCHEDULES",
    "Stage",
]


@dataclass(frozen=True)
class Stage:
    """One training stage.

    Attributes
    ----------
    n_active : int
        Number of layers run during the stage.
    trainable : tuple of int or None
        Layers (0-based) whose own parameters are trained; ``None`` means all.
        Parameters shared by several layers are always trainable.
    epochs : int
        Passes over the training data in this stage.
    weights : numpy.ndarray of shape (n_active,)
        Weight of the loss of each iterate ``1..n_active``.
    name : str
        Label used in the training history.
    lr_scale : float
        Factor applied to the estimator's learning rate during the stage.
    """

    n_active: int
    trainable: object
    epochs: int
    weights: np.ndarray
    name: str
    lr_scale: float = 1.0

    def with_epochs(self, epochs):
        """A copy of the stage with another number of epochs."""
        return dataclasses.replace(self, epochs=int(epochs))


def _last_only(n):
    w = np.zeros(n)
    w[-1] = 1.0
    return w


def _check_weight(value, name="unsupervised_weight"):
    return check_real(value, name, min_value=0)


class LossSchedule(OptionGroup):
    """Base class of loss schedules: how the losses of the iterates are combined.

    A schedule turns ``(n_layers, max_epochs)`` into a list of :class:`Stage`
    objects; the estimator trains the stages one after the other, re-creating
    the optimizer at the start of every stage. Every schedule also weighs the
    two terms of semi-supervised training: on samples whose targets are
    entirely NaN (unlabeled), the problem's objective counts with
    ``unsupervised_weight`` beside the supervised loss of the labeled ones.

    A schedule is an option object (``get_params``/``set_params``), so a grid
    search reaches ``loss_schedule__fine_tune``.
    """

    alias = None
    _constraints = {"unsupervised_weight": _check_weight}

    def stages(self, n_layers, max_epochs):  # pragma: no cover - abstract
        """Return the list of training stages."""
        raise TypeError(f"{type(self).__name__} does not define its stages")


class EndToEnd(LossSchedule):
    """End-to-end training (L1, equation 17a): only the last iterate's loss counts.

    Parameters
    ----------
    unsupervised_weight : float, default=1.0
        Weight of the objective on unlabeled samples (semi-supervised training).
    """

    alias = "end_to_end"

    def __init__(self, unsupervised_weight=1.0):
        self.unsupervised_weight = unsupervised_weight

    def stages(self, n_layers, max_epochs):
        return [Stage(n_layers, None, max_epochs, _last_only(n_layers), "end_to_end")]


class MultiIteration(LossSchedule):
    """Multi-iteration weighted loss (L2, equation 17b): sum_k w_k l(s^(k), s).

    Parameters
    ----------
    weights : {"log", "uniform", "last"} or array-like of shape (n_layers,), default="log"
        ``"log"``: w_k = log(1 + k), the survey's choice; ``"uniform"``: equal
        weights; ``"last"``: only the last layer (then identical to
        :class:`EndToEnd`); an array gives the weights explicitly. Weights are
        normalised to sum to one.
    unsupervised_weight : float, default=1.0
        Weight of the objective on unlabeled samples (semi-supervised training).
    """

    alias = "multi_iteration"

    def __init__(self, weights="log", unsupervised_weight=1.0):
        if isinstance(weights, str):
            if weights not in ("log", "uniform", "last"):
                raise ValueError(
                    "MultiIteration weights must be 'log', 'uniform', 'last' or an array, "
                    f"got {weights!r}"
                )
        else:
            arr = np.asarray(weights, dtype=float)
            if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr < 0) \
                    or arr.sum() <= 0:
                raise ValueError(
                    "MultiIteration weights given as an array must be a non-empty 1-D array of "
                    "finite non-negative numbers with a positive sum"
                )
        self.weights = weights  # stored as given (scikit-learn's clone checks identity)
        self.unsupervised_weight = unsupervised_weight

    def layer_weights(self, n_layers):
        """The normalised weights for a network of ``n_layers`` layers."""
        k = np.arange(1, n_layers + 1, dtype=float)
        named = self.weights if isinstance(self.weights, str) else None
        if named == "log":
            w = np.log1p(k)
        elif named == "uniform":
            w = np.ones(n_layers)
        elif named == "last":
            w = _last_only(n_layers)
        else:
            w = np.asarray(self.weights, dtype=float)
            if w.size != n_layers:
                raise ValueError(
                    f"MultiIteration got {w.size} weights for n_layers={n_layers}"
                )
        return w / w.sum()

    def stages(self, n_layers, max_epochs):
        return [Stage(n_layers, None, max_epochs, self.layer_weights(n_layers), "multi_iteration")]


def _check_epochs(value, name):
    if value is None:
        return None
    if not isinstance(value, Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
    return int(value)


class Sequential(LossSchedule):
    """Sequential layer-by-layer training (L3, equation 17c).

    Layer ``k`` is trained on the loss of iterate ``k`` while the parameters of
    layers ``1..k-1`` stay frozen (parameters shared by several layers, such as
    a shared correction network, are trained at every stage).

    Parameters
    ----------
    epochs_per_stage : int, optional
        Epochs of every stage (each layer, and each of its fine-tuning
        passes). By default the estimator's ``max_epochs`` are shared by the
        stages as evenly as possible (their sum is ``max_epochs``, which must
        be at least the number of stages).
    fine_tune : tuple of float, default=()
        Learning-rate factors of fine-tuning passes run after each new layer:
        for every factor, layers ``1..k`` are trained together on the loss of
        iterate ``k`` for ``epochs_per_stage`` epochs at ``lr * factor``. The
        original LISTA-CP/SS and ALISTA code uses ``(0.2, 0.02)``.
    unsupervised_weight : float, default=1.0
        Weight of the objective on unlabeled samples (semi-supervised training).

    Examples
    --------
    >>> from skunfold.core import Sequential
    >>> [st.name for st in Sequential(epochs_per_stage=1, fine_tune=(0.1,)).stages(2, 10)]
    ['sequential[1]', 'fine_tune[1]x0.1', 'sequential[2]', 'fine_tune[2]x0.1']
    """

    alias = "sequential"

    def __init__(self, epochs_per_stage=None, fine_tune=(), unsupervised_weight=1.0):
        _check_epochs(epochs_per_stage, "epochs_per_stage")
        try:
            factors = tuple(float(f) for f in fine_tune)
        except TypeError:
            raise ValueError("fine_tune must be a tuple of learning-rate factors, got "
                             f"{fine_tune!r}") from None
        if any(not (f > 0 and np.isfinite(f)) for f in factors):
            raise ValueError(f"fine_tune factors must be positive, got {fine_tune!r}")
        # stored as given (scikit-learn's clone checks identity); converted where used
        self.epochs_per_stage = epochs_per_stage
        self.fine_tune = fine_tune
        self.unsupervised_weight = unsupervised_weight

    def _layer_stages(self, n_layers, epochs):
        """The stages of layers ``1..n_layers`` (and their fine-tuning), ``epochs`` in order."""
        epochs = iter(epochs)
        out = []
        for k in range(1, n_layers + 1):
            out.append(Stage(k, (k - 1,), next(epochs), _last_only(k), f"sequential[{k}]"))
            for f in (float(f) for f in self.fine_tune):
                out.append(Stage(k, None, next(epochs), _last_only(k), f"fine_tune[{k}]x{f:g}",
                                 f))
        return out

    def _sequential_epochs(self, n_layers, budget):
        n_stages = n_layers * (1 + len(self.fine_tune))
        if self.epochs_per_stage is not None:
            return [int(self.epochs_per_stage)] * n_stages
        return split_epochs(budget, n_stages, self)

    def stages(self, n_layers, max_epochs):
        return self._layer_stages(n_layers, self._sequential_epochs(n_layers, max_epochs))


def split_epochs(total, n_stages, schedule):
    """``total`` epochs shared by ``n_stages`` stages as evenly as possible (sum ``total``)."""
    if total < n_stages:
        raise ValueError(
            f"{schedule!r} trains {n_stages} stages one after the other (one per layer and "
            f"fine-tuning pass): max_epochs={total} cannot give each stage an epoch; use "
            f"max_epochs >= {n_stages}, or set the schedule's epochs_per_stage")
    return [total // n_stages + (i < total % n_stages) for i in range(n_stages)]


class SequentialEndToEnd(Sequential):
    """Sequential training followed by end-to-end fine-tuning (the survey's section V-B scheme).

    Parameters
    ----------
    epochs_per_stage : int, optional
        Epochs per stage of the sequential phase (default: the epochs that the
        end-to-end phase leaves of ``max_epochs``, shared by its stages).
    end_to_end_epochs : int, optional
        Epochs of the end-to-end phase (default ``ceil(max_epochs / 2)``).
    fine_tune : tuple of float, default=()
        As in :class:`Sequential`.
    unsupervised_weight : float, default=1.0
        Weight of the objective on unlabeled samples (semi-supervised training).
    """

    alias = "sequential+end_to_end"

    def __init__(self, epochs_per_stage=None, end_to_end_epochs=None, fine_tune=(),
                 unsupervised_weight=1.0):
        super().__init__(epochs_per_stage, fine_tune, unsupervised_weight)
        _check_epochs(end_to_end_epochs, "end_to_end_epochs")
        self.end_to_end_epochs = end_to_end_epochs

    def stages(self, n_layers, max_epochs):
        e2e = self.end_to_end_epochs or max(1, math.ceil(max_epochs / 2))
        n_stages = n_layers * (1 + len(self.fine_tune))
        if self.epochs_per_stage is None and max_epochs - e2e < n_stages:
            least = n_stages + e2e if self.end_to_end_epochs else max(2 * n_stages, n_stages + 1)
            raise ValueError(
                f"{self!r} trains {n_stages} sequential stages (one per layer and fine-tuning "
                f"pass), then {e2e} end-to-end epoch(s): max_epochs={max_epochs} cannot give "
                f"each stage an epoch; use max_epochs >= {least}, or set the schedule's "
                "epochs_per_stage")
        seq = self._layer_stages(n_layers, self._sequential_epochs(n_layers, max_epochs - e2e))
        return seq + [Stage(n_layers, None, e2e, _last_only(n_layers), "end_to_end")]


LOSS_SCHEDULES = {
    cls.alias: cls for cls in (EndToEnd, MultiIteration, Sequential, SequentialEndToEnd)
}


def get_loss_schedule(schedule, name="loss_schedule"):
    """Return the :class:`LossSchedule` named by ``schedule``, checked.

    Parameters
    ----------
    schedule : str or LossSchedule
        One of ``"end_to_end"``, ``"multi_iteration"``, ``"sequential"``,
        ``"sequential+end_to_end"``, or a schedule object (a checked copy is
        returned).
    name : str, default="loss_schedule"
        The parameter's name in error messages.

    Returns
    -------
    LossSchedule
    """
    if isinstance(schedule, LossSchedule):
        return schedule.validated(name)
    if isinstance(schedule, str) and schedule in LOSS_SCHEDULES:
        return LOSS_SCHEDULES[schedule]()
    raise ValueError(
        f"{name} must be one of {sorted(LOSS_SCHEDULES)} or a LossSchedule "
        f"instance, got {schedule!r}"
    )
