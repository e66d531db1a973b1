"""Test configuration: one torch thread (small fits run many times slower with two here)."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

torch.set_num_threads(1)
try:
    torch.set_num_interop_threads(1)
except RuntimeError:  # already set by an earlier import
    pass

import pytest  # noqa: E402


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
