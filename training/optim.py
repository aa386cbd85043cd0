"""Optimizers, EMA and the learning-rate schedule of the official TRM training (docs/numerics.md).

* :class:`AdamATan2` — Adam with ``atan2`` instead of the ``m / (sqrt(v) + eps)`` division
  (Everett et al. 2024), in the exact form of the ``adam-atan2`` package the official code imports.
  That package only ships a CUDA kernel and ``adam-atan2-pytorch`` implements a *different* rule
  (scale constants, different bias correction), so it is written out here.
* :class:`SparsePuzzleEmbeddingSignSGD` — sign-SGD with lazy decoupled weight decay for the puzzle
  embedding table, which is a buffer (not a parameter) updated only on the rows present in a batch.
* :func:`puzzle_embedding_optimizer` — that sign-SGD for any model holding a puzzle table (also inside a
  PEFT wrapper): what a hand-written loop or another trainer needs beside its optimizer over
  ``model.parameters()``, which never contains the table (docs/fine-tuning.md).
* :class:`EMA` — exponential moving average of the trainable parameters (what gets evaluated/saved).
* :func:`lr_lambda` — linear warm-up then cosine decay to ``lr_min_ratio``
  (docs/numerics.md#learning-rate-schedule).
"""

from __future__ import annotations

import contextlib
import math

import torch
import torch.distributed as dist
from torch import nn


def lr_lambda(step: int, warmup_steps: int, total_steps: int, lr_min_ratio: float = 1.0) -> float:
    """LR multiplier of optimizer step ``step`` (counted from 1, as in the official loop).

    Linear warm-up over ``warmup_steps``, then a cosine from 1 down to ``lr_min_ratio`` at
    ``total_steps``. The official recipes all use ``lr_min_ratio=1.0``: warm-up then constant.
    """
    if step < warmup_steps:
        return step / max(1, warmup_steps)
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return lr_min_ratio + max(0.0, (1.0 - lr_min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress)))


class AdamATan2(torch.optim.Optimizer):
    """AdamATan2 as used by the official TRM/HRM training (docs/numerics.md#adamatan2).

    Per step ``t`` (from 1), for every parameter::

        p ← p · (1 − lr·wd)                                  # decoupled, not bias-corrected
        m ← lerp(m, g, 1 − β1);   v ← β2·v + (1 − β2)·g²
        p ← p − lr / (1 − β1^t) · atan2(m, sqrt(v) / sqrt(1 − β2^t))

    There is no epsilon: ``atan2`` is bounded and well defined at 0, and the update is invariant to
    the scale of the gradient. Moment updates use ``torch._foreach_*`` over a whole group.
    """

    def __init__(self, params, lr: float = 1e-4, betas: tuple[float, float] = (0.9, 0.95), weight_decay: float = 0.0):
        if lr < 0 or weight_decay < 0:
            raise ValueError(f"lr and weight_decay must be >= 0, got lr={lr}, weight_decay={weight_decay}")
        if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise ValueError(f"betas must be in [0, 1), got {betas}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()

        for group in self.param_groups:
            params, grads, exp_avgs, exp_avg_sqs, steps = [], [], [], [], []
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("AdamATan2 does not support sparse gradients")
                state = self.state[p]
                if not state:
                    state["step"] = torch.tensor(0.0)
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
                params.append(p)
                grads.append(p.grad)
                exp_avgs.append(state["exp_avg"])
                exp_avg_sqs.append(state["exp_avg_sq"])
                steps.append(state["step"].item())
            if not params:
                continue

            lr, weight_decay = group["lr"], group["weight_decay"]
            beta1, beta2 = group["betas"]
            if weight_decay != 0:
                torch._foreach_mul_(params, 1.0 - lr * weight_decay)
            torch._foreach_lerp_(exp_avgs, grads, 1.0 - beta1)
            torch._foreach_mul_(exp_avg_sqs, beta2)
            torch._foreach_addcmul_(exp_avg_sqs, grads, grads, value=1.0 - beta2)

            # sqrt(v) / sqrt(1 - β2^t); the first-moment correction scales the step outside atan2.
            denominators = torch._foreach_sqrt(exp_avg_sqs)
            torch._foreach_div_(denominators, [math.sqrt(1.0 - beta2**t) for t in steps])
            for p, m, denom, t in zip(params, exp_avgs, denominators, steps):
                p.add_(torch.atan2(m, denom), alpha=-lr / (1.0 - beta1**t))
        return loss


class SparsePuzzleEmbeddingSignSGD(torch.optim.Optimizer):
    """Sign-SGD for the puzzle-embedding table with lazy decoupled weight decay (docs/numerics.md#sign-sgd).

    The table (``puzzle_embedding.weight``) is a buffer. In a training forward the model copies the
    batch's rows into the leaf tensor ``puzzle_embedding.local_rows`` and records their ids in
    ``puzzle_embedding.local_ids``; after ``backward()`` call :meth:`collect` (once per backward, so
    gradient accumulation works), then :meth:`step`. The step gathers (gradient, id) pairs from all
    ranks, sums the gradients of each unique id and updates only those rows::

        w[id] ← w[id] · (1 − lr·wd) − lr · sign(Σ g)

    Every rank applies the same update to its own copy, so the table never has to be broadcast.
    """

    def __init__(self, puzzle_embedding: nn.Module, lr: float = 1e-2, weight_decay: float = 0.1):
        self.puzzle_embedding = puzzle_embedding
        super().__init__([puzzle_embedding.weight], dict(lr=lr, weight_decay=weight_decay))
        self._pending_grads: list[torch.Tensor] = []
        self._pending_ids: list[torch.Tensor] = []

    @torch.no_grad()
    def collect(self) -> None:
        """Stash the gradient of the rows used by the last forward/backward."""
        local_rows = getattr(self.puzzle_embedding, "local_rows", None)
        if local_rows is None or local_rows.grad is None:
            return
        self._pending_grads.append(local_rows.grad.detach().clone())
        self._pending_ids.append(self.puzzle_embedding.local_ids.detach().to(torch.long).clone())
        local_rows.grad = None

    def zero_grad(self, set_to_none: bool = True) -> None:
        self._pending_grads.clear()
        self._pending_ids.clear()
        local_rows = getattr(self.puzzle_embedding, "local_rows", None)
        if local_rows is not None:
            local_rows.grad = None

    @torch.no_grad()
    def step(self, closure=None):
        (table,) = self.param_groups[0]["params"]
        if self._pending_grads:
            grads = torch.cat(self._pending_grads)
            ids = torch.cat(self._pending_ids)
        else:  # a rank without rows still has to join the collective below
            grads = table.new_zeros(0, table.shape[1])
            ids = torch.zeros(0, dtype=torch.long, device=table.device)
        grads, ids = _all_gather_rows(grads.to(table.dtype), ids)
        self.zero_grad()
        if ids.numel() == 0:
            return None
        unique_ids, inverse = torch.unique(ids, return_inverse=True)
        summed = torch.zeros(len(unique_ids), table.shape[1], dtype=table.dtype, device=table.device)
        summed.index_add_(0, inverse, grads)
        group = self.param_groups[0]
        rows = table[unique_ids] * (1.0 - group["lr"] * group["weight_decay"]) - group["lr"] * torch.sign(summed)
        table[unique_ids] = rows
        return None


# LoRA targets: the projections every supervision step calls as modules. Not the token-mixing MLP of
# `token_mixer="mlp"` models (`token_mlp`): it multiplies by its weights directly, so an adapter there
# would change nothing until merged. `peft.LoraConfig(target_modules=LORA_TARGET_MODULES, ...)`.
LORA_TARGET_MODULES = ["qkv_proj", "o_proj", "mlp.gate_up_proj", "mlp.down_proj"]


def puzzle_embedding_optimizer(model: nn.Module, lr: float = 1e-2,
                               weight_decay: float = 0.1) -> SparsePuzzleEmbeddingSignSGD | None:
    """The sparse sign-SGD that trains ``model``'s puzzle-embedding table (None when it has none).

    The table is a buffer, so an optimizer over ``model.parameters()`` (AdamW, the transformers
    ``Trainer``, PEFT) never updates it. Use this one beside it, with the official defaults
    (``puzzle_emb_lr`` 1e-2, weight decay 0.1)::

        optimizer = torch.optim.AdamW(p for p in model.parameters() if p.requires_grad)
        table_optimizer = puzzle_embedding_optimizer(model)
        loss.backward(); table_optimizer.collect()      # once per backward
        optimizer.step(); table_optimizer.step()
        optimizer.zero_grad(); table_optimizer.zero_grad()

    ``model`` may be a PEFT model: with ``modules_to_save=["puzzle_embedding"]`` the trained copy (the one
    its forward uses, and the one the adapter saves) is the table this optimizer updates.
    """
    from modeling_trm.modeling_trm import TRMPuzzleEmbedding

    tables = [module for name, module in model.named_modules()
              if isinstance(module, TRMPuzzleEmbedding) and ".original_module" not in f".{name}"]
    if not tables or tables[0].weight.numel() == 0:
        return None
    if len(tables) > 1:
        raise ValueError(f"{len(tables)} puzzle-embedding tables in the model; build one optimizer per table "
                         "with SparsePuzzleEmbeddingSignSGD(table_module)")
    return SparsePuzzleEmbeddingSignSGD(tables[0], lr=lr, weight_decay=weight_decay)


def _all_gather_rows(grads: torch.Tensor, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Concatenate (grads, ids) of every rank, in rank order (ranks may hold different counts)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return grads, ids
    world_size = dist.get_world_size()
    count = torch.tensor([ids.numel()], device=ids.device)
    counts = [torch.zeros_like(count) for _ in range(world_size)]
    dist.all_gather(counts, count)
    counts = [int(c.item()) for c in counts]
    most = max(counts)
    padded_grads = grads.new_zeros(most, grads.shape[1])
    padded_grads[: len(grads)] = grads
    padded_ids = ids.new_zeros(most)
    padded_ids[: len(ids)] = ids
    all_grads = [torch.empty_like(padded_grads) for _ in range(world_size)]
    all_ids = [torch.empty_like(padded_ids) for _ in range(world_size)]
    dist.all_gather(all_grads, padded_grads)
    dist.all_gather(all_ids, padded_ids)
    grads = torch.cat([g[:c] for g, c in zip(all_grads, counts)])
    ids = torch.cat([i[:c] for i, c in zip(all_ids, counts)])
    return grads, ids


class EMA:
    """Exponential moving average of the trainable parameters (docs/numerics.md#ema).

    ``shadow ← (1 − decay)·θ + decay·shadow`` after every optimizer step, starting from the initial
    parameters (no warm-up, no bias correction). Buffers — the puzzle table, the initial latents —
    are not averaged: the EMA model evaluates with the live buffers.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999):
        self.decay = decay
        self.names = [name for name, p in model.named_parameters() if p.requires_grad]
        self.shadow = [p.detach().clone() for name, p in model.named_parameters() if p.requires_grad]

    def _params(self, model: nn.Module) -> list[torch.Tensor]:
        named = dict(model.named_parameters())
        return [named[name] for name in self.names]

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        torch._foreach_lerp_(self.shadow, [p.detach() for p in self._params(model)], 1.0 - self.decay)

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        """Overwrite the model's parameters with the averaged ones."""
        copy_tensors_(self._params(model), self.shadow)

    @contextlib.contextmanager
    def applied_to(self, model: nn.Module):
        """``with ema.applied_to(model):`` the model holds the averaged parameters inside the block and its
        own (live) ones again after it, also when the block raises: evaluation during training."""
        params = self._params(model)
        live = [p.detach().clone() for p in params]
        copy_tensors_(params, self.shadow)
        try:
            yield model
        finally:
            copy_tensors_(params, live)

    def state_dict(self) -> dict:
        """Full tensors: under FSDP the shadow is sharded like the parameters, and this gathers it
        (every rank calls it when Accelerate saves a checkpoint)."""
        shadow = {name: _full_tensor(tensor) for name, tensor in zip(self.names, self.shadow, strict=True)}
        return {"decay": self.decay, "shadow": shadow}

    def load_state_dict(self, state_dict: dict) -> None:
        missing = set(self.names) - set(state_dict["shadow"])
        if missing:
            raise KeyError(f"EMA state has no entry for parameters {sorted(missing)}")
        self.decay = state_dict["decay"]
        for shadow, name in zip(self.shadow, self.names):
            shadow.copy_(_like(state_dict["shadow"][name], shadow))


@torch.no_grad()
def copy_tensors_(targets: list[torch.Tensor], sources: list[torch.Tensor]) -> None:
    """``target.copy_(source)`` for each pair. One copy per tensor rather than ``torch._foreach_copy_``,
    which has no sharding rule for FSDP2's sharded parameters (DTensors)."""
    for target, source in zip(targets, sources, strict=True):
        target.copy_(source)


def _full_tensor(tensor: torch.Tensor) -> torch.Tensor:
    """The whole tensor of an FSDP2-sharded DTensor (a collective), any other tensor as it is."""
    from torch.distributed.tensor import DTensor

    return tensor.full_tensor() if isinstance(tensor, DTensor) else tensor


def _like(full: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``full`` laid out like ``target``: sharded the same way when ``target`` is a DTensor."""
    from torch.distributed.tensor import DTensor, distribute_tensor

    if isinstance(target, DTensor):
        return distribute_tensor(full.to(target.device), target.device_mesh, target.placements)
    return full
