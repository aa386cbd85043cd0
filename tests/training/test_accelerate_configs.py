"""The `accelerate launch` config files in training/accelerate_configs: what Accelerate reads from
them is the set-up their names and docs/training.md promise (the FSDP2 one is exercised by test_fsdp.py,
the 2-CPU one by running the command that page gives)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from accelerate.commands.config.config_args import load_config_from_file
from accelerate.utils import DistributedType
from conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "training" / "accelerate_configs"
DOC = ROOT / "docs" / "training.md"  # where the launch configs are documented

EXPECTED = {  # file: (distributed type, processes in all, machines)
    "1gpu.yaml": (DistributedType.NO, 1, 1),
    "4gpu.yaml": (DistributedType.MULTI_GPU, 4, 1),
    "2nodes.yaml": (DistributedType.MULTI_GPU, 8, 2),
    "fsdp2_4gpu.yaml": (DistributedType.FSDP, 4, 1),
    # Accelerate starts local processes only through its multi-GPU launcher; use_cpu keeps them on the CPU
    "2cpu.yaml": (DistributedType.MULTI_GPU, 2, 1),
}


def test_every_config_file_is_expected_and_documented():
    assert sorted(p.name for p in CONFIGS.glob("*.yaml")) == sorted(EXPECTED)
    doc = DOC.read_text()
    for name in EXPECTED:
        assert f"training/accelerate_configs/{name}" in doc, name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_accelerate_reads_the_promised_setup(name):
    config = load_config_from_file(str(CONFIGS / name))
    assert (config.distributed_type, config.num_processes, config.num_machines) == EXPECTED[name]
    # The model computes in its own forward_dtype (bf16 in the paper presets) with fp32 master weights;
    # Accelerate's autocast must not be layered on top.
    assert config.mixed_precision == "no" and config.use_cpu == (name == "2cpu.yaml")
    if config.distributed_type == DistributedType.FSDP:
        assert config.fsdp_config["fsdp_version"] == 2
        assert config.fsdp_config["fsdp_transformer_layer_cls_to_wrap"] == "TRMBlock"
        assert config.fsdp_config["fsdp_state_dict_type"] == "FULL_STATE_DICT"


def test_the_documented_two_process_cpu_command_runs_two_processes(tmp_path):
    """docs/training.md's command as written (a few steps, a temporary output folder and a free port added)."""
    doc = DOC.read_text()
    documented = re.search(r"`(ACCELERATE_USE_CPU=1 accelerate launch --config_file "
                           r"training/accelerate_configs/2cpu\.yaml [^`]+)`", doc).group(1)
    words = shlex.split(documented)
    env_assignments = dict(w.split("=", 1) for w in words[:1])
    launch = words[1:]
    assert launch[:2] == ["accelerate", "launch"]
    command = [sys.executable, "-m", "accelerate.commands.launch", "--main_process_port", str(free_port()), *launch[2:],
               "--max-steps", "2", "log_with=none", "solve_sample=false", "eval_at_start=false",
               "--output-dir", str(tmp_path / "run")]
    env = {**os.environ, **env_assignments, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
                            check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "on 2 process(es)" in result.stdout + result.stderr
    assert (tmp_path / "run" / "model.safetensors").exists()
