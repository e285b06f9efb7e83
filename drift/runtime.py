"""Seeds, threads and devices: the few global settings every notebook and run shares."""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int = 0, *, threads: int | None = 1) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA), and pin torch's CPU threads.

    One thread is the fast and reproducible choice for small models on shared 2-core
    machines (several threads contend and slow down); pass threads=None to leave it alone.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if threads is not None:
        torch.set_num_threads(threads)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """ "auto" is CUDA when present, else the CPU; anything else is checked and returned."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(
            f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N'; got {device!r}"
        ) from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            "device='cuda' was asked for but torch sees no CUDA GPU; use device='auto' or 'cpu'"
        )
    return device
