"""Mixed precision: `drift.train(..., precision=...)` on the CPU (bf16 autocast; fp16 with a
GradScaler). The finite-difference gradient tests (tests/test_gradients.py) stay in fp32/fp64."""

import math

import pytest
import torch
from torch import nn

import drift

STEPS = 200


@pytest.fixture(scope="module")
def fp32_and_bf16(digits):
    return {
        p: drift.train("drift", digits, steps=STEPS, seed=0, precision=p, progress=False)
        for p in ("fp32", "bf16")
    }


def test_bf16_training_is_finite_and_as_accurate_as_fp32(fp32_and_bf16):
    fp32, bf16 = fp32_and_bf16["fp32"], fp32_and_bf16["bf16"]
    assert all(math.isfinite(v) for v in bf16.loss + bf16.test_accuracy)
    assert bf16.to_dict()["loss"] != fp32.to_dict()["loss"]  # autocast changed the arithmetic...
    # ...but not the result. Measured on digits with the tuned drift preset (alpha 0.8, lam 0.5),
    # 200-300 steps, seeds 0-2: final accuracies differ by <= 0.74 points (4 test examples),
    # final training losses (computed under autocast, in bf16 arithmetic) by 0.2-4.8 %.
    assert abs(bf16.final_test_accuracy - fp32.final_test_accuracy) <= 1.0
    assert abs(bf16.loss[-1] - fp32.loss[-1]) <= 0.08 * fp32.loss[-1]
    assert bf16.final_test_accuracy > bf16.test_accuracy[0] + 20  # it learned


def test_bf16_keeps_parameters_optimizer_state_and_teacher_in_fp32(fp32_and_bf16):
    h = fp32_and_bf16["bf16"]
    assert {p.dtype for p in h.model.parameters()} == {torch.float32}
    assert {v.dtype for v in h.teacher.state().values()} == {torch.float32}


def test_autocast_is_active_for_student_and_teacher_and_not_for_evaluation(moons):
    """Forward hooks see bf16 activations in training: the student (train mode) and the teacher
    (eval mode, through functional_call); evaluation (eval mode, the last forward) is fp32."""
    seen = []  # (training?, dtype) of each Linear output, in order
    net = drift.MLP((2,), 2)
    for m in net.modules():
        if isinstance(m, nn.Linear):
            m.register_forward_hook(lambda mod, inp, out: seen.append((mod.training, out.dtype)))
    drift.train("drift", moons, model=net, steps=5, eval_every=5, precision="bf16", progress=False)
    assert {d for training, d in seen if training} == {torch.bfloat16}
    assert {d for training, d in seen if not training} == {torch.bfloat16, torch.float32}
    assert seen[-1] == (False, torch.float32)

    seen.clear()
    drift.train("drift", moons, model=net, steps=5, eval_every=5, precision="fp32", progress=False)
    assert {d for _, d in seen} == {torch.float32}


def test_fp16_on_cpu_trains_with_a_grad_scaler_whose_state_is_checkpointed(
    moons, tmp_path, without_seconds
):
    """fp16 works on the CPU too (autocast float16 and torch.amp.GradScaler("cpu")), and a
    resumed run continues the scaler, so it equals the uninterrupted one."""
    kwargs = dict(steps=20, eval_every=5, seed=3, precision="fp16", progress=False)
    full = drift.train("drift", moons, **kwargs)
    assert all(math.isfinite(v) for v in full.loss)
    fp32 = drift.train("drift", moons, **{**kwargs, "precision": "fp32"})
    assert abs(full.final_test_accuracy - fp32.final_test_accuracy) <= 2.0

    path = tmp_path / "ckpt.pt"

    def stop_at_10(history):
        if history.step[-1] == 10:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        drift.train("drift", moons, checkpoint=path, callback=stop_at_10, **kwargs)
    state = torch.load(path, weights_only=True)
    assert state["config"]["precision"] == "fp16"
    assert state["scaler"]["scale"] > 0 and "_growth_tracker" in state["scaler"]
    resumed = drift.train("drift", moons, checkpoint=path, **kwargs)
    assert without_seconds(resumed.to_dict()) == without_seconds(full.to_dict())


def test_precision_is_part_of_the_checkpoint_config(moons, tmp_path):
    path = tmp_path / "ckpt.pt"
    drift.train("drift", moons, steps=5, progress=False, checkpoint=path)
    with pytest.raises(ValueError, match="other arguments"):
        drift.train("drift", moons, steps=5, precision="bf16", progress=False, checkpoint=path)


@pytest.mark.parametrize("precision", ["fp64", "float16", None, "BF16"])
def test_bad_precision_names_the_argument_and_the_choices(moons, precision):
    with pytest.raises(ValueError, match=r"precision must be one of 'fp32', 'bf16', 'fp16'"):
        drift.train("drift", moons, steps=1, precision=precision, progress=False)
