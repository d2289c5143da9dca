"""Class benchmark: grading 300 answers files of ``logreg`` against one ``gdtrace solve``.

Generates 300 answers files of the bundled ``logreg`` (every number of the worked solution:
gdtrace's own numbers, each file rounded to a random 2–6 decimals; one file in three with
one number mutated: sign flipped, ×10, two digits swapped or a random value), then times,
run after run (interleaved, ``--repeat`` times, medians and bests), the whole processes

- ``gdtrace check problems/logreg.yaml <300 files> --format csv`` (the gradebook), against
- ``gdtrace solve problems/logreg.yaml --format text``.

Target: check within 5× solve (medians). ``--profile`` also profiles the grading of the
300 files in this process (cProfile) and prints where the time goes.

Usage: python benchmarks/check_class.py [--repeat 7] [--files 300] [--profile]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from startup import ROOT, cached_bytecode_env, gdtrace_command  # noqa: E402

TARGET = 5.0


def answers_files(folder: Path, count: int, seed: int = 9) -> list[Path]:
    """``count`` answers documents of logreg: the key rounded, some with one slip."""
    import numpy as np

    import gdtrace
    from gdtrace.check.cells import cells_of

    rng = random.Random(seed)
    cells = list(cells_of(gdtrace.solve("logreg").runs[0]))
    paths = []
    for number in range(count):
        decimals = rng.randint(2, 6)
        texts = {cell.address: f"{float(np.asarray(cell.quantity.value)):.{decimals}f}"
                 for cell in cells}
        if number % 3 == 0:  # one slip
            address = rng.choice([c.address for c in cells if c.address.section != "loss"])
            texts[address] = _mutated(texts[address], rng)
        paths.append(folder / f"student{number:03d}.yaml")
        paths[-1].write_text(_document(cells, texts), encoding="utf-8")
    return paths


def _mutated(text: str, rng: random.Random) -> str:
    kind = rng.choice(("sign", "decimal", "digits", "random"))
    if kind == "sign":
        return text[1:] if text.startswith("-") else "-" + text
    if kind == "decimal":
        return f"{float(text) * 10:.{len(text.split('.')[1])}f}"
    if kind == "digits":
        digits = [i for i in range(len(text) - 1) if text[i].isdigit() and text[i + 1].isdigit()
                  and text[i] != text[i + 1]]
        if digits:
            i = rng.choice(digits)
            return text[:i] + text[i + 1] + text[i] + text[i + 2:]
    return f"{rng.uniform(-3, 3):.{len(text.split('.')[1])}f}"


def _document(cells: list, texts: dict) -> str:
    lines = ["epochs:"]
    for cell in cells:
        if cell.address.section == "loss":
            lines += [f"  - epoch: {cell.address.epoch}", f"    loss: {texts[cell.address]}"]
    lines.append("steps:")
    steps: dict[int, dict[str, list[str]]] = {}
    for cell in cells:
        a = cell.address
        if a.step is not None:
            steps.setdefault(a.step, {}).setdefault(a.section, []).append(
                f"{a.key}: {texts[a]}")
    for step, sections in steps.items():
        lines.append(f"  - step: {step}")
        lines += [f"    {section}: {{{', '.join(items)}}}" for section, items in sections.items()]
    finals = [f"{c.address.key}: {texts[c.address]}" for c in cells
              if c.address.section == "final"]
    lines.append(f"final: {{{', '.join(finals)}}}")
    return "\n".join(lines) + "\n"


def seconds(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=env, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode not in (0, 1):  # check exits 1 when a file has a wrong number
        raise SystemExit(f"{' '.join(command[:4])} … failed: {result.stderr}")
    return elapsed


def profile(paths: list[Path], top: int = 25) -> None:
    """Where the in-process time of grading the files goes (cProfile, cumulative)."""
    import cProfile
    import pstats

    from gdtrace.check.commands import run_check

    profiler = cProfile.Profile()
    profiler.enable()
    run_check("problems/logreg.yaml", [str(p) for p in paths], "csv")
    profiler.disable()
    stats = pstats.Stats(profiler)
    stats.sort_stats("tottime").print_stats(top)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    gdtrace = gdtrace_command()
    with tempfile.TemporaryDirectory(prefix="gdtrace-class-") as folder:
        paths = answers_files(Path(folder), args.files)
        commands = {
            "check": [*gdtrace, "check", "problems/logreg.yaml", *map(str, paths),
                      "--format", "csv"],
            "solve": [*gdtrace, "solve", "problems/logreg.yaml", "--format", "text"],
        }
        with tempfile.TemporaryDirectory(prefix="gdtrace-pyc-") as prefix:
            env = cached_bytecode_env(prefix)
            for command in commands.values():  # warm the file cache and the .pyc files
                seconds(command, env)
            times: dict[str, list[float]] = {name: [] for name in commands}
            for _ in range(args.repeat):
                for name, command in commands.items():
                    times[name].append(seconds(command, env))
        if args.profile:
            profile(paths)
    median = {name: statistics.median(values) for name, values in times.items()}
    best = {name: min(values) for name, values in times.items()}
    ratio = median["check"] / median["solve"]
    print(f"machine: {platform.machine()}, {platform.system()} {platform.release()}, Python"
          f" {platform.python_version()}, cores: {len(os.sched_getaffinity(0))};"
          f" repeats: {args.repeat}; answers files: {args.files}")
    print()
    print("| command | median ms | best ms |")
    print("|---|---:|---:|")
    labels = {"check": f"gdtrace check problems/logreg.yaml <{args.files} files> --format csv",
              "solve": "gdtrace solve problems/logreg.yaml --format text"}
    for name, label in labels.items():
        print(f"| `{label}` | {median[name] * 1000:.0f} | {best[name] * 1000:.0f} |")
    print()
    print(f"check / solve = {ratio:.2f} of the medians (target < {TARGET:g}),"
          f" {best['check'] / best['solve']:.2f} of the bests;"
          f" per file {(median['check'] - median['solve']) / args.files * 1000:.1f} ms")
    ok = ratio < TARGET
    print("target met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
