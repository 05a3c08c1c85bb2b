"""The one run service: begin (or resume) a run, record chunks, count statuses, decide, finish.

Every engine — the local streaming engine, the Spark file engine and the app's upload — tags an
export through a :class:`FileRun`:

1. :meth:`FileRun.begin` claims the work folder next to the output (``.<output>.cx-parts/``,
   :mod:`cx_text.engines.parts`), verifying on ``--resume`` that the input file (a streamed
   SHA-256 of every byte), mapping, chunk size, models and source are those of the interrupted
   run, and registers the run in the store (or reopens the interrupted one).
2. :meth:`FileRun.record` writes one tagged chunk as an atomic Parquet part and appends it to the
   store in one transaction; :meth:`FileRun.replay` stores a part an interrupted run wrote but
   did not store.
3. :meth:`FileRun.finish` assembles the output from the parts in input order (rows in = rows out
   is checked), counts statuses and languages and closes the store run: ``complete`` — visible to
   every view — unless more than ``Settings.max_error_share`` of the rows failed to tag, then
   ``failed`` with the reason, and the previous tags of those messages stay current.

A run that raises is marked ``interrupted`` (a killed one stays ``running``); both resume with
``--resume`` or are removed with ``cx-text runs discard RUN_ID``. Neither is ever "latest".
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from contextlib import nullcontext, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from cx_text.core import schema
from cx_text.core.config import Settings
from cx_text.core.errors import CxTextError, RunError
from cx_text.engines.parts import PartsDir, claim_run
from cx_text.io.output import OutputWriter

COMPLETE, FAILED = "complete", "failed"


@dataclass
class RunSummary:
    """What a run did: printed at the end and stored with the run."""

    run_id: str
    input: str
    output: str
    rows_in: int = 0
    rows_out: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    by_lang: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    rows_per_s: float = 0.0
    resumed_chunks: int = 0
    db: str | None = None
    source: str = ""
    status: str = COMPLETE
    status_note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def render(self) -> str:
        status = ", ".join(
            f"{k} {v:,}" for k, v in sorted(self.by_status.items(), key=lambda kv: -kv[1])
        )
        langs = ", ".join(
            f"{k} {v:,}" for k, v in sorted(self.by_lang.items(), key=lambda kv: -kv[1])
        )
        lines = [
            f"tagged {self.rows_out:,} of {self.rows_in:,} rows in {self.seconds:,.1f} s "
            f"({self.rows_per_s:,.0f} rows/s) -> {self.output}",
            f"  status: {status or '-'}",
            f"  language: {langs or '-'}",
            f"  run: {self.run_id}",
        ]
        if self.source:
            lines.append(f"  source: {self.source}")
        if self.resumed_chunks:
            lines.append(f"  resumed: {self.resumed_chunks} chunk(s) were already done")
        if self.db:
            lines.append(f"  store: {self.db}")
        if self.status != COMPLETE:
            lines.append(f"  run {self.status.upper()}: {self.status_note}")
        return "\n".join(lines)


# -- one run -------------------------------------------------------------------------------------
@dataclass
class FileRun:
    """One run of an export into an output (and optionally a store): see the module docstring."""

    parts: PartsDir
    store: Any
    summary: RunSummary
    max_error_share: float = 0.05
    started: float = field(default_factory=time.perf_counter)

    @classmethod
    def begin(
        cls,
        path: Path,
        output: Path,
        settings: Settings,
        *,
        store: Any,
        manifest: Mapping[str, Any],
        fingerprint: str,
        sha256: str,
        source: str,
        resume: bool | str = False,
        run_id: str | None = None,
        db: str | None = None,
    ) -> FileRun:
        """Claim the work folder (a new run or a verified resume); register the run in the store."""
        parts = PartsDir(output)
        run_id = claim_run(parts, fingerprint, resume, run_id, sha256)
        if store is not None:
            register_run(
                store,
                run_id,
                {
                    **manifest,
                    "source": source,
                    "input_sha256": sha256,
                    "output": str(output.resolve()),
                },
                str(path),
                fingerprint,
                source,
            )
        summary = RunSummary(
            run_id=run_id, input=str(path), output=str(output), db=db, source=source
        )
        return cls(parts, store, summary, settings.max_error_share)

    @property
    def run_id(self) -> str:
        return self.summary.run_id

    def done(self) -> set[int]:
        """Chunks whose parts an interrupted run already wrote."""
        return set(self.parts.indexes())

    def record(self, index: int, tagged: pd.DataFrame, first_row: int) -> None:
        """A freshly tagged chunk: its part, then its rows in the store (one transaction)."""
        self.parts.write(index, tagged)
        if self.store is not None:
            self.store.append_chunk(self.run_id, index, tagged, first_row=first_row)

    def replay(self, index: int, first_row: int) -> None:
        """A chunk the interrupted run finished: into the store if it did not get there."""
        if self.store is not None and index not in self.store.finished_chunks(self.run_id):
            self.store.append_chunk(self.run_id, index, self.parts.read(index), first_row=first_row)
        self.summary.resumed_chunks += 1

    def interrupted(self, exc: BaseException) -> None:
        """Record why the run stopped (it stays invisible; ``--resume`` continues it)."""
        if self.store is None:
            return
        with suppress(Exception):  # the store itself may be what failed: the run stays 'running'
            self.store.mark_interrupted(self.run_id, f"{type(exc).__name__}: {exc}")

    def finish(
        self, output: Path, customers: pd.DataFrame | None = None, **facts: Any
    ) -> RunSummary:
        """Assemble the output, decide complete/failed, close the store run, remove the parts."""
        assemble_parts(self.parts, output, self.summary)
        self.summary.seconds = round(time.perf_counter() - self.started, 2)
        self.summary.rows_per_s = round(self.summary.rows_out / max(self.summary.seconds, 1e-9), 1)
        self.summary.status, self.summary.status_note = decide(self.summary, self.max_error_share)
        if self.store is not None:
            if customers is not None:
                self.store.load_customers(customers)
            self.store.finish_run(
                self.run_id,
                {**self.summary.as_dict(), **facts},
                status=self.summary.status,
                note=self.summary.status_note,
            )
        self.parts.remove()
        return self.summary


def register_run(
    store: Any,
    run_id: str,
    manifest: dict[str, Any],
    input_path: str,
    fingerprint: str,
    source: str,
) -> None:
    """Begin ``run_id`` in the store, or reopen it when an interrupted run resumes."""
    status = store.run_status(run_id)
    if status is None:
        store.begin_run(manifest, input_path, fingerprint, run_id=run_id, source=source)
    elif status == "discarded":
        raise RunError(
            f"run {run_id} was discarded from the store.",
            "Delete the work folder next to the output and tag the export again.",
        )
    elif status in ("running", "interrupted"):
        store.reopen_run(run_id)


def discard_run(store: Any, run_id: str) -> tuple[dict[str, int], str]:
    """Discard a crashed, interrupted or failed run: its rows in the store and its work folder.

    The folder is found from the output recorded with the run (never from a path a user passes)
    and removed only if it is this run's (:meth:`PartsDir.remove_if_owned`).
    """
    removed = store.discard_run(run_id)
    row = store.con.execute(
        "SELECT json_extract_string(manifest, '$.output') FROM runs WHERE run_id = ?", [run_id]
    ).fetchone()
    if not row or not row[0]:
        return (
            removed,
            "the run recorded no output, so its work folder (.<output>.cx-parts) is unknown",
        )
    return removed, PartsDir(Path(row[0])).remove_if_owned(run_id)


def decide(summary: RunSummary, max_error_share: float) -> tuple[str, str | None]:
    """``complete``, or ``failed`` with the reason when too many rows failed to tag."""
    errors, rows = summary.by_status.get("error", 0), summary.rows_out
    if rows and errors / rows > max_error_share:
        return FAILED, (
            f"{errors:,} of {rows:,} rows ({errors / rows:.1%}) failed to tag, above the "
            f"{max_error_share:.0%} limit (CX_TEXT_MAX_ERROR_SHARE); the store keeps the "
            "previous tags of these messages. Fix the cause and tag the export again."
        )
    return COMPLETE, None


def assemble_parts(parts: PartsDir, output: Path, summary: RunSummary) -> None:
    """Concatenate the parts into ``output`` in input order; fill the summary's counts."""
    status: Counter[str] = Counter()
    langs: Counter[str] = Counter()
    summary.rows_out = 0
    template = _template(parts)
    with OutputWriter(
        output, user_view=True
    ) as out:  # the user's columns and names (io/columns.py)
        if template is not None:
            out.write(template)
        for index in parts.indexes():
            frame = parts.read(index)
            out.write(frame if template is None else _conform(frame, template))
            status.update(frame[schema.ROW_STATUS].astype(str).map(lambda s: s.split(":")[0]))
            if schema.LANG in frame.columns:
                langs.update(frame[schema.LANG].fillna("").astype(str).replace("", "none"))
            summary.rows_out += len(frame)
    summary.by_status, summary.by_lang = dict(status), dict(langs)
    if summary.rows_out != summary.rows_in:
        raise CxTextError(
            f"rows in {summary.rows_in:,} != rows out {summary.rows_out:,}.",
            f"The work folder {parts.path} is inconsistent: delete it and re-run.",
        )


def _template(parts: PartsDir) -> pd.DataFrame | None:
    """A zero-row frame with every column of every part, typed like the richest part — only when
    parts differ (a chunk whose every row failed lacks the model's columns, and the output file
    takes its columns and types from the first frame written); ``None`` when they all agree."""
    import pyarrow.parquet as pq

    indexes = parts.indexes()
    names = [pq.read_schema(parts.part(i)).names for i in indexes]
    if all(n == names[0] for n in names):
        return None
    richest = max(range(len(names)), key=lambda k: len(names[k]))
    columns = list(dict.fromkeys([*names[richest], *(c for n in names for c in n)]))
    return _conform(parts.read(indexes[richest]).iloc[:0], columns)


def _conform(frame: pd.DataFrame, template: pd.DataFrame | list[str]) -> pd.DataFrame:
    """``frame`` with the template's columns in its order; a missing column is all None."""
    columns = list(template.columns) if isinstance(template, pd.DataFrame) else template
    missing = {
        c: pd.Series([None] * len(frame), index=frame.index, dtype=object)
        for c in columns
        if c not in frame.columns
    }
    return (
        pd.concat([frame, pd.DataFrame(missing, index=frame.index)], axis=1)[columns]
        if missing
        else frame[columns]
    )


#: DuckDB buffer pool while tagging. Left at DuckDB's default (80 % of RAM) it kept appended
#: pages: replaying 480k tagged rows into a store grew RSS by 425 MB; capped at 100 MB it
#: plateaued ~70 MB above the start from 100k rows on. Appends need little memory.
TAGGING_STORE_MEMORY = "128MB"


def open_optional_store(db_path: Path | None) -> Any:
    """``open_store(db_path)`` with a capped buffer pool, or a context yielding ``None``."""
    if db_path is None:
        return nullcontext(None)
    from cx_text.store.store import open_store

    return open_store(db_path, memory_limit=TAGGING_STORE_MEMORY)


def count_total(path: Path, sheet: str | None) -> int | None:
    """Rows in the input for the progress bar, or ``None`` when they cannot be counted."""
    from cx_text.io.ingest import count_rows

    try:
        return count_rows(path, sheet=sheet)
    except Exception:
        return None


def ingest_report(stream: Any) -> Any:
    """The ingest report of a finished stream, as stored with the run."""
    report = stream.report
    return report.as_dict() if hasattr(report, "as_dict") else str(report)
