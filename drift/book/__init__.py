"""Chapter helpers nothing else in the package imports: interactive figures (`widgets`), the
quadratic Stackelberg game (`games`), the maps of where DRIFT helps (`maps`) and chapter 11's
real-text setting (`real_text`). The top layer: import them as `from drift.book import games`."""

from . import games, maps, real_text, widgets

__all__ = ["games", "maps", "real_text", "widgets"]
