"""Sudoku-Extreme CSV reader (validation, error messages), DPLL solver/rater and generator."""

import gzip

import numpy as np
import pytest

from hub_datasets.sudoku import (
    SudokuSolver,
    difficulty_band,
    generate_sudoku,
    rate_sudokus,
    read_sudoku_csv,
    write_sudoku_csv,
)

HEADER = "source,question,answer,rating\n"
QUESTION = ".1....2..92..4..5...5....4.1....8.....2.9.4..3..........9.561.....7...6...1.2.5.8"
ANSWER = "416537289928641753735289641197468325862395417354172896279856134583714962641923578"


def write(tmp_path, rows, name="train.csv"):
    path = tmp_path / name
    path.write_text(HEADER + "".join(r + "\n" for r in rows))
    return path


def test_reads_plain_and_gzip_csv_into_grids(tmp_path):
    path = write(tmp_path, [f"src,{QUESTION},{ANSWER},98"] * 3)
    gz = tmp_path / "test.csv.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    for p in (path, gz):
        records = read_sudoku_csv(p)
        assert records.questions.shape == (3, 9, 9) and records.questions.dtype == np.uint8
        assert records.questions[0, 0].tolist() == [0, 1, 0, 0, 0, 0, 2, 0, 0]
        assert records.answers[0, 0].tolist() == [4, 1, 6, 5, 3, 7, 2, 8, 9]
        assert records.ratings.tolist() == [98, 98, 98] and records.names[1].endswith(":3")


@pytest.mark.parametrize("row, message", [
    (f"src,{QUESTION},{ANSWER}", "line 3: expected 4 fields"),  # truncated record
    (f"src,{QUESTION[:-1]},{ANSWER},1", "line 3: question and answer must have 81 characters, got 80 and 81"),
    (f"src,{QUESTION[:-1]}x,{ANSWER},1", "line 3: invalid character 'x' in question"),
    (f"src,{QUESTION},{ANSWER[:-1]}.,1", "line 3: invalid character '.' in answer"),
    (f"src,{QUESTION},{ANSWER[:-2]}87,1", r"line 3: answer (box|column|row) \d is \[.*\], not a permutation of 1..9"),  # breaks a rule
    (f"src,{QUESTION},{ANSWER},lots", "line 3: rating must be an integer"),
])
def test_bad_records_name_file_line_and_problem(tmp_path, row, message):
    path = write(tmp_path, [f"src,{QUESTION},{ANSWER},1", row])
    with pytest.raises(ValueError, match=f"{path.name}, {message}"):
        read_sudoku_csv(path)
    records = read_sudoku_csv(path, on_error="skip")
    assert len(records) == 1 and records.num_skipped == 1


def test_answer_inconsistent_with_the_givens_is_rejected(tmp_path):
    # a valid grid (digits 1 and 2 swapped everywhere) that contradicts the question's givens
    swapped = ANSWER.translate(str.maketrans("12", "21"))
    path = write(tmp_path, [f"src,{QUESTION},{swapped},0"])
    with pytest.raises(ValueError, match=r"line 2: answer has 2 at row 1, column 2 where the question gives 1"):
        read_sudoku_csv(path)


def test_bad_header_and_unknown_on_error(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("question,answer\n")
    with pytest.raises(ValueError, match="line 1: header must be source,question,answer,rating"):
        read_sudoku_csv(path)
    with pytest.raises(ValueError, match="on_error"):
        read_sudoku_csv(path, on_error="ignore")


def test_extreme_like_sample_reads_and_solver_agrees_with_every_answer(external_data_dir):
    records = read_sudoku_csv(external_data_dir / "sudoku" / "extreme_like" / "test_1k.csv")
    assert len(records) == 1000 and records.num_skipped == 0
    solver = SudokuSolver(9)
    for q, a in zip(records.questions[:100], records.answers[:100]):
        found, solution, _ = solver.solve(q, limit=2)
        assert found == 1 and (solution == a).all()
    # rated puzzles: a puzzle tdoku solves without guessing needs few guesses here too
    easy = records.questions[records.ratings == 0][:20]
    hard = records.questions[records.ratings >= 50][:20]
    assert np.mean([solver.rating(q) for q in easy]) < np.mean([solver.rating(q) for q in hard])


def test_generator_is_seeded_unique_minimal_and_writes_the_csv_format(tmp_path):
    records = generate_sudoku(12, size=9, seed=3)
    again = generate_sudoku(12, size=9, seed=3)
    np.testing.assert_array_equal(records.questions, again.questions)
    assert not np.array_equal(records.questions, generate_sudoku(12, size=9, seed=4).questions)
    solver = SudokuSolver(9)
    for q, a, rating in zip(records.questions, records.answers, records.ratings):
        found, solution, _ = solver.solve(q, limit=2)
        assert found == 1 and (solution == a).all() and rating == solver.rating(q)
        for cell in np.flatnonzero(q.ravel())[:5]:  # minimal: removing any clue breaks uniqueness
            reduced = q.ravel().copy()
            reduced[cell] = 0
            assert not solver.is_unique(reduced)
    path = tmp_path / "gen.csv"
    write_sudoku_csv(path, records)
    back = read_sudoku_csv(path)
    np.testing.assert_array_equal(back.questions, records.questions)
    np.testing.assert_array_equal(back.ratings, records.ratings)


def test_every_rating_falls_in_exactly_one_difficulty_band():
    assert [difficulty_band(r) for r in (0, 1, 2, 3, 9, 10, 500)] == [
        "0 guesses", "1-2 guesses", "1-2 guesses", "3-9 guesses", "3-9 guesses", ">= 10 guesses", ">= 10 guesses"]
    with pytest.raises(ValueError, match="got -1"):
        difficulty_band(-1)


def test_a_batch_is_rated_puzzle_by_puzzle():
    records = generate_sudoku(12, size=9, seed=3)
    np.testing.assert_array_equal(rate_sudokus(records.questions), records.ratings)
    assert rate_sudokus(records.answers[:1]).tolist() == [0]  # a solved grid needs no guess


def test_generator_difficulty_window_and_small_sizes():
    hard = generate_sudoku(2, size=9, seed=0, min_difficulty=5)
    assert (hard.ratings >= 5).all()
    easy = generate_sudoku(5, size=9, seed=0, max_difficulty=0)
    assert (easy.ratings == 0).all()
    small = generate_sudoku(40, size=4, seed=0)
    assert small.questions.shape == (40, 4, 4) and small.answers.max() == 4
    assert len({q.tobytes() for q in small.questions}) == 40  # never repeats a puzzle
