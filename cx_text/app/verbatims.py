"""Verbatims for the app: a filtered, paged message list with evidence highlighted, and export.

A page shows the analysts' corrections (``cx_text.app.labels.with_corrections``: ``sentiment``
and ``topics`` as corrected, ``model_*`` and ``corrected`` beside them); the filters and the
export read the model's tags.

Filtering, counting, ordering and paging run in DuckDB; only one page of rows (plus the
evidence spans of those rows) reaches pandas. :func:`highlight_html` escapes the customer text
and wraps the evidence words in ``<mark>`` — the only HTML that ever comes from a message.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from cx_text.analytics.filters import Filters
from cx_text.app.labels import with_corrections
from cx_text.core.errors import ConfigError
from cx_text.io.output import write_frame
from cx_text.store import cache as metrics_cache
from cx_text.store.store import Store

SCORES = ("nps", "csat", "ces", "rating")
SENTIMENT_VALUES = ("negative", "neutral", "positive")
PAGE_SIZES = (10, 25, 50, 100)
EXPORT_LIMIT = 200_000
PAGE_COLUMNS = [
    "source",
    "id",
    "created_at",
    "channel",
    "segment",
    "lang",
    "nps",
    "csat",
    "ces",
    "rating",
    "sentiment",
    "topics",
    "text",
]


@dataclass(frozen=True)
class VerbatimQuery:
    """The Verbatims page's own filters (on top of the sidebar's :class:`Filters`)."""

    topic: str | None = None
    theme_id: str | None = None
    sentiment: str | None = None
    score: str | None = None
    score_min: float | None = None
    score_max: float | None = None
    search: str = ""

    def __post_init__(self) -> None:
        if self.score is not None and self.score not in SCORES:
            raise ConfigError(f"unknown score {self.score!r}.", f"Use one of {', '.join(SCORES)}.")
        if self.sentiment is not None and self.sentiment not in SENTIMENT_VALUES:
            raise ConfigError(
                f"unknown sentiment {self.sentiment!r}.",
                f"Use one of {', '.join(SENTIMENT_VALUES)}.",
            )


def _where(store: Store, filters: Filters, query: VerbatimQuery) -> tuple[str, dict[str, Any]]:
    """WHERE over the cached messages ``m``; text and stars reach ``feedback`` by a semi-join."""
    where, params = filters.where()
    parts = [where[len("WHERE ") :]] if where else []
    if query.topic:
        parts.append("list_contains(topics, $v_topic)")
        params["v_topic"] = query.topic
    if query.theme_id:
        members = metrics_cache.ensure_theme_members(store.con)
        parts.append(
            f"(source, id) IN (SELECT source, id FROM {members} WHERE theme_id = $v_theme)"
        )
        params["v_theme"] = query.theme_id
    if query.sentiment:
        parts.append("sentiment = $v_sentiment")
        params["v_sentiment"] = query.sentiment
    if query.score and (query.score_min is not None or query.score_max is not None):
        params["v_lo"] = -1e9 if query.score_min is None else float(query.score_min)
        params["v_hi"] = 1e9 if query.score_max is None else float(query.score_max)
        parts.append(
            "(run_id, id) IN (SELECT run_id, id FROM feedback WHERE rating BETWEEN $v_lo AND $v_hi)"
            if query.score == "rating"
            else f"{query.score} BETWEEN $v_lo AND $v_hi"
        )
    if query.search.strip():
        parts.append(
            "(run_id, id) IN (SELECT run_id, id FROM feedback WHERE text ILIKE $v_search ESCAPE "
            "'\\')"
        )
        params["v_search"] = "%" + _escape_like(query.search.strip()) + "%"
    return ("WHERE " + " AND ".join(parts) if parts else ""), params


def _escape_like(text: str) -> str:
    return re.sub(r"([%_\\])", r"\\\1", text)


def count_verbatims(store: Store, filters: Filters, query: VerbatimQuery) -> int:
    """How many messages match (for the pager)."""
    where, params = _where(store, filters, query)
    msgs = metrics_cache.ensure_messages(store.con)
    row = store.con.execute(f"SELECT count(*) FROM {msgs} {where}", params).fetchone()
    return int(row[0]) if row else 0


def verbatims_page(
    store: Store, filters: Filters, query: VerbatimQuery, page: int = 1, page_size: int = 25
) -> tuple[pd.DataFrame, int]:
    """One page (newest first) and the total count; adds ``evidence`` spans per row."""
    if page_size < 1 or page_size > max(PAGE_SIZES):
        raise ConfigError(f"page size {page_size} is outside 1–{max(PAGE_SIZES)}.")
    total = count_verbatims(store, filters, query)
    offset = max(0, min(page - 1, max(total - 1, 0) // page_size)) * page_size
    frame = _select(store, filters, query, f"LIMIT {int(page_size)} OFFSET {int(offset)}")
    keys = list(zip(frame.pop("run_id").astype(str), frame["id"].astype(str), strict=True))
    spans = evidence_spans(store, keys)
    frame["evidence"] = pd.Series([spans.get(k, []) for k in keys], index=frame.index, dtype=object)
    return with_corrections(store, frame), total


def _select(store: Store, filters: Filters, query: VerbatimQuery, tail: str) -> pd.DataFrame:
    where, params = _where(store, filters, query)
    msgs = metrics_cache.ensure_messages(store.con)
    sql = (
        f"SELECT m.source, m.id, m.created_at, m.channel, m.segment, m.lang, m.nps, m.csat, m.ces, "
        f"f.rating, m.sentiment, m.topics, f.text, m.run_id FROM (SELECT * FROM {msgs} {where} "
        f"ORDER BY created_at DESC NULLS LAST, source, id {tail}) m JOIN feedback f USING "
        f"(run_id, id) "
        "ORDER BY m.created_at DESC NULLS LAST, m.source, m.id"
    )
    return store.con.execute(sql, params).df()


def evidence_spans(
    store: Store, keys: list[tuple[str, str]]
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """``{(run_id, id): [{topic, start, end, terms}]}`` for a page of latest-run messages."""
    if not keys:
        return {}
    rows = store.con.execute(
        """SELECT e.run_id, e.id, e.topic, e.clause_start, e.clause_end, e.terms FROM evidence e
        WHERE e.run_id IN (SELECT unnest($runs)) AND (e.run_id, e.id) IN
              (SELECT unnest($runs) AS run_id, unnest($ids) AS id)
        ORDER BY e.run_id, e.id, e.clause_start""",
        {"runs": [r for r, _ in keys], "ids": [i for _, i in keys]},
    ).fetchall()
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for run_id, id_, topic, start, end, terms in rows:
        out.setdefault((str(run_id), str(id_)), []).append(
            {"topic": topic, "start": start, "end": end, "terms": list(terms or [])}
        )
    return out


def export_verbatims(
    store: Store,
    filters: Filters,
    query: VerbatimQuery,
    path: Path | str,
    limit: int = EXPORT_LIMIT,
) -> tuple[Path, int]:
    """Write the filtered set (newest first, at most ``limit`` rows) to CSV/XLSX/Parquet/JSONL.

    Text cells are neutralised against spreadsheet formulas by
    :func:`cx_text.io.output.write_frame`.
    """
    frame = _select(store, filters, query, f"LIMIT {int(limit)}").drop(columns=["run_id"])
    return write_frame(frame, path), len(frame)


def _intervals(text: str, spans: list[dict[str, Any]]) -> list[tuple[int, int]]:
    """Character ranges to mark: each evidence term inside its clause, else the whole clause."""
    found: list[tuple[int, int]] = []
    for span in spans:
        start = max(0, int(span.get("start") or 0))
        raw_end = span.get("end")
        end = min(len(text), int(raw_end) if raw_end is not None else len(text))
        hits = [
            (start + m.start(), start + m.end())
            for term in span.get("terms") or []
            if str(term).strip()
            for m in re.finditer(re.escape(str(term).strip()), text[start:end], re.IGNORECASE)
        ]
        found += hits or ([(start, end)] if end > start else [])
    return _merge(sorted(found))


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for a, b in ranges:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def highlight_html(text: Any, spans: list[dict[str, Any]]) -> str:
    """HTML-escaped ``text`` with the evidence words wrapped in ``<mark>``."""
    text = "" if text is None or (isinstance(text, float) and pd.isna(text)) else str(text)
    out, pos = [], 0
    for a, b in _intervals(text, spans):
        out += [html.escape(text[pos:a]), "<mark>", html.escape(text[a:b]), "</mark>"]
        pos = b
    out.append(html.escape(text[pos:]))
    return "".join(out)
