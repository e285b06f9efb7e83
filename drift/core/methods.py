"""Every method of the book as settings of one mechanism (the table of the book's page
"Notation and definitions").

A `Method` says how the teacher is built (EMA of the student, or a copy refreshed every K
steps), how its logits become pseudo-labels and sample weights, which of those two paths
carry gradient back to the student, and how strongly the unlabeled loss counts over time.
Mean teacher and DRIFT differ only in `grad_labels` / `grad_weights`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, fields, replace

from ..validation import check_bool, check_choice, check_integer, check_real
from .weights import check_normalize

TEACHERS = ("ema", "copy")
LABELS = ("hard", "soft", "straight_through")
WEIGHTS = ("uniform", "threshold", "entropy")
RAMPUPS = ("sigmoid", "linear")
CONSISTENCIES = ("ce", "mse")


@dataclass(frozen=True)
class Method:
    """Settings of one self-training method.

    teacher: "ema" (phi = alpha * phi_prev + (1 - alpha) * theta, every step; alpha = 0 makes
        the teacher the current student exactly, as in FixMatch) or "copy" (a frozen copy of the
        student, refreshed every `refresh_every` steps).
    labels: "hard" (one-hot argmax), "soft" (softmax(g / tau)) or "straight_through".
    weights: "uniform", "threshold" (max p >= threshold) or "entropy" (1 - H(p) / log C).
    normalize_weights: False; True or "detached" (divide weights by their stop-gradient batch
        mean); "batch" (divide by the batch mean with gradient through it). See
        `drift.sample_weights`.
    grad_labels, grad_weights: let gradient flow from F through the labels / the weights and
        the teacher phi(theta) into the student (the Stackelberg term). Both off is mean teacher.
    lam: weight of the unlabeled loss, reached after a ramp-up over the first `rampup`
        fraction of the steps with shape `rampup_shape`.
    entropy_weight: weight of an explicit entropy-minimisation term on the student's own
        unlabeled predictions (Grandvalet & Bengio, 2005): F gains
        lam_t * entropy_weight * mean_j H(softmax(f(x_j; theta))), unweighted by w_j and under
        the same ramp-up lam_t as the unlabeled loss. It is differentiated through the student
        only (the teacher plays no part in it). 0 (the default) adds nothing and leaves every
        other preset's computation unchanged; the extra preset "entropy_min" sets it.
    sharpen, class_normalize: COSINE's sharpened soft labels (Yu et al., NAACL 2021),
        q_jc ∝ p_jc^sharpen / f_c with p = softmax(g / tau) and f_c = sum_j p_jc the batch's soft
        frequency of class c (`drift.core.labels.sharpened_labels`); `class_normalize` turns
        the division by f_c on. Both are differentiable in g, the batch frequencies included, so
        with grad_labels the Stackelberg term runs through every label of the batch at once.
        Two settings, not one, because they are different things: the power alone is a
        temperature in disguise (q = softmax(sharpen * g / tau), i.e. tau / sharpen), while the
        frequency normalisation is new, and COSINE computes f_c from p at temperature 1, which
        tau = 1 / 2 would not reproduce. Soft labels only. Defaults (1, False): plain
        softmax(g / tau), computed exactly as before. (Under torchrun, "the batch" is each
        process's shard.)
    mask_below: COSINE's confidence mask xi: sample weights below it are set to 0 (kept ones keep
        their value and gradient; `drift.core.weights.confidence_mask`), before normalize_weights.
        Entropy weights only. 0 (the default) masks nothing.
    consistency: the per-example loss between the student and its pseudo-label y~_j on the
        unlabeled batch. "ce" (the default): the soft cross-entropy CE(f(x_j; theta), y~_j),
        computed exactly as before. "mse": Tarvainen & Valpola's (2017) consistency cost, the
        squared error between the student's softmax s_j = softmax(f(x_j; theta)) and y~_j,
        averaged over the C classes,
            MSE_j = (1 / C) * sum_c (s_jc - y~_jc)^2,
        so the unlabeled loss is mean_j w_j MSE_j. With soft labels at tau = 1, y~_j is the
        teacher's softmax(g_j) and this is their cost exactly: the mean over classes is their
        code's (`tf.reduce_mean((softmax1 - softmax2) ** 2, -1)` in CuriousAI/mean-teacher's
        TensorFlow model; `F.mse_loss(..., size_average=False) / num_classes`, then divided by
        the batch size, in its PyTorch version), so `lam` is in the units of their consistency
        coefficient (100 on CIFAR-10 in both). Any labels and weights combine with it, and with
        grad_labels the Stackelberg term runs through y~_j(theta) inside the square.
    teacher_noise: std of Gaussian noise added to the teacher's view of the unlabeled batch
        (floating tensors only, like `train`'s input_noise, which stays the student's), drawn
        every step from the run's generator right after the student's noise (student labeled,
        student unlabeled, then teacher), so `drift.compare`'s batched engine draws the same.
        It is the default teacher view: `train` refuses it together with a `teacher_view`
        (add the noise inside your view instead, e.g. with `drift.inputs.add_noise`, and set
        teacher_noise=0). 0 (the default) draws nothing and leaves the teacher's input as it
        was. Evaluation never adds it.

    The teacher's test accuracy (`History.teacher_test_accuracy`) is recorded for every method:
    the EMA teacher's, the latest copy's for a copied teacher, and for "supervised", whose
    teacher takes no part in training, the EMA of its iterates (`History.teacher_module`).
    """

    name: str = "drift"
    teacher: str = "ema"
    alpha: float = 0.9
    refresh_every: int = 200
    labels: str = "soft"
    tau: float = 1.0
    threshold: float = 0.8
    weights: str = "entropy"
    normalize_weights: bool | str = False
    grad_labels: bool = True
    grad_weights: bool = True
    lam: float = 1.0
    rampup: float = 0.3
    rampup_shape: str = "sigmoid"
    entropy_weight: float = 0.0
    sharpen: float = 1.0
    class_normalize: bool = False
    mask_below: float = 0.0
    consistency: str = "ce"
    teacher_noise: float = 0.0

    def __post_init__(self):
        for name, check in CONSTRAINTS.items():  # each setting on its own
            value = check(name, getattr(self, name))
            if value is not getattr(self, name):  # a NumPy scalar, stored as a Python number
                object.__setattr__(self, name, value)
        # the rules between settings
        if (self.sharpen != 1.0 or self.class_normalize) and self.labels != "soft":
            raise ValueError(
                "sharpen and class_normalize act on soft labels; set labels='soft' (got "
                f"labels={self.labels!r}) or leave them at 1.0 and False"
            )
        if self.mask_below != 0.0 and self.weights != "entropy":
            raise ValueError(
                "mask_below masks entropy weights; set weights='entropy' (got "
                f"weights={self.weights!r}) or leave mask_below at 0"
            )
        if self.teacher == "copy" and self.coupled:
            raise ValueError(
                "grad_labels/grad_weights need teacher='ema': a copied teacher is not a function "
                "of the current student, so no gradient can flow through it"
            )

    @property
    def coupled(self) -> bool:
        """True when some gradient flows through the teacher (a Stackelberg method)."""
        return self.grad_labels or self.grad_weights

    def lam_at(self, step: int, steps: int) -> float:
        """Unlabeled-loss weight at a 0-based `step` of `steps`: ramp-up, and none before a
        copied teacher's first refresh (its first teacher would be the random initial net)."""
        if self.teacher == "copy" and step < self.refresh_every:
            return 0.0
        ramp_steps = self.rampup * steps
        t = 1.0 if ramp_steps == 0 else min(step / ramp_steps, 1.0)
        ramp = math.exp(-5.0 * (1.0 - t) ** 2) if self.rampup_shape == "sigmoid" else t
        return self.lam * ramp


def _is(check, **bounds):
    """`check` with its bounds and hint bound: a function (name, value) -> the checked value."""
    return functools.partial(check, **bounds)


CONSTRAINTS = {
    "name": lambda name, value: value,
    "teacher": _is(check_choice, choices=TEACHERS),
    "alpha": _is(
        check_real, minimum=0.0, maximum=1.0, high_open=True, hint="the EMA decay of the teacher"
    ),
    "refresh_every": _is(check_integer, minimum=1, hint="steps between teacher copies"),
    "labels": _is(check_choice, choices=LABELS),
    "tau": _is(
        check_real,
        minimum=0.0,
        low_open=True,
        finite=False,
        hint="softmax temperature; small tau approaches hard labels",
    ),
    "threshold": _is(check_real, minimum=0.0, maximum=1.0, hint="a confidence level"),
    "weights": _is(check_choice, choices=WEIGHTS),
    "normalize_weights": lambda name, value: check_normalize(name, value) or value,
    "grad_labels": lambda name, value: value,
    "grad_weights": lambda name, value: value,
    "lam": _is(check_real, minimum=0.0, hint="weight of the unlabeled loss"),
    "rampup": _is(check_real, minimum=0.0, maximum=1.0, hint="a fraction of the training steps"),
    "rampup_shape": _is(check_choice, choices=RAMPUPS),
    "entropy_weight": _is(
        check_real,
        minimum=0.0,
        hint=(
            "weight of the entropy-minimisation term on the student's unlabeled predictions; 0 "
            "turns it off"
        ),
    ),
    "sharpen": _is(
        check_real,
        minimum=0.0,
        low_open=True,
        hint=(
            "the power of the teacher's probabilities in the pseudo-labels, e.g. 2 as in COSINE; 1 "
            "turns it off"
        ),
    ),
    "class_normalize": _is(
        check_bool, hint="divide the sharpened labels by the batch's soft class frequencies"
    ),
    "mask_below": _is(
        check_real,
        minimum=0.0,
        maximum=1.0,
        expected="a number in [0, 1]",
        hint=("sample weights below it are set to 0, e.g. 0.6 as in COSINE; 0 turns the mask off"),
    ),
    "consistency": _is(
        check_choice,
        choices=CONSISTENCIES,
        hint=(
            "the per-example unlabeled loss: 'ce' soft cross-entropy, 'mse' squared error between "
            "the softmaxes as in Tarvainen & Valpola's mean teacher"
        ),
    ),
    "teacher_noise": _is(
        check_real,
        minimum=0.0,
        hint=(
            "the std of Gaussian noise on the teacher's unlabeled inputs, e.g. 0.1 as train's "
            "input_noise; 0 turns it off"
        ),
    ),
}
"""`Method`'s settings, each with its check: a function (name, value) -> the value, which raises
a TypeError or ValueError naming the setting (`drift.validation`). The rules between settings
are in `Method.__post_init__`."""


# an EMA teacher, no coupling
_EMA = Method(name="mean_teacher", grad_labels=False, grad_weights=False)
# COSINE's labels and weights
_COSINE_PARTS = dict(sharpen=2.0, class_normalize=True, mask_below=0.7)

METHODS: dict[str, Method] = {
    "supervised": replace(_EMA, name="supervised", lam=0.0, weights="uniform"),
    "alternating": Method(
        name="alternating",
        teacher="copy",
        refresh_every=50,
        labels="hard",
        weights="threshold",
        threshold=0.95,
        grad_labels=False,
        grad_weights=False,
    ),
    "mean_teacher": replace(_EMA, alpha=0.5, lam=2.0),
    "drift_labels": replace(_EMA, name="drift_labels", grad_labels=True, alpha=0.9, lam=2.0),
    "drift_weights": replace(_EMA, name="drift_weights", grad_weights=True, alpha=0.95, lam=1.0),
    "drift": replace(_EMA, name="drift", grad_labels=True, grad_weights=True, alpha=0.8, lam=0.5),
}
"""The six presets of the book's main table, all one `Method` mechanism with different settings.

Each tuned preset carries the setting its own validation run chose (`benchmarks/tune_defaults.py`,
record `benchmarks/results/tuning_digits.json`, tested by tests/test_tuning_record.py): digits,
5 labels per class, a quarter of each seed's unlabeled pool held out with its hidden labels as
validation data, 18 settings x 5 seeds x 1000 steps for every method, the highest mean
validation accuracy decides. Every method with an EMA teacher searched alpha in {0.5, 0.7, 0.8,
0.9, 0.95, 0.99}, so the presets differ in alpha and lam as well as in the gradient's routing:
to isolate the Stackelberg term, compare methods at one shared setting (e.g.
`get_method("drift_labels", alpha=0.8, lam=0.5)` beside "drift"), as the book's ablations do."""

EXTRA_PRESETS: dict[str, Method] = {
    "entropy_min": replace(_EMA, name="entropy_min", alpha=0.99, entropy_weight=1.0),
    "cosine": Method(
        name="cosine",
        teacher="copy",
        refresh_every=100,
        grad_labels=False,
        grad_weights=False,
        **_COSINE_PARTS,
    ),
    "drift_cosine": replace(
        _EMA,
        name="drift_cosine",
        grad_labels=True,
        grad_weights=True,
        alpha=0.95,
        lam=0.5,
        **_COSINE_PARTS,
    ),
    "mean_teacher_original": Method(
        name="mean_teacher_original",
        teacher="ema",
        alpha=0.7,
        labels="soft",
        tau=1.0,
        weights="uniform",
        grad_labels=False,
        grad_weights=False,
        lam=10.0,
        rampup=0.3,
        rampup_shape="sigmoid",
        consistency="mse",
        teacher_noise=0.1,
    ),
    "fixmatch": Method(
        name="fixmatch",
        teacher="ema",
        alpha=0.0,
        labels="hard",
        weights="threshold",
        threshold=0.95,
        grad_labels=False,
        grad_weights=False,
        lam=1.0,
        rampup=0.3,
    ),
}
"""Presets outside the default set: `get_method` knows them, but `METHODS` (which `compare(None)`,
the CLI's default table and the chapters iterate over) stays the six above. Tuned by the same
protocol and budget as `METHODS` (the record names each one's search space); alpha, lam, the
entropy weight, the threshold and the ramp-up below are its choices.

entropy_min: mean teacher plus entropy minimisation on the student's unlabeled predictions
(`entropy_weight`; a baseline for DRIFT's label path, whose first-order effect is entropy
minimisation on the teacher, see `drift.core.analysis`).

cosine: COSINE's self-training recipe (Yu et al., NAACL 2021): a copied teacher refreshed every
100 steps (no unlabeled loss before the first copy), soft labels sharpened with power 2 and
divided by the batch's soft class frequencies, q_jc ∝ p_jc^2 / sum_k p_kc (sharpen=2,
class_normalize=True), entropy weights 1 - H(p)/log C masked to 0 below xi = 0.7 (mask_below),
no gradient through the teacher. Left out: COSINE's contrastive term and its confidence
regulariser, which act on the student alone and so cannot change the Stackelberg comparison
this preset exists for. (xi was first chosen by `benchmarks/tune_cosine.py`, record
`benchmarks/results/tuning_cosine.json`; the common tuning kept it.)

drift_cosine: the same labels and weights with DRIFT's EMA teacher and the Stackelberg gradient
through labels and weights: DRIFT with COSINE's components.

mean_teacher_original: Tarvainen & Valpola's mean teacher (NeurIPS 2017), where the book's
"mean_teacher" is DRIFT's ablation (soft-label cross-entropy, entropy weights). Its consistency
cost is the squared error between the student's softmax and the EMA teacher's, averaged over
the classes as in their code (consistency="mse"), with no sample weights, noise on both inputs
(the student keeps train's input_noise, the teacher gets its own draw, teacher_noise = 0.1),
their sigmoid ramp-up over the first 30% of the steps and no gradient through the teacher. They
report the teacher's accuracy: `History.teacher_test_accuracy`. Their alpha of 0.99-0.999 and
consistency weight of 100 were set for 150k-step CIFAR-10 runs; on our 1000-step runs the
tuning chose alpha = 0.7 and lam = 10 (lam in the units of their coefficient). Left out: their
augmentation (translations, flips; ours is Gaussian noise), consistency on the labeled examples
too, the switch to alpha 0.999 after the ramp-up, dropout, their learning-rate schedule and the
second head of their PyTorch version.

fixmatch: FixMatch (Sohn et al., NeurIPS 2020): the current student as teacher (alpha = 0:
phi(theta) = theta exactly, no gradient through it), hard pseudo-labels kept only where the
teacher's confidence is at least 0.95 (the loss is the mean over the whole unlabeled batch,
masked rows counting as zero, as in FixMatch), the student's cross-entropy on its own (strong)
view, lam = 1. The strong view is train's input noise on the student's inputs, or a
`student_view`; the weak view, from which the teacher labels, is the batch itself
(teacher_noise = 0), or a `teacher_view`. The tuning added a ramp-up over the first 30% of the
steps, which FixMatch does without. Left out: RandAugment/CTAugment and flips and crops (the
package's data are small standardised arrays: both views are Gaussian noise unless the user
passes views, as chapter 9 does), the 7:1 unlabeled ratio, SGD with a cosine schedule, the
averaged weights their code evaluates, and BatchNorm statistics shared over the batches."""


def get_method(method: str | Method, **overrides) -> Method:
    """A preset by name (`METHODS` or `EXTRA_PRESETS`) or a `Method`, with any field replaced by
    `overrides`."""
    if isinstance(method, str):
        if method not in METHODS and method not in EXTRA_PRESETS:
            raise ValueError(
                f"method must be one of {', '.join(METHODS)} (or an extra preset: "
                f"{', '.join(EXTRA_PRESETS)}) or a drift.Method; got {method!r}"
            )
        method = METHODS[method] if method in METHODS else EXTRA_PRESETS[method]
    elif not isinstance(method, Method):
        raise TypeError(
            f"method must be a preset name ({', '.join(METHODS)}) or a drift.Method; got "
            f"{type(method).__name__}"
        )
    valid = {f.name for f in fields(Method)}
    unknown = sorted(set(overrides) - valid)
    if unknown:
        raise TypeError(
            f"unknown setting(s) {', '.join(unknown)}; Method settings are "
            f"{', '.join(sorted(valid))}"
        )
    return replace(method, **overrides) if overrides else method
