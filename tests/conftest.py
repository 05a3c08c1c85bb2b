"""Shared fixtures. Heavy resources are session-scoped; nothing touches the network."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_dir() -> Path:
    return REPO


def pytest_unconfigure(config: pytest.Config) -> None:
    """Free DuckDB connections held in reference cycles (e.g. by Streamlit's caches in AppTest)
    before the interpreter shuts down, so no native-binding leak report trails the summary."""
    import gc

    gc.collect()
