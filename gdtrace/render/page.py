"""A self-contained HTML page built a piece at a time: headings, paragraphs, tables whose
cells can carry CSS classes, folded sections, warnings, math, inline SVG.

The worked solution (``--format html``, :mod:`gdtrace.render.html`) writes through it, and so
can any other report that wants the same look (a ``check`` report marking wrong cells)::

    page = HtmlPage("Checking homework 3")
    page.heading("Epoch 1", 2)
    page.table(["step", "z"], [["1", Cell("0.75", "wrong", title="expected 0.7427")]])
    page.paragraph("1 of 2 cells wrong.")
    html = page.render()

Text passed as ``str`` is escaped; :class:`Markup` (and :class:`Cell` content made from it)
is inserted as it is. The output is well-formed XML as well as HTML (no named entities, every
element closed), needs no network and no script: the style sheet, MathML and SVG are inline.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


class Markup(str):
    """HTML that is already escaped (a ``<math>`` element, a fragment built by a writer)."""


def escape(text: str) -> str:
    """Text for HTML content or an attribute value (``Markup`` passes unchanged)."""
    if isinstance(text, Markup):
        return text
    return (str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


class Cell:
    """A table cell with CSS classes (``num``, ``wrong``, ``right`` …) and a tooltip."""

    __slots__ = ("content", "classes", "title")

    def __init__(self, content: str, classes: str = "", title: str = "") -> None:
        self.content = content
        self.classes = classes
        self.title = title

    def html(self, tag: str = "td") -> str:
        attributes = f' class="{escape(self.classes)}"' if self.classes else ""
        if self.title:
            attributes += f' title="{escape(self.title)}"'
        return f"<{tag}{attributes}>{escape(self.content)}</{tag}>"


STYLE = """
:root { color-scheme: light; --ink: #1d1d1f; --muted: #5f6368; --rule: #d0d4da;
        --band: #f4f6f8; --accent: #1a5fb4; --warn-bg: #fff4d6; --warn: #8a5a00;
        --wrong-bg: #fde2e1; --wrong: #a50e0e; --right-bg: #e4f4e4; }
body { font-family: "Latin Modern Roman", "STIX Two Text", "DejaVu Serif", Georgia, serif;
       color: var(--ink); background: #fff; margin: 0; padding: 1.5rem 1.5rem 3rem;
       line-height: 1.45; }
h1, h2, p, dl, ul, .worked, figure { max-width: 60rem; }
math { font-family: "Latin Modern Math", "STIX Two Math", "DejaVu Math TeX Gyre", math; }
h1 { font-size: 1.7rem; margin: 0 0 .6rem; border-bottom: 2px solid var(--ink); }
h2 { font-size: 1.35rem; margin: 1.6rem 0 .5rem; border-bottom: 1px solid var(--rule); }
h3 { font-size: 1.12rem; margin: 1.1rem 0 .4rem; display: inline; }
h4, h5 { font-size: 1rem; margin: 1rem 0 .3rem; }
dl.header { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem;
            margin: .4rem 0 1rem; }
dl.header dt { font-weight: bold; } dl.header dd { margin: 0; }
.scroll { overflow-x: auto; margin: .4rem 0 .9rem; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; font-size: .95rem; }
caption { caption-side: top; text-align: left; font-style: italic; padding-bottom: .2rem;
          white-space: nowrap; }
th, td { padding: .18rem .6rem; border-bottom: 1px solid var(--rule); }
th { border-bottom: 2px solid var(--ink); font-weight: normal; text-align: right;
     white-space: nowrap; }
td { text-align: right; white-space: nowrap; }
tbody tr:nth-child(even) { background: var(--band); }
td.text, th.text { text-align: left; white-space: normal; }
th.group { text-align: center; border-bottom: 1px solid var(--muted); font-style: italic; }
td.wrong { background: var(--wrong-bg); color: var(--wrong); font-weight: bold; }
td.right { background: var(--right-bg); }
table.formulas th, table.formulas td { border: 0; background: none; white-space: normal; }
table.formulas td.lhs { text-align: right; padding-right: .2rem; }
table.formulas td.rhs { text-align: left; padding-left: .2rem; }
table.formulas td.label { text-align: left; color: var(--muted); padding-left: 2rem; }
.worked { display: grid; grid-template-columns: max-content max-content minmax(0, 1fr);
          gap: .35rem .4rem; align-items: baseline; margin: .5rem 0 .9rem 1.2rem; }
.worked > .lhs { text-align: right; } .worked > .rhs { text-align: left; }
.inputs { margin: .5rem 0 .2rem 1.2rem; color: var(--muted); }
details { border-left: 3px solid var(--rule); padding: .1rem 0 .1rem .9rem; margin: .8rem 0; }
details[open] { border-left-color: var(--accent); }
summary { cursor: pointer; padding: .2rem 0; }
details.aside { border-left-width: 2px; margin: .3rem 0; }
details.aside h4 { display: inline; font-weight: normal; color: var(--accent); }
.warning { background: var(--warn-bg); border-left: 4px solid #e5a50a; color: var(--warn);
           padding: .5rem .8rem; margin: .5rem 0; }
.warning strong { color: #6b4500; }
ul.result { padding-left: 1.2rem; } ul.result li { margin: .2rem 0; }
figure.chart { margin: .6rem 0 1rem; } figure.chart figcaption { color: var(--muted);
              font-size: .9rem; }
svg.chart text { font: 12px "DejaVu Sans", Arial, sans-serif; fill: var(--muted); }
svg.chart .line { fill: none; stroke: var(--accent); stroke-width: 2; }
svg.chart .point { fill: var(--accent); }
svg.chart .axis { fill: none; stroke: var(--muted); }
footer { margin-top: 2rem; color: var(--muted); font-size: .85rem; }
@media print {
  @page { size: A4; margin: 15mm; }
  body { max-width: none; padding: 0; font-size: 10pt; }
  details { border: 0; padding: 0; }
  details:not(.aside)::details-content { content-visibility: visible; height: auto; }
  details.aside { display: none; }
  summary { list-style: none; } summary::-webkit-details-marker { display: none; }
  .scroll { overflow: visible; }
  table { font-size: 8.5pt; } thead { display: table-header-group; }
  tr, .worked > *, .warning, figure.chart { break-inside: avoid; }
  h2, h3, h4, summary { break-after: avoid; }
  tbody tr:nth-child(even) { background: none; }
  footer { display: none; }
}
"""

# Print every folded section (browsers without ``::details-content`` need this; the page
# works without it, it only matters when printing).
PRINT_SCRIPT = ('addEventListener("beforeprint", function () { '
                'document.querySelectorAll("details:not(.aside)").forEach(function (d) { '
                "d.open = true; }); });")


class HtmlPage:
    """Collects the body of one page; :meth:`render` returns the whole document."""

    def __init__(self, title: str, lang: str = "en", generator: str = "") -> None:
        self.title = title
        self.lang = lang
        self.generator = generator
        self.parts: list[str] = []

    # building blocks -----------------------------------------------------------------------
    def raw(self, html: str) -> None:
        """Insert finished HTML (the caller escaped it)."""
        self.parts.append(html)

    def heading(self, text: str, level: int = 2, classes: str = "") -> None:
        level = max(1, min(level, 6))
        attributes = f' class="{escape(classes)}"' if classes else ""
        self.raw(f"<h{level}{attributes}>{escape(text)}</h{level}>")

    def paragraph(self, text: str, classes: str = "") -> None:
        attributes = f' class="{escape(classes)}"' if classes else ""
        self.raw(f"<p{attributes}>{escape(text)}</p>")

    def items(self, texts: Iterable[str], classes: str = "") -> None:
        """A bulleted list."""
        attributes = f' class="{escape(classes)}"' if classes else ""
        body = "".join(f"<li>{escape(text)}</li>" for text in texts)
        if body:
            self.raw(f"<ul{attributes}>{body}</ul>")

    def definitions(self, pairs: Iterable[tuple[str, str]], classes: str = "header") -> None:
        """Term/description pairs (the header's source, model, loss …)."""
        body = "".join(f"<dt>{escape(term)}</dt><dd>{escape(text)}</dd>" for term, text in pairs)
        self.raw(f'<dl class="{escape(classes)}">{body}</dl>')

    def table(self, headings: Sequence[str | Cell], rows: Sequence[Sequence[str | Cell]],
              caption: str | None = None, classes: str = "",
              groups: Sequence[tuple[str, int]] = ()) -> None:
        """A table; a ``str`` cell is a number-like cell (right-aligned), a :class:`Cell`
        carries its own classes. ``groups`` (label, column count) adds a heading row above
        the column headings (e.g. "forward pass", "gradients")."""
        out = [f'<div class="scroll"><table class="{escape(classes)}">' if classes
               else '<div class="scroll"><table>']
        if caption:
            out.append(f"<caption>{escape(caption)}</caption>")
        out.append("<thead>")
        if groups:
            out.append("<tr>" + "".join(
                f'<th class="group" colspan="{span}">{escape(label)}</th>' if label
                else f'<th colspan="{span}"></th>' for label, span in groups) + "</tr>")
        out.append("<tr>" + "".join(_cell(h, "th") for h in headings) + "</tr></thead>")
        out.append("<tbody>")
        width = len(headings)
        for row in rows:
            cells = list(row)[:width] + [""] * (width - len(row))
            out.append("<tr>" + "".join(_cell(c, "td") for c in cells) + "</tr>")
        out.append("</tbody></table></div>")
        self.raw("\n".join(out))  # a row per line: the source reads too

    def warning(self, text: str, label: str = "Warning") -> None:
        self.raw(f'<div class="warning" role="note"><strong>{escape(label)}:</strong> '
                 f"{escape(text)}</div>")

    def open_details(self, summary: str, is_open: bool = True, level: int = 3,
                     classes: str = "") -> None:
        """A folded section (``<details>``) whose summary line is a heading. Printing unfolds
        every one except those of class ``aside`` (detail a reader opens on screen), which
        are left out of print."""
        state = " open=\"open\"" if is_open else ""
        attributes = f' class="{escape(classes)}"' if classes else ""
        self.raw(f"<details{attributes}{state}><summary><h{level}>{escape(summary)}</h{level}>"
                 "</summary>")

    def close_details(self) -> None:
        self.raw("</details>")

    # the document --------------------------------------------------------------------------
    def render(self) -> str:
        generator = (f'<meta name="generator" content="{escape(self.generator)}"/>\n'
                     if self.generator else "")
        footer = f"<footer>{escape(self.generator)}</footer>\n" if self.generator else ""
        return ("<!DOCTYPE html>\n"
                f'<html lang="{escape(self.lang)}">\n<head>\n<meta charset="utf-8"/>\n'
                '<meta name="viewport" content="width=device-width, initial-scale=1"/>\n'
                f"{generator}<title>{escape(self.title)}</title>\n"
                f"<style>{STYLE}</style>\n"
                f"<script>{PRINT_SCRIPT}</script>\n</head>\n<body>\n"
                + "\n".join(self.parts) + f"\n{footer}</body>\n</html>\n")


def _cell(content: str | Cell, tag: str) -> str:
    if isinstance(content, Cell):
        return content.html(tag)
    return f"<{tag}>{escape(content)}</{tag}>"
