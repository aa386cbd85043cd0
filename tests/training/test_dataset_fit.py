"""A dataset whose puzzle_dataset.json disagrees with its rows is refused at load, naming the file and the field;
a dataset or init_from path that is no folder is named as one, not looked up on the Hub."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import hub_datasets
from training.cli import main as trm
from training.train import Trainer


def _edited(source: str, tmp_path: Path, **fields) -> str:
    """A copy of the dataset folder ``source`` whose puzzle_dataset.json says ``fields`` instead."""
    import shutil

    copy = tmp_path / "edited"
    shutil.copytree(source, copy)
    metadata = json.loads((copy / "puzzle_dataset.json").read_text())
    (copy / "puzzle_dataset.json").write_text(json.dumps({**metadata, **fields}))
    return str(copy)


@pytest.mark.parametrize("fields, expected", [
    (dict(vocab_size=11), "says vocab_size 11, but a sudoku of side 4 has 6 tokens"),
    (dict(seq_len=25), "says seq_len 25, but the train inputs rows have 16 tokens"),
    (dict(task="maze"), "says task 'maze', but the first train row is not one: "),
    (dict(task="arc", vocab_size=12, grid_shape=[4, 4]), None),  # consistent: an ARC-like 4x4 set trains
    (dict(num_puzzle_identifiers=3), "says num_puzzle_identifiers 3 but names 1 puzzles"),
])
def test_metadata_that_disagrees_with_the_rows_is_refused_at_load(sudoku4_dataset, tiny_config, tmp_path, fields,
                                                                  expected):
    dataset = _edited(sudoku4_dataset, tmp_path, **fields)
    config = tiny_config(dataset=dataset, max_steps=1)
    if expected is None:
        Trainer(config)
        return
    with pytest.raises(ValueError, match=f"^{dataset}/puzzle_dataset.json {expected}".replace("(", r"\(")
                       .replace(")", r"\)")):
        Trainer(config)
    assert not (Path(config.output_dir) / "checkpoints").exists()


def test_token_ids_outside_the_vocabulary_are_refused(sudoku4_dataset, tiny_config, tmp_path):
    dataset = hub_datasets.load_puzzle_dataset(sudoku4_dataset)
    metadata = hub_datasets.load_dataset_metadata(sudoku4_dataset)
    dataset["test"] = dataset["test"].map(lambda row: {"labels": [9] + row["labels"][1:]})
    hub_datasets.save_puzzle_dataset(dataset, metadata, tmp_path / "bad")
    with pytest.raises(ValueError, match="says vocab_size 6, but the test labels hold token ids 2..9"):
        Trainer(tiny_config(dataset=str(tmp_path / "bad"), max_steps=1))


@pytest.mark.parametrize("key", ["dataset", "init_from"])
@pytest.mark.parametrize("path", ["/no/such/folder", "./no-such-folder", "no/such/folder/deep"])
def test_a_missing_local_path_is_named_not_looked_up_on_the_hub(sudoku4_dataset, tmp_path, capsys, key, path,
                                                                 monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # a lookup would fail differently (and slowly)
    values = {"dataset": sudoku4_dataset, key: path}
    assert trm(["train", "--preset", "sudoku4x4", "--max-steps", "1", "--output-dir", str(tmp_path / "run"),
                *(f"{k}={v}" for k, v in values.items())]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0] == f"trm train: error: no such folder: {path} (and it is not a Hub repo id)"


def test_a_two_part_name_under_a_local_folder_is_read_as_a_path(sudoku4_dataset, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    assert trm(["train", "--preset", "sudoku4x4", "--max-steps", "1", "--output-dir", str(tmp_path / "run"),
                f"dataset={sudoku4_dataset}", "init_from=runs/model"]) == 2
    assert "no such folder: runs/model (read as a path because runs/ is a local folder)" in capsys.readouterr().err


def test_an_unreadable_processor_of_init_from_is_named_not_taken_for_no_names(tiny_config, tmp_path):
    """A 0-byte processor_config.json used to pass for "no puzzle names" and fine-tuning went on."""
    from training.train import train

    base = train(tiny_config(max_steps=1, output_dir=str(tmp_path / "base")))
    (base / "processor_config.json").write_text("")
    with pytest.raises(ValueError, match=f"init_from: cannot read {base / 'processor_config.json'}: "):
        Trainer(tiny_config(max_steps=1, init_from=str(base), model={}, output_dir=str(tmp_path / "tuned")))
