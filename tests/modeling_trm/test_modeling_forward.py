"""Behaviour of TRMForPuzzleSolving / HRMForPuzzleSolving beyond the reference vectors: sizes,
save/load, attention backends, bfloat16, the ACT carry, the ablations and input validation."""

from __future__ import annotations

import json

import pytest
import torch

from modeling_trm.configuration_trm import HRMConfig, TRMConfig
from modeling_trm.modeling_hrm import HRMForPuzzleSolving
from modeling_trm.modeling_trm import TRMForPuzzleSolving, TRMState

TINY = dict(vocab_size=12, seq_len=16, hidden_size=32, num_attention_heads=4, expansion=2,
            max_supervision_steps=3, puzzle_embedding_dim=48, num_puzzle_identifiers=5)
TRM_TINY = dict(TINY, num_layers=2, num_recursions=2, num_latent_updates=2, puzzle_prefix_len=0)
VARIANTS = {
    "trm_rope": lambda **kw: TRMForPuzzleSolving(TRMConfig(**TRM_TINY, **kw)),
    "trm_learned": lambda **kw: TRMForPuzzleSolving(TRMConfig(**TRM_TINY, position_encoding="learned", **kw)),
    "trm_mlp": lambda **kw: TRMForPuzzleSolving(TRMConfig(**TRM_TINY, token_mixer="mlp", position_encoding="none", **kw)),
    "trm_single_latent": lambda **kw: TRMForPuzzleSolving(TRMConfig(**TRM_TINY, single_latent=True, **kw)),
    "hrm": lambda **kw: HRMForPuzzleSolving(HRMConfig(**TINY, num_high_layers=1, num_low_layers=1,
                                                      high_cycles=2, low_cycles=2, **kw)),
}


def _model(variant="trm_rope", seed=0, **kw):
    torch.manual_seed(seed)
    model = VARIANTS[variant](**kw)
    with torch.no_grad():  # the official init zeroes these, which would hide mistakes
        if model.puzzle_embedding is not None:
            model.puzzle_embedding.weight.normal_()
        model.q_head.weight.normal_(std=0.3)
        model.q_head.bias.zero_()
    return model.eval()


def _batch(batch=3, seed=1):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, 12, (batch, 16), generator=g)
    labels = torch.randint(1, 12, (batch, 16), generator=g)
    labels[:, :2] = -100
    return ids, torch.tensor([0, 3, 4][:batch]), labels


def test_parameter_counts_match_official_full_size_models(reference_dir):
    counts = json.loads((reference_dir / "stats.json").read_text())["param_counts"]
    with torch.device("meta"):
        trm_mlp = TRMForPuzzleSolving(TRMConfig(vocab_size=11, seq_len=81, token_mixer="mlp", position_encoding="none"))
        trm_att = TRMForPuzzleSolving(TRMConfig(vocab_size=11, seq_len=81))
        trm_arc = TRMForPuzzleSolving(TRMConfig(vocab_size=12, seq_len=900, num_latent_updates=4,
                                                num_puzzle_identifiers=876406))
        hrm = HRMForPuzzleSolving(HRMConfig(vocab_size=11, seq_len=81))
    assert trm_mlp.num_parameters() == counts["TRM-MLP sudoku (mlp_t, pos none, T3 n6)"] == 5_028_866
    assert trm_att.num_parameters() == counts["TRM-Att sudoku (rope, T3 n6)"] == 6_828_034
    assert trm_arc.num_parameters() == counts["TRM-Att ARC (rope, T3 n4)"] == 6_829_058
    assert hrm.num_parameters() == counts["HRM sudoku"] == 27_275_266
    # the puzzle table is a buffer: counted separately, not a parameter
    assert trm_arc.num_puzzle_embedding_parameters() == 876406 * 512
    assert "puzzle_embedding.weight" in trm_arc.state_dict()
    assert not any("puzzle_embedding" in name for name, _ in trm_arc.named_parameters())


def test_official_initialisation():
    model = TRMForPuzzleSolving(TRMConfig(**TRM_TINY))
    assert torch.all(model.q_head.weight == 0) and torch.all(model.q_head.bias == -5)
    assert torch.all(model.puzzle_embedding.weight == 0)
    qkv = model.network.layers[0].self_attn.qkv_proj.weight
    assert qkv.abs().max() <= 2 * 1.1369 / 32**0.5 and abs(qkv.std().item() - 32**-0.5) < 0.02
    assert abs(model.answer_init.std().item() - 1) < 0.5 and not torch.equal(model.answer_init, model.latent_init)
    # bfloat16 models start from bf16-representable initial states, as official checkpoints do
    bf16 = TRMForPuzzleSolving(TRMConfig(**TRM_TINY, forward_dtype="bfloat16"))
    assert bf16.answer_init.dtype == torch.float32
    assert torch.equal(bf16.answer_init, bf16.answer_init.bfloat16().float())


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_save_and_load_give_identical_outputs(tmp_path, variant, dtype):
    model = _model(variant, forward_dtype=dtype)
    ids, puzzle_ids, labels = _batch()
    with torch.no_grad():
        first = model(ids, puzzle_ids, labels)
        second = model(ids, puzzle_ids, labels, state=first.state)
    model.save_pretrained(tmp_path, max_shard_size="40KB")  # small shards: ARC tables must shard
    assert len(list(tmp_path.glob("model-*.safetensors"))) > 1
    loaded = type(model).from_pretrained(tmp_path).eval()
    with torch.no_grad():
        again = loaded(ids, puzzle_ids, labels)
        again2 = loaded(ids, puzzle_ids, labels, state=again.state)
    for a, b in ((first, again), (second, again2)):
        assert torch.equal(a.logits, b.logits)
        assert torch.equal(a.state.answer_state, b.state.answer_state)
        assert torch.equal(a.state.latent_state, b.state.latent_state)
        assert torch.equal(a.loss, b.loss)
    if model.rotary_emb is not None:  # recomputed after meta-device loading
        assert torch.equal(model.rotary_emb.cos, loaded.rotary_emb.cos)


def test_sdpa_and_eager_attention_agree():
    model = _model("trm_rope")
    assert model.config._attn_implementation == "sdpa"
    ids, puzzle_ids, labels = _batch()
    with torch.no_grad():
        sdpa = model(ids, puzzle_ids, labels)
        model.set_attn_implementation("eager")
        eager = model(ids, puzzle_ids, labels)
    torch.testing.assert_close(sdpa.logits, eager.logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(sdpa.state.answer_state, eager.state.answer_state, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])  # several draws: a bound that holds by luck shows up
@pytest.mark.parametrize("variant", ["trm_rope", "trm_mlp", "hrm"])
def test_bfloat16_forward_dtypes_and_closeness_to_float32(variant, seed):
    fp32 = _model(variant, seed=seed)
    bf16 = _model(variant, seed=seed, forward_dtype="bfloat16")
    bf16.load_state_dict(fp32.state_dict())
    ids, puzzle_ids, labels = _batch()
    with torch.no_grad():
        ref, out = fp32(ids, puzzle_ids, labels), bf16(ids, puzzle_ids, labels)
    assert all(p.dtype == torch.float32 for p in bf16.parameters())  # float32 masters
    assert out.state.answer_state.dtype == out.state.latent_state.dtype == torch.bfloat16
    assert out.logits.dtype == torch.bfloat16
    assert out.halt_logits.dtype == out.continue_logits.dtype == torch.float32
    assert out.loss.dtype == torch.float64 and all(v.dtype == torch.float64 for v in out.metrics.values())
    # Derived, not fitted (single logits vary with the CPU's bf16 kernels): first-order error analysis.
    # Each bf16 rounding adds a relative error of at most u = 2^-8; a block rounds at ~10 sites (3 in
    # the token mixer, 3 in the MLP, 2 residual sums, 2 norms) and a forward step chains `layers`
    # blocks; post-norm blocks keep activations at unit RMS, so errors add up to at most 10·layers·u
    # of the norm (norm-wise, so one outlier logit among hundreds cannot break it).
    bound = 10 * _sequential_layers(bf16.config) * 2.0**-8
    assert (out.logits.float() - ref.logits).norm() <= bound * ref.logits.norm()
    # halt logit = w·h (h: first answer position): |Δq| <= |w|·|Δh| + u·|q|, with |Δh| <= bound·|h|
    h = ref.state.answer_state[:, 0]
    halt_bound = bf16.q_head.weight[0].norm() * bound * h.norm(dim=-1) + 2.0**-8 * ref.halt_logits.abs()
    assert ((out.halt_logits - ref.halt_logits).abs() <= halt_bound).all()


def _sequential_layers(config) -> int:
    """Blocks one supervision step runs one after the other (docs/architecture.md)."""
    if config.model_type == "hrm":
        return config.high_cycles * (config.low_cycles * config.num_low_layers + config.num_high_layers)
    return config.num_recursions * (config.num_latent_updates + 1) * config.num_layers


def test_bfloat16_training_step_reaches_float32_masters():
    model = _model("trm_rope", forward_dtype="bfloat16").train()
    out = model(*_batch())
    out.loss.backward()
    grad = model.network.layers[0].mlp.down_proj.weight.grad
    assert grad is not None and grad.dtype == torch.float32 and grad.abs().sum() > 0


def test_halted_slots_take_new_rows_and_others_keep_their_own():
    model = _model("trm_rope")
    ids, puzzle_ids, labels = _batch()
    new_ids, new_puzzle_ids, new_labels = _batch(seed=7)
    with torch.no_grad():
        state = model(ids, puzzle_ids, labels).state
        state.halted = torch.tensor([True, False, True])
        out = model(new_ids, new_puzzle_ids, new_labels, state=state)
        fresh = model(new_ids, new_puzzle_ids, new_labels)
        continued = model(ids, puzzle_ids, labels, state=TRMState(**{**vars(state), "halted": torch.zeros(3, dtype=torch.bool)}))
    assert torch.equal(out.state.input_ids[1], ids[1]) and torch.equal(out.state.input_ids[0], new_ids[0])
    assert torch.equal(out.state.labels[1], labels[1]) and torch.equal(out.state.puzzle_ids[2], new_puzzle_ids[2])
    assert out.state.steps.tolist() == [1, 2, 1]
    for slot, expected in ((0, fresh), (1, continued), (2, fresh)):
        torch.testing.assert_close(out.logits[slot], expected.logits[slot], atol=1e-5, rtol=1e-5)


def test_evaluation_halts_only_at_the_last_supervision_step():
    model = _model("trm_rope")
    with torch.no_grad():
        model.q_head.bias.fill_(10.0)  # the Q head says "halt" everywhere
    ids, puzzle_ids, labels = _batch()
    state, halted = None, []
    with torch.no_grad():
        for _ in range(3):
            out = model(ids, puzzle_ids, labels, state=state)
            state = out.state
            halted.append(state.halted.tolist())
    assert halted == [[False] * 3, [False] * 3, [True] * 3]
    assert out.metrics["count"] == 3 and out.metrics["steps"] == 9
    model.train()  # in training the Q head halts every slot after one step
    assert model(ids, puzzle_ids, labels).state.halted.all()


def test_puzzle_rows_are_gathered_into_a_leaf_for_the_sparse_optimizer():
    model = _model("trm_rope").train()
    ids, puzzle_ids, labels = _batch()
    out = model(ids, puzzle_ids, labels)
    rows = model.puzzle_embedding.local_rows
    assert rows.is_leaf and rows.requires_grad
    assert torch.equal(model.puzzle_embedding.local_ids, puzzle_ids)
    out.loss.backward()
    assert rows.grad.shape == (3, 48) and rows.grad.abs().sum(-1).gt(0).all()
    assert model.puzzle_embedding.weight.grad is None  # the table itself never gets a dense grad


def test_act_continue_trains_the_continue_logit_towards_a_q_learning_target():
    model = _model("trm_rope", act_continue=True, halt_exploration_prob=0.0).train()
    ids, puzzle_ids, labels = _batch()
    out = model(ids, puzzle_ids, labels)
    target = out.target_continue
    assert target is not None and target.shape == (3,) and ((target > 0) & (target < 1)).all()
    assert out.metrics["q_continue_loss"] > 0
    # halting compares the two logits (max steps not reached yet)
    assert torch.equal(out.state.halted, out.halt_logits > out.continue_logits)
    out.loss.backward()
    assert model.q_head.bias.grad[1] != 0  # the continue logit is trained
    # the target is the next step's value: sigmoid(max(next halt, next continue)) from the new state
    with torch.no_grad():
        x = model.embed_inputs(ids, puzzle_ids)
        next_answer, _ = model.recursion(x, out.state.answer_state, out.state.latent_state)
        _, next_halt, next_continue = model.heads(next_answer)
    torch.testing.assert_close(target, torch.sigmoid(torch.maximum(next_halt, next_continue)))


def test_without_act_continue_the_continue_logit_is_untrained():
    model = _model("trm_rope").train()
    out = model(*_batch())
    assert out.target_continue is None and out.metrics["q_continue_loss"] == 0
    out.loss.backward()
    assert model.q_head.bias.grad[1] == 0


def test_one_step_gradient_changes_gradients_not_values():
    full = _model("trm_rope").train()
    one_step = _model("trm_rope", gradient_mode="one_step").train()
    one_step.load_state_dict(full.state_dict())
    batch = _batch()
    torch.manual_seed(0)
    a = full(*batch)
    torch.manual_seed(0)
    b = one_step(*batch)
    torch.testing.assert_close(a.logits, b.logits)
    a.loss.backward()
    b.loss.backward()
    grad_a = full.embed_tokens.weight.grad
    grad_b = one_step.embed_tokens.weight.grad
    assert (grad_a - grad_b).abs().max() > 1e-3 * grad_a.abs().max()


def test_single_latent_reads_the_heads_from_the_one_latent():
    model = _model("trm_single_latent")
    out = model(*_batch())
    assert torch.equal(out.state.answer_state, out.state.latent_state)
    standard = _model("trm_rope")
    standard.load_state_dict(model.state_dict())
    assert not torch.allclose(standard(*_batch()).logits, out.logits)


def test_no_puzzle_embedding_means_no_prefix():
    model = TRMForPuzzleSolving(TRMConfig(**{**TRM_TINY, "puzzle_embedding_dim": 0, "puzzle_prefix_len": 16}))
    assert model.config.puzzle_prefix_length == 0 and model.puzzle_embedding is None
    out = model(*_batch())
    assert out.state.answer_state.shape == (3, 16, 32) and out.logits.shape == (3, 16, 12)
    assert model.num_puzzle_embedding_parameters() == 0


def test_tuple_output():
    model = _model("trm_rope")
    ids, puzzle_ids, labels = _batch()
    loss, logits, *_ = model(ids, puzzle_ids, labels, return_dict=False)
    assert logits.shape == (3, 16, 12) and loss.ndim == 0


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda ids, pid, lab: (ids.clone().index_put_((torch.tensor([1]), torch.tensor([5])), torch.tensor(12)), pid, lab),
         r"input_ids\[1, 5\] = 12 is outside \[0, vocab_size=12\)"),
        (lambda ids, pid, lab: (ids[:, :10], pid, None), r"seq_len=16.*got \(3, 10\)"),
        (lambda ids, pid, lab: (ids, torch.tensor([0, 5, 1]), lab), r"puzzle_ids\[1\] = 5 is outside \[0, num_puzzle_identifiers=5\)"),
        (lambda ids, pid, lab: (ids, pid, torch.full_like(lab, 40)), r"labels\[0, 0\] = 40"),
        (lambda ids, pid, lab: (ids.float(), pid, lab), r"integer token ids"),
    ],
)
def test_bad_inputs_raise_clear_errors(change, message):
    model = _model("trm_rope")
    with pytest.raises(ValueError, match=message):
        model(*change(*_batch()))


def test_state_of_another_batch_size_is_refused():
    model = _model("trm_rope")
    ids, puzzle_ids, labels = _batch()
    state = model(ids, puzzle_ids, labels).state
    with pytest.raises(ValueError, match="batch has 2 rows but the state has 3 slots"):
        model(ids[:2], puzzle_ids[:2], labels[:2], state=state)
