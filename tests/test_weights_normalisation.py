"""The weight normalisation settings of chapter 5: none, detached batch mean, batch mean with
gradient (`sample_weights(normalize=...)`, `Method.normalize_weights`)."""

import pytest
import torch

import drift
from test_gradients import (
    FROZEN,
    LAM,
    TOL,
    ReferenceF,
    autograd_gradient,
    central_difference,
    directions,
    make_problem,
    relative_error,
)


def test_normalize_values_and_their_forward_pass():
    p = torch.softmax(torch.randn(8, 4, generator=torch.Generator().manual_seed(0)), -1)
    raw = drift.sample_weights(p)
    for value in (True, "detached", "batch"):
        w = drift.sample_weights(p, normalize=value)
        torch.testing.assert_close(w, raw / raw.mean())
        assert w.mean().item() == pytest.approx(1.0)
    torch.testing.assert_close(drift.sample_weights(p, normalize=False), raw)
    # all-uniform p: weights 0
    zero = drift.sample_weights(torch.full((3, 4), 0.25), normalize="batch")
    assert torch.equal(zero, torch.zeros(3))


def test_detached_and_batch_differ_only_in_the_gradient_through_the_mean():
    logits = torch.randn(
        6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1), requires_grad=True
    )
    c = torch.rand(6, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    grads = {}
    for value in ("detached", "batch"):
        (g,) = torch.autograd.grad(
            (drift.sample_weights(logits.softmax(-1), normalize=value) * c).sum(), logits
        )
        grads[value] = g
    assert not torch.allclose(grads["detached"], grads["batch"])
    # with the gradient through the mean, scaling every weight by the same factor changes nothing:
    # sum_j w_j / mean(w) = N is constant, so a constant loss per example has zero gradient
    (g,) = torch.autograd.grad(
        drift.sample_weights(logits.softmax(-1), normalize="batch").sum(), logits
    )
    assert g.abs().max().item() < 1e-12
    (g,) = torch.autograd.grad(
        drift.sample_weights(logits.softmax(-1), normalize="detached").sum(), logits
    )
    assert g.abs().max().item() > 1e-3


@pytest.mark.parametrize("bad", ["mean", "Batch", 1, 0, None, 0.5])
def test_bad_normalize_values_are_refused(bad):
    p = torch.full((2, 3), 1 / 3)
    with pytest.raises(
        ValueError, match="normalize must be one of False, True, 'detached' or 'batch'"
    ):
        drift.sample_weights(p, normalize=bad)
    with pytest.raises(
        ValueError, match="normalize_weights must be one of False, True, 'detached' or 'batch'"
    ):
        drift.Method(normalize_weights=bad)
    with pytest.raises(ValueError, match="normalize_weights"):
        drift.get_method("drift_weights", normalize_weights=bad)


@pytest.mark.parametrize("value", [False, True, "detached", "batch"])
def test_method_accepts_every_normalisation(value):
    assert drift.get_method("drift_weights", normalize_weights=value).normalize_weights == value


@pytest.mark.parametrize("alpha", [0.5, 0.9])
@pytest.mark.parametrize("name", list(FROZEN))
def test_batch_normalised_gradient_matches_finite_difference(name, alpha):
    """float64: autograd through w / mean(w) (weights path live) equals the central difference."""
    student, teacher, x_l, y_l, x_u = make_problem(alpha)
    method = drift.get_method(name, alpha=alpha, normalize_weights="batch")
    reference = ReferenceF(method, student, teacher, x_l, y_l, x_u)
    value = drift.leader_objective(method, student, teacher, x_l, y_l, x_u, lam=LAM)
    assert reference(freeze_labels=False, freeze_weights=False).item() == pytest.approx(
        value.item(), rel=1e-12
    )
    grad = autograd_gradient(student, value)
    freeze_labels, freeze_weights = FROZEN[name]
    fn = lambda: reference(freeze_labels=freeze_labels, freeze_weights=freeze_weights)  # noqa: E731
    for v in directions(grad.numel()):
        assert relative_error(grad @ v, central_difference(student, fn, v)) < TOL


def test_batch_and_detached_weight_paths_differ():
    """On the weights path the two normalisations give different gradients (the mean's term);
    without the weights path (mean teacher) they are identical."""
    student, teacher, x_l, y_l, x_u = make_problem(0.5)
    grads = {}
    for name in ("drift_weights", "mean_teacher"):
        for value in ("detached", "batch"):
            m = drift.get_method(name, alpha=0.5, normalize_weights=value)
            grads[name, value] = autograd_gradient(
                student, drift.leader_objective(m, student, teacher, x_l, y_l, x_u, lam=LAM)
            )
    assert (grads["drift_weights", "detached"] - grads["drift_weights", "batch"]).norm() > 1e-6
    torch.testing.assert_close(
        grads["mean_teacher", "detached"], grads["mean_teacher", "batch"], rtol=0, atol=1e-14
    )
