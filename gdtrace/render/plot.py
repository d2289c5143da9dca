"""Charts of a trace: the loss per epoch and the parameters after each update step.

``gdtrace plot`` draws them with matplotlib (the optional ``gdtrace[plot]`` extra, Agg backend,
no window); :func:`sparkline` draws the loss as one line of block characters for the terminal
summary. The numbers plotted are the trace's own; this module only decides where they go
(which scale, which bar height), so the console renderer never has to compute.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from gdtrace.errors import UsageError
from gdtrace.trace import Role, Run, Trace

if TYPE_CHECKING:
    from matplotlib.figure import Figure

INSTALL_HINT = 'plotting needs matplotlib: pip install "gdtrace[plot]"'
LOG_SPAN = 100.0  # a log axis once the largest loss is this many times the smallest
MAX_SERIES = 12  # parameter lines per run; matrix entries beyond this are left out
BARS = "▁▂▃▄▅▆▇█"


# ------------------------------------------------------------------------------ the data


def loss_points(run: Run) -> list[tuple[int, float]]:
    """(epochs completed, loss): the loss at the start of each epoch, then the final loss."""
    points = [(epoch.index - 1, float(epoch.loss)) for epoch in run.epochs
              if epoch.loss is not None]
    if run.final_loss is not None:
        points.append((len(run.epochs), float(run.final_loss)))
    return points


def parameter_series(run: Run) -> tuple[dict[str, list[tuple[int, float]]], int]:
    """Each parameter (or matrix entry, W1[1,2]) after every update step, by step number,
    and how many series there were before :data:`MAX_SERIES` cut them."""
    import numpy as np

    series: dict[str, list[tuple[int, float]]] = {}
    for epoch in run.epochs:
        for step in epoch.steps:
            for quantity in step.of_role(Role.PARAM):
                value = np.asarray(quantity.value, dtype=float)
                if value.ndim == 0:
                    series.setdefault(quantity.key, []).append((step.index, float(value)))
                    continue
                for position in np.ndindex(value.shape):
                    name = f"{quantity.key}[{','.join(str(i + 1) for i in position)}]"
                    series.setdefault(name, []).append((step.index, float(value[position])))
    total = len(series)
    return dict(list(series.items())[:MAX_SERIES]), total


def wants_log_scale(values: Sequence[float]) -> bool:
    """Log axis when every value is positive and they span orders of magnitude."""
    finite = [v for v in values if math.isfinite(v)]
    return bool(finite) and min(finite) > 0 and max(finite) / min(finite) >= LOG_SPAN


def sparkline(values: Sequence[float | None], width: int | None = None) -> str:
    """Loss values as bar characters (▁ lowest … █ highest; log-scaled when they span orders
    of magnitude); a value that is missing or not finite is shown as ·. With ``width``, a
    longer series is thinned to that many evenly spaced values (first and last kept)."""
    if width is not None and width >= 2 and len(values) > width:
        last = len(values) - 1
        values = [values[round(k * last / (width - 1))] for k in range(width)]
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return ""
    log = wants_log_scale(finite)
    scaled = [math.log10(v) if log else v for v in finite]
    low, high = min(scaled), max(scaled)
    out = []
    for value in values:
        if value is None or not math.isfinite(value):
            out.append("·")
            continue
        position = math.log10(value) if log else float(value)
        level = 0 if high == low else round((position - low) / (high - low) * (len(BARS) - 1))
        out.append(BARS[level])
    return "".join(out)


# ------------------------------------------------------------------------------ the figure


def _matplotlib() -> type[Figure]:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise UsageError(INSTALL_HINT) from None
    return Figure


def figure(trace: Trace) -> Figure:
    """Loss per epoch (left) and parameter trajectories (right); one line per run."""
    fig = _matplotlib()(figsize=(11, 4.2), layout="constrained")
    loss_axes, param_axes = fig.subplots(1, 2)
    from matplotlib.ticker import MaxNLocator

    for axes in (loss_axes, param_axes):
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs and steps are counts
    fig.suptitle(trace.problem.title)
    several = len(trace.runs) > 1
    all_losses: list[float] = []
    for run in trace.runs:
        points = [(x, y) for x, y in loss_points(run) if math.isfinite(y)]
        if points:
            xs, ys = zip(*points)
            loss_axes.plot(xs, ys, marker="o", label=run.label if several else "loss")
            all_losses.extend(ys)
    if wants_log_scale(all_losses):
        loss_axes.set_yscale("log")
    loss_axes.set_xlabel("epochs completed (0 = start)")
    loss_axes.set_ylabel("loss L")
    loss_axes.set_title("loss per epoch" + (" (log scale)" if wants_log_scale(all_losses)
                                             else ""))
    loss_axes.grid(True, alpha=0.3)
    if several and all_losses:
        loss_axes.legend(fontsize="small")
    if not all_losses:
        loss_axes.text(0.5, 0.5, "no loss recorded", ha="center", va="center",
                       transform=loss_axes.transAxes)
    styles = ["-", "--", ":", "-."]
    cut = False
    drawn = 0
    for number, run in enumerate(trace.runs):
        series, total = parameter_series(run)
        cut = cut or total > len(series)
        for color, (name, points) in enumerate(series.items()):
            finite = [(x, y) for x, y in points if math.isfinite(y)]
            if not finite:
                continue
            xs, ys = zip(*finite)
            label = f"{name} ({run.label})" if several else name
            param_axes.plot(xs, ys, linestyle=styles[number % len(styles)], marker=".",
                            color=f"C{color % 10}", label=label)
            drawn += 1
    param_axes.set_xlabel("update step")
    param_axes.set_ylabel("value after the step")
    param_axes.set_title("parameters" + (f" (first {MAX_SERIES} series)" if cut else ""))
    param_axes.grid(True, alpha=0.3)
    if drawn:
        param_axes.legend(fontsize="small", ncol=2 if drawn > 6 else 1)
    else:
        param_axes.text(0.5, 0.5, "no update steps", ha="center", va="center",
                        transform=param_axes.transAxes)
    return fig


def save_plot(trace: Trace, path: str | os.PathLike[str]) -> Path:
    """Draw the figure and write it atomically; the format comes from the extension."""
    from gdtrace.output import write_atomic

    fig = figure(trace)
    suffix = Path(path).suffix.lower().lstrip(".")
    supported = fig.canvas.get_supported_filetypes()
    if suffix not in supported:
        raise UsageError(f"cannot save a plot as '{os.fspath(path)}'; use one of "
                         f"{', '.join('.' + s for s in sorted(supported))}")
    buffer = io.BytesIO()
    fig.savefig(buffer, format=suffix, dpi=150)
    return write_atomic(path, buffer.getvalue())
