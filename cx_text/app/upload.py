"""Upload & tag for the app: save an uploaded export, preview its column mapping, tag it chunk by
chunk into the store (reporting progress to a callback) and write a downloadable result.

Tagging goes through the same run service as ``cx-text tag`` (:mod:`cx_text.engines.base`): rows
in = rows out (a row that cannot be tagged keeps its place with ``row_status = "error: …"``), a run
with too many failed rows is recorded ``failed`` and never becomes the latest, and an upload that
was interrupted resumes from its finished chunks when the same file is tagged again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from cx_text.core import schema
from cx_text.core.config import Settings
from cx_text.core.errors import IngestError
from cx_text.engines.local import Tagger, tag_file
from cx_text.engines.progress import Progress
from cx_text.io.ingest import open_export
from cx_text.store.store import Store

MAX_UPLOAD_MB = 200
SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx", ".json", ".jsonl", ".ndjson", ".parquet")
OUTPUT_FORMATS = ("xlsx", "csv", "parquet")


def save_upload(name: str, data: bytes, folder: Path) -> Path:
    """Write uploaded bytes to ``folder`` under a safe name; IngestError on a bad type or size."""
    suffix = Path(name).suffix.lower()
    if suffix not in SUFFIXES:
        raise IngestError(
            f"cannot read {name!r}: {suffix or 'no suffix'} is not a supported export.",
            f"Upload one of: {', '.join(SUFFIXES)}.",
        )
    if len(data) > MAX_UPLOAD_MB * 1024 * 1024:
        raise IngestError(
            f"{name} is {len(data) / 2**20:,.0f} MB; the app takes up to {MAX_UPLOAD_MB} MB.",
            "Tag bigger files with `cx-text tag FILE -o OUT --db PATH`.",
        )
    if not data:
        raise IngestError(f"{name} is empty.", "Export the data again and upload the file.")
    folder.mkdir(parents=True, exist_ok=True)
    stem = (
        "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(name).stem)[:80] or "upload"
    )
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


def preview_upload(
    path: Path,
    mapping: Mapping[str, str] | None = None,
    sheet: str | None = None,
    rows: int = 10,
    settings: Settings | None = None,
) -> UploadPreview:
    """Detect format and mapping and read only the first ``rows`` canonical rows."""
    stream = open_export(path, mapping=mapping, sheet=sheet, chunk_size=rows, settings=settings)
    first = next(iter(stream))
    shown = [c for c in schema.CANONICAL_COLUMNS if c in first.columns] + [schema.ROW_STATUS]
    return UploadPreview(
        tuple(str(c) for c in stream.layout.columns),
        dict(stream.mapping.mapping),
        first[shown].head(rows).reset_index(drop=True),
        stream.layout.format,
    )


@dataclass
class UploadResult:
    """What tagging an upload did (``status``: complete, or failed when too many rows failed)."""

    run_id: str
    output: Path
    rows: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    by_lang: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    status: str = "complete"
    status_note: str | None = None


def tag_upload(
    path: Path,
    store: Store,
    tagger: Tagger,
    settings: Settings,
    output: Path,
    *,
    mapping: Mapping[str, str] | None = None,
    sheet: str | None = None,
    manifest: dict[str, Any] | None = None,
    on_progress: Progress | None = None,
    source: str | None = None,
) -> UploadResult:
    """Tag ``path`` into ``store`` (one run of the export ``source``, default the file's stem) and
    ``output``; calls ``on_progress(done, total)`` after every chunk."""
    summary = tag_file(
        path,
        output,
        tagger,
        settings,
        manifest={**(manifest or {}), "engine": "app"},
        mapping=mapping,
        sheet=sheet,
        store=store,
        resume="auto",
        progress=False,
        on_progress=on_progress,
        source=source,
    )
    return UploadResult(
        run_id=summary.run_id,
        output=output,
        rows=summary.rows_out,
        by_status=summary.by_status,
        by_lang=summary.by_lang,
        seconds=summary.seconds,
        status=summary.status,
        status_note=summary.status_note,
    )
