"""Solve again under a symmetry where an answer breaks the rules.

A Sudoku is the same puzzle after relabelling its digits, shuffling bands, stacks, rows within a band and
columns within a stack, or transposing it; a maze is the same maze rotated or reflected. The model sees each
such variant as a new puzzle (its training data were variants like these), and where it fails on one it
often solves another. The rules tell a right answer from a wrong one (`PuzzleProcessor.check_solution`), so
a failed puzzle can be solved again under a random symmetry, its answer checked in that frame and mapped
back, up to ``max_tries`` tries; each puzzle keeps the first answer that passes, or its first try's answer
if none does. For a Sudoku with one solution (the generators' puzzles) an answer that passes the rules is the
solution; a maze answer passes with any shortest start-to-goal path. Measured in docs/test-time-compute.md::

    from training.retries import solve_with_retries
    result = solve_with_retries(model, processor, processor(puzzles)["input_ids"], max_tries=8)
    result.predictions, result.tries, result.valid

With ``keep_steps=True`` each puzzle also keeps the steps of the try whose answer it keeps, mapped back to the
puzzle as given (`training.refinement.Refinement`): what ``trm solve --tries K --show-steps`` prints and
``trm demo`` plays.

ARC has no rules to check an answer against (its evaluation votes over augmentations instead:
`training.metrics.ARCVoting`).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from hub_datasets.augment import (
    SudokuTransforms,
    apply_sudoku_transforms,
    dihedral_transform,
    inverse_dihedral_transform,
    invert_sudoku_transforms,
    random_sudoku_transforms,
)
from modeling_trm.processing_trm import PAD_ID, SUDOKU_BLANK_ID, PuzzleProcessor
from training.refinement import Refinement, solve_with_refinements

MAZE_SYMMETRIES = 8  # rotations and reflections of a square grid; try k uses the k-th (0 = the maze itself)


@dataclasses.dataclass
class RetriedSolve:
    """`solve_with_retries`: per puzzle, the answer kept and what it took."""

    predictions: torch.LongTensor  # [B, S] the first answer that passes the rules, else the first try's answer
    valid: torch.BoolTensor  # [B] the answer kept passes the rules
    tries: torch.LongTensor  # [B] tries made: 1 where the first answer passes the rules
    steps: torch.LongTensor  # [B] supervision steps run over all tries
    refinements: list[Refinement] | None = None  # keep_steps: the kept try's steps, in the puzzle's own frame


def solve_with_retries(model, processor: PuzzleProcessor, input_ids, max_tries: int = 8, seed: int = 0,
                       keep_steps: bool = False, **solve_overrides) -> RetriedSolve:
    """Solve encoded puzzles ``input_ids`` ``[B, S]``; solve those whose answer breaks the rules again under a
    random symmetry, up to ``max_tries`` tries in all (mazes: at most 8, one per symmetry). ``seed`` draws
    the Sudoku symmetries; ``solve_overrides`` (``max_steps``, ``halting``, ...) go to every ``model.solve``;
    ``keep_steps`` also keeps the steps of the try each puzzle keeps (`RetriedSolve.refinements`)."""
    if processor.task not in ("sudoku", "maze"):
        raise ValueError(f"{processor.task} puzzles have no rules to check an answer against; retries need them")
    if max_tries < 1:
        raise ValueError(f"max_tries must be >= 1, got {max_tries}")
    puzzles = torch.as_tensor(input_ids).long().cpu()
    for index, tokens in enumerate(puzzles):  # a puzzle without a solution would be retried in vain
        problem = processor.givens_problem(tokens)
        if problem is not None:
            raise ValueError(f"puzzle {index} has no solution: {problem}")
    count, device = len(puzzles), next(model.parameters()).device
    predictions, valid = puzzles.clone(), torch.zeros(count, dtype=torch.bool)
    tries, steps = torch.zeros(count, dtype=torch.long), torch.zeros(count, dtype=torch.long)
    refinements = [None] * count if keep_steps else None
    rng = np.random.default_rng(seed)
    pending = torch.arange(count)  # puzzles without an answer that passes the rules yet
    for attempt in range(min(max_tries, MAZE_SYMMETRIES) if processor.task == "maze" else max_tries):
        variant = Symmetry.draw(processor, len(pending), attempt, rng)
        variant_ids = variant.apply(processor, puzzles[pending])
        if keep_steps:
            output, variant_steps = solve_with_refinements(model, processor, {"input_ids": variant_ids.to(device)},
                                                           **solve_overrides)
        else:
            output = model.solve(variant_ids.to(device), **solve_overrides)
        answers = output.predictions.cpu()
        tries[pending] += 1
        steps[pending] += output.steps.cpu()
        passed = torch.tensor([problem is None for problem in processor.check_solution(variant_ids, answers)])
        kept = passed | (attempt == 0)  # the first answer stays unless a later one passes
        predictions[pending[kept]] = variant.undo(processor, answers)[kept]
        if keep_steps:
            for row in kept.nonzero().flatten().tolist():
                index = int(pending[row])
                refinements[index] = variant[[row]].undo_refinement(processor, variant_steps[row], puzzles[index])
        valid[pending[passed]] = True
        pending = pending[~passed]
        if not len(pending):
            break
    return RetriedSolve(predictions=predictions, valid=valid, tries=tries, steps=steps, refinements=refinements)


@dataclasses.dataclass
class Symmetry:
    """One symmetry per puzzle of a batch: Sudoku transforms, or a dihedral transform id shared by the batch.
    It moves tokens, whatever they are (givens, blanks, PAD, an unfinished answer's digits), so it maps a
    puzzle, its solution and every intermediate answer alike."""

    sudoku: SudokuTransforms | None  # None: the identity, or a maze's dihedral transform
    dihedral: int = 0

    @classmethod
    def draw(cls, processor: PuzzleProcessor, count: int, attempt: int, rng: np.random.Generator) -> Symmetry:
        if attempt == 0:
            return cls(sudoku=None)
        if processor.task == "sudoku":
            return cls(sudoku=random_sudoku_transforms(rng, count, processor.grid_size))
        return cls(sudoku=None, dihedral=attempt)

    def __getitem__(self, index) -> Symmetry:
        return Symmetry(None if self.sudoku is None else self.sudoku[index], self.dihedral)

    def apply(self, processor: PuzzleProcessor, ids: torch.Tensor) -> torch.Tensor:
        """Token grids ``[B, S]`` (puzzles, answers) under this symmetry."""
        return self._transform(processor, ids, inverse=False)

    def undo(self, processor: PuzzleProcessor, ids: torch.Tensor) -> torch.Tensor:
        """Token grids ``[B, S]`` of the variants mapped back to the puzzles as given."""
        return self._transform(processor, ids, inverse=True)

    def undo_refinement(self, processor: PuzzleProcessor, refinement: Refinement, puzzle_ids) -> Refinement:
        """One variant's steps (``self`` holds one symmetry) mapped back onto its puzzle ``puzzle_ids`` ``[S]``;
        the rule checks are redone there, so that their messages name the puzzle's own rows and columns."""
        if self.is_identity:
            return refinement
        every_step = self[[0] * refinement.num_steps]
        step_ids = every_step.undo(processor, torch.from_numpy(refinement.step_ids)).numpy()
        puzzle_ids = np.asarray(puzzle_ids)
        return dataclasses.replace(refinement, input_ids=puzzle_ids, step_ids=step_ids, problems=processor.check_solution(
            np.broadcast_to(puzzle_ids, step_ids.shape), step_ids))

    @property
    def is_identity(self) -> bool:
        return self.sudoku is None and self.dihedral == 0

    def _transform(self, processor: PuzzleProcessor, ids: torch.Tensor, inverse: bool) -> torch.Tensor:
        if self.is_identity:
            return ids
        size = processor.grid_size
        grids = torch.as_tensor(ids).numpy().reshape(len(ids), size, size)  # the transforms keep its dtype
        if self.sudoku is not None:  # relabel digit tokens (d -> d + 1); PAD and blank stay
            keep = np.broadcast_to(np.array([PAD_ID, SUDOKU_BLANK_ID]), (len(ids), 2))
            tokens = dataclasses.replace(self.sudoku, digit_map=np.concatenate([keep, self.sudoku.digit_map[:, 1:] + 1], 1))
            moved = (invert_sudoku_transforms if inverse else apply_sudoku_transforms)(grids, tokens)
        else:
            moved = (inverse_dihedral_transform if inverse else dihedral_transform)(grids, self.dihedral)
        return torch.from_numpy(np.ascontiguousarray(moved).reshape(len(ids), -1))
