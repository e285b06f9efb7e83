"""Shared fixtures. Pins torch to one thread (fast and reproducible on shared 2-core machines)
and selects matplotlib's non-interactive Agg backend before anything imports pyplot."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import drift  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def moons():
    """Two moons with 5 labels per class (2 classes, features (2,))."""
    return drift.load_data("two_moons", labels_per_class=5, seed=0)


@pytest.fixture(scope="session")
def digits():
    """scikit-learn digits with 5 labels per class (10 classes, features (8, 8))."""
    return drift.load_data("digits", labels_per_class=5, seed=0)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def without_seconds():
    """Strip the wall-time series (the only part of a History that may differ between runs)."""

    def strip(d: dict) -> dict:
        return {k: v for k, v in d.items() if k != "seconds"}

    return strip
