"""Bad input fails early, with a message that names the argument and says what is expected."""

import pytest
import torch

import drift


def tensors(**changes):
    g = torch.Generator().manual_seed(0)
    t = dict(
        x_labeled=torch.randn(4, 3, generator=g),
        y_labeled=torch.tensor([0, 1, 2, 0]),
        x_unlabeled=torch.randn(6, 3, generator=g),
        y_unlabeled=torch.tensor([0, 1, 2, 0, 1, 2]),
        x_test=torch.randn(5, 3, generator=g),
        y_test=torch.tensor([0, 1, 2, 1, 0]),
        num_classes=3,
    )
    t.update(changes)
    return t


def test_valid_tensors_pass():
    drift.SemiSupervisedData(**tensors())


BAD_DATA = [
    # (changes, error, message)
    (dict(y_labeled=torch.tensor([0, 1, 2])), ValueError, r"y_labeled must have shape \(4,\)"),
    (
        dict(y_test=torch.tensor([[0], [1], [2], [1], [0]])),
        ValueError,
        r"y_test must have shape \(5,\)",
    ),
    (
        dict(x_test=torch.randn(5, 4)),
        ValueError,
        r"x_test has feature shape \(4,\).*x_labeled has \(3,\)",
    ),
    (dict(x_unlabeled=torch.randn(6, 3, 1)), ValueError, r"x_unlabeled has feature shape \(3, 1\)"),
    (
        dict(x_test=torch.randn(5, 3, dtype=torch.float64)),
        ValueError,
        r"x_test .*dtype torch.float64.*must agree",
    ),
    (dict(x_labeled=torch.randn(4)), ValueError, r"x_labeled must have shape \(N, \.\.\.\)"),
    (
        dict(y_labeled=torch.tensor([0.0, 1.0, 2.0, 0.0])),
        TypeError,
        r"y_labeled must hold integer class indices; got torch.float32",
    ),
    (
        dict(y_unlabeled=torch.ones(6, dtype=torch.bool)),
        TypeError,
        r"y_unlabeled must hold integer class indices",
    ),
    (
        dict(x_labeled=torch.ones(4, 3, dtype=torch.bool)),
        TypeError,
        r"x_labeled must be floating point",
    ),
    (
        dict(x_labeled=[[0.0] * 3] * 4),
        TypeError,
        r"x_labeled must be a torch.Tensor or numpy array; got list",
    ),
    (
        dict(y_labeled=torch.tensor([0, 1, 3, 0])),
        ValueError,
        r"y_labeled must hold class indices in \[0, 2\] \(num_classes=3\)",
    ),
    (
        dict(y_test=torch.tensor([0, -1, 2, 1, 0])),
        ValueError,
        r"y_test must hold class indices in \[0, 2\]",
    ),
    (
        dict(y_unlabeled=torch.tensor([0, 1, 2, 0, 1, 5])),
        ValueError,
        r"y_unlabeled must hold class indices in \[0, 2\]",
    ),
    (
        dict(x_unlabeled=torch.tensor([[float("nan"), 0.0, 0.0]] * 6)),
        ValueError,
        r"x_unlabeled contains NaN or inf",
    ),
    (dict(x_test=torch.full((5, 3), float("inf"))), ValueError, r"x_test contains NaN or inf"),
    (
        dict(x_labeled=torch.tensor([[0.0, float("-inf"), 0.0]] * 4)),
        ValueError,
        r"x_labeled contains NaN or inf",
    ),
    (
        dict(x_unlabeled=torch.empty(0, 3), y_unlabeled=None),
        ValueError,
        r"x_unlabeled must have shape \(N, \.\.\.\) with N >= 1",
    ),
    (
        dict(x_labeled=torch.empty(0, 3), y_labeled=torch.empty(0, dtype=torch.long)),
        ValueError,
        r"x_labeled must have shape .*N >= 1",
    ),
    (dict(num_classes=1), ValueError, r"num_classes must be an integer >= 2; got 1"),
    (dict(num_classes=3.0), ValueError, r"num_classes must be an integer >= 2"),
    (dict(num_classes=True), ValueError, r"num_classes must be an integer >= 2"),
]


@pytest.mark.parametrize(
    "changes, error, message",
    BAD_DATA,
    ids=[m.split(" ")[0].strip("\\(") + str(i) for i, (_, _, m) in enumerate(BAD_DATA)],
)
def test_semi_supervised_data_validation(changes, error, message):
    with pytest.raises(error, match=message):
        drift.SemiSupervisedData(**tensors(**changes))


@pytest.mark.parametrize("alpha", [1.0, -0.1, 2.0])
def test_method_alpha_out_of_range(alpha):
    with pytest.raises(ValueError, match=rf"alpha must be in \[0, 1\) .*got {alpha}"):
        drift.Method(alpha=alpha)
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\)"):
        drift.get_method("drift", alpha=alpha)


@pytest.mark.parametrize("tau", [0.0, -1.0, float("nan")])
def test_method_tau_not_positive(tau):
    with pytest.raises(ValueError, match=r"tau must be > 0"):
        drift.Method(tau=tau)


@pytest.mark.parametrize("threshold", [-0.1, 1.5])
def test_method_threshold_out_of_range(threshold):
    with pytest.raises(ValueError, match=r"threshold must be in \[0, 1\]"):
        drift.Method(threshold=threshold)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("teacher", "frozen", r"teacher must be one of 'ema', 'copy'; got 'frozen'"),
        ("labels", "fuzzy", r"labels must be one of .*'straight_through'.*got 'fuzzy'"),
        ("weights", "heavy", r"weights must be one of .*'entropy'.*got 'heavy'"),
        ("rampup_shape", "cosine", r"rampup_shape must be one of 'sigmoid', 'linear'"),
        ("refresh_every", 0, r"refresh_every must be an integer >= 1"),
        ("lam", -1.0, r"lam must be a finite number >= 0"),
        ("lam", float("inf"), r"lam must be a finite number >= 0"),
        ("rampup", 1.5, r"rampup must be in \[0, 1\]"),
    ],
)
def test_method_other_settings(field, value, message):
    with pytest.raises(ValueError, match=message):
        drift.Method(**{field: value})


def test_unknown_method_name_lists_the_valid_ones(moons):
    with pytest.raises(ValueError, match=r"method must be one of .*mean_teacher.*got 'dirft'"):
        drift.get_method("dirft")
    with pytest.raises(
        ValueError,
        match=r"method must be one of supervised, alternating, mean_teacher, drift_labels, "
        r"drift_weights, drift",
    ):
        drift.train("dirft", moons, steps=1, progress=False)


def test_unknown_override_in_train(moons):
    with pytest.raises(TypeError, match=r"unknown setting\(s\) alhpa; Method settings are .*alpha"):
        drift.train("drift", moons, steps=1, progress=False, alhpa=0.5)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(steps=0), ValueError, r"steps must be an integer >= 1; got 0"),
        (dict(steps=2.5), ValueError, r"steps must be an integer >= 1"),
        (dict(batch_size=0), ValueError, r"batch_size must be an integer >= 1"),
        (
            dict(unlabeled_batch_size=-1),
            ValueError,
            r"unlabeled_batch_size must be an integer >= 1",
        ),
        (dict(eval_every=0), ValueError, r"eval_every must be an integer >= 1"),
        (dict(lr=0.0), ValueError, r"lr must be > 0"),
        (dict(input_noise=-0.1), ValueError, r"input_noise must be >= 0"),
        (
            dict(model="resnet"),
            ValueError,
            r"model must be one of mlp, cnn, transformer, an nn.Module or a factory; got 'resnet'",
        ),
        (
            dict(model=3),
            TypeError,
            r"model must be a name \(mlp, cnn, transformer\), an nn.Module or a factory",
        ),
        (
            dict(model=lambda shape, c: "not a module"),
            TypeError,
            r"the model factory must return an nn.Module; got str",
        ),
        (dict(model="cnn"), ValueError, r"model='cnn' needs features of shape .*got \(2,\)"),
        (dict(device="tpu-ish"), ValueError, r"device must be 'auto', 'cpu', 'cuda'"),
    ],
)
def test_train_arguments(moons, kwargs, error, message):
    with pytest.raises(error, match=message):
        drift.train("drift", moons, progress=False, **{"steps": 2, **kwargs})


def test_train_data_type():
    with pytest.raises(TypeError, match=r"data must be a drift.SemiSupervisedData"):
        drift.train("drift", (torch.zeros(3, 2), torch.zeros(3)), steps=1, progress=False)


@pytest.mark.parametrize("labels_per_class", [0, -1, 2.0, True])
def test_load_data_too_few_labels(labels_per_class):
    with pytest.raises(ValueError, match=r"labels_per_class must be an integer >= 1"):
        drift.load_data("two_moons", labels_per_class=labels_per_class)


def test_load_data_more_labels_than_a_class_has():
    with pytest.raises(
        ValueError, match=r"labels_per_class must be at most 350 for 'two_moons'.*got 351"
    ):
        drift.load_data("two_moons", labels_per_class=351)
    d = drift.load_data("two_moons", labels_per_class=349)
    assert len(d.x_unlabeled) == 2
    with pytest.raises(ValueError, match=r"labels_per_class must be at most \d+ for 'digits'"):
        drift.load_data("digits", labels_per_class=10_000)


def test_load_data_labels_that_leave_no_unlabeled_set():
    """two_moons' pool has 350 examples per class: 350 labels per class leaves nothing unlabeled.
    The error must name load_data's argument, not an internal field (x_unlabeled)."""
    with pytest.raises(ValueError, match=r"labels_per_class"):
        drift.load_data("two_moons", labels_per_class=350)


def test_load_data_unknown_name_lists_the_valid_ones():
    with pytest.raises(
        ValueError,
        match=r"name must be one of two_moons, digits, mnist1d, tokens, bbc_news, "
        r"rotten_tomatoes; got 'mnist'",
    ):
        drift.load_data("mnist", labels_per_class=5)


def test_load_data_unknown_option():
    with pytest.raises(
        TypeError, match=r"unknown option\(s\) noise for 'digits'; valid: test_fraction"
    ):
        drift.load_data("digits", labels_per_class=5, noise=0.1)


def test_device_mismatch_names_the_tensor():
    torch.manual_seed(0)
    student = drift.MLP((3,), 3, hidden=(5,))
    teacher = drift.EMATeacher(student, 0.9)
    x_l, y_l, x_u = torch.randn(4, 3), torch.tensor([0, 1, 2, 0]), torch.randn(6, 3)
    with pytest.raises(RuntimeError, match=r"x_l is on meta but the student is on cpu"):
        drift.leader_objective(
            drift.METHODS["drift"], student, teacher, x_l.to("meta"), y_l, x_u, lam=1.0
        )
    with pytest.raises(RuntimeError, match=r"x_u is on meta but the student is on cpu"):
        drift.leader_objective(
            drift.METHODS["drift"], student, teacher, x_l, y_l, x_u.to("meta"), lam=1.0
        )
    with pytest.raises(RuntimeError, match=r"y_l is on meta"):
        drift.leader_objective(
            drift.METHODS["drift"], student, teacher, x_l, y_l.to("meta"), x_u, lam=0.0
        )


@pytest.mark.skipif(
    torch.cuda.is_available(), reason="checks the message on a machine without CUDA"
)
def test_cuda_requested_without_cuda(moons):
    with pytest.raises(ValueError, match=r"device='cuda' was asked for but torch sees no CUDA GPU"):
        drift.train("drift", moons, steps=1, device="cuda", progress=False)
    assert drift.resolve_device("auto") == torch.device("cpu")
