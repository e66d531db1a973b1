"""scikit-learn's estimator checks on the power-allocation estimators.

A sample is a channel matrix ``(M, M)``; the checks' 2-D data
``(n_samples, n_features)`` are read as flattened channels, ``M * M``
entries per row, which the estimators accept (and a DataFrame's columns are
checked as scikit-learn does). The estimators declare ``positive_only``
(channel gains are amplitudes, never negative) and ``three_d_array`` (their
native input is the stack ``(n_samples, M, M)``); ``y`` is ignored (the
sum rate is maximised without labels).

Expected failures are declared only where the domain forbids the check:
data whose number of features is not a square number (3, 5, 10, ...) are not
flattened channel matrices, and the checks that use only such data cannot
pass. Checks that fit with 1 feature (single-link networks) or 4 (two
pairs), such as ``check_fit2d_1feature``, ``check_n_features_in_after_fitting``
and ``check_positive_only_tag_during_fit``, run for real.
"""

import numpy as np
from sklearn.utils.estimator_checks import parametrize_with_checks
from sklearn.utils.validation import validate_data

from skunfold.core import constraints
from skunfold.power import WMMSE, UnfoldedWMMSE

_SMALL = dict(n_layers=2, max_epochs=2, random_state=0, device="cpu", n_threads=1)

ESTIMATORS = [
    WMMSE(),
    UnfoldedWMMSE(paradigm="classical", p_max=2.0, noise_var=0.1, **_SMALL),
    UnfoldedWMMSE(paradigm="hyperparameters", **_SMALL),
    UnfoldedWMMSE(paradigm="correction", **_SMALL),
    UnfoldedWMMSE(paradigm="correction", tied=True, hidden_layer_sizes=(3, 3), **_SMALL),
]

#: The checks that fit or predict only on data whose rows have 2, 3, 5 or 10 features: no
#: such row is a flattened M x M channel matrix (the estimators raise a ValueError that says
#: so). They fail for that reason alone, for every estimator: the same checks pass on the
#: estimators adapted below to read any row as a channel.
_NOT_SQUARE = ("the check's X has 2, 3, 5 or 10 features per row, not the M * M entries of a "
               "flattened channel matrix: there is no power-allocation problem to solve")
EXPECTED_FAILURES = {name: _NOT_SQUARE for name in (
    "check_fit_score_takes_y",
    "check_estimators_overwrite_params",
    "check_dont_overwrite_parameters",
    "check_estimators_fit_returns_self",
    "check_readonly_memmap_input",
    "check_estimators_dtypes",
    "check_dtype_object",
    "check_pipeline_consistency",
    "check_estimators_nan_inf",
    "check_estimators_pickle",
    "check_estimators_pickle(readonly_memmap=True)",
    "check_f_contiguous_array_estimator",
    "check_methods_sample_order_invariance",
    "check_methods_subset_invariance",
    "check_fit2d_1sample",
    "check_dict_unchanged",
    "check_fit_idempotent",
    "check_fit_check_is_fitted",
    "check_n_features_in",
    "check_fit2d_predict1d",
)}


def expected_failed_checks(estimator):
    return EXPECTED_FAILURES


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


class _RowsAsChannels:
    """Test adapter: a 2-D row ``x`` of ``K`` features is the channel of ``K`` pairs.

    ``H[j, i] = x_i`` on the diagonal and ``0.1 x_j`` elsewhere, so any data of the
    checks is a power-allocation problem; ``n_features_in_`` is ``K``. Everything but
    this reading of ``X`` is the estimators' own code.
    """

    def validate_input(self, X, *, reset):
        if constraints.array_ndim(X) != 2:
            return super().validate_input(X, reset=reset)
        X = validate_data(self, X, reset=reset, dtype=[np.float64, np.float32])
        n = X.shape[1]
        H = 0.1 * np.repeat(X[:, :, None], n, axis=2)
        H[:, np.arange(n), np.arange(n)] = X
        H = super().validate_input(H, reset=False)
        if reset:
            self.n_pairs_ = n
        return H


class _AdaptedWMMSE(_RowsAsChannels, WMMSE):
    pass


class _AdaptedUnfoldedWMMSE(_RowsAsChannels, UnfoldedWMMSE):
    pass


@parametrize_with_checks([_AdaptedWMMSE(n_layers=5),
                          _AdaptedUnfoldedWMMSE(paradigm="correction", **_SMALL)])
def test_the_expected_failures_are_the_input_format_only(estimator, check):
    check(estimator)
