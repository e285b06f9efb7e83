"""A Hugging Face model as the student, offline: a tiny BERT built from a config (no download).

Its inputs are a dict (input_ids, attention_mask) passed as `model(**x)`, and its output is an
object carrying `.logits`. DRIFT trains it for a few steps, and the Stackelberg gradient through
it matches a float64 central difference. transformers comes with the `hf` extra (and `dev`).
"""

import pytest
import torch

import drift

transformers = pytest.importorskip("transformers")

SEQ_LEN, VOCAB, CLASSES = 8, 12, 3
LAM, EPS = 0.7, 1e-6


def tiny_bert(feature_shape=None, num_classes=CLASSES):
    """One layer, hidden size 32, no dropout (so a forward pass is a function of theta). The
    padding token is an extra id that the data never hold: nn.Embedding gives its row no
    gradient, which a finite difference would see."""
    config = transformers.BertConfig(
        vocab_size=VOCAB + 1,
        pad_token_id=VOCAB,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=SEQ_LEN,
        num_labels=num_classes,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    return transformers.BertForSequenceClassification(config)


def as_inputs(ids: torch.Tensor) -> dict:
    """Token ids (N, L) -> the dict a BERT reads; the mask hides the last position of odd rows."""
    mask = torch.ones_like(ids)
    mask[1::2, -1] = 0
    return {"input_ids": ids, "attention_mask": mask}


def token_data(n_labeled=30, n_unlabeled=120, n_test=60) -> drift.SemiSupervisedData:
    x, y = drift.data.token_sequences(
        n_labeled + n_unlabeled + n_test, seq_len=SEQ_LEN, vocab_size=VOCAB, num_classes=CLASSES
    )
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    cut = (
        slice(0, n_labeled),
        slice(n_labeled, n_labeled + n_unlabeled),
        slice(n_labeled + n_unlabeled, None),
    )
    (xl, yl), (xu, yu), (xt, yt) = [(as_inputs(x[s]), y[s]) for s in cut]
    return drift.SemiSupervisedData(xl, yl, xu, yu, xt, yt, num_classes=CLASSES)


def test_drift_trains_a_bert_on_dict_inputs():
    torch.manual_seed(0)
    history = drift.train(
        "drift", token_data(), model=tiny_bert, steps=12, batch_size=8, eval_every=6, progress=False
    )
    assert history.step == [6, 12]
    assert all(torch.isfinite(torch.tensor(history.loss)))
    assert 0 <= history.final_test_accuracy <= 100
    probs = history.predict_proba(token_data().x_test, which="teacher")  # (60, 3)
    assert probs.shape == (60, CLASSES)
    torch.testing.assert_close(probs.sum(-1), torch.ones(60))
    teacher = history.teacher_module()
    assert isinstance(teacher, transformers.BertForSequenceClassification) and not teacher.training


def test_a_model_without_enough_outputs_is_refused():
    with pytest.raises(ValueError, match=r"BertForSequenceClassification.*\(2, 3\)"):
        drift.train(
            "drift",
            token_data(),
            model=lambda shape, c: tiny_bert(num_classes=5),
            steps=1,
            progress=False,
        )


def test_stackelberg_gradient_through_bert_matches_finite_differences():
    """d F / d theta along random directions, F with the EMA teacher phi(theta) recomputed."""
    torch.manual_seed(0)
    student = tiny_bert().double()
    teacher = drift.EMATeacher(student, alpha=0.9)
    with torch.no_grad():  # theta away from phi_prev, so the teacher term has a gradient
        for p in student.parameters():
            p.add_(0.05 * torch.randn_like(p))
    data = token_data(n_labeled=6, n_unlabeled=8, n_test=1)
    method = drift.get_method("drift", alpha=0.9)
    params = [p for p in student.parameters() if p.requires_grad]

    def objective():
        return drift.leader_objective(
            method, student, teacher, data.x_labeled, data.y_labeled, data.x_unlabeled, lam=LAM
        )

    grads = torch.autograd.grad(objective(), params, allow_unused=True)
    grad = torch.cat(
        [(torch.zeros_like(p) if g is None else g).flatten() for p, g in zip(params, grads)]
    )
    theta = torch.nn.utils.parameters_to_vector(params).detach().clone()
    g = torch.Generator().manual_seed(1)
    for _ in range(2):
        v = torch.randn(theta.numel(), generator=g, dtype=torch.float64)
        values = []
        for sign in (1, -1):
            with torch.no_grad():
                torch.nn.utils.vector_to_parameters(theta + sign * EPS * v, params)
                values.append(objective().item())
        with torch.no_grad():
            torch.nn.utils.vector_to_parameters(theta, params)
        numeric = (values[0] - values[1]) / (2 * EPS)
        assert abs(grad @ v - numeric) <= 1e-6 * max(1.0, abs(numeric)), (grad @ v, numeric)
    # the teacher term carries gradient: the partial (mean teacher) derivative differs
    partial = torch.autograd.grad(
        drift.leader_objective(
            drift.get_method("mean_teacher", alpha=0.9),
            student,
            teacher,
            data.x_labeled,
            data.y_labeled,
            data.x_unlabeled,
            lam=LAM,
        ),
        params,
        allow_unused=True,
    )
    partial = torch.cat(
        [(torch.zeros_like(p) if g is None else g).flatten() for p, g in zip(params, partial)]
    )
    assert (grad - partial).norm() > 1e-3 * grad.norm()
