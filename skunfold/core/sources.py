"""Training from a sample source: fresh synthetic samples at every step.

Every example of the survey is synthetic: the observations are simulated
from a known model, so a model can be trained on new samples at every step,
as the LISTA, LISTA-CP/SS and ALISTA papers do (a fresh batch of 64 per step,
hundreds of thousands of steps), instead of on a fixed array that a network
of millions of parameters overfits. A :class:`SampleSource` wraps a
``make_*``-style generator and is passed to ``fit`` in place of ``X``::

    source = SampleSource(partial(make_sparse_recovery, dictionary=D), n_samples_per_epoch=6400)
    LISTA(n_layers=16, max_epochs=200, early_stopping=True).fit(source)

The estimator draws ``n_samples_per_epoch`` new samples at the start of
every epoch (so memory holds one epoch, not the whole stream) and a fixed
validation set once, from a separate random stream; everything else
(loss schedules and their stages, early stopping, learning-rate schedules,
clipping, devices, the divergence check, a transactional ``fit``) is the
estimator's ordinary training.
"""

import inspect
from collections.abc import Mapping
from numbers import Integral

import numpy as np

__all__ = ["SampleSource", "SampleSourceError", "StreamData", "training_seed", "validate_draw"]


class SampleSourceError(ValueError):
    """Raised when a :class:`SampleSource` raises or returns unusable samples.

    The estimator being fitted is left as it was before ``fit``.
    """


def _seed(entropy, *key):
    """An int seed for ``random_state`` from a seed and a spawn key (independent streams)."""
    return int(np.random.SeedSequence(entropy, spawn_key=key).generate_state(1)[0])


def _takes_n_samples_by_name(sampler):
    """Whether ``sampler`` has a parameter ``n_samples`` that a keyword can pass.

    Such a sampler is called with ``n_samples=`` by name, so that generators whose
    first parameter is something else (``make_imaging_problem(operator, *,
    n_samples=...)``) work through :func:`functools.partial` as they are.
    """
    try:
        parameter = inspect.signature(sampler).parameters.get("n_samples")
    except (TypeError, ValueError):  # no signature to read: the documented positional call
        return False
    return parameter is not None and parameter.kind in (parameter.POSITIONAL_OR_KEYWORD,
                                                        parameter.KEYWORD_ONLY)


#: Spawn keys of the two streams: the training draws (one per epoch) and the validation draw.
_TRAIN, _VALID = 0, 1


class SampleSource:
    """A generator of training samples, passed to ``fit`` in place of ``X``.

    With a source, ``fit`` trains on ``n_samples_per_epoch`` fresh samples
    every epoch (each sample is seen once, in mini-batches of the
    estimator's ``batch_size``), and, when the estimator has
    ``early_stopping=True``, checks its patience on a fixed validation set
    drawn once from a separate random stream (or given as arrays). The draws
    are reproducible from the estimator's ``random_state``.

    Parameters
    ----------
    sampler : callable
        ``sampler(n_samples, random_state=seed)`` returning ``X``, or a tuple
        whose first two items are ``X`` and ``y``; a dict as third item is
        per-sample side information, other items are ignored. A sampler
        with a parameter named ``n_samples`` gets it by name
        (``sampler(n_samples=n, random_state=seed)``), so skunfold's
        ``make_*`` generators fit directly through :func:`functools.partial`,
        also those whose first parameter is another one
        (``partial(make_imaging_problem, operator)``; ``make_sparse_recovery``
        returns ``(X, S, dictionary)``).
    n_samples_per_epoch : int, default=6400
        Samples drawn per epoch (100 steps of 64, the papers' batch size).
    validation : int or tuple of array-like, default=None
        The validation set used by ``early_stopping``: a number of samples
        drawn once from the source, or the arrays ``(X_val, y_val)``
        themselves. ``None`` draws ``ceil(validation_fraction *
        n_samples_per_epoch)`` samples, with the estimator's
        ``validation_fraction``. Ignored without early stopping.
    supervised : bool, default=True
        Whether to train on the sampler's targets; ``False`` drops them and
        trains on the problem's objective (unsupervised).

    Attributes
    ----------
    n_draws_ : int
        Training draws made so far by the last ``fit`` (epochs, the first
        included).

    See Also
    --------
    skunfold.datasets.make_sparse_recovery : a generator to wrap.

    Notes
    -----
    The training stream and the validation set come from independent seeds
    derived from the estimator's ``random_state`` (two spawn keys of one
    :class:`numpy.random.SeedSequence`): the validation samples are never
    drawn from the training stream. A source whose sampler ignores
    ``random_state`` and returns the same arrays every time trains exactly
    as ``fit`` on those arrays.

    Examples
    --------
    >>> from functools import partial
    >>> from skunfold.core import SampleSource
    >>> from skunfold.datasets import make_sparse_recovery
    >>> from skunfold.sparse import UnfoldedISTA
    >>> _, _, D = make_sparse_recovery(1, 20, 40, random_state=0)
    >>> sampler = partial(make_sparse_recovery, n_measurements=20, n_components=40,
    ...                   dictionary=D)
    >>> source = SampleSource(sampler, n_samples_per_epoch=256)
    >>> model = UnfoldedISTA(n_layers=4, dictionary=D, max_epochs=3, random_state=0,
    ...                      weights="analytic").fit(source)
    >>> source.n_draws_
    3
    """

    def __init__(self, sampler, n_samples_per_epoch=6400, validation=None, supervised=True):
        if not callable(sampler):
            raise TypeError(f"sampler must be a callable sampler(n_samples, random_state=...), "
                            f"got {type(sampler).__name__}")
        if not isinstance(n_samples_per_epoch, Integral) or isinstance(n_samples_per_epoch, bool) \
                or n_samples_per_epoch < 1:
            raise ValueError(f"n_samples_per_epoch must be a positive integer, got "
                             f"{n_samples_per_epoch!r}")
        if validation is not None and not isinstance(validation, tuple):
            if not isinstance(validation, Integral) or isinstance(validation, bool) \
                    or validation < 1:
                raise ValueError(f"validation must be None, a positive number of samples or a "
                                 f"tuple (X_val, y_val), got {validation!r}")
        self.sampler = sampler
        self.n_samples_per_epoch = int(n_samples_per_epoch)
        self.validation = validation
        self.supervised = bool(supervised)

    def __repr__(self):
        sampler = getattr(self.sampler, "func", self.sampler)  # functools.partial
        name = getattr(sampler, "__name__", None) or type(sampler).__name__
        return (f"SampleSource({name}, n_samples_per_epoch={self.n_samples_per_epoch}, "
                f"validation={'arrays' if isinstance(self.validation, tuple) else self.validation}"
                f", supervised={self.supervised})")

    def draw(self, n_samples, seed, what="a draw"):
        """``(X, y, side)`` from the sampler, unvalidated (``y`` is ``None`` when unsupervised)."""
        try:
            if _takes_n_samples_by_name(self.sampler):
                out = self.sampler(n_samples=int(n_samples), random_state=seed)
            else:
                out = self.sampler(int(n_samples), random_state=seed)
        except Exception as err:
            raise SampleSourceError(f"the sample source raised {type(err).__name__}: {err} "
                                    f"(while drawing {what} of {n_samples} samples); the "
                                    "estimator was left as it was before this fit") from err
        return self._unpack(out, n_samples, what)

    def _unpack(self, out, n_samples, what):
        side = {}
        if isinstance(out, tuple):
            if not out:
                raise SampleSourceError(f"the sample source returned an empty tuple ({what})")
            X, y = out[0], (out[1] if len(out) > 1 else None)
            if len(out) > 2 and isinstance(out[2], Mapping):
                side = dict(out[2])
        else:
            X, y = out, None
        if not self.supervised:
            y = None
        for name, arr in (("X", X), ("y", y)):
            if arr is not None and (not hasattr(arr, "__len__") or len(arr) != n_samples):
                got = len(arr) if hasattr(arr, "__len__") else type(arr).__name__
                hint = "" if name == "X" else "; pass supervised=False to train without targets"
                raise SampleSourceError(f"the sample source returned {name} with {got} samples "
                                        f"for {what} of {n_samples}{hint}")
        return X, y, side


class StreamData:
    """The training data of a fit from a :class:`SampleSource`: one fresh draw per epoch.

    Built by the estimator; :class:`~skunfold.core.UnfoldingNet` iterates it
    like :class:`~skunfold.core.ArrayData`, drawing epoch ``e`` (``e >= 1``)
    when its iteration starts. ``reference`` is the first draw (epoch 0),
    which also sized the problem and serves the divergence check.

    Parameters
    ----------
    source : SampleSource
    reference : ArrayData
        The validated first draw.
    check : callable
        ``check(X, y, side) -> ArrayData``: the estimator's validation of a draw.
    seeds : (int, int)
        Entropy of the training stream and of the validation draw.
    """

    def __init__(self, source, reference, check, seeds):
        self.source, self.reference, self.check = source, reference, check
        self.seeds = seeds
        self.epoch = 0
        source.n_draws_ = 1

    def __len__(self):
        return len(self.reference)

    def next_epoch(self):
        """The samples of the next epoch (the first one is ``reference``)."""
        epoch, self.epoch = self.epoch, self.epoch + 1
        if epoch == 0:
            return self.reference
        what = f"epoch {epoch}"
        data = validate_draw(self.check, self.source.draw(
            len(self.reference), training_seed(self.seeds[0], epoch), what), what)
        if (data.y is None) != (self.reference.y is None) \
                or set(data.side) != set(self.reference.side):
            raise SampleSourceError(f"the sample source returned other outputs for {what} than "
                                    "for the first epoch (targets or side information missing "
                                    "or added)")
        self.source.n_draws_ = epoch + 1
        return data

    def validation_set(self, fraction):
        """The fixed validation set (drawn from its own stream, or the given arrays)."""
        source = self.source
        what = "the validation set"
        if isinstance(source.validation, tuple):
            arrays = source._unpack(source.validation, len(source.validation[0]), what)
        else:
            n = source.validation or int(np.ceil(fraction * len(self.reference)))
            arrays = source.draw(n, _seed(self.seeds[1], _VALID), what)
        return validate_draw(self.check, arrays, what)


def training_seed(entropy, epoch):
    """The ``random_state`` given to the sampler for training epoch ``epoch``."""
    return _seed(entropy, _TRAIN, epoch)


def validate_draw(check, arrays, what):
    """``check(*arrays)``, with the draw named in the message of a validation error."""
    try:
        return check(*arrays)
    except SampleSourceError:
        raise
    except (ValueError, TypeError) as err:
        raise SampleSourceError(f"the sample source returned unusable samples for {what}: "
                                f"{err}") from err
