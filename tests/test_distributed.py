"""Distributed ADMM: the data, the graph checks, classical D-ADMM and its unfolded version.

What is checked, with real figures: the generator splits one sparse-recovery
model across a connected graph; classical D-ADMM is an independent numpy
transcription of the documented round (Gauss–Seidel and Jacobi), its
consensus error shrinks round by round and it approaches the centralised
LASSO; the untrained unfolded model is the classical solver layer by layer;
a trained model beats the classical solver at equal rounds on held-out data
(supervised and unsupervised); the exported per-agent programs, run one
agent at a time with explicit messages, give the batched result; the shared
model transfers to other graphs; bad input gets clear errors.
"""

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose
from sklearn.model_selection import GridSearchCV

from skunfold.datasets import (
    make_distributed_lasso,
    make_distributed_regression,
)
from skunfold.distributed import (
    DistributedADMM,
    UnfoldedDADMM,
    check_graph,
    export_agents,
    graph_colouring,
    random_graph,
    rounds_to_target,
    run_agents,
)

ALPHA = 0.01


@pytest.fixture(scope="module")
def data():
    """Six agents, 24 measurements (4 each), 40 unknowns; train and held-out sets."""
    X, S, D, G = make_distributed_lasso(500, n_agents=6, n_measurements=24, n_components=40,
                                        edge_probability=0.5, snr_db=30, random_state=0)
    out = {"X": X[:400], "S": S[:400], "X_test": X[400:], "S_test": S[400:], "D": D, "G": G}
    for arr in out.values():
        arr.flags.writeable = False
    return out


def nmse(S_hat, S):
    return float(((S_hat - S) ** 2).sum() / (S ** 2).sum())


def dadmm_reference(X, D, G, n_rounds, rho, step, tau, eta, colours):
    """The documented round, transcribed in numpy agent by agent (float64)."""
    P, n = len(G), D.shape[0]
    rows = np.array_split(np.arange(D.shape[1]), P)
    s, u = np.zeros((len(X), P, n)), np.zeros((len(X), P, n))
    for _ in range(n_rounds):
        for colour in colours:
            new = {}
            for p in colour:
                Hp, bp = D[:, rows[p]].T, X[:, rows[p]]
                nb = sum(s[:, j] for j in np.flatnonzero(G[p]))
                g = (s[:, p] @ Hp.T - bp) @ Hp + u[:, p] + rho * (G[p].sum() * s[:, p] - nb)
                z = s[:, p] - step * g
                new[p] = np.sign(z) * np.maximum(np.abs(z) - step * tau / P, 0)
            for p, v in new.items():
                s[:, p] = v
        for p in range(P):
            u[:, p] += eta * (G[p].sum() * s[:, p] - sum(s[:, j] for j in np.flatnonzero(G[p])))
    return s


# -- data and graphs ---------------------------------------------------------------------------

def test_generator_splits_one_model_over_a_connected_graph():
    X, S, D, G = make_distributed_lasso(30, n_agents=10, n_measurements=40, n_components=60,
                                        edge_probability=0.3, snr_db=None, random_state=1)
    assert X.shape == (30, 40) and S.shape == (30, 60) and D.shape == (60, 40)
    assert_allclose(X, S @ D)
    assert G.shape == (10, 10) and (G == G.T).all() and (np.diag(G) == 0).all()
    assert_allclose(check_graph(G), G)                  # connected, else check_graph raises
    # the same seed gives the same graph; a user's graph (scipy sparse) is kept
    assert (make_distributed_lasso(5, 10, 40, 60, edge_probability=0.3, random_state=1)[3]
            == G).all()
    G2 = make_distributed_lasso(5, None, 40, 60, graph=sp.csr_matrix(G), random_state=2)[3]
    assert (G2 == G).all()
    Xr, Sr, _, _ = make_distributed_regression(5, 4, 40, 8, edge_probability=0.8, random_state=0)
    assert (Sr != 0).all() and Xr.shape == (5, 40)


def test_colouring_is_proper_and_covers_every_agent():
    G = random_graph(30, 0.2, random_state=0)
    colours = graph_colouring(G)
    assert sorted(np.concatenate(colours).tolist()) == list(range(30))
    for c in colours:
        assert G[np.ix_(c, c)].sum() == 0


def test_random_graph_gives_up_with_a_clear_error():
    with pytest.raises(ValueError, match="no connected"):
        random_graph(50, 0.01, random_state=0, max_tries=3)


# -- classical D-ADMM ------------------------------------------------------------------------

@pytest.mark.parametrize("schedule", ["gauss_seidel", "jacobi"])
def test_classical_is_the_documented_round(data, schedule):
    X, D, G = data["X_test"][:20], data["D"], data["G"]
    admm = DistributedADMM(G, D, n_layers=7, alpha=ALPHA, rho=0.5, schedule=schedule).fit(X)
    h = admm.problem_.hyperparameters
    colours = graph_colouring(G) if schedule == "gauss_seidel" else [np.arange(len(G))]
    ref = dadmm_reference(X, D, G, 7, h["rho"], h["step"], h["tau"], h["eta"], colours)
    assert_allclose(admm.predict(X, return_agents=True), ref, atol=1e-10)
    assert_allclose(admm.predict(X), ref.mean(axis=1), atol=1e-10)


def test_consensus_error_shrinks_round_by_round(data):
    X, S = data["X_test"], data["S_test"]
    admm = DistributedADMM(data["G"], data["D"], n_layers=200, alpha=ALPHA).fit(X)
    errors = [nmse(Sk, S) for Sk in admm.staged_predict(X)]
    assert np.all(np.diff(errors) <= 1e-12)
    assert errors[-1] < 0.6 * errors[9]
    # the agents agree more and more
    spread = [np.abs(Sa - Sa.mean(axis=1, keepdims=True)).max()
              for Sa in admm.staged_predict(X, return_agents=True)]
    assert spread[-1] < 0.1 * max(spread)


def test_classical_reaches_the_centralised_lasso():
    from sklearn.linear_model import Lasso

    X, _S, D, G = make_distributed_lasso(10, n_agents=4, n_measurements=24, n_components=12,
                                        edge_probability=0.8, snr_db=20, random_state=3)
    admm = DistributedADMM(G, D, n_layers=3000, alpha=0.1, rho=0.3).fit(X)
    ref = np.stack([Lasso(alpha=0.1 / 24, fit_intercept=False, tol=1e-10, max_iter=100000)
                    .fit(D.T, x).coef_ for x in X])
    assert_allclose(admm.predict(X), ref, atol=2e-3)
    assert_allclose(admm.objective(X, admm.predict(X)),
                    0.5 * ((X - ref @ D) ** 2).sum(1) + 0.1 * np.abs(ref).sum(1), rtol=1e-4)


def test_ridge_variant_solves_the_regularised_least_squares():
    X, _S, D, G = make_distributed_regression(10, n_agents=4, n_measurements=40, n_components=8,
                                             edge_probability=0.8, random_state=0)
    admm = DistributedADMM(G, D, n_layers=3000, alpha=0.5, penalty="l2", rho=0.3).fit(X)
    H = D.T
    ref = np.linalg.solve(H.T @ H + 0.5 * np.eye(8), H.T @ X.T).T
    assert_allclose(admm.predict(X), ref, atol=1e-4)


def test_messages_and_rounds_to_target(data):
    admm = DistributedADMM(data["G"], data["D"], n_layers=300, alpha=ALPHA).fit(data["X"])
    assert admm.messages_per_round_ == int(data["G"].sum()) == 2 * int(np.triu(data["G"]).sum())
    r = rounds_to_target(admm, data["X_test"], data["S_test"], -3.0)
    curve = r["nmse_db"]
    assert r["rounds"] is not None and curve[r["rounds"] - 1] <= -3 < curve[r["rounds"] - 2]
    assert r["messages"] == r["rounds"] * admm.messages_per_round_
    assert rounds_to_target(admm, data["X_test"], data["S_test"], -80)["rounds"] is None


# -- unfolded --------------------------------------------------------------------------------

@pytest.mark.parametrize("sharing", ["agent", "shared"])
@pytest.mark.parametrize("schedule", ["gauss_seidel", "jacobi"])
def test_untrained_is_classical_layer_by_layer(data, sharing, schedule):
    X = data["X_test"][:30].astype(np.float32)
    common = {"alpha": ALPHA, "rho": 0.5, "schedule": schedule}
    untrained = UnfoldedDADMM(data["G"], data["D"], n_layers=6, hyperparameter_sharing=sharing,
                              max_epochs=0, **common).fit(data["X"], data["S"])
    classical = DistributedADMM(data["G"], data["D"], n_layers=6, **common).fit(data["X"])
    for a, b in zip(untrained.staged_predict(X, return_agents=True),
                    classical.staged_predict(X, return_agents=True)):
        assert a.dtype == np.float32
        assert_allclose(a, b, atol=1e-5)


@pytest.fixture(scope="module")
def trained(data):
    common = {"n_layers": 5, "alpha": ALPHA, "max_epochs": 8, "lr": 0.03, "random_state": 0}
    return {s: UnfoldedDADMM(data["G"], data["D"], hyperparameter_sharing=s, **common)
            .fit(data["X"], data["S"]) for s in ("agent", "shared")}


@pytest.mark.parametrize("sharing", ["agent", "shared"])
def test_trained_beats_classical_at_equal_rounds(data, trained, sharing):
    classical = DistributedADMM(data["G"], data["D"], n_layers=5, alpha=ALPHA).fit(data["X"])
    X, S = data["X_test"], data["S_test"]
    learned, base = nmse(trained[sharing].predict(X), S), nmse(classical.predict(X), S)
    assert learned < 0.8 * base
    # and the classical solver needs several times more rounds (messages) for that error
    need = rounds_to_target(DistributedADMM(data["G"], data["D"], n_layers=200, alpha=ALPHA)
                            .fit(X), X, S, 10 * np.log10(learned))["rounds"]
    assert need is None or need >= 10
    values = trained[sharing].layer_hyperparameters_
    assert set(values) == {"rho", "step", "tau", "eta"} and values["rho"].shape == (5, 6)
    assert (values["step"] > 0).all()
    if sharing == "shared":
        assert (values["rho"] == values["rho"][:, :1]).all()
    # the core's per-layer table: one value per round (shared) or per round and agent
    table = trained[sharing].layer_parameters_
    assert set(table) == {"layer", "rho", "step", "tau", "eta"}
    assert table["rho"].shape == ((5, 6) if sharing == "agent" else (5,))
    for name in ("rho", "step", "tau", "eta"):
        assert_allclose(values[name], np.broadcast_to(table[name].reshape(5, -1), (5, 6)))
    assert not np.allclose(table["step"], table["step"].flat[0])   # learned per round


def test_unsupervised_training_lowers_the_objective(data):
    common = {"n_layers": 4, "alpha": ALPHA}
    model = UnfoldedDADMM(data["G"], data["D"], max_epochs=6, lr=0.03, random_state=0,
                          **common).fit(data["X"])
    classical = DistributedADMM(data["G"], data["D"], **common).fit(data["X"])
    X = data["X_test"]
    obj = model.objective_values(X, model.predict(X, return_agents=True)).mean()
    base = classical.objective_values(X, classical.predict(X, return_agents=True)).mean()
    assert obj < 0.9 * base
    # without targets, score is minus the mean objective (higher is better)
    assert model.score(X) == pytest.approx(-obj, rel=1e-6)
    assert model.score(X) > classical.score(X)


def test_sequential_schedule_trains_layer_by_layer(data):
    model = UnfoldedDADMM(data["G"], data["D"], n_layers=3, alpha=ALPHA, max_epochs=6, lr=0.03,
                          loss_schedule="sequential", random_state=0).fit(data["X"], data["S"])
    classical = DistributedADMM(data["G"], data["D"], n_layers=3, alpha=ALPHA).fit(data["X"])
    X, S = data["X_test"], data["S_test"]
    assert nmse(model.predict(X), S) < 0.9 * nmse(classical.predict(X), S)


def test_separate_agents_equal_the_batched_simulation(data, trained):
    X = data["X_test"][:15]
    for model in trained.values():
        agents = export_agents(model)
        assert len(agents) == 6 and all(len(a.rows) == 4 for a in agents)
        assert_allclose(run_agents(agents, X), model.predict(X, return_agents=True),
                        rtol=1e-4, atol=1e-5)
    jacobi = DistributedADMM(data["G"], data["D"], n_layers=9, alpha=ALPHA,
                             schedule="jacobi").fit(X)
    assert_allclose(run_agents(export_agents(jacobi), X), jacobi.predict(X, return_agents=True),
                    atol=1e-10)


def test_shared_model_runs_on_other_graphs(data, trained):
    X, S = data["X_test"], data["S_test"]
    G_same = random_graph(6, 0.5, random_state=11)
    G_big = random_graph(8, 0.5, random_state=14)
    for G in (G_same, G_big):
        shared = trained["shared"].predict(X, graph=G)
        classical = DistributedADMM(G, data["D"], n_layers=5, alpha=ALPHA).fit(X).predict(X)
        assert nmse(shared, S) < 0.8 * nmse(classical, S)
    # a graph with larger degrees than the training graph's can make the learned rounds
    # unstable (documented): such a graph still runs, with the sizes of the new network
    G_dense = random_graph(8, 0.5, random_state=12)
    assert trained["shared"].predict(X, graph=G_dense, return_agents=True).shape == (100, 8, 40)
    assert trained["agent"].predict(X, graph=G_same).shape == S.shape
    with pytest.raises(ValueError, match="per agent for a graph of 6 agents"):
        trained["agent"].predict(X, graph=G_big)


def test_pickle_and_grid_search(data, trained):
    model = pickle.loads(pickle.dumps(trained["agent"]))
    assert_allclose(model.predict(data["X_test"]), trained["agent"].predict(data["X_test"]))
    search = GridSearchCV(DistributedADMM(data["G"], data["D"], alpha=ALPHA),
                          {"n_layers": [2, 50]}, cv=2).fit(data["X"], data["S"])
    assert search.best_params_ == {"n_layers": 50}


# -- bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize("graph, message", [
    ([[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]], "not connected"),
    ([[0, 1, 1], [0, 0, 1], [1, 1, 0]], "not symmetric"),
    ([[1, 1], [1, 0]], "self-loops"),
    ([[0, 1, 1]], "square"),
    (None, "graph is required"),
])
def test_bad_graphs(data, graph, message):
    with pytest.raises(ValueError, match=message):
        DistributedADMM(graph, data["D"]).fit(data["X"])


def test_bad_row_split_and_sizes(data):
    G, D, X = data["G"], data["D"], data["X"]
    with pytest.raises(ValueError, match="does not match"):
        DistributedADMM(G, D, agents=np.repeat(np.arange(8), 3)).fit(X)       # 8 agents, 6 nodes
    with pytest.raises(ValueError, match="does not match"):
        DistributedADMM(G, D, agents=np.zeros(20, dtype=int)).fit(X)          # 20 rows, not 24
    with pytest.raises(ValueError, match="dictionary has shape"):
        DistributedADMM(G, D[:, :10]).fit(X)
    with pytest.raises(ValueError, match="hyperparameter_sharing"):
        UnfoldedDADMM(G, D, hyperparameter_sharing="edge").fit(X)
    with pytest.raises(ValueError, match="paradigm"):
        UnfoldedDADMM(G, D, paradigm="dnn").fit(X)
    with pytest.raises(ValueError, match="n_agents=3 but the graph has 6"):
        make_distributed_lasso(5, 3, 24, 40, graph=G)
    with pytest.raises(ValueError, match="expecting 24 features"):
        DistributedADMM(G, D).fit(X).predict(X[:, :10])
