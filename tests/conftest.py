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


# ---- local Hugging Face Hub (tests/hub_server.py) ------------------------------------------------
HUB_TEST_TOKEN = "hf_localtestTOKENnotAsecret0123456789"  # tests assert this never shows up in output


@pytest.fixture
def hub_server(tmp_path, monkeypatch):
    """A fresh, empty local Hub (`hub_server.LocalHub`) with HF_ENDPOINT/HF_TOKEN/caches set for this test.

    Run transformers/datasets clients through `hub_server.run_python(...)` (a subprocess): they read
    HF_ENDPOINT at import time. In-process `huggingface_hub.HfApi` calls work too (constants patched).
    """
    from hub_server import HubServer, LocalHub

    with HubServer(token=HUB_TEST_TOKEN) as server:
        hub = LocalHub(server, tmp_path)
        for key, value in hub.env.items():
            monkeypatch.setenv(key, value)
        import huggingface_hub.constants as hf_constants

        monkeypatch.setattr(hf_constants, "ENDPOINT", hub.url)
        monkeypatch.setattr(hf_constants, "HUGGINGFACE_CO_URL_TEMPLATE", hub.url + "/{repo_id}/resolve/{revision}/{filename}")
        monkeypatch.setattr(hf_constants, "HF_HUB_DISABLE_XET", True)
        monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", hub.env["HF_HUB_CACHE"])
        yield hub
        assert server.errors == [], "the local Hub server hit an internal error"
