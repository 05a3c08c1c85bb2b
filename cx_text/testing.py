"""A model-free tagger for tests and demos, built from the schema (no torch, no natasha).

:func:`keyword_tagger` fills every tag column the real tagger writes, with the same types, from a
few keywords: Cyrillic -> ``ru``; "не"/"not"/"never"/"ужас"/"terrible" -> negative; courier and
delivery words -> ``delivery``, else ``other``. :class:`KeywordTagger` adds what engine tests need:
``fail_on`` (raise on a chunk holding a marker text, like a model that breaks on some rows) and
``every_type`` (also fill every nested value the real tagger emits: probability and score maps,
sub-topics, evidence with terms, offsets and spans, a missing language confidence on blank text).
It is a picklable value, so Spark workers can build it. :func:`fake_tagger` wraps either as a
:class:`cx_text.Tagger`, so ``tag`` and ``tag_file`` run end to end in a second.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cx_text.core import schema
from cx_text.core.config import Settings

_NEGATIVE = r"\b(?:не|not|never|didn't|ужас|terrible)\b"
_DELIVERY = "курьер|courier|достав|deliver"
_DELIVERY_WORD = re.compile(rf"\w*(?:{_DELIVERY})\w*", re.IGNORECASE)


def keyword_tagger(chunk: pd.DataFrame) -> pd.DataFrame:
    """Tag a canonical chunk by keywords; rows in = rows out, input never mutated."""
    out = chunk.copy()
    text = out[schema.TEXT].fillna("").astype(str)
    neg = text.str.contains(_NEGATIVE, case=False, regex=True).to_numpy()
    topic = np.where(
        text.str.contains(_DELIVERY, case=False).to_numpy(), "delivery", schema.OTHER_TOPIC
    )
    out[schema.TEXT_CLEAN] = text
    out[schema.PII_FOUND] = _objects([[] for _ in range(len(out))], out.index)
    out[schema.LANG] = np.where(text.str.contains("[а-яё]", case=False, regex=True), "ru", "en")
    out[schema.LANG_CONFIDENCE] = 0.9
    for col in schema.EMPTY_TAGS:
        out[col] = _objects([schema.empty_tag(col) for _ in range(len(out))], out.index)
    out[schema.SENTIMENT] = np.where(neg, "negative", "positive")
    out[schema.SENTIMENT_SCORE] = np.where(neg, -0.7, 0.7)
    out[schema.TOPICS] = _objects([[t] for t in topic], out.index)
    aspects: list[Any] = [
        [{"topic": t, "polarity": s, "score": 0.0}]
        for t, s in zip(topic, out[schema.SENTIMENT], strict=True)
    ]
    out[schema.ASPECT_SENTIMENTS] = _objects(aspects, out.index)
    return out


def _objects(values: list[Any], index: pd.Index) -> pd.Series:
    """An object column (lists, dicts, None) that stays one even when the chunk is empty."""
    return pd.Series(values, index=index, dtype=object)


@dataclass(frozen=True)
class KeywordTagger:
    """:func:`keyword_tagger` with options (a picklable callable: Spark workers rebuild it).

    ``fail_on``: a chunk with a text containing this marker raises ``RuntimeError`` (the engines
    retry in halves, so only the marked rows end with an ``error: RuntimeError`` status).
    ``every_type``: fill every nested output of the tagging contract as the real tagger does.
    """

    fail_on: str | None = None
    every_type: bool = False

    def __call__(self, chunk: pd.DataFrame) -> pd.DataFrame:
        text = chunk[schema.TEXT].fillna("").astype(str)
        if self.fail_on and text.str.contains(self.fail_on, regex=False).any():
            raise RuntimeError(f"keyword tagger: marker {self.fail_on!r} in the chunk")
        out = keyword_tagger(chunk)
        return _every_type(out, text) if self.every_type else out


def _every_type(out: pd.DataFrame, text: pd.Series) -> pd.DataFrame:
    """Probabilities, topic scores, sub-topics and evidence of the keyword tags (see schema.py)."""
    topics = [t[0] for t in out[schema.TOPICS]]
    found = [t != schema.OTHER_TOPIC for t in topics]
    rows = list(zip(topics, found, text, strict=True))
    out[schema.LANG_CONFIDENCE] = [0.9 if t.strip() else None for t in text]
    out[schema.SENTIMENT_PROBS] = _objects([_probs(s) for s in out[schema.SENTIMENT]], out.index)
    out[schema.TOPIC_SCORES] = _objects([{t: 0.9 if f else 0.5} for t, f, _ in rows], out.index)
    out[schema.SUBTOPICS] = _objects([[f"{t}/other"] if f else [] for t, f, _ in rows], out.index)
    out[schema.EVIDENCE] = _objects([_evidence(t, s) if f else [] for t, f, s in rows], out.index)
    return out


def _probs(label: str) -> dict[str, float]:
    return {s: (0.8 if s == label else 0.1) for s in schema.SENTIMENTS}


def _evidence(topic: str, text: str) -> list[dict[str, Any]]:
    """One evidence item per message (the declared fields): the whole text as the clause, the cue
    words and their ``[start, end]`` spans."""
    found = list(_DELIVERY_WORD.finditer(text))
    return [
        {
            "topic": topic,
            "clause": text,
            "terms": [m.group(0) for m in found],
            "start": np.int64(0),
            "end": np.int64(len(text)),
            "spans": [[m.start(), m.end()] for m in found],
            "source": "rule",
        }
    ]


class KeywordChunkTagger:
    """A keyword tagger with the attributes the engines read (settings, a manifest)."""

    def __init__(self, settings: Settings, tag: KeywordTagger | None = None) -> None:
        self.settings = settings
        self.tag = tag or KeywordTagger()

    def __call__(self, chunk: pd.DataFrame) -> pd.DataFrame:
        return self.tag(chunk)

    def manifest(self, **extra: Any) -> dict[str, Any]:
        return {
            "models": [{"name": "keyword-tagger", "kind": "test"}],
            "fingerprint": "keyword",
            **extra,
        }


def fake_tagger(
    settings: Settings | None = None, *, fail_on: str | None = None, every_type: bool = False
) -> Any:
    """A :class:`cx_text.Tagger` over :class:`KeywordTagger` (plain :func:`keyword_tagger` by
    default)."""
    from cx_text.api import Tagger

    chunk_tagger = KeywordChunkTagger(settings or Settings(), KeywordTagger(fail_on, every_type))
    return Tagger(chunk_tagger, chunk_tagger.settings, chunk_tagger.manifest)
