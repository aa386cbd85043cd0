"""Auto classes and `trust_remote_code`: a saved folder carries its code and loads where this package
cannot be imported, and solves exactly as the in-process model does."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from transformers import AutoConfig, AutoModel

from modeling_trm import (
    HRMConfig,
    HRMForPuzzleSolving,
    PuzzleProcessor,
    SolveConfig,
    TRMConfig,
    TRMForPuzzleSolving,
)

SUDOKUS = [
    "..3.2.6..9..3.5..1..18.64....81.29..7.......8..67.82....26.95..8..2.3..9..5.1.3..",
    "2...8.3...6..7..84.3.5..2.9...1.54.8.........4.27.6...3.1..7.4.72..4..6...4.1...3",
    "......9.7...42.18....7.5.261..9.4....5.....4....5.7..992.1.8....34.59...5.7......",
]
CODE_FILES = {"configuration_trm.py", "modeling_trm.py", "solving_trm.py", "processing_trm.py"}


def tiny_config(kind: str):
    common = {"vocab_size": 11, "seq_len": 81, "hidden_size": 32, "num_attention_heads": 2, "max_supervision_steps": 3,
                  "puzzle_embedding_dim": 32, "position_encoding": "rope"}
    if kind == "trm":
        return TRMConfig(num_layers=1, num_recursions=2, num_latent_updates=2, puzzle_prefix_len=2, **common)
    return HRMConfig(num_high_layers=1, num_low_layers=1, high_cycles=2, low_cycles=1, **common)


@pytest.fixture(scope="module")
def saved_folders(tmp_path_factory):
    """A TRM and an HRM folder, each with model, solve_config.json and processor."""
    folders = {}
    for kind, model_class in (("trm", TRMForPuzzleSolving), ("hrm", HRMForPuzzleSolving)):
        torch.manual_seed(0)
        model = model_class(tiny_config(kind))
        with torch.no_grad():  # make halting and answers depend on the puzzle
            model.q_head.weight.normal_(0, 0.5)
            model.q_head.bias.zero_()
        model.solve_config = SolveConfig(max_steps=4, halting="adaptive")
        folder = tmp_path_factory.mktemp(kind)
        model.save_pretrained(folder)
        PuzzleProcessor("sudoku").save_pretrained(folder)
        folders[kind] = (folder, model)
    return folders


def test_auto_classes_know_trm_and_hrm():
    for kind, config_class, model_class in (("trm", TRMConfig, TRMForPuzzleSolving), ("hrm", HRMConfig, HRMForPuzzleSolving)):
        fields = {k: v for k, v in tiny_config(kind).to_diff_dict().items() if k != "model_type"}
        config = AutoConfig.for_model(kind, **fields)
        assert type(config) is config_class and config.model_type == kind and config.hidden_size == 32
        assert type(AutoModel.from_config(config)) is model_class


def test_saved_folder_has_auto_map_and_self_contained_code(saved_folders):
    for kind, (folder, _) in saved_folders.items():
        files = {path.name for path in folder.iterdir()}
        expected = CODE_FILES | ({"modeling_hrm.py"} if kind == "hrm" else set())
        assert expected <= files, f"{kind}: missing {expected - files}"
        assert {"config.json", "model.safetensors", "solve_config.json", "processor_config.json"} <= files
        config = json.loads((folder / "config.json").read_text())
        model_module = "modeling_hrm.HRMForPuzzleSolving" if kind == "hrm" else "modeling_trm.TRMForPuzzleSolving"
        config_class = "HRMConfig" if kind == "hrm" else "TRMConfig"
        assert config["model_type"] == kind
        assert config["auto_map"] == {"AutoConfig": f"configuration_trm.{config_class}", "AutoModel": model_module}
        processor = json.loads((folder / "processor_config.json").read_text())
        assert processor["auto_map"] == {"AutoProcessor": "processing_trm.PuzzleProcessor"}

        # The code imports only its sibling files (relatively) and third-party libraries.
        for name in files & (CODE_FILES | {"modeling_hrm.py"}):
            tree = ast.parse((folder / name).read_text())
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.level > 0:
                    assert node.level == 1 and f"{node.module}.py" in files, f"{name}: from .{node.module}"
                elif isinstance(node, ast.ImportFrom | ast.Import):
                    modules = [node.module] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                    for module in modules:
                        top = module.split(".")[0]
                        assert top not in {"modeling_trm", "hub_datasets", "training", "model_cards"}, f"{name}: {module}"


def test_from_pretrained_restores_weights_rope_tables_and_solve_config(saved_folders):
    for folder, model in saved_folders.values():
        loaded = AutoModel.from_pretrained(folder)
        assert type(loaded) is type(model) and loaded.solve_config == model.solve_config
        # RoPE tables are non-persistent buffers: recomputed after the meta-device load, not garbage
        torch.testing.assert_close(loaded.rotary_emb.cos, model.rotary_emb.cos, atol=0, rtol=0)
        puzzles = PuzzleProcessor("sudoku")(SUDOKUS)
        ours, theirs = model.solve(**puzzles, output_logits=True), loaded.solve(**puzzles, output_logits=True)
        torch.testing.assert_close(theirs.logits, ours.logits, atol=0, rtol=0)
        assert torch.equal(theirs.steps, ours.steps)


REMOTE_SCRIPT = textwrap.dedent(
    """
    import json, sys

    class BlockPackage:  # this package is "not installed": only the folder's own code may be used
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "modeling_trm":
                raise ImportError(f"{name} is blocked in this test")

    sys.meta_path.insert(0, BlockPackage())
    try:
        import modeling_trm  # noqa: F401
        raise SystemExit("modeling_trm is importable; the test would prove nothing")
    except ImportError:
        pass

    from transformers import AutoModel, AutoProcessor

    puzzles, results = json.loads(sys.stdin.read()), {}
    for folder in sys.argv[1:]:
        model = AutoModel.from_pretrained(folder, trust_remote_code=True)
        processor = AutoProcessor.from_pretrained(folder, trust_remote_code=True)
        out = model.solve(**processor(puzzles))
        results[folder] = {
            "model_module": type(model).__module__,
            "processor_module": type(processor).__module__,
            "solve_config": model.solve_config.to_dict(),
            "predictions": out.predictions.tolist(),
            "steps": out.steps.tolist(),
            "grids": [grid.tolist() for grid in processor.decode(out.predictions)],
        }
    print(json.dumps(results))
    """
)


def test_trust_remote_code_loads_and_solves_without_the_package(saved_folders, tmp_path):
    folders = [str(folder) for folder, _ in saved_folders.values()]
    env = {**os.environ, "HF_MODULES_CACHE": str(tmp_path / "modules"), "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""}
    result = subprocess.run(
        [sys.executable, "-c", REMOTE_SCRIPT, *folders], input=json.dumps(SUDOKUS),
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    remote = json.loads(result.stdout.strip().splitlines()[-1])

    processor = PuzzleProcessor("sudoku")
    for folder, model in saved_folders.values():
        got = remote[str(folder)]
        assert got["model_module"].startswith("transformers_modules.")
        assert got["processor_module"].startswith("transformers_modules.")
        assert got["solve_config"] == model.solve_config.to_dict()
        ours = model.solve(**processor(SUDOKUS))  # adaptive, 4 steps: from the saved solve_config
        assert got["predictions"] == ours.predictions.tolist()
        assert got["steps"] == ours.steps.tolist()
        assert got["grids"] == [grid.tolist() for grid in processor.decode(ours.predictions)]
