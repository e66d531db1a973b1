"""``partial_fit`` on every trainable estimator: online steps that keep the optimizer state.

One small configuration per family, fed blocks of its own synthetic data:
the score on held-out data improves over the calls, the optimizer's step
counts go on from call to call (and from ``fit``), a batch of another width
is refused, a failed call leaves the estimator as it was, and a classifier
is told its classes on the first call. scikit-learn's own partial_fit checks
run in the families' estimator-check files.
"""

import contextlib
import warnings

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from skunfold import datasets
from skunfold.beamforming import HybridPGA, UnfoldedHybridPGA
from skunfold.core import (
    Problem,
    TrainingDivergedError,
    UnfoldedRegressor,
    WorseThanClassicalWarning,
    adapt,
)
from skunfold.distributed import DistributedADMM, UnfoldedDADMM
from skunfold.imaging import ProximalGradient, UnfoldedProximalGradient
from skunfold.mimo import DeepSICClassifier, SoftICDetector
from skunfold.power import WMMSE, UnfoldedWMMSE
from skunfold.rpca import LearnedRPCA, RobustPCA
from skunfold.sparse import AMP, FISTA, ISTA, HyperLISTA, UnfoldedAMP, UnfoldedISTA

_SMALL = dict(random_state=0, device="cpu", n_threads=1)
_BLOCK = 100     # samples per block (rows: one matrix per block for robust PCA)
_BATCH = 50      # two optimisation steps per pass over a block


class _Averaging(Problem):
    """s <- s + step (x - s): a core-only solver, the user's own problem."""

    hyperparameters = {"step": 0.3}

    def initial_state(self, x):
        return x * 0.0

    def step(self, s, x, step):
        return s + step * (x - s)

    def objective(self, s, x):
        return 0.5 * ((x - s) ** 2).sum(dim=1)


def _sparse():
    X, S, D = datasets.make_sparse_recovery(n_samples=600, n_measurements=20, n_components=40,
                                            random_state=0)
    return D, X, S


def _case(name):
    """``(estimator, blocks, test)``: an unfitted estimator, its data blocks and held-out data."""
    if name in ("UnfoldedISTA", "UnfoldedAMP"):
        D, X, S = _sparse()
        est = (UnfoldedISTA if name == "UnfoldedISTA" else UnfoldedAMP)(
            D, n_layers=4, batch_size=_BATCH, **_SMALL)
    elif name == "UnfoldedRegressor":
        rng = np.random.default_rng(0)
        X = rng.normal(size=(600, 3))
        S = X * 0.9
        est = UnfoldedRegressor(_Averaging(), n_layers=3, batch_size=_BATCH, lr=0.02, **_SMALL)
    elif name == "DeepSICClassifier":
        X, S, _ = datasets.make_mimo(600, n_users=2, n_antennas=2, snr_db=10, random_state=0)
        est = DeepSICClassifier(n_layers=2, hidden_layer_sizes=(8,), constellation="bpsk",
                                adapt_epochs=1, batch_size=_BATCH, early_stopping=False,
                                **_SMALL)
    elif name == "UnfoldedWMMSE":
        H, _ = datasets.make_interference_network(600, n_pairs=3, random_state=0)
        X, S = H.reshape(len(H), -1), None      # flattened channels: a feature table
        est = UnfoldedWMMSE(n_layers=3, batch_size=_BATCH, **_SMALL)
    elif name == "UnfoldedHybridPGA":
        H = datasets.make_wideband_channels(600, n_bands=1, n_users=2, n_antennas=4,
                                            random_state=0)
        X, S = H[:, 0], None                    # one band: (n_samples, n_users, n_antennas)
        est = UnfoldedHybridPGA(n_layers=3, n_rf_chains=2, batch_size=_BATCH, **_SMALL)
    elif name == "LearnedRPCA":
        X, S, _ = datasets.make_rpca(n_instances=6, shape=(_BLOCK, 10), rank=2,
                                     random_state=0)
        est = LearnedRPCA(n_layers=3, rank=2, **_SMALL)
        return est, list(zip(X[:4], S[:4])), (X[4:], S[4:])
    elif name == "UnfoldedDADMM":
        X, S, D, G = datasets.make_distributed_lasso(
            n_samples=600, n_agents=4, n_measurements=16, n_components=24, edge_probability=0.8,
            random_state=0)
        est = UnfoldedDADMM(G, dictionary=D, n_layers=3, batch_size=_BATCH, **_SMALL)
    else:
        S, X, A = datasets.make_imaging_problem("blur", n_samples=600, patch_size=8,
                                                random_state=0)
        X, S = S, X                             # measurements in, images out
        est = UnfoldedProximalGradient(A, prior="l1", n_layers=3, batch_size=_BATCH,
                                       **_SMALL)
    blocks = [(X[k:k + _BLOCK], None if S is None else S[k:k + _BLOCK])
              for k in range(0, 400, _BLOCK)]
    return est, blocks, (X[400:], None if S is None else S[400:])


TRAINABLE = ["UnfoldedRegressor", "UnfoldedISTA", "UnfoldedAMP", "DeepSICClassifier",
             "UnfoldedWMMSE", "UnfoldedHybridPGA", "LearnedRPCA", "UnfoldedDADMM",
             "UnfoldedProximalGradient"]


def _steps(est):
    """Adam's step count of the first parameter of the last stage's optimizer."""
    return int(est.net_.optimizer_.state_dict()["state"][0]["step"])


@contextlib.contextmanager
def _quiet():
    with warnings.catch_warnings():  # what fit says of a few epochs
        warnings.simplefilter("ignore", WorseThanClassicalWarning)
        yield


def test_partial_fit_is_offered_only_where_something_learns():
    learns = [UnfoldedRegressor(_Averaging()), UnfoldedISTA(), UnfoldedAMP(),
              DeepSICClassifier(), UnfoldedWMMSE(), UnfoldedHybridPGA(), LearnedRPCA(),
              UnfoldedDADMM([[0, 1], [1, 0]]), UnfoldedProximalGradient(),
              # DeepSIC's classical soft IC tracks the channel from new pilots
              DeepSICClassifier(paradigm="classical")]
    assert all(hasattr(est, "partial_fit") for est in learns)
    classical = [ISTA(), FISTA(), AMP(), HyperLISTA(), SoftICDetector(), WMMSE(), HybridPGA(),
                 RobustPCA(), DistributedADMM([[0, 1], [1, 0]]), ProximalGradient(),
                 UnfoldedISTA(paradigm="classical"), UnfoldedWMMSE(paradigm="classical"),
                 UnfoldedRegressor(_Averaging(), paradigm="classical")]
    assert not any(hasattr(est, "partial_fit") for est in classical)
    # a paradigm set later decides: the method follows the parameter
    est = UnfoldedISTA(paradigm="classical").set_params(paradigm="objective")
    assert hasattr(est, "partial_fit")


@pytest.mark.parametrize("name", TRAINABLE)
def test_blocks_improve_the_score_and_the_optimizer_state_goes_on(name):
    est, blocks, (X_test, y_test) = _case(name)
    est.partial_fit(*blocks[0])
    first, steps, epochs = est.score(X_test, y_test), _steps(est), len(est.history_)
    for X, y in blocks[1:]:
        est.partial_fit(X, y)
    last = est.score(X_test, y_test)
    assert last > first, (first, last)
    assert est.comparison_ is None         # online steps are kept, not compared (keep_best)
    # every call continued the same optimizer
    assert steps >= 1 and _steps(est) == len(blocks) * steps
    assert len(est.history_) == epochs     # the epochs of the last call: one per stage


@pytest.mark.parametrize("name", TRAINABLE)
def test_a_batch_of_another_width_is_refused(name):
    est, blocks, _ = _case(name)
    X, y = blocks[0]
    est.partial_fit(X, y)
    with pytest.raises(ValueError, match="features|shape"):
        est.partial_fit(X[:, :-1], y)


@pytest.mark.parametrize("name", TRAINABLE)
def test_a_failed_partial_fit_leaves_the_estimator_usable(name):
    est, blocks, (X_test, _) = _case(name)
    est.partial_fit(*blocks[0])
    prediction, steps = est.predict(X_test), _steps(est)
    states = est.net_.optimizer_states_
    X, y = blocks[1]
    bad = np.array(X, copy=True)
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        est.partial_fit(bad, y)
    assert_array_equal(est.predict(X_test), prediction)
    assert _steps(est) == steps and est.net_.optimizer_states_ is states
    est.partial_fit(X, y)                        # and it goes on from where it was
    assert _steps(est) > steps


def test_a_diverged_partial_fit_is_undone():
    D, X, S = _sparse()
    est = UnfoldedISTA(D, n_layers=4, batch_size=_BATCH, max_epochs=2, **_SMALL).fit(X, S)
    prediction, steps = est.predict(X[500:]), _steps(est)
    with pytest.raises(TrainingDivergedError):
        est.set_params(lr=1e9).partial_fit(X[:100] * 1e3, S[:100] * 1e3)
    assert_array_equal(est.predict(X[500:]), prediction)
    assert _steps(est) == steps


def test_the_first_call_starts_from_the_classical_solver():
    D, X, S = _sparse()
    est = UnfoldedISTA(D, n_layers=4, batch_size=_BATCH, lr=1e-9, **_SMALL)
    est.partial_fit(X[:100], S[:100])
    assert len(est.history_) == 1 and _steps(est) == 2       # one pass, two mini-batches
    ista = ISTA(D, n_layers=4, device="cpu").fit(X[:100])
    np.testing.assert_allclose(est.predict(X[500:]), ista.predict(X[500:]), atol=1e-4)


def test_partial_fit_continues_the_optimizer_of_fit_and_reads_changed_settings():
    D, X, S = _sparse()
    est = UnfoldedISTA(D, n_layers=4, batch_size=_BATCH, max_epochs=3, **_SMALL)
    with _quiet():
        est.fit(X[:100], S[:100])
        assert _steps(est) == 3 * 2
        est.set_params(lr=0.0123).partial_fit(X[100:200], S[100:200])
        assert _steps(est) == 3 * 2 + 2
        assert est.net_.optimizer_.param_groups[0]["lr"] == 0.0123  # the new lr, the old moments
        # a warm-start refit starts a new optimizer
        est.set_params(warm_start=True, max_epochs=1).fit(X[:100], S[:100])
    assert _steps(est) == 2


def test_each_stage_of_a_sequential_schedule_keeps_its_own_state():
    D, X, S = _sparse()
    est = UnfoldedISTA(D, n_layers=3, loss_schedule="sequential", batch_size=_BATCH, **_SMALL)
    est.partial_fit(X[:100], S[:100])
    first = {key: state["state"][0]["step"] for key, state in est.net_.optimizer_states_.items()}
    est.partial_fit(X[100:200], S[100:200])
    assert len(first) == 3 and len(est.history_) == 3         # one epoch per layer's stage
    second = {key: state["state"][0]["step"] for key, state in
              est.net_.optimizer_states_.items()}
    assert second.keys() == first.keys()
    assert all(second[k] > first[k] for k in first)


def test_adapt_epochs_sets_the_passes_per_call():
    X, y, _ = datasets.make_mimo(200, n_users=2, n_antennas=2, snr_db=10, random_state=0)
    det = DeepSICClassifier(n_layers=2, hidden_layer_sizes=(8,), constellation="bpsk",
                            adapt_epochs=3, batch_size=-1, **_SMALL)
    det.partial_fit(X, y)
    assert len(det.history_) == 2 * 3 and _steps(det) == 3
    det.partial_fit(X, y)
    assert _steps(det) == 6
    # adapt continues the same optimizer state
    adapt(det, X, y, epochs=2)
    assert _steps(det) == 8


def test_a_classifier_is_told_its_classes_on_the_first_call():
    X, y, _ = datasets.make_mimo(200, n_users=2, n_antennas=2, snr_db=10, random_state=0)
    det = DeepSICClassifier(n_layers=1, hidden_layer_sizes=(8,), adapt_epochs=2, **_SMALL)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        det.partial_fit(X, y)
    first = np.where(y > 0, 1, 1)                # the first pilots show one label only
    det.partial_fit(X, first, classes=[-1, 1])
    assert det.classes_[0].tolist() == [-1, 1]
    det.partial_fit(X, y)                        # later calls need no classes
    # a named constellation fixes the classes
    bpsk = DeepSICClassifier(n_layers=1, hidden_layer_sizes=(8,), constellation="bpsk",
                             adapt_epochs=2, **_SMALL).partial_fit(X, first)
    assert bpsk.classes_[0].tolist() == [-1, 1]
