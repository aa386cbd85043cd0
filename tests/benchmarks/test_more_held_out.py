"""benchmarks/more_held_out.py: a generated recipe rebuilt with more test puzzles keeps the recipe's own test split
as its first puzzles, so the others are fresh, and the accuracy over all of them is the two parts' weighted mean."""

from __future__ import annotations

import json

import harness
import pytest
from benchmark_scripts import load_benchmark

more_held_out = load_benchmark("more_held_out")


def test_more_puzzles_start_with_the_recipes_own_test_split(tiny_sudoku_model, tmp_path):
    from modeling_trm import TRMForPuzzleSolving
    from training.evaluation import evaluate

    recipe_test, metadata, _ = harness.load_test_split(tiny_sudoku_model)
    assert more_held_out.main(["--model", f"tiny={tiny_sudoku_model}", "--num-test", str(len(recipe_test) + 16),
                               "--output", str(tmp_path)]) == 0
    entry = json.loads((tmp_path / "results.json").read_text())["models"]["tiny"]
    assert entry["recipe_test"]["num_puzzles"] == len(recipe_test) and entry["fresh"]["num_puzzles"] == 16

    model = TRMForPuzzleSolving.from_pretrained(tiny_sudoku_model).eval()
    own = evaluate(model, recipe_test, metadata, progress=False, halting="fixed",
                   max_steps=model.config.max_supervision_steps)
    assert entry["recipe_test"]["exact_accuracy"] == own["exact_accuracy"]
    solved = entry["recipe_test"]["exact_accuracy"] * len(recipe_test) + entry["fresh"]["exact_accuracy"] * 16
    assert solved == pytest.approx(entry["exact_accuracy"] * entry["num_puzzles"])
    assert sum(band["num_puzzles"] for band in entry["bands"]) == entry["num_puzzles"]
    # adaptive halting at the saved confidence, within the trained steps
    assert entry["adaptive"]["halt_confidence"] == model.solve_config.halt_confidence
    assert 1 <= entry["adaptive"]["mean_steps"] <= model.config.max_supervision_steps
    assert (tmp_path / "results.md").read_text() == more_held_out.results_table(
        json.loads((tmp_path / "results.json").read_text()))


def test_no_more_puzzles_than_the_recipe_has_is_an_error(tiny_sudoku_model, tmp_path):
    recipe_test, _, _ = harness.load_test_split(tiny_sudoku_model)
    with pytest.raises(SystemExit):
        more_held_out.main(["--model", f"tiny={tiny_sudoku_model}", "--num-test", str(len(recipe_test)),
                            "--output", str(tmp_path)])


def _zero_guess_band(entry: dict) -> dict:
    """The 0-guess difficulty band of a Sudoku entry of a more_held_out results.json."""
    (band,) = [band for band in entry["bands"] if band["band"] == "0 guesses"]
    return band


def test_the_readme_quotes_the_committed_2304_puzzle_results():
    """The README's numbers on 2304 held-out 9×9 puzzles (the eager and the compiled seeds of the preset, the 0-guess
    band of the eager ones) are those of benchmarks/results/more_held_out."""
    models = json.loads((harness.RESULTS_ROOT / "more_held_out" / "results.json").read_text())["models"]

    def span(kind: str, value) -> str:
        values = [value(models[f"seed{seed}-{kind}"]) for seed in range(3)]
        return f"{100 * min(values):.1f}–{100 * max(values):.1f}%"

    def exact(entry):
        return entry["exact_accuracy"]

    def no_guesses(entry):
        return _zero_guess_band(entry)["exact_accuracy"]

    readme = (harness.REPO_ROOT / "README.md").read_text()
    count = _zero_guess_band(models["seed0-eager"])["num_puzzles"]
    assert f"of the {count} 0-guess puzzles\namong 2304 held-out ones they solve {span('eager', no_guesses)}" in readme
    assert f"({span('compiled', exact)} against {span('eager', exact)}:" in readme


def test_the_readme_quotes_the_committed_two_hour_run():
    """The README's numbers for the preset stretched to 48000 steps are those of benchmarks/results/
    more_held_out_48000steps."""
    (entry,) = json.loads((harness.RESULTS_ROOT / "more_held_out_48000steps" / "results.json").read_text())["models"].values()
    readme = (harness.REPO_ROOT / "README.md").read_text()
    assert (f"at 48000 steps (2 hours), {100 * entry['exact_accuracy']:.1f}% and "
            f"{100 * _zero_guess_band(entry)['exact_accuracy']:.1f}% of their 0-guess puzzles") in readme


def test_the_docs_quote_the_committed_depth_curriculum_runs():
    """The README's and docs/recipes.md's numbers for the depth-curriculum runs (the preset's three seeds) are those of
    benchmarks/results/sudoku9x9_depth_curriculum (256 puzzles) and more_held_out_depth_curriculum (2304)."""
    shipped = json.loads((harness.RESULTS_ROOT / "sudoku9x9_depth_curriculum" / "results.json").read_text())["models"]
    more = json.loads((harness.RESULTS_ROOT / "more_held_out_depth_curriculum" / "results.json").read_text())["models"]
    fixed = [100 * shipped[f"seed{seed}-depth-curriculum"]["fixed"]["exact_accuracy"] for seed in range(3)]
    more_exact = [100 * more[f"seed{seed}-depth-curriculum"]["exact_accuracy"] for seed in range(3)]
    readme = (harness.REPO_ROOT / "README.md").read_text()
    assert (f"three seeds at {fixed[0]:.1f}, {fixed[1]:.1f} and {fixed[2]:.1f}%, and {min(more_exact):.1f}–"
            f"{max(more_exact):.1f}% of 2304 puzzles") in readme
    recipes = (harness.REPO_ROOT / "docs" / "recipes.md").read_text()
    for seed in range(3):
        entry = more[f"seed{seed}-depth-curriculum"]
        error = f"(± {100 * entry['standard_error']:.1f})"
        row = (f"| seed {seed}, curriculum | ", f"| **{fixed[seed]:.1f}** / ",
               f"| **{100 * entry['exact_accuracy']:.1f}** {error} |", f"| **{100 * _zero_guess_band(entry)['exact_accuracy']:.1f}** |")
        line = next(line for line in recipes.splitlines() if line.startswith(row[0]) and error in line)
        assert all(part in line for part in row[1:]), line
