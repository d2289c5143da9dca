"""Speed and memory of ``--summary`` for the models other than logistic/linear regression.

Each workload runs as whole processes, side by side in the same run: ``gdtrace solve …
--summary --format json``, a plain loop of the same math written here (Python floats for the
tiny networks and Rosenbrock's function, numpy for the MLP and the perceptron) that prints
its epoch losses, and, where issue 12 asks for one and torch is importable, a torch per-sample
loop (autograd, ``torch.optim``, float64, one thread). The ratio is gdtrace's wall time over
the loop's (start-up included on both sides); peak memory is the maximum resident set of the
gdtrace process. The epoch losses must agree with the loop's to 1e-9 relative (for
``function`` and ``perceptron`` also the final loss and parameters); torch's are compared to
1e-6 and only reported.

Start-up: gdtrace's import floor (``python -c "import gdtrace.cli, gdtrace.solvers.MODEL"``,
numpy included) is measured per model. The target is gdtrace ≤ 3 × the loop; for a loop that
takes well under a second (< 1 s here) it is 3 × the loop plus the floor; peak ≤ 250 MB; and
gdtrace faster than torch where torch runs (issue "Speed and memory for every model").

Workloads (issue 12 item 3): Matt Mazur's 2-2-2 sigmoid network with one shared bias per layer
and every optimizer (sgd, momentum, nesterov, adagrad, rmsprop, adam), the bundled
``backprop`` network, a 20-64-64-3 MLP (tanh, softmax with cross-entropy) by per-sample SGD
(plain and Adam), by batch gradient descent, 2 000 samples × 50 epochs of batch gradient
descent and 2 000 samples × 5 epochs of SGD with each optimizer, Rosenbrock's function
(100 000 steps, each optimizer) and a perceptron (10 000 samples × 20 features × 20 epochs).

Usage: python benchmarks/models.py [--scale 0.1] [--repeat 3] [--only WORD] [--no-torch]
``--scale 1`` is the issue's sizes; the default 0.1 keeps a run short. torch (not a project
dependency) makes a run long: about 35 minutes at ``--scale 1 --repeat 1`` on a loaded 2-core
machine. Exit code 1 when a target is missed (time, peak ≤ 250 MB, same losses, torch).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
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
    """The six rules of docs/optimizers.md, torch's forms with gdtrace's defaults (mu = 0.9,
    alpha = 0.99, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, Adagrad's too), written out here."""
    def __init__(self, name, eta, sqrt):
        self.name, self.eta, self.sqrt, self.t, self.state = name, eta, sqrt, 0, {}
    def step(self, key, p, g):
        name, eta = self.name, self.eta
        if name == "sgd":
            return p - eta * g
        if name in ("momentum", "nesterov"):
            v = 0.9 * self.state.get(key, 0.0) + g
            self.state[key] = v
            return p - eta * (g + 0.9 * v) if name == "nesterov" else p - eta * v
        if name == "adagrad":
            s = self.state.get(key, 0.0) + g * g
            self.state[key] = s
            return p - eta * (g / (self.sqrt(s) + 1e-8))
        if name == "rmsprop":
            s = 0.99 * self.state.get(key, 0.0) + (1 - 0.99) * (g * g)
            self.state[key] = s
            return p - eta * (g / (self.sqrt(s) + 1e-8))
        m, v = self.state.get(key, (0.0, 0.0))
        m = 0.9 * m + (1 - 0.9) * g
        v = 0.999 * v + (1 - 0.999) * (g * g)
        self.state[key] = (m, v)
        mh, vh = m / (1 - 0.9 ** self.t), v / (1 - 0.999 ** self.t)
        return p - eta * (mh / (self.sqrt(vh) + 1e-8))
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
    losses.append(0.5 * (t1 - o1) ** 2 + 0.5 * (t2 - o2) ** 2)
    # the chain rule node by node: dL/do times sigma'(z) = o(1 - o), then back through w (the
    # order matters past the 1e-16 level: RMSprop's end cycle amplifies a last-bit difference)
    d1 = -(t1 - o1) * (o1 * (1 - o1)); d2 = -(t2 - o2) * (o2 * (1 - o2))
    e1 = (d1 * w[4] + d2 * w[6]) * (h1 * (1 - h1)); e2 = (d1 * w[5] + d2 * w[7]) * (h2 * (1 - h2))
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


FUNCTION = """
title: Rosenbrock's function, {steps} steps
model: function
f: "(1 - x)^2 + 100*(y - x^2)^2"
start: {x: -1.2, y: 1}
learning_rate: 0.001
steps: {steps}
optimizer: {optimizer}
"""

FUNCTION_LOOP = r'''
import json, math, sys
@OPTIMIZER@
steps = int(sys.argv[1])
opt = Opt(sys.argv[2], 0.001, math.sqrt)
def f(x, y):
    return (1 - x) ** 2 + 100 * (y - x ** 2) ** 2  # x ** 2 is C's pow, as gdtrace's x^2
x, y = -1.2, 1.0
first = f(x, y)
for _ in range(steps):
    # the partials in the order gdtrace's header writes them, x² as pow (not x * x: this libm's
    # pow differs in the last bit; RMSprop's and Adam's end cycles amplify such a difference)
    r = y - x ** 2
    gx, gy = -2 * (1 - x) - 400 * r * x, 200 * r
    opt.t += 1
    x, y = opt.step("x", x, gx), opt.step("y", y, gy)
print(json.dumps([first, f(x, y), x, y]))  # the epoch's loss f(x0), the final loss and point
'''.replace("@OPTIMIZER@", OPTIMIZER)

PERCEPTRON_LOOP = r'''
import json, sys
import numpy as np
data = json.load(open(sys.argv[1]))
X, y, epochs, eta = np.array(data["X"]), np.array(data["y"]), int(sys.argv[2]), 0.1
w, b = np.zeros(X.shape[1]), 0.0
def mistakes():
    return float(np.sum(np.where(X @ w + b >= 0, 1.0, 0.0) != y))
losses = []
for _ in range(epochs):
    losses.append(mistakes())  # misclassified by the parameters at the epoch's start
    updated = False
    for i in range(len(X)):
        error = y[i] - (1.0 if float(np.dot(w, X[i]) + b) >= 0 else 0.0)
        if error:  # a correct sample changes nothing
            w, b, updated = w + (eta * error) * X[i], b + eta * error, True
    if not updated:
        break
print(json.dumps(losses + [mistakes(), *w.tolist(), b]))
'''

TORCH_COMMON = r'''
import json, math, sys
import torch
torch.set_num_threads(1)
torch.set_default_dtype(torch.float64)
def optimizer(name, params, lr):
    """torch.optim's six, with gdtrace's defaults (Adagrad's eps 1e-8, torch's is 1e-10)."""
    O = torch.optim
    return {"sgd": lambda: O.SGD(params, lr=lr),
            "momentum": lambda: O.SGD(params, lr=lr, momentum=0.9),
            "nesterov": lambda: O.SGD(params, lr=lr, momentum=0.9, nesterov=True),
            "adagrad": lambda: O.Adagrad(params, lr=lr, eps=1e-8),
            "rmsprop": lambda: O.RMSprop(params, lr=lr, alpha=0.99, eps=1e-8),
            "adam": lambda: O.Adam(params, lr=lr)}[name]()
'''

TORCH_MAZUR = TORCH_COMMON + r'''
epochs = int(sys.argv[1])
w = torch.tensor([0.15, 0.20, 0.25, 0.30, 0.40, 0.45, 0.50, 0.55], requires_grad=True)
b = torch.tensor([0.35, 0.60], requires_grad=True)
x, t = torch.tensor([0.05, 0.10]), torch.tensor([0.01, 0.99])
opt = optimizer(sys.argv[2], [w, b], 0.5)
losses = []
for _ in range(epochs):
    opt.zero_grad()
    h = torch.sigmoid(w[:4].view(2, 2) @ x + b[0])
    o = torch.sigmoid(w[4:].view(2, 2) @ h + b[1])
    loss = 0.5 * ((t - o) ** 2).sum()
    losses.append(loss.item())
    loss.backward()
    opt.step()
print(json.dumps(losses))
'''

TORCH_BACKPROP = TORCH_COMMON + r'''
from decimal import Decimal, ROUND_HALF_UP
def r2(v):  # round_between: 2 (half away from zero on the decimal form)
    return float(Decimal(repr(v)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)) + 0.0
epochs = int(sys.argv[1])
rows = [(1.0, -1.0, 1.0), (2.0, -2.0, 2.0)]
p = torch.tensor([1.0, -1.0, 2.0, -3.0, 2.0, -1.0], requires_grad=True)  # W13 W14 W23 W24 W35 W45
def out(x1, x2):
    a3 = torch.sigmoid(p[0] * x1 + p[2] * x2); a4 = torch.tanh(p[1] * x1 + p[3] * x2)
    return p[4] * a3 + p[5] * a4
losses, steps, total = [], 0, 2 * epochs
for _ in range(epochs):
    with torch.no_grad():
        losses.append(sum(float((y - out(x1, x2)) ** 2) for x1, x2, y in rows))
    for x1, x2, y in rows:
        p.grad = None
        ((y - out(x1, x2)) ** 2).backward()
        steps += 1
        with torch.no_grad():
            p -= 0.1 * p.grad
            if steps < total:
                p.copy_(torch.tensor([r2(v) for v in p.tolist()]))
print(json.dumps(losses))
'''

TORCH_MLP = TORCH_COMMON + r'''
data = json.load(open(sys.argv[1]))
X, Y = torch.tensor(data["X"]), torch.tensor(data["Y"])
epochs, batch = int(sys.argv[2]), sys.argv[3]
Ws = [torch.tensor(l["weights"], requires_grad=True) for l in data["layers"]]
bs = [torch.tensor(l["bias"], requires_grad=True) for l in data["layers"]]
opt = optimizer(sys.argv[4], [*Ws, *bs], 0.05)
def forward(x):
    for k, (W, b) in enumerate(zip(Ws, bs)):
        u = x @ W + b
        x = torch.tanh(u) if k < len(Ws) - 1 else torch.softmax(u, dim=-1)
    return x
def loss(x, y):
    return -(y * torch.log(forward(x))).sum() / len(x)
losses = []
for _ in range(epochs):
    with torch.no_grad():
        losses.append(float(loss(X, Y)))
    groups = [slice(None)] if batch == "batch" else [slice(i, i + 1) for i in range(len(X))]
    for g in groups:
        opt.zero_grad()
        loss(X[g], Y[g]).backward()
        opt.step()
print(json.dumps(losses))
'''

TORCH_FUNCTION = TORCH_COMMON + r'''
steps = int(sys.argv[1])
point = torch.tensor([-1.2, 1.0], requires_grad=True)
opt = optimizer(sys.argv[2], [point], 0.001)
def f():
    x, y = point[0], point[1]
    return (1 - x) ** 2 + 100 * (y - x ** 2) ** 2
first = f().item()
for _ in range(steps):
    opt.zero_grad()
    f().backward()
    opt.step()
print(json.dumps([first, f().item(), *point.tolist()]))
'''


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


def summary_numbers(text: str, final: bool) -> list[float]:
    """The epoch losses of a ``--summary --format json`` output; with ``final``, then the final
    loss and the final parameters (for runs of one epoch or with a stopping rule)."""
    lines = [json.loads(line) for line in text.splitlines()]
    numbers = [line["loss"] for line in lines if line.get("type") == "epoch"]
    if final:
        end = next(line for line in lines if line.get("type") == "end")
        numbers += [end["final_loss"], *end["final"].values()]
    return numbers


def agree(ours: list[float], theirs: list[float], tolerance: float) -> bool:
    return len(ours) == len(theirs) and all(abs(x - y) <= tolerance * max(1.0, abs(y))
                                            for x, y in zip(ours, theirs))


@dataclass
class Workload:
    """One row: gdtrace's command, the plain loop's, torch's (None: no torch loop for it),
    the solver module the import floor loads, and whether the final numbers are compared."""

    ours: list[str]
    loop: list[str]
    torch: list[str] | None
    model: str
    final: bool = False


def perceptron_problem(folder: Path, samples: int, features: int, epochs: int
                       ) -> tuple[Path, Path]:
    """A perceptron problem on a CSV of ``samples`` × ``features`` (0/1 labels from a random
    hyperplane, 5 % of them flipped: not separable, so every epoch runs), and the same data as
    JSON for the loop."""
    rng = np.random.default_rng(1)
    X = np.round(rng.normal(size=(samples, features)), 3)
    y = (X @ rng.normal(size=features) + 0.1 >= 0).astype(float)
    flip = rng.random(samples) < 0.05
    y[flip] = 1.0 - y[flip]
    csv = folder / f"perceptron-{samples}.csv"
    with csv.open("w") as out:
        out.write(",".join([f"x{j + 1}" for j in range(features)] + ["y"]) + "\n")
        for row, label in zip(X, y):
            out.write(",".join(map(repr, [*map(float, row), float(label)])) + "\n")
    problem = folder / f"perceptron-{samples}-{epochs}.yaml"
    problem.write_text(json.dumps({
        "title": f"perceptron, {samples} × {features}", "model": "perceptron",
        "dataset": {"csv": csv.name, "targets": ["y"]}, "weights": [0.0] * features,
        "bias": 0.0, "learning_rate": 0.1, "epochs": epochs}))
    data = folder / f"perceptron-{samples}.json"
    data.write_text(json.dumps({"X": X.tolist(), "y": y.tolist()}))
    return problem, data


OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")


def workloads(folder: Path, scale: float) -> dict[str, Workload]:
    """Name → workload: the issue's table at ``scale``, every optimizer, function, perceptron."""
    mazur_epochs = max(1, int(10_000 * scale))
    backprop_epochs = max(1, int(100_000 * scale))
    samples = max(10, int(10_000 * scale))
    small = max(10, int(2_000 * scale))
    function_steps = max(1, int(100_000 * scale))
    scripts = {"mazur": MAZUR_LOOP, "mlp": MLP_LOOP, "backprop": BACKPROP_LOOP,
               "function": FUNCTION_LOOP, "perceptron": PERCEPTRON_LOOP,
               "torch_mazur": TORCH_MAZUR, "torch_mlp": TORCH_MLP,
               "torch_backprop": TORCH_BACKPROP, "torch_function": TORCH_FUNCTION}
    run = {}
    for name, text in scripts.items():
        (folder / f"{name}.py").write_text(text)
        run[name] = [sys.executable, str(folder / f"{name}.py")]
    summary = ["--summary", "-f", "json"]
    out: dict[str, Workload] = {}
    for optimizer in OPTIMIZERS:
        problem = folder / f"mazur-{optimizer}.yaml"
        problem.write_text(MAZUR.replace("{epochs}", str(mazur_epochs))
                           .replace("{optimizer}", optimizer))
        arguments = [str(mazur_epochs), optimizer]
        out[f"Mazur 2-2-2, {mazur_epochs} iterations (network), {optimizer}"] = Workload(
            [*GDTRACE, "solve", str(problem), *summary], [*run["mazur"], *arguments],
            [*run["torch_mazur"], *arguments], "network")
    out[f"bundled backprop, {backprop_epochs} epochs (network)"] = Workload(
        [*GDTRACE, "solve", "backprop", *summary, "--epochs", str(backprop_epochs)],
        [*run["backprop"], str(backprop_epochs)], [*run["torch_backprop"], str(backprop_epochs)],
        "network")
    mlp_rows = [(samples, 5, "sgd", "sgd"), (samples, 5, "sgd", "adam"),
                (samples, 5, "batch", "sgd"), (small, 50, "batch", "sgd")]
    mlp_rows += [(small, 5, "sgd", optimizer) for optimizer in OPTIMIZERS]
    for count, epochs, update, optimizer in mlp_rows:
        problem, data = mlp_problem(folder, count, epochs, update, optimizer)
        how = "SGD" if update == "sgd" else "batch GD"
        name = f"MLP 20-64-64-3, {count} samples × {epochs} epochs, {how}, {optimizer}"
        # --max-steps (all the planned steps): the work guard refuses more than 1e8
        # steps × parameters unless asked, and 50 000 SGD steps × 5 699 parameters is more
        steps = epochs * (count if update == "sgd" else 1)
        arguments = [str(data), str(epochs), update, optimizer]
        out[name] = Workload(
            [*GDTRACE, "solve", str(problem), *summary, "--max-steps", str(steps)],
            [*run["mlp"], *arguments], [*run["torch_mlp"], *arguments] if update == "sgd"
            else None, "mlp")
    for optimizer in OPTIMIZERS:
        problem = folder / f"function-{optimizer}.yaml"
        problem.write_text(FUNCTION.replace("{steps}", str(function_steps))
                           .replace("{optimizer}", optimizer))
        arguments = [str(function_steps), optimizer]
        out[f"Rosenbrock, {function_steps} steps (function), {optimizer}"] = Workload(
            [*GDTRACE, "solve", str(problem), *summary], [*run["function"], *arguments],
            [*run["torch_function"], *arguments], "function", final=True)
    problem, data = perceptron_problem(folder, samples, 20, 20)
    out[f"perceptron, {samples} samples × 20 features × 20 epochs"] = Workload(
        [*GDTRACE, "solve", str(problem), *summary, "--max-steps", str(20 * samples)],
        [*run["perceptron"], str(data), "20"], None, "perceptron", final=True)
    return out


def import_floor(model: str, repeat: int) -> float:
    """Median wall time of a process that only imports gdtrace's CLI and the model's solver."""
    command = [sys.executable, "-c", f"import gdtrace.cli, gdtrace.solvers.{model}"]
    return statistics.median(measured(command)[0] for _ in range(max(3, repeat)))


def torch_available() -> bool:
    try:
        subprocess.run([sys.executable, "-c", "import torch"], check=True,
                       capture_output=True)
    except subprocess.CalledProcessError:
        return False
    return True


def timed_row(name: str, work: Workload, floor: float, repeat: int, use_torch: bool
              ) -> tuple[str, bool]:
    """The table row of one workload and whether it met every target."""
    runs = [(measured(work.ours), measured(work.loop)) for _ in range(repeat)]
    ours_s = statistics.median(r[0][0] for r in runs)
    loop_s = statistics.median(r[1][0] for r in runs)
    peak = max(r[0][1] for r in runs)
    ours_numbers = summary_numbers(runs[0][0][2], work.final)
    same = agree(ours_numbers, json.loads(runs[0][1][2]), 1e-9)
    target = 3 * loop_s + (floor if loop_s < 1.0 else 0.0)
    met = ours_s <= target and peak <= 250 and same
    torch_text = "—"
    if work.torch is not None and use_torch:
        torch_runs = [measured(work.torch) for _ in range(repeat)]
        torch_s = statistics.median(r[0] for r in torch_runs)
        # torch's Adam divides by √v/√(1 − β₂ᵗ) + ε: the same math in another order
        torch_same = agree(ours_numbers, json.loads(torch_runs[0][2]), 1e-6)
        torch_text = f"{torch_s:.2f}" + ("" if torch_same else " (losses differ)")
        met = met and ours_s < torch_s
    elif work.torch is not None:
        torch_text = "not run"
    return (f"| {name} | {ours_s:.2f} | {loop_s:.2f} | {ours_s / loop_s:.1f}× | {target:.2f}"
            f" | {peak:.0f} | {torch_text} | {same} | {'yes' if met else 'no'} |"), met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default="", help="run the workloads whose name has this")
    parser.add_argument("--no-torch", action="store_true", help="skip the torch loops")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="gdtrace-models-"))
    chosen = {name: work for name, work in workloads(folder, args.scale).items()
              if args.only in name}
    use_torch = not args.no_torch and torch_available()
    if not use_torch:
        print("torch is not importable here (or --no-torch): the torch column is not run\n")
    floors = {model: import_floor(model, args.repeat)
              for model in sorted({work.model for work in chosen.values()})}
    print("gdtrace's import floor (python -c \"import gdtrace.cli, gdtrace.solvers.MODEL\", "
          f"median of {max(3, args.repeat)}): "
          + ", ".join(f"{model} {floor:.2f} s" for model, floor in floors.items()) + "\n")
    print("| workload | gdtrace --summary s | plain loop s | ratio | target s | gdtrace peak MB"
          " | torch s | same losses | met |")
    print("|---|---:|---:|---:|---:|---:|---:|---|---|")
    ok = True
    for name, work in chosen.items():
        try:
            row, met = timed_row(name, work, floors[work.model], args.repeat, use_torch)
        except subprocess.CalledProcessError as failed:
            reason = failed.stderr.decode().strip().splitlines() if failed.stderr else []
            row, met = f"| {name} | failed: {reason[-1] if reason else failed.returncode} |", False
        print(row, flush=True)
        ok = ok and met
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
