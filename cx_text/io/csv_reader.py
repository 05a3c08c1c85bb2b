"""CSV/TSV reader: sniffed dialect, physical line numbers, repaired field counts."""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterable, Iterator
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
    delimiter = layout.dialect.delimiter
    batch = Batch(layout.columns)
    with open_text(layout.path, layout.encoding) as fh:
        lines = _Lines(fh)
        _skip_lines(lines, layout.header_row)
        for start, end, record, notes in _records(lines, layout, width):
            if not record:
                continue
            if len(batch.rows) >= chunk_size:
                yield batch.take()
            row, fixed = fit_width(record, width, text_at, delimiter)
            batch.add(
                row, start, [*notes, *fixed, *_long_span(start, end, record, delimiter, width)]
            )
    yield batch.take()


class _Lines:
    """The file's physical lines, remembering those of the record being read."""

    def __init__(self, lines: Iterable[str]) -> None:
        self._it = iter(lines)
        self.held: list[str] = []

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = next(self._it)
        self.held.append(line)
        return line

    def take(self) -> list[str]:
        held, self.held = self.held, []
        return held


def _skip_lines(lines: _Lines, header_line: int) -> None:
    for _ in range(header_line):
        next(lines, None)
    lines.take()


def _records(
    lines: _Lines, layout: Layout, width: int, first: int | None = None
) -> Iterator[tuple[int, int, list[str], list[Note]]]:
    """``(first line, last line, fields, notes)`` per record. A quote (") the end of the file
    left open over lines that look like rows is read as a literal character and the lines it
    swallowed are read again as the rows they are (the record is flagged)."""
    assert layout.dialect is not None
    reader = _csv_reader(lines, layout.dialect)
    prev = layout.header_row if first is None else first - 1
    last: tuple[int, int, list[str], list[str]] | None = None
    try:
        for record in reader:
            if last is not None:
                yield *last[:3], []
            raw = lines.take()
            last, prev = (prev + 1, prev + len(raw), record, raw), prev + len(raw)
    except csv.Error as exc:
        raise IngestError(
            f"{layout.path.name!r} line {prev + 1}: cannot parse CSV ({exc}).",
            "Fix that line or re-export the file.",
        ) from exc
    if last is None:
        return
    start, end, record, raw = last
    unclosed = _unclosed(raw, layout.dialect.delimiter, width) if record else None
    if unclosed == "rows":
        yield from _recover(raw, start, layout, width)
    else:
        yield start, end, record, [_cut_off(start)] if unclosed else []


def _unclosed(raw: list[str], delimiter: str, width: int) -> str | None:
    """For the file's last record, if the end of the file left its quote open: ``"rows"`` when
    lines after its first look like rows (the quote swallowed them), else ``"cut"`` (the file
    may be cut off in the middle of a message); None when every quote is closed."""
    strict = csv.reader(raw, delimiter=delimiter, quotechar='"', doublequote=True, strict=True)
    try:
        for _ in strict:
            pass
    except csv.Error:
        need = max(width - 1, 1)
        return "rows" if any(line.count(delimiter) >= need for line in raw[1:]) else "cut"
    return None


def _recover(
    raw: list[str], start: int, layout: Layout, width: int
) -> Iterator[tuple[int, int, list[str], list[Note]]]:
    assert layout.dialect is not None
    line = raw[0].rstrip("\r\n")
    fields = next(csv.reader([line], delimiter=layout.dialect.delimiter, quoting=csv.QUOTE_NONE))
    note = (
        schema.STATUS_FLAGGED,
        f'a quote (") opened on line {start} is never closed: read as a plain character, and '
        f"lines {start + 1}–{start + len(raw) - 1} as rows of their own",
    )
    yield start, start, fields, [note]
    yield from _records(_Lines(raw[1:]), layout, width, first=start + 1)


def _cut_off(start: int) -> Note:
    return (
        schema.STATUS_FLAGGED,
        f'a quote (") opened in the record on line {start} is never closed: the text runs to '
        "the end of the file, which may be cut off — check the export is complete",
    )


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
