"""Puzzle processor: grids and strings of each task <-> the token ids TRM/HRM read and write.

Vocabularies follow the official dataset builders (docs/numerics.md#vocabularies), so a converted
official checkpoint reads what this processor writes:

* sudoku: PAD 0, blank 1, digit d -> d + 1 (V = size + 2, S = size**2, row-major; 9x9 officially, 4x4/6x6/8x8 too)
* maze:   PAD 0, ``#`` 1, `` `` 2, ``S`` 3, ``G`` 4, ``o`` 5 (V = 6, S = grid_size**2, 30x30 officially)
* arc:    PAD 0, EOS 1, colour c -> c + 2 (V = 12, S = 900) on a 30x30 canvas: the grid at the top-left,
          an EOS row below it and an EOS column right of it, the corner between them left as PAD.

The puzzle rules shared by the whole package live here and only here (``hub_datasets`` and ``training``
import them): the ignored-label id, the Sudoku box shapes, the ARC canvas encoding, its crop and the
grid hash (docs/numerics.md#vocabularies, #arc-canvas, #arc-crop, #grid-hash).

This file is copied next to saved models for ``trust_remote_code``: it imports third-party libraries only.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import warnings
from collections.abc import Sequence

import numpy as np
from transformers import BatchFeature, ProcessorMixin

IGNORE_LABEL_ID = -100  # label of an unsupervised position (docs/numerics.md#ignored-labels)
PAD_ID = 0
BLANK_PUZZLE_NAME = "<blank>"

SUDOKU_BLANK_ID = 1  # digit d -> token d + 1
SUDOKU_DIGIT_OF_CHAR = {".": 0, **{str(d): d for d in range(10)}}
MAZE_CHARS = "# SGo"  # token id = index + 1
MAZE_TOKEN_OF_CHAR = {char: token for token, char in enumerate(MAZE_CHARS, start=1)}
MAZE_WALL_ID, MAZE_OPEN_ID, MAZE_START_ID, MAZE_GOAL_ID, MAZE_PATH_ID = range(1, 6)
ARC_EOS_ID = 1
ARC_COLOUR_OFFSET = 2  # colour c -> token c + 2
ARC_CANVAS_SIZE = 30
DEFAULT_GRID_SIZE = {"sudoku": 9, "maze": 30, "arc": ARC_CANVAS_SIZE}
VOCAB_SIZE = {"maze": 6, "arc": 12}  # sudoku: size + 2
# Sudoku box shape (rows, columns) per grid size.
SUDOKU_BOX_SHAPES = {4: (2, 2), 6: (2, 3), 8: (2, 4), 9: (3, 3)}


class PuzzleProcessor(ProcessorMixin):
    r"""
    Encodes puzzles of one task into ``{"input_ids": [B, S], "puzzle_ids": [B]}`` and decodes predicted
    token ids back into grids.

    Args:
        task (`str`): ``"sudoku"``, ``"maze"`` or ``"arc"``.
        grid_size (`int`, *optional*): side of the square grid: sudoku 4, 6, 8 or 9 (default 9), maze (default 30)
            or the ARC canvas (default 30).
            Defaults to the official sizes (9 / 30 / 30).
        puzzle_identifiers (`list[str]`, *optional*): puzzle-embedding row -> puzzle name, as the official
            ``identifiers.json`` (row 0 is ``"<blank>"``). Lets callers address a checkpoint's puzzle
            embeddings by name: ``processor(grids, puzzle_names=["007bbfc7", ...])``.

    Puzzles may be given as a batch (a list, or an array with a leading batch axis) or as one puzzle:
    sudoku as a string of size**2 characters (``.`` or ``0`` = blank), a flat list of ints or a size x size grid;
    maze as a multi-line string, a list of row strings, a flat ``grid_size**2``-character string or a 2-D
    character array; ARC as a list of rows of colours 0-9 (at most ``grid_size`` x ``grid_size``).
    """

    def __init__(self, task: str = "sudoku", grid_size: int | None = None, puzzle_identifiers: list[str] | None = None):
        if task not in DEFAULT_GRID_SIZE:
            raise ValueError(f"Unknown task {task!r}; expected one of {sorted(DEFAULT_GRID_SIZE)}.")
        grid_size = DEFAULT_GRID_SIZE[task] if grid_size is None else int(grid_size)
        if task == "sudoku" and grid_size not in SUDOKU_BOX_SHAPES:
            raise ValueError(f"Sudoku grid_size must be one of {sorted(SUDOKU_BOX_SHAPES)}; got grid_size={grid_size}.")
        if grid_size < 1:
            raise ValueError(f"grid_size must be positive, got {grid_size}.")
        if puzzle_identifiers is not None:
            puzzle_identifiers = [str(name) for name in puzzle_identifiers]
            if not puzzle_identifiers or puzzle_identifiers[0] != BLANK_PUZZLE_NAME:
                raise ValueError(
                    f"puzzle_identifiers[0] must be the blank identifier {BLANK_PUZZLE_NAME!r} "
                    "(the layout of the official identifiers.json)."
                )
        self.task = task
        self.grid_size = grid_size
        self.puzzle_identifiers = puzzle_identifiers
        self._puzzle_id_by_name = {name: i for i, name in enumerate(puzzle_identifiers or [])}
        super().__init__()

    # ----------------------------------------------------------------------------------------------
    # vocabulary facts

    @property
    def vocab_size(self) -> int:
        return self.grid_size + 2 if self.task == "sudoku" else VOCAB_SIZE[self.task]

    @property
    def seq_len(self) -> int:
        return self.grid_size * self.grid_size

    @property
    def pad_token_id(self) -> int:
        return PAD_ID

    @property
    def eos_token_id(self) -> int | None:
        return ARC_EOS_ID if self.task == "arc" else None

    @property
    def model_input_names(self) -> list[str]:
        return ["input_ids", "puzzle_ids"]

    # ----------------------------------------------------------------------------------------------
    # encoding

    def __call__(
        self,
        puzzles,
        solutions=None,
        puzzle_names: Sequence[str] | None = None,
        return_tensors: str | None = "pt",
    ) -> BatchFeature:
        """Encode puzzles (and optionally their solutions as ``labels``) into model inputs."""
        grids = self._split_batch(puzzles)
        input_ids = np.stack([self._encode_grid(grid, index, is_label=False) for index, grid in enumerate(grids)])
        for index, tokens in enumerate(input_ids):
            problem = self.givens_problem(tokens)
            if problem is not None:
                raise ValueError(f"puzzle {index}: {problem}.")
        data = {"input_ids": input_ids, "puzzle_ids": self.puzzle_ids_for(puzzle_names, len(grids))}
        if solutions is not None:
            labels = self.encode_labels(solutions, return_tensors=None)
            if len(labels) != len(grids):
                raise ValueError(f"Got {len(grids)} puzzles but {len(labels)} solutions.")
            data["labels"] = labels
        return BatchFeature(data, tensor_type=return_tensors)

    def encode_labels(self, solutions, return_tensors: str | None = "pt"):
        """Encode solution grids as training labels ``[B, S]`` (ARC: PAD positions -> -100, EOS supervised)."""
        grids = self._split_batch(solutions)
        labels = np.stack([self._encode_grid(grid, index, is_label=True) for index, grid in enumerate(grids)])
        return BatchFeature({"labels": labels}, tensor_type=return_tensors)["labels"]

    def puzzle_ids_for(self, puzzle_names: Sequence[str] | None, batch_size: int) -> np.ndarray:
        """Puzzle-embedding rows for the given names; unknown names get the blank row 0 with a warning."""
        if puzzle_names is None:
            return np.zeros(batch_size, dtype=np.int64)
        if isinstance(puzzle_names, str):
            puzzle_names = [puzzle_names]
        if len(puzzle_names) != batch_size:
            raise ValueError(f"Got {batch_size} puzzles but {len(puzzle_names)} puzzle_names.")
        ids = np.array([self._puzzle_id_by_name.get(name, 0) for name in puzzle_names], dtype=np.int64)
        unknown = [name for name, i in zip(puzzle_names, ids) if i == 0 and name != BLANK_PUZZLE_NAME]
        if unknown:
            known = len(self._puzzle_id_by_name)
            warnings.warn(
                f"{len(unknown)} puzzle name(s) not in this processor's puzzle_identifiers ({known} known): "
                f"{', '.join(map(repr, unknown[:10]))}{' ...' if len(unknown) > 10 else ''}. "
                "They use the blank puzzle embedding (id 0).",
                stacklevel=3,
            )
        return ids

    def _split_batch(self, puzzles) -> list:
        """A batch of puzzles as a list of single puzzles (a single puzzle becomes a batch of one)."""
        if hasattr(puzzles, "detach"):  # torch tensor
            puzzles = puzzles.detach().cpu().numpy()
        if isinstance(puzzles, np.ndarray):
            puzzles = puzzles.tolist()
        if isinstance(puzzles, str):
            return [puzzles]
        if not isinstance(puzzles, Sequence) or len(puzzles) == 0:
            raise ValueError(f"Expected a puzzle or a non-empty batch of puzzles, got {puzzles!r:.80}.")
        first = puzzles[0]
        if self.task == "sudoku":  # one puzzle: size**2 digits or characters, or size rows of digits
            cell = lambda value: _is_scalar(value) or (isinstance(value, str) and len(value) == 1)
            single = _is_scalar(first) or (_is_row(first) and len(first) == self.grid_size and cell(first[0])) \
                or (len(puzzles) == self.seq_len and all(isinstance(c, str) and len(c) == 1 for c in puzzles)) \
                or (len(puzzles) == self.grid_size and all(isinstance(r, str) and len(r.replace(" ", "")) == self.grid_size
                                                          for r in puzzles))
        elif self.task == "maze":  # one puzzle: rows given as strings or lists of characters
            single = all(
                (isinstance(row, str) and "\n" not in row and len(row) != self.seq_len)
                or (_is_row(row) and all(isinstance(char, str) and len(char) == 1 for char in row))
                for row in puzzles
            )
        else:  # one puzzle: rows of colours
            single = _is_row(first) and len(first) > 0 and _is_scalar(first[0])
        return [puzzles] if single else list(puzzles)

    def _encode_grid(self, grid, index: int, is_label: bool) -> np.ndarray:
        what = "solution" if is_label else "puzzle"
        if self.task == "sudoku":
            return self._encode_sudoku(grid, f"{what} {index}", is_label)
        if self.task == "maze":
            return self._encode_maze(grid, f"{what} {index}")
        return self._encode_arc(grid, f"{what} {index}", is_label)

    def _encode_sudoku(self, grid, where: str, is_label: bool) -> np.ndarray:
        size, cells_needed = self.grid_size, self.seq_len
        if _is_row(grid) and all(isinstance(c, str) for c in np.ravel(np.asarray(grid, dtype=object))):
            grid = "".join(np.ravel(np.asarray(grid, dtype=object)))  # characters or row strings: the text form
        if isinstance(grid, str):
            cells = "".join(grid.split())  # whitespace (line breaks between rows) is layout only
            if len(cells) != cells_needed:
                raise ValueError(f"{where}: a {size}x{size} sudoku string needs {cells_needed} cells, got {len(cells)}.")
            digits = _chars_to_ids(cells, SUDOKU_DIGIT_OF_CHAR, size, where, f"1-{size} for digits and '.' or '0' for blanks")
        else:
            digits = _int_grid(grid, where).reshape(-1)
            if digits.size != cells_needed:
                raise ValueError(f"{where}: a sudoku needs {cells_needed} cells ({size}x{size}), got shape {np.shape(grid)}.")
        bad = np.flatnonzero((digits < 0) | (digits > size))
        if bad.size:
            p = bad[0]
            raise ValueError(f"{where}: value {digits[p]} at row {p // size}, column {p % size} is not a digit 0-{size}.")
        if is_label and (digits == 0).any():
            p = int(np.flatnonzero(digits == 0)[0])
            raise ValueError(f"{where}: a solution has no blanks, but row {p // size}, column {p % size} is blank.")
        return digits + 1

    def _encode_maze(self, grid, where: str) -> np.ndarray:
        size = self.grid_size
        if isinstance(grid, str):
            rows = grid.split("\n") if "\n" in grid else [grid[i : i + size] for i in range(0, len(grid), size)]
            if "\n" not in grid and len(grid) != size * size:
                raise ValueError(f"{where}: a one-line maze needs {size * size} characters, got {len(grid)}.")
        else:
            rows = [row if isinstance(row, str) else "".join(row) for row in grid]
        if len(rows) != size:
            raise ValueError(f"{where}: a maze needs {size} rows, got {len(rows)}.")
        for r, row in enumerate(rows):
            if len(row) != size:
                raise ValueError(f"{where}: row {r} has {len(row)} cells, expected {size}.")
        return _chars_to_ids("".join(rows), MAZE_TOKEN_OF_CHAR, size, where, f"one of {MAZE_CHARS!r}")

    def _encode_arc(self, grid, where: str, is_label: bool) -> np.ndarray:
        size = self.grid_size
        colours = _int_grid(grid, where)
        if colours.ndim != 2 or colours.size == 0:
            raise ValueError(f"{where}: an ARC grid is a non-empty list of rows, got shape {colours.shape}.")
        height, width = colours.shape
        if height > size or width > size:
            raise ValueError(f"{where}: grid is {height}x{width}, larger than the {size}x{size} canvas.")
        bad = np.argwhere((colours < 0) | (colours > 9))
        if bad.size:
            r, c = bad[0]
            raise ValueError(f"{where}: colour {colours[r, c]} at row {r}, column {c} is outside 0-9.")
        canvas = arc_canvas(colours[None], size=size)[0].astype(np.int64)
        if is_label:
            canvas[canvas == PAD_ID] = IGNORE_LABEL_ID
        return canvas

    # ----------------------------------------------------------------------------------------------
    # the rules of each task: contradictory givens, valid solutions (the one place the package checks them)

    def givens_problem(self, input_ids) -> str | None:
        """What makes an encoded puzzle ``[S]`` unsolvable from its givens alone, or None.

        sudoku: a digit twice in a row, column or box; maze: not exactly one ``S`` and one ``G``, a path
        cell ``o`` in the question, or ``G`` unreachable from ``S``. ARC grids have no rules to break.
        """
        grid = self._token_grid(input_ids)
        if self.task == "sudoku":
            return _sudoku_repeat_problem(grid, sudoku_repeats(grid[None])[0])
        if self.task == "maze":
            return _maze_givens_problem(grid, check_mazes(grid[None]), 0)
        return None

    def check_solution(self, input_ids, predictions):
        """Is each predicted answer a valid solution of its puzzle, by the rules of the task?

        Token ids ``[B, S]`` (or one ``[S]`` puzzle) of the puzzles and of the answers, e.g.
        ``processor.check_solution(inputs["input_ids"], model.solve(**inputs).predictions)``. Returns, per
        puzzle, None for a valid solution or what is wrong with it (a list, or one value for one puzzle).

        sudoku: every cell a digit, the givens kept, each digit once in every row, column and box
        (4x4/6x6/8x8/9x9 with the box shapes of `SUDOKU_BOX_SHAPES`). maze: walls, ``S`` and ``G`` kept,
        path cells ``o`` only on open cells, and they mark a shortest route from ``S`` to ``G`` (any of them,
        when there are several) with none left over. ARC has no rules: compare with the true output.
        """
        if self.task == "arc":
            raise ValueError("ARC tasks have no rules to check an answer against; compare it with the test output.")
        puzzles, answers = (np.asarray(x.detach().cpu() if hasattr(x, "detach") else x, dtype=np.int64)
                            for x in (input_ids, predictions))
        if puzzles.shape != answers.shape or puzzles.shape[-1] != self.seq_len or puzzles.ndim not in (1, 2):
            raise ValueError(
                f"check_solution expects puzzles and answers as token ids of one shape [B, {self.seq_len}] or "
                f"[{self.seq_len}], got {puzzles.shape} and {answers.shape}."
            )
        single = puzzles.ndim == 1
        puzzles, answers = (x.reshape(-1, self.grid_size, self.grid_size) for x in (puzzles, answers))
        if self.task == "sudoku":
            check, givens = check_sudokus(puzzles, answers), sudoku_repeats(puzzles)
            problems = [_sudoku_solution_problem(puzzle, answer, givens[i], check, i)
                        for i, (puzzle, answer) in enumerate(zip(puzzles, answers))]
        else:
            problems = maze_solution_problems(puzzles, answers)
        return problems[0] if single else problems

    def _token_grid(self, tokens) -> np.ndarray:
        tokens = np.asarray(tokens.detach().cpu() if hasattr(tokens, "detach") else tokens, dtype=np.int64)
        return tokens.reshape(self.grid_size, self.grid_size)

    # ----------------------------------------------------------------------------------------------
    # decoding

    def decode(self, predictions):
        """Token ids ``[B, S]`` (or one ``[S]`` sequence) -> grids (or one grid).

        sudoku: ``grid_size x grid_size`` int arrays (0 = blank or PAD);
        maze: ``grid_size x grid_size`` char arrays (PAD -> ``?``);
        ARC: colour arrays cropped exactly like the official evaluator (largest top-left block of colour tokens).
        """
        if hasattr(predictions, "detach"):
            predictions = predictions.detach().cpu().numpy()
        tokens = np.asarray(predictions)
        if tokens.shape[-1] != self.seq_len or tokens.ndim not in (1, 2):
            raise ValueError(f"Expected token ids of shape [B, {self.seq_len}] or [{self.seq_len}], got {tokens.shape}.")
        if tokens.dtype.kind not in "iu":
            raise ValueError(f"Expected integer token ids, got dtype {tokens.dtype}.")
        bad = np.argwhere((tokens < 0) | (tokens >= self.vocab_size))
        if len(bad):  # another task's or model's tokens: decoding them would print a plausible wrong grid
            where = tuple(int(i) for i in bad[0])
            raise ValueError(f"token id {int(tokens[where])} at {list(where)} is outside this {self.task} "
                             f"processor's vocabulary [0, {self.vocab_size}).")
        grids = [self._decode_one(row) for row in tokens.reshape(-1, self.seq_len)]
        return grids[0] if tokens.ndim == 1 else grids

    def batch_decode(self, predictions) -> list:
        """Like `decode`, but always returns a list of grids."""
        grids = self.decode(predictions)
        return grids if isinstance(grids, list) else [grids]

    def _decode_one(self, tokens: np.ndarray):
        size = self.grid_size
        grid = tokens.reshape(size, size).astype(np.int64)
        if self.task == "sudoku":
            return np.clip(grid - 1, 0, size)
        if self.task == "maze":
            chars = np.array(list("?" + MAZE_CHARS))
            return chars[np.where(grid <= len(MAZE_CHARS), grid, 0)]
        return crop_arc_grid(grid, size)

    def to_text(self, grid) -> str:
        """A grid (as returned by `decode`, or any grid `__call__` accepts) as readable text."""
        if self.task == "sudoku":
            size = self.grid_size
            box_rows, box_cols = SUDOKU_BOX_SHAPES[size]
            digits = self._encode_sudoku(grid, "grid", is_label=False).reshape(size, size) - 1
            lines = []
            for r, row in enumerate(digits):
                cells = ["." if d == 0 else str(d) for d in row]
                line = " | ".join(" ".join(cells[c : c + box_cols]) for c in range(0, size, box_cols))
                if r and r % box_rows == 0:
                    lines.append("".join("+" if char == "|" else "-" for char in line))
                lines.append(line)
            return "\n".join(lines)
        if self.task == "maze":
            grid = grid.split("\n") if isinstance(grid, str) else grid
            return "\n".join(row if isinstance(row, str) else "".join(row) for row in grid)
        return "\n".join(" ".join(str(colour) for colour in row) for row in np.asarray(grid).tolist())


# ----------------------------------------------------------------------------------------------
# ARC canvas, crop and grid hash (the official builder's and evaluator's rules)


def arc_canvas(grids, offsets=None, size: int = ARC_CANVAS_SIZE) -> np.ndarray:
    """Canvas tokens ``[V, size * size]`` (uint8) of ``grids`` ``[V, h, w]`` (colours 0..9) placed at
    ``offsets`` ``[V, 2]`` (row, column; default the top-left): colour c -> c + 2, an EOS row below and
    an EOS column right of each grid where they fit, the corner between them and the rest PAD
    (docs/numerics.md#arc-canvas). The official ``np_grid_to_seq_translational_augment``."""
    grids = np.asarray(grids)
    count, height, width = grids.shape
    # one spare row and column: a grid touching the border puts its EOS there, then it is cut off
    canvas = np.zeros((count, size + 1, size + 1), np.uint8)
    block = np.zeros((count, height + 1, width + 1), np.uint8)
    block[:, :height, :width] = grids + ARC_COLOUR_OFFSET
    block[:, height, :width] = ARC_EOS_ID
    block[:, :height, width] = ARC_EOS_ID
    if offsets is None:
        canvas[:, : height + 1, : width + 1] = block
    else:
        offsets = np.asarray(offsets, np.int64)
        rows = offsets[:, 0, None, None] + np.arange(height + 1)[None, :, None]
        cols = offsets[:, 1, None, None] + np.arange(width + 1)[None, None, :]
        canvas[np.arange(count)[:, None, None], rows, cols] = block
    return canvas[:, :size, :size].reshape(count, size * size)


# training/evaluate_modules/arc_pass_at_k/arc_pass_at_k.py holds a copy of crop_arc_grid and grid_hash: an
# evaluate module loads from the Hub alone and cannot import them.
def crop_arc_grid(tokens, canvas: int = ARC_CANVAS_SIZE) -> np.ndarray:
    """The official evaluator's crop (``evaluators/arc.py:_crop``, docs/numerics.md#arc-crop): the
    colours (tokens 2..11) of the largest-area top-left rectangle, as uint8.

    Scanning rows downward, the width is the run of leading colour tokens, never growing; the block
    with the largest area wins (earliest on ties). Anything beyond the EOS row/column is ignored, a
    bad token inside the grid truncates it, EOS/PAD at (0, 0) gives a 0x0 grid.
    """
    grid = np.asarray(tokens, dtype=np.int64).reshape(canvas, canvas)
    is_colour = (grid >= ARC_COLOUR_OFFSET) & (grid <= ARC_COLOUR_OFFSET + 9)
    leading_run = np.where(is_colour.all(1), canvas, np.argmin(is_colour, axis=1))
    widths = np.minimum.accumulate(leading_run)
    areas = widths * np.arange(1, canvas + 1)
    if areas.max() == 0:
        return np.zeros((0, 0), np.uint8)
    rows = int(np.argmax(areas)) + 1
    return (grid[:rows, : widths[rows - 1]] - ARC_COLOUR_OFFSET).astype(np.uint8)


def grid_hash(grid) -> str:
    """The official ``grid_hash`` (docs/numerics.md#grid-hash): SHA-256 of the shape (one byte per
    dimension) followed by the uint8 cell values."""
    grid = np.ascontiguousarray(grid, dtype=np.uint8)
    if grid.ndim != 2:
        raise ValueError(f"grid_hash expects a 2-d grid, got shape {grid.shape}")
    return hashlib.sha256(bytes(grid.shape) + grid.tobytes()).hexdigest()


# ----------------------------------------------------------------------------------------------
# The rules of Sudoku and mazes, vectorised over a batch of token grids [B, h, w]: the one implementation,
# used by the processor's messages, the dataset readers, the evaluation metrics and the refinement pictures.


def sudoku_units(size: int) -> np.ndarray:
    """Flat cell indices ``[3 * size, size]`` of the rows, then the columns, then the boxes (each row-major)."""
    box_rows, box_cols = SUDOKU_BOX_SHAPES[size]
    cells = np.arange(size * size).reshape(size, size)
    boxes = cells.reshape(size // box_rows, box_rows, size // box_cols, box_cols).swapaxes(1, 2).reshape(size, size)
    return np.concatenate([cells, cells.T, boxes])


def _sudoku_unit_name(size: int, unit: int) -> str:
    """``"row 3"``, ``"column 3"`` or ``"the box of rows 0-2, columns 3-5"``: a row of `sudoku_units`."""
    kind, index = divmod(unit, size)
    if kind < 2:
        return f"{('row', 'column')[kind]} {index}"
    box_rows, box_cols = SUDOKU_BOX_SHAPES[size]
    top, left = index // (size // box_cols) * box_rows, index % (size // box_cols) * box_cols
    return f"the box of rows {top}-{top + box_rows - 1}, columns {left}-{left + box_cols - 1}"


def sudoku_repeats(grids) -> np.ndarray:
    """bool ``[B, 3n, n]`` of token grids ``[B, n, n]``: cell k of unit u (`sudoku_units`) holds a digit that
    another cell of the unit holds too (blanks and PAD never repeat)."""
    grids = np.asarray(grids)
    size = grids.shape[-1]
    tokens = grids.reshape(len(grids), -1)[:, sudoku_units(size)].astype(np.uint16)
    bits = np.where(tokens > SUDOKU_BLANK_ID, np.uint16(1) << tokens, np.uint16(0))  # a digit as a bit
    seen, twice = np.zeros(bits.shape[:2], np.uint16), np.zeros(bits.shape[:2], np.uint16)
    for cell in range(size):  # per unit, the digits seen once and those seen again (uint16 bitmasks)
        twice |= seen & bits[..., cell]
        seen |= bits[..., cell]
    return (bits & twice[..., None]) != 0


@dataclasses.dataclass
class SudokuCheck:
    """`check_sudokus`: the cells of each answer that break a rule."""

    not_digit: np.ndarray  # [B, n, n] cells without a digit (blank or PAD)
    changed: np.ndarray  # [B, n, n] givens the answer changes
    repeats: np.ndarray  # [B, 3n, n] `sudoku_repeats` of the answer

    @property
    def valid(self) -> np.ndarray:
        """[B]: every cell a digit, every given kept, each digit once in every row, column and box."""
        return ~(self.not_digit.any((1, 2)) | self.changed.any((1, 2)) | self.repeats.any((1, 2)))

    @property
    def wrong_cells(self) -> np.ndarray:
        """[B, n, n]: blanks, changed givens and every digit that stands twice in a row, column or box."""
        count, size = self.not_digit.shape[:2]
        repeated = np.zeros((count, size * size), bool)
        np.logical_or.at(repeated, (np.arange(count)[:, None, None], sudoku_units(size)), self.repeats)
        return self.not_digit | self.changed | repeated.reshape(count, size, size)


def check_sudokus(puzzles, answers) -> SudokuCheck:
    """The Sudoku rules for ``answers`` to ``puzzles``, token grids ``[B, n, n]`` (blank 1, digit d = d + 1)."""
    puzzles, answers = np.asarray(puzzles, np.int64), np.asarray(answers, np.int64)
    size = puzzles.shape[-1]
    return SudokuCheck(not_digit=(answers <= SUDOKU_BLANK_ID) | (answers > size + 1),
                       changed=(puzzles > SUDOKU_BLANK_ID) & (answers != puzzles), repeats=sudoku_repeats(answers))


def maze_distances(passable, start) -> np.ndarray:
    """Breadth-first search over a batch: moves from the ``start`` cell (a bool mask ``[B, h, w]``, one cell
    per grid or none) to each cell in 4-neighbour moves through ``passable`` cells; -1 where unreachable."""
    passable, frontier = np.asarray(passable, bool), np.asarray(start, bool).copy()
    distances = np.where(frontier, 0, -1)
    moves = 0
    while frontier.any():
        moves += 1
        grown = np.zeros_like(frontier)
        grown[:, 1:] |= frontier[:, :-1]
        grown[:, :-1] |= frontier[:, 1:]
        grown[:, :, 1:] |= frontier[:, :, :-1]
        grown[:, :, :-1] |= frontier[:, :, 1:]
        frontier = grown & passable & (distances < 0)
        distances[frontier] = moves
    return distances


@dataclasses.dataclass
class MazeCheck:
    """`check_mazes`: what breaks a rule in each question and, when given, each answer."""

    starts: np.ndarray  # [B] cells 'S' of the question
    goals: np.ndarray  # [B] cells 'G'
    given_path: np.ndarray  # [B, h, w] path cells 'o' in the question (a question has none)
    shortest: np.ndarray  # [B] moves of a shortest route from S to G through open cells; -1: none
    changed: np.ndarray | None = None  # [B, h, w] a wall, S or G changed, an open cell neither ' ' nor 'o'
    stray: np.ndarray | None = None  # [B, h, w] path cells not connected to S through path cells
    detour: np.ndarray | None = None  # [B, h, w] path cells on no shortest route from S to G
    connected: np.ndarray | None = None  # [B] the path cells connect S to G
    path_cells: np.ndarray | None = None  # [B] path cells in the answer

    @property
    def valid_question(self) -> np.ndarray:
        """[B]: one S, one G, no path cell, G reachable."""
        return (self.starts == 1) & (self.goals == 1) & ~self.given_path.any((1, 2)) & (self.shortest >= 0)

    @property
    def valid(self) -> np.ndarray:
        """[B]: the answer keeps the maze and its path cells connect S to G with none left over."""
        return self.valid_question & ~self.changed.any((1, 2)) & self.connected & ~self.stray.any((1, 2))

    @property
    def shortest_path(self) -> np.ndarray:
        """[B]: a valid answer whose path is a shortest one."""
        return self.valid & (self.path_cells + 1 == self.shortest)

    @property
    def wrong_cells(self) -> np.ndarray:
        """[B, h, w]: changed cells, path cells not connected to S, and path cells no shortest route passes."""
        return self.changed | self.stray | self.detour


def check_mazes(questions, answers=None) -> MazeCheck:
    """The maze rules for ``questions`` and, when given, ``answers``: token grids ``[B, h, w]``."""
    questions = np.asarray(questions, np.int64)
    start, goal = questions == MAZE_START_ID, questions == MAZE_GOAL_ID
    starts, goals = start.sum((1, 2)), goal.sum((1, 2))
    start &= ((starts == 1) & (goals == 1))[:, None, None]  # no route without one S and one G
    open_cells = questions != MAZE_WALL_ID
    from_start = maze_distances(open_cells, start)
    shortest = np.where(goal, from_start, -1).max((1, 2))
    question = dict(starts=starts, goals=goals, given_path=questions == MAZE_PATH_ID, shortest=shortest)
    if answers is None:
        return MazeCheck(**question)
    answers = np.asarray(answers, np.int64)
    path = answers == MAZE_PATH_ID
    reached = maze_distances(path | goal, start) >= 0  # through path cells, from S
    changed = np.where(questions == MAZE_OPEN_ID, ~np.isin(answers, (MAZE_OPEN_ID, MAZE_PATH_ID)), answers != questions)
    # a cell lies on a shortest route exactly when its distances from S and from G add up to the shortest one
    from_goal = maze_distances(open_cells, goal & start.any((1, 2), keepdims=True))
    on_route = (from_start >= 0) & (from_goal >= 0) & (from_start + from_goal == shortest[:, None, None])
    return MazeCheck(**question, changed=changed, stray=path & ~reached, detour=path & ~on_route,
                     connected=(reached & goal).any((1, 2)), path_cells=path.sum((1, 2)))


def _sudoku_repeat_problem(grid: np.ndarray, repeats: np.ndarray) -> str | None:
    """The first digit found twice in a row, column or box (`sudoku_repeats` of one grid), or None."""
    if not repeats.any():
        return None
    size = len(grid)
    unit = int(np.argmax(repeats.any(1)))
    cells = sudoku_units(size)[unit]
    tokens = grid.reshape(-1)[cells]
    later = next(k for k in range(size) if repeats[unit, k] and tokens[k] in tokens[:k])
    (r0, c0), (r, c) = (divmod(int(cells[k]), size) for k in (int(np.argmax(tokens == tokens[later])), later))
    digit = tokens[later] - 1
    return f"{_sudoku_unit_name(size, unit)} has two {digit}s (row {r0}, column {c0} and row {r}, column {c})"


def _sudoku_solution_problem(puzzle, answer, given_repeats, check: SudokuCheck, index: int) -> str | None:
    unsolvable = _sudoku_repeat_problem(puzzle, given_repeats)
    if unsolvable is not None:
        return f"the puzzle has no solution: {unsolvable}"
    for r, c in np.argwhere(check.not_digit[index]):
        return f"row {r}, column {c} is not a digit"
    for r, c in np.argwhere(check.changed[index]):
        return f"row {r}, column {c} changes the given {puzzle[r, c] - 1} to {answer[r, c] - 1}"
    return _sudoku_repeat_problem(answer, check.repeats[index])


def maze_solution_problems(questions, answers) -> list[str | None]:
    """Per maze (token grids ``[B, h, w]``), None where the answer marks a shortest route, else what is wrong:
    the maze rules of `PuzzleProcessor.check_solution`, also what a Maze-Hard CSV's records are checked by."""
    check = check_mazes(questions, answers)
    return [_maze_solution_problem(question, answer, check, i)
            for i, (question, answer) in enumerate(zip(np.asarray(questions), np.asarray(answers)))]


def _maze_givens_problem(question, check: MazeCheck, index: int) -> str | None:
    for r, c in np.argwhere(check.given_path[index]):
        return f"row {r}, column {c} is a path cell 'o'; a maze question has only '#', ' ', 'S' and 'G'"
    for count, name in ((check.starts[index], "start 'S'"), (check.goals[index], "goal 'G'")):
        if count != 1:
            return f"a maze needs exactly one {name}, this one has {count}"
    if check.shortest[index] < 0:
        r, c = np.argwhere(question == MAZE_GOAL_ID)[0]
        return f"the goal 'G' at row {r}, column {c} cannot be reached from 'S' through open cells"
    return None


def _maze_solution_problem(question, answer, check: MazeCheck, index: int) -> str | None:
    unsolvable = _maze_givens_problem(question, check, index)
    if unsolvable is not None:
        return f"the puzzle has no solution: {unsolvable}"
    for r, c in np.argwhere(check.changed[index]):
        return f"row {r}, column {c} changes {_maze_char(question[r, c])!r} to {_maze_char(answer[r, c])!r}"
    if not check.connected[index]:
        return "the path cells 'o' do not connect 'S' to 'G'"
    for r, c in np.argwhere(check.stray[index]):
        return f"the path cell at row {r}, column {c} is not connected to the path"
    if not check.shortest_path[index]:  # a valid path by now, so only its length can be wrong
        problem = (f"the path has {check.path_cells[index]} cells 'o'; a shortest route from 'S' to 'G' passes "
                   f"{check.shortest[index] - 1}")
        for r, c in np.argwhere(check.detour[index]):  # none where the extra cells all lie on other shortest routes
            return f"{problem}, and none passes row {r}, column {c}"
        return problem
    return None


PUZZLE_ROW_OR_COLUMN = re.compile(r"\b(puzzles?|rows?|columns?) (\d+)(?:-(\d+))?")


def one_based(message: str) -> str:
    """This module's messages count puzzles, rows and columns from 0, as Python indexes them; people count from
    1, so what ``trm solve``, ``trm demo`` and ``trm train``'s sample print passes through here: "puzzle 0: row 0,
    column 2" -> "puzzle 1: row 1, column 3", "rows 0-1" -> "rows 1-2"; counts ("needs 5 rows") stay."""
    def shift(match: re.Match) -> str:
        word, first, last = match.groups()
        return f"{word} {int(first) + 1}" + (f"-{int(last) + 1}" if last else "")

    return PUZZLE_ROW_OR_COLUMN.sub(shift, message)


def _maze_char(token: int) -> str:
    return MAZE_CHARS[token - 1] if 1 <= token <= len(MAZE_CHARS) else "?"


def _chars_to_ids(cells: str, id_of_char: dict[str, int], width: int, where: str, allowed: str) -> np.ndarray:
    """Row-major characters of a grid `width` wide -> ids, naming the first unknown character's cell."""
    ids = np.array([id_of_char.get(char, -1) for char in cells], dtype=np.int64)
    if (ids < 0).any():
        p = int(np.flatnonzero(ids < 0)[0])
        raise ValueError(f"{where}: unknown character {cells[p]!r} at row {p // width}, column {p % width} (use {allowed}).")
    return ids


def _is_scalar(value) -> bool:
    return isinstance(value, int | np.integer)


def _is_row(value) -> bool:
    return isinstance(value, Sequence | np.ndarray) and not isinstance(value, str)


def _int_grid(grid, where: str) -> np.ndarray:
    """Cells as an int64 array, with clear errors for ragged rows and non-integer cells."""
    if _is_row(grid) and len(grid) and _is_row(grid[0]):
        for r, row in enumerate(grid):
            if not _is_row(row) or len(row) != len(grid[0]):
                length = len(row) if _is_row(row) else "a scalar"
                raise ValueError(f"{where}: ragged rows: row 0 has {len(grid[0])} cells but row {r} has {length}.")
    array = np.asarray(grid)
    if array.dtype.kind not in "iu":
        raise ValueError(f"{where}: expected integer cells, got {array.dtype} values.")
    return array.astype(np.int64)


__all__ = ["PuzzleProcessor"]
