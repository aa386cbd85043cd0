"""PuzzleProcessor: the official vocabularies, ARC canvas/crop, puzzle names, validation, save/load."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
from transformers import AutoProcessor

from modeling_trm.processing_trm import PuzzleProcessor, arc_canvas, crop_arc_grid, one_based

SUDOKU = "..3.2.6..9..3.5..1..18.64....81.29..7.......8..67.82....26.95..8..2.3..9..5.1.3.."
SUDOKU_SOLUTION = "483921657967345821251876493548132976729564138136798245372689514814253769695417382"


def small_maze(size: int = 4) -> list[str]:
    return ["####", "#S #", "# G#", "####"][:size]


# ---------------------------------------------------------------------------------------------------
# sudoku


def test_sudoku_vocabulary_blank_is_1_and_digit_d_is_d_plus_1():
    processor = PuzzleProcessor("sudoku")
    batch = processor(SUDOKU)
    ids = batch["input_ids"]
    assert ids.shape == (1, 81) and ids.dtype == torch.int64
    assert batch["puzzle_ids"].tolist() == [0]
    expected = [1 if ch == "." else int(ch) + 1 for ch in SUDOKU]
    assert ids[0].tolist() == expected
    assert processor.vocab_size == 11 and processor.seq_len == 81


def test_sudoku_accepts_zero_blanks_lists_and_grids_equally():
    processor = PuzzleProcessor("sudoku")
    digits = np.array([0 if ch == "." else int(ch) for ch in SUDOKU])
    forms = [
        SUDOKU.replace(".", "0"),
        "\n".join(SUDOKU[i : i + 9] for i in range(0, 81, 9)),  # whitespace between rows is layout only
        digits.tolist(),
        digits.reshape(9, 9),
        digits.reshape(9, 9).tolist(),
    ]
    reference = processor(SUDOKU, return_tensors="np")["input_ids"]
    for form in forms:
        np.testing.assert_array_equal(processor(form, return_tensors="np")["input_ids"], reference)
    # a batch: list of strings, or an array with a leading batch axis
    batch = processor([SUDOKU, SUDOKU_SOLUTION], return_tensors="np")["input_ids"]
    assert batch.shape == (2, 81) and isinstance(batch, np.ndarray)
    np.testing.assert_array_equal(processor(np.stack([digits, digits]).reshape(2, 9, 9), return_tensors="np")["input_ids"][1], reference[0])


def test_sudoku_labels_and_decode_round_trip():
    processor = PuzzleProcessor("sudoku")
    batch = processor([SUDOKU], solutions=[SUDOKU_SOLUTION])
    assert batch["labels"][0].tolist() == [int(ch) + 1 for ch in SUDOKU_SOLUTION]
    grid = processor.decode(batch["labels"])[0]
    assert grid.shape == (9, 9)
    assert "".join(map(str, grid.reshape(-1))) == SUDOKU_SOLUTION
    one = processor.decode(batch["input_ids"][0])  # a single sequence decodes to a single grid
    assert one[0, 2] == 3 and one[0, 0] == 0
    text = processor.to_text(one)
    assert text.splitlines()[0] == ". . 3 | . 2 . | 6 . ." and text.splitlines()[3] == "------+-------+------"


@pytest.mark.parametrize(
    "puzzle, message",
    [
        (SUDOKU[:80], "puzzle 1: a 9x9 sudoku string needs 81 cells, got 80"),
        (SUDOKU[:40] + "x" + SUDOKU[41:], r"puzzle 1: unknown character 'x' at row 4, column 4"),
        ([[1] * 9] * 8, r"puzzle 1: a sudoku needs 81 cells \(9x9\), got shape \(8, 9\)"),
        ([[1] * 9] * 8 + [[1] * 8], "puzzle 1: ragged rows: row 0 has 9 cells but row 8 has 8"),
        ([0] * 80 + [12], "puzzle 1: value 12 at row 8, column 8 is not a digit 0-9"),
    ],
)
def test_sudoku_bad_input_names_the_puzzle_and_cell(puzzle, message):
    with pytest.raises(ValueError, match=message):
        PuzzleProcessor("sudoku")([SUDOKU, puzzle])


def test_sudoku_solution_with_blank_is_rejected():
    with pytest.raises(ValueError, match="solution 0: a solution has no blanks, but row 0, column 0 is blank"):
        PuzzleProcessor("sudoku").encode_labels([SUDOKU])


# ---------------------------------------------------------------------------------------------------
# maze


def test_maze_vocabulary_and_forms():
    processor = PuzzleProcessor("maze", grid_size=4)
    maze = small_maze()
    ids = processor(maze, return_tensors="np")["input_ids"]
    assert ids.shape == (1, 16)
    assert ids[0].tolist() == [1, 1, 1, 1, 1, 3, 2, 1, 1, 2, 4, 1, 1, 1, 1, 1]
    for form in ["\n".join(maze), "".join(maze), np.array([list(row) for row in maze])]:
        np.testing.assert_array_equal(processor(form, return_tensors="np")["input_ids"], ids)
    two = processor(["\n".join(maze), "".join(maze)], return_tensors="np")["input_ids"]
    assert two.shape == (2, 16)
    solved = ["####", "#So#", "#oG#", "####"]
    labels = processor.encode_labels(solved, return_tensors="np")
    assert labels[0].tolist()[5:7] == [3, 5] and labels.min() >= 1  # no ignored positions in mazes
    decoded = processor.decode(labels)[0]
    assert ["".join(row) for row in decoded] == solved
    assert processor.to_text(decoded) == "\n".join(solved)
    assert PuzzleProcessor("maze").seq_len == 900 and PuzzleProcessor("maze").vocab_size == 6


@pytest.mark.parametrize(
    "maze, message",
    [
        (["####", "#S #", "# X#", "####"], "puzzle 0: unknown character 'X' at row 2, column 2"),
        (["####", "#S #", "# G", "####"], "puzzle 0: row 2 has 3 cells, expected 4"),
        (["####", "#S #", "####"], "puzzle 0: a maze needs 4 rows, got 3"),
    ],
)
def test_maze_bad_input(maze, message):
    with pytest.raises(ValueError, match=message):
        PuzzleProcessor("maze", grid_size=4)(maze)


# ---------------------------------------------------------------------------------------------------
# ARC


def test_arc_canvas_matches_the_official_encoding_and_crop(reference_dir):
    example = json.loads((reference_dir / "functions" / "data_functions.json").read_text())["arc_encode_example"]
    processor = PuzzleProcessor("arc")
    inputs = processor([example["input_grid"], example["output_grid"]], return_tensors="np")["input_ids"]
    canvas_in, canvas_out = inputs.reshape(2, 30, 30)
    assert canvas_in[:4, :6].tolist() == example["encoded_input_first_4_rows_of_30x30"]
    assert canvas_out[:5, :6].tolist() == example["encoded_output_first_5_rows_of_30x30"]
    assert np.count_nonzero(canvas_in) == example["encoded_input_nonzero_count"]
    assert np.count_nonzero(canvas_out) == example["encoded_output_nonzero_count"]
    assert processor.decode(inputs)[1].tolist() == example["crop(encoded_output)"]
    assert processor.decode(inputs)[0].tolist() == example["input_grid"]
    # labels: PAD ignored (-100), EOS supervised
    labels = processor.encode_labels([example["output_grid"]], return_tensors="np").reshape(30, 30)
    assert labels[4, 2] == -100 and labels[0, 2] == 1 and labels[4, 0] == 1 and labels[0, 0] == 9
    assert (labels == -100).sum() == 900 - example["encoded_output_nonzero_count"]


def test_arc_full_canvas_has_no_eos_and_crop_follows_the_official_scan():
    processor = PuzzleProcessor("arc")
    full = np.arange(900).reshape(30, 30) % 10
    ids = processor(full, return_tensors="np")["input_ids"]
    assert ids.min() >= 2  # a 30x30 grid leaves no room for EOS
    np.testing.assert_array_equal(processor.decode(ids)[0], full)
    # the crop keeps the largest top-left block of colour tokens; the running width never grows
    canvas = np.zeros((30, 30), dtype=np.int64)
    canvas[0, :5] = 2  # 1x5 (area 5)
    canvas[1, :3] = 3  # width shrinks to 3: 2x3 (area 6, the best)
    canvas[2, :6] = 4  # width cannot grow back: 3x3 (area 9, the best)
    canvas[3, :1] = 5  # 4x1 (area 4)
    assert processor.decode(canvas.reshape(-1)).tolist() == (canvas[:3, :3] - 2).tolist()
    canvas[0, 0] = 1  # EOS in the corner: nothing to crop
    assert processor.decode(canvas.reshape(-1)).shape == (0, 0)



def _official_canvas(grid: np.ndarray, pad_r: int, pad_c: int) -> np.ndarray:
    """The official builder's encoding (``np_grid_to_seq_translational_augment``), transcribed."""
    nrow, ncol = grid.shape
    canvas = np.pad(grid + 2, ((pad_r, 30 - pad_r - nrow), (pad_c, 30 - pad_c - ncol)), constant_values=0)
    eos_row, eos_col = pad_r + nrow, pad_c + ncol
    if eos_row < 30:
        canvas[eos_row, pad_c:eos_col] = 1
    if eos_col < 30:
        canvas[pad_r:eos_row, eos_col] = 1
    return canvas.reshape(-1)


def _official_crop(canvas: np.ndarray) -> np.ndarray:
    """The official evaluator's ``_crop`` (``evaluators/arc.py``), transcribed loop for loop."""
    grid = canvas.reshape(30, 30)
    max_area, max_size, num_c = 0, (0, 0), 30
    for num_r in range(1, 31):
        for c in range(1, num_c + 1):
            x = grid[num_r - 1, c - 1]
            if (x < 2) | (x > 11):
                num_c = c - 1
                break
        if num_r * num_c > max_area:
            max_area, max_size = num_r * num_c, (num_r, num_c)
    return (grid[: max_size[0], : max_size[1]] - 2).astype(np.uint8)


def test_arc_canvas_equals_the_official_encoder_at_every_offset_and_size():
    """`arc_canvas` (used by the dataset builder, the processor and the benchmarks) against the
    official encoder, for random grid sizes (up to 30x30: no room for EOS) and offsets (grids
    touching the right/bottom border lose their EOS column/row)."""
    rng = np.random.default_rng(0)
    for _ in range(200):
        height, width = rng.integers(1, 31, size=2)
        grids = rng.integers(0, 10, size=(3, height, width)).astype(np.uint8)
        offsets = np.stack([rng.integers(0, 31 - height, size=3), rng.integers(0, 31 - width, size=3)], axis=1)
        expected = [_official_canvas(g, r, c) for g, (r, c) in zip(grids, offsets)]
        np.testing.assert_array_equal(arc_canvas(grids, offsets), np.stack(expected))
        np.testing.assert_array_equal(arc_canvas(grids), np.stack([_official_canvas(g, 0, 0) for g in grids]))


def test_crop_equals_the_official_scan_on_random_canvases():
    """The one crop (`crop_arc_grid`: processor decode, dataset decode, ARC voting) against the
    official loop, on canvases with EOS at random places, PAD/EOS holes and noise beyond the grid."""
    rng = np.random.default_rng(1)
    for _ in range(500):
        height, width = rng.integers(1, 31, size=2)
        canvas = _official_canvas(rng.integers(0, 10, size=(height, width)).astype(np.uint8), 0, 0).reshape(30, 30)
        canvas[rng.random((30, 30)) < rng.choice([0.0, 0.002, 0.02])] = rng.integers(0, 2)  # PAD/EOS holes
        if rng.random() < 0.5:  # garbage beyond the EOS row/column
            canvas[height + 1:, :] = rng.integers(0, 12, size=canvas[height + 1:, :].shape)
        expected = _official_crop(canvas.reshape(-1))
        actual = crop_arc_grid(canvas.reshape(-1))
        assert actual.dtype == np.uint8 and actual.shape == expected.shape
        np.testing.assert_array_equal(actual, expected)


def test_each_puzzle_rule_has_one_definition_in_the_library():
    """The ignored-label id, the Sudoku box shapes, the ARC canvas, crop and grid hash are defined in
    `modeling_trm.processing_trm` only; the datasets, training and the model import them."""
    import ast
    import pathlib

    import hub_datasets.augment
    import hub_datasets.builders
    import hub_datasets.metadata
    import modeling_trm.modeling_trm
    import training.metrics
    from modeling_trm import processing_trm

    shared = {"IGNORE_LABEL_ID", "SUDOKU_BOX_SHAPES", "ARC_CANVAS_SIZE", "arc_canvas", "crop_arc_grid", "grid_hash"}
    root = pathlib.Path(processing_trm.__file__).resolve().parents[1]
    for package in ("modeling_trm", "hub_datasets", "training", "model_cards"):
        for path in (root / package).rglob("*.py"):
            # the evaluate module scripts travel to the Hub alone and carry their own copies;
            # tests/training/test_evaluate_modules.py checks that they agree with the library
            if path.name == "processing_trm.py" or "evaluate_modules" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                names = [node.name] if isinstance(node, ast.FunctionDef | ast.ClassDef) else [
                    target.id for target in getattr(node, "targets", [getattr(node, "target", None)])
                    if isinstance(target, ast.Name)] if isinstance(node, ast.Assign | ast.AnnAssign) else []
                assert not shared & set(names), f"{path.relative_to(root)} defines its own {shared & set(names)}"
    assert training.metrics.crop_arc_grid is processing_trm.crop_arc_grid
    assert training.metrics.grid_hash is processing_trm.grid_hash
    assert hub_datasets.builders.crop_arc_grid is processing_trm.crop_arc_grid
    assert hub_datasets.augment.SUDOKU_BOX_SHAPES is processing_trm.SUDOKU_BOX_SHAPES
    for module in (modeling_trm.modeling_trm, training.metrics, hub_datasets.builders):
        assert module.IGNORE_LABEL_ID == processing_trm.IGNORE_LABEL_ID == -100
    assert hub_datasets.metadata.PuzzleDatasetMetadata.__dataclass_fields__["ignore_label_id"].default == -100


@pytest.mark.parametrize(
    "grid, message",
    [
        ([[1, 2], [3, 10]], "puzzle 1: colour 10 at row 1, column 1 is outside 0-9"),
        ([[1, 2], [3]], "puzzle 1: ragged rows: row 0 has 2 cells but row 1 has 1"),
        ([[0] * 31], "puzzle 1: grid is 1x31, larger than the 30x30 canvas"),
        ([[0.5, 1]], "puzzle 1: expected integer cells"),
    ],
)
def test_arc_bad_input(grid, message):
    with pytest.raises(ValueError, match=message):
        PuzzleProcessor("arc")([[[1]], grid])


def test_arc_puzzle_names_map_to_identifier_rows_and_unknown_names_warn():
    processor = PuzzleProcessor("arc", puzzle_identifiers=["<blank>", "007bbfc7", "00d62c1b"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        batch = processor([[[1]], [[2]]], puzzle_names=["00d62c1b", "007bbfc7"])
    assert batch["puzzle_ids"].tolist() == [2, 1]
    with pytest.warns(UserWarning, match="'not-a-task'"):
        batch = processor([[[1]], [[2]]], puzzle_names=["007bbfc7", "not-a-task"])
    assert batch["puzzle_ids"].tolist() == [1, 0]
    with pytest.raises(ValueError, match="Got 2 puzzles but 1 puzzle_names"):
        processor([[[1]], [[2]]], puzzle_names=["007bbfc7"])
    with pytest.raises(ValueError, match="puzzle_identifiers\\[0\\] must be the blank identifier"):
        PuzzleProcessor("arc", puzzle_identifiers=["007bbfc7"])


def test_unknown_task_and_bad_grid_size():
    with pytest.raises(ValueError, match="Unknown task 'chess'"):
        PuzzleProcessor("chess")
    with pytest.raises(ValueError, match=r"Sudoku grid_size must be one of \[4, 6, 8, 9\]; got grid_size=7"):
        PuzzleProcessor("sudoku", grid_size=7)


# ---------------------------------------------------------------------------------------------------
# save / load


def test_save_pretrained_and_auto_processor_round_trip(tmp_path):
    import modeling_trm  # noqa: F401  (registers PuzzleProcessor with AutoProcessor)

    processor = PuzzleProcessor("arc", grid_size=20, puzzle_identifiers=["<blank>", "a", "b"])
    processor.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "processor_config.json").read_text())
    assert saved["task"] == "arc" and saved["grid_size"] == 20 and saved["puzzle_identifiers"] == ["<blank>", "a", "b"]
    assert saved["auto_map"] == {"AutoProcessor": "processing_trm.PuzzleProcessor"}
    assert (tmp_path / "processing_trm.py").is_file()
    for loaded in (PuzzleProcessor.from_pretrained(tmp_path), AutoProcessor.from_pretrained(tmp_path)):
        assert isinstance(loaded, PuzzleProcessor)
        assert (loaded.task, loaded.grid_size, loaded.seq_len) == ("arc", 20, 400)
        assert loaded([[[3]]], puzzle_names=["b"])["puzzle_ids"].tolist() == [2]


@pytest.mark.parametrize("size, box", [(4, (2, 2)), (6, (2, 3))])
def test_small_sudoku_sizes_round_trip_with_their_own_vocabulary(size, box, tmp_path):
    processor = PuzzleProcessor("sudoku", grid_size=size)
    rng = np.random.default_rng(size)
    rows, cols = np.indices((size, size))
    solution = (rows * box[1] + rows // box[0] + cols) % size + 1  # the textbook pattern of a full grid
    grid = np.where(rng.random((size, size)) < 0.5, 0, solution)  # blanks where the givens cannot clash
    encoded = processor([grid], return_tensors="np")["input_ids"]
    assert encoded.shape == (1, size * size)
    assert processor.vocab_size == size + 2 and encoded.max() <= size + 1
    np.testing.assert_array_equal(processor.decode(encoded)[0], grid)
    text = processor.to_text(grid)  # box separators every box[0] rows and box[1] columns
    assert text.count("+") == (size // box[0] - 1) * (size // box[1] - 1)
    processor.save_pretrained(tmp_path)
    reloaded = PuzzleProcessor.from_pretrained(tmp_path)
    assert reloaded.grid_size == size and reloaded.vocab_size == size + 2


def test_small_sudoku_errors_name_the_position():
    processor = PuzzleProcessor("sudoku", grid_size=6)
    with pytest.raises(ValueError, match=r"puzzle 0: value 7 at row 1, column 2 is not a digit 0-6"):
        processor(["......" + "..7..." + "." * 24])
    with pytest.raises(ValueError, match=r"6x6 sudoku string needs 36 cells, got 35"):
        processor(["." * 35])
    with pytest.raises(ValueError, match=r"grid_size must be one of \[4, 6, 8, 9\]"):
        PuzzleProcessor("sudoku", grid_size=5)


# ---------------------------------------------------------------------------------------------------
# the rules: contradictory givens are refused, answers are checked


@pytest.mark.parametrize(
    "puzzle, message",
    [
        (SUDOKU[:4] + "3" + SUDOKU[5:], r"row 0 has two 3s \(row 0, column 2 and row 0, column 4\)"),
        (SUDOKU[:18] + "3" + SUDOKU[19:], r"the box of rows 0-2, columns 0-2 has two 3s \(row 0, column 2 and row 2, column 0\)"),
        (SUDOKU[:38] + "2" + SUDOKU[39:], r"column 2 has two 2s \(row 4, column 2 and row 6, column 2\)"),
    ],
)
def test_contradictory_sudoku_givens_are_refused_naming_the_cells(puzzle, message):
    processor = PuzzleProcessor("sudoku")
    with pytest.raises(ValueError, match=rf"puzzle 1: {message}"):
        processor([SUDOKU, puzzle])
    assert processor.givens_problem(processor(SUDOKU)["input_ids"][0]) is None


@pytest.mark.parametrize(
    "maze, message",
    [
        (["####", "#S##", "##G#", "####"], "the goal 'G' at row 2, column 2 cannot be reached from 'S'"),
        (["####", "#SS#", "# G#", "####"], "a maze needs exactly one start 'S', this one has 2"),
        (["####", "#S #", "#  #", "####"], "a maze needs exactly one goal 'G', this one has 0"),
        (["####", "#So#", "# G#", "####"], "row 1, column 2 is a path cell 'o'"),
    ],
)
def test_unsolvable_mazes_are_refused(maze, message):
    with pytest.raises(ValueError, match=rf"puzzle 0: {message}"):
        PuzzleProcessor("maze", grid_size=4)([maze])


def test_messages_count_from_zero_and_one_based_counts_as_a_person_does():
    """The processor counts puzzles, rows and columns as Python indexes them; what people read (``trm solve``,
    ``trm demo``, ``trm train``'s sample) passes through `one_based`, which shifts those numbers and nothing else."""
    with pytest.raises(ValueError) as refused:
        PuzzleProcessor("sudoku", grid_size=6)(["." * 36, "5.5" + "." * 33])  # the second: two 5s in the top row
    assert str(refused.value) == "puzzle 1: row 0 has two 5s (row 0, column 0 and row 0, column 2)."
    assert one_based(str(refused.value)) == "puzzle 2: row 1 has two 5s (row 1, column 1 and row 1, column 3)."
    assert one_based("the box of rows 0-1, columns 0-2 has two 5s (row 0, column 2 and row 1, column 0)") == (
        "the box of rows 1-2, columns 1-3 has two 5s (row 1, column 3 and row 2, column 1)")
    assert one_based("a maze needs 5 rows, got 4; a 9x9 sudoku string needs 81 cells") == (
        "a maze needs 5 rows, got 4; a 9x9 sudoku string needs 81 cells")  # counts and sizes stay as they are


def test_check_solution_sudoku():
    processor = PuzzleProcessor("sudoku")
    puzzle = processor(SUDOKU)["input_ids"]
    solution = processor.encode_labels([SUDOKU_SOLUTION])
    assert processor.check_solution(puzzle, solution) == [None]
    assert processor.check_solution(puzzle[0], solution[0]) is None  # one puzzle -> one answer
    swapped = solution.clone()  # swap two non-given cells of row 0 (columns 0 and 1): their columns clash
    swapped[0, 0], swapped[0, 1] = solution[0, 1], solution[0, 0]
    assert processor.check_solution(puzzle[0], swapped[0]) == "column 0 has two 8s (row 0, column 0 and row 7, column 0)"
    changed_given = solution.clone()
    changed_given[0, 2] = 5  # the given 3 at row 0, column 2 is now a 4
    assert processor.check_solution(puzzle[0], changed_given[0]) == "row 0, column 2 changes the given 3 to 4"
    blank = solution.clone()
    blank[0, 80] = 1  # blank token
    assert processor.check_solution(puzzle[0], blank[0]) == "row 8, column 8 is not a digit"
    with pytest.raises(ValueError, match=r"shape \[B, 81\]"):
        processor.check_solution(puzzle, solution[:, :80])
    with pytest.raises(ValueError, match="ARC tasks have no rules"):
        PuzzleProcessor("arc").check_solution(np.zeros(900), np.zeros(900))


def test_check_solution_small_sudoku_uses_its_boxes():
    processor = PuzzleProcessor("sudoku", grid_size=4)
    puzzle = processor("......34.3....2.")["input_ids"][0]
    assert processor.check_solution(puzzle, processor.encode_labels(["3412123423414123"])[0]) is None
    # rows and columns are Latin, but the 2x2 box of rows 0-1, columns 0-1 holds 2 twice
    latin = processor.encode_labels(["1234234134124123"])[0]
    assert processor.check_solution(processor("." * 16)["input_ids"][0], latin) == (
        "the box of rows 0-1, columns 0-1 has two 2s (row 0, column 1 and row 1, column 0)"
    )


def test_check_solution_maze_path():
    processor = PuzzleProcessor("maze", grid_size=5)
    maze = ["#####", "#S  #", "# # #", "#  G#", "#####"]
    puzzle = processor([maze])["input_ids"][0]

    def tokens(rows):
        return torch.tensor([MAZE_TOKEN[char] for char in "".join(rows)])

    assert processor.check_solution(puzzle, tokens(["#####", "#Soo#", "# #o#", "#  G#", "#####"])) is None
    assert processor.check_solution(puzzle, tokens(["#####", "#S  #", "#o# #", "#ooG#", "#####"])) is None
    assert processor.check_solution(puzzle, tokens(["#####", "#So #", "# #o#", "#  G#", "#####"])) == (
        "the path cells 'o' do not connect 'S' to 'G'"
    )
    assert processor.check_solution(puzzle, tokens(["#####", "#Soo#", "# #o#", "#o G#", "#####"])) == (
        "the path cell at row 3, column 1 is not connected to the path"
    )
    # a connected path is not enough: the maze's task is a shortest route (this one has 3 cells)
    assert processor.check_solution(puzzle, tokens(["#####", "#Soo#", "#o#o#", "#  G#", "#####"])) == (
        "the path has 4 cells 'o'; a shortest route from 'S' to 'G' passes 3"
    )
    assert processor.check_solution(puzzle, tokens(["#####", "#Soo#", "#o#o#", "#o G#", "#####"])) == (
        "the path has 5 cells 'o'; a shortest route from 'S' to 'G' passes 3"
    )
    assert processor.check_solution(puzzle, tokens(["#####", "#Soo#", "# oo#", "#  G#", "#####"])) == (
        "row 2, column 2 changes '#' to 'o'"
    )


MAZE_TOKEN = {char: token for token, char in enumerate("# SGo", start=1)}


def test_a_maze_path_that_takes_a_detour_names_and_marks_the_cells_no_shortest_route_passes():
    from modeling_trm.processing_trm import check_mazes

    processor = PuzzleProcessor("maze", grid_size=4)
    puzzle = processor([["S#G ", " #  ", " #  ", "    "]])["input_ids"][0]  # shortest: down, across, up (8 moves)
    detour = torch.tensor([MAZE_TOKEN[char] for char in "".join(["S#Go", "o# o", "o# o", "oooo"])])
    assert processor.check_solution(puzzle, detour) == (
        "the path has 9 cells 'o'; a shortest route from 'S' to 'G' passes 7, and none passes row 0, column 3")
    wrong = check_mazes(puzzle.reshape(1, 4, 4).numpy(), detour.reshape(1, 4, 4).numpy()).wrong_cells[0]
    assert np.argwhere(wrong).tolist() == [[0, 3], [1, 3], [2, 3], [3, 3]]  # what the demo marks in red
    shortest = torch.tensor([MAZE_TOKEN[char] for char in "".join(["S#G ", "o#o ", "o#o ", "ooo "])])
    assert processor.check_solution(puzzle, shortest) is None
    assert not check_mazes(puzzle.reshape(1, 4, 4).numpy(), shortest.reshape(1, 4, 4).numpy()).wrong_cells.any()


def test_check_solution_agrees_with_the_evaluation_metrics():
    from training.metrics import maze_path_validity, sudoku_validity_from_tokens

    processor = PuzzleProcessor("sudoku")
    puzzle = processor(SUDOKU)["input_ids"][0]
    solution = processor.encode_labels([SUDOKU_SOLUTION])[0]
    rng = np.random.default_rng(0)
    answers = [solution.clone() for _ in range(40)]
    for answer in answers[1:]:  # one to three random cells changed, some back to their own value
        answer[rng.choice(81, rng.integers(1, 4))] = torch.as_tensor(rng.integers(0, 11, 3)[:1])
    answers = torch.stack(answers)
    inputs = puzzle.expand_as(answers)
    valid = [problem is None for problem in processor.check_solution(inputs, answers)]
    assert valid == sudoku_validity_from_tokens(answers, inputs).tolist() and 0 < sum(valid) < 40

    maze = PuzzleProcessor("maze", grid_size=5)
    question = maze([["#####", "#S  #", "# # #", "#  G#", "#####"]])["input_ids"][0]
    mazes = [
        ["#####", "#Soo#", "# #o#", "#  G#", "#####"],
        ["#####", "#So #", "# #o#", "#  G#", "#####"],
        ["#####", "#Soo#", "# #o#", "#o G#", "#####"],
        ["#####", "#Soo#", "# oo#", "#  G#", "#####"],
        ["#####", "#S  #", "#o# #", "#ooG#", "#####"],
        ["#####", "#Soo#", "#o#o#", "#o G#", "#####"],  # connected, but not a shortest route
    ]
    answers = torch.stack([torch.tensor([MAZE_TOKEN[char] for char in "".join(rows)]) for rows in mazes])
    valid = [problem is None for problem in maze.check_solution(question.expand_as(answers), answers)]
    metrics = maze_path_validity(answers, question.expand_as(answers), (5, 5))
    assert valid == metrics["shortest_path"].tolist() == [True, False, False, False, True, False]
    assert metrics["valid_path"].tolist() == [True, False, False, False, True, True]
