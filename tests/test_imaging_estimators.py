"""The imaging estimators: ProximalGradient (PGD / FISTA) and UnfoldedProximalGradient.

Deblurring of 16x16 patches of scikit-image's camera (Gaussian blur sigma 1, noise
0.02), pixel-l1 prior; small depths, few epochs, one thread.
"""

import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.utils.estimator_checks import parametrize_with_checks

from skunfold.core import WorseThanClassicalWarning
from skunfold.datasets import load_image
from skunfold.imaging import (
    MRI,
    Blur,
    Identity,
    ImagingProblem,
    Inpaint,
    OperatorEstimatedWarning,
    PixelL1,
    ProximalGradient,
    UnfoldedProximalGradient,
)
from skunfold.metrics import psnr

SIDE = 16
ALPHA = 0.002


def _patches(n, seed):
    image = load_image("camera")
    rng = np.random.default_rng(seed)
    i = rng.integers(0, image.shape[0] - SIDE, n)
    j = rng.integers(0, image.shape[1] - SIDE, n)
    return np.stack([image[a:a + SIDE, b:b + SIDE] for a, b in zip(i, j)])


@pytest.fixture(scope="module")
def deblurring():
    """(A, Y, X, Y_test, X_test): blurred noisy patches and the clean ones (flattened)."""
    torch.set_num_threads(1)
    A = Blur((SIDE, SIDE), sigma=1.0)
    out = [A]
    for n, seed in ((256, 0), (96, 1)):
        X = _patches(n, seed).reshape(n, -1)
        noise = 0.02 * np.random.default_rng(seed + 10).normal(size=X.shape)
        out += [A.matmat(X.T).T + noise, X]
    return tuple(out)


def test_proximal_gradient_deblurs(deblurring):
    A, Y, X, Y_test, X_test = deblurring
    pgd = ProximalGradient(A, prior="l1", alpha=ALPHA, n_layers=10).fit(Y)
    start = psnr(X_test, A.rmatmat(Y_test.T).T)
    assert psnr(X_test, pgd.predict(Y_test)) > start + 2.5     # 23.8 dB -> 27.0 dB
    assert pgd.lipschitz_ == pytest.approx(1.0, rel=1e-6)
    assert pgd.operator_ is A and isinstance(pgd.prior_, PixelL1)
    assert pgd.predict(Y_test.astype(np.float32)).dtype == np.float32


def test_total_variation_suits_natural_images_where_pixel_l1_does_not(deblurring):
    # at the default alpha and depth, what the prior's documentation says: total variation
    # improves on the adjoint image, the pixel-l1 prior (the default) loses to it
    # (23.7 dB: 25.5 and 21.5 dB)
    A, _, _, Y_test, X_test = deblurring
    start = psnr(X_test, A.rmatmat(Y_test.T).T)
    tv = ProximalGradient(A, prior="tv").fit(Y_test)
    assert psnr(X_test, tv.predict(Y_test)) > start + 1.0
    pixels = ProximalGradient(A, prior="l1").fit(Y_test)
    assert isinstance(pixels.prior_, PixelL1)
    assert psnr(X_test, pixels.predict(Y_test)) < start


def test_fista_beats_pgd_at_equal_depth(deblurring):
    A, Y, _, Y_test, _ = deblurring
    values = {}
    for momentum, depth in ((False, 20), (True, 20), (True, 1000)):
        est = ProximalGradient(A, prior="l1", alpha=ALPHA, n_layers=depth, momentum=momentum,
                               precision="float64").fit(Y)
        values[momentum, depth] = est.objective_values(Y_test, est.predict(Y_test)).mean()
    optimum = values[True, 1000]
    # the gap to the optimum at 20 iterations: FISTA 0.0146, PGD 0.0206
    assert values[True, 20] - optimum < 0.8 * (values[False, 20] - optimum), values


def test_denoising_is_the_default_operator():
    # sparse images (a few bright pixels): the pixel-l1 prior's own kind
    rng = np.random.default_rng(0)
    X = (rng.random((32, SIDE * SIDE)) < 0.05) * rng.uniform(0.5, 1.0, (32, SIDE * SIDE))
    Y = X + 0.1 * rng.normal(size=X.shape)
    est = ProximalGradient(prior="l1", alpha=0.2, n_layers=5).fit(Y)
    assert isinstance(est.operator_, Identity) and est.image_shape_ == (1, SIDE * SIDE)
    assert psnr(X, est.predict(Y)) > psnr(X, Y) + 5
    shaped = ProximalGradient(prior="l1", alpha=0.2, n_layers=5).fit(Y.reshape(-1, SIDE, SIDE))
    assert shaped.image_shape_ == (SIDE, SIDE)


def test_untrained_unfolded_is_the_classical_solver(deblurring):
    A, Y, X, Y_test, _ = deblurring
    for momentum in (False, True):
        pgd = ProximalGradient(A, prior="l1", alpha=ALPHA, n_layers=6, momentum=momentum).fit(Y)
        expected = pgd.predict(Y_test)
        classical = UnfoldedProximalGradient(A, prior="l1", alpha=ALPHA, n_layers=6,
                                             momentum=momentum, paradigm="classical").fit(Y, X)
        np.testing.assert_array_equal(classical.predict(Y_test), expected)
        for paradigm in ("hyperparameters", "objective", "correction", "dnn"):
            est = UnfoldedProximalGradient(A, prior="l1", alpha=ALPHA, n_layers=6,
                                           momentum=momentum, paradigm=paradigm,
                                           hidden_layer_sizes=(4,),
                                           max_epochs=0, random_state=0).fit(Y, X)
            np.testing.assert_allclose(est.predict(Y_test), expected, atol=2e-6,
                                       err_msg=paradigm)


def test_learned_steps_and_thresholds_pay_on_held_out_patches(deblurring):
    A, Y, X, Y_test, X_test = deblurring
    start = UnfoldedProximalGradient(A, prior="l1", alpha=ALPHA, n_layers=5, momentum=True,
                                     max_epochs=0).fit(Y, X)
    est = UnfoldedProximalGradient(A, prior="l1", alpha=ALPHA, n_layers=5, momentum=True,
                                   max_epochs=8, random_state=0, n_threads=1).fit(Y, X)
    classical = psnr(X_test, start.predict(Y_test))
    learned = psnr(X_test, est.predict(Y_test))
    assert est.comparison_["kept"] == "trained"
    assert learned > classical + 0.02, (learned, classical)   # 26.88 -> 26.93 dB
    table = est.layer_parameters_
    assert table["threshold"].shape == (5, 1) and np.all(table["threshold"] > 0)
    assert np.all(table["step"] > 0) and table["momentum"].shape == (5,)


@pytest.mark.parametrize("paradigm", ["correction", "dnn", "objective"])
def test_network_paradigms_train_from_the_classical_start(deblurring, paradigm):
    A, Y, X, Y_test, X_test = deblurring
    pgd = ProximalGradient(A, prior="l1", alpha=ALPHA, n_layers=4).fit(Y)
    start = psnr(X_test, pgd.predict(Y_test))
    est = UnfoldedProximalGradient(A, prior="l1", alpha=ALPHA, n_layers=4, paradigm=paradigm,
                                   hidden_layer_sizes=(8,), max_epochs=4, random_state=0,
                                   n_threads=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WorseThanClassicalWarning)
        est.fit(Y, X)
    # never worse than the start on held-out patches (keep_best compares on the training set)
    assert psnr(X_test, est.predict(Y_test)) > start - 0.05
    assert est.comparison_["trained"] <= est.comparison_["classical"] * (1 + 1e-4) \
        or est.comparison_["kept"] == "classical"


def _rates(est):
    """{parameter name: learning rate} of the fitted net's optimizer."""
    ids = {id(p): name for name, p in est.module_.named_parameters()}
    return {ids[id(p)]: g["lr"] for g in est.net_.optimizer_.param_groups for p in g["params"]}


@pytest.mark.parametrize("paradigm", ["dnn", "objective"])
def test_default_rates_per_parameter_group(deblurring, paradigm):
    # lr=None: the log-parameterised steps and thresholds at the "hyperparameters" paradigm's
    # rate, the filters and CNNs at 1e-3 (one rate for both left the steps almost fixed)
    A, Y, X, _, _ = deblurring
    params = dict(prior="l1", alpha=ALPHA, n_layers=3, paradigm=paradigm, hidden_layer_sizes=(4,),
                  max_epochs=1, keep_best=False, random_state=0, n_threads=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WorseThanClassicalWarning)
        est = UnfoldedProximalGradient(A, **params).fit(Y[:64], X[:64])
        rates = _rates(est)
        assert {r for n, r in rates.items() if ".hyperparameters." in n} == {1e-2}
        assert {r for n, r in rates.items() if ".hyperparameters." not in n} == {1e-3}
        assert len(rates) == len(list(est.module_.parameters()))
        est.partial_fit(Y[:32], X[:32])       # continued training keeps the groups
        assert set(_rates(est).values()) == {1e-2, 1e-3}
        # a number given as lr trains every parameter at that rate
        one = UnfoldedProximalGradient(A, lr=3e-3, **params).fit(Y[:64], X[:64])
        assert set(_rates(one).values()) == {3e-3}


def test_shaped_layout_round_trips(deblurring):
    A, Y, X, Y_test, _ = deblurring
    Y3, X3 = Y.reshape(-1, SIDE, SIDE), X.reshape(-1, SIDE, SIDE)
    est = UnfoldedProximalGradient(A, prior="l1", alpha=ALPHA, n_layers=3, max_epochs=1,
                                   random_state=0).fit(Y3, X3)
    out = est.predict(Y_test.reshape(-1, SIDE, SIDE))
    assert out.shape == (len(Y_test), SIDE, SIDE)
    np.testing.assert_array_equal(out.reshape(len(out), -1), est.predict(Y_test))
    assert est.transform(Y3[:2]).shape == (2, SIDE, SIDE)
    staged = list(est.staged_predict(Y3[:2]))
    assert len(staged) == 3 and staged[-1].shape == (2, SIDE, SIDE)
    assert est.n_features_in_ == SIDE * SIDE


def test_mri_takes_complex_measurements():
    rng = np.random.default_rng(0)
    mask = rng.random((SIDE, SIDE)) < 0.5
    mask[0, 0] = True
    A = MRI((SIDE, SIDE), mask)
    X = _patches(64, 3).reshape(64, -1)
    Y = A.matmat(X.T).T
    Y = Y + 0.01 * (rng.normal(size=Y.shape) + 1j * rng.normal(size=Y.shape))
    assert np.iscomplexobj(Y)
    pgd = ProximalGradient(A, prior="l1", alpha=0.001, n_layers=20, momentum=True).fit(Y)
    out = pgd.predict(Y)
    assert out.dtype == np.float64 and out.shape == X.shape
    assert psnr(X, out) > psnr(X, A.rmatmat(Y.T).T.real) + 0.5
    est = UnfoldedProximalGradient(A, prior="l1", alpha=0.001, n_layers=3, max_epochs=2,
                                   random_state=0).fit(Y, X)
    assert est.predict(Y.astype(np.complex64)).dtype == np.float32
    with pytest.raises(ValueError, match="Complex"):
        ProximalGradient(Blur((SIDE, SIDE))).fit(Y[:, :1] * np.ones((1, SIDE * SIDE)))


def test_pickling_keeps_the_model(deblurring):
    A, Y, X, Y_test, _ = deblurring
    for est in (ProximalGradient(A, prior="l1", alpha=ALPHA, n_layers=3).fit(Y),
                UnfoldedProximalGradient(A, prior="l1", alpha=ALPHA, n_layers=3, paradigm="dnn",
                                         hidden_layer_sizes=(4,), max_epochs=1,
                                         random_state=0).fit(Y, X)):
        again = pickle.loads(pickle.dumps(est))
        np.testing.assert_array_equal(again.predict(Y_test), est.predict(Y_test))


def test_clear_errors(deblurring):
    A, Y, X, _, _ = deblurring
    with pytest.raises(ValueError, match="image_shape"):
        ProximalGradient(A, prior=PixelL1((8, 8))).fit(Y)
    with pytest.raises(ValueError, match="X has 64 features"):
        ProximalGradient(A).fit(Y[:, :64])
    with pytest.raises(ValueError, match="y has 64 values per sample"):
        UnfoldedProximalGradient(A, max_epochs=0).fit(Y, X[:, :64])
    with pytest.raises(ValueError, match="prior must be one of"):
        ProximalGradient(A, prior="wavelets").fit(Y)
    with pytest.raises(ValueError, match="paradigm"):
        UnfoldedProximalGradient(A, paradigm="lista").fit(Y, X)
    fitted = ProximalGradient(A, n_layers=2).fit(Y)
    with pytest.raises(ValueError, match="features"):
        fitted.predict(Y[:, :100])
    with pytest.raises(ValueError, match="prior works on images"):
        ImagingProblem(A, PixelL1((4, 4)))


def test_a_dense_matrix_is_an_operator():
    rng = np.random.default_rng(0)
    M = rng.normal(size=(48, 64)) / 8
    X = np.abs(rng.normal(size=(40, 64))) * (rng.random((40, 64)) < 0.1)
    Y = X @ M.T
    est = ProximalGradient(M, prior="l1", alpha=0.01, n_layers=200, momentum=True,
                           precision="float64").fit(Y)
    assert est.image_shape_ == (1, 64)
    assert psnr(X, est.predict(Y), data_range=X.max()) > 25


_SMALL = dict(n_layers=3, max_epochs=2, batch_size=16, random_state=0, device="cpu")


@parametrize_with_checks([
    ProximalGradient(n_layers=5, device="cpu"),
    ProximalGradient(n_layers=5, momentum=True, precision="float64", device="cpu"),
    UnfoldedProximalGradient(**_SMALL),
    UnfoldedProximalGradient(paradigm="classical", **_SMALL),
    UnfoldedProximalGradient(paradigm="objective", momentum=True, **_SMALL),
    UnfoldedProximalGradient(paradigm="correction", hidden_layer_sizes=(4,), **_SMALL),
    UnfoldedProximalGradient(paradigm="dnn", hidden_layer_sizes=(4,), **_SMALL),
])
def test_sklearn_compatible_estimator(estimator, check):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=OperatorEstimatedWarning)
        check(estimator)


def test_wavelet_prior_learns_one_threshold_per_band(deblurring):
    A, Y, X, Y_test, X_test = deblurring
    pgd = ProximalGradient(A, prior="wavelet", alpha=0.003, n_layers=10, momentum=True).fit(Y)
    l1 = ProximalGradient(A, prior="l1", alpha=ALPHA, n_layers=10, momentum=True).fit(Y)
    assert psnr(X_test, pgd.predict(Y_test)) > psnr(X_test, l1.predict(Y_test)) + 0.5
    est = UnfoldedProximalGradient(A, prior="wavelet", alpha=0.003, n_layers=4, momentum=True,
                                   max_epochs=3, random_state=0, n_threads=1).fit(Y, X)
    assert est.prior_.group_names[0] == "approx" and "approx" in est.prior_.free_groups
    assert est.layer_parameters_["threshold"].shape == (4, est.prior_.n_groups)
    start = UnfoldedProximalGradient(A, prior="wavelet", alpha=0.003, n_layers=4, momentum=True,
                                     max_epochs=0).fit(Y, X)
    assert psnr(X_test, est.predict(Y_test)) > psnr(X_test, start.predict(Y_test))


@pytest.mark.filterwarnings("ignore:the fixed-point iteration did not reach")
@pytest.mark.filterwarnings("ignore::skunfold.core.WorseThanClassicalWarning")
def test_fixed_point_and_safeguard(deblurring):
    A, Y, X, Y_test, _ = deblurring
    deq = UnfoldedProximalGradient(A, prior="l1", alpha=ALPHA, n_layers=5, tied=True,
                                   fixed_point=True, max_epochs=1,
                                   random_state=0).fit(Y[:64], X[:64])
    assert deq.n_iter_.shape == (64,) and np.isfinite(deq.predict(Y_test)).all()
    guarded = UnfoldedProximalGradient(A, prior="l1", alpha=ALPHA, n_layers=3, paradigm="dnn",
                                       hidden_layer_sizes=(4,), safeguard=True, max_epochs=1,
                                       random_state=0).fit(Y[:64], X[:64])
    report = guarded.safeguard_report(Y_test)
    assert report.shape == (3,) and np.all((report >= 0) & (report <= 1))


@pytest.mark.filterwarnings("ignore:the fixed-point iteration did not reach")
def test_deep_equilibrium_trains_on_inpainting():
    # the iteration's Jacobian keeps eigenvalues at 1 on the missing pixels, where the exact
    # implicit gradient's series does not converge: fixed_point=True takes the Jacobian-free
    # backward pass, which trains (+0.43 dB here; FixedPoint(backward="implicit") raises
    # TrainingDivergedError on the same data, its training loss 0.25 against 0.0045)
    rng = np.random.default_rng(0)
    A = Inpaint((SIDE, SIDE), rng.random((SIDE, SIDE)) < 0.5)
    X, X_test = _patches(256, 0).reshape(256, -1), _patches(64, 1).reshape(64, -1)
    Y, Y_test = (A.matmat(Z.T).T + 0.01 * rng.normal(size=(len(Z), A.shape[0]))
                 for Z in (X, X_test))
    settings = dict(prior="wavelet", alpha=0.03, paradigm="dnn",
                    hidden_layer_sizes=(16, 16), fixed_point=True, random_state=0, n_threads=1)
    start = UnfoldedProximalGradient(A, max_epochs=0, **settings).fit(Y, X)
    est = UnfoldedProximalGradient(A, max_epochs=6, **settings).fit(Y, X)
    assert est.module_.fixed_point.backward == "jacobian_free"
    assert est.comparison_["kept"] == "trained"
    gain = psnr(X_test, est.predict(Y_test)) - psnr(X_test, start.predict(Y_test))
    assert gain > 0.2, gain
