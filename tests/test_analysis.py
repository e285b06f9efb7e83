"""The label path's first-order identity (drift.core.analysis): through the labels, the Stackelberg
term lam * mean_j w_j sum_c (-log s_jc) d y~_jc / d theta equals entropy minimisation on the
teacher, lam * mean_j w_j d H(y~_j) / d theta = (1 - alpha) lam mean_j w_j grad_phi H(y~_j),
exactly where the student agrees with the teacher (s = y~), and to first order in the gap.
The weight path's identity is exact: through entropy weights the Stackelberg term is
-(lam / log C) mean_j a_j d H(p_j) / d theta, a_j = CE_j (normalised as the method says)."""

import pytest
import torch
from torch.func import functional_call
from torch.nn.utils import parameters_to_vector, vector_to_parameters

import drift
from drift.core.analysis import (
    disagreement_entropy_gradient,
    entropy_gradient,
    label_path_gradient,
    label_path_identity,
    weight_path_gradient,
    weight_path_identity,
)
from test_gradients import EPS, LAM, autograd_gradient, evaluate_at, make_problem, theta


@pytest.mark.parametrize("normalize", [False, True, "detached", "batch"])
@pytest.mark.parametrize("alpha", [0.5, 0.9])
@pytest.mark.parametrize(
    "path, preset", [(label_path_gradient, "drift_labels"), (weight_path_gradient, "drift_weights")]
)
def test_path_is_its_ablation_minus_mean_teacher(path, preset, alpha, normalize):
    """label_path_gradient and weight_path_gradient are the labels' and the weights' shares of
    dF/d theta, in F's own normalisation: DRIFT-labels (or DRIFT-weights) minus mean teacher."""
    student, teacher, x_l, y_l, x_u = make_problem(alpha)
    grads = {
        name: autograd_gradient(
            student,
            drift.leader_objective(
                drift.get_method(name, alpha=alpha, normalize_weights=normalize),
                student,
                teacher,
                x_l,
                y_l,
                x_u,
                lam=LAM,
            ),
        )
        for name in (preset, "mean_teacher")
    }
    method = drift.get_method("drift", alpha=alpha, normalize_weights=normalize)
    torch.testing.assert_close(
        path(method, student, teacher, x_u, lam=LAM),
        grads[preset] - grads["mean_teacher"],
        rtol=1e-10,
        atol=1e-12,
    )


@pytest.mark.parametrize("alpha", [0.0, 0.5, 0.9])
def test_entropy_gradient_carries_one_minus_alpha(alpha):
    """entropy_gradient = (1 - alpha) * lam * mean_j w_j grad_phi H(y~_j), the gradient taken in
    phi."""
    student, teacher, _, _, x_u = make_problem(alpha)
    method = drift.get_method("drift", alpha=alpha)
    phi = {
        k: v.detach().requires_grad_()
        for k, v in teacher.follow(student).items()
        if k in dict(student.named_parameters())
    }
    student.eval()
    g = functional_call(student, phi, (x_u,))
    w = drift.entropy_weights(torch.softmax(g, -1)).detach()
    value = LAM * (w * drift.entropy(torch.softmax(g, -1))).mean()
    grad_phi = torch.cat(
        [
            t.reshape(-1)
            for t in torch.autograd.grad(value, [phi[k] for k, _ in student.named_parameters()])
        ]
    )
    torch.testing.assert_close(
        entropy_gradient(method, student, teacher, x_u, lam=LAM),
        (1 - alpha) * grad_phi,
        rtol=1e-10,
        atol=1e-14,
    )


@pytest.mark.parametrize("weights", ["entropy", "uniform"])
@pytest.mark.parametrize("alpha", [0.5, 0.9])
def test_identity_is_exact_when_student_equals_teacher(alpha, weights):
    """theta = phi_prev gives phi(theta) = theta, so s = y~ at tau = 1: the identity holds to
    round-off."""
    student, _, _, _, x_u = make_problem(alpha)
    teacher = drift.EMATeacher(student, alpha)  # phi_prev = theta
    method = drift.get_method("drift", alpha=alpha, weights=weights)
    check = label_path_identity(method, student, teacher, x_u, lam=LAM)
    assert check.relative_error < 1e-10 and check.cosine == pytest.approx(1.0, abs=1e-12)
    # not trivially 0 = 0
    assert entropy_gradient(method, student, teacher, x_u, lam=LAM).norm() > 1e-3


def test_identity_needs_soft_labels():
    student, teacher, _, _, x_u = make_problem(0.9)
    with pytest.raises(ValueError, match="labels='soft'"):
        label_path_identity(drift.get_method("drift", labels="hard"), student, teacher, x_u)


def test_identity_breaks_as_the_student_teacher_gap_grows(digits):
    """On a trained state (a short DRIFT run on digits), move the student along the line
    phi_prev + t (theta - phi_prev): t = 0 is exact, t = 1 the trained state; the relative error
    grows and the cosine falls with t."""
    history = drift.train(
        "drift", digits, model="mlp", steps=30, eval_every=30, seed=0, progress=False
    )
    student, teacher = history.model.double(), history.teacher
    teacher.params = {k: v.double() for k, v in teacher.params.items()}
    teacher.buffers = {k: v.double() for k, v in teacher.buffers.items()}
    x_u = digits.x_unlabeled[:256].double()
    method = drift.get_method("drift")
    theta = parameters_to_vector(student.parameters()).detach().clone()
    prev = torch.cat([teacher.params[k].reshape(-1) for k, _ in student.named_parameters()])
    assert (theta - prev).norm() > 0
    checks = []
    for t in (0.0, 1.0, 2.0, 4.0, 8.0):
        with torch.no_grad():
            vector_to_parameters(prev + t * (theta - prev), student.parameters())
        checks.append(label_path_identity(method, student, teacher, x_u))
    errors, cosines = [c.relative_error for c in checks], [c.cosine for c in checks]
    assert errors[0] < 1e-10 and cosines[0] == pytest.approx(1.0, abs=1e-10)
    assert all(a < b for a, b in zip(errors, errors[1:])), errors
    assert all(a > b for a, b in zip(cosines, cosines[1:])), cosines
    assert cosines[1] > 0.9  # at the trained state the label path points along entropy minimisation


NORMALIZE = [False, "detached", "batch"]


@pytest.mark.parametrize("normalize", NORMALIZE)
@pytest.mark.parametrize("alpha", [0.5, 0.9])
def test_weight_path_against_finite_differences(alpha, normalize):
    """Central differences of theta -> lam * mean_j w^_j(phi(theta)) CE_j, with CE_j (the
    student's logits and the labels) frozen at theta0, along random directions; the detached
    batch mean is a constant, frozen at theta0 too."""
    student, teacher, _, _, x_u = make_problem(alpha)
    method = drift.get_method("drift", alpha=alpha, normalize_weights=normalize)
    with torch.no_grad():
        g0 = teacher.logits(student, x_u, teacher.follow(student))
        ce0 = drift.soft_cross_entropy(student(x_u), drift.soft_labels(g0, method.tau))
        mean0 = drift.entropy_weights(torch.softmax(g0, -1)).mean()

    def weighted_loss():
        g = teacher.logits(student, x_u, teacher.follow(student))
        w = drift.entropy_weights(torch.softmax(g, -1))
        w = {False: w, "detached": w / mean0, "batch": w / w.mean()}[normalize]
        return LAM * (w * ce0).mean()

    path = weight_path_gradient(method, student, teacher, x_u, lam=LAM)
    theta0, gen = theta(student), torch.Generator().manual_seed(1)
    for _ in range(3):
        v = torch.randn(theta0.numel(), generator=gen, dtype=torch.float64)
        fd = (
            evaluate_at(student, theta0 + EPS * v, weighted_loss)
            - evaluate_at(student, theta0 - EPS * v, weighted_loss)
        ) / (2 * EPS)
        assert abs((path @ v).item() - fd) <= 1e-6 * abs(fd), (path @ v, fd)


@pytest.mark.parametrize("normalize", NORMALIZE)
@pytest.mark.parametrize("alpha", [0.5, 0.9])
def test_weight_path_identity_is_exact(alpha, normalize):
    """Unlike the label path's, the weight path's identity needs no agreement between student
    and teacher: with theta != phi_prev it holds to round-off, and the path is not zero."""
    student, teacher, _, _, x_u = make_problem(alpha)
    method = drift.get_method("drift", alpha=alpha, normalize_weights=normalize)
    check = weight_path_identity(method, student, teacher, x_u, lam=LAM)
    assert check.relative_error < 1e-10 and check.cosine == pytest.approx(1.0, abs=1e-12)
    assert disagreement_entropy_gradient(method, student, teacher, x_u, lam=LAM).norm() > 1e-3
    # the gap is real
    assert label_path_identity(method, student, teacher, x_u, lam=LAM).relative_error > 1e-3


def test_weight_path_descends_into_higher_teacher_entropy():
    """Without normalisation a small step along -weight path raises the CE-weighted entropy of
    the teacher, mean_j CE_j H(p_j), to first order (the sign of the derivation)."""
    student, teacher, _, _, x_u = make_problem(0.5)
    method = drift.get_method("drift_weights", alpha=0.5)
    path = weight_path_gradient(method, student, teacher, x_u, lam=LAM)
    with torch.no_grad():
        g0 = teacher.logits(student, x_u, teacher.follow(student))
        ce0 = drift.soft_cross_entropy(student(x_u), drift.soft_labels(g0, method.tau))

    def ce_weighted_entropy():
        return (
            ce0
            * drift.entropy(
                torch.softmax(teacher.logits(student, x_u, teacher.follow(student)), -1)
            )
        ).mean()

    theta0 = theta(student)
    assert evaluate_at(student, theta0 - 1e-4 * path, ce_weighted_entropy) > evaluate_at(
        student, theta0, ce_weighted_entropy
    )


def test_weight_path_needs_entropy_weights():
    student, teacher, _, _, x_u = make_problem(0.9)
    with pytest.raises(ValueError, match="weights='entropy'"):
        weight_path_identity(drift.get_method("drift", weights="threshold"), student, teacher, x_u)
