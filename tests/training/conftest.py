"""Fixtures for the training tests: a small generated 4x4 Sudoku dataset and tiny model configs."""

from __future__ import annotations

import socket

import pytest

from training.config import TrainingConfig

# A model small enough for a few optimizer steps per second on one CPU thread.
TINY_MODEL = dict(
    hidden_size=16, num_attention_heads=2, expansion=2, num_layers=1, num_recursions=2, num_latent_updates=1,
    puzzle_embedding_dim=16, puzzle_prefix_len=1, max_supervision_steps=3, halt_exploration_prob=0.5,
    token_mixer="attention", position_encoding="rope", forward_dtype="float32",
)


@pytest.fixture(scope="session")
def sudoku4_dataset(tmp_path_factory) -> str:
    """``sudoku4x4-gen`` (64 train puzzles x 16 variants, 32 test puzzles), saved once per session."""
    import hub_datasets

    dataset, metadata = hub_datasets.build_dataset("sudoku4x4-gen", seed=0)
    path = tmp_path_factory.mktemp("data") / "sudoku4x4"
    hub_datasets.save_puzzle_dataset(dataset, metadata, path)
    return str(path)


def free_port() -> int:
    """A local port no one holds now, for a launcher: a fixed one may be held by another run on the machine."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def make_tiny_config(dataset: str, output_dir: str, **overrides) -> TrainingConfig:
    """A few-steps-per-second training config of TINY_MODEL on ``dataset``."""
    values = dict(
        dataset=dataset, model=dict(TINY_MODEL), global_batch_size=8, epochs=4, eval_interval=1,
        lr=1e-3, lr_warmup_steps=2, weight_decay=0.1, puzzle_emb_lr=1e-2, ema_rate=0.9, log_interval=1,
        log_with="none", eval_max_examples=8, output_dir=output_dir, solve_sample=False,
    )
    values.update(overrides)
    return TrainingConfig(**values)


@pytest.fixture
def tiny_config(sudoku4_dataset, tmp_path):
    def make(**overrides) -> TrainingConfig:
        values = {"dataset": sudoku4_dataset, "output_dir": str(tmp_path / "run"), **overrides}
        return make_tiny_config(**values)

    return make


@pytest.fixture(scope="session")
def dataset_with_puzzle_ids(sudoku4_dataset, tmp_path_factory) -> str:
    """4x4 Sudoku whose rows use 4 puzzle-embedding rows, so sign-SGD has per-rank rows to merge."""
    import hub_datasets

    dataset = hub_datasets.load_puzzle_dataset(sudoku4_dataset)
    metadata = hub_datasets.load_dataset_metadata(sudoku4_dataset)
    dataset = dataset.map(lambda row: {"puzzle_id": row["group_id"] % 4 + 1})
    metadata.num_puzzle_identifiers, metadata.puzzle_identifiers = 5, ["<blank>", "a", "b", "c", "d"]
    path = tmp_path_factory.mktemp("ids") / "sudoku4x4-ids"
    hub_datasets.save_puzzle_dataset(dataset, metadata, path)
    return str(path)
