"""`cx-text app` stops its Streamlit server on SIGTERM / SIGINT: no orphan is left behind."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.app_server import app_server, gone, pids_with

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_app_process_stops_on_signal(tmp_path: Path, sig: signal.Signals) -> None:
    db = tmp_path / f"store_{sig.name}.duckdb"
    with app_server(db) as (_url, proc):
        assert pids_with(str(db)) == [proc.pid]  # one process: the server is `cx-text app` itself
        proc.send_signal(sig)
        assert proc.wait(timeout=30) is not None
        assert gone(str(db)), f"left running: {pids_with(str(db))}"
