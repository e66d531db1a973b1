"""HyperLISTA, AMP / LAMP and UnfoldedISTA(paradigm="objective") on matrix-free dictionaries.

An operator maps codes to observations (it plays H = dictionary.T); none is ever copied
densely: ``NoDenseCopy`` (a SciPy LinearOperator) and ``WatchedBlur`` (a
skunfold.imaging Blur) fail a product with an identity's worth of vectors at once, or
with a few unit vectors (a column-by-column copy).
"""

import warnings

import numpy as np
import pytest
import scipy.sparse
import torch
from numpy.testing import assert_allclose
from scipy.sparse.linalg import LinearOperator, aslinearoperator

from skunfold.datasets import make_sparse_recovery
from skunfold.imaging import MRI, Blur
from skunfold.metrics import nmse_db
from skunfold.sparse import (
    AMP,
    FISTA,
    ISTA,
    HyperLISTA,
    NonGaussianDictionaryWarning,
    UnfoldedAMP,
    UnfoldedISTA,
    gaussian_ensemble_statistics,
)
from skunfold.sparse.amp import mean_atom_energy
from skunfold.sparse.hyperlista import MatrixFreeWeightsWarning, OperatorHyperLISTAProblem
from skunfold.sparse.iterations import PreconditionedLayer

pytestmark = [pytest.mark.filterwarnings("ignore::skunfold.core.WorseThanClassicalWarning"),
              pytest.mark.filterwarnings("ignore::skunfold.sparse.NonGaussianDictionaryWarning"),
              pytest.mark.filterwarnings(
                  "ignore::skunfold.sparse.hyperlista.MatrixFreeWeightsWarning")]


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _unit_vectors(X):
    """The number of columns of ``X`` that are unit vectors (one entry, equal to 1)."""
    X = np.asarray(X).reshape(X.shape[0], -1)
    return int(np.sum((np.count_nonzero(X, axis=0) == 1) & (X.max(axis=0) == 1.0)))


class NoDenseCopy(LinearOperator):
    """The operator of a dense matrix that refuses to be copied densely.

    A fourth unit vector in its products (a copy at once, ``matmat`` of an identity, or
    column by column), ``todense`` and ``toarray`` fail; ``widest`` is the largest number
    of vectors of one product.
    """

    def __init__(self, A):
        super().__init__(np.float64, A.shape)
        self.A = np.asarray(A, dtype=np.float64)
        self.widest = self.units = 0

    def _watch(self, X):
        X = np.asarray(X).reshape(len(X), -1)
        self.widest = max(self.widest, X.shape[1])
        self.units += _unit_vectors(X)
        if self.units > 3:
            raise AssertionError(f"dense copy: {self.units} unit vectors so far")

    def _matvec(self, x):
        self._watch(x)
        return self.A @ np.ravel(x)

    def _rmatvec(self, y):
        self._watch(y)
        return self.A.T @ np.ravel(y)

    def _matmat(self, X):
        self._watch(X)
        return self.A @ X

    def _rmatmat(self, Y):
        self._watch(Y)
        return self.A.T @ Y

    def todense(self):
        raise AssertionError("dense copy: todense")

    toarray = todense


class WatchedBlur(Blur):
    """A :class:`~skunfold.imaging.Blur` that fails a batch of as many images as pixels."""

    widest = 0

    def _watch(self, x):
        self.widest = max(self.widest, x.shape[0])
        if x.shape[0] >= self.shape[1] or _unit_vectors(x.detach().numpy().T) > 3:
            raise AssertionError(f"dense copy: a batch of {x.shape[0]} images")

    def _torch_forward(self, x):
        self._watch(x)
        return super()._torch_forward(x)

    def _torch_adjoint(self, y):
        self._watch(y)
        return super()._torch_adjoint(y)


@pytest.fixture(scope="module")
def gaussian():
    """A 64 x 128 Gaussian problem (unit atoms): 100 training and 60 held-out samples."""
    X, S, D = make_sparse_recovery(n_samples=160, n_measurements=64, n_components=128,
                                   snr_db=40, random_state=0)
    return X[:100], S[:100], X[100:], S[100:], D


def _spikes(operator, n, seed, density=0.04):
    rng = np.random.RandomState(seed)
    size = operator.shape[1]
    S = (rng.rand(n, size) < density) * (1.0 + rng.rand(n, size))
    X = operator.forward(torch.from_numpy(S)).numpy()
    return X + 0.005 * rng.standard_normal(X.shape), S


@pytest.fixture(scope="module")
def blurred():
    """Spike images (12 x 12) blurred by a Gaussian of width 1: 120 training, 60 held out."""
    blur = Blur((12, 12), sigma=1.0)
    return (*_spikes(blur, 120, 0), *_spikes(blur, 60, 1))


# -- AMP and LAMP ------------------------------------------------------------------------------

def test_amp_on_operators_is_amp(gaussian):
    X, S, _, _, D = gaussian
    dense = AMP(D, n_layers=15).fit(X).predict(X)
    assert nmse_db(S, dense) < -15
    op = NoDenseCopy(D.T)
    for dictionary in (op, scipy.sparse.csr_matrix(D), aslinearoperator(D.T)):
        amp = AMP(dictionary, n_layers=15).fit(X)
        assert amp.dictionary_ is dictionary
        assert amp.problem_.damping_factor == 1.0 and amp.problem_.code_scale == 1.0
        assert_allclose(amp.predict(X), dense, atol=1e-9)
    assert op.widest <= len(X)
    # the probes' ensemble statistics agree with the exact ones (a few percent)
    exact, probed = gaussian_ensemble_statistics(D), gaussian_ensemble_statistics(op)
    assert probed["gaussian"] and exact["gaussian"]
    assert probed["spectral_ratio"] == pytest.approx(exact["spectral_ratio"], rel=0.1)
    assert probed["gram_ratio"] == pytest.approx(exact["gram_ratio"], rel=0.1)
    assert mean_atom_energy(op) == pytest.approx(mean_atom_energy(D), rel=0.1)
    assert mean_atom_energy(scipy.sparse.csr_matrix(D)) == pytest.approx(mean_atom_energy(D))


def test_amp_on_a_blur_is_damped_and_no_worse_than_ista():
    blur = WatchedBlur((16, 16), sigma=1.0)
    X, S = _spikes(blur, 60, 0, density=0.03)
    with pytest.warns(NonGaussianDictionaryWarning, match="damped"):
        amp = AMP(blur, n_layers=16).fit(X)
    assert 0.0 < amp.problem_.damping_factor < 0.5      # a blur's atoms are coherent
    amp_db = nmse_db(S, amp.predict(X))
    ista_db = nmse_db(S, ISTA(blur, n_layers=16, alpha=0.01).fit(X).predict(X))
    print(f"blur 16x16, K=16: AMP {amp_db:.2f} dB, ISTA {ista_db:.2f} dB")
    assert amp_db < ista_db and amp_db < -2.0
    assert blur.widest <= len(X)


def test_lamp_on_an_operator(gaussian):
    X, S, X_test, S_test, D = gaussian
    op = NoDenseCopy(D.T)
    kwargs = dict(n_layers=6, max_epochs=3, batch_size=25, random_state=0)
    dense = UnfoldedAMP(D, paradigm="hyperparameters", **kwargs).fit(X, S)
    free = UnfoldedAMP(op, paradigm="hyperparameters", **kwargs).fit(X, S)
    assert_allclose(free.predict(X_test), dense.predict(X_test), atol=1e-5)
    # LAMP's learned B_t = P_t A^T: a diagonal P_t, no matrix
    lamp = UnfoldedAMP(op, paradigm="objective", **{**kwargs, "max_epochs": 8}).fit(X, S)
    P = lamp.module_.iteration(0).matrix.weight
    assert P.shape == (128,)
    amp_db = nmse_db(S_test, AMP(op, n_layers=6).fit(X).predict(X_test))
    lamp_db = nmse_db(S_test, lamp.predict(X_test))
    print(f"Gaussian 64x128, K=6: AMP {amp_db:.2f} dB, LAMP (diagonal) {lamp_db:.2f} dB")
    assert lamp_db < amp_db - 0.5
    assert op.widest <= len(X)


# -- HyperLISTA ----------------------------------------------------------------------------------

def test_hyperlista_on_operators(gaussian):
    X, S, X_test, S_test, D = gaussian
    op = NoDenseCopy(D.T)
    with pytest.warns(MatrixFreeWeightsWarning, match="analytic weights"):
        hyper = HyperLISTA(op, n_layers=16, c_threshold=0.03).fit(X, S)
    assert isinstance(hyper.problem_, OperatorHyperLISTAProblem)
    ista_db = nmse_db(S_test, ISTA(op, n_layers=16).fit(X).predict(X_test))
    hyper_db = nmse_db(S_test, hyper.predict(X_test))
    print(f"Gaussian 64x128, K=16: ISTA {ista_db:.2f} dB, matrix-free HyperLISTA "
          f"{hyper_db:.2f} dB")
    assert hyper_db < ista_db - 3.0
    assert hyper.comparison_["trained"] < hyper.comparison_["classical"]
    # the safeguard's classical map runs through the operator too
    guarded = HyperLISTA(op, n_layers=16, c_threshold=0.03, safeguard=True).fit(X, S)
    assert nmse_db(S_test, guarded.predict(X_test)) < ista_db - 3.0
    # transfer: a model fitted on the dense dictionary runs on the operator
    dense = HyperLISTA(D, n_layers=16, c_threshold=0.03).fit(X, S)
    moved = dense.predict(X_test, dictionary=op)
    assert_allclose(moved, hyper.predict(X_test), atol=1e-10)
    assert op.widest <= len(X)


def test_hyperlista_on_a_blur_with_its_default_constants():
    blur = WatchedBlur((16, 16), sigma=1.0)
    X, S = _spikes(blur, 60, 0, density=0.03)
    hyper = HyperLISTA(blur, n_layers=16, alpha=0.01).fit(X, S)
    hyper_db = nmse_db(S, hyper.predict(X))
    ista_db = nmse_db(S, ISTA(blur, n_layers=16, alpha=0.01).fit(X).predict(X))
    fista_db = nmse_db(S, FISTA(blur, n_layers=16, alpha=0.01).fit(X).predict(X))
    print(f"blur 16x16, K=16: ISTA {ista_db:.2f}, FISTA {fista_db:.2f}, "
          f"HyperLISTA {hyper_db:.2f} dB")
    assert hyper_db < fista_db - 1.0
    assert blur.widest <= len(X)


# -- UnfoldedISTA's objective paradigm, matrix-free ------------------------------------------

def test_objective_paradigm_learns_a_filter_on_a_blur(blurred):
    X, S, X_test, S_test = blurred
    blur = WatchedBlur((12, 12), sigma=1.0)
    kwargs = dict(n_layers=6, alpha=0.01, max_epochs=10, batch_size=20, random_state=0)
    untrained = UnfoldedISTA(blur, paradigm="objective", **{**kwargs, "max_epochs": 0})
    ista = ISTA(blur, n_layers=6, alpha=0.01).fit(X)
    # untrained: ISTA (up to the float32 storage of the learned scalars, as "hyperparameters")
    assert_allclose(untrained.fit(X, S).predict(X_test), ista.predict(X_test), atol=1e-6)
    est = UnfoldedISTA(blur, paradigm="objective", **kwargs).fit(X, S)
    layer = est.module_.iteration(0)
    assert isinstance(layer, PreconditionedLayer)
    assert tuple(layer.preconditioner.weight.shape) == (5, 5)
    assert set(est.layer_parameters_) >= {"layer", "step", "threshold"}
    hyper = UnfoldedISTA(blur, paradigm="hyperparameters", **kwargs).fit(X, S)
    ista_db = nmse_db(S_test, ista.predict(X_test))
    hyper_db = nmse_db(S_test, hyper.predict(X_test))
    objective_db = nmse_db(S_test, est.predict(X_test))
    print(f"blur 12x12, K=6, held out: ISTA {ista_db:.2f}, hyperparameters {hyper_db:.2f}, "
          f"objective (5x5 filters) {objective_db:.2f} dB")
    assert objective_db < hyper_db - 1.0 and objective_db < ista_db - 2.5
    assert est.predict(X_test.astype(np.float32)).dtype == np.float32
    assert blur.widest <= len(X)


def test_objective_paradigm_learns_a_diagonal_on_a_linear_operator(gaussian):
    X, S, X_test, S_test, D = gaussian
    op = NoDenseCopy(D.T)
    est = UnfoldedISTA(op, n_layers=6, paradigm="objective", alpha=0.05, max_epochs=15,
                       batch_size=20, momentum=True, tied=True, random_state=0).fit(X, S)
    layer = est.module_.iteration(0)
    assert layer is est.module_.iteration(5)                      # tied: one layer
    assert tuple(layer.preconditioner.weight.shape) == (128,)
    assert not np.allclose(layer.preconditioner.weight.detach().numpy(), 1.0)
    ista_db = nmse_db(S_test, ISTA(op, n_layers=6, alpha=0.05).fit(X).predict(X_test))
    objective_db = nmse_db(S_test, est.predict(X_test))
    print(f"Gaussian 64x128, K=6, held out: ISTA {ista_db:.2f}, objective (diagonal) "
          f"{objective_db:.2f} dB")
    assert objective_db < ista_db - 3.0
    assert op.widest <= len(X)


def test_pylops_operators(gaussian):
    pylops = pytest.importorskip("pylops")
    X, S, X_test, S_test, D = gaussian
    op = pylops.MatrixMult(D.T)
    assert_allclose(AMP(op, n_layers=15).fit(X).predict(X), AMP(D, n_layers=15).fit(X).predict(X),
                    atol=1e-9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MatrixFreeWeightsWarning)
        hyper = HyperLISTA(op, n_layers=16, c_threshold=0.03).fit(X, S)
    ista_db = nmse_db(S_test, ISTA(op, n_layers=16).fit(X).predict(X_test))
    assert nmse_db(S_test, hyper.predict(X_test)) < ista_db - 3.0
    est = UnfoldedISTA(op, n_layers=4, paradigm="objective", alpha=0.05, max_epochs=3,
                       batch_size=25, random_state=0).fit(X, S)  # through the autograd bridge
    assert np.all(np.isfinite(est.predict(X_test)))
    assert tuple(est.module_.iteration(0).preconditioner.weight.shape) == (128,)


def test_clear_errors(gaussian):
    X, S, _, _, D = gaussian
    mask = np.zeros((8, 8), dtype=bool)
    mask[:, :4] = True
    mri = MRI((8, 8), mask)
    Xc = np.ones((3, mri.shape[0]))
    for cls in (AMP, HyperLISTA):
        with pytest.raises(ValueError, match="complex"):
            cls(mri).fit(Xc)
    with pytest.raises(ValueError, match="weights='analytic' needs the dictionary as a dense"):
        UnfoldedISTA(aslinearoperator(D.T), n_layers=2, paradigm="objective", coupling="cp",
                     init="alista", max_epochs=1).fit(X, S)
