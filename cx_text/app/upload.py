"""Upload & tag for the app: save an uploaded export, preview its column mapping, tag it chunk by
chunk into the store (reporting progress to a callback) and write a downloadable result.

Rows in = rows out: each chunk goes through :func:`cx_text.engines.local.tag_safely`, so a row
that cannot be tagged keeps its place with ``row_status = "error: …"``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from cx_text.core import schema
from cx_text.core.config import Settings
from cx_text.core.config import load_callable as load_callable  # re-exported for the app
from cx_text.core.errors import IngestError
from cx_text.engines.local import Tagger, input_fingerprint, tag_safely
from cx_text.io.ingest import count_rows, open_export
from cx_text.io.output import OutputWriter
from cx_text.store.store import Store

MAX_UPLOAD_MB = 200
SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx", ".json", ".jsonl", ".ndjson", ".parquet")
OUTPUT_FORMATS = ("xlsx", "csv", "parquet")
Progress = Callable[[int, int | None], None]


def save_upload(name: str, data: bytes, folder: Path) -> Path:
    """Write uploaded bytes to ``folder`` under a safe name; IngestError on a bad type or size."""
    suffix = Path(name).suffix.lower()
    if suffix not in SUFFIXES:
        raise IngestError(f"cannot read {name!r}: {suffix or 'no suffix'} is not a supported export.",
                          f"Upload one of: {', '.join(SUFFIXES)}.")
    if len(data) > MAX_UPLOAD_MB * 1024 * 1024:
        raise IngestError(f"{name} is {len(data) / 2**20:,.0f} MB; the app takes up to {MAX_UPLOAD_MB} MB.",
                          "Tag bigger files with `cx-text tag FILE -o OUT --db PATH`.")
    if not data:
        raise IngestError(f"{name} is empty.", "Export the data again and upload the file.")
    folder.mkdir(parents=True, exist_ok=True)
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(name).stem)[:80] or "upload"
    path = folder / f"{stem}{suffix}"
    path.write_bytes(data)
    return path


def upload_columns(path: Path, sheet: str | None = None) -> tuple[str, ...]:
    """The input columns of an export (works before any column is mapped)."""
    from cx_text.io.formats import open_layout

    return tuple(str(c) for c in open_layout(Path(path), sheet).columns)


@dataclass(frozen=True)
class UploadPreview:
    """The input columns, the detected mapping ``{canonical: input}`` and the first rows."""

    columns: tuple[str, ...]
    mapping: dict[str, str]
    preview: pd.DataFrame
    format: str


def preview_upload(path: Path, mapping: Mapping[str, str] | None = None, sheet: str | None = None,
                   rows: int = 10, settings: Settings | None = None) -> UploadPreview:
    """Detect format and mapping and read only the first ``rows`` canonical rows."""
    stream = open_export(path, mapping=mapping, sheet=sheet, chunk_size=rows, settings=settings)
    first = next(iter(stream))
    shown = [c for c in schema.CANONICAL_COLUMNS if c in first.columns] + [schema.ROW_STATUS]
    return UploadPreview(tuple(str(c) for c in stream.layout.columns), dict(stream.mapping.mapping),
                         first[shown].head(rows).reset_index(drop=True), stream.layout.format)


@dataclass
class UploadResult:
    """What tagging an upload did."""

    run_id: str
    output: Path
    rows: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    by_lang: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def tag_upload(path: Path, store: Store, tagger: Tagger, settings: Settings, output: Path, *,
               mapping: Mapping[str, str] | None = None, sheet: str | None = None,
               manifest: dict[str, Any] | None = None,
               on_progress: Progress | None = None) -> UploadResult:
    """Tag ``path`` into ``store`` (one new run) and ``output``; calls ``on_progress(done, total)``."""
    started = time.perf_counter()
    stream = open_export(path, mapping=mapping, sheet=sheet, chunk_size=settings.chunk_size,
                         settings=settings)
    total = _total(path, sheet)
    fingerprint = input_fingerprint(path, {"mapping": dict(mapping or {}), "sheet": sheet, "app": True})
    run_id = store.begin_run(manifest or {}, str(path), fingerprint, rows_in=total)
    result = UploadResult(run_id=run_id, output=output)
    status: Counter[str] = Counter()
    langs: Counter[str] = Counter()
    try:
        with OutputWriter(output, user_view=True) as out:
            for index, chunk in enumerate(stream):
                tagged = tag_safely(tagger, chunk)
                store.append_chunk(run_id, index, tagged, first_row=result.rows)
                out.write(tagged)
                result.rows += len(tagged)
                status.update(tagged[schema.ROW_STATUS].astype(str).map(lambda s: s.split(":")[0]))
                langs.update(tagged.get(schema.LANG, pd.Series(dtype=str)).fillna("").astype(str).replace("", "none"))
                if on_progress:
                    on_progress(result.rows, total)
    except BaseException:
        store.finish_run(run_id, {"rows": result.rows}, status="failed")
        raise
    result.by_status, result.by_lang = dict(status), dict(langs)
    result.seconds = round(time.perf_counter() - started, 2)
    store.finish_run(run_id, {"rows_in": result.rows, "rows_out": result.rows, "by_status": result.by_status,
                              "by_lang": result.by_lang, "seconds": result.seconds, "source": "app"})
    return result


def _total(path: Path, sheet: str | None) -> int | None:
    try:
        return count_rows(path, sheet=sheet)
    except Exception:  # a progress estimate must never stop a run
        return None
