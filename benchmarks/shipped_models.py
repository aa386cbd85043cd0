"""What the models that ship with the package solve: held-out accuracy, fixed against adaptive halting, and
(Sudoku) exact accuracy by solver-rated difficulty.

For every model folder in ``training/pretrained/`` (or each ``--model NAME=DIR``) the held-out split of its
own recipe is rebuilt from its ``training_config.yaml`` (generated recipes are reproducible from their seed;
nothing is downloaded) and solved three ways: fixed halting at the trained number of supervision steps (the
paper's evaluation), fixed at twice that (test-time compute), and adaptive halting at the confidence that
``trm train`` chose on its calibration puzzles (``solve_config.json``). Test-time compute: fixed halting at four
times the trained steps, and adaptive halting at the same saved confidence with a budget of four times the
trained steps (nothing is chosen on the test puzzles). Retries under symmetries (`training.retries`, `trm solve
--tries 8`): a puzzle whose answer breaks the rules is solved again as a symmetric variant, up to 8 tries, with
fixed and with adaptive halting. Sudoku models are also scored per difficulty band (`trm eval
--by-difficulty`: the guesses the package's solver needs; 0 = singles only), at the trained steps, at four
times as many, and with retries.

    python benchmarks/shipped_models.py            # writes results.json/.md and the README's shipped-models block
    python benchmarks/shipped_models.py --model mine=trm-sudoku9x9 --output /tmp/out
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import harness  # the repository root on sys.path; shared helpers (benchmarks/harness.py)

RESULTS_DIR = harness.RESULTS_ROOT / "shipped_models"
DOC_BLOCK = harness.GeneratedBlock(harness.REPO_ROOT / "README.md", "shipped-models", "benchmarks/shipped_models.py")


# An answer the puzzle's rules accept: a valid Sudoku solution (the generated puzzles have one), a shortest
# start-to-goal maze path. A maze often has many shortest paths (median 12 in 11x11 `maze-gen-small`), and
# its label is only one of them, so equality with the label understates what a maze model solves.
SOLVED_BY_THE_RULES = {"sudoku": "sudoku_valid_rate", "maze": "maze_shortest_path_rate"}
MAX_TRIES = 8  # retries under symmetries: `trm solve --tries 8`


def measure(model, test, metadata) -> dict:
    from training.evaluation import evaluate

    trained = model.config.max_supervision_steps
    runs = {"fixed": dict(halting="fixed", max_steps=trained),
            "fixed_2x": dict(halting="fixed", max_steps=2 * trained),
            "fixed_4x": dict(halting="fixed", max_steps=4 * trained),
            "adaptive": dict(halting="adaptive", max_steps=trained),
            "adaptive_4x": dict(halting="adaptive", max_steps=4 * trained)}
    entry = {"task": metadata.task, "num_puzzles": len(test), "trained_steps": trained,
             "halt_confidence": model.solve_config.halt_confidence,
             "parameters": model.num_parameters(), "forward_dtype": model.config.forward_dtype}
    by_difficulty = {}
    for name, options in runs.items():
        bands = metadata.task == "sudoku" and name in ("fixed", "fixed_4x")
        scores = evaluate(model, test, metadata, progress=False, by_difficulty=bands, **options)
        entry[name] = {key: scores[key] for key in ("exact_accuracy", "cell_accuracy", "mean_steps")}
        entry[name]["solved"] = scores[SOLVED_BY_THE_RULES[metadata.task]]
        if bands:
            by_difficulty[name] = scores["exact_accuracy_by_difficulty"]
    retried = {halting: measure_retries(model, test, metadata, halting=halting) for halting in ("fixed", "adaptive")}
    entry["retries"] = {halting: {k: v for k, v in scores.items() if k != "bands"} for halting, scores in retried.items()}
    if by_difficulty:
        entry["bands"] = [{"band": band["band"], "num_puzzles": band["num_puzzles"],
                           "exact_accuracy": band["exact_accuracy"], "exact_accuracy_4x": band_4x["exact_accuracy"],
                           "exact_accuracy_retries": band_retries["exact_accuracy"]}
                          for band, band_4x, band_retries in zip(by_difficulty["fixed"], by_difficulty["fixed_4x"],
                                                                 retried["fixed"]["bands"])]
    return entry


def measure_retries(model, test, metadata, halting: str) -> dict:
    """`training.retries.solve_with_retries` (up to `MAX_TRIES` tries, ``halting`` at the trained steps and the
    saved confidence) scored as `evaluate` scores: solved by the rules, equal to the label, and (Sudoku) the
    exact accuracy per difficulty band."""
    import numpy as np
    import torch

    from hub_datasets.sudoku import DIFFICULTY_BANDS, difficulty_band, difficulty_band_indices
    from modeling_trm import PuzzleProcessor
    from training import metrics
    from training.retries import solve_with_retries

    processor = PuzzleProcessor(metadata.task, grid_size=metadata.grid_shape[0])
    inputs, labels = (np.asarray(test.with_format("numpy")[column], np.int64) for column in ("inputs", "labels"))
    result = solve_with_retries(model, processor, torch.from_numpy(inputs), max_tries=MAX_TRIES, halting=halting)
    predictions = result.predictions.numpy()
    exact = metrics.puzzle_correctness(predictions, labels)[0]
    if metadata.task == "sudoku":
        solved = metrics.sudoku_validity_from_tokens(predictions, inputs)
    else:
        solved = metrics.maze_path_validity(predictions, inputs, tuple(metadata.grid_shape))["shortest_path"]
    scores = {"max_tries": MAX_TRIES, "halting": halting, "solved": float(solved.mean()),
              "exact_accuracy": float(exact.mean()), "mean_tries": float(result.tries.float().mean()),
              "mean_steps": float(result.steps.float().mean())}
    if metadata.task == "sudoku":
        bands = difficulty_band_indices(np.stack(processor.batch_decode(inputs)))
        scores["bands"] = [{"band": difficulty_band(low), "num_puzzles": int((bands == i).sum()),
                            "exact_accuracy": float(exact[bands == i].mean()) if (bands == i).any() else None}
                           for i, (low, _) in enumerate(DIFFICULTY_BANDS)]
    return scores


def results_table(results: dict) -> str:
    lines = ["# What the shipped models solve", "",
             "| model | held-out puzzles | solved % (fixed, trained steps) | equal to the label % | cell % "
             "| solved % (fixed, 2× / 4× steps) | solved % (adaptive) | mean steps (adaptive) "
             "| solved % (adaptive, 4× budget) | mean steps (adaptive, 4× budget) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, e in results["models"].items():
        lines.append(f"| `{name}` ({e['parameters']:,} parameters) | {e['num_puzzles']} | "
                     f"{harness.percent(e['fixed']['solved'])} ({e['trained_steps']} steps) | "
                     f"{harness.percent(e['fixed']['exact_accuracy'])} | {harness.percent(e['fixed']['cell_accuracy'])} | "
                     f"{harness.percent(e['fixed_2x']['solved'])} / {harness.percent(e['fixed_4x']['solved'])} | "
                     f"{harness.percent(e['adaptive']['solved'])} (confidence {e['halt_confidence']}) | "
                     f"{e['adaptive']['mean_steps']:.2f} | {harness.percent(e['adaptive_4x']['solved'])} | "
                     f"{e['adaptive_4x']['mean_steps']:.2f} |")
    lines += ["", "Solved = the rules accept the answer: a valid Sudoku solution, a shortest start-to-goal maze "
              "path.", "",
              f"With retries under symmetries (`trm solve --tries {MAX_TRIES}`: a puzzle whose answer breaks the rules "
              f"is solved again as a symmetric variant, up to {MAX_TRIES} tries; steps = supervision steps over all "
              "tries):", "",
              "| model | solved % (fixed halting) | equal to the label % | mean tries | mean steps "
              "| solved % (adaptive halting) | mean tries | mean steps |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, e in results["models"].items():
        fixed, adaptive = e["retries"]["fixed"], e["retries"]["adaptive"]
        lines.append(f"| `{name}` | {harness.percent(fixed['solved'])} | {harness.percent(fixed['exact_accuracy'])} | "
                     f"{fixed['mean_tries']:.2f} | {fixed['mean_steps']:.2f} | {harness.percent(adaptive['solved'])} | "
                     f"{adaptive['mean_tries']:.2f} | {adaptive['mean_steps']:.2f} |")
    for name, e in results["models"].items():
        if "bands" in e:
            lines += ["", f"`{name}` by difficulty (guesses of the package's solver; 0 = singles only), fixed "
                      f"halting:", "",
                      "| difficulty | " + " | ".join(row["band"] for row in e["bands"]) + " |",
                      "|---|" + "---:|" * len(e["bands"]),
                      "| puzzles | " + " | ".join(str(row["num_puzzles"]) for row in e["bands"]) + " |",
                      f"| exact % ({e['trained_steps']} steps) | "
                      + " | ".join(harness.percent(row["exact_accuracy"]) for row in e["bands"]) + " |",
                      f"| exact % ({4 * e['trained_steps']} steps) | "
                      + " | ".join(harness.percent(row["exact_accuracy_4x"]) for row in e["bands"]) + " |",
                      f"| exact % ({e['trained_steps']} steps, ≤ {MAX_TRIES} tries) | "
                      + " | ".join(harness.percent(row["exact_accuracy_retries"]) for row in e["bands"]) + " |"]
    return "\n".join(lines) + "\n"


def doc_section(table: str) -> str:
    """The README's block for a ``results.md``."""
    return DOC_BLOCK.section(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", default=[], metavar="NAME=DIR",
                        help="a model folder written by `trm train` (default: every shipped model)")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    import torch

    from training.pretrained import shipped_models

    torch.set_num_threads(args.threads)
    items = args.model or [f"{name}={path}" for name, path in shipped_models().items()]
    # bf16 results depend a little on the CPU (docs/recipes.md#bfloat16-on-the-cpu): say which one scored them
    results = {"machine": harness.machine("cpu_model", "bf16", "threads", "torch"), "models": {}}
    for name, model_dir, model in harness.trained_models(parser, items):
        test, metadata, _ = harness.load_test_split(model_dir)
        where = Path(model_dir).resolve()
        results["models"][name] = {"model_dir": str(where.relative_to(harness.REPO_ROOT))
                                   if where.is_relative_to(harness.REPO_ROOT) else str(model_dir),
                                   **measure(model, test, metadata)}
    table = results_table(results)
    harness.write_results_folder(args.output, results, table)
    if args.output.resolve() == RESULTS_DIR.resolve():
        DOC_BLOCK.write(doc_section(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
