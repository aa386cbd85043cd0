"""Argparse helpers shared by the ``trm`` subcommands (`positive_int`).

The ``trm`` command itself is `training.cli` (the top of the import graph: it dispatches to every
package). ``python -m modeling_trm.cli`` still works but is deprecated.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings


def positive_int(text: str) -> int:
    """argparse ``type`` for sizes and counts: ``--batch-size 0`` would loop forever, ``-3`` means nothing."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    """Deprecated: the ``trm`` command is `training.cli.main`."""
    warnings.warn("modeling_trm.cli.main moved to training.cli.main (the `trm` command)", DeprecationWarning,
                  stacklevel=2)
    return importlib.import_module("training.cli").main(argv)  # not imported above: models never import up


if __name__ == "__main__":
    print("note: `python -m modeling_trm.cli` is deprecated; use `trm` or `python -m training.cli`", file=sys.stderr)
    sys.exit(main())
