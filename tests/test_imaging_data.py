"""make_imaging_problem: crops of shipped images through an operator; ssim on scikit-image."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from skimage.metrics import structural_similarity

from skunfold.datasets import TEST_IMAGES, TRAIN_IMAGES, load_image, make_imaging_problem
from skunfold.imaging import MRI, Blur, Downsample, Identity, Inpaint
from skunfold.metrics import psnr, ssim

torch.set_num_threads(1)

# -- make_imaging_problem --------------------------------------------------------------------


@pytest.mark.parametrize("name, kind, m, dtype", [
    ("denoise", Identity, 1024, np.float64),
    ("blur", Blur, 1024, np.float64),
    ("superres", Downsample, 256, np.float64),
    ("inpaint", Inpaint, 512, np.float64),
    ("mri", MRI, 256, np.complex128),
])
def test_named_operators_shapes_and_range(name, kind, m, dtype):
    Y, X, A = make_imaging_problem(name, n_samples=30, random_state=0)
    assert isinstance(A, kind) and A.image_shape == (32, 32) and A.shape == (m, 1024)
    assert Y.shape == (30, m) and Y.dtype == dtype
    assert X.shape == (30, 1024) and X.dtype == np.float64
    assert X.min() >= 0.0 and X.max() <= 1.0 and X.std() > 0.05  # natural images, not flat
    # a name gives the same operator (same mask) whatever random_state
    _, _, B = make_imaging_problem(name, n_samples=1, patch_size=32, random_state=5)
    if hasattr(A, "mask"):
        assert_array_equal(A.mask, B.mask)


def test_default_masks():
    _, _, inpaint = make_imaging_problem("inpaint", n_samples=1, random_state=0)
    assert inpaint.mask.mean() == 0.5
    _, _, mri = make_imaging_problem("mri", n_samples=1, patch_size=(16, 32), random_state=0)
    assert mri.mask.shape == (16, 32)
    columns = mri.mask[0]
    assert (mri.mask == columns).all()  # whole columns of k-space (phase encodes)
    assert columns.sum() == 8  # 4x acceleration
    assert columns[0] and columns[1] and columns[-1]  # the lowest frequencies (DFT order)


@pytest.mark.parametrize("name", ["denoise", "blur", "superres", "inpaint", "mri"])
def test_measurements_are_the_operator_applied(name):
    Y, X, A = make_imaging_problem(name, n_samples=20, noise=0.0, random_state=0)
    # SciPy's product (A @ X.T) and the torch one both give Y exactly
    assert_allclose(Y, (A @ X.T).T, rtol=0, atol=1e-12)
    assert_allclose(Y, A.forward(torch.from_numpy(X)).numpy(), rtol=0, atol=1e-12)
    # the same draw with noise: only the noise differs
    Yn, Xn, _ = make_imaging_problem(name, n_samples=20, noise=0.05, random_state=0)
    assert_array_equal(Xn, X)
    assert not np.allclose(Yn, Y)


def test_operator_instance_sets_the_crop_shape():
    A = Blur((16, 24), sigma=2.0)
    Y, X, B = make_imaging_problem(A, n_samples=10, noise=0.0, random_state=0)
    assert B is A and X.shape == (10, 384)
    assert_allclose(Y, (A @ X.T).T, atol=1e-12)
    # a dense matrix is wrapped (square crops inferred from its width)
    M = np.random.RandomState(0).standard_normal((20, 64))
    Y, X, B = make_imaging_problem(M, images="camera", n_samples=5, noise=0.0,
                                   random_state=0)
    assert B.image_shape == (8, 8)
    assert_allclose(Y, X @ M.T, atol=1e-12)


@pytest.mark.parametrize("name, sigma", [("blur", 0.05), ("inpaint", 0.02), ("mri", 0.1)])
def test_noise_level(name, sigma):
    Y, X, A = make_imaging_problem(name, n_samples=100, noise=sigma, random_state=0)
    E = Y - (A @ X.T).T
    assert np.mean(np.abs(E) ** 2) == pytest.approx(sigma ** 2, rel=0.02)
    assert abs(E.mean()) < 3 * sigma / np.sqrt(E.size)
    if name == "mri":  # circular complex: half the power on each part
        assert np.var(E.real) == pytest.approx(sigma ** 2 / 2, rel=0.03)
        assert np.var(E.imag) == pytest.approx(sigma ** 2 / 2, rel=0.03)
        assert abs(np.mean(E.real * E.imag)) < 0.02 * sigma ** 2
    # and the PSNR of the noisy denoising problem is the noise's
    Y, X, _ = make_imaging_problem("denoise", n_samples=100, noise=sigma, random_state=0)
    assert psnr(X, Y) == pytest.approx(-20 * np.log10(sigma), abs=0.1)


def test_reproducibility():
    a = make_imaging_problem("superres", n_samples=40, random_state=3)
    b = make_imaging_problem("superres", n_samples=40, random_state=np.random.RandomState(3))
    c = make_imaging_problem("superres", n_samples=40, random_state=4)
    assert_array_equal(a[0], b[0])
    assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])


def _source(row, names, shape):
    """The images (among ``names``) that hold ``row`` as a crop of ``shape``."""
    found = []
    for name in names:
        image = load_image(name)
        crop = row.reshape(shape)
        for r, c in zip(*np.nonzero(image[:image.shape[0] - shape[0] + 1,
                                          :image.shape[1] - shape[1] + 1] == crop[0, 0])):
            if np.array_equal(image[r:r + shape[0], c:c + shape[1]], crop):
                found.append(name)
                break
    return found


def test_crops_come_from_the_images_evenly_and_shuffled():
    names = ("camera", "coins")
    _, X, _ = make_imaging_problem("denoise", images=names, n_samples=41, patch_size=8,
                                   random_state=0)
    source = []
    for row in X:
        found = _source(row, names, (8, 8))
        assert len(found) == 1
        source.append(found[0])
    source = np.array(source)
    assert (source == "camera").sum() == 21 and (source == "coins").sum() == 20
    assert len(set(source[:10])) == 2  # rows are shuffled, not grouped by image


def test_held_out_images_are_disjoint():
    assert not set(TRAIN_IMAGES) & set(TEST_IMAGES)
    _, X_train, A = make_imaging_problem("blur", n_samples=100, random_state=0)
    Y_test, X_test, B = make_imaging_problem(A, images="test", n_samples=10, random_state=1)
    assert B is A and Y_test.shape == (10, 1024)
    distance = ((X_test[:, None, :] - X_train[None]) ** 2).sum(axis=2)
    assert distance.min() > 1.0  # no held-out crop is close to a training crop
    # the test preset: crops of coins and moon, five each, none of a training image
    sources = [_source(row, TRAIN_IMAGES + TEST_IMAGES, (32, 32)) for row in X_test]
    assert sorted(s for found in sources for s in found) == ["coins"] * 5 + ["moon"] * 5


def test_user_images_and_downscale():
    image = np.linspace(0, 1, 40 * 50).reshape(40, 50)
    _, X, _ = make_imaging_problem("denoise", images=[image], n_samples=5, patch_size=16,
                                   random_state=0)
    assert X.shape == (5, 256) and X.max() <= 1.0
    _, X1, _ = make_imaging_problem("denoise", images="camera", n_samples=50, patch_size=16,
                                    downscale=1, random_state=0)
    _, X2, _ = make_imaging_problem("denoise", images="camera", n_samples=50, patch_size=16,
                                    downscale=2, random_state=0)
    # full-size crops are smoother: smaller differences between neighbouring pixels
    def roughness(X):
        return np.abs(np.diff(X.reshape(-1, 16, 16), axis=2)).mean()
    assert roughness(X1) < roughness(X2)


@pytest.mark.parametrize("kwargs, match", [
    ({"operator": "deblur"}, "operator must be one of"),
    ({"operator": object()}, "operator must be one of"),
    ({"n_samples": 0}, "n_samples"),
    ({"noise": -0.1}, "noise"),
    ({"noise": np.nan}, "noise"),
    ({"downscale": 0}, "downscale"),
    ({"patch_size": 0}, "patch_size"),
    ({"patch_size": (8, 8, 8)}, "patch_size"),
    ({"operator": Blur((16, 16)), "patch_size": 32}, "does not match"),
    ({"operator": np.ones((4, 10))}, "give patch_size"),
    ({"images": "lena"}, "'lena' is not one of"),
    ({"images": []}, "non-empty"),
    ({"images": [np.full((40, 40), 2.0)]}, r"values in \[0, 1\]"),
    ({"images": [np.zeros(40)]}, "2-D grey-level"),
    ({"images": "coins", "patch_size": 200}, "smaller than the crops"),
    ({"operator": "superres", "patch_size": 31}, "not divisible"),
])
def test_invalid_arguments(kwargs, match):
    kwargs = {"n_samples": 2, **kwargs}
    with pytest.raises(ValueError, match=match):
        make_imaging_problem(**kwargs)


# -- ssim ----------------------------------------------------------------------------------------


def test_ssim_identical_is_one_and_decreases_with_noise():
    _, X, _ = make_imaging_problem("denoise", n_samples=20, noise=0.0, random_state=0)
    assert ssim(X, X) == 1.0
    values = [ssim(X, make_imaging_problem("denoise", n_samples=20, noise=s,
                                            random_state=0)[0])
              for s in (0.01, 0.05, 0.2)]
    assert 0.0 < values[2] < values[1] < values[0] < 1.0, values
    assert values[0] > 0.9 and values[2] < 0.5, values


def test_ssim_agrees_with_scikit_image():
    rng = np.random.RandomState(0)
    image = load_image("camera")[:40, :48]
    noisy = image + 0.1 * rng.standard_normal(image.shape)
    expected = structural_similarity(image, noisy, data_range=1.0)
    assert ssim(image[None], noisy[None]) == pytest.approx(expected, rel=1e-12)
    assert ssim(image.reshape(1, -1), noisy.reshape(1, -1),
                image_shape=(40, 48)) == pytest.approx(expected, rel=1e-12)
    # data_range scales the constants: 8-bit images give the same figure
    assert ssim(255 * image[None], 255 * noisy[None], data_range=255) \
        == pytest.approx(expected, rel=1e-9)
    # the mean over images
    other = rng.uniform(size=(40, 48))
    pair = structural_similarity(image, other, data_range=1.0)
    assert ssim(np.stack([image, image]), np.stack([noisy, other])) \
        == pytest.approx((expected + pair) / 2, rel=1e-12)


@pytest.mark.parametrize("y_true, y_pred, kwargs, match", [
    (np.ones((2, 60)), np.ones((2, 60)), {}, "give image_shape"),
    (np.ones((2, 64)), np.ones((2, 64)), {"image_shape": (8, 9)}, "72 pixels"),
    (np.ones((2, 8, 8)), np.ones((2, 8, 8)), {"image_shape": (4, 16)}, "image_shape"),
    (np.ones((2, 64)), np.ones((2, 65)), {}, "different shapes"),
    (np.ones((2, 36)), np.ones((2, 36)), {}, "at least 7x7"),
    (np.ones(64), np.ones(64), {}, "image"),
    (np.ones((2, 64)), np.ones((2, 64)), {"data_range": 0}, "data_range"),
    (np.ones((2, 64)), np.ones((2, 64)), {"image_shape": 8}, "image_shape"),
    (np.ones((2, 64)), np.full((2, 64), np.nan), {}, "y_pred"),
])
def test_ssim_errors(y_true, y_pred, kwargs, match):
    with pytest.raises(ValueError, match=match):
        ssim(y_true, y_pred, **kwargs)
