"""Chapter 5's widget: threshold vs entropy weights and the weight path's direction on the
logits."""

import ipywidgets
import matplotlib
import matplotlib.pyplot as plt
import pytest

from drift.book.widgets import weight_path_explorer

matplotlib.use("Agg")


def test_weight_path_explorer_updates():
    w = weight_path_explorer()
    assert isinstance(w, ipywidgets.interactive)
    margin, threshold = w.children[:2]
    plt.close("all")
    margin.value = (
        6.0  # a non-default margin redraws (the widget swallows errors: check the result)
    )
    assert w.kwargs == {"margin": 6.0, "threshold": 0.8}
    out = w.result
    assert 0.0 < out["entropy_weight"] < 1.0 and out["threshold_weight"] == 1.0
    # the descent direction lowers the teacher's top logit and raises every other one
    assert out["descent"][0] < 0 and (out["descent"][1:] > 0).all()
    assert len(plt.gcf().axes) == 2


def test_weight_path_explorer_rejects_bad_classes():
    with pytest.raises(ValueError, match="num_classes"):
        weight_path_explorer(num_classes=1)
