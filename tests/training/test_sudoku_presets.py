"""The small Sudoku presets (docs/recipes.md): valid configs that build their generated data and train."""

from __future__ import annotations

import json

import pytest

from training.config import PRESETS, TrainingConfig, apply_overrides


def test_default_preset_is_the_documented_recipe():
    preset = PRESETS["sudoku6x6"]
    assert preset.dataset_options["num_test"] >= 256  # the README's accuracy is over >= 256 held-out puzzles
    assert (preset.model["token_mixer"], preset.model["position_encoding"]) == ("mlp", "none")
    steps = preset.epochs * preset.dataset_options["num_train"] / preset.global_batch_size
    assert steps == 3000  # the step count measured in docs/recipes.md (a change needs a new measurement)


@pytest.mark.parametrize("name, size", [("sudoku6x6", 6), ("sudoku9x9", 9)])
def test_sudoku_preset_builds_its_data_and_trains_at_tiny_scale(name, size, tmp_path):
    from modeling_trm import TRMForPuzzleSolving
    from training.train import train

    preset = PRESETS[name]
    config = TrainingConfig.from_dict(apply_overrides(preset.to_dict(), {
        "output_dir": str(tmp_path / name), "max_steps": 2, "global_batch_size": 8, "eval_max_examples": 8,
        "log_with": "none", "log_interval": 1, "solve_sample": False, "eval_at_start": False,
        "dataset_options": {"num_train": 4, "num_test": 8, "num_aug": 1}, "model.hidden_size": 16}))
    model = TRMForPuzzleSolving.from_pretrained(train(config))
    assert (model.config.seq_len, model.config.vocab_size) == (size * size, size + 2)
    assert model.config.max_supervision_steps == preset.model["max_supervision_steps"]
    assert model.config.token_mixer == preset.model["token_mixer"]
    log = json.loads((tmp_path / name / "training_log.json").read_text())
    assert log["train"][-1]["step"] == 2 and log["eval"][-1]["num_puzzles"] == 8
