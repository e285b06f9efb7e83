"""Per-step cost of DRIFT against mean teacher, measured in one process.

For each setting (MLP on digits, CNN on MNIST-1D) it builds one student/teacher/optimizer per
method and times `drift.training.loop.training_step`, the trainer's own step, alternating A B A B so
that both methods see the same machine state; warm-up steps are excluded. It reports median
step times and their ratio, and the bytes of tensors autograd saves for the backward pass
(counted with `torch.autograd.graph.saved_tensors_hooks`) and their ratio. The theoretical
extra work of DRIFT is one backward pass through the teacher on the unlabeled batch.

    python benchmarks/step_cost.py [--rounds 300] [--warmup 50] [--device auto] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import drift
from drift.training.loop import training_step

SETTINGS = (("digits", "mlp", 5), ("mnist1d", "cnn", 10))
METHODS = ("mean_teacher", "drift")
STEP_CONFIG = drift.TrainConfig(steps=1, input_noise=0.1)
"""steps=1: every timed step is past the ramp-up, so the unlabeled term (and the teacher) is on."""
BATCH, UNLABELED_BATCH = 64, 128


def _setup(name: str, data, model: str, device):
    method = drift.METHODS[name]
    torch.manual_seed(0)
    student = drift.build_model(model, data.feature_shape, data.num_classes).to(device)
    teacher = drift.make_teacher(method, student)
    optimizer = torch.optim.Adam(
        student.parameters(), lr=1e-3, fused=device.type in ("cpu", "cuda")
    )
    return method, student, teacher, optimizer


def _step(setup, source, step: int) -> None:
    method, student, teacher, optimizer = setup
    training_step(method, student, teacher, optimizer, source, STEP_CONFIG, step=step)


def _saved_bytes(setup, data) -> int:
    method, student, teacher, _ = setup
    total = 0

    def pack(t):
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    x_l, y_l, x_u = (
        data.x_labeled[:BATCH],
        data.y_labeled[:BATCH],
        data.x_unlabeled[:UNLABELED_BATCH],
    )
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        drift.leader_objective(method, student, teacher, x_l, y_l, x_u, lam=1.0)
    return total


def _sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300, help="timed A B rounds")
    parser.add_argument("--warmup", type=int, default=50, help="untimed rounds first")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()
    drift.seed_everything(0, threads=args.threads)
    device = drift.resolve_device(args.device)
    print(
        f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} CPU thread(s), "
        f"batches {BATCH} labeled + {UNLABELED_BATCH} unlabeled, {args.rounds} rounds after "
        f"{args.warmup} warm-up\n"
    )
    print(
        "| setting | mean teacher (ms/step) | DRIFT (ms/step) | time ratio | saved-tensor ratio |"
    )
    print("|---|---|---|---|---|")
    for data_name, model, labels in SETTINGS:
        data = drift.load_data(data_name, labels_per_class=labels).to(device)
        source = drift.sources.source_of(
            data, device=device, seed=0, batch_size=BATCH, unlabeled_batch_size=UNLABELED_BATCH
        )
        setups = {m: _setup(m, data, model, device) for m in METHODS}
        times = {m: [] for m in METHODS}
        for r in range(args.warmup + args.rounds):
            for m in METHODS:
                _sync(device)
                tic = time.perf_counter()
                _step(setups[m], source, r)
                _sync(device)
                if r >= args.warmup:
                    times[m].append(time.perf_counter() - tic)
        median = {m: 1e3 * statistics.median(times[m]) for m in METHODS}
        saved = {m: _saved_bytes(setups[m], data) for m in METHODS}
        print(
            f"| {model} on {data_name} | {median['mean_teacher']:.3f} | {median['drift']:.3f} | "
            f"{median['drift'] / median['mean_teacher']:.2f} | "
            f"{saved['drift'] / saved['mean_teacher']:.2f} |"
        )


if __name__ == "__main__":
    main()
