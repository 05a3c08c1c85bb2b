"""Shared types of the raw readers: the file layout, raw chunks and header naming."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from cx_text.io.detect import Dialect, Encoding

Note = tuple[str, str]  # (row status, issue text)
ROW_LABELS = {"csv": "line", "jsonl": "line", "excel": "row", "json": "record", "parquet": "record"}


@dataclass
class RawChunk:
    """Raw cells of consecutive records, their source row numbers and reader notes per row."""

    frame: pd.DataFrame
    source_rows: list[int]
    notes: dict[int, list[Note]] = field(default_factory=dict)


@dataclass(frozen=True)
class Layout:
    """Everything needed to read a file the same way every time."""

    path: Path
    format: str
    columns: tuple[str, ...]
    key: str
    format_note: str = ""
    encoding: Encoding | None = None
    dialect: Dialect | None = None
    sheet: str | None = None
    sheet_names: tuple[str, ...] = ()
    header_row: int = 0  # CSV/Excel: 1-based line/row number of the header
    renamed: tuple[str, ...] = ()  # notes about blank/duplicate header names

    @property
    def row_label(self) -> str:
        """What ``source_row`` counts: "line", "row" or "record"."""
        return ROW_LABELS[self.format]


def unique_names(raw: Sequence[Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Header cells -> unique column names (blank -> column_N, repeats -> name.1) and notes."""
    names: list[str] = []
    notes: list[str] = []
    for i, cell in enumerate(raw):
        name = cell_name(cell) or f"column_{i + 1}"
        if not cell_name(cell):
            notes.append(f"column {i + 1} has no header; named it {name!r}")
        base, k = name, 0
        while name in names:
            k += 1
            name = f"{base}.{k}"
        if k:
            notes.append(f"header {base!r} repeats; the copy is named {name!r}")
        names.append(name)
    return tuple(names), tuple(notes)


def cell_name(cell: Any) -> str:
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return "" if cell is None else str(cell).strip().lstrip("\ufeff")


class Batch:
    """Collects records until a chunk is full."""

    def __init__(self, columns: Sequence[str]) -> None:
        self.columns = list(columns)
        self.rows: list[Sequence[Any]] = []
        self.source_rows: list[int] = []
        self.notes: dict[int, list[Note]] = {}

    def add(self, row: Sequence[Any], source_row: int, notes: Sequence[Note] = ()) -> None:
        if notes:
            self.notes[len(self.rows)] = list(notes)
        self.rows.append(row)
        self.source_rows.append(source_row)

    def take(self) -> RawChunk:
        frame = pd.DataFrame(self.rows, columns=self.columns, dtype=object)
        if not self.rows:
            frame = pd.DataFrame({c: pd.Series([], dtype=object) for c in self.columns})
        chunk = RawChunk(frame, self.source_rows, self.notes)
        self.rows, self.source_rows, self.notes = [], [], {}
        return chunk


def open_text(path: Path, encoding: Encoding) -> Any:
    return path.open("r", encoding=encoding.name, errors=encoding.errors, newline="")
