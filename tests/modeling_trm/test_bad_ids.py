"""Ids that are not integer token ids are refused, never cast; decode refuses tokens outside the vocabulary."""

from __future__ import annotations

import math

import pytest
import torch

from modeling_trm import PuzzleProcessor, TRMConfig, TRMForPuzzleSolving


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return TRMForPuzzleSolving(TRMConfig(vocab_size=6, seq_len=16, hidden_size=16, num_attention_heads=2,
                                         num_layers=1, num_recursions=1, num_latent_updates=1,
                                         max_supervision_steps=2, puzzle_embedding_dim=0)).eval()


@pytest.mark.parametrize("ids", [
    torch.full((1, 16), 2.0),  # float ids that happen to be whole
    torch.full((1, 16), 2.7),  # would be truncated to 2
    torch.full((1, 16), math.nan),  # would become an arbitrary integer
    torch.ones(1, 16, dtype=torch.bool),  # would become token 1
    [[2.0] * 16],
])
def test_solve_refuses_non_integer_ids(model, ids):
    with pytest.raises(ValueError, match="input_ids must be integer token ids, got dtype torch.(float|bool)"):
        model.solve(ids)


def test_forward_refuses_bool_and_float_ids(model):
    with pytest.raises(ValueError, match="input_ids must be integer token ids, got dtype torch.bool"):
        model(torch.ones(1, 16, dtype=torch.bool))
    with pytest.raises(ValueError, match="puzzle_ids must be integer token ids, got dtype torch.float32"):
        model(torch.ones(1, 16, dtype=torch.long), puzzle_ids=torch.zeros(1))
    with pytest.raises(ValueError, match="puzzle_ids must be integer token ids"):
        model.solve(torch.ones(1, 16, dtype=torch.long), puzzle_ids=[0.5])


def test_decode_refuses_tokens_outside_the_vocabulary():
    processor = PuzzleProcessor("sudoku", grid_size=4)  # tokens 0..5
    tokens = torch.full((2, 16), 3)
    tokens[1, 7] = 9  # e.g. an ARC model's colour token
    with pytest.raises(ValueError, match=r"token id 9 at \[1, 7\] is outside this sudoku processor's vocabulary"):
        processor.decode(tokens)
    with pytest.raises(ValueError, match="integer token ids"):
        processor.decode(tokens.float())
    assert processor.decode(tokens[0]).tolist() == [[2] * 4] * 4
