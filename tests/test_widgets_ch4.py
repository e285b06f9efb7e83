"""Chapter 4's widget: the temperature explorer of soft pseudo-labels."""

import ipywidgets
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

import drift
from drift.book.widgets import label_temperature_explorer


def test_label_temperature_explorer_updates():
    w = label_temperature_explorer()
    assert isinstance(w, ipywidgets.interactive)
    plt.close("all")
    w.children[
        0
    ].value = 0.5  # a non-default tau redraws the figure (the widget swallows errors: check it)
    assert w.kwargs["tau"] == pytest.approx(0.5)
    labels, norms = w.result["labels"], w.result["jacobian_norms"]
    assert labels.shape == (3, 4) and np.allclose(labels.sum(1), 1.0)
    g = torch.tensor([[3.0, 1.0, 0.5, 0.0]], dtype=torch.float64)
    assert np.allclose(labels[0], drift.soft_labels(g, 0.5).numpy()[0])
    q = labels[0]  # the softmax Jacobian (diag(q) - q q^T) / tau
    assert norms[0] == pytest.approx(np.linalg.norm((np.diag(q) - np.outer(q, q)) / 0.5))
    assert len(plt.gcf().axes) == 2


def test_label_temperature_explorer_rejects_bad_logits():
    with pytest.raises(ValueError, match="logits must have shape"):
        label_temperature_explorer(logits=[1.0, 2.0])
