"""Shared test setup: small thread counts (CI has 2 cores) and paths to the shared reference data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = (REPO_ROOT.parent / "shared").resolve()
REFERENCE = SHARED / "reference"
DATA = SHARED / "data"


def pytest_configure(config):
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    assert REFERENCE.is_dir(), f"shared reference vectors not found at {REFERENCE}"
    return REFERENCE


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    assert DATA.is_dir(), f"shared benchmark data not found at {DATA}"
    return DATA
