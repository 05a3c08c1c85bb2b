"""Column names and dtypes of every stage — the one place they are spelled.

Stages add the columns listed here and never rename or drop input columns.
In-memory (pandas) representation of the nested tag columns:

* ``topics``            list[str] of topic ids, e.g. ``["delivery", "staff"]``
* ``topic_scores``      dict[str, float] topic id -> probability
* ``aspect_sentiments`` list[dict] ``{"topic": str, "polarity": str, "score": float}``
* ``evidence``          list[dict] ``{"topic", "clause", "terms": list[str], "start", "end",
                        "source": "rule"|"model", "spans": list[[start, end]]}`` — character
                        offsets into ``text_clean`` (``start``/``end`` of the clause, ``spans``
                        of the cue words; ``[]`` for model evidence)
* ``pii_found``         list[str] of placeholder types found, e.g. ``["PHONE", "PERSON"]``

Flat files (CSV/XLSX) get them flattened by :func:`flatten_for_flat_file`:
``topics`` -> ``"delivery;staff"``, ``aspect_sentiments`` -> ``"staff:positive;delivery:negative"``.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from cx_text.core.errors import SchemaError

# --- canonical input columns (ingest) --------------------------------------------------------
ID = "id"
TEXT = "text"
CREATED_AT = "created_at"
CHANNEL = "channel"
SOURCE = "source"
NPS = "nps"
CSAT = "csat"
CES = "ces"
RATING = "rating"
CUSTOMER_ID = "customer_id"
SEGMENT = "segment"

CANONICAL_COLUMNS: tuple[str, ...] = (
    ID,
    TEXT,
    CREATED_AT,
    CHANNEL,
    SOURCE,
    NPS,
    CSAT,
    CES,
    RATING,
    CUSTOMER_ID,
    SEGMENT,
)

#: inclusive valid ranges of the metric columns
METRIC_RANGES: dict[str, tuple[int, int]] = {
    NPS: (0, 10),
    CSAT: (1, 5),
    CES: (1, 7),
    RATING: (1, 5),
}

# --- row status (every stage may append to row_issues; row_status keeps the worst) -----------
ROW_STATUS = "row_status"
ROW_ISSUES = "row_issues"
STATUS_OK = "ok"
STATUS_EMPTY = "empty"
STATUS_TRUNCATED = "truncated"
STATUS_FLAGGED = "flagged"  # kept and tagged, but some field was bad (e.g. nps=11)
STATUS_ERROR_PREFIX = "error: "  # "error: <what failed>" — row kept, tags empty
# row_issues: list[str] of human-readable problems, e.g. "nps 11 is outside 0–10; cleared"
SOURCE_ROW = "source_row"  # where the row came from: file line (CSV/JSONL), sheet row, record no.

# --- language layer ----------------------------------------------------------------------------
TEXT_CLEAN = "text_clean"
DEDUPE_KEY = "dedupe_key"
PII_FOUND = "pii_found"
LANG = "lang"
LANG_CONFIDENCE = "lang_confidence"
ANALYSIS = "analysis"  # nlp.Analysis objects (in memory only; not written to files)

LANG_RU, LANG_EN, LANG_MIXED, LANG_OTHER = "ru", "en", "mixed", "other"
LANGS: tuple[str, ...] = (LANG_RU, LANG_EN, LANG_MIXED, LANG_OTHER)

# --- classifiers: the tagging contract ----------------------------------------------------------
SENTIMENT = "sentiment"  # "negative" | "neutral" | "positive" | "" (row not taggable)
SENTIMENT_SCORE = "sentiment_score"  # P(positive) - P(negative), in [-1, 1]
SENTIMENT_PROBS = "sentiment_probs"  # dict label -> calibrated probability
TOPICS = "topics"
TOPIC_SCORES = "topic_scores"
SUBTOPICS = "subtopics"  # list[str] like "delivery/late"
ASPECT_SENTIMENTS = "aspect_sentiments"
EVIDENCE = "evidence"
THEMES = "themes"  # list[str] stable theme ids (filled by themes.py / store)

SENTIMENTS: tuple[str, ...] = ("negative", "neutral", "positive")
POLARITIES = SENTIMENTS
OTHER_TOPIC = "other"

TAG_COLUMNS: tuple[str, ...] = (
    LANG,
    LANG_CONFIDENCE,
    SENTIMENT,
    SENTIMENT_SCORE,
    TOPICS,
    ASPECT_SENTIMENTS,
    EVIDENCE,
    ROW_STATUS,
)

#: tag values of a row that was not tagged (empty text, error): lists are fresh per row
EMPTY_TAGS: dict[str, Any] = {
    SENTIMENT: "",
    SENTIMENT_SCORE: None,
    SENTIMENT_PROBS: None,
    TOPICS: [],
    TOPIC_SCORES: None,
    SUBTOPICS: [],
    ASPECT_SENTIMENTS: [],
    EVIDENCE: [],
}


def empty_tag(column: str) -> Any:
    """A fresh empty value for a tag column (a new list each call, never a shared one)."""
    value = EMPTY_TAGS[column]
    return [] if isinstance(value, list) else value


#: nested columns -> how they are flattened into one text cell for CSV/XLSX
_LIST_JOIN = ";"


def require_columns(frame: pd.DataFrame, columns: Iterable[str], stage: str) -> None:
    """Raise SchemaError naming the missing columns and what the stage needed them for."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SchemaError(
            f"{stage} needs column(s) {', '.join(missing)}; the frame has: "
            f"{', '.join(map(str, frame.columns)) or '(none)'}.",
            "Run the earlier pipeline stages first (see docs/ARCHITECTURE.md).",
        )


def validate_frame(frame: pd.DataFrame, stage: str = "output") -> None:
    """Check the invariants every stage keeps: unique columns and a row status on every row."""
    dupes = frame.columns[frame.columns.duplicated()].tolist()
    if dupes:
        raise SchemaError(f"{stage}: duplicate column names {dupes}.", "Rename them in the input.")
    if ROW_STATUS in frame.columns and frame[ROW_STATUS].isna().any():
        raise SchemaError(
            f"{stage}: some rows have no {ROW_STATUS}.", "This is a bug; please report."
        )


def row_cell(row: Mapping[Any, Any], name: Hashable) -> Any:
    """``row[name]`` of a record read from a file, ``""`` when absent, None or NaN (an empty
    cell); anything else (a blank string too) as it is."""
    value = row.get(name)
    return "" if value is None or (isinstance(value, float) and pd.isna(value)) else value


def join_list(values: Sequence[str] | None) -> str:
    """``["delivery", "staff"]`` -> ``"delivery;staff"`` (``None`` -> ``""``)."""
    return _LIST_JOIN.join(values) if values is not None and len(values) else ""


def split_list(cell: Any) -> list[str]:
    """Inverse of :func:`join_list`; accepts lists unchanged and NaN as empty."""
    if isinstance(cell, list | tuple):
        return [str(v) for v in cell]
    if hasattr(cell, "tolist"):
        return [str(v) for v in cell.tolist()]
    if cell is None or (isinstance(cell, float) and pd.isna(cell)) or str(cell).strip() == "":
        return []
    return [p.strip() for p in str(cell).split(_LIST_JOIN) if p.strip()]


def join_aspects(aspects: Sequence[dict[str, Any]] | None) -> str:
    """``[{"topic": "staff", "polarity": "positive"}]`` -> ``"staff:positive"``."""
    if aspects is None:
        return ""
    return _LIST_JOIN.join(f"{a['topic']}:{a['polarity']}" for a in aspects)


def split_aspects(cell: Any) -> list[dict[str, str]]:
    """Inverse of :func:`join_aspects` (also accepts already-structured lists)."""
    if isinstance(cell, list | tuple) or hasattr(cell, "tolist"):
        items = cell.tolist() if hasattr(cell, "tolist") else list(cell)
        return [{"topic": str(a["topic"]), "polarity": str(a["polarity"])} for a in items]
    out = []
    for part in split_list(cell):
        topic, _, polarity = part.partition(":")
        out.append({"topic": topic.strip(), "polarity": polarity.strip()})
    return out


def flatten_for_flat_file(frame: pd.DataFrame) -> pd.DataFrame:
    """Copy of ``frame`` with nested tag columns as text cells, for CSV/XLSX output."""
    out = frame.drop(columns=[ANALYSIS], errors="ignore").copy()
    for col in (TOPICS, SUBTOPICS, THEMES, PII_FOUND, ROW_ISSUES):
        if col in out.columns:
            out[col] = out[col].map(join_list)
    if ASPECT_SENTIMENTS in out.columns:
        out[ASPECT_SENTIMENTS] = out[ASPECT_SENTIMENTS].map(join_aspects)
    for col in (EVIDENCE, TOPIC_SCORES, SENTIMENT_PROBS):
        if col in out.columns:
            out[col] = out[col].map(_to_json_cell)
    return out


def _to_json_cell(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if hasattr(value, "tolist"):
        value = value.tolist()
    return json.dumps(value, ensure_ascii=False, default=str)
