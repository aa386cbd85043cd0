"""Maze-Hard CSV reader (any shortest path is accepted, anything else named), numba generator."""

import numpy as np
import pytest

from hub_datasets.maze import CHARSET, PATH, generate_mazes, maze_errors, read_maze_csv, write_maze_csv

HEADER = "source,question,answer,rating\n"
# 4x4: S top-left, G bottom-right, one wall; shortest path = 6 moves, many of them
Q = "".join(["S   ", " #  ", "    ", "   G"])
A1 = "".join(["Sooo", " # o", "   o", "   G"])  # along the top and right edge
A2 = "".join(["S   ", "o#  ", "oooo", "   G"])  # another shortest path
LONG = "".join(["Sooo", " #oo", "  oo", "   G"])  # too many o cells


def write(tmp_path, rows):
    path = tmp_path / "maze.csv"
    path.write_text(HEADER + "".join(r + "\n" for r in rows))
    return path


def test_any_shortest_path_is_a_valid_answer(tmp_path):
    records = read_maze_csv(write(tmp_path, [f"x,{Q},{A1},6", f"x,{Q},{A2},6"]))
    assert records.questions.shape == (2, 4, 4) and records.ratings.tolist() == [6, 6]
    assert (records.answers[1] == PATH).sum() == 5


@pytest.mark.parametrize("answer, rating, message", [
    (LONG, 6, "line 2: the path has 7 cells 'o'; a shortest route from 'S' to 'G' passes 5"),
    ("".join(["So  ", " # o", " ooo", "   G"]), 6, "line 2: the path cells 'o' do not connect 'S' to 'G'"),
    ("".join(["Sooo", " # o", "   o", "  #G"]), 6, "line 2: row 3, column 2 changes ' ' to '#'"),
    (A1, 7, "line 2: rating 7 is not the shortest path length 6"),
    (A1[:-1] + "x", 6, "line 2: invalid character 'x' in answer at position 15"),
    (A1[:-1], 6, "line 2: question and answer must have 16 characters, got 16 and 15"),
])
def test_bad_answers_are_named(tmp_path, answer, rating, message):
    path = write(tmp_path, [f"x,{Q},{answer},{rating}"])
    with pytest.raises(ValueError, match=message):
        read_maze_csv(path)
    assert read_maze_csv(write(tmp_path, [f"x,{Q},{A1},6", f"x,{Q},{answer},{rating}"]), on_error="skip").num_skipped == 1


def test_questions_need_one_start_and_a_reachable_goal(tmp_path):
    with pytest.raises(ValueError, match="line 2: the puzzle has no solution: a maze needs exactly one start 'S', this one has 2"):
        read_maze_csv(write(tmp_path, [f"x,{'SS' + Q[2:]},{'SS' + A1[2:]},6"]))
    walled = "".join(["S#  ", "##  ", "    ", "   G"])
    with pytest.raises(ValueError, match="the goal 'G' at row 3, column 3 cannot be reached from 'S' through open cells"):
        read_maze_csv(write(tmp_path, [f"x,{walled},{walled},6"]))


def test_shared_maze_hard_stand_in_is_valid(external_data_dir):
    records = read_maze_csv(external_data_dir / "maze" / "test.csv")
    assert len(records) == 1000 and records.questions.shape[1:] == (30, 30)
    assert records.ratings.min() > 110


def test_generator_is_seeded_and_every_maze_is_hard_enough(tmp_path):
    mazes = generate_mazes(30, size=9, min_moves=14, seed=5)
    np.testing.assert_array_equal(mazes.questions, generate_mazes(30, size=9, min_moves=14, seed=5).questions)
    assert (mazes.ratings > 14).all()
    assert maze_errors(mazes.questions, mazes.answers) == [None] * 30
    walls = (mazes.questions == CHARSET.index("#")).sum((1, 2))
    assert ((walls >= 3 * 8) & (walls <= 5 * 8)).all()  # Searchformer's wall range for 81 cells
    path = tmp_path / "m.csv"
    write_maze_csv(path, mazes)
    np.testing.assert_array_equal(read_maze_csv(path).answers, mazes.answers)
    with pytest.raises(ValueError, match="cannot generate"):
        generate_mazes(1, size=3, min_moves=9)


def _count_shortest_paths(question: np.ndarray) -> int:
    """Breadth-first search from S counting the shortest paths into every cell (plain Python)."""
    size = question.shape[0]
    start = tuple(np.argwhere(question == CHARSET.index("S"))[0])
    goal = tuple(np.argwhere(question == CHARSET.index("G"))[0])
    dist, count, frontier = {start: 0}, {start: 1}, [start]
    while frontier:
        following = []
        for r, c in frontier:
            for nxt in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
                if not (0 <= nxt[0] < size and 0 <= nxt[1] < size) or question[nxt] == CHARSET.index("#"):
                    continue
                if nxt not in dist:
                    dist[nxt], count[nxt] = dist[(r, c)] + 1, 0
                    following.append(nxt)
                if dist[nxt] == dist[(r, c)] + 1:
                    count[nxt] += count[(r, c)]
        frontier = following
    return count[goal]


def test_unique_path_mazes_have_exactly_one_shortest_path():
    plain = generate_mazes(40, size=11, min_moves=20, seed=3)
    assert max(_count_shortest_paths(q) for q in plain.questions) > 1  # random walls usually leave several
    unique = generate_mazes(40, size=11, min_moves=20, seed=3, unique_path=True)
    assert [_count_shortest_paths(q) for q in unique.questions] == [1] * 40
    assert maze_errors(unique.questions, unique.answers) == [None] * 40
    assert (unique.ratings > 20).all()
