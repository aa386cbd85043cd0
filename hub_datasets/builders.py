"""Recipes: raw puzzles -> ``DatasetDict`` (``train``/``test``) + ``PuzzleDatasetMetadata``.

Every split is assembled from numpy arrays into one pyarrow table (no per-row Python), with the
columns of docs/architecture.md; rows of one variant are contiguous and variants of one group too.
Builds are bit-reproducible: the same recipe, parameters, source and seed give identical arrow
bytes and the same ``Dataset._fingerprint`` (a hash of the content).
"""

from __future__ import annotations

import inspect
from functools import partial
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash
from datasets import Dataset, DatasetDict, DatasetInfo, Features, Sequence, Value
from datasets.table import InMemoryTable

from modeling_trm.processing_trm import IGNORE_LABEL_ID, PAD_ID, arc_canvas, crop_arc_grid

from . import arc as arc_lib
from .augment import (
    ARC_SEPARATOR,
    apply_sudoku_transforms,
    arc_variant_suffix,
    dihedral_transform,
    random_sudoku_transforms,
)
from .maze import MazeRecords, generate_mazes, read_maze_csv
from .metadata import PuzzleDatasetMetadata, SplitStatistics
from .progress import progress_bar
from .sudoku import SudokuRecords, generate_sudoku, read_sudoku_csv

BLANK_IDENTIFIER = "<blank>"


def puzzle_features(seq_len: int) -> Features:
    return Features({
        "inputs": Sequence(Value("uint8"), length=seq_len),
        "labels": Sequence(Value("int8"), length=seq_len),
        "puzzle_id": Value("int32"),
        "group_id": Value("int32"),
        "variant_id": Value("int32"),
        "puzzle_name": Value("string"),
        "augmentation": Value("string"),
    })


def strings_from_chars(chars: np.ndarray, present: np.ndarray) -> pa.Array:
    """A pyarrow string array: row i = ``chars[i]`` decoded where ``present[i]``, else ``""``."""
    lengths = np.where(present, chars.shape[1], 0).astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    data = np.ascontiguousarray(chars[present]).ravel()
    return pa.LargeStringArray.from_buffers(len(chars), pa.py_buffer(offsets), pa.py_buffer(data)).cast(pa.string())


def make_split(inputs: np.ndarray, labels: np.ndarray, puzzle_id: np.ndarray, group_id: np.ndarray,
               variant_id: np.ndarray, puzzle_name: pa.Array, augmentation: pa.Array, split: str) -> Dataset:
    """One split as an in-memory arrow ``Dataset`` with the explicit puzzle ``Features``."""
    seq_len = inputs.shape[1]
    fixed = lambda a, t: pa.FixedSizeListArray.from_arrays(pa.array(np.ascontiguousarray(a).ravel(), t), seq_len)
    features = puzzle_features(seq_len)
    table = pa.Table.from_arrays(
        [fixed(inputs, pa.uint8()), fixed(labels, pa.int8()), pa.array(puzzle_id, pa.int32()),
         pa.array(group_id, pa.int32()), pa.array(variant_id, pa.int32()), puzzle_name, augmentation],
        schema=features.arrow_schema)
    content = xxhash.xxh3_128(split.encode())
    for column in table.columns:
        for chunk in column.chunks:
            for buffer in chunk.buffers():  # includes the child buffers of the list columns
                if buffer is not None:
                    content.update(memoryview(buffer))
    return Dataset(InMemoryTable(table), info=DatasetInfo(features=features), split=split,
                   fingerprint=content.hexdigest())


def split_statistics(dataset: Dataset) -> SplitStatistics:
    # groups and variants are contiguous runs (the column contract), so counting runs counts them
    runs = lambda column: int(np.count_nonzero(np.diff(np.asarray(dataset.data.column(column))))) + (len(dataset) > 0)
    puzzles = runs("variant_id")
    return SplitStatistics(runs("group_id"), puzzles, len(dataset), len(dataset) / max(puzzles, 1))


# ------------------------------------------------------------------------- sudoku and maze


def _grid_split(questions: np.ndarray, answers: np.ndarray, names: list[str], augmentation: pa.Array | None,
                variants_per_group: int, token_offset: int, split: str) -> Dataset:
    """Sudoku/maze split: one example per variant, ``variants_per_group`` consecutive rows per group."""
    rows = len(questions)
    group_id = np.repeat(np.arange(rows // variants_per_group, dtype=np.int32), variants_per_group)
    name_array = pa.array(names, pa.string()).take(pa.array(group_id))
    inputs = (questions.reshape(rows, -1) + token_offset).astype(np.uint8)
    labels = (answers.reshape(rows, -1) + token_offset).astype(np.int8)
    augmentation = augmentation if augmentation is not None else pa.array(np.full(rows, ""), pa.string())
    return make_split(inputs, labels, np.zeros(rows, np.int32), group_id, np.arange(rows, dtype=np.int32),
                      name_array, augmentation, split)


def _sudoku_dataset(train: SudokuRecords, test: SudokuRecords, num_aug: int, seed: int):
    size = train.questions.shape[-1]
    rng = np.random.default_rng(seed)
    count = len(train)
    # group = original first, then num_aug random symmetries of it
    transforms = random_sudoku_transforms(rng, count * num_aug, size)
    originals_q = np.repeat(train.questions, num_aug, axis=0)
    originals_a = np.repeat(train.answers, num_aug, axis=0)
    aug_q = apply_sudoku_transforms(originals_q, transforms).reshape(count, num_aug, size, size)
    aug_a = apply_sudoku_transforms(originals_a, transforms).reshape(count, num_aug, size, size)
    questions = np.concatenate([train.questions[:, None], aug_q], axis=1).reshape(-1, size, size)
    answers = np.concatenate([train.answers[:, None], aug_a], axis=1).reshape(-1, size, size)
    chars = transforms.to_chars()
    chars = chars.reshape(count, num_aug, chars.shape[-1])  # the width spelled out: num_aug=0 leaves no rows
    chars = np.concatenate([np.zeros_like(chars[:, :1]), chars], axis=1).reshape(count * (num_aug + 1), -1)
    present = np.tile(np.arange(num_aug + 1) > 0, count)
    # tokens (docs/numerics.md#vocabularies): PAD 0, blank 1, digit d -> d + 1
    return DatasetDict(
        train=_grid_split(questions, answers, train.names, strings_from_chars(chars, present), num_aug + 1, 1, "train"),
        test=_grid_split(test.questions, test.answers, test.names, None, 1, 1, "test"),
    )


def _maze_dataset(train: MazeRecords, test: MazeRecords, dihedral: bool):
    if dihedral:  # the 8 dihedral transforms of each maze, identity first (official --aug)
        stack = lambda grids: np.stack([dihedral_transform(grids, t) for t in range(8)], axis=1).reshape(
            -1, *grids.shape[1:])
        names = np.tile(np.array(["", "t1", "t2", "t3", "t4", "t5", "t6", "t7"]), len(train))
        train_split = _grid_split(stack(train.questions), stack(train.answers), train.names,
                                  pa.array(names, pa.string()), 8, 1, "train")
    else:
        train_split = _grid_split(train.questions, train.answers, train.names, None, 1, 1, "train")
    # tokens: "# SGo" -> 1..5
    return DatasetDict(train=train_split, test=_grid_split(test.questions, test.answers, test.names, None, 1, 1, "test"))


def _csv_file(source: str | Path | None, stem: str) -> Path:
    if source is None:
        raise ValueError("this recipe reads CSV files: pass source=<folder with train.csv and test.csv> (--source)")
    for name in (f"{stem}.csv", f"{stem}.csv.gz"):
        if (Path(source) / name).is_file():
            return Path(source) / name
    raise FileNotFoundError(f"{source}: neither {stem}.csv nor {stem}.csv.gz found")


def _grid_metadata(task: str, vocab_size: int, size: int) -> dict:
    return {"task": task, "vocab_size": vocab_size, "seq_len": size * size, "num_puzzle_identifiers": 1,
            "puzzle_identifiers": [BLANK_IDENTIFIER], "grid_shape": (size, size)}


def sudoku_extreme(source=None, seed=0, subsample_size: int | None = 1000, num_aug: int = 1000,
                   min_difficulty: int | None = None):
    """TRM's Sudoku-Extreme build: ``subsample_size`` train puzzles sampled without replacement from
    ``train.csv`` (all if None), each followed by ``num_aug`` random symmetries (group of
    ``num_aug + 1``); test = the whole ``test.csv``, unaugmented. Seeded, unlike the official builder."""
    train = read_sudoku_csv(_csv_file(source, "train"))
    test = read_sudoku_csv(_csv_file(source, "test"))
    if min_difficulty is not None:
        train = train.select(np.flatnonzero(train.ratings >= min_difficulty))
    if subsample_size is not None and subsample_size < len(train):
        train = train.select(np.sort(np.random.default_rng(seed).choice(len(train), subsample_size, replace=False)))
    dd = _sudoku_dataset(train, test, num_aug, seed + 1)
    size = train.questions.shape[-1]
    return dd, _grid_metadata("sudoku", size + 2, size)


def sudoku_generated(source=None, seed=0, size: int = 9, num_train: int = 256, num_test: int = 64,
                     num_aug: int = 15, min_difficulty: int = 0, max_difficulty: int | None = None):
    """Generated puzzles (unique solution, minimal), for demos, tests and CPU training."""
    records = generate_sudoku(num_train + num_test, size=size, seed=seed, min_difficulty=min_difficulty,
                              max_difficulty=max_difficulty)
    train, test = records.select(np.arange(num_train)), records.select(np.arange(num_train, len(records)))
    dd = _sudoku_dataset(train, test, num_aug, seed + 1)
    return dd, _grid_metadata("sudoku", size + 2, size)


def maze_hard(source=None, seed=0, num_aug: int = 0):
    """TRM's Maze-30x30-Hard-1k build from ``train.csv``/``test.csv``; ``num_aug=8`` adds the 8
    dihedral transforms of each train maze (the official ``--aug``; not used by the TRM README)."""
    if num_aug not in (0, 8):
        raise ValueError(f"maze augmentation is all 8 dihedral transforms or none: num_aug must be 0 or 8, got {num_aug}")
    train, test = read_maze_csv(_csv_file(source, "train")), read_maze_csv(_csv_file(source, "test"))
    size = train.questions.shape[-1]
    return _maze_dataset(train, test, num_aug == 8), _grid_metadata("maze", 6, size)


def maze_generated(source=None, seed=0, size: int = 11, min_moves: int = 20, num_train: int = 512,
                   num_test: int = 128, num_aug: int = 0, unique_path: bool = False):
    """Generated mazes (Maze-Hard recipe at a smaller size and threshold); ``unique_path`` keeps only
    mazes with a single shortest path, whose answer every dihedral transform maps onto its own."""
    if num_aug not in (0, 8):
        raise ValueError(f"num_aug must be 0 or 8 (all dihedral transforms), got {num_aug}")
    records = generate_mazes(num_train + num_test, size=size, min_moves=min_moves, seed=seed, unique_path=unique_path)
    train, test = records.select(np.arange(num_train)), records.select(np.arange(num_train, len(records)))
    return _maze_dataset(train, test, num_aug == 8), _grid_metadata("maze", 6, size)


# ------------------------------------------------------------------------------------------ ARC

RETRIES_FACTOR = 5  # the official ARCAugmentRetriesFactor


class ArcGroup:
    """One original task and its kept variants (dihedral id + colour map; index 0 = identity)."""

    def __init__(self, task: arc_lib.ArcTask, is_test_task: bool):
        self.name = task.name
        pairs = {"train": task.train, "test": task.test}
        # official dest mapping: demos -> train split; test pairs -> test split for the test subset
        self.train_pairs = [p for key in task.key_order for p in pairs[key] if key == "train" or not is_test_task]
        self.test_pairs = task.test if is_test_task else []
        self.transform_ids = [0]
        self.colour_maps = [np.arange(10, dtype=np.uint8)]

    def choose_variants(self, rng: np.random.RandomState, num_aug: int) -> None:
        """Up to ``RETRIES_FACTOR * num_aug`` trials, keep those whose multiset of (input, output)
        pairs differs from every kept one, stop at ``num_aug`` kept: the official procedure and RNG
        use, so the variants equal those of the official builder with the same seed."""
        if num_aug <= 0:
            return
        pairs = self.train_pairs + self.test_pairs
        # per dihedral id: all grids of the task flattened into one array, + per pair shape prefix
        flat, prefixes, bounds = [], [], []
        for t in range(8):
            grids = [dihedral_transform(g, t) for pair in pairs for g in pair]
            flat.append(np.concatenate([g.ravel() for g in grids]))
            prefixes.append([bytes(grids[2 * i].shape + grids[2 * i + 1].shape) for i in range(len(pairs))])
        sizes = np.array([[a.size + b.size for a, b in pairs]]).ravel()
        bounds = np.concatenate([[0], np.cumsum(sizes)]).tolist()

        def key(t: int, colour_map: np.ndarray) -> tuple:
            data = colour_map[flat[t]].tobytes()
            return tuple(sorted(p + data[bounds[i]:bounds[i + 1]] for i, p in enumerate(prefixes[t])))

        seen = {key(0, self.colour_maps[0])}
        colours = np.arange(1, 10, dtype=np.uint8)
        for _ in range(RETRIES_FACTOR * num_aug):
            t = rng.randint(0, 8)
            colour_map = np.concatenate([np.zeros(1, np.uint8), rng.permutation(colours)])
            k = key(t, colour_map)
            if k not in seen:
                seen.add(k)
                self.transform_ids.append(t)
                self.colour_maps.append(colour_map)
            if len(self.transform_ids) >= num_aug + 1:
                break

    def variant_names(self) -> list[str]:
        return [self.name] + [f"{self.name}{ARC_SEPARATOR}{arc_variant_suffix(t, m)}"
                              for t, m in zip(self.transform_ids[1:], self.colour_maps[1:])]


def _arc_split(groups: list[ArcGroup], split: str, identifiers: dict[str, int],
               offsets_rng: np.random.RandomState | None) -> Dataset:
    """Materialise a split: rows ordered group -> variant -> example. In the train split
    (``offsets_rng`` given) every example but one random one per variant is placed at a random
    offset where both its grids fit (the official translation, same RNG order)."""
    pairs_of = (lambda g: g.train_pairs) if split == "train" else (lambda g: g.test_pairs)
    groups = [g for g in groups if pairs_of(g)]
    counts = np.array([len(g.transform_ids) * len(pairs_of(g)) for g in groups], np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)])
    rows = int(starts[-1])
    inputs = np.zeros((rows, 900), np.uint8)
    labels = np.zeros((rows, 900), np.uint8)
    offsets = np.zeros((rows, 2), np.int64)
    variant_of_row = np.zeros(rows, np.int64)

    if offsets_rng is not None:  # official order: per variant, the untranslated example, then (row, col) draws
        moved_examples = {}  # (number of pairs, kept example) -> the other examples
        for g, start in zip(groups, starts):
            pairs = pairs_of(g)
            fit = np.array([[31 - max(a.shape[0], b.shape[0]), 31 - max(a.shape[1], b.shape[1])] for a, b in pairs])
            fit_swapped = np.ascontiguousarray(fit[:, ::-1])  # dihedral ids 1, 3, 6, 7 swap height and width
            for v, t in enumerate(g.transform_ids):
                keep = offsets_rng.randint(0, len(pairs))
                moved = moved_examples.setdefault((len(pairs), keep), np.delete(np.arange(len(pairs)), keep))
                if len(moved):
                    highs = (fit_swapped if t in (1, 3, 6, 7) else fit)[moved]
                    offsets[start + v * len(pairs) + moved] = offsets_rng.randint(0, highs.ravel()).reshape(-1, 2)

    puzzle_ids = np.zeros(rows, np.int32)
    group_id = np.repeat(np.arange(len(groups), dtype=np.int32), counts)
    suffixes = []  # per variant, in row order: its augmentation string ("" = identity)
    variant_index = 0
    for g, start in progress_bar(list(zip(groups, starts)), desc=f"ARC {split} rows", leave=False):
        pairs = pairs_of(g)
        num_pairs, num_variants = len(pairs), len(g.transform_ids)
        variant_names = g.variant_names()
        maps = np.stack(g.colour_maps)
        ids = np.array([identifiers[n] for n in variant_names], np.int32)
        puzzle_ids[start:start + num_variants * num_pairs] = np.repeat(ids, num_pairs)
        variant_of_row[start:start + num_variants * num_pairs] = variant_index + np.repeat(np.arange(num_variants), num_pairs)
        variant_index += num_variants
        transform_ids = np.array(g.transform_ids)
        for t in np.unique(transform_ids):
            v = np.flatnonzero(transform_ids == t)
            for e, pair in enumerate(pairs):
                row = start + v * num_pairs + e
                for grid, out in zip(pair, (inputs, labels)):
                    grids = maps[v][:, dihedral_transform(grid, t)]  # [V, h, w]
                    out[row] = arc_canvas(grids, offsets[row])
        suffixes += [""] + [n[len(g.name) + len(ARC_SEPARATOR):] for n in variant_names[1:]]
    augmentation = pa.array(suffixes, pa.string()).take(pa.array(variant_of_row))
    moved = offsets.any(axis=1)
    if moved.any():  # translated train rows carry their offset: "<suffix or identity>|||o<row>,<col>"
        identity = arc_variant_suffix(0, np.arange(10))
        base = pc.if_else(pc.equal(augmentation, ""), identity, augmentation)
        position = pc.binary_join_element_wise(pa.array(offsets[:, 0]).cast(pa.string()),
                                               pa.array(offsets[:, 1]).cast(pa.string()), ",")
        translated = pc.binary_join_element_wise(base, position, f"{ARC_SEPARATOR}o")
        augmentation = pc.if_else(pa.array(moved), translated, augmentation)
    name_array = pa.array([g.name for g in groups], pa.string()).take(pa.array(group_id))
    # labels: PAD -> ignored, EOS and colours supervised (in place, in chunks: the arrays are large)
    labels = labels.view(np.int8)
    for chunk in range(0, rows, 1 << 16):
        block = labels[chunk:chunk + (1 << 16)]
        block[block == PAD_ID] = IGNORE_LABEL_ID
    return make_split(inputs, labels, puzzle_ids, group_id, variant_of_row.astype(np.int32), name_array,
                      augmentation, split)


def arc_variant_groups(source, rng: np.random.RandomState, subsets=("training", "evaluation", "concept"),
                       test_subset="evaluation", num_aug: int = 1000, num_tasks: int | None = None) -> list[ArcGroup]:
    """The variant plan of an ARC build (no materialisation): per subset, tasks shuffled by ``rng``,
    then each task's variants chosen. Gives the official split statistics in seconds."""
    if source is None:
        raise ValueError("this recipe reads the ARC task JSONs: pass source=<folder with the ARC subsets> (--source)")
    groups = []
    for subset in subsets:
        subset_tasks, _ = arc_lib.read_arc_subset(source, subset)
        rng.shuffle(subset_tasks)
        for task in progress_bar(subset_tasks[:num_tasks], desc=f"ARC {subset} variants", leave=False):
            group = ArcGroup(task, subset == test_subset)
            group.choose_variants(rng, num_aug)
            groups.append(group)
    return groups


def arc_dataset(source=None, seed=42, subsets=("training", "evaluation", "concept"), test_subset="evaluation",
                num_aug: int = 1000, num_tasks: int | None = None):
    """TRM's ARC build (docs/numerics.md#arc-build), reproducing the official builder for the same seed:
    tasks of each subset shuffled; every subset's pairs go to train except the test subset's test
    pairs, which form the test split (all variants, untranslated); up to ``num_aug`` deduplicated
    colour/dihedral variants per task; translation per train example, one per variant left at the
    top-left; identifiers from 1 in build order, shared by both splits. ``num_tasks`` keeps the
    first tasks of each subset (after shuffling) for small builds."""
    rng = np.random.RandomState(seed)
    groups = arc_variant_groups(source, rng, subsets, test_subset, num_aug, num_tasks)
    identifiers: dict[str, int] = {}
    for split in ("train", "test"):
        for group in groups:
            if split == "train" or group.test_pairs:
                for name in group.variant_names():
                    identifiers.setdefault(name, len(identifiers) + 1)
    return _arc_splits(groups, identifiers, rng)


def _arc_splits(groups: list[ArcGroup], identifiers: dict[str, int], rng: np.random.RandomState):
    """Both splits of an ARC build (train translated with ``rng``) and the metadata fields."""
    train = _arc_split(groups, "train", identifiers, rng)
    test = _arc_split(groups, "test", identifiers, None)
    names = [BLANK_IDENTIFIER] + list(identifiers)
    metadata = {"task": "arc", "vocab_size": 12, "seq_len": 900, "num_puzzle_identifiers": len(names),
                "puzzle_identifiers": names, "grid_shape": (30, 30)}
    return DatasetDict(train=train, test=test), metadata


def arc_recipe(config: str):
    subsets, test_subset = arc_lib.ARC_CONFIGS[config]

    def recipe(source=None, seed=42, num_aug: int = 1000, num_tasks: int | None = None):
        return arc_dataset(source, seed, subsets, test_subset, num_aug, num_tasks)

    recipe.__doc__ = f"TRM's {config.upper()} + ConceptARC build: subsets {subsets}, test = {test_subset}."
    return recipe


def arc_tiny(source=None, seed=42, subsets=("training", "evaluation"), test_subset="evaluation",
             num_tasks: int = 4, num_aug: int = 8):
    """A few ARC tasks per subset with few augmentations: builds in a second, for demos and tests."""
    if isinstance(subsets, str):
        subsets = tuple(subsets.split(","))
    return arc_dataset(source, seed, subsets, test_subset, num_aug, num_tasks)


def arc_test_time_adaptation(source=None, seed=42, base_subsets=("training", "evaluation", "concept"),
                             test_subset="evaluation", num_aug: int = 1000, num_tasks: int | None = None):
    """Test-time adaptation set (arXiv 2511.02886): the test subset's tasks only. The train split holds
    their *demonstration* pairs, augmented; the test split their test inputs with the outputs to score
    against - never trained on. The variants are those of the base build (same ``base_subsets``, seed,
    ``num_aug``, ``num_tasks``), so a model pretrained on that build finds its own puzzle-embedding
    rows by name (docs/fine-tuning.md)."""
    if isinstance(base_subsets, str):
        base_subsets = tuple(base_subsets.split(","))
    rng = np.random.RandomState(seed)
    groups = [g for g in arc_variant_groups(source, rng, base_subsets, test_subset, num_aug, num_tasks) if g.test_pairs]
    if not groups:
        raise ValueError(f"no task of the test subset {test_subset!r} among {base_subsets}: nothing to adapt to")
    identifiers = {name: i for i, name in enumerate((n for g in groups for n in g.variant_names()), start=1)}
    return _arc_splits(groups, identifiers, rng)


def arc_tta_recipe(config: str):
    base_subsets, test_subset = arc_lib.ARC_CONFIGS[config]
    return partial(arc_test_time_adaptation, base_subsets=base_subsets, test_subset=test_subset)


RECIPES = {
    "sudoku-extreme-1k-aug-1000": sudoku_extreme,
    "sudoku-gen-small": sudoku_generated,
    "sudoku4x4-gen": partial(sudoku_generated, size=4, num_train=64, num_test=32),
    "sudoku6x6-gen": partial(sudoku_generated, size=6),
    "maze-30x30-hard-1k": maze_hard,
    "maze-30x30-hard-1k-aug": partial(maze_hard, num_aug=8),
    "maze-gen-small": maze_generated,
    "arc1concept-aug-1000": arc_recipe("arc1"),
    "arc2concept-aug-1000": arc_recipe("arc2"),
    "arc-tiny": arc_tiny,
    # test-time adaptation sets: the evaluation tasks of the build above them, demonstrations only
    "arc1concept-tta": arc_tta_recipe("arc1"),
    "arc2concept-tta": arc_tta_recipe("arc2"),
    "arc-tiny-tta": partial(arc_test_time_adaptation, base_subsets=("training", "evaluation"), num_tasks=4, num_aug=8),
}
DEFAULT_SEEDS = {name: 42 for name in RECIPES if name.startswith("arc")}


def recipe_parameters(recipe: str) -> dict:
    """The overridable parameters of a recipe with their defaults."""
    signature = inspect.signature(RECIPES[recipe])
    return {k: p.default for k, p in signature.parameters.items()
            if k not in ("source", "seed") and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}


def _check_count(recipe: str, name: str, value, default) -> None:
    """Sizes and counts (the parameters whose default is an integer or None) are integers >= 0."""
    if not (default is None or (isinstance(default, int) and not isinstance(default, bool))):
        return
    if value is None and default is None:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"recipe {recipe!r}: {name} must be a whole number >= 0, got {value!r}")
    if value == 0 and name in AT_LEAST_ONE:
        raise ValueError(f"recipe {recipe!r}: {name} must be at least 1, got 0 ({AT_LEAST_ONE[name]})")


# Counts for which 0 would build an empty split or grid (num_aug=0 is fine: the originals only).
AT_LEAST_ONE = {
    "num_train": "a train split without puzzles trains nothing",
    "num_test": "a test split without puzzles evaluates nothing",
    "subsample_size": "a train split without puzzles trains nothing; None keeps them all",
    "num_tasks": "no tasks make empty splits; None keeps them all",
    "size": "a grid needs cells",
}


def build_dataset(recipe: str, source: str | Path | None = None, seed: int | None = None, command: str | None = None,
                  **parameters) -> tuple[DatasetDict, PuzzleDatasetMetadata]:
    """Build a recipe of ``RECIPES``; ``seed=None`` uses the recipe's default (42 for ARC, as the
    official builder; 0 otherwise). ``parameters`` override the recipe's (``num_aug``, ...)."""
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; available: {', '.join(RECIPES)}")
    known = recipe_parameters(recipe)
    unknown = set(parameters) - set(known)
    if unknown:
        raise ValueError(f"recipe {recipe!r} has no parameter(s) {sorted(unknown)}; it takes {sorted(known)}")
    for name, value in parameters.items():
        _check_count(recipe, name, value, known[name])
    seed = DEFAULT_SEEDS.get(recipe, 0) if seed is None else seed
    dd, fields = RECIPES[recipe](source=source, seed=seed, **parameters)
    metadata = PuzzleDatasetMetadata(
        recipe=recipe, seed=seed, splits={name: split_statistics(ds) for name, ds in dd.items()},
        source=str(source) if source is not None else None, command=command,
        parameters={**known, **parameters}, **fields)
    return dd, metadata


def decode_tokens(tokens, metadata: PuzzleDatasetMetadata) -> np.ndarray:
    """Token ids (one row of ``inputs``/``labels``) back to a grid: sudoku digits (0 = blank), maze
    codes into ``"# SGo"``, ARC colours (cropped at EOS, docs/numerics.md#arc-crop)."""
    tokens = np.asarray(tokens)
    if metadata.task == "arc":
        return crop_arc_grid(np.where(tokens < 0, 0, tokens))
    return (np.clip(tokens, 1, None) - 1).astype(np.uint8).reshape(metadata.grid_shape)
