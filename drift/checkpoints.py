"""Checkpoints of a training run: what one holds, written atomically, read back and checked.

`drift.train(..., checkpoint=path)` writes one at every evaluation and resumes from it when the
file exists (Colab disconnects). A checkpoint is the dict that `torch.save` writes:

- config: the run's arguments (method, model, sizes, optimizer, ...), compared on resume;
- step: the steps done; history: `History.to_dict()` so far;
- student, optimizer, teacher, scaler, scheduler: their state dicts ({} where there is none);
- rng, cuda_rng: torch's generator states (CPU; CUDA or empty), which draw batches and noise;
- student_pred, teacher_pred: predicted classes on the evaluated unlabeled rows at `step`,
  from which the next evaluation's flip rates are measured (a resumed run does not evaluate
  again before its first step).
"""
from __future__ import annotations

import functools
import os

import torch
from torch import nn


def name_of(obj) -> str:
    """A name for a model, optimizer or scheduler argument that is the same in every process and
    every session (for the config check): a string itself, a module's class, a function's or
    class's qualified name, a partial's function and arguments."""
    if obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, functools.partial):
        return f"{name_of(obj.func)}(*{obj.args}, **{obj.keywords})"
    target = type(obj) if isinstance(obj, nn.Module) else obj
    return f"{getattr(target, '__module__', '')}.{getattr(target, '__qualname__', type(target).__qualname__)}"


def save(path, *, config: dict, step: int, student: nn.Module, optimizer, teacher, scaler, scheduler,
         predictions: dict, history, device: torch.device) -> None:
    """Write the checkpoint of the run after `step` steps to `path`, atomically (a temporary
    file, then a rename: an interrupted write leaves the previous checkpoint intact).
    predictions: {"student_pred", "teacher_pred"} of the evaluation at `step`."""
    state = {
        "config": config, "step": step, "history": history.to_dict(),
        "student": student.state_dict(), "optimizer": optimizer.state_dict(), "teacher": teacher.state_dict(),
        "scaler": scaler.state_dict() if scaler is not None else {},
        "scheduler": scheduler.state_dict() if scheduler is not None else {},
        "rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else torch.empty(0),
        "student_pred": predictions["student_pred"], "teacher_pred": predictions["teacher_pred"],
    }
    tmp = f"{os.fspath(path)}.tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)


def load(path, *, config: dict, device: torch.device) -> dict | None:
    """The checkpoint at `path` with its tensors on `device`, or None when there is no file.
    Raises ValueError when it was written by a run with another `config`."""
    if path is None or not os.path.exists(path):
        return None
    state = torch.load(path, map_location=device, weights_only=True)
    if state["config"] != config:
        raise ValueError(
            f"checkpoint {os.fspath(path)!r} was written by a run with other arguments; "
            "pass the same arguments to resume it, or a new path to start afresh"
        )
    return state


def restore(state: dict, *, student: nn.Module, optimizer, teacher, scaler, scheduler, device: torch.device) -> None:
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
