"""Bring your own model and data: BatchNorm, dropout and Transformer students; a user's tensors;
the synthetic token task (`drift.token_sequences`, data set "tokens")."""

import functools
import types

import numpy as np
import pytest
import torch
from sklearn.datasets import make_blobs
from sklearn.linear_model import LogisticRegression
from torch import nn
from torch.func import functional_call

import drift
from test_gradients import TOL, autograd_gradient, central_difference, directions

ALPHA = 0.8


# --- the token task -------------------------------------------------------------------------


def test_token_sequences_are_deterministic_per_seed_and_balanced():
    x, y = drift.token_sequences(301, seq_len=8, vocab_size=6, num_classes=3, seed=4)
    x2, y2 = drift.token_sequences(301, seq_len=8, vocab_size=6, num_classes=3, seed=4)
    x3, _ = drift.token_sequences(301, seq_len=8, vocab_size=6, num_classes=3, seed=5)
    assert np.array_equal(x, x2) and np.array_equal(y, y2) and not np.array_equal(x, x3)
    assert x.shape == (301, 8) and x.dtype == np.int64 and y.shape == (301,)
    counts = np.bincount(y, minlength=3)
    assert counts.max() - counts.min() <= 1
    assert x.min() >= 0 and x.max() < 6


def test_token_class_is_the_first_marker_and_every_marker_appears_once():
    x, y = drift.token_sequences(500, seq_len=10, vocab_size=7, num_classes=4, seed=0)
    for c in range(4):
        assert ((x == c).sum(axis=1) == 1).all()
    first_marker = x[np.arange(len(x)), (x < 4).argmax(axis=1)]
    assert np.array_equal(first_marker, y)


def test_bag_of_tokens_is_at_chance_on_the_token_task():
    """Token counts carry no class information: only the order does."""
    data = drift.load_data("tokens", labels_per_class=20, seed=0)

    def bag(x):  # (N, L) ids -> (N, V) counts
        return np.stack([np.bincount(row, minlength=5) for row in x.numpy()])

    # all labels
    clf = LogisticRegression(max_iter=1000).fit(bag(data.x_unlabeled), data.y_unlabeled.numpy())
    assert clf.score(bag(data.x_test), data.y_test.numpy()) < 1 / 3 + 0.06


def test_tokens_data_set_keeps_ids_and_options():
    data = drift.load_data(
        "tokens", labels_per_class=5, seed=1, seq_len=6, vocab_size=8, num_classes=2
    )
    assert (
        data.x_labeled.dtype == torch.long and data.feature_shape == (6,) and data.num_classes == 2
    )
    assert int(data.x_test.max()) < 8 and len(data.y_labeled) == 10
    assert "tokens" in drift.DATASETS


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(num_samples=0), "num_samples must be an integer >= 1"),
        (
            dict(num_samples=10, num_classes=4, seq_len=3),
            "seq_len must be an integer >= num_classes=4",
        ),
        (
            dict(num_samples=10, num_classes=3, vocab_size=3),
            "vocab_size must be an integer > num_classes=3",
        ),
    ],
)
def test_token_sequences_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        drift.token_sequences(**kwargs)


# --- the Transformer student ---------------------------------------------------------------


def test_transformer_trains_with_drift_on_the_token_task():
    data = drift.load_data("tokens", labels_per_class=30, seed=0)
    history = drift.train(
        "drift", data, model="transformer", steps=150, batch_size=32, lr=5e-3, progress=False
    )
    assert history.final_test_accuracy > 60  # chance is 33.3
    assert history.teacher.params["tokens.weight"].shape == (64, 32)


def test_transformer_rejects_wrong_inputs():
    model = drift.TransformerClassifier((4,), 2, vocab_size=5)
    with pytest.raises(TypeError, match="integer token ids"):
        model(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="token ids must lie in"):
        model(torch.full((2, 4), 5))
    with pytest.raises(ValueError, match="feature_shape"):
        drift.TransformerClassifier((4, 4), 2)


def tiny_transformer_problem():
    """A float64 Transformer student whose phi_prev differs from theta, and token batches."""
    torch.manual_seed(0)
    student = drift.TransformerClassifier(
        (5,), 3, vocab_size=6, d_model=8, nhead=2, dim_feedforward=8
    ).double()
    teacher = drift.EMATeacher(student, ALPHA)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in student.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    x_l = torch.randint(0, 6, (4, 5), generator=g)
    y_l = torch.tensor([0, 1, 2, 1])
    x_u = torch.randint(0, 6, (6, 5), generator=g)
    return student, teacher, x_l, y_l, x_u


def _gradient(student, value):
    return torch.autograd.grad(value, list(student.parameters()))


def test_stackelberg_gradient_through_embeddings_matches_finite_differences():
    student, teacher, x_l, y_l, x_u = tiny_transformer_problem()
    method = drift.get_method("drift", alpha=ALPHA)

    def F():
        return drift.leader_objective(method, student, teacher, x_l, y_l, x_u, lam=0.7)

    grad = autograd_gradient(student, F())
    for v in directions(grad.numel(), seed=2):
        fd = central_difference(student, F, v)
        assert abs(grad @ v - fd) / max(abs(fd), 1e-12) < TOL


def test_teacher_path_gradient_reaches_the_embeddings_and_matches_a_reference():
    """DRIFT - mean teacher = the Stackelberg term. Through the embeddings it must be non-zero
    and equal (1 - alpha) times the gradient, w.r.t. the teacher's own embedding table, of the
    unlabeled loss with the student's logits held fixed (chain rule through phi = EMA)."""
    student, teacher, x_l, y_l, x_u = tiny_transformer_problem()
    lam = 0.7
    names = [k for k, _ in student.named_parameters()]
    i = names.index("tokens.weight")
    drift_g = _gradient(
        student,
        drift.leader_objective(
            drift.get_method("drift", alpha=ALPHA), student, teacher, x_l, y_l, x_u, lam=lam
        ),
    )
    mt_g = _gradient(
        student,
        drift.leader_objective(
            drift.get_method("mean_teacher", alpha=ALPHA), student, teacher, x_l, y_l, x_u, lam=lam
        ),
    )
    term = drift_g[i] - mt_g[i]
    assert term.abs().max() > 1e-6

    with torch.no_grad():
        student_logits = student(torch.cat([x_l, x_u]))[len(x_l) :]  # (N_u, C), held fixed
    phi = {
        k: (ALPHA * teacher.params[k] + (1 - ALPHA) * p).detach().requires_grad_()
        for k, p in student.named_parameters()
    }
    student.eval()
    g = functional_call(student, {**phi, **teacher.buffers}, (x_u,))
    student.train()
    labels = drift.soft_labels(g, 1.0)
    weights = drift.entropy_weights(torch.softmax(g, -1))
    unlabeled = (weights * drift.soft_cross_entropy(student_logits, labels)).mean()
    (d_phi,) = torch.autograd.grad(lam * unlabeled, [phi["tokens.weight"]])
    torch.testing.assert_close(term, (1 - ALPHA) * d_phi, rtol=1e-9, atol=1e-12)


# --- BatchNorm and dropout students --------------------------------------------------------


def test_dropout_student_teacher_is_deterministic_while_student_trains_with_dropout(moons):
    torch.manual_seed(0)
    student = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Dropout(0.5), nn.Linear(64, 2))
    history = drift.train("drift", moons, model=student, steps=20, progress=False)
    teacher = history.teacher
    assert student.training  # left in training mode
    x = moons.x_unlabeled[:50]
    with torch.no_grad():
        a, b = teacher.logits(student, x), teacher.logits(student, x)
        assert torch.equal(a, b)  # eval policy: no dropout in the teacher
        student.eval()
        reference = functional_call(student, teacher.state(), (x,))
        student.train()
        torch.testing.assert_close(a, reference, rtol=0, atol=0)
        assert student.training  # teacher.logits restored the student's mode
        assert not torch.equal(student(x), student(x))  # the student's own forward drops units


# --- a user's own tensors ------------------------------------------------------------------


def _blobs():
    # float64, int64
    x, y = make_blobs(n_samples=600, centers=3, n_features=5, cluster_std=2.0, random_state=0)
    return x, y


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_users_own_tensors_train(kind):
    x, y = _blobs()
    if kind == "torch":
        x, y = torch.tensor(x, dtype=torch.float32), torch.tensor(y)
    labeled = np.concatenate([np.flatnonzero(np.asarray(y) == c)[:5] for c in range(3)])
    rest = np.setdiff1d(np.arange(400), labeled)
    data = drift.SemiSupervisedData(
        x_labeled=x[labeled],
        y_labeled=y[labeled],
        x_unlabeled=x[rest],
        y_unlabeled=None,
        x_test=x[400:],
        y_test=y[400:],
        num_classes=3,
    )
    assert data.x_labeled.dtype == torch.float32  # NumPy float64 meets the float32 models
    history = drift.train("drift", data, steps=100, progress=False)
    assert history.final_test_accuracy > 90
    assert np.isnan(history.pseudo_label_accuracy[-1])  # no hidden labels given


# --- model outputs: tensors, dicts and objects carrying logits; the probe forward pass ---------


class Wrapped(nn.Module):
    """An MLP whose output is wrapped as `kind`: a tensor, {"logits": ...} or an object with
    .logits."""

    def __init__(self, feature_shape, num_classes, kind="tensor"):
        super().__init__()
        self.net, self.kind = drift.MLP(feature_shape, num_classes, hidden=(16,)), kind

    def forward(self, x):
        out = self.net(x)
        if self.kind == "dict":
            return {"logits": out, "hidden": out.detach()}
        if self.kind == "object":
            return types.SimpleNamespace(logits=out, loss=None)
        return out


@pytest.mark.parametrize("kind", ["dict", "object"])
def test_outputs_carrying_logits_train_like_a_tensor_output(kind, moons, without_seconds):
    runs = {
        k: drift.train(
            "drift",
            moons,
            model=functools.partial(Wrapped, kind=k),
            steps=10,
            eval_every=5,
            progress=False,
        )
        for k in ("tensor", kind)
    }
    assert without_seconds(runs["tensor"].to_dict()) == without_seconds(runs[kind].to_dict())
    torch.testing.assert_close(
        runs[kind].predict_proba(moons.x_test), runs["tensor"].predict_proba(moons.x_test)
    )
    with torch.no_grad():
        teacher = torch.softmax(drift.logits_of(runs[kind].teacher_module()(moons.x_test)), -1)
    torch.testing.assert_close(teacher, runs["tensor"].predict_proba(moons.x_test, which="teacher"))


def test_logits_of():
    z = torch.randn(3, 2)
    assert drift.logits_of(z) is z
    assert (
        drift.logits_of({"logits": z}) is z
        and drift.logits_of(types.SimpleNamespace(logits=z)) is z
    )
    with pytest.raises(TypeError, match="a model's output must be a tensor of logits, .*got tuple"):
        drift.logits_of((z,))


class Outputs(nn.Module):
    def __init__(self, make):
        super().__init__()
        self.linear, self.make = nn.Linear(2, 7), make

    def forward(self, x):
        return self.make(self.linear(x))


@pytest.mark.parametrize(
    "make, got",
    [
        (lambda z: z, r"torch.float32 logits of shape \(2, 7\)"),  # 7 outputs on a 2-class problem
        (lambda z: z[:, 0], r"torch.float32 logits of shape \(2,\)"),
        (lambda z: z[:, :2].long(), r"torch.int64 logits of shape \(2, 2\)"),
        (lambda z: (z[:, :2],), r"a tuple without logits"),
        (lambda z: {"scores": z[:, :2]}, r"a dict without logits"),
    ],
)
def test_a_wrong_output_is_refused_before_training_naming_the_model(make, got, moons):
    with pytest.raises(
        ValueError,
        match=rf"model Outputs gave {got} for 2 examples; expected floating-point logits of "
        r"shape \(2, 2\), one per class \(num_classes=2\)",
    ):
        drift.train("drift", moons, model=Outputs(make), steps=1, progress=False)
