"""Test configuration: one torch thread (small fits run many times slower with two here)."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

torch.set_num_threads(1)
torch.set_num_interop_threads(1) if hasattr(torch, "set_num_interop_threads") else None
