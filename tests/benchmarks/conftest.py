"""Shared fixtures of the benchmark-script tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCHMARKS) not in sys.path:  # as `python benchmarks/NAME.py` runs a script: `import harness` works
    sys.path.insert(0, str(BENCHMARKS))


@pytest.fixture(scope="session")
def tiny_sudoku_model(tmp_path_factory):
    """A 4x4 Sudoku model folder written by `trm train` in a few seconds (6 steps), with its training config."""
    from training.config import PRESETS, TrainingConfig, apply_overrides
    from training.train import train

    run = tmp_path_factory.mktemp("tiny-sudoku") / "tiny"
    config = TrainingConfig.from_dict(apply_overrides(PRESETS["sudoku4x4"].to_dict(), {
        "output_dir": str(run), "max_steps": 6, "global_batch_size": 16, "eval_at_start": False, "log_with": "none",
        "solve_sample": False, "dataset_options": {"num_train": 8, "num_test": 24, "num_aug": 1},
        "model.hidden_size": 32, "model.num_attention_heads": 2, "model.max_supervision_steps": 2}))
    return train(config)
