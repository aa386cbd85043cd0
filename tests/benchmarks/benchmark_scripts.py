"""Helpers for testing the scripts in benchmarks/, which are files to run rather than an installed package.

Run as files, they find each other and their shared helpers (``benchmarks/harness.py``) because Python puts
their folder on ``sys.path``; for the tests, ``conftest.py`` here puts it there."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def load_benchmark(name: str) -> ModuleType:
    """Import ``benchmarks/<name>.py`` as module ``name``."""
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module
