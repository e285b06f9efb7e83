"""Tables and figures that the chapters display: drift.Table, Results and LFStats render as
markdown tables in IPython (Jupyter, Colab, the book) and print as the same text."""

import numpy as np
import pytest
import torch
from IPython.core.formatters import DisplayFormatter
from matplotlib.figure import Figure

import drift
from drift.plotting import Grid, plot_class_map, plot_finals


def shown(obj) -> dict[str, str]:
    """The MIME bundle IPython would put in a cell's output for `obj`."""
    data, _ = DisplayFormatter().format(obj)
    return data


def test_table_from_rows_is_a_str_that_renders_as_markdown():
    table = drift.Table.from_rows(["a", "b"], [[1, "x"], [2.5, "y"]])
    assert table == "| a | b |\n|---|---|\n| 1 | x |\n| 2.5 | y |"
    assert isinstance(table, str) and repr(table) == str(table)
    assert shown(table) == {"text/plain": str(table), "text/markdown": str(table)}


def test_table_rows_must_match_the_header():
    with pytest.raises(ValueError, match=r"rows\[1\] must have 2 cells"):
        drift.Table.from_rows(["a", "b"], [[1, 2], [3]])


def test_results_and_lf_stats_display_their_tables(moons):
    results = drift.compare(
        ["supervised", "mean_teacher"], moons, seeds=2, steps=10, progress=False, workers=1
    )
    assert isinstance(results.table(), drift.Table)
    assert shown(results) == {"text/plain": results.table(), "text/markdown": results.table()}
    stats = drift.lf_stats(
        np.array([[0, 1], [1, -1], [-1, -1]]), np.array([0, 1, 1]), names=["a", "b"]
    )
    assert isinstance(stats.table(), drift.Table)
    assert shown(stats) == {"text/plain": stats.table(), "text/markdown": stats.table()}


@pytest.mark.parametrize(
    "err, floor, text",
    [(3e-13, 1e-12, "< 1e-12"), (2.5e-5, 1e-6, "2.5e-05"), (1e-9, 1e-9, "1.0e-09")],
)
def test_error_bound(err, floor, text):
    assert drift.error_bound(err, floor) == text


def test_grid_covers_the_points_with_a_margin():
    x = torch.tensor([[0.0, -1.0], [2.0, 3.0]])
    grid = Grid.around(x, margin=0.5, n=5)
    assert grid.xx.shape == grid.yy.shape == (5, 5)
    assert grid.points.shape == (25, 2)
    assert grid.points.min(0).values.tolist() == [-0.5, -1.5]
    assert grid.points.max(0).values.tolist() == [2.5, 3.5]
    values = torch.arange(25.0)
    assert torch.equal(grid.reshape(values)[1, 0], values[5])  # rows follow y
    with pytest.raises(ValueError, match=r"xs must be points of shape \(N, 2\)"):
        Grid.around(torch.zeros(4, 3))


def test_class_map_and_finals_draw(moons):
    import matplotlib.pyplot as plt

    grid = Grid.around(moons.x_labeled, moons.x_unlabeled, n=20)
    _, ax = plt.subplots()
    plot_class_map(
        ax, grid, torch.sigmoid(grid.points[:, 0]).reshape(grid.xx.shape), moons, title="t"
    )
    assert ax.get_title() == "t"
    results = drift.compare(
        ["supervised", "mean_teacher"], moons, seeds=2, steps=10, progress=False, workers=1
    )
    fig = plot_finals(results, {"sklearn ref": [80.0, 81.0]}, title="moons")
    assert isinstance(fig, Figure)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == [
        "supervised",
        "mean_teacher",
        "sklearn\nref",
    ]
    plt.close("all")
