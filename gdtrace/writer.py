"""Where a solve's output goes, and how: the whole document, a summary line per epoch, or a
stream of JSON lines, chosen in one place (:func:`choose_writer`, as httpie's
``get_stream_type_and_kwargs``), and the rules the command line writes by (the format when
none is given, colour, width, the pager).

The command line parses options into an :class:`OutputRequest` and calls the writer this
module chooses; everything here is plain library code a script can call the same way.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, TextIO, cast

from gdtrace.errors import UsageError

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from gdtrace.problem.model import Problem
    from gdtrace.render import RenderOptions
    from gdtrace.solvers.streaming import Event
    from gdtrace.trace import Diagnostic, Trace

DOCUMENT_FORMATS_ON_SCREEN = ("terminal", "text")
"""Formats meant to be read on the screen: paged, fitted to its width, warnings inline."""


def _to_stderr(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


class OutputRequest:
    """What was asked for the output: its format (chosen, and as given), the file, the
    rendering options, and where messages for the user go. (A plain class, not a dataclass:
    building a dataclass costs a few milliseconds of every command's start-up.)"""

    __slots__ = ("fmt", "requested", "output", "decimals", "steps", "full", "standalone",
                 "width", "pager", "max_steps", "symbolic", "notify")

    def __init__(self, fmt: str, requested: str | None = None, output: str | None = None,
                 decimals: int | None = None, steps: bool = False, full: bool = False,
                 standalone: bool = False, width: int | None = None, pager: bool = True,
                 max_steps: int | None = None, symbolic: bool = False,
                 notify: Callable[[str], None] = _to_stderr) -> None:
        self.fmt = fmt
        self.requested = requested  # --format as given (None: from -o or the terminal)
        self.output = output
        self.decimals = decimals
        self.steps = steps
        self.full = full
        self.standalone = standalone
        self.width = width
        self.pager = pager
        self.max_steps = max_steps
        self.symbolic = symbolic  # --symbolic: a network's formulas instead of its numbers
        self.notify = notify


Writer = Callable[["Problem", OutputRequest], "list[Diagnostic]"]
"""Runs the problem and writes its output; returns the run's warnings (for ``--strict``)."""


# ------------------------------------------------------------------------- format and screen


def wants_colour() -> bool:
    """Colour by default? NO_COLOR (any value) says never; FORCE_COLOR says yes even when
    piped; TERM=dumb says no; otherwise only on a terminal."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    if os.environ.get("TERM") == "dumb":
        return False
    return sys.stdout.isatty()


def screen_format() -> str:
    """The format for the screen when none is asked for: terminal with colour, else text."""
    return "terminal" if wants_colour() else "text"


def choose_format(requested: str | None, output: str | None = None) -> str:
    """--format, else the --output extension's, else :func:`screen_format`; checked."""
    from gdtrace.render import FORMATS

    if output is not None:
        from gdtrace.api import format_for_path

        chosen = format_for_path(output, requested)
    else:
        chosen = requested or screen_format()
    if chosen not in FORMATS:
        raise UsageError(f"unknown format '{chosen}' (choose from {', '.join(sorted(FORMATS))})")
    return chosen


def output_width(requested: int | None, fmt: str, output: str | None) -> int | None:
    """The width text and terminal output are fitted to: --width, else (on the screen) the
    terminal's width or COLUMNS; None (as wide as the tables need) for files and pipes
    without COLUMNS."""
    if requested is not None:
        return requested
    if output is not None or fmt not in DOCUMENT_FORMATS_ON_SCREEN:
        return None
    import shutil

    columns = os.environ.get("COLUMNS", "")
    if sys.stdout.isatty() or fmt == "terminal" or columns.isdigit() and int(columns) > 0:
        return shutil.get_terminal_size((120, 40)).columns  # COLUMNS first, then the tty
    return None


def page(text: str) -> bool:
    """Show ``text`` through the pager when stdout is a terminal and the text is taller
    than it, as git does: $PAGER, else ``less`` with LESS=FRX (quit if one screen, keep
    colours, leave the text on screen). False when not paged (the caller prints)."""
    import shutil
    import subprocess

    if not sys.stdout.isatty() or text.count("\n") < shutil.get_terminal_size().lines:
        return False
    if os.environ.get("TERM") == "dumb":  # a terminal that cannot run a pager's screen
        return False
    command = os.environ.get("PAGER", "less")
    if not command.strip() or command.strip() == "cat":
        return False
    if "PAGER" not in os.environ and shutil.which("less") is None:
        return False  # no less (Windows, minimal images): print directly
    env = dict(os.environ)
    env.setdefault("LESS", "FRX")
    sys.stdout.flush()
    try:
        shown = subprocess.run(command, shell=True, input=text, text=True, env=env,
                               check=False)
    except OSError:
        return False
    except KeyboardInterrupt:
        return True
    return shown.returncode != 127  # 127: the shell found no such pager, so print instead


# ------------------------------------------------------------------------------- the document


def emit(trace: Trace, request: OutputRequest) -> list[Diagnostic]:
    """Render the whole trace to the file, the pager or stdout; warnings go to the user
    unless the document shows them itself (text and terminal on the screen)."""
    from gdtrace.render import render

    fmt = request.fmt  # never terminal with --output (api.format_for_path)
    text = render(trace, fmt, render_options(request))
    if request.output is not None:
        from gdtrace.output import write_atomic

        write_atomic(request.output, text)
    elif not (request.pager and fmt in DOCUMENT_FORMATS_ON_SCREEN and page(text)):
        sys.stdout.write(text)
    return written(request, trace.warnings)


def render_options(request: OutputRequest) -> RenderOptions:
    """The renderer's options for a document, whole or streamed."""
    from gdtrace.render import RenderOptions

    return RenderOptions(decimals=request.decimals, steps=request.steps,
                         color=request.fmt == "terminal",
                         width=output_width(request.width, request.fmt, request.output),
                         full=request.full, standalone=request.standalone)


def written(request: OutputRequest, warnings: list[Diagnostic]) -> list[Diagnostic]:
    """Tell the user a file was written and, unless the document on the screen shows them
    itself (text and terminal), the run's warnings; the warnings are returned for --strict."""
    if request.output is not None:
        request.notify(f"gdtrace: wrote {request.output} ({request.fmt})")
    if request.fmt not in DOCUMENT_FORMATS_ON_SCREEN or request.output is not None:
        for warning in warnings:
            request.notify(f"gdtrace: warning: {warning.message}")
    return list(warnings)


def write_document(problem: Problem, request: OutputRequest) -> list[Diagnostic]:
    """The worked solution in any format: written epoch by epoch as the run goes where
    :func:`streams_worked_text` says so (the same bytes, flat memory), else rendered whole."""
    if streams_worked_text(problem, request):
        return write_worked_stream(problem, request)
    from gdtrace.api import solved

    return emit(solved(problem, request.max_steps, request.symbolic), request)


STREAMED_FORMATS = ("text", "terminal", "markdown")
"""Formats whose document can be written epoch by epoch (``write_streamed`` in their module)."""


def streams_worked_text(problem: Problem, request: OutputRequest) -> bool:
    """Logistic and linear regression's text and Markdown go out as they are computed, unless
    they may go to the pager (which needs the whole text). Other models and formats are
    rendered whole (docs/performance.md, "Worked text written as the run goes")."""
    from gdtrace.solvers.streaming import GLM_MODELS

    return (request.fmt in STREAMED_FORMATS and problem.model in GLM_MODELS
            and not request.symbolic
            and (request.output is not None or not sys.stdout.isatty()))


def write_worked_stream(problem: Problem, request: OutputRequest) -> list[Diagnostic]:
    """:func:`emit`'s text and messages for a run written epoch by epoch."""
    import importlib

    from gdtrace.output import open_output
    from gdtrace.render import FORMATS
    from gdtrace.solvers.streaming import check_work, streamed_document

    write_streamed = importlib.import_module(FORMATS[request.fmt]).write_streamed

    check_work(problem, streaming=False, max_steps=request.max_steps)
    document = streamed_document(problem, max_steps=request.max_steps)
    with contextlib.nullcontext(sys.stdout) if request.output is None \
            else open_output(request.output) as handle:
        write_streamed(document.trace, document.items, render_options(request), handle.write)
    return written(request, document.trace.warnings)


# ------------------------------------------------------------------ long runs: summary, stream

PROGRESS_MIN_STEPS = 20_000
"""Runs with at least this many steps show a progress bar when stderr is a terminal."""
PARALLEL_STEPS = 50_000
"""``--stream`` runs at least this long format their lines in a second process."""


def write_summary(problem: Problem, request: OutputRequest) -> list[Diagnostic]:
    """``--summary``: one line per epoch (text or JSON), written while the run goes."""
    check_long_options(request, stream=False)
    return run_long(problem, request, stream=False)


def write_stream(problem: Problem, request: OutputRequest) -> list[Diagnostic]:
    """``--stream``: JSON lines, one per step, written while the run goes."""
    check_long_options(request, stream=True)
    if request.fmt != "json":
        raise UsageError("--stream writes JSON lines: add --format json (for text, use "
                         "--summary)")
    return run_long(problem, request, stream=True)


def check_long_options(request: OutputRequest, stream: bool) -> None:
    """``--summary``/``--stream`` write lines as the run goes: refuse the options they cannot
    honour rather than silently dropping them."""
    name = "--stream" if stream else "--summary"
    for given, option in ((request.steps, "--steps"), (request.full, "--full"),
                          (request.standalone, "--standalone")):
        if given:
            raise UsageError(f"{name} writes one line per {'step' if stream else 'epoch'} and "
                             f"cannot be combined with {option}")
    if not stream and request.fmt not in ("text", "terminal", "json"):
        where = "--format" if request.requested else "the --output extension"
        raise UsageError(f"--summary writes text or JSON lines, not {request.fmt} ({where}); "
                         "use --format text or --format json")


def run_long(problem: Problem, request: OutputRequest, stream: bool) -> list[Diagnostic]:
    """Run while writing lines (JSON, or the text summary) and keep nothing; the progress
    bar on a terminal's stderr; the warnings told at the end."""
    from gdtrace.output import open_output
    from gdtrace.solvers.streaming import RunEnd, check_work, planned_steps, run_events

    check_work(problem, streaming=True, max_steps=request.max_steps)
    finished: list[RunEnd] = []
    total = planned_steps(problem)
    if request.max_steps is not None:
        total = min(total, request.max_steps)
    output = request.output
    with ProgressBar(total) as progress, \
            contextlib.nullcontext(sys.stdout) if output is None else open_output(output) \
            as handle:
        events = run_events(problem, steps=stream, max_steps=request.max_steps,
                            progress=progress, finished=finished,
                            epoch_rows=request.fmt == "json")
        _write_lines(problem, request, events, cast(TextIO, handle),
                     parallel=stream and total >= PARALLEL_STEPS)
    warnings = [w for end in finished for w in end.diagnostics]
    if request.fmt == "json" or output is not None:
        for warning in warnings:
            request.notify(f"gdtrace: warning: {warning.message}")
    return warnings


def _write_lines(problem: Problem, request: OutputRequest, events: Iterator[Event],
                 handle: TextIO, parallel: bool) -> None:
    from gdtrace.trace import ProblemInfo

    info = ProblemInfo(problem.title, problem.model, problem.source)
    if request.fmt == "json":
        from gdtrace.render.json_format import write_stream as write_json_lines

        write_json_lines(info, events, handle, parallel=parallel)
        return
    from gdtrace.output import visible
    from gdtrace.render import RenderOptions
    from gdtrace.render.console import summary_lines
    from gdtrace.solvers import header_for

    handle.writelines(visible(line) for line in summary_lines(
        info, header_for(problem), events, RenderOptions(decimals=request.decimals)))


class ProgressBar:
    """A rich progress bar on stderr for long runs in a terminal; otherwise nothing. Used as
    a context manager whose value is the progress callback (or None)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.bar: Progress | None = None
        self.task: TaskID | None = None

    def __enter__(self) -> Callable[[int, int], None] | None:
        if self.total < PROGRESS_MIN_STEPS or not sys.stderr.isatty():
            return None
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self.bar = Progress(TextColumn("steps"), BarColumn(), TextColumn("{task.completed:,}"
                            "/{task.total:,}"), TimeRemainingColumn(),
                            console=Console(stderr=True), transient=True)
        self.bar.start()
        self.task = self.bar.add_task("run", total=self.total)
        return self.update

    def update(self, done: int, total: int) -> None:
        if self.bar is not None and self.task is not None:
            self.bar.update(self.task, completed=done, total=total)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


# -------------------------------------------------------------------------- choosing the path

OUTPUT_PATHS: tuple[tuple[str, tuple[str, ...] | None, Writer], ...] = (
    # (the flag that asks for it, the formats it writes (None: it checks them), the writer)
    ("stream", None, write_stream),  # JSON lines, one per step
    ("summary", None, write_summary),  # one line per epoch, text or JSON
)
"""The ways of writing a run other than the whole document: the first entry whose flag is
set and whose formats include the chosen one is used. A new path is one line here (above a
more general entry of the same flag) and its option."""


def choose_writer(asked: dict[str, bool], fmt: str) -> Writer:
    """The one place the output path is chosen: the first of :data:`OUTPUT_PATHS` whose flag
    is set (``{"summary": True}``) and that writes ``fmt``, else the whole document. Two
    flags at once are refused."""
    flags = [name for name in dict.fromkeys(flag for flag, _, _ in OUTPUT_PATHS)
             if asked.get(name)]
    if len(flags) > 1:
        unit = "step" if flags[0] == "stream" else "epoch"
        raise UsageError(f"--{flags[0]} writes one line per {unit} and cannot be combined "
                         f"with --{flags[1]}")
    for flag, formats, writer in OUTPUT_PATHS:
        if asked.get(flag) and (formats is None or fmt in formats):
            return writer
    return write_document
