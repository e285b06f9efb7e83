"""The label path's first-order identity: DRIFT's label path is entropy minimisation on the teacher.

Through the labels, the Stackelberg term of F (see `drift.core.objective`) is

    label path = d/d theta [ lam * mean_j sg(w_j) * CE(sg(z_j), y~_j(theta)) ]
               = lam * mean_j w_j * sum_c (-log s_jc) * d y~_jc / d theta,

with z_j the student's logits, s_j = softmax(z_j), y~_j = labels(g_j(theta)) the teacher's
pseudo-labels and w_j the sample weights (normalised as the method says), all held fixed but
y~. The entropy of the labels has the differential dH(y~) = -sum_c (log y~_c + 1) dy~_c
= sum_c (-log y~_c) dy~_c, since sum_c dy~_c = 0. So where the student agrees with the teacher
(s_j = y~_j, e.g. theta = phi_prev and tau = 1) the two are equal term by term:

    label path = lam * mean_j w_j * d H(y~_j) / d theta
               = (1 - alpha) * lam * mean_j w_j * grad_phi H(y~_j),

because phi(theta) = alpha * phi_prev + (1 - alpha) * theta. The gradient *descends* the
teacher's entropy: DRIFT's label path is entropy minimisation on the teacher's prediction
(Grandvalet & Bengio, 2005), exact at s = y~ and first order in the student-teacher gap
otherwise. `label_path_gradient` and `entropy_gradient` return both sides as flat vectors over
the student's parameters; `label_path_identity` compares them.

The weight path follows from the same algebra, and exactly. Through the weights (labels and the
student's logits held fixed) the Stackelberg term is lam * mean_j a_j * d w_j / d theta with
a_j = N * dF_u/dw_j the (scaled) derivative of F_u = mean_j w^_j CE_j in the raw weight w_j:
a_j = CE_j without normalisation, CE_j / mean w with the detached batch mean and
(CE_j - sum_k w_k CE_k / sum_k w_k) / mean w with the batch mean (see `drift.core.weights`). For the
entropy weight w = 1 - H(p) / log C, d w_j = -d H(p_j) / log C, so

    weight path = -(lam / log C) * mean_j a_j * d H(p_j) / d theta
                = -(1 - alpha) * (lam / log C) * mean_j a_j grad_phi H(p_j),

with no approximation: a descent step on it *raises* the teacher's entropy, weighted by a_j,
i.e. most where the student disagrees with its teacher (large CE_j). `weight_path_gradient`,
`disagreement_entropy_gradient` and `weight_path_identity` return and compare the two sides.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .. import inputs
from ..inputs import Inputs
from .methods import Method
from ..models import logits_of
from .labels import pseudo_labels
from .teacher import EMATeacher
from .weights import entropy, entropy_weights, sample_weights


def _flat_gradient(value: Tensor, student: nn.Module) -> Tensor:
    """d value / d theta as one vector over `student.parameters()` (zeros where unused), (P,)."""
    params = [p for p in student.parameters() if p.requires_grad]
    grads = torch.autograd.grad(value, params, allow_unused=True)
    return torch.cat(
        [(torch.zeros_like(p) if g is None else g).reshape(-1) for p, g in zip(params, grads)]
    )


def _teacher_parts(
    method: Method, student: nn.Module, teacher: EMATeacher, x_u: Inputs
) -> tuple[Tensor, Tensor]:
    """The pseudo-labels y~(theta) (N_u, C), with gradient through phi(theta), and the weights
    w (N_u,), detached, as `leader_terms` forms them."""
    if method.labels != "soft":
        raise ValueError(
            f"the identity is about soft labels (labels='soft'); got labels={method.labels!r}"
        )
    g = teacher.logits(student, x_u, teacher.follow(student))
    labels = pseudo_labels(g, method.labels, method.tau)
    weights = sample_weights(
        torch.softmax(g.detach(), dim=-1),
        method.weights,
        threshold=method.threshold,
        normalize=method.normalize_weights,
    ).detach()
    return labels, weights


def label_path_gradient(
    method: Method,
    student: nn.Module,
    teacher: EMATeacher,
    x_u: Inputs,
    *,
    lam: float = 1.0,
    student_x_u: Inputs | None = None,
) -> Tensor:
    """The label path of the Stackelberg gradient, (P,) over `student.parameters()`:
    d/d theta of lam * mean_j w_j CE(z_j, y~_j(theta)) with the student's logits z_j and the
    weights w_j held fixed, i.e. lam * mean_j w_j sum_c (-log s_jc) d y~_jc / d theta. It is the
    difference between DRIFT-labels' and mean teacher's gradient of `leader_objective`.
    x_u (N_u, ...) is the batch as the teacher sees it, `student_x_u` as the student sees it
    (default x_u). The student runs in its current mode (train or eval), the teacher in eval
    mode, as in `leader_terms`. Needs labels="soft"."""
    labels, weights = _teacher_parts(method, student, teacher, x_u)
    student_x_u = x_u if student_x_u is None else student_x_u
    with torch.no_grad():
        log_s = torch.log_softmax(
            logits_of(inputs.forward(student, student_x_u)).to(labels.dtype), dim=-1
        )
    return _flat_gradient(lam * (weights * -(labels * log_s).sum(dim=-1)).mean(), student)


def entropy_gradient(
    method: Method, student: nn.Module, teacher: EMATeacher, x_u: Inputs, *, lam: float = 1.0
) -> Tensor:
    """d/d theta of lam * mean_j w_j H(y~_j(theta)), (P,), with the weights held fixed and the
    teacher's labels y~ = softmax(g / tau) differentiated through phi(theta); it equals
    (1 - alpha) * lam * mean_j w_j grad_phi H(y~_j). Needs labels="soft"."""
    labels, weights = _teacher_parts(method, student, teacher, x_u)
    return _flat_gradient(lam * (weights * entropy(labels)).mean(), student)


@dataclass(frozen=True)
class IdentityCheck:
    """How well the label path matches entropy minimisation on the teacher:
    relative_error = |label - entropy| / |entropy| (2-norms) and their cosine."""

    relative_error: float
    cosine: float


def label_path_identity(
    method: Method,
    student: nn.Module,
    teacher: EMATeacher,
    x_u: Inputs,
    *,
    lam: float = 1.0,
    student_x_u: Inputs | None = None,
) -> IdentityCheck:
    """Compare `label_path_gradient` with `entropy_gradient` at the student and teacher as they
    are: exact (relative error at round-off) when the student's predictions equal the teacher's
    labels, growing with the gap between them."""
    label = label_path_gradient(method, student, teacher, x_u, lam=lam, student_x_u=student_x_u)
    ent = entropy_gradient(method, student, teacher, x_u, lam=lam)
    err = (label - ent).norm() / ent.norm().clamp_min(torch.finfo(ent.dtype).tiny)
    cos = torch.nn.functional.cosine_similarity(label, ent, dim=0)
    return IdentityCheck(float(err), float(cos))


def _weight_parts(
    method: Method,
    student: nn.Module,
    teacher: EMATeacher,
    x_u: Inputs,
    student_x_u: Inputs | None,
) -> tuple[Tensor, Tensor, Tensor]:
    """The teacher's probabilities p(theta) = softmax(g) (N_u, C), with gradient through
    phi(theta), the student's cross-entropies CE_j against the (detached) pseudo-labels (N_u,)
    and the coefficients a_j = N_u * dF_u/dw_j of the module docstring (N_u,), both detached."""
    if method.weights != "entropy":
        raise ValueError(
            "the weight path needs differentiable weights (weights='entropy'); got "
            f"weights={method.weights!r}"
        )
    g = teacher.logits(student, x_u, teacher.follow(student))
    p = torch.softmax(g, dim=-1)
    labels = pseudo_labels(g.detach(), method.labels, method.tau)
    student_x_u = x_u if student_x_u is None else student_x_u
    with torch.no_grad():
        log_s = torch.log_softmax(
            logits_of(inputs.forward(student, student_x_u)).to(labels.dtype), dim=-1
        )
        ce = -(labels * log_s).sum(dim=-1)
        w = entropy_weights(p)
        mean_w = w.mean().clamp_min(torch.finfo(w.dtype).tiny)
        if method.normalize_weights is False:
            a = ce
        elif method.normalize_weights == "batch":
            a = (ce - (w * ce).sum() / (w.sum().clamp_min(torch.finfo(w.dtype).tiny))) / mean_w
        else:  # True or "detached"
            a = ce / mean_w
    return p, ce, a


def weight_path_gradient(
    method: Method,
    student: nn.Module,
    teacher: EMATeacher,
    x_u: Inputs,
    *,
    lam: float = 1.0,
    student_x_u: Inputs | None = None,
) -> Tensor:
    """The weight path of the Stackelberg gradient, (P,) over `student.parameters()`:
    d/d theta of lam * mean_j w^_j(theta) CE_j with the weights w^ (normalised as the method
    says) differentiated through phi(theta) and the cross-entropies CE_j (student's logits and
    pseudo-labels) held fixed. It is the difference between DRIFT-weights' and mean teacher's
    gradient of `leader_objective`. x_u (N_u, ...) is the batch as the teacher sees it,
    `student_x_u` as the student sees it (default x_u). Needs weights="entropy"."""
    p, ce, _ = _weight_parts(method, student, teacher, x_u, student_x_u)
    weights = sample_weights(
        p, method.weights, threshold=method.threshold, normalize=method.normalize_weights
    )
    return _flat_gradient(lam * (weights * ce).mean(), student)


def disagreement_entropy_gradient(
    method: Method,
    student: nn.Module,
    teacher: EMATeacher,
    x_u: Inputs,
    *,
    lam: float = 1.0,
    student_x_u: Inputs | None = None,
) -> Tensor:
    """-(lam / log C) * d/d theta mean_j a_j H(p_j(theta)), (P,): the teacher's entropy weighted by
    the student's disagreement a_j (CE_j, normalised as the method says; module docstring),
    differentiated through phi(theta) with a_j held fixed. For entropy weights it equals
    `weight_path_gradient` exactly. Needs weights="entropy"."""
    p, _, a = _weight_parts(method, student, teacher, x_u, student_x_u)
    log_c = math.log(p.shape[-1])
    return _flat_gradient(-(lam / log_c) * (a * entropy(p)).mean(), student)


def weight_path_identity(
    method: Method,
    student: nn.Module,
    teacher: EMATeacher,
    x_u: Inputs,
    *,
    lam: float = 1.0,
    student_x_u: Inputs | None = None,
) -> IdentityCheck:
    """Compare `weight_path_gradient` with `disagreement_entropy_gradient`: equal to round-off at
    any state (the entropy weight is an affine function of the entropy), unlike the label path's
    first-order identity."""
    path = weight_path_gradient(method, student, teacher, x_u, lam=lam, student_x_u=student_x_u)
    ent = disagreement_entropy_gradient(
        method, student, teacher, x_u, lam=lam, student_x_u=student_x_u
    )
    err = (path - ent).norm() / ent.norm().clamp_min(torch.finfo(ent.dtype).tiny)
    cos = torch.nn.functional.cosine_similarity(path, ent, dim=0)
    return IdentityCheck(float(err), float(cos))
