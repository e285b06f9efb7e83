"""Training: the settings (`config`), the loop (`loop`) and what it records (`evaluation`,
`history`), the batched engine (`batched`), checkpoints (`checkpoints`), DDP (`distributed`) and
the scikit-learn estimator (`estimator`, imported on first use: it imports scikit-learn).
Imports only the base modules, `drift.core` and `drift.data`."""

import importlib

from . import batched, checkpoints, config, distributed, evaluation, history, loop
from .config import PRECISIONS, TrainConfig
from .history import History
from .loop import train, training_step

__all__ = [
    "batched",
    "checkpoints",
    "config",
    "distributed",
    "evaluation",
    "history",
    "loop",
    "PRECISIONS",
    "TrainConfig",
    "History",
    "train",
    "training_step",
    "DriftClassifier",
    "labeled_accuracy",
]


def __getattr__(name):
    """`DriftClassifier`, `labeled_accuracy` and the `estimator` module are imported on first use,
    as they import scikit-learn (1-2 s)."""
    if name in ("DriftClassifier", "labeled_accuracy", "estimator"):
        estimator = importlib.import_module(f"{__name__}.estimator")
        return estimator if name == "estimator" else getattr(estimator, name)
    raise AttributeError(f"module 'drift.training' has no attribute {name!r}")
