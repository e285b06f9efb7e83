"""Two Method settings for the original baselines: `consistency` ("ce", the default, or "mse":
Tarvainen & Valpola's squared error between the softmaxes, averaged over the classes) and
`teacher_noise` (Gaussian noise on the teacher's view of the unlabeled batch, drawn after the
student's). At their defaults nothing new is computed and nothing more is drawn, bit for bit.

Finite differences in float64 check the gradient of F with the squared-error consistency (the
partial derivative without gradient through the teacher, and DRIFT's Stackelberg path through
the square) and with noise on the teacher's input (the noise fixed), against references written
here, independently of the package."""

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

import drift
from drift.training import batched as vectorized
from drift.core.objective import routed, soft_cross_entropy, unlabeled_terms
from drift.training.loop import run_config
from test_gradients import (
    LAM,
    TOL,
    autograd_gradient,
    central_difference,
    directions,
    make_problem,
    relative_error,
)
from test_training import replay
from test_vectorized import assert_same_runs

NEW = ("consistency", "teacher_noise")
MSE = dict(consistency="mse", weights="uniform")  # mean teacher with Tarvainen & Valpola's cost


# --- settings -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"consistency": "kl"}, "consistency must be one of 'ce', 'mse'"),
        ({"consistency": "MSE"}, "consistency must be one of 'ce', 'mse'"),
        ({"consistency": None}, "consistency must be one of 'ce', 'mse'"),
        ({"teacher_noise": -0.1}, "teacher_noise must be a finite number >= 0"),
        ({"teacher_noise": float("nan")}, "teacher_noise must be a finite number >= 0"),
        ({"teacher_noise": float("inf")}, "teacher_noise must be a finite number >= 0"),
        ({"teacher_noise": True}, "teacher_noise must be a finite number >= 0"),
        ({"teacher_noise": "0.1"}, "teacher_noise must be a finite number >= 0.*0 turns it off"),
    ],
)
def test_bad_settings_raise_clear_errors(settings, message):
    with pytest.raises(ValueError, match=message):
        drift.get_method("drift", **settings)


def test_default_consistency_is_the_cross_entropy_bit_for_bit():
    """consistency = "ce" is mean_j w_j CE_j exactly as before (the same ops on the same tensors),
    and every preset of the default set keeps the defaults."""
    gen = torch.Generator().manual_seed(0)
    s, g = torch.randn(6, 4, generator=gen), 2 * torch.randn(6, 4, generator=gen)
    for name in drift.METHODS:
        m = drift.get_method(name)
        assert (m.consistency, m.teacher_noise) == ("ce", 0.0)
        unlabeled, labels, weights = unlabeled_terms(m, s, *routed(m, g))
        assert torch.equal(unlabeled, (weights * soft_cross_entropy(s, labels)).mean()), name
    student, teacher, x_l, y_l, x_u = make_problem(0.5)
    for name in drift.METHODS:
        m = drift.get_method(name, alpha=0.5)
        explicit = dataclasses.replace(m, consistency="ce", teacher_noise=0.0)
        a = drift.leader_terms(m, student, teacher, x_l, y_l, x_u, lam=LAM)
        b = drift.leader_terms(explicit, student, teacher, x_l, y_l, x_u, lam=LAM)
        assert torch.equal(a.total, b.total)
        assert torch.equal(autograd_gradient(student, a.total), autograd_gradient(student, b.total))


def method_config(method: drift.Method) -> dict:
    return run_config(method, drift.TrainConfig())["method"]


def test_checkpoint_config_records_the_new_settings_at_every_value():
    for m in drift.METHODS.values():  # defaults recorded too, not left out
        assert {k: method_config(m)[k] for k in NEW} == {"consistency": "ce", "teacher_noise": 0.0}
    config = method_config(drift.get_method("mean_teacher", consistency="mse", teacher_noise=0.2))
    assert (config["consistency"], config["teacher_noise"]) == ("mse", 0.2)
    only_noise = method_config(drift.get_method("drift", teacher_noise=0.2))
    assert only_noise["teacher_noise"] == 0.2 and only_noise["consistency"] == "ce"


# --- the squared-error consistency ----------------------------------------------------------------


def test_mse_consistency_is_tarvainen_and_valpolas_cost():
    """With soft labels at tau = 1 and uniform weights: the mean over rows of the mean over
    classes of (softmax(student) - softmax(teacher))^2; with weights, each row's cost weighted."""
    gen = torch.Generator().manual_seed(1)
    s = torch.randn(7, 5, generator=gen, dtype=torch.float64)
    g = 3 * torch.randn(7, 5, generator=gen, dtype=torch.float64)
    m = drift.get_method("mean_teacher", **MSE)
    unlabeled, labels, weights = unlabeled_terms(m, s, *routed(m, g))
    squared = (torch.softmax(s, -1) - torch.softmax(g, -1)) ** 2
    torch.testing.assert_close(unlabeled, squared.sum(-1).mean() / 5, rtol=1e-14, atol=0)
    assert torch.equal(weights, torch.ones(7, dtype=torch.float64))
    torch.testing.assert_close(labels, torch.softmax(g, -1), rtol=0, atol=0)
    weighted = drift.get_method("mean_teacher", consistency="mse")  # entropy weights
    unlabeled, _, weights = unlabeled_terms(weighted, s, *routed(weighted, g))
    torch.testing.assert_close(unlabeled, (weights * squared.mean(-1)).mean(), rtol=1e-14, atol=0)
    # the same F through the trainer's objective: CE on the labeled batch + lam * the cost
    student, teacher, x_l, y_l, x_u = make_problem(0.99)
    terms = drift.leader_terms(m, student, teacher, x_l, y_l, x_u, lam=LAM)
    with torch.no_grad():
        g_t = teacher.logits(student, x_u, teacher.follow(student))
        s_t = student(x_u)
    cost = ((torch.softmax(s_t, -1) - torch.softmax(g_t, -1)) ** 2).mean()
    torch.testing.assert_close(terms.unlabeled, cost, rtol=1e-12, atol=0)
    torch.testing.assert_close(
        terms.total, F.cross_entropy(student(x_l), y_l) + LAM * cost, rtol=1e-12, atol=0
    )


class ConsistencyF:
    """F(theta) computed here, independently of the package: the teacher
    phi(theta) = alpha * phi_prev + (1 - alpha) * theta by hand, soft labels softmax(g / tau),
    uniform or entropy weights written out, per-example cost CE or (1/C) sum_c (s_c - q_c)^2.
    The teacher reads `teacher_x_u`, the student `student_x_u` (default: both x_u). Labels and
    weights can be frozen at their values at the student's parameters when the object is made."""

    def __init__(
        self, method, student, teacher, x_l, y_l, x_u, *, teacher_x_u=None, student_x_u=None
    ):
        self.m, self.student, self.teacher, self.x_l, self.y_l = method, student, teacher, x_l, y_l
        self.teacher_x_u = x_u if teacher_x_u is None else teacher_x_u
        self.student_x_u = x_u if student_x_u is None else student_x_u
        with torch.no_grad():
            g0 = self.teacher_logits()
            self.labels0, self.weights0 = self.labels(g0), self.weights(g0)

    def teacher_logits(self):
        a = self.teacher.alpha
        phi = {
            k: a * self.teacher.params[k] + (1 - a) * p for k, p in self.student.named_parameters()
        }
        return functional_call(self.student, phi, (self.teacher_x_u,))

    def labels(self, g):
        return torch.softmax(g / self.m.tau, -1)

    def weights(self, g):
        p = torch.softmax(g, -1)
        if self.m.weights == "uniform":
            return torch.ones(len(g), dtype=g.dtype)
        return 1 + (p * p.log()).sum(-1) / math.log(p.shape[-1])

    def __call__(self, *, freeze_labels=False, freeze_weights=False):
        n_l = len(self.x_l)
        logits = self.student(torch.cat([self.x_l, self.student_x_u]))
        g = self.teacher_logits()
        q = self.labels0 if freeze_labels else self.labels(g)
        w = self.weights0 if freeze_weights else self.weights(g)
        s = logits[n_l:]
        if self.m.consistency == "mse":
            cost = ((torch.softmax(s, -1) - q) ** 2).mean(-1)
        else:
            cost = -(q * torch.log_softmax(s, -1)).sum(-1)
        return F.cross_entropy(logits[:n_l], self.y_l) + LAM * (w * cost).mean()


@pytest.mark.parametrize("alpha", [0.5, 0.99])
def test_mse_gradient_without_routing_is_the_partial_derivative(alpha):
    """No gradient through the teacher: the gradient of F with the teacher's softmax frozen."""
    student, teacher, x_l, y_l, x_u = make_problem(alpha)
    method = drift.get_method("mean_teacher", alpha=alpha, **MSE)
    value = drift.leader_objective(method, student, teacher, x_l, y_l, x_u, lam=LAM)
    reference = ConsistencyF(method, student, teacher, x_l, y_l, x_u)
    assert reference().item() == pytest.approx(value.item(), rel=1e-12)
    grad = autograd_gradient(student, value)
    for v in directions(grad.numel()):
        fd = central_difference(
            student, lambda: reference(freeze_labels=True, freeze_weights=True), v
        )
        assert relative_error(float(grad @ v), fd) < TOL


@pytest.mark.parametrize("alpha", [0.5, 0.9])
@pytest.mark.parametrize(
    "name, frozen", [("drift", (False, False)), ("drift_labels", (False, True))]
)
def test_stackelberg_gradient_through_the_mse_matches_finite_differences(name, frozen, alpha):
    """DRIFT with consistency="mse": the total derivative runs through y~(theta) =
    softmax(g(phi(theta))) inside the square (and through the entropy weights for drift);
    drift_labels freezes the weights. Checked against the reference here and, for drift, against the
    package's own F recomputed at perturbed theta. The Stackelberg term is visible: the partial
    derivative misses it."""
    student, teacher, x_l, y_l, x_u = make_problem(alpha)
    method = drift.get_method(name, alpha=alpha, consistency="mse")
    value = drift.leader_objective(method, student, teacher, x_l, y_l, x_u, lam=LAM)
    reference = ConsistencyF(method, student, teacher, x_l, y_l, x_u)
    assert reference().item() == pytest.approx(value.item(), rel=1e-12)
    grad = autograd_gradient(student, value)

    def F_package():
        return drift.leader_objective(method, student, teacher, x_l, y_l, x_u, lam=LAM)

    for v in directions(grad.numel()):
        fn = lambda: reference(freeze_labels=frozen[0], freeze_weights=frozen[1])  # noqa: E731
        assert relative_error(float(grad @ v), central_difference(student, fn, v)) < TOL
        if name == "drift":
            assert relative_error(float(grad @ v), central_difference(student, F_package, v)) < TOL
    partial = dataclasses.replace(method, grad_labels=False, grad_weights=False)
    mt = autograd_gradient(
        student, drift.leader_objective(partial, student, teacher, x_l, y_l, x_u, lam=LAM)
    )
    assert (grad - mt).norm() > 100 * TOL * grad.norm()


# --- noise on the teacher's input -----------------------------------------------------------------


@pytest.mark.parametrize("name, settings", [("mean_teacher", MSE), ("drift", {})])
def test_gradient_with_teacher_noise_matches_finite_differences(name, settings):
    """Noise on the teacher's input (drawn once, held fixed, as within a training step): the
    teacher term phi(theta) is evaluated at x_u + teacher noise, the student's at x_u + its own
    noise; the partial derivative (mean teacher with the MSE) and the total one (DRIFT)."""
    student, teacher, x_l, y_l, x_u = make_problem(0.5)
    method = drift.get_method(name, alpha=0.5, teacher_noise=0.3, **settings)
    gen = torch.Generator().manual_seed(7)
    s_l = drift.inputs.add_noise(x_l, 0.1, gen)
    s_u = drift.inputs.add_noise(x_u, 0.1, gen)
    t_u = drift.inputs.add_noise(x_u, method.teacher_noise, gen)
    assert not torch.equal(t_u, x_u) and not torch.equal(t_u, s_u)

    def F_package():
        return drift.leader_terms(
            method, student, teacher, s_l, y_l, t_u, lam=LAM, student_x_u=s_u
        ).total

    value = F_package()
    reference = ConsistencyF(
        method, student, teacher, s_l, y_l, x_u, teacher_x_u=t_u, student_x_u=s_u
    )
    assert reference().item() == pytest.approx(value.item(), rel=1e-12)
    frozen = not method.coupled
    fn = lambda: reference(freeze_labels=frozen, freeze_weights=frozen)  # noqa: E731
    grad = autograd_gradient(student, value)
    for v in directions(grad.numel()):
        assert relative_error(float(grad @ v), central_difference(student, fn, v)) < TOL
        # the total derivative is that of the package's own F at the same noisy inputs
        if not frozen:
            assert relative_error(float(grad @ v), central_difference(student, F_package, v)) < TOL
    clean = drift.leader_terms(
        method, student, teacher, s_l, y_l, x_u, lam=LAM, student_x_u=s_u
    ).total
    assert abs(clean.item() - value.item()) > 1e-6  # the noise matters


@pytest.mark.parametrize("teacher_noise", [0.0, 0.3])
def test_teacher_noise_draws_replayed_by_hand(teacher_noise, moons):
    """Per step: labeled and unlabeled indices, the student's noise on x_l, then on x_u, then the
    teacher's noise on x_u (none at all at teacher_noise = 0: the default run draws what it did)."""
    steps, seed = 8, 2
    m = drift.get_method("mean_teacher", teacher_noise=teacher_noise)
    h = drift.train(m, moons, steps=steps, seed=seed, eval_every=4, progress=False)

    def inputs(x_l, x_u):  # the student's noise on x_l, then on x_u, then the teacher's on x_u
        s_l, s_u = x_l + 0.1 * torch.randn(x_l.shape), x_u + 0.1 * torch.randn(x_u.shape)
        return s_l, s_u, (x_u + teacher_noise * torch.randn(x_u.shape) if teacher_noise else x_u)

    student, _, _ = replay(m, moons, steps=steps, seed=seed, inputs=inputs)
    for p, q in zip(h.model.parameters(), student.parameters()):
        assert torch.equal(p, q)
    if teacher_noise == 0.0:  # and that is the run without the setting
        plain = drift.train(
            "mean_teacher", moons, steps=steps, seed=seed, eval_every=4, progress=False
        )
        for p, q in zip(h.model.parameters(), plain.model.parameters()):
            assert torch.equal(p, q)


def test_batched_engine_draws_the_teacher_noise_as_train_does(digits):
    """Runs that differ in teacher_noise share one batched group; each draws its own noise, after
    its student's, from its own stream: the same runs as `drift.train` (and not the noiseless
    ones)."""
    methods = [
        drift.get_method("mean_teacher", teacher_noise=s, name=f"mt noise {s}", **MSE)
        for s in (0.0, 0.5)
    ]
    batched = vectorized.train_many(
        [(m, 0) for m in methods], digits, steps=60, eval_every=20, progress=False
    )
    singles = [drift.train(m, digits, steps=60, eval_every=20, progress=False) for m in methods]
    for b, s in zip(batched, singles):
        assert_same_runs(b, s)
    assert batched[0].loss != batched[1].loss


def test_teacher_noise_with_a_teacher_view_is_refused(moons):
    view = lambda x: x + 0.05 * torch.randn_like(x)  # noqa: E731
    with pytest.raises(
        ValueError,
        match=r"teacher_noise is the default teacher view's noise; with teacher_view, "
        r"add noise inside your view .* and pass teacher_noise=0; got teacher_noise=0.1",
    ):
        drift.train(
            "mean_teacher", moons, steps=2, teacher_view=view, teacher_noise=0.1, progress=False
        )
    # the check training_step runs too
    with pytest.raises(ValueError, match="pass teacher_noise=0"):
        drift.training.loop.check_teacher_view(drift.get_method("drift", teacher_noise=0.2), view)
    # no view: fine
    drift.training.loop.check_teacher_view(drift.get_method("drift", teacher_noise=0.2), None)
    h = drift.train(
        "mean_teacher", moons, steps=2, teacher_view=view, teacher_noise=0.0, progress=False
    )
    assert h.step == [1, 2]
