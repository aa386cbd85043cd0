"""`trm demo`: the Gradio app through its API on a live 127.0.0.1 server, and the Space export.

The app is called through `gradio_client`, as a page or a Space visitor calls it; `test_demo_browser.py`
drives the same flow in headless Chromium. Expected values are recomputed from `model.solve` and the
processor's rule checks. Skipped only where Gradio is not installed (CI installs it with the dev extra).
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from test_refinement import SUDOKU_6X6, halt_after_first_step, tiny_model

from modeling_trm import PuzzleProcessor, TRMForPuzzleSolving

gradio = pytest.importorskip("gradio")


@pytest.fixture(scope="module")
def demo_server():
    from gradio_client import Client

    from training.demo import DemoModel, build_app

    sudoku_model, sudoku_processor = tiny_model("sudoku", 6)
    halting_model, _ = tiny_model("sudoku", 6)
    halt_after_first_step(halting_model)
    maze_model, maze_processor = tiny_model("maze", 5)
    arc_model, _ = tiny_model("arc", 30, num_puzzle_identifiers=len(ARC_IDENTIFIERS))  # the official canvas
    arc_processor = PuzzleProcessor("arc", puzzle_identifiers=ARC_IDENTIFIERS)
    models = [DemoModel("sudoku", sudoku_model, sudoku_processor), DemoModel("halts", halting_model, sudoku_processor),
              DemoModel("maze", maze_model, maze_processor), DemoModel("arc", arc_model, arc_processor)]
    app = build_app(models)
    _, url, _ = app.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    try:
        yield {m.name: m for m in models}, Client(url, verbose=False)
    finally:
        app.close()


# the ARC model knows task "0a1b2c3d" as itself and as one augmented variant (dihedral 1, colours swapped 1 <-> 2)
ARC_IDENTIFIERS = ["<blank>", "0a1b2c3d", "0a1b2c3d|||t1|||0213456789", "ffffffff"]


def solve(client, model: str, text: str, max_steps: int = 4, halting: str = "fixed", task_id: str = "",
          test_index: int = 0, with_arc: bool = False, tries: int = 1):
    """(error or summary, grid text, caption[, ARC picture, ARC note]) of the page's Solve."""
    # outputs: error, summary, step slider, picture, verdict badge, grid text, plot, caption, ARC picture,
    # ARC note (the State stays server-side)
    error, summary, _, _, _, grid, _, caption, arc_picture, arc_note = client.predict(
        model, text, max_steps, halting, task_id, test_index, tries, api_name="/solve")
    status = error or summary
    return (status, grid, caption, arc_picture, arc_note) if with_arc else (status, grid, caption)


def test_app_solves_shows_every_step_and_says_whether_the_answer_is_valid(demo_server):
    from modeling_trm.processing_trm import one_based

    models, client = demo_server
    model, processor = models["sudoku"].model, models["sudoku"].processor
    inputs = processor([SUDOKU_6X6])
    expected = model.solve(**inputs, max_steps=4, halting="fixed", return_intermediate=True)
    problem = processor.check_solution(inputs["input_ids"][0], expected.predictions[0])
    assert problem is not None  # untrained: not a solution, and the page says why

    status, grid, caption = solve(client, "sudoku", processor.to_text(SUDOKU_6X6))  # the printed form is accepted
    assert f"not a valid solution**: {one_based(problem)}." in status  # rows and columns from 1
    assert "Ran all 4 steps (fixed); the halting head never said stop." in status
    assert grid == processor.to_text(processor.decode(expected.predictions[0]))
    assert caption.startswith("Step 4 of 4: ")

    for step in (1, 2):  # the step slider: each step's grid and how many cells changed
        _, verdict, grid, _, caption = client.predict(step, api_name="/show_step")
        tokens = expected.intermediate_predictions[step - 1, 0]
        before = expected.intermediate_predictions[step - 2, 0] if step > 1 else inputs["input_ids"][0]
        changed = int((tokens != before).sum())
        assert grid == processor.to_text(processor.decode(tokens))
        confidence = torch.sigmoid(expected.halt_logits[step - 1, 0]).item()
        assert caption.startswith(f"Step {step} of 4: {changed} cell{'s' if changed != 1 else ''} changed, "
                                  f"halting confidence {confidence:.3f}.")
        assert 'class="trm-badge trm-invalid"' in verdict and f"step {step}: not a solution" in verdict
    _, verdict, grid, _, caption = client.predict(0, api_name="/show_step")
    assert grid == processor.to_text(SUDOKU_6X6) and caption == "Step 0: the puzzle as given."
    assert "trm-neutral" in verdict and "the puzzle as given" in verdict


def test_app_reports_a_valid_solution(demo_server, monkeypatch):
    models, client = demo_server
    processor = models["sudoku"].processor
    solution = processor.encode_labels(["345612621543436251512364264135153426"])
    original = TRMForPuzzleSolving.solve

    def solve_then_answer(self, *args, **kwargs):  # the last step answers the true solution
        out = original(self, *args, **kwargs)
        out.intermediate_predictions = out.intermediate_predictions.clone()
        out.intermediate_predictions[-1] = solution
        return out

    monkeypatch.setattr(TRMForPuzzleSolving, "solve", solve_then_answer)
    error, status, _, _, verdict, _, _, caption, _, _ = client.predict("sudoku", SUDOKU_6X6, 4, "fixed", "", 0,
                                                                      api_name="/solve")
    assert error == "" and status.startswith("The final answer is a **valid solution**.")
    assert verdict == '<div class="trm-badge trm-valid">✓ step 4: a valid solution</div>'  # green
    assert caption.startswith("Step 4 of 4: ")


def test_app_tries_again_as_a_symmetric_variant_and_plays_that_try_on_the_puzzle_as_given(demo_server, monkeypatch):
    """A stand-in that solves every variant of the puzzle but not the puzzle itself: with 3 tries the page
    says the second try solved it and shows that try's steps on the puzzle as typed, the last a solution."""
    import numpy as np

    from hub_datasets.sudoku import SudokuSolver

    models, client = demo_server
    processor = models["sudoku"].processor
    original, puzzle_ids = TRMForPuzzleSolving.solve, processor([SUDOKU_6X6])["input_ids"]

    def solve_variants(self, input_ids, *args, **kwargs):
        out = original(self, input_ids, *args, **kwargs)
        if not torch.equal(input_ids.cpu(), puzzle_ids):  # a variant: its last step is its solution
            grid = np.asarray(processor.decode(input_ids[0]), np.uint8)
            solution = processor.encode_labels([SudokuSolver(6).solve(grid)[1]])
            out.intermediate_predictions, out.predictions = out.intermediate_predictions.clone(), solution
            out.intermediate_predictions[out.steps[0] - 1, 0] = solution[0]
        return out

    monkeypatch.setattr(TRMForPuzzleSolving, "solve", solve_variants)
    status, grid, _ = solve(client, "sudoku", SUDOKU_6X6, tries=3)
    assert status.startswith("The final answer is a **valid solution**. Solved on try 2: the earlier answers broke "
                             "a rule, so the puzzle was solved again as a variant with its digits relabelled")
    assert grid == processor.to_text(processor.decode(processor.encode_labels(["345612621543436251512364264135153426"])[0]))
    _, verdict, _, _, _ = client.predict(1, api_name="/show_step")
    assert "trm-invalid" in verdict  # the variant's first step, mapped back: an untrained model's guess
    status, _, _ = solve(client, "sudoku", SUDOKU_6X6, tries=1)
    assert "not a valid solution" in status and "Raise **tries** in Settings" in status
    monkeypatch.setattr(TRMForPuzzleSolving, "solve", original)
    status, _, _ = solve(client, "sudoku", SUDOKU_6X6, tries=3)
    assert "None of 3 tries gave a valid solution; the steps shown are the first try's." in status


def test_app_shows_bad_grids_as_errors_a_person_understands(demo_server):
    _, client = demo_server
    clash = "5" + SUDOKU_6X6[1:]
    nine_by_nine = "..3.2.6..9..3.5..1..18.64....81.29..7.......8..67.82....26.95..8..2.3..9..5.1.3.."
    for text, message in [
        (clash, "row 1 has two 5s (row 1, column 1 and row 1, column 3)"),  # rows and columns counted from 1
        (nine_by_nine, "this is a 9×9 Sudoku; this model solves 6×6 Sudokus (36 cells)"),
        (SUDOKU_6X6[:-1], "this puzzle has 35 cells; this model solves 6×6 Sudokus (36 cells)"),
        ("hello world", "'h' at line 1, character 1 is not a cell: a Sudoku has digits and '.' or '0' for blanks"),
        (SUDOKU_6X6[:12] + "\n" + SUDOKU_6X6[12:-1] + "7", "'7' at line 2, character 24 is not a cell: a 6×6 Sudoku has"),
        ("", "the puzzle is empty"),
    ]:
        status, grid, caption = solve(client, "sudoku", text)
        assert status.startswith('<div class="trm-error" role="alert"><b>Invalid input</b>: ')  # red, as an error
        assert message in status, status
        assert (grid, caption) == ("", "")
    status, _, _ = solve(client, "maze", "#####\n#S# #\n### #\n#  G#\n#####")
    assert "the goal 'G' at row 4, column 4 cannot be reached from 'S'" in status
    status, _, _ = solve(client, "maze", "#####\n#S  #\n#  G#\n#####")
    assert "this maze has 4 rows of 5 cells; this model solves 5×5 mazes (5 rows of 5)" in status


def test_app_halting_settings(demo_server):
    _, client = demo_server
    status, _, _ = solve(client, "halts", SUDOKU_6X6, max_steps=6, halting="fixed")
    assert "Ran all 6 steps (fixed); adaptive halting would stop after step 1." in status
    status, _, _ = solve(client, "sudoku", SUDOKU_6X6, max_steps=1, halting="fixed")
    assert "Ran 1 step (fixed); the halting head never said stop." in status
    status, _, caption = solve(client, "halts", SUDOKU_6X6, max_steps=6, halting="adaptive")
    assert "Adaptive halting stopped after step 1." in status and caption.startswith("Step 1 of 1: ")


def random_puzzle(client, model: str, difficulty: int, seed: int):
    """(puzzle text, next seed, error, the outputs of the last solve) of the page's 'Random puzzle'."""
    text, next_seed, error, *answer = client.predict(model, difficulty, seed, api_name="/random_puzzle")
    return text, next_seed, error, answer


def test_app_random_puzzles_come_from_the_generators_and_clear_the_old_answer(demo_server):
    from hub_datasets.maze import CHARSET, generate_mazes
    from hub_datasets.sudoku import generate_sudoku

    models, client = demo_server
    solve(client, "sudoku", SUDOKU_6X6)
    text, next_seed, error, answer = random_puzzle(client, "sudoku", 0, 7)
    assert text == models["sudoku"].processor.to_text(generate_sudoku(1, size=6, seed=7).questions[0])
    assert (next_seed, error) == (8, "")
    summary, _, picture, verdict, grid, plot, caption = answer  # the previous puzzle's answer is gone
    assert (summary, picture, verdict, grid, plot, caption) == ("", None, "", "", None, "")
    text, _, _, _ = random_puzzle(client, "maze", 4, 2)
    maze = generate_mazes(1, size=5, min_moves=4, seed=2).questions[0]
    assert text == "\n".join("".join(CHARSET[code] for code in row) for row in maze)
    status, _, _ = solve(client, "maze", text)
    assert "Invalid input" not in status


def test_random_sudokus_are_capped_where_the_generator_stays_quick():
    from training.demo import SUDOKU_MAX_DIFFICULTY, difficulty_range, random_puzzle

    processor = PuzzleProcessor("sudoku", grid_size=6)
    assert difficulty_range(processor) == ("difficulty", SUDOKU_MAX_DIFFICULTY[6], 0)
    assert random_puzzle(processor, 10, seed=1) == random_puzzle(processor, SUDOKU_MAX_DIFFICULTY[6], seed=1)
    assert SUDOKU_MAX_DIFFICULTY[4] == 0  # a 4x4 never needs a guess: asking for one would never end


def test_a_maze_model_gets_random_mazes_like_those_it_was_trained_on():
    from hub_datasets.maze import CHARSET, generate_mazes
    from training.demo import difficulty_range, load_demo_model, random_puzzle
    from training.pretrained import shipped_models

    demo_model = load_demo_model(str(shipped_models()["maze11x11"]))
    recipe = demo_model.recipe
    assert recipe["unique_path"] is True
    _, top, default = difficulty_range(demo_model.processor, recipe)
    assert default == recipe["min_moves"] < top
    text = random_puzzle(demo_model.processor, default, seed=3, recipe=recipe)
    expected = generate_mazes(1, size=11, min_moves=default, seed=3, unique_path=True).questions[0]
    assert text == "\n".join("".join(CHARSET[code] for code in row) for row in expected)
    # a model without a recipe (a Hub id, an old folder) keeps the generic range
    assert difficulty_range(demo_model.processor) == ("path length", 15, 7)


def test_app_arc_task_votes_over_the_models_variants(demo_server):
    import json

    import numpy as np

    models, client = demo_server
    model, processor = models["arc"].model, models["arc"].processor
    test_input = [[1, 2, 0], [0, 1, 2]]
    own = processor.decode(model.solve(**processor([test_input], puzzle_names=["0a1b2c3d"]), max_steps=2).predictions[0])
    task = {"train": [{"input": [[1]], "output": [[2]]}], "test": [{"input": test_input, "output": own.tolist()}]}
    status, grid, caption, picture, note = solve(client, "arc", json.dumps(task), max_steps=2, task_id="0a1b2c3d",
                                                 with_arc=True)
    assert status == "Ran all 2 steps (fixed); the halting head never said stop."  # ARC: no rules, no verdict
    assert grid == processor.to_text(own) and caption.startswith("Step 2 of 2: ")
    assert picture is not None  # demonstrations and the test pair
    assert note.startswith("Voting over the model's 2 augmented variant(s) of task `0a1b2c3d`:")
    votes = [int(line.split(": ")[1].split(" vote")[0]) for line in note.splitlines() if line.startswith("* candidate")]
    assert sum(votes) == 2
    assert "pass@2 = 1" in note  # the identity variant's answer is the true output here, so it is one of the two

    _, _, _, _, note = solve(client, "arc", json.dumps(task), max_steps=2, task_id="99999999", with_arc=True)
    assert "no puzzle embedding for task '99999999'" in note
    status, *_ = solve(client, "arc", json.dumps(task), task_id="0a1b2c3d", test_index=3)
    assert "test pair 3 does not exist: the task has 1 test pair(s)" in status
    assert np.asarray(own).ndim == 2


def test_examples_are_puzzles_on_which_the_model_changes_its_mind(monkeypatch):
    import numpy as np

    from hub_datasets.sudoku import SudokuSolver
    from training import demo
    from training.refinement import Refinement

    model, processor = tiny_model("sudoku", 6, max_supervision_steps=4)
    demo_model = demo.DemoModel("sudoku", model, processor)
    candidates = []

    def scripted(model, processor, inputs, max_steps, halting):  # candidate i: valid from step i % 5 (0: never)
        refinements = []
        for index, input_ids in enumerate(inputs["input_ids"].numpy()):
            candidates.append(processor.decode(input_ids))
            settles = index % 5
            problems = [None if settles and step >= settles else "row 0 has two 5s" for step in range(1, max_steps + 1)]
            step_ids = np.stack([input_ids + step for step in range(max_steps)])
            refinements.append(Refinement("sudoku", input_ids, step_ids, np.zeros(max_steps), None, problems, halting))
        return None, refinements

    monkeypatch.setattr(demo, "solve_with_refinements", scripted)
    examples = demo.showcase_puzzles(demo_model, count=3, candidates=10)
    texts = [processor.to_text(grid) for grid in candidates]
    # wrong at step 1 and a valid solution later, the latest first; valid at step 1 teaches nothing
    assert examples == [(texts[4], "6×6 Sudoku: wrong at step 1, valid from step 4"),
                        (texts[9], "6×6 Sudoku: wrong at step 1, valid from step 4"),
                        (texts[3], "6×6 Sudoku: wrong at step 1, valid from step 3")]
    # the candidates: the generator's puzzles needing the most solver guesses, the same on every launch
    ratings = [SudokuSolver(6).rating(grid) for grid in candidates]
    assert ratings == sorted(ratings, reverse=True) and ratings[0] > 0
    assert demo.showcase_puzzles(demo_model, count=3, candidates=10) == examples


def test_the_page_explains_the_model_with_its_own_numbers():
    from training.demo import DemoModel, how_it_works

    model, processor = tiny_model("sudoku", 6, max_supervision_steps=5)
    model.config.num_latent_updates, model.config.num_recursions = 3, 2  # the text reads them from the config
    text = how_it_works(DemoModel("sudoku", model, processor))
    for phrase in ("**answer `y`**", "**latent `z`**", "3 **latent updates**", "repeated 2 times per step",
                   "8 network calls", "up to 5 steps", "**supervision step**", "**halting head**",
                   f"{model.num_parameters():,} parameters", "1 layers, width 32"):
        assert phrase in text, phrase


def test_the_menu_shows_short_model_names():
    from training.demo import short_names

    assert short_names(["/work/runs/sudoku6x6", "/tmp/maze/", "user/trm-arc1"]) == ["sudoku6x6", "maze", "trm-arc1"]
    assert short_names(["a/final", "b/final"]) == ["a/final", "b/final"]  # told apart by their parent folders


def test_trm_demo_without_arguments_serves_the_shipped_models_and_never_trains_them(tmp_path, monkeypatch):
    import training.pretrained
    from training import demo

    monkeypatch.setattr(demo, "find_or_train_default_model", lambda: pytest.fail("trained although models are shipped"))
    monkeypatch.setattr(training.pretrained, "shipped_models",
                        lambda: {"maze": tmp_path / "maze", "sudoku6x6": tmp_path / "sudoku6x6"})
    assert demo.default_models() == [("maze", str(tmp_path / "maze")), ("sudoku6x6", str(tmp_path / "sudoku6x6"))]
    monkeypatch.setattr(training.pretrained, "shipped_models", dict)  # none shipped: the README's default run
    monkeypatch.setattr(demo, "find_or_train_default_model", lambda: "trm-sudoku6x6")
    assert demo.default_models() == [("trm-sudoku6x6", "trm-sudoku6x6")]


# ---------------------------------------------------------------------------------------------------
# the Space


def test_export_space_is_self_contained(tmp_path):
    from huggingface_hub import SpaceCard

    from training.demo import main

    model, processor = tiny_model()
    model.save_pretrained(tmp_path / "model")
    processor.save_pretrained(tmp_path / "model")
    # what a run folder holds beside the model: tracker logs and checkpoints stay out of the Space
    (tmp_path / "model" / "logs" / "run").mkdir(parents=True)
    (tmp_path / "model" / "logs" / "run" / "events.out.tfevents.1").write_bytes(b"x")
    (tmp_path / "model" / "checkpoints" / "checkpoint-2").mkdir(parents=True)
    assert main([str(tmp_path / "model"), "--export-space", str(tmp_path / "space")]) == 0
    space = tmp_path / "space"
    assert {"app.py", "requirements.txt", "README.md", "model", "modeling_trm", "hub_datasets"} <= {
        p.name for p in space.iterdir()}
    assert not (space / "model" / "logs").exists() and not (space / "model" / "checkpoints").exists()
    assert (space / "model" / "config.json").exists()
    requirements = (space / "requirements.txt").read_text()
    assert f"gradio=={gradio.__version__}" in requirements and "transformers" in requirements
    card = SpaceCard.load(space / "README.md")  # valid YAML metadata, read as the Hub reads it
    assert card.data.title == "TRM demo: model" and card.data.sdk == "gradio"
    assert card.data.sdk_version == gradio.__version__ and card.data.app_file == "app.py"
    # the Space's app builds from the folder alone (the package copy beside app.py, not this checkout)
    probe = ("import app, modeling_trm, pathlib; assert pathlib.Path(modeling_trm.__file__).parent == "
             "pathlib.Path.cwd() / 'modeling_trm'; print(type(app.demo).__name__)")
    result = subprocess.run([sys.executable, "-c", probe], check=False, cwd=space, capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(space), "HF_HUB_OFFLINE": "1",
                                 "GRADIO_ANALYTICS_ENABLED": "False", "OMP_NUM_THREADS": "1"}, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("Blocks")
    assert main([str(tmp_path / "model"), "--export-space", str(space)]) == 2  # never overwrites


def test_step_counts_from_the_api_are_whole_numbers(demo_server):
    """A Gradio API client may send 2.5 for max_steps: refused (the app shows it as an input error), not floored."""
    from training.demo import whole_number

    _, client = demo_server
    status, grid, _ = solve(client, "sudoku", SUDOKU_6X6, max_steps=2.5)
    assert "Invalid input" in status and "max_steps must be a whole number &gt;= 1, got 2.5" in status and not grid
    assert whole_number(3, "max_steps", 1) == 3 and whole_number(3.0, "max_steps", 1) == 3
    for value in (2.5, 0, -1, float("nan"), float("inf"), True, "3"):
        with pytest.raises(ValueError, match=f"max_steps must be a whole number >= 1, got {value!r}"):
            whole_number(value, "max_steps", 1)


def test_a_missing_model_folder_is_named(tmp_path, capsys):
    from training.demo import main

    assert main([str(tmp_path / "none")]) == 2
    # the last line says what is wrong (before it, the progress line that was loading it)
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"trm demo: error: no such folder: {tmp_path / 'none'} (and it is not a Hub repo id)")
