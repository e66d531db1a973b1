"""Deployment: fitted estimators as ONNX models and ``torch.export`` programs.

An unfolded model is a fixed, small number of layers: exported, it runs
without skunfold (with onnxruntime, without Python), at a fraction of
``predict``'s per-call cost.

* :func:`to_onnx`: an ``onnx.ModelProto`` (save it with ``onnx.save``, run it
  with onnxruntime), optionally computed in float16/bfloat16 or with int8
  weights (``quantize="int8"``);
* :func:`to_torch`: a :class:`torch.export.ExportedProgram` (save it with
  :func:`torch.export.save` as a ``.pt2`` file);
* :func:`register_skl2onnx`: skunfold's estimators in skl2onnx's converter
  registry, so that a whole :class:`~sklearn.pipeline.Pipeline` converts to
  one ONNX graph (done on import when skl2onnx is installed);
* :func:`inference_module`: ``predict`` as a plain torch module, and
  :func:`as_input`, the layout the exported models take.

Conventions of the exported graphs: one input, ``X`` as ``predict`` takes it
(any number of samples along the first axis, the other axes as in the sample
given to the export; float32 or float64 as that sample, integers as
float64); complex ``X`` (and complex outputs) as real arrays with a last axis
of two, ``(real, imag)``, i.e. ``np.stack([X.real, X.imag], axis=-1)``
(:func:`as_input`); a model fitted with side information takes its arrays as
further inputs, named as in ``predict``. The first output, ``"predict"``, is what ``predict``
returns (the class labels of the MIMO detectors); further named outputs
carry ``predict_proba`` (the detectors: ``(n_samples, n_users, n_classes)``,
``(n_samples, n_classes)`` for a model fitted on a 1-D ``y``), the sparse part
of a robust PCA (``"sparse"``), the agents' estimates of a distributed model
(``"agents"``), the hybrid precoders (``"analog"``, ``"digital"``). Where
``predict`` raises :class:`~skunfold.core.DivergedOutputError`, an exported
graph returns the non-finite values. What ``predict`` does around the layers
is declared by each estimator (see :mod:`skunfold.core.export_hooks`).

ONNX needs the optional packages of the ``export`` extra
(``pip install "skunfold[export]"``: onnx, onnxruntime, onnxscript,
skl2onnx); :func:`to_torch` needs torch alone.
"""

import contextlib
import copy
import importlib
import importlib.util
import os
import tempfile

import numpy as np
import torch

from .core.export_hooks import (
    example_input,
    example_inputs,
    export_program,
    onnx_decompositions,
    onnx_registry,
)
from .core.export_hooks import inference_module as _inference_module

__all__ = ["to_onnx", "to_torch", "register_skl2onnx", "inference_module", "as_input",
           "estimator_classes"]

#: The ONNX opset of the exported graphs (torch.onnx's).
OPSET = 18
#: How to install what the ONNX export needs.
INSTALL = 'pip install "skunfold[export]"'
_PRECISIONS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
#: The packages of the export extra.
_EXTRA = ("onnx", "onnxruntime", "onnxscript", "skl2onnx")


def _require(*modules, what):
    """Import ``modules``; a missing one is an ImportError that says how to install them."""
    found = []
    for name in modules:
        try:
            found.append(importlib.import_module(name))
        except ImportError as error:
            raise ImportError(
                f"{what} needs the optional package {name!r}, which is not installed; install "
                f"skunfold's export extra: {INSTALL} (onnx, onnxruntime, onnxscript, "
                "skl2onnx)") from error
    return found


def _installed(name):
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # ValueError: None in sys.modules (import blocked)
        return False


def _needs_extra(function):
    """Skip the doctests of ``function`` when the export extra is missing (they run onnxruntime)."""
    if function.__doc__ and not all(_installed(m) for m in _EXTRA):
        function.__doc__ = "\n".join(line + "  # doctest: +SKIP" if ">>> " in line else line
                                     for line in function.__doc__.splitlines())
    return function


def _check_dtype(dtype):
    if dtype is None or (isinstance(dtype, torch.dtype) and dtype in _PRECISIONS):
        return dtype
    raise ValueError(f"dtype must be None (predict's precision), torch.float16, torch.bfloat16, "
                     f"torch.float32 or torch.float64; got {dtype!r}")


def _rpca_outputs(both, x):
    """``predict`` (the low-rank part) and the sparse part of a robust PCA's readout."""
    low_rank, sparse = both[:, 0], both[:, 1]
    if x.ndim == 2:  # one matrix: predict returns it 2-D
        low_rank, sparse = low_rank[0], sparse[0]
    return {"predict": low_rank, "sparse": sparse}


def _build(estimator, X_sample, dtype=None, side=None):
    """``(InferenceModule, example input)`` of a fitted estimator for samples like ``X_sample``."""
    if not hasattr(estimator, "fit") or not type(estimator).__module__.startswith("skunfold."):
        raise TypeError(f"skunfold.export exports fitted skunfold estimators, got "
                        f"{type(estimator).__name__} (a scikit-learn Pipeline of skunfold "
                        "estimators exports through skl2onnx: see register_skl2onnx)")
    from .rpca.decomposition import RobustPCABase

    outputs = None
    if isinstance(estimator, RobustPCABase) and not hasattr(estimator, "_export_outputs"):
        outputs = _rpca_outputs
    module = _inference_module(estimator, X_sample, dtype=_check_dtype(dtype), outputs=outputs,
                               side=side)
    example = example_inputs(module, X_sample, side, min_rows=2 if module.batched else 1)
    with torch.no_grad():
        module(*example)  # names the outputs, and fails here (not in torch.export) on bad input
    return module, example


def _string_labels(estimator):
    """The class labels when they are not numbers (the graph's first output is then indices)."""
    hook = getattr(estimator, "_export_labels", None)
    labels = None if hook is None else np.asarray(hook())
    return None if labels is None or labels.dtype.kind in "biuf" else labels


# -- ONNX ---------------------------------------------------------------------------------------
@contextlib.contextmanager
def _quiet():
    """The exporters' progress lines and warnings (torchvision absent, ...) kept quiet."""
    import logging
    import warnings

    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch.export",
                                                    "torch._export", "onnxscript")]
    loggers.append(logging.getLogger())  # onnxruntime.quantization warns on the root logger
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _decode_labels(model, labels, output):
    """Map the class indices of ``output`` to the (string) ``labels`` by a Gather node."""
    import onnx
    from onnx import helper, numpy_helper

    graph, indices = model.graph, f"{output}_indices"
    for node in graph.node:
        node.output[:] = [indices if o == output else o for o in node.output]
        node.input[:] = [indices if i == output else i for i in node.input]
    table = numpy_helper.from_array(np.asarray(labels).astype(str).astype(object),
                                    name=f"{output}_classes")
    graph.initializer.append(table)
    graph.node.append(helper.make_node("Gather", [table.name, indices], [output], axis=0,
                                       name=f"{output}_decode"))
    for value in graph.output:
        if value.name == output:
            value.type.tensor_type.elem_type = onnx.TensorProto.STRING
    return model


def _quantize_int8(model):
    """onnxruntime's dynamic int8 quantisation of the constant matrices of an ONNX model."""
    _require("onnxruntime", what='skunfold.export.to_onnx(quantize="int8")')
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as tmp:
        source, target = os.path.join(tmp, "model.onnx"), os.path.join(tmp, "model.int8.onnx")
        onnx.save(model, source)
        with _quiet():
            quantize_dynamic(source, target, weight_type=QuantType.QInt8)
        return onnx.load(target)


@_needs_extra
def to_onnx(estimator, X_sample, *, dtype=None, quantize=None, optimize=True, side=None):
    """Export a fitted estimator's ``predict`` to an ONNX model.

    Parameters
    ----------
    estimator : estimator
        A fitted skunfold estimator (any family, classical or trained).
    X_sample : array-like
        A few samples as ``predict`` takes them: the model takes any number
        of samples of their shape (one matrix of a robust PCA: that matrix's
        shape), in their precision (float32; float64 for float64 or integer
        samples); complex samples: see the module's docstring.
    dtype : torch.dtype, optional
        Compute in this precision, e.g. ``torch.float16`` or ``torch.bfloat16``
        (half-precision weights and arithmetic; the input and the outputs keep
        the precision of ``X_sample``). Default: ``predict``'s.
    quantize : {None, "int8"}, default=None
        ``"int8"``: onnxruntime's dynamic quantisation (int8 weights for the
        products with constant matrices, activations quantised on the fly).
    optimize : bool, default=True
        Run torch.onnx's graph optimiser (constant folding, fusions).
    side : dict of str to array-like, optional
        A model fitted with side information: its arrays for ``X_sample``
        (``predict``'s keyword arguments), taken as further inputs so named.

    Returns
    -------
    model : onnx.ModelProto
        The input ``"X"`` (then the side information's, in sorted order); the
        output ``"predict"`` (what ``predict`` returns) and, by family,
        further named outputs.

    Raises
    ------
    ImportError
        When the ``export`` extra is not installed.

    Examples
    --------
    >>> import numpy as np
    >>> import onnxruntime as ort
    >>> from skunfold.datasets import make_sparse_recovery
    >>> from skunfold.export import to_onnx
    >>> from skunfold.sparse import ISTA
    >>> X, S, D = make_sparse_recovery(20, 10, 20, random_state=0)
    >>> ista = ISTA(D, n_layers=10).fit(X)
    >>> model = to_onnx(ista, X[:2])
    >>> [o.name for o in model.graph.output]
    ['predict']
    >>> session = ort.InferenceSession(model.SerializeToString())
    >>> codes = session.run(None, {"X": X[:5]})[0]
    >>> bool(np.allclose(codes, ista.predict(X[:5])))
    True
    """
    dtype = _check_dtype(dtype)
    if quantize not in (None, "int8"):
        raise ValueError(f'quantize must be None or "int8", got {quantize!r}')
    if quantize is not None and dtype in (torch.float16, torch.bfloat16):
        raise ValueError(f"quantize='int8' quantises a float32 or float64 graph; leave "
                         f"dtype=None with it (got dtype={dtype})")
    _require("onnx", "onnxscript", what="skunfold.export.to_onnx")
    import onnx
    import onnx.inliner

    module, example = _build(estimator, X_sample, dtype, side)
    names = list(module.output_names)
    with _quiet():
        program = export_program(module, example).run_decompositions(onnx_decompositions())
        with onnx_registry():
            exported = torch.onnx.export(program, dynamo=True,
                                         input_names=["X", *module.side_names],
                                         output_names=names, opset_version=OPSET,
                                         optimize=optimize, verbose=False)
    model = onnx.inliner.inline_local_functions(exported.model_proto)
    labels = _string_labels(estimator)
    if labels is not None:
        model = _decode_labels(model, labels, names[0])
    model.producer_name = "skunfold"
    model.doc_string = f"{type(estimator).__name__}.predict (skunfold.export.to_onnx)"
    onnx.helper.set_model_props(model, {
        "estimator": type(estimator).__name__, "outputs": ",".join(names),
        "input": "complex X as a last axis (real, imag)" if module.complex_input else "X"})
    onnx.checker.check_model(model)
    return _quantize_int8(model) if quantize == "int8" else model


def to_torch(estimator, X_sample, *, dtype=None, side=None):
    """Export a fitted estimator's ``predict`` to a ``torch.export`` program.

    Parameters
    ----------
    estimator : estimator
        A fitted skunfold estimator.
    X_sample : array-like
        A few samples as ``predict`` takes them (see :func:`to_onnx`).
    dtype : torch.dtype, optional
        Compute in this precision (see :func:`to_onnx`).
    side : dict of str to array-like, optional
        See :func:`to_onnx`: ``program.module()(X, *side)``, sorted by name.

    Returns
    -------
    program : torch.export.ExportedProgram
        ``program.module()(X)`` takes a tensor in the layout of
        :func:`as_input` and returns a tuple of tensors, ``predict``'s
        output first (the outputs of :func:`to_onnx`, in its order); the
        first axis is dynamic. Save it with :func:`torch.export.save` (a
        ``.pt2`` file) and load it with :func:`torch.export.load`, without
        skunfold.

    Examples
    --------
    >>> import numpy as np
    >>> from skunfold.datasets import make_sparse_recovery
    >>> from skunfold.export import as_input, to_torch
    >>> from skunfold.sparse import ISTA
    >>> X, S, D = make_sparse_recovery(20, 10, 20, random_state=0)
    >>> ista = ISTA(D, n_layers=10).fit(X)
    >>> program = to_torch(ista, X[:2])
    >>> codes = program.module()(as_input(X[:5]))[0]
    >>> bool(np.allclose(codes.numpy(), ista.predict(X[:5])))
    True
    """
    module, example = _build(estimator, X_sample, dtype, side)
    labels = _string_labels(estimator)
    if labels is not None:
        raise ValueError(f"{type(estimator).__name__} has non-numeric class labels "
                         f"{labels.tolist()}, which a torch program cannot return; use "
                         "to_onnx (it decodes them), or fit on numeric labels")
    with _quiet():
        return export_program(module, example)


def inference_module(estimator, X_sample, *, dtype=None, side=None):
    """``predict`` of a fitted estimator as a torch module (what :func:`to_torch` exports).

    Parameters
    ----------
    estimator : estimator
        A fitted skunfold estimator.
    X_sample : array-like
        A few samples as ``predict`` takes them.
    dtype : torch.dtype, optional
        Compute in this precision.
    side : dict of str to array-like, optional
        See :func:`to_onnx`.

    Returns
    -------
    module : torch.nn.Module
        Takes a tensor in the layout of :func:`as_input`, returns a tuple of
        tensors; ``module.output_names`` names them.

    Examples
    --------
    >>> from skunfold.datasets import make_sparse_recovery
    >>> from skunfold.export import as_input, inference_module
    >>> from skunfold.sparse import ISTA
    >>> X, S, D = make_sparse_recovery(20, 10, 20, random_state=0)
    >>> module = inference_module(ISTA(D, n_layers=10).fit(X), X[:2])
    >>> module.output_names, tuple(module(as_input(X[:3]))[0].shape)
    (['predict'], (3, 20))
    """
    return _build(estimator, X_sample, dtype, side)[0]


def as_input(X):
    """``X`` in the layout of the exported models: a tensor, complex values as a last axis of two.

    Parameters
    ----------
    X : array-like

    Returns
    -------
    X : torch.Tensor
        float32 for float32 (and complex64) ``X``, float64 otherwise;
        ``.numpy()`` is what an onnxruntime session takes.

    Examples
    --------
    >>> import numpy as np
    >>> from skunfold.export import as_input
    >>> as_input(np.array([[1 + 2j, 3 - 1j]])).shape
    torch.Size([1, 2, 2])
    """
    return example_input(X)


# -- skl2onnx -----------------------------------------------------------------------------------
def estimator_classes():
    """The public estimator classes of skunfold's families (and the core's regressor).

    Returns
    -------
    classes : list of type

    Examples
    --------
    >>> from skunfold.export import estimator_classes
    >>> [cls.__name__ for cls in estimator_classes()][:3]
    ['AMP', 'FISTA', 'ISTA']
    """
    from sklearn.base import BaseEstimator

    classes = []
    for family in ("sparse", "rpca", "mimo", "power", "beamforming", "distributed", "imaging",
                   "core"):
        package = importlib.import_module(f"skunfold.{family}")
        for name in package.__all__:
            cls = getattr(package, name)
            if isinstance(cls, type) and issubclass(cls, BaseEstimator) \
                    and name != "UnfoldedEstimator":
                classes.append(cls)
    return classes


def _alias(cls):
    return f"Skunfold{cls.__name__}"


def _operator_onnx(operator):
    """The exported graph of a skl2onnx operator's estimator (cached on the operator)."""
    model = getattr(operator, "_skunfold_onnx", None)
    if model is None:
        from skl2onnx.common.data_types import DoubleTensorType

        source, estimator = operator.inputs[0], operator.raw_operator
        dtype = np.float64 if isinstance(source.type, DoubleTensorType) else np.float32
        n_features = source.type.shape[-1] if len(source.type.shape) > 1 else None
        if not isinstance(n_features, (int, np.integer)):
            n_features = estimator.n_features_in_
        # two valid samples (positive values: gains and channels are); for a robust PCA, the
        # rows are one matrix, of the fitted size
        from .rpca.decomposition import RobustPCABase

        rows = estimator.instance_shape_[0] if isinstance(estimator, RobustPCABase) else 2
        sample = np.random.default_rng(0).uniform(0.1, 1.0, size=(rows, int(n_features)))
        model = operator._skunfold_onnx = to_onnx(estimator, sample.astype(dtype))
    return model


def _shape_calculator(operator):
    from onnx import TensorProto
    from skl2onnx.common.data_types import (
        DoubleTensorType,
        FloatTensorType,
        Int64TensorType,
        StringTensorType,
    )

    output = _operator_onnx(operator).graph.output[0].type.tensor_type
    kinds = {TensorProto.FLOAT: FloatTensorType, TensorProto.DOUBLE: DoubleTensorType,
             TensorProto.INT64: Int64TensorType, TensorProto.STRING: StringTensorType}
    dims = [d.dim_value if d.HasField("dim_value") else None for d in output.shape.dim]
    operator.outputs[0].type = kinds[output.elem_type](dims)


def _converter(scope, operator, container):
    """Inline the estimator's graph: its names prefixed, its input and output skl2onnx's."""
    from onnx import TensorProto, numpy_helper

    graph = _operator_onnx(operator).graph
    opsets = {o.domain: o.version for o in _operator_onnx(operator).opset_import}
    if container.target_opset is not None and container.target_opset < opsets[""]:
        raise RuntimeError(f"skunfold's exported graphs need ONNX opset {opsets['']} or newer; "
                           f"call skl2onnx.to_onnx(..., target_opset={opsets['']})")
    prefix = scope.get_unique_operator_name(_alias(type(operator.raw_operator)))
    names = {graph.input[0].name: operator.inputs[0].full_name,
             graph.output[0].name: operator.outputs[0].full_name}

    def rename(name):
        if name and name not in names:
            names[name] = scope.get_unique_variable_name(f"{prefix}_{name}")
        return names.get(name, name)

    for tensor in graph.initializer:
        if tensor.data_type == TensorProto.STRING:
            content = [v.decode() for v in tensor.string_data]
        else:
            content = numpy_helper.from_array(numpy_helper.to_array(tensor))  # raw data
        container.add_initializer(rename(tensor.name), tensor.data_type, list(tensor.dims),
                                  content)
    for node in graph.node:
        new = copy.deepcopy(node)
        new.input[:] = [rename(i) for i in node.input]
        new.output[:] = [rename(o) for o in node.output]
        new.name = scope.get_unique_operator_name(f"{prefix}_{node.op_type}")
        container.node_domain_version_pair_sets.add((node.domain, opsets.get(node.domain, 1)))
        container.nodes.append(new)


def _parser(scope, model, inputs, custom_parsers=None):
    operator = scope.declare_local_operator(_alias(type(model)), model)
    operator.inputs = inputs
    operator.outputs.append(scope.declare_local_variable("predict", inputs[0].type.__class__()))
    return operator.outputs


@_needs_extra
def register_skl2onnx():
    """Register every skunfold estimator with skl2onnx's converter registry.

    After the call, ``skl2onnx.to_onnx(pipeline, X)`` converts a scikit-learn
    :class:`~sklearn.pipeline.Pipeline` holding skunfold estimators (and steps
    that skl2onnx converts, e.g. a :class:`~sklearn.preprocessing.StandardScaler`)
    into one ONNX graph. A skunfold step contributes one output, its
    ``predict``'s (which a later step takes as its input); pass
    ``target_opset=18`` or newer. Done on import of :mod:`skunfold.export`
    when skl2onnx is installed; calling it again is harmless.

    Returns
    -------
    classes : list of type
        The registered estimator classes.

    Examples
    --------
    >>> import numpy as np
    >>> import onnxruntime as ort
    >>> import skl2onnx
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skunfold.datasets import make_sparse_recovery
    >>> from skunfold.export import register_skl2onnx
    >>> from skunfold.sparse import ISTA
    >>> X, S, D = make_sparse_recovery(50, 10, 20, random_state=0)
    >>> X = X.astype(np.float32)
    >>> classes = register_skl2onnx()
    >>> pipe = make_pipeline(StandardScaler(), ISTA(D, n_layers=5)).fit(X)
    >>> model = skl2onnx.to_onnx(pipe, X[:1], target_opset=18)
    >>> session = ort.InferenceSession(model.SerializeToString())
    >>> codes = session.run(None, {session.get_inputs()[0].name: X[:4]})[0]
    >>> bool(np.allclose(codes, pipe.predict(X[:4]), atol=1e-5))
    True
    """
    _require("skl2onnx", "onnx", "onnxscript", what="skunfold.export.register_skl2onnx")
    from skl2onnx import update_registered_converter

    classes = estimator_classes()
    for cls in classes:
        update_registered_converter(cls, _alias(cls), _shape_calculator, _converter,
                                    parser=_parser, overwrite=True)
    return classes


with contextlib.suppress(ImportError):
    register_skl2onnx()
