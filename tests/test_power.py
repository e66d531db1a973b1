"""Power allocation: the data, the sum rate, WMMSE and the unfolded WMMSE (UWMMSE).

What is checked, with real figures: the generator follows the paper's
geometry and the documented layout; ``sum_rate`` agrees with ``score`` and
the training objective; WMMSE is the textbook iteration (against an
independent numpy transcription) and never lowers the sum rate; every
paradigm, untrained, is WMMSE layer by layer; trained models beat WMMSE at
equal depth on held-out channels; UWMMSE is permutation equivariant and
runs on networks of other sizes; every output satisfies the power
constraint; bad input gets clear errors.
"""

import pickle

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.model_selection import GridSearchCV

from skunfold.core import Optimizer
from skunfold.datasets import make_interference_network
from skunfold.metrics import sum_rate
from skunfold.power import (
    DEFAULT_NOISE_VAR,
    WMMSE,
    GraphConvolutionPair,
    PowerAllocation,
    UnfoldedWMMSE,
    UWMMSELayer,
    power_layers,
    shift_scale,
)

M = 8
PARADIGMS = ("classical", "hyperparameters", "correction")


@pytest.fixture(scope="module")
def channels():
    """Training and held-out channels of one 8-pair topology, and a second topology."""
    H, geometry = make_interference_network(1200, M, topology_random_state=0, random_state=0)
    H_test, _ = make_interference_network(600, M, topology_random_state=0, random_state=1)
    H_other, _ = make_interference_network(50, M, topology_random_state=1, random_state=2)
    for arr in (H, H_test, H_other):
        arr.flags.writeable = False
    return {"H": H, "H_test": H_test, "H_other": H_other, "geometry": geometry}


@pytest.fixture(scope="module")
def trained(channels):
    """UWMMSE (2 layers) and the per-layer scalars model, briefly trained."""
    common = dict(n_layers=2, max_epochs=6,
                  optimizer=Optimizer(lr_schedule="cosine", max_grad_norm=5.0), random_state=0,
                  device="cpu", n_threads=1)
    return {p: UnfoldedWMMSE(paradigm=p, **common).fit(channels["H"])
            for p in ("correction", "hyperparameters")}


def wmmse_reference(H, n_iter, noise_var, p_max=1.0):
    """The scalar WMMSE iteration as written in the paper (numpy, float64)."""
    H = np.asarray(H, dtype=np.float64)
    d = np.einsum("bii->bi", H)
    G = H ** 2
    v = np.full(H.shape[:2], np.sqrt(p_max))
    for _ in range(n_iter):
        u = d * v / (noise_var + np.einsum("bji,bj->bi", G, v ** 2))
        w = 1.0 / (1.0 - u * d * v)
        v = np.clip(d * u * w / np.einsum("bij,bj->bi", G, u ** 2 * w), 0.0, np.sqrt(p_max))
    return v ** 2


# -- the data --------------------------------------------------------------------------------

def test_generator_geometry_and_layout():
    H, g = make_interference_network(400, 20, topology_random_state=3, random_state=0)
    assert H.shape == (400, 20, 20) and H.dtype == np.float64
    assert g.transmitters.shape == g.receivers.shape == (20, 2)
    # transmitters uniform in [-M, M]^2, receivers within M/4 per coordinate
    assert np.abs(g.transmitters).max() <= 20 and g.area_side == 40
    assert np.abs(g.receivers - g.transmitters).max() <= 5
    # distances[j, i] = ||tx_j - rx_i||, path gain d^-2.2, amplitudes = Rayleigh x path gain
    j, i = 3, 7
    assert g.distances[j, i] == pytest.approx(np.linalg.norm(g.transmitters[j] - g.receivers[i]))
    assert_allclose(g.path_gain, g.distances ** -2.2)
    fading = H / g.path_gain
    assert np.all(fading > 0)
    assert np.mean(fading ** 2) == pytest.approx(2.0, rel=0.02)  # Rayleigh(1): E[r^2] = 2
    # independent fading per sample and entry
    assert abs(np.corrcoef(fading[:, 0, 1], fading[:, 1, 0])[0, 1]) < 0.15


def test_generator_topology_is_fixed_per_data_set():
    H1, g1 = make_interference_network(5, 6, topology_random_state=0, random_state=0)
    H2, g2 = make_interference_network(7, 6, topology_random_state=0, random_state=1)
    H3, g3 = make_interference_network(5, 6, topology_random_state=1, random_state=0)
    assert_array_equal(g1.transmitters, g2.transmitters)
    assert_array_equal(g1.receivers, g2.receivers)
    assert not np.array_equal(g1.transmitters, g3.transmitters)
    assert not np.array_equal(H1, H2[:5])
    # one seed fixes everything when topology_random_state is None
    a, _ = make_interference_network(4, 5, random_state=9)
    b, _ = make_interference_network(4, 5, random_state=9)
    assert_array_equal(a, b)
    flat, g = make_interference_network(3, 5, fading="none", random_state=0)
    assert_allclose(flat, np.broadcast_to(g.path_gain, flat.shape))
    big, g = make_interference_network(2, 50, area_side=40 * np.sqrt(50 / 20),
                                       receiver_offset=5.0, random_state=0)
    assert np.abs(g.transmitters).max() <= 20 * np.sqrt(2.5)
    assert np.abs(g.receivers - g.transmitters).max() <= 5


@pytest.mark.parametrize("kwargs, name", [
    ({"n_samples": 0}, "n_samples"), ({"n_pairs": 1.5}, "n_pairs"),
    ({"area_side": -1.0}, "area_side"), ({"receiver_offset": 0.0}, "receiver_offset"),
    ({"path_loss_exponent": np.nan}, "path_loss_exponent"), ({"fading": "rician"}, "fading"),
])
def test_generator_rejects_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        make_interference_network(**kwargs)


# -- the sum rate ------------------------------------------------------------------------------

def test_sum_rate_layouts_agree_with_each_other_and_with_score(channels):
    H = channels["H_test"][:50]
    p = np.random.default_rng(0).uniform(0, 1, size=H.shape[:2])
    amplitude = sum_rate(H, p, DEFAULT_NOISE_VAR, gains="amplitude")
    power = sum_rate(np.swapaxes(H, 1, 2) ** 2, p, DEFAULT_NOISE_VAR)
    assert_allclose(amplitude, power, rtol=1e-13)
    # a direct transcription of the definition, link by link
    i = 3
    interference = sum(H[:, j, i] ** 2 * p[:, j] for j in range(M) if j != i)
    sinr = H[:, i, i] ** 2 * p[:, i] / (DEFAULT_NOISE_VAR + interference)
    per_link = sum_rate(H, p, DEFAULT_NOISE_VAR, gains="amplitude") - sum_rate(
        H, np.where(np.arange(M) == i, 0.0, p), DEFAULT_NOISE_VAR, gains="amplitude")
    assert np.all(per_link < np.log2(1 + sinr) + 1e-9)  # switching link i off helps others
    est = WMMSE(n_layers=3).fit(H)
    powers = est.predict(H)
    rates = sum_rate(H, powers, DEFAULT_NOISE_VAR, gains="amplitude")
    assert est.score(H) == pytest.approx(rates.mean(), rel=1e-12)
    assert_allclose(est.sum_rates(H), rates, rtol=1e-12)
    assert_allclose(est.sum_rates(H, p), amplitude, rtol=1e-12)
    # the training objective is the same function
    problem = PowerAllocation(noise_var=DEFAULT_NOISE_VAR)
    torch_rates = problem.objective(torch.tensor(p), torch.tensor(H)).numpy()
    assert_allclose(torch_rates, amplitude, rtol=1e-12)


def test_sum_rate_backward_compatible_layout_and_errors():
    # the original example: power gains, rows = receivers
    assert_allclose(sum_rate(np.eye(2)[None], np.ones((1, 2))), [2.0])
    G = np.array([[[4.0, 1.0], [0.0, 1.0]]])   # receiver 0 hears transmitter 1 with power 1
    assert_allclose(sum_rate(G, np.ones((1, 2))), [np.log2(3) + 1])
    with pytest.raises(ValueError, match="non-negative"):
        sum_rate(-G, np.ones((1, 2)))
    with pytest.raises(ValueError, match="shape"):
        sum_rate(np.ones((1, 2, 3)), np.ones((1, 2)))
    with pytest.raises(ValueError, match="noise_var"):
        sum_rate(G, np.ones((1, 2)), noise_var=0.0)
    with pytest.raises(ValueError, match="gains"):
        sum_rate(G, np.ones((1, 2)), gains="db")


# -- WMMSE -----------------------------------------------------------------------------------

def test_wmmse_is_the_textbook_iteration(channels):
    H = channels["H_test"][:100]
    for k in (1, 4, 30):
        expected = wmmse_reference(H, k, DEFAULT_NOISE_VAR)
        assert_allclose(WMMSE(n_layers=k).fit(H).predict(H), expected, rtol=1e-9, atol=1e-12)
    expected = wmmse_reference(H, 5, 1e-3, p_max=2.0)
    got = WMMSE(n_layers=5, noise_var=1e-3, p_max=2.0).fit(H).predict(H)
    assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


def test_wmmse_never_lowers_the_sum_rate(channels):
    H = channels["H_test"]
    est = WMMSE(n_layers=40).fit(H)
    previous = est.sum_rates(H, np.ones(H.shape[:2]))   # full power, the initial point
    for powers in est.staged_predict(H):
        rates = est.sum_rates(H, powers)
        assert np.all(rates >= previous - 1e-9 * np.abs(previous))
        previous = rates
    assert est.score(H) > WMMSE(n_layers=4).fit(H).score(H) > \
        sum_rate(H, np.ones(H.shape[:2]), DEFAULT_NOISE_VAR, gains="amplitude").mean()
    # any depth (the classical solver is one module)
    assert len(list(est.staged_predict(H[:5], n_layers=60))) == 60


# -- unfolded WMMSE --------------------------------------------------------------------------

@pytest.mark.parametrize("paradigm", PARADIGMS)
def test_untrained_is_wmmse_layer_by_layer(channels, paradigm):
    H = channels["H_test"][:200]
    wmmse = WMMSE(n_layers=4).fit(H)
    model = UnfoldedWMMSE(n_layers=4, paradigm=paradigm, max_epochs=0, random_state=0).fit(H)
    for k, (a, b) in enumerate(zip(wmmse.staged_predict(H), model.staged_predict(H))):
        assert_allclose(b, a, rtol=1e-12, atol=0, err_msg=f"layer {k + 1}")
    assert model.score(H) == pytest.approx(wmmse.score(H), rel=1e-12)


def test_trained_models_beat_wmmse_at_equal_depth(channels, trained):
    H_test = channels["H_test"]
    baseline = WMMSE(n_layers=2).fit(channels["H"]).score(H_test)
    deeper = WMMSE(n_layers=4).fit(channels["H"]).score(H_test)
    uwmmse = trained["correction"].score(H_test)
    scalars = trained["hyperparameters"].score(H_test)
    # held-out channels of the training topology (measured: 38.0 for WMMSE-2, 41.9 for
    # UWMMSE-2, 40.2 for the scalars, 39.5 for WMMSE-4 after 114 Adam steps)
    assert uwmmse > baseline * 1.05, (uwmmse, baseline)
    assert scalars > baseline * 1.03, (scalars, baseline)
    assert uwmmse > deeper, (uwmmse, deeper)   # 2 UWMMSE layers beat 4 WMMSE iterations
    # the training curve: the mean sum rate went up
    losses = trained["correction"].history_[:, "train_loss"]
    assert -losses[-1] > -losses[0]
    # a correction layer has 2 x 26 GNN weights and mu
    assert sum(p.numel() for p in trained["correction"].module_.parameters()) == 2 * 53
    # the per-layer hyperparameters: mu, the weight shift beta = weight_offset - 1/2 and the
    # relaxation step gamma = relaxation_step(relaxation)
    problem = PowerAllocation()

    def steps(params):
        return np.array([problem.relaxation_step(float(r)) for r in params["relaxation"]])

    params = trained["hyperparameters"].layer_parameters_
    assert_array_equal(params["layer"], [1, 2])
    assert params["mu"].shape == (2,) and not np.allclose(params["mu"], 0.0)
    assert np.all(np.abs(params["weight_offset"] - 0.5) < 0.5)
    assert np.all((steps(params) > 0) & (steps(params) < 2))
    assert not np.allclose(steps(params), 1.0)
    params = trained["correction"].layer_parameters_
    assert not np.allclose(params["mu"], 0.0) and np.all(np.isnan(params["weight_offset"]))
    assert_array_equal(steps(params), 1.0)
    classical = WMMSE(n_layers=3).fit(H_test).layer_parameters_
    assert_array_equal(classical["layer"], [1, 2, 3])
    assert_array_equal(classical["mu"], 0.0)
    assert_array_equal(classical["weight_offset"] - 0.5, 0.0)
    assert_array_equal(steps(classical), 1.0)


def test_uwmmse_is_permutation_equivariant_and_transfers(channels, trained):
    model = trained["correction"]
    H = channels["H_test"][:100]
    perm = np.random.default_rng(1).permutation(M)
    permuted = H[:, perm][:, :, perm]
    assert_allclose(model.predict(permuted), model.predict(H)[:, perm], rtol=1e-10, atol=1e-14)
    assert_allclose(model.score(permuted), model.score(H), rtol=1e-12)
    # trained on 8 pairs, run on 12 and 3 pairs (3-D input), and on another topology
    for n_pairs in (12, 3):
        H_new, _ = make_interference_network(200, n_pairs, random_state=5)
        powers = model.predict(H_new)
        assert powers.shape == (200, n_pairs)
        assert model.score(H_new) > WMMSE(n_layers=2).fit(H_new).score(H_new)
    assert model.predict(channels["H_other"]).shape == (50, M)


@pytest.mark.parametrize("paradigm", PARADIGMS)
@pytest.mark.parametrize("p_max", [1.0, 0.3, 2.0])
def test_power_constraint_holds_on_every_output(channels, paradigm, p_max):
    H = channels["H"][:300]
    model = UnfoldedWMMSE(n_layers=3, paradigm=paradigm, p_max=p_max, max_epochs=1,
                          random_state=0, device="cpu").fit(H)
    for powers in (*model.staged_predict(H), model.predict(channels["H_test"])):
        assert powers.min() >= 0.0 and powers.max() <= p_max
    low = model.predict(H.astype(np.float32))
    assert low.dtype == np.float32 and low.max() <= np.float32(p_max)
    # float32 input is computed in float64: the same powers, rounded
    assert_allclose(low, model.predict(H.astype(np.float32).astype(np.float64)), rtol=1e-6,
                    atol=1e-30)  # float32 subnormals
    # a full-power start saturates some links: the bound is reached exactly
    assert np.any(model.predict(H) == p_max)


def test_flattened_input_and_degenerate_channels(channels):
    H = channels["H_test"][:40]
    model = UnfoldedWMMSE(n_layers=2, max_epochs=1, random_state=0).fit(channels["H"][:200])
    assert_allclose(model.predict(H.reshape(40, -1)), model.predict(H))
    assert model.n_features_in_ == M * M and model.n_pairs_ == M
    flat = UnfoldedWMMSE(n_layers=2, max_epochs=1, random_state=0).fit(
        channels["H"][:200].reshape(200, -1))
    assert flat.n_features_in_ == M * M
    assert_allclose(flat.predict(H), model.predict(H))
    # zero links and an all-zero channel give finite powers (no 0/0)
    Z = H.copy()
    Z[0] = 0.0
    Z[1, 2, 2] = 0.0
    for est in (model, WMMSE(n_layers=5).fit(Z)):
        powers = est.predict(Z)
        assert np.all(np.isfinite(powers)) and np.all(np.isfinite(est.sum_rates(Z)))


def test_tied_model_runs_at_any_depth_and_pickles(channels):
    H = channels["H"][:300]
    model = UnfoldedWMMSE(n_layers=2, tied=True, max_epochs=1, random_state=0).fit(H)
    assert len(list(model.staged_predict(H[:5], n_layers=6))) == 6
    clone = pickle.loads(pickle.dumps(model))
    assert_array_equal(clone.predict(H[:20]), model.predict(H[:20]))


def test_grid_search_over_depth_and_paradigm(channels):
    H = channels["H"][:600]
    grid = GridSearchCV(UnfoldedWMMSE(max_epochs=2,
                                      optimizer=Optimizer(lr_schedule="cosine",
                                                          max_grad_norm=5.0),
                                      random_state=0, n_threads=1),
                        {"n_layers": [1, 3], "paradigm": ["classical", "correction"]}, cv=2)
    grid.fit(H)
    scores = dict(zip(map(lambda p: (p["n_layers"], p["paradigm"]), grid.cv_results_["params"]),
                      grid.cv_results_["mean_test_score"]))
    assert scores[(3, "classical")] > scores[(1, "classical")]
    assert scores[(3, "correction")] > scores[(3, "classical")]
    assert grid.best_params_ == {"n_layers": 3, "paradigm": "correction"}
    assert grid.score(channels["H_test"]) == pytest.approx(
        grid.best_estimator_.score(channels["H_test"]))


@pytest.mark.parametrize("hidden", [(5,), (3, 4)])
def test_the_two_graph_networks_are_separate_and_equivariant(hidden):
    torch.manual_seed(0)
    net = GraphConvolutionPair(1, hidden).double()
    with torch.no_grad():
        for p in net.parameters():
            p.normal_()
    x = torch.rand(3, 6, 6, dtype=torch.float64)
    inv = torch.rand(3, 1, dtype=torch.float64) + 0.5
    features = torch.rand(3, 6, 1, dtype=torch.float64)
    out = net(x, inv, features)
    assert out.shape == (3, 6, 2)
    # a node-by-node reference of the two networks, S = x * inv, layer by layer
    S = x * inv[:, :, None]
    d = torch.diagonal(S, dim1=1, dim2=2).unsqueeze(-1)
    for k in range(2):
        h = features
        for i in range(net.n_layers):
            W = getattr(net, f"weight{i}")
            if i == 0:
                f_out = W.shape[1] // 2
                W1, W0, b = (W[0:1, k * f_out:(k + 1) * f_out], W[1:2, k * f_out:(k + 1) * f_out],
                             W[2, k * f_out:(k + 1) * f_out])
            else:
                f_out = W.shape[2] // 2
                W1, W0, b = W[k][:, :f_out], W[k][:, f_out:], getattr(net, f"bias{i}")[k]
            h = S @ h @ W1 + d * (h @ W0) + b
            if i < net.n_layers - 1:
                h = torch.relu(h)
        assert_allclose(out[..., k].detach(), h[..., 0].detach(), rtol=1e-12)
    perm = torch.tensor([2, 0, 5, 1, 4, 3])
    permuted = net(x[:, perm][:, :, perm], inv, features[:, perm])
    assert_allclose(permuted.detach(), out[:, perm].detach(), rtol=1e-12)


def test_layer_and_problem_pieces():
    x = torch.rand(4, 5, 5, dtype=torch.float64)
    assert_allclose(shift_scale(torch.diagonal(x, dim1=1, dim2=2)).squeeze(1),
                    torch.exp(torch.log(torch.diagonal(x, dim1=1, dim2=2)).mean(1)))
    problem = PowerAllocation(noise_var=0.01)
    state = problem.initial_state(x)
    layer = UWMMSELayer((5,)).double()
    with torch.no_grad():
        layer.mu.fill_(-1e3)   # a denominator below zero: the amplitude goes to the bound
        out = layer(problem, 0, state, x, {})[0]
    assert torch.all(out == 1.0)


# -- bad input -----------------------------------------------------------------------------

@pytest.mark.parametrize("make, match", [
    (lambda H: -H, "Negative values"),
    (lambda H: np.where(np.arange(M) == 0, np.nan, H), "NaN"),
    (lambda H: np.where(np.arange(M) == 0, np.inf, H), "infinity"),
    (lambda H: H[:, :, :-1], "square"),
    (lambda H: H.reshape(len(H), -1)[:, :-3], "square number|expecting 64 features"),
    (lambda H: H[..., None], "4-D"),
    (lambda H: H[0, 0], "2-D"),
])
def test_bad_channels_are_rejected(channels, make, match):
    H = channels["H"][:20]
    with pytest.raises(ValueError, match=match):
        WMMSE().fit(make(H))
    fitted = UnfoldedWMMSE(n_layers=1, max_epochs=0).fit(H)
    with pytest.raises(ValueError, match=match):
        fitted.predict(make(H))


@pytest.mark.parametrize("params, match", [
    ({"p_max": 0.0}, "p_max"), ({"p_max": -1.0}, "p_max"), ({"noise_var": 0.0}, "noise_var"),
    ({"paradigm": "objective"}, "paradigm"), ({"paradigm": "dnn"}, "paradigm"),
    ({"hidden_layer_sizes": (0,)}, "hidden_layer_sizes"), ({"tied": "yes"}, "tied"),
    ({"hidden_layer_sizes": "abc"}, "hidden_layer_sizes"),
    ({"hidden_layer_sizes": (5, 2.5)}, "hidden_layer_sizes"),
    ({"optimizer": "lbfgs"}, "optimizer"), ({"optimizer": 5.0}, "optimizer"),
    ({"optimizer": Optimizer(max_grad_norm=-1.0)}, "max_grad_norm"),
])
def test_bad_parameters_are_rejected(channels, params, match):
    with pytest.raises((ValueError, TypeError), match=match):
        UnfoldedWMMSE(max_epochs=0, **params).fit(channels["H"][:20])


def test_other_errors(channels):
    H = channels["H"][:20]
    fitted = WMMSE(n_layers=2).fit(H)
    # flattened input is a feature table: its width is that of fit
    other, _ = make_interference_network(20, M + 1, random_state=0)
    assert fitted.predict(other).shape == (20, M + 1)           # 3-D: any size
    with pytest.raises(ValueError, match=f"expecting {M * M} features"):
        fitted.predict(other.reshape(20, -1))
    with pytest.raises(ValueError, match="powers must have shape"):
        fitted.sum_rates(H, np.ones((20, M + 1)))
    with pytest.raises(ValueError, match="non-negative"):
        fitted.sum_rates(H, -np.ones((20, M)))
    with pytest.raises(ValueError, match="p_max"):
        WMMSE(p_max=0).fit(H)


def test_hidden_layer_sizes_are_checked_where_the_networks_are_built():
    for build in (lambda h: GraphConvolutionPair(1, h), UWMMSELayer,
                  lambda h: power_layers(PowerAllocation(), "correction", 2,
                                         hidden_layer_sizes=h)):
        for bad in ("abc", (), (0,), (5, 2.5), 3):
            with pytest.raises(ValueError, match="hidden_layer_sizes must be a non-empty tuple"):
                build(bad)
    assert GraphConvolutionPair(1, [3, 4]).sizes == (1, 3, 4, 1)


def test_default_optimizer_is_the_papers_clipped_adam(channels):
    H = channels["H"][:256]
    common = dict(n_layers=2, max_epochs=1, random_state=0, device="cpu", n_threads=1)
    default = UnfoldedWMMSE(**common).fit(H)
    clipped = UnfoldedWMMSE(optimizer=Optimizer(max_grad_norm=5.0), **common).fit(H)
    unclipped = UnfoldedWMMSE(optimizer="adam", **common).fit(H)
    assert_array_equal(default.predict(H), clipped.predict(H))
    assert not np.array_equal(default.predict(H), unclipped.predict(H))
    assert default.optimizer is None   # the parameter is stored unchanged


def test_wmmse_reports_the_solver_built_when_verbose(channels, capsys):
    WMMSE(n_layers=3, verbose=1).fit(channels["H"][:10])
    out = capsys.readouterr().out
    assert out.startswith("[WMMSE] PowerAllocation solver built: 3 iterations"), out
    WMMSE(n_layers=3).fit(channels["H"][:10])
    assert capsys.readouterr().out == ""
