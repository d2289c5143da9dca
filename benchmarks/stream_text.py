"""Streamed worked text: ``gdtrace solve --steps --full`` of a long logistic-regression run.

The problem is the bundled ``logreg`` (4 samples, 3 features, SGD) run for ``--steps`` SGD
steps (default 100 000: 25 000 epochs), every step worked out (``--steps --full``), written as
text to ``--out`` (default: a temporary file, whose lines are counted, then removed; pass
``/dev/null`` to skip the disk). Each command runs as a whole process, from a wrapper so
``RUSAGE_CHILDREN`` holds exactly its peak resident memory and its CPU time; the machine may be
shared, so CPU seconds (user + system) are reported beside wall seconds and the rates use CPU
time. ``--base DIR`` runs the same command with ``PYTHONPATH=DIR`` too (a checkout of an
older commit, e.g. ``git archive 50a3e5c | tar -x -C DIR``) and checks that both wrote the same
bytes; the commands alternate, ``--repeat`` times, and the medians are reported.

Usage: python benchmarks/stream_text.py [--steps 100000] [--base DIR] [--repeat 1]
       [--out FILE]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

WRAPPER = (
    "import resource, subprocess, sys, time\n"
    "t = time.perf_counter()\n"
    "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)\n"
    "t = time.perf_counter() - t\n"
    "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "print(t, u.ru_utime + u.ru_stime, u.ru_maxrss)\n"
)


def run(steps: int, out: str, pythonpath: str | None) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS in MB) of one ``gdtrace solve`` writing ``out``."""
    command = [sys.executable, "-m", "gdtrace", "solve", "logreg", "--steps", "--full",
               "--format", "text", "--epochs", str(-(-steps // 4)), "--max-steps", str(steps),
               "-o", out]
    env = {**os.environ, "COLUMNS": ""}
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    # run outside any checkout: ``python -m`` puts the working directory before PYTHONPATH
    result = subprocess.run([sys.executable, "-c", WRAPPER, *command], env=env, check=True,
                            capture_output=True, text=True, cwd=tempfile.gettempdir())
    wall, cpu, peak_kb = result.stdout.split()
    return float(wall), float(cpu), int(peak_kb) / 1024


def digest(path: str) -> tuple[str, int]:
    """(sha256, lines) of a written file ("", 0 for a device)."""
    if not Path(path).is_file():
        return "", 0
    sha, lines = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
            lines += block.count(b"\n")
    return sha.hexdigest(), lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--base", help="also run this checkout (PYTHONPATH) for comparison")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--out", help="where the text goes (default: a temporary file)")
    args = parser.parse_args()
    here = str(Path(__file__).resolve().parent.parent)  # this checkout, first on the path
    trees = {"this tree": here} | ({"base": args.base} if args.base else {})
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in trees}
    written: dict[str, tuple[str, int]] = {}
    folder = tempfile.mkdtemp(prefix="gdtrace-stream-text-")
    for _ in range(args.repeat):
        for name, tree in trees.items():
            out = args.out or os.path.join(folder, "worked.txt")
            results[name].append(run(args.steps, out, tree))
            written[name] = digest(out)
            if args.out is None:
                os.remove(out)
    os.rmdir(folder)
    print(f"machine: {platform.machine()}, {platform.system()} {platform.release()}, Python"
          f" {platform.python_version()}, cores: {len(os.sched_getaffinity(0))}, load"
          f" {os.getloadavg()[0]:.1f}")
    print(f"gdtrace solve logreg --steps --full --format text: {args.steps:,} SGD steps,"
          f" repeats: {args.repeat} (medians)")
    print(f"{'':10} {'wall s':>8} {'CPU s':>8} {'ms/step':>8} {'lines/s':>9} {'peak MB':>8}"
          f" {'lines':>10}")
    rates = {}
    for name, runs in results.items():
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        peak = max(r[2] for r in runs)
        lines = written[name][1]
        rates[name] = cpu
        per_second = f"{lines / cpu:9.0f}" if lines else f"{'—':>9}"
        print(f"{name:10} {wall:8.1f} {cpu:8.1f} {cpu / args.steps * 1e3:8.3f} {per_second}"
              f" {peak:8.0f} {lines:10,}")
    if args.base:
        same = written["this tree"] == written["base"]
        print(f"speed-up (CPU): {rates['base'] / rates['this tree']:.2f}x; same bytes: {same}")
        return 0 if same else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
