"""The DuckDB store: runs, feedback, tags, aspects, evidence, customers (schema: store/schema.py).

A message is identified by ``(source, id)``: the export it came from and its id there. Writes
happen chunk by chunk inside one transaction each, together with a ``run_chunks`` row, so an
interrupted run can resume from the last finished chunk without duplicates. Reads go through the
views (store/views.py), which pick for every message the newest *complete* run with a good row
for it — re-tagging the same export is a new run that supersedes only that export's tags.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from cx_text.core import schema
from cx_text.core.errors import StoreError
from cx_text.io.source import source_name
from cx_text.store.locks import connect_retrying
from cx_text.store.rows import (
    NOT_EXTRA,
    aspect_rows,
    evidence_rows,
    extra_json,
    feedback_rows,
    tag_rows,
    unique_ids,
)
from cx_text.store.runs import RunsMixin
from cx_text.store.schema import LATEST_VERSION, MIGRATIONS
from cx_text.text.pii_frame import customers_view, manifest_masks, store_view, summary_view

#: run statuses: only ``complete`` runs are visible to the views
RUNNING, COMPLETE, FAILED, INTERRUPTED, DISCARDED = (
    "running",
    "complete",
    "failed",
    "interrupted",
    "discarded",
)


class Store(RunsMixin):
    """An open DuckDB store. Use :func:`open_store` (a context manager)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path) -> None:
        self.con = con
        self.path = path
        self._sources: dict[str, str] = {}

    # -- runs -----------------------------------------------------------------------------------
    def begin_run(
        self,
        manifest: dict[str, Any],
        input_path: str = "",
        fingerprint: str = "",
        rows_in: int | None = None,
        run_id: str | None = None,
        *,
        source: str | None = None,
    ) -> str:
        """Register a new run (status ``running``) of the export ``source`` and return its id.

        ``source`` defaults to the manifest's ``source``, else the normalised stem of
        ``input_path``.
        """
        run_id = run_id or new_run_id()
        source = source or manifest.get("source") or source_name(input_path)
        self.mask_pii = manifest_masks(manifest)  # PII hook: what later writes of this run mask
        self.con.execute(
            "INSERT INTO runs (run_id, started_at, status, input_path, input_fingerprint, rows_in, "
            "manifest, source) VALUES (?, ?, 'running', ?, ?, ?, ?, ?)",
            [
                run_id,
                _now(),
                input_path,
                fingerprint,
                rows_in,
                json.dumps({**manifest, "source": source}, default=str),
                source,
            ],
        )
        return run_id

    def run_source(self, run_id: str) -> str:
        """The source export of ``run_id`` (StoreError for an unknown run)."""
        if run_id not in self._sources:
            row = self.con.execute("SELECT source FROM runs WHERE run_id = ?", [run_id]).fetchone()
            if row is None:
                raise StoreError(f"no run {run_id!r} in {self.path}.", "See `cx-text runs list`.")
            self._sources[run_id] = str(row[0])
        return self._sources[run_id]

    def find_resumable_run(self, fingerprint: str) -> str | None:
        """The newest unfinished run over the same input fingerprint, if any."""
        row = self.con.execute(
            "SELECT run_id FROM runs WHERE input_fingerprint = ? AND status = 'running' "
            "ORDER BY started_at DESC LIMIT 1",
            [fingerprint],
        ).fetchone()
        return str(row[0]) if row else None

    def finished_chunks(self, run_id: str) -> set[int]:
        rows = self.con.execute(
            "SELECT chunk_index FROM run_chunks WHERE run_id = ?", [run_id]
        ).fetchall()
        return {int(r[0]) for r in rows}

    def finish_run(
        self, run_id: str, summary: dict[str, Any], status: str = COMPLETE, note: str | None = None
    ) -> None:
        """Close a run: ``complete`` makes it visible to the views; any other status hides it."""
        summary = summary_view(summary, getattr(self, "mask_pii", True))  # PII hook
        counts = self.con.execute(
            "SELECT count(*), count_if(starts_with(row_status, 'error')) FROM tags WHERE run_id "
            "= ?",
            [run_id],
        ).fetchone() or (0, 0)
        self.con.execute(
            "UPDATE runs SET status = ?, finished_at = ?, summary = ?, status_note = ?, rows_out "
            "= ?, "
            "errors = ?, rows_in = coalesce(?, rows_in) WHERE run_id = ?",
            [
                status,
                _now(),
                json.dumps(summary, default=str),
                note,
                counts[0],
                counts[1],
                summary.get("rows_in"),
                run_id,
            ],
        )

    def runs(self) -> pd.DataFrame:
        return self.con.execute("SELECT * FROM runs ORDER BY started_at").df()

    def latest_run_id(self) -> str | None:
        row = self.con.execute(
            "SELECT run_id FROM runs WHERE status = 'complete' ORDER BY started_at DESC LIMIT 1"
        ).fetchone()
        return str(row[0]) if row else None

    # -- writes ---------------------------------------------------------------------------------
    def append_chunk(
        self, run_id: str, chunk_index: int, tagged: pd.DataFrame, *, first_row: int = 0
    ) -> None:
        """Store one tagged chunk atomically (feedback, tags, aspects, evidence + its chunk row).

        Every row is kept: an id already used in this run (or twice in the chunk) is stored as
        ``id#2`` … with a note in ``row_issues`` (ingest does the same for a whole export).
        """
        if chunk_index in self.finished_chunks(run_id):
            return
        tagged = unique_ids(tagged, self._ids_taken(run_id, tagged))
        tagged = store_view(tagged, NOT_EXTRA, getattr(self, "mask_pii", True))  # PII hook
        frames = {
            "feedback": feedback_rows(tagged, run_id, self.run_source(run_id)),
            "tags": tag_rows(tagged, run_id, first_row),
            "aspects": aspect_rows(tagged, run_id),
            "evidence": evidence_rows(tagged, run_id),
        }
        with self.transaction():
            for name, frame in frames.items():
                if len(frame):
                    self._insert(name, frame)
            self.con.execute(
                "INSERT INTO run_chunks VALUES (?, ?, ?, ?)",
                [run_id, chunk_index, len(tagged), _now()],
            )

    def _ids_taken(self, run_id: str, tagged: pd.DataFrame) -> list[str]:
        """Ids of ``tagged`` this run already stored (only a writer without ingest has any)."""
        ids = pd.DataFrame({"id": tagged[schema.ID].astype(str).unique()})
        self.con.register("_ids", ids)
        try:
            rows = self.con.execute(
                "SELECT id FROM tags WHERE run_id = ? AND id IN (SELECT id FROM _ids)", [run_id]
            ).fetchall()
        finally:
            self.con.unregister("_ids")
        return [str(r[0]) for r in rows]

    def _insert(self, table: str, frame: pd.DataFrame) -> None:
        self.con.register("_chunk", frame)
        try:
            cols = ", ".join(frame.columns)
            self.con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM _chunk")
        finally:
            self.con.unregister("_chunk")

    def load_customers(self, customers: pd.DataFrame) -> int:
        """Upsert a customers table (customer_id, signup, churned_at, ltv, any extra columns)."""
        schema.require_columns(customers, ["customer_id"], "customers file")
        customers = customers_view(customers, getattr(self, "mask_pii", True))  # PII hook
        frame = pd.DataFrame(
            {
                "customer_id": customers["customer_id"].astype(str),
                "signup": _dates(customers.get("signup")),
                "churned_at": _dates(customers.get("churned_at")),
                "ltv": pd.to_numeric(customers["ltv"], errors="coerce")
                if "ltv" in customers
                else None,
                "extra": extra_json(customers, {"customer_id", "signup", "churned_at", "ltv"}),
            }
        ).drop_duplicates("customer_id", keep="last")
        with self.transaction():
            self.con.register("_cust", frame)
            try:
                self.con.execute(
                    "INSERT OR REPLACE INTO customers SELECT customer_id, signup, churned_at, "
                    "ltv, extra FROM _cust"
                )
            finally:
                self.con.unregister("_cust")
        return len(frame)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")

    # -- reads ----------------------------------------------------------------------------------
    def query(self, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
        """Run a read query and return a DataFrame (aggregations belong in SQL, not pandas)."""
        return self.con.execute(sql, params or []).df()

    def export_run(self, run_id: str | None, path: Path) -> Path:
        """Write one run's feedback ⨝ tags (+ aspects, evidence as lists) to Parquet."""
        run_id = run_id or self.latest_run_id()
        if run_id is None:
            raise StoreError(
                f"the store {self.path} has no complete run to export.", "Run `cx-text tag` first."
            )
        self.con.execute(
            f"""COPY (
                SELECT f.* EXCLUDE (run_id), t.* EXCLUDE (id, run_id), t.run_id,
                  (SELECT list({{'topic': a.topic, 'polarity': a.polarity, 'score': a.score}})
                     FROM aspects a WHERE a.run_id = t.run_id AND a.id = t.id) AS aspect_sentiments
                FROM tags t JOIN feedback f USING (run_id, id) WHERE t.run_id = ? ORDER BY \
t.row_index
            ) TO '{_sql_path(path)}' (FORMAT PARQUET)""",
            [run_id],
        )
        return path


@contextmanager
def open_store(
    path: Path | str, *, read_only: bool = False, memory_limit: str | None = None
) -> Iterator[Store]:
    """Open (creating and migrating when writable) the DuckDB store at ``path``.

    ``memory_limit`` caps DuckDB's buffer pool (e.g. ``"128MB"``; default: DuckDB's, 80 % of
    RAM). Tagging sets it: appended pages are otherwise kept in memory and the process grows
    with the input.
    """
    path = Path(path)
    if read_only and not path.is_file():
        raise StoreError(
            f"no store at {path}.", "Tag an export first: cx-text tag FILE -o OUT --db PATH."
        )
    try:
        config: dict[str, str | bool | int | float | list[str]] = (
            {"memory_limit": memory_limit} if memory_limit else {}
        )
        con = connect_retrying(path, read_only=read_only, config=config)  # waits out a brief lock
    except duckdb.Error as exc:
        if "lock" in str(exc).lower():
            raise StoreError(
                f"the store {path} is in use by another process ({exc}).",
                "Only one process can write to a store: wait for the other `cx-text tag` "
                "(or the app's upload) to finish and run again, or use another --db.",
            ) from exc
        raise StoreError(
            f"cannot open the store {path}: {exc}",
            "Is another process writing to it? Close it or use a copy.",
        ) from exc
    try:
        if not read_only:
            migrate(con)
        else:
            _check_version(con, path)
        yield Store(con, path)
    finally:
        con.close()


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Apply pending migrations in order; returns the schema version."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
        "name VARCHAR, applied_at TIMESTAMP)"
    )
    done = {int(r[0]) for r in con.execute("SELECT version FROM schema_migrations").fetchall()}
    for version, name, step in MIGRATIONS:
        if version in done:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            step(con) if callable(step) else con.execute(step)
            con.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", [version, name, _now()])
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")
    return LATEST_VERSION


def _check_version(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    try:
        row = con.execute("SELECT max(version) FROM schema_migrations").fetchone()
    except duckdb.Error as exc:
        raise StoreError(
            f"{path} is not a cx_text store.", "Point --db at a store made by cx-text tag."
        ) from exc
    if row is None or row[0] is None or int(row[0]) < LATEST_VERSION:
        raise StoreError(
            f"the store {path} has an old schema.",
            "Open it once writable (cx-text tag … --db) to migrate.",
        )


def _dates(values: Any) -> Any:
    if values is None:
        return None
    return pd.to_datetime(values, errors="coerce").dt.date


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")
