"""skunfold.export for deployment: files reloaded without skunfold, pipelines, low precision.

* round trip: the ONNX and ``.pt2`` files of fitted models are reloaded in a Python
  process that never imports skunfold (onnxruntime, ``torch.export.load``), and give
  ``predict``'s outputs;
* a scikit-learn Pipeline (StandardScaler, then LISTA; LISTA, then a linear model)
  converts whole through skl2onnx and gives ``pipeline.predict``;
* float16 / bfloat16 / int8 change the accuracy of a trained LISTA by a fraction of a
  decibel and DeepSIC's symbol error rate by at most half a percent;
* errors: a clear message naming ``pip install "skunfold[export]"`` when the extra is
  missing, and for what cannot be exported.
"""

import copy
import json
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from test_export import (
    CASES,
    ONNX_BLOCKED,
    assert_outputs_equal,
    fitted,
    onnx_model,
    reference,
)

from skunfold import datasets
from skunfold.core import WorseThanClassicalWarning
from skunfold.core.module import cast_module
from skunfold.export import as_input, to_onnx, to_torch
from skunfold.metrics import nmse_db, symbol_error_rate
from skunfold.sparse import ISTA, UnfoldedISTA

_RELOAD = textwrap.dedent("""
    import json, sys
    sys.modules["skunfold"] = None  # any import of skunfold in this process fails at once
    import numpy as np
    import onnxruntime
    import torch
    folder = sys.argv[1]
    for name in json.load(open(f"{folder}/names.json")):
        X = np.load(f"{folder}/{name}.X.npy", allow_pickle=False)
        program = torch.export.load(f"{folder}/{name}.pt2")
        outputs = {f"torch{i}": t.numpy() for i, t in
                   enumerate(program.module()(torch.from_numpy(X)))}
        try:
            session = onnxruntime.InferenceSession(f"{folder}/{name}.onnx")
        except Exception:  # no ONNX file for this model
            session = None
        if session is not None:
            outputs.update({f"onnx{i}": o for i, o in enumerate(session.run(None, {"X": X}))})
        np.savez(f"{folder}/{name}.out.npz", **outputs)
    assert sys.modules["skunfold"] is None and not any(
        m.startswith("skunfold.") for m in sys.modules), "the reload imported skunfold"
    print("reloaded without skunfold")
""")


def _round_trip(names, folder):
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    for name in names:
        estimator, X = fitted(name)
        torch.export.save(to_torch(estimator, X if "matrix" in name else X[:2]),
                          str(folder / f"{name}.pt2"))
        if name not in ONNX_BLOCKED:
            onnx.save(onnx_model(name), str(folder / f"{name}.onnx"))
        np.save(folder / f"{name}.X.npy", as_input(X).numpy())
    (folder / "names.json").write_text(json.dumps(list(names)))
    done = subprocess.run([sys.executable, "-c", _RELOAD, str(folder)], capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "reloaded without skunfold" in done.stdout
    for name in names:
        estimator, X = fitted(name)
        saved = np.load(folder / f"{name}.out.npz")
        expected = reference(estimator, X)
        for runtime in ("torch", "onnx"):
            outputs = [saved[f"{runtime}{i}"] for i in range(len(expected))
                       if f"{runtime}{i}" in saved]
            if runtime == "onnx" and name in ONNX_BLOCKED:
                assert not outputs
                continue
            if runtime == "onnx" and outputs[0].dtype.kind in "OU":  # string labels
                outputs[0] = outputs[0].astype(expected["predict"].dtype)
            assert_outputs_equal(outputs, expected, f"{name} reloaded ({runtime})")


@pytest.mark.slow
def test_round_trip_without_skunfold(tmp_path):
    _round_trip(["LISTA"], tmp_path)


@pytest.mark.slow
def test_round_trip_of_every_estimator_without_skunfold(tmp_path):
    _round_trip(list(CASES), tmp_path)


def test_pipeline_exports_whole_through_skl2onnx():
    skl2onnx = pytest.importorskip("skl2onnx")
    ort = pytest.importorskip("onnxruntime")
    X, S, D = datasets.make_sparse_recovery(120, 10, 20, random_state=0)
    X = (3.0 * X + 1.0).astype(np.float32)  # a scale and offset for the scaler to undo
    pipelines = [
        Pipeline([("scale", StandardScaler()),
                  ("lista", UnfoldedISTA(D, n_layers=3, max_epochs=3, random_state=0,
                                         device="cpu"))]).fit(X, S),
        Pipeline([("ista", ISTA(D, n_layers=5)), ("linear", LinearRegression())]).fit(X, S),
    ]
    for pipeline in pipelines:
        model = skl2onnx.to_onnx(pipeline, X[:1], target_opset=18)
        session = ort.InferenceSession(model.SerializeToString())
        got = session.run(None, {session.get_inputs()[0].name: X[:5]})[0]
        want = pipeline.predict(X[:5])
        np.testing.assert_allclose(got.reshape(want.shape), want, rtol=1e-4, atol=1e-5)


def test_pipeline_needs_opset_18():
    skl2onnx = pytest.importorskip("skl2onnx")
    X, S, D = datasets.make_sparse_recovery(20, 10, 20, random_state=0)
    pipeline = Pipeline([("ista", ISTA(D, n_layers=2))]).fit(X.astype(np.float32))
    with pytest.raises(RuntimeError, match="target_opset=18"):
        skl2onnx.to_onnx(pipeline, X[:1].astype(np.float32), target_opset=15)


@pytest.fixture(scope="module")
def lista():
    """A LISTA trained on a real split (float32), with held-out codes to measure NMSE on."""
    X, S, D = datasets.make_sparse_recovery(600, 20, 40, random_state=0)
    X_test, S_test, _ = datasets.make_sparse_recovery(200, 20, 40, dictionary=D,
                                                      random_state=1)
    est = UnfoldedISTA(D, n_layers=5, max_epochs=20, random_state=0, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WorseThanClassicalWarning)  # a short training
        est.fit(X.astype(np.float32), S)
    return est, X_test.astype(np.float32), S_test


def test_low_precision_torch_programs_keep_lista_accurate(lista):
    est, X, S = lista
    full = nmse_db(S, est.predict(X))
    assert full < -7.0
    for dtype, bound in ((torch.float16, 0.05), (torch.bfloat16, 0.3)):
        codes = to_torch(est, X[:2], dtype=dtype).module()(as_input(X))[0]
        assert codes.dtype == torch.float32  # the input's precision, computed in dtype
        assert abs(nmse_db(S, codes.numpy()) - full) < bound, dtype


@pytest.mark.slow
def test_low_precision_onnx_keeps_lista_accurate(lista):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    est, X, S = lista
    full = nmse_db(S, est.predict(X))
    for options, bound in (({"dtype": torch.float16}, 0.05), ({"quantize": "int8"}, 0.3)):
        model = to_onnx(est, X[:2], **options)
        codes = ort.InferenceSession(model.SerializeToString()).run(None, {"X": X})[0]
        assert abs(nmse_db(S, codes) - full) < bound, options
    kinds = {n.op_type for n in to_onnx(est, X[:2], quantize="int8").graph.node}
    assert "MatMulInteger" in kinds  # int8 weights
    # bfloat16: a valid model with bfloat16 weights (onnxruntime's CPU kernels lack bfloat16)
    model = to_onnx(est, X[:2], dtype=torch.bfloat16)
    onnx.checker.check_model(model)
    assert onnx.TensorProto.BFLOAT16 in {t.data_type for t in model.graph.initializer}


def test_low_precision_keeps_deepsic_symbol_error_rate():
    ort = pytest.importorskip("onnxruntime")
    estimator, _ = fitted("DeepSIC")
    X, y, _ = datasets.make_mimo(1000, n_users=2, n_antennas=4, random_state=1)
    ser = symbol_error_rate(y, estimator.predict(X))
    labels = to_torch(estimator, X[:2], dtype=torch.bfloat16).module()(as_input(X))[0]
    assert abs(symbol_error_rate(y, labels.numpy()) - ser) <= 0.005
    session = ort.InferenceSession(to_onnx(estimator, X[:2], quantize="int8")
                                   .SerializeToString())
    assert abs(symbol_error_rate(y, session.run(None, {"X": X})[0]) - ser) <= 0.005


def test_cast_module_takes_half_precisions():
    estimator, X = fitted("UnfoldedHybridPGA")
    for dtype, complex_dtype in ((torch.bfloat16, torch.complex64),
                                 (torch.float16, torch.complex64)):
        module = cast_module(copy.deepcopy(estimator.module_), dtype)
        assert module.dtype == dtype
        assert {p.dtype for p in module.parameters()} == {dtype}
        assert module.problem.initial_digital.dtype == complex_dtype


@pytest.mark.parametrize("missing", ["onnx", "onnxscript", "onnxruntime", "skl2onnx"])
def test_a_missing_extra_says_how_to_install_it(monkeypatch, missing):
    import skunfold.export as export

    estimator, X = fitted("ISTA")
    monkeypatch.setitem(sys.modules, missing, None)  # import fails as when not installed
    call = {"onnx": lambda: export.to_onnx(estimator, X[:2]),
            "onnxscript": lambda: export.to_onnx(estimator, X[:2]),
            "onnxruntime": lambda: export._quantize_int8(None),
            "skl2onnx": export.register_skl2onnx}[missing]
    others_installed = all(export._installed(m) for m in export._EXTRA if m != missing)
    with pytest.raises(ImportError, match=r'pip install "skunfold\[export\]"') as error:
        call()
    assert repr(missing) in str(error.value) or not others_installed  # names what is missing
    assert to_torch(estimator, X[:2]) is not None  # torch.export needs no extra


def test_export_errors_are_clear():
    estimator, X = fitted("ISTA")
    with pytest.raises(TypeError, match="skunfold estimators, got LinearRegression"):
        to_torch(LinearRegression().fit(X, X[:, 0]), X[:2])
    with pytest.raises(ValueError, match="dtype must be"):
        to_torch(estimator, X[:2], dtype="float16")
    with pytest.raises(ValueError, match="quantize must be"):
        to_onnx(estimator, X[:2], quantize="int4")
    with pytest.raises(ValueError, match="quantize='int8' quantises"):
        to_onnx(estimator, X[:2], dtype=torch.float16, quantize="int8")
    with pytest.raises(NotFittedError):
        to_torch(ISTA(np.eye(3)), X[:2, :3])
    with pytest.raises(ValueError, match="features"):
        to_torch(estimator, X[:2, :3])  # validated as predict validates
