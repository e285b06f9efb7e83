"""Data-parallel training on 2 CPU processes (gloo).

Three things run side by side:
- the user's command, `torchrun --standalone --nproc_per_node=2 -m drift train ... --out DIR`
  (--standalone picks a free port itself), in a subprocess;
- two workers (`_worker`, below) forked from this process, so they skip importing torch again,
  in a process group that meets through a file, not a port: each checks one DDP step's gradient
  against the single-process gradient on the global batch, trains an MLP and a BatchNorm
  student, gathers their teachers from both ranks, trains a dropout student (its masks, the
  shared generator, a resume from a checkpoint that only rank 0's disk holds), counts the
  broadcasts of buffers per step, and writes rank{R}.json;
- the same `train` command in this one process, the reference for the torchrun run.
The command and the workers share one deadline (`DEADLINE`): none can hang the suite.
"""

import dataclasses
import json
import os
import sys

import pytest
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import TensorDataset

import drift
from drift.training import distributed
from drift.__main__ import main as cli
from processes import Processes

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
TRAIN_ARGS = [
    "train",
    "--data",
    "digits",
    "--labels-per-class",
    "5",
    "--method",
    "drift",
    "--steps",
    "200",
]
# 2 processes against 1, same global batch (measured here: final test accuracy identical, max
# |difference| of the loss curve 9.5e-8, pseudo-label accuracy identical): the processes add the
# same gradients in another order, so float rounding is the only difference. Tolerances: one
# test example (100/540 %) for accuracies, 1e-5 for the mean loss per evaluation.
ACCURACY_TOL = 100 / 540
LOSS_TOL = 1e-5
# One DDP step's gradient against the single-process one, in float64 (measured ~1e-16).
GRAD_TOL = 1e-10
# One deadline for the torchrun command and the two workers, which take about 20 s on an idle
# 2-core machine and a minute on a busy one: a rank that hangs (in a gloo collective whose peer
# died or deadlocked) fails the tests then, named, with where it was stuck (tests/processes.py).
DEADLINE = 300


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Start the torchrun command and the workers, run the 1-process reference meanwhile, collect
    all."""
    root = tmp_path_factory.mktemp("ddp")
    with Processes(root / "logs", timeout=DEADLINE) as processes:
        processes.command(
            "the torchrun command",
            [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--standalone",
                "--nproc_per_node=2",
                "-m",
                "drift",
                *TRAIN_ARGS,
                "--out",
                str(root / "two"),
            ],
            env=ENV,
        )
        for rank in range(2):
            processes.worker(
                f"rank {rank}", _worker, rank, str(root / "worker"), f"file://{root / 'store'}"
            )
        assert cli([*TRAIN_ARGS, "--out", str(root / "one")]) == 0
        one = json.loads((root / "one" / "history.json").read_text())
        torchrun = processes.wait()["the torchrun command"]
    return {
        "stdout": torchrun.stdout,
        "stderr": torchrun.stderr,
        "one": one,
        "two": json.loads((root / "two" / "history.json").read_text()),
        "ranks": [json.loads((root / "worker" / f"rank{r}.json").read_text()) for r in range(2)],
    }


def test_torchrun_command_trains_and_only_rank_0_prints(runs):
    assert runs["stdout"].count("final test accuracy") == 1
    assert "2 processes" in runs["stdout"]
    assert runs["two"]["step"][-1] == 200
    # none from the package's own calls
    assert "Warning" not in runs["stderr"], runs["stderr"][-2000:]


def test_two_processes_match_one_with_the_same_global_batch(runs):
    one, two = runs["one"], runs["two"]
    assert one["step"] == two["step"]
    assert abs(one["test_accuracy"][-1] - two["test_accuracy"][-1]) <= ACCURACY_TOL
    for series in ("test_accuracy", "pseudo_label_accuracy"):
        assert max(abs(a - b) for a, b in zip(one[series], two[series])) <= ACCURACY_TOL, series
    assert max(abs(a - b) for a, b in zip(one["loss"], two["loss"])) <= LOSS_TOL


def test_ddp_gradient_is_the_global_stackelberg_gradient(runs):
    """DDP's all-reduce averages the whole leaf gradient: the student path and the teacher path
    phi(theta) alike. For DRIFT the teacher path is far from zero (its gradient differs from mean
    teacher's), and a reducer that all-reduced only the student path would be off by far more
    than the tolerance."""
    for r in runs["ranks"]:
        assert r["drift_error"] <= GRAD_TOL
        assert r["mean_teacher_error"] <= GRAD_TOL
        assert r["drift_vs_mean_teacher"] > 1e-2
    assert max(r["student_path_only_error"] for r in runs["ranks"]) > 1e-4


def test_teacher_and_history_are_identical_across_ranks(runs):
    for name in ("mlp", "batchnorm"):
        r0, r1 = (r[name] for r in runs["ranks"])
        assert r0["teacher_equal"] and r0["student_equal"], name
        # every student iterate enters the teacher once (float32 round-off only; the old
        # update order, which counted the newest student twice, was off by ~1e-2)
        assert max(r0["ema_error"], r1["ema_error"]) < 1e-6, name
        assert r0["history"] == r1["history"], name
    bn = runs["ranks"][0]["batchnorm"]
    # the teacher's BatchNorm buffers were averaged, not left at init
    assert bn["running_var_moved"]


def test_batch_size_must_divide_over_the_processes(runs):
    for r in runs["ranks"]:
        assert (
            "batch_size (15) is a global batch size and must be divisible by the number of "
            "processes (2)" in r["indivisible"]
        )


def test_each_rank_draws_its_own_dropout_masks_from_a_shared_batch_stream(runs):
    for r in runs["ranks"]:
        d = r["dropout"]
        # before: equal at every step
        assert d["steps"] == 6 and not any(d["masks_equal_across_ranks"])
        # dropout draws nothing from the shared generator: after training it is where a
        # dropout-free student of the same shapes leaves it, on both ranks
        assert d["shared_rng_equal_across_ranks"] and d["shared_rng_as_without_dropout"]
        assert d["student_equal"]


def test_rank_0_reads_the_checkpoint_and_every_rank_resumes_from_it(runs):
    """Node-local disks: the checkpoint is only in rank 0's directory (rank 1's path has no file).
    Both ranks resume at its step and finish as the uninterrupted run, dropout streams included."""
    for r in runs["ranks"]:
        d = r["dropout"]
        assert d["checkpoint_exists"] == (r["rank"] == 0)
        assert d["resumed_steps"] == [4, 6]
        assert d["resumed_masks_as_uninterrupted"] and d["resumed_student_as_uninterrupted"]
        assert d["resumed_history_as_uninterrupted"]


def test_buffers_are_broadcast_in_one_collective_per_step(runs):
    for r in runs["ranks"]:
        b = r["buffers"]
        # BatchNorm: running_mean, running_var (float32), num_batches_tracked (int64); one per
        # buffer before
        assert b["buffers"] == 3 and b["dtypes"] == ["torch.float32", "torch.int64"]
        assert b["broadcasts_per_step"] == [1] * 4
        assert b["buffers_equal_across_ranks"] and b["running_var_moved"]
        # odd sizes and mixed dtypes (float32 x3, int64, bool x5, transposed float64) in one
        # broadcast
        assert b["mixed_broadcasts"] == 1 and b["mixed_as_rank_0"]


def test_checkpoint_refuses_other_data_of_the_same_sizes(moons, tmp_path):
    other = dataclasses.replace(moons, x_unlabeled=moons.x_unlabeled + 1e-3)
    assert repr(other) == repr(moons)  # what the checkpoint compared before
    path = tmp_path / "run.pt"
    kwargs = dict(steps=4, eval_every=2, progress=False, checkpoint=path)
    first = drift.train("drift", moons, **kwargs)
    with pytest.raises(
        ValueError,
        match=r"checkpoint '.*run\.pt' was written by a run with other arguments "
        r"\(differing: data_sha256\); pass the same arguments and data",
    ):
        drift.train("drift", other, **kwargs)
    # the same data resumes (done)
    assert drift.train("drift", moons, **kwargs).to_dict() == first.to_dict()


def test_fingerprint_of_tensors_dicts_and_none():
    from drift.training.checkpoints import fingerprint

    x = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    assert fingerprint(x) == fingerprint(x.clone()) == fingerprint(x.t().contiguous().t())
    assert fingerprint(x) != fingerprint(x.reshape(3, 2))  # shape
    assert fingerprint(x) != fingerprint(x.view(torch.int32))  # dtype, same bytes
    assert fingerprint(x) != fingerprint(x + 1e-6)
    ids = {
        "input_ids": torch.arange(4).reshape(2, 2),
        "attention_mask": torch.ones(2, 2, dtype=torch.long),
    }
    assert fingerprint(ids) == fingerprint(dict(reversed(ids.items())))  # key order does not matter
    assert fingerprint(ids) != fingerprint(
        {**ids, "attention_mask": torch.zeros(2, 2, dtype=torch.long)}
    )
    assert fingerprint(None) != fingerprint(torch.empty(0))
    with pytest.raises(
        TypeError, match="data must hold tensors, dicts of tensors or None .* got object"
    ):
        fingerprint(object())
    # a torch Dataset: its class, length and first, middle and last items
    ys = torch.arange(5)
    splits = drift.DatasetSplits(
        labeled=TensorDataset(torch.randn(5, 3), ys),
        unlabeled=TensorDataset(torch.randn(7, 3)),
        num_classes=5,
    )
    assert fingerprint(splits) == fingerprint(
        drift.DatasetSplits(labeled=splits.labeled, unlabeled=splits.unlabeled, num_classes=5)
    )
    assert fingerprint(TensorDataset(x)) != fingerprint(TensorDataset(x + 1))
    assert fingerprint(TensorDataset(x)) != fingerprint(TensorDataset(torch.cat([x, x])))


# The workers, one process per rank.


def _flat(tensors) -> torch.Tensor:
    return torch.cat([t.detach().reshape(-1).double() for t in tensors])


def _same_on_all_ranks(x: torch.Tensor) -> bool:
    gathered = [torch.empty_like(x) for _ in range(distributed.world_size())]
    dist.all_gather(gathered, x)
    return all(torch.equal(g, gathered[0]) for g in gathered)


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm()).item()


def _gradients(data, method: str, *, ddp: bool, local: bool = False) -> torch.Tensor:
    """dF/dtheta in float64 of a fixed student and a teacher moved away from it, on the global
    batch (one process), on this rank's shard through DDP, or on the shard alone (`local`)."""
    torch.manual_seed(0)
    student = drift.build_model("mlp", data.feature_shape, data.num_classes).double()
    teacher = drift.make_teacher(drift.get_method(method), student)
    teacher.params = {k: v + 0.1 * torch.randn_like(v) for k, v in teacher.params.items()}
    i_l, i_u = (
        torch.randint(len(data.y_labeled), (16,)),
        torch.randint(len(data.x_unlabeled), (32,)),
    )
    x_l, y_l, x_u = (
        data.x_labeled[i_l].double(),
        data.y_labeled[i_l],
        data.x_unlabeled[i_u].double(),
    )
    if ddp or local:
        x_l, y_l, x_u = distributed.shard(x_l), distributed.shard(y_l), distributed.shard(x_u)
    forward = nn.parallel.DistributedDataParallel(student) if ddp else student
    terms = drift.leader_terms(
        drift.get_method(method), student, teacher, x_l, y_l, x_u, lam=1.0, student_forward=forward
    )
    terms.total.backward()
    return _flat(p.grad for p in student.parameters())


def _bn_student(feature_shape, num_classes):
    return nn.Sequential(
        nn.Flatten(), nn.Linear(64, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, num_classes)
    )


def _trained(data, model) -> dict:
    torch.manual_seed(0)
    student = drift.build_model(model, data.feature_shape, data.num_classes)
    floats = [k for k, v in student.state_dict().items() if v.is_floating_point()]
    # theta_0, then theta_k after each step
    iterates = [_flat(student.state_dict()[k] for k in floats)]

    def record(history):
        iterates.append(_flat(history.model.state_dict()[k] for k in floats))

    h = drift.train(
        "drift",
        data,
        model=student,
        steps=30,
        batch_size=16,
        eval_every=1,
        progress=False,
        callback=record,
    )
    teacher = h.teacher.state()
    ema, alpha = iterates[0], drift.get_method("drift").alpha
    for theta in iterates[1:-1]:  # the stored teacher: the EMA of theta_0 .. theta_(k-1)
        ema = alpha * ema + (1 - alpha) * theta
    return {
        "ema_error": _relative(_flat(teacher[k] for k in floats), ema),
        "teacher_equal": _same_on_all_ranks(_flat(teacher.values())),
        "student_equal": _same_on_all_ranks(_flat(h.model.state_dict().values())),
        "history": {k: v for k, v in h.to_dict().items() if k != "seconds"},
        "running_var_moved": any(
            k.endswith("running_var") and not torch.allclose(v, torch.ones_like(v))
            for k, v in teacher.items()
        ),
    }


class _Disconnect(Exception):
    """A simulated disconnect, raised by a callback after the checkpoint of that evaluation is
    written."""


def _dropout_run(
    data, *, dropout: bool = True, checkpoint=None, disconnect_at: int | None = None
) -> dict:
    """6 DRIFT steps of a student with dropout after its first layer (Linear then Dropout, so a
    dropped unit is exactly 0): the mask of each training forward pass (shard, 32), the student,
    the History and the shared generator's state after training."""
    masks, evaluated = [], []

    def factory(feature_shape, num_classes):
        layers = [
            nn.Flatten(),
            nn.Linear(64, 32),
            *([nn.Dropout(0.5)] if dropout else []),
            nn.ReLU(),
            nn.Linear(32, num_classes),
        ]
        model = nn.Sequential(*layers)
        if dropout:
            model[2].register_forward_hook(
                lambda m, i, out: masks.append(out == 0) if m.training else None
            )
        return model

    def callback(history):
        evaluated.append(history.step[-1])
        if history.step[-1] == disconnect_at:
            raise _Disconnect

    h = drift.train(
        "drift",
        data,
        model=factory,
        steps=6,
        batch_size=16,
        eval_every=2,
        progress=False,
        checkpoint=checkpoint,
        callback=callback,
    )
    return {
        "masks": masks,
        "evaluated": evaluated,
        "student": _flat(h.model.state_dict().values()),
        "history": {k: v for k, v in h.to_dict().items() if k != "seconds"},
        "rng": torch.get_rng_state(),
    }


def _dropout(data, out: str) -> dict:
    full = _dropout_run(data)
    plain = _dropout_run(data, dropout=False)
    node = os.path.join(out, f"node{distributed.rank()}")  # each rank's own "local disk"
    os.makedirs(node, exist_ok=True)
    path = os.path.join(node, "run.pt")
    try:
        _dropout_run(data, checkpoint=path, disconnect_at=2)
    except _Disconnect:
        pass
    resumed = _dropout_run(data, checkpoint=path)
    return {
        "steps": len(full["masks"]),
        "masks_equal_across_ranks": [_same_on_all_ranks(m.to(torch.uint8)) for m in full["masks"]],
        "shared_rng_equal_across_ranks": _same_on_all_ranks(full["rng"]),
        "shared_rng_as_without_dropout": torch.equal(full["rng"], plain["rng"]),
        "student_equal": _same_on_all_ranks(full["student"]),
        "checkpoint_exists": os.path.exists(path),
        "resumed_steps": resumed["evaluated"],
        "resumed_masks_as_uninterrupted": len(resumed["masks"]) == 4
        and all(torch.equal(a, b) for a, b in zip(resumed["masks"], full["masks"][2:])),
        "resumed_student_as_uninterrupted": torch.equal(resumed["student"], full["student"]),
        "resumed_history_as_uninterrupted": resumed["history"] == full["history"],
    }


def _buffers(data) -> dict:
    """Count `dist.broadcast` calls per training step of a BatchNorm student (between consecutive
    evaluations), and broadcast a module with odd-sized buffers of mixed dtypes."""
    calls, at_evaluation = [], []
    original = dist.broadcast

    def counting(tensor, *args, **kwargs):
        calls.append(tensor.dtype)
        return original(tensor, *args, **kwargs)

    dist.broadcast = counting
    try:
        h = drift.train(
            "drift",
            data,
            model=_bn_student,
            steps=5,
            batch_size=16,
            eval_every=1,
            progress=False,
            callback=lambda history: at_evaluation.append(len(calls)),
        )
        buffers = dict(h.model.named_buffers())
        mixed = nn.Module()
        torch.manual_seed(distributed.rank())  # other values on every rank
        for name, value in (
            ("a", torch.randn(3)),
            ("b", torch.randint(9, ())),
            ("c", torch.rand(5) > 0.5),
            ("d", torch.randn(3, 2, dtype=torch.float64).t()),
        ):
            mixed.register_buffer(name, value)
        before = len(calls)
        distributed.broadcast_buffers(mixed)
        mixed_broadcasts = len(calls) - before
    finally:
        dist.broadcast = original
    torch.manual_seed(0)
    expected = [
        torch.randn(3),
        torch.randint(9, ()),
        torch.rand(5) > 0.5,
        torch.randn(3, 2, dtype=torch.float64).t(),
    ]
    return {
        "buffers": len(buffers),
        "dtypes": sorted({str(b.dtype) for b in buffers.values()}),
        "broadcasts_per_step": [b - a for a, b in zip(at_evaluation, at_evaluation[1:])],
        "buffers_equal_across_ranks": _same_on_all_ranks(_flat(buffers.values())),
        "running_var_moved": any(
            k.endswith("running_var") and not torch.allclose(v, torch.ones_like(v))
            for k, v in buffers.items()
        ),
        "mixed_broadcasts": mixed_broadcasts,
        "mixed_as_rank_0": all(torch.equal(b, e) for b, e in zip(mixed.buffers(), expected)),
    }


def _worker(rank: int, out: str, store: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=store, rank=rank, world_size=2)
    data = drift.load_data("digits", labels_per_class=5, seed=0)
    result = {}
    grads = {m: _gradients(data, m, ddp=False) for m in ("drift", "mean_teacher")}
    for m in grads:
        result[f"{m}_error"] = _relative(_gradients(data, m, ddp=True), grads[m])
    result["drift_vs_mean_teacher"] = _relative(grads["drift"], grads["mean_teacher"])
    # What a reducer that missed the teacher path would give: averaged student-path gradient
    # (mean teacher's) plus this rank's own, unreduced teacher-path term.
    local_drift, local_mt = (
        _gradients(data, m, ddp=False, local=True) for m in ("drift", "mean_teacher")
    )
    result["student_path_only_error"] = _relative(
        grads["mean_teacher"] + local_drift - local_mt, grads["drift"]
    )
    result["mlp"] = _trained(data, "mlp")
    result["batchnorm"] = _trained(data, _bn_student)
    result["dropout"] = _dropout(data, out)
    result["buffers"] = _buffers(data)
    result["rank"] = distributed.rank()
    try:
        drift.train("drift", data, steps=1, batch_size=15, progress=False)
    except ValueError as err:
        result["indivisible"] = str(err)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, f"rank{distributed.rank()}.json"), "w") as f:
        json.dump(result, f)
    dist.destroy_process_group()
