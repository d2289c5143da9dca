"""CSV data sets: gdtrace's reader against ``numpy.loadtxt``, and a 200 MB data set end to end.

1. Speed: a 1 000 000 × 10 CSV (``%.6f``, about 95 MB) read by
   :func:`gdtrace.problem.dataset.read_csv_dataset` and by
   ``np.loadtxt(file, delimiter=",", skiprows=1)``, alternately in one process, ``--repeats``
   times; the medians and the median of the per-pair ratios (wall clock and CPU time) are
   printed. The target is a ratio of at most 1.5.
2. Size: a CSV just under the 200 MiB limit (``%.17g``, 10 columns), loaded in a fresh process
   (time, peak resident memory above the interpreter with numpy and gdtrace imported, the
   table's own size), then solved with ``gdtrace solve --summary`` as a whole process (logistic
   regression, one epoch of SGD: time and peak memory), and asked for a worked solution, which
   is refused (time, message). ``--skip-big`` leaves it out.

Usage: ``python benchmarks/csv_load.py [--dir DIR] [--repeats 5] [--skip-big]``. The files are
written once into DIR (default: ``gdtrace-csv`` in the system's temporary directory) and reused.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROWS, COLUMNS, SEED = 1_000_000, 10, 2026
BIG_ROWS = 1_100_000  # × 10 columns of %.17g ≈ 202 MB, under the 200 MiB (209.7 MB) limit
LIMIT_BYTES = 200 * 1024 * 1024


def write_csv(path: Path, rows: int, fmt: str) -> Path:
    """Standard normal features and a 0/1 target (last column); written once, then reused."""
    if path.exists():
        return path
    rng = np.random.default_rng(SEED)
    table = rng.standard_normal((rows, COLUMNS))
    table[:, -1] = table[:, -1] > 0
    header = ",".join([f"x{j + 1}" for j in range(COLUMNS - 1)] + ["y"])
    part = path.with_suffix(".part")
    np.savetxt(part, table, fmt=fmt, delimiter=",", header=header, comments="")
    part.rename(path)
    return path


def time_both(path: Path, repeats: int) -> dict[str, float]:
    """Alternate loadtxt and gdtrace's reader in this process; medians and ratios."""
    from gdtrace.problem.dataset import read_csv_dataset
    from gdtrace.problem.schema import Context

    ctx = Context("bench.yaml", path.parent)
    runs: dict[str, list[tuple[float, float]]] = {"loadtxt": [], "gdtrace": []}
    for _ in range(repeats):
        for name in ("loadtxt", "gdtrace"):
            wall, cpu = time.perf_counter(), time.process_time()
            if name == "loadtxt":
                table = np.loadtxt(path, delimiter=",", skiprows=1)
            else:
                table = read_csv_dataset(path.name, "dataset.csv", ctx)[1]
            runs[name].append((time.perf_counter() - wall, time.process_time() - cpu))
            assert table.shape == (ROWS, COLUMNS)
            del table
    result: dict[str, float] = {}
    for i, kind in enumerate(("wall", "cpu")):
        ours = [run[i] for run in runs["gdtrace"]]
        theirs = [run[i] for run in runs["loadtxt"]]
        result[f"loadtxt_{kind}_s"] = statistics.median(theirs)
        result[f"gdtrace_{kind}_s"] = statistics.median(ours)
        result[f"ratio_{kind}"] = statistics.median(a / b for a, b in zip(ours, theirs))
    return result


# Peak memory is the process's VmHWM (/proc/self/status): getrusage's ru_maxrss would start
# from the parent's peak, which a child inherits on Linux.
PEAK_KB = """
def peak_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
"""

LOAD_ONE = PEAK_KB + """
import json, sys, time
import numpy as np
from pathlib import Path
from gdtrace.problem.dataset import read_csv_dataset
from gdtrace.problem.schema import Context
path = Path(sys.argv[1])
base = peak_kb()
start = time.perf_counter()
header, table, _ = read_csv_dataset(path.name, "dataset.csv", Context("b.yaml", path.parent))
seconds = time.perf_counter() - start
peak = peak_kb()
print(json.dumps({"seconds": seconds, "rows": table.shape[0], "columns": table.shape[1],
                  "table_mb": table.nbytes / 1e6, "peak_above_imports_mb": (peak - base) / 1e3,
                  "peak_mb": peak / 1e3}))
"""

RUN_CLI = PEAK_KB + """
import atexit, runpy, sys
atexit.register(lambda: print("peak_kb", peak_kb(), file=sys.stderr))
sys.argv = ["gdtrace", *sys.argv[1:]]
runpy.run_module("gdtrace", run_name="__main__")
"""


def big_check(folder: Path) -> dict[str, object]:
    """Load a just-under-200-MiB CSV in a fresh process, then solve it with --summary."""
    path = write_csv(folder / f"big_{BIG_ROWS}x{COLUMNS}.csv", BIG_ROWS, "%.17g")
    size = path.stat().st_size
    assert size <= LIMIT_BYTES, size
    loaded = json.loads(subprocess.run([sys.executable, "-c", LOAD_ONE, str(path)], check=True,
                                       capture_output=True, text=True).stdout)
    problem = folder / "big.yaml"
    problem.write_text(f"model: logistic\ndataset:\n  csv: {path.name}\nlearning_rate: 0.01\n"
                       "epochs: 1\nupdate: sgd\n")
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", RUN_CLI, "solve", str(problem), "--summary"],
                          capture_output=True, text=True)
    seconds = time.perf_counter() - start
    rss = [line.split()[1] for line in done.stderr.splitlines() if line.startswith("peak_kb")]
    start = time.perf_counter()
    refused = subprocess.run([sys.executable, "-m", "gdtrace", "solve", str(problem)],
                             capture_output=True, text=True)
    refused_seconds = time.perf_counter() - start
    return {"file_mb": size / 1e6, "load": loaded,
            "summary": {"exit": done.returncode, "seconds": seconds,
                        "peak_mb": int(rss[0]) / 1e3 if rss else None,
                        "last_line": done.stdout.strip().splitlines()[-1][:160]
                        if done.stdout.strip() else done.stderr[-300:]},
            "worked_solution": {"exit": refused.returncode, "seconds": refused_seconds,
                                "message": refused.stderr.strip()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "gdtrace-csv")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-big", action="store_true")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    path = write_csv(args.dir / f"speed_{ROWS}x{COLUMNS}.csv", ROWS, "%.6f")
    print(f"{path.name}: {path.stat().st_size / 1e6:.1f} MB")
    speed = time_both(path, args.repeats)
    print(f"loadtxt  median {speed['loadtxt_wall_s']:.2f} s wall, {speed['loadtxt_cpu_s']:.2f} s"
          " CPU")
    print(f"gdtrace  median {speed['gdtrace_wall_s']:.2f} s wall, {speed['gdtrace_cpu_s']:.2f} s"
          " CPU")
    print(f"ratio (median of {args.repeats} pairs): {speed['ratio_wall']:.2f}× wall,"
          f" {speed['ratio_cpu']:.2f}× CPU (target ≤ 1.5×)")
    if not args.skip_big:
        print(json.dumps(big_check(args.dir), indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
