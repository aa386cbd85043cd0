"""Exact accuracy of trained models on more held-out puzzles than their recipe's test split.

A generated recipe draws its puzzles one after the other from its seed, train first, then test, so the same
recipe rebuilt with ``--num-test N`` has the same training puzzles, the recipe's own test split as its first
test puzzles, and fresh ones drawn after them: puzzles of the same distribution that no run of the recipe trained
on. Each model is solved with fixed halting at its trained number of supervision steps (the paper's evaluation),
Sudoku also by difficulty band (the guesses of the package's solver), and with adaptive halting at the confidence
its run saved (`solve_config.json`), within the same number of steps. On 256 puzzles one accuracy near 90% has
a standard error of about 1.9 points; on 2304 of 0.6, which tells apart models that 256 puzzles cannot.

    python benchmarks/more_held_out.py --model seed0=DIR0 --model seed1=DIR1 --num-test 2304 --output OUT
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import harness  # the repository root on sys.path; shared helpers (benchmarks/harness.py)


def rebuilt_test_split(config, num_test: int, recipe_test):
    """The test split of ``config``'s generated recipe rebuilt with ``num_test`` puzzles (no augmentation: only
    the test split is used), and its metadata; its first puzzles must be the recipe's own test split
    ``recipe_test``, else the others are not known to be held out."""
    import numpy as np

    import hub_datasets

    options = {**config.dataset_options, "num_test": num_test, "num_aug": 0}
    dataset, metadata = hub_datasets.build_dataset(config.dataset_recipe, seed=config.dataset_seed, **options)
    known = min(len(recipe_test), num_test)
    if not np.array_equal(np.asarray(dataset["test"][:known]["inputs"]), np.asarray(recipe_test[:known]["inputs"])):
        raise SystemExit("the rebuilt recipe's first test puzzles are not the recipe's test split: "
                         "its generator is not sequential, so the extra puzzles are not known to be held out")
    return dataset["test"], metadata


def shared_rebuilt_split(parser, model_dir, config, recipe_test, num_test: int, rebuilt: dict):
    """`rebuilt_test_split` for the model in ``model_dir`` (its ``config`` and ``recipe_test``), built once per
    recipe through the cache ``rebuilt``: the models of one recipe share their puzzles. A model trained on anything
    but a generated recipe is a parser error."""
    from training.data import GENERATED_RECIPES

    if config.dataset is not None or config.dataset_recipe not in GENERATED_RECIPES:
        parser.error(f"{model_dir}: trained on {config.dataset or config.dataset_recipe}, not a generated recipe")
    key = json.dumps([config.dataset_recipe, config.dataset_seed, config.dataset_options], sort_keys=True)
    if key not in rebuilt:
        rebuilt[key] = rebuilt_test_split(config, num_test, recipe_test)
    return rebuilt[key]


def measure(model, test, recipe_test, metadata) -> dict:
    """Exact accuracy on all of ``test``, on its first ``len(recipe_test)`` puzzles (the recipe's own test split)
    and on the rest."""
    from training.evaluation import evaluate

    known = len(recipe_test)
    steps = model.config.max_supervision_steps
    sudoku = metadata.task == "sudoku"
    everything = evaluate(model, test, metadata, progress=False, by_difficulty=sudoku, halting="fixed", max_steps=steps)
    own = evaluate(model, recipe_test, metadata, progress=False, halting="fixed", max_steps=steps)
    adaptive = evaluate(model, test, metadata, progress=False, halting="adaptive", max_steps=steps)
    total, first = everything["exact_accuracy"], own["exact_accuracy"]
    entry = {"task": metadata.task, "trained_steps": steps, "num_puzzles": len(test), "exact_accuracy": total,
             "standard_error": math.sqrt(total * (1 - total) / len(test)),
             "recipe_test": {"num_puzzles": known, "exact_accuracy": first},
             "fresh": {"num_puzzles": len(test) - known,
                       "exact_accuracy": (total * len(test) - first * known) / (len(test) - known)},
             "adaptive": {"halt_confidence": model.solve_config.halt_confidence,
                          "exact_accuracy": adaptive["exact_accuracy"], "mean_steps": adaptive["mean_steps"]}}
    if sudoku:
        entry["bands"] = everything["exact_accuracy_by_difficulty"]
    return entry


def results_table(results: dict) -> str:
    lines = ["# Exact accuracy on more held-out puzzles", "",
             "Fixed halting at the trained supervision steps; the recipe's own test split is the first of the "
             "puzzles, the rest are drawn after it from the same seed (never trained on).", "",
             "| model | puzzles | exact % (± standard error) | the recipe's test split | the fresh puzzles | adaptive "
             "halting: exact % at mean steps (saved confidence) | by difficulty: exact % (puzzles) |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for name, e in results["models"].items():
        bands = "; ".join(f"{b['band']}: {harness.percent(b['exact_accuracy'])} ({b['num_puzzles']})" for b in e.get("bands", []))
        lines.append(f"| `{name}` | {e['num_puzzles']} | {harness.percent(e['exact_accuracy'])} ± {harness.percent(e['standard_error'])} | "
                     f"{harness.percent(e['recipe_test']['exact_accuracy'])} ({e['recipe_test']['num_puzzles']}) | "
                     f"{harness.percent(e['fresh']['exact_accuracy'])} ({e['fresh']['num_puzzles']}) | "
                     f"{harness.percent(e['adaptive']['exact_accuracy'])} at {e['adaptive']['mean_steps']:.2f} "
                     f"({e['adaptive']['halt_confidence']}) | {bands or '–'} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", default=[], metavar="NAME=DIR", required=True,
                        help="a model folder written by `trm train` on a generated recipe")
    parser.add_argument("--num-test", type=int, default=2304, help="test puzzles in all (default: 9 x 256)")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    results, rebuilt = {"num_test": args.num_test, "models": {}}, {}
    for name, model_dir, model in harness.trained_models(parser, args.model):
        recipe_test, _, config = harness.load_test_split(model_dir)
        if args.num_test <= len(recipe_test):
            parser.error(f"--num-test {args.num_test}: the recipe's own test split already has {len(recipe_test)}")
        test, metadata = shared_rebuilt_split(parser, model_dir, config, recipe_test, args.num_test, rebuilt)
        results["models"][name] = {"model_dir": str(model_dir), **measure(model, test, recipe_test, metadata)}
    harness.write_results_folder(args.output, results, results_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
