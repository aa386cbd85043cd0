"""``trm eval``: evaluate a model folder or Hub repo on a dataset split, write ``eval_results.json``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from hub_datasets.cli import positive_int
from model_cards.render import RESULTS_FILENAME, band_accuracy_text
from training.evaluation.evaluator import (
    check_dataset_matches_model,
    evaluate,
    load_eval_results,
    result_identity,
    save_eval_results,
)
from training.evaluation.plots import plot_accuracy_vs_steps


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trm eval",
        description="Evaluate a TRM/HRM (model folder or Hub repo) on a puzzle dataset split and write the "
        "results as JSON (the input of the model card's model-index).",
    )
    parser.add_argument("model", help="model folder or Hub repo id")
    parser.add_argument("--dataset", required=True, help="puzzle dataset folder or Hub dataset repo id")
    parser.add_argument("--split", default="test")
    parser.add_argument("--output", help=f"results JSON (default: MODEL/{RESULTS_FILENAME} for a model folder, "
                        f"else ./{RESULTS_FILENAME})")
    parser.add_argument("--halting", choices=["fixed", "adaptive"], default="fixed",
                        help="fixed: every puzzle runs max-steps steps (the paper's evaluation); adaptive: stop "
                        "each puzzle when its halting head says so")
    parser.add_argument("--halt-confidence", type=float, metavar="P",
                        help="adaptive halting stops a puzzle once sigmoid(halt logit) > P, in (0, 1); 0.5 = the "
                        "training rule (default: the model's solve_config)")
    parser.add_argument("--max-steps", type=positive_int, help="supervision steps (default: the model's training value)")
    parser.add_argument("--batch-size", type=positive_int, default=256)
    parser.add_argument("--limit", type=positive_int, help="evaluate only the first N rows of the split")
    parser.add_argument("--by-difficulty", action="store_true",
                        help="Sudoku: also the exact accuracy per difficulty band (guesses the package's solver "
                        "needs; 0 = singles only), shown in the model card")
    parser.add_argument("--plot", help="write the accuracy-vs-steps PNG here")
    parser.add_argument("--revision", help="model revision (Hub branch, tag or commit)")
    parser.add_argument("--dataset-revision", help="dataset revision (Hub branch, tag or commit)")
    parser.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from hub_datasets import load_dataset_metadata, load_puzzle_dataset
    from training.loading import load_model_for_solving

    dataset_metadata = load_dataset_metadata(args.dataset, revision=args.dataset_revision)
    if args.by_difficulty and dataset_metadata.task != "sudoku":
        print(f"trm eval: --by-difficulty rates Sudokus; {args.dataset} is a {dataset_metadata.task} dataset",
              file=sys.stderr)
        return 2
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = load_model_for_solving(args.model, args.revision).to(device)
    check_dataset_matches_model(args.model, model.config, dataset_metadata, args.revision)
    splits = load_puzzle_dataset(args.dataset, revision=args.dataset_revision)
    if args.split not in splits:
        print(f"trm eval: dataset {args.dataset} has no split {args.split!r} (it has {list(splits)})", file=sys.stderr)
        return 2

    results = evaluate(
        model,
        splits[args.split],
        dataset_metadata,
        batch_size=args.batch_size,
        halting=args.halting,
        max_steps=args.max_steps,
        halt_confidence=args.halt_confidence,
        limit=args.limit,
        by_difficulty=args.by_difficulty,
    )
    output = Path(args.output) if args.output else (
        Path(args.model) / RESULTS_FILENAME if Path(args.model).is_dir() else Path(RESULTS_FILENAME)
    )
    previous = load_eval_results(output) if output.is_file() else []
    # a local dataset folder still links to the Hub dataset it was pushed to, when its metadata says which
    hub_id = dataset_metadata.hub_id if Path(args.dataset).is_dir() else str(args.dataset)
    results = save_eval_results(results, output, keep_others=True, model=str(args.model), model_revision=args.revision,
                                model_type=model.config.model_type, dataset=str(args.dataset),
                                dataset_revision=args.dataset_revision, dataset_recipe=dataset_metadata.recipe,
                                dataset_hub_id=hub_id, split=args.split, limit=args.limit)
    if previous:
        same = sum(result_identity(entry) == result_identity(results) for entry in previous)
        print(f"note: {'replaced the result of the same dataset, split and settings' if same else 'added a result'}"
              f" in {output} ({len(previous) - same + 1} evaluation(s) in it"
              + ("; the model card is built from this file)" if output.name == RESULTS_FILENAME else ")"),
              file=sys.stderr)
    if args.plot:
        plot_accuracy_vs_steps(results, args.plot)
    summary = {k: v for k, v in results.items() if k != "accuracy_by_step" and isinstance(v, (int, float))}
    print(json.dumps(summary, indent=2))
    for band in results.get("exact_accuracy_by_difficulty", []):
        print(f"{band['band']}: exact {band_accuracy_text(band)}")
    print(f"results written to {output}")
    return 0
