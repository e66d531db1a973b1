"""Small numerical pieces shared by the core and the families: shrinkage, dtypes, tensors.

Everything that decides a dtype or turns an array into a tensor lives here, so
that every estimator computes in the same precision and returns outputs in the
dtype of its input.
"""

import numpy as np
import torch

__all__ = [
    "soft_threshold",
    "compute_dtype",
    "complex_dtype",
    "output_dtype",
    "to_tensor",
    "to_numpy",
]

_COMPLEX = {torch.float32: torch.complex64, torch.float64: torch.complex128}


def soft_threshold(z, theta):
    r"""Soft thresholding :math:`\mathrm{sign}(z) \max(|z| - \theta, 0)`, the prox of the l1 norm.

    Computed as ``z - clip(z, -theta, theta)``, one fused pass per bound;
    ``theta`` is a float or a tensor broadcasting against ``z`` (e.g. one
    threshold per sample).

    Parameters
    ----------
    z : torch.Tensor
    theta : float or torch.Tensor
        Non-negative threshold.

    Returns
    -------
    torch.Tensor
        Same shape as ``z``.

    Examples
    --------
    >>> import torch
    >>> from skunfold.core import soft_threshold
    >>> soft_threshold(torch.tensor([-2.0, 0.5, 3.0]), 1.0)
    tensor([-1.,  0.,  2.])
    """
    if not torch.is_tensor(theta):
        return z - torch.clamp(z, -theta, theta)
    return z - torch.maximum(torch.minimum(z, theta), -theta)


def _precision(np_dtype):
    np_dtype = np.dtype(np_dtype)
    return 64 if np_dtype in (np.float64, np.complex128) else 32


def compute_dtype(input_dtype, exact=False, override=None):
    """The real torch dtype a model computes in.

    Trained models compute in float32 (the GPU's fast path); a model that
    learns nothing (``exact=True``: a classical solver) computes in the
    precision of its input, so float64 data get float64 results. A problem may
    force a dtype (``override``, e.g. float64 where tiny noise variances need it).

    Parameters
    ----------
    input_dtype : numpy dtype
        Dtype of the validated input ``X``.
    exact : bool, default=False
        Whether to follow the input's precision.
    override : torch.dtype or None, default=None

    Returns
    -------
    torch.dtype
        ``torch.float32`` or ``torch.float64``.
    """
    if override is not None:
        if override not in _COMPLEX:
            raise ValueError(f"a problem's dtype must be torch.float32 or torch.float64, "
                             f"got {override!r}")
        return override
    if exact and _precision(input_dtype) == 64:
        return torch.float64
    return torch.float32


def complex_dtype(real_dtype):
    """The complex torch dtype of the same precision as ``real_dtype``."""
    return _COMPLEX[real_dtype]


def output_dtype(input_dtype, is_complex):
    """Numpy dtype of an output: the precision of the input, real or complex as the output."""
    bits = _precision(input_dtype)
    if is_complex:
        return np.dtype(np.complex128 if bits == 64 else np.complex64)
    return np.dtype(np.float64 if bits == 64 else np.float32)


def to_tensor(arr, dtype=torch.float32, device="cpu"):
    """Convert an array to a tensor of the computation dtype on ``device``.

    Floating arrays take ``dtype``, complex arrays its complex counterpart,
    integer and boolean arrays keep their type. Read-only arrays are copied
    (torch cannot wrap them), other arrays are shared when no conversion is
    needed.
    """
    if torch.is_tensor(arr):
        t = arr
    else:
        arr = np.asarray(arr)
        if not arr.flags.writeable or not arr.flags.c_contiguous:
            arr = np.array(arr, order="C", copy=True)
        t = torch.from_numpy(arr)
    if t.is_complex():
        t = t.to(complex_dtype(dtype))
    elif t.is_floating_point():
        t = t.to(dtype)
    return t.to(device, non_blocking=True)


def to_numpy(t, dtype=None):
    """Detach a tensor to a numpy array on the host, optionally cast to ``dtype``."""
    arr = t.detach().cpu().numpy()
    return arr if dtype is None else arr.astype(dtype, copy=False)
