"""Gradient accumulation over k micro-batches is one step on the whole batch: the same gradients (scale
included: AdamATan2 is scale-invariant, so equal weights alone would not catch a missing 1/k), the
same sign-SGD rows, the same weights after the optimizer steps."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import TINY_MODEL, make_tiny_config

from training.train import Trainer

# Both runs compute the same per-example sums in fp32; only their order differs (micro-batch sums added
# into .grad vs one sum over the whole batch, and BLAS blocking for another batch size). fp32 rounds to
# 2**-24 ~ 6e-8 relative per operation; the tiny model's gradient path (2 recursions x 2 network calls,
# ~10 matmuls and norms each, plus the loss head) has a few hundred roundings, so relative gradient
# differences stay below ~1e-5; the bound below leaves 10x room and is still 5 orders of magnitude
# tighter than the factor-2 error of a missing or doubled 1/k.
GRAD_RTOL = 1e-4


def _trainer(dataset: str, output_dir, accumulation: int) -> Trainer:
    # No exploration: halting then depends on the weights only, not on how random draws are split.
    model = {**TINY_MODEL, "halt_exploration_prob": 0.0}
    config = make_tiny_config(dataset=dataset, output_dir=str(output_dir), model=model, global_batch_size=8,
                              gradient_accumulation_steps=accumulation, lr_warmup_steps=1)
    return Trainer(config)


def _parameter_pairs(whole: Trainer, split: Trainer):
    return zip(whole.unwrapped.named_parameters(), split.unwrapped.parameters(), strict=True)


def _assert_close_to_scale(actual: torch.Tensor, expected: torch.Tensor, what: str) -> None:
    """Equal up to GRAD_RTOL of the tensor's largest entry (tiny entries carry absolute rounding)."""
    scale = float(expected.abs().max())
    torch.testing.assert_close(actual, expected, rtol=GRAD_RTOL, atol=GRAD_RTOL * scale, msg=what)


def _record_before_the_update(trainer: Trainer) -> dict:
    """What `Trainer.training_step` hands to the optimizers: the gradients AdamATan2 steps on and the
    (row id, gradient) pairs sign-SGD steps on, captured as each optimizer step starts."""
    seen = {}
    adam_step, sign_sgd_step = trainer.optimizer.step, trainer.sign_sgd.step

    def adam(*args, **kwargs):
        seen["grads"] = {name: p.grad.clone() for name, p in trainer.unwrapped.named_parameters()}
        return adam_step(*args, **kwargs)

    def sign_sgd(*args, **kwargs):
        seen["ids"] = torch.cat(trainer.sign_sgd._pending_ids)
        seen["row_grads"] = torch.cat(trainer.sign_sgd._pending_grads)
        return sign_sgd_step(*args, **kwargs)

    trainer.optimizer.step, trainer.sign_sgd.step = adam, sign_sgd
    return seen


@pytest.mark.parametrize("accumulation", [2, 4])
def test_accumulated_micro_batches_equal_the_larger_batch(dataset_with_puzzle_ids, tmp_path, accumulation):
    whole = _trainer(dataset_with_puzzle_ids, tmp_path / "whole", 1)
    split = _trainer(dataset_with_puzzle_ids, tmp_path / "split", accumulation)
    assert split.micro_batch_size == 8 // accumulation and len(split.act_states) == accumulation
    seen = [_record_before_the_update(trainer) for trainer in (whole, split)]
    batches = iter(whole.sampler)
    for step in (1, 2, 3):  # later steps carry the ACT state across micro-batches and steps
        rows = next(batches)
        results = [trainer.training_step(step, rows) for trainer in (whole, split)]
        stats = [sums for sums, _, _ in results]
        for key in ("loss", "count", "lm_loss", "exact_accuracy"):
            assert float(stats[1][key]) == pytest.approx(float(stats[0][key]), rel=1e-6), key
        assert results[1][1] == pytest.approx(results[0][1], rel=1e-6)  # the global loss
        for name, grad in seen[0]["grads"].items():
            _assert_close_to_scale(seen[1]["grads"][name], grad, f"step {step}: gradient of {name}")
        assert np.array_equal(seen[0]["ids"].numpy(), seen[1]["ids"].numpy())  # the same puzzle rows, in order
        _assert_close_to_scale(seen[1]["row_grads"], seen[0]["row_grads"], f"step {step}: puzzle-embedding row gradients")
        for trainer in (whole, split):  # the step ended with zero-grad
            assert all(p.grad is None for p in trainer.unwrapped.parameters())
    # AdamATan2 moves every weight by at most lr / (1 - beta1^t) * pi / 2 per step, smoothly in the
    # gradient: gradients equal to GRAD_RTOL give weights equal to a small fraction of one step.
    lr = whole.config.lr
    for (name, p_whole), p_split in _parameter_pairs(whole, split):
        torch.testing.assert_close(p_split, p_whole, rtol=0, atol=1e-3 * lr, msg=f"weights of {name}")
    tables = [t.unwrapped.puzzle_embedding.weight for t in (whole, split)]
    assert not torch.equal(tables[0][1:], torch.zeros_like(tables[0][1:]))
    torch.testing.assert_close(tables[1], tables[0], rtol=0, atol=1e-3 * whole.config.puzzle_emb_lr)
