"""The ``source,question,answer,rating`` CSV format of Sudoku-Extreme and Maze-Hard: one reader loop.

`read_puzzle_csv` streams a plain or gzipped file, checks the header and the field count, hands each
record to a task's parser and names file and line in every error; `PuzzleRecords` holds the result.
The tasks (`hub_datasets.sudoku`, `hub_datasets.maze`) only say how a record is parsed and checked.
"""

from __future__ import annotations

import csv
import functools
import gzip
import io
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CSV_HEADER = ["source", "question", "answer", "rating"]


class BadRecord(ValueError):
    """A record that ``on_error="skip"`` drops (other ``ValueError``s from a parser stop the read)."""


@dataclass
class PuzzleRecords:
    """Puzzles of one task read from (or generated in) the CSV format."""

    questions: np.ndarray  # [N, n, n] uint8
    answers: np.ndarray  # [N, n, n] uint8
    ratings: np.ndarray  # [N] int64
    sources: list[str]
    names: list[str]  # "<file stem>:<line>" for read records
    num_skipped: int = 0

    def __len__(self) -> int:
        return len(self.questions)

    def select(self, index) -> PuzzleRecords:
        return type(self)(self.questions[index], self.answers[index], self.ratings[index],
                          [self.sources[i] for i in index], [self.names[i] for i in index])

    def without_invalid(self, errors: list[str | None], path: Path, on_error: str, skipped: int) -> PuzzleRecords:
        """Drop the records whose ``errors`` entry is a message (or raise naming the first one's line)."""
        bad_rows = [i for i, error in enumerate(errors) if error]
        if bad_rows and on_error == "raise":
            first = bad_rows[0]
            raise ValueError(f"{path}, line {self.names[first].rsplit(':', 1)[1]}: {errors[first]}")
        records = self.select(np.setdiff1d(np.arange(len(self)), bad_rows)) if bad_rows else self
        records.num_skipped = skipped + len(bad_rows)
        return records


def open_text(path: Path):
    return io.TextIOWrapper(gzip.open(path), encoding="utf-8") if path.suffix == ".gz" else open(path, encoding="utf-8")


def names_the_file_on_read_errors(read):
    """A truncated ``.csv.gz`` fails deep inside gzip/csv with a message that names no file: name it."""

    @functools.wraps(read)
    def wrapper(path, *args, **kwargs):
        try:
            return read(path, *args, **kwargs)
        except (EOFError, gzip.BadGzipFile, zlib.error, csv.Error, UnicodeDecodeError) as error:
            raise ValueError(f"{path}: cannot read it, the file is truncated or corrupt ({error})") from None

    return wrapper


def read_puzzle_csv(path: Path, parse: Callable[[str, str, str], tuple], on_error: str = "raise",
                    limit: int | None = None) -> tuple[list[tuple], list[str], list[str], int]:
    """Stream the records of ``path``: ``parse(question, answer, rating)`` returns the parsed record or
    raises `BadRecord` (skipped with ``on_error="skip"``, else an error naming file and line).
    Returns (parsed records, sources, names ``"<file stem>:<line>"``, number skipped)."""
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    stem = path.name.split(".")[0]
    parsed, sources, names, skipped = [], [], [], 0
    with open_text(path) as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header != CSV_HEADER:
            raise ValueError(f"{path}, line 1: header must be {','.join(CSV_HEADER)}, got {header}")
        for line, row in enumerate(reader, start=2):
            if limit is not None and len(parsed) >= limit:
                break
            try:
                if len(row) != 4:
                    raise BadRecord(f"expected 4 fields (source,question,answer,rating), got {len(row)}")
                parsed.append(parse(*row[1:]))
            except BadRecord as error:
                if on_error == "raise":
                    raise ValueError(f"{path}, line {line}: {error}") from None
                skipped += 1
                continue
            except ValueError as error:
                raise ValueError(f"{path}, line {line}: {error}") from None
            sources.append(row[0])
            names.append(f"{stem}:{line}")
    if not parsed:
        raise ValueError(f"{path}: no records" + (f" ({skipped} bad ones skipped)" if skipped else ""))
    return parsed, sources, names, skipped
