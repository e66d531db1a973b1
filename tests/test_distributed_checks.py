"""scikit-learn's estimator checks on the distributed estimators, smallest graph configuration.

Two agents joined by one edge: any ``X`` of the checks is a measurement
model whose rows are split in two contiguous blocks (an agent may hold no
row when ``X`` has one feature: it then only relays). ``dictionary=None``
so that the checks' random data (any number of features) can be fitted:
the dictionary is estimated from ``(X, y)`` (which issues
:class:`~skunfold.sparse.DictionaryEstimatedWarning`, expected here). No
check is marked as an expected failure.
"""

import warnings

from sklearn.utils.estimator_checks import parametrize_with_checks

from skunfold.core import Sequential
from skunfold.distributed import DistributedADMM, UnfoldedDADMM
from skunfold.sparse import DictionaryEstimatedWarning

EDGE = [[0, 1], [1, 0]]
_SMALL = {"n_layers": 3, "max_epochs": 2, "batch_size": 16, "random_state": 0, "device": "cpu"}

ESTIMATORS = [
    DistributedADMM(EDGE, n_layers=5, device="cpu"),
    DistributedADMM(EDGE, n_layers=3, schedule="jacobi", penalty="l2", device="cpu"),
    UnfoldedDADMM(EDGE, **_SMALL),
    # one epoch per layer: the three epochs the old "sequential" (ceil(2 / 3) per layer) ran
    UnfoldedDADMM(EDGE, hyperparameter_sharing="shared",
                  loss_schedule=Sequential(epochs_per_stage=1), **_SMALL),
    UnfoldedDADMM(EDGE, paradigm="classical", **_SMALL),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DictionaryEstimatedWarning)
        check(estimator)
