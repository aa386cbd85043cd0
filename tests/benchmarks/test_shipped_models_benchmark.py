"""benchmarks/shipped_models.py: the README's table of the shipped models is what the committed results render to,
and the benchmark scores a model by the rules of its puzzle."""

from __future__ import annotations

import json

import harness
import pytest
from benchmark_scripts import load_benchmark

shipped = load_benchmark("shipped_models")


def test_the_readme_block_is_the_committed_results():
    results = _results(shipped.RESULTS_DIR.name)
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


def _results(folder: str) -> dict:
    """A committed `shipped_models.py` results folder under benchmarks/results: its machine and models."""
    return json.loads((harness.RESULTS_ROOT / folder / "results.json").read_text())


def _scored_models(folder: str) -> dict:
    """The models of a committed `shipped_models.py` results folder."""
    return _results(folder)["models"]


def _scored_on_the_epyc(folder: str) -> dict:
    """`_scored_models`, for a folder the docs say was scored on the 2-core AMD EPYC: its results say so."""
    results = _results(folder)
    assert results["machine"]["cpu_model"].startswith("AMD EPYC")
    return results["models"]


def test_the_readme_quotes_the_shipped_9x9_model_and_the_seeds_of_its_preset():
    """The shipped 9×9 model is seed 0 of benchmarks/results/sudoku9x9_ema0.999 (the preset as it is); the README
    gives its scores, the range of the preset's three seeds, and that of the same three trainings with the weight
    average at 0.99 (sudoku9x9_lr1.5e-3)."""
    preset, shorter_average = _scored_models("sudoku9x9_ema0.999"), _scored_models("sudoku9x9_lr1.5e-3")
    shipped_9x9 = _scored_models(shipped.RESULTS_DIR.name)["sudoku9x9"]
    same_model = ("task", "num_puzzles", "trained_steps", "halt_confidence", "parameters", "forward_dtype")
    assert {k: preset["seed0-ema0.999"][k] for k in same_model} == {k: shipped_9x9[k] for k in same_model}
    readme = shipped.DOC_BLOCK.path.read_text()
    assert (f"The 9×9 model solves **{100 * shipped_9x9['fixed']['solved']:.1f}% at its trained 8 steps, "
            f"{100 * shipped_9x9['fixed_4x']['solved']:.1f}% with 32 fixed steps, and "
            f"{100 * shipped_9x9['adaptive_4x']['solved']:.1f}% with adaptive\nhalting and a 32-step budget at "
            f"{shipped_9x9['adaptive_4x']['mean_steps']:.1f} steps on average**") in readme

    def span(values) -> str:
        return f"{100 * min(values):.1f}–{100 * max(values):.1f}%"

    assert (f"whose three seeds\nsolve {span([m['fixed']['solved'] for m in preset.values()])} at 8 steps instead of "
            f"{span([m['fixed']['solved'] for m in shorter_average.values()])} with the average at 0.99, and "
            f"{span([m['bands'][0]['exact_accuracy'] for m in preset.values()])} of the 0-guess puzzles") in readme
    retried = [m["retries"]["fixed"] for m in preset.values()]
    steps = [retry["mean_steps"] for retry in retried]
    assert (f"the three seeds solve\n{span([retry['solved'] for retry in retried])}, and every 0-guess puzzle, "
            f"at {min(steps):.1f}–{max(steps):.1f} steps") in readme
    assert all(model["bands"][0]["exact_accuracy_retries"] == 1.0 for model in preset.values())


def test_the_docs_scores_on_another_cpu_are_the_committed_ones():
    """docs/recipes.md quotes what the shipped models solve when scored on an AMD EPYC (bf16 rounds in the CPU's
    own order), from benchmarks/results/shipped_models_epyc, beside the README's table."""
    epyc, readme = _scored_on_the_epyc("shipped_models_epyc"), _scored_models("shipped_models")
    recipes = " ".join((harness.REPO_ROOT / "docs" / "recipes.md").read_text().split())

    def fixed(models: dict) -> str:
        return " / ".join(f"{100 * models[name]['fixed']['solved']:.1f}" for name in ("sudoku6x6", "sudoku9x9", "maze11x11"))

    assert f"solve {fixed(epyc)}% (6×6 / 9×9 / maze) at their trained 8 steps, against {fixed(readme)}%" in recipes
    maze = epyc["maze11x11"]
    assert f"the run's {100 * maze['fixed']['solved']:.1f}% and {100 * maze['adaptive']['solved']:.1f}% again" in recipes


def test_the_recipes_quote_the_committed_maze_runs_on_the_epyc():
    """docs/recipes.md's maze section on the AMD EPYC: the preset's time there follows from the committed step rates
    (benchmarks/results/train_throughput_presets_epyc.json), and the run with a narrower token mixer scored what
    benchmarks/results/maze11x11_expansion2 holds."""
    from training.config import PRESETS

    recipes = " ".join((harness.REPO_ROOT / "docs" / "recipes.md").read_text().split())
    throughput = json.loads((harness.RESULTS_ROOT / "train_throughput_presets_epyc.json").read_text())
    rate = {result["mode"]: result["steps_per_second"] for result in throughput["results"]
            if result["model"] == "maze11x11" and result["forward_dtype"] == "bfloat16"}
    preset = PRESETS["maze11x11"]
    steps = preset.epochs * preset.dataset_options["num_train"] // preset.global_batch_size
    assert (f"it runs at {rate['eager']:.2f} eagerly and {rate['compiled']:.2f} compiled (`train_throughput_presets_epyc.json`): "
            f"the preset's {steps} steps take about {steps / rate['eager'] / 60:.0f} minutes there, "
            f"{steps / rate['compiled'] / 60:.0f} compiled") in recipes

    runs = _scored_on_the_epyc("maze11x11_expansion2")
    shallow_first, compiled = (runs[f"seed1-expansion2-{name}"] for name in ("depth-curriculum-0.4", "compiled"))
    assert (f"{100 * shallow_first['fixed']['solved']:.1f}% at the trained 8 steps, "
            f"**{100 * shallow_first['adaptive']['solved']:.1f}% with adaptive halting** at "
            f"{shallow_first['adaptive']['mean_steps']:.2f} steps (confidence {shallow_first['halt_confidence']:g}), "
            f"{100 * shallow_first['adaptive_4x']['solved']:.1f}% with a 32-step budget, "
            f"{100 * shallow_first['retries']['fixed']['solved']:.0f}% within 8 tries") in recipes
    assert (f"{100 * compiled['fixed']['solved']:.1f}% at 8 steps, {100 * compiled['adaptive']['solved']:.1f}% with "
            f"adaptive halting at {compiled['adaptive']['mean_steps']:.2f} steps (confidence {compiled['halt_confidence']:g}), "
            f"{100 * compiled['retries']['fixed']['solved']:.1f}% within 8 tries") in recipes


def test_the_recipes_quote_the_maze_runs_with_four_supervision_steps():
    """docs/recipes.md's tables of the maze runs with `model.max_supervision_steps=4` are what
    benchmarks/results/maze11x11_4steps and maze11x11_batch32 hold: the trained 4 steps, 2× and 4× as many,
    adaptive halting at the saved confidence, with a 16-step budget, and retries."""
    scored = _scored_on_the_epyc("maze11x11_4steps")
    batch32 = _scored_on_the_epyc("maze11x11_batch32")
    recipes = (harness.REPO_ROOT / "docs" / "recipes.md").read_text()
    rows = {"seed1-4steps": "seed 1, 6000 steps", "seed1-4steps-ema0.999": "seed 1, EMA 0.999, 5500 steps",
            "seed2-4steps-ema0.999": "seed 2, EMA 0.999, 5500 steps",
            "seed1-4steps-batch32": "seed 1, batch 32, 9000 steps", "seed2-4steps-batch32": "seed 2, batch 32, 9000 steps",
            "seed1-4steps-batch16": "seed 1, batch 16, 18000 steps",
            "seed0-4steps-batch32-11000": "seed 0, batch 32, 11000 steps"}
    batch32_rows = {"seed1-4steps-batch32-11000": "seed 1, batch 32, 11000 steps",
                    "seed2-4steps-batch32-11000": "seed 2, batch 32, 11000 steps"}
    assert set(scored) == set(rows) and set(batch32) == {*batch32_rows, "seed1-8steps-batch32-11000"}
    scored, rows = {**scored, **batch32}, {**rows, **batch32_rows}
    for name, row in rows.items():
        m = scored[name]
        assert m["task"] == "maze" and m["trained_steps"] == 4
        assert (f"| {row} | **{100 * m['fixed']['solved']:.1f}** | {100 * m['fixed_2x']['solved']:.1f} / "
                f"{100 * m['fixed_4x']['solved']:.1f} | **{100 * m['adaptive']['solved']:.1f}%** at "
                f"{m['adaptive']['mean_steps']:.2f} steps ({m['halt_confidence']:g}) | "
                f"{100 * m['adaptive_4x']['solved']:.1f}% | {100 * m['retries']['fixed']['solved']:.1f}% |") in recipes

    # the README and the section's title give the three seeds of batch 32 for 11000 steps
    adaptive = [100 * scored[name]["adaptive"]["solved"] for name in
                ("seed0-4steps-batch32-11000", "seed1-4steps-batch32-11000", "seed2-4steps-batch32-11000")]
    span = f"{min(adaptive):.1f}–{max(adaptive):.1f}%"
    assert f"### Smaller batches: about 30 minutes on the EPYC, {span} over three seeds" in recipes
    readme = (harness.REPO_ROOT / "README.md").read_text()
    assert f"4 supervision steps at batch 32, {span} adaptive over three seeds" in readme


def test_the_recipes_quote_the_maze_run_with_eight_supervision_steps_at_batch_32():
    """docs/recipes.md's sentence on the preset's 8 supervision steps at batch 32 is what
    benchmarks/results/maze11x11_batch32 holds for that run."""
    m = _scored_on_the_epyc("maze11x11_batch32")["seed1-8steps-batch32-11000"]
    recipes = " ".join((harness.REPO_ROOT / "docs" / "recipes.md").read_text().split())
    assert m["task"] == "maze" and m["trained_steps"] == 8
    assert (f"{100 * m['fixed']['solved']:.1f}% at 8 steps, {100 * m['fixed_2x']['solved']:.1f}% at 16 and "
            f"{100 * m['fixed_4x']['solved']:.1f}% at 32, **{100 * m['adaptive']['solved']:.1f}% adaptive** at "
            f"{m['adaptive']['mean_steps']:.2f} steps (confidence {m['halt_confidence']:g}), "
            f"{100 * m['retries']['fixed']['solved']:.1f}% within 8 tries") in recipes
