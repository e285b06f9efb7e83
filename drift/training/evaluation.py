"""What a training loop records when it evaluates: the metrics of one evaluation from its logits
(`snapshot_of`), one entry of every `History` series (`evaluation_record`), and when to evaluate
with the loss sums in between (`Evaluations`). `drift.training.loop` and the batched engine
(`drift.training.batched`) both keep their books with them."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..core.methods import Method
from ..core.weights import sample_weights
from ..metrics import flip_rate


def _percent_right(predicted: list[Tensor], y: list[Tensor | None]) -> float:
    """100 * the fraction of predicted classes equal to y, over batches; NaN without batches or
    labels."""
    if not predicted or any(t is None for t in y):
        return math.nan
    return 100 * (torch.cat(predicted) == torch.cat(y)).float().mean().item()


EVAL_SPLITS = ("test", "validation", "unlabeled")
"""The data an evaluation scores, in the order it runs (`Source.eval_batches`)."""


def snapshot_of(
    method: Method, logits: dict[str, list[tuple[Tensor, Tensor, Tensor | None]]]
) -> dict:
    """Metrics of one evaluation from its logits, batch by batch: `logits` maps each of
    `EVAL_SPLITS` to its batches (student logits (n, C), teacher logits (n, C), y (n,) or None;
    hidden labels for the unlabeled rows; no batches for a missing split). Returns the
    student's and the teacher's test accuracy, the student's validation accuracy (with a
    validation set only), the pseudo-label accuracy and mean weight, plus the predicted classes
    of the student and the teacher on the unlabeled rows (for flip rates)."""
    test, validation, unlabeled = (logits[split] for split in EVAL_SPLITS)
    teacher_logits = [g for _, g, _ in unlabeled]
    teacher_pred = [g.argmax(-1) for g in teacher_logits]
    weights = [  # as F's (masked), unnormalised
        sample_weights(
            torch.softmax(g, -1),
            method.weights,
            threshold=method.threshold,
            mask_below=method.mask_below,
        )
        for g in teacher_logits
    ]
    scores = {
        "test_accuracy": _percent_right(
            [s.argmax(-1) for s, _, _ in test], [y for _, _, y in test]
        ),
        "teacher_test_accuracy": _percent_right(
            [g.argmax(-1) for _, g, _ in test], [y for _, _, y in test]
        ),
        "pseudo_label_accuracy": _percent_right(teacher_pred, [y for _, _, y in unlabeled]),
        "mean_weight": torch.cat(weights).mean().item(),
        "student_pred": torch.cat([s.argmax(-1) for s, _, _ in unlabeled]),
        "teacher_pred": torch.cat(teacher_pred),
    }
    if validation:
        scores["val_accuracy"] = _percent_right(
            [s.argmax(-1) for s, _, _ in validation], [y for _, _, y in validation]
        )
    return scores


def evaluation_record(
    method: Method,
    *,
    done: int,
    steps: int,
    now: dict,
    previous: dict,
    sums: list[float],
    since: int,
    seconds: float,
) -> dict:
    """One evaluation's entry of every History series, after `done` of `steps` steps: `now` and
    `previous` are `snapshot_of` results, `sums` the loss parts summed over the `since` steps
    since the previous evaluation."""
    mean_loss, mean_sup, mean_unl = (s / since for s in sums)
    return {
        "step": done,
        "test_accuracy": now["test_accuracy"],
        "teacher_test_accuracy": now["teacher_test_accuracy"],
        "pseudo_label_accuracy": now["pseudo_label_accuracy"],
        "mean_weight": now["mean_weight"],
        "flip_rate": flip_rate(previous["student_pred"], now["student_pred"]),
        "label_flip_rate": flip_rate(previous["teacher_pred"], now["teacher_pred"]),
        "loss": mean_loss,
        "supervised_loss": mean_sup,
        "unlabeled_loss": mean_unl,
        "lam": method.lam_at(done - 1, steps),
        "seconds": seconds,
        **({"val_accuracy": now["val_accuracy"]} if "val_accuracy" in now else {}),
    }


class Evaluations:
    """When a training loop evaluates, and what it records then: the loss parts [F, supervised,
    unlabeled] of each of `runs` runs summed since the last evaluation (at step `last`), an
    evaluation due every `eval_every` steps and after the last of `steps`, and one
    `evaluation_record` per run, the loss means over the steps since the previous evaluation
    (a short last interval over its own steps). `train`'s loop and the batched engine
    (`drift.training.batched`) both keep their books with it."""

    def __init__(self, *, steps: int, eval_every: int, runs: int = 1, last: int = 0):
        self.steps, self.eval_every, self.last = steps, eval_every, last
        self.sums = [[0.0, 0.0, 0.0] for _ in range(runs)]

    def add(self, parts: list[list[float]]) -> None:
        """One step's loss parts of every run, (runs, 3)."""
        self.sums = [[a + b for a, b in zip(sums, run)] for sums, run in zip(self.sums, parts)]

    def due(self, done: int) -> bool:
        """Whether the loop evaluates after `done` steps."""
        return done % self.eval_every == 0 or done == self.steps

    def records(
        self,
        methods: list[Method],
        *,
        done: int,
        now: list[dict],
        previous: list[dict],
        seconds: float,
    ) -> list[dict]:
        """Every run's `evaluation_record` after `done` steps (now, previous: `snapshot_of` results
        per run); the sums start again from zero."""
        out = [
            evaluation_record(
                method,
                done=done,
                steps=self.steps,
                now=n,
                previous=p,
                sums=sums,
                since=done - self.last,
                seconds=seconds,
            )
            for method, n, p, sums in zip(methods, now, previous, self.sums)
        ]
        self.sums, self.last = [[0.0, 0.0, 0.0] for _ in self.sums], done
        return out


class BestOnValidation:
    """Early stopping and restore-best on the student's validation accuracy (`TrainConfig`'s
    `patience` and `restore_best`). After each evaluation `update` keeps the student's and the
    teacher's states if it is the best so far (the first of equals) and says whether `patience`
    evaluations have passed without a better one; `restore` puts the best states back and sets
    `History.best_step`. The best is read from the History itself, so a resumed run (whose
    History and `states` come from its checkpoint) goes on exactly as an uninterrupted one."""

    def __init__(self, config, states: dict | None = None):
        self.patience, self.restore_best = config.patience, config.restore_best
        self.states = states  # {"student": state dict, "teacher": state dict} of the best

    @staticmethod
    def best(history) -> int:
        """The index of the first evaluation with the highest validation accuracy."""
        values = history.val_accuracy
        return values.index(max(values))

    def update(self, history, student, teacher) -> bool:
        """After `history` got an evaluation: keep the states if it is the best; True when
        training should stop."""
        if self.patience is None and not self.restore_best:
            return False
        best, last = self.best(history), len(history.val_accuracy) - 1
        if self.restore_best and best == last:
            self.states = {
                "student": {k: v.detach().clone() for k, v in student.state_dict().items()},
                "teacher": teacher.state_dict(),  # replaced, never changed in place, by updates
            }
        return self.patience is not None and last - best >= self.patience

    def restore(self, history, student, teacher) -> None:
        """Load the best states into the student and the teacher (with restore_best)."""
        if self.restore_best and self.states is not None:
            student.load_state_dict(self.states["student"])
            teacher.load_state_dict(self.states["teacher"])
            history.best_step = history.step[self.best(history)]
