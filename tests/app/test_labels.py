"""Corrections in the app: what a page shows, saving and confirming (library and AppTest), the
review queue page."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from cx_text.app.labels import (
    confirm_shown,
    queue_channels,
    queue_page,
    reviewed,
    save_correction,
    with_corrections,
)
from cx_text.store.labels import corrections, label_history, labelled_count
from cx_text.store.store import open_store
from tests.app.test_app import app_on, assert_clean
from tests.app.test_app_support import build_demo_store
from tests.store.test_labels import TEXTS, TOPIC_IDS, tag_run


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_demo_store(tmp_path_factory.mktemp("labels") / "demo.duckdb", n=300)


@pytest.fixture()
def own_db(demo_store: Path, tmp_path: Path) -> Path:
    return Path(shutil.copy(demo_store, tmp_path / "own.duckdb"))


@pytest.fixture(autouse=True)
def _plugins(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("CX_TEXT_APP_TAGGER", "tests.app.test_app_support:keyword_tagger")
    monkeypatch.setenv("CX_TEXT_APP_EMBED", "tests.app.test_app_support:fake_embed")
    yield


def test_labels_page_shows_corrections_beside_the_model(tmp_path: Path) -> None:
    db = tmp_path / "cx.duckdb"
    tag_run(db, TEXTS)
    with open_store(db) as store:
        save_correction(
            store,
            "export_a",
            "1",
            sentiment="neutral",
            topics=["delivery", "staff"],
            polarity={"delivery": "negative", "staff": "positive"},
            who="a",
            topic_ids=TOPIC_IDS,
        )
        page = pd.DataFrame(
            {
                "source": ["export_a", "export_a"],
                "id": ["1", "2"],
                "sentiment": ["negative", "negative"],
                "topics": [["delivery"], ["delivery"]],
            }
        )
        shown = with_corrections(store, page)
        item = reviewed(store, "export_a", "1")
    assert shown["sentiment"].tolist() == ["neutral", "negative"]
    assert shown["model_sentiment"].tolist() == ["negative", "negative"]
    assert shown["topics"][0] == ["delivery", "staff"] and shown["corrected"][1] == ()
    assert set(shown["corrected"][0]) == {
        "sentiment",
        "topics",
        "polarity:delivery",
        "polarity:staff",
    }
    assert item is not None and item.polarity == {"delivery": "negative", "staff": "positive"}
    assert item.model_sentiment == "negative" and item.model_topics == ("delivery",)


def test_labels_confirm_keeps_earlier_corrections(tmp_path: Path) -> None:
    db = tmp_path / "cx.duckdb"
    tag_run(db, TEXTS)
    with open_store(db) as store:
        save_correction(
            store,
            "export_a",
            "2",
            sentiment="positive",
            topics=["staff"],
            polarity={"staff": "positive"},
            who="a",
            topic_ids=TOPIC_IDS,
        )
        confirm_shown(store, "export_a", "2", who="b")
        found = corrections(store)[("export_a", "2")]
        history = label_history(store)
    assert found["sentiment"] == "positive" and found["topics"] == ["staff"] and found["who"] == "b"
    confirmed = history[history["who"] == "b"]
    assert sorted(confirmed["field"]) == ["polarity", "sentiment", "topics"]


def test_labels_queue_page_serves_unlabelled_messages(own_db: Path) -> None:
    with open_store(own_db) as store:
        queue, progress = queue_page(store, None, n=10)
        confirm_shown(store, queue["source"][0], queue["id"][0], who="a")
        after, progress2 = queue_page(store, None, n=10)
    assert len(queue) == 10 and progress.labelled == 0 and progress2.labelled == 1
    assert queue["id"][0] not in after["id"].tolist()


def test_labels_verbatims_correct_in_place_asks_the_name_once(
    own_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = app_on(own_db, monkeypatch, "verbatims")
    assert_clean(at)
    source, mid = at.selectbox(key="vb_fix_pick").value
    key = f"vb_fix_{source}_{mid}"
    assert at.button(key=f"{key}_save").disabled  # no name yet
    at.text_input(key="lb_name_input").input("Анна").run()
    current = at.selectbox(key=f"{key}_sent").value
    new = "neutral" if current != "neutral" else "positive"
    at.selectbox(key=f"{key}_sent").set_value(new).run()
    at.button(key=f"{key}_save").click().run()
    assert_clean(at)
    assert any("Saved" in s.value for s in at.success)
    assert "✎" in at.markdown[-1].value or any("✎" in m.value for m in at.markdown)
    with open_store(own_db, read_only=True) as store:
        found = corrections(store)[(source, mid)]
    assert found["sentiment"] == new and found["who"] == "Анна"
    at.switch_page("views/review.py").run()  # the name is remembered for the session
    assert_clean(at)
    assert not any(ti.key == "lb_name_input" for ti in at.text_input)


def test_labels_review_page_confirms_and_counts(
    own_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = app_on(own_db, monkeypatch, "review")
    assert_clean(at)
    at.text_input(key="lb_name_input").input("Boris").run()
    confirm = next(
        b for b in at.button if b.key and b.key.startswith("rq_") and b.key.endswith("_confirm")
    )
    confirm.click().run()
    assert_clean(at)
    confirm = next(
        b for b in at.button if b.key and b.key.startswith("rq_") and b.key.endswith("_confirm")
    )
    confirm.click().run()
    assert_clean(at)
    labelled = next(m.value for m in at.metric if m.label == "Labelled messages")
    assert labelled == "2"
    with open_store(own_db, read_only=True) as store:
        assert labelled_count(store) == 2


def test_labels_review_page_serves_one_channel(
    own_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = app_on(own_db, monkeypatch, "review")
    assert_clean(at)
    box = at.selectbox(key="rq_channel")
    assert box.value is None and len(box.options) > 2  # all channels, then each one
    left_all = next(m.value for m in at.metric if m.label == "Left to review")
    with open_store(own_db, read_only=True) as store:
        channel = queue_channels(store)[0]
        _, expected = queue_page(store, None, channel=channel)
    box.set_value(channel).run()
    assert_clean(at)
    left = next(m.value for m in at.metric if m.label == "Left to review")
    assert left == f"{expected.remaining:,}" and left != left_all
    assert channel in at.markdown[0].value or any(channel in m.value for m in at.markdown)


def test_labels_theme_quote_can_be_confirmed(own_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = app_on(own_db, monkeypatch, "themes")
    assert_clean(at)
    source, mid = at.selectbox(key="th_fix_pick").value
    at.text_input(key="lb_name_input").input("Vera").run()
    at.button(key=f"th_fix_{source}_{mid}_confirm").click().run()
    assert_clean(at)
    assert any("Saved" in s.value for s in at.success)
    with open_store(own_db, read_only=True) as store:
        history = label_history(store)
    assert set(history["who"]) == {"Vera"} and (history["old_value"] == history["new_value"]).all()
    assert set(zip(history["source"], history["id"], strict=True)) == {(source, mid)}
