"""``predict`` as one torch module: what :mod:`skunfold.export` turns into ONNX and ``.pt2`` files.

:func:`inference_module` builds an :class:`InferenceModule` of a fitted
estimator: a torch module that maps ``X`` (as a user passes it to
``predict``) to ``predict``'s output, with everything ``predict`` does around
the fitted layers reproduced in torch operations:

1. the input conversion: ``X`` in its own precision (float32, or float64 for
   float64 and integer input) is cast to the precision ``predict`` computes
   in (the module's, float64 for a trained ``"input_precision"`` model on
   float64 input, or the ``dtype`` asked for);
2. the layout: ``X`` reshaped to the samples ``validate_input`` makes of it
   (flattened channels to matrices, one matrix to a stack of one, images to
   rows, ...);
3. the layers, ``readout(final_state(x, n_layers, side))`` (for a model fitted
   with ``fixed_point``, the fixed-point solve as one loop node:
   :mod:`skunfold.core.export_loops`);
4. the outputs: ``predict``'s (squeezed to 1-D for a model fitted on a 1-D
   ``y``, class labels decoded, ...) and optional further outputs
   (``predict_proba``, the sparse part, ...), floating outputs in the
   precision of ``X``.

Side information (for a model fitted with it) is taken as further inputs, one
per name in sorted order, each of the samples' first axis, cast to the
precision of the computation as ``predict`` casts it.

Complex ``X`` (and complex outputs) travel as real arrays with a last axis of
two, ``(real, imaginary)``: ``np.stack([X.real, X.imag], axis=-1)``; ONNX
runtimes have no complex arithmetic.

An estimator declares what its ``predict`` does beyond the default with
optional methods (the hooks); a family defines them on its estimator classes:

``_export_outputs(self, estimate, x)``
    The outputs, a dict of tensors (``predict``'s output first) of the
    readout ``estimate`` of a batch whose input (cast, complex combined, not
    yet reshaped) is ``x``. Default: ``{"predict": estimate}``, squeezed to
    1-D for a model fitted on a 1-D ``y``.
``_export_core(self, dtype)``
    The torch module that maps the reshaped input to the readout, in
    ``dtype`` (default: a copy of ``module_`` cast to ``dtype`` running its
    fitted layers). Estimators that are not unfolded (the reference MIMO
    detectors) implement it.
``_export_dtype(self, X)``
    The real dtype ``predict`` computes in for the validated input ``X``.
``_export_validate(self, X)``
    The validated ``X`` (default: ``validate_input(X, reset=False)``).

The same hooks may be passed to :func:`inference_module` (``outputs=``), so
that an estimator defined elsewhere can be exported without editing it.

:func:`export_program` traces the module with ``torch.export`` (the batch axis
dynamic); for ONNX, :func:`onnx_decompositions` replaces the operators ONNX
lacks by exportable ones (``linalg.solve`` by
:func:`~skunfold.core.export_linalg.gauss_jordan_solve`) and
:func:`onnx_registry` adds translations of complex operators to torch.onnx's.
"""

import contextlib
import copy

import numpy as np
import torch
from sklearn.utils.validation import check_array, check_is_fitted
from torch import nn

from .export_linalg import gauss_jordan_solve
from .export_loops import EquilibriumRun
from .module import cast_module, module_dtype
from .problem import evaluation_mode

__all__ = ["InferenceModule", "LayerRun", "inference_module", "example_input", "example_inputs",
           "input_layout", "export_program", "gauss_jordan_solve", "onnx_decompositions",
           "onnx_registry"]


class LayerRun(nn.Module):
    """The fitted layers of an :class:`~skunfold.core.UnfoldedModule`: ``x -> readout``.

    Parameters
    ----------
    module : UnfoldedModule
        Run in eval mode (a copy should be passed: it is not copied).
    n_layers : int
    """

    def __init__(self, module, n_layers):
        super().__init__()
        self.module = module.eval()
        self.n_layers = int(n_layers)

    def forward(self, x, side=None):
        module = self.module
        with evaluation_mode(module.problem):
            return module.readout(module.final_state(x, self.n_layers, side))


class InferenceModule(nn.Module):
    """``predict`` of a fitted estimator as one torch module (see :func:`inference_module`).

    Parameters
    ----------
    core : torch.nn.Module
        Maps the reshaped input (in ``compute_dtype``) to the readout.
    outputs : callable
        ``outputs(estimate, x) -> dict``: ``predict``'s output first.
    sample_shape : tuple of int
        The shape of one validated sample (the input is reshaped to
        ``(-1, *sample_shape)``); ``None``: no reshape.
    compute_dtype : torch.dtype
        Real dtype of the computation.
    io_dtype : torch.dtype
        Real dtype of the input and of the floating outputs.
    complex_input : bool
        Whether the input holds complex values as a last axis ``(real, imag)``.
    complex_model : bool
        Whether the layers take complex input (a real input is then made
        complex, as ``validate_input`` does).
    batched : bool
        Whether the first axis of the input is the samples' (any length);
        ``False`` for one instance (e.g. one matrix of a robust PCA).
    side_names : tuple of str
        The names of the side information, which the module takes as further
        inputs in this order (passed to ``core`` as a dict).

    Attributes
    ----------
    output_names : list of str
        The names of the outputs (the keys of ``outputs``' dict), set by a call.
    """

    def __init__(self, core, outputs, sample_shape, compute_dtype, io_dtype,
                 complex_input=False, complex_model=False, batched=True, side_names=()):
        super().__init__()
        self.batched = bool(batched)
        self.side_names = tuple(side_names)
        self.core = core
        self._outputs = outputs
        self.sample_shape = None if sample_shape is None else tuple(sample_shape)
        self.compute_dtype = compute_dtype
        self.io_dtype = io_dtype
        self.complex_input = bool(complex_input)
        self.complex_model = bool(complex_model)
        self.output_names = None

    def forward(self, x, *side):
        if len(side) != len(self.side_names):
            raise TypeError(f"the model takes X and the side information {list(self.side_names)}"
                            f" ({1 + len(self.side_names)} inputs), got {1 + len(side)} inputs")
        x = x.to(self.compute_dtype)
        if self.complex_input:
            x = torch.complex(x[..., 0], x[..., 1])
        elif self.complex_model:
            x = torch.complex(x, torch.zeros_like(x))
        layers_input = x
        if self.sample_shape is not None and tuple(x.shape[1:]) != self.sample_shape:
            layers_input = x.reshape((-1,) + self.sample_shape)
        if self.side_names:
            side = {name: t.to(self.compute_dtype) for name, t in zip(self.side_names, side)}
            estimate = self.core(layers_input, side)
        else:
            estimate = self.core(layers_input)
        outputs = self._outputs(estimate, x)
        self.output_names = list(outputs)
        return tuple(self._output(t) for t in outputs.values())

    def _output(self, t):
        if t.is_complex():
            return torch.view_as_real(t.to(torch.complex128 if self.io_dtype == torch.float64
                                           else torch.complex64))
        if t.is_floating_point():
            return t.to(self.io_dtype)
        return t


def _default_outputs(estimator):
    squeeze = estimator.__dict__.get("target_ndim_") == 1

    def outputs(estimate, x):
        if squeeze and estimate.ndim == 2 and estimate.shape[1] == 1:
            estimate = estimate[:, 0]
        return {"predict": estimate}
    return outputs


def _default_dtype(estimator, X):
    module = estimator.module_
    exact = ("input_precision" in getattr(estimator, "supports", ()) and estimator.net_ is not None
             and X.dtype in (np.float64, np.complex128))
    return torch.float64 if exact else module_dtype(module)


def _default_core(estimator, dtype):
    module = cast_module(copy.deepcopy(estimator.module_).to("cpu"), dtype)
    module.requires_grad_(False)  # a copy: the outputs of the exported programs need no grad
    if module.fixed_point is not None:  # the solve to a tolerance, as one loop node
        return EquilibriumRun(module)
    return LayerRun(module, module.n_layers)


def _validate(estimator, X):
    hook = getattr(estimator, "_export_validate", None)
    if hook is not None:
        return hook(X)
    if hasattr(estimator, "validate_input"):
        return estimator.validate_input(X, reset=False)
    return check_array(X, allow_nd=True, dtype=[np.float64, np.float32], input_name="X")


def input_layout(X):
    """``(X as an array, its real dtype, whether complex)`` of a sample as a user passes it.

    Integer and boolean ``X`` are taken as float64 (as ``predict`` takes them).
    """
    if hasattr(X, "to_numpy"):  # a DataFrame
        X = X.to_numpy()
    X = np.asarray(X)
    if X.dtype.kind == "c":
        return X, (np.float32 if X.dtype == np.complex64 else np.float64), True
    if X.dtype == np.float32:
        return X, np.float32, False
    return X, np.float64, False


def example_input(X, min_rows=1):
    """The torch tensor the exported graph takes for ``X`` (complex as a last axis of two).

    At least ``min_rows`` rows (the last row repeated; ``torch.export``
    specialises a dimension of size one, so export with ``min_rows=2``).
    """
    X, real, is_complex = input_layout(X)
    X = X.astype(np.complex64 if real == np.float32 and is_complex else
                 np.complex128 if is_complex else real, copy=False)
    if X.ndim >= 1 and 0 < len(X) < min_rows:
        X = np.concatenate([X] + [X[-1:]] * (min_rows - len(X)))
    t = torch.from_numpy(np.ascontiguousarray(X))
    return torch.view_as_real(t).contiguous() if is_complex else t


def example_inputs(module, X_sample, side=None, min_rows=1):
    """The tensors an :class:`InferenceModule` takes: ``X_sample``'s, then the side information's.

    See :func:`example_input`; ``side`` (a dict of arrays) in the order of
    ``module.side_names``.
    """
    side = side or {}
    return (example_input(X_sample, min_rows),) + tuple(
        example_input(side[name], min_rows) for name in module.side_names)


def _check_side(estimator, side, n_samples):
    """The side information of the samples, validated as ``predict`` validates it."""
    fitted = tuple(getattr(estimator, "_side_names", ()))
    side = {} if side is None else side
    if not isinstance(side, dict):
        raise TypeError(f"side must be a dict of the side information's name to its array (one "
                        f"row per sample of X_sample), got {type(side).__name__}")
    if set(side) != set(fitted):
        raise ValueError(f"{type(estimator).__name__} was fitted with the side information "
                         f"{sorted(fitted)} and the export received {sorted(side)}: pass "
                         "side={name: array, ...} with the arrays predict takes for X_sample")
    if not fitted:
        return {}, ()
    return estimator._validate_side(side, estimator.module_.problem, n_samples), fitted


def inference_module(estimator, X_sample, *, dtype=None, outputs=None, core=None, side=None):
    """``predict`` of a fitted estimator as one torch module, for samples like ``X_sample``.

    Parameters
    ----------
    estimator : estimator
        A fitted skunfold estimator.
    X_sample : array-like
        Input as ``predict`` takes it (validated like it); the exported
        module takes arrays of the same shape but for the first axis, in the
        same precision (float32, or float64), complex values as a last axis of
        two ``(real, imag)``.
    dtype : torch.dtype, optional
        Compute in this dtype (e.g. ``torch.bfloat16``); default: as ``predict``.
    outputs, core : callable, optional
        The hooks ``_export_outputs`` and ``_export_core`` (see the module's
        docstring) for an estimator that does not define them.
    side : dict of str to array-like, optional
        For a model fitted with side information: its arrays for the samples
        of ``X_sample``, as ``predict`` takes them by keyword; the module then
        takes them as further inputs, in the sorted order of their names.

    Returns
    -------
    module : InferenceModule
        In eval mode; ``module(example_input(X))`` (``module(*example_inputs(module,
        X, side))`` with side information) returns a tuple of tensors, ``predict``'s
        output first.

    Examples
    --------
    >>> import numpy as np
    >>> from skunfold.core.export_hooks import example_input, inference_module
    >>> from skunfold.datasets import make_sparse_recovery
    >>> from skunfold.sparse import ISTA
    >>> X, S, D = make_sparse_recovery(20, 10, 20, random_state=0)
    >>> ista = ISTA(D, n_layers=5).fit(X)
    >>> module = inference_module(ista, X)
    >>> out = module(example_input(X[:3]))[0].numpy()
    >>> bool(np.allclose(out, ista.predict(X[:3])))
    True
    """
    check_is_fitted(estimator)
    X, real, is_complex = input_layout(X_sample)
    validated = np.asarray(_validate(estimator, X_sample))
    side, side_names = _check_side(estimator, side, len(validated))
    hook = getattr(estimator, "_export_dtype", None)
    if dtype is None:
        dtype = hook(validated) if hook is not None else _default_dtype(estimator, validated)
    elif not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise ValueError(f"dtype must be a real floating torch dtype (torch.float16, "
                         f"torch.bfloat16, torch.float32 or torch.float64), got {dtype!r}")
    if outputs is None:
        outputs = getattr(estimator, "_export_outputs", None) or _default_outputs(estimator)
    if core is None:
        hook = getattr(estimator, "_export_core", None)
        core = hook(dtype) if hook is not None else _default_core(estimator, dtype)
    io_dtype = torch.float32 if real == np.float32 else torch.float64
    module = InferenceModule(core, outputs, validated.shape[1:], dtype, io_dtype,
                             complex_input=is_complex,
                             complex_model=validated.dtype.kind == "c",
                             batched=X.ndim >= 1 and len(validated) == len(X),
                             side_names=side_names)
    return module.eval()


def export_program(module, example):
    """The ``torch.export`` program of an :class:`InferenceModule` on the tensor ``example``.

    ``example``: a tensor, or a tuple of tensors (``X``'s and the side
    information's, see :func:`example_inputs`). The first axis (the same for
    all inputs) is dynamic when the module is batched (export with at least
    two rows, see :func:`example_input`).
    """
    examples = example if isinstance(example, tuple) else (example,)
    batch = torch.export.Dim("batch")
    # forward(x, *side): the side inputs' shapes as one tuple (torch.export's varargs)
    dynamic = (({0: batch},) + ((tuple({0: batch} for _ in examples[1:]),) if examples[1:] else ())
               if module.batched else None)
    with torch.no_grad():
        return torch.export.export(module, examples, dynamic_shapes=dynamic, strict=False)


def _solve_ex(A, B, *, left=True, check_errors=False):
    if not left:
        raise ValueError("torch.linalg.solve(..., left=False) has no ONNX translation in "
                         "skunfold.export: solve with left=True on the transposed system")
    batch = A.shape[:-2]
    return (gauss_jordan_solve(A, B), A,
            torch.zeros(batch + A.shape[-1:], dtype=torch.int32, device=A.device),
            torch.zeros(batch, dtype=torch.int32, device=A.device))


def _new_zeros(self, size, *, dtype=None, layout=None, device=None, pin_memory=None):
    dtype = self.dtype if dtype is None else dtype
    device = self.device if device is None else device
    if dtype.is_complex:  # zeros of the real representation, viewed as complex
        real = torch.float64 if dtype == torch.complex128 else torch.float32
        return torch.view_as_complex(torch.zeros(list(size) + [2], dtype=real, device=device))
    return torch.zeros(size, dtype=dtype, device=device)


def onnx_decompositions():
    """``torch.export``'s decompositions, and of the ops ONNX lacks (solve, complex zeros).

    For ``ExportedProgram.run_decompositions`` before the conversion to ONNX.
    """
    table = torch.export.default_decompositions()
    aten = torch.ops.aten
    table[aten._linalg_solve_ex.default] = _solve_ex
    table[aten.linalg_solve.default] = lambda A, B, *, left=True: _solve_ex(A, B, left=left)[0]
    table[aten.new_zeros.default] = _new_zeros
    return table


def _complex_functions():
    """ONNX functions of complex ops torch.onnx lacks (complex tensors as a last axis of two)."""
    from onnxscript import opset18 as op

    def to_copy(self, dtype: int = -1, layout: str = "", device: str = "",
                pin_memory: bool = False, non_blocking: bool = False, memory_format: str = ""):
        if dtype == -1:
            return op.Identity(self)
        if dtype not in (14, 15):  # complex64, complex128
            raise ValueError("a cast of a complex tensor to a real dtype has no ONNX translation")
        return op.Cast(self, to=1 if dtype == 14 else 11)

    def identity(self):
        return op.Identity(self)

    def index_select(self, dim: int, index):
        index = op.Cast(op.Reshape(index, op.Constant(value_ints=[-1])), to=7)
        return op.Gather(self, index, axis=dim if dim >= 0 else dim - 1)

    aten = torch.ops.aten
    return {aten._to_copy.default: to_copy, aten.alias.default: identity,
            aten.detach.default: identity, aten.index_select.default: index_select}


@contextlib.contextmanager
def onnx_registry():
    """A context: torch.onnx's registry built once (it takes seconds), with the complex functions.

    ``torch.onnx.export`` builds its registry of operator translations at every call;
    within the context it gets a copy of one built once, to which the ONNX functions of
    :func:`_complex_functions` are added. Only for the duration of the context; without
    this private API (another torch) nothing is patched, and complex models do not export.
    """
    try:
        from torch.onnx._internal.exporter import _registration
        original = _registration.ONNXRegistry.__dict__["from_torchlib"]
    except (ImportError, AttributeError, KeyError):
        yield
        return
    cache = onnx_registry.__dict__.setdefault("cache", {})

    def from_torchlib(cls, *args, **kwargs):
        key = (args, tuple(sorted(kwargs.items())))
        if key not in cache:
            cache[key] = original.__func__(cls, *args, **kwargs)
            for target, function in _complex_functions().items():
                cache[key].register_op(target, function, is_complex=True)
        registry = cls.__new__(cls)
        registry.__dict__.update(cache[key].__dict__)
        registry.functions = {k: list(v) for k, v in cache[key].functions.items()}
        return registry

    _registration.ONNXRegistry.from_torchlib = classmethod(from_torchlib)
    try:
        yield
    finally:
        _registration.ONNXRegistry.from_torchlib = original
