"""The teacher as a function of the student: EMA follow/update, buffers, eval mode, copy teacher."""

import copy
import functools

import pytest
import torch
from torch import nn

import drift

ALPHA = 0.8


def perturb(module: nn.Module, scale=0.5, seed=1):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))


def tiny_student(seed=0, features=3, classes=3):
    torch.manual_seed(seed)
    return drift.MLP((features,), classes, hidden=(5,)).double()


def bn_student(seed=0, features=3):
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(features, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Dropout(0.5), nn.Linear(4, 2)
    ).double()


def test_phi_starts_equal_to_theta_and_is_detached():
    student = tiny_student()
    teacher = drift.EMATeacher(student, ALPHA)
    for k, p in student.named_parameters():
        assert torch.equal(teacher.params[k], p)
        assert not teacher.params[k].requires_grad
        assert teacher.params[k].data_ptr() != p.data_ptr()  # a copy, not the student's storage


def test_follow_is_the_ema_of_buffer_and_student():
    student = tiny_student()
    teacher = drift.EMATeacher(student, ALPHA)
    perturb(student)
    prev = {k: v.clone() for k, v in teacher.params.items()}
    phi = teacher.follow(student)
    assert set(phi) == {k for k, _ in student.named_parameters()}
    for k, p in student.named_parameters():
        torch.testing.assert_close(phi[k], ALPHA * prev[k] + (1 - ALPHA) * p, rtol=0, atol=1e-15)
        assert phi[k].requires_grad
    for k in prev:  # follow does not move the buffer
        assert torch.equal(teacher.params[k], prev[k])


def test_follow_jacobian_is_one_minus_alpha_times_identity():
    student = tiny_student()
    teacher = drift.EMATeacher(student, ALPHA)
    perturb(student)
    params = list(student.parameters())
    names = [k for k, _ in student.named_parameters()]
    phi = teacher.follow(student)
    out = torch.cat([phi[k].reshape(-1) for k in names])  # (P,)
    rows = []
    for i in range(out.numel()):
        grads = torch.autograd.grad(out[i], params, retain_graph=True, allow_unused=True)
        rows.append(
            torch.cat(
                [
                    (torch.zeros_like(p) if g is None else g).reshape(-1)
                    for p, g in zip(params, grads)
                ]
            )
        )
    jacobian = torch.stack(rows)  # (P, P)
    expected = (1 - ALPHA) * torch.eye(out.numel(), dtype=torch.float64)
    torch.testing.assert_close(jacobian, expected, rtol=0, atol=1e-15)


def test_update_moves_the_buffer_to_the_followed_value():
    student = tiny_student()
    teacher = drift.EMATeacher(student, ALPHA)
    perturb(student)
    phi = {k: v.detach().clone() for k, v in teacher.follow(student).items()}
    teacher.update(student)
    for k in phi:
        torch.testing.assert_close(teacher.params[k], phi[k], rtol=0, atol=0)
        assert not teacher.params[k].requires_grad
    # a second step mixes again from the new buffer
    perturb(student, seed=2)
    expected = {
        k: ALPHA * teacher.params[k] + (1 - ALPHA) * p.detach()
        for k, p in student.named_parameters()
    }
    teacher.update(student)
    for k in expected:
        torch.testing.assert_close(teacher.params[k], expected[k], rtol=0, atol=1e-15)


def test_alpha_zero_follows_the_student_exactly():
    student = tiny_student()
    teacher = drift.EMATeacher(student, 0.0)
    perturb(student)
    for k, p in student.named_parameters():
        torch.testing.assert_close(teacher.follow(student)[k], p, rtol=0, atol=0)


def test_batchnorm_buffers_are_averaged_and_counters_copied():
    student = bn_student()
    teacher = drift.EMATeacher(student, ALPHA)
    old_mean = teacher.buffers["1.running_mean"].clone()
    old_var = teacher.buffers["1.running_var"].clone()
    student.train()
    for _ in range(3):
        student(torch.randn(16, 3, dtype=torch.float64) + 2.0)
    bn = student[1]
    assert int(bn.num_batches_tracked) == 3
    phi = teacher.follow(student)
    torch.testing.assert_close(
        phi["1.running_mean"], ALPHA * old_mean + (1 - ALPHA) * bn.running_mean, rtol=0, atol=1e-15
    )
    teacher.update(student)
    torch.testing.assert_close(
        teacher.buffers["1.running_mean"],
        ALPHA * old_mean + (1 - ALPHA) * bn.running_mean,
        rtol=0,
        atol=1e-15,
    )
    torch.testing.assert_close(
        teacher.buffers["1.running_var"],
        ALPHA * old_var + (1 - ALPHA) * bn.running_var,
        rtol=0,
        atol=1e-15,
    )
    nbt = teacher.buffers["1.num_batches_tracked"]
    assert nbt.dtype == torch.long and int(nbt) == 3
    assert nbt.data_ptr() != bn.num_batches_tracked.data_ptr()  # copied, not shared
    assert not any(v.requires_grad for v in teacher.buffers.values())
    assert set(teacher.state()) == {k for k, _ in student.named_parameters()} | {
        k for k, _ in student.named_buffers()
    }


def test_teacher_logits_run_in_eval_mode_on_the_teachers_state():
    student = bn_student()
    teacher = drift.EMATeacher(student, ALPHA)
    student.train()
    for _ in range(2):
        student(torch.randn(16, 3, dtype=torch.float64) + 1.0)
    perturb(student)
    teacher.update(student)
    perturb(student, seed=3)
    x = torch.randn(8, 3, dtype=torch.float64)

    reference = copy.deepcopy(student)
    reference.load_state_dict(teacher.state())
    reference.eval()
    with torch.no_grad():
        expected = reference(x)
    running_mean = student[1].running_mean.clone()
    for state in (None, teacher.state()):
        out = teacher.logits(student, x, state)
        torch.testing.assert_close(out, expected, rtol=0, atol=1e-14)
    assert student.training  # training flag restored
    assert torch.equal(student[1].running_mean, running_mean)  # eval mode: statistics untouched
    # dropout is off: repeated calls agree
    assert torch.equal(teacher.logits(student, x), teacher.logits(student, x))
    # a student in eval mode stays in eval mode
    student.eval()
    teacher.logits(student, x)
    assert not student.training


def test_teacher_logits_restore_every_submodules_mode():
    """A student with a deliberately frozen part (e.g. a pretrained backbone whose BatchNorm is
    kept in eval mode) must come back exactly as it was, or its next forward pass would start
    updating the frozen statistics."""
    student = bn_student().train()
    student[1].eval()  # frozen BatchNorm inside a training student
    modes = [m.training for m in student.modules()]
    teacher = drift.EMATeacher(student, ALPHA)
    teacher.logits(student, torch.randn(4, 3, dtype=torch.float64))
    assert [m.training for m in student.modules()] == modes


def test_teacher_logits_restore_training_flag_after_an_error():
    class Boom(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 2)
            self.seen = []

        def forward(self, x):
            self.seen.append(self.training)
            raise RuntimeError("boom")

    student = Boom().train()
    teacher = drift.EMATeacher(student, ALPHA)
    with pytest.raises(RuntimeError, match="boom"):
        teacher.logits(student, torch.zeros(1, 3))
    assert student.seen == [False] and student.training


def test_teacher_logits_are_differentiable_through_follow():
    student = tiny_student()
    teacher = drift.EMATeacher(student, ALPHA)
    perturb(student)
    x = torch.randn(5, 3, dtype=torch.float64)
    out = teacher.logits(student, x, teacher.follow(student))
    assert out.requires_grad
    grads = torch.autograd.grad(out.sum(), list(student.parameters()))
    assert all(torch.isfinite(g).all() for g in grads) and any(g.abs().max() > 0 for g in grads)
    assert not teacher.logits(student, x).requires_grad


def test_any_module_works_as_the_student():
    class Custom(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.randn(3, 2, dtype=torch.float64))
            self.register_buffer("shift", torch.ones(2, dtype=torch.float64))

        def forward(self, x):
            return x @ self.w + self.shift

    student = Custom()
    teacher = drift.EMATeacher(student, ALPHA)
    w0 = student.w.detach().clone()
    with torch.no_grad():
        student.w.add_(1.0)
        student.shift.mul_(3.0)
    x = torch.randn(4, 3, dtype=torch.float64)
    out = teacher.logits(student, x, teacher.follow(student))
    phi_w = ALPHA * w0 + (1 - ALPHA) * student.w.detach()
    phi_shift = ALPHA * 1.0 + (1 - ALPHA) * 3.0
    torch.testing.assert_close(out, x @ phi_w + phi_shift, rtol=0, atol=1e-14)


def test_state_dict_round_trip():
    student = bn_student()
    teacher = drift.EMATeacher(student, ALPHA)
    perturb(student)
    teacher.update(student)
    other = drift.EMATeacher(bn_student(seed=5), ALPHA)
    other.load_state_dict(teacher.state_dict())
    for k, v in teacher.state().items():
        assert torch.equal(other.state()[k], v)


def test_copy_teacher_refreshes_every_k_steps_and_carries_no_gradient():
    student = tiny_student()
    teacher = drift.CopyTeacher(student, refresh_every=3)
    initial = {k: v.clone() for k, v in teacher.params.items()}
    for step in range(5):
        perturb(student, seed=10 + step)
        current = {k: p.detach().clone() for k, p in student.named_parameters()}
        teacher.update(student, step)
        if step == 2:  # (step + 1) % 3 == 0: an exact copy of the student
            for k in current:
                assert torch.equal(teacher.params[k], current[k])
            copied = current
        else:
            ref = initial if step < 2 else copied
            for k in ref:
                assert torch.equal(teacher.params[k], ref[k]), (step, k)
    teacher.update(student)  # no step: no refresh
    for k in copied:
        assert torch.equal(teacher.params[k], copied[k])
    phi = teacher.follow(student)
    assert not any(v.requires_grad for v in phi.values())
    for k in copied:
        assert torch.equal(phi[k], copied[k])


def test_make_teacher_follows_the_method():
    student = tiny_student()
    ema = drift.make_teacher(drift.get_method("drift", alpha=0.95), student)
    assert type(ema) is drift.EMATeacher and ema.alpha == 0.95
    copy_teacher = drift.make_teacher(drift.get_method("alternating", refresh_every=7), student)
    assert isinstance(copy_teacher, drift.CopyTeacher) and copy_teacher.refresh_every == 7


@pytest.mark.parametrize(
    "paths",
    [dict(grad_labels=True, grad_weights=False), dict(grad_labels=False, grad_weights=True)],
)
def test_copy_teacher_with_gradient_paths_is_refused(paths):
    with pytest.raises(ValueError, match="teacher='ema'"):
        drift.Method(teacher="copy", **paths)
    with pytest.raises(ValueError, match="teacher='ema'"):
        drift.get_method("alternating", **paths)


@pytest.mark.parametrize("alpha", [1.0, -0.1, 1.5])
def test_ema_teacher_alpha_out_of_range(alpha):
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\)"):
        drift.EMATeacher(tiny_student(), alpha)


def _float64_moons():
    """Two moons in float64, so the EMA check below is exact to float64 round-off."""
    d = drift.load_data("two_moons", labels_per_class=5, seed=0)
    return drift.SemiSupervisedData(
        x_labeled=d.x_labeled.double(),
        y_labeled=d.y_labeled,
        x_unlabeled=d.x_unlabeled.double(),
        y_unlabeled=d.y_unlabeled,
        x_test=d.x_test.double(),
        y_test=d.y_test,
        num_classes=d.num_classes,
    )


def _ema(states: list[dict], alpha: float) -> dict:
    """The EMA recurrence e_0 = s_0, e_i = alpha e_(i-1) + (1 - alpha) s_i on floating tensors;
    other tensors (counters) are the last state's."""
    e = dict(states[0])
    for s in states[1:]:
        e = {
            k: alpha * e[k] + (1 - alpha) * v if v.is_floating_point() else v for k, v in s.items()
        }
    return e


@pytest.mark.parametrize("method", ["mean_teacher", "drift", "supervised"])
@pytest.mark.parametrize(
    "make_student",
    [
        functools.partial(tiny_student, features=2, classes=2),
        functools.partial(bn_student, features=2),
    ],
    ids=["mlp", "batchnorm"],
)
def test_trained_teacher_is_the_ema_of_every_student_iterate(method, make_student):
    """Through `drift.train`: after k steps the stored teacher is the EMA of theta_0..theta_(k-1),
    i.e. the phi(theta_(k-1)) that the last step's loss used, and follow(student) is the EMA of
    theta_0..theta_k: every iterate enters once, with weight (1 - alpha) alpha^(k - i).
    Parameters and floating buffers (BatchNorm statistics) alike, in float64."""
    data = _float64_moons()
    student = make_student()
    iterates = [{k: v.detach().clone() for k, v in student.state_dict().items()}]  # theta_0

    def record(history):  # eval_every=1: called after every step
        iterates.append({k: v.detach().clone() for k, v in history.model.state_dict().items()})

    h = drift.train(
        method,
        data,
        model=student,
        steps=12,
        batch_size=8,
        eval_every=1,
        progress=False,
        alpha=ALPHA,
        callback=record,
    )
    assert len(iterates) == 13
    stored, followed = _ema(iterates[:-1], ALPHA), _ema(iterates, ALPHA)
    for k, v in h.teacher.state().items():
        torch.testing.assert_close(v, stored[k], rtol=1e-12, atol=1e-14, msg=f"stored teacher, {k}")
    for k, v in h.teacher.follow(student).items():
        torch.testing.assert_close(
            v.detach(), followed[k], rtol=1e-12, atol=1e-14, msg=f"follow(student), {k}"
        )
