"""The local Hub the tests in this folder run against: `hub_server.py` (a Hub-compatible HTTP server) and
the `hub_server` fixture that starts one per test."""

from __future__ import annotations

import pytest

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
