"""MIMO detection: datasets, reference detectors, soft IC and DeepSIC."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

from skunfold.core import EarlyStopping
from skunfold.datasets import make_mimo, make_mimo_stream
from skunfold.metrics import ser_scorer, symbol_error_rate
from skunfold.mimo import (
    DeepSICClassifier,
    LMMSEDetector,
    MIMODetection,
    MLDetector,
    SoftICDetector,
    constellation_from_labels,
    get_constellation,
    user_parameters,
)


@pytest.fixture(scope="module")
def sed10():
    """4x4 BPSK SED channel at 10 dB: 500 pilots, 20k test vectors."""
    Xp, yp, H = make_mimo(500, snr_db=10, random_state=0)
    Xt, yt, _ = make_mimo(20000, snr_db=10, channel=H, random_state=1)
    return Xp, yp, Xt, yt, H


@pytest.fixture(scope="module")
def deepsic14():
    """A DeepSIC trained on 500 pilots of the SED channel at 14 dB (an easy channel)."""
    Xp, yp, H = make_mimo(500, snr_db=14, random_state=0)
    det = DeepSICClassifier(n_layers=3, constellation="bpsk", max_epochs=300,
                            random_state=0).fit(Xp, yp)
    return det, H


# -- datasets ------------------------------------------------------------------------
def test_make_mimo_sed_channel_and_noise():
    X, y, H = make_mimo(20000, n_users=4, n_antennas=5, snr_db=10, random_state=0)
    assert X.shape == (20000, 5) and y.shape == (20000, 4) and y.dtype == np.int64
    assert_h = np.exp(-np.abs(np.arange(5)[:, None] - np.arange(4)[None, :]))
    np.testing.assert_allclose(H, assert_h)
    assert set(np.unique(y)) == {-1, 1}
    noise = X - y @ H.T
    assert abs(noise.var() / 0.1 - 1) < 0.03          # sigma^2 = 10^(-10/10)
    # the same channel passed back gives the same clean signal model
    X2, y2, H2 = make_mimo(100, n_antennas=5, channel=H, random_state=1)
    np.testing.assert_array_equal(H2, H)


def test_make_mimo_complex_and_gaussian():
    X, y, H = make_mimo(4000, n_users=3, n_antennas=4, constellation="qpsk",
                        channel="gaussian", snr_db=20, random_state=0)
    assert X.shape == (4000, 8) and np.iscomplexobj(H)
    pts = get_constellation("qpsk").points
    x = X[:, :4] + 1j * X[:, 4:]
    resid = x - pts[y] @ H.T
    assert abs(np.mean(np.abs(resid) ** 2) / 0.01 - 1) < 0.1
    _, _, H_again = make_mimo(10, n_users=3, n_antennas=4, constellation="qpsk",
                              channel="gaussian", random_state=0)
    np.testing.assert_array_equal(H, H_again)


def test_constellations_have_unit_energy():
    for name, m in [("bpsk", 2), ("qpsk", 4), ("16qam", 16)]:
        c = get_constellation(name)
        assert c.size == m and len(np.unique(c.points)) == m
        assert abs(np.mean(np.abs(c.points) ** 2) - 1) < 1e-12


def test_make_mimo_time_variation_nonlinear_and_csi_error():
    _, _, H0 = make_mimo(10, frame=0, random_state=0)
    _, _, H10 = make_mimo(10, frame=10, random_state=0)
    base = np.exp(-np.abs(np.arange(4)[:, None] - np.arange(4)[None, :]))
    np.testing.assert_allclose(H0, base)            # cos(0) = 1: gains 0.8 + 0.2
    gains = 0.8 + 0.2 * np.cos(2 * np.pi * 10 / np.array([51, 39, 33, 21]))
    np.testing.assert_allclose(H10, base * gains)
    Xt, _, _ = make_mimo(500, nonlinearity="tanh", snr_db=0, random_state=0)
    assert np.all(np.abs(Xt) < 1)
    Xq, _, _ = make_mimo(500, nonlinearity="one_bit", random_state=0)
    assert set(np.unique(Xq)) == {-1.0, 1.0}
    # csi_error: data from a perturbed channel, nominal channel returned
    X, y, H = make_mimo(5000, snr_db=40, csi_error=0.1, random_state=0)
    np.testing.assert_allclose(H, base)
    err = X - y @ H.T
    assert 0.05 < np.mean(err ** 2) / np.mean((y @ H.T) ** 2) < 0.2


def test_make_mimo_stream_drifts():
    frames = list(make_mimo_stream(n_frames=4, n_pilots=50, n_data=80, snr_db=12,
                                   random_state=0))
    assert [f.index for f in frames] == [0, 1, 2, 3]
    assert frames[0].X_pilots.shape == (50, 4) and frames[0].y.shape == (80, 4)
    assert not np.allclose(frames[0].channel, frames[3].channel)
    _, _, H3 = make_mimo(10, frame=3, random_state=0)
    np.testing.assert_allclose(frames[3].channel, H3)


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_samples=0), "n_samples"),
    (dict(constellation="8psk"), "constellation"),
    (dict(channel="rayleigh"), "channel"),
    (dict(channel=np.ones((3, 4))), "shape"),
    (dict(nonlinearity="clip"), "nonlinearity"),
    (dict(snr_db=np.nan), "snr_db"),
    (dict(csi_error=-1.0), "csi_error"),
    (dict(frame=1.5), "frame"),
])
def test_make_mimo_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_mimo(**kwargs)


# -- model-based detectors -----------------------------------------------------------
def test_reference_detectors_ordering(sed10):
    Xp, yp, Xt, yt, H = sed10
    ser = {}
    for name, det in [("mmse", LMMSEDetector(H, 0.1, constellation="bpsk")),
                      ("ml", MLDetector(H, 0.1, constellation="bpsk")),
                      ("softic", SoftICDetector(H, 0.1, constellation="bpsk"))]:
        ser[name] = symbol_error_rate(yt, det.fit(Xt).predict(Xt))
    # measured (published reference figures, SED 10 dB): soft IC 1.8e-3, LMMSE ~7e-3, ML ~1.6e-3
    assert ser["ml"] <= ser["softic"] < 4e-3
    assert 4e-3 < ser["mmse"] < 1.5e-2
    assert ser["softic"] < ser["mmse"] / 2


def test_soft_ic_iterations_refine(sed10):
    _, _, Xt, yt, H = sed10
    det = SoftICDetector(H, 0.1, n_layers=5, constellation="bpsk").fit(Xt)
    sers = [symbol_error_rate(yt, p) for p in det.staged_predict(Xt)]
    assert len(sers) == 5 and sers[-1] < 0.5 * sers[0]
    # tied weights: any depth
    assert len(list(det.staged_predict_proba(Xt[:5], n_layers=8))) == 8


def test_channel_estimated_from_pilots(sed10):
    Xp, yp, Xt, yt, H = sed10
    det = SoftICDetector().fit(Xp, yp)
    assert det.channel_estimated_ and det.noise_var_estimated_
    assert np.linalg.norm(det.channel_ - H) / np.linalg.norm(H) < 0.05
    assert abs(det.noise_var_ / 0.1 - 1) < 0.15
    true = symbol_error_rate(yt, SoftICDetector(H, 0.1, constellation="bpsk").fit(Xt)
                             .predict(Xt))
    assert symbol_error_rate(yt, det.predict(Xt)) < 1.5 * true + 1e-3
    # given channel, noise from the pilot residuals / from the received power
    assert abs(SoftICDetector(H).fit(Xp, yp).noise_var_ / 0.1 - 1) < 0.15
    assert abs(SoftICDetector(H, constellation="bpsk").fit(Xt).noise_var_ / 0.1 - 1) < 0.1


def test_ml_posteriors_are_exact_marginals():
    X, y, H = make_mimo(50, n_users=2, n_antennas=2, snr_db=3, random_state=0)
    det = MLDetector(H, 0.5, constellation="bpsk").fit(X)
    proba = det.predict_proba(X)
    # brute force marginal of user 0 being +1
    cands = np.array([[a, b] for a in (-1, 1) for b in (-1, 1)])
    ll = -((X[:, None, :] - cands @ H.T) ** 2).sum(-1) / (2 * 0.5)
    post = np.exp(ll - ll.max(1, keepdims=True))
    post /= post.sum(1, keepdims=True)
    np.testing.assert_allclose(proba[0][:, 1], post[:, 2:].sum(1), rtol=1e-6)
    np.testing.assert_array_equal(det.predict(X), cands[np.argmax(ll, axis=1)])


def test_complex_qpsk_detectors():
    Xp, yp, H = make_mimo(500, n_users=3, n_antennas=4, constellation="qpsk",
                          channel="gaussian", snr_db=8, random_state=2)
    Xt, yt, _ = make_mimo(5000, n_users=3, n_antennas=4, constellation="qpsk",
                          channel=H, snr_db=8, random_state=3)
    nv = 10 ** -0.8
    s_ml = symbol_error_rate(yt, MLDetector(H, nv, constellation="qpsk").fit(Xt).predict(Xt))
    s_ic = symbol_error_rate(yt, SoftICDetector(H, nv, constellation="qpsk").fit(Xt)
                             .predict(Xt))
    s_mmse = symbol_error_rate(yt, LMMSEDetector(constellation="qpsk").fit(Xp, yp)
                               .predict(Xt))
    assert s_ml <= s_ic <= s_mmse
    assert s_ic < 0.05
    proba = SoftICDetector(H, nv, constellation="qpsk").fit(Xt).predict_proba(Xt[:10])
    assert len(proba) == 3 and proba[0].shape == (10, 4)
    np.testing.assert_allclose(proba[1].sum(1), 1, rtol=1e-6)


def test_detectors_take_the_labels_as_their_alphabet(sed10):
    Xp, yp, Xt, yt, H = sed10
    Xs = Xt[:500]
    for cls in (LMMSEDetector, MLDetector, SoftICDetector):
        ref = cls(constellation="bpsk").fit(Xp, yp)
        det = cls().fit(Xp, yp)                        # labels -1/+1: exactly BPSK
        assert det.classes_[0].tolist() == [-1, 1]
        np.testing.assert_array_equal(det.predict_proba(Xs)[2], ref.predict_proba(Xs)[2])
        # other labels name equally spaced unit-energy real points: here BPSK again
        names = np.where(yp > 0, "up", "down")
        det = cls().fit(Xp, names)
        assert det.classes_[1].tolist() == ["down", "up"]
        np.testing.assert_array_equal(det.predict(Xs),
                                      np.where(ref.predict(Xs) > 0, "up", "down"))
        assert det.score(Xs, np.where(yt[:500] > 0, "up", "down")) == ref.score(Xs, yt[:500])
        with pytest.raises(ValueError, match="no symbol alphabet"):
            cls(H, 0.1).fit(Xt)                        # no labels, no constellation


def test_numeric_labels_are_their_own_symbols():
    c = constellation_from_labels([2, 0, 1, 1])
    assert c.labels.tolist() == [0, 1, 2] and c.points.real.tolist() == [0.0, 1.0, 2.0]
    pam = constellation_from_labels(np.array(["a", "b", "c", "d"]))
    np.testing.assert_allclose(np.diff(pam.points.real), 2 / np.sqrt(5))
    assert abs(np.mean(np.abs(pam.points) ** 2) - 1) < 1e-12
    with pytest.raises(ValueError, match="class"):
        constellation_from_labels([3, 3])
    # an on-off-keying-like alphabet {0, 1, 2}: pilots give the channel, ML detects
    rng = np.random.default_rng(0)
    H = np.array([[1.0, 0.3], [0.2, 1.0], [0.5, -0.5]])
    S = rng.integers(0, 3, size=(3000, 2))
    X = S @ H.T + 0.1 * rng.normal(size=(3000, 3))
    det = MLDetector().fit(X[:500], S[:500])
    assert np.linalg.norm(det.channel_ - H) < 0.05 and det.classes_[0].tolist() == [0, 1, 2]
    assert symbol_error_rate(S[500:], det.predict(X[500:])) < 0.01
    assert symbol_error_rate(S[500:], SoftICDetector().fit(X[:500], S[:500])
                             .predict(X[500:])) < 0.02


def test_soft_ic_detector_pickles(sed10):
    Xp, yp, Xt, yt, H = sed10
    det = SoftICDetector().fit(Xp, yp)
    again = pickle.loads(pickle.dumps(det))
    np.testing.assert_array_equal(again.predict_proba(Xt[:100])[0],
                                  det.predict_proba(Xt[:100])[0])
    assert isinstance(again.problem_, MIMODetection)


# -- DeepSIC -------------------------------------------------------------------------
def test_deepsic_reaches_low_ser_at_high_snr(deepsic14):
    det, H = deepsic14
    Xt, yt, _ = make_mimo(20000, snr_db=14, channel=H, random_state=5)
    assert symbol_error_rate(yt, det.predict(Xt)) < 1e-3
    assert det.score(Xt, yt) == pytest.approx(1 - symbol_error_rate(yt, det.predict(Xt)))
    # every layer refines the estimate; posteriors are per user
    sers = [symbol_error_rate(yt, p) for p in det.staged_predict(Xt)]
    assert len(sers) == 3 and sers[-1] <= sers[0]
    proba = det.predict_proba(Xt[:7])
    assert isinstance(proba, list) and len(proba) == 4 and proba[0].shape == (7, 2)
    np.testing.assert_allclose(proba[2].sum(1), 1, rtol=1e-6)
    assert [c.tolist() for c in det.classes_] == [[-1, 1]] * 4
    staged = list(det.staged_predict_proba(Xt[:7]))
    np.testing.assert_allclose(staged[-1][3], proba[3], rtol=1e-5)


def test_deepsic_output_dtypes(deepsic14):
    det, H = deepsic14
    X, _, _ = make_mimo(10, snr_db=14, channel=H, random_state=5)
    assert det.predict_proba(X.astype(np.float32))[0].dtype == np.float32
    assert det.predict_proba(X)[0].dtype == np.float64
    assert det.predict(X).dtype == np.int64


def test_deepsic_single_user_is_a_plain_classifier():
    X, y, H = make_mimo(300, n_users=1, n_antennas=2, snr_db=6, random_state=0)
    det = DeepSICClassifier(n_layers=2, max_epochs=60, random_state=0).fit(X, y[:, 0])
    assert det.predict(X).shape == (300,) and det.predict_proba(X).shape == (300, 2)
    assert det.classes_.tolist() == [-1, 1]
    assert det.score(X, y[:, 0]) > 0.9
    linear = DeepSICClassifier(n_layers=1, hidden_layer_sizes=(), max_epochs=5).fit(X, y[:, 0])
    assert linear.predict(X).shape == (300,)          # no hidden layer: linear user networks


def test_deepsic_beats_soft_ic_on_nonlinear_channel():
    Xp, yp, H = make_mimo(1000, snr_db=12, nonlinearity="tanh", random_state=0)
    Xt, yt, _ = make_mimo(10000, snr_db=12, channel=H, nonlinearity="tanh", random_state=1)
    soft = symbol_error_rate(yt, SoftICDetector(H, 10 ** -1.2, constellation="bpsk").fit(Xt)
                             .predict(Xt))
    deep = DeepSICClassifier(n_layers=3, constellation="bpsk", max_epochs=300,
                             random_state=0).fit(Xp, yp)
    deep_ser = symbol_error_rate(yt, deep.predict(Xt))
    assert deep_ser < soft / 3, (deep_ser, soft)


def test_partial_fit_tracks_a_channel_change():
    Xp, yp, H = make_mimo(500, channel="gaussian", snr_db=12, random_state=0)
    det = DeepSICClassifier(n_layers=2, constellation="bpsk", max_epochs=200, adapt_epochs=40,
                            random_state=0).fit(Xp, yp)
    X2, y2, H2 = make_mimo(500, channel="gaussian", snr_db=12, random_state=7)  # new channel
    Xt, yt, _ = make_mimo(5000, channel=H2, snr_db=12, random_state=8)
    before = symbol_error_rate(yt, det.predict(Xt))
    n_epochs = len(det.history_)
    det.partial_fit(X2, y2)
    after = symbol_error_rate(yt, det.predict(Xt))
    assert n_epochs > 0
    assert len(det.history_) == 2 * 40   # the adaptation's history: 40 epochs per layer
    assert after < 0.5 * before, (before, after)


def test_partial_fit_first_call_and_classical_tracking():
    X, y, H = make_mimo(300, n_users=2, n_antennas=2, snr_db=10, random_state=0)
    y_one = np.where(y > 0, 1, 1)                      # first pilots show one label only
    det = DeepSICClassifier(n_layers=1, max_epochs=20, early_stopping=False, random_state=0)
    det.partial_fit(X, y_one, classes=[-1, 1])
    assert det.classes_[0].tolist() == [-1, 1]
    # classical paradigm: partial_fit re-estimates the channel from the new pilots
    soft = DeepSICClassifier(paradigm="classical", constellation="bpsk").fit(X, y)
    X2, y2, H2 = make_mimo(300, n_users=2, n_antennas=2, channel="gaussian", snr_db=10,
                           random_state=1)
    soft.partial_fit(X2, y2)
    assert np.linalg.norm(soft.channel_ - H2) < 0.1 * np.linalg.norm(H2)
    assert symbol_error_rate(y2, soft.predict(X2)) < 0.05
    with pytest.raises(ValueError, match="outside"):  # transactional: the channel is kept
        soft.partial_fit(X, np.where(y > 0, 3, -1))
    assert np.linalg.norm(soft.channel_ - H2) < 0.1 * np.linalg.norm(H2)
    # layers without per-user networks: naming a layer (or one of its users) adapts it
    hyper = DeepSICClassifier(paradigm="hyperparameters", constellation="bpsk", n_layers=2,
                              max_epochs=4, adapt_epochs=3, random_state=0).fit(X, y)
    before = [[p.detach().clone() for p in user_parameters(hyper.module_, k, 0)]
              for k in range(2)]
    hyper.partial_fit(X2, y2, modules=[(1, 1)])
    assert all(torch.equal(a, b) for a, b in zip(before[0], user_parameters(hyper.module_, 0, 0)))
    assert not all(torch.equal(a, b)
                   for a, b in zip(before[1], user_parameters(hyper.module_, 1, 0)))
    assert len(hyper.history_) == 3                    # the stage of layer 0 is skipped


def test_partial_fit_updates_only_named_modules(deepsic14):
    det, H = deepsic14
    det = pickle.loads(pickle.dumps(det))
    X, y, _ = make_mimo(200, snr_db=14, channel=H * 0.8, random_state=3)
    before = [[p.detach().clone() for p in user_parameters(det.module_, k, u)]
              for k in range(3) for u in range(4)]
    det.partial_fit(X, y, modules=[(1, 2), 2])
    after = [[p.detach() for p in user_parameters(det.module_, k, u)]
             for k in range(3) for u in range(4)]
    changed = {(i // 4, i % 4) for i, (b, a) in enumerate(zip(before, after))
               if any(not np.allclose(bb, aa) for bb, aa in zip(b, a))}
    assert changed == {(1, 2), (2, 0), (2, 1), (2, 2), (2, 3)}
    assert all(p.requires_grad for p in det.module_.parameters())


def test_paradigms_share_the_soft_ic_model(sed10):
    Xp, yp, Xt, yt, H = sed10
    Xs, ys = Xt[:4000], yt[:4000]
    ref = SoftICDetector(H, 0.1, constellation="bpsk").fit(Xs).predict_proba(Xs)
    classical = DeepSICClassifier(paradigm="classical", constellation="bpsk", channel=H,
                                  noise_var=0.1).fit(Xp, yp)
    assert classical.net_ is None
    np.testing.assert_allclose(classical.predict_proba(Xs)[1], ref[1], atol=1e-8)
    # constellation=None: the labels -1/+1 are the BPSK alphabet
    labels = DeepSICClassifier(paradigm="classical", channel=H, noise_var=0.1).fit(Xp, yp)
    np.testing.assert_array_equal(labels.predict_proba(Xs)[1], classical.predict_proba(Xs)[1])
    # hybrid paradigms start at soft IC (channel estimated from the pilots)
    corr = DeepSICClassifier(paradigm="correction", constellation="bpsk", n_layers=2,
                             max_epochs=20, random_state=0).fit(Xp, yp)
    hyper = DeepSICClassifier(paradigm="hyperparameters", constellation="bpsk", n_layers=2,
                              max_epochs=20, random_state=0).fit(Xp, yp)
    soft_ls = symbol_error_rate(ys, SoftICDetector(n_layers=2).fit(Xp, yp).predict(Xs))
    for det in (corr, hyper):
        assert det.channel_.shape == (4, 4)
        assert symbol_error_rate(ys, det.predict(Xs)) < 2 * soft_ls + 2e-3


def test_grid_search_over_layers_and_schedules():
    X, y, _ = make_mimo(400, snr_db=8, random_state=0)
    # 10 epochs per fit: best SER 0.096 (0.024 after 40 epochs, six times as long)
    search = GridSearchCV(
        DeepSICClassifier(constellation="bpsk", max_epochs=10, random_state=0),
        {"n_layers": [1, 2], "loss_schedule": ["sequential", "end_to_end"]},
        scoring=ser_scorer, cv=2)
    search.fit(X, y)
    assert search.best_params_["n_layers"] in (1, 2)
    assert len(search.cv_results_["mean_test_score"]) == 4
    assert -0.2 < search.best_score_ <= 0.0


def test_multi_iteration_and_warm_start():
    X, y, _ = make_mimo(300, snr_db=10, random_state=0)
    det = DeepSICClassifier(n_layers=2, constellation="bpsk", loss_schedule="multi_iteration",
                            max_epochs=30, warm_start=True, random_state=0).fit(X, y)
    first = det.history_[-1, "train_loss"]
    det.fit(X, y)
    assert det.history_[-1, "train_loss"] < first
    # warm start on data of another shape (3 users) starts afresh instead of failing
    det.fit(X[:, :3], y[:, :3])
    assert det.n_users_ == 3 and det.predict(X[:5, :3]).shape == (5, 3)


# -- bad input -----------------------------------------------------------------------
def test_bad_input_gives_clear_errors(deepsic14):
    det, H = deepsic14
    X, y, _ = make_mimo(50, snr_db=14, channel=H, random_state=1)
    with pytest.raises(ValueError, match="outside the 'bpsk' constellation"):
        DeepSICClassifier(constellation="bpsk", max_epochs=2).fit(X, np.where(y > 0, 2, -1))
    with pytest.raises(ValueError, match="outside"):
        SoftICDetector(constellation="bpsk").fit(X, y + 5)
    with pytest.raises(ValueError, match="4 receive antennas"):
        SoftICDetector(H, 0.1, constellation="bpsk").fit(X[:, :3])
    with pytest.raises(ValueError, match="expecting 4 features"):
        det.predict(X[:, :3])
    X_nan = X.copy()
    X_nan[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        det.predict(X_nan)
    with pytest.raises(ValueError, match="NaN"):
        LMMSEDetector(H).fit(X_nan)
    with pytest.raises(ValueError, match="users"):
        det.partial_fit(X, y[:, :3])
    with pytest.raises(ValueError, match="users"):
        det.score(X, y[:, :2])
    with pytest.raises(ValueError, match="users"):
        SoftICDetector(H, 0.1).fit(X, y[:, :3])
    with pytest.raises(ValueError, match="requires y to be passed"):
        DeepSICClassifier().fit(X)
    with pytest.raises(ValueError, match="requires y to be passed"):
        SoftICDetector().fit(X)
    with pytest.raises(ValueError, match="no symbol alphabet"):
        SoftICDetector(H, 0.1).fit(X)                  # constellation=None and no labels
    with pytest.raises(ValueError, match="constellation"):
        DeepSICClassifier(constellation="8psk").fit(X, y)
    with pytest.raises(ValueError, match="paradigm"):
        DeepSICClassifier(paradigm="objective").fit(X, y)
    with pytest.raises(ValueError, match="layer 7"):
        det.partial_fit(X, y, modules=[7])
    with pytest.raises(ValueError, match="max_hypotheses"):
        MLDetector(np.ones((4, 4)), constellation="16qam", max_hypotheses=1000).fit(
            np.zeros((3, 8)))
    with pytest.raises(ValueError, match="channel"):
        SoftICDetector(np.ones((4, 4)) * 1j, 0.1, constellation="bpsk").fit(X)


def test_failed_fit_leaves_reference_detector_usable(sed10):
    Xp, yp, Xt, yt, H = sed10
    det = LMMSEDetector(constellation="bpsk").fit(Xp, yp)
    ref = det.predict(Xt[:100])
    with pytest.raises(ValueError, match="outside"):
        det.fit(Xp, yp * 3)
    np.testing.assert_array_equal(det.predict(Xt[:100]), ref)
    assert det.channel_estimated_


def test_failed_partial_fit_leaves_model_usable(deepsic14):
    det, H = deepsic14
    det = clone(det).set_params(max_epochs=30)
    X, y, _ = make_mimo(100, snr_db=14, channel=H, random_state=1)
    det.fit(X, y)
    ref = det.predict_proba(X)[0]
    with pytest.raises(ValueError):
        det.partial_fit(X, np.full_like(y, 3))
    np.testing.assert_array_equal(det.predict_proba(X)[0], ref)


def test_warm_start_keeps_learned_parameters_and_takes_the_new_channel():
    X, y, _ = make_mimo(300, snr_db=10, random_state=0)
    det = DeepSICClassifier(paradigm="hyperparameters", constellation="bpsk", n_layers=2,
                            max_epochs=10, warm_start=True, random_state=0).fit(X, y)
    learned = [p.detach().clone() for p in det.module_.parameters()]
    X2, y2, H2 = make_mimo(500, channel="gaussian", snr_db=20, random_state=3)
    det.set_params(max_epochs=0).fit(X2, y2)
    assert all(torch.equal(a, b) for a, b in zip(learned, det.module_.parameters()))
    assert np.linalg.norm(det.channel_ - H2) < 0.05 * np.linalg.norm(H2)


# -- the core contract: parameters, layer tables, verbosity -------------------------------
def test_layer_parameters_list_the_soft_ic_hyperparameters():
    X, y, _ = make_mimo(300, snr_db=10, random_state=0)
    table = SoftICDetector(n_layers=3).fit(X, y).layer_parameters_
    assert table["layer"].tolist() == [1, 2, 3]
    np.testing.assert_array_equal(table["noise_scale"], np.ones((3, 4)))
    np.testing.assert_array_equal(table["damping"], np.zeros(3))
    hyper = DeepSICClassifier(paradigm="hyperparameters", constellation="bpsk", n_layers=2,
                              max_epochs=10, random_state=0).fit(X, y)
    learned = hyper.layer_parameters_
    assert learned["noise_scale"].shape == (2, 4) and learned["damping"].shape == (2,)
    assert np.all((learned["damping"] > 0) & (learned["damping"] < 0.05))  # from 0.0067
    assert not np.allclose(learned["noise_scale"], 1.0)                    # learned
    assert hyper.paradigm_ == "hyperparameters"
    dnn = DeepSICClassifier(n_layers=2, max_epochs=2, random_state=0).fit(X, y)
    assert list(dnn.layer_parameters_) == ["layer"]                        # networks only


@pytest.mark.parametrize("sizes", ["abc", (0,), 3, (8, 2.5), (True,)])
def test_hidden_layer_sizes_are_checked_with_a_clear_message(sizes):
    X, y, _ = make_mimo(50, random_state=0)
    with pytest.raises(ValueError, match="hidden_layer_sizes must be a tuple of positive "
                                         "integers"):
        DeepSICClassifier(hidden_layer_sizes=sizes, max_epochs=5).fit(X, y)


def test_early_stopping_true_is_deepsics_patience():
    X, y, _ = make_mimo(200, snr_db=8, random_state=0)
    Xt, _, _ = make_mimo(500, snr_db=8, random_state=1)
    kwargs = dict(n_layers=2, max_epochs=120, lr=0.05, random_state=0)  # stops early
    default = DeepSICClassifier(**kwargs).fit(X, y)
    explicit = DeepSICClassifier(early_stopping=EarlyStopping(n_iter_no_change=20),
                                 **kwargs).fit(X, y)
    np.testing.assert_array_equal(default.predict_proba(Xt)[0], explicit.predict_proba(Xt)[0])
    assert len(default.history_) == len(explicit.history_) < 120
    impatient = DeepSICClassifier(early_stopping=EarlyStopping(), **kwargs).fit(X, y)
    assert len(impatient.history_) < len(default.history_)         # the core's patience, 10
    with pytest.raises(TypeError, match="early_stopping"):
        DeepSICClassifier(early_stopping="yes").fit(X, y)


def test_reference_detectors_check_their_parameters_and_report(capsys):
    X, y, H = make_mimo(50, snr_db=10, random_state=0)
    for det, match in [(MLDetector(max_hypotheses=0), "max_hypotheses"),
                       (MLDetector(batch_size=1.5), "batch_size"),
                       (LMMSEDetector(noise_var=-1.0), "noise_var"),
                       (LMMSEDetector(verbose=-1), "verbose"),
                       (SoftICDetector(noise_var=0.0), "noise_var")]:
        with pytest.raises((TypeError, ValueError), match=match):
            det.fit(X, y)
    for cls in (LMMSEDetector, MLDetector, SoftICDetector):
        cls(H, 0.1, constellation="bpsk").fit(X)
        assert capsys.readouterr().out == ""
        cls(H, 0.1, constellation="bpsk", verbose=1).fit(X)
        assert cls.__name__ in capsys.readouterr().out


def test_model_free_problem_runs_the_dnn_paradigm_only():
    problem = MIMODetection(2, 2, 2)                   # no channel: DeepSIC's problem
    x = torch.zeros(3, 2, dtype=torch.float64)
    state = problem.initial_state(x)
    assert torch.equal(problem.step(state, x), state)  # no model: the posteriors stay
    assert len(problem.make_layers("dnn", 2, tied=None, hidden_layer_sizes=(4,),
                                   sample=None)) == 2
    for paradigm in ("classical", "hyperparameters", "correction"):
        with pytest.raises(ValueError, match="needs the channel"):
            problem.make_layers(paradigm, 2, tied=None, hidden_layer_sizes=(4,), sample=None)
