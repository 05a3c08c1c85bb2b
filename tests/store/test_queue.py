"""The review queue: low margin first, near-duplicates dropped, spread over topics, labelled
skipped."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from cx_text.store.labels import add_label
from cx_text.store.queue import normalise_text, queue_progress, review_queue, topic_thresholds
from cx_text.store.store import open_store
from tests.error_codes import raises_code

#: id -> (text, topic, P(negative), P(neutral), P(positive), topic score, evidence source)
ROWS = {
    "sure": ("Курьер опоздал на три часа, ужас", "delivery", 0.96, 0.03, 0.01, 0.99, "model"),
    "coin": ("The courier came on time I guess", "delivery", 0.40, 0.38, 0.22, 0.95, "model"),
    "coin2": ("the courier came on time, i guess!!", "delivery", 0.41, 0.38, 0.21, 0.95, "model"),
    "coin3": ("The courier came on time I guess 2", "delivery", 0.40, 0.37, 0.23, 0.95, "model"),
    "edge": ("Цена нормальная вроде", "pricing", 0.10, 0.15, 0.75, 0.62, "model"),
    "rule": ("Staff were ok", "staff", 0.05, 0.15, 0.80, 0.20, "rule"),
    "d2": ("Parcel lost again", "delivery", 0.45, 0.35, 0.20, 0.95, "model"),
    "d3": ("Где мой заказ", "delivery", 0.44, 0.36, 0.20, 0.95, "model"),
}
THRESHOLDS = {"delivery": 0.8, "pricing": 0.6, "staff": 0.5}


def store_with_rows(db: Path) -> Path:
    n = len(ROWS)
    frame = pd.DataFrame(
        {
            "id": list(ROWS),
            "text": [r[0] for r in ROWS.values()],
            "text_clean": [r[0] for r in ROWS.values()],
            "lang": ["ru"] * n,
            "sentiment": ["negative"] * n,
            "sentiment_score": [-0.3] * n,
            "sentiment_probs": [
                {"negative": r[2], "neutral": r[3], "positive": r[4]} for r in ROWS.values()
            ],
            "topics": [[r[1]] for r in ROWS.values()],
            "topic_scores": [{r[1]: r[5]} for r in ROWS.values()],
            "segment": ["vip"] * n,
            "row_status": ["ok"] * n,
            "row_issues": [[]] * n,
            "aspect_sentiments": [
                [{"topic": r[1], "polarity": "negative", "score": -0.3}] for r in ROWS.values()
            ],
            "evidence": [
                [{"topic": r[1], "clause": r[0], "start": 0, "end": 5, "terms": [], "source": r[6]}]
                for r in ROWS.values()
            ],
        }
    )
    with open_store(db) as store:
        run = store.begin_run({}, "a.csv", "fp", source="a")
        store.append_chunk(run, 0, frame)
        store.finish_run(run, {})
    return db


def test_queue_puts_low_margin_and_disagreement_first_and_drops_near_duplicates(
    tmp_path: Path,
) -> None:
    with open_store(store_with_rows(tmp_path / "cx.duckdb")) as store:
        queue = review_queue(store, n=10, thresholds=THRESHOLDS)
    ids = queue["id"].tolist()
    assert "sure" not in ids[:3] and ids[-1] == "sure"
    assert (
        sum(i.startswith("coin") for i in ids) == 1
    )  # case, punctuation and digits aside: one text
    rule = queue.set_index("id").loc["rule"]
    assert rule["disagree"] == 1 and rule["group"] == "staff"
    assert queue.set_index("id").loc["edge", "topic_u"] > 0.9  # score 0.62 next to threshold 0.6


def test_queue_spreads_over_topics(tmp_path: Path) -> None:
    with open_store(store_with_rows(tmp_path / "cx.duckdb")) as store:
        queue = review_queue(store, n=3, thresholds=THRESHOLDS)
    assert sorted(queue["group"]) == ["delivery", "pricing", "staff"]


def test_queue_skips_labelled_messages_and_reports_progress(tmp_path: Path) -> None:
    db = store_with_rows(tmp_path / "cx.duckdb")
    with open_store(db) as store:
        before = queue_progress(store, THRESHOLDS, next_n=3)
        first = review_queue(store, n=1, thresholds=THRESHOLDS)["id"].iloc[0]
        add_label(store, "a", first, "sentiment", "neutral", who="a")
        after = queue_progress(store, THRESHOLDS, next_n=3)
        assert first not in review_queue(store, n=20, thresholds=THRESHOLDS)["id"].tolist()
    assert (before.labelled, before.remaining) == (0, len(ROWS))
    assert (after.labelled, after.remaining) == (1, len(ROWS) - 1)
    assert before.next_uncertainty is not None and 0 <= before.next_uncertainty <= 1
    assert "mean uncertainty of the next 3" in after.text()


def test_queue_of_an_empty_store_is_empty(tmp_path: Path) -> None:
    with open_store(tmp_path / "cx.duckdb") as store:
        assert review_queue(store, n=5).empty
        assert queue_progress(store).next_uncertainty is None


def test_queue_thresholds_come_from_the_topic_head(tmp_path: Path) -> None:
    from cx_text.core.config import SHIPPED_MODELS_DIR

    found = topic_thresholds(SHIPPED_MODELS_DIR)
    assert "delivery" in found and 0 < found["delivery"] < 1
    assert topic_thresholds(tmp_path) == {}


def test_queue_normalise_text() -> None:
    assert (
        normalise_text("Курьер  опоздал!!! 3 раза")
        == normalise_text("курьер опоздал, 5 раза")
        == "курьер опоздал раза"
    )
    assert normalise_text("The courier, LATE!") == "the courier late"


def test_queue_of_one_channel_serves_only_its_messages(tmp_path: Path) -> None:
    db = store_with_rows(tmp_path / "cx.duckdb")
    with open_store(db) as store:
        store.con.execute("UPDATE feedback SET channel = 'tweet' WHERE id IN ('coin', 'd2')")
        store.con.execute("UPDATE feedback SET channel = 'review' WHERE channel IS NULL")
        tweets = review_queue(store, n=10, thresholds=THRESHOLDS, channel="tweet")
        progress = queue_progress(store, THRESHOLDS, channel="tweet")
        everything = review_queue(store, n=10, thresholds=THRESHOLDS)
        with raises_code("CX-E090", "no message of channel 'chat'") as info:
            review_queue(store, n=10, channel="chat")
    assert "Channels there: 'review', 'tweet'" in str(info.value)
    assert sorted(tweets["id"]) == ["coin", "d2"]
    assert set(tweets["channel"]) == {"tweet"}
    assert progress.remaining == 2
    assert len(everything) > 2
