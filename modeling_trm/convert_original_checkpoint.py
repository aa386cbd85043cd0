"""Convert an official TRM / HRM checkpoint (``SamsungSAILMontreal/TinyRecursiveModels``,
``sapientinc/HRM``) into a ``save_pretrained`` folder.

    python -m modeling_trm.convert_original_checkpoint --checkpoint CKPT --config CONFIG --output DIR
    trm convert --checkpoint RUN_DIR --output DIR

``CKPT`` is a ``torch.save``d state dict (``step_N`` files of ``pretrain.py``) or a safetensors file;
its keys carry the ``_orig_mod.model.`` (compiled) or ``model.`` prefix. ``CONFIG`` holds the official
architecture keyword arguments: a JSON dict (as in ``shared/reference/*/config.json``) or the
``all_config.yaml`` of a run (its ``arch:`` section). ``RUN_DIR`` is a run folder with ``step_N``
checkpoints, ``all_config.yaml`` and optionally ``identifiers.json``; the latest step is converted.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from pathlib import Path
from typing import Any

import torch

from .configuration_trm import HRMConfig, TRMConfig
from .modeling_hrm import HRMForPuzzleSolving
from .modeling_trm import TRMForPuzzleSolving

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
    config_class = HRMConfig if arch == "hrm" else TRMConfig
    return config_class.from_official_config(official)


def _seq_len_from_weights(official: dict[str, Any], weights: dict[str, torch.Tensor]) -> int:
    hidden = official.get("hidden_size", 512)
    ndim = official.get("puzzle_emb_ndim", 0)
    prefix = 0 if ndim == 0 else (official.get("puzzle_emb_len", 0) or -(ndim // -hidden))
    if "embed_pos.embedding_weight" in weights:
        return weights["embed_pos.embedding_weight"].shape[0] - prefix
    token_mlp = next((v for k, v in weights.items() if k.endswith("mlp_t.down_proj.weight")), None)
    if token_mlp is not None:
        return token_mlp.shape[0] - prefix
    raise ValueError(
        "seq_len is not in the official config and RoPE models do not store it in their weights; "
        "pass --seq-len (81 for Sudoku, 900 for Maze and ARC)"
    )


def convert_official_state_dict(state_dict: dict[str, torch.Tensor], official_config: dict[str, Any],
                                arch: str | None = None):
    """Official state dict + official architecture kwargs -> `TRMForPuzzleSolving` / `HRMForPuzzleSolving`."""
    arch = arch or infer_arch(state_dict)
    config = config_from_official(official_config, arch, state_dict)
    model_class = HRMForPuzzleSolving if arch == "hrm" else TRMForPuzzleSolving
    model = model_class(config)
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


def load_official_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A ``torch.save``d state dict (loaded with ``weights_only=True``) or a safetensors file."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(path)
    state_dict = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state_dict, dict) or not all(isinstance(v, torch.Tensor) for v in state_dict.values()):
        raise ValueError(f"{path} does not hold a flat state dict of tensors")
    return state_dict


def load_official_config(path: str | Path) -> dict[str, Any]:
    """Architecture kwargs from a JSON dict or an official ``all_config.yaml`` (its ``arch:`` section;
    ``data_paths`` is kept aside under ``_data_paths`` to name the task)."""
    path = Path(path)
    text = path.read_text()
    if path.suffix in (".yaml", ".yml"):
        import yaml

        raw = yaml.safe_load(text)
    else:
        raw = json.loads(text)
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a mapping of official config keys")
    if "arch" in raw:
        arch = dict(raw["arch"])
        arch["_data_paths"] = raw.get("data_paths") or raw.get("data_path") or []
        return arch
    return raw


def find_latest_step(run_dir: Path) -> Path:
    steps = [p for p in run_dir.iterdir() if re.fullmatch(r"step_\d+", p.name) and p.is_file()]
    if not steps:
        raise FileNotFoundError(f"no step_N checkpoint in {run_dir}")
    return max(steps, key=lambda p: int(p.name.split("_")[1]))


def _guess_task(official: dict[str, Any], vocab_size: int) -> str | None:
    paths = official.get("_data_paths") or []
    for path in [paths] if isinstance(paths, str) else paths:
        for hint, task in _TASK_HINTS:
            if hint in str(path).lower():
                return task
    return {11: "sudoku", 6: "maze", 12: "arc"}.get(vocab_size)


def convert(checkpoint: str | Path, output: str | Path, config: str | Path | None = None,
            arch: str | None = None, seq_len: int | None = None, max_shard_size: str = "2GB"):
    """Convert a checkpoint file or run folder and ``save_pretrained`` it into ``output``."""
    checkpoint = Path(checkpoint)
    identifiers = None
    if checkpoint.is_dir():
        run_dir = checkpoint
        checkpoint = find_latest_step(run_dir)
        if config is None:
            config = run_dir / "all_config.yaml"
        if (run_dir / "identifiers.json").exists():
            identifiers = json.loads((run_dir / "identifiers.json").read_text())
    if config is None:
        raise ValueError("--config is required when --checkpoint is a file")
    official = load_official_config(config)
    if seq_len is not None:
        official["seq_len"] = seq_len
    state_dict = load_official_state_dict(checkpoint)
    model = convert_official_state_dict(state_dict, official, arch)
    output = Path(output)
    model.save_pretrained(output, max_shard_size=max_shard_size)
    logger.info("converted %s (%s, %d parameters + %d puzzle-embedding entries) -> %s", checkpoint,
                type(model).__name__, model.num_parameters(), model.num_puzzle_embedding_parameters(), output)
    if identifiers is not None:
        _save_processor(official, model.config.vocab_size, identifiers, output)
    return model


def _save_processor(official, vocab_size, identifiers, output: Path) -> None:
    try:
        from .processing_trm import PuzzleProcessor
    except ImportError as err:  # the processor ships with the solving work
        logger.warning("identifiers.json not saved: modeling_trm.processing_trm.PuzzleProcessor unavailable (%s)", err)
        return
    task = _guess_task(official, vocab_size)
    if task is None:
        logger.warning("identifiers.json not saved: cannot tell the task (sudoku/maze/arc) of this run")
        return
    PuzzleProcessor(task=task, puzzle_identifiers=identifiers).save_pretrained(output)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="trm convert", description="Convert an official TRM/HRM checkpoint into a save_pretrained folder."
    )
    parser.add_argument("--checkpoint", required=True,
                        help="state dict file (step_N, .pt, .safetensors) or a run folder (step_N + all_config.yaml)")
    parser.add_argument("--config", help="official architecture kwargs: JSON, or the run's all_config.yaml")
    parser.add_argument("--output", required=True, help="folder to write")
    parser.add_argument("--arch", choices=["trm", "hrm"], help="default: hrm if the checkpoint has H_level weights")
    parser.add_argument("--seq-len", type=int, help="task length when the config lacks it (81 sudoku, 900 maze/ARC)")
    parser.add_argument("--max-shard-size", default="2GB", help="safetensors shard size (ARC tables are large)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        model = convert(args.checkpoint, args.output, args.config, args.arch, args.seq_len, args.max_shard_size)
    except (ValueError, FileNotFoundError) as err:
        print(f"trm convert: {err}", file=sys.stderr)
        return 2
    print(f"wrote {type(model).__name__} to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
