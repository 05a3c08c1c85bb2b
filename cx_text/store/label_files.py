"""Labels as files: export (XLSX/CSV/JSONL, the data/corpus layout), import with checks, the queue
file.

The layout is the tagging contract's, as :func:`cx_text.training.corpus.read_labeled_table`
reads it: ``source, id, text, lang, channel, sentiment, topics`` (``a;b``), ``aspect_sentiments``
(``topic:polarity;…``), plus ``labelled`` — which fields are labels (``sentiment;topics;
polarity:delivery``). A blank cell is *not labelled*; ``none`` in ``topics`` labels "no topic".
JSONL keeps lists and adds ``aspects`` ({topic: polarity}), so ``load_corpus`` reads it too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from cx_text.core import schema
from cx_text.core.errors import LabelError
from cx_text.io.output import output_format, read_frame, write_frame
from cx_text.store.labels import (
    POLARITY,
    SENTIMENT,
    TOPICS,
    Label,
    add_labels,
    check_label,
    labels_frame,
    model_tags,
)
from cx_text.store.queue import review_queue
from cx_text.store.store import Store

NO_TOPIC = "none"
#: also read as "no topic" (a hand-typed dash; "'-" is how the formula guard writes one)
NO_TOPIC_ALIASES = ("none", "-", "'-")
FILE_COLUMNS = (
    "source",
    "id",
    "text",
    "lang",
    "channel",
    "sentiment",
    "topics",
    "aspect_sentiments",
    "labelled",
    "who",
    "labelled_at",
)
MAX_ERRORS = 20


@dataclass
class ImportReport:
    """What ``cx-text labels import`` did: labels stored, rows with none, rows not stored and
    why."""

    rows: int = 0
    labels: int = 0
    messages: int = 0
    empty_rows: list[int] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)

    def text(self) -> str:
        lines = [
            f"{self.rows} rows read: {self.labels} labels stored for {self.messages} messages"
            + (f"; {len(self.empty_rows)} rows had no label" if self.empty_rows else "")
            + "."
        ]
        if self.unmatched:
            lines.append(
                f"{len(self.unmatched)} rows NOT imported (no such message, or its text changed):"
            )
            lines += [f"  {line}" for line in self.unmatched]
        return "\n".join(lines)


def export_labels(
    store: Store, path: Path | str, topic_ids: Sequence[str] | None = None
) -> tuple[Path, int]:
    """Write the current labels (one row per labelled message) to ``path``; (path, rows)."""
    frame = labels_frame(store, topic_ids)
    out = pd.DataFrame(
        {
            "source": frame["source"],
            "id": frame["message_id"],
            "text": frame["text"],
            "lang": frame["lang"],
            "channel": frame["channel"],
            "sentiment": frame["sentiment"],
            "topics": [
                t if t or TOPICS not in lab else [NO_TOPIC]
                for t, lab in zip(frame["topics"], frame["labelled"], strict=True)
            ],
            "aspect_sentiments": frame["aspects"].map(
                lambda a: [{"topic": k, "polarity": v} for k, v in a.items()]
            ),
            "labelled": frame["labelled"].map(schema.join_list),
            "who": frame["who"],
            "labelled_at": frame["labelled_at"].astype(str),
        }
    )
    if output_format(path) == "jsonl":  # lists stay lists: "labelled" says an empty one is a label
        out["topics"], out["aspects"] = frame["topics"], frame["aspects"]
    return write_frame(out, path), len(out)


def write_queue(
    store: Store,
    path: Path | str,
    n: int = 200,
    thresholds: dict[str, float] | None = None,
    channel: str | None = None,
) -> tuple[Path, int]:
    """The review queue (of ``channel``, when given) as a file to label: blank label columns
    beside the model's tags."""
    queue = review_queue(store, n, thresholds, channel)
    model = [model_tags(store, s, i) for s, i in zip(queue["source"], queue["id"], strict=True)]
    out = pd.DataFrame(
        {
            "source": queue["source"],
            "id": queue["id"],
            "text": queue["text"],
            "lang": queue["lang"],
            "channel": queue["channel"],
            "sentiment": "",
            "topics": "",
            "aspect_sentiments": "",
            "model_sentiment": [m.sentiment if m else "" for m in model],
            "model_topics": [schema.join_list(m.topics) if m else "" for m in model],
            "model_aspect_sentiments": [
                ";".join(f"{t}:{m.old_value(POLARITY, t)}" for t in m.topics) if m else ""
                for m in model
            ],
            "uncertainty": queue["uncertainty"].round(3),
            "group": queue["group_label"],
        }
    )
    return write_frame(out, path), len(out)


def import_labels(
    store: Store, path: Path | str, *, who: str, topic_ids: Sequence[str]
) -> ImportReport:
    """Check every row of a labels file, then store the labels of the rows that match a message.

    Any invalid value stops the import before anything is written (LabelError naming the rows);
    rows whose message is not in the store, or whose text differs from the stored one, are
    skipped and listed in the report."""
    frame = _read(path)
    report = ImportReport(rows=len(frame))
    parsed, errors, default_source = [], [], _default_source(store, frame)
    records: list[dict[str, Any]] = [
        {str(k): v for k, v in r.items()} for r in frame.to_dict("records")
    ]
    for row_no, row in zip(range(2, len(frame) + 2), records, strict=True):
        try:
            parsed.append((row_no, row, _row_labels(row, topic_ids, default_source)))
        except LabelError as exc:
            errors.append(f"row {row_no}: {exc.message}")
    if errors:
        raise LabelError(
            f"{path} has {len(errors)} invalid row(s):\n  " + "\n  ".join(errors[:MAX_ERRORS]),
            f"Fix them (sentiment and polarity: {', '.join(schema.SENTIMENTS)}; topics: "
            f"{', '.join(topic_ids)}; 'none' = no topic; a blank cell = not labelled) and import "
            f"again.",
        )
    labels = []
    for row_no, row, row_labels in parsed:
        if not row_labels:
            report.empty_rows.append(row_no)
        elif (problem := _mismatch(store, row, row_labels[0])) is not None:
            report.unmatched.append(
                f"row {row_no} ({row_labels[0].source}/{row_labels[0].id}): {problem}"
            )
        else:
            labels += row_labels
            report.messages += 1
    report.labels = len(add_labels(store, labels, who=who, origin="import", topic_ids=topic_ids))
    return report


def _read(path: Path | str) -> pd.DataFrame:
    if not Path(path).is_file():
        raise LabelError(f"no labels file at {path}.", "Pass an .xlsx, .csv or .jsonl file.")
    frame = read_frame(path)
    if "id" not in frame.columns:
        raise LabelError(
            f"{path} has no 'id' column (columns: {', '.join(map(str, frame.columns))}).",
            "Keep the source and id columns of `cx-text labels export` / `labels queue`.",
        )
    return frame


def _default_source(store: Store, frame: pd.DataFrame) -> str | None:
    if "source" in frame.columns:
        return None
    sources = [
        r[0] for r in store.con.execute("SELECT DISTINCT source FROM latest_run_per_id").fetchall()
    ]
    return str(sources[0]) if len(sources) == 1 else None


def _row_labels(
    row: dict[str, Any], topic_ids: Sequence[str], default_source: str | None
) -> list[Label]:
    source, item = (
        str(schema.row_cell(row, "source") or default_source or "").strip(),
        str(schema.row_cell(row, "id")).strip(),
    )
    if not item or not source:
        raise LabelError(
            "no id" if not item else "no source (the store has several; add a source column)"
        )
    marked = set(schema.split_list(schema.row_cell(row, "labelled")))
    sentiment = str(schema.row_cell(row, "sentiment")).strip()
    topics_cell = schema.row_cell(row, "topics")
    topics = [t for t in schema.split_list(topics_cell) if t.lower() not in NO_TOPIC_ALIASES]
    aspects = {
        a["topic"]: a["polarity"]
        for a in schema.split_aspects(schema.row_cell(row, "aspect_sentiments"))
        if a["topic"]
    }
    out = []
    if sentiment or SENTIMENT in marked:
        out.append(Label(source, item, SENTIMENT, sentiment))
    topics_labelled = bool(schema.split_list(topics_cell)) or TOPICS in marked
    if topics_labelled:
        out.append(Label(source, item, TOPICS, topics))
    for topic, polarity in aspects.items():
        if topics_labelled and topic not in topics:
            raise LabelError(f"aspect_sentiments names {topic!r}, which is not in topics {topics}")
        out.append(Label(source, item, POLARITY, polarity, topic))
    for label in out:
        check_label(label, topic_ids)
    return out


def _mismatch(store: Store, row: dict[str, Any], label: Label) -> str | None:
    tags = model_tags(store, label.source, label.id)
    if tags is None:
        return "no such message in the store"
    given = str(schema.row_cell(row, "text"))
    if given and _same_text(given) != _same_text(tags.text):
        return "the stored text differs from the file's (the message changed since)"
    return None


def _same_text(text: str) -> str:
    return " ".join(text.removeprefix("'").split())
