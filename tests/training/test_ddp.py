"""Two CPU processes (gloo DDP) train exactly like one process with the same global batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import free_port
from safetensors.torch import load_file

from training.train import Trainer

WORKER = Path(__file__).with_name("ddp_worker.py")
REPO_ROOT = Path(__file__).resolve().parents[2]


def test_two_processes_match_one_process_with_the_same_global_batch(tiny_config, dataset_with_puzzle_ids, tmp_path):
    # No exploration: halting then depends only on the weights, identical in both set-ups.
    model = {**tiny_config().model, "halt_exploration_prob": 0.0}
    common = dict(dataset=dataset_with_puzzle_ids, model=model, max_steps=4, eval_max_examples=8,
                  puzzle_emb_lr=1e-2, global_batch_size=8)

    two = tiny_config(output_dir=str(tmp_path / "two"), **common)
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT)}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
               str(WORKER), json.dumps(two.to_dict())]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]

    rank0 = load_file(tmp_path / "two" / "rank0.safetensors")
    rank1 = load_file(tmp_path / "two" / "rank1.safetensors")
    for name in rank0:
        assert torch.equal(rank0[name], rank1[name]), f"{name} differs between the ranks"
    table = rank0["puzzle_embedding.weight"]
    assert not torch.equal(table[1:], torch.zeros_like(table[1:])), "sign-SGD never touched the puzzle table"

    one = Trainer(tiny_config(output_dir=str(tmp_path / "one"), **common))
    one.run()
    single = one.unwrapped.state_dict()
    for name in rank0:
        torch.testing.assert_close(rank0[name], single[name], atol=1e-5, rtol=1e-4, msg=f"{name}: 2 ranks vs 1")
    losses = [json.loads((tmp_path / run / "training_log.json").read_text())["train"] for run in ("two", "one")]
    assert [r["loss"] for r in losses[0]] == pytest.approx([r["loss"] for r in losses[1]], rel=1e-5)
