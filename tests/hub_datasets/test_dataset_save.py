"""``save_puzzle_dataset`` / ``trm data build --output``: atomic, and never over someone else's folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from datasets import DatasetDict

import hub_datasets
from hub_datasets import cli


@pytest.fixture(scope="module")
def built():
    return hub_datasets.build_dataset("sudoku4x4-gen", seed=0)


def test_a_kill_mid_save_leaves_the_previous_dataset_whole(built, tmp_path, monkeypatch):
    dataset, metadata = built
    path = tmp_path / "data"
    hub_datasets.save_puzzle_dataset(dataset, metadata, path)
    before = hub_datasets.load_puzzle_dataset(path)["train"]["inputs"]

    def torn_save(self, folder, **kwargs):  # what a kill during "Saving" leaves: an empty arrow file
        for split in self:
            target = Path(folder) / split
            target.mkdir(parents=True, exist_ok=True)
            (target / "data-00000-of-00001.arrow").write_bytes(b"")
        raise KeyboardInterrupt

    monkeypatch.setattr(DatasetDict, "save_to_disk", torn_save)
    with pytest.raises(KeyboardInterrupt):
        hub_datasets.save_puzzle_dataset(dataset, metadata, path)
    monkeypatch.undo()
    assert hub_datasets.load_puzzle_dataset(path)["train"]["inputs"] == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no leftovers


def test_a_folder_that_is_not_a_dataset_is_refused_unless_overwrite(built, tmp_path, capsys):
    dataset, metadata = built
    model = tmp_path / "model"
    model.mkdir()
    (model / "README.md").write_text("my model card")
    (model / "config.json").write_text("{}")
    with pytest.raises(FileExistsError, match=r"--output .*model is a non-empty folder that is not a puzzle dataset"):
        hub_datasets.save_puzzle_dataset(dataset, metadata, model)
    assert (model / "README.md").read_text() == "my model card"
    with pytest.raises(FileExistsError, match="not a puzzle dataset.*--overwrite"):  # refused before building
        cli.main(["build", "sudoku4x4-gen", "--output", str(model)])
    assert (model / "README.md").read_text() == "my model card"

    # a dataset of ours is replaced, and the command says so; --overwrite replaces anything
    cli.main(["build", "sudoku4x4-gen", "--output", str(tmp_path / "data")])
    cli.main(["build", "sudoku4x4-gen", "--output", str(tmp_path / "data")])
    assert "replacing the dataset that was there" in capsys.readouterr().out
    cli.main(["build", "sudoku4x4-gen", "--output", str(model), "--overwrite"])
    assert hub_datasets.load_dataset_metadata(model).recipe == "sudoku4x4-gen"


@pytest.mark.parametrize("argv", [["generate", "sudoku", "--num", "0", "--output", "x.csv"],
                                  ["generate", "maze", "--num", "-2", "--output", "x.csv"],
                                  ["show", "somewhere", "--num", "0"]])
def test_counts_must_be_positive(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2 and "must be a positive integer" in capsys.readouterr().err


def test_stages_left_by_interrupted_builds_are_removed_by_the_next_save(built, tmp_path):
    """A build killed while saving leaves ``.data.tmp-PID``; the next save into ``data`` removes those of dead
    processes and keeps one a live process is still writing."""
    import os
    import subprocess

    dataset, metadata = built
    gone = subprocess.Popen(["true"])
    gone.wait()
    alive = subprocess.Popen(["sleep", "60"])
    try:
        stale, busy = tmp_path / f".data.tmp-{gone.pid}", tmp_path / f".data.tmp-{alive.pid}"
        for folder in (stale, busy, tmp_path / f".data.old-{gone.pid}"):
            (folder / "train").mkdir(parents=True)
            (folder / "train" / "data-00000-of-00001.arrow").write_bytes(b"\0" * 1024)
        hub_datasets.save_puzzle_dataset(dataset, metadata, tmp_path / "data")
        assert sorted(p.name for p in tmp_path.iterdir()) == [busy.name, "data"]
        assert not (tmp_path / f".data.tmp-{os.getpid()}").exists()
    finally:
        alive.kill()
        alive.wait()


def test_a_full_disk_while_saving_names_the_disk_and_keeps_the_previous_dataset(built, tmp_path, monkeypatch):
    import errno

    dataset, metadata = built
    path = hub_datasets.save_puzzle_dataset(dataset, metadata, tmp_path / "data")

    def fills_the_disk(self, folder, **kwargs):
        (Path(folder) / "train").mkdir(parents=True)
        (Path(folder) / "train" / "data-00000-of-00001.arrow").write_bytes(b"\0" * 1024)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(DatasetDict, "save_to_disk", fills_the_disk)
    with pytest.raises(OSError, match=f"no space left on the disk .* holding {tmp_path}: the dataset data was not "
                                      r"saved \(its partial files were removed\); the previous dataset there is "
                                      "unchanged"):
        hub_datasets.save_puzzle_dataset(dataset, metadata, path)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]
    assert hub_datasets.load_dataset_metadata(path).recipe == "sudoku4x4-gen"


def test_num_aug_0_builds_the_originals_and_empty_splits_are_refused(capsys):
    dataset, metadata = hub_datasets.build_dataset("sudoku4x4-gen", num_train=8, num_test=4, num_aug=0)
    assert len(dataset["train"]) == 8 and set(dataset["train"]["augmentation"]) == {""}
    assert metadata.splits["train"].total_puzzles == 8
    maze, _ = hub_datasets.build_dataset("maze-gen-small", size=5, min_moves=2, num_train=4, num_test=2, num_aug=0)
    assert len(maze["train"]) == 4
    for name in ("num_train", "num_test", "size"):
        with pytest.raises(ValueError, match=f"recipe 'sudoku4x4-gen': {name} must be at least 1, got 0 "):
            cli.main(["build", "sudoku4x4-gen", "--set", f"{name}=0"])
    with pytest.raises(ValueError, match="this recipe reads the ARC task JSONs: pass source="):
        cli.main(["build", "arc-tiny"])


@pytest.mark.parametrize("content, expected", [
    ("", "is not valid JSON (empty file)"),
    ('{"task": "sudoku"', "is not valid JSON"),
    ('{"task": "sudoku"}', "is not a puzzle dataset description this version reads"),
])
def test_a_malformed_puzzle_dataset_json_is_named(built, tmp_path, content, expected):
    dataset, metadata = built
    path = hub_datasets.save_puzzle_dataset(dataset, metadata, tmp_path / "data")
    (path / "puzzle_dataset.json").write_text(content)
    with pytest.raises(ValueError, match=f"^{path / 'puzzle_dataset.json'} {expected}".replace("(", r"\(")
                       .replace(")", r"\)")):
        hub_datasets.load_dataset_metadata(path)
