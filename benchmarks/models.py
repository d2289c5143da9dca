"""Speed and memory of ``--summary`` for the models other than logistic/linear regression.

Each workload runs as whole processes, side by side in the same run: ``gdtrace solve …
--summary --format json`` and a plain loop of the same math (Python floats for the tiny
networks, numpy for the MLP), which prints its epoch losses. The ratio is gdtrace's wall time
over the loop's (start-up included on both sides); peak memory is the maximum resident set of
each process. The epoch losses must agree to 1e-9 relative.

Start-up: gdtrace's import floor (``python -c "import gdtrace.cli, gdtrace.solvers.network,
gdtrace.solvers.mlp"``, numpy included) is measured too. The target is gdtrace ≤ 3 × the loop;
for a loop that takes well under a second (< 1 s here) it is 3 × the loop plus the floor
(issue "Speed and memory for every model"). Both forms are printed.

Workloads (the issue's table, plus the optimizers): Matt Mazur's 2-2-2 sigmoid network with
one shared bias per layer (plain gradient descent, momentum, Adam), the bundled ``backprop``
network, and a 20-64-64-3 MLP (tanh, softmax with cross-entropy) by per-sample SGD (plain and
Adam), by batch gradient descent, and 2 000 samples × 50 epochs of batch gradient descent.

Usage: python benchmarks/models.py [--scale 0.1] [--repeat 3] [--only WORD]
``--scale 1`` is the issue's sizes (10 000 Mazur iterations, 100 000 backprop epochs, 10 000
MLP samples × 5 epochs, 2 000 × 50); the default 0.1 keeps a run to a few minutes here.
Exit code 1 when a target is missed (time, peak ≤ 250 MB, same losses).
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
optimizer: {optimizer}
"""

OPTIMIZER = r'''
class Opt:
    """torch's rules, as gdtrace.solvers.optimizers: sgd, momentum (μ = 0.9), adam (defaults)."""
    def __init__(self, name, eta, sqrt):
        self.name, self.eta, self.sqrt, self.t, self.state = name, eta, sqrt, 0, {}
    def step(self, key, p, g):
        if self.name == "sgd":
            return p - self.eta * g
        if self.name == "momentum":
            v = 0.9 * self.state.get(key, 0.0) + g
            self.state[key] = v
            return p - self.eta * v
        m, v = self.state.get(key, (0.0, 0.0))
        m = 0.9 * m + (1 - 0.9) * g
        v = 0.999 * v + (1 - 0.999) * (g * g)
        self.state[key] = (m, v)
        mh, vh = m / (1 - 0.9 ** self.t), v / (1 - 0.999 ** self.t)
        return p - self.eta * (mh / (self.sqrt(vh) + 1e-8))
'''

MAZUR_LOOP = r'''
import json, math, sys
@OPTIMIZER@
epochs = int(sys.argv[1])
opt = Opt(sys.argv[2], 0.5, math.sqrt)
w = [0.15, 0.20, 0.25, 0.30, 0.40, 0.45, 0.50, 0.55]
b1, b2 = 0.35, 0.60
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
    opt.t += 1
    w = [opt.step(k, wi, gi) for k, (wi, gi) in enumerate(zip(w, g))]
    b1, b2 = opt.step("b1", b1, e1 + e2), opt.step("b2", b2, d1 + d2)
print(json.dumps(losses))
'''.replace("@OPTIMIZER@", OPTIMIZER)

MLP_LOOP = r'''
import json, sys
import numpy as np
@OPTIMIZER@
data = json.load(open(sys.argv[1]))
X = np.array(data["X"]); Y = np.array(data["Y"]); epochs = int(sys.argv[2]); batch = sys.argv[3]
opt = Opt(sys.argv[4], 0.05, np.sqrt)
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
        opt.t += 1
        for k, (gw, gb) in enumerate(reversed(grads)):
            Ws[k] = opt.step(("W", k), Ws[k], gw); bs[k] = opt.step(("b", k), bs[k], gb)
print(json.dumps(losses))
'''.replace("@OPTIMIZER@", OPTIMIZER)


def mlp_problem(folder: Path, samples: int, epochs: int, update: str,
                optimizer: str = "sgd") -> tuple[Path, Path]:
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
    problem = folder / f"mlp-{samples}-{epochs}-{update}-{optimizer}.yaml"
    problem.write_text(json.dumps({
        "title": "MLP 20-64-64-3", "model": "mlp",
        "dataset": {"csv": csv.name, "targets": ["t1", "t2", "t3"]}, "layers": layers,
        "loss": "cross_entropy", "learning_rate": 0.05, "epochs": epochs, "update": update,
        "optimizer": optimizer}))
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


def workloads(folder: Path, scale: float) -> dict[str, tuple[list[str], list[str]]]:
    """Name → (gdtrace command, plain loop command), the issue's table at ``scale``."""
    mazur_epochs = max(1, int(10_000 * scale))
    backprop_epochs = max(1, int(100_000 * scale))
    samples = max(10, int(10_000 * scale))
    small = max(10, int(2_000 * scale))
    (folder / "mazur_loop.py").write_text(MAZUR_LOOP)
    (folder / "mlp_loop.py").write_text(MLP_LOOP)
    (folder / "backprop_loop.py").write_text(BACKPROP_LOOP)
    out: dict[str, tuple[list[str], list[str]]] = {}
    for optimizer in ("sgd", "momentum", "adam"):
        problem = folder / f"mazur-{optimizer}.yaml"
        problem.write_text(MAZUR.replace("{epochs}", str(mazur_epochs))
                           .replace("{optimizer}", optimizer))
        out[f"Mazur 2-2-2, {mazur_epochs} iterations (network), {optimizer}"] = (
            [*GDTRACE, "solve", str(problem), "--summary", "-f", "json"],
            [sys.executable, str(folder / "mazur_loop.py"), str(mazur_epochs), optimizer])
    out[f"bundled backprop, {backprop_epochs} epochs (network)"] = (
        [*GDTRACE, "solve", "backprop", "--summary", "-f", "json", "--epochs",
         str(backprop_epochs)],
        [sys.executable, str(folder / "backprop_loop.py"), str(backprop_epochs)])
    for count, epochs, update, optimizer in ((samples, 5, "sgd", "sgd"),
                                             (samples, 5, "sgd", "adam"),
                                             (samples, 5, "batch", "sgd"),
                                             (small, 50, "batch", "sgd")):
        problem, data = mlp_problem(folder, count, epochs, update, optimizer)
        how = "SGD" if update == "sgd" else "batch GD"
        name = f"MLP 20-64-64-3, {count} samples × {epochs} epochs, {how}"
        # --max-steps (all the planned steps): the work guard refuses more than 1e8
        # steps × parameters unless asked, and 50 000 SGD steps × 5 699 parameters is more
        steps = epochs * (count if update == "sgd" else 1)
        out[name + (f", {optimizer}" if optimizer != "sgd" else "")] = (
            [*GDTRACE, "solve", str(problem), "--summary", "-f", "json", "--max-steps",
             str(steps)],
            [sys.executable, str(folder / "mlp_loop.py"), str(data), str(epochs), update,
             optimizer])
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default="", help="run the workloads whose name has this")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="gdtrace-models-"))
    floor_command = [sys.executable, "-c",
                     "import gdtrace.cli, gdtrace.solvers.network, gdtrace.solvers.mlp"]
    floor = statistics.median(measured(floor_command)[0] for _ in range(max(3, args.repeat)))
    print(f"gdtrace's import floor: {floor:.2f} s (median of {max(3, args.repeat)})\n")
    print("| workload | gdtrace --summary s | plain loop s | ratio | target s | gdtrace peak MB"
          " | same losses | met |")
    print("|---|---:|---:|---:|---:|---:|---|---|")
    ok = True
    for name, (ours, loop) in workloads(folder, args.scale).items():
        if args.only not in name:
            continue
        try:
            runs = [(measured(ours), measured(loop)) for _ in range(args.repeat)]
        except subprocess.CalledProcessError as failed:
            reason = failed.stderr.decode().strip().splitlines()
            print(f"| {name} | failed: {reason[0] if reason else failed.returncode} |", flush=True)
            ok = False
            continue
        ours_s = statistics.median(r[0][0] for r in runs)
        loop_s = statistics.median(r[1][0] for r in runs)
        peak = max(r[0][1] for r in runs)
        a, b = summary_losses(runs[0][0][2]), json.loads(runs[0][1][2])
        same = len(a) == len(b) and all(abs(x - y) <= 1e-9 * max(1.0, abs(y))
                                        for x, y in zip(a, b))
        target = 3 * loop_s + (floor if loop_s < 1.0 else 0.0)
        met = ours_s <= target and peak <= 250 and same
        ok = ok and met
        print(f"| {name} | {ours_s:.2f} | {loop_s:.2f} | {ours_s / loop_s:.1f}× | {target:.2f}"
              f" | {peak:.0f} | {same} | {'yes' if met else 'no'} |", flush=True)
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
