"""`trm solve`: puzzles from the command line or a file, printed as grids with the steps used."""

from __future__ import annotations

import json

import pytest
import torch

from modeling_trm import PuzzleProcessor, SolveConfig, TRMConfig, TRMForPuzzleSolving
from modeling_trm.cli import main as trm_main
from modeling_trm.solve_cli import main

SUDOKU = "..3.2.6..9..3.5..1..18.64....81.29..7.......8..67.82....26.95..8..2.3..9..5.1.3.."
SUDOKU_2 = "2...8.3...6..7..84.3.5..2.9...1.54.8.........4.27.6...3.1..7.4.72..4..6...4.1...3"


def save_tiny(folder, task: str, grid_size: int, with_processor: bool = True, **overrides):
    torch.manual_seed(0)
    vocab = {"sudoku": grid_size + 2, "maze": 6, "arc": 12}[task]
    config = TRMConfig(vocab_size=vocab, seq_len=grid_size**2, hidden_size=32, num_attention_heads=2, num_layers=1,
                       num_recursions=1, num_latent_updates=1, max_supervision_steps=2, puzzle_embedding_dim=32,
                       puzzle_prefix_len=1, **overrides)
    model = TRMForPuzzleSolving(config)
    model.save_pretrained(folder)
    if with_processor:
        PuzzleProcessor(task, grid_size=grid_size,
                        puzzle_identifiers=["<blank>", "007bbfc7"] if task == "arc" else None).save_pretrained(folder)
    return model


def expected_sudoku_grids(model, puzzles, **solve_options):
    processor = PuzzleProcessor("sudoku")
    out = model.solve(**processor(puzzles), **solve_options)
    return [processor.to_text(grid) for grid in processor.decode(out.predictions)], out


def test_sudoku_from_the_command_line(tmp_path, capsys):
    model = save_tiny(tmp_path, "sudoku", 9)
    assert main([str(tmp_path), SUDOKU, SUDOKU_2, "--max-steps", "3"]) == 0
    printed = capsys.readouterr().out
    grids, out = expected_sudoku_grids(model, [SUDOKU, SUDOKU_2], max_steps=3)
    for index, grid in enumerate(grids):
        confidence = torch.sigmoid(out.halt_logits[2, index]).item()
        assert f"puzzle {index}: 3 steps, halting confidence {confidence:.3f}\n{grid}\n" in printed


def test_sudoku_file_show_steps_and_the_trm_dispatcher(tmp_path, capsys):
    model = save_tiny(tmp_path / "model", "sudoku", 9)
    puzzles = tmp_path / "sudokus.txt"
    puzzles.write_text(f"{SUDOKU}\n\n{SUDOKU_2}\n")
    assert trm_main(["solve", str(tmp_path / "model"), "--file", str(puzzles), "--show-steps"]) == 0
    printed = capsys.readouterr().out
    processor = PuzzleProcessor("sudoku")
    out = model.solve(**processor([SUDOKU, SUDOKU_2]), return_intermediate=True)  # 2 steps (max_supervision_steps)
    for index in range(2):
        step1 = processor.to_text(processor.decode(out.intermediate_predictions[0, index]))
        final = processor.to_text(processor.decode(out.predictions[index]))
        assert f"puzzle {index}: 2 steps" in printed
        assert f"-- step 1\n{step1}\n-- step 2 (final)\n{final}\n" in printed


SUDOKU_6X6 = "1.3.5..5.1.3" + "3.5..2..6.4." + ".6.2.4.4.6.2"


@pytest.mark.parametrize("with_processor", [True, False])
def test_6x6_sudoku_uses_the_models_grid_size(tmp_path, capsys, with_processor):
    model = save_tiny(tmp_path, "sudoku", 6, with_processor=with_processor)
    task = [] if with_processor else ["--task", "sudoku"]  # without a saved processor: side = sqrt(seq_len)
    assert main([str(tmp_path), SUDOKU_6X6, *task]) == 0
    printed = capsys.readouterr().out
    processor = PuzzleProcessor("sudoku", grid_size=6)
    grid = processor.decode(model.solve(**processor([SUDOKU_6X6])).predictions)[0]
    assert grid.shape == (6, 6)
    assert f"\n{processor.to_text(grid)}\n" in printed  # 2x3 boxes: "a b c | d e f" rows, "------+------" rules
    assert "+" in processor.to_text(grid)


def test_adaptive_halting_option_reaches_solve(tmp_path, capsys):
    model = save_tiny(tmp_path, "sudoku", 9)
    with torch.no_grad():
        model.q_head.bias.fill_(5.0)  # every puzzle halts after its first step
    model.save_pretrained(tmp_path)
    assert main([str(tmp_path), SUDOKU, "--halting", "adaptive", "--max-steps", "5"]) == 0
    assert "puzzle 0: 1 step, " in capsys.readouterr().out
    assert main([str(tmp_path), SUDOKU, "--halting", "fixed", "--max-steps", "5"]) == 0
    assert "puzzle 0: 5 steps, " in capsys.readouterr().out


def test_saved_solve_config_is_the_default(tmp_path, capsys):
    model = save_tiny(tmp_path, "sudoku", 9)
    model.solve_config = SolveConfig(max_steps=4)
    model.save_pretrained(tmp_path)
    assert main([str(tmp_path), SUDOKU]) == 0
    assert "puzzle 0: 4 steps, " in capsys.readouterr().out


def test_maze_blocks_without_a_saved_processor_need_task(tmp_path, capsys):
    model = save_tiny(tmp_path / "model", "maze", 4, with_processor=False)
    mazes = tmp_path / "mazes.txt"
    mazes.write_text("####\n#S #\n# G#\n####\n\n####\n#SG#\n#  #\n####\n")
    assert main([str(tmp_path / "model"), "--file", str(mazes)]) == 2
    assert "no processor_config.json; pass --task" in capsys.readouterr().err
    assert main([str(tmp_path / "model"), "--file", str(mazes), "--task", "maze"]) == 0
    printed = capsys.readouterr().out
    processor = PuzzleProcessor("maze", grid_size=4)  # what --task maze builds for a 16-token model
    out = model.solve(**processor(["####\n#S #\n# G#\n####", "####\n#SG#\n#  #\n####"]))
    for index, grid in enumerate(processor.decode(out.predictions)):
        assert f"puzzle {index}: 2 steps, " in printed
        assert f"\n{processor.to_text(grid)}\n\n" in printed


def test_arc_task_file_uses_the_puzzle_name_and_reports_correctness(tmp_path, capsys):
    model = save_tiny(tmp_path / "model", "arc", 6, num_puzzle_identifiers=2)
    processor = PuzzleProcessor.from_pretrained(tmp_path / "model")
    test_input = [[1, 2], [3, 4]]
    out = model.solve(**processor([test_input], puzzle_names=["007bbfc7"]))
    predicted = processor.decode(out.predictions)[0].tolist()
    task = {"train": [], "test": [{"input": test_input, "output": predicted}, {"input": test_input, "output": [[9]]}]}
    (tmp_path / "007bbfc7.json").write_text(json.dumps(task))
    assert main([str(tmp_path / "model"), "--file", str(tmp_path / "007bbfc7.json")]) == 0
    printed = capsys.readouterr().out
    assert "puzzle 0: 2 steps" in printed and ", correct\n" in printed
    assert "puzzle 1: 2 steps" in printed and ", wrong\n" in printed
    assert processor.to_text(predicted) in printed


def test_bad_puzzles_and_mismatched_task_are_reported(tmp_path, capsys):
    save_tiny(tmp_path, "sudoku", 9)
    assert main([str(tmp_path), SUDOKU[:-1]]) == 2
    assert "puzzle 0: a 9x9 sudoku string needs 81 cells, got 80" in capsys.readouterr().err
    assert main([str(tmp_path), SUDOKU, "--task", "maze"]) == 2
    assert "--task maze does not match the model's processor (task 'sudoku')" in capsys.readouterr().err
    assert main([str(tmp_path)]) == 2
    assert "no puzzles given" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([str(tmp_path), SUDOKU, "--halting", "sometimes"])
