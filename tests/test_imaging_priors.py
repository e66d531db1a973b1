"""The wavelet and total-variation priors of skunfold.imaging: exact and approximate proxes."""

import warnings

import numpy as np
import pytest
import pywt
import torch

from skunfold.imaging.tv import TotalVariation
from skunfold.imaging.wavelets import Wavelet

ORTHO = ["haar", "db2", "coif1"]
TOL = {torch.float32: 1e-6, torch.float64: 1e-12}


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def patch():
    """A 32x32 crop of scikit-image's camera, in [0, 1], plus noise of std 0.1."""
    from skimage import data

    img = data.camera()[100:132, 100:132] / 255.0
    return img + 0.1 * np.random.default_rng(0).standard_normal(img.shape)


def _rand(shape, dtype=torch.float64, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# -- Wavelet -------------------------------------------------------------------------------
@pytest.mark.parametrize("shape, wavelet, level", [
    ((8, 8), "haar", 3), ((32, 16), "haar", 4), ((24, 16), "haar", 3), ((8, 8), "db2", 2),
    ((32, 32), "db2", 4), ((16, 32), "coif1", 2)])
def test_wavelet_default_level_and_groups(shape, wavelet, level):
    prior = Wavelet(shape, wavelet)
    assert prior.level_ == level and prior.level is None
    assert prior.group_names == ("approx",) + tuple(f"detail{k}" for k in range(1, level + 1))
    assert prior.free_groups == ("approx",) and prior.active()[0] == 0.0
    assert sum(prior.group_sizes) == shape[0] * shape[1]
    assert prior.group_sizes[1] == 3 * shape[0] * shape[1] // 4  # finest level first


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("wavelet", ORTHO)
def test_wavelet_orthonormal(wavelet, dtype):
    prior = Wavelet((16, 32), wavelet)
    x = _rand((3, 512), dtype)
    c = prior.analysis(x)
    assert c.dtype == dtype and c.shape == x.shape
    scale = x.abs().max()
    assert (prior.synthesis(c) - x).abs().max() < TOL[dtype] * 10 * scale  # W^T W = I
    assert (prior.analysis(prior.synthesis(x)) - x).abs().max() < TOL[dtype] * 10 * scale
    energy = (x.double() ** 2).sum(1)                                      # Parseval
    assert torch.allclose((c.double() ** 2).sum(1), energy, rtol=TOL[dtype] * 10)


def _pywt_prox(image, wavelet, level, thresholds):
    coeffs = pywt.wavedec2(image, wavelet, mode="periodization", level=level)
    shrunk = [coeffs[0]] + [tuple(pywt.threshold(b, thresholds[level - i], "soft") for b in d)
                            for i, d in enumerate(coeffs[1:])]
    return pywt.waverec2(shrunk, wavelet, mode="periodization")


def test_haar_prox_matches_pywavelets():
    """Haar on sides divisible by 2**level is PyWavelets' periodised transform."""
    image = np.random.default_rng(1).random((16, 8))
    t = np.array([0.0, 0.05, 0.1, 0.3])
    prior = Wavelet((16, 8), "haar", level=3)
    out = prior.prox(torch.tensor(image.reshape(1, -1)), torch.tensor(t))
    ref = _pywt_prox(image, "haar", 3, t)
    np.testing.assert_allclose(out.numpy().reshape(16, 8), ref, atol=1e-12)
    assert np.abs(ref - image).max() > 0.1  # the thresholds did act


def test_db2_prox_matches_ptwt_matrix_transform():
    """Longer filters: ptwt's boundary-orthogonalised sparse transform as the reference."""
    import ptwt

    x = _rand((2, 16, 16))
    t = [0.0, 0.5, 0.3]
    fwt = ptwt.MatrixWavedec2("db2", level=2, orthogonalization="qr")
    ifwt = ptwt.MatrixWaverec2("db2", orthogonalization="qr")
    with warnings.catch_warnings():  # torch's notes on sparse tensors, inside ptwt
        warnings.simplefilter("ignore", UserWarning)
        coeffs = fwt(x)
        shrunk = [coeffs[0]] + [tuple(b - b.clamp(-t[2 - i], t[2 - i]) for b in d)
                                for i, d in enumerate(coeffs[1:])]
        ref = ifwt(shrunk)
    out = Wavelet((16, 16), "db2", level=2).prox(x.reshape(2, -1), torch.tensor(t))
    assert torch.allclose(out, ref.reshape(2, -1), atol=1e-12)


@pytest.mark.parametrize("wavelet, free", [("haar", None), ("db2", ()), ("db2", None)])
def test_wavelet_prox_is_the_prox_brute_force(wavelet, free):
    """Optimality of the prox with the explicit 64x64 matrix W, and no better neighbour."""
    prior = Wavelet((8, 8), wavelet, free_groups=free)
    W = prior.analysis(torch.eye(64, dtype=torch.float64)).T            # rows: atoms
    assert torch.allclose(W @ W.T, torch.eye(64, dtype=torch.float64), atol=1e-12)
    x = 2 * _rand((1, 64), seed=3)
    thr = torch.tensor([0.8, 1.2, 2.0, 1.5][:prior.n_groups], dtype=torch.float64)
    p = prior.prox(x, thr)
    t = (thr * torch.tensor(prior.active(), dtype=torch.float64)).repeat_interleave(
        torch.tensor(prior.group_sizes))
    u, c = (W @ (x - p).T).ravel(), (W @ p.T).ravel()                 # subgradient, coefs
    assert (u.abs() <= t + 1e-10).all()
    nz = c.abs() > 1e-10
    assert torch.allclose(u[nz], (t * c.sign())[nz], atol=1e-10)
    assert nz.sum() < 40                                               # sparse

    def objective(z):
        return 0.5 * ((z - x) ** 2).sum() + (t * (W @ z.T).ravel().abs()).sum()

    d = _rand((200, 64), seed=4)
    for eps in (1e-1, 1e-3):
        assert all(objective(p + eps * di) > objective(p) for di in d)
    assert torch.allclose(prior.penalty(p, thr), (t * c.abs()).sum().reshape(1))


def test_wavelet_free_groups_untouched_and_thresholds_per_group():
    prior = Wavelet((16, 16), "haar", level=3)
    x = _rand((4, 256))
    c = prior.analysis(x)
    bounds = np.cumsum((0,) + prior.group_sizes)
    band = {g: slice(bounds[k], bounds[k + 1]) for k, g in enumerate(prior.group_names)}
    # huge thresholds: every detail band zeroed, the free approximation band kept
    cp = prior.analysis(prior.prox(x, torch.full((4,), 1e6, dtype=torch.float64)))
    assert torch.allclose(cp[:, band["approx"]], c[:, band["approx"]], atol=1e-12)
    assert cp[:, bounds[1]:].abs().max() < 1e-12
    # a larger threshold on detail2 zeroes more there, the other groups are unchanged
    small = prior.analysis(prior.prox(x, torch.tensor([0.0, 0.5, 0.5, 0.5])))
    large = prior.analysis(prior.prox(x, torch.tensor([0.0, 0.5, 1.5, 0.5])))
    zeros = [int((z[:, band["detail2"]].abs() < 1e-12).sum()) for z in (small, large)]
    assert zeros[1] > zeros[0] + 20
    for g in ("approx", "detail1", "detail3"):
        assert torch.allclose(small[:, band[g]], large[:, band[g]], atol=1e-12)
    # nothing free: the approximation band is thresholded too
    everything = Wavelet((16, 16), "haar", level=3, free_groups=())
    ca = everything.analysis(everything.prox(x, torch.full((4,), 1e6)))
    assert ca.abs().max() < 1e-9
    # one set of thresholds per sample
    per = prior.prox(x, torch.tensor([[0.0, 0.0, 0.0, 0.0], [0.0, 1e6, 1e6, 1e6]]).repeat(2, 1))
    assert torch.allclose(per[0], x[0], atol=1e-12) and torch.allclose(per[2], x[2], atol=1e-12)
    assert (prior.analysis(per)[1, bounds[1]:].abs() < 1e-12).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("make", [lambda: Wavelet((8, 16)), lambda: Wavelet((8, 16), "db2"),
                                  lambda: TotalVariation((8, 16), n_iter=5)])
def test_priors_keep_dtype_and_shape(make, dtype):
    prior = make()
    x = _rand((3, 128), dtype)
    thr = torch.full((prior.n_groups,), 0.3)                 # float32 thresholds: cast
    for out in (prior.prox(x, thr), prior.prox(x[0], thr)):
        assert out.dtype == dtype and out.shape[-1] == 128
    assert prior.prox(x, thr).shape == (3, 128)
    pen = prior.penalty(x, thr)
    assert pen.dtype == dtype and pen.shape == (3,) and (pen > 0).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("make", [lambda: Wavelet((16, 16)), lambda: Wavelet((16, 16), "db2"),
                                  lambda: TotalVariation((16, 16))])
def test_priors_keep_device(make):
    prior = make()
    x = _rand((2, 256), torch.float32).cuda()
    thr = torch.full((prior.n_groups,), 0.3, device="cuda")
    out = prior.prox(x, thr)
    assert out.device == x.device
    assert torch.allclose(out.cpu(), prior.prox(x.cpu(), thr.cpu()), atol=1e-5)


@pytest.mark.parametrize("wavelet", ["haar", "db2"])
def test_wavelet_gradcheck(wavelet):
    prior = Wavelet((4, 8), wavelet, level=1, free_groups=())
    x = _rand((2, 32), seed=5)
    thr = torch.tensor([0.2, 0.35], dtype=torch.float64)
    gap = (prior.analysis(x).abs() - thr.repeat_interleave(torch.tensor(prior.group_sizes)))
    assert gap.abs().min() > 1e-4                                   # away from the kinks
    assert torch.autograd.gradcheck(prior.prox, (x.requires_grad_(), thr.requires_grad_()))
    assert torch.autograd.gradcheck(prior.penalty, (x, thr))


def test_wavelet_exports():
    class Layer(torch.nn.Module):
        def __init__(self, prior):
            super().__init__()
            self.prior = prior

        def forward(self, x, t):
            return self.prior.prox(x, t)

    x, t = _rand((2, 64), torch.float32), torch.tensor([0.0, 0.2, 0.3, 0.4])
    for make in (lambda: Wavelet((8, 8)), lambda: Wavelet((8, 8), "db2", level=1)):
        prior = make()
        t = t[:prior.n_groups]
        program = torch.export.export(Layer(prior), (x, t))    # first use: while tracing
        expected = make().prox(x, t)
        assert torch.allclose(program.module()(x, t), expected)
        assert torch.allclose(prior.prox(x, t), expected)      # no fake tensor was cached


@pytest.mark.parametrize("kwargs, match", [
    (dict(level=0), "level must be a positive integer"),
    (dict(level=2.5), "level must be a positive integer"),
    (dict(level=True), "level must be a positive integer"),
    (dict(level=5), "not divisible by 2\\*\\*level = 32"),
    (dict(image_shape=(12, 16), level=3), "not divisible by 2\\*\\*level = 8"),
    (dict(image_shape=(7, 8)), "admits no level"),
    (dict(wavelet="db4", level=3), "too deep"),
    (dict(wavelet="nope"), "discrete orthogonal wavelet"),
    (dict(wavelet="bior2.2"), "not orthogonal"),
    (dict(free_groups=("approx", "detail9")), "unknown groups \\['detail9'\\]"),
    (dict(image_shape=(16,)), "image_shape"),
])
def test_wavelet_errors(kwargs, match):
    kwargs = {"image_shape": (16, 16), **kwargs}
    with pytest.raises(ValueError, match=match):
        Wavelet(**kwargs)


def test_wavelet_bad_inputs():
    prior = Wavelet((8, 8))
    with pytest.raises(ValueError, match="8x8 = 64 pixels"):
        prior.prox(torch.zeros(2, 63), torch.zeros(4))
    with pytest.raises(ValueError, match="shape \\(4,\\)"):
        prior.prox(torch.zeros(2, 64), torch.zeros(3))
    with pytest.raises(TypeError, match="wavelet must be a str"):
        Wavelet((8, 8), wavelet=3)


# -- TotalVariation ----------------------------------------------------------------------
def _rof(prior, x, y, t):
    return 0.5 * ((x - y) ** 2).sum() + prior.penalty(x, t).sum()


@pytest.mark.parametrize("isotropic", [True, False])
def test_tv_prox_decreases_the_objective_and_nears_a_long_run(patch, isotropic):
    y = torch.tensor(patch.reshape(1, -1))
    t = torch.tensor([0.1], dtype=torch.float64)
    prior = TotalVariation((32, 32), isotropic=isotropic)
    x20, x500 = prior.prox(y, t), TotalVariation((32, 32), 500, isotropic).prox(y, t)
    f = [float(_rof(prior, z, y, t)) for z in (y, x20, x500)]
    assert f[2] < f[1] < 0.5 * f[0]
    assert (f[1] - f[2]) / (f[0] - f[2]) < 0.02              # within 2% of the decrease
    assert (x20 - x500).abs().max() < 0.03
    assert abs(float(x500.mean() - y.mean())) < 1e-12         # D^T q has zero mean
    if isotropic:                                             # the same problem as skimage's
        from skimage.restoration import denoise_tv_chambolle

        ref = denoise_tv_chambolle(patch, weight=0.1, eps=1e-9, max_num_iter=3000)
        assert np.abs(x500.numpy().reshape(32, 32) - ref).max() < 3e-3
        assert f[2] <= float(_rof(prior, torch.tensor(ref.reshape(1, -1)), y, t)) + 1e-9


def test_tv_penalty_and_small_cases():
    x = torch.tensor([[0.0, 1.0, 0.0, 1.0]], dtype=torch.float64)   # 2x2, two stripes
    one = torch.tensor([1.0])
    assert float(TotalVariation((2, 2)).penalty(x, one)) == pytest.approx(2.0)
    ramp = torch.tensor([[0.0, 1.0, 1.0, 2.0]], dtype=torch.float64)
    assert float(TotalVariation((2, 2)).penalty(ramp, one)) == pytest.approx(2 + np.sqrt(2))
    assert float(TotalVariation((2, 2), isotropic=False).penalty(ramp, one)) == pytest.approx(4)
    p = TotalVariation((2, 2), n_iter=200).prox(x, torch.tensor([0.1]))
    assert torch.allclose(p, torch.tensor([[0.1, 0.9, 0.1, 0.9]], dtype=torch.float64))
    y = _rand((3, 40))
    prior = TotalVariation((5, 8))
    assert torch.allclose(prior.prox(y, torch.tensor([0.0])), y)        # t = 0: identity
    free = TotalVariation((5, 8), free_groups=("gradient",))
    assert torch.allclose(free.prox(y, torch.tensor([1.0])), y)
    assert (free.penalty(y, torch.tensor([1.0])) == 0).all()
    per = prior.prox(y, torch.tensor([[0.0], [0.5], [0.0]]))             # per sample
    assert torch.allclose(per[[0, 2]], y[[0, 2]]) and not torch.allclose(per[1], y[1])
    assert torch.allclose(per[1], prior.prox(y[1:2], torch.tensor([0.5]))[0])


def test_tv_difference_operator_adjoint():
    from skunfold.imaging.tv import _grad, _grad_adjoint

    x, q = _rand((3, 5, 7), seed=8), _rand((2, 3, 5, 7), seed=9)
    assert torch.allclose((_grad(x) * q).sum(), (x * _grad_adjoint(q)).sum(), atol=1e-12)


@pytest.mark.parametrize("isotropic", [True, False])
def test_tv_gradcheck(isotropic):
    prior = TotalVariation((4, 5), n_iter=6, isotropic=isotropic)
    x = _rand((2, 20), seed=7).requires_grad_()
    t = torch.tensor([0.3], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(prior.prox, (x, t))
    assert torch.autograd.gradcheck(prior.penalty, (x, t))


def test_tv_exports():
    class Layer(torch.nn.Module):
        def forward(self, x, t):
            return TotalVariation((8, 8), n_iter=3).prox(x, t)

    x, t = _rand((2, 64), torch.float32), torch.tensor([0.2])
    program = torch.export.export(Layer(), (x, t))
    assert torch.allclose(program.module()(x, t), Layer()(x, t))


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_iter=0), "n_iter must be a positive integer"),
    (dict(n_iter=2.0), "n_iter must be a positive integer"),
    (dict(isotropic="yes"), "isotropic must be True or False"),
    (dict(free_groups=("pixels",)), "unknown groups"),
])
def test_tv_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TotalVariation((8, 8), **kwargs)


def test_tv_bad_inputs():
    with pytest.raises(ValueError, match="one group"):
        TotalVariation((8, 8)).prox(torch.zeros(1, 64), torch.zeros(2))
    with pytest.raises(ValueError, match="8x8 = 64 pixels"):
        TotalVariation((8, 8)).penalty(torch.zeros(1, 60), torch.zeros(1))
