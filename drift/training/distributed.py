"""Data-parallel training on several processes (GPUs or CPU cores) through torch.distributed:
the package's one explanation of it, which the trainer, the checkpoints and the CLI link to.

`torchrun` starts one process per device and sets WORLD_SIZE, RANK and LOCAL_RANK; these
helpers read them, set up the process group (NCCL on CUDA with device cuda:LOCAL_RANK, gloo on
the CPU) and split a global batch into equal per-process shards. Outside torchrun every helper
answers as a single process would: rank 0 of 1.

    torchrun --standalone --nproc_per_node=2 -m drift train --data digits --method drift

How `drift.train` runs under torchrun (WORLD_SIZE > 1): it initialises the process group if
nobody has (torn down again at the end) and trains data-parallel. Every process draws the same
global batch and noise from `seed` and takes its shard (so batch_size and unlabeled_batch_size,
which are global, must be divisible by the number of processes; a CUDA device is
cuda:LOCAL_RANK), and draws its own dropout masks from (seed, rank, step) (`rank_stream`). The
student's forward pass goes through `DistributedDataParallel` (`wrap`), whose all-reduce
averages the whole gradient, from the student path and the teacher path phi(theta) alike; the
teacher runs on the unwrapped student. After each step rank 0's buffers (BatchNorm statistics,
computed on its shard) are copied to every rank (`broadcast_buffers`), so the EMA teacher is the
same on all ranks. Only rank 0 shows progress, prints (the CLI) and writes the checkpoint; on a
rerun rank 0 alone reads it and broadcasts what it found (`broadcast_object`), so a checkpoint
on rank 0's local disk resumes all ranks alike, and a checkpoint holds only the shared generator
states (each rank's dropout stream is derived, not stored). Every rank evaluates and returns the
same History. Under torchrun `drift.compare`'s batched engine falls back to `drift.train` for
each run.
"""

from __future__ import annotations

import hashlib
import inspect
import os
from contextlib import contextmanager

import torch
import torch.distributed as dist
from torch import Tensor, nn


def launched() -> bool:
    """True when this process was started as one of several (WORLD_SIZE > 1, e.g. by torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def is_distributed() -> bool:
    """True when a process group of more than one process is initialised."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank in the group (0 when not distributed)."""
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    """Number of processes in the group (1 when not distributed)."""
    return dist.get_world_size() if is_distributed() else 1


def is_main() -> bool:
    """True on rank 0, the process that prints, shows progress and writes files."""
    return rank() == 0


def local_device(device: torch.device) -> torch.device:
    """The device of this process: cuda:LOCAL_RANK for a CUDA device under torchrun, else
    `device`."""
    if device.type == "cuda" and launched():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def setup(device: torch.device) -> bool:
    """Initialise the process group from torchrun's environment if it is not yet; returns True
    when this call initialised it (the caller then tears it down). NCCL for CUDA (and
    `torch.cuda.set_device(device)`), gloo for the CPU; a no-op outside torchrun."""
    if not launched() or dist.is_initialized():
        return False
    if device.type == "cuda":
        torch.cuda.set_device(device)
        dist.init_process_group("nccl", device_id=device)
    else:
        dist.init_process_group("gloo")
    return True


def teardown() -> None:
    """Destroy the process group, if one is initialised."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


@contextmanager
def process_group(device: torch.device):
    """`setup(device)` on entry; on exit tear down the group only if this context set it up."""
    created = setup(device)
    try:
        yield
    finally:
        if created:
            teardown()


def check_divisible(name: str, value: int) -> None:
    """Raise ValueError unless the global batch size `value` splits evenly over the processes."""
    n = world_size()
    if value % n:
        raise ValueError(
            f"{name} ({value}) is a global batch size and must be divisible by the number of "
            f"processes ({n}); use a multiple of {n}"
        )


def shard(x: Tensor) -> Tensor:
    """This rank's equal slice of a global batch along dim 0: (N, ...) -> (N / world_size, ...)."""
    n = world_size()
    if n == 1:
        return x
    size = x.shape[0] // n
    return x[rank() * size : (rank() + 1) * size]


def mean_over_ranks(x: Tensor) -> Tensor:
    """The mean of `x` over all processes (a copy; `x` itself when not distributed)."""
    if not is_distributed():
        return x
    x = x.clone()
    dist.all_reduce(x, op=dist.ReduceOp.SUM)
    return x / world_size()


def broadcast_object(obj, src: int = 0):
    """Rank `src`'s `obj` on every rank (any picklable object; put tensors on the CPU first);
    `obj` itself when not distributed."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


@torch.no_grad()
def broadcast_buffers(module: nn.Module) -> None:
    """Copy rank 0's buffers (e.g. BatchNorm running statistics) to every rank, in place: their
    bytes packed into one flat uint8 tensor, so one broadcast per device, whatever the dtypes."""
    if not is_distributed():
        return
    by_device: dict[torch.device, list[Tensor]] = {}
    for b in module.buffers():
        by_device.setdefault(b.device, []).append(b)
    for buffers in by_device.values():
        flat = torch.cat([b.reshape(-1).view(torch.uint8) for b in buffers])  # (total bytes,)
        dist.broadcast(flat, src=0)
        for b, chunk in zip(buffers, flat.split([b.numel() * b.element_size() for b in buffers])):
            # clone: a dtype view needs aligned bytes
            b.copy_(chunk.clone().view(b.dtype).view(b.shape))


def _stream_seed(seed: int, rank: int, step: int) -> int:
    """A 63-bit seed for (seed, rank, step), unrelated to `seed` itself and to other triples."""
    digest = hashlib.sha256(f"drift rank stream {seed} {rank} {step}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


@contextmanager
def rank_stream(seed: int, step: int, device: torch.device):
    """Run the block on this rank's own random stream (e.g. dropout masks in the forward passes):
    torch's CPU generator, and `device`'s if it is CUDA, seeded from (seed, rank, step), then
    the shared states put back as they were, so what is drawn outside the block (batches,
    noise) stays the same on every rank. The stream is derived, not stored: a run resumed at
    `step` draws the same. A no-op outside a process group (one process draws everything from
    the global generator, as before)."""
    if not is_distributed():
        yield
        return
    cuda = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        stream = _stream_seed(seed, rank(), step)
        torch.default_generator.manual_seed(stream)
        if cuda:
            with torch.cuda.device(device):
                torch.cuda.manual_seed(stream)
        yield


def wrap(module: nn.Module) -> nn.Module:
    """`DistributedDataParallel(module)` when distributed (it broadcasts rank 0's parameters and
    buffers once, then all-reduces gradients in backward); `module` itself otherwise. DDP does
    not broadcast buffers again before every forward pass: the trainer's `broadcast_buffers`
    after each step already keeps them equal (torch >= 2.13 names that setting
    `forward_sync_buffers`, older releases `broadcast_buffers`)."""
    if not is_distributed():
        return module
    device = next(module.parameters()).device
    ddp = nn.parallel.DistributedDataParallel
    if "forward_sync_buffers" in inspect.signature(ddp).parameters:
        no_forward_sync = {"forward_sync_buffers": False}
    else:  # torch < 2.13: broadcast_buffers=False skips the sync at init too
        broadcast_buffers(module)
        no_forward_sync = {"broadcast_buffers": False}
    return ddp(module, device_ids=[device] if device.type == "cuda" else None, **no_forward_sync)
