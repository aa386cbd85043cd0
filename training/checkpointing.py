"""Checkpoints of a training run: writing, listing, pruning and resuming, read back without unpickling anything.

`save_checkpoint` writes ``checkpoint-N.tmp`` and renames it to ``checkpoint-N`` once every file is whole
and synced (the commit point); `list_checkpoints` sees only committed folders; `find_checkpoint` and
`load_checkpoint` resume one. A checkpoint folder (``<output_dir>/checkpoints/checkpoint-N``) holds only:

* ``model.safetensors`` — the weights (and the puzzle-embedding table), written by ``accelerate.save_state``;
* ``optimizer.bin`` — the optimizer's tensors and numbers (``accelerate.save_state``), read with
  ``torch.load(weights_only=True)``, which rebuilds tensors and plain containers and nothing else;
* ``trainer_state.json`` — step, best step, metric history and the batch sampler's position;
* ``ema.safetensors`` — the EMA weights (when EMA is on);
* ``act_state_<rank>.safetensors`` — each process's carried ACT state (the slots mid-puzzle);
* ``rng_state_<rank>.safetensors`` — each process's random-generator states (Python's in its metadata);
* ``training_config.json`` — the configuration of the run that wrote it;
* ``COMPLETE`` — written last; a folder without it is a torn save and is never resumed.

Nothing is registered with ``Accelerator.register_for_checkpointing`` (Accelerate would pickle it) and
Accelerate's pickled ``random_states_<rank>.pkl`` is replaced by ``rng_state_<rank>.safetensors``.
A folder holding a pickle (``*.pkl``, ``*.pt``, ...) is refused before anything in it is read.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import pickle
import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, safe_open, save_file

from modeling_trm.folders import FolderLock, remove_stale_stages, removed_on_failure, stage_path

COMPLETE_MARKER = "COMPLETE"
CHECKPOINT_PATTERN = re.compile(r"^checkpoint-(\d+)$")
TRAINER_STATE_NAME = "trainer_state.json"
EMA_NAME = "ema.safetensors"
CONFIG_NAME = "training_config.json"
PICKLE_SUFFIXES = (".pkl", ".pickle", ".pt", ".pth", ".ckpt")


class UnsafeCheckpointError(ValueError):
    """A checkpoint folder holds a file that could only be read by unpickling it."""


def act_state_name(rank: int) -> str:
    return f"act_state_{rank}.safetensors"


def rng_state_name(rank: int) -> str:
    return f"rng_state_{rank}.safetensors"


def refuse_pickles(path: Path) -> None:
    """Raise `UnsafeCheckpointError` naming the first file in ``path`` that would need unpickling."""
    for file in sorted(path.rglob("*")):
        if file.is_file() and (file.suffix in PICKLE_SUFFIXES or file.name.startswith("custom_checkpoint_")):
            raise UnsafeCheckpointError(
                f"--resume: {file} is a pickle, and unpickling a file can run any code it carries. Checkpoints "
                "written by trm-hf hold only safetensors, JSON and a weights-only optimizer.bin; refusing to "
                "read this folder (delete the file only if you wrote it yourself)."
            )
        if file.is_file() and file.name == ".metadata":  # torch.distributed.checkpoint reads it with pickle.load
            raise UnsafeCheckpointError(
                f"--resume: {file} is the pickled index of a sharded FSDP checkpoint (fsdp_state_dict_type: "
                "SHARDED_STATE_DICT), and unpickling a file can run any code it carries; refusing to read this "
                "folder. Train with fsdp_state_dict_type: FULL_STATE_DICT (training/accelerate_configs/"
                "fsdp2_4gpu.yaml), whose checkpoints hold safetensors and weights-only tensor files."
            )


def load_accelerate_state(accelerator, path: Path) -> None:
    """``accelerator.load_state`` with every ``torch.load`` weights-only; a file that needs more is refused."""
    try:
        accelerator.load_state(str(path), load_kwargs={"weights_only": True})
    except pickle.UnpicklingError as error:
        raise UnsafeCheckpointError(
            f"--resume: a file in {path} is not a plain tensor file and would have to be unpickled, which can run "
            f"any code it carries; refusing it. ({str(error).splitlines()[0]})"
        ) from None


# Options that may differ between a checkpoint's run and the run resuming it: they change how long the
# run goes on, what it logs and where the result goes, never what a training step computes.
SAFE_TO_CHANGE_ON_RESUME = frozenset({
    "max_steps", "resume_from", "overwrite_output_dir", "output_dir", "push_to_hub", "log_with", "log_interval",
    "solve_sample", "keep_checkpoints", "checkpoint_interval", "eval_at_start", "eval_batch_size",
    "eval_max_examples", "compile", "base_model",
})


def check_resume_config(path: Path, config) -> None:
    """Refuse to continue a checkpoint written by a run configured differently (other than the safe options)."""
    if not (path / CONFIG_NAME).is_file():
        raise FileNotFoundError(f"--resume: {path} has no {CONFIG_NAME}, so it was not written by `trm train`")
    saved = json.loads((path / CONFIG_NAME).read_text())
    current = config.to_dict()
    changed = sorted(k for k in set(saved) | set(current)
                     if k not in SAFE_TO_CHANGE_ON_RESUME and saved.get(k) != current.get(k))
    if changed:
        diffs = "; ".join(f"{k}: checkpoint {saved.get(k)!r}, now {current.get(k)!r}" for k in changed)
        raise ValueError(
            f"--resume: {path} belongs to a run configured differently ({diffs}). Resume with the same settings "
            f"(only {', '.join(sorted(SAFE_TO_CHANGE_ON_RESUME - {'resume_from'}))} may change), or start a new "
            "run in another --output-dir or with --overwrite."
        )


def claim_output_dir(config, is_main_process: bool, wait_for_everyone) -> None:
    """A run folder belongs to one run: a fresh run (no ``--resume``) refuses a folder where another run
    left checkpoints, a training log or a final model, unless ``overwrite_output_dir`` removes them."""
    if config.resume_from:
        return
    output_dir = Path(config.output_dir)
    found = [path for path in (output_dir / name for name in ("checkpoints", "training_log.json", "config.json"))
             if path.is_file() or _non_empty(path)]
    if found and not config.overwrite_output_dir:
        raise FileExistsError(
            f"--output-dir {output_dir} already holds another run ({', '.join(p.name for p in found)}): resume it "
            "with --resume, choose another --output-dir, or pass --overwrite to replace it."
        )
    wait_for_everyone()  # every process has checked before the main one deletes
    if found and is_main_process:
        for path in found:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    wait_for_everyone()


def _non_empty(path: Path) -> bool:
    return path.is_dir() and any(path.iterdir())


def run_folder_lock(config):
    """Held for a whole run by its main process: ``<output_dir>/.trm.lock`` (pid and host), released on exit.
    A second run into the same --output-dir is refused while the first is alive; a crashed run's lock (same
    host, pid gone) is taken over. Other processes of a multi-process run do not lock."""
    # The launcher's RANK, not accelerate's PartialState: building that state here, before the run's
    # Accelerator, would fix it too early (a multi-process CPU launch would run as single processes).
    if int(os.environ.get("RANK", "0")) != 0:
        return contextlib.nullcontext()
    return FolderLock(config.output_dir, purpose="trm train")


# ------------------------------------------------------------------------------------- checkpoint folders


def list_checkpoints(checkpoint_dir: Path) -> list[Path]:
    """Complete checkpoints, oldest first. Partial saves (``*.tmp``, no marker) are not listed."""
    if not checkpoint_dir.is_dir():
        return []
    found = [
        (int(match.group(1)), path)
        for path in checkpoint_dir.iterdir()
        if (match := CHECKPOINT_PATTERN.match(path.name)) and (path / COMPLETE_MARKER).is_file()
    ]
    return [path for _, path in sorted(found)]


def remove_partial_saves(checkpoint_dir: Path) -> None:
    """Delete ``checkpoint-*.tmp`` folders left by a crash mid-save."""
    for stale in checkpoint_dir.glob("checkpoint-*.tmp"):
        shutil.rmtree(stale, ignore_errors=True)


def save_checkpoint(accelerator, checkpoint_dir: Path, *, config, progress, sampler, act_states: list[Any],
                    ema=None) -> Path:
    """Write ``checkpoint_dir/checkpoint-<progress.step>`` (every process takes part), then prune old ones.

    Everything goes into ``checkpoint-N.tmp``; the main process writes the `COMPLETE` marker last, syncs
    the files and renames the folder: a kill at any point leaves either the whole checkpoint or none.
    """
    step = progress.step
    final = checkpoint_dir / f"checkpoint-{step}"
    tmp = final.with_name(final.name + ".tmp")
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    # A failed write (a full disk) removes the partial folder: the previous checkpoints stay as they are.
    saved = list_checkpoints(checkpoint_dir)
    kept = f"the last complete checkpoint is {saved[-1]} (--resume continues from it)" if saved else "no checkpoint was kept"
    with removed_on_failure(tmp, checkpoint_dir, f"checkpoint-{step}", kept):
        accelerator.save_state(str(tmp))
        # Accelerate pickles the RNG states; each rank keeps them as safetensors instead. The ACT carry
        # differs per rank too (each holds its own slots), so every rank writes its own.
        rank = accelerator.process_index
        (tmp / f"random_states_{rank}.pkl").unlink(missing_ok=True)
        save_rng_state(tmp / rng_state_name(rank))
        save_act_states(act_states, tmp / act_state_name(rank))
        ema_state = ema.state_dict() if ema is not None else None  # every rank: gathers FSDP shards
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            save_trainer_state(progress, sampler, tmp / TRAINER_STATE_NAME)
            if ema_state is not None:
                save_ema(ema_state, tmp / EMA_NAME)
            (tmp / CONFIG_NAME).write_text(json.dumps(config.to_dict(), indent=2))
            (tmp / COMPLETE_MARKER).write_text(json.dumps({"step": step, "processes": accelerator.num_processes}))
            _fsync_tree(tmp)
    if accelerator.is_main_process:
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)  # the commit point
        _fsync_dir(checkpoint_dir)
        best = checkpoint_dir / f"checkpoint-{progress.best_step}" if progress.best_step is not None else None
        prune_checkpoints(checkpoint_dir, config.keep_checkpoints, protect={final, best})
    accelerator.wait_for_everyone()
    return final


def prune_checkpoints(checkpoint_dir: Path, keep: int, protect=frozenset()) -> None:
    """Delete all but the newest ``keep`` complete checkpoints, never one in ``protect`` (the best, the newest)."""
    kept = set(list_checkpoints(checkpoint_dir)[-keep:]) | set(protect)
    for path in list_checkpoints(checkpoint_dir):
        if path not in kept:
            shutil.rmtree(path, ignore_errors=True)


def find_checkpoint(checkpoint_dir: Path, which: str) -> Path:
    """The checkpoint ``--resume WHICH`` names: ``"latest"`` (the newest complete one) or a folder."""
    if which == "latest":
        checkpoints = list_checkpoints(checkpoint_dir)
        if not checkpoints:
            raise FileNotFoundError(f"--resume: no complete checkpoint under {checkpoint_dir}")
        return checkpoints[-1]
    path = Path(which)
    if not (path / COMPLETE_MARKER).is_file():
        raise FileNotFoundError(f"--resume: {path} is not a complete checkpoint (no {COMPLETE_MARKER} marker)")
    return path


def load_checkpoint(accelerator, path: Path, *, config, progress, sampler, act_states: list[Any], ema=None) -> list[Any]:
    """Restore a `save_checkpoint` folder into the prepared model/optimizer, ``progress``, ``sampler`` and
    ``ema``; returns the ACT carries to continue with (``act_states`` when the process count changed)."""
    refuse_pickles(path)
    check_resume_config(path, config)
    rank = accelerator.process_index
    load_accelerate_state(accelerator, path)
    load_trainer_state(progress, sampler, path / TRAINER_STATE_NAME)
    if ema is not None:
        load_ema(ema, path / EMA_NAME)
    if (path / rng_state_name(rank)).is_file():
        load_rng_state(path / rng_state_name(rank))
    saved_processes = json.loads((path / COMPLETE_MARKER).read_text())["processes"]
    if saved_processes == accelerator.num_processes:
        saved = load_act_states(path / act_state_name(rank), accelerator.device)
        if len(saved) == len(act_states):
            act_states = saved
    else:
        print(f"resume: checkpoint written by {saved_processes} processes; restarting the ACT carry")
    return act_states


def _fsync_tree(root: Path) -> None:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    _fsync_dir(root)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem allows fsync on a directory
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# ------------------------------------------------------------------------------------- ACT state


def save_act_states(states: list[Any], path: Path) -> None:
    """One carried `TRMState` (or None) per micro-batch slice -> safetensors."""
    tensors, layout = {}, []
    for index, state in enumerate(states):
        if state is None:
            layout.append(None)
            continue
        fields = {k: v for k, v in dataclasses.asdict(state).items() if v is not None}
        layout.append(sorted(fields))
        tensors.update({f"{index}.{k}": v.detach().cpu().contiguous() for k, v in fields.items()})
    save_file(tensors, str(path), metadata={"layout": json.dumps(layout)})


def load_act_states(path: Path, device) -> list[Any]:
    from modeling_trm.modeling_trm import TRMState

    with safe_open(str(path), framework="pt") as handle:
        layout = json.loads(handle.metadata()["layout"])
    # loaded on the CPU, then moved: a multi-process CPU run reports "cpu:0", which loaders cannot map
    tensors = {k: v.to(device) for k, v in load_file(str(path)).items()}
    return [None if fields is None else TRMState(**{k: tensors[f"{i}.{k}"] for k in fields})
            for i, fields in enumerate(layout)]


# ------------------------------------------------------------------------------------- RNG state


def save_rng_state(path: Path) -> None:
    """Python, NumPy, torch CPU and CUDA generator states (Accelerate would pickle them)."""
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    tensors = {"torch": torch.get_rng_state(), "numpy_keys": torch.from_numpy(np_keys.astype(np.int64))}
    if torch.cuda.is_available():
        for device, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"cuda.{device}"] = state
    version, python_state, python_gauss = random.getstate()
    metadata = {"python": json.dumps([version, list(python_state), python_gauss]),
                "numpy": json.dumps([np_name, int(np_pos), int(np_has_gauss), float(np_gauss)])}
    save_file(tensors, str(path), metadata=metadata)


def load_rng_state(path: Path) -> None:
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata()
    tensors = load_file(str(path))
    version, python_state, python_gauss = json.loads(metadata["python"])
    random.setstate((version, tuple(python_state), python_gauss))
    np_name, np_pos, np_has_gauss, np_gauss = json.loads(metadata["numpy"])
    np.random.set_state((np_name, tensors["numpy_keys"].numpy().astype(np.uint32), np_pos, np_has_gauss, np_gauss))
    torch.set_rng_state(tensors["torch"])
    cuda = [tensors[f"cuda.{i}"] for i in range(len(tensors)) if f"cuda.{i}" in tensors]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda[: torch.cuda.device_count()])


# ------------------------------------------------------------------------------------- the rest


def save_ema(state: dict, path: Path) -> None:
    """``EMA.state_dict()`` (full tensors; under FSDP every rank must have called it) -> safetensors."""
    save_file({k: v.detach().cpu().contiguous() for k, v in state["shadow"].items()}, str(path),
              metadata={"decay": repr(state["decay"])})


def load_ema(ema, path: Path) -> None:
    with safe_open(str(path), framework="pt") as handle:
        decay = float(handle.metadata()["decay"])
    ema.load_state_dict({"decay": decay, "shadow": load_file(str(path))})


def save_trainer_state(progress, sampler, path: Path) -> None:
    path.write_text(json.dumps({"progress": progress.state_dict(), "sampler": sampler.state_dict()}, indent=1))


def load_trainer_state(progress, sampler, path: Path) -> None:
    state = json.loads(path.read_text())
    progress.load_state_dict(state["progress"])
    sampler.load_state_dict(state["sampler"])


# ------------------------------------------------------------------------------------- final model folder


def new_stage(output_dir: Path) -> Path:
    """An empty staging folder inside ``output_dir`` for the final model's files (see `commit_stage`), named
    after this process (``.final.tmp-PID``): runs never share one, and those of dead runs are removed."""
    remove_stale_stages(Path(output_dir) / "final")  # left by a kill during an earlier final save
    stage = stage_path(Path(output_dir) / "final")
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    return stage


def final_save_guard(output_dir: Path):
    """Around the final save: a failure removes this run's staging folder; a full disk is named."""
    return removed_on_failure(stage_path(Path(output_dir) / "final"), Path(output_dir), "the final model",
                              kept="the checkpoints are kept: --resume finishes the run")


def commit_stage(stage: Path, output_dir: Path) -> None:
    """Move the staged files into ``output_dir``, each with an atomic rename, ``config.json`` last: a
    folder with a ``config.json`` holds whole files only, and a kill part-way leaves no ``config.json``
    (not a loadable model) rather than a truncated file."""
    for path in stage.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    (Path(output_dir) / "config.json").unlink(missing_ok=True)
    for path in sorted(stage.iterdir(), key=lambda p: p.name == "config.json"):
        os.replace(path, Path(output_dir) / path.name)
    stage.rmdir()
