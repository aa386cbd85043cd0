"""The training loop end to end: it learns, it refuses bad data, it stops on NaN (fine-tuning: test_fine_tuning.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from datasets import Dataset, DatasetDict

import hub_datasets
from hub_datasets import PuzzleDatasetMetadata, SplitStatistics
from hub_datasets.progress import LOG_EVERY_PERCENT
from training.checkpointing import list_checkpoints
from training.config import PRESETS, TrainingConfig
from training.evaluation import main as eval_main
from training.train import Trainer, parse_args

REPO_ROOT = Path(__file__).resolve().parents[2]


def _reversal_dataset(path: Path, num_train=2048, num_test=64, length=8, vocab_size=12, seed=0) -> str:
    """Held-out generalisation task: the answer is the input read backwards (chance: 10^-8).

    Stored as a 4x4 ARC-like grid (16 cells of colour tokens 2..11, the last 8 unsupervised): a task whose
    vocabulary its rows fit, as `trm train` checks, so that the final evaluation of `trm train`
    (`training.evaluation.evaluate`) runs as for any dataset.
    """
    rng = np.random.default_rng(seed)
    splits, stats, seq_len = {}, {}, 16
    for name, n in (("train", num_train), ("test", num_test)):
        digits = rng.integers(2, vocab_size, size=(n, length))
        inputs = np.concatenate([digits, np.ones((n, seq_len - length), np.int64)], axis=1)
        labels = np.concatenate([digits[:, ::-1], np.full((n, seq_len - length), -100)], axis=1)
        splits[name] = Dataset.from_dict(
            dict(inputs=inputs.astype(np.uint8), labels=labels.astype(np.int8), puzzle_id=np.zeros(n, np.int32),
                 group_id=np.arange(n, dtype=np.int32), variant_id=np.arange(n, dtype=np.int32),
                 puzzle_name=[f"{name}{i}" for i in range(n)], augmentation=[""] * n),
            features=hub_datasets.puzzle_features(seq_len),
        )
        stats[name] = SplitStatistics(total_groups=n, total_puzzles=n, total_examples=n, mean_puzzle_examples=1.0)
    metadata = PuzzleDatasetMetadata(task="arc", recipe="reversal", seed=seed, vocab_size=vocab_size, seq_len=seq_len,
                                     num_puzzle_identifiers=1, puzzle_identifiers=["<blank>"], splits=stats)
    hub_datasets.save_puzzle_dataset(DatasetDict(splits), metadata, path)
    return str(path)


def test_training_lifts_held_out_exact_accuracy_far_above_the_untrained_model(tmp_path):
    config = TrainingConfig(
        dataset=_reversal_dataset(tmp_path / "data"),
        model=dict(hidden_size=32, num_attention_heads=2, expansion=2, num_layers=1, num_recursions=1,
                   num_latent_updates=1, puzzle_embedding_dim=0, max_supervision_steps=2, halt_exploration_prob=0.1,
                   position_encoding="learned"),
        global_batch_size=64, epochs=8, eval_interval=2, lr=3e-3, lr_warmup_steps=10, weight_decay=0.1, ema_rate=0.9,
        eval_at_start=True, log_interval=16, log_with="none", output_dir=str(tmp_path / "run"), solve_sample=False,
    )
    output_dir = Trainer(config).run()
    from training.evaluation import load_eval_results

    # the paper's evaluation (fixed halting); beside it the run saved adaptive halting at its chosen confidence
    results = {entry["halting"]: entry for entry in load_eval_results(output_dir / "eval_results.json")}["fixed"]
    log = json.loads((output_dir / "training_log.json").read_text())
    before, after = log["eval"][0]["exact_accuracy"], results["exact_accuracy"]
    assert log["eval"][0]["step"] == 0 and before == 0.0
    assert (results["step"], results["weights"], results["split"]) == (log["eval"][-1]["step"], "ema", "test")
    assert after == log["eval"][-1]["exact_accuracy"]  # the in-loop evaluation and `evaluate` agree
    assert after >= 0.8, f"exact accuracy only {after:.3f} after training"
    # the saved folder is a complete model: weights + config, and it loads back with the same accuracy
    from modeling_trm.modeling_trm import TRMForPuzzleSolving

    reloaded = TRMForPuzzleSolving.from_pretrained(output_dir)
    test = hub_datasets.load_puzzle_dataset(config.dataset)["test"].with_format("torch")[:]
    solved = reloaded.solve(test["inputs"].long(), halting="fixed").predictions
    labels = test["labels"].long()
    exact = ((solved == labels) | (labels == -100)).all(-1).float().mean().item()
    assert exact == pytest.approx(after)
    assert log["train"][-1]["loss"] < log["train"][0]["loss"]
    # `trm eval` on the saved folder writes the same layout with the same numbers: one scoring path
    assert eval_main([str(output_dir), "--dataset", config.dataset, "--output", str(tmp_path / "eval.json")]) == 0
    evaluated = json.loads((tmp_path / "eval.json").read_text())
    assert list(evaluated) == list(results)
    differ = {"model", "date", "step", "weights"}  # where the numbers came from, and when
    assert {k: v for k, v in evaluated.items() if k not in differ} == {k: v for k, v in results.items() if k not in differ}


def test_dataset_that_does_not_fit_the_model_is_rejected_before_training(tiny_config):
    config = tiny_config(model={**tiny_config().model, "vocab_size": 7})
    with pytest.raises(ValueError, match="vocab_size is 6 in the dataset metadata .* but 7 in the model config"):
        Trainer(config)
    assert not list_checkpoints(Path(config.output_dir) / "checkpoints")


def test_non_finite_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tiny_config):
    config = tiny_config(max_steps=6, checkpoint_interval=2)
    trainer = Trainer(config)
    calls = {"n": 0}

    def poison_from_step_four(module, args, output):
        if module.training:
            calls["n"] += 1
            if calls["n"] >= 4:
                return output * float("nan")

    trainer.unwrapped.lm_head.register_forward_hook(poison_from_step_four)
    with pytest.raises(FloatingPointError, match=r"non-finite loss \(nan\) at step 4.*checkpoint-2"):
        trainer.run()
    checkpoints = list_checkpoints(Path(config.output_dir) / "checkpoints")
    assert [p.name for p in checkpoints] == ["checkpoint-2"]


def test_presets_carry_the_official_hyperparameters():
    for name in ("sudoku-mlp", "sudoku-att", "maze-att"):
        preset = PRESETS[name]
        assert (preset.lr, preset.puzzle_emb_lr, preset.weight_decay, preset.puzzle_emb_weight_decay) == (1e-4, 1e-4, 1.0, 1.0)
        assert (preset.epochs, preset.eval_interval, preset.global_batch_size) == (50_000, 5_000, 768)
    for name in ("arc1", "arc2"):
        preset = PRESETS[name]
        assert (preset.puzzle_emb_lr, preset.weight_decay, preset.epochs, preset.model["num_latent_updates"]) == (1e-2, 0.1, 100_000, 4)
    assert PRESETS["sudoku-mlp"].model["token_mixer"] == "mlp" and PRESETS["sudoku-att"].model["num_latent_updates"] == 6
    assert PRESETS["hrm-sudoku"].model_type == "hrm" and not PRESETS["hrm-sudoku"].ema
    for preset in PRESETS.values():
        assert preset.lr_warmup_steps in (2000, PRESETS["sudoku6x6"].lr_warmup_steps)


def test_command_line_overrides_and_yaml(tmp_path):
    config = parse_args(["--preset", "sudoku-att", "lr=3e-4", "model.hidden_size=128", "--max-steps", "7", "--resume"])
    assert (config.lr, config.model["hidden_size"], config.max_steps, config.resume_from) == (3e-4, 128, 7, "latest")
    assert config.model["num_latent_updates"] == 6  # the rest of the preset's model is kept
    yaml_path = tmp_path / "run.yaml"
    yaml_path.write_text("preset: arc1\nglobal_batch_size: 96\nmodel:\n  hidden_size: 256\n")
    loaded = parse_args(["--config", str(yaml_path)])
    assert (loaded.global_batch_size, loaded.model["hidden_size"], loaded.puzzle_emb_lr) == (96, 256, 1e-2)
    with pytest.raises(ValueError, match="unknown TrainingConfig field"):
        parse_args(["learning_rate=1"])


def test_a_log_file_gets_a_progress_line_every_few_percent_not_a_frame_per_step(sudoku4_dataset, tmp_path):
    """`trm train` with its output in a file (CI, nohup): plain lines, no carriage-return frame per step."""
    log = tmp_path / "train.log"
    args = [f"dataset={sudoku4_dataset}", "--output-dir", str(tmp_path / "run"), "--max-steps", "60",
            "model.hidden_size=16", "model.num_attention_heads=2", "model.num_layers=1", "model.num_recursions=1",
            "model.num_latent_updates=1", "model.max_supervision_steps=2", "global_batch_size=8",
            "eval_max_examples=8", "log_with=none", "solve_sample=false"]
    with open(log, "w") as out:
        subprocess.run([sys.executable, "-m", "training.train", *args], stdout=out, stderr=subprocess.STDOUT,
                       check=True, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, timeout=600)
    text = log.read_bytes().decode()  # not read_text: universal newlines would turn each "\r" into a line
    lines = text.split("\n")
    assert "\r" not in text, "frames overwrite each other"
    assert all(line.count("%|") <= 1 for line in lines), "a line holds more than one frame"
    # one line per bar update that is printed: every few percent, not every step
    train_lines = [line for line in lines if line.startswith("train:")]
    assert text.count("train:") == len(train_lines) and 1 <= len(train_lines) <= 100 // LOG_EVERY_PERCENT
    assert " 60/60 " in train_lines[-1]
    evaluate_lines = [line for line in lines if line.startswith("evaluate:")]
    assert text.count("evaluate:") == len(evaluate_lines) and 1 <= len(evaluate_lines) <= 100 // LOG_EVERY_PERCENT
    assert [line for line in lines if "%|" in line] == train_lines + evaluate_lines  # no other library's bars
