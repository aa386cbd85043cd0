"""The training sampler: whole variants, one per visited group, seeded and resumable."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from datasets import Dataset

from training.data import PuzzleIndex, TrainBatchSampler, collate


def _arc_like_dataset(num_groups=7, variants_per_group=3, seed=0) -> Dataset:
    """Groups of variants with 1-5 examples each; inputs encode (group, variant, example)."""
    rng = np.random.default_rng(seed)
    rows = []
    variant = 0
    for group in range(num_groups):
        for _ in range(variants_per_group):
            for example in range(int(rng.integers(1, 6))):
                rows.append(dict(inputs=[group, variant % 250, example, 1], labels=[1, 2, 3, -100],
                                 puzzle_id=variant + 1, group_id=group, variant_id=variant))
            variant += 1
    return Dataset.from_list(rows)


def test_batches_hold_one_variant_per_group_and_whole_variants():
    dataset = _arc_like_dataset()
    index = PuzzleIndex.from_dataset(dataset)
    sampler = TrainBatchSampler(index, global_batch_size=8, epochs_per_chunk=1, seed=3)
    variant_ids = np.asarray(dataset["variant_id"])
    group_ids = np.asarray(dataset["group_id"])
    n_batches = sampler.batches_in_chunk(0)
    assert n_batches >= 1
    seen_groups = []
    for batch in range(n_batches):
        rows = sampler.global_batch(0, batch)
        assert len(rows) == 8 and len(set(rows.tolist())) == 8
        variants = variant_ids[rows]
        # each variant appears as one contiguous run, all its examples except possibly the last one
        runs = [v for v, _ in itertools.groupby(variants)]
        assert len(runs) == len(set(runs))
        for v in runs[:-1]:
            assert (variants == v).sum() == (variant_ids == v).sum(), f"variant {v} was split"
        seen_groups += [group_ids[variant_ids == v][0] for v in runs]
    assert len(seen_groups) == len(set(seen_groups)), "a group was visited twice within one epoch"


def test_sampler_is_seeded_and_resumes_exactly():
    dataset = _arc_like_dataset()
    index = PuzzleIndex.from_dataset(dataset)
    straight = TrainBatchSampler(index, global_batch_size=6, epochs_per_chunk=2, seed=1)
    reference = [rows.tolist() for rows in itertools.islice(iter(straight), 20)]

    first = TrainBatchSampler(index, global_batch_size=6, epochs_per_chunk=2, seed=1)
    head = [rows.tolist() for rows in itertools.islice(iter(first), 9)]
    second = TrainBatchSampler(index, global_batch_size=6, epochs_per_chunk=2, seed=1)
    second.load_state_dict(first.state_dict())
    tail = [rows.tolist() for rows in itertools.islice(iter(second), 11)]
    assert head + tail == reference
    assert first.state_dict()["chunk"] >= 0 and straight.state_dict() != first.state_dict()

    other_seed = TrainBatchSampler(index, global_batch_size=6, epochs_per_chunk=2, seed=2)
    assert [r.tolist() for r in itertools.islice(iter(other_seed), 20)] != reference


def test_single_example_variants_cover_every_group_per_epoch():
    # Sudoku/maze layout: 1 example per variant, so a chunk of E epochs visits E * groups variants.
    rows = [dict(inputs=[g], labels=[g], puzzle_id=0, group_id=g, variant_id=2 * g + a)
            for g in range(10) for a in range(2)]
    index = PuzzleIndex.from_dataset(Dataset.from_list(rows))
    sampler = TrainBatchSampler(index, global_batch_size=4, epochs_per_chunk=2, seed=0)
    assert sampler.batches_in_chunk(0) == 20 // 4
    groups = np.concatenate([sampler.global_batch(0, b) for b in range(5)]) // 2
    assert sorted(groups.tolist()) == sorted(list(range(10)) * 2)


def test_collate_pads_evaluation_batches():
    dataset = _arc_like_dataset()
    batch = collate(dataset, np.array([0, 1]), pad_to=4)
    assert batch["input_ids"].shape == (4, 4)
    assert batch["labels"][2:].eq(-100).all() and batch["puzzle_ids"][2:].eq(0).all()
    assert batch["labels"][0].tolist() == [1, 2, 3, -100]


def test_non_contiguous_variants_are_rejected():
    rows = [dict(inputs=[0], labels=[0], puzzle_id=0, group_id=0, variant_id=v) for v in (0, 1, 0)]
    with pytest.raises(ValueError, match="variant_id must be contiguous"):
        PuzzleIndex.from_dataset(Dataset.from_list(rows))
