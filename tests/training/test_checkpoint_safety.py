"""Checkpoints hold no pickles, a hostile checkpoint runs no code, and a run folder belongs to one run."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import pytest
import torch

from training.checkpointing import UnsafeCheckpointError, list_checkpoints
from training.train import Trainer, parse_args


class _Payload:
    """Unpickling this creates the marker file: the proof that a checkpoint ran code."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",)


@pytest.fixture
def saved_checkpoint(tiny_config, tmp_path) -> Path:
    Trainer(tiny_config(output_dir=str(tmp_path / "run"), max_steps=2, checkpoint_interval=2)).run()
    return list_checkpoints(tmp_path / "run" / "checkpoints")[-1]


def test_a_checkpoint_holds_only_safetensors_json_and_a_weights_only_optimizer_file(saved_checkpoint):
    names = sorted(p.name for p in saved_checkpoint.iterdir())
    assert names == ["COMPLETE", "act_state_0.safetensors", "ema.safetensors", "model.safetensors", "optimizer.bin",
                     "rng_state_0.safetensors", "trainer_state.json", "training_config.json"]
    torch.load(saved_checkpoint / "optimizer.bin", weights_only=True)  # tensors and numbers only


@pytest.mark.parametrize("planted", ["custom_checkpoint_0.pkl", "act_state_0.pt", "random_states_0.pkl",
                                     "optimizer.bin", "pytorch_model_fsdp_0/.metadata"])
def test_resume_never_unpickles_a_planted_payload(saved_checkpoint, tiny_config, tmp_path, planted):
    hostile = tmp_path / "hostile" / "checkpoint-2"
    shutil.copytree(saved_checkpoint, hostile)
    (hostile / planted).parent.mkdir(exist_ok=True)  # a sharded FSDP state is a folder with a pickled index
    marker = tmp_path / "marker"
    if planted.endswith(".metadata"):  # torch.distributed.checkpoint writes its index with pickle.dump
        (hostile / planted).write_bytes(pickle.dumps(_Payload(marker)))
    else:
        torch.save(_Payload(marker), hostile / planted)
    with pytest.raises(UnsafeCheckpointError, match="unpickl") as error:
        Trainer(tiny_config(output_dir=str(tmp_path / "other"), max_steps=4, checkpoint_interval=2,
                            resume_from=str(hostile)))
    assert not marker.exists(), "the checkpoint ran code"
    assert str(hostile) in str(error.value)


def test_a_fresh_run_refuses_a_folder_holding_another_run(saved_checkpoint, tiny_config, tmp_path):
    run = tmp_path / "run"
    with pytest.raises(FileExistsError, match=r"already holds another run \(checkpoints.*--overwrite"):
        Trainer(tiny_config(output_dir=str(run), max_steps=2, lr=3e-4))
    assert saved_checkpoint.is_dir()
    # --overwrite: the old run's checkpoints go, the new run's are the ones kept and resumed.
    Trainer(tiny_config(output_dir=str(run), max_steps=1, checkpoint_interval=1, lr=3e-4,
                        overwrite_output_dir=True)).run()
    assert [p.name for p in list_checkpoints(run / "checkpoints")] == ["checkpoint-1"]
    resumed = Trainer(tiny_config(output_dir=str(run), max_steps=2, lr=3e-4, resume_from="latest"))
    assert resumed.progress.step == 1
    assert parse_args(["--overwrite", "dataset=x"]).overwrite_output_dir


def test_resume_refuses_a_checkpoint_of_a_differently_configured_run(saved_checkpoint, tiny_config, tmp_path):
    with pytest.raises(ValueError, match=r"configured differently \(lr: checkpoint 0.001, now 0.0003\)"):
        Trainer(tiny_config(output_dir=str(tmp_path / "run"), max_steps=4, lr=3e-4, resume_from="latest"))
    # Options documented as safe to change on resume are accepted.
    resumed = Trainer(tiny_config(output_dir=str(tmp_path / "run"), max_steps=4, keep_checkpoints=1,
                                  log_with="none", resume_from="latest"))
    assert resumed.progress.step == 2


def test_a_kill_during_the_final_save_leaves_no_truncated_file(tiny_config, tmp_path, monkeypatch):
    from modeling_trm.processing_trm import PuzzleProcessor

    def killed_while_writing(self, folder, **kwargs):  # a kill between open() and write()
        (Path(folder) / "processor_config.json").write_text("")
        raise KeyboardInterrupt

    monkeypatch.setattr(PuzzleProcessor, "save_pretrained", killed_while_writing)
    config = tiny_config(output_dir=str(tmp_path / "run"), max_steps=1)
    with pytest.raises(KeyboardInterrupt):
        Trainer(config).run()
    top_level = [p for p in (tmp_path / "run").iterdir() if p.is_file()]
    assert [p.name for p in top_level if p.stat().st_size == 0] == []
    assert not (tmp_path / "run" / "config.json").exists()  # no half-written model to load or push
    # the final save, run again, completes the folder
    monkeypatch.undo()
    Trainer(tiny_config(output_dir=str(tmp_path / "run"), max_steps=1, resume_from="latest")).run()
    assert PuzzleProcessor.from_pretrained(tmp_path / "run").task == "sudoku"
    assert not (tmp_path / "run" / ".final.tmp").exists()


def test_rng_states_round_trip_through_safetensors(tmp_path):
    import random

    import numpy as np

    from training.checkpointing import load_rng_state, save_rng_state

    random.gauss(0, 1)  # leaves a cached gaussian in Python's state
    save_rng_state(tmp_path / "rng.safetensors")
    first = (random.random(), random.gauss(0, 1), np.random.rand(3).tolist(), torch.rand(3).tolist())
    load_rng_state(tmp_path / "rng.safetensors")
    assert (random.random(), random.gauss(0, 1), np.random.rand(3).tolist(), torch.rand(3).tolist()) == first
