"""Continued training of a fitted estimator on new data (online adaptation)."""

from sklearn.utils.validation import check_is_fitted

from .constraints import check_int, check_real
from .estimator import run_transactional
from .online import Adaptation

__all__ = ["adapt"]


def adapt(estimator, X, y=None, *, epochs, lr=None, select=None, **side_information):
    """Continue training a fitted estimator on new data, from its current parameters.

    The problem is rebuilt from the new data (e.g. a channel re-estimated from
    new pilots), the learned parameters are kept, and ``epochs`` epochs of
    every stage of the estimator's loss schedule are run (no early stopping),
    each continuing the optimizer state of the previous training of that
    stage (``fit``, ``partial_fit`` or ``adapt``). The steps are kept
    without the comparison of ``keep_best`` (``comparison_`` is then
    ``None``); a training loss 10x worse than before the call raises
    :class:`~skunfold.core.TrainingDivergedError`. Like ``fit`` it is
    transactional: if it raises, the estimator is left as it was. An
    estimator's ``partial_fit`` does the same, with the options of its
    parameters (``adapt_epochs``, ``adapt_lr``); ``adapt`` takes them as
    arguments and may restrict what is trained (DeepSIC's ``partial_fit``
    with ``modules`` uses it so).

    Parameters
    ----------
    estimator : UnfoldedEstimator
        A fitted estimator.
    X, y : array-like
        New training data.
    epochs : int
        Epochs per stage.
    lr : float, optional
        Learning rate (default: the estimator's).
    select : callable, optional
        ``select(module) -> iterable of parameters`` restricting what is
        trained; stages that would train none of them are skipped.
    **side_information : array-like

    Returns
    -------
    estimator : UnfoldedEstimator
    """
    check_is_fitted(estimator)
    epochs = check_int(epochs, "epochs", min_value=1)
    lr = check_real(lr, "lr", min_value=0, strict_min=True, allow_none=True)
    return run_transactional(estimator, estimator._fit, X, y, side_information,
                             Adaptation(epochs, lr, select))
