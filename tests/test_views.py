"""Two views: `train(..., student_view=, teacher_view=)`. The student learns on student_view(x),
the teacher labels and weighs teacher_view(x_u); the default student view is input noise."""

import pytest
import torch

import drift
from test_training import replay


def strong(x):
    """Draws from torch's global generator: a random feature dropped per row, and noise."""
    return (torch.rand_like(x) > 0.3) * x + 0.3 * torch.randn_like(x)


def weak(x):
    return x + 0.05 * torch.randn_like(x)


@pytest.mark.parametrize("method", ["drift", "mean_teacher"])
def test_views_replayed_by_hand(method, moons):
    """Per step: labeled and unlabeled indices, student_view(x_l), student_view(x_u), then
    teacher_view(x_u); the student learns on its views (no input noise on top), the teacher reads
    its own."""
    steps, seed = 8, 2
    h = drift.train(
        method,
        moons,
        steps=steps,
        seed=seed,
        eval_every=4,
        student_view=strong,
        teacher_view=weak,
        progress=False,
    )
    student, _, _ = replay(
        drift.get_method(method),
        moons,
        steps=steps,
        seed=seed,
        inputs=lambda x_l, x_u: (strong(x_l), strong(x_u), weak(x_u)),
    )
    for p, q in zip(h.model.parameters(), student.parameters()):
        assert torch.equal(p, q)


def test_teacher_view_alone_keeps_the_student_noise(moons):
    """Only a teacher view: the student still gets input_noise; an identity teacher view is the
    default run."""
    a = drift.train("drift", moons, steps=6, eval_every=3, progress=False)
    b = drift.train("drift", moons, steps=6, eval_every=3, teacher_view=lambda x: x, progress=False)
    for p, q in zip(a.model.parameters(), b.model.parameters()):
        assert torch.equal(p, q)
    c = drift.train("drift", moons, steps=6, eval_every=3, teacher_view=weak, progress=False)
    assert any(not torch.equal(p, q) for p, q in zip(a.model.parameters(), c.model.parameters()))


def test_views_apply_to_dict_inputs(moons):
    as_dict = drift.SemiSupervisedData(
        x_labeled={"x": moons.x_labeled},
        y_labeled=moons.y_labeled,
        x_unlabeled={"x": moons.x_unlabeled},
        y_unlabeled=None,
        x_test=None,
        y_test=None,
        num_classes=2,
    )
    seen = []

    class Keyword(torch.nn.Module):
        def __init__(self, feature_shape, num_classes):
            super().__init__()
            self.net = drift.MLP(feature_shape["x"], num_classes)

        def forward(self, x):
            return self.net(x)

    def view(batch):
        seen.append(sorted(batch))
        return {"x": batch["x"].flip(-1)}

    drift.train(
        "drift",
        as_dict,
        model=Keyword,
        steps=2,
        student_view=view,
        teacher_view=view,
        progress=False,
    )
    assert seen == [["x"]] * 6


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (
            dict(student_view="strong"),
            TypeError,
            r"student_view must be a function of a batch, e.g. lambda x: .*; got str",
        ),
        (dict(teacher_view=3), TypeError, r"teacher_view must be a function of a batch"),
        (
            dict(student_view=strong, input_noise=0.2),
            ValueError,
            r"input_noise is the default student view's; with student_view, add noise in your "
            r"view; got 0.2",
        ),
        (
            dict(teacher_view=lambda x: x[:3]),
            ValueError,
            r"teacher_view must return a tensor with one row per input row \(128\); got 3 rows",
        ),
        (
            dict(student_view=lambda x: x.numpy()),
            ValueError,
            r"student_view must return a tensor .*\(64\); got a ndarray",
        ),
    ],
)
def test_bad_views(moons, kwargs, error, message):
    with pytest.raises(error, match=message):
        drift.train("drift", moons, steps=1, progress=False, **kwargs)


def test_checkpoint_knows_the_views(moons, tmp_path):
    path = tmp_path / "c.pt"
    drift.train("drift", moons, steps=4, progress=False, checkpoint=path, student_view=strong)
    with pytest.raises(ValueError, match="checkpoint .*other arguments"):
        drift.train("drift", moons, steps=4, progress=False, checkpoint=path, student_view=weak)
