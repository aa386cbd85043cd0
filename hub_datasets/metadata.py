"""``PuzzleDatasetMetadata``: what a model and the training loop need to know about a built dataset."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from modeling_trm.processing_trm import IGNORE_LABEL_ID, PAD_ID

METADATA_FILENAME = "puzzle_dataset.json"


@dataclass
class SplitStatistics:
    total_groups: int  # original puzzles
    total_puzzles: int  # augmented variants (the official "puzzles")
    total_examples: int  # rows
    mean_puzzle_examples: float


@dataclass
class PuzzleDatasetMetadata:
    """Saved as ``puzzle_dataset.json`` beside the data (on disk and in the Hub repo)."""

    task: str  # "sudoku" | "maze" | "arc"
    recipe: str
    seed: int
    vocab_size: int
    seq_len: int
    num_puzzle_identifiers: int
    puzzle_identifiers: list[str]  # id -> variant name; 0 = "<blank>"
    splits: dict[str, SplitStatistics]
    source: str | None = None
    command: str | None = None
    parameters: dict = field(default_factory=dict)  # the recipe's parameters after overrides
    grid_shape: tuple[int, int] | None = None  # (rows, columns) of the sequence as a grid
    pad_id: int = PAD_ID
    ignore_label_id: int = IGNORE_LABEL_ID
    blank_puzzle_id: int = 0
    hub_id: str | None = None  # the Hub dataset repo it was pushed to, so a local copy can still be linked

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> PuzzleDatasetMetadata:
        data = dict(data)
        data["splits"] = {name: SplitStatistics(**stats) for name, stats in data["splits"].items()}
        if data.get("grid_shape") is not None:
            data["grid_shape"] = tuple(data["grid_shape"])
        return cls(**data)

    def save(self, directory: str | Path) -> Path:
        """Write ``directory/metadata.json`` whole or not at all: a build pushed to the Hub rewrites it in the
        finished dataset folder (the Hub id), where a truncated file would leave the dataset unreadable."""
        from modeling_trm.folders import write_text_atomically

        path = Path(directory) / METADATA_FILENAME
        write_text_atomically(path, json.dumps(self.to_dict()))
        return path

    @classmethod
    def load(cls, path: str | Path) -> PuzzleDatasetMetadata:
        from modeling_trm.folders import read_json_file

        path = Path(path)
        if path.is_dir():
            path = path / METADATA_FILENAME
        data = read_json_file(path)
        try:
            return cls.from_dict(data)
        except (TypeError, KeyError, AttributeError) as error:  # a field missing, unknown or of the wrong kind
            raise ValueError(f"{path} is not a puzzle dataset description this version reads ({error}); rebuild the "
                             "dataset with `trm data build`") from None
