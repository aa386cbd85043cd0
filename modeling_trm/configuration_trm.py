"""Configurations of the Tiny Recursive Model (TRM, arXiv 2510.04871) and the Hierarchical Reasoning
Model (HRM) it simplifies.

Field names say what a field means; the official names (``SamsungSAILMontreal/TinyRecursiveModels``)
are given in brackets in the docstrings, and the checkpoint converter translates between the two
(``convert_original_checkpoint.OFFICIAL_NAMES``).
"""

from __future__ import annotations

import math

from transformers import PreTrainedConfig
from transformers.utils import logging

logger = logging.get_logger(__name__)

TOKEN_MIXERS = ("attention", "mlp")
POSITION_ENCODINGS = ("rope", "learned", "none")
FORWARD_DTYPES = ("float32", "bfloat16")
GRADIENT_MODES = ("last_recursion", "one_step")


def _fail(config: PreTrainedConfig, field: str, message: str) -> None:
    raise ValueError(f"{type(config).__name__}.{field}: {message}")


def _check_positive(config: PreTrainedConfig, *fields: str) -> None:
    for field in fields:
        value = getattr(config, field)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            _fail(config, field, f"must be a positive integer, got {value!r}")


def _check_choice(config: PreTrainedConfig, field: str, choices: tuple[str, ...]) -> None:
    value = getattr(config, field)
    if value not in choices:
        _fail(config, field, f"must be one of {list(choices)}, got {value!r}")


def swiglu_intermediate_size(width: int, expansion: float) -> int:
    """Official SwiGLU width: ``round(2/3 * expansion * width)`` (banker's rounding) rounded up to 256."""
    return -(round(expansion * width * 2 / 3) // -256) * 256


class _PuzzleModelConfig(PreTrainedConfig):
    """The fields, validation and derived sizes shared by TRM and HRM (not a model type of its own); the
    fields are documented in [`TRMConfig`]."""

    vocab_size: int = 11
    seq_len: int = 81
    hidden_size: int = 512
    num_attention_heads: int = 8
    expansion: float = 4.0
    max_supervision_steps: int = 16
    halt_exploration_prob: float = 0.1
    position_encoding: str = "rope"
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-5
    puzzle_embedding_dim: int = 512
    num_puzzle_identifiers: int = 1
    forward_dtype: str = "float32"

    def _validate_common(self) -> None:
        _check_positive(self, "vocab_size", "seq_len", "hidden_size", "num_attention_heads",
                        "max_supervision_steps", "num_puzzle_identifiers")
        if not self.expansion > 0:
            _fail(self, "expansion", f"must be > 0, got {self.expansion!r}")
        if not 0.0 <= self.halt_exploration_prob <= 1.0:
            _fail(self, "halt_exploration_prob", f"must be in [0, 1], got {self.halt_exploration_prob!r}")
        if not self.rms_norm_eps > 0:
            _fail(self, "rms_norm_eps", f"must be > 0, got {self.rms_norm_eps!r}")
        if not self.rope_theta > 0:
            _fail(self, "rope_theta", f"must be > 0, got {self.rope_theta!r}")
        if self.puzzle_embedding_dim < 0:
            _fail(self, "puzzle_embedding_dim", f"must be >= 0, got {self.puzzle_embedding_dim!r}")
        _check_choice(self, "position_encoding", POSITION_ENCODINGS)
        _check_choice(self, "forward_dtype", FORWARD_DTYPES)
        if self.head_dim == 0:
            _fail(self, "num_attention_heads",
                  f"{self.num_attention_heads} heads leave head_dim = hidden_size // heads = 0 "
                  f"(hidden_size={self.hidden_size})")
        if self.uses_rope and self.head_dim % 2:
            _fail(self, "num_attention_heads",
                  f"RoPE rotates head halves, so head_dim = {self.hidden_size} // {self.num_attention_heads} "
                  f"= {self.head_dim} must be even")

    # Derived sizes (read-only).
    @property
    def head_dim(self) -> int:
        # The official attention uses D // H and an output projection of width H * head_dim, which
        # differs from D when H does not divide D (the transformer baseline's 12 heads at D=512).
        return self.hidden_size // self.num_attention_heads

    @property
    def total_seq_len(self) -> int:
        """N = seq_len + puzzle prefix: the length the reasoning network sees."""
        return self.seq_len + self.puzzle_prefix_length

    @property
    def intermediate_size(self) -> int:
        """Width of the channel SwiGLU."""
        return swiglu_intermediate_size(self.hidden_size, self.expansion)

    @property
    def uses_rope(self) -> bool:
        return self.position_encoding == "rope" and self.token_mixer == "attention"


class TRMConfig(_PuzzleModelConfig):
    r"""Configuration of a [`TRMForPuzzleSolving`]: one small network applied recursively.

    Official names (``TinyRecursiveReasoningModel_ACTV1Config``) in brackets.

    Args:
        vocab_size (`int`, defaults to 11): task vocabulary V (token 0 = PAD) [vocab_size].
        seq_len (`int`, defaults to 81): task tokens per puzzle S, without the puzzle prefix [seq_len].
        hidden_size (`int`, defaults to 512): network width D [hidden_size].
        num_attention_heads (`int`, defaults to 8): attention heads; head_dim = D // heads [num_heads].
        expansion (`float`, defaults to 4.0): SwiGLU expansion; width = ceil_256(round(2/3 * expansion * D)).
        num_layers (`int`, defaults to 2): post-norm blocks in the single shared network [L_layers].
        num_recursions (`int`, defaults to 3): T, recursions per supervision step; only the last one
            is differentiated [H_cycles].
        num_latent_updates (`int`, defaults to 6): n, latent updates per recursion [L_cycles].
        max_supervision_steps (`int`, defaults to 16): N_sup, supervision (ACT) steps before a puzzle
            is forced to halt; evaluation always runs all of them [halt_max_steps].
        halt_exploration_prob (`float`, defaults to 0.1): training only: probability that a slot must
            run a random minimum of 2..N_sup steps before it may halt [halt_exploration_prob].
        act_continue (`bool`, defaults to False): halt when the halt logit exceeds the continue logit,
            and train the continue logit towards a Q-learning target from an extra no-grad step, as
            HRM does. False: halt when the halt logit is > 0, continue logit unused [not no_ACT_continue].
        token_mixer (`str`, defaults to "attention"): "attention" (bidirectional self-attention) or
            "mlp" (a SwiGLU across positions, which hard-wires N into the weights) [mlp_t].
        position_encoding (`str`, defaults to "rope"): "rope", "learned" (table of N positions, inputs
            scaled by 1/sqrt(2)) or "none"; rope has no effect with the mlp mixer [pos_encodings].
        rope_theta (`float`, defaults to 10000.0): RoPE base [rope_theta].
        rms_norm_eps (`float`, defaults to 1e-5): RMSNorm epsilon [rms_norm_eps].
        puzzle_embedding_dim (`int`, defaults to 512): width of a learned per-puzzle vector, 0 = none
            [puzzle_emb_ndim].
        puzzle_prefix_len (`int`, defaults to 16): positions the puzzle vector occupies before the
            tokens (zero padded); 0 = ceil(puzzle_embedding_dim / D) [puzzle_emb_len].
        num_puzzle_identifiers (`int`, defaults to 1): rows of the puzzle-embedding table, id 0 = blank
            [num_puzzle_identifiers].
        forward_dtype (`str`, defaults to "float32"): activation dtype, "float32" or "bfloat16"
            (parameters stay float32; RMSNorm/RoPE in float32, losses in float64) [forward_dtype;
            official default bfloat16].
        single_latent (`bool`, defaults to False): paper ablation "single z" (official trm_singlez):
            one latent, updated by z = f(z + x) n times then z = f(z); the heads read z.
        gradient_mode (`str`, defaults to "last_recursion"): which updates carry gradient:
            "last_recursion" (TRM: all n + 1 updates of the last recursion) or "one_step" (HRM-style
            1-step gradient ablation: only the final latent update and the final answer update).
    """

    model_type = "trm"

    num_layers: int = 2
    num_recursions: int = 3
    num_latent_updates: int = 6
    act_continue: bool = False
    token_mixer: str = "attention"
    puzzle_prefix_len: int = 16
    single_latent: bool = False
    gradient_mode: str = "last_recursion"

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        self._validate_common()
        _check_positive(self, "num_layers", "num_recursions", "num_latent_updates")
        _check_choice(self, "token_mixer", TOKEN_MIXERS)
        _check_choice(self, "gradient_mode", GRADIENT_MODES)
        if self.puzzle_prefix_len < 0:
            _fail(self, "puzzle_prefix_len", f"must be >= 0, got {self.puzzle_prefix_len!r}")
        if self.puzzle_embedding_dim > 0 and self.puzzle_prefix_length * self.hidden_size < self.puzzle_embedding_dim:
            _fail(self, "puzzle_prefix_len",
                  f"{self.puzzle_prefix_len} positions x hidden_size {self.hidden_size} cannot hold "
                  f"puzzle_embedding_dim={self.puzzle_embedding_dim}; use 0 for ceil(dim / hidden_size)")
        if self.token_mixer == "mlp" and self.position_encoding == "rope":
            logger.warning_once("TRMConfig: position_encoding='rope' has no effect with token_mixer='mlp'.")

    @property
    def puzzle_prefix_length(self) -> int:
        """P: positions before the task tokens. 0 without a puzzle embedding (the official code would
        still prepend 16 positions there and crash)."""
        if self.puzzle_embedding_dim == 0:
            return 0
        return self.puzzle_prefix_len or math.ceil(self.puzzle_embedding_dim / self.hidden_size)


class HRMConfig(_PuzzleModelConfig):
    r"""Configuration of an [`HRMForPuzzleSolving`]: two networks (high and low level) with the 1-step
    gradient and a Q-learning halting head (``HierarchicalReasoningModel_ACTV1Config``).

    Args:
        vocab_size, seq_len, hidden_size, num_attention_heads, expansion, max_supervision_steps,
        halt_exploration_prob, position_encoding, rope_theta, rms_norm_eps, puzzle_embedding_dim,
        num_puzzle_identifiers, forward_dtype: as in [`TRMConfig`] (defaults: official HRM sudoku).
        num_high_layers (`int`, defaults to 4): blocks of the slow high-level network [H_layers].
        num_low_layers (`int`, defaults to 4): blocks of the fast low-level network [L_layers].
        high_cycles (`int`, defaults to 2): high-level updates per supervision step [H_cycles].
        low_cycles (`int`, defaults to 2): low-level updates per high-level update [L_cycles].

    HRM always halts on ``halt > continue`` and trains the continue logit (``act_continue`` is True),
    its puzzle prefix is ceil(puzzle_embedding_dim / hidden_size) positions, and it only has attention.
    """

    model_type = "hrm"

    num_high_layers: int = 4
    num_low_layers: int = 4
    high_cycles: int = 2
    low_cycles: int = 2

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        self._validate_common()
        _check_positive(self, "num_high_layers", "num_low_layers", "high_cycles", "low_cycles")

    # Fixed properties of HRM, named like the TRM fields so the shared ACT code reads one way.
    act_continue = property(lambda self: True, doc="HRM always trains the continue logit.")
    token_mixer = property(lambda self: "attention", doc="HRM only has attention blocks.")

    @property
    def puzzle_prefix_length(self) -> int:
        return math.ceil(self.puzzle_embedding_dim / self.hidden_size)
