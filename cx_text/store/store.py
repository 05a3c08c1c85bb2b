"""The DuckDB store: runs, feedback, tags, aspects, evidence, customers (schema: store_schema.py).

Writes happen chunk by chunk inside one transaction each, together with a ``run_chunks`` row, so
an interrupted run can resume from the last finished chunk without duplicates. Reads go through
the ``tagged`` / ``latest_*`` views, which pick for every message the newest *complete* run that
tagged it — re-tagging the same rows with a new model is a new run that supersedes the old one.
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
from cx_text.store.locks import connect_retrying
from cx_text.store.schema import LATEST_VERSION, MIGRATIONS
from cx_text.text.pii_frame import customers_view, manifest_masks, store_view, summary_view

_FEEDBACK_COLS = [schema.ID, "text", schema.CREATED_AT, schema.CHANNEL, schema.SOURCE, schema.NPS,
                  schema.CSAT, schema.CES, schema.RATING, schema.CUSTOMER_ID, schema.SEGMENT]
_TAG_COLS = [schema.LANG, schema.LANG_CONFIDENCE, schema.SENTIMENT, schema.SENTIMENT_SCORE,
             schema.TOPICS, schema.SUBTOPICS, schema.TOPIC_SCORES, schema.PII_FOUND,
             schema.DEDUPE_KEY, schema.ROW_STATUS, schema.ROW_ISSUES]
_NOT_EXTRA = set(_FEEDBACK_COLS) | set(_TAG_COLS) | {
    schema.TEXT, schema.TEXT_CLEAN, schema.ANALYSIS, schema.SENTIMENT_PROBS, schema.ASPECT_SENTIMENTS,
    schema.EVIDENCE, schema.THEMES, "source_row"}


class Store:
    """An open DuckDB store. Use :func:`open_store` (a context manager)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path) -> None:
        self.con = con
        self.path = path

    # -- runs -----------------------------------------------------------------------------------
    def begin_run(self, manifest: dict[str, Any], input_path: str = "", fingerprint: str = "",
                  rows_in: int | None = None, run_id: str | None = None) -> str:
        """Register a new run (status ``running``) and return its id."""
        run_id = run_id or new_run_id()
        self.mask_pii = manifest_masks(manifest)  # PII hook: what later writes of this run mask
        self.con.execute(
            "INSERT INTO runs VALUES (?, ?, NULL, 'running', ?, ?, ?, ?, NULL)",
            [run_id, _now(), input_path, fingerprint, rows_in, json.dumps(manifest, default=str)],
        )
        return run_id

    def find_resumable_run(self, fingerprint: str) -> str | None:
        """The newest unfinished run over the same input fingerprint, if any."""
        row = self.con.execute(
            "SELECT run_id FROM runs WHERE input_fingerprint = ? AND status = 'running' "
            "ORDER BY started_at DESC LIMIT 1", [fingerprint]).fetchone()
        return str(row[0]) if row else None

    def finished_chunks(self, run_id: str) -> set[int]:
        rows = self.con.execute("SELECT chunk_index FROM run_chunks WHERE run_id = ?", [run_id]).fetchall()
        return {int(r[0]) for r in rows}

    def finish_run(self, run_id: str, summary: dict[str, Any], status: str = "complete") -> None:
        summary = summary_view(summary, getattr(self, "mask_pii", True))  # PII hook
        self.con.execute(
            "UPDATE runs SET status = ?, finished_at = ?, summary = ? WHERE run_id = ?",
            [status, _now(), json.dumps(summary, default=str), run_id],
        )

    def runs(self) -> pd.DataFrame:
        return self.con.execute("SELECT * FROM runs ORDER BY started_at").df()

    def latest_run_id(self) -> str | None:
        row = self.con.execute(
            "SELECT run_id FROM runs WHERE status = 'complete' ORDER BY started_at DESC LIMIT 1").fetchone()
        return str(row[0]) if row else None

    # -- writes ---------------------------------------------------------------------------------
    def append_chunk(self, run_id: str, chunk_index: int, tagged: pd.DataFrame, *,
                     first_row: int = 0) -> None:
        """Store one tagged chunk atomically (feedback upsert, tags, aspects, evidence)."""
        if chunk_index in self.finished_chunks(run_id):
            return
        tagged = store_view(tagged, _NOT_EXTRA, getattr(self, "mask_pii", True))  # PII hook
        frames = {
            "feedback": feedback_rows(tagged, run_id),
            "tags": tag_rows(tagged, run_id, first_row),
            "aspects": aspect_rows(tagged, run_id),
            "evidence": evidence_rows(tagged, run_id),
        }
        with self.transaction():
            for name, frame in frames.items():
                if len(frame):
                    self._insert(name, frame)
            self.con.execute("INSERT INTO run_chunks VALUES (?, ?, ?, ?)",
                             [run_id, chunk_index, len(tagged), _now()])

    def _insert(self, table: str, frame: pd.DataFrame) -> None:
        self.con.register("_chunk", frame)
        try:
            cols = ", ".join(frame.columns)
            if table == "feedback":
                updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in frame.columns if c not in ("id", "first_run_id"))
                self.con.execute(f"INSERT INTO feedback ({cols}) SELECT {cols} FROM _chunk "
                                 f"ON CONFLICT (id) DO UPDATE SET {updates}")
            else:
                self.con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM _chunk")
        finally:
            self.con.unregister("_chunk")

    def load_customers(self, customers: pd.DataFrame) -> int:
        """Upsert a customers table (customer_id, signup, churned_at, ltv, any extra columns)."""
        schema.require_columns(customers, ["customer_id"], "customers file")
        customers = customers_view(customers, getattr(self, "mask_pii", True))  # PII hook
        frame = pd.DataFrame({
            "customer_id": customers["customer_id"].astype(str),
            "signup": _dates(customers.get("signup")), "churned_at": _dates(customers.get("churned_at")),
            "ltv": pd.to_numeric(customers["ltv"], errors="coerce") if "ltv" in customers else None,
            "extra": _extra_json(customers, {"customer_id", "signup", "churned_at", "ltv"}),
        }).drop_duplicates("customer_id", keep="last")
        with self.transaction():
            self.con.register("_cust", frame)
            try:
                self.con.execute("INSERT OR REPLACE INTO customers SELECT customer_id, signup, churned_at, ltv, extra FROM _cust")
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
            raise StoreError(f"the store {self.path} has no complete run to export.", "Run `cx-text tag` first.")
        self.con.execute(
            f"""COPY (
                SELECT f.*, t.* EXCLUDE (id, run_id), t.run_id,
                  (SELECT list({{'topic': a.topic, 'polarity': a.polarity, 'score': a.score}})
                     FROM aspects a WHERE a.run_id = t.run_id AND a.id = t.id) AS aspect_sentiments
                FROM tags t JOIN feedback f USING (id) WHERE t.run_id = ? ORDER BY t.row_index
            ) TO '{_sql_path(path)}' (FORMAT PARQUET)""", [run_id])
        return path


@contextmanager
def open_store(path: Path | str, *, read_only: bool = False,
               memory_limit: str | None = None) -> Iterator[Store]:
    """Open (creating and migrating when writable) the DuckDB store at ``path``.

    ``memory_limit`` caps DuckDB's buffer pool (e.g. ``"128MB"``; default: DuckDB's, 80 % of
    RAM). Tagging sets it: appended pages are otherwise kept in memory and the process grows
    with the input.
    """
    path = Path(path)
    if read_only and not path.is_file():
        raise StoreError(f"no store at {path}.", "Tag an export first: cx-text tag FILE -o OUT --db PATH.")
    try:
        config: dict[str, str | bool | int | float | list[str]] = (
            {"memory_limit": memory_limit} if memory_limit else {})
        con = connect_retrying(path, read_only=read_only, config=config)  # waits out a brief lock
    except duckdb.Error as exc:
        raise StoreError(f"cannot open the store {path}: {exc}",
                         "Is another process writing to it? Close it or use a copy.") from exc
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
    con.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                "name VARCHAR, applied_at TIMESTAMP)")
    done = {int(r[0]) for r in con.execute("SELECT version FROM schema_migrations").fetchall()}
    for version, name, sql in MIGRATIONS:
        if version in done:
            continue
        con.execute("BEGIN TRANSACTION")
        con.execute(sql)
        con.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", [version, name, _now()])
        con.execute("COMMIT")
    return LATEST_VERSION


def _check_version(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    try:
        row = con.execute("SELECT max(version) FROM schema_migrations").fetchone()
    except duckdb.Error as exc:
        raise StoreError(f"{path} is not a cx_text store.", "Point --db at a store made by cx-text tag.") from exc
    if row is None or row[0] is None or int(row[0]) < LATEST_VERSION:
        raise StoreError(f"the store {path} has an old schema.", "Open it once writable (cx-text tag … --db) to migrate.")


# -- frame -> table rows ---------------------------------------------------------------------------
def feedback_rows(tagged: pd.DataFrame, run_id: str) -> pd.DataFrame:
    text_col = schema.TEXT_CLEAN if schema.TEXT_CLEAN in tagged.columns else schema.TEXT
    out = pd.DataFrame({"id": tagged[schema.ID].astype(str), "text": tagged[text_col].astype("object")})
    for col in _FEEDBACK_COLS[2:]:
        out[col] = tagged[col] if col in tagged.columns else None
    out[schema.CREATED_AT] = pd.to_datetime(out[schema.CREATED_AT], errors="coerce")
    for col in (schema.NPS, schema.CSAT, schema.CES, schema.RATING):
        out[col] = pd.to_numeric(out[col], errors="coerce").astype("float64")
    for col in (schema.CHANNEL, schema.SOURCE, schema.CUSTOMER_ID, schema.SEGMENT):
        out[col] = out[col].map(lambda v: None if v is None or (isinstance(v, float) and pd.isna(v)) else str(v))
    out["extra"] = _extra_json(tagged, _NOT_EXTRA)
    out["first_run_id"] = run_id
    out["last_run_id"] = run_id
    return out.drop_duplicates("id", keep="last")


def tag_rows(tagged: pd.DataFrame, run_id: str, first_row: int) -> pd.DataFrame:
    out = pd.DataFrame({"run_id": run_id, "id": tagged[schema.ID].astype(str),
                        "row_index": range(first_row, first_row + len(tagged))})
    for col in _TAG_COLS:
        if col not in tagged.columns:
            out[col] = None
        elif col in (schema.TOPICS, schema.SUBTOPICS, schema.PII_FOUND, schema.ROW_ISSUES):
            out[col] = tagged[col].map(lambda v: [str(x) for x in _as_list(v)])
        elif col == schema.TOPIC_SCORES:
            out[col] = tagged[col].map(_scores_json)
        else:
            out[col] = tagged[col].to_numpy()
    return out.drop_duplicates("id", keep="last")


def aspect_rows(tagged: pd.DataFrame, run_id: str) -> pd.DataFrame:
    rows = [(run_id, str(i), a["topic"], a["polarity"], a.get("score"))
            for i, aspects in zip(tagged[schema.ID], tagged.get(schema.ASPECT_SENTIMENTS, []), strict=False)
            for a in _as_list(aspects)]
    return pd.DataFrame(rows, columns=["run_id", "id", "topic", "polarity", "score"])


def evidence_rows(tagged: pd.DataFrame, run_id: str) -> pd.DataFrame:
    rows = [(run_id, str(i), e["topic"], e.get("clause"), e.get("start"), e.get("end"),
             [str(t) for t in _as_list(e.get("terms"))], e.get("source"))
            for i, evidence in zip(tagged[schema.ID], tagged.get(schema.EVIDENCE, []), strict=False)
            for e in _as_list(evidence)]
    return pd.DataFrame(rows, columns=["run_id", "id", "topic", "clause", "clause_start", "clause_end", "terms", "source"])


def _as_list(value: Any) -> list[Any]:
    """Lists arrive as lists, tuples or numpy arrays (after a Parquet round trip); None -> []."""
    if isinstance(value, list | tuple):
        return list(value)
    if hasattr(value, "tolist") and not isinstance(value, str):
        out = value.tolist()
        return out if isinstance(out, list) else []
    return []


def _scores_json(value: Any) -> str | None:
    """Topic scores as JSON, from a dict or a Parquet map (list of key/value pairs); nulls dropped."""
    items: list[tuple[Any, ...]]
    if isinstance(value, dict):
        items = list(value.items())
    else:
        items = [tuple(p) for p in _as_list(value) if isinstance(p, list | tuple) and len(p) == 2]
    clean = {str(k): float(v) for k, v in items if v is not None}
    return json.dumps(clean) if clean else None


def _extra_json(frame: pd.DataFrame, exclude: set[str]) -> list[str | None]:
    extra = [c for c in frame.columns if c not in exclude]
    if not extra:
        return [None] * len(frame)
    records = frame[extra].astype("object").where(frame[extra].notna(), None).to_dict("records")
    return [json.dumps(r, ensure_ascii=False, default=str) for r in records]


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
