"""benchmarks/sudoku_difficulty.py: held-out puzzles are rated by the package's solver, split into bands that
cover every puzzle once, and each band's accuracy is the package's evaluation of exactly those puzzles."""

from __future__ import annotations

import json

import harness
import numpy as np
import pytest
from benchmark_scripts import load_benchmark

bands = load_benchmark("sudoku_difficulty")


def test_bands_partition_the_split_and_match_the_package_evaluation(tiny_sudoku_model, tmp_path):
    from hub_datasets.builders import decode_tokens
    from hub_datasets.sudoku import SudokuSolver, difficulty_band
    from modeling_trm import TRMForPuzzleSolving
    from training.evaluation import evaluate

    assert bands.main(["--model", f"tiny={tiny_sudoku_model}", "--max-steps", "4", "--output", str(tmp_path),
                       "--threads", "1"]) == 0
    entry = json.loads((tmp_path / "results.json").read_text())["models"]["tiny"]
    assert entry["max_steps"] == [2, 4] and entry["num_puzzles"] == 24

    test, metadata, _ = harness.load_test_split(tiny_sudoku_model)
    solver = SudokuSolver(4)
    ratings = [solver.rating(np.asarray(decode_tokens(row, metadata), np.uint8)) for row in test["inputs"]]
    assert entry["rating_histogram"] == np.bincount(ratings).tolist()
    assert sum(row["num_puzzles"] for row in entry["bands"]) == 24
    model = TRMForPuzzleSolving.from_pretrained(tiny_sudoku_model).eval()
    for steps in (2, 4):
        key = f"exact_accuracy@{steps}"
        whole = evaluate(model, test, metadata, max_steps=steps, progress=False)["exact_accuracy"]
        assert entry["overall"][key] == whole
        weighted = sum(row[key] * row["num_puzzles"] for row in entry["bands"] if row["num_puzzles"])
        assert weighted / 24 == pytest.approx(whole, abs=1e-12)  # every puzzle counted once, in its own band
        for row in entry["bands"]:
            index = [i for i, r in enumerate(ratings) if difficulty_band(r) == row["band"]]
            assert row["num_puzzles"] == len(index)
            if index:
                subset = evaluate(model, test.select(index), metadata, max_steps=steps, progress=False)
                assert row[key] == subset["exact_accuracy"]
            else:
                assert row[key] is None
    assert (tmp_path / "results.md").read_text() == bands.results_table(
        json.loads((tmp_path / "results.json").read_text()))
