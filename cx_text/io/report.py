"""What ingest detected and flagged in an export, and its human-readable rendering."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from cx_text.core import schema
from cx_text.io.columns import clash_notes
from cx_text.io.formats import Layout
from cx_text.io.mapping import ColumnMapping

MAX_EXAMPLES = 20
_PREVIEW_TEXT = 60


@dataclass(frozen=True)
class FlaggedRow:
    """One row that was not ``ok``: where it is, its status and why."""

    source_row: int
    status: str
    issues: tuple[str, ...]
    text: str


@dataclass
class IngestReport:
    """Detection report: format, encoding, dialect, mapping, row counts, duplicates, examples."""

    path: str
    format: str
    row_label: str
    columns: list[str]
    mapping: dict[str, str]
    explicit: list[str] = field(default_factory=list)
    unmapped_columns: list[str] = field(default_factory=list)
    renamed_columns: list[str] = field(default_factory=list)
    ambiguous_columns: dict[str, list[str]] = field(default_factory=dict)
    format_note: str = ""
    encoding: str | None = None
    encoding_note: str = ""
    delimiter: str | None = None
    quoting: str | None = None
    sheet: str | None = None
    sheet_names: list[str] = field(default_factory=list)
    header_row: int | None = None
    ids_generated: bool = False
    rows: int = 0
    status_counts: dict[str, int] = field(default_factory=dict)
    duplicate_ids: dict[str, list[int]] = field(default_factory=dict)
    flagged_examples: list[FlaggedRow] = field(default_factory=list)
    complete: bool = False

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly view (for run manifests)."""
        return asdict(self)

    def render(self) -> str:
        """Plain-text summary (see :func:`render_report`)."""
        return render_report(self)


class ReportBuilder:
    """Accumulates an :class:`IngestReport` chunk by chunk."""

    def __init__(
        self, layout: Layout, mapping: ColumnMapping, extras: tuple[tuple[str, str], ...]
    ) -> None:
        enc = layout.encoding
        renamed = list(layout.renamed) + clash_notes(src for src, _ in extras)
        self.report = IngestReport(
            path=str(layout.path),
            format=layout.format,
            row_label=layout.row_label,
            columns=list(layout.columns),
            mapping=dict(mapping.mapping),
            explicit=sorted(mapping.explicit),
            unmapped_columns=list(mapping.unmapped),
            renamed_columns=renamed,
            ambiguous_columns={k: list(v) for k, v in mapping.ambiguous.items()},
            format_note=layout.format_note,
            encoding=enc.name if enc else None,
            encoding_note=enc.note if enc else "",
            delimiter=layout.dialect.label if layout.dialect else None,
            quoting=_quoting(layout),
            sheet=layout.sheet,
            sheet_names=list(layout.sheet_names),
            header_row=layout.header_row if layout.format in {"csv", "excel"} else None,
            ids_generated=schema.ID not in mapping.mapping,
        )
        self._counts: Counter[str] = Counter()

    def update(self, frame: pd.DataFrame) -> None:
        """Count statuses and keep the first few non-ok rows as examples."""
        self.report.rows += len(frame)
        self._counts.update(frame[schema.ROW_STATUS].tolist())
        self.report.status_counts = dict(self._counts.most_common())
        room = MAX_EXAMPLES - len(self.report.flagged_examples)
        if room <= 0:
            return
        bad = frame[frame[schema.ROW_STATUS] != schema.STATUS_OK].head(room)
        for row, status, issues, text in zip(
            bad[schema.SOURCE_ROW],
            bad[schema.ROW_STATUS],
            bad[schema.ROW_ISSUES],
            bad[schema.TEXT],
            strict=True,
        ):
            self.report.flagged_examples.append(
                FlaggedRow(int(row), str(status), tuple(issues), _short(text))
            )

    def finish(self, duplicates: dict[str, list[int]]) -> None:
        """Record duplicate ids (id -> source rows) once all chunks are read."""
        self.report.duplicate_ids = {k: list(v) for k, v in duplicates.items()}
        self.report.complete = True


def _quoting(layout: Layout) -> str | None:
    if layout.dialect is None:
        return None
    return 'double quotes (")' if layout.dialect.quoted else "no quoted fields seen"


def _short(text: Any, width: int = _PREVIEW_TEXT) -> str:
    value = "" if text is None or (isinstance(text, float) and pd.isna(text)) else str(text)
    value = " ".join(value.split())
    return value if len(value) <= width else value[: width - 1] + "…"


# --------------------------------------------------------------------------- rendering


def render_report(report: IngestReport, preview: pd.DataFrame | None = None) -> str:
    """The human-readable text ``cx-text inspect`` prints."""
    parts = [_render_source(report), _render_mapping(report), _render_rows(report)]
    if preview is not None:
        parts.append(_render_preview(preview, report))
    return "\n\n".join(p for p in parts if p).rstrip() + "\n"


def _render_source(r: IngestReport) -> str:
    lines = [
        f"File:        {r.path}",
        f"Format:      {r.format}" + (f"  ({r.format_note})" if r.format_note else ""),
    ]
    if r.encoding:
        lines.append(
            f"Encoding:    {r.encoding}" + (f"  ({r.encoding_note})" if r.encoding_note else "")
        )
    if r.delimiter:
        lines.append(f"Delimiter:   {r.delimiter}")
        lines.append(f"Quoting:     {r.quoting}")
    if r.sheet:
        others = [s for s in r.sheet_names if s != r.sheet]
        lines.append(
            f"Sheet:       {r.sheet!r}"
            + (f"  (other sheets: {', '.join(map(repr, others))})" if others else "")
        )
    if r.header_row:
        lines.append(f"Header:      {r.row_label} {r.header_row}")
    lines.extend(f"Note:        {note}" for note in r.renamed_columns)
    return "\n".join(lines)


def _render_mapping(r: IngestReport) -> str:
    lines = ["Columns (canonical <- input):"]
    for canonical in schema.CANONICAL_COLUMNS:
        if canonical in r.mapping:
            how = "  (flag)" if canonical in r.explicit else ""
            lines.append(f"  {canonical:<12} <- {r.mapping[canonical]!r}{how}")
    if r.ids_generated:
        lines.append(
            f"  {schema.ID:<12} <- (none: stable ids generated from the file content "
            f"and {r.row_label} number)"
        )
    missing = [c for c in schema.CANONICAL_COLUMNS if c not in r.mapping and c != schema.ID]
    if missing:
        lines.append(f"  not in the file: {', '.join(missing)}")
    if r.unmapped_columns:
        lines.append(f"Kept as extra columns: {', '.join(map(repr, r.unmapped_columns))}")
    for col, cands in r.ambiguous_columns.items():
        lines.append(
            f"Ambiguous (not mapped): {col!r} could be {' or '.join(cands)}; use a --*-col flag"
        )
    return "\n".join(lines)


def _render_rows(r: IngestReport) -> str:
    counts = ", ".join(f"{k} {v:,}" for k, v in r.status_counts.items()) or "none"
    lines = [f"Rows:        {r.rows:,}  ({counts})"]
    if r.duplicate_ids:
        shown = list(r.duplicate_ids.items())[:10]
        lines.append(f"Duplicate ids: {len(r.duplicate_ids):,} (rows kept, later copies flagged)")
        lines.extend(f"  {k!r} at {r.row_label}s {', '.join(map(str, v))}" for k, v in shown)
    if r.flagged_examples:
        lines.append("Flagged rows:")
        for ex in r.flagged_examples:
            lines.append(f"  {r.row_label} {ex.source_row}: {ex.status} — {'; '.join(ex.issues)}")
        more = r.rows - r.status_counts.get(schema.STATUS_OK, 0) - len(r.flagged_examples)
        if more > 0:
            lines.append(f"  … and {more:,} more")
    return "\n".join(lines)


def _render_preview(preview: pd.DataFrame, r: IngestReport) -> str:
    if preview.empty:
        return "Preview:     (no data rows)"
    cols = [
        schema.SOURCE_ROW,
        *[c for c in schema.CANONICAL_COLUMNS if c in r.mapping or c == schema.ID],
        schema.ROW_STATUS,
    ]
    view = preview[cols].copy()
    view[schema.TEXT] = view[schema.TEXT].map(lambda t: _short(t, 50))
    body = view.to_string(index=False, na_rep="")
    return f"Preview (first {len(preview)} rows):\n" + "\n".join(
        "  " + ln for ln in body.splitlines()
    )


@dataclass
class InspectReport:
    """What ``cx-text inspect`` shows: the detection report plus a preview of the first rows."""

    report: IngestReport
    preview: pd.DataFrame
    preview_rows: int = 5

    def render(self) -> str:
        """Encoding, delimiter, mapping canonical <- input, flagged rows with lines, preview."""
        return render_report(self.report, self.preview if self.preview_rows > 0 else None)
