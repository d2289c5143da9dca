"""The command line: parse options, call the library, map errors to exit codes.

The commands call what library users call (``gdtrace.api``: load, solve, comparison;
``gdtrace.writer``: the format when none is given and the output path, document, summary or
stream, chosen by ``choose_writer``); nothing here loads, solves or renders by itself.

Exit codes: 0 success, 2 bad input or usage (``check``: 1 when a number is wrong). Heavy
modules (numpy, the solvers, the renderers) are imported inside the commands so
``gdtrace --help`` and ``--version`` stay quick.

No ``from __future__ import annotations`` here: typer reads every command's parameters on
each run, and string annotations cost it an ``eval`` each (about 7 ms of every start-up).
"""

import os
import sys
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Optional, TypeVar

import typer

from gdtrace import __version__
from gdtrace.errors import GdtraceError, UsageError

if TYPE_CHECKING:
    from gdtrace.problem.model import Problem
    from gdtrace.trace import Diagnostic
    from gdtrace.writer import OutputRequest

app = typer.Typer(
    name="gdtrace", no_args_is_help=True, add_completion=True,
    pretty_exceptions_enable=False,
    help="Worked, step-by-step solutions of gradient-descent problems.")

EXIT_BAD_INPUT = 2
T = TypeVar("T")

ProblemArg = Annotated[Optional[str], typer.Argument(
    help="A problem file, or the name of a bundled problem (see `gdtrace list`). "
         "Default: logreg.", show_default=False)]
DecimalsOpt = Annotated[Optional[int], typer.Option(
    "--decimals", min=0, max=15, show_default=False,
    help="Digits shown (display only; default 4, or the --carry digits).")]
FormatOpt = Annotated[Optional[str], typer.Option(
    "--format", "-f", help="terminal, text, markdown, latex, json, csv, html, terminal-html "
                           "or svg. Default: "
                           "from the --output extension; else terminal on a terminal, text "
                           "when piped or when NO_COLOR is set.", show_default=False)]
OutputOpt = Annotated[Optional[str], typer.Option(
    "--output", "-o", help="Write to FILE (atomically) instead of the screen; the format comes "
                           "from its extension: .txt .md .tex .json .csv .svg .html.",
    show_default=False, metavar="FILE")]
StandaloneOpt = Annotated[bool, typer.Option(
    "--standalone", help="latex: a whole document for pdflatex, not a fragment to \\input.")]
StepsOpt = Annotated[bool, typer.Option("--steps", help="Print every worked line instead of "
                                                        "tables.")]
EpochsOpt = Annotated[Optional[int], typer.Option("--epochs", help="Override `epochs`.")]
CarryOpt = Annotated[Optional[int], typer.Option(
    "--carry", help="Round every written-down value to N decimals and carry it on.")]
WidthOpt = Annotated[Optional[int], typer.Option(
    "--width", min=20, show_default=False, metavar="N",
    help="Fit text and terminal output to N columns (default: the terminal's width, else "
         "COLUMNS; piped with neither, lines are as wide as the tables need).")]
PagerOpt = Annotated[bool, typer.Option(
    "--pager/--no-pager", help="Page terminal output taller than the screen through $PAGER "
                               "(default: less -FRX); never when piped.")]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gdtrace {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[Optional[bool], typer.Option(
        "--version", callback=_version, is_eager=True, help="Show the version and exit.")] = None,
) -> None:
    """Worked, step-by-step solutions of gradient-descent problems."""


MAX_ERROR_LINE = 1000
"""Longest error line written; the messages cut the values they echo, this is the backstop."""


def one_line(message: str) -> str:
    """An error message as one short line: no newline or control code, at most
    MAX_ERROR_LINE characters."""
    from gdtrace.output import visible

    line = visible(message).replace("\n", "\\n")
    return line if len(line) <= MAX_ERROR_LINE else line[:MAX_ERROR_LINE - 1] + "…"


def fail(message: str) -> typer.Exit:
    typer.echo(f"gdtrace: error: {one_line(message)}", err=True)
    return typer.Exit(EXIT_BAD_INPUT)


def guarded(action: Callable[[], T]) -> T:
    """Run a command body; a user mistake becomes one line on stderr and exit code 2."""
    try:
        return action()
    except GdtraceError as error:
        raise fail(str(error)) from None
    except BrokenPipeError:
        raise _reader_gone() from None


def _reader_gone() -> typer.Exit:
    """The reader of standard output went away (``| head``): stop quietly with exit code 0,
    as other Unix tools do, and never complain about the output that could not be flushed."""
    from gdtrace.output import silence_stdout

    silence_stdout()
    return typer.Exit(0)


def tell(message: str) -> None:
    """A message for the user on stderr (what was written, a warning)."""
    typer.echo(message, err=True)


def output_request(fmt: str, requested: str | None, output: str | None,
                   decimals: int | None = None, steps: bool = False, full: bool = False,
                   standalone: bool = False, width: int | None = None, pager: bool = True,
                   max_steps: int | None = None, symbolic: bool = False) -> "OutputRequest":
    """The output options of a command, for :mod:`gdtrace.writer`."""
    from gdtrace.writer import OutputRequest

    return OutputRequest(fmt, requested, output, decimals, steps, full, standalone, width, pager,
                         max_steps, symbolic, notify=tell)


def parse_list(text: str | None, option: str, convert: Callable[[str], T]) -> list[T]:
    """``0.1,0.01`` → [0.1, 0.01]; a bad item is a usage error naming the option."""
    if text is None:
        return []
    items = []
    for part in text.split(","):
        try:
            items.append(convert(part.strip()))
        except ValueError:
            raise UsageError(f"{option}: '{part.strip()}' is not a valid value") from None
    return items


@app.command()
def solve(
    problem: ProblemArg = None,
    epochs: EpochsOpt = None,
    lr: Annotated[Optional[float], typer.Option("--lr", help="Override `learning_rate`.")] = None,
    l2: Annotated[Optional[float], typer.Option("--l2", help="Override `lambda`.")] = None,
    update: Annotated[Optional[str], typer.Option(
        "--update", help="Override `update`: sgd, batch or minibatch.")] = None,
    batch_size: Annotated[Optional[int], typer.Option("--batch-size",
                                                      help="Override `batch_size`.")] = None,
    optimizer: Annotated[Optional[str], typer.Option(
        "--optimizer", help="Override `optimizer`: sgd, momentum, nesterov, adagrad, rmsprop or "
                            "adam (default hyper-parameters unless the file sets that one's).",
        show_default=False)] = None,
    carry: CarryOpt = None,
    decimals: DecimalsOpt = None,
    summary: Annotated[bool, typer.Option(
        "--summary", help="Long runs: one line per epoch (loss, parameters), written as the run "
                          "goes; nothing else is kept.")] = False,
    stream: Annotated[bool, typer.Option(
        "--stream", help="With --format json: JSON lines, one per step, written as the run "
                         "goes.")] = False,
    max_steps: Annotated[Optional[int], typer.Option(
        "--max-steps", min=1, show_default=False,
        help="Stop after N update steps (worked solutions of models other than logistic and "
             "linear: after the last whole epoch that fits). Also lifts the guard on very "
             "long runs.")] = None,
    full: Annotated[bool, typer.Option(
        "--full", help="Print every epoch of a long run (by default the first and last "
                       "epochs are written out and the others get one line each).")] = False,
    strict: Annotated[bool, typer.Option(
        "--strict", help="Exit with code 1 when the run produced a warning (overflow, "
                         "divergence, an unstable learning rate, --max-steps).")] = False,
    steps: StepsOpt = False,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    standalone: StandaloneOpt = False,
    width: WidthOpt = None,
    pager: PagerOpt = True,
    symbolic: Annotated[bool, typer.Option(
        "--symbolic", help="Networks (mlp, network): print the general gradient formulas of the "
                           "architecture instead of the numbers.")] = False,
) -> None:
    """Solve a problem and print the worked solution."""

    def run() -> "list[Diagnostic]":
        from gdtrace import api
        from gdtrace.writer import choose_format, choose_writer

        _check_output(output, problem)
        chosen = choose_format(fmt, output)
        loaded = api.load_to_solve(problem, formula_only=symbolic, worked=not (
            summary or stream or symbolic or max_steps is not None))
        if loaded.model == "derivative":
            raise UsageError(f"{loaded.source}: a derivation task has no steps to solve; run "
                             f"`gdtrace derive {problem}`")
        loaded = api.load(loaded, epochs=epochs, learning_rate=lr, lam=l2, update=update,
                          carry_decimals=carry, batch_size=batch_size, optimizer=optimizer)
        _check_output(output, problem, loaded)
        if symbolic:
            loaded = _symbolic(loaded)
        if (summary or stream) and _asks_formulas(loaded, symbolic):
            raise UsageError("--summary and --stream follow a training run; --symbolic (or "
                             "symbolic: true) prints formulas")
        write = choose_writer({"summary": summary, "stream": stream}, chosen)
        return write(loaded, output_request(chosen, fmt, output, decimals, steps, full,
                                            standalone, width, pager, max_steps, symbolic))

    _exit_if_strict(strict, guarded(run))


def _exit_if_strict(strict: bool, warnings: "list[Diagnostic]") -> None:
    """``--strict``: a run with warnings fails (exit 1) after everything was written."""
    if strict and warnings:
        count = len(warnings)
        typer.echo(f"gdtrace: --strict: {count} warning{'s' if count != 1 else ''}", err=True)
        raise typer.Exit(1)


def _asks_formulas(loaded: "Problem", symbolic: bool = False) -> bool:
    """The problem (``symbolic: true``) or the run (``--symbolic``) asks for formulas."""
    from gdtrace.solvers import RunOptions, asks_formulas

    return asks_formulas(loaded, RunOptions(symbolic=symbolic))


def _symbolic(loaded: "Problem") -> "Problem":
    """``--symbolic`` applies to the network solvers only (it reaches them as RunOptions)."""
    model = loaded.model
    if model not in ("mlp", "network"):
        raise UsageError(f"--symbolic applies to the network models (mlp, network), not {model}")
    return loaded


NetworkArg = Annotated[Optional[str], typer.Argument(
    help="A network problem file, or the name of a bundled one (see `gdtrace list`). "
         "Default: backprop.", show_default=False)]


@app.command()
def graph(
    problem: NetworkArg = None,
    fmt: Annotated[str, typer.Option(
        "--format", "-f", help="text (a drawing for the terminal) or dot (Graphviz).")] = "text",
    forward: Annotated[bool, typer.Option(
        "--pass/--no-pass", help="Show each node's value and gradient after one forward and "
                                 "backward pass on the first step's samples.")] = True,
    decimals: DecimalsOpt = None,
    width: WidthOpt = None,
) -> None:
    """Draw a network problem: nodes, weighted edges, values and gradients."""

    def run() -> None:
        from gdtrace import api
        from gdtrace.render.graph import draw
        from gdtrace.writer import output_width

        if fmt not in ("text", "dot"):
            raise UsageError(f"unknown graph format '{fmt}' (choose from dot, text)")
        sys.stdout.write(draw(api.load(problem or "backprop"), fmt, forward,
                              4 if decimals is None else decimals,
                              output_width(width, "text", None) if fmt == "text" else None))

    guarded(run)


@app.command()
def compare(
    problem: ProblemArg = None,
    l2: Annotated[Optional[str], typer.Option(
        "--l2", help="λ values to compare with the file's, e.g. 0.5 or 0.1,1,10.")] = None,
    lr: Annotated[Optional[str], typer.Option(
        "--lr", help="Learning rates to compare, e.g. 0.1,0.01.")] = None,
    update: Annotated[Optional[str], typer.Option(
        "--update", help="Update rules to compare, e.g. sgd,batch.")] = None,
    optimizer: Annotated[Optional[str], typer.Option(
        "--optimizer", help="Optimizers to compare, e.g. sgd,adam.")] = None,
    batch_size: Annotated[Optional[int], typer.Option(
        "--batch-size", help="Samples per step of the minibatch runs (e.g. with --update "
                             "sgd,minibatch).")] = None,
    methods: Annotated[Optional[str], typer.Option(
        "--methods", help="Fit a regression problem several ways and compare RMSE: any of "
                          "ols, pinv, ridge, gd (e.g. ols,ridge,gd).", show_default=False)] = None,
    epochs: EpochsOpt = None,
    carry: CarryOpt = None,
    decimals: DecimalsOpt = None,
    steps: StepsOpt = False,
    full: Annotated[bool, typer.Option("--full", help="Also print every run's epochs.")] = False,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    standalone: StandaloneOpt = False,
    width: WidthOpt = None,
    pager: PagerOpt = True,
) -> None:
    """Run a problem as written and with other settings, side by side."""

    def run() -> None:
        from gdtrace import api
        from gdtrace.solvers.compare import CLOSED_FORM_MODELS
        from gdtrace.writer import choose_format, emit

        _check_output(output, problem)
        chosen = choose_format(fmt, output)
        loaded = api.load(problem)
        if _asks_formulas(loaded):
            raise UsageError("a symbolic (formula-only) problem has no runs to compare; use "
                             "gdtrace solve")
        _check_output(output, problem, loaded)
        by_method = methods is not None or loaded.model in CLOSED_FORM_MODELS
        trace = api.comparison(
            loaded, l2=parse_list(l2, "--l2", float), lr=parse_list(lr, "--lr", float),
            update=parse_list(update, "--update", str),
            optimizer=parse_list(optimizer, "--optimizer", str), batch_size=batch_size,
            methods=(parse_list(methods, "--methods", str) if methods else []) if by_method
            else None, epochs=epochs, carry=carry)
        emit(trace, output_request(chosen, fmt, output, decimals, steps, full or steps,
                                   standalone, width, pager))

    guarded(run)


@app.command()
def plot(
    problem: ProblemArg = None,
    output: Annotated[Optional[str], typer.Option(
        "--output", "-o", help="The image to write; its type comes from the extension: .png, "
                               ".svg, .pdf …", show_default=False, metavar="FILE")] = None,
    l2: Annotated[Optional[str], typer.Option(
        "--l2", help="λ values to plot beside the file's, one line per run, e.g. 0.5.")] = None,
    lr: Annotated[Optional[str], typer.Option(
        "--lr", help="Learning rates to plot beside the file's, e.g. 0.01,0.005.")] = None,
    update: Annotated[Optional[str], typer.Option(
        "--update", help="Update rules to plot beside the file's, e.g. sgd,batch.")] = None,
    epochs: EpochsOpt = None,
    carry: CarryOpt = None,
) -> None:
    """Plot the loss per epoch and the parameters per step to an image (-o loss.png/.svg/.pdf).

    With --l2, --lr or --update the runs of `compare` are drawn, one line per run.
    Needs matplotlib: pip install "gdtrace\\[plot]".
    """

    def run() -> None:
        from gdtrace import api
        from gdtrace.render.plot import save_plot

        if output is None:
            raise UsageError("say where to save the plot: -o loss.png (or .svg, .pdf)")
        _check_output(output, problem)
        rates, lams = parse_list(lr, "--lr", float), parse_list(l2, "--l2", float)
        updates = parse_list(update, "--update", str)
        loaded = api.load(problem)
        _check_output(output, problem, loaded)
        if lams or rates or updates:
            trace = api.comparison(loaded, l2=lams, lr=rates, update=updates, epochs=epochs,
                                   carry=carry)
        else:
            trace = api.solve(loaded, epochs=epochs, carry=carry)
        if trace.problem.model in ("network", "mlp") and not any(
                run.epochs for run in trace.runs):
            raise UsageError("nothing to plot: the problem has no training steps (symbolic: "
                             "true prints formulas; use gdtrace solve)")
        save_plot(trace, output)
        typer.echo(f"gdtrace: wrote {output}", err=True)

    guarded(run)


RunOpt = Annotated[Optional[str], typer.Option(
    "--run", help="The run the answers are about, by its label (default: the answers' own "
                  "`run:`, else the first run).", show_default=False)]
CompareL2Opt = Annotated[Optional[str], typer.Option(
    "--compare-l2", help="The runs of `gdtrace compare --l2 VALUES` (the problem as written "
                         "and with each λ): the answers are about one of them (--run or their "
                         "`run:`, e.g. 'λ = 0.5').", show_default=False)]
CompareLrOpt = Annotated[Optional[str], typer.Option(
    "--compare-lr", help="The runs of `gdtrace compare --lr VALUES`, as --compare-l2.",
    show_default=False)]
KeysOpt = Annotated[Optional[str], typer.Option(
    "--keys", help="Only these sections or keys, e.g. grad,params or z,sigma (sections: "
                   "values, grad, params, loss, final).", show_default=False)]
StepRangeOpt = Annotated[Optional[str], typer.Option(
    "--steps", help="Only these steps, e.g. 1-4,7.", show_default=False)]
LrOpt = Annotated[Optional[float], typer.Option("--lr", help="Override `learning_rate`.")]
L2Opt = Annotated[Optional[float], typer.Option("--l2", help="Override `lambda`.")]
UpdateOpt = Annotated[Optional[str], typer.Option(
    "--update", help="Override `update`: sgd, batch or minibatch.")]
BatchSizeOpt = Annotated[Optional[int], typer.Option("--batch-size",
                                                     help="Override `batch_size`.")]
OptimizerOpt = Annotated[Optional[str], typer.Option(
    "--optimizer", help="Override `optimizer`.", show_default=False)]
SheetOutputOpt = Annotated[Optional[str], typer.Option(
    "--output", "-o", help="Write to FILE (atomically); the format comes from its extension: "
                           ".yaml .csv .md.", show_default=False, metavar="FILE")]
ReportOutputOpt = Annotated[Optional[str], typer.Option(
    "--output", "-o", help="Write to FILE (atomically); the format comes from its extension: "
                           ".txt .md .json .csv (gradescope: give --format).",
    show_default=False, metavar="FILE")]


@app.command()
def sheet(
    problem: ProblemArg = None,
    fmt: Annotated[Optional[str], typer.Option(
        "--format", "-f", help="yaml (default), csv or markdown; default from the --output "
                               "extension (.yaml .csv .md).", show_default=False)] = None,
    output: SheetOutputOpt = None,
    keys: KeysOpt = None,
    steps: StepRangeOpt = None,
    run_label: RunOpt = None,
    compare_l2: CompareL2Opt = None,
    compare_lr: CompareLrOpt = None,
    epochs: EpochsOpt = None,
    lr: LrOpt = None,
    l2: L2Opt = None,
    update: UpdateOpt = None,
    batch_size: BatchSizeOpt = None,
    carry: CarryOpt = None,
    optimizer: OptimizerOpt = None,
) -> None:
    """Write the blank answer sheet of a problem: every number of every step, empty."""

    def run() -> None:
        from gdtrace.check.commands import make_sheet

        text = make_sheet(problem, fmt, output=output, keys=keys, steps=steps, run=run_label,
                          compare={"l2": compare_l2, "lr": compare_lr},
                          epochs=epochs, learning_rate=lr, lam=l2, update=update,
                          batch_size=batch_size, carry_decimals=carry, optimizer=optimizer)
        _write_or_print(text, output)

    guarded(run)


@app.command()
def check(
    problem: Annotated[str, typer.Argument(
        help="A problem file, or the name of a bundled problem.", show_default=False)],
    answers: Annotated[list[str], typer.Argument(
        help="Answers files (.yaml, .json or .csv; see `gdtrace sheet`). Several: each "
             "report, then a class summary.", show_default=False)],
    fmt: Annotated[Optional[str], typer.Option(
        "--format", "-f", help="text, terminal, markdown, html, json, csv (several files: "
                               "the gradebook) or gradescope (results.json). Default: from the "
                               "--output extension; else terminal on a terminal, text "
                               "otherwise.", show_default=False)] = None,
    output: ReportOutputOpt = None,
    run_label: RunOpt = None,
    no_ecf: Annotated[bool, typer.Option(
        "--no-ecf", help="No credit for numbers right only from the student's own earlier "
                         "numbers (error carried forward).")] = False,
    rounding_credit: Annotated[Optional[float], typer.Option(
        "--rounding-credit", help="Credit (0-1) of a number rounded the wrong way. Default 1.",
        show_default=False)] = None,
    points: Annotated[Optional[str], typer.Option(
        "--points", help="Points of one number per section, e.g. values=1,grad=2,params=1,"
                         "loss=1,final=1 (default 1 each).", show_default=False)] = None,
    compare_l2: CompareL2Opt = None,
    compare_lr: CompareLrOpt = None,
    epochs: EpochsOpt = None,
    lr: LrOpt = None,
    l2: L2Opt = None,
    update: UpdateOpt = None,
    batch_size: BatchSizeOpt = None,
    carry: CarryOpt = None,
    optimizer: OptimizerOpt = None,
) -> None:
    """Grade answers files number by number, with error carried forward.

    Exit code 0 when no number is wrong, 1 when some number is wrong, 2 for bad input.
    """

    def run() -> int:
        from gdtrace.check.commands import check_options, report_format, run_check
        from gdtrace.writer import wants_colour

        chosen = report_format(output, fmt, wants_colour())
        options = check_options(not no_ecf, rounding_credit, points)
        outcome = run_check(problem, answers, chosen, options=options, run=run_label,
                            output=output, compare={"l2": compare_l2, "lr": compare_lr},
                            epochs=epochs, learning_rate=lr, lam=l2,
                            update=update, batch_size=batch_size, carry_decimals=carry,
                            optimizer=optimizer)
        _write_or_print(outcome.text, output)
        return outcome.exit_code

    code = guarded(run)
    if code:
        raise typer.Exit(code)


@app.command("list")
def list_problems() -> None:
    """List the bundled problems with their titles."""

    def run() -> None:
        from gdtrace.problem import bundled_problems, load_problem

        for name, path in sorted(bundled_problems().items()):
            try:
                title = load_problem(path).title
            except GdtraceError as error:
                title = f"(invalid: {error})"
            typer.echo(f"{name:<14} {title}")

    guarded(run)


def _check_output(output: str | None, problem: str | None,
                  loaded: "Problem | None" = None) -> None:
    """--output must not be an input of the problem (its file, once loaded its dataset CSV)
    or a folder."""
    if output is None:
        return
    from gdtrace.output import check_target
    from gdtrace.problem import resolve_problem

    if problem is not None and os.path.isdir(problem):
        return  # load() names the mistake
    inputs: list[str | os.PathLike[str]] = [resolve_problem(problem)]
    dataset = getattr(loaded, "dataset", None)
    file = getattr(dataset, "file", None)
    if file is not None:
        inputs.append(file)
    check_target(output, inputs)


@app.command("schema")
def schema_command(
    output: Annotated[Optional[str], typer.Option(
        "--output", "-o", help="Write the schema to this file instead of printing it.",
        show_default=False)] = None,
) -> None:
    """Print the JSON Schema (draft 2020-12) of problem files, for editors and CI."""

    def run() -> None:
        import json

        from gdtrace.problem import problem_json_schema

        text = json.dumps(problem_json_schema(), indent=2, ensure_ascii=False) + "\n"
        _write_or_print(text, output)

    guarded(run)


@app.command("new")
def new_problem(
    model: Annotated[str, typer.Argument(help="The model, e.g. logistic (see `gdtrace schema`).",
                                         show_default=False)],
    output: Annotated[Optional[str], typer.Option(
        "--output", "-o", help="Write the template to this new file instead of printing it.",
        show_default=False)] = None,
) -> None:
    """Write a commented template problem file for MODEL."""

    def run() -> None:
        from gdtrace.problem.templates import template

        text = template(model)
        if output is None:
            sys.stdout.write(text)
            return
        from gdtrace.output import create_new

        create_new(output, text)
        typer.echo(f"gdtrace: wrote {output}", err=True)

    guarded(run)


@app.command("validate")
def validate_files(
    files: Annotated[list[str], typer.Argument(
        help="Problem files (or bundled problem names) to check.", show_default=False)],
) -> None:
    """Check problem files without solving them: one line per file, exit 2 if any is invalid."""
    from gdtrace import api

    invalid = 0
    for name in files:
        try:
            problem = api.load(name)
        except GdtraceError as error:
            invalid += 1
            typer.echo(one_line(str(error)))
            continue
        typer.echo(f"{name}: ok ({problem.model})")
    if invalid:
        typer.echo(f"gdtrace: {invalid} of {len(files)} file{'s' if len(files) != 1 else ''}"
                   " invalid", err=True)
        raise typer.Exit(EXIT_BAD_INPUT)


# ------------------------------------------------------------------------------------ derive

EXIT_CLAIM_WRONG = 1


@app.command()
def derive(
    expr: Annotated[str, typer.Argument(
        help="The expression, e.g. \"a^T X^T X b\" (capitals: matrices, lower case: column "
             "vectors), or a problem file with model: derivative.", show_default=False)],
    wrt: Annotated[Optional[str], typer.Option(
        "--wrt", help="The variable to differentiate by, e.g. X.", show_default=False)] = None,
    claim: Annotated[Optional[str], typer.Option(
        "--claim", help="An answer to check, e.g. \"2 X b a^T\": exit 0 when right, 1 when "
                        "wrong.", show_default=False)] = None,
    shape: Annotated[Optional[str], typer.Option(
        "--shape", help="Sizes, e.g. \"X=3x4,a=3\" (default: n×n matrices, n-vectors).",
        show_default=False)] = None,
    layout: Annotated[Optional[str], typer.Option(
        "--layout", help="ml (default: ∂f/∂X shaped like X, a vector f by its m×n Jacobian), "
                         "numerator or denominator.", show_default=False)] = None,
    fmt: Annotated[Optional[str], typer.Option(
        "--format", "-f", help="text, markdown, latex or json (default text).",
        show_default=False)] = None,
) -> None:
    """Matrix calculus: the derivative of f with its steps, checked numerically.

    Needs sympy: pip install "gdtrace\\[derive]".
    """
    correct = guarded(lambda: _derive(expr, wrt, claim, shape, layout, fmt))
    if correct is False:
        raise typer.Exit(EXIT_CLAIM_WRONG)


def _derive(expr: str, wrt: str | None, claim: str | None, shape: str | None,
            layout: str | None, fmt: str | None) -> bool | None:
    """Print the derivation; True/False: the claim's verdict, None: no claim."""
    from gdtrace.derive import require_sympy

    chosen = fmt or "text"
    if chosen not in ("text", "terminal", "markdown", "latex", "json"):
        raise UsageError(f"unknown format '{chosen}' for derive (choose from json, latex, "
                         "markdown, text)")
    task = {"f": expr, "wrt": wrt, "claim": claim, "shape": shape, "layout": layout}
    if expr.endswith((".yaml", ".yml")) and os.path.isfile(expr):
        task = _derive_task(expr, task)
    expression, variable = task["f"], task["wrt"]
    if not variable:
        raise UsageError("say which variable: --wrt X")
    if expression is None:
        raise UsageError("cannot derive f: the file gives no f")
    require_sympy()
    from gdtrace.derive.render import render
    from gdtrace.derive.report import run

    try:
        report = run(expression, variable, task["claim"], task["shape"],
                     task["layout"] or "ml")
    except (ValueError, TypeError, ArithmeticError, RecursionError) as error:
        raise UsageError(f"cannot derive f: {error}") from None
    sys.stdout.write(render(report, chosen))
    return None if report.claim is None else report.claim.correct


def _derive_task(path: str, options: dict[str, str | None]) -> dict[str, str | None]:
    """A ``model: derivative`` file; options given on the command line win."""
    from gdtrace import api

    loaded = api.load(path)
    if loaded.model != "derivative":
        raise UsageError(f"{path}: model {loaded.model} is not a derivation task; "
                         f"solve it with `gdtrace solve {path}`")
    task = dict(vars(loaded.spec))
    task.update({k: v for k, v in options.items() if v is not None and k != "f"})
    return task


# ----------------------------------------------------------------- variants (gdtrace.variants)


@app.command("variants")
def variants_command(
    problem: ProblemArg = None,
    count: Annotated[int, typer.Option("-n", "--count", help="How many variants.")] = 40,
    seed: Annotated[int, typer.Option("--seed", help="The course seed: the same seed gives "
                                                     "the same files on every machine.")] = 0,
    output: Annotated[Optional[str], typer.Option(
        "--output", "-o", metavar="DIR", show_default=False,
        help="Folder for variant-001.yaml …, their keys, blank answer sheets and exports.")
    ] = None,
    student: Annotated[Optional[str], typer.Option(
        "--student", metavar="ID", show_default=False,
        help="Write only this student's variant (a hash of seed and ID picks one of the -n).")
    ] = None,
    key: Annotated[Optional[str], typer.Option(
        "--key", show_default=False,
        help="Formats of each worked key: md, latex, json, text, html (default md; '' none).")
    ] = None,
    require: Annotated[Optional[str], typer.Option(
        "--require", show_default=False,
        help="Conditions each variant must meet, else it is redrawn: converges, diverges, "
             "no_saturation, nice, distinct, final_loss<X, final.NAME>X.")] = None,
    report: Annotated[bool, typer.Option(
        "--report", help="Print min / median / max of every answer over the variants.")] = False,
    export: Annotated[Optional[str], typer.Option(
        "--export", show_default=False,
        help="Course exports: moodle (moodle.xml), csv (answers.csv), gradescope "
             "(gradescope.zip).")] = None,
    tries: Annotated[int, typer.Option("--tries", help="Draws per variant before giving up.")
                     ] = 200,
) -> None:
    """Draw versions of a problem from its vary: block, each checked and with its worked key."""

    def run() -> None:
        from gdtrace.variants.command import run as run_variants

        for message in run_variants(problem, count, seed, output, student, key, require,
                                    report, export, tries):
            typer.echo(message, err=True)

    guarded(run)


def _write_or_print(text: str, output: str | None) -> None:
    """``-o FILE``: write it atomically (refusing a folder, under gdtrace.output's policy)
    and say so on stderr; else print."""
    if output is None:
        sys.stdout.write(text)
        return
    from gdtrace.output import write_atomic

    write_atomic(output, text)
    typer.echo(f"gdtrace: wrote {output}", err=True)


def main() -> None:
    """The ``gdtrace`` command. SIGTERM unwinds like Ctrl-C (temporary files removed, the
    --stream writer stopped); an output that cannot encode gdtrace's symbols gets ASCII
    spellings; a reader that went away ends the run quietly."""
    import signal

    from gdtrace.output import ascii_fallback

    signal.signal(signal.SIGTERM, _terminated)
    ascii_fallback()
    try:
        app()
        code: str | int | None = 0
    except SystemExit as done:
        code = done.code
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        from gdtrace.output import silence_stdout

        silence_stdout()
    sys.exit(code)


def _terminated(signum: int, frame: FrameType | None) -> None:
    """SIGTERM: unwind (every ``finally`` runs), then exit 143 as the signal would."""
    raise SystemExit(128 + signum)

