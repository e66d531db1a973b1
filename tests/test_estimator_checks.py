"""scikit-learn's estimator checks over every public estimator of skunfold.sparse.

Small configurations keep them fast, and the default-constructed ``AMP()`` and
``UnfoldedAMP()`` are checked as they are; no check is marked as an expected
failure. ``dictionary=None`` is used so that the checks' random data (any
number of features) can be fitted: the dictionary is then estimated from
``(X, y)`` (which issues :class:`DictionaryEstimatedWarning`, expected here).
The trained configurations have ``partial_fit``, so scikit-learn's partial_fit
checks run on them too (``check_estimators_partial_fit_n_features`` and the
``partial_fit`` parts of ``check_n_features_in_after_fitting``,
``check_dataframe_column_names_consistency`` and ``check_fit_score_takes_y``);
the classical ones (``paradigm="classical"``, ISTA, FISTA, AMP, HyperLISTA)
have none.
"""

import warnings

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from skunfold.sparse import (
    AMP,
    FISTA,
    ISTA,
    DictionaryEstimatedWarning,
    HyperLISTA,
    NonGaussianDictionaryWarning,
    UnfoldedAMP,
    UnfoldedISTA,
)

_SMALL = dict(n_layers=3, max_epochs=3, batch_size=16, random_state=0, device="cpu")
# the configurations of learned AMP: two epochs (three for the three stages of "sequential")
_SMALL_AMP = dict(_SMALL, max_epochs=2)

ESTIMATORS = [
    UnfoldedISTA(paradigm="hyperparameters", **_SMALL),
    UnfoldedISTA(paradigm="objective", **_SMALL),
    UnfoldedISTA(paradigm="correction", hidden_layer_sizes=(8,), **_SMALL),
    UnfoldedISTA(paradigm="dnn", hidden_layer_sizes=(4,), **_SMALL),
    UnfoldedISTA(paradigm="classical", **_SMALL),
    # ALISTA and LISTA-CPSS with momentum: the options that change the iteration
    UnfoldedISTA(paradigm="hyperparameters", weights="analytic", support_selection=True,
                 loss_schedule="sequential", **_SMALL),
    UnfoldedISTA(paradigm="objective", coupling="cp", support_selection=True, momentum=True,
                 loss_schedule="multi_iteration", **_SMALL),
    ISTA(n_layers=5, device="cpu"),
    FISTA(n_layers=5, device="cpu"),
    HyperLISTA(n_layers=3, device="cpu"),
    AMP(),
    AMP(n_layers=4, device="cpu"),
    AMP(n_layers=4, denoiser="bg", device="cpu"),
    UnfoldedAMP(paradigm="objective", **_SMALL_AMP),
    UnfoldedAMP(paradigm="dnn", shrinkage="pwlin", tied=True, **_SMALL_AMP),
    UnfoldedAMP(paradigm="dnn", shrinkage="bg", loss_schedule="sequential",
                **dict(_SMALL_AMP, max_epochs=3)),
]


def _check(estimator, check):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DictionaryEstimatedWarning)
        # the dictionaries estimated from the checks' random data are far from Gaussian
        warnings.filterwarnings("ignore", category=NonGaussianDictionaryWarning)
        check(estimator)


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    _check(estimator, check)


# its defaults train 15 layers for 50 epochs at every fit: about half of this file's time
@pytest.mark.slow
@parametrize_with_checks([UnfoldedAMP()])
def test_sklearn_compatible_default_unfolded_amp(estimator, check):
    _check(estimator, check)
