"""Markdown tables that render as tables in Jupyter, Colab and the built book, and print as text."""

from __future__ import annotations

from typing import Iterable, Sequence


class Table(str):
    """A markdown table: a `str` (print it, as the CLI does) that notebooks display as a table.

    As the value of a cell, Jupyter, Colab and the book (MyST) render its `text/markdown`;
    consoles show the plain text. Build one with `Table.from_rows`.
    """

    @classmethod
    def from_rows(cls, header: Sequence[str], rows: Iterable[Sequence]) -> "Table":
        """A table with columns `header` (k,) and each row's k cells, written with `str`."""
        header = [str(h) for h in header]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for i, row in enumerate(rows):
            cells = [str(c) for c in row]
            if len(cells) != len(header):
                raise ValueError(
                    f"rows[{i}] must have {len(header)} cells, one per column of header; got "
                    f"{len(cells)}"
                )
            lines.append("| " + " | ".join(cells) + " |")
        return cls("\n".join(lines))

    def __repr__(self) -> str:
        return str(self)

    def _repr_markdown_(self) -> str:
        return str(self)
