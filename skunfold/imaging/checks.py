"""The checks of the imaging arguments shared by operators and priors: shapes, masks, sigma."""

import math
import numbers

import numpy as np

__all__ = ["check_image_shape", "check_mask", "selection", "check_sigma"]


def check_image_shape(image_shape, name="image_shape"):
    """``(H, W)`` as a pair of positive ints, or a ``ValueError`` naming ``name``."""
    try:
        shape = tuple(image_shape)
        ok = len(shape) == 2 and all(isinstance(s, numbers.Integral) and s > 0 for s in shape)
    except TypeError:
        ok = False
    if not ok:
        raise ValueError(f"{name} must be a pair of positive integers (H, W), "
                         f"got {image_shape!r}")
    return tuple(int(s) for s in shape)


def check_mask(mask, image_shape, name):
    """A boolean mask of ``image_shape`` that keeps something, or a ``ValueError``."""
    mask = np.asarray(mask)
    if mask.shape != image_shape:
        raise ValueError(f"{name}: mask has shape {mask.shape}, expected image_shape "
                         f"{image_shape}")
    if mask.dtype != bool:
        if not np.isin(mask, (0, 1)).all():
            raise ValueError(f"{name}: mask must be boolean (or 0/1), got dtype {mask.dtype}")
        mask = mask.astype(bool)
    if not mask.any():
        raise ValueError(f"{name}: mask keeps nothing (all False)")
    return mask


def selection(mask):
    """Indices of the kept entries, and for every entry its row in ``[kept, 0]``."""
    index = np.flatnonzero(mask)
    scatter = np.full(mask.size, index.size, dtype=np.int64)
    scatter[index] = np.arange(index.size)
    return index, scatter


def check_sigma(sigma):
    """``sigma`` as a positive finite float, or a ``ValueError``."""
    if not isinstance(sigma, numbers.Real) or not (sigma > 0 and math.isfinite(sigma)):
        raise ValueError(f"sigma must be a positive number, got {sigma!r}")
    return float(sigma)
