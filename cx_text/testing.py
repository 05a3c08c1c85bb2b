"""A model-free tagger for tests and demos, built from the schema (no torch, no natasha).

:func:`keyword_tagger` fills every tag column the real tagger writes, with the same types, from a
few keywords: Cyrillic -> ``ru``; "не"/"not"/"never"/"ужас"/"terrible" -> negative; courier and
delivery words -> ``delivery``, else ``other``. :func:`fake_tagger` wraps it as a
:class:`cx_text.Tagger`, so ``tag`` and ``tag_file`` run end to end in a second.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cx_text.core import schema
from cx_text.core.config import Settings

_NEGATIVE = r"\b(?:не|not|never|didn't|ужас|terrible)\b"
_DELIVERY = "курьер|courier|достав|deliver"


def keyword_tagger(chunk: pd.DataFrame) -> pd.DataFrame:
    """Tag a canonical chunk by keywords; rows in = rows out, input never mutated."""
    out = chunk.copy()
    text = out[schema.TEXT].fillna("").astype(str)
    neg = text.str.contains(_NEGATIVE, case=False, regex=True).to_numpy()
    topic = np.where(text.str.contains(_DELIVERY, case=False).to_numpy(), "delivery", "other")
    out[schema.TEXT_CLEAN] = text
    out[schema.PII_FOUND] = _objects([[] for _ in range(len(out))], out.index)
    out[schema.LANG] = np.where(text.str.contains("[а-яё]", case=False, regex=True), "ru", "en")
    out[schema.LANG_CONFIDENCE] = 0.9
    for col in schema.EMPTY_TAGS:
        out[col] = _objects([schema.empty_tag(col) for _ in range(len(out))], out.index)
    out[schema.SENTIMENT] = np.where(neg, "negative", "positive")
    out[schema.SENTIMENT_SCORE] = np.where(neg, -0.7, 0.7)
    out[schema.TOPICS] = _objects([[t] for t in topic], out.index)
    aspects: list[Any] = [[{"topic": t, "polarity": s, "score": 0.0}]
                          for t, s in zip(topic, out[schema.SENTIMENT], strict=True)]
    out[schema.ASPECT_SENTIMENTS] = _objects(aspects, out.index)
    return out


def _objects(values: list[Any], index: pd.Index) -> pd.Series:
    """An object column (lists, dicts, None) that stays one even when the chunk is empty."""
    return pd.Series(values, index=index, dtype=object)


class KeywordChunkTagger:
    """``keyword_tagger`` with the attributes the engines read (settings, a manifest)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def __call__(self, chunk: pd.DataFrame) -> pd.DataFrame:
        return keyword_tagger(chunk)

    def manifest(self, **extra: Any) -> dict[str, Any]:
        return {"models": [{"name": "keyword-tagger", "kind": "test"}], "fingerprint": "keyword",
                **extra}


def fake_tagger(settings: Settings | None = None) -> Any:
    """A :class:`cx_text.Tagger` over :func:`keyword_tagger`."""
    from cx_text.api import Tagger

    chunk_tagger = KeywordChunkTagger(settings or Settings())
    return Tagger(chunk_tagger, chunk_tagger.settings, chunk_tagger.manifest)
