"""Opening a DuckDB file that another process may hold: wait briefly instead of failing at once.

DuckDB lets one process open a file read-write, or any number of processes open it read-only —
never both (measured with DuckDB 2.0: a read-only connection in one process makes a read-write
open in another fail with "Could not set lock", and the reverse). The app therefore holds no
connection to the store between interactions (it reads a private snapshot, see
:mod:`cx_text.app.snapshot`), and everything that opens the store retries for a few seconds, so
the short moments when another process holds it (the app's refresh check, a one-chunk write)
never fail a ``cx-text tag`` / ``themes`` / ``loop`` command.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import duckdb

#: how long an open waits for another process to let go of the file (seconds)
LOCK_WAIT_S = 15.0


def is_lock_error(exc: BaseException) -> bool:
    """True for DuckDB's "another process holds this file" error."""
    text = str(exc)
    return isinstance(exc, duckdb.Error) and (
        "Could not set lock" in text or "Conflicting lock" in text
    )


def connect_retrying(
    path: Path | str,
    *,
    read_only: bool = False,
    config: dict[str, Any] | None = None,
    wait_s: float = LOCK_WAIT_S,
) -> duckdb.DuckDBPyConnection:
    """``duckdb.connect`` that retries (backing off to 0.5 s) while the file is locked by another
    process, for up to ``wait_s`` seconds; then the lock error is raised."""
    deadline = time.monotonic() + wait_s
    pause = 0.05
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only, config=config or {})
        except duckdb.Error as exc:
            if not is_lock_error(exc) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.5)
