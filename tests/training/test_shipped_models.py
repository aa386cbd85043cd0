"""The models that ship in training/pretrained/ load through the Auto classes and solve fresh puzzles.

The puzzles come from the package's generators with seeds that no recipe uses, so they are outside the
models' training data; every answer is judged by the puzzle's rules (`PuzzleProcessor.check_solution`,
never by a stored answer).
What each model solves on its full held-out split is measured by benchmarks/shipped_models.py.
"""

from __future__ import annotations

import ast
import filecmp
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from transformers import AutoModel, AutoProcessor

import modeling_trm  # noqa: F401  (registers TRM/HRM with the Auto classes)
from training.pretrained import shipped_models

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results" / "shipped_models" / "results.json"
FRESH_SEED = 987_654  # no recipe generates with this seed
COUNT = 24


def _fresh_sudokus(size: int) -> list[str]:
    from hub_datasets.sudoku import generate_sudoku

    records = generate_sudoku(COUNT, size=size, seed=FRESH_SEED)
    return ["".join(str(d) if d else "." for d in q.ravel()) for q in records.questions]


def _fresh_mazes(size: int, dataset_options: dict) -> list[str]:
    """Mazes as the model's recipe generates them (its path length and uniqueness), from an unused seed."""
    from hub_datasets.maze import CHARSET, generate_mazes

    records = generate_mazes(COUNT, size=size, min_moves=dataset_options["min_moves"], seed=FRESH_SEED,
                             unique_path=dataset_options.get("unique_path", False))
    return ["".join(CHARSET[c] for c in q.ravel()) for q in records.questions]


@pytest.mark.parametrize("name", ["sudoku6x6", "sudoku9x9", "maze11x11"])
def test_a_shipped_model_solves_fresh_puzzles_by_the_rules(name):
    from training.config import TrainingConfig

    assert name in shipped_models(), f"training/pretrained/{name} is not shipped"
    folder = shipped_models()[name]
    model, processor = AutoModel.from_pretrained(folder).eval(), AutoProcessor.from_pretrained(folder)
    recipe = TrainingConfig.from_yaml(folder / "training_config.yaml").dataset_options
    puzzles = (_fresh_mazes(processor.grid_size, recipe) if processor.task == "maze"
               else _fresh_sudokus(processor.grid_size))
    inputs = processor(puzzles, return_tensors="pt")
    output = model.solve(**inputs)  # the saved solve_config: fixed halting at the trained steps
    problems = processor.check_solution(inputs["input_ids"], output.predictions)
    solved = np.array([problem is None for problem in problems])
    # At least the share of held-out puzzles this model solves (benchmarks/shipped_models.py), less 2.5
    # standard deviations of a binomial count of COUNT puzzles and one puzzle for bf16 rounding on other CPUs.
    accuracy = json.loads(RESULTS.read_text())["models"][name]["fixed"]["solved"]
    expected = accuracy * COUNT
    assert solved.sum() >= expected - 2.5 * np.sqrt(COUNT * accuracy * (1 - accuracy)) - 1, (solved.sum(), expected)


@pytest.mark.parametrize("name", ["sudoku6x6", "sudoku9x9", "maze11x11"])
def test_a_shipped_folder_is_complete_and_its_code_is_the_packages_own(name):
    """Everything `trm push` requires is there, remote code included; each code file is a link to the package's
    module in modeling_trm/, so the folder's code is never an older copy."""
    from training.publish import check_model_folder

    folder = shipped_models()[name]
    check_model_folder(folder)
    code = sorted(path.name for path in folder.glob("*.py"))
    assert code == ["configuration_trm.py", "modeling_trm.py", "pipeline_trm.py", "processing_trm.py", "solving_trm.py"]
    for file in code:
        assert filecmp.cmp(folder / file, ROOT / "modeling_trm" / file, shallow=False), file


PIPELINE_SCRIPT = """
import json, sys
from transformers import pipeline
solver = pipeline("puzzle-solving", model=sys.argv[1], trust_remote_code=True)
print(json.dumps({"module": type(solver).__module__, "answers": solver(json.loads(sys.stdin.read()))}))
"""


def test_the_pipeline_of_a_shipped_folder_loads_from_its_own_code_and_solves(tmp_path):
    """`pipeline("puzzle-solving", model=folder, trust_remote_code=True)` as docs/solving.md shows it, in a process
    that never imports the package: the pipeline and model come from the folder's code files."""
    folder = shipped_models()["sudoku6x6"]
    puzzles = _fresh_sudokus(6)[:8]
    env = {**os.environ, "HF_MODULES_CACHE": str(tmp_path / "modules"), "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""}
    result = subprocess.run([sys.executable, "-c", PIPELINE_SCRIPT, str(folder)], input=json.dumps(puzzles),
                            capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    remote = json.loads(result.stdout.strip().splitlines()[-1])
    assert remote["module"].startswith("transformers_modules.")

    model, processor = AutoModel.from_pretrained(folder).eval(), AutoProcessor.from_pretrained(folder)
    inputs = processor(puzzles, return_tensors="pt")
    ours = model.solve(**inputs)
    assert [answer["solution"] for answer in remote["answers"]] == [g.tolist() for g in processor.decode(ours.predictions)]
    problems = processor.check_solution(inputs["input_ids"], ours.predictions)
    assert [answer["valid"] for answer in remote["answers"]] == [problem is None for problem in problems]


@pytest.mark.parametrize("name", ["sudoku6x6", "sudoku9x9", "maze11x11"])
def test_a_shipped_model_card_is_rendered_from_its_folder_under_its_shipped_name(name):
    from model_cards.render import render_model_card

    folder = shipped_models()[name]
    card = render_model_card(folder, save=False)
    assert (folder / "README.md").read_text() == str(card)  # current: the card `trm card` writes
    assert card.data.model_name == name and f"# {name}\n" in card.text
    if name.startswith("sudoku"):  # what each difficulty band gets, at the trained steps
        assert "Exact accuracy by difficulty" in card.text


def test_the_readme_quickstart_solves_its_puzzle_as_the_readme_shows(capsys):
    """The README's quickstart code, run as it stands: a generated puzzle has one solution, so a solved grid
    is the README's printed grid on any CPU; the step at which the answer becomes valid may move with bf16
    rounding, so only the last step's verdict is compared."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    code, shown = re.findall(r"^```(?:python)?\n(.*?)^```$", readme[readme.index("## Quickstart"):],
                             flags=re.DOTALL | re.MULTILINE)[:2]
    exec(compile(code, "README.md (quickstart)", "exec"), {})
    printed, shown = capsys.readouterr().out.splitlines(), shown.splitlines()
    assert printed[:-1] == shown[:-1]  # the solution grid and its verdict, [None]
    steps_valid = ast.literal_eval(printed[-1])  # per step: is the answer after it a valid solution?
    assert len(steps_valid) == 16 and steps_valid[-1] and ast.literal_eval(shown[-1])[-1]
