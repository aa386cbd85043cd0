"""One run per output folder (a lock by pid and host, staging folders per run), and a full disk loses nothing:
the partial save is removed, the disk is named, the last complete checkpoint stays."""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from modeling_trm.folders import FolderLock, write_text_atomically
from training import checkpointing
from training.checkpointing import list_checkpoints
from training.cli import main as trm
from training.train import train


@pytest.fixture
def other_process():
    """A live process that is not this one (its pid is in a lock or a staging folder name)."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield process
    process.kill()
    process.wait()


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def _lock(folder: Path, pid: int, host: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / FolderLock.NAME
    path.write_text(json.dumps({"pid": pid, "host": host or socket.gethostname(), "purpose": "trm train",
                                "started": "2026-01-01 00:00:00"}))
    return path


def test_a_second_run_into_a_folder_in_use_is_refused(tiny_config, tmp_path, other_process):
    config = tiny_config(max_steps=2)
    lock = _lock(Path(config.output_dir), other_process.pid)
    with pytest.raises(FileExistsError, match=rf"is in use by another trm train \(pid {other_process.pid}, started"):
        train(config)
    assert lock.is_file() and not (Path(config.output_dir) / "checkpoints").exists()  # nothing of it touched


def test_the_cli_names_the_run_that_holds_the_folder(sudoku4_dataset, tmp_path, capsys, other_process):
    _lock(tmp_path / "run", other_process.pid)
    assert trm(["train", "--preset", "sudoku4x4", "--max-steps", "1", "--output-dir", str(tmp_path / "run"),
                f"dataset={sudoku4_dataset}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith(f"trm train: error: {tmp_path / 'run'} is in use by another trm train (pid "
                             f"{other_process.pid}")


def test_a_stale_lock_is_taken_over_and_every_run_releases_its_lock(tiny_config, tmp_path, capsys):
    config = tiny_config(max_steps=2)
    lock = _lock(Path(config.output_dir), _dead_pid())
    train(config)
    assert f"removing the stale lock {lock}" in capsys.readouterr().out
    assert not lock.exists() and list_checkpoints(Path(config.output_dir) / "checkpoints")
    # a run that fails releases the lock too
    with pytest.raises(ValueError, match="vocab_size"):
        train(tiny_config(max_steps=2, overwrite_output_dir=True, model={**config.model, "vocab_size": 7}))
    assert not lock.exists()


def test_a_lock_from_another_host_is_never_taken_over(tiny_config, tmp_path):
    config = tiny_config(max_steps=2)
    lock = _lock(Path(config.output_dir), 12345, host="some-other-host")
    with pytest.raises(FileExistsError, match=f"locked by a trm train on host some-other-host .*delete {lock}"):
        train(config)
    assert lock.is_file()


def test_staging_folders_are_unique_per_run_and_stale_ones_are_removed(tmp_path, other_process):
    live = tmp_path / f".final.tmp-{other_process.pid}"
    dead = tmp_path / f".final.tmp-{_dead_pid()}"
    for folder in (live, dead):
        folder.mkdir()
        (folder / "model.safetensors").write_text("half")
    stage = checkpointing.new_stage(tmp_path)
    assert stage.name == f".final.tmp-{os.getpid()}"
    assert live.is_dir() and not dead.exists()  # another live run's stage is its own


# ------------------------------------------------------------------------------------- a full disk


def _full_disk(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_file_written_atomically_is_the_old_one_or_the_new_one_never_half(tmp_path, monkeypatch):
    log = tmp_path / "training_log.json"
    write_text_atomically(log, '{"step": 1}')
    real_write_text = Path.write_text

    def half_then_full(path, text, *args, **kwargs):
        real_write_text(path, text[: len(text) // 2])
        _full_disk()

    monkeypatch.setattr(Path, "write_text", half_then_full)
    with pytest.raises(OSError, match="No space left"):
        write_text_atomically(log, '{"step": 2, "eval": []}')
    monkeypatch.undo()
    assert json.loads(log.read_text()) == {"step": 1}
    assert [path.name for path in tmp_path.iterdir()] == ["training_log.json"]  # no stage left behind
    write_text_atomically(log, '{"step": 2}')
    assert json.loads(log.read_text()) == {"step": 2}


def test_a_full_disk_during_a_checkpoint_removes_it_names_the_disk_and_keeps_the_last(tiny_config, tmp_path,
                                                                                    monkeypatch):
    config = tiny_config(max_steps=4, checkpoint_interval=2)
    real = checkpointing.save_trainer_state
    calls = []

    def fills_the_disk(progress, sampler, path):
        calls.append(progress.step)
        if progress.step == 4:
            path.write_text('{"progress": {"st')  # half a file, then the disk is full
            _full_disk()
        real(progress, sampler, path)

    monkeypatch.setattr(checkpointing, "save_trainer_state", fills_the_disk)
    with pytest.raises(OSError, match=r"no space left on the disk .* holding .*checkpoints: checkpoint-4 was not saved "
                                      r"\(its partial files were removed\); the last complete checkpoint is "
                                      r".*checkpoint-2 \(--resume continues from it\)") as error:
        train(config)
    assert error.value.errno == errno.ENOSPC
    checkpoints = Path(config.output_dir) / "checkpoints"
    assert [p.name for p in checkpoints.iterdir()] == ["checkpoint-2"]  # no checkpoint-4.tmp filling the disk
    assert list_checkpoints(checkpoints)[-1].name == "checkpoint-2"
    assert not (Path(config.output_dir) / FolderLock.NAME).exists()


def test_torchs_disk_full_error_without_an_errno_is_recognised_by_the_free_space(sudoku4_dataset, tmp_path,
                                                                                monkeypatch, capsys):
    """torch's zip writer says `[enforce fail at inline_container.cc...]`: the free space tells a full disk."""
    from collections import namedtuple

    from accelerate import Accelerator

    def torch_fails(self, output_dir, **kwargs):
        (Path(output_dir) / "model.safetensors").write_bytes(b"\0" * 4096)
        raise RuntimeError("[enforce fail at inline_container.cc:603] . unexpected pos 4096 vs 4032")

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(Accelerator, "save_state", torch_fails)
    monkeypatch.setattr("modeling_trm.folders.shutil.disk_usage", lambda path: usage(10**9, 10**9, 0))
    output = tmp_path / "run"
    assert trm(["train", "--preset", "sudoku4x4", "--max-steps", "2", "--output-dir", str(output),
                f"dataset={sudoku4_dataset}", "checkpoint_interval=2", "log_with=none", "solve_sample=false"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("trm train: error: no space left on the disk ") and "0 MiB free" in err[-1]
    assert "checkpoint-2 was not saved (its partial files were removed); no checkpoint was kept" in err[-1]
    assert list((output / "checkpoints").iterdir()) == []


def test_a_full_disk_during_the_final_save_removes_the_stage_and_keeps_the_checkpoints(tiny_config, tmp_path,
                                                                                       monkeypatch, capsys):
    from modeling_trm.processing_trm import PuzzleProcessor

    monkeypatch.setattr(PuzzleProcessor, "save_pretrained", _full_disk)
    config = tiny_config(max_steps=2)
    with pytest.raises(OSError, match="no space left on the disk .*: the final model was not saved .*; the "
                                      "checkpoints are kept: --resume finishes the run"):
        train(config)
    output = Path(config.output_dir)
    assert [p.name for p in output.iterdir() if p.name.startswith(".")] == []  # no .final.tmp-PID left
    assert not (output / "config.json").exists() and list_checkpoints(output / "checkpoints")


def test_only_the_launchers_rank_0_locks_the_run_folder(tmp_path, monkeypatch):
    """Other ranks of a multi-process run share the folder; deciding that must not build accelerate's state
    before the run's Accelerator (a 2-process CPU launch then ran as two single processes)."""
    import contextlib

    from training.checkpointing import run_folder_lock
    from training.config import PRESETS

    config = PRESETS["sudoku4x4"]
    config = type(config).from_dict({**config.to_dict(), "output_dir": str(tmp_path / "run")})
    monkeypatch.setenv("RANK", "1")
    assert isinstance(run_folder_lock(config), contextlib.nullcontext)
    monkeypatch.setenv("RANK", "0")
    with run_folder_lock(config):
        assert (tmp_path / "run" / ".trm.lock").is_file()
    assert not (tmp_path / "run" / ".trm.lock").exists()
