"""COSINE's components (Yu et al., NAACL 2021) as settings of the one Method mechanism:
sharpened labels q_jc ∝ p_jc^sharpen / f_c with f_c = sum_j p_jc (`sharpen`, `class_normalize`)
and the confidence mask on the weights (`mask_below`); the extra presets `cosine` (copied
teacher, no gradient through it) and `drift_cosine` (EMA teacher, Stackelberg gradient).

Finite differences in float64 check every new differentiable path against a reference written
here, independently of the package: the labels through g and through phi(theta), batch
frequencies included; the masked weights; the whole Stackelberg gradient of drift_cosine."""

import dataclasses
import json
import math

import pytest
import torch
import torch.nn.functional as F

import drift
from drift.core.objective import routed, unlabeled_terms
from drift.core.labels import sharpened_labels
from drift.training.loop import run_config
from drift.core.weights import confidence_mask
from test_gradients import (
    LAM,
    TOL,
    autograd_gradient,
    central_difference,
    directions,
    make_problem,
    relative_error,
)
from book_files import ROOT

COSINE_PARTS = ("sharpen", "class_normalize", "mask_below")


def reference_labels(
    g: torch.Tensor, tau: float, power: float, class_normalize: bool
) -> torch.Tensor:
    """q ∝ p^power / f, written as the formula reads (no log space)."""
    p = torch.softmax(g / tau, -1)
    q = p**power
    if class_normalize:
        q = q / p.sum(0)
    return q / q.sum(-1, keepdim=True)


def reference_weights(g: torch.Tensor, xi: float) -> torch.Tensor:
    p = torch.softmax(g, -1)
    w = 1 + (p * p.log()).sum(-1) / math.log(p.shape[-1])
    return w * (w >= xi).to(w.dtype)


class CosineF:
    """F(theta) with COSINE's labels and masked weights, computed here: the teacher phi(theta) =
    alpha * phi_prev + (1 - alpha) * theta by hand (the tiny MLP has no buffers), labels and
    weights optionally frozen at their values at the student's parameters when made."""

    def __init__(self, method, student, teacher, x_l, y_l, x_u):
        self.method, self.student, self.teacher = method, student, teacher
        self.x_l, self.y_l, self.x_u = x_l, y_l, x_u
        with torch.no_grad():
            g0 = self.teacher_logits()
            self.labels0, self.weights0 = self.labels(g0), self.weights(g0)

    def teacher_logits(self):
        a = self.teacher.alpha
        phi = {
            k: a * self.teacher.params[k] + (1 - a) * p for k, p in self.student.named_parameters()
        }
        return torch.func.functional_call(self.student, phi, (self.x_u,))

    def labels(self, g):
        m = self.method
        return reference_labels(g, m.tau, m.sharpen, m.class_normalize)

    def weights(self, g):
        return reference_weights(g, self.method.mask_below)

    def __call__(self, *, freeze_labels=False, freeze_weights=False):
        logits = self.student(torch.cat([self.x_l, self.x_u]))
        n_l = len(self.x_l)
        g = self.teacher_logits()
        labels = self.labels0 if freeze_labels else self.labels(g)
        weights = self.weights0 if freeze_weights else self.weights(g)
        ce = -(labels * torch.log_softmax(logits[n_l:], -1)).sum(-1)
        return F.cross_entropy(logits[:n_l], self.y_l) + LAM * (weights * ce).mean()


def xi_in_a_gap(weights: torch.Tensor) -> float:
    """A mask level in the middle of the widest gap between sorted weights, with weights on both
    sides: no weight comes near it under a finite-difference step."""
    w = weights.sort().values
    k = int((w[1:] - w[:-1]).argmax())
    assert w[k + 1] - w[k] > 1e-3
    return float((w[k] + w[k + 1]) / 2)


# --- presets -------------------------------------------------------------------------------------


def test_cosine_presets_are_extra_and_follow_cosine():
    assert tuple(drift.METHODS) == (
        "supervised",
        "alternating",
        "mean_teacher",
        "drift_labels",
        "drift_weights",
        "drift",
    )
    cos, dc = drift.get_method("cosine"), drift.get_method("drift_cosine")
    assert cos is drift.EXTRA_PRESETS["cosine"] and dc is drift.EXTRA_PRESETS["drift_cosine"]
    assert (cos.teacher, cos.labels, cos.weights, cos.coupled) == ("copy", "soft", "entropy", False)
    assert 100 <= cos.refresh_every <= 250 and 0.5 <= cos.mask_below <= 0.7
    assert (cos.sharpen, cos.class_normalize, cos.tau) == (2.0, True, 1.0)
    assert (dc.teacher, dc.grad_labels, dc.grad_weights) == ("ema", True, True)
    assert all(getattr(dc, k) == getattr(cos, k) for k in COSINE_PARTS)  # the same components
    # drift_cosine is DRIFT with COSINE's labels and weights, and nothing else changed
    # each preset's own tuning
    tuned = {k: getattr(drift.METHODS["drift"], k) for k in ("alpha", "lam")}
    assert (
        dataclasses.replace(
            dc, name="drift", sharpen=1.0, class_normalize=False, mask_below=0.0, **tuned
        )
        == drift.METHODS["drift"]
    )
    for m in drift.METHODS.values():
        assert (m.sharpen, m.class_normalize, m.mask_below) == (1.0, False, 0.0)


def test_cosine_presets_take_the_choice_of_their_tuning_record():
    """xi and the refresh interval, as `benchmarks/tune_cosine.py` chose them on validation
    (the record the cosine preset's docstring cites, rather than a table of its own)."""
    record = json.loads((ROOT / "benchmarks" / "results" / "tuning_cosine.json").read_text())
    choice, accuracy = record["choice"], record["validation_accuracy"]
    cos, dc = drift.get_method("cosine"), drift.get_method("drift_cosine")
    assert (
        cos.mask_below == dc.mask_below == choice["xi"]
        and cos.refresh_every == choice["refresh_every"]
    )
    # the record's rule: xi first, then cosine's refresh at it
    by_xi = choice["mean_over_both_methods_by_xi"]
    assert max(by_xi, key=by_xi.get) == str(choice["xi"])
    prefix = f"cosine xi={choice['xi']} "
    at_xi = {key: sum(runs) / len(runs) for key, runs in accuracy.items() if key.startswith(prefix)}
    assert (
        max(at_xi, key=at_xi.get) == f"cosine xi={choice['xi']} refresh={choice['refresh_every']}"
    )


# --- the pure functions ---------------------------------------------------------------------------


@pytest.mark.parametrize("tau", [0.5, 1.0])
@pytest.mark.parametrize("power", [1.0, 2.0, 3.0])
@pytest.mark.parametrize("class_normalize", [False, True])
def test_sharpened_labels_are_the_formula(tau, power, class_normalize):
    g = 3 * torch.randn(7, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    q = sharpened_labels(g, tau, power, class_normalize)
    torch.testing.assert_close(
        q, reference_labels(g, tau, power, class_normalize), rtol=1e-12, atol=1e-15
    )
    torch.testing.assert_close(q.sum(-1), torch.ones(7, dtype=torch.float64), rtol=0, atol=1e-14)
    if not class_normalize:  # the power alone is a temperature: tau / power
        torch.testing.assert_close(q, drift.soft_labels(g, tau / power), rtol=1e-12, atol=1e-15)


def test_sharpened_labels_stay_finite_where_powers_underflow():
    g = torch.tensor([[300.0, 0.0, -300.0], [0.0, 0.0, 0.0]])
    g.requires_grad_(True)
    q = sharpened_labels(g, 1.0, 4.0, True)
    assert torch.isfinite(q).all() and torch.allclose(q.sum(-1), torch.ones(2))
    (grad,) = torch.autograd.grad((q * torch.arange(3.0)).sum(), g)
    assert torch.isfinite(grad).all()


def test_class_normalisation_raises_rare_classes():
    """Dividing by the batch's soft class frequencies lifts the classes the batch rarely
    predicts."""
    g = torch.tensor([[2.0, 0.0], [2.0, 0.0], [2.0, 0.0], [0.0, 0.5]], dtype=torch.float64)
    plain, balanced = sharpened_labels(g, 1.0, 2.0, False), sharpened_labels(g, 1.0, 2.0, True)
    assert (balanced[:, 1] > plain[:, 1]).all()


@pytest.mark.parametrize("class_normalize", [False, True])
def test_sharpened_labels_gradcheck(class_normalize):
    """Their Jacobian in g, the batch frequencies included (every label depends on every row)."""
    g = torch.randn(
        5, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64, requires_grad=True
    )
    assert torch.autograd.gradcheck(lambda z: sharpened_labels(z, 0.7, 2.0, class_normalize), (g,))
    if class_normalize:  # row 0's label moves with row 4's logits
        (grad,) = torch.autograd.grad(sharpened_labels(g, 1.0, 2.0, True)[0, 0], g)
        assert grad[4].abs().max() > 1e-3


def test_confidence_mask_keeps_value_and_gradient_above_and_zero_below():
    w = torch.tensor([0.2, 0.6, 0.9], dtype=torch.float64, requires_grad=True)
    masked = confidence_mask(w, 0.6)
    assert masked.tolist() == [
        0.0,
        0.6,
        0.9,
    ]  # w >= xi kept, as threshold_weights keeps max p >= gamma
    (grad,) = torch.autograd.grad(
        (masked * torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)).sum(), w
    )
    assert grad.tolist() == [0.0, 2.0, 3.0]


def test_mask_comes_before_normalisation():
    p = torch.softmax(
        torch.randn(8, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64) * 2, -1
    )
    w = drift.entropy_weights(p)
    xi = float(w.median())
    masked = confidence_mask(w, xi)
    got = drift.sample_weights(p, "entropy", normalize=True, mask_below=xi)
    torch.testing.assert_close(got, masked / masked.mean(), rtol=1e-14, atol=0)


def test_defaults_compute_exactly_what_they_did():
    """At sharpen = 1, class_normalize = False, mask_below = 0 the new code is not entered."""
    g = torch.randn(6, 4, generator=torch.Generator().manual_seed(3))
    for tau in (0.5, 1.0):
        assert torch.equal(drift.pseudo_labels(g, "soft", tau), drift.soft_labels(g, tau))
    p = torch.softmax(g, -1)
    for normalize in (False, True, "batch"):
        assert torch.equal(
            drift.sample_weights(p, normalize=normalize, mask_below=0.0),
            drift.sample_weights(p, normalize=normalize),
        )
    student, teacher, x_l, y_l, x_u = make_problem(0.5)
    for name in drift.METHODS:
        m = drift.get_method(name, alpha=0.5)
        explicit = dataclasses.replace(m, sharpen=1.0, class_normalize=False, mask_below=0.0)
        a = drift.leader_terms(m, student, teacher, x_l, y_l, x_u, lam=LAM)
        b = drift.leader_terms(explicit, student, teacher, x_l, y_l, x_u, lam=LAM)
        assert torch.equal(a.total, b.total)
        assert torch.equal(autograd_gradient(student, a.total), autograd_gradient(student, b.total))
    # and the soft labels still come from soft_labels at tau, weights from entropy_weights
    terms = drift.leader_terms(drift.METHODS["drift"], student, teacher, x_l, y_l, x_u, lam=LAM)
    with torch.no_grad():
        g_t = teacher.logits(student, x_u, teacher.follow(student))
    assert torch.equal(terms.labels.detach(), drift.soft_labels(g_t, 1.0))
    assert torch.equal(terms.weights.detach(), drift.entropy_weights(torch.softmax(g_t, -1)))


# --- finite differences through phi(theta) --------------------------------------------------------


@pytest.mark.parametrize("alpha", [0.5, 0.9])
@pytest.mark.parametrize("class_normalize", [False, True])
def test_sharpened_label_path_matches_central_difference(alpha, class_normalize):
    """drift_labels with sharpened labels: the gradient of F with the labels a function of theta
    (through phi(theta) and the batch frequencies) and the weights frozen."""
    student, teacher, x_l, y_l, x_u = make_problem(alpha)
    method = drift.get_method(
        "drift_labels", alpha=alpha, sharpen=2.0, class_normalize=class_normalize, tau=0.8
    )
    value = drift.leader_objective(method, student, teacher, x_l, y_l, x_u, lam=LAM)
    reference = CosineF(method, student, teacher, x_l, y_l, x_u)
    assert reference().item() == pytest.approx(value.item(), rel=1e-12)
    grad = autograd_gradient(student, value)
    for v in directions(grad.numel()):
        assert (
            relative_error(
                float(grad @ v),
                central_difference(student, lambda: reference(freeze_weights=True), v),
            )
            < TOL
        )
    # the batch frequencies carry gradient: freezing f changes the label path's gradient
    if class_normalize:
        frozen_f = drift.get_method(
            "drift_labels", alpha=alpha, sharpen=2.0, class_normalize=False, tau=0.8
        )
        other = autograd_gradient(
            student, drift.leader_objective(frozen_f, student, teacher, x_l, y_l, x_u, lam=LAM)
        )
        assert (grad - other).norm() > 1e-3 * grad.norm()


@pytest.mark.parametrize("alpha", [0.5, 0.9])
def test_masked_weight_path_matches_central_difference(alpha):
    """drift_weights with the mask at a level between the weights: kept weights carry their
    gradient, masked ones none."""
    student, teacher, x_l, y_l, x_u = make_problem(alpha)
    g0 = CosineF(drift.Method(), student, teacher, x_l, y_l, x_u).teacher_logits().detach()
    xi = xi_in_a_gap(reference_weights(g0, 0.0))
    method = drift.get_method("drift_weights", alpha=alpha, mask_below=xi)
    terms = drift.leader_terms(method, student, teacher, x_l, y_l, x_u, lam=LAM)
    assert 0 < int((terms.weights == 0).sum()) < len(x_u)  # some masked, some kept
    reference = CosineF(method, student, teacher, x_l, y_l, x_u)
    assert reference().item() == pytest.approx(terms.total.item(), rel=1e-12)
    grad = autograd_gradient(student, terms.total)
    for v in directions(grad.numel()):
        assert (
            relative_error(
                float(grad @ v),
                central_difference(student, lambda: reference(freeze_labels=True), v),
            )
            < TOL
        )
    unmasked = drift.get_method("drift_weights", alpha=alpha)
    other = autograd_gradient(
        student, drift.leader_objective(unmasked, student, teacher, x_l, y_l, x_u, lam=LAM)
    )
    assert (grad - other).norm() > 1e-3 * grad.norm()  # the mask changes the gradient


@pytest.mark.parametrize("alpha", [0.5, 0.9])
def test_drift_cosine_stackelberg_gradient_matches_finite_difference_of_F(alpha):
    """The whole drift_cosine gradient: the package's own F recomputed at perturbed theta (teacher,
    sharpened labels, batch frequencies and masked weights all moving), and the reference here."""
    student, teacher, x_l, y_l, x_u = make_problem(alpha)
    g0 = CosineF(drift.Method(), student, teacher, x_l, y_l, x_u).teacher_logits().detach()
    xi = xi_in_a_gap(reference_weights(g0, 0.0))
    method = drift.get_method("drift_cosine", alpha=alpha, mask_below=xi)
    value = drift.leader_objective(method, student, teacher, x_l, y_l, x_u, lam=LAM)
    reference = CosineF(method, student, teacher, x_l, y_l, x_u)
    assert reference().item() == pytest.approx(value.item(), rel=1e-12)
    grad = autograd_gradient(student, value)

    def F_package():
        return drift.leader_objective(method, student, teacher, x_l, y_l, x_u, lam=LAM)

    for v in directions(grad.numel()):
        assert relative_error(float(grad @ v), central_difference(student, F_package, v)) < TOL
        assert relative_error(float(grad @ v), central_difference(student, reference, v)) < TOL
    # and the Stackelberg term is visible: without routing the gradient differs
    partial = dataclasses.replace(method, grad_labels=False, grad_weights=False)
    mt = autograd_gradient(
        student, drift.leader_objective(partial, student, teacher, x_l, y_l, x_u, lam=LAM)
    )
    assert (grad - mt).norm() > 100 * TOL * grad.norm()
    for v in directions(grad.numel()):  # which is the partial derivative: labels and weights frozen
        fd = central_difference(
            student, lambda: reference(freeze_labels=True, freeze_weights=True), v
        )
        assert relative_error(float(mt @ v), fd) < TOL


def test_unlabeled_terms_vectorise_with_the_cosine_settings():
    """unlabeled_terms is a function of tensors: under torch.func.vmap over a leading axis it
    gives what a loop gives, batch frequencies and mask included."""
    gen = torch.Generator().manual_seed(5)
    s = torch.randn(3, 6, 4, generator=gen, dtype=torch.float64)
    g = 2 * torch.randn(3, 6, 4, generator=gen, dtype=torch.float64)
    method = drift.get_method("drift_cosine", mask_below=0.3)
    mapped = torch.func.vmap(lambda a, b: unlabeled_terms(method, a, *routed(method, b)))(s, g)
    for k in range(3):
        loop = unlabeled_terms(method, s[k], *routed(method, g[k]))
        for got, want in zip(mapped, loop):
            torch.testing.assert_close(got[k], want, rtol=1e-12, atol=1e-14)


# --- settings -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"sharpen": 0.0}, "sharpen must be a finite number > 0"),
        ({"sharpen": -2.0}, "sharpen must be a finite number > 0"),
        ({"sharpen": float("inf")}, "sharpen must be a finite number > 0"),
        ({"sharpen": float("nan")}, "sharpen must be a finite number > 0"),
        ({"sharpen": True}, "sharpen must be a finite number > 0"),
        ({"sharpen": "2"}, "sharpen must be a finite number > 0"),
        ({"class_normalize": 1}, "class_normalize must be True or False"),
        ({"class_normalize": "yes"}, "class_normalize must be True or False"),
        (
            {"labels": "hard", "sharpen": 2.0},
            "sharpen and class_normalize act on soft labels; set labels='soft'",
        ),
        ({"labels": "straight_through", "class_normalize": True}, "set labels='soft'"),
        ({"mask_below": -0.1}, r"mask_below must be a number in \[0, 1\]"),
        ({"mask_below": 1.5}, r"mask_below must be a number in \[0, 1\]"),
        ({"mask_below": float("nan")}, r"mask_below must be a number in \[0, 1\]"),
        ({"mask_below": True}, r"mask_below must be a number in \[0, 1\]"),
        (
            {"weights": "uniform", "mask_below": 0.6},
            "mask_below masks entropy weights; set weights='entropy'",
        ),
    ],
)
def test_bad_settings_raise_clear_errors(settings, message):
    with pytest.raises(ValueError, match=message):
        drift.get_method("drift", **settings)


def test_copied_teacher_still_refuses_the_stackelberg_gradient():
    with pytest.raises(ValueError, match="need teacher='ema'"):
        drift.get_method("cosine", grad_labels=True)


def test_checkpoint_config_records_every_method_setting():
    every = {f.name for f in dataclasses.fields(drift.Method)}
    for m in [*drift.METHODS.values(), *drift.EXTRA_PRESETS.values()]:
        config = run_config(m, drift.TrainConfig())["method"]
        # settings at their defaults too
        assert set(config) == every and config == dataclasses.asdict(m)
    for name in ("cosine", "drift_cosine"):
        config = run_config(drift.get_method(name), drift.TrainConfig())["method"]
        assert {k: config[k] for k in COSINE_PARTS} == {
            k: getattr(drift.get_method(name), k) for k in COSINE_PARTS
        }
    only_mask = run_config(drift.get_method("drift", mask_below=0.5), drift.TrainConfig())["method"]
    assert only_mask["mask_below"] == 0.5 and (
        only_mask["sharpen"],
        only_mask["class_normalize"],
    ) == (1.0, False)


# --- training -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["cosine", "drift_cosine"])
def test_cosine_presets_train_and_resume(name, moons, tmp_path, without_seconds):
    """A short run of each preset (cosine with a 5-step refresh, so its teacher is refreshed
    three times in 20 steps; a mask at 0.05, as the preset's 0.7 masks every weight of an untrained
    two-moons teacher), deterministic, resumable from its checkpoint."""
    overrides = (
        {"refresh_every": 5, "mask_below": 0.05} if name == "cosine" else {"mask_below": 0.05}
    )
    kwargs = dict(steps=20, eval_every=10, seed=0, progress=False, **overrides)
    full = drift.train(name, moons, **kwargs)
    assert full.method == name and all(math.isfinite(v) for v in full.loss)
    assert full.unlabeled_loss[-1] > 0 and full.lam[-1] > 0
    assert all(0.0 <= w <= 1.0 for w in full.mean_weight)
    path = tmp_path / "c.pt"
    drift.train(name, moons, checkpoint=path, **kwargs)
    again = drift.train(name, moons, checkpoint=path, **kwargs)
    assert without_seconds(again.to_dict()) == without_seconds(full.to_dict())
    with pytest.raises(ValueError, match="differing: method"):
        drift.train(name, moons, checkpoint=path, **{**kwargs, "mask_below": 0.0})


def test_cosine_preset_as_is_trains(digits):
    """The preset itself, with its refresh period: no unlabeled loss before the first refresh."""
    m = drift.get_method("cosine")
    h = drift.train(m, digits, steps=m.refresh_every + 20, eval_every=10, progress=False)
    assert h.lam[0] == 0.0 and h.lam[-1] > 0 and h.unlabeled_loss[-1] > 0
    assert math.isfinite(h.final_test_accuracy)


def test_reported_mean_weight_is_the_masked_one(moons):
    """Evaluation reports the weights F uses (masked, before batch normalisation)."""
    kwargs = dict(steps=10, eval_every=10, seed=0, progress=False)
    plain = drift.train("drift_cosine", moons, mask_below=0.0, **kwargs)
    full_mask = drift.train("drift_cosine", moons, mask_below=1.0, **kwargs)
    assert plain.mean_weight[-1] > 0 and full_mask.mean_weight[-1] == 0.0
