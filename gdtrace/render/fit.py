"""Fitting plain text to a width: wrapping with a hanging indent, by terminal cells.

Used by the terminal/text renderer (when a width is given: the terminal's, ``COLUMNS`` or
``--width``) and by ``gdtrace graph``. Words are never cut: a single token wider than the
width stays whole on its own line (the only way a line may exceed the width).
"""

from __future__ import annotations

from rich.cells import cell_len

OPERATORS = ("+", "−", "-", "=", "←", "·", "×")


def tokens(text: str, operators: bool = False) -> list[str]:
    """Words of ``text``. With ``operators`` (a formula) the pieces are cut only before an
    operator (``+``, ``−``, ``=`` …) at the shallowest bracket depth that has one, so
    ``(1 − 1)`` stays whole and a line never ends with a dangling ``+``."""
    words = text.split(" ")
    if not operators:
        return text.split()
    depth = 0
    cuts: list[tuple[int, int]] = []  # (word index that may start a line, bracket depth)
    for index, word in enumerate(words):
        if index and word in OPERATORS:
            cuts.append((index, depth))
        depth += word.count("(") + word.count("[") - word.count(")") - word.count("]")
    if not cuts:
        return text.split()
    shallowest = min(d for _, d in cuts)
    starts = [0] + [i for i, d in cuts if d == shallowest]
    return [" ".join(words[a:b]) for a, b in zip(starts, starts[1:] + [len(words)])
            if words[a:b]]


def fill(words: list[str], width: int, first: str = "", rest: str = "") -> list[str]:
    """Lay ``words`` out in lines of at most ``width`` cells: the first line starts with
    ``first``, the others with ``rest`` (the hanging indent)."""
    lines: list[str] = []
    current = first
    empty = True
    room = width - cell_len(rest)
    pieces: list[str] = []
    for word in words:  # a piece (a bracketed term) wider than a line: cut it at its spaces
        pieces.extend(word.split() if cell_len(word) > room and " " in word else [word])
    for word in pieces:
        candidate = current + ("" if empty else " ") + word
        if empty or cell_len(candidate) <= width:
            current, empty = candidate, False
            continue
        lines.append(current)
        current = rest + word
    lines.append(current)
    return lines


def wrap(text: str, width: int, hang: int = 2, operators: bool = False) -> list[str]:
    """One line of text as lines of at most ``width`` cells; continuation lines are indented
    ``hang`` cells more than the line's own indentation."""
    if cell_len(text) <= width:
        return [text]
    indent = text[:len(text) - len(text.lstrip(" "))]
    return fill(tokens(text, operators), width, indent, indent + " " * hang)
