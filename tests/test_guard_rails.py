"""Guards for what a refactor of the training loop could break unseen: the fp16 GradScaler's
state across a resume, and the loss means of a last evaluation interval shorter than
`eval_every`, in both engines. (A mutation test of the suite found both unguarded: every other
resume test runs fp32, and every comparison used a step count that eval_every divides.)"""

import functools

import pytest
import torch

import drift


@pytest.fixture
def eager_scaler(monkeypatch):
    """A GradScaler that changes its scale on every step (growth_interval=1: it doubles after
    each finite step and halves, skipping the step, after an overflow), so that a resume which
    forgot the scaler's state would continue from another scale and diverge."""
    monkeypatch.setattr(
        torch.amp, "GradScaler", functools.partial(torch.amp.GradScaler, growth_interval=1)
    )


def test_fp16_resume_continues_the_scaler_state(eager_scaler, moons, tmp_path, without_seconds):
    kwargs = dict(steps=24, eval_every=6, seed=5, precision="fp16", progress=False)
    full = drift.train("drift", moons, **kwargs)
    path = tmp_path / "ckpt.pt"

    def stop_at_12(history):
        if history.step[-1] == 12:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        drift.train("drift", moons, checkpoint=path, callback=stop_at_12, **kwargs)
    saved = torch.load(path, weights_only=True)["scaler"]
    assert saved["scale"] != 2.0**16, (
        "the scale moved before the interruption (else this test is blind)"
    )
    resumed = drift.train("drift", moons, checkpoint=path, **kwargs)
    assert without_seconds(resumed.to_dict()) == without_seconds(full.to_dict())
    for p, q in zip(resumed.model.parameters(), full.model.parameters()):
        assert torch.equal(p, q)


def _recorded_step_losses(monkeypatch, module):
    """Wrap `module.training_step` to record each step's [F, supervised, unlabeled]."""
    seen = []
    step = module.training_step

    def recording(*args, **kwargs):
        parts = step(*args, **kwargs)
        seen.append(list(parts))
        return parts

    monkeypatch.setattr(module, "training_step", recording)
    return seen


@pytest.mark.parametrize("method", ["drift", "mean_teacher"])
def test_the_last_short_interval_is_averaged_over_its_own_steps(method, moons, monkeypatch):
    """23 steps, evaluated every 5: the last evaluation covers steps 21-23, so its loss is the
    mean over those 3 steps, not their sum over 5."""
    seen = _recorded_step_losses(monkeypatch, drift.training.loop)
    h = drift.train(method, moons, steps=23, eval_every=5, seed=1, progress=False)
    assert h.step == [5, 10, 15, 20, 23] and len(seen) == 23
    for series, k in ((h.loss, 0), (h.supervised_loss, 1), (h.unlabeled_loss, 2)):
        assert series[-1] == pytest.approx(sum(s[k] for s in seen[20:]) / 3, rel=1e-6)
        assert series[0] == pytest.approx(sum(s[k] for s in seen[:5]) / 5, rel=1e-6)


def test_the_batched_engine_averages_the_last_short_interval_like_train(moons):
    """`compare`'s batched engine records the same loss means as `train`, short last interval
    included (the runs are the same bits, up to the batched kernels' rounding)."""
    kwargs = dict(steps=23, eval_every=5)
    single = drift.train("drift", moons, seed=0, progress=False, **kwargs)
    batched = drift.compare(
        ["drift"], moons, seeds=[0], reference=None, workers=1, progress=False, **kwargs
    ).histories["drift"][0]
    assert batched.step == single.step == [5, 10, 15, 20, 23]
    for name in ("loss", "supervised_loss", "unlabeled_loss"):
        assert getattr(batched, name) == pytest.approx(getattr(single, name), rel=1e-4, abs=1e-6), (
            name
        )
