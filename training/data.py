"""Batches for training and evaluation, following the official sampler (docs/numerics.md#batches).

Training data is consumed in *chunks* of ``eval_interval`` epochs, as in the official
``_iter_train``: a chunk concatenates one permutation of the groups per epoch; every visited group
contributes one uniformly chosen variant ("puzzle") with all of its examples in random order, and
these are packed greedily into global batches (the puzzle that overflows a batch is truncated to a
random subset; an incomplete last batch is dropped). Each process takes its contiguous slice of a
global batch.

Unlike the official code everything is seeded — the group order and variant choice per chunk
(``seed, chunk``), the within-puzzle shuffle per batch (``seed, chunk, batch``) — so a batch is a
pure function of its position and resuming only needs ``(chunk, batch)``.

`load_training_data` finds the dataset a run trains on (a saved one, or a recipe built once into a cache).
"""

from __future__ import annotations

import math
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hub_datasets.hub_access import local_folder_or_repo_id
from modeling_trm.folders import remove_stale_stages, stage_path
from modeling_trm.processing_trm import IGNORE_LABEL_ID

DATASET_CACHE = Path(os.environ.get("TRM_DATASETS_CACHE", "~/.cache/trm-hf/datasets")).expanduser()


def recipe_cache_folder(config) -> Path:
    """Where `load_training_data` keeps a built recipe: a folder of `DATASET_CACHE` named by recipe, seed and
    options (it holds ``puzzle_dataset.json`` once built)."""
    options = ",".join(f"{k}={v}" for k, v in sorted(config.dataset_options.items()))
    key = f"{config.dataset_recipe}-seed{config.dataset_seed}" + (f"-{options}" if options else "")
    return DATASET_CACHE / re.sub(r"[^A-Za-z0-9_.=,-]", "_", key)


def load_training_data(config, accelerator):
    """The ``DatasetDict`` and ``PuzzleDatasetMetadata`` a `TrainingConfig` trains on.

    A recipe is built once (by the main process) into a cache folder keyed by recipe, seed and
    options, then every process loads the same saved copy.
    """
    import hub_datasets

    if config.dataset is not None:
        source = local_folder_or_repo_id(config.dataset, "dataset")
    else:
        source = recipe_cache_folder(config)
        with accelerator.main_process_first():
            if accelerator.is_main_process and not (source / "puzzle_dataset.json").exists():
                dataset, metadata = hub_datasets.build_dataset(config.dataset_recipe, seed=config.dataset_seed,
                                                               **config.dataset_options)
                # two runs may build the same recipe at once: each in its own stage, the first rename wins
                remove_stale_stages(source)
                tmp = hub_datasets.save_puzzle_dataset(dataset, metadata, stage_path(source))
                try:
                    os.replace(tmp, source)
                except OSError:
                    if not (source / "puzzle_dataset.json").exists():
                        raise
                    shutil.rmtree(tmp, ignore_errors=True)
        source = str(source)
    dataset, metadata = hub_datasets.load_puzzle_dataset(source), hub_datasets.load_dataset_metadata(source)
    check_rows_match_metadata(dataset, metadata, source)
    return dataset, metadata


def check_rows_match_metadata(dataset, metadata, source) -> None:
    """Refuse a dataset whose ``puzzle_dataset.json`` disagrees with its rows: a model sized by the metadata
    would be trained on tokens, lengths or puzzle ids it cannot represent, or saved with the wrong processor.
    Reads only column extremes (arrow compute), not the rows one by one."""
    import pyarrow.compute as pc

    from modeling_trm.processing_trm import PuzzleProcessor

    where = f"{source}/puzzle_dataset.json"
    grid_side = (metadata.grid_shape or (math.isqrt(metadata.seq_len),))[0]
    try:
        task_vocab = PuzzleProcessor(task=metadata.task, grid_size=grid_side).vocab_size
    except (ValueError, KeyError) as error:
        raise ValueError(f"{where}: task {metadata.task!r} with a {grid_side}-cell grid side is not a puzzle type of "
                         f"this package ({error})") from None
    if task_vocab != metadata.vocab_size:
        raise ValueError(f"{where} says vocab_size {metadata.vocab_size}, but a {metadata.task} of side {grid_side} "
                         f"has {task_vocab} tokens")
    processor = PuzzleProcessor(task=metadata.task, grid_size=grid_side)
    if len(metadata.puzzle_identifiers) != metadata.num_puzzle_identifiers:
        raise ValueError(f"{where} says num_puzzle_identifiers {metadata.num_puzzle_identifiers} but names "
                         f"{len(metadata.puzzle_identifiers)} puzzles")
    for split_name, split in dataset.items():
        table = split.data.table
        for column in ("inputs", "labels"):
            lengths = pc.unique(pc.list_value_length(table.column(column))).to_pylist()
            if lengths and lengths != [metadata.seq_len]:
                raise ValueError(f"{where} says seq_len {metadata.seq_len}, but the {split_name} {column} rows have "
                                 f"{', '.join(map(str, sorted(lengths)))} tokens")
            values = pc.list_flatten(table.column(column))
            if column == "labels":
                values = pc.filter(values, pc.not_equal(values, metadata.ignore_label_id))
            extremes = pc.min_max(values).as_py() if len(values) else {"min": None, "max": None}
            if extremes["max"] is not None and not 0 <= extremes["min"] <= extremes["max"] < metadata.vocab_size:
                raise ValueError(f"{where} says vocab_size {metadata.vocab_size}, but the {split_name} {column} hold "
                                 f"token ids {extremes['min']}..{extremes['max']}")
        if len(split) and metadata.task != "arc" and processor.seq_len == metadata.seq_len:
            # a row of another task (a Sudoku labelled maze: the same 6 tokens and 16 cells) breaks its rules
            first = split.with_format("numpy", columns=["inputs", "labels"])[0]
            if (first["labels"] != metadata.ignore_label_id).all():
                problem = processor.check_solution(first["inputs"].astype(np.int64), first["labels"].astype(np.int64))
                if problem is not None:
                    raise ValueError(f"{where} says task {metadata.task!r}, but the first {split_name} row is not "
                                     f"one: {problem}")
        if len(split):
            largest = pc.max(table.column("puzzle_id")).as_py()
            if largest >= metadata.num_puzzle_identifiers:
                raise ValueError(f"{where} says num_puzzle_identifiers {metadata.num_puzzle_identifiers}, but the "
                                 f"{split_name} rows use puzzle_id {largest}")


def _segment_starts(values: np.ndarray) -> np.ndarray:
    """Start offsets of the runs of equal values, plus the end: CSR offsets of contiguous runs."""
    change = np.flatnonzero(values[1:] != values[:-1]) + 1
    return np.concatenate([[0], change, [len(values)]]).astype(np.int64)


@dataclass
class PuzzleIndex:
    """CSR layout of a split: examples -> variants (official "puzzles") -> groups."""

    variant_offsets: np.ndarray  # [num_variants + 1] example offsets
    group_offsets: np.ndarray  # [num_groups + 1] variant offsets

    @classmethod
    def from_dataset(cls, dataset) -> PuzzleIndex:
        columns = dataset.with_format("numpy", columns=["group_id", "variant_id"])[:]
        variant_offsets = _segment_starts(columns["variant_id"])
        group_of_variant = columns["group_id"][variant_offsets[:-1]]
        group_offsets = _segment_starts(group_of_variant)
        if len(np.unique(columns["variant_id"])) != len(variant_offsets) - 1:
            raise ValueError("rows of one variant_id must be contiguous (dataset contract)")
        if len(np.unique(group_of_variant)) != len(group_offsets) - 1:
            raise ValueError("variants of one group_id must be contiguous (dataset contract)")
        return cls(variant_offsets, group_offsets)

    @property
    def num_groups(self) -> int:
        return len(self.group_offsets) - 1

    @property
    def mean_puzzle_examples(self) -> float:
        return float(self.variant_offsets[-1]) / (len(self.variant_offsets) - 1)


class TrainBatchSampler:
    """Yields index arrays of global batches; its position is checkpointable (``state_dict``)."""

    def __init__(self, index: PuzzleIndex, global_batch_size: int, epochs_per_chunk: int, seed: int = 0):
        self.index = index
        self.global_batch_size = global_batch_size
        self.epochs_per_chunk = epochs_per_chunk
        self.seed = seed
        self.chunk = 0  # chunks count from 0 here (the official seed offset is 1-based)
        self.batch = 0  # next batch within the chunk
        self._cache: tuple[int, np.ndarray, np.ndarray] | None = None

    # --- one chunk: the sequence of chosen variants and where each global batch starts
    def _chunk_plan(self, chunk: int) -> tuple[np.ndarray, np.ndarray]:
        if self._cache is not None and self._cache[0] == chunk:
            return self._cache[1], self._cache[2]
        rng = np.random.default_rng([self.seed, chunk])
        index = self.index
        groups = np.concatenate([rng.permutation(index.num_groups) for _ in range(self.epochs_per_chunk)])
        first, count = index.group_offsets[groups], np.diff(index.group_offsets)[groups]
        variants = first + (rng.random(len(groups)) * count).astype(np.int64)
        # Greedy packing: a batch runs from its first variant until the cumulative size reaches
        # global_batch_size (that last variant is truncated). Batch b+1 starts after batch b's last.
        cumulative = np.cumsum(np.diff(index.variant_offsets)[variants])
        starts = [0]
        while True:
            base = cumulative[starts[-1] - 1] if starts[-1] else 0
            last = int(np.searchsorted(cumulative, base + self.global_batch_size, side="left"))
            if last >= len(variants):  # incomplete final batch: dropped
                break
            starts.append(last + 1)
        self._cache = (chunk, variants, np.asarray(starts, dtype=np.int64))
        return variants, self._cache[2]

    def batches_in_chunk(self, chunk: int | None = None) -> int:
        return len(self._chunk_plan(self.chunk if chunk is None else chunk)[1]) - 1

    def global_batch(self, chunk: int, batch: int) -> np.ndarray:
        variants, starts = self._chunk_plan(chunk)
        chosen = variants[starts[batch] : starts[batch + 1]]
        offsets = self.index.variant_offsets
        sizes = offsets[chosen + 1] - offsets[chosen]
        rows = np.repeat(offsets[chosen] - np.cumsum(sizes) + sizes, sizes) + np.arange(sizes.sum())
        # Shuffle examples within each variant (stable sort by (variant, random key)), then truncate.
        rng = np.random.default_rng([self.seed, chunk, batch])
        variant_of_row = np.repeat(np.arange(len(chosen)), sizes)
        rows = rows[np.lexsort((rng.random(len(rows)), variant_of_row))]
        return rows[: self.global_batch_size]

    def __iter__(self) -> Iterator[np.ndarray]:
        """Endless: chunk after chunk. ``chunk``/``batch`` always point at the next batch."""
        while True:
            if self.batch >= self.batches_in_chunk():
                if self.batches_in_chunk() == 0:
                    raise ValueError(
                        f"the training split is too small for one global batch of {self.global_batch_size} "
                        f"examples per chunk of {self.epochs_per_chunk} epochs"
                    )
                self.chunk, self.batch = self.chunk + 1, 0
                continue
            rows = self.global_batch(self.chunk, self.batch)
            self.batch += 1
            yield rows

    def state_dict(self) -> dict:
        return {"chunk": self.chunk, "batch": self.batch, "seed": self.seed}

    def load_state_dict(self, state: dict) -> None:
        if state["seed"] != self.seed:
            raise ValueError(f"checkpoint sampler seed {state['seed']} != configured seed {self.seed}")
        self.chunk, self.batch = int(state["chunk"]), int(state["batch"])


def collate(dataset, rows: np.ndarray, device: torch.device | str = "cpu", pad_to: int | None = None) -> dict:
    """Fetch ``rows`` as model inputs (docs/numerics.md#batches); eval batches are padded to ``pad_to`` rows with
    PAD inputs, ignored labels and the blank puzzle id."""
    rows = np.asarray(rows, dtype=np.int64)
    columns = dataset.with_format("numpy", columns=["inputs", "labels", "puzzle_id"])
    # An empty selection (a process with nothing left to evaluate) still needs the column shapes.
    data = columns[rows] if len(rows) else {k: v[:0] for k, v in columns[np.array([0])].items()}
    inputs = torch.from_numpy(np.asarray(data["inputs"], dtype=np.int64))
    labels = torch.from_numpy(np.asarray(data["labels"], dtype=np.int64))
    puzzle_ids = torch.from_numpy(np.asarray(data["puzzle_id"], dtype=np.int64))
    missing = (pad_to or 0) - len(rows)
    if missing > 0:
        inputs = torch.cat([inputs, inputs.new_zeros(missing, inputs.shape[1])])
        labels = torch.cat([labels, labels.new_full((missing, labels.shape[1]), IGNORE_LABEL_ID)])
        puzzle_ids = torch.cat([puzzle_ids, puzzle_ids.new_zeros(missing)])
    return {
        "input_ids": inputs.to(device, non_blocking=True),
        "labels": labels.to(device, non_blocking=True),
        "puzzle_ids": puzzle_ids.to(device, non_blocking=True),
    }


# Recipes that generate their puzzles: another seed gives fresh ones (the rest read or build fixed data).
GENERATED_RECIPES = ("sudoku-gen-small", "sudoku4x4-gen", "sudoku6x6-gen", "maze-gen-small")
CALIBRATION_SEED_OFFSET = 1_000_003  # the calibration puzzles' seed: the run's dataset seed plus this


def _input_rows(dataset) -> np.ndarray:
    return np.asarray(dataset.with_format("numpy", columns=["inputs"])[:]["inputs"], dtype=np.uint8)


def split_off_calibration(config, dataset, generate: bool = True) -> tuple[object, object | None, str]:
    """Puzzles to choose the halting confidence on (``SolveConfig.halt_confidence``), never trained or tested on.

    A generated recipe draws ``halt_calibration_puzzles`` fresh puzzles with another seed (any that equals
    a train or test puzzle is dropped); any other dataset holds its last training groups out of training (at
    most a tenth of them), one example each. Returns the dataset to train on, the calibration split (None
    when ``halt_calibration_puzzles`` is 0 or nothing can be held out) and a phrase saying where it came from.
    ``generate=False`` skips drawing the fresh puzzles (the other processes of a run, which never calibrate).
    """
    from datasets import DatasetDict

    import hub_datasets

    count = config.halt_calibration_puzzles
    if not count:
        return dataset, None, "no calibration (halt_calibration_puzzles=0)"
    if config.dataset is None and config.dataset_recipe in GENERATED_RECIPES:
        seed = config.dataset_seed + CALIBRATION_SEED_OFFSET
        if not generate:
            return dataset, None, f"fresh puzzles generated with seed {seed} (by the main process)"
        options = {**config.dataset_options, "num_train": 1, "num_test": count}
        fresh = hub_datasets.build_dataset(config.dataset_recipe, seed=seed, **options)[0]["test"]
        seen = {row.tobytes() for split in ("train", "test") for row in _input_rows(dataset[split])}
        keep = [i for i, row in enumerate(_input_rows(fresh)) if row.tobytes() not in seen]
        return dataset, fresh.select(keep), f"{len(keep)} fresh puzzles generated with seed {seed}"

    index = PuzzleIndex.from_dataset(dataset["train"])
    held_groups = min(count, index.num_groups // 10)
    if held_groups == 0:
        return dataset, None, f"no calibration (too few training groups, {index.num_groups}, to hold any out)"
    first_held_variant = index.group_offsets[index.num_groups - held_groups]
    first_held_row = int(index.variant_offsets[first_held_variant])
    # one example of each held-out group: the first example of its first variant (the original puzzle)
    first_variants = index.group_offsets[index.num_groups - held_groups : -1]
    calibration = dataset["train"].select(index.variant_offsets[first_variants].tolist())
    train = DatasetDict({**dataset, "train": dataset["train"].select(range(first_held_row))})
    return train, calibration, f"the last {held_groups} training groups, held out of training"
