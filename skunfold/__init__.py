"""skunfold: deep unfolding as scikit-learn estimators.

Iterative solvers (ISTA, robust-PCA gradient steps, soft interference
cancellation, ...) become ``n_layers`` trainable layers, trained by skorch on a
GPU when there is one and on the CPU when there is not.
"""

__version__ = "0.1.0"

from . import core, datasets, metrics, sparse  # noqa: E402
from . import mimo  # noqa: E402
from . import rpca  # noqa: E402

__all__ = ["core", "datasets", "metrics", "sparse", "mimo", "rpca", "__version__"]
