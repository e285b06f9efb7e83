"""Chapter 1's widget: labels per class and the confidence threshold on two moons."""

import math

import ipywidgets
import matplotlib.pyplot as plt

from drift.book.widgets import self_training_explorer


def test_self_training_explorer_updates_coverage_and_accuracy():
    w = self_training_explorer(steps=30)
    assert isinstance(w, ipywidgets.interactive)
    labels, threshold = w.children[:2]
    first = w.result  # the default view (3 labels per class, threshold 0.8), drawn on construction
    assert 0 < first["coverage"] <= 1 and 0 <= first["accuracy"] <= 1
    plt.close("all")
    threshold.value = 0.99  # a non-default value redraws (the widget swallows errors: check it)
    assert w.kwargs == {"labels_per_class": 3, "threshold": 0.99}
    assert w.result["coverage"] <= first["coverage"]  # a higher threshold keeps fewer labels
    assert "γ = 0.99" in plt.gcf().axes[0].get_title()
    threshold.value = 0.5  # two classes: max p >= 0.5 always, so every pseudo-label is kept
    assert w.result["coverage"] == 1.0
    labels.value = 5
    assert w.kwargs["labels_per_class"] == 5 and not math.isnan(w.result["accuracy"])
