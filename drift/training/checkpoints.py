"""Checkpoints of a training run: what one holds, written atomically, read back and checked.

`drift.train(..., checkpoint=path)` writes one at every evaluation and resumes from it when the
file exists (Colab disconnects). A checkpoint is the dict that `torch.save` writes:

- format: `FORMAT`, the layout's version, required on resume (checkpoints of earlier versions of
  drift, which record none, are refused with a ValueError: start those runs afresh);
- config: the run's arguments (method, model, sizes, optimizer, ...) and the data's
  `fingerprint`, compared on resume;
- step: the steps done; history: `History.to_dict()` so far;
- student, optimizer, teacher, scaler, scheduler: their state dicts ({} where there is none);
- rng, cuda_rng: torch's generator states (CPU; CUDA or empty), which draw batches and noise;
- student_pred, teacher_pred: predicted classes on the evaluated unlabeled rows at `step`,
  from which the next evaluation's flip rates are measured (a resumed run does not evaluate
  again before its first step).

Under torchrun rank 0 alone writes the file and reads it on resume (see
`drift.training.distributed`).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import numbers
import os

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from . import distributed

FORMAT = 2
"""The version of a checkpoint's layout, written into every checkpoint and required on resume
(1: the checkpoints of drift before `TrainConfig`, which record no format)."""


def name_of(obj) -> str:
    """A name for a model, optimizer or scheduler argument that is the same in every process and
    every session (for the config check): a string itself, a module's class, a function's or
    class's qualified name, a partial's function and arguments."""
    if obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, functools.partial):
        return f"{name_of(obj.func)}(*{obj.args}, **{obj.keywords})"
    target = type(obj) if isinstance(obj, nn.Module) else obj
    return (
        f"{getattr(target, '__module__', '')}."
        f"{getattr(target, '__qualname__', type(target).__qualname__)}"
    )


def fingerprint(data) -> str:
    """SHA-256 (hex) of `data`: a tensor (its dtype, shape and bytes, wherever it lives), a dict
    of such values (by sorted key), a list or tuple, None, a number or string, or a dataclass
    such as `SemiSupervisedData` or `DatasetSplits` (its class and fields). Two in-memory data
    sets with the same sizes but other values, dtypes or shapes get different fingerprints. A
    torch map-style Dataset, which need not fit in memory, is identified by its class, its
    length and its first, middle and last items (so a change elsewhere in it goes unseen).
    Anything else raises TypeError naming its type."""
    digest = hashlib.sha256()

    def add(value) -> None:
        if isinstance(value, Tensor):
            t = value.detach().cpu().contiguous().reshape(-1)
            digest.update(f"tensor {t.dtype} {tuple(value.shape)};".encode())
            digest.update(t.view(torch.uint8).numpy())
        elif isinstance(value, dict):
            digest.update(f"dict {len(value)};".encode())
            for key in sorted(value, key=repr):
                digest.update(f"{key!r}:".encode())
                add(value[key])
        elif isinstance(value, (list, tuple)):
            digest.update(f"{type(value).__name__} {len(value)};".encode())
            for item in value:
                add(item)
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            digest.update(f"{type(value).__qualname__};".encode())
            for field in dataclasses.fields(value):
                digest.update(f"{field.name}=".encode())
                add(getattr(value, field.name))
        elif value is None or isinstance(value, (numbers.Number, str)):
            digest.update(f"{value!r};".encode())
        elif isinstance(value, Dataset):
            n = len(value)
            digest.update(f"{type(value).__qualname__} {n};".encode())
            for i in sorted({0, n // 2, n - 1} if n else set()):
                add(value[i])
        else:
            raise TypeError(
                "data must hold tensors, dicts of tensors or None to be fingerprinted for a "
                f"checkpoint; got {type(value).__name__}"
            )

    add(data)
    return digest.hexdigest()


def save(
    path,
    *,
    config: dict,
    step: int,
    student: nn.Module,
    optimizer,
    teacher,
    scaler,
    scheduler,
    predictions: dict,
    history,
    device: torch.device,
    best: dict | None = None,
) -> None:
    """Write the checkpoint of the run after `step` steps to `path`, atomically (a temporary
    file, then a rename: an interrupted write leaves the previous checkpoint intact).
    predictions: {"student_pred", "teacher_pred"} of the evaluation at `step`. best: the
    student's and teacher's states at the best validation accuracy so far (restore_best)."""
    state = {
        "format": FORMAT,
        "config": config,
        "step": step,
        "history": history.to_dict(),
        "student": student.state_dict(),
        "optimizer": optimizer.state_dict(),
        "teacher": teacher.state_dict(),
        "scaler": scaler.state_dict() if scaler is not None else {},
        "scheduler": scheduler.state_dict() if scheduler is not None else {},
        "rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else torch.empty(0),
        "student_pred": predictions["student_pred"],
        "teacher_pred": predictions["teacher_pred"],
        "best": best,
    }
    tmp = f"{os.fspath(path)}.tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)


def load(path, *, config: dict, device: torch.device) -> dict | None:
    """The checkpoint at `path` with its tensors on `device`, or None when there is no file.
    Under a process group rank 0 alone looks for the file and reads it (to the CPU), and every
    rank gets what it found (or its error) by broadcast. Raises ValueError, naming the differing
    config keys, when it was written by a run with another `config`, or saying so when it was
    written by another version of drift (another `FORMAT`)."""
    found = None
    if distributed.is_main() and path is not None and os.path.exists(path):
        try:
            found = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # raised on every rank, not only on rank 0 while the others wait
            found = err
    found = distributed.broadcast_object(found)
    if isinstance(found, Exception):
        raise found
    if found is None:
        return None
    if found.get("format") != FORMAT:
        raise ValueError(
            f"checkpoint {os.fspath(path)!r} was written by another version of drift (checkpoint "
            f"format {found.get('format', 1)}; this version reads format {FORMAT}) and does not "
            "resume; pass a new path to start afresh"
        )
    differing = sorted(
        k for k in config.keys() | found["config"].keys() if config.get(k) != found["config"].get(k)
    )
    if differing:
        raise ValueError(
            f"checkpoint {os.fspath(path)!r} was written by a run with other arguments (differing: "
            f"{', '.join(differing)}); pass the same arguments and data to resume it, or a new "
            "path to start afresh"
        )
    return _to(found, device)


def _to(obj, device: torch.device):
    """`obj` with every tensor in its dicts, lists and tuples moved to `device`."""
    if isinstance(obj, Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return {k: _to(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to(v, device) for v in obj)
    return obj


def restore(
    state: dict, *, student: nn.Module, optimizer, teacher, scaler, scheduler, device: torch.device
) -> None:
    """Load a checkpoint's states into the run's objects and torch's generators, in place."""
    student.load_state_dict(state["student"])
    optimizer.load_state_dict(state["optimizer"])
    teacher.load_state_dict(state["teacher"])
    if scaler is not None:
        scaler.load_state_dict(state["scaler"])
    if scheduler is not None:
        scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng"].cpu())
    if device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda_rng"].cpu(), device)
