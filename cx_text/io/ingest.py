"""Read customer-feedback exports into the canonical frame, whole or in chunks.

Formats: CSV/TSV (sniffed delimiter, quoting and encoding: UTF-8, UTF-8 with BOM, UTF-16,
cp1251 …), Excel (first or named sheet), JSON (array or ``{"data": [...]}``), JSON Lines, Parquet.

Every returned frame has, in this order: all of ``schema.CANONICAL_COLUMNS`` (typed: ``id``/``text``
str, ``created_at`` naive ``datetime64[us]``, metrics float64, the rest str), the unmapped input
columns (same names and order; text for CSV/Excel/JSON, native types for Parquet), then
``source_row`` (file line / sheet row / record number), ``row_status`` and ``row_issues``.
Rows are never dropped: a bad row is kept with a status and the reason in ``row_issues``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from cx_text.core import schema
from cx_text.core.config import Settings
from cx_text.io.formats import Layout, RawChunk, count_records, iter_raw, open_layout
from cx_text.io.mapping import ColumnMapping, resolve_mapping
from cx_text.io.report import IngestReport, InspectReport, ReportBuilder
from cx_text.io.rows import RowContext, build_chunk, extra_names
from cx_text.io.values import slash_dayfirst

__all__ = [
    "ExportStream",
    "IngestReport",
    "IngestResult",
    "InspectReport",
    "count_rows",
    "inspect_file",
    "iter_export_chunks",
    "open_export",
    "read_export",
]
_DATE_SAMPLE_ROWS = 2000


@dataclass
class IngestResult:
    """A whole export read into memory, with its detection report."""

    frame: pd.DataFrame
    report: IngestReport = field(repr=False)


class ExportStream:
    """An export opened for streaming: iterate it for chunks; ``report`` fills in as you go.

    Detection (format, encoding, dialect, header, mapping, date order) happens once in the
    constructor, so every iteration gives the same rows, ids and flags.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        mapping: Mapping[str, str] | None = None,
        sheet: str | None = None,
        chunk_size: int | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self.chunk_size = int(chunk_size or self.settings.chunk_size)
        explicit = dict(mapping or {})
        self.layout: Layout = open_layout(Path(path), sheet, explicit.get(schema.TEXT))
        self.mapping: ColumnMapping = (
            resolve_mapping(self.layout.columns, explicit)
            if self.layout.columns
            else ColumnMapping(mapping={})
        )  # a JSON file with no records at all
        self.extras = extra_names(self.layout.columns, self.mapping)
        self.dayfirst_slash = self._date_order()
        self._builder = ReportBuilder(self.layout, self.mapping, self.extras)

    @property
    def report(self) -> IngestReport:
        """Detection report; row counts are complete once iteration has finished."""
        return self._builder.report

    def _date_order(self) -> bool:
        src = self.mapping.input_for(schema.CREATED_AT)
        if src is None or self.layout.format == "parquet":
            return True
        first = next(iter_raw(self.layout, _DATE_SAMPLE_ROWS, self._text_col()), None)
        return True if first is None else slash_dayfirst(first.frame[src].tolist())

    def _text_col(self) -> str | None:
        return self.mapping.input_for(schema.TEXT)

    def __iter__(self) -> Iterator[pd.DataFrame]:
        ctx = RowContext(
            mapping=self.mapping,
            settings=self.settings,
            file_key=self.layout.key,
            extras=self.extras,
            keep_extra_types=self.layout.format == "parquet",
            dayfirst_slash=self.dayfirst_slash,
            row_label=self.layout.row_label,
        )
        self._builder = ReportBuilder(self.layout, self.mapping, self.extras)
        yielded = False
        for raw in iter_raw(self.layout, self.chunk_size, self._text_col()):
            if len(raw.frame) == 0 and yielded:
                continue
            frame = build_chunk(raw, ctx)
            self._builder.update(frame)
            yielded = True
            yield frame
        if not yielded:
            yield build_chunk(RawChunk(pd.DataFrame(columns=list(self.layout.columns)), []), ctx)
        self._builder.finish(ctx.duplicates)


def open_export(
    path: str | Path,
    *,
    mapping: Mapping[str, str] | None = None,
    sheet: str | None = None,
    chunk_size: int | None = None,
    settings: Settings | None = None,
) -> ExportStream:
    """Open an export for streaming (see :class:`ExportStream`)."""
    return ExportStream(
        path, mapping=mapping, sheet=sheet, chunk_size=chunk_size, settings=settings
    )


def iter_export_chunks(
    path: str | Path,
    *,
    mapping: Mapping[str, str] | None = None,
    sheet: str | None = None,
    chunk_size: int = 5000,
    settings: Settings | None = None,
) -> Iterator[pd.DataFrame]:
    """Stream an export as canonical frames of at most ``chunk_size`` rows (flat memory).

    The chunks concatenated equal :func:`read_export` exactly (rows, ids, flags). A file with
    no data rows yields one empty frame with all columns.
    """
    yield from open_export(
        path, mapping=mapping, sheet=sheet, chunk_size=chunk_size, settings=settings
    )


def read_export(
    path: str | Path,
    *,
    mapping: Mapping[str, str] | None = None,
    sheet: str | None = None,
    settings: Settings | None = None,
) -> IngestResult:
    """Read a whole export: the canonical frame plus what was detected and flagged."""
    stream = open_export(path, mapping=mapping, sheet=sheet, settings=settings)
    chunks = list(stream)
    frame = pd.concat(chunks) if len(chunks) > 1 else chunks[0]
    return IngestResult(frame=frame, report=stream.report)


def inspect_file(
    path: str | Path,
    mapping: Mapping[str, str] | None = None,
    sheet: str | None = None,
    preview_rows: int = 5,
    settings: Settings | None = None,
) -> InspectReport:
    """Read the export and describe it: encoding, dialect, mapping, flagged rows, a preview."""
    stream = open_export(path, mapping=mapping, sheet=sheet, settings=settings)
    preview: list[pd.DataFrame] = []
    have = 0
    for chunk in stream:
        if have < preview_rows:
            preview.append(chunk.head(preview_rows - have))
            have += len(preview[-1])
    head = pd.concat(preview) if preview else pd.DataFrame()
    return InspectReport(report=stream.report, preview=head, preview_rows=preview_rows)


def count_rows(path: str | Path, *, sheet: str | None = None) -> int:
    """A cheap row count for progress bars: exact for Parquet/JSON/Excel, an estimate from
    the number of lines for CSV/JSONL (multi-line quoted fields make it an upper bound)."""
    return count_records(open_layout(Path(path), sheet))
