"""Plain puzzle metrics, with hand-computed expectations."""

from __future__ import annotations

import numpy as np
import pytest

from training.metrics import (
    cell_accuracy,
    crop_arc_grid,
    exact_accuracy,
    grid_hash,
    halting_accuracy,
    maze_path_validity,
    mean_steps,
    puzzle_correctness,
    sudoku_validity,
    sudoku_validity_from_tokens,
)

# 3 puzzles of 4 cells; -100 marks ignored cells (ARC padding).
LABELS = np.array([[2, 3, 4, 5], [2, 3, -100, -100], [-100, -100, -100, -100]])
PREDICTIONS = np.array([[2, 3, 4, 6], [2, 3, 9, 9], [7, 7, 7, 7]])


def test_exact_and_cell_accuracy_ignore_unsupervised_cells_and_rows():
    exact, cell, supervised = puzzle_correctness(PREDICTIONS, LABELS)
    assert exact.tolist() == [False, True, True]  # row 2 has nothing to get wrong
    assert cell.tolist() == [0.75, 1.0, 0.0]
    assert supervised.tolist() == [True, True, False]
    # The row without labels is left out of the means (official `valid = n_valid > 0`).
    assert exact_accuracy(PREDICTIONS, LABELS) == 0.5
    assert cell_accuracy(PREDICTIONS, LABELS) == (0.75 + 1.0) / 2  # mean of per-puzzle fractions, not 5/6 cells


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="shape"):
        exact_accuracy(PREDICTIONS[:, :3], LABELS)


def test_halting_accuracy_compares_halt_verdict_with_correctness():
    # halt >= 0 means "I am done/correct": right, wrong (0.0 counts as halting), right, wrong.
    assert halting_accuracy([3.0, 0.0, -2.0, -0.5], [True, False, False, True]) == 0.5
    assert mean_steps([16, 16, 4, 8]) == 11.0


SOLVED = np.array(
    [
        [5, 3, 4, 6, 7, 8, 9, 1, 2],
        [6, 7, 2, 1, 9, 5, 3, 4, 8],
        [1, 9, 8, 3, 4, 2, 5, 6, 7],
        [8, 5, 9, 7, 6, 1, 4, 2, 3],
        [4, 2, 6, 8, 5, 3, 7, 9, 1],
        [7, 1, 3, 9, 2, 4, 8, 5, 6],
        [9, 6, 1, 5, 3, 7, 2, 8, 4],
        [2, 8, 7, 4, 1, 9, 6, 3, 5],
        [3, 4, 5, 2, 8, 6, 1, 7, 9],
    ]
)


def test_sudoku_validity_finds_each_kind_of_broken_rule():
    givens = np.where(np.arange(81).reshape(9, 9) % 3 == 0, SOLVED, 0)
    row_duplicate = SOLVED.copy()
    row_duplicate[0, 1] = 5
    swapped_columns = SOLVED[:, [1, 0, 2, 3, 4, 5, 6, 7, 8]]  # rows and columns fine, boxes fine, givens broken
    swapped_rows = SOLVED[[0, 1, 3, 2, 4, 5, 6, 7, 8]]  # rows/columns fine, boxes 0-2 and 3-5 broken
    blank_left = SOLVED.copy()
    blank_left[4, 4] = 0
    other_solution = SOLVED[[1, 0, 2, 3, 4, 5, 6, 7, 8]]  # a legal sudoku that changes given cells
    solutions = np.stack([SOLVED, row_duplicate, swapped_columns, swapped_rows, blank_left, other_solution])
    valid = sudoku_validity(solutions, np.stack([givens] * 6))
    assert valid.tolist() == [True, False, False, False, False, False]
    # Without givens, a band-internal row swap and a column swap inside a stack are still legal sudokus.
    no_givens = np.zeros((6, 9, 9), int)
    assert sudoku_validity(solutions, no_givens).tolist() == [True, False, True, False, False, True]


def test_sudoku_validity_of_a_6x6_sudoku_with_2x3_boxes():
    solved = np.array([[1, 2, 3, 4, 5, 6], [4, 5, 6, 1, 2, 3], [2, 3, 1, 5, 6, 4],
                       [5, 6, 4, 2, 3, 1], [3, 1, 2, 6, 4, 5], [6, 4, 5, 3, 1, 2]])
    columns_swapped_across_boxes = solved[:, [0, 1, 3, 2, 4, 5]]  # rows and columns still fine, boxes not
    givens = np.zeros((2, 6, 6), int)
    assert sudoku_validity(np.stack([solved, columns_swapped_across_boxes]), givens).tolist() == [
        True, False]


def test_sudoku_validity_from_tokens_uses_the_official_vocabulary():
    tokens = SOLVED.reshape(1, 81) + 1  # digit d -> token d + 1
    puzzle = np.where(np.arange(81) % 2 == 0, tokens[0], 1)[None]  # token 1 = blank
    assert sudoku_validity_from_tokens(tokens, puzzle).tolist() == [True]
    tokens_with_blank = tokens.copy()
    tokens_with_blank[0, 1] = 1  # the model left a blank
    assert sudoku_validity_from_tokens(tokens_with_blank, puzzle).tolist() == [False]


def maze(rows: list[str]) -> np.ndarray:
    """A small maze in the dataset's characters, as tokens (# wall, space open, S, G, o path)."""
    table = {"#": 1, " ": 2, "S": 3, "G": 4, "o": 5}
    return np.array([[table[ch] for ch in row] for row in rows])


def test_maze_path_validity_and_optimality():
    empty = maze(["S   ", " ## ", "   G"])
    shortest = maze(["Sooo", " ##o", "   G"])
    detour = maze(["S   ", "o## ", "oooG"])  # also a shortest path (5 moves either way)
    longer = maze(["So  ", "o## ", "oooG"])  # connected, but a stray extra cell next to S
    broken = maze(["Soo ", " ##o", "   G"])  # gap: never reaches G
    through_wall = maze(["S   ", "ooo ", "   G"])  # overwrites walls
    puzzles = np.stack([empty] * 5)
    preds = np.stack([shortest, detour, longer, broken, through_wall])
    result = _maze_validity(preds, puzzles)
    assert result["valid_path"].tolist() == [True, True, True, False, False]
    assert result["shortest_path"].tolist() == [True, True, False, False, False]


def _maze_validity(preds, puzzles):
    return maze_path_validity(preds.reshape(len(preds), -1), puzzles.reshape(len(puzzles), -1), grid_shape=(3, 4))


def test_maze_with_two_starts_is_rejected_with_its_index():
    bad = maze(["S  S", "    ", "   G", "####"])
    with pytest.raises(ValueError, match="maze 0"):
        maze_path_validity(bad.reshape(1, -1), bad.reshape(1, -1), grid_shape=(4, 4))


def test_crop_takes_the_max_area_block_and_grid_hash_includes_the_shape():
    canvas = np.zeros((30, 30), int)
    canvas[:3, :4] = [[2, 3, 4, 5], [6, 7, 8, 9], [10, 11, 0, 2]]  # third row: PAD inside -> width 2
    canvas[:3, 4] = 1
    crop = crop_arc_grid(canvas.ravel())
    # rows 1-2 give area 2*4 = 8, rows 1-3 give 3*2 = 6: the 2x4 block wins.
    assert crop.tolist() == [[0, 1, 2, 3], [4, 5, 6, 7]] and crop.dtype == np.uint8
    assert crop_arc_grid(np.ones(900, int)).shape == (0, 0)
    flat = np.zeros((1, 4), np.uint8)
    assert grid_hash(flat) != grid_hash(flat.reshape(2, 2)) != grid_hash(flat.reshape(4, 1))
