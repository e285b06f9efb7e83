"""Properties of the pseudo-label and sample-weight functions (the book's notation page)."""

import math

import pytest
import torch
import torch.nn.functional as F

import drift


def logits(n=32, c=5, seed=0, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    return scale * torch.randn(n, c, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("tau", [0.1, 0.5, 1.0, 3.0])
def test_soft_labels_are_distributions(tau):
    y = drift.soft_labels(logits(), tau)
    assert y.shape == (32, 5)
    assert (y >= 0).all()
    torch.testing.assert_close(y.sum(-1), torch.ones(32, dtype=torch.float64), rtol=0, atol=1e-12)
    torch.testing.assert_close(y, torch.softmax(logits() / tau, -1), rtol=0, atol=0)


def test_small_tau_approaches_hard_labels():
    g = logits()
    top2 = g.topk(2, dim=-1).values
    assert (top2[:, 0] - top2[:, 1]).min() > 0.01  # distinct maxima, so argmax is well defined
    hard = drift.hard_labels(g)
    errors = [
        (drift.soft_labels(g, tau) - hard).abs().max().item()
        for tau in (1.0, 0.1, 0.01, 1e-3, 1e-4)
    ]
    assert all(a > b for a, b in zip(errors, errors[1:]))
    assert errors[-1] < 1e-12


def test_hard_labels_are_one_hot_argmax():
    g = logits()
    hard = drift.hard_labels(g)
    assert hard.dtype == g.dtype
    torch.testing.assert_close(hard, F.one_hot(g.argmax(-1), 5).to(g.dtype), rtol=0, atol=0)
    torch.testing.assert_close(hard.sum(-1), torch.ones(32, dtype=g.dtype), rtol=0, atol=0)


def test_straight_through_is_hard_forward_and_soft_backward():
    g = logits().requires_grad_()
    st = drift.straight_through_labels(g, 0.5)
    torch.testing.assert_close(st, drift.hard_labels(g), rtol=0, atol=0)
    r = torch.randn(32, 5, dtype=torch.float64)
    (grad_st,) = torch.autograd.grad((st * r).sum(), g)
    (grad_soft,) = torch.autograd.grad((drift.soft_labels(g, 0.5) * r).sum(), g)
    torch.testing.assert_close(grad_st, grad_soft, rtol=0, atol=1e-15)
    assert grad_st.abs().max() > 0


def test_hard_labels_carry_no_gradient():
    g = logits().requires_grad_()
    assert not drift.hard_labels(g).requires_grad


def test_pseudo_labels_dispatch():
    g = logits()
    torch.testing.assert_close(
        drift.pseudo_labels(g, "soft", 0.5), drift.soft_labels(g, 0.5), rtol=0, atol=0
    )
    torch.testing.assert_close(drift.pseudo_labels(g, "hard"), drift.hard_labels(g), rtol=0, atol=0)
    torch.testing.assert_close(
        drift.pseudo_labels(g, "straight_through", 0.5), drift.hard_labels(g), rtol=0, atol=0
    )
    with pytest.raises(ValueError, match="kind must be .*'soft'.*; got 'fuzzy'"):
        drift.pseudo_labels(g, "fuzzy")


def test_entropy_weight_range_and_extremes():
    p = torch.softmax(logits(n=200), -1)
    w = drift.entropy_weights(p)
    assert w.shape == (200,)
    assert (w >= 0).all() and (w <= 1).all()
    one_hot = torch.eye(5, dtype=torch.float64)
    assert torch.equal(drift.entropy_weights(one_hot), torch.ones(5, dtype=torch.float64))
    uniform = torch.full((3, 5), 0.2, dtype=torch.float64)
    torch.testing.assert_close(
        drift.entropy_weights(uniform), torch.zeros(3, dtype=torch.float64), rtol=0, atol=1e-12
    )
    # the entropy in nats, 0 log 0 = 0
    torch.testing.assert_close(
        drift.entropy(uniform), torch.full((3,), math.log(5), dtype=torch.float64)
    )
    assert torch.equal(drift.entropy(one_hot), torch.zeros(5, dtype=torch.float64))


def test_entropy_weight_is_differentiable_and_finite_at_one_hot():
    g = logits().requires_grad_()
    (grad,) = torch.autograd.grad(drift.entropy_weights(torch.softmax(g, -1)).sum(), g)
    assert torch.isfinite(grad).all() and grad.abs().max() > 0
    # more confident -> larger weight
    p_sure = torch.tensor([[0.9, 0.05, 0.05]], dtype=torch.float64)
    p_unsure = torch.tensor([[0.5, 0.25, 0.25]], dtype=torch.float64)
    assert drift.entropy_weights(p_sure) > drift.entropy_weights(p_unsure)


def test_threshold_weights():
    p = torch.tensor(
        [[0.9, 0.1], [0.5, 0.5], [0.8, 0.2], [0.1, 0.9], [0.7, 0.3]], dtype=torch.float64
    )
    w = drift.threshold_weights(p, 0.8)
    # max p >= threshold
    assert torch.equal(w, torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0], dtype=torch.float64))
    torch.testing.assert_close(
        drift.sample_weights(p, "threshold", threshold=0.8), w, rtol=0, atol=0
    )
    assert torch.equal(drift.threshold_weights(p, 0.0), torch.ones(5, dtype=torch.float64))


def test_uniform_weights():
    p = torch.softmax(logits(), -1)
    w = drift.sample_weights(p, "uniform")
    assert torch.equal(w, torch.ones(32, dtype=torch.float64))
    with pytest.raises(ValueError, match="kind must be .*'entropy'.*; got 'heavy'"):
        drift.sample_weights(p, "heavy")


@pytest.mark.parametrize("kind", ["entropy", "threshold", "uniform"])
def test_normalised_weights_have_mean_one(kind):
    p = torch.softmax(logits(), -1)
    w = drift.sample_weights(p, kind, threshold=0.6, normalize=True)
    assert w.mean().item() == pytest.approx(1.0, abs=1e-12)
    raw = drift.sample_weights(p, kind, threshold=0.6)
    torch.testing.assert_close(w, raw / raw.mean(), rtol=1e-15, atol=0)


def test_normalisation_is_stop_gradient_in_the_mean():
    g = logits().requires_grad_()
    c = torch.randn(32, dtype=torch.float64)
    w = drift.sample_weights(torch.softmax(g, -1), "entropy", normalize=True)
    (grad,) = torch.autograd.grad((c * w).sum(), g)
    raw = drift.sample_weights(torch.softmax(g, -1), "entropy")
    mean = raw.mean().item()  # a constant
    (expected,) = torch.autograd.grad((c * raw).sum() / mean, g, retain_graph=True)
    torch.testing.assert_close(grad, expected, rtol=1e-12, atol=1e-15)
    # and differs from the gradient through the mean
    (through_mean,) = torch.autograd.grad((c * raw / raw.mean()).sum(), g)
    assert (grad - through_mean).abs().max() > 1e-3


def test_normalising_all_zero_weights_keeps_them_zero():
    p = torch.full((4, 5), 0.2, dtype=torch.float64)
    w = drift.sample_weights(p, "threshold", threshold=0.9, normalize=True)
    assert torch.equal(w, torch.zeros(4, dtype=torch.float64))


def test_soft_cross_entropy():
    z = logits(seed=1)
    y = torch.randint(5, (32,))
    torch.testing.assert_close(
        drift.soft_cross_entropy(z, F.one_hot(y, 5).double()),
        F.cross_entropy(z, y, reduction="none"),
        rtol=1e-12,
        atol=0,
    )
    q = torch.softmax(logits(seed=2), -1)
    torch.testing.assert_close(
        drift.soft_cross_entropy(z, q), F.cross_entropy(z, q, reduction="none"), rtol=1e-12, atol=0
    )


def test_entropy_weight_gradient_is_finite_where_softmax_underflows():
    # float32 softmax of these logits is exactly 0 in some classes; xlogy's gradient is NaN there.
    logits = torch.tensor([[0.0, -200.0, -300.0], [50.0, -60.0, 0.0]], requires_grad=True)
    probs = torch.softmax(logits, dim=-1)
    assert (probs == 0).any()
    drift.entropy_weights(probs).sum().backward()
    assert torch.isfinite(logits.grad).all()
