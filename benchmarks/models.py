"""Speed and memory of ``--summary`` for the models other than logistic/linear regression.

Each workload runs twice as whole processes, side by side in the same run: ``gdtrace solve …
--summary --format json`` and a plain loop of the same math (Python floats for the tiny
networks, numpy for the MLP), which prints its epoch losses. The ratio is gdtrace's wall time
over the loop's (start-up included on both sides, so a short loop pays gdtrace's import cost:
docs/performance.md); peak memory is the maximum resident set of each process. The epoch
losses must agree to 1e-9 relative.

Workloads (issue "Speed and memory for every model"): Matt Mazur's 2-2-2 sigmoid network with
one shared bias per layer, the bundled ``backprop`` network, and a 20-64-64-3 MLP (tanh,
softmax with cross-entropy) by per-sample SGD and by batch gradient descent.

Usage: python benchmarks/models.py [--scale 0.1] [--repeat 3]
``--scale 1`` is the issue's sizes (10 000 Mazur iterations, 100 000 backprop epochs, 10 000
MLP samples × 5 epochs); the default 0.1 keeps a run to a few minutes on this machine.
Exit code 1 when a target is missed (ratio ≤ 3, peak ≤ 250 MB, same losses).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

GDTRACE = [sys.executable, "-m", "gdtrace"]

MAZUR = """
title: Mazur's 2-2-2 network (shared bias per layer)
model: network
dataset:
  columns: [i1, i2, o1t, o2t]
  targets: [o1t, o2t]
  rows:
    - [0.05, 0.10, 0.01, 0.99]
nodes:
  - {name: h1, activation: sigmoid, edges: {w1: i1, w2: i2}, bias: b1}
  - {name: h2, activation: sigmoid, edges: {w3: i1, w4: i2}, bias: b1}
  - {name: o1, activation: sigmoid, edges: {w5: h1, w6: h2}, bias: b2}
  - {name: o2, activation: sigmoid, edges: {w7: h1, w8: h2}, bias: b2}
outputs: [o1, o2]
weights: {w1: 0.15, w2: 0.20, w3: 0.25, w4: 0.30, w5: 0.40, w6: 0.45, w7: 0.50, w8: 0.55,
          b1: 0.35, b2: 0.60}
loss: half_sse
learning_rate: 0.5
epochs: {epochs}
"""

MAZUR_LOOP = r'''
import json, math, sys
epochs = int(sys.argv[1])
w = [0.15, 0.20, 0.25, 0.30, 0.40, 0.45, 0.50, 0.55]
b1, b2, eta = 0.35, 0.60, 0.5
i1, i2, t1, t2 = 0.05, 0.10, 0.01, 0.99
def s(z):
    e = math.exp(-abs(z)); return 1 / (1 + e) if z >= 0 else e / (1 + e)
losses = []
for _ in range(epochs):
    h1 = s(w[0] * i1 + w[1] * i2 + b1); h2 = s(w[2] * i1 + w[3] * i2 + b1)
    o1 = s(w[4] * h1 + w[5] * h2 + b2); o2 = s(w[6] * h1 + w[7] * h2 + b2)
    losses.append(0.5 * ((t1 - o1) ** 2 + (t2 - o2) ** 2))
    d1 = -(t1 - o1) * o1 * (1 - o1); d2 = -(t2 - o2) * o2 * (1 - o2)
    e1 = (d1 * w[4] + d2 * w[6]) * h1 * (1 - h1); e2 = (d1 * w[5] + d2 * w[7]) * h2 * (1 - h2)
    g = [e1 * i1, e1 * i2, e2 * i1, e2 * i2, d1 * h1, d1 * h2, d2 * h1, d2 * h2]
    gb1, gb2 = e1 + e2, d1 + d2
    w = [wi - eta * gi for wi, gi in zip(w, g)]
    b1, b2 = b1 - eta * gb1, b2 - eta * gb2
print(json.dumps(losses))
'''

MLP_LOOP = r'''
import json, sys
import numpy as np
data = json.load(open(sys.argv[1]))
X = np.array(data["X"]); Y = np.array(data["Y"]); epochs = int(sys.argv[2]); batch = sys.argv[3]
Ws = [np.array(l["weights"], dtype=float) for l in data["layers"]]
bs = [np.array(l["bias"], dtype=float) for l in data["layers"]]
eta = 0.05
def forward(x):
    acts = [x]
    for k, (W, b) in enumerate(zip(Ws, bs)):
        u = acts[-1] @ W + b
        if k < len(Ws) - 1:
            acts.append(np.tanh(u))
        else:
            e = np.exp(u - np.max(u, axis=-1, keepdims=True))
            acts.append(e / e.sum(-1, keepdims=True))
    return acts
losses = []
for _ in range(epochs):
    losses.append(float(-np.sum(Y * np.log(forward(X)[-1])) / len(X)))
    groups = [np.arange(len(X))] if batch == "batch" else [[i] for i in range(len(X))]
    for g in groups:
        acts = forward(X[g]); d = (acts[-1] - Y[g]) / len(g)
        grads = []
        for k in range(len(Ws) - 1, -1, -1):
            grads.append((acts[k].T @ d, d.sum(0)))
            if k: d = (d @ Ws[k].T) * (1 - acts[k] ** 2)
        for k, (gw, gb) in enumerate(reversed(grads)):
            Ws[k] = Ws[k] - eta * gw; bs[k] = bs[k] - eta * gb
print(json.dumps(losses))
'''


def mlp_problem(folder: Path, samples: int, epochs: int, update: str) -> tuple[Path, Path]:
    """A 20-64-64-3 problem file (its data as a CSV) and the same data as JSON for the loop."""
    rng = np.random.default_rng(0)
    X = np.round(rng.normal(size=(samples, 20)), 3)
    Y = np.eye(3)[rng.integers(0, 3, samples)]
    layers = [{"weights": np.round(rng.normal(0, 0.2, shape), 3).tolist(),
               "bias": [0.0] * shape[1], "activation": act}
              for shape, act in (((20, 64), "tanh"), ((64, 64), "tanh"), ((64, 3), "softmax"))]
    csv = folder / f"mlp-{samples}.csv"
    with csv.open("w") as out:
        out.write(",".join([f"x{j + 1}" for j in range(20)] + ["t1", "t2", "t3"]) + "\n")
        for x, y in zip(X, Y):
            out.write(",".join(map(repr, [*map(float, x), *map(float, y)])) + "\n")
    problem = folder / f"mlp-{samples}-{update}.yaml"
    problem.write_text(json.dumps({
        "title": "MLP 20-64-64-3", "model": "mlp",
        "dataset": {"csv": csv.name, "targets": ["t1", "t2", "t3"]}, "layers": layers,
        "loss": "cross_entropy", "learning_rate": 0.05, "epochs": epochs, "update": update}))
    data = folder / f"mlp-{samples}.json"
    data.write_text(json.dumps({"X": X.tolist(), "Y": Y.tolist(), "layers": layers}))
    return problem, data


def measured(command: list[str]) -> tuple[float, float, str]:
    """(wall seconds, peak RSS MB, stdout) of one command, from a fresh wrapper process."""
    wrapper = ("import resource, subprocess, sys, time\n"
               "t = time.perf_counter()\n"
               "out = subprocess.run(sys.argv[1:], check=True, stdout=subprocess.PIPE).stdout\n"
               "t = time.perf_counter() - t\n"
               "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
               "sys.stderr.write(f'{t} {peak}\\n')\n"
               "sys.stdout.buffer.write(out)\n")
    result = subprocess.run([sys.executable, "-c", wrapper, *command], capture_output=True,
                            check=True)
    seconds, peak_kb = result.stderr.decode().split()[-2:]
    return float(seconds), int(peak_kb) / 1024, result.stdout.decode()


def summary_losses(text: str) -> list[float]:
    return [json.loads(line)["loss"] for line in text.splitlines()
            if json.loads(line).get("type") == "epoch"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="gdtrace-models-"))
    mazur_epochs = max(1, int(10_000 * args.scale))
    backprop_epochs = max(1, int(100_000 * args.scale))
    samples = max(10, int(10_000 * args.scale))
    (folder / "mazur.yaml").write_text(MAZUR.replace("{epochs}", str(mazur_epochs)))
    (folder / "mazur_loop.py").write_text(MAZUR_LOOP)
    (folder / "mlp_loop.py").write_text(MLP_LOOP)
    backprop_loop = folder / "backprop_loop.py"
    backprop_loop.write_text(BACKPROP_LOOP)
    sgd, data = mlp_problem(folder, samples, 5, "sgd")
    batch, _ = mlp_problem(folder, samples, 5, "batch")
    workloads = {
        f"Mazur 2-2-2, {mazur_epochs} iterations (network)": (
            [*GDTRACE, "solve", str(folder / "mazur.yaml"), "--summary", "-f", "json"],
            [sys.executable, str(folder / "mazur_loop.py"), str(mazur_epochs)]),
        f"bundled backprop, {backprop_epochs} epochs (network)": (
            [*GDTRACE, "solve", "backprop", "--summary", "-f", "json", "--epochs",
             str(backprop_epochs)],
            [sys.executable, str(backprop_loop), str(backprop_epochs)]),
        f"MLP 20-64-64-3, {samples} samples × 5 epochs, SGD": (
            [*GDTRACE, "solve", str(sgd), "--summary", "-f", "json"],
            [sys.executable, str(folder / "mlp_loop.py"), str(data), "5", "sgd"]),
        f"MLP 20-64-64-3, {samples} samples × 5 epochs, batch GD": (
            [*GDTRACE, "solve", str(batch), "--summary", "-f", "json"],
            [sys.executable, str(folder / "mlp_loop.py"), str(data), "5", "batch"]),
    }
    print("| workload | gdtrace --summary s | plain loop s | ratio | gdtrace peak MB |"
          " same losses |")
    print("|---|---:|---:|---:|---:|---|")
    ok = True
    for name, (ours, loop) in workloads.items():
        runs = [(measured(ours), measured(loop)) for _ in range(args.repeat)]
        ours_s = statistics.median(r[0][0] for r in runs)
        loop_s = statistics.median(r[1][0] for r in runs)
        peak = max(r[0][1] for r in runs)
        a, b = summary_losses(runs[0][0][2]), json.loads(runs[0][1][2])
        same = len(a) == len(b) and all(abs(x - y) <= 1e-9 * max(1.0, abs(y))
                                        for x, y in zip(a, b))
        ratio = ours_s / loop_s
        ok = ok and ratio <= 3 and peak <= 250 and same
        print(f"| {name} | {ours_s:.2f} | {loop_s:.2f} | {ratio:.1f}× | {peak:.0f} | {same} |")
    print("targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


BACKPROP_LOOP = r'''
import json, math, sys
epochs = int(sys.argv[1])
rows = [(1.0, -1.0, 1.0), (2.0, -2.0, 2.0)]
p = {"W13": 1.0, "W14": -1.0, "W23": 2.0, "W24": -3.0, "W35": 2.0, "W45": -1.0}
eta = 0.1
def s(z):
    e = math.exp(-abs(z)); return 1 / (1 + e) if z >= 0 else e / (1 + e)
def r2(v):  # round_between: 2 (half away from zero on the decimal form)
    from decimal import Decimal, ROUND_HALF_UP
    return float(Decimal(repr(v)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)) + 0.0
def forward(x1, x2):
    a3 = s(p["W13"] * x1 + p["W23"] * x2); a4 = math.tanh(p["W14"] * x1 + p["W24"] * x2)
    return a3, a4, p["W35"] * a3 + p["W45"] * a4
losses, steps, total = [], 0, 2 * epochs
for _ in range(epochs):
    losses.append(sum((y - forward(x1, x2)[2]) ** 2 for x1, x2, y in rows))
    for x1, x2, y in rows:
        a3, a4, a5 = forward(x1, x2)
        d5 = -2 * (y - a5)
        d3 = d5 * p["W35"] * a3 * (1 - a3); d4 = d5 * p["W45"] * (1 - a4 * a4)
        g = {"W13": d3 * x1, "W23": d3 * x2, "W14": d4 * x1, "W24": d4 * x2,
             "W35": d5 * a3, "W45": d5 * a4}
        p = {k: v - eta * g[k] for k, v in p.items()}
        steps += 1
        if steps < total:
            p = {k: r2(v) for k, v in p.items()}
print(json.dumps(losses))
'''


if __name__ == "__main__":
    raise SystemExit(main())
