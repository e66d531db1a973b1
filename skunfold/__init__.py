"""skunfold: deep unfolding as scikit-learn estimators.

Iterative solvers (ISTA, robust-PCA gradient steps, soft interference
cancellation, or your own, described as a :class:`skunfold.core.Problem`)
become ``n_layers`` trainable layers, trained by skorch on a GPU when there is
one and on the CPU when there is not.

Sub-packages are imported on first use (``skunfold.sparse``, ``skunfold.rpca``,
...), so ``import skunfold`` stays cheap.
"""

import importlib

__version__ = "0.1.0"

_SUBPACKAGES = (
    "core", "datasets", "metrics", "sparse", "rpca", "mimo", "power", "beamforming",
    "distributed", "export",
)

__all__ = [*_SUBPACKAGES, "__version__"]


def __getattr__(name):
    if name in _SUBPACKAGES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_SUBPACKAGES))
