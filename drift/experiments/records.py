"""Comparisons shipped with the package (`Record`, `load_record`) and the pre-trained student
factory of two-stage comparisons (`Pretrained`)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..data.splits import SemiSupervisedData
from ..training.loop import train
from .results import Results, nan_to_none, none_to_nan


@dataclass(frozen=True)
class Pretrained:
    """A model factory for `train`/`compare`: the student after `steps` of "supervised" training
    on `data`'s labeled part (e.g. weak labels), so that self-training starts from it and the
    teacher starts as its copy. Stage 1 uses the seed `train` has just set (`torch.initial_seed()`),
    so each run of `compare` pre-trains with its own seed. train_kwargs (model, lr, batch_size,
    input_noise, device) go to stage 1's `train`."""

    data: SemiSupervisedData
    steps: int
    train_kwargs: dict

    def __call__(self, feature_shape: tuple[int, ...], num_classes: int) -> torch.nn.Module:
        if tuple(feature_shape) != self.data.feature_shape or num_classes != self.data.num_classes:
            raise ValueError(
                f"Pretrained was built for features {self.data.feature_shape} and "
                f"{self.data.num_classes} classes; the run asks for {tuple(feature_shape)} and "
                f"{num_classes}: pass the same data to both stages"
            )
        first = train(
            "supervised",
            self.data,
            steps=self.steps,
            seed=torch.initial_seed(),
            progress=False,
            **self.train_kwargs,
        )
        return first.model


RECORDS = Path(__file__).parent.parent / "recorded"
"""Folder of the comparisons shipped with the package (`load_record`)."""


@dataclass(frozen=True)
class Record:
    """A comparison too slow for a CPU notebook, run once by `command` and shipped with the
    package: its `results`, scikit-learn `references` rows on the same seeds and splits
    ({label: (seeds,) accuracies in %}) and a one-line description of the `setting`."""

    results: Results
    references: dict[str, np.ndarray]
    command: str
    setting: str

    def save(self, path: str | os.PathLike) -> None:
        """Write the record as standard JSON (read back by `load_record`)."""
        with open(path, "w") as f:
            json.dump(
                nan_to_none(
                    {
                        "command": self.command,
                        "setting": self.setting,
                        "results": self.results.to_dict(),
                        "references": {
                            k: np.asarray(v).tolist() for k, v in self.references.items()
                        },
                    }
                ),
                f,
                allow_nan=False,
            )


def load_record(name: str) -> Record:
    """A shipped record by name (a file in `RECORDS`, without .json), e.g. "mnist1d_cnn"."""
    path = RECORDS / f"{name}.json"
    if not path.is_file():
        names = sorted(p.stem for p in RECORDS.glob("*.json"))
        raise ValueError(f"name must be one of {', '.join(map(repr, names))}; got {name!r}")
    d = none_to_nan(json.loads(path.read_text()))
    return Record(
        Results.from_dict(d["results"]),
        {k: np.array(v) for k, v in d["references"].items()},
        d["command"],
        d["setting"],
    )
