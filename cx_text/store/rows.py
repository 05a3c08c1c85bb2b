"""Tagged DataFrame -> rows of the store's tables (feedback, tags, aspects, evidence)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import pandas as pd

from cx_text.core import schema

FEEDBACK_COLS = [
    schema.CREATED_AT,
    schema.CHANNEL,
    "source_system",
    schema.NPS,
    schema.CSAT,
    schema.CES,
    schema.RATING,
    schema.CUSTOMER_ID,
    schema.SEGMENT,
]
TAG_COLS = [
    schema.LANG,
    schema.LANG_CONFIDENCE,
    schema.SENTIMENT,
    schema.SENTIMENT_SCORE,
    schema.TOPICS,
    schema.SUBTOPICS,
    schema.TOPIC_SCORES,
    schema.PII_FOUND,
    schema.DEDUPE_KEY,
    schema.ROW_STATUS,
    schema.ROW_ISSUES,
    schema.SENTIMENT_PROBS,
]
NOT_EXTRA = {schema.ID, schema.SOURCE, *FEEDBACK_COLS, *TAG_COLS} | {
    schema.TEXT,
    schema.TEXT_CLEAN,
    schema.ANALYSIS,
    schema.SENTIMENT_PROBS,
    schema.ASPECT_SENTIMENTS,
    schema.EVIDENCE,
    schema.THEMES,
    "source_row",
}
_LISTS = (schema.TOPICS, schema.SUBTOPICS, schema.PII_FOUND, schema.ROW_ISSUES)


def unique_ids(tagged: pd.DataFrame, taken: Iterable[str]) -> pd.DataFrame:
    """``tagged`` with ids made unique against ``taken`` and each other (``1`` -> ``1#2``).

    Ingest already does this for a whole export; this guards other writers (a frame tagged in
    memory), so the store never silently keeps one of two rows with the same id.
    """
    ids = tagged[schema.ID].astype(str).tolist()
    seen = set(taken)
    if not seen.intersection(ids) and len(set(ids)) == len(ids):
        return tagged
    out = tagged.copy()
    issues = list(out[schema.ROW_ISSUES]) if schema.ROW_ISSUES in out.columns else [[] for _ in ids]
    for pos, value in enumerate(ids):
        if value in seen:
            k = 2
            while f"{value}#{k}" in seen:
                k += 1
            ids[pos] = f"{value}#{k}"
            issues[pos] = [*_as_list(issues[pos]), f"duplicate id {value!r}; kept as {ids[pos]!r}"]
        seen.add(ids[pos])
    out[schema.ID] = ids
    out[schema.ROW_ISSUES] = issues
    return out


def feedback_rows(tagged: pd.DataFrame, run_id: str, source: str) -> pd.DataFrame:
    """Feedback rows; ``text`` is the PII-masked ``text_clean`` — NULL for a row the model failed
    on (it has no masked text, and the raw text must not reach the store unmasked)."""
    text_col = schema.TEXT_CLEAN if schema.TEXT_CLEAN in tagged.columns else schema.TEXT
    text = tagged[text_col].astype("object")
    if schema.ROW_STATUS in tagged.columns:
        text = text.where(~tagged[schema.ROW_STATUS].astype(str).str.startswith("error"), None)
    out = pd.DataFrame(
        {"run_id": run_id, "source": source, "id": tagged[schema.ID].astype(str), "text": text}
    )
    for col in FEEDBACK_COLS:
        given = schema.SOURCE if col == "source_system" else col
        out[col] = tagged[given].to_numpy() if given in tagged.columns else None
    out[schema.CREATED_AT] = pd.to_datetime(out[schema.CREATED_AT], errors="coerce")
    for col in (schema.NPS, schema.CSAT, schema.CES, schema.RATING):
        out[col] = pd.to_numeric(out[col], errors="coerce").astype("float64")
    for col in (schema.CHANNEL, "source_system", schema.CUSTOMER_ID, schema.SEGMENT):
        out[col] = out[col].map(
            lambda v: None if v is None or (isinstance(v, float) and pd.isna(v)) else str(v)
        )
    out["extra"] = extra_json(tagged, NOT_EXTRA)
    return out


def tag_rows(tagged: pd.DataFrame, run_id: str, first_row: int) -> pd.DataFrame:
    out = pd.DataFrame(
        {
            "run_id": run_id,
            "id": tagged[schema.ID].astype(str),
            "row_index": range(first_row, first_row + len(tagged)),
        }
    )
    for col in TAG_COLS:
        if col not in tagged.columns:
            out[col] = None
        elif col in _LISTS:
            out[col] = tagged[col].map(lambda v: [str(x) for x in _as_list(v)]).to_numpy()
        elif col in (schema.TOPIC_SCORES, schema.SENTIMENT_PROBS):
            out[col] = tagged[col].map(_scores_json).to_numpy()
        else:
            out[col] = tagged[col].to_numpy()
    return out


def aspect_rows(tagged: pd.DataFrame, run_id: str) -> pd.DataFrame:
    rows = [
        (run_id, str(i), a["topic"], a["polarity"], a.get("score"))
        for i, aspects in zip(
            tagged[schema.ID], tagged.get(schema.ASPECT_SENTIMENTS, []), strict=False
        )
        for a in _as_list(aspects)
    ]
    return pd.DataFrame(rows, columns=["run_id", "id", "topic", "polarity", "score"])


def evidence_rows(tagged: pd.DataFrame, run_id: str) -> pd.DataFrame:
    rows = [
        (
            run_id,
            str(i),
            e["topic"],
            e.get("clause"),
            e.get("start"),
            e.get("end"),
            [str(t) for t in _as_list(e.get("terms"))],
            e.get("source"),
        )
        for i, evidence in zip(tagged[schema.ID], tagged.get(schema.EVIDENCE, []), strict=False)
        for e in _as_list(evidence)
    ]
    return pd.DataFrame(
        rows,
        columns=[
            "run_id",
            "id",
            "topic",
            "clause",
            "clause_start",
            "clause_end",
            "terms",
            "source",
        ],
    )


def _as_list(value: Any) -> list[Any]:
    """Lists arrive as lists, tuples or numpy arrays (after a Parquet round trip); None -> []."""
    if isinstance(value, list | tuple):
        return list(value)
    if hasattr(value, "tolist") and not isinstance(value, str):
        out = value.tolist()
        return out if isinstance(out, list) else []
    return []


def _scores_json(value: Any) -> str | None:
    """Topic scores as JSON, from a dict or a Parquet map (list of key/value pairs); nulls
    dropped."""
    items: list[tuple[Any, ...]]
    if isinstance(value, dict):
        items = list(value.items())
    else:
        items = [tuple(p) for p in _as_list(value) if isinstance(p, list | tuple) and len(p) == 2]
    clean = {str(k): float(v) for k, v in items if v is not None}
    return json.dumps(clean) if clean else None


def extra_json(frame: pd.DataFrame, exclude: set[str]) -> list[str | None]:
    extra = [c for c in frame.columns if c not in exclude]
    if not extra:
        return [None] * len(frame)
    records = frame[extra].astype("object").where(frame[extra].notna(), None).to_dict("records")
    return [json.dumps(r, ensure_ascii=False, default=str) for r in records]
