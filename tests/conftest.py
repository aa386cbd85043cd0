"""Shared test setup: small thread counts (CI has 2 cores) and the test data.

Everything a test reads lives in this repository (``tests/fixtures``, see its README), except the
large benchmark corpora (the full ARC sets, Sudoku-Extreme-like and Maze-Hard CSVs): the tests that
need those run only when ``TRM_TEST_DATA`` names a folder holding them (``arc/``, ``sudoku/``,
``maze/``) and are skipped otherwise, saying so.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

# `trm train` caches the datasets it builds (training/data.py). The tests build theirs in a fresh folder for
# each run: a copy cached by an earlier run could hide a change to a generator, and the user's cache
# (~/.cache/trm-hf) is left alone.
DATASETS_CACHE = tempfile.mkdtemp(prefix="trm-test-datasets-")
os.environ["TRM_DATASETS_CACHE"] = DATASETS_CACHE
atexit.register(shutil.rmtree, DATASETS_CACHE, ignore_errors=True)
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = REPO_ROOT / "tests" / "fixtures"
REFERENCE = FIXTURES / "reference"
ARC_FIXTURE = FIXTURES / "arc"
DATA_VARIABLE = "TRM_TEST_DATA"


def pytest_configure(config):
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """Vectors written by the official TRM/HRM code (tests/fixtures/README.md)."""
    return REFERENCE


@pytest.fixture(scope="session")
def arc_fixture_dir() -> Path:
    """A few real ARC tasks per subset (training, evaluation) in the Kaggle layout."""
    return ARC_FIXTURE


@pytest.fixture(scope="session")
def external_data_dir() -> Path:
    """The full benchmark corpora, opt-in: ``TRM_TEST_DATA=/path/to/data`` (with ``arc/``, ``sudoku/``, ``maze/``)."""
    value = os.environ.get(DATA_VARIABLE)
    if not value:
        pytest.skip(f"needs the full benchmark data: set {DATA_VARIABLE} to a folder with arc/, sudoku/, maze/")
    path = Path(value).expanduser().resolve()
    if not path.is_dir():
        pytest.fail(f"{DATA_VARIABLE}={value} is not a folder")
    return path
