"""Mazes: the Maze-Hard CSV format, shortest-path validation (the maze rule of `check_mazes`) and a seedable
numba generator.

Characters ``#`` wall, space open, ``S`` start, ``G`` goal, ``o`` path (answer only); grids are
``uint8`` arrays of character codes 0..4 in the order ``"# SGo"`` (token = code + 1,
docs/numerics.md#vocabularies).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numba
import numpy as np

from modeling_trm.processing_trm import MAZE_CHARS as CHARSET
from modeling_trm.processing_trm import check_mazes, maze_solution_problems

from .puzzle_csv import CSV_HEADER, BadRecord, PuzzleRecords, names_the_file_on_read_errors, read_puzzle_csv

WALL, OPEN, START, GOAL, PATH = range(5)


class MazeRecords(PuzzleRecords):
    """Mazes: questions/answers [N, n, n] uint8 codes into ``CHARSET``, ratings = shortest path length
    in moves, names ``"<file stem>:<line>"`` for read records."""


@numba.njit(cache=True)
def _bfs(open_cells, start, size, parents):
    """The generator's search (validation uses the package's rule, `check_mazes`): distances (moves) from
    ``start`` over ``open_cells`` (flat bool), -1 = unreachable; fills ``parents`` with the cell that first
    reached each cell (neighbours in order up, down, left, right), which marks the answer's canonical path."""
    dist = np.full(size * size, -1, np.int64)
    queue = np.empty(size * size, np.int64)
    dist[start] = 0
    parents[start] = start
    head, tail = 0, 1
    queue[0] = start
    while head < tail:
        cell = queue[head]
        head += 1
        row, col = cell // size, cell % size
        for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            r, c = row + dr, col + dc
            if 0 <= r < size and 0 <= c < size:
                nxt = r * size + c
                if open_cells[nxt] and dist[nxt] < 0:
                    dist[nxt] = dist[cell] + 1
                    parents[nxt] = cell
                    queue[tail] = nxt
                    tail += 1
    return dist


def maze_errors(questions: np.ndarray, answers: np.ndarray) -> list[str | None]:
    """Per maze (grids of CHARSET codes): ``None`` if the answer marks a shortest S-to-G path (any of them: they
    are massively non-unique), else what is wrong, in the words of `PuzzleProcessor.check_solution`."""
    return maze_solution_problems(questions.astype(np.int64) + 1, answers.astype(np.int64) + 1)  # codes -> token ids


@names_the_file_on_read_errors
def read_maze_csv(path: str | Path, on_error: str = "raise", limit: int | None = None) -> MazeRecords:
    """Read a Maze-Hard CSV (``source,question,answer,rating``, square grids over ``# SGo``), checking
    every record: alphabet, one S and one G, the answer a shortest S-to-G path, rating = its moves."""
    path = Path(path)
    lookup = np.full(256, 255, np.uint8)
    lookup[np.frombuffer(CHARSET.encode(), np.uint8)] = np.arange(5)
    cells = None  # the first record fixes the grid size

    def parse(question: str, answer: str, rating: str) -> tuple[np.ndarray, np.ndarray, int]:
        nonlocal cells
        if cells is None:
            cells = len(question)
            if round(cells**0.5) ** 2 != cells:
                raise ValueError(f"question of {cells} characters is not a square grid")
        if len(question) != cells or len(answer) != cells:
            raise BadRecord(f"question and answer must have {cells} characters, got {len(question)} and {len(answer)}")
        q = lookup[np.frombuffer(question.encode("latin-1", "replace"), np.uint8)]
        a = lookup[np.frombuffer(answer.encode("latin-1", "replace"), np.uint8)]
        if (q == 255).any() or (a == 255).any():
            field, text, codes = ("question", question, q) if (q == 255).any() else ("answer", answer, a)
            position = int(np.argmax(codes == 255))
            raise BadRecord(f"invalid character {text[position]!r} in {field} at position {position} "
                            f"(allowed: {CHARSET!r})")
        if not rating.isdigit():
            raise BadRecord(f"rating must be a non-negative integer, got {rating!r}")
        return q, a, int(rating)

    parsed, sources, names, skipped = read_puzzle_csv(path, parse, on_error, limit)
    questions, answers, ratings = zip(*parsed)
    size = round(cells**0.5)
    records = MazeRecords(np.array(questions, np.uint8).reshape(-1, size, size),
                          np.array(answers, np.uint8).reshape(-1, size, size),
                          np.array(ratings, np.int64), sources, names)
    errors = maze_errors(records.questions, records.answers)
    shortest = check_mazes(records.questions + 1).shortest
    for i in np.flatnonzero((shortest != records.ratings) & np.array([e is None for e in errors], bool)):
        errors[i] = f"rating {records.ratings[i]} is not the shortest path length {shortest[i]}"
    return records.without_invalid(errors, path, on_error, skipped)


def write_maze_csv(path: str | Path, records: MazeRecords) -> None:
    charset = np.frombuffer(CHARSET.encode(), np.uint8)
    to_text = lambda grid: charset[grid.ravel()].tobytes().decode()
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(CSV_HEADER)
        for q, a, r, s in zip(records.questions, records.answers, records.ratings, records.sources):
            writer.writerow([s, to_text(q), to_text(a), int(r)])


@numba.njit(cache=True)
def _has_one_shortest_path(dist, size, goal):
    """Whether exactly one shortest path reaches ``goal`` (``dist`` from ``_bfs``): counts paths level by
    level, each cell summing its neighbours one move closer, capped at 2."""
    cells = size * size
    count = np.zeros(cells, np.int64)
    for cell in range(cells):
        if dist[cell] == 0:
            count[cell] = 1
    for level in range(1, dist[goal] + 1):
        for cell in range(cells):
            if dist[cell] != level:
                continue
            row, col = cell // size, cell % size
            for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
                r, c = row + dr, col + dc
                if 0 <= r < size and 0 <= c < size and dist[r * size + c] == level - 1:
                    count[cell] = min(2, count[cell] + count[r * size + c])
    return count[goal] == 1


@numba.njit(cache=True)
def _generate(num, size, min_moves, unique_path, seed, questions, answers, ratings):
    """Rejection sampling as Maze-Hard was built (Searchformer layouts + HRM's difficulty filter):
    walls = the first k of the shuffled cells, k uniform in [3*floor(n*n/10), 5*floor(n*n/10)]; start
    and goal two distinct random free cells; accept if the shortest path has more than ``min_moves``
    moves (and, with ``unique_path``, is the only one); one instance per layout. The answer marks the
    canonical BFS path. Returns draws made."""
    np.random.seed(seed)
    cells = size * size
    low, high = 3 * (cells // 10), 5 * (cells // 10)
    parents = np.empty(cells, np.int64)
    accepted, draws = 0, 0
    while accepted < num:
        draws += 1
        order = np.random.permutation(cells)
        walls = np.random.randint(low, high + 1)
        grid = np.full(cells, OPEN, np.uint8)
        grid[order[:walls]] = WALL
        free = order[walls:]
        if free.size < 2:
            continue
        i = np.random.randint(free.size)
        j = np.random.randint(free.size - 1)
        j += j >= i
        start, goal = free[i], free[j]
        dist = _bfs(grid != WALL, start, size, parents)
        if dist[goal] <= min_moves or (unique_path and not _has_one_shortest_path(dist, size, goal)):
            continue
        grid[start], grid[goal] = START, GOAL
        questions[accepted] = grid
        answers[accepted] = grid
        cell = parents[goal]
        while cell != start:
            answers[accepted, cell] = PATH
            cell = parents[cell]
        ratings[accepted] = dist[goal]
        accepted += 1
    return draws


def generate_mazes(num: int, size: int = 30, min_moves: int = 110, seed: int = 0,
                   source: str | None = None, unique_path: bool = False) -> MazeRecords:
    """``num`` random ``size`` x ``size`` mazes whose shortest path has more than ``min_moves`` moves
    (Maze-Hard: 30, 110). Acceptance falls steeply with the threshold: 30x30 > 110 needs ~75k draws
    per maze (~1.5 s with numba), while e.g. 11x11 > 20 needs a few dozen.

    ``unique_path`` keeps only mazes with a single shortest path. Random-wall mazes usually have many
    (median 12 for 11x11 > 20), and the answer marks the one breadth-first search finds first, which a
    rotation or reflection of the maze does not map to the transformed maze's answer: a model trained on
    dihedral augmentations then sees contradicting labels (docs/recipes.md#mazes)."""
    if size < 2 or min_moves >= size * size:
        raise ValueError(f"cannot generate {size}x{size} mazes with paths longer than {min_moves} moves")
    questions = np.empty((num, size * size), np.uint8)
    answers = np.empty((num, size * size), np.uint8)
    ratings = np.empty(num, np.int64)
    _generate(num, size, min_moves, unique_path, seed, questions, answers, ratings)
    name = source or f"randwall{size}_hard{min_moves}{'_unique' if unique_path else ''}_seed{seed}"
    shape = (num, size, size)
    return MazeRecords(questions.reshape(shape), answers.reshape(shape), ratings, [name] * num,
                       [f"{name}:{i}" for i in range(num)])
