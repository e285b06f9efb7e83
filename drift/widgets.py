"""ipywidgets explorers used by the chapters (one function per chapter knob).

Each function builds and returns a widget; ipywidgets is imported lazily so that the package
itself does not need it (`pip install "drift-book[book]"` brings it).
"""
from __future__ import annotations


def _ipywidgets():
    try:
        import ipywidgets
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError('the widgets need ipywidgets: pip install "drift-book[book]"') from err
    return ipywidgets
