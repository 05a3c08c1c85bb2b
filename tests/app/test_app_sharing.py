"""Sharing a store: the app stays open while `cx-text tag` writes; the app shows the new data
after a refresh; writes on either side wait out the other's short transactions or say "busy"."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import cx_text
from cx_text.app import snapshot
from cx_text.app.snapshot import AppStore, ShortWrites
from cx_text.store.store import open_store
from cx_text.testing import fake_tagger
from tests.error_codes import raises_code

REPO = Path(__file__).resolve().parents[2]
APP_MAIN = REPO / "cx_text" / "app" / "streamlit" / "main.py"
ENV = {
    **os.environ,
    "PYTHONPATH": str(REPO),
    "HF_HUB_OFFLINE": "1",
    "CX_TEXT_TAGGER": "cx_text.testing:keyword_tagger",
}


def _export(path: Path, n: int, start: int = 0) -> Path:
    pd.DataFrame(
        {
            "id": [f"m{start + i}" for i in range(n)],
            "text": [f"Курьер не приехал {i}" if i % 2 else f"Great app {i}" for i in range(n)],
            "date": ["2026-11-01"] * n,
        }
    ).to_csv(path, index=False)
    return path


def _store(tmp_path: Path, n: int = 5) -> Path:
    db = tmp_path / "shared.duckdb"
    cx_text.tag_file(
        _export(tmp_path / "first.csv", n), tmp_path / "first_out.csv", db=db, tagger=fake_tagger()
    )
    return db


def _cli_tag(src: Path, out: Path, db: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cx_text", "tag", str(src), "-o", str(out), "--db", str(db)],
        env=ENV,
        cwd=src.parent,
        capture_output=True,
        text=True,
        timeout=300,
    )


@contextmanager
def _held(
    db: Path, read_only: bool, seconds: float = 60, write: bool = False
) -> Iterator[subprocess.Popen[str]]:
    """Another process holding ``db`` (read-write or read-only, having written a change or not)
    until the block ends."""
    change = "con.execute(\"UPDATE feedback SET channel = 'y'\")\n" if write else ""
    code = (
        f"import duckdb, sys, time\ncon = duckdb.connect({str(db)!r}, read_only={read_only})\n"
        f"{change}print('held', flush=True)\ntime.sleep({seconds})"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        yield proc
    finally:
        proc.kill()
        proc.wait(timeout=10)


def _messages(at: AppTest) -> str:
    return " ".join(c.value for c in at.sidebar.caption)


def test_app_sharing_cli_tag_runs_while_the_app_is_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = _store(tmp_path, 5)
    monkeypatch.setenv("CX_TEXT_DB", str(db))
    at = AppTest.from_file(str(APP_MAIN), default_timeout=120)
    at.run()
    assert not at.exception and "5 messages" in _messages(at)
    done = _cli_tag(
        _export(tmp_path / "nightly.csv", 7, start=100), tmp_path / "nightly_out.csv", db
    )
    assert done.returncode == 0, done.stderr[-2000:]
    time.sleep(snapshot.CHECK_EVERY_S)
    at.run()  # the next interaction (or a browser refresh) shows the new data
    assert not at.exception and "12 messages" in _messages(at)


def test_app_sharing_app_reads_a_snapshot_while_another_process_writes(tmp_path: Path) -> None:
    app = AppStore(_store(tmp_path, 4), check_every=0)
    with _held(app.path, read_only=False):  # a writer that has not changed anything yet
        assert app.refresh() is False and not app.busy
    with _held(app.path, read_only=False, write=True):  # a nightly run, half-way
        assert app.refresh() is False and app.busy  # the writer is not waited for …
        with app.lock:  # … and the last snapshot still answers
            assert app.store.query("SELECT count(*) AS n FROM feedback")["n"].iloc[0] == 4
    assert app.refresh() is True and not app.busy  # it finished: its data is read
    with app.lock:
        assert set(app.store.query("SELECT channel FROM feedback")["channel"]) == {"y"}
    app.close()


def test_app_sharing_app_write_says_busy_when_a_writer_keeps_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = AppStore(_store(tmp_path, 3), check_every=0)
    monkeypatch.setattr(snapshot, "WRITE_WAIT_S", 0.5)
    with _held(app.path, read_only=False), raises_code("CX-E060", "busy"), app.writable():
        pass
    app.close()


def test_app_sharing_writes_wait_out_a_short_hold(tmp_path: Path) -> None:
    db = _store(tmp_path, 3)
    with _held(db, read_only=True, seconds=1.5):  # e.g. the app copying its snapshot
        started = time.monotonic()
        with open_store(db) as store:  # what `cx-text tag` / `themes` / `loop` open
            store.con.execute("UPDATE feedback SET channel = 'x'")
        assert time.monotonic() - started > 0.3  # it had to wait, and then it worked


def test_app_sharing_upload_writes_chunk_by_chunk(tmp_path: Path) -> None:
    from cx_text.app.upload import tag_upload
    from cx_text.core.config import Settings
    from cx_text.testing import keyword_tagger

    app = AppStore(_store(tmp_path, 2), check_every=0)
    src = _export(tmp_path / "up.csv", 9, start=50)
    result = tag_upload(
        src, ShortWrites(app), keyword_tagger, Settings(chunk_size=4), tmp_path / "up_out.csv"
    )
    app.refresh(force=True)
    with app.lock:
        assert result.rows == 9
        assert app.store.query("SELECT count(*) AS n FROM feedback")["n"].iloc[0] == 11
        assert app.store.query("SELECT count(*) AS n FROM run_chunks")["n"].iloc[0] == 1 + 3
    app.close()


def test_app_sharing_duckdb_rule_the_design_relies_on(tmp_path: Path) -> None:
    """Measured with DuckDB 2.0: a read-only connection in one process blocks a writer in another
    (this is why the app keeps none open on the store itself)."""
    db = _store(tmp_path, 1)
    con = duckdb.connect(str(db), read_only=True)
    try:
        code = f"import duckdb\nduckdb.connect({str(db)!r})"
        proc = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
        )
        assert proc.returncode != 0 and "lock" in proc.stderr.lower()
    finally:
        con.close()
