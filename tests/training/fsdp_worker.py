"""Run by tests/training/test_fsdp.py under ``torchrun``: train with Accelerate's FSDP2 on CPU (gloo).

Accelerate 1.x turns FSDP on only for accelerator-backed process groups (``AcceleratorState`` keeps
``MULTI_CPU`` for CPU processes even with ``ACCELERATE_USE_FSDP=true`` or an ``fsdp_plugin``), while
PyTorch's ``fully_shard`` itself runs on a CPU mesh. So this worker gives the trainer an
``Accelerator`` whose state is switched to FSDP2 right after construction, with the plugin that
``accelerate launch`` builds from the environment (the test passes the variables it sets for
``training/accelerate_configs/fsdp2_4gpu.yaml``); from there on every FSDP2 code path is Accelerate's
own (``fsdp2_prepare_model``, the optimizer swap, ``no_sync``, ``get_state_dict``, ``save_state``).
"""

from __future__ import annotations

import json
import os
import sys

import accelerate
from accelerate import PartialState
from accelerate.utils import DistributedType, FullyShardedDataParallelPlugin
from safetensors.torch import save_file
from torch.distributed.fsdp import FSDPModule
from torch.distributed.tensor import DTensor

import training.train
from training.config import TrainingConfig


class CpuFsdp2Accelerator(accelerate.Accelerator):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        plugin = FullyShardedDataParallelPlugin()  # from the FSDP_* variables of the launch config
        self.state.distributed_type, self.state.fsdp_plugin = DistributedType.FSDP, plugin
        # every later AcceleratorState() copies the PartialState's fields back in: switch both
        PartialState().distributed_type = DistributedType.FSDP


def main(config_json: str) -> None:
    training.train.Accelerator = CpuFsdp2Accelerator
    trainer = training.train.Trainer(TrainingConfig(**json.loads(config_json)))
    model = trainer.unwrapped
    report = {
        "distributed_type": str(trainer.accelerator.distributed_type),
        "is_fsdp2": trainer.accelerator.is_fsdp2,
        "fsdp_units": [type(m).__name__ for m in model.modules() if isinstance(m, FSDPModule)],
        "sharded_parameters": sorted(n for n, p in model.named_parameters() if isinstance(p, DTensor)),
        "plain_parameters": sorted(n for n, p in model.named_parameters() if not isinstance(p, DTensor)),
        "local_numel": sum(p.to_local().numel() for p in model.parameters() if isinstance(p, DTensor)),
        "global_numel": sum(p.numel() for p in model.parameters()),
        "table_is_dtensor": isinstance(model.puzzle_embedding.weight, DTensor),
        "ema_is_dtensor": [isinstance(s, DTensor) for s in trainer.ema.shadow],
    }
    trainer.run()
    rank = trainer.accelerator.process_index
    table = model.puzzle_embedding.weight.detach().contiguous()
    save_file({"puzzle_embedding.weight": table}, f"{trainer.config.output_dir}/table_rank{rank}.safetensors")
    with open(f"{trainer.config.output_dir}/report_rank{rank}.json", "w") as handle:
        json.dump(report, handle)
    # Everything is written. Leave without interpreter teardown: with FSDP on gloo, destroying the
    # process's communication threads at exit sometimes aborts ("terminate called without an active
    # exception", SIGABRT) after all work is done, which would fail the launch for no reason.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1])
