"""`depth_curriculum`: CGAR's progressive recursion depth (arXiv 2511.08653) in `trm train`.

Early training runs the recursion shallower (cheaper steps); the last stage, every evaluation and the saved
model use the model's full depth, and a resume lands in the right stage because the depth is a function of
the step alone.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from training.train import Trainer, curriculum_depth, recursion_depth


@pytest.mark.parametrize("full, starts, done, expected", [
    ((3, 6), [0.3, 0.6], 0.0, (1, 2)),  # CGAR's stages for the paper's T = 3, n = 6
    ((3, 6), [0.3, 0.6], 0.29, (1, 2)),
    ((3, 6), [0.3, 0.6], 0.3, (2, 4)),
    ((3, 6), [0.3, 0.6], 0.6, (3, 6)),
    ((3, 6), [0.3, 0.6], 0.99, (3, 6)),
    ((3, 3), [0.3, 0.6], 0.0, (1, 1)),  # the sudoku9x9 preset's T = n = 3
    ((3, 3), [0.3, 0.6], 0.45, (2, 2)),
    ((2, 1), [0.5], 0.0, (1, 1)),  # a count never drops to zero
    ((2, 1), [], 0.0, (2, 1)),
])
def test_each_stage_runs_its_share_of_both_loops(full, starts, done, expected):
    assert curriculum_depth(full, starts, done) == expected


def _count_network_calls_per_training_step(trainer: Trainer) -> list[int]:
    calls, per_step = [0], []
    trainer.unwrapped.network.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    step = trainer.training_step

    def counted(*args, **kwargs):
        calls[0] = 0
        result = step(*args, **kwargs)
        per_step.append(calls[0])
        return result

    trainer.training_step = counted
    return per_step


def test_training_steps_follow_the_stages_and_the_saved_model_has_full_depth(tiny_config, capsys):
    # T = 2 recursions of n = 2 latent updates: a supervision step calls the network T * (n + 1) times
    model = {"num_recursions": 2, "num_latent_updates": 2}
    config = tiny_config(max_steps=8, depth_curriculum=[0.5], model={**tiny_config().model, **model})
    trainer = Trainer(config)
    per_step = _count_network_calls_per_training_step(trainer)
    trainer.run()
    assert per_step == [1 * (1 + 1)] * 4 + [2 * (2 + 1)] * 4
    assert "depth curriculum (num_recursions x num_latent_updates): 1x1 from step 1, 2x2 from step 5" in capsys.readouterr().out
    saved = json.loads((Path(config.output_dir) / "config.json").read_text())
    assert (saved["num_recursions"], saved["num_latent_updates"]) == (2, 2)
    assert (trainer.unwrapped.config.num_recursions, trainer.unwrapped.config.num_latent_updates) == (2, 2)


def test_resume_across_a_stage_boundary_is_bit_exact(tiny_config, tmp_path):
    # 12 steps, stage 2 from step 7: Ctrl-C during step 5 stops in stage 1, the resumed run goes on into stage 2
    stages = dict(max_steps=12, depth_curriculum=[0.5],
                  model={**tiny_config().model, "num_recursions": 2, "num_latent_updates": 2})
    Trainer(tiny_config(output_dir=str(tmp_path / "straight"), **stages)).run()
    interrupted = Trainer(tiny_config(output_dir=str(tmp_path / "resumed"), **stages))
    training_calls = []

    def interrupt_during_step_five(module, args, output):
        if module.training:
            training_calls.append(1)
            if len(training_calls) == 5:
                os.kill(os.getpid(), signal.SIGINT)

    interrupted.unwrapped.register_forward_hook(interrupt_during_step_five)
    interrupted.run()
    assert interrupted.progress.step == 5
    Trainer(tiny_config(output_dir=str(tmp_path / "resumed"), resume_from="latest", **stages)).run()

    def losses(folder):
        return [(r["step"], r["loss"]) for r in json.loads((folder / "training_log.json").read_text())["train"]]

    assert [step for step, _ in losses(tmp_path / "straight")] == list(range(1, 13))
    assert losses(tmp_path / "resumed") == losses(tmp_path / "straight")  # exactly equal floats


def test_hrm_cycles_are_scaled_and_restored():
    from modeling_trm import HRMConfig, HRMForPuzzleSolving

    model = HRMForPuzzleSolving(HRMConfig(vocab_size=6, seq_len=4, hidden_size=16, num_attention_heads=2,
                                          num_high_layers=1, num_low_layers=1, high_cycles=2, low_cycles=4))
    with recursion_depth(model, curriculum_depth((2, 4), [0.5], 0.0)):
        assert (model.config.high_cycles, model.config.low_cycles) == (1, 2)
    assert (model.config.high_cycles, model.config.low_cycles) == (2, 4)
