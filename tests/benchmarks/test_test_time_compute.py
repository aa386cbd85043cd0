"""benchmarks/test_time_compute.py: fixed and adaptive halting measured on a tiny trained model agree with the
package's own evaluation, the derived numbers follow from the per-step ones, and the README shows the
committed JSON."""

from __future__ import annotations

import json

import pytest
from benchmark_scripts import load_benchmark

ttc = load_benchmark("test_time_compute")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from training.config import PRESETS, TrainingConfig, apply_overrides
    from training.train import train

    run = tmp_path_factory.mktemp("ttc") / "tiny"
    config = TrainingConfig.from_dict(apply_overrides(PRESETS["sudoku4x4"].to_dict(), {
        "output_dir": str(run), "max_steps": 6, "global_batch_size": 16, "eval_at_start": False, "log_with": "none",
        "solve_sample": False, "dataset_options": {"num_train": 8, "num_test": 24, "num_aug": 1},
        "model.hidden_size": 32, "model.num_attention_heads": 2, "model.max_supervision_steps": 2}))
    return train(config)


def test_tiny_run_matches_the_package_evaluation(tiny_model, tmp_path):
    from modeling_trm import TRMForPuzzleSolving
    from training.evaluation import evaluate

    out = tmp_path / "out"
    assert ttc.main(["--model", f"tiny={tiny_model}", "--max-steps", "6", "--budgets", "3,6", "--output", str(out),
                     "--threads", "1"]) == 0
    results = json.loads((out / "results.json").read_text())
    entry = results["models"]["tiny"]
    assert entry["trained_steps"] == 2 and entry["num_puzzles"] == 24
    assert [a["budget"] for a in entry["adaptive"]] == [2, 3, 6]  # the trained number is always measured

    model = TRMForPuzzleSolving.from_pretrained(tiny_model).eval()
    test, metadata, _ = ttc.load_test_split(tiny_model)
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


def test_readme_block_is_the_committed_study_output():
    results = json.loads((ttc.RESULTS_DIR / "results.json").read_text())
    assert all(entry["max_steps"] >= 128 for entry in results["models"].values())
    readme = ttc.README.read_text()
    begin, end = readme.index(ttc.README_BEGIN), readme.index(ttc.README_END)
    assert readme[begin + len(ttc.README_BEGIN):end].strip() == ttc.readme_section(ttc.results_table(results)).strip()
