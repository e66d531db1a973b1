"""scikit-learn's estimator checks for every public MIMO detector.

A single user (1-D ``y``) makes each detector an ordinary multi-class
classifier. ``constellation=None`` lets the checks' arbitrary labels (0/1/2,
strings) be the classes: DeepSIC learns any labels; the model-based detectors
take them as their alphabet and estimate the channel from ``(X, y)``.

Expected failures are declared only where the domain forbids the check:

* the model-based detectors assume the linear Gaussian model ``x = h s + w``:
  the three clusters of ``check_classifiers_train`` (blobs at arbitrary
  centres) are not the images ``h s`` of any three symbols, so their training
  accuracy (0.63) stays below the check's 0.83 (two clusters, always on a line
  through their labels' images, pass);
* ``MLDetector.predict`` is the *jointly* most likely symbol vector while
  ``predict_proba`` gives each user's *marginal* posterior: their maxima differ
  on ambiguous samples, which ``check_classifier_multioutput`` does not allow.
"""

import warnings

from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

from skunfold.mimo import DeepSICClassifier, LMMSEDetector, MLDetector, SoftICDetector

ESTIMATORS = [
    DeepSICClassifier(n_layers=2, hidden_layer_sizes=(16,), max_epochs=40, lr=2e-2,
                      random_state=0, device="cpu"),
    SoftICDetector(n_layers=3, device="cpu"),
    LMMSEDetector(),
    MLDetector(),
]

_LINEAR_MODEL = ("a model-based detector assumes x = h s + w: three blobs at arbitrary centres "
                 "are no linear channel's images of three symbols (training accuracy 0.63)")
_TRAIN = {name: _LINEAR_MODEL for name in (
    "check_classifiers_train",
    "check_classifiers_train(readonly_memmap=True)",
    "check_classifiers_train(readonly_memmap=True,X_dtype=float32)",
)}
EXPECTED_FAILURES = {
    SoftICDetector: _TRAIN,
    LMMSEDetector: _TRAIN,
    MLDetector: {
        **_TRAIN,
        "check_classifier_multioutput": (
            "predict is the jointly most likely symbol vector, predict_proba the per-user "
            "marginal posteriors: their maxima differ on ambiguous samples (by design)"),
    },
}


def expected_failed_checks(estimator):
    return EXPECTED_FAILURES.get(type(estimator), {})


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    with warnings.catch_warnings():
        # the checks' random labels cannot be learned: early stopping then keeps the
        # untrained networks and says so
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        check(estimator)
