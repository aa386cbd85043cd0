"""Puzzle benchmarks (Sudoku-Extreme, Maze-Hard, ARC-AGI, ConceptARC) as Hugging Face datasets.

``build_dataset(recipe, source, seed, **parameters) -> (DatasetDict, PuzzleDatasetMetadata)`` builds a
recipe of ``RECIPES``; ``save_puzzle_dataset`` / ``push_puzzle_dataset`` write it with its
``puzzle_dataset.json`` and card; ``load_puzzle_dataset`` / ``load_dataset_metadata`` read it back.
"""

from .builders import RECIPES, build_dataset, puzzle_features, recipe_parameters
from .hub import load_dataset_metadata, load_puzzle_dataset, push_puzzle_dataset, save_puzzle_dataset
from .metadata import PuzzleDatasetMetadata, SplitStatistics

__all__ = [
    "RECIPES",
    "PuzzleDatasetMetadata",
    "SplitStatistics",
    "build_dataset",
    "load_dataset_metadata",
    "load_puzzle_dataset",
    "push_puzzle_dataset",
    "puzzle_features",
    "recipe_parameters",
    "save_puzzle_dataset",
]
