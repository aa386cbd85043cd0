"""Exact accuracy of a trained Sudoku model by difficulty band of its held-out puzzles.

The difficulty of a puzzle is `hub_datasets.sudoku.SudokuSolver.rating`: the guesses a DPLL solver with
naked singles needs (the Sudoku-Extreme definition; 0 = solvable by singles alone, what a newspaper calls
easy), in the bands of `hub_datasets.sudoku.DIFFICULTY_BANDS`, as `trm eval --by-difficulty` and the model
card report them. The held-out split of the model's own recipe is rebuilt from its ``training_config.yaml``
(as `benchmarks/inference_steps.py` does), every puzzle is rated and solved with fixed halting at the
trained number of supervision steps (and at ``--max-steps`` if given), and the exact accuracy is reported
per band — which puzzles `trm solve` handles.

    python benchmarks/sudoku_difficulty.py --model sudoku9x9=DIR
    python benchmarks/sudoku_difficulty.py --model tiny=DIR --output /tmp/bands

Writes ``results.json`` and ``results.md`` to ``--output`` (default ``benchmarks/results/sudoku_difficulty``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import harness  # the repository root on sys.path; shared helpers (benchmarks/harness.py)
import numpy as np

RESULTS_DIR = harness.RESULTS_ROOT / "sudoku_difficulty"


def rate_puzzles(test, metadata) -> np.ndarray:
    """The solver rating of every puzzle of the split (decoded from its input tokens)."""
    from hub_datasets.builders import decode_tokens
    from hub_datasets.sudoku import rate_sudokus

    return rate_sudokus(np.stack([decode_tokens(row, metadata) for row in test["inputs"]]))


def measure(model, test, metadata, max_steps: list[int]) -> dict:
    """The package's evaluation by difficulty (`evaluate(..., by_difficulty=True)`) at each step count."""
    from training.evaluation import evaluate

    runs = {steps: evaluate(model, test, metadata, max_steps=steps, by_difficulty=True, progress=False)
            for steps in max_steps}
    bands = [{"band": band["band"], "num_puzzles": band["num_puzzles"],
              **{f"exact_accuracy@{steps}": runs[steps]["exact_accuracy_by_difficulty"][i]["exact_accuracy"]
                 for steps in max_steps}}
             for i, band in enumerate(runs[max_steps[0]]["exact_accuracy_by_difficulty"])]
    return {"num_puzzles": len(test), "max_steps": max_steps,
            "rating_histogram": np.bincount(rate_puzzles(test, metadata)).tolist(), "bands": bands,
            "overall": {f"exact_accuracy@{steps}": runs[steps]["exact_accuracy"] for steps in max_steps}}


def results_table(results: dict) -> str:
    lines = ["# Exact accuracy by difficulty", ""]
    for name, entry in results["models"].items():
        steps = entry["max_steps"]
        lines += [f"## {name}", "", f"`{entry['model_dir']}`: {entry['num_puzzles']} held-out puzzles of "
                  f"`{entry['recipe']}`; difficulty = guesses of the package's solver (0 = singles only).", "",
                  "| difficulty | puzzles | " + " | ".join(f"exact % ({s} steps)" for s in steps) + " |",
                  "|---|---:|" + "---:|" * len(steps)]
        for row in entry["bands"] + [{"band": "all", "num_puzzles": entry["num_puzzles"], **entry["overall"]}]:
            cells = ["–" if row[f"exact_accuracy@{s}"] is None else f"{100 * row[f'exact_accuracy@{s}']:.1f}"
                     for s in steps]
            lines.append(f"| {row['band']} | {row['num_puzzles']} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", default=[], metavar="NAME=DIR", required=True,
                        help="a Sudoku model folder written by `trm train`, repeatable")
    parser.add_argument("--max-steps", type=int, action="append", default=[],
                        help="also solve with this many supervision steps (repeatable; the trained number always)")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    results = {"models": {}}
    for name, model_dir, model in harness.trained_models(parser, args.model):
        test, metadata, _ = harness.load_test_split(model_dir)
        if metadata.task != "sudoku":
            parser.error(f"{model_dir}: a {metadata.task} model; difficulty bands are for Sudoku")
        steps = sorted({model.config.max_supervision_steps, *args.max_steps})
        entry = measure(model, test, metadata, steps)
        entry.update(model_dir=str(model_dir), recipe=metadata.recipe)
        results["models"][name] = entry
    harness.write_results_folder(args.output, results, results_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
