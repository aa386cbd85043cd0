"""Acceptance test of the Hub workflow, against the local Hub server.

build a puzzle dataset -> push it -> train a tiny TRM on the *Hub* dataset -> the trainer pushes the
model folder with its card -> `trm push --revision dev` -> in a fresh process where this project
cannot be imported, `AutoModel`/`AutoProcessor.from_pretrained(..., trust_remote_code=True)` load it
and `solve` rows of `datasets.load_dataset(repo)`; `trm eval` on the Hub model + Hub dataset
reproduces the scores of the card's `model-index`.
"""

from __future__ import annotations

import json

import pytest
from huggingface_hub import HfApi, ModelCard

DATASET_REPO = "test-user/sudoku-e2e"
MODEL_REPO = "test-user/trm-sudoku-e2e"

TRAIN_AND_PUSH = f"""
import json
from pathlib import Path

import torch
from hub_datasets import build_dataset, push_puzzle_dataset
from modeling_trm import TRMForPuzzleSolving
from training.cli import main as trm
from training.config import PRESETS, TrainingConfig
from training.train import train

dataset, metadata = build_dataset("sudoku-gen-small", num_train=16, num_test=16, num_aug=1)
push_puzzle_dataset(dataset, metadata, {DATASET_REPO!r})

values = PRESETS["sudoku6x6"].to_dict()
values.update(dataset={DATASET_REPO!r}, dataset_recipe=None, dataset_options={{}}, output_dir="model", max_steps=3, global_batch_size=16,
              eval_at_start=False, log_with="none", solve_sample=False, push_to_hub={MODEL_REPO!r})
values["model"].update(hidden_size=32, num_attention_heads=2)
model_dir = train(TrainingConfig.from_dict(values))  # finish() pushes the folder with training.publish

# predictions of the package classes on the local folder, to compare with the remote-code process
local = TRMForPuzzleSolving.from_pretrained(model_dir).eval()
test = dataset["test"].to_dict()
predictions = local.solve(torch.tensor(test["inputs"], dtype=torch.long),
                          puzzle_ids=torch.tensor(test["puzzle_id"])).predictions

# the same weights on a branch, with a different solve_config.json
solve_config = json.loads((model_dir / "solve_config.json").read_text())
(model_dir / "solve_config.json").write_text(json.dumps({{**solve_config, "halting": "adaptive", "max_steps": 2}}))
assert trm(["push", str(model_dir), {MODEL_REPO!r}, "--revision", "dev"]) == 0
assert trm(["eval", {MODEL_REPO!r}, "--dataset", {DATASET_REPO!r}, "--output", "hub_eval.json"]) == 0

print("RESULT", json.dumps({{"hub_eval": json.loads(Path("hub_eval.json").read_text()),
                            "local_predictions": predictions.tolist()}}))
"""

FRESH_PROCESS = f"""
import json

import numpy as np
import torch

from datasets import load_dataset
from transformers import AutoModel, AutoProcessor

model = AutoModel.from_pretrained({MODEL_REPO!r}, trust_remote_code=True).eval()
processor = AutoProcessor.from_pretrained({MODEL_REPO!r}, trust_remote_code=True)
dev = AutoModel.from_pretrained({MODEL_REPO!r}, revision="dev", trust_remote_code=True)
test = load_dataset({DATASET_REPO!r}, split="test").to_dict()

inputs = torch.tensor(test["inputs"], dtype=torch.long)
output = model.solve(inputs, puzzle_ids=torch.tensor(test["puzzle_id"]))
predictions, labels = output.predictions.numpy(), np.array(test["labels"])
supervised = labels != -100
correct = (predictions == labels) & supervised
grids = processor.decode(inputs)
print("RESULT", json.dumps({{
    "model_class": type(model).__module__ + "." + type(model).__name__,
    "processor_class": type(processor).__module__ + "." + type(processor).__name__,
    "predictions": predictions.tolist(),
    "exact_accuracy": float(np.mean(correct.sum(1) == supervised.sum(1))),
    "cell_accuracy": float(np.mean(correct.sum(1) / supervised.sum(1))),
    "steps": output.steps.tolist(),
    "reencoded_equal": bool((processor(grids, return_tensors="pt")["input_ids"] == inputs).all()),
    "grid_shape": list(np.asarray(grids[0]).shape),
    "main_solve_config": model.solve_config.halting, "dev_solve_config": dev.solve_config.halting,
    "dev_weights_equal": all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), dev.state_dict().values())),
}}))
"""


def _result(output: str) -> dict:
    return json.loads(next(line for line in reversed(output.splitlines()) if line.startswith("RESULT "))[7:])


def test_dataset_and_model_round_trip_through_the_hub(hub_server, tmp_path):
    trained = _result(hub_server.run_python(TRAIN_AND_PUSH, cwd=tmp_path, timeout=300))

    api = HfApi()
    dataset_files = api.list_repo_files(DATASET_REPO, repo_type="dataset")
    assert {"README.md", "puzzle_dataset.json"} <= set(dataset_files)
    assert any(f.startswith("data/test-") and f.endswith(".parquet") for f in dataset_files)
    model_files = set(api.list_repo_files(MODEL_REPO))
    assert {"config.json", "model.safetensors", "processor_config.json", "solve_config.json", "README.md",
            "eval_results.json", "configuration_trm.py", "modeling_trm.py", "solving_trm.py",
            "processing_trm.py"} <= model_files
    assert not any(f.startswith(("checkpoints/", "logs/")) for f in model_files)  # training state stays local
    branches = {b.name for b in api.list_repo_refs(MODEL_REPO).branches}
    assert branches == {"main", "dev"}

    fresh = _result(hub_server.run_python(FRESH_PROCESS, isolated=True, cwd=tmp_path, timeout=300))
    assert fresh["model_class"].startswith("transformers_modules.")  # remote code, not the package
    assert fresh["model_class"].endswith(".TRMForPuzzleSolving")
    assert fresh["processor_class"].endswith(".PuzzleProcessor")
    assert fresh["predictions"] == trained["local_predictions"]
    assert fresh["reencoded_equal"] and fresh["grid_shape"] == [9, 9]
    from training.config import PRESETS

    # fixed halting: max_supervision_steps of the preset
    assert fresh["steps"] == [PRESETS["sudoku6x6"].model["max_supervision_steps"]] * 16
    assert (fresh["main_solve_config"], fresh["dev_solve_config"]) == ("fixed", "adaptive")
    assert fresh["dev_weights_equal"]

    # the card on the Hub reports what `trm eval` measures on the Hub model and the Hub dataset,
    # and what the fresh process recomputes from the raw predictions
    card = ModelCard.load(MODEL_REPO)
    scores = {result.metric_type: result for result in card.data.eval_results}
    assert {"exact_accuracy", "cell_accuracy", "halting_accuracy", "mean_steps"} <= set(scores)
    hub_eval = trained["hub_eval"]
    assert hub_eval["model"] == MODEL_REPO and hub_eval["dataset"] == DATASET_REPO
    for metric, result in scores.items():
        assert result.dataset_type == DATASET_REPO and result.dataset_split == "test"
        assert hub_eval[metric] == pytest.approx(result.metric_value, abs=1e-9), metric
    assert fresh["exact_accuracy"] == pytest.approx(scores["exact_accuracy"].metric_value, abs=1e-9)
    assert fresh["cell_accuracy"] == pytest.approx(scores["cell_accuracy"].metric_value, abs=1e-9)
