"""The per-layer table of a fitted model: the hyperparameters of every layer as plain numbers."""

import numpy as np
import torch

__all__ = ["layer_table"]


def _plain(value):
    if torch.is_tensor(value):
        value = value.detach().cpu()
        if value.is_complex():
            value = value.resolve_conj()
        return value.numpy().copy() if value.ndim else value.item()
    return np.asarray(value).copy() if isinstance(value, np.ndarray) else float(value)


def layer_table(module):
    """``{"layer": [1..K], name: values, ...}`` for a fitted :class:`UnfoldedModule`.

    Each layer reports what its iteration module's
    :meth:`~skunfold.core.Iteration.hyperparameter_values` gives (learned
    values, or the classical ones). A scalar hyperparameter is a float column
    of length ``K``; one of several values an array of shape ``(K, ...)``; a
    layer that lacks a name has NaN there.
    """
    rows = []
    with torch.no_grad():
        for k in range(module.n_layers):
            values = module.iteration(k).hyperparameter_values(module.problem, k)
            rows.append({name: _plain(v) for name, v in values.items()})
    table = {"layer": np.arange(1, module.n_layers + 1)}
    names = [n for row in rows for n in row]
    for name in dict.fromkeys(names):
        present = [row[name] for row in rows if name in row]
        shape = np.shape(present[0])
        if all(np.shape(v) == shape for v in present):
            filled = [row.get(name, np.full(shape, np.nan)) for row in rows]
            table[name] = np.array(filled, dtype=np.result_type(*present, np.float64))
    return table
