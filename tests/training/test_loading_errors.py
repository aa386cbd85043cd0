"""`trm solve` / `trm eval` name what is wrong with a model path or folder, in one line, exit code 2."""

from __future__ import annotations

import json
import re

import pytest
import torch

from hub_datasets import build_dataset, save_puzzle_dataset
from modeling_trm import PuzzleProcessor, TRMConfig, TRMForPuzzleSolving
from training.evaluation import main as eval_main
from training.solve_cli import main as solve_main

SUDOKU4 = "1...........3..."


def _save(folder, task="sudoku", **overrides) -> TRMForPuzzleSolving:
    torch.manual_seed(0)
    model = TRMForPuzzleSolving(TRMConfig(vocab_size=6, seq_len=16, hidden_size=16, num_attention_heads=2,
                                          num_layers=1, num_recursions=1, num_latent_updates=1,
                                          max_supervision_steps=2, puzzle_embedding_dim=0, **overrides))
    model.save_pretrained(folder)
    PuzzleProcessor(task, grid_size=4).save_pretrained(folder)
    return model


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    return err[-1]


def test_a_config_with_a_layer_more_than_the_weights_is_an_error(tmp_path, capsys):
    _save(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "num_layers": 2}))
    assert solve_main([str(tmp_path), SUDOKU4]) == 2
    message = _error(capsys)
    assert "do not match its config.json (missing keys: network.layers.1." in message
    assert "grid" not in capsys.readouterr().out  # nothing solved


@pytest.mark.parametrize("make, expected", [
    (lambda tmp: str(tmp / "no" / "such" / "model"), r"no such folder: .*no/such/model \(and it is not a Hub repo id\)$"),
    (lambda tmp: "./no-such-model", r"no such folder: ./no-such-model \(and it is not a Hub repo id\)$"),
    (lambda tmp: str(tmp), "has no config.json, so it is not a saved model folder"),
])
def test_a_bad_model_path_is_named(tmp_path, capsys, make, expected):
    assert solve_main([make(tmp_path), SUDOKU4]) == 2
    assert re.search(expected, _error(capsys))


def test_an_unreachable_hub_is_one_line(tmp_path, capsys, monkeypatch):
    from transformers import AutoModel

    def refused(*args, **kwargs):
        raise OSError("We couldn't connect to 'http://127.0.0.1:9' to load the files.\nCheckout your connection...")

    monkeypatch.setattr(AutoModel, "from_pretrained", refused)
    assert solve_main(["someone/model", SUDOKU4]) == 2
    assert _error(capsys) == ("trm solve: error: cannot load model 'someone/model': We couldn't connect to "
                              "'http://127.0.0.1:9' to load the files. (check the network and HF_ENDPOINT, or give "
                              "a local folder)")


def test_solve_options_parse_anywhere_and_sizes_are_checked(tmp_path, capsys):
    _save(tmp_path)
    assert solve_main([str(tmp_path), "--task", "sudoku", SUDOKU4]) == 0  # options before the puzzle
    capsys.readouterr()
    for option in ("--max-steps", "--batch-size"):
        for value in ("0", "-3"):
            with pytest.raises(SystemExit) as exit_info:
                solve_main([str(tmp_path), SUDOKU4, option, value])
            assert exit_info.value.code == 2 and "must be a positive integer" in capsys.readouterr().err


@pytest.fixture(scope="module")
def sudoku4_folder(tmp_path_factory):
    dd, metadata = build_dataset("sudoku4x4-gen", num_train=4, num_test=4, num_aug=1)
    return save_puzzle_dataset(dd, metadata, tmp_path_factory.mktemp("data") / "sudoku4")


def test_eval_refuses_a_dataset_of_another_task_and_keeps_the_card_results(sudoku4_folder, tmp_path):
    _save(tmp_path, task="maze")  # a 4x4 maze model: same vocabulary and length as a 4x4 sudoku
    (tmp_path / "eval_results.json").write_text('{"exact_accuracy": 0.5}')
    with pytest.raises(ValueError, match="the dataset is a sudoku dataset .* but the model solves maze puzzles"):
        eval_main([str(tmp_path), "--dataset", str(sudoku4_folder)])
    assert (tmp_path / "eval_results.json").read_text() == '{"exact_accuracy": 0.5}'


def test_eval_keeps_one_result_per_dataset_split_and_settings_and_checks_sizes(sudoku4_folder, tmp_path, capsys):
    """Each `trm eval` adds its result to the card's file; only a result of the same dataset, split and
    settings is replaced (the card shows every evaluation, not the last one)."""
    _save(tmp_path)
    (tmp_path / "eval_results.json").write_text('{"exact_accuracy": 0.5}')  # an earlier, hand-made result
    assert eval_main([str(tmp_path), "--dataset", str(sudoku4_folder), "--batch-size", "2"]) == 0
    assert "added a result in" in capsys.readouterr().err
    results = json.loads((tmp_path / "eval_results.json").read_text())
    assert [r.get("num_puzzles") for r in results] == [None, 4]
    assert eval_main([str(tmp_path), "--dataset", str(sudoku4_folder), "--halting", "adaptive"]) == 0
    assert eval_main([str(tmp_path), "--dataset", str(sudoku4_folder), "--batch-size", "3"]) == 0  # same settings
    assert "replaced the result of the same dataset, split and settings" in capsys.readouterr().err
    results = json.loads((tmp_path / "eval_results.json").read_text())
    assert [(r.get("halting"), r.get("split")) for r in results] == [(None, None), ("adaptive", "test"),
                                                                     ("fixed", "test")]
    for value in ("0", "-1"):  # --batch-size 0 used to loop forever
        with pytest.raises(SystemExit) as exit_info:
            eval_main([str(tmp_path), "--dataset", str(sudoku4_folder), "--batch-size", value])
        assert exit_info.value.code == 2


# ------------------------------------------------------------------------- malformed files, structural overrides


def test_malformed_files_in_a_model_folder_are_named_in_one_line(tmp_path, capsys):
    """An empty processor or solve config, a model.safetensors that is not one, a pickled pytorch_model.bin
    (whose payload never runs): each named by its path, in one line."""
    import pickle

    marker = tmp_path / "PAYLOAD_RAN"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    cases = {
        "processor_config.json": (b"", "processor_config.json' is not a valid JSON file"),
        "solve_config.json": (b"", "solve_config.json is not valid JSON (empty file)"),
        "model.safetensors": (b"not safetensors", "model.safetensors is not a readable safetensors file"),
        "pytorch_model.bin": (pickle.dumps({"w": Payload()}), "pytorch_model.bin would have to be unpickled, which "
                                                               "can run any code it carries; refusing it"),
    }
    for name, (content, expected) in cases.items():
        folder = tmp_path / name.replace(".", "_")
        _save(folder)
        if name == "pytorch_model.bin":
            (folder / "model.safetensors").unlink()
        (folder / name).write_bytes(content)
        assert solve_main([str(folder), SUDOKU4]) == 2, name
        err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("trm solve")]
        assert len(err) == 1 and expected in err[0] and str(folder) in err[0], (name, err)
    assert not marker.exists()


def test_a_structural_override_that_leaves_weights_random_is_an_error(tmp_path):
    from transformers import AutoModel

    _save(tmp_path)  # one layer
    with pytest.raises(ValueError, match=r"the weights in .* do not match its config.json \(missing keys: "
                                         r"network\.layers\.1\..*leave parts of the model random"):
        AutoModel.from_pretrained(tmp_path, num_layers=2)
    with pytest.raises(ValueError, match="do not match its config.json"):
        TRMForPuzzleSolving.from_pretrained(tmp_path, num_layers=2)
    # asking for the loading report is asking to judge it yourself; harmless overrides load as before
    model, info = TRMForPuzzleSolving.from_pretrained(tmp_path, num_layers=2, output_loading_info=True)
    assert info["missing_keys"] and model.config.num_layers == 2
    assert TRMForPuzzleSolving.from_pretrained(tmp_path, halt_exploration_prob=0.3).config.halt_exploration_prob == 0.3
