"""`model.solve`: the official evaluation rollout, adaptive halting, test-time compute, callbacks,
chunking, validation and the solve_config.json round trip."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from modeling_trm import HRMConfig, SolveConfig, SolveOutput, TRMConfig, TRMForPuzzleSolving
from modeling_trm.convert_original_checkpoint import convert_official_state_dict
from modeling_trm.modeling_hrm import HRMForPuzzleSolving


def tiny_trm(seed: int = 0, **overrides) -> TRMForPuzzleSolving:
    torch.manual_seed(seed)
    config = {"vocab_size": 11, "seq_len": 16, "hidden_size": 32, "num_attention_heads": 2, "num_layers": 1,
                  "num_recursions": 2, "num_latent_updates": 2, "max_supervision_steps": 3,
                  "puzzle_embedding_dim": 32, "puzzle_prefix_len": 1, "num_puzzle_identifiers": 4}
    config.update(overrides)
    return TRMForPuzzleSolving(TRMConfig(**config)).eval()


def random_puzzles(batch: int, seed: int = 1, seq_len: int = 16, vocab: int = 11) -> torch.Tensor:
    return torch.randint(1, vocab, (batch, seq_len), generator=torch.Generator().manual_seed(seed))


def make_halting_vary(model, puzzles, quantile: float = 0.5):
    """Give the Q head random weights and shift the halt bias so that about `quantile` of the puzzles
    want to halt after step 1 (the official init, weight 0 / bias -5, never halts)."""
    with torch.no_grad():
        model.q_head.weight.normal_(0, 3 / model.config.hidden_size**0.5)
        model.q_head.bias.zero_()
        step1 = model.solve(puzzles, max_steps=1).halt_logits[0]
        model.q_head.bias[0] = -torch.quantile(step1, 1 - quantile)  # halt logit > 0 for ~quantile of them
        model.q_head.bias[0] -= 1e-3  # keep the boundary puzzle strictly on one side


# ---------------------------------------------------------------------------------------------------
# fixed halting = the official evaluation rollout


@pytest.mark.parametrize("name", ["trm_small_att", "trm_small_mlp", "hrm_small"])
def test_fixed_halting_reproduces_the_official_eval_rollout(reference_dir, name):
    folder = reference_dir / name
    model = convert_official_state_dict(load_file(folder / "model.safetensors"),
                                        json.loads((folder / "config.json").read_text()))
    expected = load_file(folder / "expected.safetensors")
    steps_seen = []
    out = model.solve(expected["batch.inputs"], expected["batch.puzzle_identifiers"], halting="fixed",
                      return_intermediate=True, output_logits=True,
                      callback=lambda step, s: steps_seen.append((step, s.indices.tolist(), s.halted.tolist())))

    assert isinstance(out, SolveOutput)
    assert model.config.max_supervision_steps == 4 and out.halt_logits.shape == (4, 3)
    assert out.steps.tolist() == [4, 4, 4]
    for step in range(1, 5):
        # float32 rounding differences (~1e-5 at step 1) grow through the recursion; the MLP variant
        # amplifies them most (~1.4e-3 by step 4). Wrong carry handling would give O(1) differences.
        tolerance = 1e-4 if step == 1 or name != "trm_small_mlp" else 3e-3
        torch.testing.assert_close(out.logits[step - 1], expected[f"eval.step{step}.logits"],
                                   atol=tolerance, rtol=tolerance)
        torch.testing.assert_close(out.halt_logits[step - 1], expected[f"eval.step{step}.q_halt_logits"],
                                   atol=tolerance, rtol=tolerance)
        assert torch.equal(out.intermediate_predictions[step - 1], expected[f"eval.step{step}.preds"].long())
    assert torch.equal(out.predictions, expected["eval.step4.preds"].long())
    assert steps_seen == [(s, [0, 1, 2], [s == 4] * 3) for s in range(1, 5)]


def test_fixed_halting_ignores_the_halting_head():
    model = tiny_trm()
    puzzles = random_puzzles(6)
    make_halting_vary(model, puzzles)
    out = model.solve(puzzles, halting="fixed", max_steps=4)
    assert (out.halt_logits > 0).any()  # some puzzles would like to stop ...
    assert out.steps.tolist() == [4] * 6 and not out.halt_logits.isnan().any()  # ... but all run 4 steps


# ---------------------------------------------------------------------------------------------------
# adaptive halting


def test_adaptive_halting_stops_each_puzzle_where_its_halt_logit_turns_positive():
    model = tiny_trm()
    puzzles = random_puzzles(10)
    make_halting_vary(model, puzzles, quantile=0.3)
    max_steps = 5
    fixed = model.solve(puzzles, halting="fixed", max_steps=max_steps, return_intermediate=True, output_logits=True)
    # first step whose halt logit is > 0 (TRM rule, act_continue=False), else max_steps
    wants_halt = torch.cat([fixed.halt_logits > 0, torch.ones(1, 10, dtype=torch.bool)])
    expected_steps = wants_halt.int().argmax(dim=0).clamp(max=max_steps - 1) + 1
    assert len(set(expected_steps.tolist())) >= 3, "the test needs puzzles that halt at different steps"

    active_per_step = []
    adaptive = model.solve(puzzles, halting="adaptive", max_steps=max_steps, return_intermediate=True,
                           output_logits=True, callback=lambda step, s: active_per_step.append(s.indices.tolist()))

    assert adaptive.steps.tolist() == expected_steps.tolist()
    assert adaptive.steps.sum() < 10 * max_steps  # the batch did less work than the fixed run
    for b, k in enumerate(expected_steps.tolist()):
        # removing finished puzzles from the batch changes nothing for the others
        assert torch.equal(adaptive.predictions[b], fixed.intermediate_predictions[k - 1, b])
        torch.testing.assert_close(adaptive.halt_logits[:k, b], fixed.halt_logits[:k, b], atol=1e-5, rtol=1e-5)
        assert adaptive.halt_logits[k:, b].isnan().all()
        torch.testing.assert_close(adaptive.logits[k - 1, b], fixed.logits[k - 1, b], atol=1e-5, rtol=1e-5)
        # after it stopped, a puzzle keeps showing its final answer
        assert (adaptive.intermediate_predictions[k - 1 :, b] == adaptive.predictions[b]).all()
    assert adaptive.halt_logits.shape[0] == int(expected_steps.max())
    # the callback saw the shrinking batch
    assert active_per_step == [[b for b in range(10) if expected_steps[b] >= step]
                               for step in range(1, int(expected_steps.max()) + 1)]


def test_adaptive_halting_with_act_continue_compares_halt_and_continue_logits():
    model = tiny_trm(act_continue=True)
    puzzles = random_puzzles(8)
    with torch.no_grad():
        model.q_head.weight.normal_(0, 3 / 32**0.5)
        model.q_head.bias.zero_()
    margins = []  # halt - continue of every puzzle at every step of the fixed run
    model.solve(puzzles, max_steps=4, callback=lambda step, s: margins.append(s.halt_logits - s.continue_logits))
    margins = torch.stack(margins)
    assert ((margins[0] > 0).any() and (margins[0] < 0).any()), "the test needs both outcomes at step 1"
    wants_halt = torch.cat([margins > 0, torch.ones(1, 8, dtype=torch.bool)])
    expected_steps = wants_halt.int().argmax(dim=0).clamp(max=3) + 1
    assert model.solve(puzzles, halting="adaptive", max_steps=4).steps.tolist() == expected_steps.tolist()


@pytest.mark.parametrize("act_continue", [False, True])
def test_halt_confidence_stops_each_puzzle_at_its_first_confident_step(act_continue):
    """sigmoid(margin) > c, where margin = halt logit (minus the continue logit with act_continue); at
    c = 0.5 this is the training rule above, and a higher confidence never stops a puzzle earlier."""
    model = tiny_trm(act_continue=act_continue)
    puzzles = random_puzzles(12)
    make_halting_vary(model, puzzles, quantile=0.5)
    margins = []
    model.solve(puzzles, max_steps=6, callback=lambda step, s: margins.append(
        s.halt_logits - (s.continue_logits if act_continue else 0.0)))
    margins = torch.stack(margins)  # [6, 12], fixed halting: every puzzle every step
    previous = None
    for confidence in (0.5, 0.7, 0.9, 0.99):
        wants_halt = torch.cat([torch.sigmoid(margins.double()) > confidence, torch.ones(1, 12, dtype=torch.bool)])
        expected = wants_halt.int().argmax(dim=0).clamp(max=5) + 1
        steps = model.solve(puzzles, halting="adaptive", max_steps=6, halt_confidence=confidence).steps
        assert steps.tolist() == expected.tolist(), confidence
        if previous is not None:
            assert (steps >= previous).all()
        previous = steps
    rule = torch.cat([margins > 0, torch.ones(1, 12, dtype=torch.bool)]).int().argmax(dim=0).clamp(max=5) + 1
    assert model.solve(puzzles, halting="adaptive", max_steps=6).steps.tolist() == rule.tolist()  # default 0.5
    assert len(set(rule.tolist())) >= 2 and previous.float().mean() > rule.float().mean(), "the test needs variety"


def test_hrm_adaptive_halting_uses_halt_greater_than_continue():
    torch.manual_seed(0)
    config = HRMConfig(vocab_size=11, seq_len=16, hidden_size=32, num_attention_heads=2, num_high_layers=1,
                       num_low_layers=1, max_supervision_steps=4, puzzle_embedding_dim=32)
    model = HRMForPuzzleSolving(config).eval()
    puzzles = random_puzzles(6)
    with torch.no_grad():
        model.q_head.bias.copy_(torch.tensor([1.0, 0.0]))  # q_head weight is 0: halt > continue everywhere
    out = model.solve(puzzles, halting="adaptive")
    assert out.steps.tolist() == [1] * 6 and out.halt_logits.shape == (1, 6)
    with torch.no_grad():
        model.q_head.bias.copy_(torch.tensor([0.5, 1.0]))  # halt logit > 0 but below continue: never halts
    assert model.solve(puzzles, halting="adaptive").steps.tolist() == [4] * 6


# ---------------------------------------------------------------------------------------------------
# test-time compute, chunking, callback, modes


def test_max_steps_beyond_training_keeps_refining_instead_of_restarting():
    model = tiny_trm(max_supervision_steps=2)
    puzzles = random_puzzles(4)
    long = model.solve(puzzles, max_steps=6, output_logits=True)
    short = model.solve(puzzles, output_logits=True)  # max_steps=None: config.max_supervision_steps
    assert long.steps.tolist() == [6] * 4 and short.steps.tolist() == [2] * 4
    torch.testing.assert_close(long.logits[:2], short.logits)
    # The model's own forward would mark every slot halted at step 2 and restart it at step 3
    # (a fresh state gives step-1 logits again); solve carries the state on instead.
    assert not torch.allclose(long.logits[2], short.logits[0], atol=1e-3)
    # Step 3 equals one more forward from the step-2 state with the slots kept running.
    step2 = model(puzzles)
    step2 = model(puzzles, state=step2.state)
    assert step2.state.halted.all()
    step2.state.halted = torch.zeros_like(step2.state.halted)
    with torch.inference_mode():
        step3 = model(puzzles, state=step2.state)
    torch.testing.assert_close(long.logits[2], step3.logits)


def test_batch_size_chunks_give_the_same_result():
    model = tiny_trm()
    puzzles = random_puzzles(7)
    puzzle_ids = torch.tensor([0, 1, 2, 3, 0, 1, 2])
    make_halting_vary(model, puzzles, quantile=0.4)
    for halting in ("fixed", "adaptive"):
        whole = model.solve(puzzles, puzzle_ids, halting=halting, max_steps=4, return_intermediate=True)
        chunks = []
        chunked = model.solve(puzzles, puzzle_ids, halting=halting, max_steps=4, return_intermediate=True,
                              batch_size=3, callback=lambda step, s, seen=chunks: seen.append((step, s.indices.tolist())))
        assert torch.equal(whole.predictions, chunked.predictions)
        assert torch.equal(whole.steps, chunked.steps)
        assert torch.equal(whole.intermediate_predictions, chunked["intermediate_predictions"])
        torch.testing.assert_close(whole.halt_logits, chunked.halt_logits, equal_nan=True)
        assert max(len(indices) for _, indices in chunks) <= 3
        assert sorted({i for _, indices in chunks for i in indices}) == list(range(7))


def test_puzzle_ids_select_the_puzzle_embedding():
    model = tiny_trm()
    with torch.no_grad():
        model.puzzle_embedding.weight.normal_()
    puzzles = random_puzzles(1).expand(4, -1)
    out = model.solve(puzzles, torch.tensor([0, 1, 1, 2]), output_logits=True)
    torch.testing.assert_close(out.logits[:, 1], out.logits[:, 2])
    assert not torch.allclose(out.logits[:, 0], out.logits[:, 1])


def test_callback_runs_once_per_step_with_shapes_of_the_running_puzzles():
    model = tiny_trm()
    puzzles = random_puzzles(5)
    calls = []
    model.solve(puzzles, max_steps=3, callback=lambda step, s: calls.append((step, s)))
    assert [step for step, _ in calls] == [1, 2, 3]
    for step, s in calls:
        assert s.predictions.shape == (5, 16) and s.predictions.dtype == torch.long
        assert s.indices.tolist() == [0, 1, 2, 3, 4]
        assert s.halt_logits.shape == (5,) and s.continue_logits.shape == (5,)
        assert s.halted.tolist() == [step == 3] * 5


def test_solve_runs_in_inference_mode_and_restores_the_training_flag():
    model = tiny_trm().train()
    out = model.solve(random_puzzles(2))
    assert model.training  # restored
    assert out.predictions.is_inference() and not out.predictions.requires_grad
    # eval semantics inside: no exploration or Q halting, so two runs agree exactly
    assert torch.equal(out.predictions, model.solve(random_puzzles(2)).predictions)


def test_model_outputs_and_dtypes():
    model = tiny_trm()
    out = model.solve(random_puzzles(3).tolist(), max_steps=2)  # lists are accepted too
    assert out.predictions.shape == (3, 16) and out.predictions.dtype == torch.long
    assert out.steps.dtype == torch.long and out.halt_logits.dtype == torch.float32
    assert out.intermediate_predictions is None and out.logits is None
    assert set(out.keys()) == {"predictions", "steps", "halt_logits"}


# ---------------------------------------------------------------------------------------------------
# validation


@pytest.mark.parametrize(
    "overrides, error, message",
    [
        ({"halting": "greedy"}, ValueError, "SolveConfig.halting must be one of \\['fixed', 'adaptive'\\], got 'greedy'"),
        ({"max_steps": 0}, ValueError, "SolveConfig.max_steps must be a positive integer or None, got 0"),
        ({"batch_size": -2}, ValueError, "SolveConfig.batch_size must be a positive integer or None, got -2"),
        ({"max_step": 3}, TypeError, "Unknown solve option\\(s\\) \\['max_step'\\]"),
        ({"halt_confidence": 1.0}, ValueError, "SolveConfig.halt_confidence must be a probability in \\(0, 1\\), got 1.0"),
        ({"halt_confidence": 0}, ValueError, "SolveConfig.halt_confidence must be a probability in \\(0, 1\\), got 0"),
        ({"halt_confidence": True}, ValueError, "SolveConfig.halt_confidence must be a probability"),
        ({"halt_confidence": "high"}, ValueError, "SolveConfig.halt_confidence must be a probability"),
    ],
)
def test_bad_solve_options_are_rejected(overrides, error, message):
    with pytest.raises(error, match=message):
        tiny_trm().solve(random_puzzles(1), **overrides)


def test_bad_inputs_are_rejected():
    model = tiny_trm()
    with pytest.raises(ValueError, match=r"input_ids must have shape \[batch >= 1, seq_len=16\], got \(2, 15\)"):
        model.solve(torch.ones(2, 15, dtype=torch.long))
    bad = random_puzzles(2)
    bad[1, 5] = 11
    with pytest.raises(ValueError, match=r"input_ids\[1, 5\] = 11 is outside \[0, vocab_size=11\)"):
        model.solve(bad)
    with pytest.raises(ValueError, match=r"puzzle_ids\[1\] = 4 is outside \[0, num_puzzle_identifiers=4\)"):
        model.solve(random_puzzles(2), torch.tensor([0, 4]))
    with pytest.raises(ValueError, match=r"puzzle_ids must have shape \[batch=2\], got \(3,\)"):
        model.solve(random_puzzles(2), torch.tensor([0, 1, 2]))


# ---------------------------------------------------------------------------------------------------
# solve_config.json


def test_solve_config_is_saved_and_loaded_with_the_model(tmp_path):
    model = tiny_trm()
    assert model.solve_config == SolveConfig()  # default: fixed, max_supervision_steps
    model.solve_config = SolveConfig(max_steps=5, halting="adaptive", halt_confidence=0.9, batch_size=8)
    model.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "solve_config.json").read_text()) == {
        "max_steps": 5, "halting": "adaptive", "halt_confidence": 0.9, "return_intermediate": False,
        "output_logits": False, "batch_size": 8, "compile": False,
    }
    loaded = TRMForPuzzleSolving.from_pretrained(tmp_path)
    assert loaded.solve_config == model.solve_config
    assert loaded.solve(random_puzzles(2)).halt_logits.shape[0] <= 5
    assert loaded.solve(random_puzzles(2), halting="fixed").steps.tolist() == [5, 5]  # the saved max_steps
    saved = json.loads((tmp_path / "solve_config.json").read_text())
    del saved["halt_confidence"]  # a folder saved before the option existed loads with the training rule
    (tmp_path / "solve_config.json").write_text(json.dumps(saved))
    assert SolveConfig.from_pretrained(tmp_path).halt_confidence == 0.5
    (tmp_path / "without").mkdir()
    assert SolveConfig.from_pretrained(tmp_path / "without") is None
    with pytest.raises(TypeError, match="must be a SolveConfig"):
        model.solve_config = {"max_steps": 3}


def test_a_halting_confidence_with_fixed_halting_is_refused_not_ignored():
    from modeling_trm import TRMConfig, TRMForPuzzleSolving

    torch.manual_seed(0)
    model = TRMForPuzzleSolving(TRMConfig(vocab_size=6, seq_len=16, hidden_size=16, num_attention_heads=2,
                                          num_layers=1, puzzle_embedding_dim=0, max_supervision_steps=2))
    ids = torch.ones(1, 16, dtype=torch.long)
    with pytest.raises(ValueError, match="halt_confidence=0.9 applies to adaptive halting only"):
        model.solve(ids, halting="fixed", halt_confidence=0.9)
    with pytest.raises(ValueError, match="applies to adaptive halting only"):  # fixed from the solve_config
        model.solve(ids, halt_confidence=0.9)
    assert model.solve(ids, halting="adaptive", halt_confidence=0.9).predictions.shape == (1, 16)
    assert model.solve(ids, halting="fixed").steps.tolist() == [2]


def test_puzzles_given_as_text_to_solve_point_at_the_processor():
    from modeling_trm import PuzzleProcessor, TRMConfig, TRMForPuzzleSolving

    model = TRMForPuzzleSolving(TRMConfig(vocab_size=6, seq_len=16, hidden_size=16, num_attention_heads=2,
                                          num_layers=1, puzzle_embedding_dim=0, max_supervision_steps=1))
    for puzzles in ([list("1...............")], ["1..............."], "1..............."):
        with pytest.raises(ValueError, match=r"input_ids must be token ids, got text: encode puzzles with the model's "
                                             r"processor first, e\.g\. model\.solve\(\*\*processor\(puzzles\)\)"):
            model.solve(puzzles)
    # the processor takes the characters, flat or by rows, as it takes the string
    processor = PuzzleProcessor("sudoku", grid_size=4)
    expected = processor("1...............")["input_ids"].tolist()
    for puzzle in (list("1..............."), [list("1...............")], [list("1..."), list("...."), list("...."),
                   list("....")], ["1...", "....", "....", "...."]):
        assert processor(puzzle)["input_ids"].tolist() == expected, puzzle
    assert model.solve(**processor([list("1...............")])).predictions.shape == (1, 16)
