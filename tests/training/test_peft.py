"""LoRA through `peft` on the reasoning network, with the puzzle-embedding table trained by its sparse
sign-SGD and saved with the adapter (`modules_to_save`), and the warning that an optimizer over
`model.parameters()` alone leaves the table untrained (docs/fine-tuning.md, "Parameter-efficient")."""

from __future__ import annotations

import warnings

import pytest
import torch

from modeling_trm import TRMConfig, TRMForPuzzleSolving
from training.optim import LORA_TARGET_MODULES, puzzle_embedding_optimizer

peft = pytest.importorskip("peft", reason="optional dependency: pip install 'trm-hf[peft]'")


def _base(token_mixer="attention"):
    torch.manual_seed(0)
    extra = dict(token_mixer="mlp", position_encoding="none") if token_mixer == "mlp" else {}
    config = TRMConfig(vocab_size=6, seq_len=16, hidden_size=16, num_attention_heads=2, expansion=2, num_layers=1,
                       num_recursions=2, num_latent_updates=1, max_supervision_steps=2, puzzle_embedding_dim=16,
                       puzzle_prefix_len=1, num_puzzle_identifiers=4, **extra)
    model = TRMForPuzzleSolving(config)
    with torch.no_grad():
        model.puzzle_embedding.weight.normal_()
    return model


def _batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randint(1, 6, (8, 16), generator=g), torch.randint(1, 4, (8,), generator=g),
            torch.randint(1, 6, (8, 16), generator=g))


def _train(model, steps=3):
    """A hand-written loop: AdamW over the trainable parameters plus the table's own optimizer."""
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    table_optimizer = puzzle_embedding_optimizer(model, lr=1e-2)
    model.train()
    state = None
    for step in range(steps):
        ids, puzzles, labels = _batch(step)
        out = model(input_ids=ids, puzzle_ids=puzzles, labels=labels, state=state)
        out.loss.backward()
        table_optimizer.collect()
        optimizer.step()
        table_optimizer.step()
        optimizer.zero_grad()
        table_optimizer.zero_grad()
        state = out.state
    model.eval()


def _logits(model):
    ids, puzzles, _ = _batch(99)
    with torch.no_grad():
        return model(input_ids=ids, puzzle_ids=puzzles).logits


@pytest.mark.parametrize("token_mixer", ["attention", "mlp"])
def test_lora_trains_saves_reloads_and_merges_to_the_same_outputs(tmp_path, token_mixer):
    from peft import LoraConfig, PeftModel, get_peft_model

    base = _base(token_mixer)
    table_before = base.puzzle_embedding.weight.clone()
    frozen_before = {n: p.clone() for n, p in base.named_parameters()}
    config = LoraConfig(r=4, lora_alpha=8, target_modules=LORA_TARGET_MODULES, modules_to_save=["puzzle_embedding"],
                        init_lora_weights=True)
    model = get_peft_model(base, config)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the table is trained: no "never trains it" warning
        _train(model)
    trained = _logits(model)
    # only the adapters (and the table copy) moved; the base weights are frozen
    for name, param in model.base_model.model.named_parameters():
        if "lora_" not in name and name.replace("base_layer.", "") in frozen_before:
            assert torch.equal(param, frozen_before[name.replace("base_layer.", "")]), name
    table = model.base_model.model.puzzle_embedding.modules_to_save["default"].weight
    assert not torch.equal(table, table_before), "sign-SGD trained the table copy"

    model.save_pretrained(tmp_path / "adapter")
    reloaded = PeftModel.from_pretrained(_base(token_mixer), tmp_path / "adapter").eval()
    torch.testing.assert_close(_logits(reloaded), trained, atol=0, rtol=0)
    merged = reloaded.merge_and_unload()
    assert type(merged) is TRMForPuzzleSolving and torch.equal(merged.puzzle_embedding.weight, table)
    torch.testing.assert_close(_logits(merged), trained, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(_logits(_base(token_mixer)), trained)  # the fine-tuning did change the model


def test_an_optimizer_over_parameters_alone_warns_that_the_table_is_not_trained():
    model = _base()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()

    def plain_loop():
        for step in range(2):
            ids, puzzles, labels = _batch(step)
            model(input_ids=ids, puzzle_ids=puzzles, labels=labels).loss.backward()
            optimizer.step()
            optimizer.zero_grad()

    with pytest.warns(UserWarning, match=r"puzzle_embedding_optimizer\(model\)"):
        plain_loop()
    # deliberately frozen: the table's module in eval mode takes no gradient, so there is nothing to warn about
    model = _base()
    model.train()
    model.puzzle_embedding.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for step in range(2):
            ids, puzzles, labels = _batch(step)
            model(input_ids=ids, puzzle_ids=puzzles, labels=labels).loss.backward()
