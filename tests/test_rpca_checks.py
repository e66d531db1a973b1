"""scikit-learn's estimator checks on the robust-PCA estimators (2-D input: one matrix).

Every public estimator is checked with its default ``rank`` (5, clipped to the
size of the checks' small matrices, see ``rank_``): ``RobustPCA()`` as it
comes, and ``LearnedRPCA`` in every paradigm with a small depth and training
budget; ``rank=1`` configurations check a genuine low-rank + sparse split.

A 2-D ``X`` is *one* matrix whose rows are not independent samples, so a few
checks cannot hold and are declared expected failures, each with its reason:

* ``check_methods_subset_invariance``: the decomposition of a subset of the
  rows is another problem. (It passes, XPASS, for the two classical solvers at
  the default rank: on the check's 3-column data the rank is clipped to 3 and
  no entry exceeds the initial threshold, so the split is ``X = X + 0`` for
  any subset of rows.)
* ``check_methods_sample_order_invariance`` (trained models): ``Psi_k`` and the
  CNNs mix rows; for ``"hyperparameters"`` the model is row-permutation
  equivariant, but only up to float32 rounding, not to the check's 1e-9;
* ``check_fit_idempotent`` (``"objective"`` and ``"dnn"``): they learn
  ``n1 x n1`` operators, so they only apply to matrices with as many rows as
  the training matrix, and the check predicts on a split with fewer rows.
"""

import warnings

from sklearn.utils.estimator_checks import parametrize_with_checks

from skunfold.rpca import IgnoredTargetWarning, LearnedRPCA, RobustPCA

_SMALL = dict(n_layers=2, max_epochs=2, random_state=0, device="cpu")

ESTIMATORS = [
    RobustPCA(),
    RobustPCA(rank=1, n_layers=5, device="cpu"),
    LearnedRPCA(paradigm="classical", **_SMALL),
    LearnedRPCA(paradigm="hyperparameters", **_SMALL),
    LearnedRPCA(paradigm="hyperparameters", rank=1, **_SMALL),
    LearnedRPCA(paradigm="objective", **_SMALL),
    LearnedRPCA(paradigm="correction", n_channels=2, **_SMALL),
    LearnedRPCA(paradigm="dnn", **_SMALL),
]

_ROWS = "a 2-D X is one matrix: its rows are not independent samples"


def _expected_failures(estimator):
    failures = {"check_methods_subset_invariance": _ROWS}
    paradigm = getattr(estimator, "paradigm", "classical")
    if paradigm != "classical":
        failures["check_methods_sample_order_invariance"] = (
            _ROWS + "; Psi_k and the CNNs mix rows, and float32 rounding depends on the order")
    if paradigm in ("objective", "dnn"):
        failures["check_fit_idempotent"] = (
            "learned n1 x n1 operators apply only to matrices with the training number of rows")
    return failures


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failures)
def test_sklearn_compatible_estimator(estimator, check):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=IgnoredTargetWarning)
        check(estimator)
