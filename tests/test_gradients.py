"""Finite-difference checks of the leader objective's gradient routing, in float64.

F(theta) = mean_i CE(f(x_i; theta), y_i) + lam * mean_j w_j(theta) CE(f(x_j; theta), y~_j(theta)),
with the teacher phi(theta) = alpha * phi_prev + (1 - alpha) * theta recomputed from the student
and phi_prev a fixed buffer. For each method the autograd gradient of `drift.leader_objective`
must equal the central difference of the function whose total derivative that method claims:
- drift: F itself (the Stackelberg derivative);
- drift_labels / drift_weights: F with the other path frozen at its value at theta;
- mean_teacher: F with labels and weights both frozen (the partial derivative).
"""

import math

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call
from torch.nn.utils import parameters_to_vector, vector_to_parameters

import drift

LAM = 0.7
EPS = 1e-6
TOL = 1e-6
N_DIRECTIONS = 3
ALPHAS = (0.5, 0.9)
TAUS = (0.5, 1.0)


def make_problem(alpha: float, seed: int = 0):
    """A tiny float64 student, an EMA teacher whose phi_prev differs from theta, and a batch."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    student = drift.MLP((3,), 3, hidden=(5,)).double()
    teacher = drift.EMATeacher(student, alpha)
    with torch.no_grad():  # move theta away from phi_prev, so phi(theta) != theta
        for p in student.parameters():
            p.add_(0.5 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    x_l = torch.randn(4, 3, generator=g, dtype=torch.float64)
    y_l = torch.tensor([0, 1, 2, 1])
    x_u = 1.5 * torch.randn(6, 3, generator=g, dtype=torch.float64)
    return student, teacher, x_l, y_l, x_u


def theta(student) -> torch.Tensor:
    return parameters_to_vector(student.parameters()).detach().clone()


def evaluate_at(student, vec: torch.Tensor, fn) -> float:
    """fn() with the student's parameters set to `vec` (restored afterwards)."""
    saved = theta(student)
    with torch.no_grad():
        vector_to_parameters(vec, student.parameters())
    try:
        with torch.no_grad():
            return fn().item()
    finally:
        with torch.no_grad():
            vector_to_parameters(saved, student.parameters())


def autograd_gradient(student, value: torch.Tensor) -> torch.Tensor:
    params = list(student.parameters())
    grads = torch.autograd.grad(value, params, allow_unused=True)
    return torch.cat(
        [(torch.zeros_like(p) if g is None else g).reshape(-1) for p, g in zip(params, grads)]
    )


def method_gradient(name: str, student, teacher, x_l, y_l, x_u, **settings) -> torch.Tensor:
    method = drift.get_method(name, alpha=teacher.alpha, **settings)
    return autograd_gradient(
        student, drift.leader_objective(method, student, teacher, x_l, y_l, x_u, lam=LAM)
    )


def central_difference(student, fn, v: torch.Tensor) -> float:
    t0 = theta(student)
    return (evaluate_at(student, t0 + EPS * v, fn) - evaluate_at(student, t0 - EPS * v, fn)) / (
        2 * EPS
    )


def directions(n_params: int, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n_params, generator=g, dtype=torch.float64) for _ in range(N_DIRECTIONS)]


def relative_error(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b), 1e-300)


class ReferenceF:
    """F(theta) computed here, independently of `leader_terms`, with optional frozen parts.

    The teacher's state is formed by hand, phi = alpha * phi_prev + (1 - alpha) * theta (buffers
    mixed the same way but held constant), and run in eval mode with functional_call. Frozen parts
    (labels, weights, the normalising mean, the straight-through correction) are taken at the
    student's parameters when the object is made. `reset` runs before every evaluation (e.g. to
    restore BatchNorm running statistics, which each training-mode forward pass moves). The teacher
    reads x_u, the student `student_x_u` (default x_u), as with views.
    """

    def __init__(
        self,
        method: drift.Method,
        student,
        teacher,
        x_l,
        y_l,
        x_u,
        reset=lambda: None,
        student_x_u=None,
    ):
        self.method, self.student, self.teacher = method, student, teacher
        self.x_l, self.y_l, self.x_u, self.reset = x_l, y_l, x_u, reset
        self.student_x_u = x_u if student_x_u is None else student_x_u
        with torch.no_grad():
            self.reset()
            a = teacher.alpha
            # buffers (running statistics) are state, not parameters: constants of the teacher,
            # taken as the step finds them, before the student's training-mode forward pass
            self.phi_buffers = {
                k: a * teacher.buffers[k] + (1 - a) * b if b.is_floating_point() else b.clone()
                for k, b in student.named_buffers()
            }
            g0 = self.teacher_logits()
            self.st_correction0 = drift.hard_labels(g0) - drift.soft_labels(g0, method.tau)
            self.labels0 = self.labels(g0)
            self.weights0 = self.raw_weights(g0)
            self.mean0 = self.weights0.mean()

    def teacher_logits(self) -> torch.Tensor:
        a = self.teacher.alpha
        phi = {
            k: a * self.teacher.params[k] + (1 - a) * p for k, p in self.student.named_parameters()
        }
        phi.update(self.phi_buffers)
        was_training = self.student.training
        self.student.eval()
        try:
            return functional_call(self.student, phi, (self.x_u,))
        finally:
            self.student.train(was_training)

    def labels(self, g: torch.Tensor) -> torch.Tensor:
        if self.method.labels == "straight_through":
            # forward hard, backward soft: as a function of theta, soft(theta) + a constant
            return drift.soft_labels(g, self.method.tau) + self.st_correction0
        return drift.pseudo_labels(g, self.method.labels, self.method.tau)

    def raw_weights(self, g: torch.Tensor) -> torch.Tensor:
        return drift.sample_weights(
            torch.softmax(g, -1), self.method.weights, threshold=self.method.threshold
        )

    def __call__(self, *, freeze_labels: bool, freeze_weights: bool) -> torch.Tensor:
        self.reset()
        n_l = len(self.x_l)
        logits = self.student(torch.cat([self.x_l, self.student_x_u]))
        supervised = F.cross_entropy(logits[:n_l], self.y_l)
        g = self.teacher_logits()
        labels = self.labels0 if freeze_labels else self.labels(g)
        weights = self.weights0 if freeze_weights else self.raw_weights(g)
        if self.method.normalize_weights == "batch":
            weights = weights / weights.mean()  # the mean keeps its gradient
        elif self.method.normalize_weights:
            weights = weights / self.mean0  # stop-gradient in the mean
        ce = -(labels * torch.log_softmax(logits[n_l:], -1)).sum(-1)
        return supervised + LAM * (weights * ce).mean()


FROZEN = {  # method -> (freeze_labels, freeze_weights) of the function it differentiates
    "drift": (False, False),
    "drift_labels": (False, True),
    "drift_weights": (True, False),
    "mean_teacher": (True, True),
}


@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize("tau", TAUS)
def test_drift_gradient_matches_finite_difference_of_leader_objective(alpha, tau):
    """The total derivative: F recomputed (teacher included) at perturbed student parameters."""
    student, teacher, x_l, y_l, x_u = make_problem(alpha)
    method = drift.get_method("drift", alpha=alpha, tau=tau)
    grad = method_gradient("drift", student, teacher, x_l, y_l, x_u, tau=tau)

    def F_theta():
        return drift.leader_objective(method, student, teacher, x_l, y_l, x_u, lam=LAM)

    for v in directions(grad.numel()):
        fd = central_difference(student, F_theta, v)
        assert relative_error(grad @ v, fd) < TOL


@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize("tau", TAUS)
@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("name", list(FROZEN))
def test_gradient_matches_finite_difference_with_frozen_paths(name, normalize, alpha, tau):
    student, teacher, x_l, y_l, x_u = make_problem(alpha)
    method = drift.get_method(name, alpha=alpha, tau=tau, normalize_weights=normalize)
    reference = ReferenceF(method, student, teacher, x_l, y_l, x_u)
    freeze_labels, freeze_weights = FROZEN[name]

    # the reference reproduces the package's F at theta, whatever is frozen
    value = drift.leader_objective(method, student, teacher, x_l, y_l, x_u, lam=LAM)
    for fl in (False, True):
        for fw in (False, True):
            assert reference(freeze_labels=fl, freeze_weights=fw).item() == pytest.approx(
                value.item(), rel=1e-12
            )

    grad = autograd_gradient(student, value)
    fn = lambda: reference(freeze_labels=freeze_labels, freeze_weights=freeze_weights)  # noqa: E731
    for v in directions(grad.numel()):
        fd = central_difference(student, fn, v)
        assert relative_error(grad @ v, fd) < TOL


@pytest.mark.parametrize("alpha", ALPHAS)
def test_straight_through_drift_gradient_matches_its_surrogate(alpha):
    """Straight-through labels are hard in the forward pass and soft in the backward pass, so the
    DRIFT gradient is the derivative of F with labels soft(theta) + (hard - soft)(theta_0)."""
    student, teacher, x_l, y_l, x_u = make_problem(alpha)
    method = drift.get_method("drift", alpha=alpha, labels="straight_through", tau=0.5)
    reference = ReferenceF(method, student, teacher, x_l, y_l, x_u)
    value = drift.leader_objective(method, student, teacher, x_l, y_l, x_u, lam=LAM)
    # forward: F with hard labels
    hard = drift.get_method("drift", alpha=alpha, labels="hard")
    hard_value = drift.leader_objective(hard, student, teacher, x_l, y_l, x_u, lam=LAM)
    assert value.item() == pytest.approx(hard_value.item(), rel=1e-12)

    grad = autograd_gradient(student, value)
    fn = lambda: reference(freeze_labels=False, freeze_weights=False)  # noqa: E731
    for v in directions(grad.numel()):
        assert relative_error(grad @ v, central_difference(student, fn, v)) < TOL
    # and the label path does contribute (unlike hard labels, whose gradient through the teacher is
    # zero)
    hard_grad = autograd_gradient(student, hard_value)
    assert (grad - hard_grad).norm() > 1e-3 * grad.norm()


@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize("tau", TAUS)
@pytest.mark.parametrize("normalize", [False, True])
def test_paths_add_up(alpha, tau, normalize):
    """grad(drift) = grad(drift_labels) + grad(drift_weights) - grad(mean_teacher)."""
    student, teacher, x_l, y_l, x_u = make_problem(alpha, seed=2)
    grads = {
        name: method_gradient(
            name, student, teacher, x_l, y_l, x_u, tau=tau, normalize_weights=normalize
        )
        for name in FROZEN
    }
    combined = grads["drift_labels"] + grads["drift_weights"] - grads["mean_teacher"]
    torch.testing.assert_close(
        grads["drift"], combined, rtol=0, atol=1e-12 * grads["drift"].norm().item()
    )


@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize("name", ["drift", "drift_labels", "drift_weights"])
def test_stackelberg_term_is_not_negligible(alpha, name):
    """The coupling is visible at the tolerance used, so the finite-difference tests above can
    fail: the mean teacher's gradient differs from each coupled method's, and fails its check.
    Each path is >= 100x the tolerance; at alpha=0.5 the full DRIFT term is > 1% of the gradient."""
    student, teacher, x_l, y_l, x_u = make_problem(alpha)
    coupled = method_gradient(name, student, teacher, x_l, y_l, x_u)
    partial = method_gradient("mean_teacher", student, teacher, x_l, y_l, x_u)
    share = ((coupled - partial).norm() / coupled.norm()).item()
    assert share > 100 * TOL
    if name == "drift" and alpha == 0.5:
        assert share > 1e-2

    reference = ReferenceF(drift.get_method(name, alpha=alpha), student, teacher, x_l, y_l, x_u)
    freeze_labels, freeze_weights = FROZEN[name]
    fn = lambda: reference(freeze_labels=freeze_labels, freeze_weights=freeze_weights)  # noqa: E731
    errors = [
        relative_error(partial @ v, central_difference(student, fn, v))
        for v in directions(coupled.numel())
    ]
    assert max(errors) > 10 * TOL


def weak_view(x: torch.Tensor) -> torch.Tensor:
    """A seeded view (the same on every call, as within one training step): small jitter."""
    return x + 0.05 * torch.randn(
        x.shape, generator=torch.Generator().manual_seed(10), dtype=x.dtype
    )


def strong_view(x: torch.Tensor) -> torch.Tensor:
    """A seeded, stronger view: a random feature dropped per row, and larger noise."""
    g = torch.Generator().manual_seed(11)
    keep = torch.rand(x.shape, generator=g, dtype=x.dtype) > 0.3
    return keep * x + 0.3 * torch.randn(x.shape, generator=g, dtype=x.dtype)


@pytest.mark.parametrize("name", list(FROZEN))
def test_gradient_with_views_matches_finite_differences(name):
    """Two views: the student reads strong_view(x_l) and strong_view(x_u), the teacher
    weak_view(x_u). Views act on inputs, not on theta: the gradient is that of F with the
    teacher term phi(theta) evaluated at the teacher's view, for each gradient routing."""
    student, teacher, x_l, y_l, x_u = make_problem(0.5)
    method = drift.get_method(name, alpha=0.5)
    s_l, s_u, t_u = strong_view(x_l), strong_view(x_u), weak_view(x_u)
    assert not torch.equal(s_u, t_u)

    def F_package():
        return drift.leader_terms(
            method, student, teacher, s_l, y_l, t_u, lam=LAM, student_x_u=s_u
        ).total

    value = F_package()
    reference = ReferenceF(method, student, teacher, s_l, y_l, t_u, student_x_u=s_u)
    freeze_labels, freeze_weights = FROZEN[name]
    fn = lambda: reference(freeze_labels=freeze_labels, freeze_weights=freeze_weights)  # noqa: E731
    assert fn().item() == pytest.approx(value.item(), rel=1e-12)
    grad = autograd_gradient(student, value)
    for v in directions(grad.numel()):
        assert relative_error(grad @ v, central_difference(student, fn, v)) < TOL
        # the package's own F, recomputed at perturbed theta with the same views
        if name == "drift":
            assert relative_error(grad @ v, central_difference(student, F_package, v)) < TOL


@pytest.mark.parametrize("name", list(FROZEN))
def test_gradient_with_batchnorm_student(name):
    """A student with BatchNorm: the student normalises with batch statistics (training mode),
    the teacher runs in eval mode on averaged running statistics (buffers: state, no gradient;
    each training-mode forward pass moves them, so every evaluation starts from the same ones)."""
    torch.manual_seed(0)
    student = (
        torch.nn.Sequential(
            torch.nn.Linear(3, 5), torch.nn.BatchNorm1d(5), torch.nn.Tanh(), torch.nn.Linear(5, 3)
        )
        .double()
        .train()
    )
    _, _, x_l, y_l, x_u = make_problem(0.5)
    student(x_u)  # running statistics away from their initial values
    teacher = drift.EMATeacher(student, 0.5)
    g = torch.Generator().manual_seed(4)
    with torch.no_grad():
        for p in student.parameters():
            p.add_(0.5 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    student(x_l)  # and the student's statistics away from the teacher's
    buffers0 = {k: v.clone() for k, v in student.named_buffers()}

    def reset():  # every training-mode forward pass moves the running statistics
        with torch.no_grad():
            for k, v in student.named_buffers():
                v.copy_(buffers0[k])

    method = drift.get_method(name, alpha=0.5)
    reference = ReferenceF(method, student, teacher, x_l, y_l, x_u, reset=reset)
    freeze_labels, freeze_weights = FROZEN[name]
    reset()
    value = drift.leader_objective(method, student, teacher, x_l, y_l, x_u, lam=LAM)
    grad = autograd_gradient(student, value)
    ref_value = reference(freeze_labels=freeze_labels, freeze_weights=freeze_weights)
    assert ref_value.item() == pytest.approx(value.item(), rel=1e-12)
    fn = lambda: reference(freeze_labels=freeze_labels, freeze_weights=freeze_weights)  # noqa: E731
    for v in directions(grad.numel()):
        assert relative_error(grad @ v, central_difference(student, fn, v)) < TOL


def test_stackelberg_term_scales_with_one_minus_alpha():
    """d phi / d theta = (1 - alpha) I: at alpha -> 1 the coupled gradient approaches the partial
    one."""
    gaps = []
    for alpha in (0.5, 0.9, 0.99):
        student, teacher, x_l, y_l, x_u = make_problem(alpha)
        # the same phi_prev and theta for every alpha, so only the coupling strength changes
        coupled = method_gradient("drift", student, teacher, x_l, y_l, x_u)
        partial = method_gradient("mean_teacher", student, teacher, x_l, y_l, x_u)
        gaps.append((coupled - partial).norm().item())
    assert gaps[0] > gaps[1] > gaps[2] > 0


def test_mean_teacher_is_drift_without_gradient_through_the_teacher():
    """Same phi(theta), same labels and weights, same F value: only the gradient routing differs."""
    student, teacher, x_l, y_l, x_u = make_problem(0.9)
    terms = {
        name: drift.leader_terms(drift.get_method(name), student, teacher, x_l, y_l, x_u, lam=LAM)
        for name in FROZEN
    }
    for name, t in terms.items():
        assert t.total.item() == terms["drift"].total.item(), name
        torch.testing.assert_close(t.labels, terms["drift"].labels, rtol=0, atol=0)
        torch.testing.assert_close(t.weights, terms["drift"].weights, rtol=0, atol=0)
    assert (
        not terms["mean_teacher"].labels.requires_grad
        and not terms["mean_teacher"].weights.requires_grad
    )
    assert terms["drift"].labels.requires_grad and terms["drift"].weights.requires_grad
    assert (
        terms["drift_labels"].labels.requires_grad
        and not terms["drift_labels"].weights.requires_grad
    )
    assert (
        terms["drift_weights"].weights.requires_grad
        and not terms["drift_weights"].labels.requires_grad
    )


def test_backward_leaves_the_method_gradient_in_the_student():
    student, teacher, x_l, y_l, x_u = make_problem(0.5)
    expected = method_gradient("drift", student, teacher, x_l, y_l, x_u)
    student.zero_grad(set_to_none=True)
    drift.leader_objective(
        drift.get_method("drift", alpha=0.5), student, teacher, x_l, y_l, x_u, lam=LAM
    ).backward()
    got = torch.cat([p.grad.reshape(-1) for p in student.parameters()])
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
    # the teacher's buffer is a constant: no gradient reaches it
    assert all(not t.requires_grad and t.grad is None for t in teacher.params.values())


def test_zero_lambda_is_the_supervised_loss():
    student, teacher, x_l, y_l, x_u = make_problem(0.9)
    value = drift.leader_objective(drift.METHODS["drift"], student, teacher, x_l, y_l, x_u, lam=0.0)
    expected = F.cross_entropy(student(x_l), y_l)
    assert value.item() == pytest.approx(expected.item(), rel=1e-12)
    assert math.isfinite(value.item())


@pytest.mark.parametrize("name", ["drift", "drift_weights"])
def test_normalising_mean_carries_no_gradient(name):
    """With normalize_weights the mean is stop-gradient: the gradient matches the frozen-mean
    reference (checked above) and not the derivative of the forward value, which moves the mean."""
    student, teacher, x_l, y_l, x_u = make_problem(0.5)
    method = drift.get_method(name, alpha=0.5, normalize_weights=True)
    grad = autograd_gradient(
        student, drift.leader_objective(method, student, teacher, x_l, y_l, x_u, lam=LAM)
    )

    def F_theta():
        return drift.leader_objective(method, student, teacher, x_l, y_l, x_u, lam=LAM)

    errors = [
        relative_error(grad @ v, central_difference(student, F_theta, v))
        for v in directions(grad.numel())
    ]
    assert max(errors) > 1e-3
