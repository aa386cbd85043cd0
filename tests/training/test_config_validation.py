"""`TrainingConfig` names every mistake: misspelt keys (with the closest valid name), types and ranges."""

from __future__ import annotations

import pytest

from training.train import parse_args


@pytest.mark.parametrize("argv, message", [
    (["model.hiden_size=32"], r"unknown model option model.hiden_size .*did you mean 'hidden_size'"),
    (["model.num_layer=3"], r"did you mean 'num_layers'"),
    (["--preset", "hrm-sudoku", "model.num_layers=3"], r"for a HRMConfig \(did you mean 'num_low_layers'"),
    (["learning_rate=1"], r"unknown TrainingConfig field 'learning_rate'"),
    (["lrr=1e-3"], r"field 'lrr' \(did you mean 'lr'\?\)"),
    (["--max-steps", "0"], r"max_steps must be positive, got 0"),
    (["--max-steps", "-5"], r"max_steps must be positive, got -5"),
    (["lr=fast"], r"lr must be a number, got 'fast'"),
    (["lr=0"], r"lr must be a positive number"),
    (["ema_rate=1.5"], r"ema_rate must be in \[0, 1\)"),
    (["global_batch_size=2.5"], r"global_batch_size must be an integer, got 2.5"),
    (["eval_batch_size=0"], r"eval_batch_size must be positive"),
    (["keep_checkpoints=0"], r"keep_checkpoints must be positive"),
    (["ema=maybe"], r"ema must be true or false, got 'maybe'"),
    (["compile=2"], r"compile must be true, false or a torch.compile backend name, got 2"),
    (["depth_curriculum=0.3"], r"depth_curriculum must be a list of numbers or null, got 0.3"),
    (["depth_curriculum=[0.6, 0.3]"], r"depth_curriculum must be increasing fractions of training in \(0, 1\)"),
    (["depth_curriculum=[0.5, 1]"], r"depth_curriculum must be increasing fractions"),
    (["depth_curriculum=[early]"], r"depth_curriculum must be increasing fractions"),
])
def test_bad_settings_are_refused_naming_the_key(argv, message):
    with pytest.raises(ValueError, match=message):
        parse_args(argv)


def test_valid_settings_still_parse():
    config = parse_args(["model.hidden_size=32", "--max-steps", "3", "lr=3e-4", "ema=false", "eval_batch_size=8"])
    assert (config.model["hidden_size"], config.max_steps, config.lr, config.ema) == (32, 3, 3e-4, False)
    assert parse_args(["compile=true"]).compile is True
    assert parse_args(["compile=aot_eager"]).compile == "aot_eager"
    assert parse_args(["depth_curriculum=[0.3, 0.6]"]).depth_curriculum == [0.3, 0.6]
