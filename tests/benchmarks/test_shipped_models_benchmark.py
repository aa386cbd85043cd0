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


def test_the_readme_quotes_the_shipped_9x9_model_and_the_runs_it_came_from():
    """The shipped 9×9 model is seed 0 of benchmarks/results/sudoku9x9_52000steps (the preset stretched to 52000
    steps), scored there on the same CPU as the README's table; the README gives its scores on the recipe's 256
    puzzles, with retries, on 2304 (more_held_out_52000steps), and what both stretched seeds solve."""
    stretched = _results("sudoku9x9_52000steps")
    shipped_results = _results(shipped.RESULTS_DIR.name)
    shipped_9x9 = shipped_results["models"]["sudoku9x9"]
    assert shipped_results["machine"]["cpu_model"] == stretched["machine"]["cpu_model"]
    # the same weights on the same CPU: every score equal, to the last puzzle
    assert {**stretched["models"]["seed0-52000steps"], "model_dir": shipped_9x9["model_dir"]} == shipped_9x9
    more = _results("more_held_out_52000steps")["models"]
    readme = " ".join(shipped.DOC_BLOCK.path.read_text().split())
    assert (f"The 9×9 model solves **{100 * shipped_9x9['fixed']['solved']:.1f}% at its trained 8 steps, "
            f"{100 * shipped_9x9['fixed_4x']['solved']:.1f}% with 32 fixed steps, and "
            f"{100 * shipped_9x9['adaptive_4x']['solved']:.1f}% with adaptive halting and a 32-step budget at "
            f"{shipped_9x9['adaptive_4x']['mean_steps']:.1f} steps on average**") in readme
    retried = shipped_9x9["retries"]
    solved = "all 256" if retried["fixed"]["solved"] == 1 else f"{100 * retried['fixed']['solved']:.1f}%"
    assert (f"up to 8 tries) it solves {solved}, at {retried['fixed']['mean_steps']:.1f} steps on average, "
            f"{retried['adaptive']['mean_steps']:.1f} with adaptive halting") in readme
    entry = more["seed0-52000steps"]
    no_guesses, many_guesses = entry["bands"][0], entry["bands"][-1]
    assert (no_guesses["band"], many_guesses["band"]) == ("0 guesses", ">= 10 guesses")
    assert (f"On 2304 held-out puzzles it solves {100 * entry['exact_accuracy']:.1f}% "
            f"(± {100 * entry['standard_error']:.1f}) at 8 steps, {100 * no_guesses['exact_accuracy']:.1f}% of the "
            f"{no_guesses['num_puzzles']} that the package's solver fills without guessing and "
            f"{100 * many_guesses['exact_accuracy']:.1f}% of the {many_guesses['num_puzzles']} that need ten guesses "
            "or more") in readme
    on_256 = [100 * stretched["models"][f"seed{seed}-52000steps"]["fixed"]["solved"] for seed in (0, 1)]
    on_2304 = {f"{100 * more[f'seed{seed}-52000steps']['exact_accuracy']:.1f}" for seed in (0, 1)}
    assert len(on_2304) == 1  # the README says "each"
    assert (f"seeds 0 and 1 solve {on_256[0]:.1f} and {on_256[1]:.1f}% of the 256 and {on_2304.pop()}% of 2304 each "
            "— seed 0 is the shipped model") in readme


def test_the_docs_scores_on_two_cpus_are_the_committed_ones():
    """docs/recipes.md quotes what the same shipped models solve scored on an AMD EPYC and on another CPU (bf16 rounds
    in each CPU's own order), from benchmarks/results/shipped_models_epyc and shipped_models_other_cpu; the README's
    table, scored on the EPYC, gives the models that still ship the EPYC's scores."""
    epyc, other = _scored_on_the_epyc("shipped_models_epyc"), _scored_models("shipped_models_other_cpu")
    recipes = " ".join((harness.REPO_ROOT / "docs" / "recipes.md").read_text().split())

    def fixed(models: dict) -> str:
        return " / ".join(f"{100 * models[name]['fixed']['solved']:.1f}" for name in ("sudoku6x6", "sudoku9x9", "maze11x11"))

    assert (f"they solve {fixed(epyc)}% (6×6 / 9×9 / maze) at their trained 8 steps, against {fixed(other)}% on the "
            "CPU that scored the README's table") in recipes
    maze = epyc["maze11x11"]
    assert f"the maze model's {100 * maze['fixed']['solved']:.1f}% and {100 * maze['adaptive']['solved']:.1f}% adaptive" in recipes
    readme = _scored_on_the_epyc(shipped.RESULTS_DIR.name)
    for name in ("sudoku6x6", "maze11x11"):
        assert {**epyc[name], "model_dir": readme[name]["model_dir"]} == readme[name]


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
