"""Chapter 2's widget: the refresh-period explorer of alternating self-training."""

import ipywidgets
import matplotlib.pyplot as plt
import pytest

import drift
from drift.book.widgets import refresh_period_explorer


def test_refresh_period_explorer_trains_its_runs_and_updates(moons):
    w = refresh_period_explorer(data=moons, periods=(5, 10), steps=30, eval_every=5)
    assert isinstance(w, ipywidgets.interactive)
    slider = w.children[0]
    assert list(slider.options) == [5, 10]
    plt.close("all")
    slider.value = (
        5  # a non-default period redraws the figure (the widget swallows errors: check it)
    )
    assert w.kwargs == {"period": 5}
    acc, flips = plt.gcf().axes
    assert acc.get_title().startswith("oscillation") and flips.get_yscale() == "log"


def test_refresh_period_explorer_takes_precomputed_runs(moons):
    runs = {
        k: drift.train(
            "alternating", moons, steps=20, eval_every=5, refresh_every=k, progress=False
        )
        for k in (4, 10)
    }
    reference = drift.train("mean_teacher", moons, steps=20, eval_every=5, progress=False)
    w = refresh_period_explorer(runs, reference=reference)
    plt.close("all")
    w.children[0].value = 4
    assert isinstance(w, ipywidgets.interactive) and w.kwargs == {"period": 4}
    acc, _ = plt.gcf().axes
    assert [line.get_label() for line in acc.get_lines()][:2] == [
        "mean_teacher",
        "alternating, K = 4",
    ]


def test_refresh_period_explorer_rejects_empty_runs():
    with pytest.raises(ValueError, match="runs must be"):
        refresh_period_explorer({})
