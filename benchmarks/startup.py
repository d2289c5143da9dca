"""Start-up benchmark: solving the bundled logreg problem against importing the libraries.

Compares, run after run (interleaved, ``--repeat`` times; medians and bests):

- ``gdtrace solve problems/logreg.yaml --format text`` (the whole command), against
- ``python -c "import numpy, yaml, typer, rich.console, rich.table"`` (the floor any CLI built
  on these libraries pays);

and also times ``gdtrace --help`` and ``gdtrace --version``, and checks that neither imports
numpy. Target: the solve command within 1.25× the import floor (medians).

Every command runs with bytecode caching on, in a temporary ``PYTHONPYCACHEPREFIX``, as an
installed gdtrace runs: with ``PYTHONDONTWRITEBYTECODE`` set (as in some sandboxes), every
gdtrace module would be compiled from source on every run (about 40 ms) while numpy, typer and
rich use the ``.pyc`` files pip wrote, which measures the sandbox rather than gdtrace.

Usage: python benchmarks/startup.py [--repeat 30]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLOOR = "import numpy, yaml, typer, rich.console, rich.table"
NO_NUMPY = ("import sys\nsys.argv = ['gdtrace', {arg!r}]\nfrom gdtrace.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "sys.stderr.write('numpy imported' if 'numpy' in sys.modules else 'no numpy')\n")


def gdtrace_command() -> list[str]:
    """The installed ``gdtrace`` script beside this Python, else ``python -m gdtrace``."""
    script = Path(sys.executable).with_name("gdtrace")
    return [str(script)] if script.exists() else [sys.executable, "-m", "gdtrace"]


def seconds(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def cached_bytecode_env(prefix: str) -> dict[str, str]:
    """This environment with .pyc files written to and read from ``prefix``."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = prefix
    return env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    gdtrace = gdtrace_command()
    commands = {
        "solve": [*gdtrace, "solve", "problems/logreg.yaml", "--format", "text"],
        "imports": [sys.executable, "-c", FLOOR],
        "help": [*gdtrace, "--help"],
        "version": [*gdtrace, "--version"],
    }
    with tempfile.TemporaryDirectory(prefix="gdtrace-pyc-") as prefix:
        env = cached_bytecode_env(prefix)
        for command in commands.values():  # warm the file cache and write the .pyc files
            seconds(command, env)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repeat):
            for name, command in commands.items():
                times[name].append(seconds(command, env))
    median = {name: statistics.median(values) for name, values in times.items()}
    best = {name: min(values) for name, values in times.items()}
    ratio = median["solve"] / median["imports"]
    numpy_free = {}
    for arg in ("--help", "--version"):
        result = subprocess.run([sys.executable, "-c", NO_NUMPY.format(arg=arg)], cwd=ROOT,
                                capture_output=True, text=True, check=True)
        numpy_free[arg] = result.stderr.strip().endswith("no numpy")
    print(f"machine: {platform.machine()}, {platform.system()} {platform.release()}, Python"
          f" {platform.python_version()}, cores: {len(os.sched_getaffinity(0))};"
          f" repeats: {args.repeat}")
    print()
    print("| command | median ms | best ms |")
    print("|---|---:|---:|")
    labels = {"solve": "gdtrace solve problems/logreg.yaml --format text",
              "imports": f'python -c "{FLOOR}"', "help": "gdtrace --help",
              "version": "gdtrace --version"}
    for name, label in labels.items():
        print(f"| `{label}` | {median[name] * 1000:.0f} | {best[name] * 1000:.0f} |")
    print()
    print(f"solve / imports = {ratio:.2f} of the medians (target ≤ 1.25),"
          f" {best['solve'] / best['imports']:.2f} of the bests")
    print(f"numpy not imported by --help: {numpy_free['--help']}, by --version:"
          f" {numpy_free['--version']}")
    ok = ratio <= 1.25 and all(numpy_free.values())
    print("targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
