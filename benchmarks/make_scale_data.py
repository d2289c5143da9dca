"""Write the scale benchmark's data set and problem file.

``dataset.csv``: 10 000 rows × 10 features (standard normal, 6 decimals) and a 0/1 target drawn
from a logistic model, seed 2024; ``scale.yaml``: logistic regression, SGD, η = 0.01, 100 epochs
(1 000 000 steps) on it. Usage: ``python benchmarks/make_scale_data.py [DIR]`` (default: a
``gdtrace-scale`` folder in the system's temporary directory); prints the problem file's path.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

ROWS, FEATURES, EPOCHS, SEED = 10_000, 10, 100, 2024

PROBLEM = """\
title: Scale benchmark (10 000 rows, 10 features, SGD, {epochs} epochs)
model: logistic
dataset:
  csv: dataset.csv
learning_rate: 0.01
epochs: {epochs}
update: sgd
loss: log
"""


def write(folder: Path, rows: int = ROWS, features: int = FEATURES, epochs: int = EPOCHS) -> Path:
    """Create ``folder/dataset.csv`` and ``folder/scale.yaml``; return the problem's path."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    X = np.round(rng.standard_normal((rows, features)), 6)
    true_w = np.round(rng.uniform(-1, 1, features), 3)
    p = 1.0 / (1.0 + np.exp(-(X @ true_w + 0.25)))
    y = (rng.uniform(size=rows) < p).astype(int)
    header = ",".join([f"x{j + 1}" for j in range(features)] + ["y"])
    lines = [header] + [",".join(f"{v:.6f}" for v in row) + f",{t}" for row, t in zip(X, y)]
    (folder / "dataset.csv").write_text("\n".join(lines) + "\n")
    problem = folder / "scale.yaml"
    problem.write_text(PROBLEM.format(epochs=epochs))
    return problem


def main() -> None:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.gettempdir()) / \
        "gdtrace-scale"
    print(write(folder))


if __name__ == "__main__":
    main()
