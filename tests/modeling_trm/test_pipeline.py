"""`pipeline("puzzle-solving")`: a custom transformers pipeline (preprocess / _forward / postprocess) that takes
puzzle strings or grids and returns solved grids, steps and validity; saved folders name it in config.json
(`custom_pipelines`) and carry its code, so it loads through `trust_remote_code` without this package."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from transformers import pipeline

from modeling_trm import PuzzleProcessor, PuzzleSolvingPipeline, TRMConfig, TRMForPuzzleSolving

SUDOKUS = ["1..4..1..3......", "....2.........1."]  # 4x4


def _model(task="sudoku", grid_size=4, vocab_size=6, puzzle_ids=1):
    torch.manual_seed(0)
    config = TRMConfig(vocab_size=vocab_size, seq_len=grid_size * grid_size, hidden_size=16, num_attention_heads=2,
                       expansion=2, num_layers=1, num_recursions=1, num_latent_updates=1, max_supervision_steps=3,
                       puzzle_embedding_dim=16 if puzzle_ids > 1 else 0, num_puzzle_identifiers=puzzle_ids)
    model = TRMForPuzzleSolving(config).eval()
    with torch.no_grad():
        model.q_head.weight.normal_(std=0.5)  # halting that varies between puzzles
    return model


@pytest.fixture(scope="module")
def sudoku_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pipe") / "sudoku4"
    _model().save_pretrained(folder)
    PuzzleProcessor("sudoku", grid_size=4).save_pretrained(folder)
    return folder


def test_saved_folders_name_the_pipeline_and_carry_its_code(sudoku_folder):
    config = json.loads((sudoku_folder / "config.json").read_text())
    assert config["custom_pipelines"]["puzzle-solving"]["impl"] == "pipeline_trm.PuzzleSolvingPipeline"
    assert config["custom_pipelines"]["puzzle-solving"]["pt"] == ["AutoModel"]
    assert (sudoku_folder / "pipeline_trm.py").is_file()


def test_pipeline_answers_are_solve_answers(sudoku_folder):
    solver = pipeline("puzzle-solving", model=str(sudoku_folder), trust_remote_code=True)
    assert type(solver).__name__ == "PuzzleSolvingPipeline"
    model, processor = TRMForPuzzleSolving.from_pretrained(sudoku_folder), PuzzleProcessor.from_pretrained(sudoku_folder)
    for halting in ("fixed", "adaptive"):
        answers = solver(SUDOKUS, halting=halting, max_steps=5)
        expected = model.solve(**processor(SUDOKUS), halting=halting, max_steps=5)
        assert [a["steps"] for a in answers] == expected.steps.tolist()
        for answer, tokens, puzzle in zip(answers, expected.predictions, processor(SUDOKUS)["input_ids"]):
            assert answer["solution"] == processor.decode(tokens).tolist()
            assert answer["text"] == processor.to_text(processor.decode(tokens))
            assert answer["problem"] == processor.check_solution(puzzle, tokens)
            assert answer["valid"] is (answer["problem"] is None) and 0 < answer["halt_confidence"] < 1
    # one puzzle -> one answer; a grid (list of rows) is one puzzle, not a batch of rows
    assert solver(SUDOKUS[0], halting="adaptive", max_steps=5) == answers[0]
    grid = np.array([int(c) if c != "." else 0 for c in SUDOKUS[0]]).reshape(4, 4).tolist()
    assert solver(grid)["solution"] == solver(SUDOKUS[0])["solution"]
    assert len(solver([grid, grid])) == 2
    with pytest.raises(TypeError, match="unknown puzzle-solving option"):
        solver(SUDOKUS[0], max_step=3)


def test_with_the_package_installed_pipeline_class_runs_its_own_code(sudoku_folder):
    """A saved folder names its pipeline in config.json, so transformers asks for `trust_remote_code` (the folder's
    copies of the code) unless `pipeline_class` is given: then the installed package's classes run."""
    with pytest.raises(ValueError, match="trust_remote_code=True"):
        pipeline("puzzle-solving", model=str(sudoku_folder))
    solver = pipeline("puzzle-solving", model=str(sudoku_folder), pipeline_class=PuzzleSolvingPipeline)
    assert type(solver) is PuzzleSolvingPipeline and type(solver.model) is TRMForPuzzleSolving
    remote = pipeline("puzzle-solving", model=str(sudoku_folder), trust_remote_code=True)
    assert solver(SUDOKUS, max_steps=5) == remote(SUDOKUS, max_steps=5)


def test_maze_and_arc_inputs_and_puzzle_names():
    maze = _model("maze", grid_size=4, vocab_size=6)
    solver = PuzzleSolvingPipeline(model=maze, processor=PuzzleProcessor("maze", grid_size=4), device=-1)
    rows = ["S#  ", "  # ", "#   ", "  #G"]
    answer = solver(rows)
    assert len(answer["solution"]) == 4 and all(isinstance(r, str) and len(r) == 4 for r in answer["solution"])
    assert isinstance(answer["valid"], bool)
    assert len(solver([rows, rows])) == 2

    names = ["<blank>", "task-a", "task-b"]
    arc = _model("arc", grid_size=30, vocab_size=12, puzzle_ids=3)
    solver = PuzzleSolvingPipeline(model=arc, processor=PuzzleProcessor("arc", puzzle_identifiers=names), device=-1)
    grid = [[0, 1], [1, 0]]
    answer = solver(grid, puzzle_names="task-b")
    assert answer["valid"] is None and answer["problem"] is None  # ARC has no rules to check
    inputs = PuzzleProcessor("arc", puzzle_identifiers=names)([grid], puzzle_names=["task-b"])
    expected = arc.solve(**inputs)
    assert answer["solution"] == PuzzleProcessor("arc").decode(expected.predictions[0]).tolist()
    assert len(solver([grid, grid], puzzle_names=["task-a", "task-b"])) == 2
    with pytest.raises(ValueError, match="2 puzzle\\(s\\) but 1 puzzle_names"):
        solver([grid, grid], puzzle_names=["task-a"])


REMOTE = textwrap.dedent(
    """
    import json, sys

    class Block:  # the package is "not installed": only the folder's own code may run
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("modeling_trm", "hub_datasets", "training", "model_cards"):
                raise ImportError(name)

    sys.meta_path.insert(0, Block())
    from transformers import pipeline

    solver = pipeline("puzzle-solving", model=sys.argv[1], trust_remote_code=True)
    answers = solver(json.loads(sys.argv[2]), halting="adaptive", max_steps=5)
    print(json.dumps({"module": type(solver).__module__, "answers": answers}))
    """
)


def test_the_pipeline_loads_through_remote_code_without_the_package(sudoku_folder, tmp_path):
    env = {**os.environ, "HF_MODULES_CACHE": str(tmp_path / "modules"), "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""}
    result = subprocess.run([sys.executable, "-I", "-c", REMOTE, str(sudoku_folder), json.dumps(SUDOKUS)],
                            capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    remote = json.loads(result.stdout.strip().splitlines()[-1])
    assert remote["module"].startswith("transformers_modules.")
    local = pipeline("puzzle-solving", model=str(sudoku_folder), trust_remote_code=True)
    assert remote["answers"] == local(SUDOKUS, halting="adaptive", max_steps=5)
