"""AdamATan2, sparse sign-SGD, EMA and the LR schedule against the official reference vectors."""

from __future__ import annotations

import math

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from training.optim import EMA, AdamATan2, SparsePuzzleEmbeddingSignSGD, lr_lambda


@pytest.fixture(scope="module")
def functions(reference_dir):
    return load_file(reference_dir / "functions" / "expected.safetensors")


def test_adam_atan2_matches_official_rule_for_five_steps(reference_dir):
    ref = load_file(reference_dir / "functions" / "adam_atan2.safetensors")
    lr, weight_decay, beta1, beta2 = ref["hparams"].tolist()
    param = nn.Parameter(ref["param_init"].clone())
    optimizer = AdamATan2([param], lr=lr, betas=(beta1, beta2), weight_decay=weight_decay)
    for t in range(1, 6):
        param.grad = ref[f"step{t}.grad"].clone()
        optimizer.step()
        state = optimizer.state[param]
        torch.testing.assert_close(state["exp_avg"], ref[f"step{t}.exp_avg"], atol=1e-6, rtol=0)
        torch.testing.assert_close(state["exp_avg_sq"], ref[f"step{t}.exp_avg_sq"], atol=1e-6, rtol=0)
        torch.testing.assert_close(param.data, ref[f"step{t}.param"], atol=1e-6, rtol=0, msg=f"param at step {t}")


def test_adam_atan2_is_invariant_to_gradient_scale():
    torch.manual_seed(0)
    grads = [torch.randn(5, 3) for _ in range(3)]
    results = []
    for scale in (1.0, 1e-6, 1e4):
        param = nn.Parameter(torch.ones(5, 3))
        optimizer = AdamATan2([param], lr=1e-2, weight_decay=0.1)
        for g in grads:
            param.grad = g * scale
            optimizer.step()
        results.append(param.detach().clone())
    torch.testing.assert_close(results[0], results[1], atol=1e-6, rtol=0)
    torch.testing.assert_close(results[0], results[2], atol=1e-6, rtol=0)


def test_adam_atan2_state_dict_round_trip_continues_identically():
    torch.manual_seed(0)
    grads = [torch.randn(4, 4) for _ in range(4)]
    straight = nn.Parameter(torch.zeros(4, 4))
    opt = AdamATan2([straight], lr=1e-2)
    for g in grads:
        straight.grad = g.clone()
        opt.step()

    resumed = nn.Parameter(torch.zeros(4, 4))
    first = AdamATan2([resumed], lr=1e-2)
    for g in grads[:2]:
        resumed.grad = g.clone()
        first.step()
    second = AdamATan2([resumed], lr=1e-2)
    second.load_state_dict(first.state_dict())
    for g in grads[2:]:
        resumed.grad = g.clone()
        second.step()
    assert torch.equal(straight, resumed)


class _TinyPuzzleEmbedding(nn.Module):
    """Stand-in with the contract's attributes: buffer ``weight``, ``local_rows``, ``local_ids``."""

    def __init__(self, weight):
        super().__init__()
        self.register_buffer("weight", weight.clone())

    def forward(self, ids):
        self.local_ids = ids
        self.local_rows = self.weight[ids].clone().requires_grad_(True)
        return self.local_rows


def test_sign_sgd_matches_official_step(functions):
    embedding = _TinyPuzzleEmbedding(functions["signsgd.weights_before"])
    optimizer = SparsePuzzleEmbeddingSignSGD(embedding, lr=0.01, weight_decay=0.1)
    rows = embedding(functions["signsgd.local_ids"].long())
    (rows * functions["signsgd.local_grad"]).sum().backward()  # d/d rows = local_grad
    optimizer.collect()
    optimizer.step()
    expected = functions["signsgd.weights_after_lr0.01_wd0.1"]
    torch.testing.assert_close(embedding.weight, expected, atol=1e-7, rtol=0)
    before = functions["signsgd.weights_before"]
    for untouched in (0, 1, 3):  # rows absent from the batch are not even decayed
        assert torch.equal(embedding.weight[untouched], before[untouched])


def test_sign_sgd_accumulates_micro_batches_before_taking_the_sign():
    weight = torch.zeros(3, 2)
    embedding = _TinyPuzzleEmbedding(weight)
    optimizer = SparsePuzzleEmbeddingSignSGD(embedding, lr=1.0, weight_decay=0.0)
    # Row 1 gets +3 then -1 (sum +2 -> sign +1 -> w = -1); row 2 gets -1 only.
    for ids, grad in ((torch.tensor([1]), torch.tensor([[3.0, 3.0]])), (torch.tensor([1, 2]), torch.tensor([[-1.0, -1.0], [-1.0, 0.0]]))):
        (embedding(ids) * grad).sum().backward()
        optimizer.collect()
    optimizer.step()
    assert embedding.weight.tolist() == [[0.0, 0.0], [-1.0, -1.0], [1.0, 0.0]]


def test_lr_schedule_matches_official(functions):
    steps = functions["lr.steps"].tolist()
    for ratio in ("1.0", "0.1", "0.0"):
        expected = functions[f"lr.base1e-4.warmup2000.total10000.min_ratio{ratio}"].tolist()
        got = [1e-4 * lr_lambda(s, warmup_steps=2000, total_steps=10000, lr_min_ratio=float(ratio)) for s in steps]
        for s, g, e in zip(steps, got, expected):
            assert math.isclose(g, e, rel_tol=1e-12, abs_tol=1e-20), f"step {s}, min_ratio {ratio}: {g} != {e}"


def test_ema_follows_official_update_and_skips_buffers():
    model = nn.Linear(2, 2)
    model.register_buffer("table", torch.zeros(2))
    initial = model.weight.detach().clone()
    ema = EMA(model, decay=0.999)
    with torch.no_grad():
        model.weight.add_(1.0)
        model.table.add_(5.0)
    ema.update(model)
    assert ema.names == ["weight", "bias"]
    torch.testing.assert_close(ema.shadow[0], 0.001 * (initial + 1.0) + 0.999 * initial)

    restored = EMA(nn.Linear(2, 2), decay=0.5)
    restored.load_state_dict(ema.state_dict())
    assert restored.decay == 0.999 and torch.equal(restored.shadow[0], ema.shadow[0])

    ema.copy_to(model)
    assert torch.equal(model.weight, ema.shadow[0]) and model.table.tolist() == [5.0, 5.0]


def test_ema_applied_to_swaps_in_the_average_and_restores_the_live_weights():
    model = nn.Linear(2, 2)
    ema = EMA(model, decay=0.5)
    with torch.no_grad():
        model.weight.add_(1.0)
    ema.update(model)
    live = [p.detach().clone() for p in model.parameters()]
    with ema.applied_to(model) as averaged:
        assert averaged is model
        assert torch.equal(model.weight, ema.shadow[0]) and not torch.equal(model.weight, live[0])
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), live))
    with pytest.raises(RuntimeError, match="inside"), ema.applied_to(model):
        raise RuntimeError("inside")
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), live))  # restored when the block raises
