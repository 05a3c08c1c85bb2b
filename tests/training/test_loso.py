"""Leave-one-source-out report on a tiny synthetic multi-source frame (no encoder needed)."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from cx_text.training.loso import loso_report, majority_scores, render_loso, topic_scores

TOPICS = ("delivery", "pricing")
SENTS = ("negative", "neutral", "positive")


def _source(
    name: str,
    n: int,
    rng: np.random.Generator,
    *,
    scope: tuple[str, ...],
    with_sentiment: bool = True,
) -> pd.DataFrame:
    rows = []
    for i in range(n):
        sent = SENTS[i % 3] if with_sentiment else ""
        topics = [TOPICS[i % 2]] if scope else []
        rows.append(
            {
                "id": f"{name}-{i}",
                "text": f"{name} {i} {sent} {' '.join(topics)}",
                "lang": "en",
                "channel": "",
                "sentiment": sent,
                "topics": topics,
                "aspects": {t: sent for t in topics if sent},
                "origin": name,
                "split": ("train", "train", "dev", "test")[(i // 2) % 4],
                "topic_scope": scope,
                "counterfactual": False,
            }
        )
    return pd.DataFrame(rows)


def _embed(texts):
    """Vectors that carry the sentiment and topic words, plus noise (deterministic)."""
    out = []
    for text in texts:
        rng = np.random.default_rng(int(hashlib.sha1(text.encode()).hexdigest()[:8], 16))
        v = rng.normal(scale=0.3, size=16)
        for j, word in enumerate((*SENTS, *TOPICS)):
            v[j] += 2.0 * (word in text.split())
        out.append(v / np.linalg.norm(v))
    return np.array(out, dtype=np.float32)


@pytest.fixture()
def data() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.concat(
        [
            _source("corpus", 240, rng, scope=TOPICS),
            _source("cebab", 160, rng, scope=("delivery",)),
            _source("goemotions", 160, rng, scope=()),
            _source("ru_goemotions", 160, rng, scope=()),
        ],
        ignore_index=True,
    )


def test_loso_table_shape_and_baselines(data: pd.DataFrame):
    report = loso_report(data, _embed, TOPICS, ["cebab", "goemotions"], log=lambda _: None)
    rows = {r["source"]: r for r in report["rows"]}
    assert list(rows) == ["cebab", "goemotions", "corpus"]
    assert rows["corpus"]["role"] == "in-distribution" and rows["cebab"]["role"] == "held-out"
    assert rows["goemotions"]["held_out"] == ["goemotions", "ru_goemotions"]
    assert rows["cebab"]["n"] == 40
    for row in rows.values():
        assert "sentiment" in row["heads"] and "sentiment" in row["majority"]
        assert row["majority"]["sentiment"]["macro_f1"] < row["heads"]["sentiment"]["macro_f1"]
    assert "topics" not in rows["goemotions"]["heads"]  # no topic labels, no topic figure
    assert (
        rows["cebab"]["heads"]["topics"]["micro_f1"]
        > rows["cebab"]["majority"]["topics"]["micro_f1"]
    )
    assert "polarity" in rows["cebab"]["heads"] and "polarity" in rows["cebab"]["majority"]
    text = render_loso(report)
    assert "in-distribution" in text and "held-out" in text and "cebab" in text


def test_loso_vader_column_is_optional(data: pd.DataFrame, monkeypatch: pytest.MonkeyPatch):
    import builtins

    real_import = builtins.__import__

    def no_vader(name, *args, **kwargs):
        if name.startswith("vaderSentiment"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_vader)
    report = loso_report(data, _embed, TOPICS, ["cebab"], log=lambda _: None)
    assert all(r["vader"] is None for r in report["rows"])
    assert "cebab" in render_loso(report)


def test_loso_vader_scores_english_sentiment(data: pd.DataFrame):
    pytest.importorskip("vaderSentiment")
    from cx_text.training.loso import vader_scores

    frame = pd.DataFrame(
        {
            "text": ["I love it, great!", "Terrible, awful service.", "It is a box."],
            "sentiment": ["positive", "negative", "neutral"],
            "lang": "en",
        }
    )
    scores = vader_scores(frame)
    assert scores is not None and scores["sentiment"]["accuracy"] == 1.0


def test_loso_topic_scores_use_scope_only():
    scores = topic_scores(
        [["delivery"], ["other"]],
        [["delivery", "other"], ["other"]],
        [("delivery",), ("delivery",)],
    )
    assert scores["micro_f1"] == 1.0
    empty = majority_scores(
        pd.DataFrame(
            {
                "sentiment": ["negative"] * 3,
                "topics": [[]] * 3,
                "aspects": [{}] * 3,
                "topic_scope": [()] * 3,
            }
        )
    )
    assert empty["sentiment"]["accuracy"] == 1.0 and "macro_f1" not in empty["sentiment"]


@pytest.mark.slow
def test_loso_evaluate_wiring_on_a_tiny_encoder(tmp_path):
    """`cx-text evaluate --loso` end to end: tiny local encoder, tiny shared-data dir."""
    from pathlib import Path

    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from cx_text.core.config import Settings
    from cx_text.training.run import evaluate_loso
    from tests.tiny_models import save_tiny_bert
    from tests.training.test_sources import _banking

    base = save_tiny_bert(tmp_path / "encoder", max_position_embeddings=256)
    shared = tmp_path / "shared"
    (shared / "banking77").mkdir(parents=True)
    _banking(30).to_csv(shared / "banking77" / "train.csv", index=False)
    _banking(10).to_csv(shared / "banking77" / "test.csv", index=False)
    corpus = Path(__file__).resolve().parents[2] / "data" / "corpus"
    sample = tmp_path / "corpus.jsonl"
    sample.write_text(
        "\n".join(
            line
            for f in sorted(corpus.glob("*.jsonl"))
            for line in f.read_text(encoding="utf-8").splitlines()[:60]
            if line.strip()
        )
        + "\n",
        encoding="utf-8",
    )
    settings = Settings(
        cache_dir=tmp_path / "cache",
        models_dir=tmp_path / "models",
        encoder=str(base),
        precision="fp32",
        num_threads=1,
    )
    report, text = evaluate_loso(settings, shared, [sample], log=lambda _: None)
    assert [r["source"] for r in report["rows"]] == ["banking77", "corpus"]
    assert report["rows"][0]["n"] == 50 and "topics" in report["rows"][0]["heads"]
    assert "in-distribution" in text and report["encoder"]["name"]
