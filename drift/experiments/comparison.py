"""Methods x seeds on one data set: `compare` and its worker pools (shared by chapters and the
CLI)."""

from __future__ import annotations

import functools
import os
import pickle
import sys
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import replace
from multiprocessing import get_context
from typing import Callable, Sequence

import torch
from tqdm.auto import tqdm

from ..core.methods import METHODS, Method, get_method
from ..data.sources import DatasetSplits
from ..data.splits import SemiSupervisedData
from ..runtime import resolve_device
from ..training import batched, distributed
from ..training.config import TrainConfig, split_overrides
from ..training.history import History
from ..training.loop import train
from ..validation import check_integer
from .records import Pretrained
from .results import Results


def _run_share(
    jobs: list[tuple[Method, int]], data, config: TrainConfig, run_kwargs: dict, engine: str
) -> list[dict]:
    """Some of `compare`'s runs (method, seed), in one process: batched into one model with
    engine "vmap" (`drift.training.batched.train_many`), else `drift.train` for each in turn."""
    if engine == "vmap":
        return [h.to_dict() for h in batched.train_many(jobs, data, config, **run_kwargs)]
    return [
        train(
            m, data(seed=s) if callable(data) else data, replace(config, seed=s), **run_kwargs
        ).to_dict()
        for m, s in jobs
    ]


RUN_ARGUMENTS = frozenset(
    {
        "model",
        "device",
        "optimizer",
        "scheduler",
        "student_view",
        "teacher_view",
        "callback",
        "checkpoint",
        "progress",
    }
)
"""`drift.train`'s object arguments, which `compare` passes on to every run."""


def _context():
    """fork where it is safe (Linux, CUDA not started): fast, and works from scripts with no
    `if __name__ == "__main__"` guard; spawn elsewhere (macOS, Windows, after CUDA started)."""
    safe = sys.platform.startswith("linux") and not torch.cuda.is_initialized()
    return get_context("fork" if safe else "spawn")


def _init_worker() -> None:
    torch.set_num_threads(1)


ENGINES = ("vmap", "processes")
"""`compare`'s engines: "vmap" trains the runs as one batched model (`drift.training.batched`),
"processes" trains them one by one (`drift.train`), spread over worker processes."""


def compare(
    methods: Sequence[str | Method] | None,
    data: SemiSupervisedData | DatasetSplits | Callable[..., SemiSupervisedData | DatasetSplits],
    *,
    seeds: int | Sequence[int] = 5,
    reference: str | None = "mean_teacher",
    workers: int | None = None,
    engine: str = "vmap",
    progress: bool = True,
    config: TrainConfig | None = None,
    **train_kwargs,
) -> Results:
    """Train every method with every seed and collect the histories.

    methods: preset names or `Method`s (None: all six presets). data: one split (a
    `SemiSupervisedData` or a `DatasetSplits`) shared by all seeds, or `data(seed=...)`
    returning each seed's split (picklable for workers > 1, e.g.
    `functools.partial(drift.load_data, "digits", labels_per_class=5)`). seeds: a count or a list.
    engine: "vmap" (default) trains all runs as one batched model with `torch.func.vmap`
    (`drift.training.batched`): each run keeps the random stream `drift.train` would give it, so the
    results equal one-by-one training up to float rounding. Where it cannot serve (a model with
    a random operation in its forward pass, such as dropout with p > 0, or with buffers, such as
    BatchNorm's running statistics: `drift.training.batched.model_unsupported` decides by a probe;
    data in torch Datasets, dict inputs, mixed precision, checkpoints, callbacks, optimizer or
    scheduler factories, views, clipping, torchrun), compare warns once with the reason and uses
    "processes": `drift.train` for each run.
    workers: processes to spread runs over (default: the CPU count on a CPU, 1 on a GPU); each
    worker uses one thread (with "vmap", each trains its share of the runs batched), so a
    run's result does not depend on `workers` when the caller also pins one thread (with
    "vmap", up to float rounding). config: the runs' `drift.TrainConfig` (its seed is each
    run's). train_kwargs go to `drift.train`: Method settings among them (e.g. alpha=0.99) apply
    to every method, TrainConfig settings (e.g. steps=500) replace the config's, and train's
    other arguments (model, device, ...) are passed on; any other name raises TypeError.
    """
    method_settings, config_settings, run_kwargs = split_overrides(
        train_kwargs, others=RUN_ARGUMENTS - {"progress"}
    )
    if config is not None and not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a drift.TrainConfig or None; got {type(config).__name__}")
    if "seed" in config_settings:
        raise TypeError(
            "compare sets each run's seed from seeds; pass seeds=[...] rather than seed"
        )
    config = replace(config if config is not None else TrainConfig(), **config_settings)
    methods = [get_method(m) for m in (METHODS if methods is None else methods)]
    names = [m.name for m in methods]
    if len(set(names)) != len(names):
        raise ValueError(f"methods must have distinct names; got {names}")
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(map(repr, ENGINES))}; got {engine!r}")
    if not (isinstance(data, (SemiSupervisedData, DatasetSplits)) or callable(data)):
        raise TypeError(
            "data must be a drift.SemiSupervisedData, a drift.DatasetSplits or a function of seed "
            f"returning one; got {type(data).__name__}"
        )
    seeds = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    if not seeds:
        raise ValueError("seeds must be a count >= 1 or a non-empty list of seeds")
    if isinstance(run_kwargs.get("model"), torch.nn.Module):
        raise TypeError(
            "model must be a name or a factory in compare, so that every run starts from a fresh "
            "model"
        )
    if workers is None:
        workers = (
            1
            if resolve_device(run_kwargs.get("device", "auto")).type == "cuda"
            else os.cpu_count() or 1
        )
    example = data
    # once here: fail fast, show its kind, and forked workers inherit what load_data caches
    if callable(data):
        example = data(seed=seeds[0])
        if min(workers, len(methods) * len(seeds)) == 1:  # runs in this process reuse that split
            data = functools.partial(_reusing, data, seeds[0], example)
    methods = [get_method(m, **method_settings) for m in methods]
    if engine == "vmap":
        reason = batched.unsupported(
            config, run_kwargs, data_example=example, distributed=distributed.world_size() > 1
        )
        if reason is None:
            try:
                return _execute(
                    "vmap", methods, data, seeds, reference, workers, progress, config, run_kwargs
                )
            except batched.Unbatchable as err:
                reason = str(err)
        warnings.warn(
            f"compare: engine='vmap' cannot batch these runs ({reason}); training them one by one "
            "(engine='processes')",
            stacklevel=2,
        )
    return _execute(
        "processes", methods, data, seeds, reference, workers, progress, config, run_kwargs
    )


def _reusing(data: Callable, seed0: int, split0, seed: int):
    """data(seed=seed), where the split of seed0 is already made (split0)."""
    return split0 if seed == seed0 else data(seed=seed)


def _pool_checked(methods, data, run_kwargs) -> None:
    """Before worker processes start: check that the work pickles."""
    try:
        pickle.dumps((methods, data, run_kwargs))
    except (pickle.PicklingError, AttributeError, TypeError) as err:
        raise TypeError(
            "data and train_kwargs must be picklable to run in worker processes: use e.g. "
            "functools.partial(drift.load_data, 'digits', labels_per_class=5) rather than a "
            f"lambda, or pass workers=1 ({err})"
        ) from err


def _execute(
    engine, methods, data, seeds, reference, workers, progress, config, run_kwargs
) -> Results:
    """`compare`'s runs over `workers` processes (this one when 1). With engine "vmap" each
    worker trains its share of the runs as one batched model; with "processes" each run is a
    task of its own. Results come back in the order methods x seeds, whatever order they end."""
    jobs = [(m, s) for m in methods for s in seeds]
    workers = max(1, min(workers, len(jobs)))
    if engine == "vmap":  # round robin: each share keeps the methods' order
        shares = [list(range(i, len(jobs), workers)) for i in range(workers)]
    else:
        shares = [[i] for i in range(len(jobs))]
    run_kwargs = {**run_kwargs, "progress": progress and workers == 1}
    desc = "runs (vmap)" if engine == "vmap" else "runs"
    bar = tqdm(total=len(jobs), desc=desc, disable=not progress or len(shares) == 1)
    out: list[dict | None] = [None] * len(jobs)

    def collect(share: list[int], histories: list[dict]) -> None:
        for i, h in zip(share, histories):
            out[i] = h
        bar.update(len(share))

    work = functools.partial(
        _run_share, data=data, config=config, run_kwargs=run_kwargs, engine=engine
    )
    if workers == 1:
        for share in shares:
            collect(share, work([jobs[i] for i in share]))
    else:
        _pool_checked(methods, data, run_kwargs)
        with ProcessPoolExecutor(workers, mp_context=_context(), initializer=_init_worker) as pool:
            futures = {pool.submit(work, [jobs[i] for i in share]): share for share in shares}
            for future in as_completed(futures):
                collect(futures[future], future.result())
    bar.close()
    histories: dict[str, list[History]] = {m.name: [] for m in methods}
    for h in out:
        histories[h["method"]].append(History.from_dict(h))
    return Results(histories, reference)


def compare_after_pretraining(
    methods: Sequence[str | Method] | None,
    data: SemiSupervisedData,
    *,
    pretrain_steps: int,
    model="mlp",
    **kwargs,
) -> Results:
    """`compare` where every run first trains its student with "supervised" for `pretrain_steps`
    on `data`'s labeled part, then runs its method for `steps` more (chapter 7: weak labels, then
    self-training). The student's lr, batch_size, input_noise and device are shared by both stages;
    other kwargs go to `compare`."""
    pretrain_steps = check_integer("pretrain_steps", pretrain_steps, minimum=1)
    if not isinstance(data, SemiSupervisedData):
        raise TypeError(
            "data must be one drift.SemiSupervisedData shared by both stages; got "
            f"{type(data).__name__}"
        )
    if isinstance(model, torch.nn.Module):
        raise TypeError(
            "model must be a name or a factory, so that every run starts from a fresh model"
        )
    shared = {k: kwargs[k] for k in ("lr", "batch_size", "input_noise", "device") if k in kwargs}
    return compare(
        methods, data, model=Pretrained(data, pretrain_steps, {"model": model, **shared}), **kwargs
    )
