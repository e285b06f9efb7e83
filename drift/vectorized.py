"""Many runs as one: every (method, seed) of a comparison trained in one batched computation.

`drift.compare`'s default engine. The K students share one architecture, so their parameters
are stacked along a new first dimension (`torch.func.stack_module_state`) and every method's
objective F runs under `torch.func.vmap` over its seeds through `functional_call`: one batched
forward and backward pass per method and step instead of one small pass per run. One Adam
optimizer steps the stacked parameters; Adam is elementwise, so each slice gets its own run's
update. The teachers are stacked the same way: an EMA teacher's response
phi(theta) = alpha * phi_prev + (1 - alpha) * theta is taken inside the vmapped objective (so the
Stackelberg term differentiates through it), a copied teacher is a frozen slice refreshed
every K steps. The unlabeled part of F is `drift.objectives.unlabeled_terms`, the function
the single-run trainer calls.

Each run keeps its own random stream: after `torch.manual_seed(seed)` and building its student
(as `drift.train` does), the global generator's state is copied into a `torch.Generator` of its
own, from which the run draws its batches and input noise in `train`'s order. Same seeds, same
draws: a vectorised run reproduces `train` up to float rounding (batched matrix products round
differently), which `tests/test_vectorized.py` checks over 100 steps for every preset.

`unsupported` says why a comparison cannot run this way (e.g. dropout or BatchNorm in the
model, data held in torch Datasets, callbacks or checkpoints); `compare` then falls back to
training runs one by one in processes.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, replace
from typing import Callable

import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap
from tqdm.auto import tqdm

from . import inputs
from .config import TrainConfig, split_overrides
from .data import SemiSupervisedData
from .history import History
from .methods import Method
from .models import build_model, check_output, eval_mode
from .objectives import unlabeled_terms
from .runtime import resolve_device
from .sources import TensorSource
from .trainer import evaluation_record, snapshot_of

SUPPORTED = {"model", "device", "progress"}
"""The object arguments of `drift.train` the vectorised engine takes, besides a `TrainConfig`
(others, and the config settings `precision` other than "fp32" and `max_grad_norm`: one run at
a time)."""

_NOT_BATCHED = (nn.modules.dropout._DropoutNd, nn.modules.batchnorm._NormBase)


class Unbatchable(ValueError):
    """The runs cannot be trained as one batched computation; the message says why."""


def unsupported(config: TrainConfig | None = None, run_kwargs: dict | None = None, *, data_example=None,
                distributed: bool = False) -> str | None:
    """Why `train_many` cannot serve a run of `drift.train` with this `config` and these object
    arguments (`run_kwargs`: model, optimizer, callback, ...; those left at None count as
    absent), as a sentence, or None if it can. data_example: one run's data, checked for its
    kind (in-memory tensors, not dicts)."""
    if distributed:
        return "training is distributed (torchrun): each process trains its runs one by one"
    others = sorted(k for k, v in (run_kwargs or {}).items() if k not in SUPPORTED and v is not None)
    if config is not None and config.max_grad_norm is not None:
        others = sorted([*others, "max_grad_norm"])
    if others:
        return f"{', '.join(others)} {'is' if len(others) == 1 else 'are'} supported for one run at a time only"
    if config is not None and config.precision != "fp32":
        return "mixed precision is supported for one run at a time only"
    if data_example is not None and not isinstance(data_example, SemiSupervisedData):
        return "data in torch Datasets (DatasetSplits) stream through DataLoaders one run at a time"
    if isinstance(data_example, SemiSupervisedData) and isinstance(data_example.x_labeled, dict):
        return "dict inputs are supported for one run at a time only"
    return None


_RUN_ARGUMENTS = frozenset({"optimizer", "scheduler", "student_view", "teacher_view", "callback", "checkpoint"})
"""`drift.train`'s object arguments that `train_many` does not take (accepted as None)."""


def model_unsupported(model: nn.Module) -> str | None:
    """Why `vmap` cannot stand in for K copies of `model` (a sentence), or None if it can: a
    model with buffers (e.g. BatchNorm statistics) or random layers (dropout) behaves differently
    batched."""
    layers = sorted({type(m).__name__ for m in model.modules() if isinstance(m, _NOT_BATCHED)})
    if layers:
        return f"the model has {', '.join(layers)} layers, whose batched behaviour differs from one run's"
    buffers = [name for name, _ in model.named_buffers()]
    if buffers:
        return f"the model has buffers ({', '.join(buffers[:3])}), which vmap cannot update per run"
    return None


@dataclass
class _Run:
    """One (method, seed) of the batch: its data source, random generators and History."""

    method: Method
    seed: int
    source: TensorSource
    index_generator: torch.Generator  # CPU: batch indices
    noise_generator: torch.Generator  # the device's: input noise
    history: History


def _generators(device: torch.device) -> tuple[torch.Generator, torch.Generator]:
    """Generators continuing torch's global streams from here: CPU (indices) and the device's (noise)."""
    cpu = torch.Generator()
    cpu.set_state(torch.get_rng_state())
    if device.type == "cpu":
        return cpu, cpu
    other = torch.Generator(device)
    other.set_state(torch.cuda.get_rng_state(device) if device.type == "cuda" else torch.get_rng_state())
    return cpu, other


PER_RUN = ("name", "alpha", "lam", "rampup", "rampup_shape", "grad_labels", "grad_weights", "refresh_every",
           "teacher_noise")
"""Method settings that may differ between the runs of one batched group: the objective takes
them per run (alpha, the ramped lam_t, the routing as tensors; refresh_every in the teacher's
update; teacher_noise in the run's own batch). Runs whose other settings agree, and that
agree on whether any gradient flows through the teacher, share one vmapped forward and
backward pass per step."""


def _shared(method: Method) -> tuple[Method, bool]:
    """The group key of a run: its method less the `PER_RUN` settings, and `coupled`."""
    neutral = {"name": "", "alpha": 0.0, "lam": 1.0, "rampup": 0.0, "rampup_shape": "sigmoid",
               "grad_labels": False, "grad_weights": False, "refresh_every": 1, "teacher_noise": 0.0}
    return replace(method, **neutral), method.coupled


def _objective(shared: Method, coupled: bool, labeled_only: bool, model: nn.Module):
    """F of one run as a function of its tensors, for `vmap`: (params, teacher state, lam_t, alpha,
    grad_labels, grad_weights (0-d), y_l (B,), student_x_l (B, ...), student_x_u (B_u, ...),
    teacher_x_u (B_u, ...)) -> (F, [F, supervised, unlabeled], phi(theta)). Mirrors
    `drift.objectives.leader_terms` (the same forward passes on the same rows) with the routing of
    `drift.objectives.routed` taken per run; labeled_only: lam_t = 0 for every run of the group."""

    def objective(params, teacher, lam, alpha, grad_labels, grad_weights, y_l, student_x_l, student_x_u, teacher_x_u):
        if shared.teacher == "copy":
            phi = teacher
        else:  # phi(theta) keeps its dependence on theta only where F differentiates through it
            phi = {k: torch.lerp(teacher[k], v if coupled and not labeled_only else v.detach(), 1.0 - alpha)
                   for k, v in params.items()}
        if labeled_only:
            supervised = nn.functional.cross_entropy(functional_call(model, params, (student_x_l,)), y_l)
            return supervised, torch.stack([supervised, supervised, torch.zeros_like(supervised)]), phi
        n_l = student_x_l.shape[0]
        logits = functional_call(model, params, (torch.cat([student_x_l, student_x_u]),))  # (N_l + N_u, C)
        supervised = nn.functional.cross_entropy(logits[:n_l], y_l)
        with eval_mode(model):
            g = functional_call(model, phi, (teacher_x_u,))  # (N_u, C)
        routes = [torch.where(grad, g, g.detach()) for grad in (grad_labels, grad_weights)]
        unlabeled, _, _ = unlabeled_terms(shared, logits[n_l:], *routes)
        total = supervised + lam * unlabeled
        return total, torch.stack([total, supervised, torch.where(lam == 0, 0.0, unlabeled)]), phi

    return objective


def train_many(
    jobs: list[tuple[Method, int]],
    data: SemiSupervisedData | Callable[..., SemiSupervisedData],
    config: TrainConfig | None = None,
    *,
    model="mlp",
    device="auto",
    progress: bool = True,
    **overrides,
) -> list[History]:
    """`drift.train(method, data(seed=seed) or data, config, seed=seed, model=model, ...)` for
    every (method, seed) of `jobs`, trained together (see the module docstring); the Histories
    in `jobs`' order, without `model` and `teacher`. `data` is one split or a function of the
    seed; `config` a `TrainConfig` (its seed is each job's), `overrides` its fields by name
    (e.g. steps=100) or other `drift.train` arguments, which must be left at None (see
    `unsupported`). `seconds` is the wall time of the whole batch. Raises `Unbatchable` (a
    ValueError with the reason, see `unsupported`, `model_unsupported`) where the runs cannot be
    batched."""
    method_settings, config_overrides, run_kwargs = split_overrides(overrides, others=_RUN_ARGUMENTS)
    if method_settings:
        raise TypeError(f"{', '.join(method_settings)}: Method settings belong in the jobs' methods "
                        f"(e.g. drift.get_method('drift', alpha=0.9))")
    config = replace(config if config is not None else TrainConfig(), **config_overrides).resolved()
    reason = unsupported(config, run_kwargs)
    if reason:
        raise Unbatchable(reason)
    steps, batch_size, lr, input_noise = config.steps, config.batch_size, config.lr, config.input_noise
    unlabeled_batch_size, eval_every = config.unlabeled_batch_size, config.eval_every
    eval_batch_size, eval_unlabeled = config.eval_batch_size, config.eval_unlabeled
    device = resolve_device(device)
    splits: dict[int, SemiSupervisedData] = {}
    sources: dict[tuple, TensorSource] = {}  # one per split (and per seed if eval rows depend on it)
    runs, students = [], []
    for method, seed in jobs:  # as `train` starts each run: seed, student, source, probe
        if seed not in splits:
            splits[seed] = data(seed=seed) if callable(data) else data
            reason = unsupported(data_example=splits[seed])
            if reason:
                raise Unbatchable(reason)
        split = splits[seed]
        torch.manual_seed(seed)
        student = build_model(model, split.feature_shape, split.num_classes).to(device)
        reason = model_unsupported(student)  # before building (and perhaps pre-training) the others
        if reason:
            raise Unbatchable(reason)
        key = (id(split), None if eval_unlabeled is None else seed)
        if key not in sources:
            sources[key] = TensorSource(split, device=device, seed=seed, batch_size=batch_size,
                                        unlabeled_batch_size=unlabeled_batch_size, eval_batch_size=eval_batch_size,
                                        eval_unlabeled=eval_unlabeled)
        source = sources[key]
        check_output(student, source.probe(), split.num_classes)
        runs.append(_Run(method, seed, source, *_generators(device), History(method=method.name, seed=seed)))
        students.append(student)
    shapes = {tuple((k, tuple(v.shape)) for k, v in s.named_parameters()) for s in students}
    if len(shapes) != 1:
        raise Unbatchable("the runs' models differ in their parameters' names or shapes, so they cannot be stacked")
    return _Batch(runs, students, device=device, steps=steps, lr=lr, input_noise=input_noise,
                  eval_every=eval_every).fit(progress)


class _Group:
    """Runs `rows` (indices into the batch's runs) that share one vmapped objective: their
    stacked parameters (one leaf per name, (K_g, ...)), teachers and per-run settings."""

    def __init__(self, key: tuple[Method, bool], rows: list[int], runs: list[_Run], students: list[nn.Module]):
        self.shared, self.coupled = key
        self.rows, self.methods = rows, [runs[k].method for k in rows]
        params, _ = stack_module_state([students[k] for k in rows])
        self.params = {k: v.detach().requires_grad_() for k, v in params.items()}
        self.teacher = {k: v.detach().clone() for k, v in params.items()}  # phi starts equal to theta
        device = next(iter(params.values())).device
        self.alpha = torch.tensor([m.alpha for m in self.methods], device=device)
        self.routes = [torch.tensor([getattr(m, f) for m in self.methods], device=device)
                       for f in ("grad_labels", "grad_weights")]

    def loss(self, model: nn.Module, step: int, steps: int, batch: list[Tensor]) -> tuple[Tensor, Tensor, dict]:
        """(sum of the runs' F, their loss parts (K_g, 3), their responses phi(theta))."""
        lams = [m.lam_at(step, steps) for m in self.methods]
        lam = torch.tensor(lams, device=self.alpha.device)
        objective = _objective(self.shared, self.coupled, all(v == 0.0 for v in lams), model)
        total, parts, phi = vmap(objective)(self.params, self.teacher, lam, self.alpha, *self.routes,
                                           *(part[self.rows] for part in batch))
        return total.sum(), parts.detach(), phi

    @torch.no_grad()
    def follow(self, step: int, phi: dict) -> None:
        """After the optimizer step: an EMA teacher keeps phi(theta_t); a copied teacher copies
        the student of each run whose refresh period ends at this step."""
        if self.shared.teacher == "ema":
            self.teacher = {k: v.detach() for k, v in phi.items()}
            return
        for j, method in enumerate(self.methods):
            if (step + 1) % method.refresh_every == 0:
                for k, v in self.teacher.items():
                    v[j] = self.params[k][j]


class _Batch:
    """The groups of `train_many`'s runs, one Adam optimizer over all their parameters."""

    def __init__(self, runs: list[_Run], students: list[nn.Module], *, device, steps, lr, input_noise, eval_every):
        self.runs, self.steps, self.input_noise, self.eval_every = runs, steps, input_noise, eval_every
        self.model = copy.deepcopy(students[0]).to("meta")  # the architecture; parameters come stacked
        self.model.train()
        keys: dict[tuple[Method, bool], list[int]] = {}
        for k, run in enumerate(runs):
            keys.setdefault(_shared(run.method), []).append(k)
        self.groups = [_Group(key, rows, runs, students) for key, rows in keys.items()]
        self.where = {k: (g, j) for g, group in enumerate(self.groups) for j, k in enumerate(group.rows)}
        leaves = [v for group in self.groups for v in group.params.values()]
        self.optimizer = torch.optim.Adam(leaves, lr=lr, fused=device.type in ("cpu", "cuda"))
        self.by_source: dict[int, list[int]] = {}  # runs sharing one source, evaluated together
        for k, run in enumerate(runs):
            self.by_source.setdefault(id(run.source), []).append(k)

    def _batches(self, step: int) -> list[Tensor]:
        """Every run's batch and views, in `training_step`'s order of draws, stacked: y_l (K, B),
        student_x_l (K, B, ...), student_x_u, teacher_x_u (K, B_u, ...): the student's noise
        on x_l, then on x_u, then the teacher's (its method's teacher_noise, none at 0)."""
        parts = []
        for run in self.runs:
            x_l, y_l, x_u = run.source.batch(step, generator=run.index_generator)
            noisy = [inputs.add_noise(x, self.input_noise, run.noise_generator) for x in (x_l, x_u)]
            teacher_x_u = inputs.add_noise(x_u, run.method.teacher_noise, run.noise_generator)
            parts.append((y_l, *noisy, teacher_x_u))
        return [torch.stack(column) for column in zip(*parts)]

    def step(self, step: int) -> Tensor:
        """One optimizer step of every run; returns their loss parts, (K, 3)."""
        batch = self._batches(step)
        totals, parts, responses = [], torch.empty(len(self.runs), 3, device=batch[0].device), []
        for group in self.groups:
            total, part, phi = group.loss(self.model, step, self.steps, batch)
            totals.append(total)
            parts[group.rows] = part
            responses.append(phi)
        if not torch.isfinite(parts[:, 0]).all():
            k = int((~torch.isfinite(parts[:, 0])).nonzero()[0])
            run = self.runs[k]
            total, supervised, unlabeled = parts[k].tolist()
            raise FloatingPointError(
                f"training stopped at step {step + 1} of {run.method.name} (seed {run.seed}): the loss is {total} "
                f"(supervised {supervised}, unlabeled {unlabeled}); lower lr or check the inputs"
            )
        self.optimizer.zero_grad(set_to_none=True)
        torch.stack(totals).sum().backward()
        self.optimizer.step()
        for group, phi in zip(self.groups, responses):
            group.follow(step, phi)
        return parts

    def _stacked(self, state: str, rows: list[int]) -> dict[str, Tensor]:
        """The `state` ("params" or "teacher") of runs `rows`, of any groups, stacked: {name: (len(rows), ...)}."""
        states = [(getattr(self.groups[g], state), j) for g, j in (self.where[k] for k in rows)]
        return {name: torch.stack([s[name][j] for s, j in states]) for name in states[0][0]}

    @torch.no_grad()
    def snapshots(self) -> list[dict]:
        """`snapshot_of` every run, its students and teachers evaluated together per data split."""
        out: list[dict | None] = [None] * len(self.runs)
        predict = vmap(lambda state, x: functional_call(self.model, state, (x,)), in_dims=(0, None))
        with eval_mode(self.model):
            for rows in self.by_source.values():
                students, teachers = self._stacked("params", rows), self._stacked("teacher", rows)
                source = self.runs[rows[0]].source
                test, unlabeled = (  # (K_s, n, C) logits of the students and of the teachers
                    [(predict(students, x), predict(teachers, x), y) for x, y in source.eval_batches(split)]
                    for split in ("test", "unlabeled")
                )
                for j, k in enumerate(rows):
                    out[k] = snapshot_of(
                        self.runs[k].method, [(s[j], g[j], y) for s, g, y in test],
                        [(s[j], g[j], y) for s, g, y in unlabeled],
                    )
        return out

    def fit(self, progress: bool) -> list[History]:
        previous = self.snapshots()
        sums = torch.zeros(len(self.runs), 3, dtype=torch.float64)
        bar = tqdm(total=self.steps, desc=f"{len(self.runs)} runs (vmap)", disable=not progress, leave=False)
        tic, last = time.perf_counter(), 0
        for step in range(self.steps):
            sums += self.step(step).double().cpu()
            bar.update()
            done = step + 1
            if done % self.eval_every and done != self.steps:
                continue
            now, seconds = self.snapshots(), time.perf_counter() - tic
            for run, snap, prev, run_sums in zip(self.runs, now, previous, sums.tolist()):
                run.history.append(evaluation_record(
                    run.method, done=done, steps=self.steps, now=snap, previous=prev, sums=run_sums,
                    since=done - last, seconds=seconds,
                ))
            previous, last = now, done
            sums.zero_()
        bar.close()
        return [run.history for run in self.runs]
