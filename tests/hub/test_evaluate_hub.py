"""The `evaluate` modules, published as Hub metric Spaces, load by Hub id (and from a copied folder) in a
process where this package cannot be imported, as for a user who has only `evaluate` installed."""

from __future__ import annotations

import json
import shutil

from training.metrics import evaluate_module_path, push_evaluate_module

NAMES = ("puzzle_accuracy", "halting_accuracy", "arc_pass_at_k")

LOAD_AND_COMPUTE = """
import json, evaluate
out = {}
for source in json.loads(SOURCES):
    puzzle = evaluate.load(source["puzzle_accuracy"])
    halting = evaluate.load(source["halting_accuracy"])
    arc = evaluate.load(source["arc_pass_at_k"])
    canvas = [2, 3] + [1] * 898  # a 1x2 grid: colours 0, 1 then EOS
    out[source["puzzle_accuracy"]] = [
        puzzle.compute(predictions=[[2, 3], [2, 4]], references=[[2, 3], [2, 3]]),
        halting.compute(predictions=[3.0, -2.0, 0.5], references=[1, 1, 0]),
        arc.compute(predictions=[canvas], references=[canvas], inputs=[canvas], puzzle_names=["t"],
                    augmentations=["t4"], halt_logits=[0.0], pass_ks=[1]),
    ]
print(json.dumps(out))
"""


def test_modules_load_by_hub_id_and_from_a_folder_without_the_package(hub_server, tmp_path):
    from huggingface_hub import HfApi

    for name in NAMES:
        assert push_evaluate_module(name, f"metrics/{name}") == f"metrics/{name}"
        files = set(HfApi().list_repo_files(f"metrics/{name}", repo_type="space"))
        assert {f"{name}.py", "README.md", "app.py", "requirements.txt"} <= files and "__init__.py" not in files
        shutil.copytree(evaluate_module_path(name), tmp_path / "copies" / name)
    sources = [{name: f"metrics/{name}" for name in NAMES},
               {name: str(tmp_path / "copies" / name) for name in NAMES}]
    code = f"SOURCES = {json.dumps(json.dumps(sources))}\n" + LOAD_AND_COMPUTE
    results = json.loads(hub_server.run_python(code, isolated=True, cwd=tmp_path, timeout=300).strip().splitlines()[-1])
    expected = [{"exact_accuracy": 0.5, "cell_accuracy": 0.75, "num_puzzles": 2}, {"halting_accuracy": 1 / 3},
                {"pass@1": 1.0, "num_tasks": 1}]
    assert results == {"metrics/puzzle_accuracy": expected, str(tmp_path / "copies" / "puzzle_accuracy"): expected}
    assert any(path.startswith("/spaces/metrics/arc_pass_at_k/resolve/") for _, path, _ in hub_server.requests)


def test_a_space_name_other_than_the_module_is_refused():
    import pytest

    with pytest.raises(ValueError, match="must be named 'puzzle_accuracy'"):
        push_evaluate_module("puzzle_accuracy", "metrics/accuracy")
