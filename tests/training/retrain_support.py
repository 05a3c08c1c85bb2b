"""Tiny fixtures for retraining: a word-carrying fake embedder, a small shipped-like base frame,
an organisation's labels (with a new topic, ``loyalty``) and a taxonomy copy that adds it."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from cx_text.core.config import DEFAULT_TAXONOMY
from cx_text.training.corpus import LABEL_COLUMNS

TOPIC_WORD = {
    "delivery": "courier",
    "staff": "cashier",
    "pricing": "price",
    "usability": "app",
    "quality": "taste",
    "support": "hotline",
    "other": "weather",
    "loyalty": "points",
}
WORDS = ("bad", "fine", "great", *TOPIC_WORD.values())
SENT_WORD = {"negative": "bad", "neutral": "fine", "positive": "great"}


def fake_embed(texts: Sequence[str], dim: int = len(WORDS) + 8) -> np.ndarray:
    """Deterministic vectors: one strong direction per cue word, plus noise from the text hash."""
    out = []
    for text in texts:
        rng = np.random.default_rng(int(hashlib.sha1(text.encode()).hexdigest()[:8], 16))
        v = rng.normal(scale=0.3, size=dim)
        for j, word in enumerate(WORDS):
            v[j] += 2.0 * (word in text.lower().split())
        out.append(v / np.linalg.norm(v))
    return np.array(out, dtype=np.float32)


def _row(
    i: int,
    prefix: str,
    sentiment: str,
    topics: list[str] | None,
    split: str,
    polarity: str | None = None,
) -> dict[str, object]:
    words = [SENT_WORD[sentiment]] if sentiment else []
    words += [TOPIC_WORD[t] for t in topics or []]
    pol = polarity or sentiment or "neutral"
    return {
        "id": f"{prefix}-{i}",
        "text": f"{prefix} {i} {' '.join(words)}",
        "lang": "en",
        "channel": "",
        "sentiment": sentiment,
        "topics": topics,
        "aspects": {t: pol for t in topics or []},
        "origin": "corpus",
        "split": split,
    }


def base_frame(n: int = 210) -> pd.DataFrame:
    """Shipped-like training rows: the shipped topics, three sentiments, train/dev/test."""
    topics = tuple(t for t in TOPIC_WORD if t != "loyalty")
    sents = ("negative", "neutral", "positive")
    rows = [
        _row(
            i,
            "base",
            sents[i % 3],
            [topics[(i // 3) % len(topics)]] if i % 4 else [],
            ("train", "train", "train", "dev", "test")[i % 5],
        )
        for i in range(n)
    ]
    return pd.DataFrame(rows, columns=list(LABEL_COLUMNS))


def org_labels(n: int = 60, prefix: str = "msg") -> pd.DataFrame:
    """An organisation's labels: a third about the new topic ``loyalty`` (bonus points)."""
    sents = ("negative", "positive", "neutral")
    rows = []
    for i in range(n):
        topics = ["loyalty"] if i % 3 == 0 else (["delivery"] if i % 3 == 1 else [])
        rows.append(_row(i, prefix, sents[i % 2], topics, ""))
    return pd.DataFrame(rows, columns=list(LABEL_COLUMNS))


def loyalty_taxonomy(folder: Path) -> Path:
    """A copy of the default taxonomy with a new topic ``loyalty`` and a few cues."""
    text = DEFAULT_TAXONOMY.read_text(encoding="utf-8")
    text += (
        "  - id: loyalty\n    names: {ru: Программа лояльности, en: Loyalty programme}\n"
        "    description:\n      ru: Бонусы и баллы.\n      en: Bonus points and the loyalty "
        "card.\n"
        "    owner_team: marketing\n    cues:\n      ru: [бонусы, баллы]\n      en: [bonus "
        "points, loyalty card]\n"
    )
    path = folder / "acme.yaml"
    path.write_text(text, encoding="utf-8")
    return path
