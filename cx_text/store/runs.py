"""Run bookkeeping queries of the store: list runs, reopen an interrupted one, discard one.

``cx-text runs list`` / ``cx-text runs discard RUN_ID`` call these. A discarded run keeps its
``runs`` row (status ``discarded``, for the record) but loses every row it wrote.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from cx_text.core.errors import StoreError

RUN_TABLES = ("feedback", "tags", "aspects", "evidence", "run_chunks")
#: statuses a run can be discarded from (a complete run is superseded by re-tagging instead)
DISCARDABLE = ("running", "interrupted", "failed")
RESUMABLE = ("running", "interrupted")
LIST_SQL = """
SELECT run_id, source, status, rows_in, rows_out, errors, started_at, finished_at, status_note,
       input_path
FROM runs ORDER BY started_at, run_id"""


class RunsMixin:
    """Run-level reads and maintenance; mixed into :class:`cx_text.store.store.Store`."""

    con: Any
    path: Path

    def transaction(self) -> AbstractContextManager[None]:  # provided by Store
        raise NotImplementedError

    def list_runs(self) -> pd.DataFrame:
        """Every run, oldest first: id, source, status, rows in/out, errors, times, note."""
        return self.con.execute(LIST_SQL).df()

    def run_status(self, run_id: str) -> str | None:
        row = self.con.execute("SELECT status FROM runs WHERE run_id = ?", [run_id]).fetchone()
        return None if row is None else str(row[0])

    def reopen_run(self, run_id: str) -> None:
        """Mark an interrupted run ``running`` again (``--resume``)."""
        status = self.run_status(run_id)
        if status not in RESUMABLE:
            raise StoreError(
                f"run {run_id} is {status or 'unknown'}; only an interrupted run can resume.",
                "Tag the export again without --resume (delete the work folder).",
            )
        self.con.execute(
            "UPDATE runs SET status = 'running', status_note = NULL WHERE run_id = ?", [run_id]
        )

    def mark_interrupted(self, run_id: str, reason: str) -> None:
        """Record why a run stopped early; its rows stay invisible until resumed or discarded."""
        self.con.execute(
            "UPDATE runs SET status = 'interrupted', status_note = ? "
            "WHERE run_id = ? AND status = 'running'",
            [reason[:500], run_id],
        )

    def discard_run(self, run_id: str) -> dict[str, int]:
        """Delete the rows of a crashed, interrupted or failed run; returns rows removed per
        table."""
        status = self.run_status(run_id)
        if status is None:
            raise StoreError(
                f"no run {run_id!r} in {self.path}.", "See `cx-text runs list` for run ids."
            )
        if status not in DISCARDABLE:
            raise StoreError(
                f"run {run_id} is {status}; only a running (crashed), interrupted or failed "
                "run can be discarded.",
                "A complete run is superseded by tagging the same export again.",
            )
        removed: dict[str, int] = {}
        with self.transaction():
            for table in RUN_TABLES:
                row = self.con.execute(
                    f"SELECT count(*) FROM {table} WHERE run_id = ?", [run_id]
                ).fetchone()
                removed[table] = int(row[0]) if row else 0
                self.con.execute(f"DELETE FROM {table} WHERE run_id = ?", [run_id])
            self.con.execute(
                "UPDATE runs SET status = 'discarded', finished_at = ?, status_note = ? "
                "WHERE run_id = ?",
                [_now(), f"discarded (was {status})", run_id],
            )
        return removed


def render_runs(runs: pd.DataFrame) -> str:
    """``cx-text runs list`` as a plain table."""
    if runs.empty:
        return "No runs yet: tag an export with `cx-text tag FILE -o OUT`."
    head = (
        f"{'run':<24} {'source':<20} {'status':<11} {'rows in':>9} {'rows out':>9} {'errors':>7} "
        f" started"
    )
    lines = [head]
    for r in runs.itertuples():
        lines.append(
            f"{r.run_id:<24} {str(r.source)[:20]:<20} {r.status:<11} {_n(r.rows_in):>9} "
            f"{_n(r.rows_out):>9} {_n(r.errors):>7}  {str(r.started_at)[:19]}"
            + (f"  — {r.status_note}" if isinstance(r.status_note, str) and r.status_note else "")
        )
    return "\n".join(lines)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _n(value: Any) -> str:
    return "-" if value is None or pd.isna(value) else f"{int(value):,}"


__all__ = ["DISCARDABLE", "RESUMABLE", "RunsMixin", "render_runs"]
