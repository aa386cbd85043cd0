"""Recipes: columns and dtypes, validity of every row, metadata, reproducibility, save/load, card, CLI
(the Hub round trip: tests/hub/test_dataset_hub.py)."""

import json

import datasets
import numpy as np
import pytest

from hub_datasets import (
    RECIPES,
    build_dataset,
    load_dataset_metadata,
    load_puzzle_dataset,
    puzzle_features,
    save_puzzle_dataset,
)
from hub_datasets.augment import invert
from hub_datasets.builders import decode_tokens
from hub_datasets.cli import main as data_main
from hub_datasets.maze import maze_errors
from hub_datasets.sudoku import sudoku_errors


@pytest.fixture(scope="module")
def sudoku_small():
    return build_dataset("sudoku-gen-small", num_train=20, num_test=10, num_aug=7, seed=3)


def test_sudoku_build_has_the_contract_columns_and_valid_rows(sudoku_small):
    dd, metadata = sudoku_small
    assert set(dd) == {"train", "test"}
    assert dd["train"].features == puzzle_features(81)
    assert dd["train"].data.schema.field("inputs").type.value_type.bit_width == 8
    assert (metadata.vocab_size, metadata.seq_len, metadata.num_puzzle_identifiers) == (11, 81, 1)
    assert metadata.splits["train"].total_groups == 20 and metadata.splits["train"].total_puzzles == 160
    table = dd["train"].with_format("numpy")[:]
    questions = np.stack([decode_tokens(t, metadata) for t in table["inputs"]])
    answers = np.stack([decode_tokens(t, metadata) for t in table["labels"]])
    assert sudoku_errors(questions, answers) == [None] * 160
    assert (table["puzzle_id"] == 0).all() and (table["variant_id"] == np.arange(160)).all()
    assert (table["group_id"] == np.repeat(np.arange(20), 8)).all()
    # group = original first, then its augmentations, each inverting to the original
    assert table["augmentation"][0] == "" and table["augmentation"][1].startswith("T")
    for row in range(8):
        np.testing.assert_array_equal(invert(table["augmentation"][row], answers[row]), answers[0])
    assert dd["test"]["augmentation"] == [""] * 10


def test_same_seed_same_bytes_and_fingerprint_other_seed_differs(sudoku_small):
    again, _ = build_dataset("sudoku-gen-small", num_train=20, num_test=10, num_aug=7, seed=3)
    other, _ = build_dataset("sudoku-gen-small", num_train=20, num_test=10, num_aug=7, seed=4)
    for split in ("train", "test"):
        assert again[split]._fingerprint == sudoku_small[0][split]._fingerprint
        assert again[split].data.table.equals(sudoku_small[0][split].data.table)
        assert other[split]._fingerprint != sudoku_small[0][split]._fingerprint


def test_sudoku_extreme_recipe_samples_and_augments(external_data_dir):
    source = external_data_dir / "sudoku" / "extreme_like"
    dd, metadata = build_dataset("sudoku-extreme-1k-aug-1000", source=source, subsample_size=30, num_aug=4)
    assert len(dd["train"]) == 150 and len(dd["test"]) == 10119  # the whole test file, unaugmented
    assert metadata.splits["train"].total_groups == 30 and metadata.parameters["num_aug"] == 4
    names = dd["train"]["puzzle_name"]
    assert names[0] == names[4] != names[5] and names[0].startswith("train:")
    with pytest.raises(ValueError, match=r"has no parameter\(s\) \['num_augs'\]"):
        build_dataset("sudoku-extreme-1k-aug-1000", source=source, num_augs=3)
    with pytest.raises(FileNotFoundError, match="neither train.csv nor train.csv.gz"):
        build_dataset("sudoku-extreme-1k-aug-1000", source=external_data_dir)


def test_maze_recipes_dihedral_groups_are_valid():
    dd, metadata = build_dataset("maze-gen-small", size=9, min_moves=14, num_train=6, num_test=3, num_aug=8)
    assert (metadata.vocab_size, metadata.seq_len, metadata.grid_shape) == (6, 81, (9, 9))
    table = dd["train"].with_format("numpy")[:]
    questions = np.stack([decode_tokens(t, metadata) for t in table["inputs"]])
    answers = np.stack([decode_tokens(t, metadata) for t in table["labels"]])
    assert maze_errors(questions, answers) == [None] * 48
    assert list(table["augmentation"][:8]) == ["", "t1", "t2", "t3", "t4", "t5", "t6", "t7"]
    for row in range(8):
        np.testing.assert_array_equal(invert(table["augmentation"][row], questions[row]), questions[0])


def test_maze_hard_recipe_reads_the_full_csvs(external_data_dir):
    hard, hard_metadata = build_dataset("maze-30x30-hard-1k", source=external_data_dir / "maze")
    assert (len(hard["train"]), len(hard["test"]), hard_metadata.seq_len) == (1000, 1000, 900)
    with pytest.raises(ValueError, match="num_aug must be 0 or 8"):
        build_dataset("maze-30x30-hard-1k", source=external_data_dir / "maze", num_aug=3)


def test_save_load_from_disk_metadata_and_card(sudoku_small, tmp_path):
    dd, metadata = sudoku_small
    save_puzzle_dataset(dd, metadata, tmp_path / "ds")
    loaded = datasets.load_from_disk(str(tmp_path / "ds"))
    assert isinstance(loaded, datasets.DatasetDict) and set(loaded) == {"train", "test"}
    assert loaded["train"].data.table.equals(dd["train"].data.table)
    assert load_puzzle_dataset(tmp_path / "ds")["test"]["inputs"] == dd["test"]["inputs"]
    assert load_dataset_metadata(tmp_path / "ds") == metadata
    card = (tmp_path / "ds" / "README.md").read_text()
    assert card.startswith("---\nlicense: mit")
    assert "| `train` | 20 | 160 | 160 | 1.0000 |" in card and "`augmentation`" in card
    with pytest.raises(FileNotFoundError, match="no puzzle_dataset.json"):
        load_dataset_metadata(tmp_path)


def test_cli_generate_build_and_show(tmp_path, capsys):
    assert data_main(["generate", "sudoku", "--num", "5", "--size", "4", "--output", str(tmp_path / "s.csv")]) == 0
    assert (tmp_path / "s.csv").read_text().startswith("source,question,answer,rating\n")
    out = tmp_path / "arc"
    assert data_main(["build", "maze-gen-small", "--output", str(out), "--seed", "2", "--set", "size=7",
                      "--set", "min_moves=8", "--set", "num_train=4", "--set", "num_test=2"]) == 0
    metadata = json.loads((out / "puzzle_dataset.json").read_text())
    assert metadata["parameters"]["size"] == 7 and metadata["seed"] == 2
    assert metadata["command"].startswith("trm data build maze-gen-small --output")
    capsys.readouterr()
    assert data_main(["show", str(out), "--split", "test", "--num", "1"]) == 0
    shown = capsys.readouterr().out
    assert "test[0]" in shown and shown.count("S") >= 2 and "o" in shown
    with pytest.raises(ValueError, match="unknown recipe"):
        data_main(["build", "sudoku-nope"])


def test_every_recipe_is_documented():
    assert {"sudoku-extreme-1k-aug-1000", "maze-30x30-hard-1k", "maze-30x30-hard-1k-aug", "arc1concept-aug-1000",
            "arc2concept-aug-1000", "sudoku-gen-small", "maze-gen-small", "arc-tiny"} <= set(RECIPES)
