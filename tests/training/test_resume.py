"""Checkpoints: bit-exact resume, atomic saves, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from training import checkpointing
from training.checkpointing import COMPLETE_MARKER, list_checkpoints
from training.train import Trainer


def _train_losses(output_dir) -> list[tuple[int, float]]:
    log = json.loads((Path(output_dir) / "training_log.json").read_text())
    return [(record["step"], record["loss"]) for record in log["train"]]


def _checkpoint_weights(path: Path) -> dict[str, torch.Tensor]:
    return load_file(path / "model.safetensors")


def test_resume_continues_bit_exactly(tiny_config, tmp_path):
    # 64 training groups / batch 8 = 8 steps per epoch: 12 steps cross an epoch (chunk) boundary.
    # Stopping at step 5 (not a multiple of max_supervision_steps=3) leaves slots mid-puzzle, so the
    # carried ACT state matters, and exploration (p=0.5) depends on the restored RNG state.
    straight = tiny_config(output_dir=str(tmp_path / "straight"), max_steps=12)
    Trainer(straight).run()

    first_half = tiny_config(output_dir=str(tmp_path / "resumed"), max_steps=5)
    Trainer(first_half).run()
    second_half = tiny_config(output_dir=str(tmp_path / "resumed"), max_steps=12, resume_from="latest")
    Trainer(second_half).run()

    straight_losses, resumed_losses = _train_losses(tmp_path / "straight"), _train_losses(tmp_path / "resumed")
    assert [s for s, _ in straight_losses] == list(range(1, 13))
    assert resumed_losses == straight_losses  # exactly equal floats, not approximately
    a = _checkpoint_weights(tmp_path / "straight" / "checkpoints" / "checkpoint-12")
    b = _checkpoint_weights(tmp_path / "resumed" / "checkpoints" / "checkpoint-12")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # the puzzle table (a buffer trained by sign-SGD) moved and was restored too
    assert any("puzzle" in key for key in a)


def test_crash_mid_save_leaves_no_checkpoint_that_resume_would_pick(tiny_config, monkeypatch):
    config = tiny_config(max_steps=4, checkpoint_interval=2, eval_interval=4, epochs=4)
    calls = {"n": 0}
    real_fsync_tree = checkpointing._fsync_tree

    def crash_on_second_save(root):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full (simulated)")
        real_fsync_tree(root)

    monkeypatch.setattr(checkpointing, "_fsync_tree", crash_on_second_save)
    with pytest.raises(OSError, match="simulated"):
        Trainer(config).run()
    checkpoint_dir = Path(config.output_dir) / "checkpoints"
    assert [p.name for p in list_checkpoints(checkpoint_dir)] == ["checkpoint-2"]
    assert not (checkpoint_dir / "checkpoint-4.tmp").exists()  # a failed save removes its partial folder
    # what a kill mid-save leaves instead: the torn folder, never renamed, never resumed
    (checkpoint_dir / "checkpoint-4.tmp").mkdir()
    (checkpoint_dir / "checkpoint-4.tmp" / "model.safetensors").write_bytes(b"")
    # A checkpoint directory without the marker is ignored as well.
    (checkpoint_dir / "checkpoint-9").mkdir()
    assert [p.name for p in list_checkpoints(checkpoint_dir)] == ["checkpoint-2"]

    monkeypatch.setattr(checkpointing, "_fsync_tree", real_fsync_tree)
    resumed = Trainer(tiny_config(max_steps=4, checkpoint_interval=2, eval_interval=4, epochs=4, resume_from="latest"))
    assert resumed.progress.step == 2
    resumed.run()
    assert not (checkpoint_dir / "checkpoint-4.tmp").exists()
    assert (checkpoint_dir / "checkpoint-4" / COMPLETE_MARKER).is_file()


def test_resume_from_an_incomplete_checkpoint_is_refused(tiny_config, tmp_path):
    torn = tmp_path / "checkpoint-3"
    torn.mkdir()
    with pytest.raises(FileNotFoundError, match="not a complete checkpoint"):
        Trainer(tiny_config(resume_from=str(torn)))


def test_ctrl_c_saves_a_checkpoint_and_stops_cleanly(tiny_config):
    config = tiny_config(max_steps=20)
    trainer = Trainer(config)
    calls = {"n": 0}
    handler_before = signal.getsignal(signal.SIGINT)  # Python's default; SIG_IGN when started in the background

    def interrupt_during_step_three(module, args, output):
        if module.training:
            calls["n"] += 1
            if calls["n"] == 3:
                os.kill(os.getpid(), signal.SIGINT)

    trainer.unwrapped.register_forward_hook(interrupt_during_step_three)
    trainer.run()  # returns instead of raising KeyboardInterrupt
    checkpoints = list_checkpoints(Path(config.output_dir) / "checkpoints")
    assert [p.name for p in checkpoints] == ["checkpoint-3"]
    assert not (Path(config.output_dir) / "config.json").exists()  # not finished, so no final model
    assert signal.getsignal(signal.SIGINT) is handler_before  # the run gives Ctrl-C back as it found it

    resumed = Trainer(tiny_config(max_steps=20, resume_from="latest"))
    assert resumed.progress.step == 3


def test_a_compiled_run_trains_as_the_eager_one_and_saves_weights_that_load(tiny_config, tmp_path):
    """`compile=` compiles the training step's forward only: the same losses, checkpoints an eager run can resume,
    and a model folder whose weights `from_pretrained` loads (a compiled module names them `_orig_mod.*`)."""
    from modeling_trm.modeling_trm import TRMForPuzzleSolving

    eager = tiny_config(output_dir=str(tmp_path / "eager"), max_steps=4, epochs=1)
    compiled = tiny_config(output_dir=str(tmp_path / "compiled"), max_steps=4, epochs=1, compile="eager")
    Trainer(eager).run()
    Trainer(compiled).run()

    assert _train_losses(tmp_path / "compiled") == _train_losses(tmp_path / "eager")
    a = _checkpoint_weights(tmp_path / "eager" / "checkpoints" / "checkpoint-4")
    b = _checkpoint_weights(tmp_path / "compiled" / "checkpoints" / "checkpoint-4")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    model, info = TRMForPuzzleSolving.from_pretrained(tmp_path / "compiled", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    saved = load_file(tmp_path / "eager" / "model.safetensors")
    assert all(torch.equal(model.state_dict()[k], v) for k, v in saved.items())
