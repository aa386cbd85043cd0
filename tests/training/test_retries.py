"""Retries under symmetries (`training.retries`): a puzzle whose answer breaks the rules is solved again as a
symmetric variant, and an answer that passes is mapped back to the puzzle as given."""

from __future__ import annotations

import types

import numpy as np
import pytest
import torch

from hub_datasets.augment import dihedral_transform
from hub_datasets.maze import CHARSET, generate_mazes
from hub_datasets.sudoku import SudokuSolver, generate_sudoku
from modeling_trm import PuzzleProcessor
from training.retries import MAZE_SYMMETRIES, Symmetry, solve_with_retries

STEPS_PER_TRY = 8


class LateSolver(torch.nn.Module):
    """Stands in for a model: solves a puzzle only from its ``needed(puzzle)``-th call on (0-based), and
    answers the puzzle unchanged (blanks: breaks the rules) before. ``needed`` must be the same for every
    symmetric variant of a puzzle, so that the test knows which try succeeds."""

    def __init__(self, processor, solve_one, needed):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(1))  # gives the stand-in a device
        self.processor, self.solve_one, self.needed, self.calls = processor, solve_one, needed, 0

    def solve(self, input_ids, **overrides):
        answers = input_ids.clone()
        for row, tokens in enumerate(input_ids):
            if self.calls >= self.needed(tokens):
                answers[row] = self.solve_one(tokens)
        self.calls += 1
        steps = torch.full((len(input_ids),), STEPS_PER_TRY)
        return types.SimpleNamespace(predictions=answers, steps=steps)


def sudoku_case(count=12, size=6):
    processor = PuzzleProcessor("sudoku", grid_size=size)
    records = generate_sudoku(count, size=size, seed=5)
    inputs = processor(list(records.questions), solutions=list(records.answers))
    solver = SudokuSolver(size)

    def solve_one(tokens):  # the package's solver on the variant it is given
        solution = solver.solve(np.asarray(processor.decode(tokens), np.uint8))[1]
        return processor.encode_labels([solution])[0]

    givens = lambda tokens: int((tokens > 1).sum())  # the same in every variant of a Sudoku
    return processor, inputs, solve_one, lambda tokens: givens(tokens) % 3


def maze_case(count=6, size=7):
    processor = PuzzleProcessor("maze", grid_size=size)
    records = generate_mazes(count, size=size, min_moves=6, seed=2, unique_path=True)
    text = lambda grid: ["".join(CHARSET[code] for code in row) for row in grid]
    inputs = processor([text(q) for q in records.questions], solutions=[text(a) for a in records.answers])
    grids = lambda ids: ids.reshape(-1, size, size).numpy()
    answer_of = {dihedral_transform(q, k).tobytes(): torch.from_numpy(dihedral_transform(a, k).copy()).reshape(-1)
                 for q, a in zip(grids(inputs["input_ids"]), grids(inputs["labels"])) for k in range(MAZE_SYMMETRIES)}
    walls = lambda tokens: int((tokens == 1).sum())  # the same in every rotation and reflection
    return processor, inputs, lambda tokens: answer_of[grids(tokens)[0].tobytes()], lambda tokens: walls(tokens) % 4


@pytest.mark.parametrize("case", [sudoku_case, maze_case], ids=["sudoku", "maze"])
def test_each_puzzle_is_retried_until_a_variant_is_solved_and_the_answer_is_mapped_back(case):
    processor, inputs, solve_one, needed = case()
    model = LateSolver(processor, solve_one, needed)
    result = solve_with_retries(model, processor, inputs["input_ids"], max_tries=4)
    expected_tries = torch.tensor([needed(tokens) + 1 for tokens in inputs["input_ids"]])
    assert len(set(expected_tries.tolist())) > 1  # the case mixes first-try and later successes
    assert torch.equal(result.tries, expected_tries)
    assert torch.equal(result.steps, STEPS_PER_TRY * expected_tries)
    assert result.valid.all()
    assert torch.equal(result.predictions, inputs["labels"])  # the variants' answers, mapped back


@pytest.mark.parametrize("case", [sudoku_case, maze_case], ids=["sudoku", "maze"])
def test_a_puzzle_that_no_try_solves_keeps_its_first_answer(case):
    processor, inputs, solve_one, needed = case()
    result = solve_with_retries(LateSolver(processor, solve_one, needed), processor, inputs["input_ids"], max_tries=2)
    late = torch.tensor([needed(tokens) >= 2 for tokens in inputs["input_ids"]])
    assert late.any() and (~late).any()
    assert torch.equal(result.valid, ~late)
    assert torch.equal(result.tries, torch.where(late, 2, torch.tensor([needed(t) + 1 for t in inputs["input_ids"]])))
    assert torch.equal(result.predictions[late], inputs["input_ids"][late])  # the first try answered the puzzle itself
    assert torch.equal(result.predictions[~late], inputs["labels"][~late])


def test_a_maze_is_tried_under_each_of_its_eight_symmetries_at_most():
    processor, inputs, solve_one, _ = maze_case()
    never = LateSolver(processor, solve_one, lambda tokens: 10**9)
    result = solve_with_retries(never, processor, inputs["input_ids"], max_tries=50)
    assert never.calls == MAZE_SYMMETRIES
    assert (result.tries == MAZE_SYMMETRIES).all() and not result.valid.any()


@pytest.mark.parametrize("size", [4, 6, 9])
def test_a_sudoku_symmetry_maps_a_solution_back_exactly(size):
    processor = PuzzleProcessor("sudoku", grid_size=size)
    records = generate_sudoku(8, size=size, seed=1)
    puzzles, solutions = processor(list(records.questions))["input_ids"], processor.encode_labels(list(records.answers))
    symmetry = Symmetry.draw(processor, len(puzzles), attempt=1, rng=np.random.default_rng(0))
    variants, variant_solutions = symmetry.apply(processor, puzzles), symmetry.apply(processor, solutions)
    assert not torch.equal(variants, puzzles)
    assert all(problem is None for problem in processor.check_solution(variants, variant_solutions))
    assert torch.equal(symmetry.undo(processor, variant_solutions), solutions)


@pytest.mark.parametrize("task,size", [("sudoku", 4), ("sudoku", 6), ("sudoku", 9), ("maze", 7)])
def test_a_symmetry_maps_any_tokens_back_exactly(task, size):
    """Unfinished answers hold blanks and PAD too (what the steps of a try show): every token grid goes
    there and back unchanged."""
    processor = PuzzleProcessor(task, grid_size=size)
    rng = np.random.default_rng(3)
    ids = torch.from_numpy(rng.integers(0, processor.vocab_size, (64, size * size)))
    for attempt in range(1, 8):
        symmetry = Symmetry.draw(processor, len(ids), attempt, rng)
        moved = symmetry.apply(processor, ids)
        assert not torch.equal(moved, ids)
        assert torch.equal(symmetry.undo(processor, moved), ids)


def test_keep_steps_shows_the_kept_try_mapped_back_onto_the_puzzle():
    """The shipped 6x6 model, cut to one step so that many first answers break the rules: the steps kept
    for each puzzle end in its kept answer, sit on the puzzle as given, and say what the rules say of it.
    Keeping the steps changes nothing in the search."""
    from transformers import AutoModel, AutoProcessor

    from training.pretrained import shipped_models

    folder = shipped_models()["sudoku6x6"]
    model, processor = AutoModel.from_pretrained(folder).eval(), AutoProcessor.from_pretrained(folder)
    records = generate_sudoku(32, size=6, seed=11)
    puzzles = processor(list(records.questions))["input_ids"]
    plain = solve_with_retries(model, processor, puzzles, max_tries=4, max_steps=1)
    kept = solve_with_retries(model, processor, puzzles, max_tries=4, max_steps=1, keep_steps=True)
    assert (plain.tries > 1).any() and ((plain.tries > 1) & plain.valid).any()  # retries happened and paid
    for field in ("predictions", "valid", "tries", "steps"):
        assert torch.equal(getattr(kept, field), getattr(plain, field))
    for index, refinement in enumerate(kept.refinements):
        assert np.array_equal(refinement.input_ids, puzzles[index].numpy())
        assert np.array_equal(refinement.step_ids[-1], kept.predictions[index].numpy())
        assert (refinement.final_problem is None) == bool(kept.valid[index])


def test_puzzles_without_rules_are_refused():
    with pytest.raises(ValueError, match="arc puzzles have no rules"):
        solve_with_retries(None, PuzzleProcessor("arc"), torch.zeros(1, 900, dtype=torch.long))


def test_a_puzzle_without_a_solution_is_refused_before_any_try():
    processor = PuzzleProcessor("sudoku", grid_size=4)
    puzzles = processor(["1...." + "." * 11, "." * 16])["input_ids"]
    puzzles[1, :2] = torch.tensor([2, 2])  # digit 1 twice in row 0 (token = digit + 1)
    with pytest.raises(ValueError, match="puzzle 1 has no solution: row 0 has two 1s"):
        solve_with_retries(None, processor, puzzles)
