"""Test configuration: one torch thread (small fits run many times slower with two here).

Two shared data sets:

* ``toy_problem``: a core-only sparse-coding problem (ISTA on a LASSO,
  :class:`ToyISTA`, written against :mod:`skunfold.core` alone) with its data;
  the core's tests use it, so they run without any family;
* ``sparse_problem``: the sparse family's benchmark data (its tests use it).
"""

import functools
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

torch.set_num_threads(1)
try:
    torch.set_num_interop_threads(1)
except RuntimeError:  # already set by an earlier import
    pass

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from skunfold.core import Problem  # noqa: E402


def _native_repr_failure(item, excinfo):
    test_onwards = excinfo.traceback.cut(path=item.path)  # no pytest frames
    if test_onwards:
        excinfo.traceback = test_onwards
    return excinfo.getrepr(style="native")


def pytest_collection_modifyitems(items):
    """Expected failures (``xfail``) report a plain Python traceback, not pytest's own.

    pytest formats the traceback of every failing test, expected failures too, and
    its default style parses the whole source of each file on the traceback (with
    scikit-learn's 5000-line ``estimator_checks.py`` on every estimator check): 1.5 s
    per expected failure measured on a busy 2-core machine (``test_power_checks.py``,
    100 of them: 182 s, 32 s without), for a traceback nobody reads (an xfailed test
    shows only its reason). The native style reads the lines alone; a
    test marked ``xfail`` that fails otherwise (another exception than ``raises=``,
    a false condition) still shows its full traceback, in that style.
    """
    for item in items:
        if isinstance(item, pytest.Function) and item.get_closest_marker("xfail"):
            item.repr_failure = functools.partial(_native_repr_failure, item)


class ToyISTA(Problem):
    """ISTA on ``1/2 ||x - s D||^2 + lam ||s||_1``: a core-only unfolding test bed.

    ``D`` (``n_components x n_measurements``) is the objective parameter (the
    ``"objective"`` paradigm learns a copy per layer); ``step`` (``1/L``) and
    ``threshold`` (``lam/L``) are the hyperparameters.
    """

    def __init__(self, D, lam=0.1):
        self.D = torch.tensor(np.array(D), dtype=torch.float32)
        self.lam = lam
        L = float(torch.linalg.matrix_norm(self.D.double(), ord=2) ** 2)
        self.lipschitz = L
        self.hyperparameters = {"step": 1.0 / L, "threshold": lam / L}
        self.objective_parameters = {"D": self.D}

    def initial_state(self, x):
        return x.new_zeros(x.shape[0], self.D.shape[0])

    def step(self, s, x, step, threshold, D):
        z = s - step * (s @ D - x) @ D.T
        return torch.sign(z) * torch.relu(z.abs() - threshold)

    def objective(self, s, x):
        return 0.5 * ((x - s @ self.D) ** 2).sum(dim=1) + self.lam * s.abs().sum(dim=1)


def make_toy_data(n_samples, D, sparsity=0.1, random_state=0):
    """``(X, S)``: Bernoulli-Gaussian codes ``S`` and their noiseless measurements ``X = S D``."""
    rng = np.random.default_rng(random_state)
    S = rng.normal(size=(n_samples, D.shape[0])) * (rng.random((n_samples, D.shape[0]))
                                                    < sparsity)
    return S @ D, S


def make_toy_dictionary(n_measurements=20, n_components=40, random_state=0):
    """A Gaussian dictionary with unit-norm atoms (rows), ``n_components x n_measurements``."""
    D = np.random.default_rng(random_state).normal(size=(n_components, n_measurements))
    return D / np.linalg.norm(D, axis=1, keepdims=True)


@pytest.fixture(scope="session")
def toy_problem():
    """A small noiseless sparse-coding problem (m=20, n=40, p=0.1) for the core's tests.

    Returns a dict with ``X``, ``S`` (training, 400 samples), ``X_test``,
    ``S_test`` (200 held-out samples), the dictionary ``D`` and ``problem``, a
    factory of fresh :class:`ToyISTA` problems (``problem(lam=0.1)``). Only
    :mod:`skunfold.core`, numpy and torch are involved. Tests must not modify
    the arrays.
    """
    D = make_toy_dictionary()
    X, S = make_toy_data(400, D, random_state=0)
    X_test, S_test = make_toy_data(200, D, random_state=1)
    for arr in (X, S, D, X_test, S_test):
        arr.flags.writeable = False

    def problem(lam=0.1):
        return ToyISTA(D, lam)

    return {"X": X, "S": S, "D": D, "X_test": X_test, "S_test": S_test, "problem": problem}


@pytest.fixture(scope="session")
def sparse_problem():
    """A small noiseless sparse-recovery problem (m=20, n=40, p=0.1), train and test sets.

    Returns a dict with ``X``, ``S`` (training, 400 samples), ``X_test``,
    ``S_test`` (200 held-out samples drawn with the same dictionary) and ``D``.
    Tests must not modify the arrays.
    """
    from skunfold.datasets import make_sparse_recovery

    X, S, D = make_sparse_recovery(n_samples=400, n_measurements=20, n_components=40,
                                   sparsity=0.1, random_state=0)
    X_test, S_test, _ = make_sparse_recovery(n_samples=200, n_measurements=20, n_components=40,
                                             sparsity=0.1, dictionary=D, random_state=1)
    for arr in (X, S, D, X_test, S_test):
        arr.flags.writeable = False
    return {"X": X, "S": S, "D": D, "X_test": X_test, "S_test": S_test}


@pytest.fixture(scope="session")
def patch_problem():
    """Real data: noisy 8x8 patches of scikit-learn's "china" image and a learned dictionary.

    The dictionary (128 atoms, 2x over-complete, mutual coherence about 0.72)
    is learned by scikit-learn's ``MiniBatchDictionaryLearning`` on other
    clean patches; noise 0.1 on pixels in [0, 1]. Returns a dict with ``X``
    (800 noisy training patches, means removed), ``X_clean``, ``S`` (their
    ``lasso_cd`` codes at ``alpha``, the targets of a supervised fit),
    ``X_test``, ``X_test_clean`` (400 held-out patches), ``D`` and ``alpha``
    (0.2). The figure is ``skunfold.metrics.psnr(X_test_clean, S @ D)``.
    Tests must not modify the arrays.
    """
    import warnings

    from sklearn.decomposition import SparseCoder

    from skunfold.datasets import make_patch_denoising

    alpha = 0.2
    X, X_clean, D = make_patch_denoising("china", n_samples=1200, n_dictionary_samples=1500,
                                         random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lasso_cd's convergence warnings on a few patches
        S = SparseCoder(D, transform_algorithm="lasso_cd",
                        transform_alpha=alpha).transform(X[:800])
    out = {"X": X[:800], "X_clean": X_clean[:800], "S": S, "X_test": X[800:],
           "X_test_clean": X_clean[800:], "D": D}
    for arr in out.values():
        arr.flags.writeable = False
    out["alpha"] = alpha
    return out
