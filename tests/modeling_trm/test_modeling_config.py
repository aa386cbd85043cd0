"""TRMConfig / HRMConfig: derived sizes, validation naming the field."""

from __future__ import annotations

import pytest

from modeling_trm.configuration_trm import HRMConfig, TRMConfig


def test_paper_defaults():
    config = TRMConfig()
    assert (config.hidden_size, config.num_attention_heads, config.num_layers) == (512, 8, 2)
    assert (config.num_recursions, config.num_latent_updates, config.max_supervision_steps) == (3, 6, 16)
    assert config.puzzle_prefix_length == 16 and config.total_seq_len == 97 and config.intermediate_size == 1536


def test_no_puzzle_embedding_forces_no_prefix():
    config = TRMConfig(puzzle_embedding_dim=0, puzzle_prefix_len=16)
    assert config.puzzle_prefix_length == 0 and config.total_seq_len == config.seq_len


def test_round_trip_through_json(tmp_path):
    config = TRMConfig(token_mixer="mlp", position_encoding="none", single_latent=True, gradient_mode="one_step",
                       forward_dtype="bfloat16")
    config.save_pretrained(tmp_path)
    loaded = TRMConfig.from_pretrained(tmp_path)
    assert loaded.to_dict() == config.to_dict() and loaded.model_type == "trm"


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(num_recursions=0), "TRMConfig.num_recursions"),
        (dict(num_latent_updates=-1), "TRMConfig.num_latent_updates"),
        (dict(vocab_size=0), "TRMConfig.vocab_size"),
        (dict(token_mixer="conv"), "TRMConfig.token_mixer"),
        (dict(position_encoding="alibi"), "TRMConfig.position_encoding"),
        (dict(forward_dtype="float16"), "TRMConfig.forward_dtype"),
        (dict(gradient_mode="all"), "TRMConfig.gradient_mode"),
        (dict(hidden_size=64, num_attention_heads=128), "TRMConfig.num_attention_heads"),
        (dict(hidden_size=60, num_attention_heads=4), "TRMConfig.num_attention_heads"),  # head_dim 15: odd for RoPE
        (dict(puzzle_embedding_dim=1024, puzzle_prefix_len=1), "TRMConfig.puzzle_prefix_len"),
        (dict(halt_exploration_prob=1.5), "TRMConfig.halt_exploration_prob"),
        (dict(expansion=0), "TRMConfig.expansion"),
    ],
)
def test_invalid_trm_configs_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        TRMConfig(**kwargs)


def test_invalid_hrm_config_names_the_field():
    with pytest.raises(ValueError, match=r"HRMConfig\.high_cycles"):
        HRMConfig(high_cycles=0)


def test_heads_need_not_divide_the_width_without_rope():
    # the official transformer baseline runs 12 heads at width 512 (head_dim 42, attention width 504)
    config = TRMConfig(hidden_size=512, num_attention_heads=12, position_encoding="learned")
    assert config.head_dim == 42
