"""CSV/TSV reader: sniffed dialect, physical line numbers, repaired field counts."""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cx_text.core import schema
from cx_text.core.errors import IngestError
from cx_text.io.base import Batch, Layout, Note, RawChunk, open_text, unique_names
from cx_text.io.detect import (
    Dialect,
    Encoding,
    decoded_head,
    detect_encoding,
    file_key,
    sniff_dialect,
)


def csv_layout(path: Path, sheet: str | None, text_col: str | None) -> Layout:
    encoding = detect_encoding(path)
    head = decoded_head(path, encoding)
    forced = "\t" if path.suffix.lower() in {".tsv", ".tab"} else None
    dialect = sniff_dialect(head, forced)
    header, line = _csv_header(path, encoding, dialect)
    names, renamed = unique_names(header)
    return Layout(
        path,
        "csv",
        names,
        file_key(path),
        encoding=encoding,
        dialect=dialect,
        header_row=line,
        renamed=renamed,
    )


def _csv_reader(fh: Any, dialect: Dialect) -> Any:
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    return csv.reader(fh, delimiter=dialect.delimiter, quotechar='"', doublequote=True)


def _csv_header(path: Path, encoding: Encoding, dialect: Dialect) -> tuple[list[str], int]:
    with open_text(path, encoding) as fh:
        reader = _csv_reader(fh, dialect)
        try:
            for record in reader:
                if any(cell.strip() for cell in record):
                    return record, reader.line_num
        except csv.Error as exc:
            raise IngestError(
                f"{path.name!r} line {reader.line_num}: cannot parse CSV ({exc}).",
                "Re-export the file as CSV/XLSX.",
            ) from exc
    raise IngestError(
        f"{path.name!r} has no header row (only blank lines).",
        "Export the data again with column names in the first line.",
    )


LONG_SPAN_LINES = 50


def iter_csv(layout: Layout, chunk_size: int, text_col: str | None) -> Iterator[RawChunk]:
    """CSV records with their first physical line number; field counts repaired and flagged."""
    assert layout.encoding is not None and layout.dialect is not None
    width = len(layout.columns)
    text_at = layout.columns.index(text_col) if text_col in layout.columns else None
    batch = Batch(layout.columns)
    with open_text(layout.path, layout.encoding) as fh:
        reader = _csv_reader(fh, layout.dialect)
        prev = layout.header_row
        try:
            _skip_csv_header(reader, layout.header_row)
            for record in reader:
                start, prev = prev + 1, reader.line_num
                if not record:
                    continue
                row, notes = fit_width(record, width, text_at, layout.dialect.delimiter)
                batch.add(
                    row,
                    start,
                    [*notes, *_long_span(start, prev, record, layout.dialect.delimiter, width)],
                )
                if len(batch.rows) >= chunk_size:
                    yield batch.take()
        except csv.Error as exc:
            raise IngestError(
                f"{layout.path.name!r} line {reader.line_num}: cannot parse CSV ({exc}).",
                "Fix that line or re-export the file.",
            ) from exc
    yield batch.take()


def _long_span(start: int, end: int, record: list[str], delimiter: str, width: int) -> list[Note]:
    """A record over many lines whose lines look like rows: an unclosed quote swallowed them."""
    if end - start + 1 <= LONG_SPAN_LINES:
        return []
    need = max(width - 1, 1)
    rowlike = sum(line.count(delimiter) >= need for field in record for line in field.splitlines())
    if rowlike < 3:
        return []
    return [
        (
            schema.STATUS_FLAGGED,
            f"the record runs from line {start} to line {end} and holds "
            f'lines that look like rows: probably an unclosed quote (") swallowed them',
        )
    ]


def _skip_csv_header(reader: Any, header_line: int) -> None:
    while reader.line_num < header_line:
        next(reader)


def fit_width(
    record: list[str], width: int, text_at: int | None, delimiter: str
) -> tuple[list[str], list[Note]]:
    """Make a CSV record exactly ``width`` fields long, saying what was repaired."""
    n = len(record)
    if n == width:
        return record, []
    if n < width:
        msg = f"{n} field(s) but the header has {width}; the missing ones are left empty"
        return record + [""] * (width - n), [(schema.STATUS_FLAGGED, msg)]
    extra = n - width
    if not any(c.strip() for c in record[width:]):
        return record[:width], []
    if text_at is None:
        dropped = delimiter.join(record[width:])[:200]
        msg = f"{n} fields but the header has {width}; extra fields {dropped!r} ignored"
        return record[:width], [(schema.STATUS_FLAGGED, msg)]
    merged = delimiter.join(record[text_at : text_at + extra + 1])
    row = [*record[:text_at], merged, *record[text_at + extra + 1 :]]
    sep = "tab" if delimiter == "\t" else repr(delimiter)
    msg = (
        f"{n} fields but the header has {width}; joined {extra} extra field(s) into the text "
        f"(an unquoted {sep} in the text?)"
    )
    return row, [(schema.STATUS_FLAGGED, msg)]
