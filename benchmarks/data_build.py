"""Data-build benchmark: generator throughput and recipe build times (results -> benchmarks/results/).

    OMP_NUM_THREADS=1 python benchmarks/data_build.py --data DIR [--arc-num-aug 1000] [--skip-arc-build]

Reads the benchmark corpora from ``--data`` (default: the ``TRM_TEST_DATA`` folder the opt-in tests use,
with ``arc/``, ``sudoku/extreme_like/`` and ``maze/``; tests/fixtures/README.md). The ARC planning step
(variant selection with the official RNG) runs at num_aug=1000 and its counts are compared with the
official statistics; the full materialised ARC build uses ``--arc-num-aug``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

import harness  # the repository root on sys.path; shared helpers (benchmarks/harness.py)
import numpy as np

from hub_datasets import build_dataset
from hub_datasets.arc import ARC_CONFIGS
from hub_datasets.builders import arc_variant_groups
from hub_datasets.maze import generate_mazes
from hub_datasets.sudoku import generate_sudoku

OFFICIAL_ARC1 = {"train_puzzles": 876405, "train_examples": 3633410, "test_groups": 400, "test_puzzles": 368150,
                 "test_examples": 385815}
OFFICIAL_ARC2 = {"train_puzzles": 1191729, "train_examples": 5163277, "test_groups": 120, "test_puzzles": 118766,
                 "test_examples": 170393}


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def generator_throughput() -> dict:
    generate_sudoku(2, size=9, seed=99)
    generate_mazes(2, size=11, min_moves=20, seed=99)  # compile numba first
    out = {}
    for size, num in ((4, 2000), (6, 1000), (9, 300)):
        records, seconds = timed(generate_sudoku, num, size=size, seed=0)
        out[f"sudoku_{size}x{size}_minimal"] = {"num": num, "seconds": seconds, "per_second": num / seconds,
                                                "mean_rating": float(records.ratings.mean())}
    records, seconds = timed(generate_sudoku, 10, size=9, seed=0, min_difficulty=10)
    out["sudoku_9x9_rating>=10"] = {"num": 10, "seconds": seconds, "per_second": 10 / seconds,
                                    "mean_rating": float(records.ratings.mean())}
    for size, moves, num in ((11, 20, 500), (30, 110, 4)):
        records, seconds = timed(generate_mazes, num, size=size, min_moves=moves, seed=0)
        out[f"maze_{size}x{size}_moves>{moves}"] = {"num": num, "seconds": seconds, "per_second": num / seconds,
                                                     "mean_rating": float(records.ratings.mean())}
    return out


def arc_plan(data: Path, config: str, num_aug: int = 1000, seed: int = 42) -> dict:
    """Variant selection only (no materialisation): the counts the official builder reports."""
    start = time.perf_counter()
    subsets, test_subset = ARC_CONFIGS[config]
    groups = arc_variant_groups(data / "arc", np.random.RandomState(seed), subsets, test_subset, num_aug)
    tests = [g for g in groups if g.test_pairs]
    return {"train_groups": len(groups), "train_puzzles": sum(len(g.transform_ids) for g in groups),
            "train_examples": sum(len(g.transform_ids) * len(g.train_pairs) for g in groups),
            "test_groups": len(tests), "test_puzzles": sum(len(g.transform_ids) for g in tests),
            "test_examples": sum(len(g.transform_ids) * len(g.test_pairs) for g in tests),
            "seconds": time.perf_counter() - start}


def recipe_build(recipe: str, source: Path | None, **parameters) -> dict:
    (dd, metadata), seconds = timed(build_dataset, recipe, source=source, **parameters)
    return {"seconds": seconds, "rows": {k: len(v) for k, v in dd.items()},
            "splits": {k: vars(v) for k, v in metadata.splits.items()},
            "num_puzzle_identifiers": metadata.num_puzzle_identifiers, "parameters": metadata.parameters,
            "fingerprints": {k: v._fingerprint for k, v in dd.items()}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=os.environ.get("TRM_TEST_DATA"),
                        help="folder with arc/, sudoku/extreme_like/ and maze/ (default: $TRM_TEST_DATA)")
    parser.add_argument("--arc-num-aug", type=int, default=1000)
    parser.add_argument("--skip-arc-build", action="store_true")
    parser.add_argument("--output", default=str(harness.RESULTS_ROOT / "data_build.json"))
    args = parser.parse_args()
    if args.data is None or not Path(args.data).is_dir():
        parser.error(f"no benchmark data folder: give --data DIR or set TRM_TEST_DATA (got {args.data})")
    data = Path(args.data)
    results = {"machine": f"{harness.cpu_name()}, 1 thread", "generators": generator_throughput()}
    results["builds"] = {
        "sudoku-extreme-1k-aug-1000": recipe_build("sudoku-extreme-1k-aug-1000", data / "sudoku" / "extreme_like"),
        "maze-30x30-hard-1k": recipe_build("maze-30x30-hard-1k", data / "maze"),
        "maze-30x30-hard-1k-aug": recipe_build("maze-30x30-hard-1k-aug", data / "maze"),
        "sudoku-gen-small": recipe_build("sudoku-gen-small", None),
        "sudoku4x4-gen": recipe_build("sudoku4x4-gen", None),
        "maze-gen-small": recipe_build("maze-gen-small", None),
        "arc-tiny": recipe_build("arc-tiny", data / "arc"),
    }
    for config, official in (("arc1", OFFICIAL_ARC1), ("arc2", OFFICIAL_ARC2)):
        plan = arc_plan(data, config)
        results[f"{config}_plan_num_aug_1000"] = {**plan, "matches_official": all(plan[k] == v for k, v in official.items())}
    if not args.skip_arc_build:
        results["builds"]["arc1concept-aug"] = recipe_build("arc1concept-aug-1000", data / "arc", num_aug=args.arc_num_aug)
    results["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    harness.write_text_atomically(Path(args.output), json.dumps(results, indent=1))
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
