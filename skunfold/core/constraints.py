"""Checks of parameters and data: the constraints of the parameter rows, input checks, devices.

A parameter row (:class:`~skunfold.core.Param`) holds a check: any callable
``check(value, name)`` that returns the value to use and raises
``TypeError`` or ``ValueError`` with a message naming the parameter. The
factories here (:func:`integer`, :func:`real`, :func:`options`,
:func:`open_unit`, :func:`boolean`, :func:`layer_sizes`) cover the usual cases;
:class:`~skunfold.core.UnfoldedEstimator` runs the check of every row of the
class and its bases at the start of ``fit``. The data checks
(:func:`check_input_ndim`, :func:`check_complex_array`, :func:`array_ndim`)
complement scikit-learn's ``validate_data`` for n-d and complex inputs.
"""

import inspect
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils.validation import validate_data

__all__ = [
    "check_int",
    "check_real",
    "check_option",
    "check_bool",
    "check_layer_sizes",
    "integer",
    "real",
    "options",
    "open_unit",
    "boolean",
    "layer_sizes",
    "array_ndim",
    "check_input_ndim",
    "check_complex_array",
    "is_clean_array",
    "check_fitted_input",
    "resolve_device",
    "caller_stacklevel",
]


def check_int(value, name, min_value=None, allow_none=False):
    """Return ``value`` as an int, or raise a ``TypeError``/``ValueError`` naming ``name``."""
    if value is None and allow_none:
        return None
    if not isinstance(value, Integral) or isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, got {value!r} of type {type(value).__name__}")
    if min_value is not None and value < min_value:
        raise ValueError(f"{name} must be >= {min_value}, got {value}")
    return int(value)


def check_real(value, name, min_value=None, max_value=None, strict_min=False, allow_none=False):
    """Return ``value`` as a finite float within bounds, or raise naming ``name``."""
    if value is None and allow_none:
        return None
    if not isinstance(value, Real) or isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a real number, got {value!r} of type "
                        f"{type(value).__name__}")
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if min_value is not None and (value < min_value or (strict_min and value == min_value)):
        op = ">" if strict_min else ">="
        raise ValueError(f"{name} must be {op} {min_value}, got {value}")
    if max_value is not None and value > max_value:
        raise ValueError(f"{name} must be <= {max_value}, got {value}")
    return float(value)


def check_option(value, name, choices):
    """Return ``value`` if it is one of ``choices`` (strings), else raise naming ``name``."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


def check_bool(value, name):
    """Return ``value`` as a bool, or raise a ``TypeError`` naming ``name``."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {value!r}")
    return bool(value)


def check_layer_sizes(value, name="hidden_layer_sizes"):
    """Return ``value`` as a non-empty tuple of positive ints (hidden layer widths)."""
    if isinstance(value, (str, bytes)):
        sizes = None
    else:
        try:
            sizes = tuple(value)
        except TypeError:
            sizes = None
    if sizes is None or not sizes or not all(
            isinstance(h, Integral) and not isinstance(h, (bool, np.bool_)) and h >= 1
            for h in sizes):
        raise ValueError(f"{name} must be a non-empty tuple of positive integers, got {value!r}")
    return tuple(int(h) for h in sizes)


# -- check factories (the checks of parameter rows) -----------------------------------

def integer(min_value=None, allow_none=False):
    """A check: an integer ``>= min_value`` (or ``None`` when allowed)."""
    return lambda v, name: check_int(v, name, min_value=min_value, allow_none=allow_none)


def real(min_value=None, max_value=None, strict_min=False, allow_none=False):
    """A check: a finite real number within bounds (or ``None`` when allowed)."""
    return lambda v, name: check_real(v, name, min_value=min_value, max_value=max_value,
                                      strict_min=strict_min, allow_none=allow_none)


def options(*choices, allow_none=False):
    """A check: one of the strings ``choices`` (or ``None`` when allowed)."""
    def check(v, name):
        if v is None and allow_none:
            return None
        return check_option(v, name, choices)
    return check


def open_unit():
    """A check: a real number strictly inside ``(0, 1)``."""
    def check(v, name):
        value = check_real(v, name, min_value=0, max_value=1, strict_min=True)
        if value >= 1:
            raise ValueError(f"{name} must be in the open interval (0, 1), got {value}")
        return value
    return check


def boolean():
    """A check: a bool."""
    return check_bool


def layer_sizes():
    """A check: a non-empty tuple of positive integers."""
    return lambda v, name: check_layer_sizes(v, name)


def array_ndim(value):
    """The number of dimensions of an array-like (``None`` when it is not one, e.g. ragged).

    Works for arrays, DataFrames, nested lists and objects exposing ``__array__``
    only, without calling numpy functions on them.
    """
    ndim = getattr(value, "ndim", None)
    if ndim is not None:
        return int(ndim)
    try:
        return np.asarray(value).ndim
    except (TypeError, ValueError):
        return None


def check_input_ndim(X, owner, max_ndim=None):
    """Reject ``X`` with a short message when it has fewer than 2 or more than ``max_ndim`` axes.

    scikit-learn's message for a 1-D ``X`` embeds the whole array; this one
    gives the shape and the fix. ``owner`` (an estimator) names the caller.
    Input that is not array-like is left to scikit-learn's validation.
    """
    if hasattr(X, "tocsr") or hasattr(X, "toarray"):
        return X  # scikit-learn's validation says that sparse input is not supported
    ndim = array_ndim(X)
    if ndim is None:
        return X
    if ndim < 2:
        shape = np.shape(X) if ndim == 1 else ()
        raise ValueError(
            f"Expected a 2-D X (n_samples, n_features) or an n-d X (n_samples, ...), got a "
            f"{ndim}-D array of shape {shape}. Reshape your data with X.reshape(-1, 1) if it "
            "has a single feature or X.reshape(1, -1) if it is a single sample.")
    if max_ndim is not None and ndim > max_ndim:
        raise ValueError(f"Found array with dim {ndim}; {type(owner).__name__} expects a "
                         f"{max_ndim}-D X (n_samples, n_features)")
    return X


def check_complex_array(value, name="X", allow_nan=False, min_ndim=1):
    """Validate a real or complex numeric array (scikit-learn's ``check_array`` rejects complex).

    Returns a float64/float32 or complex128/complex64 array (integers become
    float64); raises a ``ValueError`` naming ``name`` for non-numeric, empty
    or non-finite data (NaN allowed with ``allow_nan``).
    """
    if hasattr(value, "tocsr") or hasattr(value, "toarray"):
        raise TypeError(f"Sparse data was passed for {name}, but dense data is required. Use "
                        "'.toarray()' to convert to a dense numpy array.")
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be an array of numbers: {exc}") from None
    if arr.dtype.kind not in "biufc":
        raise ValueError(f"{name} must hold numbers, got dtype {arr.dtype}")
    if arr.dtype.kind in "biu":
        arr = arr.astype(np.float64)
    elif arr.dtype not in (np.float32, np.float64, np.complex64, np.complex128):
        arr = arr.astype(np.complex128 if arr.dtype.kind == "c" else np.float64)
    if arr.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dimension(s), got shape "
                         f"{arr.shape}")
    if arr.size == 0 or (arr.ndim and arr.shape[0] == 0):
        raise ValueError(f"Found array with 0 sample(s) (shape={arr.shape}) while a minimum of 1 "
                         f"is required: {name} is empty")
    bad = ~np.isfinite(arr)
    if allow_nan:
        bad &= ~np.isnan(arr)
    if bad.any():
        raise ValueError(f"Input {name} contains NaN or infinity.")
    return arr


_FLOAT_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))
_COMPLEX_DTYPES = (np.dtype(np.complex128), np.dtype(np.complex64))


def is_clean_array(X, allow_complex=False, min_ndim=2):
    """Whether ``X`` needs no conversion and no message: the fast path of the input checks.

    True for a plain, non-empty numpy array of at least ``min_ndim`` axes, of
    dtype float64 or float32 (complex128 or complex64 with
    ``allow_complex``), all finite: an array that scikit-learn's
    ``check_array(X, dtype=[np.float64, np.float32], allow_nd=True)`` (or
    :func:`check_complex_array`) returns unchanged. Anything else (lists,
    DataFrames, other dtypes, NaN or infinity) is False: the caller then runs
    the full check, which converts it or raises its message.

    Examples
    --------
    >>> import numpy as np
    >>> from skunfold.core.constraints import is_clean_array
    >>> is_clean_array(np.ones((2, 3))), is_clean_array(np.array([[1.0, np.nan]]))
    (True, False)
    """
    if type(X) is not np.ndarray or X.ndim < min_ndim or X.size == 0:
        return False
    if X.dtype not in _FLOAT_DTYPES and not (allow_complex and X.dtype in _COMPLEX_DTYPES):
        return False
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(X.sum()):  # one pass, no temporary: the common case
            return True
    return bool(np.isfinite(X).all())  # the sum overflowed, or X holds NaN / infinity


def check_fitted_input(estimator, X, allow_nd=False):
    """``X`` checked against a fitted ``estimator``: scikit-learn's ``validate_data``, made cheap.

    The same as ``validate_data(estimator, X, reset=False, dtype=[np.float64,
    np.float32], allow_nd=allow_nd)``, with a fast path for what ``predict``
    receives most: a clean array (:func:`is_clean_array`) of the fitted
    number of features, for an estimator fitted without feature names, is
    returned as it is (the checks pass by construction). Any other input goes
    through ``validate_data``, with its conversions, messages and warnings.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LinearRegression
    >>> from skunfold.core.constraints import check_fitted_input
    >>> est = LinearRegression().fit(np.eye(3)[:, :2], [1.0, 2.0, 3.0])
    >>> X = np.zeros((1, 2))
    >>> check_fitted_input(est, X) is X, check_fitted_input(est, [[0, 0]]).dtype
    (True, dtype('float64'))
    """
    if (is_clean_array(X) and (allow_nd or X.ndim == 2)
            and "feature_names_in_" not in vars(estimator)
            and X.shape[1] == getattr(estimator, "n_features_in_", None)):
        return X
    return validate_data(estimator, X, reset=False, dtype=[np.float64, np.float32],
                         allow_nd=allow_nd)


# -- devices -------------------------------------------------------------------------------

def _available_devices():
    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if n == 0:
        return "only 'cpu' is available here (PyTorch sees no CUDA GPU)"
    return "available: 'cpu', " + ", ".join(["'cuda'"] + [f"'cuda:{i}'" for i in range(n)])


def resolve_device(device):
    """Turn a ``device`` parameter into a usable torch device string.

    ``"auto"`` is ``"cuda"`` when PyTorch sees a GPU, else ``"cpu"``. An
    explicit CUDA device that this machine cannot use is a ``ValueError``
    naming ``device`` and what is available (rather than PyTorch's bare
    ``AssertionError`` at the first allocation).

    Parameters
    ----------
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    Returns
    -------
    str

    Examples
    --------
    >>> from skunfold.core.constraints import resolve_device
    >>> resolve_device("cpu")
    'cpu'
    """
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if not isinstance(device, str):
        raise ValueError(f"device must be a string such as 'auto', 'cpu' or 'cuda', got {device!r}")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}") \
            from None
    if dev.type == "cpu":
        return device
    if dev.type != "cuda":
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if n == 0 or (dev.index is not None and dev.index >= n):
        raise ValueError(f"device={device!r} is not usable on this machine; "
                         f"{_available_devices()}. Use device='auto' to take a GPU when "
                         "there is one and the CPU otherwise.")
    return device


def caller_stacklevel():
    """The ``stacklevel`` of :func:`warnings.warn` that points at the first frame outside skunfold.

    A warning raised deep inside ``fit`` or ``predict`` is then reported at the
    user's call, where it can be acted on (and filtered by module).
    """
    frame, level = inspect.currentframe().f_back, 1
    while frame is not None and frame.f_globals.get("__name__", "").startswith("skunfold"):
        frame, level = frame.f_back, level + 1
    return level
