"""``--format svg``: the terminal view as an SVG image (rich's export), e.g. for slides."""

from __future__ import annotations

from gdtrace.render import RenderOptions
from gdtrace.render.terminal_html import recorded
from gdtrace.trace import Trace


def render(trace: Trace, options: RenderOptions) -> str:
    return recorded(trace, options).export_svg(title=f"gdtrace: {trace.problem.title}")
