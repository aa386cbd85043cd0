"""`trm solve`: puzzles from the command line or a file, printed as grids with the steps used."""

from __future__ import annotations

import json

import pytest
import torch

from modeling_trm import PuzzleProcessor, SolveConfig, TRMConfig, TRMForPuzzleSolving
from modeling_trm.processing_trm import one_based
from training.cli import main as trm_main
from training.loading import load_model_for_solving
from training.solve_cli import main

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
    processor = PuzzleProcessor("sudoku")
    problems = processor.check_solution(processor([SUDOKU, SUDOKU_2])["input_ids"], out.predictions)
    for index, grid in enumerate(grids):
        confidence = torch.sigmoid(out.halt_logits[2, index]).item()
        assert problems[index] is not None  # an untrained model breaks the rules, and the header says how
        header = (f"puzzle {index + 1}: 3 steps, halting confidence {confidence:.3f}, "  # counted from 1
                  f"not a valid solution: {one_based(problems[index])}")
        assert f"{header}\n{grid}\n" in printed


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
        assert f"puzzle {index + 1}: 2 steps" in printed
        assert f"-- step 1\n{step1}\n-- step 2 (final)\n{final}\n" in printed


SUDOKU_6X6 = ".45..26.1.....6.5..1.......1...5.4.."  # generate_sudoku(1, size=6, seed=3)
SOLUTION_6X6 = "345612621543436251512364264135153426"


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
    assert "puzzle 1: 1 step, " in capsys.readouterr().out
    assert main([str(tmp_path), SUDOKU, "--halting", "fixed", "--max-steps", "5"]) == 0
    assert "puzzle 1: 5 steps, " in capsys.readouterr().out
    confidence = torch.sigmoid(torch.tensor(5.0)).item()  # the halt logit is 5 at every step: confidence 0.9933
    assert main([str(tmp_path), SUDOKU, "--halting", "adaptive", "--max-steps", "5",
                 "--halt-confidence", f"{confidence + 1e-3:.4f}"]) == 0
    assert "puzzle 1: 5 steps, " in capsys.readouterr().out  # never confident enough
    assert main([str(tmp_path), SUDOKU, "--halting", "adaptive", "--halt-confidence", "1.5"]) == 2
    assert "halt_confidence must be a probability in (0, 1), got 1.5" in capsys.readouterr().err


def test_saved_solve_config_is_the_default(tmp_path, capsys):
    model = save_tiny(tmp_path, "sudoku", 9)
    model.solve_config = SolveConfig(max_steps=4)
    model.save_pretrained(tmp_path)
    assert main([str(tmp_path), SUDOKU]) == 0
    assert "puzzle 1: 4 steps, " in capsys.readouterr().out


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
        assert f"puzzle {index + 1}: 2 steps, " in printed
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
    assert "puzzle 1: 2 steps" in printed and ", correct\n" in printed
    assert "puzzle 2: 2 steps" in printed and ", wrong\n" in printed
    assert processor.to_text(predicted) in printed


def test_bad_puzzles_and_mismatched_task_are_reported(tmp_path, capsys):
    save_tiny(tmp_path, "sudoku", 9)
    assert main([str(tmp_path), SUDOKU[:-1]]) == 2
    assert "puzzle 1: a 9x9 sudoku string needs 81 cells, got 80" in capsys.readouterr().err
    assert main([str(tmp_path), SUDOKU, "--task", "maze"]) == 2
    assert "--task maze does not match the model's processor (task 'sudoku')" in capsys.readouterr().err
    assert main([str(tmp_path)]) == 2
    assert "no puzzles given" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([str(tmp_path), SUDOKU, "--halting", "sometimes"])


def test_contradictory_givens_are_refused_naming_the_cells(tmp_path, capsys):
    save_tiny(tmp_path, "sudoku", 6)
    clash = "5" + SUDOKU_6X6[1:]  # a 5 in the top-left cell beside the given 5 two cells right of it
    assert main([str(tmp_path), SUDOKU_6X6, clash]) == 2
    assert ("puzzle 2: row 1 has two 5s (row 1, column 1 and row 1, column 3)"  # as a person counts: from 1
            in capsys.readouterr().err)
    box_clash = SUDOKU_6X6[:6] + "5" + SUDOKU_6X6[7:]  # the first cell of row 2: the same 2x3 box
    assert main([str(tmp_path), box_clash]) == 2
    assert "puzzle 1: the box of rows 1-2, columns 1-3 has two 5s (row 1, column 3 and row 2, column 1)" in (
        capsys.readouterr().err)


def test_unreachable_maze_goal_is_refused(tmp_path, capsys):
    save_tiny(tmp_path, "maze", 4)
    mazes = tmp_path / "mazes.txt"
    mazes.write_text("####\n#S #\n# G#\n####\n\n####\n#S##\n##G#\n####\n")
    assert main([str(tmp_path), "--file", str(mazes)]) == 2
    assert "puzzle 2: the goal 'G' at row 3, column 3 cannot be reached from 'S'" in capsys.readouterr().err


def _answer_with(solution_ids: torch.Tensor, monkeypatch):
    """Make every model's last step answer `solution_ids` (the rest of solve runs as usual)."""
    solve = TRMForPuzzleSolving.solve

    def solve_then_answer(self, *args, **kwargs):
        out = solve(self, *args, **kwargs)
        out.predictions = solution_ids.expand_as(out.predictions).clone()
        if out.intermediate_predictions is not None:
            out.intermediate_predictions = out.intermediate_predictions.clone()
            out.intermediate_predictions[-1] = solution_ids
        return out

    monkeypatch.setattr(TRMForPuzzleSolving, "solve", solve_then_answer)


def test_a_valid_answer_is_reported_valid_and_a_rule_break_is_named(tmp_path, capsys, monkeypatch):
    save_tiny(tmp_path, "sudoku", 6)
    processor = PuzzleProcessor("sudoku", grid_size=6)
    solution = processor.encode_labels([SOLUTION_6X6])
    _answer_with(solution, monkeypatch)
    assert main([str(tmp_path), SUDOKU_6X6]) == 0
    assert ", valid solution\n" in capsys.readouterr().out
    broken = solution.clone()
    broken[0, 0], broken[0, 3] = solution[0, 3], solution[0, 0]  # swap two non-given cells of row 0: columns clash
    _answer_with(broken, monkeypatch)
    assert main([str(tmp_path), SUDOKU_6X6]) == 0
    assert ", not a valid solution: column 1 has two 6s (row 1, column 1 and row 2, column 1)\n" in capsys.readouterr().out


def test_animate_writes_one_frame_per_step_plus_the_puzzle(tmp_path, capsys):
    from PIL import Image

    save_tiny(tmp_path / "model", "sudoku", 6)
    assert main([str(tmp_path / "model"), SUDOKU_6X6, "--max-steps", "3", "--animate", str(tmp_path / "r.gif")]) == 0
    assert f"refinement animation: {tmp_path / 'r.gif'}" in capsys.readouterr().out
    with Image.open(tmp_path / "r.gif") as gif:
        assert gif.n_frames == 4
    assert main([str(tmp_path / "model"), SUDOKU_6X6, SUDOKU_6X6, "--animate", str(tmp_path / "r.png")]) == 0
    assert (tmp_path / "r-1.png").exists() and (tmp_path / "r-2.png").exists()  # named as the puzzles are
    assert main([str(tmp_path / "model"), SUDOKU_6X6, "--animate", str(tmp_path / "r.mp4")]) == 2
    assert "--animate" in capsys.readouterr().err and not (tmp_path / "r.mp4").exists()


def test_tries_solves_a_rule_breaking_answer_again_and_says_how_many_tries_it_took(tmp_path, capsys):
    from training.retries import solve_with_retries

    model = save_tiny(tmp_path, "sudoku", 6)
    processor = PuzzleProcessor("sudoku", grid_size=6)
    assert main([str(tmp_path), SUDOKU_6X6, "--tries", "3", "--max-steps", "2"]) == 0
    retried = solve_with_retries(model, processor, processor([SUDOKU_6X6])["input_ids"], max_tries=3, max_steps=2)
    problem = processor.check_solution(processor([SUDOKU_6X6])["input_ids"][0], retried.predictions[0])
    assert problem is not None  # an untrained model breaks the rules on every try: all 3 are made
    grid = processor.to_text(processor.decode(retried.predictions[0]))
    assert f"puzzle 1: 3 tries, 6 steps in all, not a valid solution: {one_based(problem)}\n{grid}\n" in (
        capsys.readouterr().out)


def test_tries_show_the_steps_of_the_try_kept_on_the_puzzle_as_given(capsys):
    """The shipped 6x6 model cut to 2 steps: a puzzle it solves only as a variant prints that variant's steps,
    mapped back, and the last of them is a valid solution of the puzzle as typed."""
    from hub_datasets.sudoku import generate_sudoku
    from training.pretrained import shipped_models
    from training.retries import solve_with_retries

    folder = shipped_models()["sudoku6x6"]
    model, processor = load_model_for_solving(str(folder)), PuzzleProcessor.from_pretrained(folder)
    puzzles = ["".join(str(d) if d else "." for d in q.ravel()) for q in generate_sudoku(32, size=6, seed=11).questions]
    for puzzle in puzzles:  # the first solved by a retry (alone, as `trm solve` solves it)
        inputs = processor([puzzle])["input_ids"]
        retried = solve_with_retries(model, processor, inputs, max_tries=4, max_steps=2, keep_steps=True)
        if retried.tries[0] > 1 and retried.valid[0]:
            break
    else:
        pytest.fail("no puzzle needed a retry")
    assert main([str(folder), puzzle, "--tries", "4", "--max-steps", "2", "--show-steps"]) == 0
    grids = [processor.decode(step) for step in retried.refinements[0].step_ids]
    text = [processor.to_text(grid) for grid in grids]
    assert capsys.readouterr().out == (
        f"puzzle 1: {int(retried.tries[0])} tries, {int(retried.steps[0])} steps in all, valid solution\n"
        f"-- step 1\n{text[0]}\n-- step 2 (final)\n{text[1]}\n\n")
    assert processor.check_solution(inputs[0], processor.encode_labels([grids[1]])[0]) is None


def test_tries_refuse_puzzles_without_rules(tmp_path, capsys):
    save_tiny(tmp_path / "arc", "arc", 30)
    task = tmp_path / "007bbfc7.json"
    task.write_text(json.dumps({"train": [], "test": [{"input": [[1, 2], [3, 4]]}]}))
    assert main([str(tmp_path / "arc"), "--file", str(task), "--tries", "2"]) == 2
    assert "arc puzzles have no rules to check an answer against" in capsys.readouterr().err
