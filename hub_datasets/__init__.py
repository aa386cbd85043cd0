"""Puzzle benchmarks (Sudoku-Extreme, Maze-Hard, ARC-AGI, ConceptARC) as Hugging Face datasets."""
