"""Refinement records and animations (`training.refinement`), and the demo's input parsing (no Gradio needed)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from modeling_trm import PuzzleProcessor, TRMConfig, TRMForPuzzleSolving
from training.refinement import animate_solve, changed_cells, refine

SUDOKU_6X6 = ".45..26.1.....6.5..1.......1...5.4.."  # generate_sudoku(1, size=6, seed=3)


def tiny_model(task: str = "sudoku", grid_size: int = 6, max_supervision_steps: int = 3, **overrides):
    torch.manual_seed(0)
    vocab = {"sudoku": grid_size + 2, "maze": 6, "arc": 12}[task]
    config = TRMConfig(vocab_size=vocab, seq_len=grid_size**2, hidden_size=32, num_attention_heads=2, num_layers=1,
                       num_recursions=1, num_latent_updates=1, max_supervision_steps=max_supervision_steps,
                       puzzle_embedding_dim=32, puzzle_prefix_len=1, **overrides)
    return TRMForPuzzleSolving(config).eval(), PuzzleProcessor(task, grid_size=grid_size)


def halt_after_first_step(model):
    with torch.no_grad():
        model.q_head.bias.fill_(5.0)  # the halting logit is large from the first step on


def test_refinement_keeps_every_step_and_where_adaptive_halting_stops():
    model, processor = tiny_model()
    inputs = processor([SUDOKU_6X6])
    expected = model.solve(**inputs, max_steps=5, halting="fixed", return_intermediate=True)
    refinement = refine(model, processor, SUDOKU_6X6, max_steps=5, halting="fixed")
    assert refinement.num_steps == 5
    np.testing.assert_array_equal(refinement.step_ids, expected.intermediate_predictions[:, 0].numpy())
    np.testing.assert_allclose(refinement.halt_confidence, torch.sigmoid(expected.halt_logits[:, 0]).numpy())
    assert refinement.adaptive_stop is None  # an untrained halting head (logit ~ -5) never says stop
    assert refinement.problems == processor.check_solution(inputs["input_ids"].expand(5, -1), expected.intermediate_predictions[:, 0])
    changed = changed_cells(processor, refinement, 2)
    np.testing.assert_array_equal(changed.reshape(-1), refinement.step_ids[1] != refinement.step_ids[0])
    assert not changed_cells(processor, refinement, 0).any()

    halt_after_first_step(model)
    fixed = refine(model, processor, SUDOKU_6X6, max_steps=5, halting="fixed")
    adaptive = refine(model, processor, SUDOKU_6X6, max_steps=5, halting="adaptive")
    assert (fixed.num_steps, fixed.adaptive_stop) == (5, 1)  # fixed runs on but records the stop
    assert (adaptive.num_steps, adaptive.adaptive_stop) == (1, 1)
    np.testing.assert_array_equal(adaptive.step_ids[0], fixed.step_ids[0])


def test_animate_solve_writes_the_puzzle_and_every_step(tmp_path):
    from PIL import Image

    model, processor = tiny_model("maze", 5)
    maze = ["#####", "#S  #", "# # #", "#  G#", "#####"]
    refinement = animate_solve(model, processor, maze, tmp_path / "maze.gif", max_steps=4)
    with Image.open(tmp_path / "maze.gif") as gif:
        assert gif.n_frames == refinement.num_steps + 1 == 5
    assert refinement.problems[-1] == processor.check_solution(processor([maze])["input_ids"][0], refinement.step_ids[-1])
    with pytest.raises(ValueError, match="as .gif or .png"):
        animate_solve(model, processor, maze, tmp_path / "maze.mp4")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["maze.gif"]  # nothing half-written


def test_parse_puzzle_accepts_the_printed_grid_and_names_problems():
    from training.demo import parse_puzzle

    processor = PuzzleProcessor("sudoku", grid_size=6)
    printed = processor.to_text(SUDOKU_6X6)  # "a b c | d e f" rows with "------+------" rules
    assert parse_puzzle("sudoku", printed) == SUDOKU_6X6
    with pytest.raises(ValueError, match="the puzzle is empty"):
        parse_puzzle("sudoku", "  \n")
    with pytest.raises(ValueError, match="not valid JSON"):
        parse_puzzle("arc", "{train: []}")
    with pytest.raises(ValueError, match='test pair 0 needs an "input" grid'):
        parse_puzzle("arc", '{"train": [], "test": [{"output": [[1]]}]}')


def test_without_a_model_the_demo_uses_the_default_run_or_trains_it(tmp_path, monkeypatch):
    import training.train
    from training import demo

    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="no model given and no ./trm-sudoku6x6"):
        demo.find_or_train_default_model(train=False)
    calls = []

    def fake_train(argv):  # the README's default run, into the folder the demo then finds
        calls.append(argv)
        model, processor = tiny_model()
        model.save_pretrained(tmp_path / "trm-sudoku6x6")
        processor.save_pretrained(tmp_path / "trm-sudoku6x6")

    monkeypatch.setattr(training.train, "main", fake_train)
    assert demo.find_or_train_default_model() == "trm-sudoku6x6"
    assert calls == [["--output-dir", "trm-sudoku6x6"]]
    assert demo.find_or_train_default_model() == "trm-sudoku6x6" and len(calls) == 1  # found, not retrained
    assert demo.load_demo_model("trm-sudoku6x6").processor.grid_size == 6


def test_cells_that_break_a_rule_are_marked_for_the_picture():
    from training.refinement import Refinement, draw_step, wrong_cells

    processor = PuzzleProcessor("sudoku", grid_size=6)
    puzzle = processor([SUDOKU_6X6])["input_ids"][0].numpy()
    solution = processor.encode_labels(["345612621543436251512364264135153426"])[0].numpy()
    clash = solution.copy()
    clash[[0, 1]] = clash[[1, 0]]  # row 1 starts 4 3 instead of 3 4 (the 4 is a given)
    refinement = Refinement("sudoku", puzzle, np.stack([clash, solution]), np.array([0.1, 0.9]), None,
                            processor.check_solution(np.stack([puzzle, puzzle]), np.stack([clash, solution])), "fixed")
    # the given 4 changed to 3; the 4 and the 3 now twice in columns 1 and 2, with the cells of row 3 they repeat
    wrong = wrong_cells(processor, refinement, 1)
    assert sorted(map(tuple, np.argwhere(wrong).tolist())) == [(0, 0), (0, 1), (2, 0), (2, 1)]
    assert not wrong_cells(processor, refinement, 2).any()  # a valid solution: nothing red
    assert not wrong_cells(processor, refinement, 0).any()  # the puzzle itself
    assert draw_step(processor, refinement, 1).size == draw_step(processor, refinement, 2).size


def test_maze_cells_that_break_a_rule():
    from modeling_trm.processing_trm import MAZE_CHARS
    from training.refinement import Refinement, wrong_cells

    processor = PuzzleProcessor("maze", grid_size=5)
    puzzle = processor([["#####", "#S  #", "# # #", "#  G#", "#####"]])["input_ids"][0].numpy()
    # a path cell beside 'S' (fine), one cut off from it (row 3, column 1) and one on a wall (row 4, column 3)
    answer = np.array([MAZE_CHARS.index(char) + 1 for char in "#####" "#So #" "# # #" "#o G#" "###o#"])
    refinement = Refinement("maze", puzzle, answer[None], np.array([0.5]), None,
                            processor.check_solution(puzzle[None], answer[None]), "fixed")
    assert sorted(map(tuple, np.argwhere(wrong_cells(processor, refinement, 1)).tolist())) == [(3, 1), (4, 3)]
