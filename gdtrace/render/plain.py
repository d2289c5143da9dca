"""The console renderer's sinks: plain text (rich's layout, byte for byte, without rich) and
rich's own (colours for the terminal, html and svg).

``--format text`` (and the terminal view piped or under NO_COLOR) has no styles, so drawing
it through rich's Console and Table costs start-up time (importing them, ~20 ms) and render
time (~30 ms for three small tables) for nothing. This sink writes the same text directly:

- a line is the text and a newline (rich, with ``soft_wrap`` and no colour, prints a
  printable string unchanged);
- a table is rich's ``box.SIMPLE_HEAD`` without edges: cells right-justified by cell width,
  one space of padding inside each column except at the outer edges, one space between
  columns, and a ``─`` rule under the heading row.

Whatever falls outside what rich is known to print unchanged (control characters, tabs, a
table wider than the page or with a title) is handed to rich itself, so the output never
differs from the rich sink's.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.cells import cell_len  # cheap (no Console): the same widths rich uses

if TYPE_CHECKING:
    from rich.console import Console

RULE = "─"  # box.SIMPLE_HEAD's heading rule (horizontal and crossing)


class PlainSink:
    """Collects plain lines and tables; ``getvalue()`` returns the text."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.parts: list[str] = []
        self._fallback: RichSink | None = None  # made on first need

    def line(self, text: str = "", style: str | None = None) -> None:
        """One line; ``style`` is ignored (no colour in plain text)."""
        if text.isprintable():  # no newline, tab or control code for rich to transform
            self.parts.append(text + "\n")
        else:
            rich = self._rich()
            rich.line(text, style)
            self.parts.append(rich.take())

    def table(self, headings: Sequence[str], rows: Sequence[Sequence[str]],
              title: str | None = None, header_style: str = "") -> None:
        """One table, already narrow enough to fit (``ConsoleWriter.table`` splits)."""
        text = plain_table(headings, rows, self.width) if title is None else None
        if text is None:
            rich = self._rich()
            rich.table(headings, rows, title=title, header_style=header_style)
            text = rich.take()
        self.parts.append(text)

    def getvalue(self) -> str:
        return "".join(self.parts)

    def take(self) -> str:
        """The text written so far, and start afresh."""
        text = "".join(self.parts)
        self.parts = []
        return text

    def _rich(self) -> RichSink:
        """A rich sink with the plain settings, for the rare cases rich must draw."""
        if self._fallback is None:
            self._fallback = RichSink(plain_console(self.width))
        return self._fallback


def plain_table(headings: Sequence[str], rows: Sequence[Sequence[str]],
                width: int) -> str | None:
    """The table as rich draws it (``box.SIMPLE_HEAD``, ``show_edge=False``,
    ``pad_edge=False``, every column right-justified, no wrap), or None when rich would do
    something else: no columns, a cell that is not one printable line, wider than ``width``."""
    count = len(headings)
    if count == 0 or not all(h.isprintable() for h in headings) \
            or not all(len(row) == count and all(c.isprintable() for c in row) for row in rows):
        return None
    # padding (left, right) per column: one space, none at the table's outer edges
    pads = [(0 if i == 0 else 1, 0 if i == count - 1 else 1) for i in range(count)]
    widths = [max([cell_len(headings[i])] + [cell_len(row[i]) for row in rows]) + sum(pads[i])
              for i in range(count)]
    widths = [w or 1 for w in widths]  # rich gives an empty column one cell
    content = [w - left - right for w, (left, right) in zip(widths, pads)]
    if sum(widths) + count - 1 > width:  # rich would shrink the columns
        return None

    def draw(cells: Sequence[str]) -> str:
        """Each cell right-justified; rich drops a cell's trailing spaces before justifying."""
        cells = [cell.rstrip(" ") for cell in cells]
        return " ".join(" " * (left + w - cell_len(cell)) + cell + " " * right
                        for cell, w, (left, right) in zip(cells, content, pads)) + "\n"

    rule = RULE * (sum(widths) + count - 1) + "\n"
    return draw(headings) + rule + "".join(draw(row) for row in rows)


class RichSink:
    """Lines and tables drawn by a rich Console: colours for the terminal, html and svg."""

    def __init__(self, console: Console) -> None:
        self.console = console

    @property
    def width(self) -> int:
        return self.console.width

    def line(self, text: str = "", style: str | None = None) -> None:
        from rich.text import Text

        self.console.print(Text(text, style=style or ""))

    def table(self, headings: Sequence[str], rows: Sequence[Sequence[str]],
              title: str | None = None, header_style: str = "") -> None:
        """One table (``box.SIMPLE_HEAD``, no edges, right-justified, never wrapped)."""
        from rich import box
        from rich.table import Table

        table = Table(title=title, show_edge=False, box=box.SIMPLE_HEAD, pad_edge=False,
                      header_style=header_style)
        for heading in headings:
            table.add_column(heading, justify="right", no_wrap=True)
        for row in rows:
            table.add_row(*row)
        self.console.print(table)

    def getvalue(self) -> str:
        return self.console.file.getvalue()  # type: ignore[attr-defined]

    def take(self) -> str:
        """The text written so far, and start afresh."""
        text = self.getvalue()
        self.console.file = io.StringIO()
        return text


def coloured_console(width: int) -> Console:
    from rich.console import Console

    return Console(file=io.StringIO(), width=width, force_terminal=True, no_color=False,
                   color_system="standard", highlight=False, emoji=False, soft_wrap=False,
                   markup=False)


def plain_console(width: int) -> Console:
    """The console plain text would need from rich (no colour, lines never wrapped)."""
    from rich.console import Console

    return Console(file=io.StringIO(), width=width, force_terminal=False, no_color=True,
                   color_system=None, highlight=False, emoji=False, soft_wrap=True,
                   markup=False)
