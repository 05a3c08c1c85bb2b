"""The Streamlit app through ``streamlit.testing.v1.AppTest``: every page on a demo-like and an
empty store, filters that change results, RU labels, theme edits, the register, upload & tag.

No model is loaded: uploads use ``keyword_tagger`` (CX_TEXT_APP_TAGGER), theme splits the tiny
``fake_embed`` (CX_TEXT_APP_EMBED).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from streamlit.testing.v1 import AppTest

from cx_text.store.store import open_store
from tests.app.test_app_support import build_demo_store, build_empty_store

REPO = Path(__file__).resolve().parents[2]
APP_DIR = REPO / "cx_text" / "app" / "streamlit"
PAGES = (
    "overview",
    "themes",
    "trends",
    "segments",
    "verbatims",
    "review",
    "upload",
    "loop",
    "models",
)
TIMEOUT = 120


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_demo_store(tmp_path_factory.mktemp("app") / "demo.duckdb")


@pytest.fixture(scope="session")
def empty_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_empty_store(tmp_path_factory.mktemp("app_empty") / "empty.duckdb")


@pytest.fixture()
def own_db(demo_db: Path, tmp_path: Path) -> Path:
    """A private copy of the demo store for tests that write to it."""
    return Path(shutil.copy(demo_db, tmp_path / "own.duckdb"))


@pytest.fixture(autouse=True)
def _plugins(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("CX_TEXT_APP_TAGGER", "tests.app.test_app_support:keyword_tagger")
    monkeypatch.setenv("CX_TEXT_APP_EMBED", "tests.app.test_app_support:fake_embed")
    yield


def app_on(db: Path, monkeypatch: pytest.MonkeyPatch, page: str = "overview") -> AppTest:
    monkeypatch.setenv("CX_TEXT_DB", str(db))
    at = AppTest.from_file(str(APP_DIR / "main.py"), default_timeout=TIMEOUT)
    at.run()
    if page != "overview":
        at.switch_page(f"views/{page}.py").run()
    return at


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def metric_value(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


@pytest.mark.parametrize("page", PAGES)
def test_app_page_renders_on_demo_store(
    page: str, demo_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = app_on(demo_db, monkeypatch, page)
    assert_clean(at)
    assert at.title and at.title[0].value


@pytest.mark.parametrize("page", PAGES)
def test_app_page_on_empty_store_says_what_to_do(
    page: str, empty_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = app_on(empty_db, monkeypatch, page)
    assert_clean(at)
    shown = " ".join(i.value for i in at.info)
    assert (
        ("no tagged messages" in shown)
        or ("Choose a file" in shown)
        or ("register is empty" in shown)
    )


def test_app_overview_kpis_and_alerts(demo_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = app_on(demo_db, monkeypatch)
    labels = [m.label for m in at.metric]
    assert labels == ["NPS", "CSAT", "CES (1–7)", "Messages", "% negative", "Churn"]
    assert int(metric_value(at, "Messages").replace(",", "")) > 100
    assert any("delivery" in w.value and "negative share" in w.value for w in at.warning)


@pytest.mark.parametrize(
    "key, values", [("f_channels", ["email"]), ("f_langs", ["en"]), ("f_segments", ["vip", "b2b"])]
)
def test_app_sidebar_filters_change_results(
    key: str, values: list[str], demo_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = app_on(demo_db, monkeypatch)
    before = int(metric_value(at, "Messages").replace(",", ""))
    at.sidebar.multiselect(key=key).set_value(values).run()
    assert_clean(at)
    after = int(metric_value(at, "Messages").replace(",", ""))
    assert 0 < after < before


def test_app_filter_matching_nothing_shows_a_message(
    demo_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = app_on(demo_db, monkeypatch)
    at.sidebar.multiselect(key="f_channels").set_value(["letter"]).run()  # only in January
    assert_clean(at)
    assert any("No messages match" in i.value for i in at.info)
    at.sidebar.selectbox(key="f_preset").set_value("all").run()
    assert int(metric_value(at, "Messages")) == 1


def test_app_russian_interface(demo_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = app_on(demo_db, monkeypatch)
    at.sidebar.radio(key="ui_lang").set_value("ru").run()
    assert_clean(at)
    assert at.title[0].value == "Обзор"
    assert "Сообщений" in [m.label for m in at.metric]


def test_app_labels_have_both_languages_for_every_key_used() -> None:
    labels = yaml.safe_load((APP_DIR / "views" / "labels.yaml").read_text(encoding="utf-8"))
    assert all(set(v) == {"en", "ru"} and all(v.values()) for v in labels.values())
    import re

    used = set()
    for path in [APP_DIR / "main.py", *sorted((APP_DIR / "views").glob("*.py"))]:
        used |= set(re.findall(r"\bt\(\"([a-z0-9_]+)\"", path.read_text(encoding="utf-8")))
    assert used and not used - set(labels), sorted(used - set(labels))


def test_app_verbatims_search_highlights_and_pages(
    demo_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = app_on(demo_db, monkeypatch, "verbatims")
    at.text_input(key="vb_search").input("courier").run()
    assert_clean(at)
    caption = next(c.value for c in at.caption if "messages match" in c.value)
    table = at.markdown[-1].value
    assert "<mark>" in table and table.lower().count("courier") >= 5
    assert table.count("<tr>") == 25 + 1
    at.text_input(key="vb_search").input("no such words anywhere").run()
    assert any("No messages match" in i.value for i in at.info)
    assert caption


def test_app_verbatims_export_csv(demo_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = app_on(demo_db, monkeypatch, "verbatims")
    at.selectbox(key="vb_sentiment").set_value("negative").run()
    at.button(key="vb_export_btn").click().run()
    assert_clean(at)
    assert at.get("download_button")


def test_app_themes_rename_persists(own_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = app_on(own_db, monkeypatch, "themes")
    tid = at.selectbox(key="th_pick").value
    at.text_input(key="th_rename").input("курьер не звонит").run()
    at.button(key="th_rename_btn").click().run()
    assert_clean(at)
    assert any("Done" in s.value for s in at.success)
    assert "курьер не звонит" in at.selectbox(key="th_pick").format_func(tid)
    from cx_text.app.streamlit.views.common import app_store

    app_store.clear()
    with open_store(own_db, read_only=True) as store:
        label = store.query("SELECT label FROM themes WHERE theme_id = ?", [tid])["label"].iloc[0]
    assert label == "курьер не звонит"


def test_app_theme_opens_a_register_item(own_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = app_on(own_db, monkeypatch, "themes")
    at.button(key="th_loop_btn").click().run()
    assert_clean(at)
    assert any("Register item #1" in s.value for s in at.success)
    at.switch_page("views/loop.py").run()
    assert_clean(at)
    assert at.selectbox(key="lp_item").value == 1
    at.button(key="lp_move_1").click().run()
    assert_clean(at)
    from cx_text.app.streamlit.views.common import app_store

    app_store.clear()
    with open_store(own_db, read_only=True) as store:
        assert store.query("SELECT status FROM loop_items")["status"].tolist() == ["acknowledged"]


def test_app_upload_maps_previews_tags_and_stores(
    own_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = (
        "Отзыв;Дата;Канал\nКурьер не позвонил и не приехал;2026-07-01;чат\n"
        "Great app, fast delivery;2026-07-02;витрина\nThe courier never came;2026-07-03;почта\n"
    )
    at = app_on(own_db, monkeypatch, "upload")
    at.file_uploader(key="up_file").set_value(
        ("feedback.csv", data.encode("utf-8"), "text/csv")
    ).run()
    assert_clean(at)
    assert at.selectbox(key="up_map_text").value == "Отзыв"
    preview = at.dataframe[0].value
    assert len(preview) == 3 and preview["text"].iloc[0].startswith("Курьер")
    at.button(key="up_tag_btn").click().run()
    assert_clean(at)
    assert any("Tagged 3 rows" in s.value for s in at.success)
    from cx_text.app.streamlit.views.common import app_store

    app_store.clear()
    with open_store(own_db, read_only=True) as store:
        rows = store.query(
            "SELECT channel, sentiment, lang FROM tagged WHERE channel IN "
            "('чат', 'витрина', 'почта') ORDER BY created_at"
        )
    assert rows.values.tolist() == [
        ["чат", "negative", "ru"],
        ["витрина", "positive", "en"],
        ["почта", "negative", "en"],
    ]


def test_app_broken_upload_is_a_message(own_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = app_on(own_db, monkeypatch, "upload")
    at.file_uploader(key="up_file").set_value(
        ("broken.xlsx", b"this is not a workbook", "application/vnd.ms-excel")
    ).run()
    assert not at.exception
    assert at.error and "no text column" in at.error[0].value
    assert at.selectbox(key="up_map_text").options  # the mapping is offered, so the user can fix it
