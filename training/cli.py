"""The ``trm`` command: one entry point, each subcommand a thin layer over the library.

It lives in `training`, the package at the top of the import graph (``modeling_trm`` <- ``hub_datasets``
<- ``model_cards`` <- ``training``), because it dispatches to all of them. Subcommands are imported
lazily so that ``trm --help`` is instant and a subcommand only pays for the libraries it uses.
"""

from __future__ import annotations

import importlib
import sys

# name -> ("module:function", one-line help). Each function takes the remaining argv list.
SUBCOMMANDS = {
    "data": ("hub_datasets.cli:main", "build, generate and show puzzle datasets"),
    "train": ("training.train:main", "train a TRM/HRM with Accelerate (deep supervision, EMA, AdamATan2)"),
    "eval": ("training.evaluation.cli:main", "evaluate a model folder or Hub repo on a dataset split"),
    "solve": ("training.solve_cli:main", "solve puzzles given on the command line or in a file"),
    "demo": ("training.demo:main", "a Gradio app: watch a model refine its answer step by step"),
    "convert": ("modeling_trm.convert_original_checkpoint:main", "convert an official TRM/HRM checkpoint"),
    "card": ("model_cards.render:main", "(re)render the model card of a model folder"),
    "push": ("training.publish:main", "upload a model folder (weights, code, card) to the Hub"),
}


def _usage() -> str:
    lines = ["usage: trm <command> [options]", "", "commands:"]
    lines += [f"  {name:<8} {help_}" for name, (_, help_) in SUBCOMMANDS.items()]
    lines += ["", "Run 'trm <command> --help' for the options of a command."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in SUBCOMMANDS:
        print(f"trm: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    if name in MODEL_COMMANDS:
        rest = with_shipped_model(rest)
    module_name, func_name = SUBCOMMANDS[name][0].split(":")
    func = getattr(importlib.import_module(module_name), func_name)
    from hub_datasets.progress import quiet_library_bars  # here, not on top: `trm --help` stays instant
    from training.hardware import keep_freed_memory

    quiet_library_bars()  # a log gets our progress lines only
    keep_freed_memory()  # bf16 inference steps up to 2.4x faster on glibc (training/hardware.py)
    try:
        result = func(rest)
    except KeyboardInterrupt:
        print(f"\ntrm {name}: interrupted", file=sys.stderr)
        return 130
    except USER_ERRORS as error:
        # A mistake in what the user gave (option, value, file, folder): one line and a hint, no traceback.
        print(f"trm {name}: error: {_first_line(error)}\n(run 'trm {name} --help' for the options)", file=sys.stderr)
        return 2
    except (OSError, ArithmeticError) as error:  # the environment (network, disk) or a diverged run
        print(f"trm {name}: error: {_first_line(error)}", file=sys.stderr)
        return 1
    except Exception as error:
        # Libraries report a malformed file (PyYAML, pickle, safetensors) or a network failure (httpx) in
        # their own classes; the readers name the file, and this keeps any path they miss to one line too.
        from hub_datasets.hub_access import is_connection_error, unreachable_hub_error

        if is_connection_error(error):
            print(f"trm {name}: error: {unreachable_hub_error(f'run trm {name}', error)}", file=sys.stderr)
            return 1
        if not {cls.__name__ for cls in type(error).__mro__} & MALFORMED_FILE_ERRORS:
            raise
        print(f"trm {name}: error: {type(error).__name__}: {_first_line(error)}", file=sys.stderr)
        return 2
    return int(result or 0)


# Commands whose first argument is a model folder or Hub repo: a shipped model's name works there too.
MODEL_COMMANDS = ("solve", "eval")


def with_shipped_model(argv: list[str]) -> list[str]:
    """``sudoku9x9`` -> the folder of the shipped model of that name (training/pretrained), unless a folder
    of that name exists here; anything else is left for the command to resolve (a folder or a Hub repo)."""
    from pathlib import Path

    from training.pretrained import shipped_models

    if argv and not argv[0].startswith("-") and not Path(argv[0]).exists():
        shipped = shipped_models().get(argv[0])
        if shipped is not None:
            return [str(shipped), *argv[1:]]
    return argv


USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError)
# by class name, so that `trm --help` imports none of these libraries
MALFORMED_FILE_ERRORS = {"YAMLError", "UnpicklingError", "SafetensorError", "JSONDecodeError"}


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


if __name__ == "__main__":
    sys.exit(main())
