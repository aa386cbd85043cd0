"""``trm solve``: solve puzzles with a saved TRM/HRM (folder or Hub repo) and print the grids.

    trm solve MODEL "..3.2.6..9..3.5..1..18.64....81.29..7.......8..67.82....26.95..8..2.3..9..5.1.3.."
    trm solve MODEL --file sudokus.txt --halting adaptive --max-steps 32
    trm solve MODEL --file mazes.txt --task maze --show-steps
    trm solve MODEL --file 007bbfc7.json --task arc
    trm solve MODEL "......1.2..4.....534.....2..31...2.." --max-steps 16 --animate refinement.gif
    trm solve MODEL --file sudokus.txt --tries 8

Puzzles whose givens contradict each other (a digit twice in a row, column or box; a maze without one
start and one goal, or whose goal cannot be reached) are refused, naming the cell. Each answer is
reported as a valid solution or not (sudoku rules and givens; a shortest start-to-goal maze path).
Puzzles, rows and columns count from 1: puzzle 1 is the first given, row 1, column 1 the top-left cell.
With ``--tries K``, a puzzle whose answer is not a valid solution is solved again as a symmetric variant
(Sudoku: relabelled digits, shuffled bands, stacks, rows and columns, transposed; maze: rotated or
reflected), up to K tries in all (`training.retries`); ``--show-steps`` and ``--animate`` then show the steps of
the try kept, mapped back onto the puzzle as given.

Files: sudoku, one puzzle per line; maze, grids separated by blank lines; ARC, a task JSON
(``{"train": [...], "test": [{"input": grid, "output": grid?}]}``) whose test inputs are solved.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from transformers.utils import cached_file

from hub_datasets.cli import positive_int
from modeling_trm import PuzzleProcessor  # also registers the model classes with AutoModel
from modeling_trm.processing_trm import one_based
from training.loading import load_model_for_solving
from training.refinement import save_refinement_animation, solve_with_refinements
from training.retries import solve_with_retries


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trm solve", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1],
    )
    parser.add_argument("model", help="model folder or Hub repo id")
    parser.add_argument("puzzles", nargs="*", help="puzzles (sudoku: 81-character strings, '.' or '0' = blank)")
    parser.add_argument("--file", type=Path, help="read puzzles from this file")
    parser.add_argument("--task", choices=["sudoku", "maze", "arc"],
                        help="puzzle type; default: the task of the processor saved with the model")
    parser.add_argument("--max-steps", type=positive_int, help="supervision steps (default: the model's solve_config)")
    parser.add_argument("--halting", choices=["fixed", "adaptive"], help="default: the model's solve_config")
    parser.add_argument("--halt-confidence", type=float, metavar="P",
                        help="adaptive halting stops a puzzle once sigmoid(halt logit) > P, in (0, 1); "
                        "0.5 = the training rule (default: the model's solve_config)")
    parser.add_argument("--batch-size", type=positive_int, help="solve at most this many puzzles at once")
    parser.add_argument("--tries", type=positive_int, default=1,
                        help="sudoku and maze: solve a puzzle whose answer breaks the rules again as a symmetric "
                        "variant, up to this many tries in all (default 1: the model's first answer)")
    parser.add_argument("--show-steps", action="store_true", help="print the answer after every step")
    parser.add_argument("--animate", type=Path, metavar="OUT.gif",
                        help="write each puzzle's refinement, step by step, as an animated GIF or PNG "
                             "(several puzzles: OUT-0.gif, OUT-1.gif, ...)")
    parser.add_argument("--revision", help="Hub revision (branch, tag or commit)")
    return parser


def load_processor(model_path: str, task: str | None, config, revision: str | None) -> PuzzleProcessor:
    """The processor saved with the model; without one, a default processor for `task`."""
    saved = cached_file(model_path, "processor_config.json", revision=revision,
                        _raise_exceptions_for_missing_entries=False, _raise_exceptions_for_connection_errors=False)
    if saved is not None:
        processor = PuzzleProcessor.from_pretrained(model_path, revision=revision)
        if task is not None and task != processor.task:
            raise ValueError(f"--task {task} does not match the model's processor (task {processor.task!r}).")
        return processor
    if task is None:
        raise ValueError("the model folder has no processor_config.json; pass --task sudoku|maze|arc.")
    return PuzzleProcessor(task, grid_size=math.isqrt(config.seq_len))  # square grids: seq_len = side**2


def read_puzzles(args, task: str) -> tuple[list, list[str] | None, list | None]:
    """(puzzles, puzzle names or None, known solutions or None) from the command line and --file."""
    puzzles = [json.loads(p) if task == "arc" else p for p in args.puzzles]
    names = solutions = None
    if args.file is not None:
        text = args.file.read_text()
        if task == "sudoku":
            puzzles += [line.strip() for line in text.splitlines() if line.strip()]
        elif task == "maze":
            blocks = [block for block in text.replace("\r\n", "\n").split("\n\n") if block.strip("\n")]
            puzzles += [block.strip("\n") for block in blocks]
        else:
            try:
                tests = json.loads(text)["test"]
            except (json.JSONDecodeError, KeyError, TypeError) as error:
                raise ValueError(f"{args.file}: not an ARC task JSON with a 'test' list ({error})") from None
            puzzles += [pair["input"] for pair in tests]
            names = [args.file.stem] * len(tests)
            if all("output" in pair for pair in tests) and not args.puzzles:
                solutions = [pair["output"] for pair in tests]
    if not puzzles:
        raise ValueError("no puzzles given: pass them as arguments or with --file.")
    if names is not None and len(names) != len(puzzles):
        names = None  # command-line grids have no task name
    return puzzles, names, solutions


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_intermixed_args(argv)  # `trm solve M --task X PUZZLE` too
    try:
        model = load_model_for_solving(args.model, args.revision)
        processor = load_processor(args.model, args.task, model.config, args.revision)
        puzzles, names, solutions = read_puzzles(args, processor.task)
        try:
            inputs = processor(puzzles, puzzle_names=names)
        except ValueError as error:  # names a puzzle and a cell: counted from 1, as printed below
            raise ValueError(one_based(str(error))) from None
        overrides = {"max_steps": args.max_steps, "halting": args.halting, "batch_size": args.batch_size,
                     "halt_confidence": args.halt_confidence}
        if args.animate is not None and args.animate.suffix.lower() not in (".gif", ".png"):
            raise ValueError(f"--animate {args.animate}: write a .gif or a .png (animated PNG)")
        if args.tries > 1:
            retried = solve_with_retries(model, processor, inputs["input_ids"], max_tries=args.tries,
                                         keep_steps=True, **overrides)
            refinements = retried.refinements
        else:
            retried, (_, refinements) = None, solve_with_refinements(model, processor, inputs, **overrides)
    except (ValueError, OSError, KeyError, json.JSONDecodeError) as error:
        print(f"trm solve: error: {error}", file=sys.stderr)
        return 2

    for index, refinement in enumerate(refinements):
        grid, steps = processor.decode(refinement.step_ids[-1]), refinement.num_steps
        if retried is None:
            header = (f"puzzle {index + 1}: {steps} step{'s' if steps != 1 else ''}, "
                      f"halting confidence {refinement.halt_confidence[-1]:.3f}")
        else:  # the steps shown are those of the try kept, mapped back onto the puzzle
            tries = int(retried.tries[index])
            header = f"puzzle {index + 1}: {tries} {'try' if tries == 1 else 'tries'}, {int(retried.steps[index])} steps in all"
        if refinement.problems is not None:
            header += f", {one_based(refinement.validity_message())}"
        if solutions is not None:
            header += ", correct" if grid.tolist() == solutions[index] else ", wrong"
        print(header)
        if args.show_steps:
            for step in range(1, steps):
                print(f"-- step {step}\n{processor.to_text(processor.decode(refinement.step_ids[step - 1]))}")
            print(f"-- step {steps} (final)")
        print(processor.to_text(grid))
        if args.animate is not None:
            path = args.animate if len(refinements) == 1 else args.animate.with_stem(f"{args.animate.stem}-{index + 1}")
            save_refinement_animation(processor, refinement, path)
            print(f"refinement animation: {path}")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
