"""``trm data``: build, generate and show puzzle datasets."""

from __future__ import annotations

import argparse
import ast
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from modeling_trm.processing_trm import MAZE_CHARS


def positive_int(text: str) -> int:
    """argparse ``type`` for sizes and counts (``trm data``, ``trm solve``, ``trm eval``): ``--batch-size 0``
    would loop forever, ``-3`` means nothing."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def _value(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text  # a plain string such as a subset list "training,evaluation"


def grid_text(grid: np.ndarray, task: str) -> str:
    if task == "maze":
        return "\n".join("".join(MAZE_CHARS[c] for c in row) for row in grid)
    if task == "sudoku":
        return "\n".join(" ".join("." if d == 0 else str(d) for d in row) for row in grid)
    return "\n".join("".join(str(c) for c in row) for row in grid)


def _build(args) -> int:
    from . import RECIPES, build_dataset, push_puzzle_dataset, save_puzzle_dataset
    from .metadata import METADATA_FILENAME

    if args.output:  # refuse a folder we would not write to before spending minutes on the build
        output = Path(args.output)
        if output.is_dir() and any(output.iterdir()) and not (output / METADATA_FILENAME).is_file() \
                and not args.overwrite:
            raise FileExistsError(f"--output {output} is a non-empty folder that is not a puzzle dataset; "
                                  "choose another folder or pass --overwrite to replace its contents")

    overrides = {}
    for item in args.set or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set expects key=value, got {item!r}")
        overrides[key] = _value(value)
    if args.recipe not in RECIPES:
        raise ValueError(f"unknown recipe {args.recipe!r}; available: {', '.join(RECIPES)}")
    if args.push_to_hub:  # before minutes of building, not after
        from .hub_access import check_hub_reachable

        check_hub_reachable(f"upload the dataset to {args.push_to_hub!r}", "nothing was built")
    command = "trm data " + shlex.join(args.argv)
    start = time.perf_counter()
    dd, metadata = build_dataset(args.recipe, source=args.source, seed=args.seed, command=command, **overrides)
    print(f"built {args.recipe} in {time.perf_counter() - start:.1f} s: "
          + ", ".join(f"{name} {len(ds):,} rows" for name, ds in dd.items()))
    if args.output:
        replaced = (Path(args.output) / METADATA_FILENAME).is_file()
        save_puzzle_dataset(dd, metadata, args.output, overwrite=args.overwrite)
        print(f"saved to {args.output}{' (replacing the dataset that was there)' if replaced else ''} "
              "(datasets.load_from_disk reads it)")
    if args.push_to_hub:
        saved = f"the dataset is saved in {args.output}" if args.output else "nothing was saved (no --output)"
        print(push_puzzle_dataset(dd, metadata, args.push_to_hub, private=args.private, saved=saved))
        if args.output:  # the local folder records where it is published: model cards evaluated on it link there
            metadata.hub_id = args.push_to_hub
            metadata.save(args.output)
    return 0


def _generate(args) -> int:
    output = Path(args.output)
    tmp = output.with_name(f".tmp-{os.getpid()}-{output.name}")  # same suffix: .csv.gz stays gzipped
    try:
        records = _generate_into(args, tmp)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, output)  # the whole file or none of it
    print(f"wrote {len(records)} {args.kind} puzzles to {args.output} (rating mean {records.ratings.mean():.1f})")
    return 0


def _generate_into(args, path: Path):
    if args.kind == "sudoku":
        from .sudoku import generate_sudoku, write_sudoku_csv

        records = generate_sudoku(args.num, size=args.size or 9, seed=args.seed, min_difficulty=args.min_difficulty,
                                  max_difficulty=args.max_difficulty, progress=True)
        write_sudoku_csv(path, records)
    else:
        from .maze import generate_mazes, write_maze_csv

        size = args.size or 30
        records = generate_mazes(args.num, size=size, min_moves=args.min_difficulty if args.min_difficulty else
                                 (110 if size == 30 else size * size // 6), seed=args.seed)
        write_maze_csv(path, records)
    return records


def _show(args) -> int:
    from . import load_dataset_metadata, load_puzzle_dataset
    from .builders import decode_tokens

    dataset = load_puzzle_dataset(args.path)[args.split]
    metadata = load_dataset_metadata(args.path)
    for index in range(min(args.num, len(dataset))):
        row = dataset[index]
        print(f"--- {args.split}[{index}] puzzle {row['puzzle_name']!r} group {row['group_id']} variant "
              f"{row['variant_id']} puzzle_id {row['puzzle_id']} augmentation {row['augmentation']!r}")
        for name in ("inputs", "labels"):
            print(f"{name}:\n{grid_text(decode_tokens(row[name], metadata), metadata.task)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="trm data", description="Build, generate and show puzzle datasets.")
    commands = parser.add_subparsers(dest="command", required=True)

    build = commands.add_parser("build", help="build a recipe into a DatasetDict folder (and/or push it)")
    build.add_argument("recipe")
    build.add_argument("--source", help="folder with the raw files (train.csv/test.csv or the ARC JSONs)")
    build.add_argument("--output", help="folder to save to (datasets.load_from_disk reads it)")
    build.add_argument("--overwrite", action="store_true",
                       help="replace --output even if it is a non-empty folder that is not a puzzle dataset")
    build.add_argument("--seed", type=int, default=None, help="default: the recipe's (42 for ARC, else 0)")
    build.add_argument("--push-to-hub", metavar="REPO", help="also upload to this Hub dataset repo")
    build.add_argument("--private", action="store_true")
    build.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a recipe parameter")

    generate = commands.add_parser("generate", help="generate puzzles into the original CSV format")
    generate.add_argument("kind", choices=["sudoku", "maze"])
    generate.add_argument("--num", type=positive_int, required=True)
    generate.add_argument("--output", required=True)
    generate.add_argument("--seed", type=int, default=0)
    generate.add_argument("--size", type=positive_int, help="sudoku 4/6/8/9 (default 9); maze side (default 30)")
    generate.add_argument("--min-difficulty", type=int, default=0,
                          help="sudoku: minimum guesses; maze: path longer than this many moves")
    generate.add_argument("--max-difficulty", type=int, default=None, help="sudoku only")

    show = commands.add_parser("show", help="print rows of a built dataset as grids")
    show.add_argument("path")
    show.add_argument("--split", default="train")
    show.add_argument("--num", type=positive_int, default=3)

    args = parser.parse_args(argv)
    args.argv = argv
    return {"build": _build, "generate": _generate, "show": _show}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
