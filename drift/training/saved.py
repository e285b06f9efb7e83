"""A trained student and its teacher in one file, and read back to predict: what
`python -m drift train --save` writes and `python -m drift predict` reads.

The file is the dict that `torch.save` writes (read with `weights_only=True`): format
(`FORMAT`); method (the preset's name) and config (the `TrainConfig` settings, a dict); model
(a name in `drift.MODELS`), feature_shape and num_classes, from which the network is rebuilt;
student and teacher (their state dicts, on the CPU); classes (the C labels of the training
file, names or integers 0..C-1) and label_names (the names, or None when the labels were
integers); reading (how the features were read, `drift.data.files.FileData.reading`).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..models import MODELS
from .config import TrainConfig
from .history import WHICH, History

FORMAT = 1
"""The version of the saved file's layout."""


@dataclass
class SavedClassifier:
    """A classifier read back by `load_classifier`: the student and teacher networks (eval mode,
    CPU) and the facts of their training (see the module's docstring)."""

    student: nn.Module
    teacher: nn.Module
    method: str
    config: dict
    model: str
    feature_shape: tuple[int, ...]
    classes: list
    label_names: list[str] | None
    reading: dict

    @torch.no_grad()
    def predict_proba(self, x: np.ndarray, *, which: str = "student") -> np.ndarray:
        """Class probabilities (N, C) float64 of the student or the teacher on x (N,
        *feature_shape), columns in `classes` order."""
        if which not in WHICH:
            raise ValueError(f"which must be one of {', '.join(map(repr, WHICH))}; got {which!r}")
        if tuple(x.shape[1:]) != self.feature_shape:
            raise ValueError(
                f"the features have shape {tuple(x.shape[1:])} a row; the model was trained on "
                f"{self.feature_shape}: give data with the training file's features"
            )
        network = self.student if which == "student" else self.teacher
        logits = network(torch.as_tensor(x, dtype=torch.float32))
        return torch.softmax(logits, dim=-1).double().numpy()


def save_classifier(
    path,
    history: History,
    *,
    method: str,
    config: TrainConfig,
    model: str,
    feature_shape: tuple[int, ...],
    classes: list,
    label_names: list[str] | None = None,
    reading: dict | None = None,
    force: bool = False,
) -> None:
    """Write the trained student and teacher of `history` (from `drift.train` with a model
    named `model` in `drift.MODELS`) to `path`, with what `load_classifier` needs to rebuild
    and use them. An existing file is refused unless `force`."""
    check_writable(path, force=force)
    if model not in MODELS:
        raise ValueError(
            f"model must be one of {', '.join(MODELS)} to be saved and rebuilt; got {model!r}"
        )
    cpu = {
        name: {k: v.detach().cpu() for k, v in module.state_dict().items()}
        for name, module in (("student", history.model), ("teacher", history.teacher_module()))
    }
    torch.save(
        {
            "format": FORMAT,
            "method": method,
            "config": dataclasses.asdict(config),
            "model": model,
            "feature_shape": list(feature_shape),
            "num_classes": len(classes),
            **cpu,
            "classes": list(classes),
            "label_names": None if label_names is None else list(label_names),
            "reading": dict(reading or {}),
        },
        path,
    )


def load_classifier(path) -> SavedClassifier:
    """The classifier that `save_classifier` wrote to `path`, its networks rebuilt (CPU, eval
    mode). A file of another kind or format is refused with a ValueError."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"{path}: no such file; give the file that train --save wrote")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # not a torch file, or one holding other objects
        raise ValueError(
            f"{path} is not a classifier saved by train --save ({type(err).__name__})"
        ) from None
    if not isinstance(saved, dict) or saved.get("format") != FORMAT:
        raise ValueError(
            f"{path} is not a classifier saved by train --save of this version of drift (format "
            f"{FORMAT}); train and save it again"
        )
    shape = tuple(saved["feature_shape"])
    networks = {}
    for name in ("student", "teacher"):
        network = MODELS[saved["model"]](shape, saved["num_classes"])
        network.load_state_dict(saved[name])
        networks[name] = network.eval()
    return SavedClassifier(
        **networks,
        method=saved["method"],
        config=saved["config"],
        model=saved["model"],
        feature_shape=shape,
        classes=saved["classes"],
        label_names=saved["label_names"],
        reading=saved["reading"],
    )


def check_writable(path, *, force: bool) -> None:
    """Refuse (FileExistsError) to overwrite an existing `path` unless `force`."""
    if os.path.exists(path) and not force:
        raise FileExistsError(
            f"{os.fspath(path)} exists; pass --force (force=True) to overwrite it"
        )
