"""The inner loop: which customers to call back about a register item.

A customer is on the list when they wrote a message the item tracks (a negative mention of its
theme/topic) and scored it low: an NPS detractor (0–6) or — on channels without NPS — CSAT 1–2 or
a 1–2 star rating. Anonymous messages (no customer id) cannot be followed up and are counted
apart. One row per customer: their latest such message, how many they wrote, its quote.

PII: texts leave the store as stored. When a tagging run stored unmasked text
(``--no-mask-pii``), texts are masked here (phones, e-mails, cards, INN, SNILS, passports) unless
the caller passes ``show_pii=True``; a masked store cannot be unmasked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from cx_text.io.output import write_frame
from cx_text.loop.measure import members_sql
from cx_text.store.store import Store
from cx_text.text.pii import mask_pii

#: ``(source, message_id)`` identifies the message in the store (an id is unique within its export)
FOLLOWUP_COLUMNS = [
    "customer_id",
    "segment",
    "channel",
    "created_at",
    "score_type",
    "score",
    "quote",
    "text",
    "source",
    "message_id",
    "messages",
    "ltv",
    "churned_at",
]

_SQL = """WITH members AS ({members}),
hits AS (
  SELECT t.source, t.id, t.run_id, t.customer_id, t.segment, t.channel, t.created_at, t.text, t.nps,
         t.csat, t.rating
  FROM tagged t JOIN members m USING (source, id)
  WHERE (t.nps <= 6 OR (t.nps IS NULL AND (t.csat <= 2 OR t.rating <= 2)))
    AND ($start IS NULL OR t.created_at >= CAST($start AS TIMESTAMP))
    AND ($end IS NULL OR t.created_at < CAST($end AS TIMESTAMP))
),
quotes AS ({quotes})
SELECT h.*, q.clause AS quote,
       count(*) OVER (PARTITION BY h.customer_id) AS messages,
       row_number() OVER (PARTITION BY h.customer_id ORDER BY h.created_at DESC, h.source, h.id) \
AS rank
FROM hits h LEFT JOIN quotes q USING (source, id)"""
_THEME_QUOTES = (
    "SELECT r.source, m.id, arg_max(m.clause, m.similarity) AS clause FROM theme_memberships m "
    "JOIN runs r USING (run_id) WHERE m.theme_id IN (SELECT theme_id FROM themes "
    "WHERE theme_id = $m_theme OR parent_id = $m_theme) "
    "AND (r.source, m.id) IN (SELECT source, id FROM hits) GROUP BY r.source, m.id"
)
_TOPIC_QUOTES = (
    "SELECT message_source AS source, id, arg_max(clause, length(clause)) AS clause "
    "FROM latest_evidence WHERE topic = $m_topic AND (run_id, id) IN "
    "(SELECT run_id, id FROM hits) GROUP BY message_source, id"
)


@dataclass(frozen=True)
class FollowUp:
    """The follow-up list of one item and what was left out."""

    item_id: int
    customers: pd.DataFrame  # FOLLOWUP_COLUMNS, newest first
    anonymous: int  # low-score messages without a customer id
    pii: str  # "masked in store" | "masked on export" | "shown (unmasked store)"

    @property
    def size(self) -> int:
        return len(self.customers)

    def summary(self) -> str:
        return (
            f"Item #{self.item_id}: {self.size} customer(s) to follow up"
            f"{f', {self.anonymous} anonymous message(s) left out' if self.anonymous else ''}; "
            f"PII {self.pii}."
        )


def followup_list(
    store: Store,
    item_id: int,
    theme_id: str | None,
    topic: str,
    *,
    start: date | None = None,
    end: date | None = None,
    show_pii: bool = False,
) -> FollowUp:
    """Low-scoring customers who mentioned the item's theme (``start``/``end`` inclusive days)."""
    members, params = members_sql(store, theme_id, topic)
    quotes = _THEME_QUOTES if theme_id else _TOPIC_QUOTES
    params = {
        **params,
        "start": start and start.isoformat(),
        "end": end and (end + timedelta(days=1)).isoformat(),
    }
    rows = store.con.execute(_SQL.format(members=members, quotes=quotes), params).df()
    anonymous = int(rows["customer_id"].isna().sum())
    latest = rows[rows["customer_id"].notna() & (rows["rank"] == 1)]
    frame = _customers(store, latest)
    mode = pii_mode(store, show_pii)
    if mode == "masked on export":
        frame = frame.assign(quote=frame["quote"].map(_mask), text=frame["text"].map(_mask))
    return FollowUp(item_id, frame, anonymous, mode)


def _customers(store: Store, latest: pd.DataFrame) -> pd.DataFrame:
    score_type = latest["nps"].notna().map({True: "nps", False: ""})
    score_type = score_type.where(
        score_type != "", latest["csat"].notna().map({True: "csat", False: "rating"})
    )
    score = latest["nps"].fillna(latest["csat"]).fillna(latest["rating"])
    out = pd.DataFrame(
        {
            "customer_id": latest["customer_id"].astype(str),
            "segment": latest["segment"],
            "channel": latest["channel"],
            "created_at": latest["created_at"],
            "score_type": score_type,
            "score": score.astype("Int64"),
            "quote": latest["quote"].fillna(latest["text"]),
            "text": latest["text"],
            "source": latest["source"].astype(str),
            "message_id": latest["id"].astype(str),
            "messages": latest["messages"].astype("int64"),
        }
    )
    extra = store.con.execute(
        "SELECT customer_id, ltv, churned_at FROM customers WHERE customer_id "
        "IN (SELECT unnest($ids))",
        {"ids": out["customer_id"].tolist()},
    ).df()
    out = out.merge(extra, on="customer_id", how="left")
    return out.sort_values(
        ["created_at", "customer_id"], ascending=[False, True], ignore_index=True
    )[FOLLOWUP_COLUMNS]


def pii_mode(store: Store, show_pii: bool) -> str:
    """How texts leave the store (see the module docstring)."""
    row = store.con.execute(
        "SELECT count(*) FROM runs WHERE status = 'complete' AND "
        "json_extract_string(manifest, '$.settings.mask_pii') = 'false'"
    ).fetchone()
    unmasked = bool(row and row[0])
    if not unmasked:
        return "masked in store"
    return "shown (unmasked store)" if show_pii else "masked on export"


def _mask(value: Any) -> Any:
    return mask_pii(value)[0] if isinstance(value, str) else value


def export_followup(followup: FollowUp, path: Path | str) -> Path:
    """Write the list for a CRM: .csv (UTF-8 BOM) or .xlsx, formula-safe (cells starting with
    ``= + - @`` are prefixed with ``'``); .parquet/.jsonl also work."""
    frame = followup.customers.copy()
    frame["created_at"] = pd.to_datetime(frame["created_at"]).dt.strftime("%Y-%m-%d %H:%M")
    frame["churned_at"] = frame["churned_at"].map(lambda d: "" if pd.isna(d) else str(d)[:10])
    return write_frame(frame, path)
