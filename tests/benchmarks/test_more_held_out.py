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


def test_the_recipes_quote_the_committed_2304_puzzle_results():
    """docs/recipes.md's verdicts on 2304 held-out 9×9 puzzles (the eager and the compiled seeds of the preset at
    EMA 0.999, their 0-guess band) are those of benchmarks/results/more_held_out."""
    models = json.loads((harness.RESULTS_ROOT / "more_held_out" / "results.json").read_text())["models"]

    def span(kinds: tuple[str, ...], value) -> str:
        values = [value(models[f"seed{seed}-{kind}"]) for seed in range(3) for kind in kinds]
        return f"{100 * min(values):.1f}–{100 * max(values):.1f}%"

    def exact(entry):
        return entry["exact_accuracy"]

    def no_guesses(entry):
        return _zero_guess_band(entry)["exact_accuracy"]

    recipes = " ".join((harness.REPO_ROOT / "docs" / "recipes.md").read_text().split())
    assert f"The eager preset's three seeds solve {span(('eager',), exact)}: all three above 90%" in recipes
    assert f"The compiled seeds, each within the hour, solve {span(('compiled',), exact)}" in recipes
    assert f"The 0-guess puzzles: {span(('eager', 'compiled'), no_guesses)} for every model" in recipes


def test_the_recipes_quote_the_committed_two_hour_compiled_run():
    """docs/recipes.md's numbers for the compiled preset stretched to 48000 steps are those of benchmarks/results/
    more_held_out_48000steps."""
    (entry,) = json.loads((harness.RESULTS_ROOT / "more_held_out_48000steps" / "results.json").read_text())["models"].values()
    recipes = " ".join((harness.REPO_ROOT / "docs" / "recipes.md").read_text().split())
    band = _zero_guess_band(entry)
    assert (f"in two hours its lowest seed solves **{100 * entry['exact_accuracy']:.1f}%**" in recipes
            and f"**{100 * band['exact_accuracy']:.1f}% of the {band['num_puzzles']} 0-guess puzzles**" in recipes)


@pytest.mark.parametrize(("suffix", "label"), [("", "curriculum"), ("_0.4_0.7", "`[0.4, 0.7]`")])
def test_the_recipes_quote_the_committed_depth_curriculum_runs(suffix, label):
    """docs/recipes.md's rows for the depth-curriculum runs (three seeds each of CGAR's [0.3, 0.6] and of the
    preset's [0.4, 0.7]) show the numbers of benchmarks/results/sudoku9x9_depth_curriculum* (256 puzzles) and
    more_held_out_depth_curriculum* (2304)."""
    shipped, more = _depth_curriculum_results(suffix)
    recipes = (harness.REPO_ROOT / "docs" / "recipes.md").read_text()
    for seed, (name, entry) in enumerate(more.items()):
        fixed = 100 * shipped[name]["fixed"]["exact_accuracy"]
        error = f"(± {100 * entry['standard_error']:.1f})"
        row = (f"| seed {seed}, {label} | ", f"| **{fixed:.1f}** / ",
               f"| **{100 * entry['exact_accuracy']:.1f}** {error} |", f"| **{100 * _zero_guess_band(entry)['exact_accuracy']:.1f}** |")
        line = next(line for line in recipes.splitlines() if line.startswith(row[0]) and error in line)
        assert all(part in line for part in row[1:]), line


def test_the_readme_quotes_the_presets_three_seeds():
    """The README's numbers for the preset today (depth curriculum [0.4, 0.7]): exact % of the recipe's 256 puzzles
    and of its 0-guess ones, and of 2304 puzzles."""
    shipped, more = _depth_curriculum_results("_0.4_0.7")
    fixed = [100 * entry["fixed"]["exact_accuracy"] for entry in shipped.values()]
    more_exact = [100 * entry["exact_accuracy"] for entry in more.values()]
    no_guesses = [100 * _zero_guess_band(entry)["exact_accuracy"] for entry in shipped.values()]
    readme = " ".join((harness.REPO_ROOT / "README.md").read_text().split())
    assert (f"at {fixed[0]:.1f}, {fixed[1]:.1f} and {fixed[2]:.1f}% of the 256 puzzles, {min(more_exact):.1f}–"
            f"{max(more_exact):.1f}% of 2304, and {min(no_guesses):.1f}–{max(no_guesses):.1f}% of the 256's 0-guess "
            "puzzles") in readme


def _depth_curriculum_results(suffix: str) -> tuple[dict, dict]:
    """The three seeds' entries (in seed order, same names) of sudoku9x9_depth_curriculum{suffix} (256 puzzles) and
    more_held_out_depth_curriculum{suffix} (2304)."""
    shipped = json.loads((harness.RESULTS_ROOT / f"sudoku9x9_depth_curriculum{suffix}" / "results.json").read_text())
    more = json.loads((harness.RESULTS_ROOT / f"more_held_out_depth_curriculum{suffix}" / "results.json").read_text())
    names = [f"seed{seed}-depth-curriculum{suffix.replace('_', '-')}" for seed in range(3)]
    return {name: shipped["models"][name] for name in names}, {name: more["models"][name] for name in names}
