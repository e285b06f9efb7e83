"""The record of one training run, `History`, and predictions of its trained student and teacher.

`drift.train` returns a History: per-evaluation series (accuracies, mean weight, flip rates,
loss parts), the step at which a callback stopped training, and the trained student and
teacher, from which `predict_proba`, `predict` and `teacher_module` serve predictions.
"""

from __future__ import annotations

import copy
import itertools
import math
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from .. import inputs
from ..metrics import oscillation
from ..models import eval_mode, logits_of
from ..core.teacher import EMATeacher
from ..validation import check_integer

SERIES = (
    "step",
    "test_accuracy",
    "teacher_test_accuracy",
    "val_accuracy",
    "pseudo_label_accuracy",
    "mean_weight",
    "flip_rate",
    "label_flip_rate",
    "loss",
    "supervised_loss",
    "unlabeled_loss",
    "lam",
    "seconds",
)
"""The per-evaluation series of a History, in `to_dict()`'s order."""

ADDED_SERIES = ("teacher_test_accuracy",)
"""Series added after Histories were first saved (the shipped records, old checkpoints): a
dict without one reads as NaN at every evaluation (`History.from_dict`)."""

OPTIONAL_SERIES = ("val_accuracy",)
"""Series recorded only when the data have what they score (a labeled validation set): empty
otherwise, and in dicts written before they existed."""

WHICH = ("student", "teacher")


@dataclass
class History:
    """Per-evaluation series of one training run (accuracies in %, `seconds` of wall time).

    flip_rate: fraction of the unlabeled set whose *student* prediction changed since the
    previous evaluation; label_flip_rate: the same for the *teacher's* pseudo-labels.
    mean_weight: the teacher's mean sample weight over the unlabeled set (before normalisation).
    teacher_test_accuracy: the test accuracy of the teacher's predictions (eval mode, clean
    inputs), the teacher that `predict(..., which="teacher")` serves: the EMA teacher phi_t, a
    copied teacher's latest copy (the initial student before its first refresh) and, for
    "supervised", whose teacher takes no part in training, the EMA of its iterates (alpha 0.9:
    weight averaging for free). NaN in Histories saved before it existed.
    val_accuracy: the student's accuracy on the labeled validation set (empty without one; see
    `SemiSupervisedData.with_labeled_validation`).
    test_accuracy and teacher_test_accuracy are NaN without a test set, pseudo_label_accuracy
    without hidden labels.
    Loss parts are means over the steps since the previous evaluation; `lam` is the ramped
    weight of the unlabeled loss at the evaluation. `stopped_at`: the step after which a
    callback or early stopping (`TrainConfig.patience`) stopped training (None: it ran all its
    steps). `best_step`: with `TrainConfig.restore_best`, the step of the best validation
    accuracy, whose student and teacher `model` and `teacher` then are (None: the last step's);
    the final accuracies are that step's. `model` and `teacher` are the trained student and its
    teacher (not part of `to_dict()`).
    """

    method: str
    seed: int
    step: list[int] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)
    teacher_test_accuracy: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    pseudo_label_accuracy: list[float] = field(default_factory=list)
    mean_weight: list[float] = field(default_factory=list)
    flip_rate: list[float] = field(default_factory=list)
    label_flip_rate: list[float] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    supervised_loss: list[float] = field(default_factory=list)
    unlabeled_loss: list[float] = field(default_factory=list)
    lam: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    stopped_at: int | None = None
    best_step: int | None = None
    model: nn.Module | None = field(default=None, repr=False, compare=False)
    teacher: EMATeacher | None = field(default=None, repr=False, compare=False)

    def append(self, record: dict) -> None:
        """Add one evaluation: a value for every series in `SERIES` (`OPTIONAL_SERIES` where the
        record has them)."""
        for k in SERIES:
            if k in record or k not in OPTIONAL_SERIES:
                getattr(self, k).append(record[k])

    @property
    def final_index(self) -> int:
        """The index of the evaluation whose student and teacher the run returned: the last, or
        the best step's with restore_best."""
        return -1 if self.best_step is None else self.step.index(self.best_step)

    @property
    def final_test_accuracy(self) -> float:
        """The returned student's test accuracy (%): at the last evaluation, or at `best_step`."""
        return self.test_accuracy[self.final_index]

    @property
    def final_teacher_test_accuracy(self) -> float:
        """The returned teacher's test accuracy (%), as `final_test_accuracy` (NaN where it was
        not recorded)."""
        return (
            self.teacher_test_accuracy[self.final_index] if self.teacher_test_accuracy else math.nan
        )

    def settled(self, series: str) -> list[float]:
        """The second half of a series: after the ramp-up, where changes are instability rather
        than learning."""
        values = getattr(self, series)
        return values[len(values) // 2 :]

    @property
    def oscillation(self) -> float:
        """Mean absolute change of test accuracy between evaluations over the second half of
        training (percentage points)."""
        return oscillation(self.settled("test_accuracy"))

    def to_dict(self) -> dict:
        return {
            "method": self.method,
            "seed": self.seed,
            **{k: list(getattr(self, k)) for k in SERIES},
            "stopped_at": self.stopped_at,
            "best_step": self.best_step,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "History":
        """The History of `to_dict()` (without model and teacher); dicts written before
        `stopped_at` or `best_step` existed read as runs that were not stopped or restored, without
        an `OPTIONAL_SERIES` as that series empty, and before a series of
        `ADDED_SERIES` existed (e.g. teacher_test_accuracy) as NaN at every evaluation."""
        missing = {k: [math.nan] * len(d["step"]) for k in ADDED_SERIES if k not in d}
        missing.update({k: [] for k in OPTIONAL_SERIES if k not in d})
        return cls(
            **{k: d[k] if k in d else missing[k] for k in ("method", "seed", *SERIES)},
            stopped_at=d.get("stopped_at"),
            best_step=d.get("best_step"),
        )

    def plot(self, axes=None):
        """Test and pseudo-label accuracy, mean weight and flip rate against step; returns the
        figure."""
        from ..plotting import plot_histories

        return plot_histories({self.method: [self]}, axes=axes)

    def _trained(self) -> tuple[nn.Module, EMATeacher]:
        if self.model is None or self.teacher is None:
            raise ValueError(
                "this History has no trained model (it was read back with from_dict or from a "
                "file); predictions need the History that drift.train returned"
            )
        return self.model, self.teacher

    @torch.no_grad()
    def predict_proba(self, x, *, which: str = "student", batch_size: int = 4096) -> Tensor:
        """Class probabilities (N, C) on the CPU of the trained student or teacher on x (N, ...):
        a tensor or NumPy array (float64 arrays become float32, as in `SemiSupervisedData`), or a
        dict of them, passed as `model(**x)`.

        which: "student" (`model`) or "teacher" (see `teacher_module` for which teacher that
        is). Runs in eval mode (the model's modes are restored afterwards), without gradient,
        `batch_size` rows at a time on the model's device.
        """
        model, teacher = self._trained()
        if which not in WHICH:
            raise ValueError(f"which must be one of {', '.join(map(repr, WHICH))}; got {which!r}")
        batch_size = check_integer("batch_size", batch_size, minimum=1)
        x = inputs.as_inputs("x", x)
        device = _device_of(model)
        chunks = []
        with eval_mode(model):
            for i in range(0, inputs.num_rows(x), batch_size):
                xb = inputs.to_device(inputs.take(x, slice(i, i + batch_size)), device)
                logits = (
                    logits_of(inputs.forward(model, xb))
                    if which == "student"
                    else teacher.logits(model, xb)
                )
                chunks.append(torch.softmax(logits, dim=-1).cpu())
        return torch.cat(chunks)

    def predict(self, x, *, which: str = "student", batch_size: int = 4096) -> Tensor:
        """Predicted classes (N,) long on the CPU: the argmax of `predict_proba`."""
        return self.predict_proba(x, which=which, batch_size=batch_size).argmax(dim=-1)

    def teacher_module(self) -> nn.Module:
        """The teacher as an `nn.Module`: a copy of the student's architecture holding the
        teacher's parameters and buffers, on the student's device, in eval mode.

        Which teacher: the one `History` evaluated last (its pseudo-label accuracy), as it
        stands after the last step's update. For an EMA teacher that is phi_T = the EMA of the
        students theta_0 .. theta_{T-1} that the T steps started from: the response the last
        step's loss used. The student after the last step, theta_T, is not in it (it is
        `model`). For a copied teacher ("alternating") it is its latest copy of the student.
        """
        model, teacher = self._trained()
        module = copy.deepcopy(model)
        module.zero_grad(set_to_none=True)
        state = teacher.state()
        with torch.no_grad():
            for name, tensor in itertools.chain(module.named_parameters(), module.named_buffers()):
                tensor.copy_(state[name])
        return module.eval()


def _device_of(model: nn.Module) -> torch.device:
    tensor = next(itertools.chain(model.parameters(), model.buffers()), None)
    return torch.device("cpu") if tensor is None else tensor.device
