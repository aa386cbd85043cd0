"""Parity with the official TRM / HRM code: every tensor of ``tests/fixtures/reference`` (see its README).

Each reference model is converted from its official state dict, then replays the official
evaluation rollout (4 supervision steps on one batch) and the training-mode rollout (6 calls on
different batches, halted slots refilled) and must reproduce logits, Q logits, carries, halting,
losses, metrics and step-1 gradients within the README's tolerances.
"""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from modeling_trm.configuration_trm import swiglu_intermediate_size
from modeling_trm.convert_original_checkpoint import convert_official_state_dict
from modeling_trm.modeling_trm import TRMRotaryEmbedding, stablemax_cross_entropy, trunc_normal_init_

MODELS = ["trm_small_att", "trm_small_mlp", "hrm_small"]
ACT = dict(atol=1e-4, rtol=1e-4)
GRAD = dict(atol=1e-5, rtol=1e-3)
SCALAR = dict(atol=1e-7, rtol=1e-5)
OFFICIAL_PREFIX = "_orig_mod.model.inner."


def _official_to_ours(model, name: str) -> str:
    """Map an official parameter name to ours with the converter's own renaming."""
    from modeling_trm.convert_original_checkpoint import rename_official_state_dict

    arch = "hrm" if "HRM" in type(model).__name__ else "trm"
    return next(iter(rename_official_state_dict({name: torch.zeros(1)}, arch)))


def _tolerance(name: str, step: int) -> dict:
    """The MLP variant amplifies float32 rounding ~5-10x per supervision step (see
    ``test_mlp_variant_differs_from_reference_only_by_float32_rounding``; the reference was made on
    another CPU, whose kernels round differently): beyond step 1 its activations are compared with
    a tolerance that grows 5x per step. Integers and booleans stay exact."""
    if name == "trm_small_mlp" and step > 1:
        scale = 5.0 ** (step - 1)
        return dict(atol=ACT["atol"] * scale, rtol=ACT["rtol"] * scale)
    return ACT


@pytest.fixture(scope="module", params=MODELS)
def reference(request, reference_dir):
    folder = reference_dir / request.param
    official_config = json.loads((folder / "config.json").read_text())
    state_dict = load_file(folder / "model.safetensors")
    expected = load_file(folder / "expected.safetensors")
    model = convert_official_state_dict(state_dict, official_config)
    return request.param, model, expected


def _close(actual, expected, what, **tol):
    actual = actual.detach()
    if expected.dtype in (torch.bool, torch.int32, torch.int64):
        assert torch.equal(actual.to(torch.int64).cpu(), expected.to(torch.int64)), f"{what}: {actual} != {expected}"
    else:
        torch.testing.assert_close(actual.double(), expected.double().reshape(actual.shape), msg=lambda m: f"{what}: {m}", **tol)


def test_input_embeddings(reference):
    name, model, e = reference
    with torch.no_grad():
        x = model.embed_inputs(e["batch.inputs"], e["batch.puzzle_identifiers"])
    _close(x, e["input_embeddings"], "input_embeddings", **ACT)


def test_evaluation_rollout(reference):
    name, model, e = reference
    model.eval()
    batch = e["batch.inputs"], e["batch.puzzle_identifiers"], e["batch.labels"]
    state = None
    with torch.inference_mode():
        for step in range(1, 5):
            out = model(*batch, state=state)
            state, key = out.state, f"eval.step{step}."
            tol = _tolerance(name, step)
            _close(out.logits, e[key + "logits"], key + "logits", **tol)
            _close(out.logits.argmax(-1), e[key + "preds"], key + "preds")
            _close(out.halt_logits, e[key + "q_halt_logits"], key + "q_halt_logits", **tol)
            _close(out.continue_logits, e[key + "q_continue_logits"], key + "q_continue_logits", **tol)
            _close(state.answer_state, e[key + "z_H"], key + "z_H", **tol)
            _close(state.latent_state, e[key + "z_L"], key + "z_L", **tol)
            _close(state.halted, e[key + "halted"], key + "halted")
            _close(state.steps, e[key + "steps"], key + "steps")
            assert bool(state.halted.all()) == bool(e[key + "all_finish"])
            assert out.target_continue is None  # no Q-learning target in eval
            batch_size = state.halted.shape[0]
            scalar_tol = SCALAR if tol is ACT else tol
            _close(out.loss * batch_size, e[key + "loss"], key + "loss", **scalar_tol)
            for metric in ("count", "accuracy", "exact_accuracy", "q_halt_accuracy", "steps", "lm_loss", "q_halt_loss"):
                assert out.metrics[metric].dtype == torch.float64
                _close(out.metrics[metric], e[key + "metrics." + metric], key + metric, **scalar_tol)
    assert int(e["eval.step4.metrics.count"]) == 3  # the rollout ends with every slot counted


def test_training_rollout_and_gradients(reference):
    name, model, e = reference
    model.train()
    original_exploration = model.config.halt_exploration_prob
    model.config.halt_exploration_prob = 0.0  # as the reference rollout (README, scenario B)
    try:
        state = None
        for step in range(1, 7):
            key, batch = f"train.step{step}.", f"train.batch{step}."
            model.zero_grad(set_to_none=True)
            out = model(e[batch + "inputs"], e[batch + "puzzle_identifiers"], e[batch + "labels"], state=state)
            state = out.state
            tol = _tolerance(name, step)
            scalar_tol = SCALAR if tol is ACT else tol
            _close(state.input_ids, e[key + "current_data.inputs"], key + "current inputs")
            _close(state.labels, e[key + "current_data.labels"], key + "current labels")
            _close(state.puzzle_ids, e[key + "current_data.puzzle_identifiers"], key + "current puzzle ids")
            _close(state.halted, e[key + "halted"], key + "halted")
            _close(state.steps, e[key + "steps"], key + "steps")
            _close(out.logits, e[key + "logits"], key + "logits", **tol)
            _close(out.halt_logits, e[key + "q_halt_logits"], key + "q_halt_logits", **tol)
            _close(out.continue_logits, e[key + "q_continue_logits"], key + "q_continue_logits", **tol)
            if key + "target_q_continue" in e:
                _close(out.target_continue, e[key + "target_q_continue"], key + "target_q_continue", **tol)
            else:
                assert out.target_continue is None
            batch_size = state.halted.shape[0]
            _close(out.loss * batch_size, e[key + "loss"], key + "loss", **scalar_tol)
            for metric_key in (k for k in e if k.startswith(key + "metrics.")):
                metric = metric_key.rsplit(".", 1)[1]
                _close(out.metrics[metric], e[metric_key], metric_key, **scalar_tol)
            if step <= 2:
                (out.loss * batch_size).backward()  # the official backward of the un-divided total
                _check_gradients(model, e, step)
                model.puzzle_embedding.local_rows.grad = None  # read here, as sign-SGD's collect() would
    finally:
        model.config.halt_exploration_prob = original_exploration
        model.eval()


def _check_gradients(model, e, step):
    params = dict(model.named_parameters())
    rows = model.puzzle_embedding.local_rows
    if step == 1:
        official = [k for k in e if k.startswith("train.step1.grad." + OFFICIAL_PREFIX)]
        assert len(official) == len(params), "every parameter has a reference gradient"
        for key in official:
            name = key.removeprefix("train.step1.grad.")
            grad = params[_official_to_ours(model, name)].grad
            stride_key = "train.step1.grad_stride." + name
            if stride_key in e:  # large tensors are kept as a strided sample of the flattened gradient
                grad = grad.flatten()[:: int(e[stride_key])]
            _close(grad, e[key], key, **GRAD)
        _close(rows.grad, e["train.step1.grad.puzzle_emb_local_weights"], "puzzle rows grad", **GRAD)
        _close(model.puzzle_embedding.local_ids, e["train.step1.puzzle_emb_local_ids"], "local ids")
    else:
        for key in (k for k in e if k.startswith("train.step2.gradnorm." + OFFICIAL_PREFIX)):
            ours = _official_to_ours(model, key.removeprefix("train.step2.gradnorm."))
            _close(params[ours].grad.double().norm(), e[key], key, atol=1e-5, rtol=1e-3)
        _close(rows.grad.double().norm(), e["train.step2.gradnorm.puzzle_emb_local_weights"], "rows grad norm",
               atol=1e-5, rtol=1e-3)


def test_mlp_variant_differs_from_reference_only_by_float32_rounding(reference_dir):
    """The residual against the MLP reference is float32 rounding, not a semantic difference: our
    float64 computation is as close to the reference as our float32 one, at step 1."""
    folder = reference_dir / "trm_small_mlp"
    model = convert_official_state_dict(load_file(folder / "model.safetensors"),
                                        json.loads((folder / "config.json").read_text()))
    e = load_file(folder / "expected.safetensors")
    batch = e["batch.inputs"], e["batch.puzzle_identifiers"]
    with torch.no_grad():
        fp32 = model(*batch).state.answer_state.double()
        model.double()
        model.forward_dtype = torch.float64
        fp64 = model(*batch).state.answer_state
    reference = e["eval.step1.z_H"].double()
    assert (fp32 - fp64).abs().max() < 5e-5
    assert (reference - fp64).abs().max() < 5e-5


def test_stablemax_cross_entropy(reference_dir):
    e = load_file(reference_dir / "functions" / "expected.safetensors")
    loss = stablemax_cross_entropy(e["stablemax.logits"], e["stablemax.labels"])
    assert loss.dtype == torch.float64
    torch.testing.assert_close(loss, e["stablemax.loss"], atol=1e-12, rtol=1e-10)
    assert loss[-1] == 0  # the ignored row


def test_rope_tables(reference_dir):
    e = load_file(reference_dir / "functions" / "expected.safetensors")
    cos, sin = TRMRotaryEmbedding(head_dim=16, max_positions=18, theta=10000.0)()
    torch.testing.assert_close(cos, e["rope.dim16.len18.cos"], atol=1e-6, rtol=0)
    torch.testing.assert_close(sin, e["rope.dim16.len18.sin"], atol=1e-6, rtol=0)


def test_swiglu_intermediate_sizes(reference_dir):
    sizes = json.loads((reference_dir / "functions" / "data_functions.json").read_text())["swiglu_intermediate_sizes"]
    for key, expected in sizes.items():
        width, expansion = key.removeprefix("hidden").split("_exp")
        assert swiglu_intermediate_size(int(width), float(expansion)) == expected, key


def test_trunc_normal_statistics(reference_dir):
    stats = json.loads((reference_dir / "functions" / "data_functions.json").read_text())["trunc_normal_std0.5_empirical"]
    torch.manual_seed(0)
    sample = trunc_normal_init_(torch.empty(200_000), std=0.5)
    assert abs(sample.std().item() - stats["std"]) < 3e-3  # std of the truncated distribution
    bound = 2 * 0.5 / 0.77374**0.5  # truncation at 2 underlying standard deviations
    assert sample.abs().max() <= bound + 1e-6
    assert abs(sample.max().item() - stats["max"]) < 1e-3 and abs(sample.min().item() - stats["min"]) < 1e-3
