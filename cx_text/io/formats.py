"""Raw readers: stream an export as chunks of raw cells with their source row numbers.

Each reader yields :class:`RawChunk` frames with the file's own column names and raw values;
``cx_text.io.rows`` turns them into the canonical frame. The :class:`Layout` found once per
file (format, encoding, dialect, sheet, header) makes every chunked read identical to a whole read.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from cx_text.core import schema
from cx_text.core.errors import IngestError
from cx_text.io.base import (
    Batch,
    Layout,
    Note,
    RawChunk,
    cell_name,
    open_text,
    unique_names,
)
from cx_text.io.csv_reader import csv_layout, iter_csv
from cx_text.io.detect import Encoding, detect_encoding, detect_format, file_key
from cx_text.io.mapping import header_score

_HEADER_SEARCH_ROWS = 30
_JSON_LIST_KEYS = (
    "data",
    "items",
    "records",
    "results",
    "reviews",
    "feedback",
    "rows",
    "responses",
)
__all__ = ["Layout", "RawChunk", "count_records", "iter_raw", "open_layout"]

# --------------------------------------------------------------------------- layout


def open_layout(path: Path, sheet: str | None = None, text_col: str | None = None) -> Layout:
    """Detect format, encoding, dialect, sheet and header of ``path``."""
    fmt, note = detect_format(path)
    if sheet is not None and fmt != "excel":
        raise IngestError(
            f"--sheet {sheet!r} was given but {path.name!r} is {fmt}, not a workbook.",
            "Drop --sheet.",
        )
    openers = {
        "csv": csv_layout,
        "excel": _excel_layout,
        "json": _json_layout,
        "jsonl": _jsonl_layout,
        "parquet": _parquet_layout,
    }
    return replace(openers[fmt](path, sheet, text_col), format_note=note)


def _excel_book(path: Path) -> Any:
    from python_calamine import CalamineWorkbook

    try:
        return CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises several unrelated types
        raise IngestError(
            f"cannot open workbook {path.name!r}: {exc}.",
            "Open it in Excel and save it again as .xlsx, or export CSV.",
        ) from exc


def _excel_sheet(book: Any, path: Path, sheet: str | None) -> Any:
    names = list(book.sheet_names)
    if not names:
        raise IngestError(f"workbook {path.name!r} has no sheets.", "Export the data again.")
    if sheet is None:
        return book.get_sheet_by_index(0)
    if sheet not in names:
        raise IngestError(
            f"sheet {sheet!r} is not in {path.name!r}; sheets are: {', '.join(map(repr, names))}.",
            "Pass --sheet with one of them.",
        )
    return book.get_sheet_by_name(sheet)


def _excel_layout(path: Path, sheet: str | None, text_col: str | None) -> Layout:
    book = _excel_book(path)
    ws = _excel_sheet(book, path, sheet)
    rows = []
    for i, row in enumerate(ws.iter_rows()):
        if i >= _HEADER_SEARCH_ROWS:
            break
        rows.append(row)
    filled = [i for i, r in enumerate(rows) if any(cell_name(c) for c in r)]
    if not filled:
        raise IngestError(
            f"sheet {ws.name!r} of {path.name!r} is empty; sheets are: "
            f"{', '.join(map(repr, book.sheet_names))}.",
            "Pass --sheet.",
        )
    scores = {i: header_score(rows[i], text_col) for i in filled}
    header_at = max(filled, key=lambda i: (scores[i], -i)) if max(scores.values()) else filled[0]
    names, renamed = unique_names(rows[header_at])
    start_row = int(ws.start[0]) if ws.start else 0
    return Layout(
        path,
        "excel",
        names,
        file_key(path, ws.name),
        sheet=ws.name,
        sheet_names=tuple(book.sheet_names),
        header_row=start_row + header_at + 1,
        renamed=renamed,
    )


def _json_records(path: Path) -> list[Any]:
    encoding = detect_encoding(path)
    try:
        with open_text(path, encoding) as fh:
            data = json.load(fh)
    except json.JSONDecodeError as exc:
        raise IngestError(
            f"{path.name!r} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.",
            "Fix the file or export JSON Lines.",
        ) from exc
    except (ValueError, RecursionError) as exc:
        raise IngestError(
            f"{path.name!r} is not valid JSON: {exc}.", "Fix the file or export JSON Lines."
        ) from exc
    records = _find_records(data)
    if records is None:
        raise IngestError(
            f"{path.name!r} holds no list of records.",
            'Give an array of objects or {"data": [ ... ]}.',
        )
    if records and all(isinstance(r, str) for r in records):
        return [{schema.TEXT: r} for r in records]
    return records


def _find_records(data: Any) -> list[Any] | None:
    if isinstance(data, list):
        return data
    if not isinstance(data, dict):
        return None
    for key in _JSON_LIST_KEYS:
        if isinstance(data.get(key), list):
            return list(data[key])
    lists = [v for v in data.values() if isinstance(v, list) and v and isinstance(v[0], dict)]
    if len(lists) == 1:
        return list(lists[0])
    return [data] if data and not any(isinstance(v, list | dict) for v in data.values()) else None


def flatten(obj: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"user": {"id": 5}}`` -> ``{"user.id": 5}``; lists stay as values."""
    out: dict[str, Any] = {}
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def _union_columns(rows: Iterable[dict[str, Any]]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return tuple(seen)


def _json_layout(path: Path, sheet: str | None, text_col: str | None) -> Layout:
    records = _json_records(path)
    cols = _union_columns(flatten(r) for r in records if isinstance(r, dict))
    return Layout(path, "json", cols, file_key(path), encoding=detect_encoding(path))


def _jsonl_layout(path: Path, sheet: str | None, text_col: str | None) -> Layout:
    encoding = detect_encoding(path)
    seen: dict[str, None] = {}
    valid = 0
    for _, obj, _err in _jsonl_lines(path, encoding):
        if isinstance(obj, dict):
            valid += 1
            seen.update(dict.fromkeys(flatten(obj)))
    if not valid:
        raise IngestError(
            f"{path.name!r} has no line holding a JSON object.",
            "Each line of a .jsonl file must be one JSON object.",
        )
    return Layout(path, "jsonl", tuple(seen), file_key(path), encoding=encoding)


def _jsonl_lines(path: Path, encoding: Encoding) -> Iterator[tuple[int, Any, str]]:
    """(line number, parsed object or None, error text) for each non-blank line."""
    with open_text(path, encoding) as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line), ""
            except (ValueError, RecursionError) as exc:
                yield number, None, getattr(exc, "msg", None) or str(exc)[:100] or "nested too deep"


def _parquet_layout(path: Path, sheet: str | None, text_col: str | None) -> Layout:
    import pyarrow.parquet as pq

    try:
        names = tuple(
            n for n in pq.ParquetFile(path).schema_arrow.names if not n.startswith("__index_level_")
        )
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError …
        raise IngestError(
            f"cannot read Parquet file {path.name!r}: {exc}.",
            "Write the file again (it may be truncated).",
        ) from exc
    return Layout(path, "parquet", names, file_key(path))


# --------------------------------------------------------------------------- readers


def iter_raw(layout: Layout, chunk_size: int, text_col: str | None = None) -> Iterator[RawChunk]:
    """Stream ``layout.path`` as raw chunks of at most ``chunk_size`` records."""
    readers = {
        "csv": iter_csv,
        "excel": _iter_excel,
        "json": _iter_json,
        "jsonl": _iter_jsonl,
        "parquet": _iter_parquet,
    }
    yield from readers[layout.format](layout, max(int(chunk_size), 1), text_col)


def _iter_excel(layout: Layout, chunk_size: int, text_col: str | None) -> Iterator[RawChunk]:
    ws = _excel_sheet(_excel_book(layout.path), layout.path, layout.sheet)
    start_row = int(ws.start[0]) if ws.start else 0
    width = len(layout.columns)
    batch = Batch(layout.columns)
    for i, row in enumerate(ws.iter_rows()):
        number = start_row + i + 1
        if number <= layout.header_row or not any(cell_name(c) for c in row):
            continue
        cells = list(row[:width]) + [""] * (width - len(row))
        batch.add(cells, number)
        if len(batch.rows) >= chunk_size:
            yield batch.take()
    yield batch.take()


def _record_row(obj: Any, columns: Sequence[str]) -> tuple[list[Any], list[Note]]:
    if isinstance(obj, dict):
        flat = flatten(obj)
        return [flat.get(c) for c in columns], []
    what = type(obj).__name__
    return [None] * len(columns), [
        (
            f"{schema.STATUS_ERROR_PREFIX}not a JSON object",
            f"a JSON {what}, not an object; row kept empty",
        )
    ]


def _iter_json(layout: Layout, chunk_size: int, text_col: str | None) -> Iterator[RawChunk]:
    batch = Batch(layout.columns)
    for number, obj in enumerate(_json_records(layout.path), start=1):
        row, notes = _record_row(obj, layout.columns)
        batch.add(row, number, notes)
        if len(batch.rows) >= chunk_size:
            yield batch.take()
    yield batch.take()


def _iter_jsonl(layout: Layout, chunk_size: int, text_col: str | None) -> Iterator[RawChunk]:
    assert layout.encoding is not None
    batch = Batch(layout.columns)
    for number, obj, err in _jsonl_lines(layout.path, layout.encoding):
        if err:
            row: list[Any] = [None] * len(layout.columns)
            notes = [
                (
                    f"{schema.STATUS_ERROR_PREFIX}invalid JSON",
                    f"not valid JSON ({err}); row kept empty",
                )
            ]
        else:
            row, notes = _record_row(obj, layout.columns)
        batch.add(row, number, notes)
        if len(batch.rows) >= chunk_size:
            yield batch.take()
    yield batch.take()


def _iter_parquet(layout: Layout, chunk_size: int, text_col: str | None) -> Iterator[RawChunk]:
    import pyarrow.parquet as pq

    offset = 0
    try:
        for batch in pq.ParquetFile(layout.path).iter_batches(batch_size=chunk_size):
            frame = batch.to_pandas(ignore_metadata=True)[list(layout.columns)]
            rows = list(range(offset + 1, offset + len(frame) + 1))
            offset += len(frame)
            yield RawChunk(frame, rows)
    except OSError as exc:
        raise IngestError(
            f"cannot read Parquet file {layout.path.name!r} after record {offset}: {exc}.",
            "Write the file again (it may be truncated).",
        ) from exc


def count_records(layout: Layout) -> int:
    """Cheap record count: exact for Parquet/JSON/Excel/CSV (quoted line breaks understood;
    blank lines and rows a never-closed quote swallowed make it an estimate), lines for JSONL."""
    if layout.format == "parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(layout.path).metadata.num_rows)
    if layout.format == "json":
        return len(_json_records(layout.path))
    if layout.format == "excel":
        ws = _excel_sheet(_excel_book(layout.path), layout.path, layout.sheet)
        return max(int(ws.height) - (layout.header_row - (ws.start[0] if ws.start else 0)), 0)
    if layout.format == "csv" and layout.encoding is not None:
        return max(_count_csv_records(layout) - layout.header_row, 0)
    return _count_lines(layout)


def _count_csv_records(layout: Layout) -> int:
    """Line breaks outside double quotes (+1 for an unterminated last line or quote), streamed.

    Splitting on '"' alternates outside/inside segments; a doubled quote inside a field makes
    an empty segment and keeps the parity right. Same quoting rules as the CSV reader.
    """
    assert layout.encoding is not None
    records, inside, last = 0, False, "\n"
    with layout.path.open(encoding=layout.encoding.name, errors="replace", newline="") as fh:
        while block := fh.read(1 << 20):
            for k, part in enumerate(block.split('"')):
                if k:
                    inside = not inside
                if not inside:
                    records += part.count("\n")
            last = block[-1]
    return records + (last != "\n" or inside)


def _count_lines(layout: Layout) -> int:
    lines = 0
    last = b"\n"
    with layout.path.open("rb") as fh:
        while block := fh.read(1 << 20):
            lines += block.count(b"\n")
            last = block[-1:]
    lines += last != b"\n"
    return max(lines - (layout.header_row if layout.format == "csv" else 0), 0)
