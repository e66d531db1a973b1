"""scikit-learn's estimator checks for the single-user DeepSIC classifier.

A single user (1-D ``y``) makes DeepSIC an ordinary multi-class classifier, so
every check applies; none is marked as an expected failure. ``constellation=None``
lets the checks' arbitrary labels (0/1/2, strings) be the classes.
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skunfold.mimo import DeepSICClassifier

ESTIMATORS = [
    DeepSICClassifier(n_layers=2, hidden_layer_sizes=(16,), max_epochs=40, lr=2e-2,
                      random_state=0, device="cpu"),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
