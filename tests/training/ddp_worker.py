"""Run by tests/training/test_ddp.py under ``torchrun``/``accelerate launch``: a few training steps,
then every rank writes its own copy of the weights and the puzzle table."""

from __future__ import annotations

import json
import sys

import torch
from safetensors.torch import save_file

from training.config import TrainingConfig
from training.train import Trainer


def main(config_json: str) -> None:
    trainer = Trainer(TrainingConfig(**json.loads(config_json)))
    trainer.run()
    rank = trainer.accelerator.process_index
    state = {k: v.detach().contiguous() for k, v in trainer.unwrapped.state_dict().items()}
    save_file(state, f"{trainer.config.output_dir}/rank{rank}.safetensors")
    torch.distributed.barrier() if torch.distributed.is_initialized() else None


if __name__ == "__main__":
    main(sys.argv[1])
