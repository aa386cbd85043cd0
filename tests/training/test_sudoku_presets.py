"""The small CPU presets (docs/recipes.md): valid configs that build their generated data and train."""

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


@pytest.mark.parametrize("name, seq_len, vocab_size", [("sudoku6x6", 36, 8), ("sudoku9x9", 81, 11), ("maze11x11", 121, 6)])
def test_small_preset_builds_its_data_and_trains_at_tiny_scale(name, seq_len, vocab_size, tmp_path, capsys):
    from modeling_trm import TRMForPuzzleSolving
    from training.evaluation import load_eval_results
    from training.hardware import resolve_compile
    from training.train import train

    preset = PRESETS[name]
    config = TrainingConfig.from_dict(apply_overrides(preset.to_dict(), {
        "output_dir": str(tmp_path / name), "max_steps": 2, "global_batch_size": 8, "eval_max_examples": 8,
        "log_with": "none", "log_interval": 1, "solve_sample": False, "eval_at_start": False,
        "halt_calibration_puzzles": 8,
        "dataset_options": {"num_train": 4, "num_test": 8, "num_aug": 0 if name.startswith("maze") else 1},
        "model.hidden_size": 16}))  # the 9x9 preset compiles: one run through inductor
    model, loading = TRMForPuzzleSolving.from_pretrained(train(config), output_loading_info=True)
    assert not loading["missing_keys"]  # a compiled run's weights load too
    assert (model.config.seq_len, model.config.vocab_size) == (seq_len, vocab_size)
    assert model.config.max_supervision_steps == preset.model["max_supervision_steps"]
    assert model.config.token_mixer == preset.model["token_mixer"]
    assert model.config.num_recursions == preset.model["num_recursions"]
    log = json.loads((tmp_path / name / "training_log.json").read_text())
    assert log["train"][-1]["step"] == 2 and log["eval"][-1]["num_puzzles"] == 8
    # a Sudoku run's final (fixed-halting) evaluation is also split by difficulty, for its card
    fixed = next(entry for entry in load_eval_results(tmp_path / name / "eval_results.json")
                 if entry["halting"] == "fixed")
    bands = fixed.get("exact_accuracy_by_difficulty")
    assert (bands is not None) == name.startswith("sudoku")
    assert bands is None or sum(band["num_puzzles"] for band in bands) == 8
    summary = capsys.readouterr().out  # and the run's last lines say it
    # the summary says how the training step ran (inductor, or eager where the CPU has no C++ compiler)
    assert f"training step {resolve_compile(config.compile, 'cpu')[1]};" in summary
    # the 9x9 preset trains shallow first: of two steps, the first at 1x1 and the second at 2x2
    assert ("depth curriculum (num_recursions x num_latent_updates): 1x1 from step 1, 2x2 from step 2, "
            in summary) == (name == "sudoku9x9")
    assert ("Test exact accuracy by difficulty" in summary) == name.startswith("sudoku")
    for band in bands or []:
        if band["num_puzzles"]:
            assert f"{band['band']} {100 * band['exact_accuracy']:.1f}% of {band['num_puzzles']}" in summary


def test_small_presets_train_in_bf16_where_the_cpu_computes_it():
    from training.hardware import native_bf16, resolve_forward_dtype

    for name in ("sudoku4x4", "sudoku6x6", "sudoku9x9", "maze11x11"):
        assert PRESETS[name].model["forward_dtype"] == "auto"
    expected = "bfloat16" if native_bf16("cpu")[0] else "float32"
    assert resolve_forward_dtype("auto", "cpu")[0] == expected
