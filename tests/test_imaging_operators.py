"""skunfold.imaging operators: exact adjoints, NumPy/torch agreement, norms, the bridge."""

import copy
import pickle

import numpy as np
import pytest
import scipy.sparse
import torch
from scipy import ndimage
from scipy.sparse.linalg import aslinearoperator

from skunfold.imaging import (
    MRI,
    Blur,
    Downsample,
    Identity,
    ImagingOperator,
    Inpaint,
    MatrixOperator,
    ScipyOperator,
    as_operator,
)

RNG = np.random.default_rng(0)
MASK = RNG.random((8, 12)) < 0.5
KERNEL = RNG.random((3, 5))
EVEN_KERNEL = RNG.random((4, 2))
MATRIX = RNG.standard_normal((7, 96))

OPERATORS = {
    "identity": lambda: Identity((8, 12)),
    "blur-circular": lambda: Blur((8, 12), sigma=1.0),
    "blur-zero": lambda: Blur((8, 12), sigma=1.0, boundary="zero"),
    "blur-wide-circular": lambda: Blur((8, 12), sigma=2.5),  # kernel 17 > image: wraps
    "blur-wide-zero": lambda: Blur((8, 12), sigma=2.5, boundary="zero"),
    "blur-even-circular": lambda: Blur((8, 12), kernel=EVEN_KERNEL),
    "blur-even-zero": lambda: Blur((8, 12), kernel=EVEN_KERNEL, boundary="zero"),
    "downsample-2-circular": lambda: Downsample((16, 16), factor=2),
    "downsample-4-zero": lambda: Downsample((16, 16), factor=4, boundary="zero"),
    "downsample-3-rect": lambda: Downsample((9, 12), factor=3, sigma=0.7),
    "inpaint": lambda: Inpaint((8, 12), MASK),
    "mri": lambda: MRI((8, 12), MASK),
    "dense": lambda: as_operator(MATRIX, image_shape=(8, 12)),
    "sparse": lambda: as_operator(scipy.sparse.random(7, 96, density=0.2, random_state=0)),
    "linear-operator": lambda: as_operator(aslinearoperator(MATRIX)),
}


def _pair(A, seed=0):
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(rng.standard_normal((3, A.shape[1])))
    y = torch.from_numpy(rng.standard_normal((3, A.shape[0])))
    if np.iscomplexobj(np.empty(0, A.dtype)):
        y = torch.complex(y, torch.from_numpy(rng.standard_normal((3, A.shape[0]))))
    return x, y


def _inner(u, v):
    """Real inner product Re sum conj(u) v (the one MRI's adjoint is exact for)."""
    return float(torch.real(torch.sum(torch.conj(u) * v)))


def _dense(A):
    """A as a real matrix (MRI: real and imaginary rows stacked); for tests only."""
    M = A.matmat(np.eye(A.shape[1]))
    return np.vstack([M.real, M.imag]) if np.iscomplexobj(M) else M


@pytest.mark.parametrize("name", OPERATORS)
def test_adjoint_is_exact(name):
    A = OPERATORS[name]()
    x, y = _pair(A)
    Ax, ATy = A.forward(x), A.adjoint(y)
    assert Ax.shape == (3, A.shape[0]) and ATy.shape == (3, A.shape[1])
    assert not ATy.is_complex()
    lhs, rhs = _inner(Ax, y), _inner(x, ATy)
    scale = float(torch.linalg.norm(Ax) * torch.linalg.norm(y)) + 1.0
    assert abs(lhs - rhs) <= 1e-10 * scale


@pytest.mark.parametrize("name", OPERATORS)
def test_numpy_methods_agree_with_torch(name):
    A = OPERATORS[name]()
    x, y = _pair(A, seed=1)
    X, Y = x.numpy().T, y.numpy().T
    np.testing.assert_allclose(A.matmat(X), A.forward(x).numpy().T, atol=1e-12)
    np.testing.assert_allclose(A.rmatmat(Y), A.adjoint(y).numpy().T, atol=1e-12)
    np.testing.assert_allclose(A.matvec(X[:, 0]), A.forward(x[0]).numpy(), atol=1e-12)
    np.testing.assert_allclose(A @ X[:, :1], A.forward(x[:1]).numpy().T, atol=1e-12)
    np.testing.assert_allclose(A.rmatvec(Y[:, 0]), A.adjoint(y[0]).numpy(), atol=1e-12)
    np.testing.assert_allclose(A.H @ Y[:, 0], A.adjoint(y[0]).numpy(), atol=1e-12)


@pytest.mark.parametrize("name", ["blur-zero", "blur-even-circular", "blur-even-zero",
                                  "downsample-2-circular", "downsample-4-zero",
                                  "downsample-3-rect", "mri", "dense", "sparse"])
def test_power_iteration_norm_matches_svd(name):
    A = OPERATORS[name]()
    exact = np.linalg.norm(_dense(A), 2)  # the SVD, in the test only
    assert abs(A.norm() - exact) <= 1e-3 * exact
    assert A.lipschitz == pytest.approx(A.norm() ** 2)
    assert isinstance(A.norm(), float) and A.norm() == A.norm(n_iter=50, random_state=0)


def test_unit_norms():
    assert Identity((8, 12)).norm() == pytest.approx(1.0, abs=1e-12)
    assert Inpaint((8, 12), MASK).norm() == pytest.approx(1.0, abs=1e-12)
    assert Blur((8, 12), sigma=1.0).norm() == pytest.approx(1.0, abs=1e-6)
    assert Blur((8, 12), sigma=1.0, boundary="zero").norm() < 1.0


def test_mri_full_mask_is_unitary():
    A = MRI((8, 12), np.ones((8, 12), dtype=bool))
    x = torch.from_numpy(RNG.standard_normal((2, 96)))
    Ax = A.forward(x)
    assert Ax.dtype == torch.complex128 and A.dtype == np.complex128
    torch.testing.assert_close(A.adjoint(Ax), x, rtol=0, atol=1e-12)
    assert float(torch.linalg.norm(Ax)) == pytest.approx(float(torch.linalg.norm(x)))
    assert A.norm() == pytest.approx(1.0, abs=1e-10)
    # the sampled frequencies are numpy's, in numpy's fft2 order
    np.testing.assert_allclose(Ax[0].numpy(), np.fft.fft2(x[0].numpy().reshape(8, 12),
                                                          norm="ortho").ravel(), atol=1e-12)


@pytest.mark.parametrize("boundary, mode", [("circular", "wrap"), ("zero", "constant")])
def test_blur_is_scipy_convolution(boundary, mode):
    x = RNG.standard_normal((8, 12))
    A = Blur((8, 12), kernel=KERNEL, boundary=boundary)
    expected = ndimage.convolve(x, KERNEL, mode=mode, cval=0.0)
    np.testing.assert_allclose(A.matvec(x.ravel()).reshape(8, 12), expected, atol=1e-12)


def test_downsample_shapes_and_values():
    A = Downsample((16, 12), factor=4)
    assert A.shape == (12, 192) and A.output_shape == (4, 3)
    x = torch.from_numpy(RNG.standard_normal((2, 192)))
    blurred = A.blur.forward(x).reshape(2, 16, 12)
    torch.testing.assert_close(A.forward(x), blurred[:, ::4, ::4].reshape(2, 12))
    assert Downsample((16, 16), factor=1).shape == (256, 256)


@pytest.mark.parametrize("name", OPERATORS)
def test_float32_in_float32_out(name):
    A = OPERATORS[name]()
    x, y = _pair(A, seed=2)
    out, back = A.forward(x.float()), A.adjoint(y.to(torch.complex64 if y.is_complex()
                                                     else torch.float32))
    assert back.dtype == torch.float32
    assert out.dtype == (torch.complex64 if name == "mri" else torch.float32)
    torch.testing.assert_close(out, A.forward(x).to(out.dtype), rtol=1e-4, atol=1e-4)


def test_as_operator_matches_the_dense_product():
    D = RNG.standard_normal((6, 9))
    x = torch.from_numpy(RNG.standard_normal((4, 9)))
    y = torch.from_numpy(RNG.standard_normal((4, 6)))
    ops = [as_operator(D), as_operator(scipy.sparse.csr_matrix(D)),
           as_operator(aslinearoperator(D)), as_operator(torch.from_numpy(D))]
    assert isinstance(ops[0], MatrixOperator) and isinstance(ops[1], ScipyOperator)
    assert isinstance(ops[2], ScipyOperator)
    for A in ops:
        np.testing.assert_allclose(A.forward(x).numpy(), x.numpy() @ D.T, atol=1e-12)
        np.testing.assert_allclose(A.adjoint(y).numpy(), y.numpy() @ D, atol=1e-12)
        assert A.norm() == pytest.approx(np.linalg.norm(D, 2), rel=1e-6)
        assert A.forward(x.float()).dtype == torch.float32
    B = Blur((3, 3))
    assert as_operator(B) is B and as_operator(B, image_shape=(3, 3)) is B
    assert as_operator(D, image_shape=(3, 3)).image_shape == (3, 3)


def test_bridge_gradients():
    D = RNG.standard_normal((3, 4))
    for A in (as_operator(aslinearoperator(D)), as_operator(scipy.sparse.csr_matrix(D))):
        x = torch.from_numpy(RNG.standard_normal((2, 4))).requires_grad_()
        y = torch.from_numpy(RNG.standard_normal((2, 3))).requires_grad_()
        assert torch.autograd.gradcheck(A.forward, (x,))
        assert torch.autograd.gradcheck(A.adjoint, (y,))
        assert torch.autograd.gradgradcheck(A.forward, (x,))
    # autograd through the torch operators is their adjoint
    A = Downsample((8, 8), boundary="zero")
    x = torch.from_numpy(RNG.standard_normal((1, 64))).requires_grad_()
    g = torch.from_numpy(RNG.standard_normal((1, 16)))
    (A.forward(x) * g).sum().backward()
    torch.testing.assert_close(x.grad, A.adjoint(g))


def test_operators_export():
    class Normal(torch.nn.Module):
        def __init__(self, ops):
            super().__init__()
            self.ops = ops

        def forward(self, x):
            return sum(A.adjoint(A.forward(x)) for A in self.ops)

    ops = [Blur((8, 12)), Blur((8, 12), boundary="zero"), Inpaint((8, 12), MASK),
           Downsample((8, 12), factor=2)]
    x = torch.from_numpy(RNG.standard_normal((2, 96)))
    exported = torch.export.export(Normal(ops), (x,))
    torch.testing.assert_close(exported.module()(x), Normal(ops)(x))


def test_operators_pickle_and_deepcopy():
    for name in ("blur-zero", "downsample-2-circular", "mri", "dense", "sparse",
                 "linear-operator"):
        A = OPERATORS[name]()
        x, y = _pair(A)
        A.norm()
        for B in (pickle.loads(pickle.dumps(A)), copy.deepcopy(A)):
            torch.testing.assert_close(B.forward(x), A.forward(x))
            torch.testing.assert_close(B.adjoint(y), A.adjoint(y))
            assert B.norm() == A.norm()


def test_complex_input_to_a_real_operator():
    A = Blur((8, 12))
    z = RNG.standard_normal(96) + 1j * RNG.standard_normal(96)
    np.testing.assert_allclose(A.matvec(z), A.matvec(z.real) + 1j * A.matvec(z.imag))


@pytest.mark.parametrize("build, message", [
    (lambda: Blur((8,)), r"image_shape must be a pair of positive integers \(H, W\), got \(8,\)"),
    (lambda: Identity((0, 4)), "image_shape must be a pair"),
    (lambda: Blur((8, 8), sigma=0.0), "sigma must be a positive number, got 0.0"),
    (lambda: Blur((8, 8), sigma=-1), "sigma must be a positive number, got -1"),
    (lambda: Blur((8, 8), boundary="reflect"), "boundary must be 'circular' or 'zero'"),
    (lambda: Blur((8, 8), kernel=np.ones(3)), "kernel must be a finite non-empty 2-D"),
    (lambda: Downsample((8, 8), factor=0), "factor must be an integer >= 1, got 0"),
    (lambda: Downsample((8, 9), factor=2), r"image_shape \(8, 9\) is not divisible by factor=2"),
    (lambda: Inpaint((8, 12), np.ones((12, 8), bool)),
     r"Inpaint: mask has shape \(12, 8\), expected image_shape \(8, 12\)"),
    (lambda: MRI((8, 12), np.zeros((8, 12), bool)), "MRI: mask keeps nothing"),
    (lambda: Inpaint((2, 2), [[0.5, 1], [1, 1]]), "mask must be boolean"),
    (lambda: as_operator(MATRIX, image_shape=(8, 8)), r"image_shape \(8, 8\) has 64 pixels, "
                                                      "but the operator takes vectors of size 96"),
    (lambda: as_operator(np.ones(3)), "matrix must be a 2-D numeric array"),
    (lambda: Blur((8, 12)).forward(torch.zeros(2, 95)),
     r"Blur.forward expects a tensor of shape \(batch, 96\) \(pixels: flattened 8x12 images\), "
     r"got shape \(2, 95\)"),
    (lambda: Inpaint((8, 12), MASK).adjoint(torch.zeros(2, 96)),
     r"Inpaint.adjoint expects a tensor of shape \(batch, \d+\) \(measurements\)"),
    (lambda: Blur((8, 12)).matvec(np.zeros(95)),
     r"Blur.matvec expects an array of shape \(96,\) or \(96, 1\) .* got shape \(95,\)"),
    (lambda: Downsample((8, 12)).rmatmat(np.zeros((96, 2))),
     r"Downsample.rmatmat expects an array of shape \(24, k\)"),
    (lambda: Blur((8, 12)).norm(n_iter=0), "n_iter must be a positive integer"),
])
def test_error_messages(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_as_operator_rejects_other_objects():
    with pytest.raises(TypeError, match="as_operator expects an ImagingOperator.*got str"):
        as_operator("blur")
    with pytest.raises(ValueError, match=r"does not match the operator's image_shape \(3, 3\)"):
        as_operator(Blur((3, 3)), image_shape=(1, 9))


def test_pylops_operator_through_the_bridge():
    pylops = pytest.importorskip("pylops")
    kernel = RNG.random((3, 3))
    P = pylops.signalprocessing.Convolve2D((8, 12), h=kernel, offset=(1, 1))
    A = as_operator(P, image_shape=(8, 12))
    assert isinstance(A, ImagingOperator) and A.image_shape == (8, 12)
    x, y = _pair(A, seed=3)
    np.testing.assert_allclose(A.forward(x).numpy(), np.stack([P.matvec(v) for v in x.numpy()]),
                               atol=1e-12)
    assert abs(_inner(A.forward(x), y) - _inner(x, A.adjoint(y))) <= 1e-10 * 100
    # the same blur as ours with a zero boundary (pylops convolves with zero padding)
    ours = Blur((8, 12), kernel=kernel, boundary="zero")
    torch.testing.assert_close(A.forward(x), ours.forward(x))
    assert A.norm() == pytest.approx(ours.norm(), rel=1e-9)
    xs = x[:1].clone().requires_grad_()
    assert torch.autograd.gradcheck(A.forward, (xs,))


@pytest.mark.parametrize("boundary", ["circular", "zero"])
@pytest.mark.parametrize("kernel", [None, KERNEL, EVEN_KERNEL, "wide"])
def test_blur_matrix_and_fft_paths_agree(boundary, kernel, monkeypatch):
    """Small images: products with 1-D blur matrices; large ones (or forced): FFTs."""
    from skunfold.imaging import operators

    def build():
        if isinstance(kernel, str):  # side 17 > 8: wraps around the circular image
            return Blur((8, 12), sigma=2.5, boundary=boundary)
        return Blur((8, 12), kernel=kernel, boundary=boundary)

    direct = build()
    monkeypatch.setattr(operators, "_MATMUL_COST", 0)
    fft = build()
    assert direct._matmul and not fft._matmul
    x, y = _pair(direct, seed=2)
    for A in (direct, fft):  # the adjoint is exact on both paths
        scale = float(torch.linalg.norm(A.forward(x)) * torch.linalg.norm(y)) + 1.0
        assert abs(_inner(A.forward(x), y) - _inner(x, A.adjoint(y))) <= 1e-10 * scale
    torch.testing.assert_close(direct.forward(x), fft.forward(x), rtol=0, atol=1e-12)
    torch.testing.assert_close(direct.adjoint(y), fft.adjoint(y), rtol=0, atol=1e-12)
    x32 = x.to(torch.float32)
    torch.testing.assert_close(direct.forward(x32), fft.forward(x32), rtol=0, atol=1e-5)


def test_blur_path_threshold():
    # products with 1-D blur matrices while rank(kernel) * (H + W) <= 256, FFTs above
    assert Blur((128, 128))._matmul and not Blur((136, 128))._matmul
    assert Blur((32, 32), kernel=KERNEL)._matmul  # rank 3: 3 * 64 <= 256
    assert not Blur((64, 64), kernel=KERNEL)._matmul  # 3 * 128 > 256
    assert Downsample((32, 32)).blur._matmul and not Downsample((256, 256)).blur._matmul
