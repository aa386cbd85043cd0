"""Fabricated folders in the layouts the published official checkpoints come in, made from the
reference weights that the official code wrote (``tests/fixtures/reference/*/model.safetensors``).

* ARC Prize TRM verification (``arc_v1_public/``): a raw ``torch.save`` state dict named ``step_N``
  (15 fp32 tensors ``_orig_mod.model.inner.*``), ``all_config.yaml`` (its ``arch:`` holds the run's
  cycles; ``data_paths`` names the official data folder), copies of ``trm.py`` / ``losses.py``, and
  no ``identifiers.json``.
* sapientinc HRM releases: a raw state dict named ``checkpoint`` beside ``all_config.yaml``
  (``data_path``, singular).
* The official data folder: ``identifiers.json`` + ``train/dataset.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import yaml
from safetensors.torch import load_file

TRM_ARCH_NAME = "recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1"
HRM_ARCH_NAME = "hrm.hrm_act_v1@HierarchicalReasoningModel_ACTV1"
LOSS = {"name": "losses@ACTLossHead", "loss_type": "stablemax_cross_entropy"}
# pretrain.py's all_config.yaml sizes come from the data, not the arch section
DATA_SIZED = ("vocab_size", "seq_len", "num_puzzle_identifiers", "batch_size", "causal")


def reference_checkpoint(reference_dir: Path, name: str, vocab_size: int | None = None,
                         puzzle_rows: int | None = None) -> tuple[dict[str, torch.Tensor], dict]:
    """The official state dict (``_orig_mod.model.inner.*`` keys) and official config of a reference
    model, optionally cut to another task's vocabulary / puzzle-table size (e.g. 11 tokens, 1 row: Sudoku)."""
    folder = reference_dir / name
    state_dict = load_file(folder / "model.safetensors")
    official = json.loads((folder / "config.json").read_text())
    for key in list(state_dict):
        if vocab_size is not None and key.endswith(("embed_tokens.embedding_weight", "lm_head.weight")):
            state_dict[key] = state_dict[key][:vocab_size].clone()
        if puzzle_rows is not None and key.endswith("puzzle_emb.weights"):
            state_dict[key] = state_dict[key][:puzzle_rows].clone()
    return state_dict, official


def _arch_section(official: dict, name: str, **changes) -> dict:
    arch = {k: v for k, v in official.items() if not k.startswith("_") and k not in DATA_SIZED}
    return {**arch, "name": name, "loss": dict(LOSS), **changes}


def arc_prize_run(run_dir: Path, state_dict: dict, official: dict, step: int = 155718,
                  data_paths=("data/arc1concept-aug-1000",), **arch_changes) -> Path:
    """``arc_v1_public/``: ``step_N``, ``all_config.yaml``, ``trm.py``, ``losses.py``; no identifiers."""
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.save(state_dict, run_dir / f"step_{step}")
    config = {"arch": _arch_section(official, TRM_ARCH_NAME, **arch_changes), "data_paths": list(data_paths),
              "data_paths_test": [], "global_batch_size": 768, "epochs": 100000, "eval_interval": 10000,
              "lr": 1e-4, "puzzle_emb_lr": 1e-2, "freeze_weights": False, "ema": True, "seed": 0}
    (run_dir / "all_config.yaml").write_text(yaml.safe_dump(config))
    (run_dir / "trm.py").write_text("# copy of models/recursive_reasoning/trm.py\n")
    (run_dir / "losses.py").write_text("# copy of models/losses.py\n")
    return run_dir


def hrm_release(run_dir: Path, state_dict: dict, official: dict, data_path: str) -> Path:
    """A sapientinc HRM release: ``checkpoint`` + ``all_config.yaml``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.save(state_dict, run_dir / "checkpoint")
    config = {"arch": _arch_section(official, HRM_ARCH_NAME), "data_path": data_path, "global_batch_size": 768,
              "epochs": 20000, "lr": 1e-4}
    (run_dir / "all_config.yaml").write_text(yaml.safe_dump(config))
    return run_dir


def official_data_folder(folder: Path, names: list[str], seq_len: int, vocab_size: int) -> Path:
    """The parts of an official ``dataset/build_*`` output the converter reads."""
    (folder / "train").mkdir(parents=True, exist_ok=True)
    (folder / "identifiers.json").write_text(json.dumps(names))
    (folder / "train" / "dataset.json").write_text(json.dumps(
        {"pad_id": 0, "ignore_label_id": 0, "blank_identifier_id": 0, "vocab_size": vocab_size, "seq_len": seq_len,
         "num_puzzle_identifiers": len(names), "total_groups": 1, "mean_puzzle_examples": 1.0, "total_puzzles": 1,
         "sets": ["all"]}))
    return folder
