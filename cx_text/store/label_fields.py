"""What an analyst's label is: the fields it may set, how a value is stored, when it is valid.

A label (:class:`Label`) sets one field of one message ``(source, id)``: its ``sentiment``, its
``topics`` (the whole list) or the ``polarity`` of one ``topic``. :func:`encode` is the stored
form of a value (topics sorted and ``;``-joined), :func:`check_label` the rules a label must keep,
:func:`text_hash` the fingerprint of the text it was made on. No store access here: the labels
table itself is :mod:`cx_text.store.labels`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from cx_text.core import schema
from cx_text.core.errors import LabelError

SENTIMENT, TOPICS, POLARITY = "sentiment", "topics", "polarity"
FIELDS = (SENTIMENT, TOPICS, POLARITY)
ORIGINS = ("app", "import", "api")


@dataclass(frozen=True)
class Label:
    """One analyst decision: ``value`` is a sentiment, a polarity, or a list of topic ids."""

    source: str
    id: str
    field: str
    value: str | Sequence[str]
    topic: str = ""


def text_hash(text: str | None) -> str:
    """SHA-256 (hex) of the text as stored; equals DuckDB's ``sha256(coalesce(text, ''))``."""
    return hashlib.sha256((text or "").encode("utf-8")).hexdigest()


def encode(field: str, value: str | Sequence[str] | None) -> str:
    """A label value as stored: topics sorted and ``;``-joined, others as given."""
    if field == TOPICS:
        return schema.join_list(
            sorted({str(t).strip() for t in schema.split_list(value) if str(t).strip()})
        )
    return "" if value is None else str(value).strip()


def check_label(label: Label, topic_ids: Sequence[str] | None = None) -> None:
    """LabelError unless the field, the value and (for topics and polarity) the topic are valid."""
    if label.field not in FIELDS:
        raise LabelError(
            f"unknown label field {label.field!r}.", f"Use one of {', '.join(FIELDS)}."
        )
    if (
        label.field in (SENTIMENT, POLARITY)
        and encode(label.field, label.value) not in schema.SENTIMENTS
    ):
        raise LabelError(
            f"{label.field} {label.value!r} is not one of {', '.join(schema.SENTIMENTS)}.",
            "Write negative, neutral or positive.",
        )
    if label.field == POLARITY and not label.topic:
        raise LabelError("a polarity label needs its topic.", "Pass the topic id (e.g. delivery).")
    named = (
        schema.split_list(label.value)
        if label.field == TOPICS
        else [label.topic]
        if label.topic
        else []
    )
    unknown = sorted(set(named) - set(topic_ids)) if topic_ids is not None else []
    if unknown:
        raise LabelError(
            f"unknown topic(s) {', '.join(unknown)}.",
            f"Topics of the taxonomy: {', '.join(topic_ids or ())}.",
        )
