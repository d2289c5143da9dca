"""The grader's rules, one at a time, on bundled problems (docs/check.md)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from gdtrace.api import comparison, solve
from gdtrace.check import AnswersError, check


def verdicts(report) -> dict[str, tuple[str, str | None]]:
    return {c.address.label(): (c.verdict, c.diagnosis) for c in report.cells}


def test_a_number_written_to_the_key_precision_is_correct_and_one_off_is_rounding() -> None:
    report = check("logreg", {"steps": [{"step": 1, "values": {
        "z": "1.06", "sigma": "0.743", "error": "-0.26"}}]})
    assert verdicts(report) == {"step 1 values.z": ("correct", None),
                                "step 1 values.sigma": ("correct", None),
                                "step 1 values.error": ("correct", None)}
    # σ(1.06) = 0.742690…: 0.7427 to four decimals; 0.7426 truncates it; 0.7428 is no rounding
    truncated = check("logreg", {"steps": [{"step": 1, "values": {"sigma": "0.7426"}}]})
    assert truncated.cells[0].verdict == "rounding"
    off = check("logreg", {"steps": [{"step": 1, "values": {"sigma": "0.7428"}}]})
    assert off.cells[0].verdict == "wrong"


def test_trailing_zeros_written_as_text_claim_precision() -> None:
    loose = check("logreg", {"steps": [{"step": 1, "params": {"b": "0.03"}}]})
    strict = check("logreg", {"steps": [{"step": 1, "params": {"b": "0.0300"}}]})
    assert loose.cells[0].verdict == "correct"  # 0.02573 is 0.03 to two decimals
    assert strict.cells[0].verdict == "wrong"  # but not 0.0300 to four


def test_missing_and_unanswered_numbers() -> None:
    report = check("logreg", {"steps": [{"step": 1, "values": {"z": None, "sigma": "0.7427"}}]})
    assert verdicts(report) == {"step 1 values.z": ("missing", None),
                                "step 1 values.sigma": ("correct", None)}
    assert report.max_score == 2 and report.score == 1


def test_diagnoses_sign_decimal_factor_stale() -> None:
    report = check("logreg", {"steps": [{"step": 1, "grad": {"w1": "1.2865", "w2": "-20.585",
                                                             "w3": "-3.0877"},
                                         "params": {"w1": "0.08"}}]})
    assert verdicts(report) == {
        "step 1 grad.w1": ("wrong", "sign"),  # −1.2865 with its sign flipped
        "step 1 grad.w2": ("wrong", "decimal"),  # −2.0585 × 10
        "step 1 grad.w3": ("wrong", "factor"),  # −1.5439 × 2
        "step 1 params.w1": ("wrong", "stale"),  # the value before the update
    }
    # the update written without η: 0.06 − (−2.0585) (the gradient itself is not written)
    no_eta = check("logreg", {"steps": [{"step": 1, "params": {"w2": "2.1185"}}]})
    assert verdicts(no_eta) == {"step 1 params.w2": ("wrong", "factor")}
    # … while with a gradient written ten times too large, the same update is carried
    carried = check("logreg", {"steps": [{"step": 1, "grad": {"w2": "-20.585"},
                                          "params": {"w2": "2.1185"}}]})
    assert verdicts(carried)["step 1 params.w2"] == ("carried", None)


def test_digits_swapped() -> None:
    report = check("logreg", {"steps": [{"step": 1, "grad": {"w1": "-1.2856"}}]})
    assert verdicts(report) == {"step 1 grad.w1": ("wrong", "digits")}


def test_a_formula_may_use_a_written_line_its_factors_combine_into() -> None:
    """∂L/∂W₁₃ = ∂L/∂a₃·σ'(z₃)·x₁ is also ∂L/∂z₃·x₁: a student who slipped in ∂L/∂z₃ and went
    on from it is carried."""
    report = check("backprop", {"steps": [{"step": 1, "values": {
        "dL/da3": "-5.7046", "f'(z3)": "0.1966", "dL/dz3": "-1.2216"},
        "grad": {"W13": "-1.2216", "W23": "1.2216"}, "params": {"W13": "1.1222"}}]})
    assert verdicts(report) == {
        "step 1 values.dL/da3": ("correct", None), "step 1 values.f'(z3)": ("correct", None),
        "step 1 values.dL/dz3": ("wrong", None), "step 1 grad.W13": ("carried", None),
        "step 1 grad.W23": ("carried", None), "step 1 params.W13": ("carried", None)}


def test_vectors_and_matrices_are_graded_entry_by_entry() -> None:
    trace = solve("relu_mlp")
    step = trace.runs[0].epochs[0].steps[0]
    grad = next(q for q in step.quantities if q.key == "W1").value
    rows = [[f"{v:.4f}" for v in row] for row in grad]
    i, j = (int(k) for k in np.unravel_index(np.argmax(np.abs(grad)), grad.shape))
    assert abs(grad[i, j]) > 0.01
    rows[i][j] = rows[i][j][1:] if rows[i][j].startswith("-") else "-" + rows[i][j]
    report = check(trace, {"steps": [{"step": 1, "grad": {"W1": rows}}]})
    wrong = [(c.address.label(), c.diagnosis) for c in report.wrong]
    assert len(report.cells) == grad.size
    assert wrong == [(f"step 1 grad.W1[{i + 1},{j + 1}]", "sign")]


def test_a_batch_step_takes_one_value_per_sample() -> None:
    trace = solve("linreg")
    z = [f"{v:.2f}" for v in (1.06, 0.81, 1.21, 1.13)]
    report = check(trace, {"steps": [{"step": 1, "values": {"z": z}}]})
    assert [c.address.sample for c in report.cells] == [1, 2, 3, 4]
    assert report.counts["correct"] == 4
    with pytest.raises(AnswersError, match="list of 4 values"):
        check(trace, {"steps": [{"step": 1, "values": {"z": z[:3]}}]})


def test_carry_decimals_make_written_numbers_exact() -> None:
    trace = solve("linreg", carry=2)
    report = check(trace, {"epochs": [{"epoch": 1, "loss": "0.7"}],
                           "steps": [{"step": 1, "grad": {"w1": "8.38", "b": "1.11"}}]})
    assert report.counts == {"correct": 3, "carried": 0, "rounding": 0, "wrong": 0,
                             "missing": 0}
    off = check(trace, {"steps": [{"step": 1, "grad": {"w1": "8.37"}}]})
    assert off.cells[0].verdict == "rounding"


def test_each_run_of_a_comparison() -> None:
    trace = comparison("logreg", l2=0.5)
    report = check(trace, {"run": "λ = 0.5", "steps": [{"step": 1, "grad": {"w1": "-1.28"}}]})
    assert report.run == "λ = 0.5" and report.cells[0].verdict == "correct"
    with pytest.raises(AnswersError, match="no run 'λ = 2'"):
        check(trace, {"run": "λ = 2", "steps": []})


def test_every_optimizer_state_line_is_a_value() -> None:
    report = check("adam", {"steps": [{"step": 1, "values": {"m.w1": "-2.2667", "v.w1": "0.5138",
                                                             "mhat.w1": "-22.667"}}]})
    assert report.counts["correct"] == 3, verdicts(report)


@pytest.mark.parametrize(("answers", "message"), [
    ({"steps": [{"step": 9}]}, "no step 9 (steps 1–8)"),
    ({"steps": [{"step": 1, "values": {"sigmo": 1}}]}, "did you mean 'sigma'"),
    ({"steps": [{"step": 1, "values": {"z": "one"}}]}, "expected a number, got 'one'"),
    ({"stepz": []}, "did you mean 'steps'"),
    ({"final": {"w4": 1}}, "no final parameter 'w4'"),
    ({"epochs": [{"epoch": 3, "loss": 1}]}, "no epoch 3"),
])
def test_bad_answers_are_one_clear_error(answers: dict, message: str) -> None:
    with pytest.raises(AnswersError, match=re.escape(message)):
        check("logreg", answers)
