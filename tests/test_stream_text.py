"""The worked text written epoch by epoch (``DocumentWriter.write_streamed``) is the whole
document's text, byte for byte, and keeps no step once it is written (docs/performance.md)."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from check_problems import random_problem
from hypothesis import HealthCheck, Phase, given, settings

from gdtrace.api import solved
from gdtrace.problem import bundled_problems, load_problem, load_problem_text
from gdtrace.render import RenderOptions, markdown
from gdtrace.render.console import render, write_streamed
from gdtrace.render.layout import as_step
from gdtrace.solvers.streaming import streamed_document
from gdtrace.trace import Epoch

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck),
                    phases=[Phase.explicit, Phase.reuse, Phase.generate])

OPTIONS = [RenderOptions(steps=steps, full=full, color=color, width=width)
           for steps, full, color, width in itertools.product(
               [False, True], [False, True], [False, True], [None, 64])]


def streamed(problem: object, options: RenderOptions, max_steps: int | None = None
             ) -> tuple[str, int]:
    """The streamed text and how many pieces it was handed on in."""
    document = streamed_document(problem, max_steps=max_steps)  # type: ignore[arg-type]
    pieces: list[str] = []
    write_streamed(document.trace, document.items, options, pieces.append)
    return "".join(pieces), len(pieces)


def whole(problem: object, options: RenderOptions, max_steps: int | None = None) -> str:
    """The document as the whole trace renders it (``gdtrace.api.solved``: the guard, the cap)."""
    return render(solved(problem, max_steps), options)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(bundled_problems()))
def test_every_bundled_problem_streams_its_own_text(name: str) -> None:
    problem = load_problem(str(bundled_problems()[name]))
    for epochs in (None, 9):  # 9 epochs: the terminal summarises the middle of a long run
        variant = problem if epochs is None else replace(problem, epochs=epochs)
        for options in OPTIONS[::3] if epochs else OPTIONS:
            text, _ = streamed(variant, options)
            assert text == whole(variant, options), (name, epochs, options)


@SETTINGS
@given(random_problem(["logistic", "linear"]))
def test_random_glm_problems_stream_their_own_text(text: str) -> None:
    problem = load_problem_text(text, "random.yaml")
    for options in (RenderOptions(steps=True), RenderOptions(), RenderOptions(steps=True,
                                                                              width=50)):
        assert streamed(problem, options)[0] == whole(problem, options)
    assert streamed(problem, RenderOptions(steps=True), max_steps=3)[0] == \
        whole(problem, RenderOptions(steps=True), max_steps=3)


def test_overflow_stops_the_streamed_run_where_the_whole_run_stops() -> None:
    problem = replace(load_problem(str(bundled_problems()["linreg"])), learning_rate=1e150,
                      epochs=12)
    options = RenderOptions(steps=True)
    text, _ = streamed(problem, options)
    assert "the run stops here" in text
    assert text == whole(problem, options)


def test_the_text_leaves_as_the_run_goes_and_no_step_is_kept() -> None:
    problem = replace(load_problem(str(bundled_problems()["logreg"])), epochs=40)
    document = streamed_document(problem)
    pieces: list[str] = []
    seen: list[Epoch] = []

    def items():  # type: ignore[no-untyped-def]
        for item in document.items:
            if isinstance(item, Epoch):
                seen.append(item)
                # every earlier epoch's text is out before this one is computed
                assert pieces and f"Epoch {item.index - 1} " in "".join(pieces) \
                    or item.index == 1
            yield item

    write_streamed(document.trace, items(), RenderOptions(steps=True, full=True),
                   pieces.append)
    assert len(pieces) > 40 * 4  # a piece per epoch heading and per step
    run = document.trace.runs[0]
    assert [e.index for e in run.epochs] == list(range(1, 41))
    assert all(not e.steps and e.loss_line is None for e in run.epochs)  # dropped
    assert run.final and run.outcome is not None


def test_streamed_steps_link_to_no_earlier_line() -> None:
    """A link to an earlier step would keep every earlier step alive (memory growing with the
    steps): a streamed step's lines link only to lines of the same step."""
    problem = replace(load_problem(str(bundled_problems()["logreg"])), epochs=3)
    for item in streamed_document(problem).items:
        if isinstance(item, Epoch):
            assert item.loss_line is not None and not item.loss_line.links
            continue
        step = as_step(item)  # a numbered step (numbers only) as the worked path builds it
        own = [q for row in step.rows for q in row] + step.quantities
        assert all(any(target is q for q in own)
                   for quantity in own for target in quantity.links.values())


def test_the_cli_streams_to_a_file_and_a_pipe(tmp_path: Path) -> None:
    """``gdtrace solve`` writes the same bytes through the streamed path as the library's
    whole-document render, to a file (-o) and to a pipe."""
    from gdtrace.api import load

    expected = whole(load("logreg", epochs=3), RenderOptions(steps=True))
    target = tmp_path / "out.txt"
    env = {**os.environ, "COLUMNS": ""}
    command = [sys.executable, "-m", "gdtrace", "solve", "logreg", "--steps", "--epochs", "3"]
    subprocess.run([*command, "-o", str(target)], check=True, env=env, capture_output=True)
    assert target.read_text(encoding="utf-8") == expected
    piped = subprocess.run([*command, "--format", "text"], check=True, env=env,
                           capture_output=True)
    assert piped.stdout.decode("utf-8") == expected


def streamed_markdown(problem: object, options: RenderOptions) -> tuple[str, list[str]]:
    """The streamed Markdown and its pieces."""
    document = streamed_document(problem)  # type: ignore[arg-type]
    pieces: list[str] = []
    markdown.write_streamed(document.trace, document.items, options, pieces.append)
    return "".join(pieces), pieces


MARKDOWN_OPTIONS = [RenderOptions(steps=steps, full=full, decimals=decimals)
                    for steps, full, decimals in itertools.product(
                        [False, True], [False, True], [None, 2])]


@pytest.mark.parametrize("name", sorted(bundled_problems()))
def test_every_bundled_problem_streams_its_own_markdown(name: str) -> None:
    problem = load_problem(str(bundled_problems()[name]))
    for epochs in (None, 9):
        variant = problem if epochs is None else replace(problem, epochs=epochs)
        for options in MARKDOWN_OPTIONS:
            text, _ = streamed_markdown(variant, options)
            assert text == markdown.render(solved(variant), options), (name, epochs, options)


@SETTINGS
@given(random_problem(["logistic", "linear"]))
def test_random_glm_problems_stream_their_own_markdown(text: str) -> None:
    problem = load_problem_text(text, "random.yaml")
    for options in (RenderOptions(steps=True), RenderOptions()):
        assert streamed_markdown(problem, options)[0] == \
            markdown.render(solved(problem), options)


def test_markdown_leaves_as_the_run_goes() -> None:
    """A piece per worked step, none of them empty, and the document's end trimmed once."""
    problem = replace(load_problem(str(bundled_problems()["logreg"])), epochs=30)
    text, pieces = streamed_markdown(problem, RenderOptions(steps=True, full=True))
    assert len(pieces) > 30 * 4 and all(pieces)  # 4 SGD steps an epoch
    assert text == markdown.render(solved(problem), RenderOptions(steps=True, full=True))
    assert text.endswith("\n") and not text.endswith("\n\n")


def test_the_cli_streams_markdown_to_a_file(tmp_path: Path) -> None:
    from gdtrace.api import load

    expected = markdown.render(solved(load("logreg", epochs=3)), RenderOptions(steps=True))
    target = tmp_path / "out.md"
    command = [sys.executable, "-m", "gdtrace", "solve", "logreg", "--steps", "--epochs", "3",
               "-o", str(target)]
    subprocess.run(command, check=True, capture_output=True)
    assert target.read_text(encoding="utf-8") == expected
