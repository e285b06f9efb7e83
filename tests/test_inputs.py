"""Several inputs: every x_* may be a dict of tensors sharing the first dimension, passed to the
model as `model(**x)` by the student and the teacher alike (`drift.inputs`)."""

import math

import numpy as np
import pytest
import torch
from torch import nn

import drift
from drift import inputs
from test_gradients import TOL, autograd_gradient, central_difference, directions, relative_error


class IdsAndFeatures(nn.Module):
    """Token ids (N, L) and float features (N, F) -> logits (N, C); records its training-mode
    inputs."""

    def __init__(self, feature_shape, num_classes, vocab=6):
        super().__init__()
        (length,), (features,) = feature_shape["ids"], feature_shape["features"]
        self.embed = nn.Embedding(vocab, 4)
        self.head = nn.Linear(4 * length + features, num_classes)
        self.seen = []

    def forward(self, ids, features):
        if self.training:
            self.seen.append((ids, features))
        return self.head(torch.cat([self.embed(ids).flatten(1), features], 1))


def dict_data(n_l=6, n_u=20, n_t=10, seed=0, **changes):
    g = torch.Generator().manual_seed(seed)

    def x(n):
        return {
            "ids": torch.randint(0, 6, (n, 5), generator=g),
            "features": torch.randn(n, 3, generator=g),
        }

    parts = dict(
        x_labeled=x(n_l),
        y_labeled=torch.arange(n_l) % 3,
        x_unlabeled=x(n_u),
        y_unlabeled=torch.arange(n_u) % 3,
        x_test=x(n_t),
        y_test=torch.arange(n_t) % 3,
        num_classes=3,
    )
    parts.update(changes)
    return parts


def test_helpers_treat_tensors_and_dicts_alike():
    t = torch.arange(12.0).reshape(6, 2)
    d = {"a": t, "ids": torch.arange(6)}
    assert inputs.num_rows(t) == inputs.num_rows(d) == 6
    assert torch.equal(inputs.take(d, torch.tensor([4, 1]))["ids"], torch.tensor([4, 1]))
    assert torch.equal(inputs.take(t, slice(0, 2)), t[:2])
    both = inputs.cat([d, inputs.take(d, slice(0, 1))])
    assert both["a"].shape == (7, 2) and both["ids"].shape == (7,)
    assert inputs.feature_shape(d) == {"a": (2,), "ids": ()} and inputs.feature_shape(t) == (2,)
    assert inputs.to_device(d, "meta")["a"].device.type == "meta"
    assert inputs.as_args(t) == ((t,), {}) and inputs.as_args(d) == ((), d)


def test_noise_goes_to_floating_tensors_only_one_draw_each_in_order():
    d = {
        "ids": torch.arange(6).reshape(3, 2),
        "a": torch.zeros(3, 2),
        "mask": torch.ones(3, 2, dtype=torch.bool),
        "b": torch.zeros(3, 4),
    }
    torch.manual_seed(0)
    noisy = inputs.add_noise(d, 0.5)
    torch.manual_seed(0)
    a, b = 0.5 * torch.randn(3, 2), 0.5 * torch.randn(3, 4)
    assert noisy["ids"] is d["ids"] and noisy["mask"] is d["mask"]
    assert torch.equal(noisy["a"], a) and torch.equal(noisy["b"], b)
    assert inputs.add_noise(d, 0.0)["a"] is d["a"]


def test_dict_data_validates_converts_and_moves():
    parts = dict_data()
    # NumPy values are converted
    parts["x_test"] = {k: v.numpy() for k, v in parts["x_test"].items()}
    parts["x_test"]["features"] = parts["x_test"]["features"].astype(np.float64)
    data = drift.SemiSupervisedData(**parts)
    assert (
        data.x_test["features"].dtype == torch.float32 and data.x_test["ids"].dtype == torch.int64
    )
    assert data.feature_shape == {"ids": (5,), "features": (3,)}
    assert "unlabeled=20" in repr(data) and data.to("cpu").x_unlabeled["ids"].shape == (20, 5)
    val = data.with_validation(0.25)
    assert inputs.num_rows(val.x_test) == 5 and inputs.num_rows(val.x_unlabeled) == 15
    parts = dict_data(x_test=None, y_test=None)  # booleans are allowed inside a dict (masks)
    for part in ("x_labeled", "x_unlabeled"):
        parts[part]["mask"] = torch.ones(len(parts[part]["ids"]), 5, dtype=torch.bool)
    assert drift.SemiSupervisedData(**parts).x_labeled["mask"].dtype == torch.bool


def _renamed(x, old, new):
    return {new if k == old else k: v for k, v in x.items()}


BAD = [
    (
        lambda p: dict(x_test=_renamed(p["x_test"], "ids", "input_ids")),
        ValueError,
        r"x_test has keys \['input_ids', 'features'\] but x_labeled has \['ids', 'features'\]; all "
        r"x_\* must have the same",
    ),
    (
        lambda p: dict(x_unlabeled={**p["x_unlabeled"], "features": torch.randn(19, 3)}),
        ValueError,
        r"the tensors of x_unlabeled must share the first dimension .*'ids': 20, 'features': 19",
    ),
    (
        lambda p: dict(x_test=p["x_test"]["features"]),
        TypeError,
        r"x_test is a tensor but x_labeled is a dict; all x_\* must be of one kind",
    ),
    (
        lambda p: dict(x_unlabeled={**p["x_unlabeled"], "ids": torch.randint(0, 6, (20, 7))}),
        ValueError,
        r"x_unlabeled\['ids'\] has feature shape \(7,\) and dtype torch.int64, but "
        r"x_labeled\['ids'\] has \(5,\)",
    ),
    (
        lambda p: dict(
            x_unlabeled={**p["x_unlabeled"], "features": p["x_unlabeled"]["features"].double()}
        ),
        ValueError,
        r"x_unlabeled\['features'\] .*dtype torch.float64.*must agree",
    ),
    (
        lambda p: dict(x_labeled={**p["x_labeled"], "features": torch.full((6, 3), math.nan)}),
        ValueError,
        r"x_labeled\['features'\] contains NaN or inf",
    ),
    (
        lambda p: dict(x_labeled={}),
        TypeError,
        r"x_labeled must be a tensor or a non-empty dict of tensors with str keys",
    ),
    (
        lambda p: dict(x_labeled={**p["x_labeled"], "ids": [[0] * 5] * 6}),
        TypeError,
        r"x_labeled\['ids'\] must be a torch.Tensor or numpy array; got list",
    ),
    (
        lambda p: dict(y_labeled=torch.arange(5) % 3),
        ValueError,
        r"y_labeled must have shape \(6,\) to match x_labeled",
    ),
]


@pytest.mark.parametrize("change, error, message", BAD, ids=range(len(BAD)))
def test_bad_dict_inputs_name_the_part_and_the_fix(change, error, message):
    parts = dict_data()
    with pytest.raises(error, match=message):
        drift.SemiSupervisedData(**{**parts, **change(parts)})


def test_named_models_refuse_dict_inputs():
    data = drift.SemiSupervisedData(**dict_data())
    with pytest.raises(
        ValueError,
        match=r"model='mlp' reads one tensor, but the inputs are a dict \(ids, features\): pass",
    ):
        drift.train("drift", data, model="mlp", steps=1, progress=False)


def test_dict_inputs_train_as_keyword_arguments_with_noise_on_floats_only():
    data = drift.SemiSupervisedData(**dict_data())
    shapes = []

    def factory(feature_shape, num_classes):
        shapes.append(feature_shape)
        return IdsAndFeatures(feature_shape, num_classes)

    h = drift.train(
        "drift", data, model=factory, steps=6, batch_size=4, eval_every=3, progress=False
    )
    assert shapes == [{"ids": (5,), "features": (3,)}]
    assert all(math.isfinite(v) for v in h.loss + h.test_accuracy + h.pseudo_label_accuracy)
    ids, features = h.model.seen[-1]  # the last step's student batch: 4 labeled + 8 unlabeled rows
    assert ids.shape == (12, 5) and features.shape == (12, 3)
    pool = torch.cat([data.x_labeled["ids"], data.x_unlabeled["ids"]])
    assert all((row == pool).all(1).any() for row in ids)  # ids are rows of the data, untouched
    pool = torch.cat([data.x_labeled["features"], data.x_unlabeled["features"]])
    assert not any((row == pool).all(1).any() for row in features)  # features carry noise
    p = h.predict_proba(
        {k: v.numpy() for k, v in data.x_test.items()}, which="teacher", batch_size=3
    )
    assert p.shape == (10, 3)
    torch.testing.assert_close(
        p, torch.softmax(h.teacher.logits(h.model, data.x_test), -1).detach()
    )


class Keyword(nn.Module):
    """drift.MLP called as model(x=...)."""

    def __init__(self, feature_shape, num_classes):
        super().__init__()
        self.net = drift.MLP(feature_shape["x"], num_classes)

    def forward(self, x):
        return self.net(x)


def test_a_one_key_dict_trains_exactly_like_the_tensor(moons, without_seconds):
    as_dict = drift.SemiSupervisedData(
        x_labeled={"x": moons.x_labeled},
        y_labeled=moons.y_labeled,
        x_unlabeled={"x": moons.x_unlabeled},
        y_unlabeled=moons.y_unlabeled,
        x_test={"x": moons.x_test},
        y_test=moons.y_test,
        num_classes=2,
    )
    a = drift.train("drift", moons, steps=10, eval_every=5, progress=False)
    b = drift.train("drift", as_dict, model=Keyword, steps=10, eval_every=5, progress=False)
    assert without_seconds(a.to_dict()) == without_seconds(b.to_dict())


def test_stackelberg_gradient_with_dict_inputs_matches_finite_differences():
    """The teacher runs through functional_call with keyword arguments; the total derivative
    holds."""
    torch.manual_seed(0)
    student = IdsAndFeatures({"ids": (5,), "features": (3,)}, 3).double()
    teacher = drift.EMATeacher(student, 0.7)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in student.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    parts = dict_data(seed=2)
    x_l = {k: v.double() if v.is_floating_point() else v for k, v in parts["x_labeled"].items()}
    x_u = {k: v.double() if v.is_floating_point() else v for k, v in parts["x_unlabeled"].items()}
    method = drift.get_method("drift", alpha=0.7)

    def F():
        return drift.leader_objective(
            method, student, teacher, x_l, parts["y_labeled"], x_u, lam=0.7
        )

    grad = autograd_gradient(student, F())
    for v in directions(grad.numel()):
        assert relative_error(grad @ v, central_difference(student, F, v)) < TOL


def test_a_hugging_face_model_trains_on_dict_inputs():
    transformers = pytest.importorskip("transformers")
    config = transformers.BertConfig(
        vocab_size=16,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
        max_position_embeddings=16,
        num_labels=3,
    )
    g = torch.Generator().manual_seed(0)

    def x(n):
        ids = torch.randint(1, 16, (n, 6), generator=g)
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}

    data = drift.SemiSupervisedData(
        x_labeled=x(6),
        y_labeled=torch.arange(6) % 3,
        x_unlabeled=x(12),
        y_unlabeled=None,
        x_test=x(6),
        y_test=torch.arange(6) % 3,
        num_classes=3,
    )
    torch.manual_seed(0)
    bert = transformers.BertForSequenceClassification(config)
    h = drift.train("drift", data, model=bert, steps=3, batch_size=4, eval_every=3, progress=False)
    assert math.isfinite(h.loss[-1]) and h.predict(data.x_test).shape == (6,)
