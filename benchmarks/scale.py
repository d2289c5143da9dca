"""Scale benchmark: gdtrace --summary and --format json --stream against a bare numpy loop.

The data set is benchmarks/make_scale_data.py's: 10 000 rows × 10 features, logistic
regression, SGD, η = 0.01, 100 epochs = 1 000 000 steps. The bare loop does the same
arithmetic one sample at a time with plain numpy (z = w·x + b, σ(z) in its stable form,
error = σ − y, w ← w − η·error·x, the epoch's mean log loss) and records nothing; it runs in its
own process and times only its loop. gdtrace is timed as the whole command (start-up, reading
the CSV and writing the output included), so the ratios are conservative. Every command runs
``--repeat`` times, interleaved; medians are reported. Peak memory is the maximum resident set
size of each process (``getrusage``).

The bare loop's final parameters must equal gdtrace's bit for bit (same arithmetic).

Usage: python benchmarks/scale.py [--epochs 100] [--repeat 3] [--dir DIR]
Exit code 1 when a target is missed: summary ≤ 1.5× and ≤ 150 MB; stream ≤ 4× and its peak
memory for 100 epochs within 10% (+5 MB) of its peak for 10 epochs.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import make_scale_data

GDTRACE = [sys.executable, "-m", "gdtrace"]

BARE = r'''
import json, sys, time
import numpy as np
data = np.loadtxt(sys.argv[1], delimiter=",", skiprows=1)
epochs = int(sys.argv[2])
X, y = data[:, :-1].copy(), data[:, -1].copy()
w, b, eta = np.zeros(X.shape[1]), 0.0, 0.01
losses = []
start = time.perf_counter()
for epoch in range(epochs):
    z = X @ w + b
    losses.append(float(np.mean(np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z))) - y * z)))
    for i in range(X.shape[0]):
        x = X[i]
        z = float(np.dot(w, x)) + b
        e = float(np.exp(-abs(z)))
        error = (1.0 / (1.0 + e) if z >= 0 else e / (1.0 + e)) - y[i]
        w = w - eta * (error * x)
        b = b - eta * error
elapsed = time.perf_counter() - start
print(json.dumps({"seconds": elapsed, "final": [*w.tolist(), b], "losses": losses}))
'''


def measured(command: list[str], keep: bool = False) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MB, stdout if ``keep``) of one command, run from a fresh
    wrapper process so ``RUSAGE_CHILDREN`` holds exactly that command's peak; output that is
    not kept goes to /dev/null, as a redirect to a file would."""
    wrapper = ("import resource, subprocess, sys, time\n"
               "keep = sys.argv[1] == 'keep'\n"
               "t = time.perf_counter()\n"
               "out = subprocess.run(sys.argv[2:], check=True, stdout=subprocess.PIPE if keep"
               " else subprocess.DEVNULL).stdout\n"
               "t = time.perf_counter() - t\n"
               "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
               "sys.stderr.write(f'{t} {peak}\\n')\n"
               "sys.stdout.buffer.write(out or b'')\n")
    result = subprocess.run([sys.executable, "-c", wrapper, "keep" if keep else "-", *command],
                            capture_output=True, check=True)
    seconds, peak_kb = result.stderr.decode().split()[-2:]
    return float(seconds), int(peak_kb) / 1024, result.stdout.decode()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "gdtrace-scale")
    args = parser.parse_args()
    problem = make_scale_data.write(args.dir, epochs=args.epochs)
    csv = problem.parent / "dataset.csv"
    bare_script = problem.parent / "bare_loop.py"
    bare_script.write_text(BARE)
    commands = {
        "bare": [sys.executable, str(bare_script), str(csv), str(args.epochs)],
        "summary": [*GDTRACE, "solve", str(problem), "--summary", "--format", "text"],
        "stream": [*GDTRACE, "solve", str(problem), "--format", "json", "--stream"],
    }
    times: dict[str, list[float]] = {k: [] for k in commands}
    peaks: dict[str, list[float]] = {k: [] for k in commands}
    outputs: dict[str, str] = {}
    for _ in range(args.repeat):
        for name, command in commands.items():
            wall, peak, out = measured(command, keep=name == "bare")
            times[name].append(json.loads(out)["seconds"] if name == "bare" else wall)
            peaks[name].append(peak)
            outputs[name] = out
    # the same numbers: gdtrace's losses and final parameters against the bare loop's
    lines = measured([*GDTRACE, "solve", str(problem), "--summary", "--format", "json"],
                     keep=True)[2]
    events = [json.loads(line) for line in lines.splitlines()]
    bare = json.loads(outputs["bare"])
    same = list(events[-1]["final"].values()) == bare["final"] and \
        [e["loss"] for e in events if e["type"] == "epoch"] == bare["losses"]
    short = max(1, args.epochs // 10)
    flat_small = measured([*GDTRACE, "solve", str(problem), "--format", "json", "--stream",
                           "--epochs", str(short)])[1]
    median = {k: statistics.median(v) for k, v in times.items()}
    peak = {k: max(v) for k, v in peaks.items()}
    ratio_summary = median["summary"] / median["bare"]
    ratio_stream = median["stream"] / median["bare"]
    steps = args.epochs * 10_000
    print(f"machine: {platform.processor() or platform.machine()}, {platform.system()}"
          f" {platform.release()}, Python {platform.python_version()}, cores:"
          f" {len(__import__('os').sched_getaffinity(0))}")
    print(f"problem: {problem} ({steps:,} steps); repeats: {args.repeat} (medians)")
    print()
    print("| run | median s | × bare loop | peak RSS MB |")
    print("|---|---:|---:|---:|")
    print(f"| bare numpy loop (loop only) | {median['bare']:.2f} | 1.00 | {peak['bare']:.0f} |")
    print(f"| gdtrace --summary (whole command) | {median['summary']:.2f} | {ratio_summary:.2f}"
          f" | {peak['summary']:.0f} |")
    print(f"| gdtrace --format json --stream (whole command) | {median['stream']:.2f} |"
          f" {ratio_stream:.2f} | {peak['stream']:.0f} |")
    print()
    print(f"stream peak RSS: {short} epochs {flat_small:.0f} MB, {args.epochs} epochs"
          f" {peak['stream']:.0f} MB")
    print(f"epoch losses and final parameters identical to the bare loop's: {same}")
    ok = (ratio_summary <= 1.5 and peak["summary"] <= 150 and ratio_stream <= 4
          and peak["stream"] <= flat_small * 1.1 + 5 and same)
    print("targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
