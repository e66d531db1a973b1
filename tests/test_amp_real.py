"""AMP and LAMP on dictionaries that are not i.i.d. Gaussian: detection, warning and damping."""

import warnings

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal

from skunfold.datasets import make_sparse_recovery
from skunfold.metrics import nmse_db, psnr
from skunfold.sparse import AMP, FISTA, AMPProblem, UnfoldedAMP, amp_state_evolution
from skunfold.sparse.amp import NonGaussianDictionaryWarning, gaussian_ensemble_statistics


def run_problem(problem, X, n_layers):
    """Every iterate of the classical AMP of ``problem`` on ``X`` (float64)."""
    x = torch.from_numpy(np.array(X, dtype=np.float64))
    state, out = problem.initial_state(x), []
    for _ in range(n_layers):
        state = problem.step(state, x, **problem.objective_parameters, **problem.hyperparameters)
        out.append(problem.readout(state).numpy())
    return out


# -- detection ------------------------------------------------------------------------------

@pytest.mark.parametrize("m, n", [(20, 40), (50, 100), (250, 500), (40, 20), (30, 30)])
def test_gaussian_dictionaries_pass_and_are_not_damped(m, n):
    for seed in range(4):
        _, _, D = make_sparse_recovery(2, m, n, random_state=seed)
        unnormalised = np.random.default_rng(seed).normal(0, 1 / np.sqrt(m), size=(n, m))
        for dictionary in (D, unnormalised, 10 * D):
            stats = gaussian_ensemble_statistics(dictionary)
            assert stats["gaussian"], (m, n, seed, stats)
            assert stats["damping"] == 1.0
            with warnings.catch_warnings():
                warnings.simplefilter("error", NonGaussianDictionaryWarning)
                assert AMPProblem(dictionary).damping_factor == 1.0


@pytest.mark.parametrize("kappa", [5, 50])
@pytest.mark.parametrize("m, n", [(20, 40), (50, 100), (250, 500)])
def test_ill_conditioned_dictionaries_are_flagged(m, n, kappa):
    X, _, D = make_sparse_recovery(20, m, n, condition_number=kappa, random_state=0)
    stats = gaussian_ensemble_statistics(D)
    if kappa == 5 and m == 20:
        # kappa = 5 is within the Gaussian ensemble's fluctuations at 40 atoms (gram ratio
        # 1.25, limit 1.30); from 100 atoms on it is flagged
        assert stats["gaussian"]
        return
    assert not stats["gaussian"] and stats["damping"] < 1.0
    with pytest.warns(NonGaussianDictionaryWarning, match="state evolution does not hold"):
        AMP(D, n_layers=3).fit(X)


def test_learned_patch_dictionary_is_flagged(patch_problem):
    D = patch_problem["D"]
    stats = gaussian_ensemble_statistics(D)
    # measured: spectral ratio 2.39 (limit 1.43), gram ratio 2.15 (limit 1.15), damping 0.42
    assert stats["spectral_ratio"] > 2.0 and stats["gram_ratio"] > 2.0
    assert 0.35 < stats["damping"] < 0.5
    with pytest.warns(NonGaussianDictionaryWarning, match="FISTA, LISTA") as record:
        AMP(D, n_layers=2).fit(patch_problem["X_test"])
    assert "damped by 0.42" in str(record[0].message)
    with pytest.warns(NonGaussianDictionaryWarning, match="damping=0.5"):
        AMPProblem(D, damping=0.5)


# -- damping on the real patches ----------------------------------------------------------

def test_amp_on_learned_dictionary_is_damped_and_close_to_fista(patch_problem):
    X, clean, D, alpha = (patch_problem[k] for k in ("X_test", "X_test_clean", "D", "alpha"))
    K = 10
    with pytest.warns(NonGaussianDictionaryWarning):
        staged = list(AMP(D, n_layers=K).fit(X).staged_predict(X))
    fista = psnr(clean, FISTA(D, n_layers=K, alpha=alpha).fit(X).predict(X) @ D)
    amp = psnr(clean, staged[-1] @ D)
    # measured: AMP (damped by 0.42) 23.4 dB, FISTA 24.45 dB, the noisy patches 20.0 dB
    assert all(np.isfinite(s).all() for s in staged)
    assert amp > fista - 1.5 and amp > psnr(clean, X) + 2.5, (amp, fista)
    # undamped AMP diverges there: -141.7 dB at K = 10 (about -17 dB per iteration)
    with pytest.warns(NonGaussianDictionaryWarning):
        undamped = run_problem(AMPProblem(D, damping=1.0), X, K)
    assert psnr(clean, undamped[-1] @ D) < 0


def test_lamp_on_learned_dictionary_trains_from_damped_amp(patch_problem):
    X, S, D = patch_problem["X"], patch_problem["S"], patch_problem["D"]
    Xt, clean, alpha = (patch_problem[k] for k in ("X_test", "X_test_clean", "alpha"))
    K = 10
    with pytest.warns(NonGaussianDictionaryWarning):
        untrained = UnfoldedAMP(D, n_layers=K, max_epochs=0, device="cpu").fit(X, S)
        amp = AMP(D, n_layers=K).fit(Xt).predict(Xt)
        lamp = UnfoldedAMP(D, n_layers=K, max_epochs=6, random_state=0, device="cpu").fit(X, S)
    assert untrained.problem_.damping_factor == pytest.approx(0.418, abs=0.001)
    # float32 network against the float64 solver
    assert abs(psnr(clean, untrained.predict(Xt) @ D) - psnr(clean, amp @ D)) < 0.01
    fista = psnr(clean, FISTA(D, n_layers=K, alpha=alpha).fit(Xt).predict(Xt) @ D)
    trained = psnr(clean, lamp.predict(Xt) @ D)
    # measured: LAMP (objective paradigm, 6 epochs) 24.2 dB, AMP 23.4, FISTA 24.45 (the
    # undamped default gave -150 dB)
    assert trained > psnr(clean, amp @ D) + 0.4 and trained > fista - 0.6, (trained, fista)


def test_damping_keeps_the_fixed_point():
    """Damped AMP converges to the fixed point of AMP (on a Gaussian dictionary)."""
    X, S, D = make_sparse_recovery(20, 50, 100, snr_db=40, random_state=0)
    plain = run_problem(AMPProblem(D), X, 400)[-1]
    damped = run_problem(AMPProblem(D, damping=0.5), X, 1000)[-1]
    # measured: 4e-6 apart (AMP itself still moves by 2e-3 between iterations 200 and 400)
    assert_allclose(damped, plain, atol=1e-4)
    assert abs(nmse_db(S, damped) - nmse_db(S, plain)) < 1e-3


def test_auto_damping_is_exact_amp_on_gaussian_dictionaries():
    X, S, D = make_sparse_recovery(50, 50, 100, snr_db=40, random_state=0)
    for a, b in zip(run_problem(AMPProblem(D), X, 8), run_problem(AMPProblem(D, damping=1.0), X, 8),
                    strict=True):
        assert_array_equal(a, b)
    # and AMP on that dictionary still follows state evolution's first iterations
    X, S, D = make_sparse_recovery(60, 500, 1000, snr_db=40, random_state=0)
    measured = [nmse_db(S, s) for s in AMP(D, n_layers=5).fit(X).staged_predict(X)]
    assert_allclose(measured, amp_state_evolution(5), atol=1.0)


def test_state_evolution_figures_unchanged():
    assert_allclose(amp_state_evolution(5), [-3.5, -6.4, -9.0, -11.4, -13.6], atol=0.05)
    assert amp_state_evolution(30, denoiser="bg")[-1] == pytest.approx(-45.6, abs=0.05)


def test_transfer_keeps_the_damping(patch_problem):
    X, D = patch_problem["X_test"][:20], patch_problem["D"]
    _, _, gauss = make_sparse_recovery(2, 64, 128, random_state=0)
    problem = AMPProblem(gauss, damping=0.5)
    with pytest.warns(NonGaussianDictionaryWarning):
        moved = problem.with_dictionary(D)
    assert moved.damping == 0.5 and moved.damping_factor == 0.5
    auto = AMPProblem(gauss).with_dictionary(gauss)
    assert auto.damping == "auto" and auto.damping_factor == 1.0
    assert np.isfinite(run_problem(moved, X, 5)[-1]).all()


@pytest.mark.parametrize("damping", [0.0, 1.5, -0.1, "none", True, float("nan")])
def test_bad_damping(damping):
    _, _, D = make_sparse_recovery(2, 20, 40, random_state=0)
    with pytest.raises(ValueError, match="damping must be 'auto' or a number in"):
        AMPProblem(D, damping=damping)
