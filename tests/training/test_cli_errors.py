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
