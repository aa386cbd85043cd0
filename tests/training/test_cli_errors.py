"""The `trm` dispatcher: user errors are one line plus a hint with exit code 2; Ctrl-C exits 130 after saving."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from training import train as train_module
from training.checkpointing import list_checkpoints
from training.cli import main as trm_main
from training.train import parse_args


def test_user_errors_print_one_line_and_a_hint(tmp_path, capsys):
    cases = [
        (["train", "model.hiden_size=32"], "trm train: error: unknown model option model.hiden_size"),
        (["train", "--max-steps", "0"], "trm train: error: max_steps must be positive, got 0"),
        (["train", "--resume", str(tmp_path / "nothing")], "trm train: error: --resume: "),
        (["data", "build", "sudoku-nope"], "trm data: error: unknown recipe 'sudoku-nope'"),
        (["eval", str(tmp_path / "none"), "--dataset", str(tmp_path)], "trm eval: error: "),
        (["train", "--config", str(tmp_path / "tagged.yaml")],
         f"trm train: error: {tmp_path / 'tagged.yaml'} is not plain YAML: could not determine a constructor"),
        (["train", "lr=!!python/object/apply:os.system ['true']"],
         "trm train: error: lr=!!python/object/apply:os.system ['true']: not a plain value"),
    ]
    (tmp_path / "tagged.yaml").write_text(f"lr: !!python/object/apply:os.system ['touch {tmp_path / 'ran'}']\n")
    for argv, first_line in cases:
        assert trm_main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 2 and err[0].startswith(first_line), (argv, err)
        assert err[1] == f"(run 'trm {argv[0]} --help' for the options)"
    assert not (tmp_path / "ran").exists()


def test_resume_followed_by_an_override_is_not_a_path():
    config = parse_args(["--resume", "lr=3e-4", "--max-steps", "9"])
    assert (config.resume_from, config.lr, config.max_steps) == ("latest", 3e-4, 9)


def test_ctrl_c_saves_then_exits_130(sudoku4_dataset, tmp_path, monkeypatch):
    real_step = train_module.Trainer.training_step

    def interrupted_at_step_two(self, step, rows, interrupt):
        if step == 2:
            os.kill(os.getpid(), signal.SIGINT)
        return real_step(self, step, rows, interrupt)

    monkeypatch.setattr(train_module.Trainer, "training_step", interrupted_at_step_two)
    tiny = ["model.hidden_size=16", "model.num_attention_heads=2", "model.num_layers=1", "model.num_recursions=1",
            "model.num_latent_updates=1", "model.max_supervision_steps=2", "model.puzzle_embedding_dim=0",
            "global_batch_size=8", "eval_max_examples=8", "log_with=none", "solve_sample=false"]
    output = tmp_path / "run"
    argv = ["train", f"dataset={sudoku4_dataset}", "--output-dir", str(output), "--max-steps", "20", *tiny]
    assert trm_main(argv) == 130
    assert [p.name for p in list_checkpoints(Path(output) / "checkpoints")] == ["checkpoint-2"]


def test_a_missing_tracker_is_an_error_naming_its_extra(tmp_path, monkeypatch, capsys):
    """Accelerate only warns about a tracker that is not installed and trains without logging."""
    import sys

    monkeypatch.setitem(sys.modules, "trackio", None)  # import trackio -> ImportError
    argv = ["train", "--preset", "sudoku4x4", "log_with=trackio", f"--output-dir={tmp_path / 'run'}"]
    assert trm_main(argv) == 2
    err = capsys.readouterr().err
    assert "log_with=trackio but trackio is not installed: pip install 'trm-hf[trackio]'" in err
    assert trm_main(["train", "log_with=tensorbord", f"--output-dir={tmp_path / 'run2'}"]) == 2
    assert "unknown tracker 'tensorbord'" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_library_errors_about_files_or_the_network_stay_one_line(monkeypatch, capsys):
    """A malformed file or an unreachable endpoint reported in a library's own class (not ValueError/OSError)
    is still one line, should a reader not name it first; anything else keeps its traceback."""
    import importlib
    import pickle

    import pytest

    module = importlib.import_module("training.publish")
    for raised, code, expected in [
        (pickle.UnpicklingError("invalid load key, 'x'."), 2, "trm push: error: UnpicklingError: invalid load key"),
        (ConnectionRefusedError(111, "Connection refused"), 1, "trm push: error: [Errno 111] Connection refused"),
    ]:
        def fail(argv, raised=raised):
            raise raised

        monkeypatch.setattr(module, "main", fail)
        assert trm_main(["push", "x", "y"]) == code
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(expected), err

    class HttpxLike(Exception):  # httpx's ConnectError is no OSError
        pass

    HttpxLike.__name__ = "ConnectError"

    def unreachable(argv):
        raise RuntimeError("upload failed") from HttpxLike("[Errno 111] Connection refused")

    monkeypatch.setattr(module, "main", unreachable)
    assert trm_main(["push", "x", "y"]) == 1
    assert "cannot reach the Hub at" in capsys.readouterr().err

    def bug(argv):
        raise KeyError("a bug")

    monkeypatch.setattr(module, "main", bug)
    with pytest.raises(KeyError):
        trm_main(["push", "x", "y"])
