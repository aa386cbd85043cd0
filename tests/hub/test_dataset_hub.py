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
print(json.dumps({{"same": same, "card": card, "ids": load_dataset_metadata("test-user/sudoku-small").num_puzzle_identifiers}}))
""")
    result = json.loads(out.strip().splitlines()[-1])
    assert result["same"] is True and result["ids"] == 1
    assert "configs:" in result["card"] and "TRM puzzles: sudoku-gen-small" in result["card"]
