"""Tiny Recursive Model (TRM, Jolicoeur-Martineau 2025, arXiv 2510.04871) as a transformers model.

One small network ``f`` refines an answer ``y`` and a latent ``z``: each supervision step runs T
recursions of (n latent updates ``z = f(z, y + x)``, one answer update ``y = f(y, z)``), only the
last recursion with gradient. A forward call is one supervision step (one ACT step of the official
code); the recursion state is carried from call to call in a `TRMState`, like ``past_key_values``.

Numerics follow the official implementation (``SamsungSAILMontreal/TinyRecursiveModels``) exactly;
``docs/numerics.md`` states every rule, why, and the official function and test it is pinned by.
Shapes: B batch, S = seq_len task tokens, P puzzle-prefix positions, N = S + P, D hidden, V vocab.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.utils import ModelOutput

from .configuration_trm import TRMConfig, swiglu_intermediate_size
from .processing_trm import IGNORE_LABEL_ID
from .solving_trm import PuzzleSolverMixin

FORWARD_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


# ---------------------------------------------------------------------------------------------
# Functions of the paper
# ---------------------------------------------------------------------------------------------


def trunc_normal_init_(tensor: torch.Tensor, std: float = 1.0, lower: float = -2.0, upper: float = 2.0):
    """JAX-style truncated normal: ``std`` is the std of the *truncated* distribution
    (docs/numerics.md#initialisation),
    unlike ``torch.nn.init.trunc_normal_``. Leaves tensors loaded by ``from_pretrained`` alone."""
    if getattr(tensor, "_is_hf_initialized", False):
        return tensor
    with torch.no_grad():
        if std == 0:
            return tensor.zero_()
        sqrt2 = math.sqrt(2)
        a, b = math.erf(lower / sqrt2), math.erf(upper / sqrt2)
        z = (b - a) / 2
        pdf_lower = math.exp(-0.5 * lower**2) / math.sqrt(2 * math.pi)
        pdf_upper = math.exp(-0.5 * upper**2) / math.sqrt(2 * math.pi)
        truncated_var = 1 - (upper * pdf_upper - lower * pdf_lower) / z - ((pdf_upper - pdf_lower) / z) ** 2
        scale = std / math.sqrt(truncated_var)
        tensor.uniform_(a, b).erfinv_().mul_(sqrt2 * scale).clip_(lower * scale, upper * scale)
    return tensor


def log_stablemax(logits: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """log of stablemax: s(x) = x + 1 for x >= 0, 1 / (1 - x) for x < 0, normalised
    (docs/numerics.md#stablemax)."""
    s = torch.where(logits < 0, 1 / (1 - logits + 1e-30), logits + 1)
    return torch.log(s / s.sum(dim=dim, keepdim=True))


def stablemax_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, ignore_index: int = IGNORE_LABEL_ID):
    """Per-token stablemax cross entropy in float64; 0 where ``labels == ignore_index``.

    logits [..., V], labels [...] -> [...] float64.
    """
    logprobs = log_stablemax(logits.to(torch.float64))
    valid = labels != ignore_index
    picked = logprobs.gather(-1, torch.where(valid, labels, 0).long().unsqueeze(-1)).squeeze(-1)
    return -torch.where(valid, picked, 0)


def rms_norm(hidden_states: torch.Tensor, eps: float, dim: int = -1) -> torch.Tensor:
    """RMSNorm without a gain over axis ``dim``, computed in float32 (docs/numerics.md#post-norm-blocks)."""
    dtype = hidden_states.dtype
    hidden_states = hidden_states.float()
    hidden_states = hidden_states * torch.rsqrt(hidden_states.square().mean(dim, keepdim=True) + eps)
    return hidden_states.to(dtype)


def _cast(tensor: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return tensor if tensor.dtype == dtype else tensor.to(dtype)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def apply_rotary_pos_emb(query, key, cos, sin):
    """Rotate-half RoPE in float32. query/key [B, H, N, hd], cos/sin [N, hd]."""
    dtype = query.dtype
    query, key = _cast(query, cos.dtype), _cast(key, cos.dtype)
    query = query * cos + rotate_half(query) * sin
    key = key * cos + rotate_half(key) * sin
    return _cast(query, dtype), _cast(key, dtype)


def eager_attention_forward(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
    """Plain softmax attention, [B, H, N, hd] -> [B, N, H, hd] (the transformers interface)."""
    weights = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        weights = weights + attention_mask
    weights = F.softmax(weights, dim=-1, dtype=torch.float32).to(query.dtype)
    output = torch.matmul(weights, value).transpose(1, 2).contiguous()
    return output, weights


# ---------------------------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------------------------


class CastedLinear(nn.Linear):
    """Linear layer with float32 master weights cast to the activation dtype at use
    (docs/numerics.md#precision)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = None if self.bias is None else _cast(self.bias, x.dtype)
        return F.linear(x, _cast(self.weight, x.dtype), bias)


class TRMRotaryEmbedding(nn.Module):
    """cos/sin tables [N, head_dim] for positions 0..N-1 (prefix included), float32.

    The tables are non-persistent buffers: ``TRMPreTrainedModel._init_weights`` recomputes them, which is
    what makes them correct after transformers' meta-device loading."""

    def __init__(self, head_dim: int, max_positions: int, theta: float):
        super().__init__()
        self.head_dim, self.max_positions, self.theta = head_dim, max_positions, theta
        self.register_buffer("cos", torch.empty(max_positions, head_dim), persistent=False)
        self.register_buffer("sin", torch.empty(max_positions, head_dim), persistent=False)
        self.reset_tables()

    @torch.no_grad()
    def reset_tables(self) -> None:
        device = self.cos.device
        inv_freq = 1.0 / (self.theta ** (torch.arange(0, self.head_dim, 2, dtype=torch.float32, device=device) / self.head_dim))
        angles = torch.outer(torch.arange(self.max_positions, dtype=torch.float32, device=device), inv_freq)
        angles = torch.cat((angles, angles), dim=-1)
        self.cos.copy_(angles.cos())
        self.sin.copy_(angles.sin())

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.cos, self.sin


class TRMAttention(nn.Module):
    """Bidirectional multi-head self-attention with a fused qkv projection (no bias, no mask)."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.num_heads, self.head_dim = config.num_attention_heads, config.head_dim
        self.scaling = self.head_dim**-0.5
        self.is_causal = False
        self.num_key_value_groups = 1
        # rows: [q heads | k heads | v heads], each head_dim contiguous (official layout)
        self.qkv_proj = CastedLinear(config.hidden_size, 3 * self.num_heads * self.head_dim, bias=False)
        self.o_proj = CastedLinear(self.num_heads * self.head_dim, config.hidden_size, bias=False)

    def forward(self, hidden_states: torch.Tensor, position_embeddings=None) -> torch.Tensor:
        batch, length, _ = hidden_states.shape
        qkv = self.qkv_proj(hidden_states).view(batch, length, 3, self.num_heads, self.head_dim)
        query, key, value = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # 3 x [B, H, N, hd]
        if position_embeddings is not None:
            query, key = apply_rotary_pos_emb(query, key, *position_embeddings)
        attention: Callable = ALL_ATTENTION_FUNCTIONS.get_interface(
            self.config._attn_implementation, eager_attention_forward
        )
        output, _ = attention(self, query, key, value, None, scaling=self.scaling, dropout=0.0, is_causal=False)
        return self.o_proj(output.reshape(batch, length, -1))  # [B, N, H*hd] -> [B, N, D]


class TRMSwiGLU(nn.Module):
    """down(silu(gate(x)) * up(x)) with fused [gate | up] projection and the official width rounding."""

    def __init__(self, width: int, expansion: float):
        super().__init__()
        intermediate = swiglu_intermediate_size(width, expansion)
        self.gate_up_proj = CastedLinear(width, 2 * intermediate, bias=False)
        self.down_proj = CastedLinear(intermediate, width, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.gate_up_proj(x).chunk(2, dim=-1)
        return self.down_proj(F.silu(gate) * up)

    def mix_positions(self, x: torch.Tensor) -> torch.Tensor:
        """The same MLP applied along axis 1 of x [B, N, D] (weights from the left): equal to
        ``forward(x.transpose(1, 2)).transpose(1, 2)`` without materialising transposes."""
        gate, up = _left_matmul(self.gate_up_proj.weight, x).chunk(2, dim=1)  # [B, I, D] each
        return _left_matmul(self.down_proj.weight, F.silu(gate) * up)  # [B, N, D]


def _left_matmul(weight: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """weight [M, K] @ x [B, K, D] -> [B, M, D] as one batched GEMM on x as it lies in memory.

    ``torch.matmul`` would fold x^T into one [B*D, K] matrix whenever the weight requires grad, which
    copies x on every call (a quarter of the MLP model's eval time, half of its training block). The
    price of ``bmm``: the weight's gradient is summed over the batch from a [B, M, K] tensor, small
    here (M, K are the token-mixer's widths)."""
    return torch.bmm(_cast(weight, x.dtype).expand(x.shape[0], -1, -1), x)


class TRMBlock(nn.Module):
    """Post-norm block: h = norm(h + mix(h)); h = norm(h + mlp(h)). RMSNorm has no gain."""

    def __init__(self, config):
        super().__init__()
        self.eps = config.rms_norm_eps
        if config.token_mixer == "mlp":
            # mixes positions per channel: its width is N, fixed by the weights
            self.token_mlp = TRMSwiGLU(config.total_seq_len, config.expansion)
        else:
            self.self_attn = TRMAttention(config)
        self.mlp = TRMSwiGLU(config.hidden_size, config.expansion)

    def forward(self, hidden_states: torch.Tensor, position_embeddings=None) -> torch.Tensor:
        if hasattr(self, "token_mlp"):
            # mixes positions per channel; its residual norm also runs over *positions*
            # (docs/numerics.md#post-norm-blocks)
            hidden_states = rms_norm(hidden_states + self.token_mlp.mix_positions(hidden_states), self.eps, dim=1)
        else:
            hidden_states = rms_norm(hidden_states + self.self_attn(hidden_states, position_embeddings), self.eps)
        return rms_norm(hidden_states + self.mlp(hidden_states), self.eps)


class TRMReasoningNetwork(nn.Module):
    """f(h, injection) = blocks(h + injection): the injection is added once, before the first block."""

    def __init__(self, config, num_layers: int):
        super().__init__()
        self.layers = nn.ModuleList(TRMBlock(config) for _ in range(num_layers))

    def forward(self, hidden_states, injection=None, position_embeddings=None) -> torch.Tensor:
        if injection is not None:
            hidden_states = hidden_states + injection
        for layer in self.layers:
            hidden_states = layer(hidden_states, position_embeddings)
        return hidden_states


class TRMPuzzleEmbedding(nn.Module):
    """Per-puzzle learned vectors, trained by sparse sign-SGD outside the ordinary optimizer.

    ``weight`` [num_puzzle_identifiers, dim] is a persistent *buffer*, so AdamATan2, EMA and DDP never
    see it. A training forward with grad gathers the batch's rows into the leaf ``local_rows``
    (requires grad) and records ``local_ids``; after ``backward()`` the sparse optimizer reads
    ``local_rows.grad`` and ``local_ids`` (docs/numerics.md#sign-sgd)."""

    def __init__(self, num_embeddings: int, dim: int):
        super().__init__()
        self.register_buffer("weight", torch.zeros(num_embeddings, dim))
        self.local_rows: torch.Tensor | None = None
        self.local_ids: torch.Tensor | None = None
        self._warned_untrained = False

    def forward(self, puzzle_ids: torch.Tensor) -> torch.Tensor:
        if self.training and torch.is_grad_enabled():
            return self._rows_for_sign_sgd(puzzle_ids)
        return self.weight[puzzle_ids]

    # A fresh autograd leaf per step cannot live inside a compiled graph: under torch.compile this call
    # runs eagerly (the training step's only graph break); evaluation compiles whole.
    @torch.compiler.disable
    def _rows_for_sign_sgd(self, puzzle_ids: torch.Tensor) -> torch.Tensor:
        previous = self.local_rows
        if previous is not None and previous.grad is not None and not self._warned_untrained:
            # The last step's row gradients were never collected: an optimizer over model.parameters()
            # (a plain AdamW loop, the transformers Trainer, PEFT) trains everything but this table.
            self._warned_untrained = True
            warnings.warn(
                "The puzzle-embedding table (`puzzle_embedding.weight`) is a buffer, not a parameter: an optimizer "
                "built over model.parameters() never trains it, and its row gradients were just dropped. Train it "
                "with `training.optim.puzzle_embedding_optimizer(model)` (sparse sign-SGD: call `.collect()` after "
                "each backward, then `.step()`), as `trm train` does; see docs/fine-tuning.md. To keep the table "
                "as it is, run the forward with `model.puzzle_embedding.eval()`.",
                UserWarning, stacklevel=3,
            )
        self.local_ids = puzzle_ids.detach()
        self.local_rows = self.weight[puzzle_ids].detach().requires_grad_()
        return self.local_rows


# ---------------------------------------------------------------------------------------------
# Outputs and state
# ---------------------------------------------------------------------------------------------


@dataclass
class TRMState:
    """What one supervision step hands to the next (the official ACT carry), all detached.

    answer_state [B, N, D] (official z_H = y), latent_state [B, N, D] (z_L = z), steps int32 [B]
    (supervision steps done in each slot), halted bool [B] (slot finished: the next call loads a new
    row into it), and the data each slot holds: input_ids [B, S], puzzle_ids [B], labels [B, S] | None.
    """

    answer_state: torch.Tensor
    latent_state: torch.Tensor
    steps: torch.Tensor
    halted: torch.Tensor
    input_ids: torch.Tensor
    puzzle_ids: torch.Tensor
    labels: torch.Tensor | None = None


@dataclass
class TRMOutput(ModelOutput):
    """One supervision step.

    loss: (total loss summed over the batch) / B, the quantity to ``backward()``; only with labels.
    logits [B, S, V]; halt_logits, continue_logits [B] float32; target_continue [B] (Q-learning target
    when ``act_continue`` and training); state: the new `TRMState`; metrics: float64 0-dim raw sums
    of the official loss head (lm_loss, q_halt_loss, q_continue_loss, count, accuracy,
    exact_accuracy, q_halt_accuracy, steps); divide by ``count`` for eval-style means.
    """

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    halt_logits: torch.Tensor | None = None
    continue_logits: torch.Tensor | None = None
    target_continue: torch.Tensor | None = None
    state: TRMState | None = None
    metrics: dict[str, torch.Tensor] | None = None


# ---------------------------------------------------------------------------------------------
# transformers plumbing (TRM and HRM): config class, attention backends, initialisation
# ---------------------------------------------------------------------------------------------


class TRMPreTrainedModel(PreTrainedModel):
    """The `PreTrainedModel` base of TRM and HRM: config class, attention backends and the official
    initialisation. The models add `ACTSupervisionMixin` (what a forward call does) and their recursion."""

    config_class = TRMConfig
    base_model_prefix = "trm"
    main_input_name = "input_ids"
    _no_split_modules = ["TRMBlock"]
    _supports_sdpa = True
    _supports_attention_backend = True

    def _init_weights(self, module: nn.Module) -> None:
        """Official initialisation (docs/numerics.md#initialisation): LeCun truncated normal everywhere,
        Q head 0 / -5."""
        if module is getattr(self, "q_head", None):
            init.zeros_(module.weight)
            init.constant_(module.bias, -5.0)  # sigmoid(-5) ~ 0.007: "do not halt" at the start
        elif isinstance(module, nn.Linear):
            trunc_normal_init_(module.weight, std=module.in_features**-0.5)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):  # tokens and learned positions: sqrt(D) * E has unit scale
            trunc_normal_init_(module.weight, std=module.embedding_dim**-0.5)
        elif isinstance(module, TRMPuzzleEmbedding):
            init.zeros_(module.weight)
        elif isinstance(module, TRMRotaryEmbedding):
            module.reset_tables()
        elif isinstance(module, TRMPreTrainedModel):
            for name in ("answer_init", "latent_init"):
                buffer = getattr(module, name)
                if not getattr(buffer, "_is_hf_initialized", False):
                    trunc_normal_init_(buffer, std=1.0)
                    # official checkpoints create them in the forward dtype: keep exactly those values
                    init.copy_(buffer, buffer.to(module.forward_dtype).float())


# ---------------------------------------------------------------------------------------------
# The deep-supervision (ACT) step shared by TRM and HRM: embeddings, heads, state, halting, loss
# ---------------------------------------------------------------------------------------------


class ACTSupervisionMixin:
    """One deep-supervision step per forward call, as the official ACT wrapper and loss head run it
    (docs/numerics.md#supervision-step): the input embedding, the output and halting heads, the carried
    `TRMState` with refills of halted slots, halting with exploration, the Q-learning continue target
    and the loss head. Shared by TRM and HRM, which differ only in their networks and in
    ``recursion(input_embeddings, answer, latent) -> (answer, latent)``: what one supervision step does
    to the state. A model builds its embeddings and heads with `_build_io_modules` in ``__init__``."""

    def _build_io_modules(self, config) -> None:
        """Input embeddings, initial states and heads (identical in TRM and HRM)."""
        self.forward_dtype = FORWARD_DTYPES[config.forward_dtype]
        self.embed_scale = math.sqrt(config.hidden_size)
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.puzzle_embedding = (
            TRMPuzzleEmbedding(config.num_puzzle_identifiers, config.puzzle_embedding_dim)
            if config.puzzle_embedding_dim > 0 else None
        )
        self.embed_positions = (
            nn.Embedding(config.total_seq_len, config.hidden_size) if config.position_encoding == "learned" else None
        )
        self.rotary_emb = (
            TRMRotaryEmbedding(config.head_dim, config.total_seq_len, config.rope_theta) if config.uses_rope else None
        )
        # Fixed random initial answer / latent (official H_init / L_init): buffers, never trained.
        self.register_buffer("answer_init", torch.empty(config.hidden_size))
        self.register_buffer("latent_init", torch.empty(config.hidden_size))
        self.lm_head = CastedLinear(config.hidden_size, config.vocab_size, bias=False)
        self.q_head = CastedLinear(config.hidden_size, 2, bias=True)  # [halt, continue] logits

    def num_puzzle_embedding_parameters(self) -> int:
        """Entries of the puzzle-embedding table (a buffer, so not in ``num_parameters()``)."""
        return 0 if self.puzzle_embedding is None else self.puzzle_embedding.weight.numel()

    # -- one supervision step ------------------------------------------------------------------

    def embed_inputs(self, input_ids: torch.Tensor, puzzle_ids: torch.Tensor) -> torch.Tensor:
        """x = sqrt(D) * [puzzle prefix ; token embeddings] (+ learned positions): [B, S] -> [B, N, D]."""
        embedding = _cast(self.embed_tokens(input_ids), self.forward_dtype)  # [B, S, D]
        if self.puzzle_embedding is not None:
            prefix = _cast(self.puzzle_embedding(puzzle_ids), self.forward_dtype)  # [B, puzzle_dim]
            pad = self.config.puzzle_prefix_length * self.config.hidden_size - prefix.shape[-1]
            if pad > 0:
                prefix = F.pad(prefix, (0, pad))
            prefix = prefix.view(-1, self.config.puzzle_prefix_length, self.config.hidden_size)  # [B, P, D]
            embedding = torch.cat((prefix, embedding), dim=1)  # [B, N, D]
        if self.embed_positions is not None:
            embedding = 0.707106781 * (embedding + _cast(self.embed_positions.weight, self.forward_dtype))
        return self.embed_scale * embedding

    def heads(self, answer: torch.Tensor):
        """logits [B, S, V] from the task positions of y; halt/continue logits [B] from y's position 0."""
        logits = self.lm_head(answer[:, self.config.puzzle_prefix_length :])
        halt_logits, continue_logits = self.q_head(answer[:, 0]).float().unbind(-1)
        return logits, halt_logits, continue_logits

    def wants_to_halt(self, halt_logits: torch.Tensor, continue_logits: torch.Tensor,
                      confidence: float = 0.5) -> torch.BoolTensor:
        """The halting rule, without exploration (docs/numerics.md#halting-and-exploration): does each slot
        want to stop after this step? The margin is the halt logit (minus the continue logit with
        ``act_continue``); it must exceed ``logit(confidence)``, i.e. ``sigmoid(margin) > confidence``.
        At the default 0.5 the threshold is exactly 0, the training rule (``halt > 0``, or ``halt > continue``:
        ``a - b > 0`` and ``a > b`` agree on every float). Training halts with it (plus exploration), adaptive
        `solve` with ``SolveConfig.halt_confidence``; [B] logits -> [B] bool."""
        threshold = math.log(confidence / (1.0 - confidence))
        margin = halt_logits - continue_logits if self.config.act_continue else halt_logits
        return margin > threshold

    def initial_state(self, input_ids, puzzle_ids, labels=None) -> TRMState:
        """A fresh state: every slot halted, so the next call resets every slot and loads the batch."""
        batch = input_ids.shape[0]
        shape = (batch, self.config.total_seq_len, self.config.hidden_size)
        answer = _cast(self.answer_init, self.forward_dtype).expand(shape)
        latent = _cast(self.latent_init, self.forward_dtype).expand(shape)
        return TRMState(
            answer_state=answer, latent_state=latent,
            steps=torch.zeros(batch, dtype=torch.int32, device=input_ids.device),
            halted=torch.ones(batch, dtype=torch.bool, device=input_ids.device),
            input_ids=input_ids, puzzle_ids=puzzle_ids, labels=labels,
        )

    def forward(
        self,
        input_ids: torch.LongTensor,
        puzzle_ids: torch.LongTensor | None = None,
        labels: torch.LongTensor | None = None,
        state: TRMState | None = None,
        return_dict: bool = True,
    ) -> TRMOutput | tuple:
        """One supervision step (one official ACT call) for every slot of the batch.

        Slots whose ``state.halted`` is True (all of them when ``state`` is None) restart from the
        initial answer/latent with the same-index row of ``input_ids`` / ``puzzle_ids`` / ``labels``;
        the other slots continue with their own data and ignore that row. In training mode (and
        ``max_supervision_steps > 1``) a slot halts when the Q head says so, subject to exploration;
        otherwise only at ``max_supervision_steps``.
        """
        puzzle_ids = self._check_inputs(input_ids, puzzle_ids, labels, state)
        output = self._supervision_step(input_ids, puzzle_ids, labels, state)
        return output if return_dict else output.to_tuple()

    def _supervision_step(self, input_ids, puzzle_ids, labels=None, state=None) -> TRMOutput:
        """`forward` on inputs already validated (the step `solve` compiles: it checks its inputs once)."""
        fresh = self.initial_state(input_ids, puzzle_ids, labels)
        if state is None:
            state = fresh
        else:
            state = self._refill_halted_slots(state, fresh)

        input_embeddings = self.embed_inputs(state.input_ids, state.puzzle_ids)  # [B, N, D]
        answer, latent = self.recursion(input_embeddings, state.answer_state, state.latent_state)
        logits, halt_logits, continue_logits = self.heads(answer)

        with torch.no_grad():
            steps = state.steps + 1
            is_last_step = steps >= self.config.max_supervision_steps
            halted, target_continue = is_last_step, None
            if self.training and self.config.max_supervision_steps > 1:
                halted = halted | self.wants_to_halt(halt_logits, continue_logits)
                # Exploration only delays halting: a random minimum of 2..N_sup steps
                # (docs/numerics.md#halting-and-exploration).
                explore = torch.rand_like(halt_logits) < self.config.halt_exploration_prob
                min_halt_steps = explore * torch.randint_like(steps, low=2, high=self.config.max_supervision_steps + 1)
                halted = halted & (steps >= min_halt_steps)
                if self.config.act_continue:
                    # Q-learning target for the continue logit: the value of the next step, from an
                    # extra no-grad step on the new state (as HRM does, docs/numerics.md#q-learning-target).
                    next_answer, _ = self.recursion(input_embeddings.detach(), answer.detach(), latent.detach())
                    _, next_halt, next_continue = self.heads(next_answer)
                    target_continue = torch.sigmoid(
                        torch.where(is_last_step, next_halt, torch.maximum(next_halt, next_continue))
                    )

        new_state = TRMState(
            answer_state=answer.detach(), latent_state=latent.detach(), steps=steps, halted=halted,
            input_ids=state.input_ids, puzzle_ids=state.puzzle_ids, labels=state.labels,
        )
        loss = metrics = None
        if state.labels is not None:
            loss, metrics = self._act_loss(
                logits, state.labels, halt_logits, continue_logits, target_continue, halted, steps
            )
        return TRMOutput(
            loss=loss, logits=logits, halt_logits=halt_logits, continue_logits=continue_logits,
            target_continue=target_continue, state=new_state, metrics=metrics,
        )

    @staticmethod
    def _refill_halted_slots(state: TRMState, fresh: TRMState) -> TRMState:
        """Halted slots take the fresh row and initial states; the others keep theirs
        (docs/numerics.md#supervision-step)."""
        reset = state.halted
        # Eagerly, skip the copies when every slot restarts or none does. Under torch.compile these
        # data-dependent branches would split the graph, so the selection below always runs: same values.
        shortcuts = not torch.compiler.is_compiling()
        if shortcuts and bool(reset.all()):
            return fresh
        if fresh.labels is not None and state.labels is None:
            raise ValueError(
                "labels were given, but the state holds no labels for the slots that continue; pass labels "
                "from the first step on (or start from state=None)"
            )
        if shortcuts and not bool(reset.any()):  # every slot continues (`solve`, eval after step 1)
            return state

        def pick(new, old):
            return torch.where(reset.view(-1, *([1] * (new.ndim - 1))), new, old)

        return TRMState(
            answer_state=pick(fresh.answer_state, state.answer_state),
            latent_state=pick(fresh.latent_state, state.latent_state),
            steps=torch.where(reset, 0, state.steps),
            halted=reset,
            input_ids=pick(fresh.input_ids, state.input_ids),
            puzzle_ids=pick(fresh.puzzle_ids, state.puzzle_ids),
            labels=None if fresh.labels is None else pick(fresh.labels, state.labels),
        )

    def _check_inputs(self, input_ids, puzzle_ids, labels, state) -> torch.Tensor:
        config = self.config
        if input_ids.ndim != 2 or input_ids.shape[1] != config.seq_len or input_ids.shape[0] == 0:
            raise ValueError(
                f"input_ids must have shape [batch >= 1, seq_len={config.seq_len}], got {tuple(input_ids.shape)}"
            )
        for name, ids in (("input_ids", input_ids), ("puzzle_ids", puzzle_ids), ("labels", labels)):
            if ids is not None and (ids.dtype.is_floating_point or ids.dtype.is_complex or ids.dtype == torch.bool):
                raise ValueError(f"{name} must be integer token ids, got dtype {ids.dtype}")
        _check_range("input_ids", input_ids, config.vocab_size, "vocab_size")
        batch = input_ids.shape[0]
        if puzzle_ids is None:
            puzzle_ids = torch.zeros(batch, dtype=torch.long, device=input_ids.device)
        elif puzzle_ids.shape != (batch,):
            raise ValueError(f"puzzle_ids must have shape [batch={batch}], got {tuple(puzzle_ids.shape)}")
        else:
            _check_range("puzzle_ids", puzzle_ids, config.num_puzzle_identifiers, "num_puzzle_identifiers")
        if labels is not None:
            if labels.shape != input_ids.shape:
                raise ValueError(f"labels must have the shape of input_ids {tuple(input_ids.shape)}, got {tuple(labels.shape)}")
            bad = (labels != IGNORE_LABEL_ID) & ((labels < 0) | (labels >= config.vocab_size))
            if not torch.compiler.is_compiling() and bool(bad.any()):
                row, col = (int(i) for i in bad.nonzero()[0])
                raise ValueError(
                    f"labels[{row}, {col}] = {int(labels[row, col])} is neither a token id in "
                    f"[0, vocab_size={config.vocab_size}) nor the ignore id {IGNORE_LABEL_ID}"
                )
        if state is not None and state.halted.shape[0] != batch:
            raise ValueError(f"the batch has {batch} rows but the state has {state.halted.shape[0]} slots")
        return puzzle_ids

    @staticmethod
    def _act_loss(logits, labels, halt_logits, continue_logits, target_continue, halted, steps):
        """The official ``ACTLossHead`` (docs/numerics.md#loss-head): returns (total / B, raw float64
        metric sums)."""
        mask = labels != IGNORE_LABEL_ID  # [B, S]
        loss_counts = mask.sum(-1)
        loss_divisor = loss_counts.clamp_min(1).unsqueeze(-1)  # per-sequence mean over valid tokens
        with torch.no_grad():
            is_correct = mask & (logits.argmax(-1) == labels)
            seq_is_correct = is_correct.sum(-1) == loss_counts  # no valid token counts as correct
            valid = halted & (loss_counts > 0)  # metrics only over finished, labelled slots
            metrics = {
                "count": valid.sum(),
                "accuracy": torch.where(valid, (is_correct.double() / loss_divisor).sum(-1), 0).sum(),
                "exact_accuracy": (valid & seq_is_correct).sum(),
                "q_halt_accuracy": (valid & ((halt_logits >= 0) == seq_is_correct)).sum(),
                "steps": torch.where(valid, steps, 0).sum(),
            }
        lm_loss = (stablemax_cross_entropy(logits, labels) / loss_divisor).sum()
        q_halt_loss = F.binary_cross_entropy_with_logits(
            halt_logits.double(), seq_is_correct.double(), reduction="sum"
        )
        q_continue_loss = torch.zeros((), dtype=torch.float64, device=logits.device)
        if target_continue is not None:
            q_continue_loss = F.binary_cross_entropy_with_logits(
                continue_logits.double(), target_continue.double(), reduction="sum"
            )
        total = lm_loss + 0.5 * (q_halt_loss + q_continue_loss)
        metrics.update(lm_loss=lm_loss, q_halt_loss=q_halt_loss, q_continue_loss=q_continue_loss)
        metrics = {key: value.detach().to(torch.float64) for key, value in metrics.items()}
        return total / labels.shape[0], metrics


def _check_range(name: str, ids: torch.Tensor, limit: int, limit_name: str) -> None:
    if torch.compiler.is_compiling():  # a data-dependent check would split the graph: compiled calls skip it
        return
    bad = (ids < 0) | (ids >= limit)
    if bool(bad.any()):
        index = tuple(int(i) for i in bad.nonzero()[0])
        where = ", ".join(map(str, index))
        raise ValueError(f"{name}[{where}] = {int(ids[index])} is outside [0, {limit_name}={limit})")


# ---------------------------------------------------------------------------------------------
# TRM
# ---------------------------------------------------------------------------------------------


class TRMForPuzzleSolving(PuzzleSolverMixin, ACTSupervisionMixin, TRMPreTrainedModel):
    """Tiny Recursive Model: one network ``f`` (``self.network``) refines the answer y and latent z.

    ``forward`` = one supervision step (see `ACTSupervisionMixin.forward`); ``solve`` runs them to the end.
    """

    def __init__(self, config: TRMConfig):
        super().__init__(config)
        self._build_io_modules(config)
        self.network = TRMReasoningNetwork(config, config.num_layers)  # f, used for both updates
        self.post_init()

    def recursion(self, input_embeddings, answer, latent):
        """T recursions of (n latent updates, one answer update); [B, N, D] each."""
        T, n = self.config.num_recursions, self.config.num_latent_updates
        rope = None if self.rotary_emb is None else self.rotary_emb()
        update = self._single_latent_recursion if self.config.single_latent else self._latent_recursion
        # The first T-1 recursions improve (y, z) without a graph: memory does not grow with T, and the
        # paper's deep supervision only needs gradient through the last recursion.
        with torch.no_grad():
            for _ in range(T - 1):
                answer, latent = update(input_embeddings, answer, latent, n, rope)
            if self.config.gradient_mode == "one_step":
                # ablation (HRM's 1-step gradient): also the first n-1 latent updates of the last recursion
                latent = update(input_embeddings, answer, latent, n - 1, rope, update_answer=False)[1]
                n = 1
        # The last recursion with gradient: backprop through its n + 1 network calls.
        return update(input_embeddings, answer, latent, n, rope)

    def _latent_recursion(self, x, answer, latent, n, rope, update_answer=True):
        for _ in range(n):
            latent = self.network(latent, answer + x, rope)  # z = f(z, y + x)
        if update_answer:
            answer = self.network(answer, latent, rope)  # y = f(y, z): no x, so y cannot bypass z
        return answer, latent

    def _single_latent_recursion(self, x, answer, latent, n, rope, update_answer=True):
        # paper ablation "single z" (official trm_singlez): z = f(z + x) n times, then z = f(z);
        # the heads read z, so it is returned as the answer too
        for _ in range(n):
            latent = self.network(latent, x, rope)
        if update_answer:
            latent = self.network(latent, None, rope)
        return latent, latent


__all__ = [
    "ACTSupervisionMixin",
    "TRMForPuzzleSolving",
    "TRMOutput",
    "TRMPreTrainedModel",
    "TRMState",
    "stablemax_cross_entropy",
    "trunc_normal_init_",
]
