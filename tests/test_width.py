"""Text fitted to a width (the terminal's, COLUMNS, --width): no line longer than the width
except a single unbreakable token, and nothing lost; the pager and the colour switches."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from rich.cells import cell_len
from typer.testing import CliRunner

from gdtrace.cli import app
from gdtrace.problem import bundled_problems, load_problem
from gdtrace.render import RenderOptions, render
from gdtrace.render.printer import NumberFormat
from gdtrace.solvers import solve
from gdtrace.trace import Trace
from gdtrace.writer import page, wants_colour

BUNDLED = sorted(bundled_problems())
WIDTHS = [60, 80, 100, 120, 200]
NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[+-]\d+)?")
_TRACES: dict[str, Trace] = {}


def trace_of(name: str) -> Trace:
    if name not in _TRACES:
        _TRACES[name] = solve(load_problem(bundled_problems()[name]))
    return _TRACES[name]


def too_long(text: str, width: int) -> list[str]:
    """Lines wider than ``width`` that are more than one token (after the indentation)."""
    return [line for line in text.splitlines()
            if cell_len(line) > width and len(line.split()) > 1]


def numbers(text: str) -> set[str]:
    return set(NUMBER.findall(text))


def trace_numbers(trace: Trace) -> set[str]:
    """Every scalar a step computed or used, as the text writes it (4 decimals)."""
    shown = NumberFormat(4)
    found = set()
    for run in trace.runs:
        for epoch in run.epochs:
            for step in epoch.steps:
                for quantity in [q for row in step.rows for q in row] + step.quantities:
                    if isinstance(quantity.value, (int, float)):
                        found.add(shown.plain(quantity.value))
    return found


ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.mark.parametrize("name", BUNDLED)
@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("steps", [False, True])
@pytest.mark.parametrize("fmt", ["text", "terminal"])
def test_every_line_fits_and_nothing_is_lost(name: str, width: int, steps: bool,
                                             fmt: str) -> None:
    trace = trace_of(name)
    wide = render(trace, "text", RenderOptions(steps=steps))
    text = ANSI.sub("", render(trace, fmt, RenderOptions(steps=steps, width=width)))
    assert too_long(text, width) == []
    assert numbers(wide) <= numbers(text)  # every number of the wide layout is still there
    missing = {n for n in trace_numbers(trace) if n not in text and n + "0" not in text
               and not any(n in m for m in numbers(text))}
    assert missing == set()


@pytest.mark.parametrize("name", BUNDLED)
def test_comparisons_fit_too(name: str) -> None:
    import gdtrace

    trace = gdtrace.comparison(name, lr=[0.01])
    wide = render(trace, "text", RenderOptions(full=True))
    text = render(trace, "text", RenderOptions(full=True, width=60))
    assert too_long(text, 60) == [] and numbers(wide) <= numbers(text)


def test_wide_default_is_unchanged_when_nothing_asks_for_a_width() -> None:
    """Piped with neither COLUMNS nor --width: one table per epoch, as wide as it needs."""
    text = render(trace_of("logreg"), "text", RenderOptions())
    assert "forward pass:" not in text
    assert max(cell_len(line) for line in text.splitlines()) > 120


def test_logreg_at_80_columns_is_whole_panels() -> None:
    text = render(trace_of("logreg"), "text", RenderOptions(width=80))
    epoch = text.split("Epoch 1")[1].split("Epoch 2")[0]
    assert [line for line in epoch.splitlines() if line.endswith(":")] == [
        "forward pass:", "gradients:", "parameters after:"]
    for panel in epoch.split(":\n")[1:]:
        assert panel.startswith("step   sample")  # each panel repeats step and sample
    assert "weight gradient per sample" in text  # the description is not cut mid-phrase


def test_a_panel_that_cannot_fit_is_transposed() -> None:
    text = render(trace_of("backprop"), "text", RenderOptions(width=60))
    backward = text.split("backward pass:\n")[1]
    assert backward.splitlines()[0].split() == ["sample", "1"]
    assert backward.splitlines()[2].split() == ["∂L/∂a₅", "-2.8523"]


def test_worked_lines_break_after_equals_under_the_right_hand_side() -> None:
    text = render(trace_of("linreg"), "text", RenderOptions(steps=True, width=60))
    lines = text.splitlines()
    start = lines.index("  ∂L/∂w₁ = −(2/4)·Σᵢ errorᵢ·xᵢ₁ =")
    assert lines[start + 1].startswith(" " * 11 + "−(2/4)·(")
    assert all(cell_len(line) <= 60 for line in lines[start:start + 4])


def test_formula_descriptions_wrap_under_their_column() -> None:
    text = render(trace_of("backprop"), "text", RenderOptions(width=60))
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if "per sample and output" in line)
    column = cell_len(lines[at][:lines[at].index("per sample")])  # ŷ: two characters, one cell
    assert lines[at + 1].startswith(" " * column) and not lines[at + 1][column].isspace()


# ------------------------------------------------------------------------------- the CLI


def test_piped_output_honours_columns_and_width() -> None:
    runner = CliRunner()
    wide = runner.invoke(app, ["solve", "logreg"], env={"COLUMNS": None})
    narrow = runner.invoke(app, ["solve", "logreg"], env={"COLUMNS": "80"})
    given = runner.invoke(app, ["solve", "logreg", "--width", "70"], env={"COLUMNS": "200"})
    assert max(cell_len(line) for line in wide.stdout.splitlines()) > 120
    assert max(cell_len(line) for line in narrow.stdout.splitlines()) <= 80
    assert max(cell_len(line) for line in given.stdout.splitlines()) <= 70


def test_graph_fits_the_width_or_says_so() -> None:
    runner = CliRunner()
    fitted = runner.invoke(app, ["graph", "backprop", "--width", "60"])
    assert fitted.exit_code == 0 and too_long(fitted.stdout, 60) == []
    assert "--format dot" not in fitted.stdout
    tiny = runner.invoke(app, ["graph", "relu_mlp", "--width", "20"])
    assert tiny.stdout.rstrip().endswith("try --format dot)")


@pytest.mark.parametrize(("env", "colour"), [
    ({"NO_COLOR": "1", "FORCE_COLOR": "1"}, False),
    ({"FORCE_COLOR": "1"}, True),
    ({"TERM": "dumb"}, False),
    ({}, False),  # piped
])
def test_colour_switches(monkeypatch: pytest.MonkeyPatch, env: dict[str, str],
                         colour: bool) -> None:
    for name in ("NO_COLOR", "FORCE_COLOR", "TERM"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert wants_colour() is colour
    result = CliRunner().invoke(app, ["solve", "logreg"], env=env)
    assert ("\x1b[" in result.stdout) is colour


def test_pager_only_for_a_terminal_taller_than_the_text(monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    paged = tmp_path / "paged.txt"
    monkeypatch.setenv("PAGER", f"cat > {paged}")
    monkeypatch.setattr(shutil, "get_terminal_size",
                        lambda fallback=(80, 24): __import__("os").terminal_size((80, 24)))
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False, raising=False)
    assert page("a\n" * 100) is False and not paged.exists()  # piped: never
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    assert page("short\n") is False and not paged.exists()  # fits the screen
    assert page("a\n" * 100) is True and paged.read_text() == "a\n" * 100
    monkeypatch.setenv("PAGER", "cat")
    assert page("b\n" * 100) is False  # PAGER=cat: print directly
    monkeypatch.setenv("PAGER", "no-such-pager-gdtrace")
    assert page("b\n" * 100) is False  # a pager that is not there: print directly


def test_no_pager_in_a_real_pty_when_asked(tmp_path: Path) -> None:
    """In a pty the pager starts (PAGER writes a marker); --no-pager prints directly."""
    script = shutil.which("script")
    if script is None:
        pytest.skip("util-linux script not installed")
    marker = tmp_path / "pager-ran"
    env = {"PAGER": f"touch {marker}; cat >/dev/null", "LINES": "20", "COLUMNS": "80",
           "PATH": "/usr/bin:/bin:" + str(Path(sys.executable).parent)}
    command = f"{sys.executable} -m gdtrace solve logreg --steps"
    subprocess.run([script, "-qec", command + " --no-pager", "/dev/null"], env=env,
                   capture_output=True, timeout=60)
    assert not marker.exists()
    subprocess.run([script, "-qec", command, "/dev/null"], env=env, capture_output=True,
                   timeout=60)
    assert marker.exists()
