"""Write tagged frames to .parquet, .csv, .xlsx or .jsonl — whole or chunk by chunk.

* Parquet keeps nested columns (lists, dicts as maps, lists of structs) with one stable schema.
* CSV is UTF-8 with a BOM so Excel shows Cyrillic; CSV and XLSX get nested columns flattened by
  :func:`cx_text.core.schema.flatten_for_flat_file` and cells starting with ``= + - @`` (or tab/CR)
  prefixed with ``'`` so customer text can never run as a spreadsheet formula.
* JSONL keeps nesting, one JSON object per line (UTF-8, no ASCII escaping).

``evidence``, ``topic_scores`` and ``sentiment_probs`` are valid JSON in CSV/XLSX cells (plain
lists and objects, never numpy reprs) and structs/maps in Parquet.

With ``user_view=True`` (tagging outputs) the frame is written as the user's view
(:func:`cx_text.io.columns.user_view`): their columns under their names with their values, then
cx_text's (``cx_`` prefix on a clash). The in-memory ``analysis`` column is never written. Files are
written to a temporary sibling and
moved into place when the writer closes cleanly, so a crash never leaves a half file at ``path``.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import pandas as pd

from cx_text.core import schema
from cx_text.core.errors import ConfigError, SchemaError
from cx_text.io.columns import user_view as to_user_view

FORMATS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".xlsx": "xlsx",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
XLSX_MAX_ROWS = 1_048_575
XLSX_MAX_CELL = 32_767


def output_format(path: str | Path) -> str:
    """``"parquet" | "csv" | "xlsx" | "jsonl"`` from the suffix, or ConfigError."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ConfigError(
            f"cannot write {suffix or 'files without a suffix'!r} ({Path(path).name}).",
            "Give an output path ending in .parquet, .csv, .xlsx or .jsonl.",
        )
    return FORMATS[suffix]


def neutralize(value: Any) -> Any:
    """``"=SUM(A1)"`` -> ``"'=SUM(A1)"``; other values unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def for_spreadsheet(frame: pd.DataFrame) -> pd.DataFrame:
    """Flattened copy with every text cell (and header) safe from formula injection."""
    flat = schema.flatten_for_flat_file(plain_nested(frame))
    out = pd.DataFrame(
        {neutralize(str(c)): _safe_column(flat[c]) for c in flat.columns}, index=flat.index
    )
    return out


def _safe_column(col: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_datetime64_any_dtype(col):
        return col
    if isinstance(col.dtype, pd.DatetimeTZDtype):
        return col.dt.tz_localize(None)
    return col.map(neutralize)


#: nested tag columns: after a Parquet round trip they hold numpy arrays, not lists
NESTED = (
    schema.TOPICS,
    schema.SUBTOPICS,
    schema.THEMES,
    schema.PII_FOUND,
    schema.ROW_ISSUES,
    schema.ASPECT_SENTIMENTS,
    schema.EVIDENCE,
    schema.TOPIC_SCORES,
    schema.SENTIMENT_PROBS,
)


def plain_nested(frame: pd.DataFrame) -> pd.DataFrame:
    """Copy whose nested tag columns hold plain Python lists/dicts/numbers (JSON-ready)."""
    out = frame.copy()
    for col in NESTED:
        if col in out.columns:
            out[col] = pd.Series(
                [_json_value(v) for v in out[col].tolist()], index=out.index, dtype=object
            )
    return out


def write_frame(frame: pd.DataFrame, path: str | Path, *, user_view: bool = False) -> Path:
    """Write one frame to ``path`` (format from the suffix); returns the path."""
    with OutputWriter(path, user_view=user_view) as writer:
        writer.write(frame)
    return Path(path)


def read_frame(path: str | Path) -> pd.DataFrame:
    """Read a file written here back (Parquet maps come back as dicts; JSONL nesting kept)."""
    fmt = output_format(path)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pandas(maps_as_pydicts="strict")
    if fmt == "jsonl":
        return pd.read_json(path, lines=True, dtype=False, convert_dates=False)
    if fmt == "csv":
        return pd.read_csv(path, encoding="utf-8-sig", keep_default_na=False)
    return pd.read_excel(path, engine="calamine")


class OutputWriter:
    """Append chunk after chunk to one output file::

        with OutputWriter("tagged.parquet") as out:
            for chunk in chunks:
                out.write(chunk)

    Every chunk must have the first chunk's columns (missing ones are written empty; a new one
    is a SchemaError). XLSX is buffered and written on close.
    """

    def __init__(self, path: str | Path, *, user_view: bool = False) -> None:
        self.path = Path(path)
        self.user_view = user_view
        self.format = output_format(self.path)
        self.rows = 0
        self._tmp = self.path.with_name(f".{self.path.name}.partial")
        self._columns: list[str] | None = None
        self._handle: Any = None
        self._parquet: ParquetChunkWriter | None = None
        self._xlsx: list[pd.DataFrame] = []

    def __enter__(self) -> OutputWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def write(self, chunk: pd.DataFrame) -> None:
        """Append ``chunk`` (its index is ignored; ``analysis`` is dropped)."""
        chunk = chunk.drop(columns=[schema.ANALYSIS], errors="ignore")
        frame = self._align(to_user_view(chunk) if self.user_view else chunk)
        writers = {
            "parquet": self._write_parquet,
            "csv": self._write_csv,
            "jsonl": self._write_jsonl,
            "xlsx": self._buffer_xlsx,
        }
        writers[self.format](frame)
        self.rows += len(frame)

    def _align(self, frame: pd.DataFrame) -> pd.DataFrame:
        if self._columns is None:
            self._columns = [str(c) for c in frame.columns]
            return frame
        new = [c for c in frame.columns if c not in self._columns]
        if new:
            raise SchemaError(
                f"chunk has column(s) {new} that the first chunk of {self.path.name} did not have.",
                "Give every chunk the same columns.",
            )
        return frame.reindex(columns=self._columns)

    def _write_parquet(self, frame: pd.DataFrame) -> None:
        if self._parquet is None:
            self._parquet = ParquetChunkWriter(self._tmp, frame)
        self._parquet.write(frame)

    def _write_csv(self, frame: pd.DataFrame) -> None:
        first = self._handle is None
        if first:
            self._handle = self._tmp.open("w", encoding="utf-8-sig", newline="")
        for_spreadsheet(frame).to_csv(
            self._handle,
            index=False,
            header=first,
            date_format="%Y-%m-%d %H:%M:%S",
            lineterminator="\r\n",
        )

    def _write_jsonl(self, frame: pd.DataFrame) -> None:
        if self._handle is None:
            self._handle = self._tmp.open("w", encoding="utf-8", newline="\n")
        columns = [str(c) for c in frame.columns]
        for values in frame.itertuples(index=False, name=None):
            record = {c: _json_value(v) for c, v in zip(columns, values, strict=True)}
            self._handle.write(json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n")

    def _buffer_xlsx(self, frame: pd.DataFrame) -> None:
        if self.rows + len(frame) > XLSX_MAX_ROWS:
            raise SchemaError(
                f"{self.path.name}: more than {XLSX_MAX_ROWS:,} rows do not fit in "
                "one Excel sheet.",
                "Write .parquet or .csv instead.",
            )
        self._xlsx.append(for_spreadsheet(frame))

    def _flush_xlsx(self) -> None:
        frame = (
            pd.concat(self._xlsx, ignore_index=True)
            if self._xlsx
            else pd.DataFrame(columns=[neutralize(c) for c in self._columns or []])
        )
        frame = frame.apply(_xlsx_column)
        options = {
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
        }
        with pd.ExcelWriter(
            self._tmp, engine="xlsxwriter", engine_kwargs={"options": options}
        ) as xl:
            frame.to_excel(xl, index=False, sheet_name="feedback")

    def close(self) -> None:
        """Finish the file and move it into place."""
        if self.format == "xlsx":
            self._flush_xlsx()
        elif self._parquet is not None:
            self._parquet.close()
        elif self.format == "parquet":
            ParquetChunkWriter(self._tmp, pd.DataFrame()).close()
        if self._handle is not None:
            self._handle.close()
        elif self.format in {"csv", "jsonl"}:
            self._tmp.write_text("\ufeff" if self.format == "csv" else "", encoding="utf-8")
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        """Drop the partial file (called when the ``with`` block raised)."""
        if self._parquet is not None:
            self._parquet.close()
        if self._handle is not None:
            self._handle.close()
        self._tmp.unlink(missing_ok=True)


def _xlsx_column(col: pd.Series) -> pd.Series:
    """Excel cells hold at most 32,767 characters and no XML-illegal control characters."""
    if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_datetime64_any_dtype(col):
        return col
    return col.map(_xlsx_cell)


_ILLEGAL = dict.fromkeys([*range(0, 9), 11, 12, *range(14, 32)])


def _xlsx_cell(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    value = value.translate(_ILLEGAL)
    return value if len(value) <= XLSX_MAX_CELL else value[: XLSX_MAX_CELL - 1] + "…"


# --------------------------------------------------------------------------- parquet


def _nested_types() -> dict[str, Any]:
    import pyarrow as pa

    text_list = pa.list_(pa.string())
    score_map = pa.map_(pa.string(), pa.float64())
    aspect = pa.struct([("topic", pa.string()), ("polarity", pa.string()), ("score", pa.float64())])
    evidence = pa.struct(
        [
            ("topic", pa.string()),
            ("clause", pa.string()),
            ("terms", text_list),
            ("start", pa.int64()),
            ("end", pa.int64()),
            ("source", pa.string()),
            # declared, not inferred: a first chunk without evidence or with model evidence
            # only (spans []) must not drop the field from, or break, the whole output
            ("spans", pa.list_(pa.list_(pa.int64()))),
        ]
    )
    return {
        schema.TOPICS: text_list,
        schema.SUBTOPICS: text_list,
        schema.THEMES: text_list,
        schema.PII_FOUND: text_list,
        schema.ROW_ISSUES: text_list,
        schema.TOPIC_SCORES: score_map,
        schema.SENTIMENT_PROBS: score_map,
        schema.ASPECT_SENTIMENTS: pa.list_(aspect),
        schema.EVIDENCE: pa.list_(evidence),
    }


def arrow_schema(frame: pd.DataFrame) -> Any:
    """A stable Arrow schema for ``frame``: declared types for the nested tag columns (plus any
    extra struct fields the data has), inferred types otherwise, all-null columns as string."""
    import pyarrow as pa

    declared = _nested_types()
    inferred = pa.Schema.from_pandas(frame, preserve_index=False)
    fields = []
    for f in inferred:
        kind = declared.get(f.name)
        if kind is not None:
            kind = _with_extra_fields(kind, f.type)
        elif pa.types.is_null(f.type):
            kind = pa.string()
        else:
            kind = f.type
        fields.append(pa.field(f.name, kind))
    return pa.schema(fields)


def _with_extra_fields(declared: Any, inferred: Any) -> Any:
    """list<struct> columns keep keys the data has beyond the declared ones."""
    import pyarrow as pa

    if not (
        pa.types.is_list(declared)
        and pa.types.is_struct(declared.value_type)
        and pa.types.is_list(inferred)
        and pa.types.is_struct(inferred.value_type)
    ):
        return declared
    have = {f.name for f in declared.value_type}
    extra = [f for f in inferred.value_type if f.name not in have and not pa.types.is_null(f.type)]
    return pa.list_(pa.struct([*declared.value_type, *extra])) if extra else declared


class ParquetChunkWriter:
    """pyarrow ParquetWriter with the schema fixed by the first chunk."""

    def __init__(self, path: Path, first: pd.DataFrame) -> None:
        import pyarrow.parquet as pq

        self.schema = arrow_schema(first)
        self._writer = pq.ParquetWriter(path, self.schema, compression="zstd")

    def write(self, frame: pd.DataFrame) -> None:
        """Convert ``frame`` to the fixed schema and append it as a row group."""
        import pyarrow as pa

        try:
            table = pa.Table.from_pandas(frame, schema=self.schema, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
            raise SchemaError(
                f"cannot write a chunk to Parquet: {exc}.",
                "A column changed type between chunks; give it one type.",
            ) from exc
        self._writer.write_table(table)

    def close(self) -> None:
        """Finish the file (footer)."""
        self._writer.close()


def _json_value(value: Any) -> Any:
    """A cell as a JSON-ready value (NaN/NaT -> null, numpy -> python, times ISO)."""
    if isinstance(value, np.ndarray):
        return [_json_value(v) for v in value.tolist()]
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value if isinstance(value, str | int | float | bool) else str(value)
