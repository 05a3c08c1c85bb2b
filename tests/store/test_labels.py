"""Analysts' labels in the store: migration 6, add / latest wins / survives re-tag, the training
frame."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from cx_text.core.errors import LabelError
from cx_text.store.labels import (
    EXTRA_COLUMNS,
    Label,
    add_label,
    add_labels,
    confirm_labels,
    corrections,
    label_history,
    labelled_count,
    labels_frame,
    text_hash,
)
from cx_text.store.store import open_store
from cx_text.training.corpus import LABEL_COLUMNS

TOPIC_IDS = ("delivery", "staff", "pricing", "usability", "quality", "support", "other")
TEXTS = {
    "1": "Курьер опоздал на два часа",
    "2": "The courier was polite and fast",
    "3": "Цены кусаются",
}


def tagged(
    texts: dict[str, str], sentiment: str = "negative", topic: str = "delivery"
) -> pd.DataFrame:
    n = len(texts)
    return pd.DataFrame(
        {
            "id": list(texts),
            "text": list(texts.values()),
            "text_clean": list(texts.values()),
            "created_at": pd.to_datetime(["2026-03-05"] * n),
            "channel": ["app_review"] * n,
            "segment": ["vip"] * n,
            "lang": ["ru"] * n,
            "sentiment": [sentiment] * n,
            "sentiment_score": [-0.5] * n,
            "sentiment_probs": [{"negative": 0.6, "neutral": 0.3, "positive": 0.1}] * n,
            "topics": [[topic]] * n,
            "topic_scores": [{topic: 0.7}] * n,
            "row_status": ["ok"] * n,
            "row_issues": [[]] * n,
            "aspect_sentiments": [[{"topic": topic, "polarity": sentiment, "score": -0.5}]] * n,
            "evidence": [
                [
                    {
                        "topic": topic,
                        "clause": "x",
                        "start": 0,
                        "end": 1,
                        "terms": [],
                        "source": "rule",
                    }
                ]
            ]
            * n,
        }
    )


def tag_run(db: Path, texts: dict[str, str], source: str = "export_a", **kw: str) -> str:
    with open_store(db) as store:
        run = store.begin_run(
            {"models": [{"name": "e5-small", "version": "1"}], "fingerprint": "fp"},
            f"{source}.csv",
            "fp",
            source=source,
        )
        store.append_chunk(run, 0, tagged(texts, **kw))
        store.finish_run(run, {"rows": len(texts)})
    return run


def test_labels_add_records_old_value_model_version_and_text_hash(tmp_path: Path) -> None:
    db = tmp_path / "cx.duckdb"
    run = tag_run(db, TEXTS)
    with open_store(db) as store:
        add_label(store, "export_a", "1", "sentiment", "neutral", who="Анна", origin="app")
        row = label_history(store).iloc[0]
    assert (row["field"], row["old_value"], row["new_value"], row["who"]) == (
        "sentiment",
        "negative",
        "neutral",
        "Анна",
    )
    assert row["run_id"] == run and row["model_version"] == "e5-small@1 [fp]"
    assert row["text_hash"] == text_hash(TEXTS["1"])


def test_labels_latest_wins_and_survive_a_retag(tmp_path: Path) -> None:
    db = tmp_path / "cx.duckdb"
    tag_run(db, TEXTS)
    t0 = datetime(2026, 3, 6, tzinfo=UTC)
    with open_store(db) as store:
        add_label(store, "export_a", "1", "sentiment", "neutral", who="a", when=t0)
        add_label(
            store, "export_a", "1", "sentiment", "positive", who="b", when=t0 + timedelta(hours=1)
        )
        add_label(store, "export_a", "2", "topics", ["staff", "delivery"], who="a", when=t0)
    tag_run(db, TEXTS, sentiment="positive", topic="staff")  # a re-tag: a new run, labels untouched
    with open_store(db) as store:
        found = corrections(store)
        assert len(label_history(store)) == 3 and labelled_count(store) == 2
        messages = store.query(
            "SELECT id, sentiment, analyst_sentiment, analyst_topics FROM messages ORDER BY id"
        )
    assert (
        found[("export_a", "1")]["sentiment"] == "positive"
        and found[("export_a", "1")]["who"] == "b"
    )
    assert found[("export_a", "2")]["topics"] == ["delivery", "staff"]
    assert (
        messages["sentiment"].tolist() == ["positive"] * 3
    )  # the model's column is never rewritten
    assert messages["analyst_sentiment"].tolist()[0] == "positive" and pd.isna(
        messages["analyst_sentiment"][1]
    )
    assert list(messages["analyst_topics"][1]) == ["delivery", "staff"]


def test_labels_are_not_applied_to_a_changed_text_but_still_train(tmp_path: Path) -> None:
    db = tmp_path / "cx.duckdb"
    tag_run(db, TEXTS)
    with open_store(db) as store:
        add_label(store, "export_a", "3", "sentiment", "neutral", who="a")
    tag_run(db, {**TEXTS, "3": "Цены снизились, спасибо"}, sentiment="positive")
    with open_store(db) as store:
        assert ("export_a", "3") not in corrections(store)
        frame = labels_frame(store, TOPIC_IDS)
    assert frame["text"].tolist() == ["Цены кусаются"] and frame["sentiment"].tolist() == [
        "neutral"
    ]


def test_labels_frame_is_in_the_corpus_format_with_unlabelled_fields_empty(tmp_path: Path) -> None:
    db = tmp_path / "cx.duckdb"
    tag_run(db, TEXTS)
    with open_store(db) as store:
        add_labels(
            store,
            [
                Label("export_a", "1", "sentiment", "neutral"),
                Label("export_a", "2", "topics", ["staff"]),
                Label("export_a", "2", "polarity", "positive", "staff"),
                Label("export_a", "3", "polarity", "negative", "pricing"),
            ],
            who="a",
        )
    frame = labels_frame(db, TOPIC_IDS).set_index("message_id")
    assert list(frame.reset_index().columns) == [
        "message_id",
        *[c for c in (*LABEL_COLUMNS, *EXTRA_COLUMNS) if c != "message_id"],
    ]
    assert frame.loc["1", "sentiment"] == "neutral" and frame.loc["1", "topics"] == []
    assert frame.loc["1", "topic_scope"] == [] and frame.loc["1", "id"] == "export_a:1"
    assert frame.loc["2", "sentiment"] == "" and frame.loc["2", "topics"] == ["staff"]
    assert frame.loc["2", "aspects"] == {"staff": "positive"} and set(
        frame.loc["2", "topic_scope"]
    ) == set(TOPIC_IDS)
    assert frame.loc["3", "topics"] == ["pricing"] and frame.loc["3", "topic_scope"] == ["pricing"]
    assert set(frame["origin"]) == {"labels"} and set(frame["split"]) <= {"train", "dev", "test"}


def test_labels_confirm_stores_the_model_tags_as_labels(tmp_path: Path) -> None:
    db = tmp_path / "cx.duckdb"
    tag_run(db, TEXTS)
    with open_store(db) as store:
        add_labels(store, confirm_labels(store, "export_a", "2"), who="a", origin="app")
        history = label_history(store)
    assert (history["old_value"] == history["new_value"]).all()
    assert sorted(history["field"]) == ["polarity", "sentiment", "topics"]


@pytest.mark.parametrize(
    ("label", "message"),
    [
        (Label("export_a", "1", "sentiment", "angry"), "is not one of"),
        (Label("export_a", "1", "topics", ["delivery", "loyalty"]), "unknown topic"),
        (Label("export_a", "1", "polarity", "negative"), "needs its topic"),
        (Label("export_a", "404", "sentiment", "neutral"), "no message"),
        (Label("export_b", "1", "sentiment", "neutral"), "no message"),
        (Label("export_a", "1", "mood", "neutral"), "unknown label field"),
    ],
)
def test_labels_invalid_labels_are_refused_and_nothing_is_written(
    tmp_path: Path, label: Label, message: str
) -> None:
    db = tmp_path / "cx.duckdb"
    tag_run(db, TEXTS)
    with open_store(db) as store:
        with pytest.raises(LabelError, match=message) as err:
            add_labels(
                store,
                [Label("export_a", "2", "sentiment", "neutral"), label],
                who="a",
                topic_ids=TOPIC_IDS,
            )
        assert err.value.code == "CX-E090"
        assert labelled_count(store) == 0


def test_labels_need_a_name(tmp_path: Path) -> None:
    db = tmp_path / "cx.duckdb"
    tag_run(db, TEXTS)
    with open_store(db) as store, pytest.raises(LabelError, match="who"):
        add_label(store, "export_a", "1", "sentiment", "neutral", who=" ")


def test_labels_migration_upgrades_a_version_5_store_and_keeps_everything(tmp_path: Path) -> None:
    from cx_text.store.store import migrate
    from cx_text.store.views import VIEWS_V5

    db = tmp_path / "old.duckdb"
    tag_run(db, TEXTS)
    con = duckdb.connect(str(db))  # make it a version-5 store again: no labels, no sentiment_probs
    con.execute(
        "DROP VIEW messages; DROP VIEW message_topics; DROP VIEW current_labels; DROP VIEW "
        "latest_labels"
    )
    con.execute("DROP TABLE labels; ALTER TABLE tags DROP COLUMN sentiment_probs")
    con.execute("DELETE FROM schema_migrations WHERE version = 6")
    con.execute(VIEWS_V5)
    before = con.execute("SELECT count(*) FROM feedback").fetchone()
    con.close()
    with open_store(db) as store:
        assert store.query("SELECT max(version) AS v FROM schema_migrations")["v"].iloc[0] == 6
        assert store.query("SELECT count(*) AS n FROM feedback")["n"].iloc[0] == before[0]
        assert store.query("SELECT count(*) AS n FROM messages")["n"].iloc[0] == 3
        assert store.query("SELECT sentiment_probs FROM tags")["sentiment_probs"].isna().all()
        add_label(store, "export_a", "1", "sentiment", "neutral", who="a")
        assert migrate(store.con) == 6
