"""Chapter helpers nothing else in the package imports: interactive figures (`widgets`), the
quadratic Stackelberg game (`games`) and the maps of where DRIFT helps (`maps`). The top layer:
import them as `from drift.book import games`."""

from . import games, maps, widgets

__all__ = ["games", "maps", "widgets"]
