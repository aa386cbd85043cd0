"""Convert an official TRM / HRM checkpoint (``SamsungSAILMontreal/TinyRecursiveModels``,
``sapientinc/HRM``) into a ``save_pretrained`` folder.

    python -m modeling_trm.convert_original_checkpoint --checkpoint CKPT --config CONFIG --output DIR
    trm convert --checkpoint RUN_DIR --output DIR

``CKPT`` is a ``torch.save``d state dict (``step_N`` files of ``pretrain.py``) or a safetensors file;
its keys carry the ``_orig_mod.model.`` (compiled) or ``model.`` prefix. ``CONFIG`` holds the official
architecture keyword arguments: a JSON dict of the ``arch:`` keyword arguments or the
``all_config.yaml`` of a run (its ``arch:`` section). ``RUN_DIR`` is a run folder with ``step_N``
checkpoints (or a ``checkpoint`` file, as the HRM releases) and ``all_config.yaml``; the latest step is
converted. Puzzle names come from ``--identifiers`` (an official ``identifiers.json``, the official data
folder, or a dataset folder of ours), else from ``identifiers.json`` beside the checkpoint or the run's
``data_paths``; see docs/fine-tuning.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import pickle
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import torch
from transformers import CONFIG_MAPPING, AutoModel, PreTrainedConfig  # TRM/HRM: registered by __init__

from .folders import (
    non_empty,
    read_json_file,
    read_yaml_file,
    remove_stale_stages,
    removed_on_failure,
    replace_folder,
    stage_path,
)

logger = logging.getLogger(__name__)

_PREFIXES = ("_orig_mod.model.", "model.", "_orig_mod.")
# Non-persistent scratch of the official modules; harmless if a checkpoint happens to contain them.
_SCRATCH = re.compile(r"(puzzle_emb\.local_(weights|ids)|rotary_emb\.(cos|sin)_cached)$")
# official name (after "inner.") -> ours
_RENAMES = [
    (r"^embed_tokens\.embedding_weight$", "embed_tokens.weight"),
    (r"^embed_pos\.embedding_weight$", "embed_positions.weight"),
    (r"^puzzle_emb\.weights$", "puzzle_embedding.weight"),
    (r"^H_init$", "answer_init"),
    (r"^L_init$", "latent_init"),
    (r"^(lm_head|q_head)\.(weight|bias)$", r"\1.\2"),
    (r"^{level}\.layers\.(\d+)\.self_attn\.(qkv_proj|o_proj)\.weight$", r"{ours}.layers.\1.self_attn.\2.weight"),
    (r"^{level}\.layers\.(\d+)\.mlp_t\.(gate_up_proj|down_proj)\.weight$", r"{ours}.layers.\1.token_mlp.\2.weight"),
    (r"^{level}\.layers\.(\d+)\.mlp\.(gate_up_proj|down_proj)\.weight$", r"{ours}.layers.\1.mlp.\2.weight"),
]
_LEVELS = {"trm": {"L_level": "network"}, "hrm": {"H_level": "high_level", "L_level": "low_level"}}


def _strip_prefix(key: str) -> str:
    for prefix in _PREFIXES:
        if key.startswith(prefix):
            key = key[len(prefix):]
            break
    return key.removeprefix("inner.")


def infer_arch(state_dict: dict[str, torch.Tensor]) -> str:
    """``"hrm"`` when the checkpoint has a high-level network (``H_level``), else ``"trm"``."""
    return "hrm" if any(".H_level." in f".{_strip_prefix(k)}" for k in state_dict) else "trm"


def rename_official_state_dict(state_dict: dict[str, torch.Tensor], arch: str) -> dict[str, torch.Tensor]:
    """Official keys -> ours. Buffers stored in bf16 (H_init/L_init) become float32 holding exactly
    the bf16 values; everything else is cast to float32 (the models keep float32 masters)."""
    patterns = []
    for pattern, replacement in _RENAMES:
        if "{level}" in pattern:
            for level, ours in _LEVELS[arch].items():
                patterns.append((re.compile(pattern.format(level=level)), replacement.format(ours=ours)))
        else:
            patterns.append((re.compile(pattern), replacement))
    renamed, unknown = {}, []
    for key, tensor in state_dict.items():
        name = _strip_prefix(key)
        if _SCRATCH.search(name):
            continue
        for pattern, replacement in patterns:
            if pattern.match(name):
                renamed[pattern.sub(replacement, name)] = tensor.detach().to(torch.float32)
                break
        else:
            unknown.append(key)
    if unknown:
        raise ValueError(f"unknown keys in the official {arch.upper()} checkpoint: {sorted(unknown)}")
    return renamed


# ---------------------------------------------------------------------------------------------
# Configs: the official names
# ---------------------------------------------------------------------------------------------

_SAME_NAME = ("vocab_size", "seq_len", "hidden_size", "expansion", "rope_theta", "rms_norm_eps",
              "halt_exploration_prob", "num_puzzle_identifiers", "forward_dtype")
_SHARED_NAMES = {**{name: name for name in _SAME_NAME}, "num_heads": "num_attention_heads",
                 "halt_max_steps": "max_supervision_steps", "pos_encodings": "position_encoding",
                 "puzzle_emb_ndim": "puzzle_embedding_dim", "mlp_t": "token_mixer"}
# Official config key -> our field, one table per architecture (docs/architecture.md, Configs).
OFFICIAL_NAMES = {
    "trm": {**_SHARED_NAMES, "L_layers": "num_layers", "H_cycles": "num_recursions", "L_cycles": "num_latent_updates",
            "puzzle_emb_len": "puzzle_prefix_len", "no_ACT_continue": "act_continue"},
    "hrm": {**_SHARED_NAMES, "H_layers": "num_high_layers", "L_layers": "num_low_layers", "H_cycles": "high_cycles",
            "L_cycles": "low_cycles"},
}
# Values the official code spells differently: official key -> (official -> ours, our config -> official).
_OFFICIAL_VALUES = {
    "mlp_t": (lambda mlp: "mlp" if mlp else "attention", lambda config: config.token_mixer == "mlp"),
    "no_ACT_continue": (lambda no_continue: not no_continue, lambda config: not config.act_continue),
    # the official code treats any string but these two as no positions
    "pos_encodings": (lambda name: name if name in ("rope", "learned") else "none",
                      lambda config: config.position_encoding),
    # without a puzzle embedding we have no prefix; the official code would still prepend puzzle_emb_len positions
    "puzzle_emb_len": (lambda length: length, lambda config: config.puzzle_prefix_len if config.puzzle_embedding_dim else 0),
}
# Official defaults that differ from ours (a config that leaves the key out means these).
_OFFICIAL_DEFAULTS = {"puzzle_emb_ndim": 0}
# Official keys without model information: `batch_size` only sized scratch buffers, `causal` was always False
# and dropped by the official pydantic model, `name`/`loss` are the Hydra class selectors of `all_config.yaml`'s
# `arch:` section; TRM's config keeps an unused `H_layers` (written as 0).
_IGNORED_OFFICIAL_KEYS = {"trm": {"batch_size", "causal", "name", "loss", "H_layers"},
                          "hrm": {"batch_size", "causal", "name", "loss"}}
_OFFICIAL_CONSTANTS = {"trm": {"H_layers": 0}, "hrm": {}}


def translate_official_config(official, arch: str, to_official: bool = False):
    """Official architecture kwargs (a JSON dict of them, or the ``arch:`` section of a run's ``all_config.yaml``)
    -> our config of ``arch``, or with ``to_official`` our config -> the official kwargs. Unknown official keys,
    official values our architecture cannot hold (HRM with ``mlp_t``) and our fields without an official name
    (the ablation switches) set away from their default are refused."""
    names = OFFICIAL_NAMES[arch]
    config_class = CONFIG_MAPPING[arch]
    if to_official:
        config = official
        # the model's own fields, inherited ones included, without PreTrainedConfig's
        fields = [field for field in type(config).__dataclass_fields__ if field not in PreTrainedConfig.__dataclass_fields__]
        unnamed = [field for field in fields if field not in names.values()
                   and getattr(config, field) != getattr(type(config), field)]
        if unnamed:
            raise ValueError(f"{type(config).__name__}: {', '.join(unnamed)} has no field in the official "
                             f"{arch.upper()} config")
        out = {key: _OFFICIAL_VALUES[key][1](config) if key in _OFFICIAL_VALUES else getattr(config, ours)
               for key, ours in names.items()}
        return {**out, **_OFFICIAL_CONSTANTS[arch]}
    official = {**_OFFICIAL_DEFAULTS, **{key: value for key, value in official.items()
                                         if not key.startswith("_") and key not in _IGNORED_OFFICIAL_KEYS[arch]}}
    unknown = sorted(set(official) - set(names))
    if unknown:
        raise ValueError(f"{config_class.__name__}: unknown official keys {unknown}")
    kwargs = {names[key]: _OFFICIAL_VALUES[key][0](value) if key in _OFFICIAL_VALUES else value
              for key, value in official.items()}
    probe = config_class()
    for key, ours in names.items():  # a fixed property of this architecture (HRM: attention only, act_continue)
        if ours in kwargs and isinstance(getattr(config_class, ours, None), property):
            if kwargs.pop(ours) != getattr(probe, ours):
                raise ValueError(f"{config_class.__name__}: {key}={official[key]!r} is not an {arch.upper()} option")
    return config_class(**kwargs)


def config_from_official(official: dict[str, Any], arch: str, state_dict: dict[str, torch.Tensor] | None = None):
    """The config class of ``arch`` from official kwargs; sizes that runs take from the dataset
    (vocab_size, num_puzzle_identifiers, seq_len) are read off the weights when the kwargs lack them."""
    official = dict(official)
    if state_dict is not None:
        weights = {_strip_prefix(k): v for k, v in state_dict.items()}
        if "vocab_size" not in official and "embed_tokens.embedding_weight" in weights:
            official["vocab_size"] = weights["embed_tokens.embedding_weight"].shape[0]
        if "puzzle_emb.weights" in weights:
            official.setdefault("num_puzzle_identifiers", weights["puzzle_emb.weights"].shape[0])
            official.setdefault("puzzle_emb_ndim", weights["puzzle_emb.weights"].shape[1])
        if "seq_len" not in official:
            official["seq_len"] = _seq_len_from_weights(official, weights)
            if official["seq_len"] is None:
                raise ValueError(
                    "seq_len is not in the official config and RoPE models do not store it in their weights; "
                    "pass --seq-len (81 for Sudoku, 900 for Maze and ARC), --task, or --identifiers DATA_FOLDER"
                )
    return translate_official_config(official, arch)


def _seq_len_from_weights(official: dict[str, Any], weights: dict[str, torch.Tensor]) -> int | None:
    hidden = official.get("hidden_size", 512)
    ndim = official.get("puzzle_emb_ndim", 0)
    prefix = 0 if ndim == 0 else (official.get("puzzle_emb_len", 0) or -(ndim // -hidden))
    if "embed_pos.embedding_weight" in weights:
        return weights["embed_pos.embedding_weight"].shape[0] - prefix
    token_mlp = next((v for k, v in weights.items() if k.endswith("mlp_t.down_proj.weight")), None)
    if token_mlp is not None:
        return token_mlp.shape[0] - prefix
    return None


def convert_official_state_dict(state_dict: dict[str, torch.Tensor], official_config: dict[str, Any],
                                arch: str | None = None):
    """Official state dict + official architecture kwargs -> `TRMForPuzzleSolving` / `HRMForPuzzleSolving`."""
    arch = arch or infer_arch(state_dict)
    config = config_from_official(official_config, arch, state_dict)
    model = AutoModel.from_config(config)
    renamed = rename_official_state_dict(state_dict, arch)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(renamed))
    if missing:
        raise ValueError(f"the official {arch.upper()} checkpoint lacks weights for: {missing}")
    mismatched = [f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(expected[k].shape)}"
                  for k, v in renamed.items() if v.shape != expected[k].shape]
    if mismatched:
        raise ValueError("shape mismatch between the checkpoint and its config:\n  " + "\n  ".join(mismatched))
    model.load_state_dict(renamed, strict=True)
    return model.eval()


# ---------------------------------------------------------------------------------------------
# Files: checkpoints, official configs, run folders
# ---------------------------------------------------------------------------------------------

_TASK_HINTS = (("arc", "arc"), ("sudoku", "sudoku"), ("maze", "maze"))
DEFAULT_SEQ_LEN = {"sudoku": 81, "maze": 900, "arc": 900}
CHECKPOINT_FILENAME = "checkpoint"  # sapientinc/HRM releases; TRM's pretrain.py writes step_N files


def load_official_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A ``torch.save``d state dict (loaded with ``weights_only=True``) or a safetensors file."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(path)
        except SafetensorError as err:
            raise ValueError(f"{path} is not a readable safetensors file ({_first_line(err)})") from None
    try:
        state_dict = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise ValueError(f"{path} holds more than tensors and would have to be unpickled, which can run any code "
                         "it carries; refusing it (only plain tensor state dicts are read)") from None
    except Exception as err:  # torch raises RuntimeError, EOFError ... on a truncated or foreign file
        raise ValueError(f"{path} is not a readable torch state dict of tensors ({_first_line(err)})") from None
    if not isinstance(state_dict, dict) or not all(isinstance(v, torch.Tensor) for v in state_dict.values()):
        raise ValueError(f"{path} does not hold a flat state dict of tensors")
    return state_dict


def load_official_config(path: str | Path) -> dict[str, Any]:
    """Architecture kwargs from a JSON dict or an official ``all_config.yaml`` (its ``arch:`` section;
    ``data_paths`` is kept aside under ``_data_paths`` to name the task and find the identifiers)."""
    path = Path(path)
    raw = read_yaml_file(path) if path.suffix in (".yaml", ".yml") else read_json_file(path)
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a mapping of official config keys")
    if "arch" in raw:
        arch = dict(raw["arch"])
        paths = raw.get("data_paths") or raw.get("data_path") or []
        arch["_data_paths"] = [paths] if isinstance(paths, str) else list(paths)
        return arch
    return raw


def find_checkpoint(run_dir: Path) -> Path:
    """The checkpoint file of a run folder: the latest ``step_N`` (TRM's ``pretrain.py``, the ARC Prize
    verification runs) or a file named ``checkpoint`` (the HRM releases)."""
    steps = [p for p in run_dir.iterdir() if re.fullmatch(r"step_\d+", p.name) and p.is_file()]
    if steps:
        return max(steps, key=lambda p: int(p.name.split("_")[1]))
    if (run_dir / CHECKPOINT_FILENAME).is_file():
        return run_dir / CHECKPOINT_FILENAME
    raise FileNotFoundError(f"no checkpoint in {run_dir}: expected step_N files or a file named {CHECKPOINT_FILENAME!r}")


def read_identifiers(path: str | Path) -> tuple[list[str], dict[str, Any]]:
    """Puzzle names (row -> name) and what the source says about the data (``seq_len``, ``task``), from
    an official ``identifiers.json``, an official data folder (``identifiers.json`` + ``train/dataset.json``)
    or a dataset folder of ours (``puzzle_dataset.json``)."""
    path = Path(path)
    facts: dict[str, Any] = {}
    if path.is_dir():
        if (path / "puzzle_dataset.json").is_file():
            metadata = read_json_file(path / "puzzle_dataset.json")
            try:
                facts = {"seq_len": metadata["seq_len"], "task": metadata["task"],
                         "source": f"{path / 'puzzle_dataset.json'}"}
                names = [str(n) for n in metadata["puzzle_identifiers"]]
            except (KeyError, TypeError) as err:
                raise ValueError(f"{path / 'puzzle_dataset.json'}: not a puzzle dataset description (no {err})") from None
            return _unique_names(names, path / "puzzle_dataset.json"), facts
        if (path / "train" / "dataset.json").is_file():
            facts["seq_len"] = read_json_file(path / "train" / "dataset.json").get("seq_len")
        path = path / "identifiers.json"
    if not path.is_file():
        raise FileNotFoundError(f"no puzzle identifiers at {path} (expected an identifiers.json or a dataset folder)")
    names = read_json_file(path)
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise ValueError(f"{path}: expected a JSON list of puzzle names (row 0 = '<blank>')")
    return _unique_names(names, path), facts


def _unique_names(names: list[str], path: Path) -> list[str]:
    """Row i of the puzzle table is the puzzle named at position i: a name twice would map two rows to one."""
    seen, repeated = set(), []
    for name in names:
        if name in seen and name not in repeated:
            repeated.append(name)
        seen.add(name)
    if repeated:
        shown = ", ".join(repr(n) for n in repeated[:5]) + (f" (+{len(repeated) - 5} more)" if len(repeated) > 5 else "")
        raise ValueError(f"{path}: puzzle names must be unique (one per puzzle-embedding row); named more than "
                         f"once: {shown}")
    return names


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _identifiers_near(official: dict[str, Any], run_dir: Path | None) -> Path | None:
    """``identifiers.json`` beside the checkpoint, else the run's own data folder (``data_paths``) if it exists here."""
    if run_dir is not None and (run_dir / "identifiers.json").is_file():
        return run_dir / "identifiers.json"
    for data_path in official.get("_data_paths") or []:
        for folder in (Path(data_path), (run_dir / data_path) if run_dir is not None else None):
            if folder is not None and ((folder / "identifiers.json").is_file() or (folder / "puzzle_dataset.json").is_file()):
                return folder
    return None


def guess_task(official: dict[str, Any], vocab_size: int, seq_len: int | None = None) -> str | None:
    """The task from the run's data path names, else from an unambiguous vocabulary / length."""
    return _task_and_reason(official, vocab_size, seq_len)[0]


def _task_and_reason(official: dict[str, Any], vocab_size: int, seq_len: int | None) -> tuple[str | None, str]:
    for path in official.get("_data_paths") or []:
        for hint, task in _TASK_HINTS:
            if hint in str(path).lower():
                return task, f"named by the run's data path {path!r}"
    candidates = {"arc"} if vocab_size == 12 else set()
    if vocab_size == 6:
        candidates.add("maze")
    if vocab_size - 2 in (4, 6, 8, 9) and seq_len in (None, (vocab_size - 2) ** 2):
        candidates.add("sudoku")
    if len(candidates) == 1:
        return candidates.pop(), f"guessed from the vocabulary ({vocab_size} tokens); nothing in the checkpoint names it"
    found = " or ".join(sorted(candidates)) if candidates else "none of sudoku, maze, arc"
    return None, f"{vocab_size} tokens and {seq_len} cells fit {found}"


CONVERSION_RECORD = "conversion.json"  # what a conversion wrote, and how it knew the task: marks a converted folder


def check_output_folder(output: Path, overwrite: bool = False) -> None:
    """A conversion writes a new folder or replaces an earlier conversion; any other non-empty folder (a
    trained model with its card, results and checkpoints, your files) is refused unless ``overwrite``."""
    if output.exists() and not output.is_dir():
        raise FileExistsError(f"--output {output} is a file, not a folder")
    if non_empty(output) and not (output / CONVERSION_RECORD).is_file() and not overwrite:
        held = ", ".join(sorted(p.name for p in output.iterdir())[:6])
        raise FileExistsError(
            f"--output {output} already holds files that no conversion wrote ({held}); choose another folder, or "
            "pass --overwrite to replace the whole folder"
        )


def convert(checkpoint: str | Path, output: str | Path, config: str | Path | None = None,
            arch: str | None = None, seq_len: int | None = None, max_shard_size: str = "2GB",
            identifiers: str | Path | None = None, task: str | None = None, overwrite: bool = False,
            without_identifiers: bool = False):
    """Convert a checkpoint file or run folder and ``save_pretrained`` it into ``output`` with its processor
    (task vocabulary, grid size and puzzle-name map) and ``conversion.json``.

    The folder is consistent or not written: the task must be known (``--task``, the dataset's metadata,
    the run's data path, or an unambiguous vocabulary: then the output and the card say it was guessed),
    its vocabulary and grid must be the checkpoint's, and a puzzle table of several rows needs its names
    (unique) unless ``without_identifiers``. It is written beside ``output`` and renamed into place: a
    previous conversion there is replaced whole, any other non-empty folder only with ``overwrite``.
    """
    from .processing_trm import PuzzleProcessor

    output = Path(output)
    check_output_folder(output, overwrite)
    checkpoint = Path(checkpoint)
    run_dir = None
    if checkpoint.is_dir():
        run_dir = checkpoint
        checkpoint = find_checkpoint(run_dir)
        config = config or run_dir / "all_config.yaml"
    elif (checkpoint.parent / "all_config.yaml").is_file():
        run_dir = checkpoint.parent
        config = config or run_dir / "all_config.yaml"
    if config is None:
        raise ValueError("--config is required when the checkpoint has no all_config.yaml beside it")
    if not Path(config).is_file():
        raise FileNotFoundError(f"official config {config} not found")
    official = load_official_config(config)
    state_dict = load_official_state_dict(checkpoint)

    identifiers = identifiers or (None if without_identifiers else _identifiers_near(official, run_dir))
    names, facts = read_identifiers(identifiers) if identifiers is not None else (None, {})
    task_reason = "given with --task" if task else (f"from {facts['source']}" if facts.get("task") else None)
    task = task or facts.get("task")
    if seq_len is None and "seq_len" not in official:
        seq_len = facts.get("seq_len")
    weights = _strip_prefixes(state_dict)
    if seq_len is None and "seq_len" not in official:
        seq_len = _seq_len_from_weights(official, weights)
    vocab_size = weights["embed_tokens.embedding_weight"].shape[0] if "embed_tokens.embedding_weight" in weights else 0
    named_task, path_reason = _task_and_reason({"_data_paths": official.get("_data_paths")}, 0, None)
    if task is None and named_task is not None:
        task, task_reason = named_task, path_reason
    if seq_len is None and "seq_len" not in official and task is not None:
        seq_len = DEFAULT_SEQ_LEN[task]  # the official task sizes (RoPE weights do not record it)
    if task is None:
        task, task_reason = _task_and_reason(official, vocab_size, seq_len or official.get("seq_len"))
        if task is None:
            raise ValueError(f"cannot tell the task of {checkpoint}: {task_reason}; pass --task sudoku|maze|arc")
    if seq_len is not None:
        official["seq_len"] = seq_len

    model = convert_official_state_dict(state_dict, official, arch)
    rows = model.config.num_puzzle_identifiers if model.puzzle_embedding is not None else None
    if names is not None and rows is not None and len(names) != rows:
        raise ValueError(
            f"the puzzle-embedding table of {checkpoint} has {rows:,} rows but {identifiers} names {len(names):,} "
            "puzzles. Row i of the table is the puzzle named at position i of the identifiers the run was trained "
            "with, so they must come from that run's own data folder: a dataset rebuilt with another seed, source, "
            "augmentation count or builder version numbers its puzzles differently."
        )
    if names is None and rows is not None and rows > 1 and not without_identifiers:
        raise ValueError(
            f"the puzzle-embedding table of {checkpoint} has {rows:,} rows but no puzzle names were found (no "
            "identifiers.json beside it or in the run's data_paths): pass --identifiers (the run's identifiers.json "
            "or data folder), or --without-identifiers to convert a table whose rows cannot be named"
        )
    processor = _consistent_processor(PuzzleProcessor, task, task_reason, model.config, names)
    record = {"checkpoint": str(checkpoint), "config": str(config), "task": task, "task_source": task_reason,
              "task_guessed": task_reason.startswith("guessed"), "identifiers": str(identifiers) if identifiers else None,
              "puzzle_rows": rows, "puzzle_names": names is not None}

    remove_stale_stages(output)
    stage = stage_path(output)
    shutil.rmtree(stage, ignore_errors=True)
    with removed_on_failure(stage, output.parent, f"the converted model {output.name}"):
        model.save_pretrained(stage, max_shard_size=max_shard_size)
        processor.save_pretrained(stage)
        (stage / CONVERSION_RECORD).write_text(json.dumps(record, indent=2) + "\n")
    replace_folder(stage, output)
    logger.info("converted %s (%s, %d parameters + %d puzzle-embedding entries) -> %s", checkpoint,
                type(model).__name__, model.num_parameters(), model.num_puzzle_embedding_parameters(), output)
    if record["task_guessed"]:
        print(f"note: task {task} {task_reason}: pass --task if that is wrong (conversion.json and the model card "
              "say it was guessed)", file=sys.stderr)
    if names is None and rows is not None and rows > 1:
        logger.warning("the %d puzzle-embedding rows have no names: solving uses the blank row, and fine-tuning "
                       "cannot match them", rows)
    return model


def _consistent_processor(processor_class, task: str, reason: str, config, names):
    """The task's processor, checked against the checkpoint: same vocabulary, a square grid of seq_len cells."""
    side = math.isqrt(config.seq_len)
    if side * side != config.seq_len:
        raise ValueError(f"the checkpoint's sequence length {config.seq_len} is not a square grid, so it is no {task} "
                         "model of this package")
    try:
        processor = processor_class(task=task, grid_size=side, puzzle_identifiers=names)
    except ValueError as err:
        raise ValueError(f"task {task} ({reason}) does not fit the checkpoint ({side}x{side} cells): {err}") from None
    if processor.vocab_size != config.vocab_size:
        raise ValueError(
            f"task {task} ({reason}) does not fit the checkpoint: a {side}x{side} {task} has {processor.vocab_size} "
            f"tokens but the checkpoint's vocabulary has {config.vocab_size}"
        )
    return processor


def _strip_prefixes(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {_strip_prefix(k): v for k, v in state_dict.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="trm convert", description="Convert an official TRM/HRM checkpoint into a save_pretrained folder."
    )
    parser.add_argument("--checkpoint", required=True,
                        help="state dict file (step_N, checkpoint, .pt, .safetensors) or a run folder holding one "
                             "beside its all_config.yaml")
    parser.add_argument("--config", help="official architecture kwargs: JSON, or the run's all_config.yaml "
                                         "(default: all_config.yaml beside the checkpoint)")
    parser.add_argument("--output", required=True, help="folder to write")
    parser.add_argument("--identifiers", help="the run's puzzle names: an official identifiers.json, the official data "
                                              "folder, or a dataset folder of ours (default: found beside the checkpoint "
                                              "or in all_config.yaml's data_paths)")
    parser.add_argument("--task", choices=["sudoku", "maze", "arc"], help="default: from data_paths or the vocabulary")
    parser.add_argument("--arch", choices=["trm", "hrm"], help="default: hrm if the checkpoint has H_level weights")
    parser.add_argument("--seq-len", type=int, help="task length when neither config nor data say (81 sudoku, 900 maze/ARC)")
    parser.add_argument("--max-shard-size", default="2GB", help="safetensors shard size (ARC tables are large)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace --output even if it is a non-empty folder that no conversion wrote")
    parser.add_argument("--without-identifiers", action="store_true",
                        help="convert a puzzle table of several rows without its names (solve then uses the blank "
                             "row; fine-tuning cannot match the rows)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        model = convert(args.checkpoint, args.output, args.config, args.arch, args.seq_len, args.max_shard_size,
                        args.identifiers, args.task, overwrite=args.overwrite,
                        without_identifiers=args.without_identifiers)
    except (ValueError, FileNotFoundError, FileExistsError) as err:
        print(f"trm convert: error: {str(err).strip()}", file=sys.stderr)
        return 2
    print(f"wrote {type(model).__name__} to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
