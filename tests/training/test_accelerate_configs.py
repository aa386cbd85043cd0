"""The `accelerate launch` config files in training/accelerate_configs: what Accelerate reads from
them is the set-up their names and the README promise (the FSDP2 one is exercised by test_fsdp.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from accelerate.commands.config.config_args import load_config_from_file
from accelerate.utils import DistributedType

CONFIGS = Path(__file__).resolve().parents[2] / "training" / "accelerate_configs"
README = Path(__file__).resolve().parents[2] / "README.md"

EXPECTED = {  # file: (distributed type, processes in all, machines)
    "1gpu.yaml": (DistributedType.NO, 1, 1),
    "4gpu.yaml": (DistributedType.MULTI_GPU, 4, 1),
    "2nodes.yaml": (DistributedType.MULTI_GPU, 8, 2),
    "fsdp2_4gpu.yaml": (DistributedType.FSDP, 4, 1),
}


def test_every_config_file_is_expected_and_referenced_by_the_readme():
    assert sorted(p.name for p in CONFIGS.glob("*.yaml")) == sorted(EXPECTED)
    readme = README.read_text()
    for name in EXPECTED:
        assert f"training/accelerate_configs/{name}" in readme, name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_accelerate_reads_the_promised_setup(name):
    config = load_config_from_file(str(CONFIGS / name))
    assert (config.distributed_type, config.num_processes, config.num_machines) == EXPECTED[name]
    # The model computes in its own forward_dtype (bf16 in the paper presets) with fp32 master weights;
    # Accelerate's autocast must not be layered on top.
    assert config.mixed_precision == "no" and not config.use_cpu
    if config.distributed_type == DistributedType.FSDP:
        assert config.fsdp_config["fsdp_version"] == 2
        assert config.fsdp_config["fsdp_transformer_layer_cls_to_wrap"] == "TRMBlock"
        assert config.fsdp_config["fsdp_state_dict_type"] == "FULL_STATE_DICT"
