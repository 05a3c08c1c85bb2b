"""A demo-like store for the app tests, built from hand-made tagged frames, and a fake tagger.

The store holds 26 weeks of RU/EN feedback over four channels and segments, with NPS/CSAT/CES,
customers, evidence clauses and themes (discovered with a tiny deterministic embedder, as in
tests/themes/test_themes.py). Delivery complaints ("the courier did not call") spike in the last
weeks,
so alerts and trends have something to show. ``keyword_tagger`` tags uploads without models.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cx_text.store.store import open_store
from cx_text.testing import keyword_tagger
from cx_text.themes.service import discover_themes

CLAUSES: dict[tuple[str, str], dict[str, list[str]]] = {
    ("delivery", "no_call"): {
        "ru": ["Курьер не позвонил", "Курьер так и не позвонил мне"],
        "en": ["The courier did not call", "Courier never called me"],
    },
    ("delivery", "damaged"): {
        "ru": ["Коробка пришла помятая", "Посылка помятая и разбита"],
        "en": ["The box arrived damaged", "Parcel damaged and crushed"],
    },
    ("pricing", "refund"): {
        "ru": ["Деньги за возврат не вернули", "Возврат денег так и не пришёл"],
        "en": ["Refund money never came back", "My refund money was never returned"],
    },
    ("support", "wait"): {
        "ru": ["В поддержке ждал ответа час", "Оператор не отвечал в чате"],
        "en": ["Support kept me waiting an hour", "The agent never answered the chat"],
    },
}
PRAISE = {
    "ru": ["Всё пришло вовремя, спасибо", "Отличный магазин, удобное приложение"],
    "en": ["Everything arrived on time, thanks", "Great shop and a handy app"],
}
TERMS = {
    "no_call": {"ru": "позвонил", "en": "call"},
    "damaged": {"ru": "помятая", "en": "damaged"},
    "refund": {"ru": "возврат", "en": "refund"},
    "wait": {"ru": "поддержке", "en": "support"},
}
FILLERS = {
    "ru": ["", "опять", "вчера", "сегодня", "снова"],
    "en": ["", "again", "yesterday", "today", "once more"],
}
CHANNELS = ["app_review", "support_chat", "email", "nps_comment"]
SEGMENTS = ["regular", "vip", "b2b", "new", None]
START = datetime(2026, 1, 5)
WEEKS = 26
CONCEPTS = {
    "call": ("позвон", "call"),
    "courier": ("курьер", "courier"),
    "damaged": ("помят", "разбит", "damag", "crush"),
    "box": ("коробк", "посылк", "box", "parcel"),
    "refund": ("возврат", "деньг", "refund", "money"),
    "wait": ("ждал", "отвеч", "wait", "answer"),
    "support": ("поддерж", "оператор", "support", "agent", "chat", "чат"),
}
_STEMS = sorted(((s, c) for c, stems in CONCEPTS.items() for s in stems), key=lambda p: -len(p[0]))


def fake_embed(texts: Sequence[str]) -> np.ndarray:
    """Bag of RU/EN concept vectors, unit length (same meaning lands together across languages)."""
    out = np.zeros((len(texts), 48), dtype=np.float32)
    for i, text in enumerate(texts):
        for word in re.findall(r"\w+", text.lower()):
            concept = next((c for s, c in _STEMS if word.startswith(s)), word)
            weight = 1.0 if concept in CONCEPTS else 0.12
            out[i] += np.random.RandomState(zlib.crc32(concept.encode())).normal(size=48) * weight
        out[i] /= np.linalg.norm(out[i]) or 1.0
    return out


def _message(i: int, rng: np.random.Generator) -> dict[str, Any]:
    week = i % WEEKS
    lang = "ru" if rng.random() < 0.6 else "en"
    spike = week >= WEEKS - 2
    complaint = rng.random() < (0.9 if spike else 0.4)
    key = (
        ("delivery", "no_call")
        if complaint and spike and rng.random() < 0.85
        else list(CLAUSES)[int(rng.integers(len(CLAUSES)))]
    )
    text = (
        CLAUSES[key][lang][int(rng.integers(2))]
        if complaint
        else PRAISE[lang][int(rng.integers(2))]
    )
    text = f"{text} {FILLERS[lang][i % len(FILLERS[lang])]}".strip()
    topic, group = key if complaint else ("delivery", "")
    nps = float(rng.integers(0, 6) if complaint else rng.integers(8, 11))
    channel = (
        CHANNELS[i % 4] if i else "letter"
    )  # one old letter: a filter that matches nothing lately
    return {
        "id": f"m{i:05d}",
        "text": text + ".",
        "created_at": START + timedelta(days=7 * week + i % 7, hours=9),
        "channel": channel,
        "segment": SEGMENTS[i % 5],
        "customer_id": f"C{i % 300:04d}",
        "nps": nps if channel == "nps_comment" or rng.random() < 0.5 else None,
        "csat": float(rng.integers(1, 3) if complaint else rng.integers(4, 6))
        if channel == "support_chat"
        else None,
        "ces": float(rng.integers(1, 4) if complaint else rng.integers(5, 8))
        if channel == "support_chat"
        else None,
        "lang": lang,
        "sentiment": "negative" if complaint else "positive",
        "topic": topic,
        "group": group,
    }


def demo_frame(n: int = 1200, seed: int = 5) -> pd.DataFrame:
    """The tagged frame (store shape, see tests/store/test_store.py) of ``n`` demo messages."""
    rng = np.random.default_rng(seed)
    rows = [_message(i, rng) for i in range(n)]
    frame = pd.DataFrame(rows)
    polarity = frame["sentiment"]
    terms = [
        [TERMS[g][lang]] if g else [] for g, lang in zip(frame["group"], frame["lang"], strict=True)
    ]
    return frame.drop(columns=["topic", "group"]).assign(
        text_clean=frame["text"],
        lang_confidence=0.98,
        row_status="ok",
        row_issues=[[] for _ in rows],
        sentiment_score=np.where(polarity == "negative", -0.8, 0.8),
        topics=[[t] for t in frame["topic"]],
        aspect_sentiments=[
            [{"topic": t, "polarity": p, "score": -0.8 if p == "negative" else 0.8}]
            for t, p in zip(frame["topic"], polarity, strict=True)
        ],
        evidence=[
            [
                {
                    "topic": t,
                    "clause": x.rstrip("."),
                    "start": 0,
                    "end": len(x) - 1,
                    "terms": tm,
                    "source": "rule",
                }
            ]
            for t, x, tm in zip(frame["topic"], frame["text"], terms, strict=True)
        ],
    )


def customers_frame() -> pd.DataFrame:
    ids = [f"C{i:04d}" for i in range(300)]
    churned = [
        (START + timedelta(days=40 + 3 * i)).date() if i % 7 == 0 else None for i in range(300)
    ]
    return pd.DataFrame(
        {
            "customer_id": ids,
            "signup": [datetime(2025, 6, 1).date()] * 300,
            "churned_at": churned,
            "ltv": [1000.0 + 10 * i for i in range(300)],
        }
    )


def build_demo_store(path: Path, n: int = 1200, themes: bool = True) -> Path:
    """Write the demo frame as one complete run, load customers and discover themes."""
    with open_store(path) as store:
        run = store.begin_run({"tagger": "demo"}, "demo.csv", "fp-demo", rows_in=n)
        frame = demo_frame(n)
        for k, start in enumerate(range(0, n, 500)):
            store.append_chunk(run, k, frame.iloc[start : start + 500], first_row=start)
        store.finish_run(run, {"rows": n})
        store.load_customers(customers_frame())
        if themes:
            discover_themes(store, fake_embed)
    return path


def build_empty_store(path: Path) -> Path:
    with open_store(path):
        pass
    return path


def test_app_support_demo_store_has_themes_runs_and_customers(tmp_path: Path) -> None:
    path = build_demo_store(tmp_path / "demo.duckdb", n=400)
    with open_store(path, read_only=True) as store:
        assert store.query("SELECT count(*) AS n FROM tagged")["n"].iloc[0] == 400
        themes = store.query("SELECT topic, count(*) AS n FROM themes GROUP BY topic")
        assert set(themes["topic"]) >= {"delivery", "pricing"}
        assert store.query("SELECT count(*) AS n FROM customers")["n"].iloc[0] == 300


def test_app_support_keyword_tagger_keeps_rows_and_order() -> None:
    chunk = pd.DataFrame({"id": ["1", "2", "3"], "text": ["Курьер не позвонил", "Great app", None]})
    out = keyword_tagger(chunk)
    assert out["id"].tolist() == ["1", "2", "3"]
    assert out["sentiment"].tolist() == ["negative", "positive", "positive"]
    assert out["lang"].tolist() == ["ru", "en", "en"]
