"""Every number of /work/shared/reference/seed-values.md §1 and §2, asserted against the trace.

The reference lists §1 to 10 decimals and §2 (exact) to 6 decimals, trailing zeros dropped. A
value passes when it is within half a unit of the last listed decimal place (so it rounds to the
listed digits) or within 1e-9 relative; carry-rounded values (§2, carry 2) must be exactly equal.
"""

from __future__ import annotations

import json
import math

import pytest

from gdtrace.problem import apply_overrides, bundled_problems, load_problem
from gdtrace.render import RenderOptions, render
from gdtrace.solvers import solve
from gdtrace.trace import Role, Run, Step

# ------------------------------------------------------------------------------ reference data

# §1: (epoch, sample, z, σ(z), error, ∂L/∂w, ∂L/∂b, w after, b after)
LOGREG_L0 = [
    (1, 1, 1.06, 0.7426905453, -0.2573094547, [-1.2865472735, -2.0584756376, -1.5438567282],
     -0.2573094547, [0.2086547273, 0.2658475638, 0.1843856728], 0.0257309455),
    (1, 2, 2.894206583, 0.9475593035, -0.0524406965,
     [-0.3146441792, -0.2097627861, -0.1573220896], -0.0524406965,
     [0.2401191453, 0.2868238424, 0.2001178818], 0.0309750151),
    (1, 3, 5.1871083252, 0.9944429112, 0.9944429112, [7.9555432899, 4.9722145562, 8.9499862012],
     0.9944429112, [-0.5554351837, -0.2103976132, -0.6948807383], -0.068469276),
    (1, 4, -6.5449748196, 0.0014352573, 0.0014352573, [0.0100468014, 0.0129173161, 0.0014352573],
     0.0014352573, [-0.5564398639, -0.2116893449, -0.6950242641], -0.0686128017),
    (2, 1, -8.7144724644, 0.0001641653, -0.9998358347,
     [-4.9991791734, -7.9986866775, -5.9990150081], -0.9998358347,
     [-0.0565219465, 0.5881793229, -0.0951227633], 0.0313707817),
    (2, 2, 1.7595881044, 0.8531580657, -0.1468419343, [-0.8810516059, -0.5873677373, -0.440525803],
     -0.1468419343, [0.0315832141, 0.6469160966, -0.051070183], 0.0460549752),
    (2, 3, 3.0736695242, 0.9557934778, 0.9557934778, [7.6463478228, 4.7789673892, 8.6021413006],
     0.9557934778, [-0.7330515682, 0.1690193577, -0.911284313], -0.0495243726),
    (2, 4, -4.5709954439, 0.0102416768, 0.0102416768, [0.0716917373, 0.0921750908, 0.0102416768],
     0.0102416768, [-0.7402207419, 0.1598018486, -0.9123084807], -0.0505485403),
]
LOGREG_L0_FINAL = ([-0.7402207419, 0.1598018486, -0.9123084807], -0.0505485403)

LOGREG_L05 = [
    (1, 1, 1.06, 0.7426905453, -0.2573094547, [-1.2765472735, -2.0509756376, -1.5401067282],
     -0.2573094547, [0.2076547273, 0.2650975638, 0.1840106728], 0.0257309455),
    (1, 2, 2.884081583, 0.9470538995, -0.0529461005,
     [-0.2917197621, -0.1786472066, -0.1358369674], -0.0529461005,
     [0.2368267036, 0.2829622844, 0.1975943696], 0.0310255555),
    (1, 3, 5.1187999321, 0.9940523869, 0.9940523869, [7.9820224333, 5.0056322201, 8.9711707785],
     0.9940523869, [-0.5613755398, -0.2176009376, -0.6995227083], -0.0683796832),
    (1, 4, -6.6559396082, 0.0012847063, 0.0012847063,
     [-0.0611789983, -0.0156377604, -0.0861556322], 0.0012847063,
     [-0.5552576399, -0.2160371616, -0.6909071451], -0.0685081538),
    (2, 1, -8.7185365163, 0.0001634996, -0.9998365004,
     [-5.068589707, -8.0256966484, -6.0853823955], -0.9998365004,
     [-0.0483986692, 0.5865325033, -0.0823689055], 0.0314754962),
    (2, 2, 1.8401067774, 0.8629613353, -0.1370386647,
     [-0.8282818218, -0.4748380958, -0.4214121072], -0.1370386647,
     [0.0344295129, 0.6340163129, -0.0402276948], 0.0451793627),
    (2, 3, 3.1286477775, 0.9580590918, 0.9580590918, [7.6687764232, 4.8695474979, 8.617503364],
     0.9580590918, [-0.7324481294, 0.1470615631, -0.9019780312], -0.0506265465),
    (2, 4, -4.7561874156, 0.0085250278, 0.0085250278, [-0.0318808212, 0.095107946, -0.1042222261],
     0.0085250278, [-0.7292600473, 0.1375507685, -0.8915558086], -0.0514790493),
]
LOGREG_L05_FINAL = ([-0.7292600473, 0.1375507685, -0.8915558086], -0.0514790493)

# §2: (epoch, z per sample, MSE, ∂L/∂w, ∂L/∂b, w after, b after)
LINREG_EXACT = [
    (1, [1.06, 0.81, 1.21, 1.13], 0.695175, [8.375, 7.97, 5.905], 1.105,
     [-0.7575, -0.737, -0.5605], -0.1105),
    (2, [-13.157, -9.285, -14.9, -12.6065], 171.783929, [-169.97025, -171.17725, -131.25175],
     -25.97425, [16.239525, 16.380725, 12.564675], 2.486925),
    (3, [290.1184, 203.141, 327.388825, 276.1548], 76973.837349,
     [3605.3161, 3621.924263, 2781.893813], 547.401513,
     [-344.292085, -345.811701, -265.624706], -52.253226),
    (4, [-6133.955499, -4298.12666, -6926.270769, -5840.227839], 34550414.245229,
     [-76380.649238, -76734.777511, -58941.888865], -11600.290383,
     [7293.772839, 7327.66605, 5628.56418], 1107.775812),
]
LINREG_CARRY2 = [
    (1, [1.06, 0.81, 1.21, 1.13], 0.7, [8.38, 7.97, 5.9], 1.11, [-0.76, -0.74, -0.56], -0.11),
    (2, [-13.19, -9.31, -14.93, -12.65], 172.64, [-170.4, -171.63, -131.55], -26.04,
     [16.28, 16.42, 12.6], 2.49),
    (3, [290.85, 203.65, 328.23, 276.83], 77362.46, [3614.4, 3631.01, 2788.98], 548.78,
     [-345.16, -346.68, -266.3], -52.39),
    (4, [-6149.43, -4308.97, -6943.77, -5854.93], 34724944.43, [-76573.32, -76928.27, -59090.68],
     -11629.55, [7312.17, 7346.15, 5642.77], 1110.56),
]
LAMBDA_MAX = 221.86337154
ETA_LIMIT = 0.00901456

WEIGHTS = ["w1", "w2", "w3"]


# ------------------------------------------------------------------------------------ helpers


def close(actual: float, expected: float, decimals: int) -> bool:
    """Within half a unit of the reference's last decimal place, or 1e-9 relative."""
    tolerance = max(0.5 * 10.0 ** -decimals * (1 + 1e-9), 1e-9 * abs(expected))
    return math.isfinite(actual) and abs(actual - expected) <= tolerance


def assert_close(actual: object, expected: object, decimals: int, what: str) -> None:
    if isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), what
        for k, (a, e) in enumerate(zip(actual, expected)):
            assert_close(a, e, decimals, f"{what}[{k}]")
        return
    assert close(float(actual), float(expected), decimals), f"{what}: {actual!r} != {expected!r}"


def load_bundled(name: str, **overrides: object):
    problem = load_problem(bundled_problems()[name], display_name=f"problems/{name}.yaml")
    return apply_overrides(problem, **overrides)  # type: ignore[arg-type]


def only_run(name: str, **overrides: object) -> Run:
    trace = solve(load_bundled(name, **overrides))
    assert len(trace.runs) == 1
    return trace.runs[0]


def row_values(step: Step, sample_index: int = 0) -> dict[str, float]:
    return {q.key: float(q.value) for q in step.rows[sample_index] if q.role is Role.VALUE}


def grads(step: Step) -> dict[str, float]:
    return {q.key: float(q.value) for q in step.of_role(Role.GRAD)}


def params(step: Step) -> dict[str, float]:
    return {q.key: float(q.value) for q in step.of_role(Role.PARAM)}


# --------------------------------------------------------------------------- §1 logistic SGD


@pytest.mark.parametrize(("lam", "table", "final"), [
    (0.0, LOGREG_L0, LOGREG_L0_FINAL), (0.5, LOGREG_L05, LOGREG_L05_FINAL)])
def test_logreg_every_step(lam, table, final):
    run = only_run("logreg", lam=lam)
    assert run.settings["lambda"] == lam and run.settings["update"] == "sgd"
    steps = [(epoch.index, step) for epoch in run.epochs for step in epoch.steps]
    assert len(run.epochs) == 2 and len(steps) == len(table) == 8
    for (epoch_index, step), ref in zip(steps, table):
        epoch, sample, z, sigma, error, grad_w, grad_b, w_after, b_after = ref
        where = f"λ={lam} epoch {epoch} sample {sample}"
        assert (epoch_index, step.samples) == (epoch, [sample]), where
        values = row_values(step)
        assert set(values) == {"z", "sigma", "error"}
        assert_close(values["z"], z, 10, f"{where} z")
        assert_close(values["sigma"], sigma, 10, f"{where} σ")
        assert_close(values["error"], error, 10, f"{where} error")
        g, p = grads(step), params(step)
        assert list(g) == [*WEIGHTS, "b"] and list(p) == [*WEIGHTS, "b"]
        assert_close([g[w] for w in WEIGHTS], grad_w, 10, f"{where} ∂L/∂w")
        assert_close(g["b"], grad_b, 10, f"{where} ∂L/∂b")
        assert_close([p[w] for w in WEIGHTS], w_after, 10, f"{where} w after")
        assert_close(p["b"], b_after, 10, f"{where} b after")
    assert_close([run.final[w] for w in WEIGHTS], final[0], 10, "final w")
    assert_close(run.final["b"], final[1], 10, "final b")


def test_logreg_l2_only_touches_weight_gradients():
    """λ = 0.5 changes ∂L/∂w_j by exactly (λ/n)·w_j of the same parameters; ∂L/∂b never."""
    first = grads(only_run("logreg", lam=0.5).epochs[0].steps[0])
    plain = grads(only_run("logreg").epochs[0].steps[0])
    # first step: same parameters as λ = 0, so the difference is (0.5/4)·w_initial
    for name, w0 in zip(WEIGHTS, [0.08, 0.06, 0.03]):
        assert first[name] - plain[name] == pytest.approx(0.125 * w0, rel=1e-12)
    assert first["b"] == plain["b"]


def test_logreg_losses_and_predictions():
    run = only_run("logreg")
    assert run.epochs[0].loss == pytest.approx(0.8865976307860937, rel=1e-12)
    assert run.final_loss == pytest.approx(3.636851698, rel=1e-9)
    assert run.outcome is not None and run.outcome.threshold == 0.5
    assert [p.label for p in run.outcome.predictions] == [0, 0, 0, 0]
    assert [p.target for p in run.outcome.predictions] == [1, 1, 0, 0]
    assert run.outcome.accuracy == 0.5
    assert run.stability is None  # only linear batch GD on a squared loss has one


# ---------------------------------------------------------------------------- §2 linear batch


@pytest.mark.parametrize(("carry", "table"), [(None, LINREG_EXACT), (2, LINREG_CARRY2)])
def test_linreg_every_epoch(carry, table):
    run = only_run("linreg", carry_decimals=carry)
    assert run.settings["update"] == "batch" and run.settings["loss"] == "mse"
    assert len(run.epochs) == len(table) == 4
    for epoch, ref in zip(run.epochs, table):
        index, z, mse, grad_w, grad_b, w_after, b_after = ref
        where = f"carry={carry} epoch {index}"
        assert epoch.index == index and len(epoch.steps) == 1
        step = epoch.steps[0]
        assert step.samples == [1, 2, 3, 4]
        z_values = [row_values(step, k)["z"] for k in range(4)]
        g, p = grads(step), params(step)
        actual = {"z": z_values, "mse": [epoch.loss], "grad_w": [g[w] for w in WEIGHTS],
                  "grad_b": [g["b"]], "w": [p[w] for w in WEIGHTS], "b": [p["b"]]}
        expected = {"z": z, "mse": [mse], "grad_w": grad_w, "grad_b": [grad_b], "w": w_after,
                    "b": [b_after]}
        for key in expected:
            if carry is None:
                assert_close(actual[key], expected[key], 6, f"{where} {key}")
            else:  # carry-rounded values are exactly the 2-decimal numbers
                assert actual[key] == expected[key], f"{where} {key}"
    assert run.outcome is not None
    assert [pred.label for pred in run.outcome.predictions] == [1, 1, 1, 1]


def test_linreg_carry_errors_are_rounded_and_used():
    """Carry 2: each error y − ŷ is written rounded, and the gradient uses those values."""
    step = only_run("linreg", carry_decimals=2).epochs[0].steps[0]
    errors = [row_values(step, k)["error"] for k in range(4)]
    assert errors == [-0.06, 0.19, -1.21, -1.13]
    # −(2/4)·Σ error·x₁ with the rounded errors = 8.375 → 8.38 (half away from zero)
    assert grads(step)["w1"] == 8.38


@pytest.mark.parametrize("carry", [None, 2])
def test_linreg_stability_limit(carry):
    run = only_run("linreg", carry_decimals=carry)
    assert run.stability is not None
    assert run.stability.lambda_max == pytest.approx(LAMBDA_MAX, rel=1e-9)
    assert run.stability.eta_limit == pytest.approx(ETA_LIMIT, abs=0.5e-8)
    assert run.stability.eta == 0.1 and not run.stability.stable


def test_linreg_diverges_with_homework_rate():
    trace = solve(load_bundled("linreg"))
    codes = {w.code for w in trace.warnings}
    assert codes == {"diverging", "unstable_learning_rate"}
    diverging = next(w for w in trace.warnings if w.code == "diverging")
    assert diverging.epoch == 1


def test_linreg_converges_below_the_limit():
    trace = solve(load_bundled("linreg", learning_rate=0.009, epochs=200))
    run = trace.runs[0]
    assert run.stability is not None and run.stability.stable
    assert not [w for w in trace.warnings if w.code in ("diverging", "unstable_learning_rate")]
    assert run.final_loss < run.epochs[0].loss


# --------------------------------------------------------------------------------------- JSON

STEP_KEYS = {"step", "samples", "values", "grad", "params"}
RUN_KEYS = {"label", "settings", "epochs", "final", "final_loss", "predictions", "threshold",
            "accuracy"}


def json_of(name: str, **overrides: object) -> dict:
    return json.loads(render(solve(load_bundled(name, **overrides)), "json", RenderOptions()))


def test_json_logreg_structure_and_numbers():
    document = json_of("logreg")
    assert set(document) == {"gdtrace", "problem", "runs", "warnings"}
    assert document["problem"] == {"title": "Logistic regression by SGD", "model": "logistic",
                                   "source": "problems/logreg.yaml"}
    assert document["warnings"] == []
    (run,) = document["runs"]
    assert set(run) == RUN_KEYS
    assert run["label"] == "as written"
    assert run["settings"] == {"learning_rate": 0.1, "lambda": 0.0, "epochs": 2,
                               "update": "sgd", "loss": "log"}
    assert [e["epoch"] for e in run["epochs"]] == [1, 2]
    assert run["epochs"][0]["loss"] == pytest.approx(0.8865976307860937, rel=1e-12)
    assert run["final_loss"] == pytest.approx(3.636851698, rel=1e-9)
    steps = [s for e in run["epochs"] for s in e["steps"]]
    assert [s["step"] for s in steps] == list(range(1, 9))
    for step, ref in zip(steps, LOGREG_L0):
        assert set(step) == STEP_KEYS
        assert step["samples"] == [ref[1]]
        assert list(step["values"]) == ["z", "sigma", "error"]
        assert_close([step["values"][k] for k in ("z", "sigma", "error")], list(ref[2:5]), 10,
                     "json values")
        assert list(step["grad"]) == [*WEIGHTS, "b"] and list(step["params"]) == [*WEIGHTS, "b"]
        assert_close([step["grad"][w] for w in WEIGHTS] + [step["grad"]["b"]],
                     [*ref[5], ref[6]], 10, "json grad")
        assert_close([step["params"][w] for w in WEIGHTS] + [step["params"]["b"]],
                     [*ref[7], ref[8]], 10, "json params")
    assert list(run["final"]) == [*WEIGHTS, "b"]
    assert_close([run["final"][k] for k in [*WEIGHTS, "b"]],
                 [*LOGREG_L0_FINAL[0], LOGREG_L0_FINAL[1]], 10, "json final")
    assert run["threshold"] == 0.5 and run["accuracy"] == 0.5
    assert [set(p) for p in run["predictions"]] == [{"sample", "score", "label", "target"}] * 4
    assert [p["sample"] for p in run["predictions"]] == [1, 2, 3, 4]


def test_json_numbers_are_full_precision_not_display_rounded():
    document = json_of("logreg")
    sigma = document["runs"][0]["epochs"][0]["steps"][0]["values"]["sigma"]
    assert sigma == pytest.approx(0.7426905453, abs=1e-10) and sigma != 0.7427


def test_json_linreg_batch_values_stability_and_warnings():
    document = json_of("linreg")
    (run,) = document["runs"]
    assert set(run) == RUN_KEYS | {"stability"}
    assert run["stability"]["stable"] is False
    assert run["stability"]["lambda_max"] == pytest.approx(LAMBDA_MAX, rel=1e-9)
    assert run["stability"]["eta_limit"] == pytest.approx(ETA_LIMIT, abs=0.5e-8)
    assert set(run["stability"]) == {"lambda_max", "eta_limit", "stable"}
    first = run["epochs"][0]["steps"][0]
    assert first["samples"] == [1, 2, 3, 4]
    assert set(first["values"]) == {"z", "error"}
    assert_close(first["values"]["z"], LINREG_EXACT[0][1], 6, "json batch z")
    for epoch, ref in zip(run["epochs"], LINREG_EXACT):
        assert_close(epoch["loss"], ref[2], 6, "json epoch loss")
    assert [p["label"] for p in run["predictions"]] == [1, 1, 1, 1]
    warnings = document["warnings"]
    assert {w["code"] for w in warnings} == {"diverging", "unstable_learning_rate"}
    for warning in warnings:
        assert set(warning) == {"run", "code", "message", "epoch", "step"}
        assert warning["run"] == "as written"


def test_json_linreg_carry_values_are_the_rounded_ones():
    run = json_of("linreg", carry_decimals=2)["runs"][0]
    assert run["settings"]["carry_decimals"] == 2
    assert [e["loss"] for e in run["epochs"]] == [row[2] for row in LINREG_CARRY2]
    last = run["epochs"][-1]["steps"][0]
    assert last["params"] == {"w1": 7312.17, "w2": 7346.15, "w3": 5642.77, "b": 1110.56}
    assert run["final"] == last["params"]


def test_json_minibatch_values_are_lists_in_every_step():
    """A one-sample group (the short last minibatch) keeps the list shape of the others."""
    steps = json_of("logreg", update="minibatch", batch_size=3)["runs"][0]["epochs"][0]["steps"]
    assert [s["samples"] for s in steps] == [[1, 2, 3], [4]]
    assert all(isinstance(v, list) for s in steps for v in s["values"].values())
    assert len(steps[1]["values"]["z"]) == 1
