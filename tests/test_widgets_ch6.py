"""Chapter 6's widget: the method comparison explorer over a precomputed Results."""

import ipywidgets
import matplotlib.pyplot as plt
import pytest

import drift
from drift.book.widgets import method_comparison_explorer


@pytest.fixture(scope="module")
def results(moons):
    return drift.compare(
        ["mean_teacher", "drift"], moons, seeds=2, steps=20, eval_every=5, workers=1, progress=False
    )


def test_method_comparison_explorer_updates(results):
    w = method_comparison_explorer(results, references={"sklearn": [80.0, 82.0]})
    assert isinstance(w, ipywidgets.interactive)
    chosen, metric = w.children[:2]
    assert list(chosen.options) == ["mean_teacher", "drift"]
    plt.close("all")
    metric.value = (
        "mean_weight"  # a non-default metric redraws (the widget swallows errors: check it)
    )
    assert w.kwargs["metric"] == "mean_weight"
    curve, final = plt.gcf().axes
    assert curve.get_ylabel() == "mean weight"
    assert [t.get_text() for t in final.get_xticklabels()] == ["mean_teacher", "drift", "sklearn"]
    chosen.value = ("drift",)
    assert set(w.result) == {"drift"} and 0 <= w.result["drift"] <= 100


def test_method_comparison_explorer_rejects_empty_results():
    with pytest.raises(ValueError, match="results must be"):
        method_comparison_explorer(drift.Results({}))
