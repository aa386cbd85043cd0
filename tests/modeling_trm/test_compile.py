"""`torch.compile`: an evaluation step (what `solve` runs) traces into one graph, a training step breaks only
at the sparse puzzle-embedding leaf, and the compiled step gives the eager step's values — the data-dependent
shortcuts and input checks that eager mode takes are left out under compilation, never the arithmetic."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch._dynamo

from modeling_trm.configuration_trm import HRMConfig, TRMConfig
from modeling_trm.modeling_hrm import HRMForPuzzleSolving
from modeling_trm.modeling_trm import TRMForPuzzleSolving

TINY = dict(vocab_size=12, seq_len=16, hidden_size=32, num_attention_heads=4, expansion=2,
            max_supervision_steps=4, num_puzzle_identifiers=5)
VARIANTS = {
    "trm_rope": lambda **kw: TRMForPuzzleSolving(TRMConfig(**TINY, num_layers=1, num_recursions=2,
                                                           num_latent_updates=2, **kw)),
    "trm_mlp": lambda **kw: TRMForPuzzleSolving(TRMConfig(**TINY, num_layers=1, num_recursions=2, num_latent_updates=2,
                                                          token_mixer="mlp", position_encoding="none", **kw)),
    "hrm": lambda **kw: HRMForPuzzleSolving(HRMConfig(**TINY, num_high_layers=1, num_low_layers=1, high_cycles=2,
                                                      low_cycles=2, **kw)),
}


def _model(variant: str, puzzle_embedding_dim: int = 32):
    torch.manual_seed(0)
    model = VARIANTS[variant](puzzle_embedding_dim=puzzle_embedding_dim)
    with torch.no_grad():  # a halting head that halts some slots and not others
        model.q_head.weight.normal_(std=0.3)
        if model.puzzle_embedding is not None:
            model.puzzle_embedding.weight.normal_()
    return model


def _batch(batch: int = 4, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    return (torch.randint(1, 12, (batch, 16), generator=g), torch.randint(0, 5, (batch,), generator=g),
            torch.randint(1, 12, (batch, 16), generator=g))


def _explain(fn, *args, **kwargs):
    torch._dynamo.reset()
    return torch._dynamo.explain(fn)(*args, **kwargs)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_an_evaluation_step_with_a_carried_state_is_one_graph(variant):
    model = _model(variant).eval()
    ids, puzzles, _ = _batch()
    with torch.no_grad():
        state = model(ids, puzzles).state
        state = dataclasses.replace(state, halted=torch.tensor([True, False, True, False]))
        for explanation in (_explain(model, ids, puzzles), _explain(model, ids, puzzles, state=state),
                            _explain(model._supervision_step, ids, puzzles, state=state)):  # solve's step
            assert (explanation.graph_count, explanation.graph_break_count) == (1, 0), explanation.break_reasons


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_a_training_step_breaks_only_at_the_puzzle_embedding_leaf(variant):
    ids, puzzles, labels = _batch()
    for embedding_dim in (32, 0):
        model = _model(variant, puzzle_embedding_dim=embedding_dim).train()
        state = model(ids, puzzles, labels=labels).state
        explanation = _explain(model, ids, puzzles, labels=labels, state=state)
        if embedding_dim == 0:
            assert (explanation.graph_count, explanation.graph_break_count) == (1, 0), explanation.break_reasons
        else:  # one break point, counted once per enclosing frame
            reasons = [str(reason.reason) for reason in explanation.break_reasons]
            assert reasons and all("_rows_for_sign_sgd" in reason for reason in reasons), reasons


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("halted", [[True, False, True, False], [True] * 4, [False] * 4])
def test_the_compiled_step_gives_the_eager_values(variant, halted):
    """Eager mode skips the slot copy when all or no slots restart; compiled mode always selects: same bits."""
    model = _model(variant).eval()
    ids, puzzles, _ = _batch()
    other_ids, other_puzzles, _ = _batch(seed=2)
    with torch.no_grad():
        state = model(other_ids, other_puzzles).state
        state = dataclasses.replace(state, halted=torch.tensor(halted))
        eager = model(ids, puzzles, state=state)
        torch._dynamo.reset()
        compiled = torch.compile(model, backend="eager", fullgraph=True)(ids, puzzles, state=state)
    for name in ("logits", "halt_logits", "continue_logits"):
        assert torch.equal(getattr(compiled, name), getattr(eager, name)), name
    for field in dataclasses.fields(eager.state):
        value, expected = getattr(compiled.state, field.name), getattr(eager.state, field.name)
        assert (value is None and expected is None) or torch.equal(value, expected), field.name


@pytest.mark.parametrize("variant", ["trm_rope", "hrm"])
def test_solve_compile_runs_the_compiled_step_and_gives_the_eager_answer(variant):
    """`torch.compile(model).solve()` would run eagerly (solve calls the step itself); `compile=` compiles
    that step, once per model, with the eager answers at both halting modes."""
    from torch._dynamo.utils import counters

    model = _model(variant).eval()
    ids, puzzles, _ = _batch(batch=6)
    torch._dynamo.reset()
    counters.clear()
    for halting in ("fixed", "adaptive"):
        eager = model.solve(ids, puzzles, max_steps=5, halting=halting)
        compiled = model.solve(ids, puzzles, max_steps=5, halting=halting, compile="aot_eager")
        assert torch.equal(compiled.predictions, eager.predictions) and torch.equal(compiled.steps, eager.steps)
        torch.testing.assert_close(compiled.halt_logits, eager.halt_logits, equal_nan=True, atol=1e-5, rtol=1e-5)
    assert counters["stats"]["unique_graphs"] >= 1, "the step went through torch.compile"
    assert list(model._compiled_steps) == ["aot_eager"]  # built once, reused by the second solve
    with pytest.raises(TypeError, match="compile"):
        model.solve(ids, puzzles, compile=1)
