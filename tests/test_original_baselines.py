"""The original methods as extra presets of the one Method mechanism (issue 19's baselines):
`mean_teacher_original` (Tarvainen & Valpola 2017: MSE consistency between the softmaxes, no
sample weights, noise on both inputs, alpha 0.99 with their sigmoid ramp-up) and `fixmatch`
(Sohn et al. 2020: hard labels above 0.95 confidence from the current student as teacher, learned
on the student's view). The settings they use are checked in tests/test_consistency_noise.py,
the teacher's test accuracy in tests/test_teacher_accuracy.py, and the batched engine against
`drift.train` for every preset in tests/test_vectorized.py."""

import dataclasses
import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.func import vmap

import drift
from drift.training import batched as vectorized
from drift.core.objective import routed, unlabeled_terms
from drift.training.loop import run_config
from test_gradients import LAM, make_problem

MTO, FIXMATCH = "mean_teacher_original", "fixmatch"


def test_presets_are_extra_and_follow_their_papers():
    assert MTO not in drift.METHODS and FIXMATCH not in drift.METHODS
    mto, fm = drift.get_method(MTO), drift.get_method(FIXMATCH)
    assert mto is drift.EXTRA_PRESETS[MTO] and fm is drift.EXTRA_PRESETS[FIXMATCH]
    # Tarvainen & Valpola: MSE between the softmaxes (soft labels at tau = 1), no weights, noise on
    # the teacher's input too, their sigmoid ramp-up exp(-5 (1 - t)^2), no gradient through the
    # teacher; alpha and lam are the tuned ones (tests/test_tuning_record.py)
    assert (mto.teacher, mto.labels, mto.tau, mto.weights, mto.normalize_weights) == (
        "ema",
        "soft",
        1.0,
        "uniform",
        False,
    )
    assert (mto.consistency, mto.teacher_noise, mto.rampup_shape, mto.rampup) == (
        "mse",
        0.1,
        "sigmoid",
        0.3,
    )
    assert mto.lam == 10.0 and not mto.coupled
    assert mto.teacher_noise == drift.TrainConfig().input_noise  # the same noise on both inputs
    assert (mto.entropy_weight, mto.sharpen, mto.class_normalize, mto.mask_below) == (
        0.0,
        1.0,
        False,
        0.0,
    )
    # FixMatch: hard labels kept above 0.95 confidence, the current student as teacher (EMA with
    # alpha = 0), cross-entropy, no gradient through the teacher; threshold, lam and ramp-up tuned
    assert (fm.teacher, fm.alpha, fm.labels, fm.weights) == ("ema", 0.0, "hard", "threshold")
    assert (fm.consistency, fm.normalize_weights, fm.coupled) == ("ce", False, False)
    assert fm.teacher_noise == 0.0  # the weak view is the batch itself (see EXTRA_PRESETS)
    for (
        name,
        m,
    ) in drift.EXTRA_PRESETS.items():  # the other extra presets keep the new settings' defaults
        if name not in (MTO, FIXMATCH):
            assert (m.consistency, m.teacher_noise) == ("ce", 0.0), name
    for name in (MTO, FIXMATCH):  # a checkpoint records every setting
        config = run_config(drift.get_method(name), drift.TrainConfig())["method"]
        assert (
            config["name"] == name and config["consistency"] == drift.get_method(name).consistency
        )
    assert run_config(mto, drift.TrainConfig())["method"]["teacher_noise"] == 0.1
    assert run_config(fm, drift.TrainConfig())["method"]["teacher_noise"] == 0.0


def test_unknown_preset_error_lists_the_new_extra_presets():
    with pytest.raises(ValueError, match=r"extra preset: .*mean_teacher_original, fixmatch"):
        drift.get_method("fix_match")


def test_mean_teacher_original_is_their_cost_without_weights():
    gen = torch.Generator().manual_seed(1)
    s = torch.randn(7, 5, generator=gen, dtype=torch.float64)
    g = 3 * torch.randn(7, 5, generator=gen, dtype=torch.float64)
    m = drift.get_method(MTO)
    unlabeled, labels, weights = unlabeled_terms(m, s, *routed(m, g))
    expected = ((torch.softmax(s, -1) - torch.softmax(g, -1)) ** 2).mean()  # over rows and classes
    torch.testing.assert_close(unlabeled, expected, rtol=1e-14, atol=0)
    assert torch.equal(weights, torch.ones(7, dtype=torch.float64))
    assert not labels.requires_grad


def test_fixmatch_labels_are_hard_and_masked_below_095():
    g = torch.tensor(
        [[5.0, 0.0, 0.0], [1.0, 0.8, 0.0], [0.0, 0.0, 4.0], [0.0, 3.0, 0.0]], dtype=torch.float64
    )
    p = torch.softmax(g, -1).max(-1).values
    assert (p >= 0.95).tolist() == [True, False, True, False]  # rows on both sides of the threshold
    s = torch.randn(4, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    m = drift.get_method(FIXMATCH)
    unlabeled, labels, weights = unlabeled_terms(m, s, *routed(m, g))
    assert torch.equal(labels, F.one_hot(g.argmax(-1), 3).double())
    assert weights.tolist() == [1.0, 0.0, 1.0, 0.0]
    # FixMatch's loss: the mean over the whole unlabeled batch, masked rows counting as zeros
    expected = (F.cross_entropy(s, g.argmax(-1), reduction="none") * (p >= 0.95)).mean()
    torch.testing.assert_close(unlabeled, expected, rtol=1e-14, atol=0)


def test_fixmatch_teacher_is_the_current_student():
    """alpha = 0: phi(theta) = theta exactly (a lerp with weight 1 returns its end), no gradient
    flows through it, and the teacher's logits are the student's own in eval mode."""
    student, _, x_l, y_l, x_u = make_problem(0.5)
    m = drift.get_method(FIXMATCH)
    teacher = drift.make_teacher(m, student)
    with torch.no_grad():
        for p in student.parameters():
            p.mul_(1.7)  # the student moved since the teacher was made
    phi = teacher.follow(student)
    for k, p in student.named_parameters():
        assert torch.equal(phi[k], p), k
    terms = drift.leader_terms(m, student, teacher, x_l, y_l, x_u, lam=LAM)
    for k, p in student.named_parameters():
        assert torch.equal(terms.teacher_state[k], p) and not terms.teacher_state[k].requires_grad
    with torch.no_grad():
        assert torch.equal(teacher.logits(student, x_u, terms.teacher_state), student(x_u))
    assert not terms.labels.requires_grad and not terms.weights.requires_grad


def test_fixmatch_teacher_is_the_student_before_each_step_in_training(moons):
    """After T steps the teacher is theta_{T-1}, the student the last step started from (an EMA
    with alpha = 0 keeps only the latest iterate), exactly."""
    iterates = []
    h = drift.train(
        FIXMATCH,
        moons,
        steps=6,
        eval_every=1,
        progress=False,
        callback=lambda h: iterates.append([p.detach().clone() for p in h.model.parameters()]),
    )
    for p, q in zip(h.teacher_module().parameters(), iterates[-2]):
        assert torch.equal(p, q)


def test_batched_engine_keeps_alpha_zero_exact():
    """The vectorised objective's teacher response at alpha = 0 is the stacked parameters
    exactly."""
    torch.manual_seed(0)
    model = drift.MLP((3,), 3, hidden=(5,))
    params = {k: torch.stack([v.detach(), 2 * v.detach()]) for k, v in model.named_parameters()}
    teacher = {k: torch.zeros_like(v) for k, v in params.items()}
    objective = vectorized._objective(*vectorized._shared(drift.get_method(FIXMATCH)), False, model)
    x = torch.randn(2, 4, 3)
    y = torch.zeros(2, 4, dtype=torch.long)
    zero = torch.zeros(2)
    run = {
        "lam": torch.ones(2),
        "alpha": zero,
        "grad_labels": zero.bool(),
        "grad_weights": zero.bool(),
    }
    batch = {"y_l": y, "student_x_l": x, "student_x_u": x, "teacher_x_u": x}
    _, _, phi = vmap(objective)(params, teacher, run, batch)
    for k, v in params.items():
        assert torch.equal(phi[k], v), k


def test_views_with_the_presets(moons):
    """mean_teacher_original's teacher noise is the default teacher view's, so a teacher_view is
    refused until teacher_noise=0; fixmatch's weak view is the batch itself, so it takes a user's
    weak and strong views as they are (chapter 9's FixMatch setting)."""
    weak = lambda x: x + 0.05 * torch.randn_like(x)  # noqa: E731
    strong = lambda x: (torch.rand_like(x) > 0.3) * x + 0.3 * torch.randn_like(x)  # noqa: E731
    with pytest.raises(
        ValueError,
        match=r"with teacher_view, add noise inside your view .* pass teacher_noise=0; "
        r"got teacher_noise=0.1 \('mean_teacher_original'\)",
    ):
        drift.train(MTO, moons, steps=2, teacher_view=weak, progress=False)
    assert drift.train(
        MTO, moons, steps=2, teacher_view=weak, teacher_noise=0.0, progress=False
    ).step == [1, 2]
    h = drift.train(
        FIXMATCH, moons, steps=2, teacher_view=weak, student_view=strong, progress=False
    )
    assert h.step == [1, 2]


@pytest.mark.parametrize("name", [MTO, FIXMATCH])
def test_presets_train_deterministically_and_resume(name, moons, tmp_path, without_seconds):
    kwargs = dict(steps=20, eval_every=10, seed=0, progress=False)
    full = drift.train(name, moons, **kwargs)
    assert full.method == name and all(math.isfinite(v) for v in full.loss)
    assert full.lam[-1] == drift.get_method(name).lam
    path = tmp_path / "c.pt"
    drift.train(name, moons, checkpoint=path, **kwargs)
    again = drift.train(name, moons, checkpoint=path, **kwargs)
    assert without_seconds(again.to_dict()) == without_seconds(full.to_dict())
    other = {"teacher_noise": 0.2} if name == FIXMATCH else {"consistency": "ce"}
    with pytest.raises(ValueError, match="differing: method"):
        drift.train(name, moons, checkpoint=path, **{**kwargs, **other})


def test_mean_teacher_original_reports_uniform_weights_and_a_lagging_teacher(digits):
    h = drift.train(MTO, digits, steps=60, eval_every=20, progress=False)
    assert h.mean_weight == [1.0, 1.0, 1.0]
    assert h.unlabeled_loss[-1] > 0 and all(math.isfinite(a) for a in h.teacher_test_accuracy)
    # alpha = 0.99: the teacher trails the student
    assert h.teacher_test_accuracy != h.test_accuracy


@pytest.mark.parametrize("name", [MTO, FIXMATCH])
def test_teacher_test_accuracy_of_the_presets(name, moons):
    h = drift.train(name, moons, steps=30, eval_every=10, progress=False)
    expected = (
        100 * (h.predict(moons.x_test, which="teacher") == moons.y_test).float().mean().item()
    )
    assert h.final_teacher_test_accuracy == pytest.approx(expected, abs=1e-9)


def test_compare_runs_both_presets_batched(moons):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # batched, no fallback
        results = drift.compare(
            [MTO, FIXMATCH],
            moons,
            seeds=2,
            steps=20,
            eval_every=10,
            workers=1,
            progress=False,
            reference=None,
        )
    for name in (MTO, FIXMATCH):
        single = drift.train(name, moons, seed=1, steps=20, eval_every=10, progress=False)
        batched = results.histories[name][1]
        np.testing.assert_allclose(batched.loss, single.loss, rtol=1e-3, atol=1e-6)
        assert batched.teacher_test_accuracy == pytest.approx(single.teacher_test_accuracy, abs=1.0)
        assert results.teacher_summary(name).n == 2


def test_presets_are_one_method_each():
    """Each is a plain Method: overriding a setting gives a Method that differs in that setting
    only."""
    tuned = drift.get_method(MTO, alpha=0.9, lam=30.0)
    assert dataclasses.replace(tuned, alpha=0.7, lam=10.0) == drift.get_method(MTO)
