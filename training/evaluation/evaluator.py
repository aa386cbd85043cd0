"""Evaluate a TRM/HRM on a puzzle dataset split (`evaluate`) and write the results file (`save_eval_results`).

`evaluate` runs `model.solve` over the split in batches and scores the answers with `training.metrics`:
exact / cell accuracy, halting accuracy and mean steps (the official eval metrics,
docs/numerics.md#loss-head and #evaluation-rollout), the validity of wrong answers (sudoku rules, maze
paths), ARC pass@K with the official voting (docs/numerics.md#arc-voting), and the accuracy after every
supervision step (how much each step of recursion buys, including steps beyond the number used in
training: test-time compute). ``trm eval`` and ``trm train`` both score through it, so a model's card
shows the same numbers whichever wrote them.
"""

from __future__ import annotations

import datetime
import json
import math
from importlib import metadata as importlib_metadata
from pathlib import Path

import numpy as np
import torch

from hub_datasets.progress import progress_bar
from hub_datasets.sudoku import DIFFICULTY_BANDS, difficulty_band, difficulty_band_indices
from modeling_trm.folders import write_text_atomically
from modeling_trm.processing_trm import DEFAULT_GRID_SIZE, PuzzleProcessor
from training import metrics
from training.metrics import ARCVoting, arc_variant_name


def evaluate(
    model,
    dataset,
    metadata=None,
    *,
    task: str | None = None,
    batch_size: int = 256,
    halting: str = "fixed",
    max_steps: int | None = None,
    halt_confidence: float | None = None,
    limit: int | None = None,
    arc_voting: ARCVoting | None = None,
    by_difficulty: bool = False,
    progress: bool = True,
) -> dict:
    """Solve every row of `dataset` (one split of a puzzle `DatasetDict`) and score the answers.

    Args:
        model: a `TRMForPuzzleSolving` / `HRMForPuzzleSolving` (anything with the `solve` contract).
        dataset: a `datasets.Dataset` with the puzzle columns (`inputs`, `labels`, `puzzle_id`, and for ARC
            `puzzle_name`, `augmentation`).
        metadata: the dataset's `PuzzleDatasetMetadata`; gives the task and the grid shape.
        task: `"sudoku"`, `"maze"` or `"arc"` when there is no metadata (else only generic metrics).
        halting, max_steps, halt_confidence: passed to `solve` (`"fixed"` with `max_steps=None` is the paper's
            evaluation; `halt_confidence=None` keeps the model's `solve_config`).
        limit: evaluate only the first `limit` rows.
        arc_voting: an `ARCVoting` to keep across calls (aggregated voting over a training run); a fresh
            one per call by default. Its `begin_round()` is called here.
        by_difficulty: Sudoku only: also the exact accuracy per difficulty band (`hub_datasets.sudoku.
            DIFFICULTY_BANDS` of the package solver's rating, computed here: about 0.7 ms a hard 9x9 puzzle).

    Returns:
        A JSON-able dict: `exact_accuracy`, `cell_accuracy`, `halting_accuracy`, `mean_steps`,
        `num_puzzles`, task validity rates (`sudoku_valid_rate`; `maze_valid_path_rate`,
        `maze_shortest_path_rate`), ARC `pass@K` and `num_tasks`, `accuracy_by_step`
        (`{"steps", "exact_accuracy", "cell_accuracy"}`), with `by_difficulty` `exact_accuracy_by_difficulty`
        (a list of `{"band", "num_puzzles", "exact_accuracy"}`, None for an empty band), and the settings used.
    """
    if metadata is not None:
        if task is not None and task != metadata.task:
            raise ValueError(f"task={task!r} but the dataset metadata says {metadata.task!r}")
        task = metadata.task
    if by_difficulty and task != "sudoku":
        raise ValueError(f"difficulty bands are the Sudoku solver's rating; this is a {task or 'unknown'} dataset")
    if limit is not None:
        dataset = dataset.select(range(min(limit, len(dataset))))
    if len(dataset) == 0:
        raise ValueError("the dataset split is empty: nothing to evaluate")
    trained_steps = model.config.max_supervision_steps
    solve_config = model.solve_config.resolve(model.config, halting=halting, max_steps=max_steps,
                                              halt_confidence=halt_confidence, return_intermediate=True)
    max_steps = solve_config.max_steps
    grid_shape = tuple(metadata.grid_shape) if metadata is not None and metadata.grid_shape else None
    # The official voting crops answers from ARC's 30x30 canvas; ARC-like sets on a smaller one (the fine-tuning
    # benchmark's 4x4 recolourings) get the generic metrics only.
    vote = task == "arc" and len(dataset[0]["inputs"]) == DEFAULT_GRID_SIZE["arc"] ** 2
    if vote:
        arc_voting = arc_voting if arc_voting is not None else ARCVoting()
        arc_voting.begin_round()

    columns = ["inputs", "labels", "puzzle_id"] + (["puzzle_name", "augmentation"] if vote else [])
    sums: dict[str, float] = {}  # `metrics.score_sums` of every batch, added up
    validity: dict[str, list[np.ndarray]] = {}  # rule check -> per-batch arrays over supervised puzzles
    exact_by_step, cell_by_step = np.zeros(max_steps), np.zeros(max_steps)  # sums over supervised puzzles
    band_names = [difficulty_band(low) for low, _ in DIFFICULTY_BANDS]
    if by_difficulty:  # the questions as digit grids, for the solver's rating
        sudoku_processor = PuzzleProcessor("sudoku", math.isqrt(len(dataset[0]["inputs"])))
    band_counts, band_exact = np.zeros(len(band_names), np.int64), np.zeros(len(band_names), np.int64)
    with progress_bar(total=len(dataset), unit="puzzle", desc="evaluate", disable=not progress) as bar:
        for batch in dataset.select_columns(columns).with_format("numpy").iter(batch_size=batch_size):
            labels = batch["labels"].astype(np.int64)
            output = model.solve(torch.from_numpy(batch["inputs"].astype(np.int64)),
                                 torch.from_numpy(batch["puzzle_id"].astype(np.int64)), solve_config=solve_config)
            predictions, steps = output.predictions.cpu().numpy(), output.steps.cpu().numpy()
            # The halting logit of the step whose answer is scored (the last one each puzzle ran).
            halt_logits = output.halt_logits.float().cpu().numpy()[steps - 1, np.arange(len(steps))]
            metrics.add_sums(sums, metrics.score_sums(predictions, labels, halt_logits, steps))
            exact, _, supervised = metrics.puzzle_correctness(predictions, labels)
            for name, values in _validity(task, predictions, batch["inputs"], grid_shape).items():
                validity.setdefault(name, []).append(values[supervised])

            intermediate = output.intermediate_predictions.cpu().numpy()
            for step in range(max_steps):  # a batch that stopped early keeps its final answers afterwards
                step_exact, step_cell, _ = metrics.puzzle_correctness(
                    intermediate[step] if step < len(intermediate) else predictions, labels
                )
                exact_by_step[step] += step_exact[supervised].sum()
                cell_by_step[step] += step_cell[supervised].sum()

            if by_difficulty:
                questions = np.stack(sudoku_processor.batch_decode(batch["inputs"].astype(np.int64)))
                bands = difficulty_band_indices(questions)
                band_counts += np.bincount(bands[supervised], minlength=len(band_names))
                band_exact += np.bincount(bands[supervised & exact], minlength=len(band_names))
            if vote:
                names = [arc_variant_name(n, a) for n, a in zip(batch["puzzle_name"], batch["augmentation"])]
                arc_voting.update(batch["inputs"], predictions, halt_logits, names, labels=labels)
            bar.update(len(predictions))

    # Rows without any supervised label (padding) are left out of every mean, as in the official head.
    count = int(sums["count"])
    if count == 0:
        raise ValueError("no row of the dataset split has a supervised label (all -100): nothing to score")
    results = {"task": task, **metrics.summarize(sums)}
    for name in sorted(validity):  # validity rates
        results[name] = metrics.mean_over_puzzles(np.concatenate(validity[name]))
    if vote:
        results.update(arc_voting.result(), num_tasks=len(arc_voting.test_pairs))
    if by_difficulty:
        results["exact_accuracy_by_difficulty"] = [
            {"band": name, "num_puzzles": int(n), "exact_accuracy": float(k / n) if n else None}
            for name, n, k in zip(band_names, band_counts, band_exact)
        ]
    results["accuracy_by_step"] = {
        "steps": list(range(1, max_steps + 1)),
        "exact_accuracy": (exact_by_step / count).tolist(),
        "cell_accuracy": (cell_by_step / count).tolist(),
    }
    results.update(halting=halting, max_steps=max_steps, trained_steps=trained_steps)
    if halting == "adaptive":
        results["halt_confidence"] = solve_config.halt_confidence
    return results


HALT_CONFIDENCE_CANDIDATES = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999)


@torch.no_grad()
def calibrate_halt_confidence(model, dataset, *, max_steps: int | None = None,
                              candidates=HALT_CONFIDENCE_CANDIDATES, batch_size: int = 256) -> dict:
    """The halting confidence at which adaptive halting is most exact, and at least as exact as fixed halting,
    on `dataset` (`choose_halt_confidence`).

    Use puzzles outside the test split (a validation split, or freshly generated ones): choosing the
    confidence on the test puzzles would overstate what it gives. One fixed-halting rollout of `max_steps`
    (default: the model's `solve_config`, else the trained number) records every step's answer and, per
    candidate ``c``, the model's halting rule at that confidence (`wants_to_halt`); adaptive halting at ``c``
    stops a puzzle at the first step where the rule fires, so every candidate is scored from that one rollout. The target is the fixed-halting exact accuracy after `max_steps` steps.

    Returns:
        ``{"halt_confidence": the chosen candidate (None if none reaches the target),
        "target_exact_accuracy", "max_steps", "num_puzzles", "candidates": [{"halt_confidence",
        "exact_accuracy", "mean_steps"}, ...]}``.
    """
    candidates = sorted(candidates)
    for confidence in candidates:
        if not 0.0 < confidence < 1.0:
            raise ValueError(f"halting confidences must be in (0, 1), got {confidence!r}")
    max_steps = model.solve_config.resolve(model.config, max_steps=max_steps).max_steps
    exact_per_step, halts = [], []  # per batch: [steps, B] bools over supervised rows, [candidates, steps, B] bools
    for batch in dataset.select_columns(["inputs", "labels", "puzzle_id"]).with_format("numpy").iter(batch_size):
        step_halts = []

        def record(step, solve_step):  # every puzzle runs every step under fixed halting
            step_halts.append([model.wants_to_halt(solve_step.halt_logits, solve_step.continue_logits, confidence)
                               .cpu().numpy() for confidence in candidates])

        labels = batch["labels"].astype(np.int64)
        output = model.solve(torch.from_numpy(batch["inputs"].astype(np.int64)),
                             torch.from_numpy(batch["puzzle_id"].astype(np.int64)),
                             halting="fixed", max_steps=max_steps, return_intermediate=True, callback=record)
        supervised = metrics.puzzle_correctness(output.predictions.cpu().numpy(), labels)[2]
        exact = np.stack([metrics.puzzle_correctness(step, labels)[0]
                          for step in output.intermediate_predictions.cpu().numpy()])
        exact_per_step.append(exact[:, supervised])
        halts.append(np.stack(step_halts, axis=1)[:, :, supervised])
    exact, halt = np.concatenate(exact_per_step, axis=1), np.concatenate(halts, axis=2)  # [steps, N], [C, steps, N]
    if exact.shape[1] == 0:
        raise ValueError("no row of the calibration split has a supervised label: nothing to calibrate on")
    puzzles = np.arange(exact.shape[1])
    target = float(exact[-1].mean())
    scored = []
    for confidence, fires in zip(candidates, halt):
        stop = np.where(fires.any(axis=0), fires.argmax(axis=0), max_steps - 1)  # 0-based step index
        scored.append({"halt_confidence": float(confidence), "exact_accuracy": float(exact[stop, puzzles].mean()),
                       "mean_steps": float(stop.mean() + 1)})
    return {"halt_confidence": choose_halt_confidence(scored, target), "target_exact_accuracy": target,
            "max_steps": max_steps, "num_puzzles": int(exact.shape[1]), "candidates": scored}


def choose_halt_confidence(scored: list[dict], target: float) -> float | None:
    """Of the candidates (ascending confidence) at least as exact as ``target``, the most exact; among equally
    exact ones the lowest confidence, which stops soonest. None if no candidate reaches ``target``.

    Not simply the lowest candidate reaching ``target``: on a few hundred puzzles that one often reaches it by
    luck. The 11x11 maze model was 94.5% exact at confidence 0.5 on its calibration puzzles (fixed halting:
    92.6%) but 87.1% on test, where the most exact calibration candidate, 0.9 (98.4%), gave 96.5%."""
    reaching = [entry for entry in scored if entry["exact_accuracy"] >= target - 1e-12]
    best = max(reaching, key=lambda entry: entry["exact_accuracy"], default=None)  # max keeps the first of ties
    return best["halt_confidence"] if best else None


def _validity(task, predictions, inputs, grid_shape) -> dict[str, np.ndarray]:
    """Rule checks on the answers (also the wrong ones): is it a legal sudoku / a real maze path?"""
    if task == "sudoku":
        return {"sudoku_valid_rate": metrics.sudoku_validity_from_tokens(predictions, inputs)}
    if task == "maze":
        size = math.isqrt(predictions.shape[1])
        checks = metrics.maze_path_validity(predictions, inputs, grid_shape or (size, size))
        return {"maze_valid_path_rate": checks["valid_path"], "maze_shortest_path_rate": checks["shortest_path"]}
    return {}


# Where the scores come from: every `eval_results.json` has these keys after the scores (None when unknown;
# `step` and `weights` only for a file written by `trm train`), then `date` and `trm_hf_version`.
PROVENANCE_KEYS = ("model", "model_revision", "model_type", "dataset", "dataset_revision", "dataset_recipe",
                   "dataset_hub_id", "split", "limit", "step", "weights")


# What makes two evaluations "the same one": a new result replaces an earlier one only when all of these agree.
RESULT_IDENTITY_KEYS = ("dataset", "dataset_revision", "split", "halting", "max_steps", "halt_confidence", "limit")


def result_identity(result: dict) -> tuple:
    """The dataset, split and solve settings of one evaluation result (see `RESULT_IDENTITY_KEYS`)."""
    return tuple(result.get(key) for key in RESULT_IDENTITY_KEYS)


def load_eval_results(path: str | Path) -> list[dict]:
    """The evaluations in a results file: one dict (a single evaluation) or a list of them."""
    data = json.loads(Path(path).read_text())
    entries = data if isinstance(data, list) else [data]
    if not all(isinstance(entry, dict) for entry in entries):
        raise ValueError(f"{path}: expected an evaluation result (a JSON object) or a list of them")
    return entries


def save_eval_results(scores: dict, path: str | Path, *, keep_others: bool = False, **provenance) -> dict:
    """Write ``eval_results.json``, the model card's input, atomically: the `evaluate` results and where they
    come from (`PROVENANCE_KEYS`), one flat layout for `trm eval` and `trm train`. Returns the new result.

    With ``keep_others`` the results already in the file are kept, except one of the same dataset, split and
    settings (`result_identity`), which the new one replaces: a card can show several evaluations (another
    split, adaptive halting, more steps). The file holds one object for one evaluation, else a list.
    """
    unknown = sorted(set(provenance) - set(PROVENANCE_KEYS))
    if unknown:
        raise TypeError(f"save_eval_results: unknown provenance {unknown}; known: {list(PROVENANCE_KEYS)}")
    results = {**scores, **{key: provenance.get(key) for key in PROVENANCE_KEYS},
               "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "trm_hf_version": _package_version()}
    path = Path(path)
    entries = [results]
    if keep_others and path.is_file():
        identity = result_identity(results)
        entries = [entry for entry in load_eval_results(path) if result_identity(entry) != identity] + entries
    write_text_atomically(path, json.dumps(entries[0] if len(entries) == 1 else entries, indent=2) + "\n")
    return results


def check_dataset_matches_model(model_path: str, config, metadata, revision: str | None = None) -> None:
    """Refuse a dataset of another task or shape than the model's: its scores would be meaningless, and
    would end up in the model card."""
    from transformers.utils import cached_file

    saved = cached_file(model_path, "processor_config.json", revision=revision,
                        _raise_exceptions_for_missing_entries=False, _raise_exceptions_for_connection_errors=False)
    if saved is not None:
        task = PuzzleProcessor.from_pretrained(model_path, revision=revision).task
        if task != metadata.task:
            raise ValueError(f"the dataset is a {metadata.task} dataset ({metadata.recipe!r}) but the model solves "
                             f"{task} puzzles (its processor_config.json); evaluate it on a {task} dataset")
    for field in ("vocab_size", "seq_len"):
        if getattr(config, field) != getattr(metadata, field):
            raise ValueError(f"the dataset does not fit the model: {field} is {getattr(metadata, field)} in the "
                             f"dataset ({metadata.recipe!r}) but {getattr(config, field)} in the model config")


def _package_version() -> str | None:
    try:
        return importlib_metadata.version("trm-hf")
    except importlib_metadata.PackageNotFoundError:
        return None


__all__ = ["PROVENANCE_KEYS", "RESULT_IDENTITY_KEYS", "check_dataset_matches_model", "evaluate", "load_eval_results",
           "result_identity", "save_eval_results"]
