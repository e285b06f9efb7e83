"""Many runs as one: every (method, seed) of a comparison trained in one batched computation.

`drift.compare`'s default engine. The K students share one architecture, so their parameters
are stacked along a new first dimension (`torch.func.stack_module_state`) and every method's
objective F runs under `torch.func.vmap` over its seeds through `functional_call`: one batched
forward and backward pass per method and step instead of one small pass per run. One Adam
optimizer steps the stacked parameters; Adam is elementwise, so each slice gets its own run's
update. The teachers are stacked the same way: an EMA teacher's response
phi(theta) = alpha * phi_prev + (1 - alpha) * theta is taken inside the vmapped objective (so the
Stackelberg term differentiates through it), a copied teacher is a frozen slice refreshed
every K steps. The unlabeled part of F is `drift.core.objective.unlabeled_terms`, the function
the single-run trainer calls.

Each run keeps its own random stream: after `torch.manual_seed(seed)` and building its student
(as `drift.train` does), the global generator's state is copied into a `torch.Generator` of its
own, from which the run draws its batches and input noise in `train`'s order. Same seeds, same
draws: a vectorised run reproduces `train` up to float rounding (batched matrix products round
differently), which `tests/test_vectorized.py` checks over 100 steps for every preset.

`unsupported` says why a comparison cannot run this way (e.g. data held in torch Datasets,
callbacks or checkpoints), `model_unsupported` why the model cannot (buffers such as BatchNorm's
running statistics, or a probe forward pass that fails under vmap, e.g. dropout's random draws);
`compare` then falls back to training runs one by one in processes.
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

from .. import inputs
from .config import TrainConfig, split_overrides
from ..data.splits import SemiSupervisedData
from .history import History
from ..core.methods import Method
from ..models import build_model, check_output, eval_mode
from ..core.objective import objective_from_logits
from ..runtime import resolve_device
from ..data.sources import TensorSource
from ..core.teacher import ema_response
from .evaluation import EVAL_SPLITS, Evaluations, snapshot_of

SUPPORTED = {"model", "device", "progress"}
"""The object arguments of `drift.train` the vectorised engine takes, besides a `TrainConfig`
(others, and the config settings `precision` other than "fp32" and `max_grad_norm`: one run at
a time)."""


class Unbatchable(ValueError):
    """The runs cannot be trained as one batched computation; the message says why."""


def unsupported(
    config: TrainConfig | None = None,
    run_kwargs: dict | None = None,
    *,
    data_example=None,
    distributed: bool = False,
) -> str | None:
    """Why `train_many` cannot serve a run of `drift.train` with this `config` and these object
    arguments (`run_kwargs`: model, optimizer, callback, ...; those left at None count as
    absent), as a sentence, or None if it can. data_example: one run's data, checked for its
    kind (in-memory tensors, not dicts)."""
    if distributed:
        return "training is distributed (torchrun): each process trains its runs one by one"
    others = sorted(
        k for k, v in (run_kwargs or {}).items() if k not in SUPPORTED and v is not None
    )
    if config is not None:
        settings = ("max_grad_norm", "patience")
        others += [name for name in settings if getattr(config, name) is not None]
        others += ["restore_best"] if config.restore_best else []
        others = sorted(others)
    if others:
        return (
            f"{', '.join(others)} {'is' if len(others) == 1 else 'are'} supported for one run "
            "at a time only"
        )
    if config is not None and config.precision != "fp32":
        return "mixed precision is supported for one run at a time only"
    if data_example is not None and not isinstance(data_example, SemiSupervisedData):
        return "data in torch Datasets (DatasetSplits) stream through DataLoaders one run at a time"
    if isinstance(data_example, SemiSupervisedData) and isinstance(data_example.x_labeled, dict):
        return "dict inputs are supported for one run at a time only"
    return None


_RUN_ARGUMENTS = frozenset(
    {"optimizer", "scheduler", "student_view", "teacher_view", "callback", "checkpoint"}
)
"""`drift.train`'s object arguments that `train_many` does not take (accepted as None)."""


def _architecture(model: nn.Module) -> nn.Module:
    """The batched engine's copy of `model`: its code on the meta device, in training mode (the
    stacked parameters come to it through `functional_call`)."""
    return copy.deepcopy(model).to("meta").train()


def model_unsupported(model: nn.Module, x: Tensor) -> str | None:
    """Why `vmap` cannot stand in for K copies of `model` (a sentence), or None if it can. x: a
    few input rows (e.g. `source.probe()`).

    One rule is about what the engine means, not whether it runs: it stacks parameters only, so a
    model with buffers (BatchNorm's running statistics) is refused, since the runs could not keep
    their own. Everything else is decided by a probe, as the engine runs the model: two copies of
    its parameters through `functional_call` under `vmap` (randomness "error", so a random
    operation in the forward pass, `nn.Dropout` or `F.dropout` alike, fails rather than draw from
    one stream for all runs), in training mode with a backward pass, then in eval mode (the
    teacher's and the evaluation's passes). Any failure is the reason, naming the innermost layer
    that was running."""
    buffers = [name for name, _ in model.named_buffers()]
    if buffers:
        owners = sorted(
            {type(model.get_submodule(name.rpartition(".")[0])).__name__ for name in buffers}
        )
        return (
            f"the model's {', '.join(owners)} layers hold buffers ({', '.join(buffers[:3])}), "
            "which the batched engine cannot keep per run"
        )
    architecture = _architecture(model)
    running: list[str] = []  # the modules whose forward pass is under way, outermost first
    names = {id(m): name for name, m in architecture.named_modules()}

    def enter(module, args) -> None:
        running.append(names[id(module)])

    def leave(module, args, output) -> None:
        running.pop()

    hooks = [
        h
        for m in architecture.modules()
        for h in (m.register_forward_pre_hook(enter), m.register_forward_hook(leave))
    ]
    params = {
        k: v.detach().expand(2, *v.shape).clone().requires_grad_(v.requires_grad)
        for k, v in model.named_parameters()
    }
    xs, mode = x.expand(2, *x.shape), "training"
    forward = vmap(lambda p, x: functional_call(architecture, p, (x,)))
    try:
        with torch.random.fork_rng(devices=[x.device] if x.device.type == "cuda" else []):
            out = forward(params, xs)
            if not isinstance(out, Tensor):
                return (
                    f"the model returns a {type(out).__name__}; the batched engine needs a "
                    "tensor of logits"
                )
            if out.requires_grad:
                out.float().sum().backward()
            mode = "eval"
            with torch.no_grad(), eval_mode(architecture):
                forward(params, xs)
    except Exception as err:  # noqa: BLE001 -- any failure of the probe is a reason to run one by one
        where = running[-1] if running else ""
        layer = architecture.get_submodule(where)
        kind = type(layer).__name__
        what = f"{kind} layers ({where}) fail" if where else f"forward pass ({kind}) fails"
        message = str(err).strip().splitlines()[0] if str(err).strip() else "no message"
        return f"the model's {what} under vmap in {mode} mode ({type(err).__name__}: {message})"
    finally:
        for hook in hooks:
            hook.remove()
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
    """Generators continuing torch's global streams from here: CPU (indices) and the device's
    (noise)."""
    cpu = torch.Generator()
    cpu.set_state(torch.get_rng_state())
    if device.type == "cpu":
        return cpu, cpu
    other = torch.Generator(device)
    other.set_state(
        torch.cuda.get_rng_state(device) if device.type == "cuda" else torch.get_rng_state()
    )
    return cpu, other


PER_RUN = (
    "name",
    "alpha",
    "lam",
    "rampup",
    "rampup_shape",
    "grad_labels",
    "grad_weights",
    "refresh_every",
    "teacher_noise",
)
"""Method settings that may differ between the runs of one batched group: the objective takes
them per run (alpha, the ramped lam_t, the routing as tensors; refresh_every in the teacher's
update; teacher_noise in the run's own batch). Runs whose other settings agree, and that
agree on whether any gradient flows through the teacher, share one vmapped forward and
backward pass per step."""


def _shared(method: Method) -> tuple[Method, bool]:
    """The group key of a run: its method less the `PER_RUN` settings, and `coupled`."""
    neutral = {
        "name": "",
        "alpha": 0.0,
        "lam": 1.0,
        "rampup": 0.0,
        "rampup_shape": "sigmoid",
        "grad_labels": False,
        "grad_weights": False,
        "refresh_every": 1,
        "teacher_noise": 0.0,
    }
    return replace(method, **neutral), method.coupled


def _objective(shared: Method, coupled: bool, labeled_only: bool, model: nn.Module):
    """F of one run as a function of pytrees, for `vmap`: (params, teacher state, run, batch) ->
    (F, [F, supervised, unlabeled], phi(theta)), where run = {"lam": lam_t, "alpha",
    "grad_labels", "grad_weights"} (0-d tensors) and batch = {"y_l" (B,), "student_x_l" (B, ...),
    "student_x_u", "teacher_x_u" (B_u, ...)}. The same forward passes on the same rows as
    `drift.core.objective.leader_terms`, then its `objective_from_logits` with the run's routing
    and the teacher's response `drift.core.teacher.ema_response`; labeled_only: lam_t = 0 for every
    run of the group."""

    def objective(params, teacher, run, batch):
        if shared.teacher == "copy":
            phi = teacher
        else:  # phi(theta) keeps its dependence on theta only where F differentiates through it
            current = (
                params
                if coupled and not labeled_only
                else {k: v.detach() for k, v in params.items()}
            )
            phi = ema_response(teacher, current, run["alpha"])
        if labeled_only:
            logits = functional_call(model, params, (batch["student_x_l"],))  # (N_l, C)
            supervised, *_ = objective_from_logits(
                shared, logits, batch["y_l"], None, lam=run["lam"]
            )
            return (
                supervised,
                torch.stack([supervised, supervised, torch.zeros_like(supervised)]),
                phi,
            )
        x = torch.cat([batch["student_x_l"], batch["student_x_u"]])
        logits = functional_call(model, params, (x,))  # (N_l + N_u, C)
        with eval_mode(model):
            g = functional_call(model, phi, (batch["teacher_x_u"],))  # (N_u, C)
        total, supervised, unlabeled, _, _ = objective_from_logits(
            shared,
            logits,
            batch["y_l"],
            g,
            lam=run["lam"],
            routes=(run["grad_labels"], run["grad_weights"]),
        )
        return (
            total,
            torch.stack([total, supervised, torch.where(run["lam"] == 0, 0.0, unlabeled)]),
            phi,
        )

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
    batched, before training any."""
    method_settings, config_overrides, run_kwargs = split_overrides(
        overrides, others=_RUN_ARGUMENTS
    )
    if method_settings:
        raise TypeError(
            f"{', '.join(method_settings)}: Method settings belong in the jobs' methods "
            f"(e.g. drift.get_method('drift', alpha=0.9))"
        )
    config = replace(config if config is not None else TrainConfig(), **config_overrides).resolved()
    reason = unsupported(config, run_kwargs)
    if reason:
        raise Unbatchable(reason)
    steps, batch_size, lr, input_noise = (
        config.steps,
        config.batch_size,
        config.lr,
        config.input_noise,
    )
    unlabeled_batch_size, eval_every = config.unlabeled_batch_size, config.eval_every
    eval_batch_size, eval_unlabeled = config.eval_batch_size, config.eval_unlabeled
    device = resolve_device(device)
    splits: dict[int, SemiSupervisedData] = {}
    sources: dict[
        tuple, TensorSource
    ] = {}  # one per split (and per seed if eval rows depend on it)
    runs, students, probed = [], [], {}
    for method, seed in jobs:  # as `train` starts each run: seed, student, source, probe
        if seed not in splits:
            splits[seed] = data(seed=seed) if callable(data) else data
            reason = unsupported(data_example=splits[seed])
            if reason:
                raise Unbatchable(reason)
        split = splits[seed]
        torch.manual_seed(seed)
        student = build_model(model, split.feature_shape, split.num_classes).to(device)
        key = (id(split), None if eval_unlabeled is None else seed)
        if key not in sources:
            sources[key] = TensorSource(
                split,
                device=device,
                seed=seed,
                batch_size=batch_size,
                unlabeled_batch_size=unlabeled_batch_size,
                eval_batch_size=eval_batch_size,
                eval_unlabeled=eval_unlabeled,
            )
        source = sources[key]
        check_output(student, source.probe(), split.num_classes)
        x = source.probe()
        probe = (
            type(student),
            repr(student),
            tuple((k, v.shape, v.dtype) for k, v in student.named_parameters()),
            x.shape,
            x.dtype,
        )  # students alike in these run the same code: one probe for them all
        if probe not in probed:  # before building (and perhaps pre-training) the others
            probed[probe] = model_unsupported(student, x)
        if probed[probe]:
            raise Unbatchable(probed[probe])
        runs.append(
            _Run(method, seed, source, *_generators(device), History(method=method.name, seed=seed))
        )
        students.append(student)
    shapes = {tuple((k, tuple(v.shape)) for k, v in s.named_parameters()) for s in students}
    if len(shapes) != 1:
        raise Unbatchable(
            "the runs' models differ in their parameters' names or shapes, so they cannot be "
            "stacked"
        )
    return _Batch(
        runs,
        students,
        device=device,
        steps=steps,
        lr=lr,
        input_noise=input_noise,
        eval_every=eval_every,
    ).fit(progress)


class _Group:
    """Runs `rows` (indices into the batch's runs) that share one vmapped objective: their
    stacked parameters (one leaf per name, (K_g, ...)), teachers and per-run settings."""

    def __init__(
        self, key: tuple[Method, bool], rows: list[int], runs: list[_Run], students: list[nn.Module]
    ):
        self.shared, self.coupled = key
        self.rows, self.methods = rows, [runs[k].method for k in rows]
        params, _ = stack_module_state([students[k] for k in rows])
        self.params = {k: v.detach().requires_grad_() for k, v in params.items()}
        # phi starts equal to theta
        self.teacher = {k: v.detach().clone() for k, v in params.items()}
        device = next(iter(params.values())).device
        # the per-run settings of the objective, (K_g,) each; lam_t is added per step
        self.settings = {
            f: torch.tensor([getattr(m, f) for m in self.methods], device=device)
            for f in ("alpha", "grad_labels", "grad_weights")
        }

    def loss(
        self, model: nn.Module, step: int, steps: int, batch: dict[str, Tensor]
    ) -> tuple[Tensor, Tensor, dict]:
        """(sum of the runs' F, their loss parts (K_g, 3), their responses phi(theta))."""
        lams = [m.lam_at(step, steps) for m in self.methods]
        run = {"lam": torch.tensor(lams, device=self.settings["alpha"].device), **self.settings}
        objective = _objective(self.shared, self.coupled, all(v == 0.0 for v in lams), model)
        total, parts, phi = vmap(objective)(
            self.params, self.teacher, run, {k: v[self.rows] for k, v in batch.items()}
        )
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

    def __init__(
        self,
        runs: list[_Run],
        students: list[nn.Module],
        *,
        device,
        steps,
        lr,
        input_noise,
        eval_every,
    ):
        self.runs, self.steps, self.input_noise, self.eval_every = (
            runs,
            steps,
            input_noise,
            eval_every,
        )
        self.model = _architecture(students[0])  # parameters come stacked
        keys: dict[tuple[Method, bool], list[int]] = {}
        for k, run in enumerate(runs):
            keys.setdefault(_shared(run.method), []).append(k)
        self.groups = [_Group(key, rows, runs, students) for key, rows in keys.items()]
        self.where = {
            k: (g, j) for g, group in enumerate(self.groups) for j, k in enumerate(group.rows)
        }
        leaves = [v for group in self.groups for v in group.params.values()]
        self.optimizer = torch.optim.Adam(leaves, lr=lr, fused=device.type in ("cpu", "cuda"))
        self.by_source: dict[int, list[int]] = {}  # runs sharing one source, evaluated together
        for k, run in enumerate(runs):
            self.by_source.setdefault(id(run.source), []).append(k)

    def _batches(self, step: int) -> dict[str, Tensor]:
        """Every run's batch and views, in `training_step`'s order of draws, stacked:
        {"y_l": (K, B), "student_x_l": (K, B, ...), "student_x_u", "teacher_x_u": (K, B_u, ...)}:
        the student's noise on x_l, then on x_u, then the teacher's (its method's teacher_noise,
        none at 0)."""
        parts = []
        for run in self.runs:
            x_l, y_l, x_u = run.source.batch(step, generator=run.index_generator)
            noisy = [inputs.add_noise(x, self.input_noise, run.noise_generator) for x in (x_l, x_u)]
            teacher_x_u = inputs.add_noise(x_u, run.method.teacher_noise, run.noise_generator)
            parts.append((y_l, *noisy, teacher_x_u))
        names = ("y_l", "student_x_l", "student_x_u", "teacher_x_u")
        return {name: torch.stack(column) for name, column in zip(names, zip(*parts))}

    def step(self, step: int) -> Tensor:
        """One optimizer step of every run; returns their loss parts, (K, 3)."""
        batch = self._batches(step)
        totals, parts, responses = (
            [],
            torch.empty(len(self.runs), 3, device=batch["y_l"].device),
            [],
        )
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
                f"training stopped at step {step + 1} of {run.method.name} (seed {run.seed}): the "
                f"loss is {total} "
                f"(supervised {supervised}, unlabeled {unlabeled}); lower lr or check the inputs"
            )
        self.optimizer.zero_grad(set_to_none=True)
        torch.stack(totals).sum().backward()
        self.optimizer.step()
        for group, phi in zip(self.groups, responses):
            group.follow(step, phi)
        return parts

    def _stacked(self, state: str, rows: list[int]) -> dict[str, Tensor]:
        """The `state` ("params" or "teacher") of runs `rows`, of any groups, stacked:
        {name: (len(rows), ...)}."""
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
                logits = {  # (K_s, n, C) logits of the students and of the teachers
                    split: [
                        (predict(students, x), predict(teachers, x), y)
                        for x, y in source.eval_batches(split)
                    ]
                    for split in EVAL_SPLITS
                }
                for j, k in enumerate(rows):
                    out[k] = snapshot_of(
                        self.runs[k].method,
                        {
                            split: [(s[j], g[j], y) for s, g, y in batches]
                            for split, batches in logits.items()
                        },
                    )
        return out

    def fit(self, progress: bool) -> list[History]:
        previous = self.snapshots()
        evaluations = Evaluations(steps=self.steps, eval_every=self.eval_every, runs=len(self.runs))
        bar = tqdm(
            total=self.steps,
            desc=f"{len(self.runs)} runs (vmap)",
            disable=not progress,
            leave=False,
        )
        tic = time.perf_counter()
        for step in range(self.steps):
            evaluations.add(self.step(step).double().cpu().tolist())
            bar.update()
            done = step + 1
            if not evaluations.due(done):
                continue
            now, seconds = self.snapshots(), time.perf_counter() - tic
            records = evaluations.records(
                [run.method for run in self.runs],
                done=done,
                now=now,
                previous=previous,
                seconds=seconds,
            )
            for run, record in zip(self.runs, records):
                run.history.append(record)
            previous = now
        bar.close()
        return [run.history for run in self.runs]
