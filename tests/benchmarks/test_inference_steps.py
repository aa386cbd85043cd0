"""benchmarks/inference_steps.py: fixed and adaptive halting measured on a tiny trained model agree with the
package's own evaluation, the derived numbers follow from the per-step ones, and docs/test-time-compute.md
shows the committed JSON."""

from __future__ import annotations

import json

import harness
import pytest
from benchmark_scripts import load_benchmark

ttc = load_benchmark("inference_steps")


def test_tiny_run_matches_the_package_evaluation(tiny_sudoku_model, tmp_path):
    from modeling_trm import TRMForPuzzleSolving
    from training.evaluation import evaluate

    out = tmp_path / "out"
    assert ttc.main(["--model", f"tiny={tiny_sudoku_model}", "--max-steps", "6", "--budgets", "3,6", "--output", str(out),
                     "--threads", "1"]) == 0
    results = json.loads((out / "results.json").read_text())
    entry = results["models"]["tiny"]
    assert entry["trained_steps"] == 2 and entry["num_puzzles"] == 24
    assert [a["budget"] for a in entry["adaptive"]] == [2, 3, 6]  # the trained number is always measured

    model = TRMForPuzzleSolving.from_pretrained(tiny_sudoku_model).eval()
    test, metadata, _ = harness.load_test_split(tiny_sudoku_model)
    fixed = evaluate(model, test, metadata, halting="fixed", max_steps=6, progress=False)
    assert entry["fixed"]["exact_accuracy"] == pytest.approx(fixed["accuracy_by_step"]["exact_accuracy"], abs=1e-12)
    for a in entry["adaptive"]:
        reference = evaluate(model, test, metadata, halting="adaptive", max_steps=a["budget"], progress=False)
        assert a["exact_accuracy"] == pytest.approx(reference["exact_accuracy"], abs=1e-12)
        assert a["mean_steps"] == pytest.approx(reference["mean_steps"], abs=1e-12)
        assert 0 <= a["halted_early_wrong"] <= a["halted_early"] <= entry["num_puzzles"]
        assert a["fixed_exact_accuracy_at_budget"] == entry["fixed"]["exact_accuracy"][a["budget"] - 1]
        equal = a["fixed_steps_for_equal_accuracy"]
        curve = entry["fixed"]["exact_accuracy"]
        if equal is None:
            assert max(curve) < a["exact_accuracy"]
        else:  # the fewest fixed steps reaching the adaptive accuracy
            assert curve[equal - 1] >= a["exact_accuracy"] and all(c < a["exact_accuracy"] for c in curve[:equal - 1])
    # The halting confidence is chosen on fresh puzzles, none of them in the model's train or test split, and
    # the calibrated sweep is what the package's evaluation gives at that confidence.
    calibration_set, description = ttc.calibration_split(tiny_sudoku_model, test)
    train = harness.training_dataset(tiny_sudoku_model)[0]["train"]
    seen = {tuple(row) for row in test["inputs"]} | {tuple(row) for row in train["inputs"]}
    assert not seen & {tuple(row) for row in calibration_set["inputs"]} and len(calibration_set) > 0
    calibration = entry["calibration"]
    assert calibration["source"] == description and calibration["num_puzzles"] == len(calibration_set)
    assert calibration["max_steps"] == 6  # min(16, --max-steps)
    chosen = calibration["halt_confidence"]
    reaching = [c["halt_confidence"] for c in calibration["candidates"]
                if c["exact_accuracy"] >= calibration["target_exact_accuracy"]]
    assert chosen == (reaching[0] if reaching else None)
    for a in entry.get("adaptive_calibrated", []):
        reference = evaluate(model, test, metadata, halting="adaptive", max_steps=a["budget"], halt_confidence=chosen,
                             progress=False)
        assert (a["exact_accuracy"], a["mean_steps"]) == pytest.approx(
            (reference["exact_accuracy"], reference["mean_steps"]), abs=1e-12)
    assert (out / "results.md").read_text() == ttc.results_table(results)
    assert (out / "accuracy_vs_steps.png").stat().st_size > 0


def _entry(halted_early, wrong, adaptive_accuracy, mean_steps, fixed_equal):
    curve = [0.1 * step for step in range(1, 11)] + [1.0] * 22  # 32 fixed steps
    return {"trained_steps": 4, "fixed": {"steps": list(range(1, 33)), "exact_accuracy": curve},
            "adaptive": [{"budget": 16, "exact_accuracy": adaptive_accuracy, "mean_steps": mean_steps,
                          "halted_early": halted_early, "halted_early_wrong": wrong,
                          "fixed_steps_for_equal_accuracy": fixed_equal}]}


def test_findings_say_when_halting_never_fires_and_what_it_saves_when_it_does():
    never = ttc.findings(_entry(0, 0, 1.0, 16.0, 10))
    assert never[0] == "fixed halting: 40.0% exact at the trained 4 steps, best 100.0% at 10 steps, 100.0% at 32 steps."
    assert "never stopped a puzzle before the budget" in never[1]
    fires = ttc.findings(_entry(200, 3, 1.0, 4.0, 10))
    assert fires[1].startswith("adaptive halting, budget 16: 100.0% exact with 4.00 mean steps vs fixed 16 steps "
                               "100.0%: 4.0x fewer steps, at no loss of accuracy.")
    assert fires[2] == "halted answers that are wrong (budget 16): 3 of 200 (1.5%)."
    worse = ttc.findings(_entry(200, 3, 0.9, 4.0, 9))
    assert worse[1].endswith("at 10.0 points less exact accuracy.")
    assert worse[2] == "at equal accuracy: fixed halting reaches 90.0% after 9 steps, 2.2x the adaptive mean."


def test_findings_report_the_calibrated_confidence_and_its_saving():
    entry = _entry(200, 20, 0.9, 2.0, 9)
    entry["calibration"] = {"source": "256 fresh puzzles", "max_steps": 16, "target_exact_accuracy": 1.0,
                            "halt_confidence": 0.95,
                            "candidates": [{"halt_confidence": 0.5}, {"halt_confidence": 0.95}]}
    entry["adaptive_calibrated"] = [{"budget": 16, "exact_accuracy": 1.0, "mean_steps": 2.5, "halted_early": 250,
                                     "halted_early_wrong": 1, "fixed_steps_for_equal_accuracy": 10}]
    lines = ttc.calibrated_findings(entry)
    assert lines == [
        "calibrated halting confidence: 0.95, the lowest at which adaptive halting is as exact as fixed halting "
        "(on 256 fresh puzzles, where fixed halting at 16 steps is 100.0% exact; tried 0.5, 0.95).",
        "adaptive halting at confidence 0.95, budget 16: 100.0% exact with 2.50 mean steps vs fixed 16 steps 100.0%: "
        "6.4x fewer steps, at no loss of accuracy on the test puzzles.",
        "halted answers that are wrong at confidence 0.95 (budget 16): 1 of 250 (0.4%).",
    ]
    assert ttc.findings(entry)[-3:] == lines
    entry["calibration"]["halt_confidence"] = None
    assert ttc.calibrated_findings(entry)[0].startswith("calibrated halting: no confidence reached")
    entry["calibration"]["halt_confidence"] = 0.5
    assert ttc.calibrated_findings(entry) == [
        "calibrated halting confidence: 0.5, the training rule already is as exact as fixed halting "
        "(on 256 fresh puzzles, where fixed halting at 16 steps is 100.0% exact; tried 0.5, 0.95)."]


def test_doc_block_is_the_committed_study_output():
    results = json.loads((ttc.RESULTS_DIR / "results.json").read_text())
    assert all(entry["max_steps"] >= 128 for entry in results["models"].values())
    assert ttc.DOC_BLOCK.read() == ttc.doc_section(ttc.results_table(results)).strip()
    assert (ttc.RESULTS_DIR / "results.md").read_text() == ttc.results_table(results)
