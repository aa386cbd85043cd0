"""A built puzzle dataset pushed to the (local) Hub loads back identical, with its metadata and card."""

import json

from hub_datasets import build_dataset, save_puzzle_dataset


def test_push_to_local_hub_and_load_back(hub_server, tmp_path):
    dd, metadata = build_dataset("sudoku-gen-small", num_train=20, num_test=10, num_aug=7, seed=3)
    save_puzzle_dataset(dd, metadata, tmp_path / "ds")
    out = hub_server.run_python(f"""
import json
from hub_datasets import load_dataset_metadata, load_puzzle_dataset, push_puzzle_dataset
from huggingface_hub import hf_hub_download
import datasets
local = datasets.load_from_disk({str(tmp_path / 'ds')!r})
push_puzzle_dataset(local, load_dataset_metadata({str(tmp_path / 'ds')!r}), "test-user/sudoku-small")
loaded = load_puzzle_dataset("test-user/sudoku-small")
same = all(loaded[s].to_dict() == local[s].to_dict() and loaded[s].features == local[s].features for s in local)
card = open(hf_hub_download("test-user/sudoku-small", "README.md", repo_type="dataset")).read()
hub = load_dataset_metadata("test-user/sudoku-small")
print(json.dumps({{"same": same, "card": card, "ids": hub.num_puzzle_identifiers, "hub_id": hub.hub_id}}))
""")
    result = json.loads(out.strip().splitlines()[-1])
    assert result["same"] is True and result["ids"] == 1
    assert "configs:" in result["card"] and "TRM puzzles: sudoku-gen-small" in result["card"]
    assert "https://github.com/)" not in result["card"]  # no placeholder link
    # the pushed metadata names its repo, so a downloaded copy evaluated as a local folder still links to it
    assert result["hub_id"] == "test-user/sudoku-small"


def test_a_built_and_pushed_folder_records_its_hub_id(hub_server, tmp_path):
    out = hub_server.run_python(f"""
from training.cli import main as trm
from hub_datasets import load_dataset_metadata
assert trm(["data", "build", "sudoku4x4-gen", "--set", "num_train=4", "--set", "num_test=2", "--set", "num_aug=1",
            "--output", {str(tmp_path / 'ds')!r}, "--push-to-hub", "test-user/sudoku4"]) == 0
print("HUB_ID", load_dataset_metadata({str(tmp_path / 'ds')!r}).hub_id)
""", cwd=tmp_path)
    assert "HUB_ID test-user/sudoku4" in out
