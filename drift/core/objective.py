"""The leader objective and its gradient routing, in the book's notation (its page "Notation
and definitions"). The student's objective, with the teacher's parameters phi as an argument,

    F(theta, phi) = mean_i CE(f(x_i; theta), y_i)
                  + lam * mean_j w_j * CE(f(x_j; theta), y~_j),

with teacher logits g_j = f(x_j; phi), pseudo-labels y~ = labels(g) and weights
w = weights(softmax(g)). The leader objective (the book's calligraphic F) puts in the teacher's
response phi(theta) = alpha * phi_prev + (1 - alpha) * theta:

    F(theta) = F(theta, phi(theta)),   g_j(theta) = f(x_j; phi(theta)).

Every method evaluates this same value. The method decides which of y~ and w keep their
dependence on theta: both detached is mean teacher (the partial derivative d_theta F), both
kept is DRIFT (the total, Stackelberg derivative d_theta F + (1 - alpha) d_phi F), one of them
is an ablation.

A method with `entropy_weight` > 0 (the "entropy_min" preset) adds, inside the unlabeled part,
entropy minimisation on the student's own predictions s_j = softmax(f(x_j; theta)):

    F(theta) += lam * entropy_weight * mean_j H(s_j),

unweighted (no w_j) and under the same ramp-up lam. It depends on theta only through the
student, so its gradient is the plain partial derivative whatever the routing.

With `consistency` = "mse" (the "mean_teacher_original" preset) the per-example loss is
Tarvainen & Valpola's squared error between the softmaxes instead of the cross-entropy:

    F(theta) = mean_i CE(f(x_i; theta), y_i)
             + lam * mean_j w_j(theta) * (1 / C) sum_c (softmax(f(x_j; theta))_c - y~_jc(theta))^2.

COSINE's components (the "cosine" and "drift_cosine" presets) change the two maps, not F:
sharpened labels y~_jc ∝ softmax(g_j / tau)_c^sharpen / f_c, with f_c the batch's soft class
frequency (so each label depends on the whole batch's g), and masked weights, w_j set to 0
below `mask_below`.

With two views (`train`'s student_view and teacher_view), the student's CE terms read
f(student_view(x); theta) and the teacher's logits are g_j(theta) = f(teacher_view(x_j);
phi(theta)). Views are functions of the inputs, not of theta (their random draws fixed within a
step), so the total derivative keeps its form: the Stackelberg term runs through phi(theta) at the
teacher's view.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .. import inputs
from ..inputs import Inputs
from .methods import Method
from ..models import logits_of
from .labels import pseudo_labels
from .teacher import EMATeacher, State
from .weights import entropy, sample_weights


def soft_cross_entropy(logits: Tensor, targets: Tensor) -> Tensor:
    """CE(z, q) = -sum_c q_c log softmax(z)_c per row: logits, targets (N, C) -> (N,)."""
    return -(targets * torch.log_softmax(logits, dim=-1)).sum(dim=-1)


def softmax_squared_error(logits: Tensor, targets: Tensor) -> Tensor:
    """Tarvainen & Valpola's consistency cost per row, the squared error between softmax(z) and
    the target distribution q averaged over the C classes, (1 / C) sum_c (softmax(z)_c - q_c)^2:
    logits, targets (N, C) -> (N,)."""
    return (torch.softmax(logits, dim=-1) - targets).square().mean(dim=-1)


@dataclass
class LeaderTerms:
    """F and its parts for one batch. `labels` (N_u, C), `weights` (N_u,) may carry gradient.
    `unlabeled` is mean_j w_j CE_j, plus entropy_weight * mean_j H(s_j) when the method sets it.
    `teacher_state` is the teacher's response phi(theta) that F used (the state the trainer
    stores after the step, see `EMATeacher.update`)."""

    total: Tensor
    supervised: Tensor
    unlabeled: Tensor
    labels: Tensor | None
    weights: Tensor | None
    teacher_state: State


def _check_device(student: nn.Module, **tensors: Inputs) -> None:
    param = next(student.parameters(), None)
    if param is None:
        return
    for name, x in tensors.items():
        for t in inputs.tensors(x):
            if t.device != param.device:
                raise RuntimeError(
                    f"{name} is on {t.device} but the student is on {param.device}; "
                    f"move it with {name}.to({str(param.device)!r})"
                )


def _loss_precision(logits: Tensor) -> Tensor:
    """Half-precision logits (from autocast) in float32, so losses and softmaxes are computed in
    float32; float32 and float64 logits unchanged."""
    return logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits


def leader_terms(
    method: Method,
    student: nn.Module,
    teacher: EMATeacher,
    x_l: Inputs,
    y_l: Tensor,
    x_u: Inputs,
    *,
    lam: float,
    student_x_u: Inputs | None = None,
    student_forward: nn.Module | None = None,
) -> LeaderTerms:
    """F(theta) and its parts; see `leader_objective`. `x_u` is the unlabeled batch as the teacher
    sees it (the trainer passes teacher_view(x_u)), `student_x_u` as the student sees it (e.g.
    with input noise, or student_view(x_u)); it defaults to `x_u`. Either may be any function of
    the raw batch that does not depend on theta: the teacher term is phi(theta) evaluated at
    `x_u`, and the total derivative keeps its form.
    `student_forward` runs the student's own forward pass (default `student`; the trainer passes
    a `DistributedDataParallel` wrapper of it); the teacher always runs on `student` itself.
    Inputs may be tensors or dicts of tensors (passed as `model(**x)`, to student and teacher
    alike). The student's outputs are read with `logits_of` (a tensor, a dict with "logits" or an
    object with `.logits`). Under `torch.autocast` the logits are cast to float32 before the losses.

    The teacher's response phi(theta) is taken before the student's forward pass, from the
    student's parameters and buffers as the step found them (a training-mode forward pass then
    moves BatchNorm statistics, which phi must not see: they differ between processes)."""
    _check_device(student, x_l=x_l, y_l=y_l, x_u=x_u)
    student_x_u = x_u if student_x_u is None else student_x_u
    forward = student if student_forward is None else student_forward
    with torch.set_grad_enabled(torch.is_grad_enabled() and method.coupled and lam != 0.0):
        phi = teacher.follow(student)
    if lam == 0.0:
        logits = _loss_precision(logits_of(inputs.forward(forward, x_l)))  # (N_l, C)
        return LeaderTerms(*objective_from_logits(method, logits, y_l, None, lam=lam), phi)

    # (N_l + N_u, C)
    logits = _loss_precision(logits_of(inputs.forward(forward, inputs.cat([x_l, student_x_u]))))
    with torch.set_grad_enabled(torch.is_grad_enabled() and method.coupled):
        g = _loss_precision(teacher.logits(student, x_u, phi))  # (N_u, C)
    return LeaderTerms(*objective_from_logits(method, logits, y_l, g, lam=lam), phi)


def objective_from_logits(
    method: Method,
    logits: Tensor,
    y_l: Tensor,
    teacher_logits: Tensor | None,
    *,
    lam: float | Tensor,
    routes: tuple[bool | Tensor, bool | Tensor] | None = None,
) -> tuple[Tensor, Tensor, Tensor, Tensor | None, Tensor | None]:
    """F and its parts from the logits of one step, with the method's gradient routing: both
    engines' objective (`leader_terms` and `drift.training.batched`'s vmapped one) after their
    forward passes. Returns (F, supervised, unlabeled, labels (N_u, C), weights (N_u,)).

    logits: the student's f(x; theta) on the labeled rows then the unlabeled ones (as the student
    sees them), (N_l + N_u, C); y_l (N_l,) long; teacher_logits: g = f(x_u; phi(theta)), (N_u, C).
    teacher_logits None: the labeled part alone (lam_t = 0, logits (N_l, C)), returned as
    (supervised, supervised, 0, None, None). lam: lam_t, a number or a 0-d tensor.
    routes: (grad_labels, grad_weights) overriding the method's (see `routed`), e.g. one run's
    as 0-d bool tensors under vmap. A function of tensors alone, with branches on the method's
    settings only, so it runs under `torch.func.vmap`."""
    if teacher_logits is None:
        supervised = nn.functional.cross_entropy(logits, y_l)
        return supervised, supervised, supervised.new_zeros(()), None, None
    n_l = y_l.shape[0]
    supervised = nn.functional.cross_entropy(logits[:n_l], y_l)
    unlabeled, labels, weights = unlabeled_terms(
        method, logits[n_l:], *routed(method, teacher_logits, routes)
    )
    return supervised + lam * unlabeled, supervised, unlabeled, labels, weights


def routed(
    method: Method,
    teacher_logits: Tensor,
    routes: tuple[bool | Tensor, bool | Tensor] | None = None,
) -> tuple[Tensor, Tensor]:
    """The teacher's logits g (N_u, C) for the labels and for the weights: g itself on the paths
    the method differentiates (grad_labels, grad_weights), sg(g) on the others. `routes`
    overrides the method's (grad_labels, grad_weights); a 0-d bool tensor picks per run under
    vmap (`torch.where`, the same values either way)."""
    routes = (method.grad_labels, method.grad_weights) if routes is None else routes
    return tuple(
        torch.where(grad, teacher_logits, teacher_logits.detach())
        if isinstance(grad, Tensor)
        else teacher_logits
        if grad
        else teacher_logits.detach()
        for grad in routes
    )


def unlabeled_terms(
    method: Method,
    student_logits: Tensor,
    label_logits: Tensor,
    weight_logits: Tensor,
) -> tuple[Tensor, Tensor, Tensor]:
    """The unlabeled part of F from the student's logits f(x_j; theta) and the teacher's g_j
    as routed to the labels and to the weights (see `routed`), all (N_u, C):
    (mean_j w_j CE_j [+ entropy term], labels (N_u, C), weights (N_u,)); with
    `Method.consistency` "mse", `softmax_squared_error` takes CE_j's place. Sharpened labels
    (`Method.sharpen`, `class_normalize`) couple the rows through the batch's class frequencies;
    the confidence mask (`mask_below`) zeroes low weights. A function of tensors alone, with
    branches on the method's settings only, so `drift.training.batched` runs it under
    `torch.func.vmap` (with its own per-run routing)."""
    labels = pseudo_labels(
        label_logits,
        method.labels,
        method.tau,
        power=method.sharpen,
        class_normalize=method.class_normalize,
    )
    weights = sample_weights(
        torch.softmax(weight_logits, dim=-1),
        method.weights,
        threshold=method.threshold,
        normalize=method.normalize_weights,
        mask_below=method.mask_below,
    )
    if method.consistency == "mse":  # opt-in (the default "ce" computes what it did)
        per_example = softmax_squared_error(student_logits, labels)
    else:
        per_example = soft_cross_entropy(student_logits, labels)
    unlabeled = (weights * per_example).mean()
    if method.entropy_weight != 0.0:  # opt-in (the default 0 computes nothing more)
        unlabeled = (
            unlabeled
            + method.entropy_weight * entropy(torch.softmax(student_logits, dim=-1)).mean()
        )
    return unlabeled, labels, weights


def leader_objective(
    method: Method,
    student: nn.Module,
    teacher: EMATeacher,
    x_l: Inputs,
    y_l: Tensor,
    x_u: Inputs,
    *,
    lam: float,
) -> Tensor:
    """The scalar leader objective F(theta) = F(theta, phi(theta)) with the method's gradient
    routing.

    x_l (N_l, ...), y_l (N_l,) long, x_u (N_u, ...) (tensors, or dicts of them). The teacher's
    parameters are recomputed as phi(theta) = alpha * phi_prev + (1 - alpha) * theta, so
    `F.backward()` leaves in the student the partial derivative (mean teacher), the total
    Stackelberg derivative (DRIFT), or one path of it (DRIFT-labels, DRIFT-weights).
    """
    return leader_terms(method, student, teacher, x_l, y_l, x_u, lam=lam).total
