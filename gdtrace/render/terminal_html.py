"""``--format terminal-html`` (``svg`` is in svg.py): the terminal view, colours included, via
rich (``--format html`` is the typeset page, html.py).

The console renderer writes to a recording rich console; rich turns the recording into HTML
(a ``<pre>`` block with inline styles) or SVG. The content is exactly the terminal view.
"""

from __future__ import annotations

import io
from dataclasses import replace

from rich.console import Console

from gdtrace.render import RenderOptions
from gdtrace.render.console import PLAIN_WIDTH, ConsoleWriter
from gdtrace.trace import Trace

PAGE = """<!DOCTYPE html>
<html>
<head>
<meta charset="UTF-8">
<title>@TITLE@</title>
<style>
body {{ color: {foreground}; background-color: {background}; }}
pre {{ font-family: Menlo, 'DejaVu Sans Mono', consolas, 'Courier New', monospace;
      line-height: 1.3; }}
</style>
</head>
<body>
<pre><code>{code}</code></pre>
</body>
</html>
"""
FRAGMENT = ('<pre style="white-space: pre; overflow-x: auto; line-height: 1.3; font-family: '
            "Menlo, 'DejaVu Sans Mono', consolas, 'Courier New', monospace\">"
            "<code>{code}</code></pre>")


def recorded(trace: Trace, options: RenderOptions) -> Console:
    """Run the console renderer (coloured) into a recording console and return it."""
    coloured = replace(options, color=True)
    writer = ConsoleWriter(trace, coloured)
    writer.console = Console(
        file=io.StringIO(), record=True, width=options.width or PLAIN_WIDTH, force_terminal=True,
        color_system="truecolor", highlight=False, emoji=False, markup=False, soft_wrap=False)
    writer.write()
    return writer.console


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def html_fragment(trace: Trace, options: RenderOptions | None = None) -> str:
    """A ``<pre>`` block with inline styles, for Jupyter and for pasting into a page."""
    console = recorded(trace, options or RenderOptions())
    return console.export_html(code_format=FRAGMENT, inline_styles=True)


def render(trace: Trace, options: RenderOptions) -> str:
    from rich.terminal_theme import DEFAULT_TERMINAL_THEME as theme

    console = recorded(trace, options)
    page = PAGE.replace("@TITLE@", _escape(trace.problem.title).replace("{", "{{")
                        .replace("}", "}}"))
    return console.export_html(code_format=page, inline_styles=True, theme=theme)
