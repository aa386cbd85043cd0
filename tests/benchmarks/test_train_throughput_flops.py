"""benchmarks/train_throughput.py: its analytic FLOP count of one training step is what PyTorch's FLOP
counter measures for the same step, so the reported efficiency rests on a true numerator."""

from __future__ import annotations

import pytest
import torch
from benchmark_scripts import load_benchmark
from torch.utils.flop_counter import FlopCounterMode

from modeling_trm import TRMConfig, TRMForPuzzleSolving

train_throughput = load_benchmark("train_throughput")

SMALL = dict(vocab_size=11, seq_len=16, num_puzzle_identifiers=1, hidden_size=32, num_attention_heads=2, expansion=4,
             num_layers=2, num_recursions=3, num_latent_updates=2, puzzle_embedding_dim=32, puzzle_prefix_len=2,
             max_supervision_steps=4, forward_dtype="float32")


def _counted_step_flops(config: TRMConfig, batch: int) -> tuple[float, float]:
    """(all FLOPs, FLOPs outside attention) of one training step: forward with the carried state + backward."""
    torch.manual_seed(0)
    model = TRMForPuzzleSolving(config).train()
    inputs = torch.randint(1, config.vocab_size, (batch, config.seq_len))
    labels = torch.randint(2, config.vocab_size, (batch, config.seq_len))
    state = model(input_ids=inputs, labels=labels).state
    with FlopCounterMode(display=False) as counter:
        model(input_ids=inputs, labels=labels, state=state).loss.backward()
    counts = counter.get_flop_counts()["Global"]
    matmuls = sum(v for k, v in counts.items() if str(k).split(".")[-1] in ("mm", "addmm", "bmm"))
    return counter.get_total_flops(), matmuls


@pytest.mark.parametrize("batch", [1, 3])
def test_mlp_mixer_step_flops_match_the_flop_counter(batch):
    config = TRMConfig(**SMALL, token_mixer="mlp", position_encoding="none")
    counted, _ = _counted_step_flops(config, batch)
    assert train_throughput.step_flops(config, batch) == pytest.approx(counted, rel=1e-3)


def test_attention_step_flops_match_the_flop_counter_on_projections_and_mlps():
    config = TRMConfig(**SMALL, token_mixer="attention", position_encoding="rope")
    batch = 2
    counted, matmuls = _counted_step_flops(config, batch)
    analytic = train_throughput.step_flops(config, batch)
    # The score and weighted-sum products are 4*N*D per token and layer; the counter may or may not see
    # them inside scaled_dot_product_attention on CPU, so compare what both certainly count.
    n, d = config.total_seq_len, config.hidden_size
    calls = (config.num_recursions - 1 + 3) * (config.num_latent_updates + 1)
    attention_products = calls * config.num_layers * batch * n * (2 * 2 * n * d)
    assert analytic - attention_products == pytest.approx(matmuls, rel=1e-3)
    assert counted >= matmuls


@pytest.mark.parametrize("name", ["sudoku6x6", "sudoku9x9", "maze11x11"])
def test_the_presets_models_are_measured_at_their_datasets_sizes(name):
    """`--presets` builds each preset's model without its data: the sizes it assumes are the data's."""
    import hub_datasets
    from training.config import PRESETS

    preset = PRESETS[name]
    options = {**preset.dataset_options, "num_train": 4, "num_test": 2, "num_aug": 0}
    _, metadata = hub_datasets.build_dataset(preset.dataset_recipe, seed=0, **options)
    config = train_throughput.preset_configs()[name]
    assert (config["seq_len"], config["vocab_size"]) == (metadata.seq_len, metadata.vocab_size)
    assert config["forward_dtype"] in ("bfloat16", "float32")
