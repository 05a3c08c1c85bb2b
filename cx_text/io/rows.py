"""Turn raw chunks into the canonical frame: typed columns, ids, row status and issues.

Column order of every frame: ``schema.CANONICAL_COLUMNS`` (typed, checked values), then every
input column, raw and in its original order, under its internal name (``input|text|Отзыв`` for a
mapped one, ``input||Город`` for an unmapped one — see :mod:`cx_text.io.columns`, which also
gives the user's view back), then ``source_row``, ``row_status``, ``row_issues``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from cx_text.core import schema
from cx_text.core.config import Settings
from cx_text.io.columns import input_column
from cx_text.io.formats import RawChunk
from cx_text.io.mapping import ColumnMapping
from cx_text.io.values import (
    is_missing,
    optional_str,
    parse_date,
    parse_id,
    parse_metric,
    parse_text,
    to_str,
)

META_COLUMNS = (schema.SOURCE_ROW, schema.ROW_STATUS, schema.ROW_ISSUES)
STRING_COLUMNS = (schema.CHANNEL, schema.SOURCE, schema.CUSTOMER_ID, schema.SEGMENT)
METRICS = (schema.NPS, schema.CSAT, schema.CES, schema.RATING)
_SEVERITY = {
    schema.STATUS_OK: 0,
    schema.STATUS_FLAGGED: 1,
    schema.STATUS_TRUNCATED: 2,
    schema.STATUS_EMPTY: 3,
}


def severity(status: str) -> int:
    """How bad a row status is (``error: …`` is the worst)."""
    return _SEVERITY.get(status, 4 if status.startswith(schema.STATUS_ERROR_PREFIX) else 1)


def worst(a: str, b: str) -> str:
    """The worse of two row statuses (the first one on a tie)."""
    return b if severity(b) > severity(a) else a


def extra_names(columns: Sequence[str], mapping: ColumnMapping) -> tuple[tuple[str, str], ...]:
    """``(input name, internal name)`` of every input column, in input order (raw copies)."""
    canonical_of: dict[str, str] = {}
    for canonical, src in mapping.mapping.items():
        canonical_of.setdefault(src, canonical)
    return tuple((col, input_column(col, canonical_of.get(col, ""))) for col in columns)


#: a repeated id becomes ``<id>#<n>`` (n = 2, 3 …) so the store keeps every row (docs/STORE.md)
DUPLICATE_MARK = "#"


@dataclass
class RowContext:
    """Per-file state shared by all chunks (ids seen so far, row offset)."""

    mapping: ColumnMapping
    settings: Settings
    file_key: str
    extras: tuple[tuple[str, str], ...]
    keep_extra_types: bool = False
    dayfirst_slash: bool = True
    row_label: str = "line"
    seen_ids: dict[str, int] = field(default_factory=dict)
    duplicates: dict[str, list[int]] = field(default_factory=dict)
    offset: int = 0


class _Rows:
    """Status and issues of the rows of one chunk while columns are parsed."""

    def __init__(self, raw: RawChunk) -> None:
        n = len(raw.frame)
        self.status = [schema.STATUS_OK] * n
        self.issues: list[list[str]] = [[] for _ in range(n)]
        for pos, notes in raw.notes.items():
            for status, text in notes:
                self.note(pos, status, text)

    def note(self, pos: int, status: str, text: str | None) -> None:
        if text:
            self.issues[pos].append(text)
            self.status[pos] = worst(self.status[pos], status)


def build_chunk(raw: RawChunk, ctx: RowContext) -> pd.DataFrame:
    """The canonical frame for one raw chunk (never drops or reorders rows)."""
    n = len(raw.frame)
    rows = _Rows(raw)
    data: dict[str, Any] = {
        schema.ID: pd.Series(_ids(raw, ctx, rows), dtype="str"),
        schema.TEXT: pd.Series(_texts(raw, ctx, rows), dtype="str"),
        schema.CREATED_AT: _dates(raw, ctx, rows),
    }
    for col in METRICS:
        data[col] = pd.Series(_metrics(raw, ctx, rows, col), dtype="float64")
    for col in STRING_COLUMNS:
        data[col] = pd.Series(_column(raw, ctx, col, optional_str), dtype="str")
    ordered = {c: data[c] for c in schema.CANONICAL_COLUMNS}
    for src, name in ctx.extras:
        ordered[name] = _extra(raw.frame[src], ctx.keep_extra_types)
    ordered[schema.SOURCE_ROW] = pd.Series(raw.source_rows, dtype="int64")
    ordered[schema.ROW_STATUS] = pd.Series(rows.status, dtype="str")
    ordered[schema.ROW_ISSUES] = pd.Series(rows.issues, dtype=object)
    frame = pd.DataFrame({k: v.reset_index(drop=True) for k, v in ordered.items()})
    frame.index = pd.RangeIndex(ctx.offset, ctx.offset + n)
    ctx.offset += n
    return frame


def _column(
    raw: RawChunk, ctx: RowContext, canonical: str, parse: Callable[[Any], Any]
) -> list[Any]:
    src = ctx.mapping.input_for(canonical)
    if src is None:
        return [None] * len(raw.frame)
    return [parse(v) for v in raw.frame[src].tolist()]


def _texts(raw: RawChunk, ctx: RowContext, rows: _Rows) -> list[str]:
    src = ctx.mapping.input_for(schema.TEXT)
    values = raw.frame[src].tolist() if src is not None else [None] * len(raw.frame)
    out = []
    for pos, value in enumerate(values):
        text, status, issues = parse_text(value, ctx.settings.max_text_chars)
        for issue in issues:
            rows.note(pos, status, issue)
        out.append(text)
    return out


def _ids(raw: RawChunk, ctx: RowContext, rows: _Rows) -> list[str]:
    given = _column(raw, ctx, schema.ID, parse_id)
    has_column = ctx.mapping.input_for(schema.ID) is not None
    out = []
    for pos, (value, line) in enumerate(zip(given, raw.source_rows, strict=True)):
        if value is None:
            value = f"{ctx.file_key}-{line}"
            if has_column:
                rows.note(pos, schema.STATUS_FLAGGED, f"id is empty; generated {value!r}")
        if value in ctx.seen_ids:
            first = ctx.seen_ids[value]
            ctx.duplicates.setdefault(value, [first]).append(line)
            unique = _next_free(value, ctx.seen_ids)
            rows.note(
                pos,
                schema.STATUS_FLAGGED,
                f"duplicate id {value!r} (first seen at {ctx.row_label} {first}); kept as "
                f"{unique!r}",
            )
            value = unique
        ctx.seen_ids[value] = line
        out.append(value)
    return out


def _next_free(value: str, seen: dict[str, int]) -> str:
    """``1`` seen before -> ``1#2`` (then ``1#3`` …): every row of an export keeps a unique id."""
    k = 2
    while f"{value}{DUPLICATE_MARK}{k}" in seen:
        k += 1
    return f"{value}{DUPLICATE_MARK}{k}"


def _dates(raw: RawChunk, ctx: RowContext, rows: _Rows) -> pd.Series:
    src = ctx.mapping.input_for(schema.CREATED_AT)
    stamps: list[Any] = [pd.NaT] * len(raw.frame)
    if src is not None:
        parse = _memo(lambda v: parse_date(v, ctx.dayfirst_slash))
        for pos, value in enumerate(raw.frame[src].tolist()):
            stamp, issue = parse(value)
            rows.note(pos, schema.STATUS_FLAGGED, issue)
            stamps[pos] = pd.NaT if stamp is None else stamp
    return pd.Series(pd.DatetimeIndex(stamps).as_unit("us"), dtype="datetime64[us]")


def _metrics(raw: RawChunk, ctx: RowContext, rows: _Rows, column: str) -> list[float]:
    src = ctx.mapping.input_for(column)
    if src is None:
        return [float("nan")] * len(raw.frame)
    out = []
    parse = _memo(lambda v: parse_metric(v, column))
    for pos, value in enumerate(raw.frame[src].tolist()):
        number, issue = parse(value)
        rows.note(pos, schema.STATUS_FLAGGED, issue)
        out.append(number)
    return out


def _memo(parse: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Cache a cell parser per chunk: exports repeat dates and scores a lot."""
    cache: dict[tuple[type, Any], Any] = {}

    def cached(value: Any) -> Any:
        try:
            key = (type(value), value)
            if key not in cache:
                cache[key] = parse(value)
            return cache[key]
        except TypeError:  # unhashable cell (list, dict, array)
            return parse(value)

    return cached


def _extra(values: pd.Series, keep_types: bool) -> pd.Series:
    """Unmapped input column: typed formats keep their dtype, the others become text (NA blank)."""
    if keep_types:
        return values
    return pd.Series([None if is_missing(v) else to_str(v) for v in values.tolist()], dtype="str")
