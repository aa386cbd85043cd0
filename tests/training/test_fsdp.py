"""Two CPU processes under Accelerate's FSDP2 (gloo) train like one process with the same global batch:
parameters and EMA sharded, the puzzle table (a buffer, sign-SGD) replicated and identical on every
rank, and the checkpoint and the final ``save_pretrained`` folder holding full (gathered) weights.

Accelerate keeps CPU process groups on DDP even when FSDP is asked for (its ``AcceleratorState`` only
switches accelerator-backed groups to FSDP); ``fsdp_worker.py`` switches the state itself, so the
FSDP2 code that runs is Accelerate's own (see the worker's docstring).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import TINY_MODEL, free_port, make_tiny_config
from safetensors.torch import load_file

from training.train import Trainer

WORKER = Path(__file__).with_name("fsdp_worker.py")
REPO_ROOT = Path(__file__).resolve().parents[2]
FSDP_CONFIG = REPO_ROOT / "training" / "accelerate_configs" / "fsdp2_4gpu.yaml"


def fsdp_launch_env(config_file: Path) -> dict[str, str]:
    """The FSDP variables ``accelerate launch --config_file config_file`` gives each process."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_multi_gpu_env

    args = launch_command_parser().parse_args(["--config_file", str(config_file), "-m", "training.train"])
    env = prepare_multi_gpu_env(_validate_launch_command(args)[0])
    return {k: v for k, v in env.items() if k.startswith("FSDP_") or k in ("ACCELERATE_USE_FSDP", "ACCELERATE_MIXED_PRECISION")}


def launch_fsdp(config) -> None:
    """``config`` trained by 2 CPU processes under FSDP2 with the settings of fsdp2_4gpu.yaml."""
    env = {**os.environ, **fsdp_launch_env(FSDP_CONFIG), "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(REPO_ROOT)}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
               "--master_port", str(free_port()), str(WORKER), json.dumps(config.to_dict())]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.fixture(scope="module")
def common(dataset_with_puzzle_ids):
    # No exploration: halting then depends only on the weights, identical in every set-up.
    return dict(dataset=dataset_with_puzzle_ids, model={**TINY_MODEL, "halt_exploration_prob": 0.0}, max_steps=4,
                puzzle_emb_lr=1e-2, global_batch_size=8)


@pytest.fixture(scope="module")
def runs(common, tmp_path_factory):
    root = tmp_path_factory.mktemp("fsdp")
    launch_fsdp(make_tiny_config(output_dir=str(root / "two"), **common))
    one = Trainer(make_tiny_config(output_dir=str(root / "one"), **common))
    one.run()
    return root / "two", root / "one", one


def test_parameters_and_ema_are_sharded_but_not_the_puzzle_table(runs):
    two, _, one = runs
    reports = [json.loads((two / f"report_rank{rank}.json").read_text()) for rank in (0, 1)]
    for report in reports:
        assert report["is_fsdp2"] and report["distributed_type"] == "DistributedType.FSDP"
        # the config's wrap policy: one unit per TRMBlock, inside the root unit
        assert report["fsdp_units"][0] == "FSDPTRMForPuzzleSolving"
        assert report["fsdp_units"].count("FSDPTRMBlock") == TINY_MODEL["num_layers"]
        assert report["plain_parameters"] == []
        assert len(report["sharded_parameters"]) == len(list(one.unwrapped.parameters()))
        assert report["global_numel"] == one.unwrapped.num_parameters()
        assert report["local_numel"] < report["global_numel"]  # each rank holds a shard
        assert all(report["ema_is_dtensor"])  # the EMA shadow is sharded like its parameters
        assert not report["table_is_dtensor"]
    assert sum(r["local_numel"] for r in reports) == reports[0]["global_numel"]


def test_two_fsdp_processes_match_one_process_with_the_same_global_batch(runs):
    two, one_dir, _ = runs
    # The final folder: full EMA weights gathered from the shards, written once by the main process.
    sharded, single = load_file(two / "model.safetensors"), load_file(one_dir / "model.safetensors")
    assert sorted(sharded) == sorted(single)
    # Same tolerance as the DDP test: only the summation order of the gradient reduction differs (fp32).
    for name in single:
        assert sharded[name].shape == single[name].shape, name
        torch.testing.assert_close(sharded[name], single[name], atol=1e-5, rtol=1e-4, msg=f"{name}: 2 vs 1")
    table = single["puzzle_embedding.weight"]
    assert not torch.equal(table[1:], torch.zeros_like(table[1:])), "sign-SGD never touched the puzzle table"
    ranks = [load_file(two / f"table_rank{rank}.safetensors")["puzzle_embedding.weight"] for rank in (0, 1)]
    assert torch.equal(ranks[0], ranks[1]), "the puzzle table differs between the ranks"
    # The table a rank holds after training is the one that was saved (buffers are not gathered).
    torch.testing.assert_close(ranks[0], sharded["puzzle_embedding.weight"], atol=0, rtol=0)
    losses = [json.loads((run / "training_log.json").read_text())["train"] for run in (two, one_dir)]
    assert [r["loss"] for r in losses[0]] == pytest.approx([r["loss"] for r in losses[1]], rel=1e-5)


def test_fsdp_checkpoint_holds_the_full_ema(runs):
    two, _, one = runs
    (checkpoint,) = (two / "checkpoints").glob("checkpoint-*")
    ema = load_file(checkpoint / "ema.safetensors")  # gathered by every rank, written by the main one
    expected = dict(zip(one.ema.names, one.ema.shadow, strict=True))
    assert sorted(ema) == sorted(expected)
    for name, shadow in ema.items():
        assert type(shadow) is torch.Tensor and shadow.shape == expected[name].shape, name
        torch.testing.assert_close(shadow, expected[name], atol=1e-5, rtol=1e-4, msg=name)


def test_an_fsdp_run_resumed_from_its_checkpoint_continues_bit_exactly(runs, common, tmp_path):
    """Sharded model and optimizer state, the gathered EMA (re-sharded on load), the puzzle table and
    each rank's ACT carry come back: 2 steps + resume to 4 = the uninterrupted 4 steps, bit for bit."""
    two, _, _ = runs
    output_dir = str(tmp_path / "resumed")
    launch_fsdp(make_tiny_config(output_dir=output_dir, **{**common, "max_steps": 2}))
    launch_fsdp(make_tiny_config(output_dir=output_dir, resume_from="latest", **common))
    resumed, straight = load_file(tmp_path / "resumed" / "model.safetensors"), load_file(two / "model.safetensors")
    for name in straight:
        assert torch.equal(resumed[name], straight[name]), name
    losses = [json.loads((run / "training_log.json").read_text())["train"] for run in (tmp_path / "resumed", two)]
    assert [r["loss"] for r in losses[0]] == [r["loss"] for r in losses[1]]
