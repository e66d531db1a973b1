"""Online learning: the options of a continued training and the optimizer state kept between calls.

``partial_fit`` and :func:`~skunfold.core.adapt` continue training a fitted
estimator on new data through ``fit``'s own path, with an :class:`Adaptation`
(epochs per stage of the loss schedule, learning rate, what is trained).
What makes successive calls one optimisation is the optimizer state (e.g.
Adam's moments and step counts): :class:`OptimizerMemory` records it at the
end of every stage of a training run, keyed by the optimizer and the
parameters it updates, and gives it back to the optimizer of the same stage
in the next call.
"""

import collections
import copy

from skorch.callbacks import Callback

from .constraints import check_int, check_real

__all__ = ["Adaptation", "online_adaptation", "offers_partial_fit", "OptimizerMemory"]

#: Options of a continued training (``partial_fit``, :func:`~skunfold.core.adapt`): epochs per
#: stage of the loss schedule, learning rate (``None``: the estimator's) and ``select(module) ->
#: parameters`` restricting what is trained (``None``: everything).
Adaptation = collections.namedtuple("Adaptation", "epochs lr select")


def online_adaptation(estimator):
    """The :class:`Adaptation` of ``estimator.partial_fit``: its ``adapt_epochs`` and ``adapt_lr``.

    An estimator that takes no ``adapt_epochs`` runs one epoch per stage (one
    pass over the batch, scikit-learn's convention for ``partial_fit``); one
    that takes no ``adapt_lr`` trains at its ``lr``.
    """
    params = estimator.get_params(deep=False)
    epochs = check_int(params.get("adapt_epochs", 1), "adapt_epochs", min_value=1)
    lr = check_real(params.get("adapt_lr"), "adapt_lr", min_value=0, strict_min=True,
                    allow_none=True)
    return Adaptation(epochs, lr, None)


def offers_partial_fit(estimator):
    """Whether ``estimator.partial_fit`` exists: it learns, in another paradigm than classical.

    A classical solver learns nothing, so a step on a batch has nothing to
    update (``hasattr(estimator, "partial_fit")`` is then ``False``). Never
    raises: an invalid ``paradigm`` is reported by the call itself.
    """
    if "training" not in estimator.supports:
        return False
    default = estimator.core_defaults.get("paradigm", "classical")
    return estimator.get_params(deep=False).get("paradigm", default) != "classical"


def _key(net):
    names = tuple(name for name, _ in net.get_all_learnable_params())
    return type(net.optimizer_).__name__, names


class OptimizerMemory(Callback):
    """Keep the optimizer state of every stage of a training run for the next run.

    At the start of a stage (``on_train_begin``, once the net has created the
    stage's optimizer) the state recorded for the same optimizer class and the
    same trainable parameters, if any, is loaded, keeping the optimizer's
    current settings (learning rate, betas, ...); at its end the state is
    recorded in :attr:`states`.

    Parameters
    ----------
    previous : dict or None
        The :attr:`states` of the previous run (``None``: a fresh start).
    """

    def __init__(self, previous=None):
        self.previous = previous

    def initialize(self):
        self.states = dict(self.previous or {})
        return self

    def on_train_begin(self, net, **kwargs):
        saved = self.states.get(_key(net))
        if saved is None:
            return
        optimizer = net.optimizer_
        settings = [{k: v for k, v in group.items() if k != "params"}
                    for group in optimizer.param_groups]
        try:
            optimizer.load_state_dict(copy.deepcopy(saved))
        except (ValueError, KeyError):  # another layout of parameter groups: a fresh state
            return
        for group, current in zip(optimizer.param_groups, settings):
            group.update(current)

    def on_train_end(self, net, **kwargs):
        self.states[_key(net)] = copy.deepcopy(net.optimizer_.state_dict())
