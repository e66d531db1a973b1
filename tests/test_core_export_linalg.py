"""skunfold.core.export_linalg: the written-out linear algebra of exported graphs."""

import numpy as np
import pytest
import torch

from skunfold.core import export_linalg


def _psd(q, batch, dtype, seed, scale=1.0):
    gen = torch.Generator().manual_seed(seed)
    A = torch.randn(batch, q + 3, q, generator=gen, dtype=torch.float64)
    return (scale * A.mT @ A).to(dtype)


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-10), (torch.float32, 2e-3)])
def test_leading_eigenvectors_are_lapacks(dtype, tol):
    C = _psd(12, 50, dtype, 0)
    values, vectors = torch.linalg.eigh(C.double())
    V = export_linalg.leading_eigenvectors(C, 4).double()
    assert V.shape == (50, 12, 4)
    want = vectors[..., -4:].flip(-1)
    # the same vectors up to sign where the eigenvalues are apart (Gaussian Gram matrices: are)
    ratios = (values[:, -5:-1] / values[:, -4:]).flip(-1)
    assert float(ratios.max()) < 0.999   # 0.999 ** 2 ** 16 = 4e-29
    np.testing.assert_allclose((V * want).sum(-2).abs().numpy(), 1.0, atol=tol)
    np.testing.assert_allclose((V.mT @ V).numpy(), np.broadcast_to(np.eye(4), (50, 4, 4)),
                               atol=tol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_leading_eigenvectors_neither_overflow_nor_vanish(dtype):
    # entries from 1e-20 to 1e20 times a Gram matrix of side 64: the squarings stay finite
    for scale in (1e-20, 1.0, 1e20):
        C = _psd(64, 3, torch.float64, 1, scale).to(dtype)
        V = export_linalg.leading_eigenvectors(C, 2)
        assert bool(torch.isfinite(V).all())
        np.testing.assert_allclose(torch.linalg.vector_norm(V, dim=-2).numpy(), 1.0, rtol=1e-5)
    zero = export_linalg.leading_eigenvectors(torch.zeros(2, 5, 5, dtype=dtype), 2)
    assert bool(torch.isfinite(zero).all())
    assert export_linalg.leading_eigenvectors(C, 0).shape == (3, 64, 0)


def test_partner_finds_the_complex_eigenvectors_of_an_embedding():
    gen = torch.Generator().manual_seed(2)
    A = torch.randn(4, 9, 6, generator=gen, dtype=torch.complex128)
    C = A.mH @ A
    E = torch.cat([torch.cat([C.real, -C.imag], -1), torch.cat([C.imag, C.real], -1)], -2)
    eye, zero = np.eye(6), np.zeros((6, 6))
    turn = torch.as_tensor(np.block([[zero, -eye], [eye, zero]]))
    V = export_linalg.leading_eigenvectors(E, 3, partner=turn)
    assert V.shape == (4, 12, 6)
    v = torch.complex(V[..., :6, 0::2], V[..., 6:, 0::2])        # (4, 6, 3) complex
    values = torch.linalg.eigvalsh(C)[:, -3:].flip(-1)
    np.testing.assert_allclose((C @ v).numpy(), (v * values.unsqueeze(-2)).numpy(), atol=1e-9)


def test_gauss_jordan_solve_pivots():
    gen = torch.Generator().manual_seed(3)
    A = torch.randn(10, 5, 5, generator=gen, dtype=torch.float64)
    A[:, 0, 0] = 0.0   # a zero first pivot: needs a row swap
    B = torch.randn(10, 5, 2, generator=gen, dtype=torch.float64)
    np.testing.assert_allclose(export_linalg.gauss_jordan_solve(A, B).numpy(),
                               torch.linalg.solve(A, B).numpy(), atol=1e-10)


def test_leading_eigenvectors_export_without_loops():
    class Top(torch.nn.Module):
        def forward(self, C):
            return export_linalg.leading_eigenvectors(C, 2)

    C = _psd(6, 2, torch.float32, 4)
    program = torch.export.export(Top(), (C,), strict=False)
    targets = {str(node.target) for node in program.graph.nodes}
    assert not any("while_loop" in t for t in targets)
    np.testing.assert_allclose(program.module()(C).numpy(), Top()(C).numpy(), atol=1e-6)
