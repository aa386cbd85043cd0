"""An unreachable Hub endpoint (a closed loopback port) is one line naming the endpoint and, where something
was built or trained, where the local result is: `trm push`, `trm train --push-to-hub`, `trm data build
--push-to-hub`, `trm eval` of a Hub model or dataset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training.cli import main as trm

CLOSED = "http://127.0.0.1:9"  # the discard port: nothing listens on loopback


@pytest.fixture
def closed_hub(monkeypatch):
    import huggingface_hub.constants as hf_constants

    monkeypatch.setenv("HF_ENDPOINT", CLOSED)
    monkeypatch.setenv("HF_TOKEN", "hf_unusedTOKENnotAsecret0123456789")
    monkeypatch.setattr(hf_constants, "ENDPOINT", CLOSED)
    monkeypatch.setattr(hf_constants, "HUGGINGFACE_CO_URL_TEMPLATE", CLOSED + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr("huggingface_hub.utils._http.time.sleep", lambda seconds: None)  # the client's back-off


@pytest.fixture(scope="module")
def sudoku4_dataset(tmp_path_factory) -> str:
    import hub_datasets

    dataset, metadata = hub_datasets.build_dataset("sudoku4x4-gen", num_train=16, num_test=8, num_aug=1)
    return str(hub_datasets.save_puzzle_dataset(dataset, metadata, tmp_path_factory.mktemp("data") / "sudoku4"))


def _one_error_line(capsys, command: str) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith(f"trm {command}: error:")]
    assert len(lines) == 1, err
    return lines[0]


def test_push(closed_hub, tmp_path, capsys):
    from test_publish import write_model_folder

    folder = write_model_folder(tmp_path / "model")
    assert trm(["push", str(folder), "me/model"]) == 1
    assert _one_error_line(capsys, "push") == (
        f"trm push: error: cannot reach the Hub at {CLOSED} (HF_ENDPOINT) to upload {folder} to 'me/model' ([Errno "
        f"111] Connection refused); the model is saved in {folder}; upload it later with `trm push {folder} me/model`")


def test_train_push_to_hub_keeps_the_trained_model(closed_hub, sudoku4_dataset, tmp_path, capsys):
    output = tmp_path / "run"
    assert trm(["train", "--preset", "sudoku4x4", "--max-steps", "2", "--output-dir", str(output), "--push-to-hub",
                "me/model", f"dataset={sudoku4_dataset}", "log_with=none", "solve_sample=false"]) == 1
    line = _one_error_line(capsys, "train")
    assert line.startswith(f"trm train: error: cannot reach the Hub at {CLOSED} (HF_ENDPOINT) to upload {output}")
    assert line.endswith(f"the model is saved in {output}; upload it later with `trm push {output} me/model`")
    assert (output / "config.json").is_file() and (output / "README.md").is_file()
    assert not (output / ".trm.lock").exists()


def test_data_build_push_to_hub_fails_before_building(closed_hub, tmp_path, capsys):
    assert trm(["data", "build", "sudoku4x4-gen", "--output", str(tmp_path / "data"), "--push-to-hub", "me/data"]) == 1
    assert _one_error_line(capsys, "data") == (
        f"trm data: error: cannot reach the Hub at {CLOSED} (HF_ENDPOINT) to upload the dataset to 'me/data' ([Errno "
        "111] Connection refused); nothing was built")
    assert not (tmp_path / "data").exists()


def test_data_build_names_the_saved_copy_when_the_hub_goes_away_during_the_build(closed_hub, tmp_path, capsys,
                                                                                 monkeypatch):
    monkeypatch.setattr("hub_datasets.hub_access.check_hub_reachable", lambda *args, **kwargs: None)  # it answered then
    assert trm(["data", "build", "sudoku4x4-gen", "--output", str(tmp_path / "data"), "--push-to-hub", "me/data",
                "--set", "num_train=4", "--set", "num_test=4"]) == 1
    line = _one_error_line(capsys, "data")
    assert line.startswith(f"trm data: error: cannot reach the Hub at {CLOSED}")
    assert line.endswith(f"the dataset is saved in {tmp_path / 'data'}")
    assert (tmp_path / "data" / "puzzle_dataset.json").is_file()


@pytest.mark.parametrize("which", ["model", "dataset"])
def test_eval_of_a_hub_repo(closed_hub, sudoku4_dataset, tmp_path, capsys, which):
    from training.evaluation import main as eval_main  # noqa: F401  (trm eval)

    model = tmp_path / "model"
    if which == "dataset":
        from modeling_trm import PuzzleProcessor, TRMConfig, TRMForPuzzleSolving

        TRMForPuzzleSolving(TRMConfig(vocab_size=6, seq_len=16, hidden_size=16, num_attention_heads=2, num_layers=1,
                                      puzzle_embedding_dim=0)).save_pretrained(model)
        PuzzleProcessor("sudoku", grid_size=4).save_pretrained(model)
    args = ["me/model", "--dataset", sudoku4_dataset] if which == "model" else [str(model), "--dataset", "me/data"]
    assert trm(["eval", *args]) in (1, 2)
    line = _one_error_line(capsys, "eval")
    assert line.startswith(f"trm eval: error: cannot reach the Hub at {CLOSED} (HF_ENDPOINT) to load the {which} 'me/")
    assert not (model / "eval_results.json").exists()
    assert json.loads(Path(sudoku4_dataset, "puzzle_dataset.json").read_text())  # the local side untouched
