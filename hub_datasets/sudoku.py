"""Sudoku: the Sudoku-Extreme CSV format, validation, a DPLL solver/rater and a seedable generator.

Grids are ``uint8`` arrays ``[n, n]`` (batches ``[B, n, n]``) with 0 = blank and digits 1..n.
Tokens (docs/numerics.md#vocabularies): PAD 0, blank 1, digit d -> d + 1, so ``vocab_size = n + 2``.
"""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import numba
import numpy as np

from modeling_trm.processing_trm import SUDOKU_BOX_SHAPES, check_sudokus, sudoku_units

from .puzzle_csv import CSV_HEADER, BadRecord, PuzzleRecords, names_the_file_on_read_errors, read_puzzle_csv

RULE_CHUNK = 1 << 16  # puzzles checked at once


class SudokuRecords(PuzzleRecords):
    """Sudokus: questions [N, n, n] uint8 (0 = blank), answers [N, n, n], ratings = guesses of the DPLL
    solver (tdoku's for the real data set), names ``"<file stem>:<line>"`` for read records."""


def grid_size_of(cells: int) -> int:
    size = round(cells**0.5)
    if size * size != cells or size not in SUDOKU_BOX_SHAPES:
        raise ValueError(f"{cells} cells is not a supported sudoku (sizes {sorted(SUDOKU_BOX_SHAPES)})")
    return size


def sudoku_errors(questions: np.ndarray, answers: np.ndarray) -> list[str | None]:
    """Per puzzle: ``None`` if the answer is a valid grid consistent with the givens, else the reason: the
    first row, column or box that does not hold 1..n once, else the first changed given (`check_sudokus`)."""
    count, size, _ = answers.shape
    if count > RULE_CHUNK:  # the rule's arrays grow with the batch; millions of puzzles are read at once
        return [error for begin in range(0, count, RULE_CHUNK)
                for error in sudoku_errors(questions[begin : begin + RULE_CHUNK], answers[begin : begin + RULE_CHUNK])]
    check = check_sudokus(questions + 1, answers + 1)  # digit grids (0 = blank) as token ids
    units = sudoku_units(size)
    broken = check.repeats.any(2) | check.not_digit.reshape(count, -1)[:, units].any(2)  # [N, 3n]
    errors: list[str | None] = [None] * count
    for index in np.flatnonzero(~check.valid):
        if broken[index].any():
            unit = int(np.argmax(broken[index]))
            errors[index] = (f"answer {('row', 'column', 'box')[unit // size]} {unit % size + 1} is "
                             f"{answers[index].reshape(-1)[units[unit]].tolist()}, not a permutation of 1..{size}")
        else:
            row, col = np.argwhere(check.changed[index])[0]
            errors[index] = (f"answer has {answers[index, row, col]} at row {row + 1}, column {col + 1} "
                             f"where the question gives {questions[index, row, col]}")
    return errors


@names_the_file_on_read_errors
def read_sudoku_csv(path: str | Path, on_error: str = "raise", limit: int | None = None) -> SudokuRecords:
    """Read a Sudoku-Extreme CSV (``source,question,answer,rating``; ``.`` or ``0`` = blank; plain or
    ``.gz``), streaming, checking every record. ``on_error="skip"`` drops bad records and counts them
    in ``num_skipped``; otherwise the first bad record raises ``ValueError`` naming file and line."""
    path = Path(path)
    size = None  # the first record fixes the grid size

    def parse(question: str, answer: str, rating: str) -> tuple[str, str, int]:
        nonlocal size
        if size is None:
            try:
                size = grid_size_of(len(question))
            except ValueError as error:
                raise ValueError(f"question: {error}") from None
        cells = size * size
        if len(question) != cells or len(answer) != cells:
            raise BadRecord(f"question and answer must have {cells} characters, got {len(question)} and {len(answer)}")
        blanks_and_digits = ".0" + "".join(str(d) for d in range(1, size + 1))
        if question.strip(blanks_and_digits) or answer.strip(blanks_and_digits[2:]):  # C-speed check
            field, text, allowed = (("question", question, blanks_and_digits) if question.strip(blanks_and_digits)
                                    else ("answer", answer, blanks_and_digits[2:]))
            raise BadRecord(f"invalid character {next(c for c in text if c not in allowed)!r} in {field} "
                            f"(allowed: '.' or 0 for blank in the question, digits 1-{size})")
        if not rating.lstrip("-").isdigit():
            raise BadRecord(f"rating must be an integer, got {rating!r}")
        return question.replace(".", "0"), answer, int(rating)

    parsed, sources, names, skipped = read_puzzle_csv(path, parse, on_error, limit)
    questions, answers, ratings = zip(*parsed)
    to_grids = lambda rows: (np.frombuffer("".join(rows).encode(), np.uint8) - ord("0")).reshape(-1, size, size)
    records = SudokuRecords(to_grids(questions), to_grids(answers), np.array(ratings, np.int64), sources, names)
    return records.without_invalid(sudoku_errors(records.questions, records.answers), path, on_error, skipped)


def write_sudoku_csv(path: str | Path, records: SudokuRecords) -> None:
    path = Path(path)
    to_text = lambda grid, blank: "".join(blank if d == 0 else str(d) for d in grid.ravel())
    with (gzip.open(path, "wt", newline="") if path.suffix == ".gz" else open(path, "w", newline="")) as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(CSV_HEADER)
        for q, a, r, s in zip(records.questions, records.answers, records.ratings, records.sources):
            writer.writerow([s, to_text(q, "."), to_text(a, ""), int(r)])


# ------------------------------------------------------------------------------ DPLL solver
# Candidates are bitmasks (bit d set = digit d possible). Propagation: naked singles and hidden
# singles; branching on the cell with fewest candidates. `guesses` counts every trial assignment
# made at a branch point, which is how the rating is defined (tdoku counts the same way with its
# stronger propagation, so its numbers are lower).


@numba.njit(cache=True)
def _propagate(grid, units, cell_units, size):
    """Fill naked and hidden singles in place; False on a contradiction."""
    full = (1 << (size + 1)) - 2
    changed = True
    while changed:
        changed = False
        used = np.zeros(units.shape[0], np.int64)
        for u in range(units.shape[0]):
            for k in range(size):
                d = grid[units[u, k]]
                if d:
                    if used[u] & (1 << d):
                        return False
                    used[u] |= 1 << d
        for cell in range(size * size):
            if grid[cell]:
                continue
            cand = full & ~(used[cell_units[cell, 0]] | used[cell_units[cell, 1]] | used[cell_units[cell, 2]])
            if cand == 0:
                return False
            if cand & (cand - 1) == 0:
                d = 0
                while (cand >> d) != 1:
                    d += 1
                grid[cell] = d
                for j in range(3):
                    used[cell_units[cell, j]] |= cand
                changed = True
        if changed:
            continue
        for u in range(units.shape[0]):  # hidden singles
            for d in range(1, size + 1):
                if used[u] & (1 << d):
                    continue
                place, places = -1, 0
                for k in range(size):
                    cell = units[u, k]
                    if grid[cell] == 0:
                        blocked = used[cell_units[cell, 0]] | used[cell_units[cell, 1]] | used[cell_units[cell, 2]]
                        if not blocked & (1 << d):
                            place = cell
                            places += 1
                if places == 0:
                    return False
                if places == 1:
                    grid[place] = d
                    for j in range(3):
                        used[cell_units[place, j]] |= 1 << d
                    changed = True
    return True


@numba.njit(cache=True)
def _solve(puzzle, units, cell_units, size, limit, shuffle_seed):
    """DPLL search. Returns (number of solutions found, capped at ``limit``; first solution; guesses).
    ``shuffle_seed >= 0`` tries branch digits in a random order (used to draw random full grids)."""
    if shuffle_seed >= 0:
        np.random.seed(shuffle_seed)
    cells = size * size
    full = (1 << (size + 1)) - 2
    stack = np.zeros((cells + 1, cells), np.uint8)
    branch_cell = np.zeros(cells + 1, np.int64)
    branch_mask = np.zeros(cells + 1, np.int64)
    solution = np.zeros(cells, np.uint8)
    stack[0] = puzzle
    depth, found, guesses = 0, 0, 0
    descend = True
    while True:
        if descend:
            grid = stack[depth]
            if _propagate(grid, units, cell_units, size):
                best, best_count, best_mask = -1, 99, 0
                for cell in range(cells):
                    if grid[cell] == 0:
                        used = 0
                        for j in range(3):
                            u = cell_units[cell, j]
                            for k in range(size):
                                used |= 1 << grid[units[u, k]]
                        cand = full & ~used
                        count = 0
                        c = cand
                        while c:
                            c &= c - 1
                            count += 1
                        if count < best_count:
                            best, best_count, best_mask = cell, count, cand
                if best < 0:
                    found += 1
                    if found == 1:
                        solution[:] = grid
                    if found >= limit:
                        return found, solution, guesses
                else:
                    branch_cell[depth] = best
                    branch_mask[depth] = best_mask
                    depth += 1
            # after a dead end or a solution: fall through to backtracking
        descend = False
        while depth > 0 and branch_mask[depth - 1] == 0:
            depth -= 1
        if depth == 0:
            return found, solution, guesses
        mask = branch_mask[depth - 1]
        if shuffle_seed >= 0:
            options = np.zeros(size, np.int64)
            n = 0
            for d in range(1, size + 1):
                if mask & (1 << d):
                    options[n] = d
                    n += 1
            d = options[np.random.randint(n)]
        else:
            d = 0
            while not mask & (1 << d):
                d += 1
        branch_mask[depth - 1] = mask & ~(1 << d)
        stack[depth] = stack[depth - 1]
        stack[depth, branch_cell[depth - 1]] = d
        guesses += 1
        descend = True


class SudokuSolver:
    """DPLL solver for one sudoku size: ``solve`` (count solutions up to ``limit``) and ``rating``."""

    def __init__(self, size: int = 9):
        self.size = size
        self.units = sudoku_units(size)
        cell_units = np.zeros((size * size, 3), np.int64)
        for u, unit in enumerate(self.units):
            cell_units[unit, u // size] = u
        self.cell_units = cell_units

    def solve(self, puzzle: np.ndarray, limit: int = 1, shuffle_seed: int = -1):
        """Returns ``(solutions_found, solution [n, n], guesses)``; ``solutions_found <= limit``."""
        found, solution, guesses = _solve(np.ascontiguousarray(puzzle, np.uint8).ravel(), self.units,
                                          self.cell_units, self.size, limit, shuffle_seed)
        return found, solution.reshape(self.size, self.size), guesses

    def rating(self, puzzle: np.ndarray) -> int:
        """Guesses needed to find the first solution (limit 1), the Sudoku-Extreme definition."""
        return self.solve(puzzle, limit=1)[2]

    def is_unique(self, puzzle: np.ndarray) -> bool:
        return self.solve(puzzle, limit=2)[0] == 1


# Difficulty bands of the rating (solver guesses, bounds inclusive). 0 = naked and hidden singles suffice,
# what a newspaper calls easy; Sudoku-Extreme's hard end needs tens to thousands.
DIFFICULTY_BANDS = ((0, 0), (1, 2), (3, 9), (10, None))


def difficulty_band(guesses: int) -> str:
    """The name of the `DIFFICULTY_BANDS` band a rating falls in: "0 guesses", "1-2 guesses", ">= 10 guesses"."""
    for low, high in DIFFICULTY_BANDS:
        if high is None and low <= guesses:
            return f">= {low} guesses"
        if low <= guesses <= high:
            return f"{low} guesses" if low == high else f"{low}-{high} guesses"
    raise ValueError(f"a rating is a number of guesses (>= 0), got {guesses}")


def rate_sudokus(questions: np.ndarray) -> np.ndarray:
    """The rating (`SudokuSolver.rating`) of each puzzle of a batch ``[N, n, n]`` (0 = blank); about 0.7 ms a
    hard 9x9 puzzle on one core."""
    solver = SudokuSolver(questions.shape[-1])
    return np.array([solver.rating(puzzle) for puzzle in questions], np.int64)


def difficulty_band_indices(questions: np.ndarray) -> np.ndarray:
    """Per puzzle of a batch ``[N, n, n]`` (0 = blank), the index into `DIFFICULTY_BANDS` of its rating."""
    names = [difficulty_band(low) for low, _ in DIFFICULTY_BANDS]
    return np.array([names.index(difficulty_band(rating)) for rating in rate_sudokus(questions)], np.int64)


@numba.njit(cache=True)
def _minimise(puzzle, order, units, cell_units, size):
    """Remove clues in ``order`` while the solution stays unique: a minimal puzzle."""
    for cell in order:
        if puzzle[cell] == 0:
            continue
        digit = puzzle[cell]
        puzzle[cell] = 0
        found, _, _ = _solve(puzzle, units, cell_units, size, 2, -1)
        if found != 1:
            puzzle[cell] = digit
    return puzzle


def generate_sudoku(num: int, size: int = 9, seed: int = 0, min_difficulty: int = 0,
                    max_difficulty: int | None = None, source: str | None = None,
                    progress: bool = False) -> SudokuRecords:
    """``num`` random minimal puzzles with a unique solution, rated by ``SudokuSolver.rating``.

    Each puzzle: a random full grid, then clues removed in random order while the solution stays
    unique. Puzzles outside ``[min_difficulty, max_difficulty]`` are rejected. Random minimal puzzles
    are mostly easy (rating 0-2); for hard ones (``min_difficulty`` >~ 10) a few hill-climbing steps
    per candidate (drop a clue, add another from the solution, re-minimise, keep if the rating does
    not drop) push the rating up. Deterministic for a given seed.
    """
    from .progress import progress_bar

    solver = SudokuSolver(size)
    rng = np.random.default_rng(seed)
    cells = size * size
    questions, answers, ratings, seen = [], [], [], set()
    bar = progress_bar(total=num, desc=f"sudoku {size}x{size}", disable=not progress)
    while len(questions) < num:
        _, answer, _ = solver.solve(np.zeros(cells, np.uint8), shuffle_seed=int(rng.integers(2**31)))
        answer = answer.ravel()
        puzzle = _minimise(answer.copy(), rng.permutation(cells), solver.units, solver.cell_units, size)
        rating = solver.rating(puzzle)
        for _ in range(200 if min_difficulty > 0 else 0):
            if rating >= min_difficulty:
                break
            candidate = puzzle.copy()
            clues, blanks = np.flatnonzero(candidate), np.flatnonzero(candidate == 0)
            candidate[rng.choice(clues, 2, replace=False)] = 0
            added = rng.choice(blanks)
            candidate[added] = answer[added]
            if not solver.is_unique(candidate):
                continue
            candidate = _minimise(candidate, rng.permutation(cells), solver.units, solver.cell_units, size)
            candidate_rating = solver.rating(candidate)
            if candidate_rating >= rating:
                puzzle, rating = candidate, candidate_rating
        if rating < min_difficulty or (max_difficulty is not None and rating > max_difficulty):
            continue
        if puzzle.tobytes() in seen:  # small sizes have few distinct puzzles: never repeat one
            continue
        seen.add(puzzle.tobytes())
        questions.append(puzzle)
        answers.append(answer)
        ratings.append(rating)
        bar.update()
    bar.close()
    shape = (num, size, size)
    name = source or f"generated_{size}x{size}_seed{seed}"
    return SudokuRecords(np.array(questions, np.uint8).reshape(shape), np.array(answers, np.uint8).reshape(shape),
                         np.array(ratings, np.int64), [name] * num, [f"{name}:{i}" for i in range(num)])
