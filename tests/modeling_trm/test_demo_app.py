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

    from modeling_trm.demo import DemoModel, build_app

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
          test_index: int = 0, with_arc: bool = False):
    # outputs: status, step slider, picture, grid text, plot, caption, ARC picture, ARC note (the State stays server-side)
    status, _, _, grid, _, caption, arc_picture, arc_note = client.predict(
        model, text, max_steps, halting, task_id, test_index, api_name="/solve")
    return (status, grid, caption, arc_picture, arc_note) if with_arc else (status, grid, caption)


def test_app_solves_shows_every_step_and_says_whether_the_answer_is_valid(demo_server):
    models, client = demo_server
    model, processor = models["sudoku"].model, models["sudoku"].processor
    inputs = processor([SUDOKU_6X6])
    expected = model.solve(**inputs, max_steps=4, halting="fixed", return_intermediate=True)
    problem = processor.check_solution(inputs["input_ids"][0], expected.predictions[0])
    assert problem is not None  # untrained: not a solution, and the page says why

    status, grid, caption = solve(client, "sudoku", processor.to_text(SUDOKU_6X6))  # the printed form is accepted
    assert f"not a valid solution**: {problem}." in status
    assert "Ran all 4 steps (fixed); the halting head never said stop." in status
    assert grid == processor.to_text(processor.decode(expected.predictions[0]))
    assert caption.startswith("Step 4 of 4: ")

    for step in (1, 2):  # the step slider: each step's grid and how many cells changed
        _, grid, _, caption = client.predict(step, api_name="/show_step")
        tokens = expected.intermediate_predictions[step - 1, 0]
        before = expected.intermediate_predictions[step - 2, 0] if step > 1 else inputs["input_ids"][0]
        changed = int((tokens != before).sum())
        assert grid == processor.to_text(processor.decode(tokens))
        confidence = torch.sigmoid(expected.halt_logits[step - 1, 0]).item()
        assert caption.startswith(f"Step {step} of 4: {changed} cell{'s' if changed != 1 else ''} changed, "
                                  f"halting confidence {confidence:.3f}.")
    _, grid, _, caption = client.predict(0, api_name="/show_step")
    assert grid == processor.to_text(SUDOKU_6X6) and caption == "Step 0: the puzzle as given."


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
    status, _, caption = solve(client, "sudoku", SUDOKU_6X6)
    assert status.startswith("The final answer is a **valid solution**.")
    assert caption.endswith("Valid solution.")


def test_app_shows_bad_grids_as_errors_naming_the_cell(demo_server):
    _, client = demo_server
    clash = "5" + SUDOKU_6X6[1:]
    for text, message in [
        (clash, "row 0 has two 5s (row 0, column 0 and row 0, column 2)"),
        (SUDOKU_6X6[:-1], "a 6x6 sudoku string needs 36 cells, got 35"),
        (SUDOKU_6X6[:-1] + "x", "unknown character 'x' at row 5, column 5"),
        ("", "the puzzle is empty"),
    ]:
        status, grid, caption = solve(client, "sudoku", text)
        assert status.startswith("**Invalid input**: ") and message in status
        assert (grid, caption) == ("", "")
    status, _, _ = solve(client, "maze", "#####\n#S# #\n### #\n#  G#\n#####")
    assert "the goal 'G' at row 3, column 3 cannot be reached from 'S'" in status


def test_app_halting_settings(demo_server):
    _, client = demo_server
    status, _, _ = solve(client, "halts", SUDOKU_6X6, max_steps=6, halting="fixed")
    assert "Ran all 6 steps (fixed); adaptive halting would stop after step 1." in status
    status, _, caption = solve(client, "halts", SUDOKU_6X6, max_steps=6, halting="adaptive")
    assert "Adaptive halting stopped after step 1." in status and caption.startswith("Step 1 of 1: ")


def test_app_random_puzzles_come_from_the_generators(demo_server):
    from hub_datasets.maze import CHARSET, generate_mazes
    from hub_datasets.sudoku import generate_sudoku

    models, client = demo_server
    text, next_seed, status = client.predict("sudoku", 0, 7, api_name="/random_puzzle")
    assert text == models["sudoku"].processor.to_text(generate_sudoku(1, size=6, seed=7).questions[0])
    assert (next_seed, status) == (8, "")
    text, _, _ = client.predict("maze", 4, 2, api_name="/random_puzzle")
    maze = generate_mazes(1, size=5, min_moves=4, seed=2).questions[0]
    assert text == "\n".join("".join(CHARSET[code] for code in row) for row in maze)
    status, _, _ = solve(client, "maze", text)
    assert "Invalid input" not in status


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


# ---------------------------------------------------------------------------------------------------
# the Space


def test_export_space_is_self_contained(tmp_path):
    from modeling_trm.demo import main

    model, processor = tiny_model()
    model.save_pretrained(tmp_path / "model")
    processor.save_pretrained(tmp_path / "model")
    assert main([str(tmp_path / "model"), "--export-space", str(tmp_path / "space")]) == 0
    space = tmp_path / "space"
    assert {"app.py", "requirements.txt", "README.md", "model", "modeling_trm", "hub_datasets"} <= {
        p.name for p in space.iterdir()}
    requirements = (space / "requirements.txt").read_text()
    assert f"gradio=={gradio.__version__}" in requirements and "transformers" in requirements
    assert "sdk: gradio" in (space / "README.md").read_text()
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
    from modeling_trm.demo import whole_number

    _, client = demo_server
    status, grid, _ = solve(client, "sudoku", SUDOKU_6X6, max_steps=2.5)
    assert status == "**Invalid input**: max_steps must be a whole number >= 1, got 2.5" and not grid
    assert whole_number(3, "max_steps", 1) == 3 and whole_number(3.0, "max_steps", 1) == 3
    for value in (2.5, 0, -1, float("nan"), float("inf"), True, "3"):
        with pytest.raises(ValueError, match=f"max_steps must be a whole number >= 1, got {value!r}"):
            whole_number(value, "max_steps", 1)


def test_a_missing_model_folder_is_named(tmp_path, capsys):
    from modeling_trm.demo import main

    assert main([str(tmp_path / "none")]) == 2
    assert capsys.readouterr().err.strip() == f"trm demo: error: no such folder: {tmp_path / 'none'} (and it is not a " \
                                              "Hub repo id)"
