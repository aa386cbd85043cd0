"""benchmarks/shipped_models.py: the README's table of the shipped models is what the committed results render to,
and the benchmark scores a model by the rules of its puzzle."""

from __future__ import annotations

import json

import harness
import pytest
from benchmark_scripts import load_benchmark

shipped = load_benchmark("shipped_models")


def test_the_readme_block_is_the_committed_results():
    results = json.loads((shipped.RESULTS_DIR / "results.json").read_text())
    assert shipped.DOC_BLOCK.read() == shipped.doc_section(shipped.results_table(results)).strip()
    assert (shipped.RESULTS_DIR / "results.md").read_text() == shipped.results_table(results)
    for name, entry in results["models"].items():
        assert entry["num_puzzles"] == 256 and 1 <= entry["adaptive"]["mean_steps"] <= entry["trained_steps"]
        assert entry["adaptive"]["mean_steps"] <= entry["adaptive_4x"]["mean_steps"] <= 4 * entry["trained_steps"]
        # a retried puzzle keeps its first answer unless a symmetric variant's answer passes the rules
        assert entry["retries"]["fixed"]["solved"] >= entry["fixed"]["solved"]
        assert entry["retries"]["adaptive"]["solved"] >= entry["adaptive"]["solved"]
        if entry["task"] == "sudoku":  # difficulty bands: the solver's guesses
            assert sum(band["num_puzzles"] for band in entry["bands"]) == entry["num_puzzles"]


def test_a_model_is_scored_by_the_rules_on_its_own_held_out_split(tiny_sudoku_model):
    from modeling_trm import TRMForPuzzleSolving

    model = TRMForPuzzleSolving.from_pretrained(tiny_sudoku_model).eval()
    test, metadata, _ = harness.load_test_split(tiny_sudoku_model)
    entry = shipped.measure(model, test, metadata)
    assert entry["fixed"]["solved"] == entry["fixed"]["exact_accuracy"]  # generated Sudokus: one solution each
    assert entry["fixed"]["mean_steps"] == model.config.max_supervision_steps
    assert entry["fixed_2x"]["mean_steps"] == 2 * model.config.max_supervision_steps
    assert entry["fixed_4x"]["mean_steps"] == 4 * model.config.max_supervision_steps
    # adaptive halting at the saved confidence: a larger budget only lets unsure puzzles run longer
    assert entry["adaptive"]["mean_steps"] <= entry["adaptive_4x"]["mean_steps"] <= 4 * model.config.max_supervision_steps
    assert sum(band["num_puzzles"] for band in entry["bands"]) == len(test)
    # retries: every try runs the trained steps with fixed halting; the first try is the fixed run itself
    retried = entry["retries"]["fixed"]
    assert 1 <= retried["mean_tries"] <= shipped.MAX_TRIES
    assert retried["mean_steps"] == pytest.approx(retried["mean_tries"] * model.config.max_supervision_steps)
    assert retried["solved"] == retried["exact_accuracy"] >= entry["fixed"]["solved"]
    solved_in_bands = sum(band["exact_accuracy_retries"] * band["num_puzzles"] for band in entry["bands"]
                          if band["num_puzzles"])
    assert solved_in_bands == pytest.approx(retried["exact_accuracy"] * len(test))


def test_the_readme_quotes_the_three_seeds_of_the_shipped_9x9_preset():
    """The shipped 9×9 model is seed 0 of benchmarks/results/sudoku9x9_seeds; the README gives the other two."""
    seeds = json.loads((harness.RESULTS_ROOT / "sudoku9x9_seeds" / "results.json").read_text())["models"]
    shipped_9x9 = json.loads((shipped.RESULTS_DIR / "results.json").read_text())["models"]["sudoku9x9"]
    assert {k: v for k, v in seeds["seed0"].items() if k != "model_dir"} == {
        k: v for k, v in shipped_9x9.items() if k != "model_dir"}
    readme = shipped.DOC_BLOCK.path.read_text()
    at_8 = " and ".join(f"{100 * seeds[name]['fixed']['solved']:.1f}%" for name in ("seed1", "seed2"))
    at_32 = " and ".join(f"{100 * seeds[name]['fixed_4x']['solved']:.1f}%" for name in ("seed1", "seed2"))
    assert f"the other two solve {at_8} at 8 steps ({at_32}\nat 32)" in readme
    retried = [seeds[f"seed{n}"]["retries"]["fixed"] for n in range(3)]
    solved = f"{100 * retried[0]['solved']:.1f}%, {100 * retried[1]['solved']:.1f}% and {100 * retried[2]['solved']:.1f}%"
    steps = [retry["mean_steps"] for retry in retried]
    assert f"the three seeds solve\n{solved}, and every 0-guess puzzle, at {min(steps):.1f}–{max(steps):.1f} steps" in readme
    assert all(seeds[f"seed{n}"]["bands"][0]["exact_accuracy_retries"] == 1.0 for n in range(3))
