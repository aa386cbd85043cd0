"""Puzzle metrics: accuracy, halting, validity checks and the official ARC voting (pass@K).

Plain numpy functions, usable on their own, by `training.evaluation.evaluate` and by the
`evaluate` modules shipped in `training/evaluate_modules/` (`load_metric(name)`).

Definitions follow the official loss head (docs/numerics.md#loss-head): a puzzle counts only if it has at least one
supervised label; cell accuracy is the per-puzzle fraction of correct supervised cells, averaged over
puzzles; exact accuracy needs every supervised cell right; the halting head is "accurate" when
`(halt_logit >= 0) == exact_correct`. The ARC evaluator reproduces `evaluators/arc.py` (docs/numerics.md#arc-voting).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from hub_datasets import augment
from hub_datasets.augment import ARC_SEPARATOR
from modeling_trm.processing_trm import IGNORE_LABEL_ID, check_mazes, check_sudokus, crop_arc_grid, grid_hash

ARC_PASS_KS = (1, 2, 5, 10, 100, 1000)
EVALUATE_MODULES_DIR = Path(__file__).resolve().parent / "evaluate_modules"


# --------------------------------------------------------------------------------------------------
# Accuracy, halting, steps
# --------------------------------------------------------------------------------------------------


def puzzle_correctness(predictions, labels, ignore_index: int = IGNORE_LABEL_ID):
    """Per puzzle: `(exact_correct bool[B], cell_accuracy float64[B], supervised bool[B])`.

    `supervised` is False for rows without any supervised label (padding rows); the official head
    leaves those out of every mean, and so do the aggregate functions below.
    """
    predictions, labels = np.asarray(predictions), np.asarray(labels)
    if predictions.shape != labels.shape:
        raise ValueError(f"predictions {predictions.shape} and labels {labels.shape} differ in shape")
    mask = labels != ignore_index
    correct = (predictions == labels) & mask
    num_supervised = mask.sum(-1)
    exact = correct.sum(-1) == num_supervised
    cell = correct.sum(-1) / np.maximum(num_supervised, 1)
    return exact, cell.astype(np.float64), num_supervised > 0


def exact_accuracy(predictions, labels, ignore_index: int = IGNORE_LABEL_ID) -> float:
    """Fraction of (supervised) puzzles whose every supervised cell is predicted correctly."""
    exact, _, supervised = puzzle_correctness(predictions, labels, ignore_index)
    return mean_over_puzzles(exact[supervised])


def cell_accuracy(predictions, labels, ignore_index: int = IGNORE_LABEL_ID) -> float:
    """Mean over puzzles of the fraction of correct supervised cells (-100/pad positions ignored)."""
    _, cell, supervised = puzzle_correctness(predictions, labels, ignore_index)
    return mean_over_puzzles(cell[supervised])


def halting_accuracy(halt_logits, exact_correct) -> float:
    """How often the halting head's verdict `halt_logit >= 0` agrees with the puzzle being solved."""
    halt_logits, exact_correct = np.asarray(halt_logits, dtype=np.float64), np.asarray(exact_correct, bool)
    return mean_over_puzzles((halt_logits >= 0) == exact_correct)


def mean_steps(steps) -> float:
    """Mean number of supervision steps the model took per puzzle."""
    return mean_over_puzzles(np.asarray(steps, dtype=np.float64))


def mean_over_puzzles(values) -> float:
    """Mean of per-puzzle values (booleans give a rate); NaN when there are none."""
    values = np.asarray(values, dtype=np.float64)
    return float(values.mean()) if values.size else float("nan")


# --------------------------------------------------------------------------------------------------
# One vocabulary: summed scores -> named means (training logs, evaluation during training, `trm eval`)
# --------------------------------------------------------------------------------------------------

# What `summarize` divides by `count` and the name it reports: the loss head's raw sums
# (`TRMOutput.metrics`) and `score_sums` use the keys on the left, every log and results file the right.
PUZZLE_MEANS = {
    "exact_accuracy": "exact_accuracy",
    "accuracy": "cell_accuracy",
    "q_halt_accuracy": "halting_accuracy",
    "steps": "mean_steps",
}
LOSS_SUMS = ("lm_loss", "q_halt_loss", "q_continue_loss")


def score_sums(predictions, labels, halt_logits, steps, ignore_index: int = IGNORE_LABEL_ID) -> dict[str, float]:
    """One batch's answers scored and summed over its supervised puzzles, in the loss head's raw vocabulary
    (`count`, `exact_accuracy`, `accuracy`, `q_halt_accuracy`, `steps`): sums of batches and processes add
    up, and `summarize` turns them into the reported means.

    `halt_logits` and `steps` are those of the step whose answer is scored.
    """
    exact, cell, supervised = puzzle_correctness(predictions, labels, ignore_index)
    halted_right = (np.asarray(halt_logits, dtype=np.float64) >= 0) == exact
    return {
        "count": float(supervised.sum()),
        "exact_accuracy": float(exact[supervised].sum()),
        "accuracy": float(cell[supervised].sum()),
        "q_halt_accuracy": float(halted_right[supervised].sum()),
        "steps": float(np.asarray(steps, dtype=np.float64)[supervised].sum()),
    }


def add_sums(total: dict, sums: dict) -> dict:
    """``total[k] += sums[k]`` for every key (numbers or tensors); returns ``total``."""
    for key, value in sums.items():
        total[key] = total.get(key, 0) + value
    return total


def summarize(sums: dict, num_examples: float | None = None) -> dict[str, float]:
    """The reported metrics from summed scores: the one place that names and normalises them.

    Accuracies and steps are means over the puzzles counted in ``sums["count"]`` (finished, supervised
    puzzles; 0 when there are none yet, as early in training). Losses are divided by ``num_examples``
    (training: the rows fed, as the official training log) or, when None, by the count (the official
    evaluation). Returns `exact_accuracy`, `cell_accuracy`, `halting_accuracy`, `mean_steps`,
    `num_puzzles` and the losses present in ``sums``.
    """
    sums = {key: float(value) for key, value in sums.items()}
    count = max(sums["count"], 1.0)
    named = {name: sums[key] / count for key, name in PUZZLE_MEANS.items()}
    named["num_puzzles"] = int(sums["count"])
    for key in LOSS_SUMS:
        if key in sums:
            named[key] = sums[key] / (num_examples or count)
    return named


# --------------------------------------------------------------------------------------------------
# Validity beside accuracy (a wrong answer can still be a legal one)
# --------------------------------------------------------------------------------------------------


def sudoku_validity(solutions, givens) -> np.ndarray:
    """Per puzzle: is the predicted grid a legal, complete sudoku that keeps the givens?

    Both are digit grids `[B, n, n]` (or `[B, n*n]`, n = 4, 6, 8 or 9 with the boxes of `SUDOKU_BOX_SHAPES`):
    solutions 1..n (anything else is illegal), givens 0 for blanks. Legal = every row, column and box holds
    1..n exactly once, and every given digit is unchanged (the processor's rule, `check_sudokus`).
    """
    givens = np.asarray(givens, dtype=np.int64)
    size = math.isqrt(givens[0].size)
    solutions, givens = np.asarray(solutions, dtype=np.int64).reshape(-1, size, size), givens.reshape(-1, size, size)
    if solutions.shape != givens.shape:
        raise ValueError(f"{solutions.shape[0]} solutions for {givens.shape[0]} sudoku puzzles")
    return check_sudokus(givens + 1, solutions + 1).valid  # digit d is token d + 1, blank 0 is token 1


def sudoku_validity_from_tokens(predictions, inputs) -> np.ndarray:
    """`sudoku_validity` on token sequences `[B, n*n]` (docs/numerics.md#vocabularies: digit d is token d + 1,
    blank is token 1)."""
    inputs = np.asarray(inputs, dtype=np.int64)
    size = math.isqrt(inputs.shape[-1])
    return check_sudokus(inputs.reshape(-1, size, size), np.asarray(predictions).reshape(-1, size, size)).valid


def maze_path_validity(predictions, inputs, grid_shape: tuple[int, int] = (30, 30)) -> dict[str, np.ndarray]:
    """Per maze, on token sequences `[B, rows*cols]`: `{"valid_path": bool[B], "shortest_path": bool[B]}`.

    `valid_path`: walls, start and goal are unchanged, path cells (`o`) lie only on open cells of the
    maze, and they connect start to goal (4-neighbour moves) with no stray path cell left over.
    `shortest_path`: additionally the path has the length of a shortest start-goal route, so it *is* a
    shortest path (the processor's rule, `check_mazes`). A maze without one start and one goal is an error.
    """
    check = check_mazes(np.asarray(inputs).reshape(-1, *grid_shape), np.asarray(predictions).reshape(-1, *grid_shape))
    for i in np.flatnonzero((check.starts != 1) | (check.goals != 1)):
        raise ValueError(f"maze {i} needs exactly one start and one goal, has {check.starts[i]} and {check.goals[i]}")
    return {"valid_path": check.valid, "shortest_path": check.shortest_path}


# --------------------------------------------------------------------------------------------------
# ARC: crop, hash, inverse augmentation, voting (official `evaluators/arc.py`)
# --------------------------------------------------------------------------------------------------


def arc_variant_name(puzzle_name: str, augmentation: str) -> str:
    """The official variant name `task|||t{d}|||{colour map}` from the dataset's two columns."""
    return f"{puzzle_name}{ARC_SEPARATOR}{augmentation}" if augmentation else puzzle_name


def invert_arc_augmentation(variant_name: str, grid: np.ndarray) -> tuple[str, np.ndarray]:
    """Map a grid of an augmented variant back to the original frame: `(task, original_grid)`.

    The builder made variants as `dihedral_t(colour_map[grid])`; `hub_datasets.augment.invert` applies
    the inverse dihedral transform first, then the inverse colour map (official evaluator's order).
    """
    task, _, augmentation = variant_name.partition(ARC_SEPARATOR)
    return task, augment.invert(augmentation, grid)


class ARCVoting:
    """Official ARC voting: every augmented variant's prediction votes for a grid in the original frame.

    Feed batches with `update(...)` and read `result()` (`{"pass@K": ...}`), `rankings()` and
    `submission()`. The test pairs (true outputs) come either from `test_puzzles` (the official
    `test_puzzles.json` layout `{task: {"test": [{"input", "output"}, ...]}}`) or, when omitted,
    from the `labels` given to `update` (de-augmented crops of the labels, in first-seen order).

    With `aggregated_voting=True` (the official default) `begin_round()` keeps earlier votes, so a later
    evaluation ranks the votes of earlier checkpoints too; with False it starts afresh.
    """

    def __init__(self, test_puzzles=None, pass_ks=ARC_PASS_KS, submission_k: int = 2, aggregated_voting: bool = True):
        self.pass_ks, self.submission_k, self.aggregated_voting = tuple(pass_ks), submission_k, aggregated_voting
        # task -> {input_hash: true output grid}, in the order result() iterates.
        self.test_pairs: dict[str, dict[str, np.ndarray]] = {}
        self._test_pairs_given = test_puzzles is not None
        for task, puzzle in (test_puzzles or {}).items():
            pairs = puzzle["test"] if isinstance(puzzle, dict) else puzzle
            for pair in pairs:
                self.test_pairs.setdefault(task, {})[grid_hash(np.array(pair["input"], np.uint8))] = np.array(
                    pair["output"], np.uint8
                )
        self.votes: dict[str, dict[str, list[tuple[str, float]]]] = {}  # task -> input hash -> [(pred hash, q)]
        self.grids: dict[str, np.ndarray] = {}  # prediction hash -> grid

    def begin_round(self):
        """Start an evaluation round (official `begin_eval`): forgets votes unless `aggregated_voting`."""
        if not self.aggregated_voting:
            self.votes, self.grids = {}, {}

    def update(self, inputs, predictions, halt_logits, variant_names, labels=None):
        """Add one batch of token canvases `[B, 900]`; rows whose variant name is None/"<blank>" are padding."""
        inputs, predictions = _numpy(inputs), _numpy(predictions)
        # Official: sigmoid of the float32 logit, taken in float64.
        confidences = torch.as_tensor(_numpy(halt_logits)).to(torch.float64).sigmoid().numpy()
        labels = None if labels is None else _numpy(labels)
        for row, name in enumerate(variant_names):
            if name is None or name == "<blank>":
                continue
            task, original_input = invert_arc_augmentation(name, crop_arc_grid(inputs[row]))
            input_hash = grid_hash(original_input)
            if labels is not None and not self._test_pairs_given:
                self._register_test_pair(name, task, input_hash, labels[row])
            _, prediction = invert_arc_augmentation(name, crop_arc_grid(predictions[row]))
            prediction_hash = grid_hash(prediction)
            self.grids[prediction_hash] = prediction
            self.votes.setdefault(task, {}).setdefault(input_hash, []).append((prediction_hash, float(confidences[row])))

    def _register_test_pair(self, name, task, input_hash, label_tokens):
        _, output = invert_arc_augmentation(name, crop_arc_grid(np.where(label_tokens == IGNORE_LABEL_ID, 0, label_tokens)))
        known = self.test_pairs.setdefault(task, {}).setdefault(input_hash, output)
        if known.shape != output.shape or not (known == output).all():
            raise ValueError(
                f"ARC variant {name!r}: its de-augmented label disagrees with another variant of the same "
                "test input; the augmentation string does not describe how the row was made"
            )

    def rankings(self) -> dict[str, list[list[dict]]]:
        """Per task, per test pair: candidates best first, `{"hash", "count", "mean_sigmoid_q", "grid"}`."""
        rankings = {}
        for task, pairs in self.test_pairs.items():
            rankings[task] = []
            for input_hash in pairs:
                stats: dict[str, list] = {}
                for prediction_hash, confidence in self.votes.get(task, {}).get(input_hash, []):
                    entry = stats.setdefault(prediction_hash, [0, 0.0])
                    entry[0] += 1
                    entry[1] += confidence
                # Count first, mean confidence breaks ties; the stable sort keeps first-seen order on exact ties.
                ranked = sorted(stats.items(), key=lambda kv: (kv[1][0], kv[1][1] / kv[1][0]), reverse=True)
                rankings[task].append(
                    [
                        {"hash": h, "count": count, "mean_sigmoid_q": total / count, "grid": self.grids[h]}
                        for h, (count, total) in ranked
                    ]
                )
        return rankings

    def result(self) -> dict[str, float]:
        """`{"pass@K": mean over tasks of (solved test pairs / test pairs)}`; unpredicted pairs are unsolved."""
        rankings = self.rankings()
        scores = dict.fromkeys(self.pass_ks, 0.0)
        for task, pairs in self.test_pairs.items():
            solved = dict.fromkeys(self.pass_ks, 0)
            for (input_hash, output), candidates in zip(pairs.items(), rankings[task]):
                label_hash = grid_hash(output)
                for k in self.pass_ks:
                    solved[k] += any(c["hash"] == label_hash for c in candidates[:k])
            for k in self.pass_ks:
                scores[k] += solved[k] / len(pairs)
        num_tasks = len(self.test_pairs)
        return {f"pass@{k}": scores[k] / num_tasks if num_tasks else float("nan") for k in self.pass_ks}

    def submission(self) -> dict[str, list[dict[str, list]]]:
        """Kaggle-style `{task: [{"attempt_1": grid, "attempt_2": grid}, ...]}`; unpredicted pairs are omitted."""
        submission = {}
        for task, candidates_per_pair in self.rankings().items():
            submission[task] = []
            for candidates in candidates_per_pair:
                if not candidates:
                    continue
                attempts = [c["grid"] for c in candidates[: self.submission_k]]
                attempts += [attempts[0]] * (self.submission_k - len(attempts))
                submission[task].append({f"attempt_{i + 1}": grid.tolist() for i, grid in enumerate(attempts)})
        return submission


def _numpy(array) -> np.ndarray:
    return array.detach().cpu().numpy() if isinstance(array, torch.Tensor) else np.asarray(array)


# --------------------------------------------------------------------------------------------------
# `evaluate` modules shipped with the package
# --------------------------------------------------------------------------------------------------


def evaluate_module_path(name: str) -> Path:
    """Folder of one of the bundled `evaluate` modules (`puzzle_accuracy`, `halting_accuracy`, `arc_pass_at_k`)."""
    path = EVALUATE_MODULES_DIR / name
    if not (path / f"{name}.py").is_file():
        available = sorted(p.name for p in EVALUATE_MODULES_DIR.iterdir() if (p / f"{p.name}.py").is_file())
        raise ValueError(f"no bundled evaluate module {name!r}; available: {available}")
    return path


def load_metric(name: str, **kwargs):
    """`evaluate.load` of a bundled module by name, offline (no Hub access needed)."""
    import evaluate

    return evaluate.load(str(evaluate_module_path(name)), **kwargs)


def push_evaluate_module(name: str, repo_id: str, token: str | None = None, private: bool | None = None) -> str:
    """Upload a bundled `evaluate` module to the Hub as a metric Space, so that anyone can
    `evaluate.load(repo_id)` it without this package (the module files import only numpy, datasets and
    evaluate). The Space must be named like the module: `evaluate` looks for `<space name>.py`."""
    from huggingface_hub import HfApi

    folder = evaluate_module_path(name)
    if repo_id.rsplit("/", 1)[-1] != name:
        raise ValueError(f"the Space must be named {name!r} (evaluate.load reads <space name>.py), got {repo_id!r}")
    api = HfApi(token=token)
    url = api.create_repo(repo_id, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
    api.upload_folder(folder_path=str(folder), repo_id=url.repo_id, repo_type="space",
                      ignore_patterns=["__init__.py", "__pycache__", "__pycache__/*", "*.pyc"],
                      commit_message=f"Upload the {name} evaluate module")
    return url.repo_id


__all__ = [
    "ARC_PASS_KS",
    "ARCVoting",
    "arc_variant_name",
    "cell_accuracy",
    "crop_arc_grid",
    "evaluate_module_path",
    "exact_accuracy",
    "grid_hash",
    "halting_accuracy",
    "invert_arc_augmentation",
    "load_metric",
    "maze_path_validity",
    "mean_over_puzzles",
    "mean_steps",
    "push_evaluate_module",
    "puzzle_correctness",
    "score_sums",
    "sudoku_validity",
    "sudoku_validity_from_tokens",
    "summarize",
]
