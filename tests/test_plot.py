"""Plots: the figure's data are the trace's numbers; saving works; no matplotlib → exit 2."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import gdtrace
from gdtrace.cli import app
from gdtrace.errors import UsageError
from gdtrace.render.plot import (
    INSTALL_HINT,
    loss_points,
    parameter_series,
    sparkline,
    wants_log_scale,
)


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args))


def needs_matplotlib() -> None:
    """Skip without matplotlib (an optional extra) locally; in CI it must be installed."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail('matplotlib is missing in CI: install "gdtrace[plot]"')
        pytest.skip("matplotlib not installed (pip install 'gdtrace[plot]')")


def test_loss_points_are_the_epoch_losses_then_the_final_loss() -> None:
    run = gdtrace.solve("linreg").runs[0]
    points = loss_points(run)
    assert [x for x, _ in points] == [0, 1, 2, 3, 4]
    assert points[0][1] == pytest.approx(0.695175)
    assert points[1][1] == pytest.approx(171.783929)
    assert points[-1][1] == run.final_loss


def test_parameter_series_follow_each_step() -> None:
    run = gdtrace.solve("logreg").runs[0]
    series, total = parameter_series(run)
    assert total == 4 and list(series) == ["w1", "w2", "w3", "b"]
    assert [x for x, _ in series["w1"]] == list(range(1, 9))
    assert series["w1"][0][1] == pytest.approx(0.2086547273)
    assert series["b"][-1][1] == pytest.approx(-0.0505485403)


def test_matrix_parameters_become_one_series_per_entry() -> None:
    run = gdtrace.solve("softmax").runs[0]
    series, total = parameter_series(run)
    assert total > 4
    assert any(name.startswith("W1[") and "," in name for name in series)


def test_log_scale_only_when_the_loss_spans_orders_of_magnitude() -> None:
    assert wants_log_scale([0.69, 171.8, 76973.8])
    assert not wants_log_scale([0.9, 0.5, 0.3])
    assert not wants_log_scale([0.0, 10.0, 1000.0])  # a zero cannot go on a log axis
    assert not wants_log_scale([])


def test_sparkline_maps_lowest_and_highest_to_the_end_bars() -> None:
    assert sparkline([3.0, 2.0, 1.0]) == "█▅▁"
    assert sparkline([1.0, 1.0]) == "▁▁"
    assert sparkline([0.69, 171.8, 76973.8, 3.5e7]) == "▁▃▆█"  # log scale: evenly rising
    assert sparkline([1.0, float("inf"), None, 2.0]) == "▁··█"
    assert sparkline([]) == ""


def test_plot_writes_png_and_svg(tmp_path: Path) -> None:
    needs_matplotlib()
    png, svg = tmp_path / "loss.png", tmp_path / "cmp.svg"
    result = invoke("plot", "linreg", "-o", str(png))
    assert result.exit_code == 0, result.output
    assert png.read_bytes().startswith(b"\x89PNG")
    result = invoke("plot", "--l2", "0.5", "-o", str(svg))
    assert result.exit_code == 0, result.output
    text = svg.read_text()
    assert "<svg" in text and "λ = 0.5" in text and "as written" in text
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("name", ["sigmoid_mlp", "quadratic", "ridge"])
def test_plot_every_kind_of_model(name: str, tmp_path: Path) -> None:
    needs_matplotlib()
    target = tmp_path / f"{name}.png"
    result = invoke("plot", name, "-o", str(target))
    assert result.exit_code == 0, result.output
    assert target.stat().st_size > 1000


def test_plot_needs_an_output_and_a_known_image_type(tmp_path: Path) -> None:
    needs_matplotlib()
    result = invoke("plot", "linreg")
    assert result.exit_code == 2 and "-o loss.png" in result.output
    result = invoke("plot", "linreg", "-o", str(tmp_path / "loss.docx"))
    assert result.exit_code == 2 and "cannot save a plot" in result.output
    assert not (tmp_path / "loss.docx").exists()


def test_without_matplotlib_the_message_says_how_to_install(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for module in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, module)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib → ImportError
    result = invoke("plot", "linreg", "-o", str(tmp_path / "loss.png"))
    assert result.exit_code == 2
    assert 'pip install "gdtrace[plot]"' in result.output
    assert "Traceback" not in result.output
    from gdtrace.render.plot import figure

    with pytest.raises(UsageError, match="matplotlib"):
        figure(gdtrace.solve("linreg"))
    assert "gdtrace[plot]" in INSTALL_HINT


def test_terminal_summary_shows_the_loss_chart_and_plain_text_does_not() -> None:
    trace = gdtrace.solve("linreg", epochs=6)
    terminal = gdtrace.render(trace, "terminal", width=120)
    chart = next(line for line in terminal.splitlines() if "loss chart:" in line)
    assert "▁▂▃▄▅▆▇█"[0] in chart and "█" in chart and "log scale" in chart
    assert "loss chart" not in gdtrace.render(trace, "text")
    single = gdtrace.solve("logreg", epochs=1)  # start + final: still two points
    assert "loss chart:" in gdtrace.render(single, "terminal")
