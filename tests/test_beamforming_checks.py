"""scikit-learn's estimator checks on the hybrid-precoding estimators.

The checks feed 2-D real data ``(n_samples, n_features)``. The estimators read
a 2-D ``X`` as one band and one user: each row is the channel vector of a
single-antenna user to ``n_features`` antennas (MISO beamforming), and
``predict`` returns one beamforming vector per row, of the shape of ``X``.
So every check applies to the real family, run with ``n_rf_chains=1`` (the
checks' data have a single feature in ``check_fit2d_1feature``, and a hybrid
precoder has at most as many RF chains as antennas). Trained configurations
run every paradigm, with the default early stopping.

One check cannot hold, declared as an expected failure with its reason:

* ``check_complex_data`` expects complex ``X`` to be rejected, but complex
  channels are the estimators' main input (they return complex precoders).
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skunfold.beamforming import HybridPGA, UnfoldedHybridPGA

_SMALL = dict(n_rf_chains=1, n_layers=2, max_epochs=2, batch_size=16, random_state=0,
              device="cpu")

ESTIMATORS = [
    HybridPGA(n_rf_chains=1, random_state=0, device="cpu"),
    HybridPGA(n_layers=5, n_rf_chains=1, analog_constraint=None, random_state=0, device="cpu"),
    UnfoldedHybridPGA(paradigm="classical", **_SMALL),
    UnfoldedHybridPGA(paradigm="hyperparameters", **_SMALL),
    UnfoldedHybridPGA(paradigm="hyperparameters", analog_constraint=None, **_SMALL),
    UnfoldedHybridPGA(paradigm="correction", hidden_layer_sizes=(4,), **_SMALL),
]

_COMPLEX = ("complex channels are the estimators' main input: they return complex "
            "precoders instead of rejecting complex X")


def _expected_failures(estimator):
    return {"check_complex_data": _COMPLEX}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failures)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
