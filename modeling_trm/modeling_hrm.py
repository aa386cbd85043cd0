"""Hierarchical Reasoning Model (HRM, Wang et al. 2025) with the interfaces of TRM.

Two networks of the same block design: a fast low level ``f_L`` and a slow high level ``f_H``.
Per supervision step: ``high_cycles`` x (``low_cycles`` low-level updates, one high-level update),
everything but the very last low- and high-level update without gradient (HRM's "1-step gradient",
docs/numerics.md#hrm-one-step-gradient).
The supervision-step machinery (carry, halting with the Q-learning continue target, loss head) is
shared with TRM, see `ACTSupervisionMixin`.
"""

from __future__ import annotations

import torch

from .configuration_trm import HRMConfig
from .modeling_trm import ACTSupervisionMixin, TRMPreTrainedModel, TRMReasoningNetwork
from .solving_trm import PuzzleSolverMixin


class HRMPreTrainedModel(TRMPreTrainedModel):
    config_class = HRMConfig
    base_model_prefix = "hrm"


class HRMForPuzzleSolving(PuzzleSolverMixin, ACTSupervisionMixin, HRMPreTrainedModel):
    """HRM: ``answer_state`` is the high-level state z_H (read by the heads), ``latent_state`` z_L."""

    def __init__(self, config: HRMConfig):
        super().__init__(config)
        self._build_io_modules(config)
        self.high_level = TRMReasoningNetwork(config, config.num_high_layers)  # f_H
        self.low_level = TRMReasoningNetwork(config, config.num_low_layers)  # f_L
        self.post_init()

    def recursion(self, input_embeddings, answer, latent):
        """high_cycles x (low_cycles low-level updates, one high-level update); [B, N, D] each."""
        high_cycles, low_cycles = self.config.high_cycles, self.config.low_cycles
        rope = None if self.rotary_emb is None else self.rotary_emb()
        with torch.no_grad():
            for high in range(high_cycles):
                for low in range(low_cycles):
                    if not (high == high_cycles - 1 and low == low_cycles - 1):
                        latent = self.low_level(latent, answer + input_embeddings, rope)  # z_L = f_L(z_L, z_H + x)
                if high != high_cycles - 1:
                    answer = self.high_level(answer, latent, rope)  # z_H = f_H(z_H, z_L)
        # 1-step gradient: only the final low- and high-level updates are differentiated.
        latent = self.low_level(latent, answer + input_embeddings, rope)
        answer = self.high_level(answer, latent, rope)
        return answer, latent


__all__ = ["HRMForPuzzleSolving", "HRMPreTrainedModel"]
