"""``--format json``: the document fixed by the spec, plus a few documented additions.

Numbers are the computed (carry-rounded, if asked) values at full precision; a value that is
not finite is written as null, since JSON has no NaN or infinity, and a warning says why.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable, Iterator
from itertools import chain
from typing import Any, TextIO

import numpy as np

from gdtrace import __version__
from gdtrace.render import RenderOptions
from gdtrace.solvers.streaming import (
    EpochEnd,
    EpochRows,
    EpochStart,
    Event,
    RunEnd,
    RunStart,
    StepDone,
    StepRows,
)
from gdtrace.trace import Epoch, ProblemInfo, Quantity, Role, Run, Step, Trace


def plain(value: Any) -> Any:
    """numpy scalars and arrays to JSON-ready Python values; NaN and ±inf to None."""
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return number if math.isfinite(number) else None
    return value


def step_values(step: Step, lists: bool = False) -> dict[str, Any]:
    """Per-sample values (one number in SGD, one list per key in a batch), then step values.

    ``lists`` keeps lists even for a one-sample step (the short last group of a minibatch
    epoch), so a reader sees the same shape in every step of a batch or minibatch run."""
    values: dict[str, Any] = {}
    for row in step.rows:
        for quantity in row:
            if quantity.role is Role.VALUE:
                values.setdefault(quantity.key, []).append(quantity.value)
    if len(step.rows) == 1 and not lists:
        values = {key: items[0] for key, items in values.items()}
    for quantity in step.of_role(Role.VALUE):
        values[quantity.key] = quantity.value
    return values


def _by_key(quantities: list[Quantity]) -> dict[str, Any]:
    return {q.key: q.value for q in quantities}


def step_document(step: Step, lists: bool = False) -> dict[str, Any]:
    document: dict[str, Any] = {"step": step.index, "samples": step.samples,
                                "values": step_values(step, lists),
                                "grad": _by_key(step.of_role(Role.GRAD)),
                                "params": _by_key(step.of_role(Role.PARAM))}
    if step.title:
        document["title"] = step.title
    return document


def epoch_document(epoch: Epoch, lists: bool = False) -> dict[str, Any]:
    return {"epoch": epoch.index, "loss": epoch.loss,
            "steps": [step_document(step, lists) for step in epoch.steps]}


def run_document(run: Run) -> dict[str, Any]:
    lists = run.settings.get("update") in ("batch", "minibatch")
    document: dict[str, Any] = {
        "label": run.label, "settings": run.settings,
        "epochs": [epoch_document(epoch, lists) for epoch in run.epochs],
        "final": run.final, "final_loss": run.final_loss,
    }
    if run.outcome is not None:
        document["predictions"] = [
            {"sample": p.sample, "score": p.score, "label": p.label, "target": p.target}
            for p in run.outcome.predictions]
        document["threshold"] = run.outcome.threshold
        document["accuracy"] = run.outcome.accuracy
    if run.stability is not None:
        document["stability"] = {"lambda_max": run.stability.lambda_max,
                                 "eta_limit": run.stability.eta_limit,
                                 "stable": run.stability.stable}
    if run.blocks:
        document["blocks"] = [
            {"title": block.title, "values": _by_key(block.quantities),
             "tables": [{"title": table.title, "columns": table.columns, "rows": table.rows}
                        for table in block.tables]}
            for block in run.blocks]
    if run.stopped_early:
        document["stopped_early"] = True
    return document


def trace_document(trace: Trace) -> dict[str, Any]:
    document: dict[str, Any] = {
        "gdtrace": __version__,
        "problem": {"title": trace.problem.title, "model": trace.problem.model,
                    "source": trace.problem.source},
        "runs": [run_document(run) for run in trace.runs],
        "warnings": [{"run": d.run, "code": d.code, "message": d.message, "epoch": d.epoch,
                      "step": d.step} for d in trace.warnings],
    }
    if _formulas_only(trace):
        document["formulas"] = formula_documents(trace)
    if trace.comparison is not None:
        document["comparison"] = {
            "baseline": trace.comparison.baseline,
            "contrasts": [{"run": c.run, "baseline": c.baseline,
                           "loss_difference": c.loss_difference,
                           "changes": [change.__dict__ for change in c.changes]}
                          for c in trace.comparison.contrasts]}
    return plain(document)


def _formulas_only(trace: Trace) -> bool:
    """``--symbolic`` on a network: the formulas are the answer, so JSON carries them too."""
    return trace.problem.model in ("network", "mlp") and bool(trace.runs) and not any(
        run.epochs for run in trace.runs)


def formula_documents(trace: Trace) -> list[dict[str, str]]:
    """The header's formulas as Unicode text and LaTeX: ``{"lhs", "rhs", "latex", "label"}``."""
    from gdtrace.render.latex_printer import LatexPrinter
    from gdtrace.render.printer import ExprPrinter

    text, latex = ExprPrinter(), LatexPrinter()
    return [{"lhs": text.symbolic(f.lhs), "relation": f.relation, "rhs": text.symbolic(f.rhs),
             "latex": f"{latex.symbolic(f.lhs)} {f.relation} {latex.symbolic(f.rhs)}",
             "label": f.label} for f in trace.header.formulas]


def render(trace: Trace, options: RenderOptions) -> str:
    return json.dumps(trace_document(trace), indent=2, allow_nan=False) + "\n"


# ------------------------------------------------------------------- --stream / --summary


def _compact(document: dict[str, Any]) -> str:
    """One JSON line. Most lines hold only Python numbers, strings and lists, which ``json``
    writes as :func:`plain` would; numpy values (TypeError) and NaN or ±inf (ValueError) take
    the walk through :func:`plain` (a ``--summary`` of many tiny epochs spent a third of its
    time there)."""
    try:
        text = _LINE_ENCODER.encode(document)
    except (TypeError, ValueError):
        text = _LINE_ENCODER.encode(plain(document))
    return text + "\n"


_LINE_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
"""``json.dumps`` with these options builds a new encoder per call: half the cost of a line."""


def _plain_float(value: object) -> bool:
    return type(value) is float and math.isfinite(value)


def epoch_line(index: int, loss: float | None) -> str:
    """``{"type":"epoch",…}``: written directly when the loss is a finite Python float (the
    same text ``json`` writes: a float's ``repr``), else through :func:`_compact`. A
    ``--summary`` of many tiny epochs is mostly these two lines."""
    if _plain_float(loss) and type(index) is int:
        return f'{{"type":"epoch","epoch":{index},"loss":{loss!r}}}\n'
    return _compact({"type": "epoch", "epoch": index, "loss": loss})


def epoch_end_line(index: int, steps: int, params: dict[str, Any]) -> str:
    """``{"type":"epoch_end",…}``, written directly as :func:`epoch_line` is (a %-template per
    set of parameter names; ``%r`` of a float is its repr, as ``json`` writes it)."""
    values = tuple(params.values())
    if type(index) is int and type(steps) is int and all(type(v) is float for v in values) \
            and math.isfinite(sum(values)):  # a nan or ±inf makes the sum so (or it overflows)
        try:
            return _epoch_end_template(tuple(params)) % (index, steps, *values)
        except TypeError:  # a name that is not a string: json's own rules
            pass
    return _compact({"type": "epoch_end", "epoch": index, "steps": steps, "params": params})


@functools.lru_cache(maxsize=64)
def _epoch_end_template(names: tuple[str, ...]) -> str:
    if not all(type(name) is str for name in names):
        raise TypeError("parameter names are strings")
    body = ",".join(json.dumps(name).replace("%", "%%") + ":%r" for name in names)
    return '{"type":"epoch_end","epoch":%d,"steps":%d,"params":{' + body + "}}\n"


def _step_template(keys: list[str], names: list[str]) -> str:
    """A %-template for a fast-path step line (see :class:`StepRows`; "%d" of a whole float
    writes it as an integer). Numbers are written with 17 significant digits
    (``%.17g``), which reads back as exactly the same double, in half the time of the shortest
    form ``json`` writes; the fast path's numbers are all finite."""

    def mapping(words: list[str]) -> str:
        return "{" + ",".join(json.dumps(w).replace("%", "%%") + ":%.17g" for w in words) + "}"

    return ('{"type":"step","epoch":%d,"step":%d,"samples":[%d],"values":' + mapping(keys)
            + ',"grad":' + mapping(names) + ',"params":' + mapping(names) + "}\n")


def _epoch_rows_template(names: list[str]) -> str:
    """A %-template for one :class:`EpochRows` row: the text of :func:`epoch_line` and
    :func:`epoch_end_line` for finite floats (``%d`` of an int, ``%r`` of a float)."""
    return '{"type":"epoch","epoch":%d,"loss":%r}\n' + _epoch_end_template(tuple(names))


def _step_lines(template: str, table: np.ndarray) -> str:
    """One JSON line per row of a :class:`StepRows` table, in one formatting call."""
    return (template * len(table)) % tuple(chain.from_iterable(table.tolist()))


def stream_lines(info: ProblemInfo, events: Iterable[Event]) -> Iterator[str]:
    """JSON lines, written as the run goes (``--stream``; ``--summary`` has no step lines):
    ``run`` (problem, settings, names), ``epoch`` (loss at the start), ``step``, ``epoch_end``
    (parameters after the epoch), ``end`` (final parameters, final loss, warnings)."""
    template = epochs = ""
    for event in events:
        if isinstance(event, StepRows):
            yield _step_lines(template, event.table)
        elif isinstance(event, EpochRows):  # whole epochs, every number a finite float
            yield (epochs * len(event.rows)) % tuple(chain.from_iterable(event.rows))
        elif isinstance(event, StepDone):
            yield _compact({"type": "step", "epoch": event.epoch, "step": event.index,
                            "samples": event.samples, "values": event.values,
                            "grad": event.grad, "params": event.params})
        elif isinstance(event, EpochStart):
            yield epoch_line(event.index, event.loss)
        elif isinstance(event, EpochEnd):
            yield epoch_end_line(event.index, event.steps, event.params)
        elif isinstance(event, RunStart):
            template = _step_template(event.value_keys, event.param_names)
            epochs = _epoch_rows_template(event.param_names)
            yield _compact({"type": "run", "gdtrace": __version__,
                            "problem": {"title": info.title, "model": info.model,
                                        "source": info.source},
                            "label": event.label, "settings": event.settings,
                            "params": event.param_names, "values": event.value_keys,
                            "steps": event.planned_steps})
        elif isinstance(event, RunEnd):
            yield _compact({"type": "end", "steps": event.steps, "final": event.final,
                            "final_loss": event.final_loss, "accuracy": event.accuracy,
                            "stopped_early": event.stopped_early,
                            "warnings": [{"code": d.code, "message": d.message,
                                          "epoch": d.epoch, "step": d.step}
                                         for d in event.diagnostics]})


def write_stream(info: ProblemInfo, events: Iterable[Event], out: TextIO,
                 parallel: bool = False) -> None:
    """Write :func:`stream_lines` to ``out``. With ``parallel`` (a long run, ``out`` a real
    file, ``fork`` available) a child process turns the step tables into text while this one
    computes the next steps: writing the numbers costs more than computing them (about 25% of
    the wall time of a long run, docs/performance.md).

    The child never outlives gdtrace: it holds only the pipe's read end (so the parent's exit,
    however it happens, is an end of file) and its output, and on Linux the kernel kills it
    when the parent dies (``PR_SET_PDEATHSIG``)."""
    import os
    import warnings

    try:
        fd = out.fileno()
    except (AttributeError, OSError, ValueError):
        fd = -1
    if not parallel or fd < 0 or not hasattr(os, "fork"):
        out.writelines(stream_lines(info, events))
        return
    from multiprocessing.connection import Connection

    out.flush()
    read_end, write_end = os.pipe()
    parent = os.getpid()
    with warnings.catch_warnings():  # 3.12+ warns when the progress bar's thread runs; the
        warnings.simplefilter("ignore", DeprecationWarning)  # child touches none of its locks
        child = os.fork()
    if child == 0:  # pragma: no cover (runs in the child; the tests check its output)
        code = 70
        try:
            code = _child_writer(read_end, write_end, fd, parent)
        finally:
            os._exit(code)  # never return into the parent's code, never flush its buffers
    os.close(read_end)
    sender = Connection(write_end, readable=False)
    template = ""
    try:
        for event in events:
            if isinstance(event, RunStart):
                template = _step_template(event.value_keys, event.param_names)
            if isinstance(event, StepRows):
                sender.send((template, event.table))
            else:
                sender.send("".join(stream_lines(info, [event])))
        sender.send(None)
    except (BrokenPipeError, EOFError):
        pass  # the reader went away (`| head`): the child stopped; so does this run
    finally:
        sender.close()
        _, status = os.waitpid(child, 0)
    code = os.waitstatus_to_exitcode(status)
    if code == 1:
        raise BrokenPipeError("the output was closed")
    if code > _ERRNO_BASE:
        raise OSError(code - _ERRNO_BASE, os.strerror(code - _ERRNO_BASE))


_ERRNO_BASE = 64
"""The child's exit code for a write error is this plus its errno (e.g. a full disk)."""


def _child_writer(read_end: int, write_end: int, fd: int, parent: int) -> int:
    """The writer process: die with the parent, keep only the pipe's read end and the output,
    then write text as it comes (step tables formatted here). Exit code 1: output closed."""
    import os
    import signal

    _die_with_parent()
    if os.getppid() != parent:  # the parent died before the line above took effect
        return 0
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the parent stops, then so do we
    os.close(write_end)
    keep = sorted({read_end, fd, 2})
    low = 0
    for number in keep:  # close every other inherited descriptor (stdin, stdout, files)
        os.closerange(low, number)
        low = number + 1
    os.closerange(low, 1 << 16)
    from multiprocessing.connection import Connection

    receiver = Connection(read_end, writable=False)
    try:
        with open(fd, "w", encoding="utf-8", buffering=1 << 16) as out:
            while True:
                try:
                    item = receiver.recv()
                except EOFError:
                    break
                if item is None:
                    break
                out.write(item if isinstance(item, str) else _step_lines(*item))
    except BrokenPipeError:
        return 1
    except OSError as error:
        return _ERRNO_BASE + min(error.errno or 5, 190)
    return 0


def _die_with_parent() -> None:
    """Linux: ask the kernel to send SIGKILL when the parent dies (no-op elsewhere)."""
    import sys

    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass
