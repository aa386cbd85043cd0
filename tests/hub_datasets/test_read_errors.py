"""Broken source files and recipe options are refused with the file, field or option named."""

from __future__ import annotations

import gzip
import json

import pytest

from hub_datasets import build_dataset
from hub_datasets.arc import read_arc_subset
from hub_datasets.maze import generate_mazes, read_maze_csv, write_maze_csv
from hub_datasets.sudoku import generate_sudoku, read_sudoku_csv, write_sudoku_csv


def _truncated_gzip(path, text: str) -> None:
    data = gzip.compress(text.encode())
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("kind", ["sudoku", "maze"])
def test_a_truncated_csv_gz_is_named(tmp_path, kind):
    plain = tmp_path / "train.csv"
    if kind == "sudoku":
        write_sudoku_csv(plain, generate_sudoku(300, size=4, seed=0))
    else:
        write_maze_csv(plain, generate_mazes(300, size=7, min_moves=4, seed=0))
    path = tmp_path / "train.csv.gz"
    _truncated_gzip(path, plain.read_text())
    with pytest.raises(ValueError, match=rf"{path}: cannot read it, the file is truncated or corrupt"):
        (read_sudoku_csv if kind == "sudoku" else read_maze_csv)(path)


def test_a_truncated_arc_json_is_named(tmp_path):
    task = {"t0": {"train": [{"input": [[1]], "output": [[2]]}], "test": [{"input": [[1]]}]}}
    text = json.dumps(task)
    (tmp_path / "arc-agi_x_challenges.json").write_text(text[: len(text) // 2])
    (tmp_path / "arc-agi_x_solutions.json").write_text(json.dumps({"t0": [[[2]]]}))
    with pytest.raises(ValueError, match=r"arc-agi_x_challenges.json: not valid JSON, the file may be truncated"):
        read_arc_subset(tmp_path, "x")


def test_a_3d_arc_grid_is_named(tmp_path):
    task = {"t0": {"train": [{"input": [[[1, 2]]], "output": [[2]]}], "test": [{"input": [[1]]}]}}
    (tmp_path / "arc-agi_x_challenges.json").write_text(json.dumps(task))
    (tmp_path / "arc-agi_x_solutions.json").write_text(json.dumps({"t0": [[[2]]]}))
    with pytest.raises(ValueError, match=r"task t0, train pair 0 input: .*a cell holds a list"):
        read_arc_subset(tmp_path, "x")


@pytest.mark.parametrize("value", ["abc", 2.5, -1, True])
def test_recipe_counts_are_whole_numbers(value):
    with pytest.raises(ValueError, match=rf"recipe 'sudoku4x4-gen': num_aug must be a whole number >= 0, got {value!r}"):
        build_dataset("sudoku4x4-gen", num_aug=value)
