"""The seed homework's data and starting point as problem-file text, for tests that vary it.

Tests that need the plain bundled problem load problems/logreg.yaml instead.
"""

SEED_DATASET = """\
dataset:
  columns: [x1, x2, x3, y]
  rows:
    - [5, 8, 6, 1]
    - [6, 4, 3, 1]
    - [8, 5, 9, 0]
    - [7, 9, 1, 0]
"""

SEED_START = """\
weights: [0.08, 0.06, 0.03]
bias: 0
learning_rate: 0.1
"""
