"""The model a run trains: a fresh one sized by the dataset, or ``init_from`` a pretrained one (fine-tuning).

Both go through the Auto classes that ``modeling_trm`` registers (``AutoConfig.for_model``,
``AutoModel.from_config``; ``init_from`` through `training.loading.load_model_for_solving`, the strict
loader of ``trm solve``), so a new architecture needs no change here.
"""

from __future__ import annotations

import math

import torch
from transformers import AutoConfig, AutoModel

import modeling_trm  # noqa: F401  (registers TRM/HRM with the Auto classes)
from hub_datasets.hub_access import local_folder_or_repo_id
from modeling_trm.processing_trm import PuzzleProcessor
from training.hardware import resolve_forward_dtype
from training.loading import load_model_for_solving


def build_model(config, metadata, device="cpu"):
    """A fresh model sized by the dataset, or ``init_from`` a pretrained one (fine-tuning).

    ``model.forward_dtype="auto"`` becomes bfloat16 where ``device`` computes it natively, else float32
    (`training.hardware.resolve_forward_dtype`); the model's config stores the dtype chosen.

    Fine-tuning matches puzzle-embedding rows by puzzle name (see `transfer_puzzle_table`) and
    returns the model in training mode: ``from_pretrained`` gives an eval-mode model, in which the
    Q head never halts a slot and the puzzle table receives no gradient.
    """
    options = dict(config.model)
    if "forward_dtype" in options:
        options["forward_dtype"] = resolve_forward_dtype(options["forward_dtype"], device)[0]
    if config.init_from is None:
        dataset_fields = dict(vocab_size=metadata.vocab_size, seq_len=metadata.seq_len,
                              num_puzzle_identifiers=metadata.num_puzzle_identifiers)
        return AutoModel.from_config(AutoConfig.for_model(config.model_type, **{**dataset_fields, **options}))

    local_folder_or_repo_id(config.init_from, "init_from")  # a missing folder is named, not looked up on the Hub
    # the loader of `trm solve`: weights that leave any parameter random are refused, naming the folder
    model = load_model_for_solving(config.init_from, **options)
    if model.puzzle_embedding is not None:
        table, matched = transfer_puzzle_table(
            model.puzzle_embedding.weight, _puzzle_names(config.init_from), list(metadata.puzzle_identifiers),
            config.new_puzzle_embedding_init, source=config.init_from,
        )
        model.puzzle_embedding.register_buffer("weight", table)
        model.config.num_puzzle_identifiers = table.shape[0]
        print(f"init_from: {matched:,} of {table.shape[0]:,} puzzle-embedding rows matched by name; "
              f"{table.shape[0] - matched:,} new rows ({config.new_puzzle_embedding_init})")
    return model.train()


def check_dataset_fits(model_config, metadata) -> None:
    """Reject a dataset the model cannot consume, naming the mismatched field."""
    for field in ("vocab_size", "seq_len", "num_puzzle_identifiers"):
        model_value, data_value = getattr(model_config, field), getattr(metadata, field)
        if model_value != data_value:
            raise ValueError(
                f"dataset does not fit the model: {field} is {data_value} in the dataset metadata "
                f"({metadata.recipe!r}) but {model_value} in the model config"
            )


def make_processor(metadata) -> PuzzleProcessor:
    """The processor saved with the model: the task's vocabulary, grid size and puzzle-name map."""
    grid_size = (metadata.grid_shape or (math.isqrt(metadata.seq_len),))[0]  # ARC: the canvas side
    return PuzzleProcessor(task=metadata.task, grid_size=grid_size, puzzle_identifiers=list(metadata.puzzle_identifiers))


def _puzzle_names(model_dir: str) -> list[str] | None:
    """The puzzle-name map (row -> name) of a saved model's processor, or None without one. A processor file
    that is there but unreadable is an error: it must not pass for "no names"."""
    from transformers.utils import cached_file

    saved = cached_file(model_dir, "processor_config.json", _raise_exceptions_for_missing_entries=False,
                        _raise_exceptions_for_connection_errors=False)
    if saved is None:  # no processor_config.json in the folder / repo
        return None
    try:
        return PuzzleProcessor.from_pretrained(model_dir).puzzle_identifiers
    except (OSError, ValueError) as error:
        raise ValueError(f"init_from: cannot read {saved}: {str(error).strip().splitlines()[0]}") from None


def transfer_puzzle_table(table: torch.Tensor, base_names: list[str] | None, names: list[str], init: str = "mean",
                          source: str = "the pretrained model") -> tuple[torch.Tensor, int]:
    """The puzzle table for a dataset whose rows are ``names``, from a pretrained ``table`` whose rows
    are ``base_names``: a row is copied where the name is known, so a task never inherits another
    task's embedding; unknown names start from the mean row of ``table`` (what the official
    ``load_checkpoint`` gives every row of a mismatched table) or from zeros (a fresh table's init).
    Returns the new table and the number of rows matched by name.

    Without a name map only the trivial case passes: a one-row table (Sudoku, maze: the blank row).
    """
    if base_names is None:
        if table.shape[0] == 1 and len(names) == 1:
            return table.clone(), 1
        raise ValueError(
            f"{source} has a puzzle-embedding table of {table.shape[0]:,} rows but no puzzle-name map "
            f"(processor_config.json 'puzzle_identifiers'), so its rows cannot be matched to the dataset's "
            f"{len(names):,} puzzle names. Convert official checkpoints with `trm convert --identifiers "
            "identifiers.json` (or the dataset folder they were trained on)."
        )
    if len(base_names) != table.shape[0]:
        raise ValueError(f"{source}: its processor names {len(base_names):,} puzzles but its puzzle-embedding table "
                         f"has {table.shape[0]:,} rows")
    row_of = {name: row for row, name in enumerate(base_names)}
    known = torch.tensor([row_of.get(name, -1) for name in names], dtype=torch.long)
    fill = table.mean(dim=0) if init == "mean" else torch.zeros_like(table[0])
    new_table = fill.expand(len(names), -1).clone()
    found = known >= 0
    new_table[found] = table[known[found]]
    return new_table, int(found.sum())
