"""One training loop for every method (supervised, alternating, mean teacher, DRIFT, ablations).

Each step draws a labeled and an unlabeled batch from a data source (`drift.data.sources`: tensors
in memory or torch Datasets), makes the student's and the teacher's views of them (by default
input noise for the student, the batch itself for the teacher), computes the leader objective F
with the method's gradient routing, takes an optimizer step (Adam by default) on the student
and lets the teacher follow. Every `eval_every` steps it records test accuracy, pseudo-label
accuracy, mean weight, flip rates and the loss parts in a `History` (`drift.training.history`),
saves a checkpoint if asked (`drift.training.checkpoints`: a rerun with the same arguments resumes
from it, for Colab disconnects) and calls `callback(history)`, which may stop training.

Mixed precision (`precision="bf16"` or `"fp16"`) runs the forward passes of F under
`torch.autocast`; parameters, optimizer state and the teacher stay float32. Under `torchrun` it
trains data-parallel: see `drift.training.distributed`.
"""

from __future__ import annotations

import functools
import math
import os
import time
from dataclasses import asdict
from typing import Callable

import torch
from torch import Tensor, nn
from torch.optim.lr_scheduler import LRScheduler
from tqdm.auto import tqdm

from .. import inputs
from . import checkpoints, distributed
from .config import DEFAULT, PRECISIONS, TrainConfig, settings
from ..data.splits import SemiSupervisedData
from .evaluation import EVAL_SPLITS, BestOnValidation, Evaluations, snapshot_of
from .history import History
from ..inputs import Inputs
from ..core.methods import Method
from ..models import build_model, check_output, logits_of
from ..core.objective import leader_terms
from ..runtime import resolve_device
from ..data.sources import DatasetSplits, Source, check_data, source_of
from ..core.teacher import EMATeacher, eval_mode, make_teacher


@torch.no_grad()
def _snapshot(method: Method, student: nn.Module, teacher: EMATeacher, source: Source) -> dict:
    """`snapshot_of` the current student and teacher, streamed over the source's evaluation
    batches."""

    def logits(split: str) -> list[tuple[Tensor, Tensor, Tensor | None]]:
        return [
            (logits_of(inputs.forward(student, x)), teacher.logits(student, x), y)
            for x, y in source.eval_batches(split)
        ]

    with eval_mode(student):
        return snapshot_of(method, {split: logits(split) for split in EVAL_SPLITS})


View = Callable[[Inputs], Inputs]
"""A view of a batch: inputs (N, ...) on the device -> inputs of the same kind, N rows."""


def _viewed(name: str, view: View, x: Inputs) -> Inputs:
    """view(x), checked to be inputs of x's kind with x's rows."""
    out, kind = view(x), dict if isinstance(x, dict) else Tensor
    if isinstance(out, kind) and inputs.tensors(out) and inputs.num_rows(out) == inputs.num_rows(x):
        return out
    got = (
        f"{inputs.num_rows(out)} rows"
        if isinstance(out, kind) and inputs.tensors(out)
        else f"a {type(out).__name__}"
    )
    raise ValueError(
        f"{name} must return {'a dict' if kind is dict else 'a tensor'} with one row per input row "
        f"({inputs.num_rows(x)}); got {got}"
    )


def training_step(
    method: Method,
    student: nn.Module,
    teacher: EMATeacher,
    optimizer: torch.optim.Optimizer,
    source: Source,
    config: TrainConfig,
    *,
    step: int,
    scaler: torch.amp.GradScaler | None = None,
    forward: nn.Module | None = None,
    scheduler: LRScheduler | None = None,
    student_view: View | None = None,
    teacher_view: View | None = None,
) -> list[float]:
    """One optimizer step at 0-based `step` of `config.steps`; returns [F, supervised, unlabeled]
    (means over the processes when distributed). Of `config` (a `drift.TrainConfig`) it reads
    steps (for lambda's ramp), input_noise, precision, max_grad_norm and seed.

    Draws the step's global batch from `source` (see `drift.data.sources.source_of`), makes its
    views student_view(x_l), student_view(x_u) and teacher_view(x_u) in that order (student_view
    defaults to adding `input_noise`, teacher_view to the batch itself plus the method's
    `teacher_noise`, drawn last; a teacher_view with teacher_noise raises ValueError), and
    keeps this process's shard of them (all of them in a single process): every process draws
    the same indices and noise from the same generator state; under a process group the forward
    passes draw (dropout) from this rank's own stream, seeded from (`seed`, rank, `step`).
    Backpropagates F (forward passes under autocast unless precision is "fp32") through `scaler`
    (a `torch.amp.GradScaler`, disabled outside fp16; None: no loss scaling) with the method's
    routing, clips the student's gradient to norm `max_grad_norm` if set (unscaled first), steps
    the optimizer and the `scheduler` (if any), copies rank 0's buffers to every rank and stores
    in the teacher the response phi(theta_t) that F used (an EMA teacher; a copied one refreshes
    from the stepped student). `forward` is the student's forward pass (default `student`; a DDP
    wrapper of it under torchrun). Raises FloatingPointError, naming the step, if F is not finite.
    """
    x_l, y_l, x_u = source.batch(step)
    device = y_l.device
    if student_view is None:
        student_view = functools.partial(inputs.add_noise, scale=config.input_noise)
    student_x_l = _viewed("student_view", student_view, x_l)
    student_x_u = _viewed("student_view", student_view, x_u)
    if teacher_view is None:  # the default teacher view: the batch, plus teacher_noise (none at 0)
        teacher_x_u = inputs.add_noise(x_u, method.teacher_noise)
    else:
        check_teacher_view(method, teacher_view)
        teacher_x_u = _viewed("teacher_view", teacher_view, x_u)
    shard = functools.partial(inputs.apply, distributed.shard)
    with (
        distributed.rank_stream(config.seed, step, device),
        torch.autocast(
            device.type, dtype=PRECISIONS[config.precision], enabled=config.precision != "fp32"
        ),
    ):
        terms = leader_terms(
            method,
            student,
            teacher,
            shard(student_x_l),
            shard(y_l),
            shard(teacher_x_u),
            lam=method.lam_at(step, config.steps),
            student_x_u=shard(student_x_u),
            student_forward=forward,
        )
    parts = distributed.mean_over_ranks(
        torch.stack([terms.total, terms.supervised, terms.unlabeled]).detach()
    ).tolist()
    if not math.isfinite(parts[0]):
        raise FloatingPointError(
            f"training stopped at step {step + 1}: the loss is {parts[0]} (supervised {parts[1]}, "
            f"unlabeled {parts[2]}); lower lr or check the inputs"
        )
    optimizer.zero_grad(set_to_none=True)
    if scaler is None:  # no loss scaling: a disabled scaler passes everything through unchanged
        scaler = torch.amp.GradScaler(device.type, enabled=False)
    scaler.scale(terms.total).backward()
    if config.max_grad_norm is not None:
        scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(student.parameters(), config.max_grad_norm)
    scaler.step(optimizer)
    scaler.update()
    if scheduler is not None:
        scheduler.step()
    distributed.broadcast_buffers(student)
    teacher.update(student, step, response=terms.teacher_state)
    return parts


def train(
    method: str | Method,
    data: SemiSupervisedData | DatasetSplits,
    config: TrainConfig | None = None,
    *,
    model="mlp",
    device="auto",
    optimizer: Callable[..., torch.optim.Optimizer] | None = None,
    scheduler: Callable[[torch.optim.Optimizer], LRScheduler] | None = None,
    student_view: View | None = None,
    teacher_view: View | None = None,
    callback: Callable[[History], bool | None] | None = None,
    checkpoint: str | os.PathLike | None = None,
    progress: bool = True,
    **overrides,
) -> History:
    """Train a student with `method` (a preset name or a `Method`) on `data` under `config` (a
    `drift.TrainConfig`; default `TrainConfig()`) and return its `History`. `overrides` replace
    settings by name: `Method` fields those of the method (e.g. alpha=0.99), `TrainConfig`
    fields those of the config (e.g. steps=500); any other name raises TypeError listing both.
    Of the settings below, steps, batch_size, unlabeled_batch_size, lr, input_noise, seed,
    precision, eval_every, eval_batch_size, eval_unlabeled, max_grad_norm, patience and
    restore_best are TrainConfig's.

    data: a `SemiSupervisedData` of tensors (moved whole to the device; batches drawn from
        torch's global generator) or a `DatasetSplits` of torch Datasets (batches from
        DataLoaders, only they move to the device; see `drift.data.sources`).

    model: "mlp", "cnn", an `nn.Module` (trained in place, put in training mode) or a factory
        `factory(feature_shape, num_classes)`. Named models size themselves from the data; dict
        inputs (called as `model(**x)`) need a module or factory, whose feature_shape is then a
        dict of shapes. Its
        output may be a tensor of logits, a dict with "logits" or an object with `.logits`
        (Hugging Face); one probe forward pass on two labeled examples checks, before training,
        that they are floating point of shape (N, num_classes) (ValueError otherwise).
    batch_size, unlabeled_batch_size: examples per step, drawn with replacement (the unlabeled
        default is 2 * batch_size). Both are global: under torchrun each process takes an equal
        shard, so they must be divisible by the number of processes.
    lr: the learning rate of the default optimizer, Adam (fused on CPU and CUDA).
    input_noise: std of the Gaussian noise added to the student's (not the teacher's) inputs:
        to floating-point tensors only (integer token ids and masks are left alone).
    seed: seeds torch's global generator, which draws the initial model, batches and noise.
    device: "auto" (CUDA when present), "cpu", "cuda", ... Under torchrun a CUDA device is
        cuda:LOCAL_RANK.
    precision: "fp32" (no autocast), "bf16" or "fp16": the forward passes of F (student and
        teacher) run under `torch.autocast` in that dtype and the losses in float32; fp16 scales
        the loss with a `torch.amp.GradScaler` (on CUDA and on the CPU; its state is
        checkpointed). Parameters, Adam's state and the EMA teacher stay float32, and
        evaluation runs in float32.
    eval_every: steps between evaluations (default: steps // 20). Evaluation runs in batches of
        `eval_batch_size` rows, on the test set and on the unlabeled set: all of it, or a fixed
        random subset of `eval_unlabeled` rows chosen once from `seed` (by a generator of its own,
        so training draws the same batches and noise either way), for the pseudo-label accuracy,
        mean weight and flip rates. progress: a tqdm bar.
    checkpoint: a file path; written at every evaluation and resumed from when it exists.
    callback: called with the History after every evaluation (`history.model` is the student);
        returning True stops training there, and `history.stopped_at` records the step (a rerun
        with the same checkpoint returns that History without training further).
    optimizer: a factory `optimizer(params) -> torch.optim.Optimizer` of the student's
        parameters, e.g. `lambda params: torch.optim.AdamW(params, lr=3e-4, weight_decay=0.01)`
        (default: Adam with `lr`; set the learning rate in your factory, not with `lr`).
    scheduler: a factory `scheduler(optimizer) -> LRScheduler`, stepped after every training
        step, e.g. `lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, lambda t: min(1, t / 100))`
        for a warm-up. Its state is checkpointed.
    student_view, teacher_view: callables applied to every batch on the device (tensor or dict
        in, the same kind and rows out), e.g. a strong augmentation for the student and a weak
        one for the teacher (FixMatch, Noisy Student). The student learns on student_view(x) of
        the labeled and the unlabeled batch; the teacher's pseudo-labels and weights come from
        teacher_view(x_u). Defaults: student_view adds `input_noise` (a student_view replaces
        it: add noise inside your view, e.g. with `drift.inputs.add_noise`, and leave
        input_noise at its default), teacher_view is the batch itself, plus Gaussian noise of std
        `teacher_noise` where the method sets it (e.g. "mean_teacher_original"; a teacher_view
        replaces that noise, so train refuses a teacher_view with teacher_noise > 0: add the
        noise inside your view and pass teacher_noise=0). Views may draw from torch's global
        generator (called student labeled, student unlabeled, teacher, each step). Evaluation
        and predictions use the inputs as they are, without views.
        Views act on inputs, not on theta, so the Stackelberg gradient keeps its form: F(theta)
        takes the student's logits at student_view(x) and the teacher's g_j = f(teacher_view(x_j);
        phi(theta)), and the total derivative differentiates through phi(theta) at those inputs, the
        views' draws held fixed for the step.
    max_grad_norm: clip the norm of the student's gradient (the whole Stackelberg gradient) to
        this before each optimizer step (with fp16, after unscaling it). None: no clipping.
    patience, restore_best: model selection on a labeled validation set (data with one, e.g.
        `data.with_labeled_validation(0.2)`; its accuracy is `History.val_accuracy`, scored at
        every evaluation): stop after `patience` evaluations without a better validation
        accuracy (`history.stopped_at`), and with restore_best return the student and the
        teacher of the best evaluation (`history.best_step`, the first of equals).

    Several processes: run under `torchrun` to train data-parallel (see
    `drift.training.distributed`).
    """
    method, config = settings(method, config, **overrides)
    check_data(data)
    config = config.resolved()
    check_arguments(
        config,
        optimizer=optimizer,
        scheduler=scheduler,
        student_view=student_view,
        teacher_view=teacher_view,
    )
    check_teacher_view(method, teacher_view)
    check_validation(config, data)
    device = distributed.local_device(resolve_device(device))
    with distributed.process_group(device):
        for name in ("batch_size", "unlabeled_batch_size"):
            distributed.check_divisible(name, getattr(config, name))
        return _fit(
            method,
            data,
            config,
            model=model,
            device=device,
            optimizer=optimizer,
            scheduler=scheduler,
            student_view=student_view,
            teacher_view=teacher_view,
            callback=callback,
            checkpoint=checkpoint,
            progress=progress,
        )


def check_arguments(
    config: TrainConfig, *, optimizer=None, scheduler=None, student_view=None, teacher_view=None
) -> None:
    """Check `train`'s factories and views against each other and the config (TypeError or
    ValueError naming the argument); the config's own settings are checked when it is made."""
    if student_view is not None and config.input_noise != DEFAULT.input_noise:
        raise ValueError(
            "input_noise is the default student view's; with student_view, add noise in your "
            f"view; got {config.input_noise}"
        )
    if optimizer is not None and config.lr != DEFAULT.lr:
        raise ValueError(
            "lr is the default optimizer's learning rate; with optimizer, set it in your factory; "
            f"got {config.lr}"
        )
    for name, value, example in (
        (
            "optimizer",
            optimizer,
            "a factory, e.g. lambda params: torch.optim.AdamW(params, lr=1e-3)",
        ),
        (
            "scheduler",
            scheduler,
            "a factory, e.g. lambda opt: torch.optim.lr_scheduler.StepLR(opt, 100)",
        ),
        (
            "student_view",
            student_view,
            "a function of a batch, e.g. lambda x: x + 0.3 * torch.randn_like(x)",
        ),
        ("teacher_view", teacher_view, "a function of a batch, e.g. lambda x: x.flip(-1)"),
    ):
        if value is not None and not callable(value):
            raise TypeError(f"{name} must be {example}; got {type(value).__name__}")


def check_validation(config: TrainConfig, data: SemiSupervisedData | DatasetSplits) -> None:
    """Refuse early stopping or restore-best without a labeled validation set: ValueError
    saying how to make one."""
    has_validation = (
        data.x_val if isinstance(data, SemiSupervisedData) else data.validation
    ) is not None
    if (config.patience is not None or config.restore_best) and not has_validation:
        raise ValueError(
            "patience and restore_best select on a labeled validation set, and data has none: "
            "hold some labeled examples out with data.with_labeled_validation(0.2) (or pass "
            "DatasetSplits(validation=...))"
        )


def check_teacher_view(method: Method, teacher_view: View | None) -> None:
    """Refuse a `teacher_view` together with the method's `teacher_noise` (the default teacher
    view's noise): ValueError saying how to have both."""
    if teacher_view is not None and method.teacher_noise != 0.0:
        raise ValueError(
            "teacher_noise is the default teacher view's noise; with teacher_view, add noise "
            f"inside your view (e.g. drift.inputs.add_noise(x, {method.teacher_noise})) and pass "
            f"teacher_noise=0; got teacher_noise={method.teacher_noise} ({method.name!r})"
        )


def run_config(method: Method, config: TrainConfig, **objects) -> dict:
    """The identity of a run, which a checkpoint records and compares on resume: every setting of
    the method (`asdict(method)`), the resolved config's (`asdict(config)`) and a name for each
    object argument (model, optimizer, scheduler, views: `checkpoints.name_of`)."""
    names = {k: checkpoints.name_of(v) for k, v in objects.items()}
    return {"method": asdict(method), **asdict(config), **names}


def _fit(
    method: Method,
    data: SemiSupervisedData | DatasetSplits,
    config: TrainConfig,
    *,
    model,
    device: torch.device,
    optimizer,
    scheduler,
    student_view,
    teacher_view,
    callback,
    checkpoint,
    progress: bool,
) -> History:
    """`train` after its arguments are checked (`config` resolved) and the process group (if any)
    is set up."""
    steps, seed, eval_every = config.steps, config.seed, config.eval_every
    torch.manual_seed(seed)
    student = build_model(model, data.feature_shape, data.num_classes).to(device)
    student.train()
    forward = distributed.wrap(student)  # rank 0's parameters and buffers reach every rank
    source = source_of(
        data,
        device=device,
        seed=seed,
        batch_size=config.batch_size,
        unlabeled_batch_size=config.unlabeled_batch_size,
        eval_batch_size=config.eval_batch_size,
        eval_unlabeled=config.eval_unlabeled,
    )
    check_output(student, source.probe(), data.num_classes)
    teacher = make_teacher(method, student)
    identity = {
        **run_config(
            method,
            config,
            model=model,
            optimizer=optimizer,
            scheduler=scheduler,
            student_view=student_view,
            teacher_view=teacher_view,
        ),
        "data": repr(data),
        "data_sha256": checkpoints.fingerprint(data) if checkpoint is not None else None,
    }
    if optimizer is None:
        optimizer = torch.optim.Adam(
            student.parameters(), lr=config.lr, fused=device.type in ("cpu", "cuda")
        )
    else:
        optimizer = _built("optimizer", optimizer(student.parameters()), torch.optim.Optimizer)
    if scheduler is not None:
        scheduler = _built("scheduler", scheduler(optimizer), LRScheduler)
    # disabled: a pass-through
    scaler = torch.amp.GradScaler(device.type, enabled=config.precision == "fp16")
    history = History(method=method.name, seed=seed, model=student, teacher=teacher)
    state = checkpoints.load(checkpoint, config=identity, device=device)
    selection = BestOnValidation(config, None if state is None else state.get("best"))
    if state is None:
        start, elapsed = 0, 0.0
        previous = _snapshot(method, student, teacher, source)
    else:  # resume: the saved predictions stand in for an evaluation at the checkpoint's step
        checkpoints.restore(
            state,
            student=student,
            optimizer=optimizer,
            teacher=teacher,
            scaler=scaler,
            scheduler=scheduler,
            device=device,
        )
        history = History.from_dict(state["history"])
        history.model, history.teacher = student, teacher
        start, elapsed = state["step"], history.seconds[-1] if history.seconds else 0.0
        previous = {"student_pred": state["student_pred"], "teacher_pred": state["teacher_pred"]}
        if history.stopped_at is not None:
            selection.restore(history, student, teacher)
            return history

    evaluations = Evaluations(steps=steps, eval_every=eval_every, last=start)
    bar = tqdm(
        total=steps,
        initial=start,
        desc=method.name,
        disable=not (progress and distributed.is_main()),
        leave=False,
    )
    tic = time.perf_counter()
    for step in range(start, steps):
        parts = training_step(
            method,
            student,
            teacher,
            optimizer,
            source,
            config,
            step=step,
            scaler=scaler,
            forward=forward,
            scheduler=scheduler,
            student_view=student_view,
            teacher_view=teacher_view,
        )
        evaluations.add([parts])
        bar.update()

        done = step + 1
        if not evaluations.due(done):
            continue
        now = _snapshot(method, student, teacher, source)
        (record,) = evaluations.records(
            [method],
            done=done,
            now=[now],
            previous=[previous],
            seconds=elapsed + time.perf_counter() - tic,
        )
        history.append(record)
        previous = now
        bar.set_postfix(test_acc=f"{now['test_accuracy']:.1f}")
        save = functools.partial(
            checkpoints.save,
            checkpoint,
            config=identity,
            step=done,
            student=student,
            optimizer=optimizer,
            teacher=teacher,
            scaler=scaler,
            scheduler=scheduler,
            predictions=now,
            history=history,
            device=device,
        )
        stop = selection.update(history, student, teacher)
        if checkpoint is not None and distributed.is_main():
            save(best=selection.states)
        if callback is not None and callback(history) is True:
            stop = True
        if stop:
            history.stopped_at = done
            if checkpoint is not None and distributed.is_main():
                save(best=selection.states)  # a rerun returns the stopped History
            break
    bar.close()
    selection.restore(history, student, teacher)
    return history


def _built(name: str, obj, kind: type):
    """What the factory argument `name` built, checked to be a `kind`."""
    if isinstance(obj, kind) and not isinstance(obj, torch.optim.lr_scheduler.ReduceLROnPlateau):
        return obj
    hint = (
        " (stepped every step, without a metric: step a ReduceLROnPlateau from a callback)"
        if name == "scheduler"
        else ""
    )
    expected = {
        "optimizer": "torch.optim.Optimizer",
        "scheduler": "torch.optim.lr_scheduler.LRScheduler",
    }[name]
    raise TypeError(f"the {name} factory must return a {expected}{hint}; got {type(obj).__name__}")
