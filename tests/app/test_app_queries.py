"""Library behind the app pages: windows and deltas, themes ranking, verbatim paging/search/
highlighting/export, upload tagging (rows in = rows out), the store connection swap, launching."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from cx_text.analytics.filters import Filters
from cx_text.app import launch
from cx_text.app import queries as q
from cx_text.app import themes as th
from cx_text.app import upload as up
from cx_text.app import verbatims as v
from cx_text.cli.main import main
from cx_text.core.config import Settings, load_callable
from cx_text.store.store import open_store
from tests.app.test_app_support import build_demo_store, keyword_tagger
from tests.error_codes import raises_code

SETTINGS = Settings()


@pytest.fixture(scope="module")
def app_db(tmp_path_factory: pytest.TempPathFactory) -> q.AppStore:
    path = build_demo_store(tmp_path_factory.mktemp("aq") / "demo.duckdb", n=800)
    store = q.AppStore(path)
    yield store
    store.close()


@pytest.mark.parametrize(
    "preset, first, last, expected",
    [
        ("30d", date(2026, 1, 1), date(2026, 6, 30), (date(2026, 6, 1), date(2026, 6, 30))),
        ("90d", date(2026, 5, 1), date(2026, 6, 30), (date(2026, 5, 1), date(2026, 6, 30))),
        ("all", date(2026, 1, 1), date(2026, 6, 30), (date(2026, 1, 1), date(2026, 6, 30))),
        ("custom", date(2026, 1, 1), date(2026, 6, 30), (date(2026, 2, 1), date(2026, 2, 5))),
    ],
)
def test_app_queries_preset_window_counts_back_from_the_newest_message(
    preset: str, first: date, last: date, expected: tuple[date, date]
) -> None:
    assert q.preset_window(preset, first, last, (date(2026, 2, 1), date(2026, 2, 5))) == expected


def test_app_queries_previous_window_is_as_long_and_just_before() -> None:
    prev = q.previous_filters(
        Filters(start=date(2026, 3, 1), end=date(2026, 3, 10), channels=("email",))
    )
    assert prev == Filters(start=date(2026, 2, 19), end=date(2026, 2, 28), channels=("email",))
    assert q.previous_filters(Filters()) is None


def test_app_queries_kpi_delta_is_value_minus_previous_window(app_db: q.AppStore) -> None:
    opts = q.filter_options(app_db.store)
    start, end = q.preset_window("30d", opts.first_day, opts.last_day)
    kpis = q.kpi_summary(app_db.store, Filters(start=start, end=end), SETTINGS).set_index("metric")
    prev = q.kpi_summary(app_db.store, q.previous_filters(Filters(start=start, end=end)), SETTINGS)
    assert list(kpis.index) == list(q.KPI_METRICS)
    assert (
        kpis.loc["volume", "delta"]
        == kpis.loc["volume", "value"] - prev.set_index("metric").loc["volume", "value"]
    )
    assert kpis.loc["neg_share", "delta"] > 10  # the planted spike of delivery complaints


@pytest.mark.parametrize(
    "rank_by, column, ascending", [("impact", "nps_impact", True), ("volume", "volume", False)]
)
def test_app_queries_themes_ranked_by_impact_or_volume(
    app_db: q.AppStore, rank_by: str, column: str, ascending: bool
) -> None:
    themes = th.themes_overview(app_db.store, Filters(), SETTINGS, rank_by=rank_by)
    values = themes[column].dropna().tolist()
    assert len(values) >= 3 and values == sorted(values, reverse=not ascending)
    assert themes["share"].dropna().between(0, 1).all()


def test_app_queries_theme_detail_has_trend_mix_groups_and_quotes(app_db: q.AppStore) -> None:
    tid = th.themes_overview(app_db.store, Filters(), SETTINGS, rank_by="volume")["theme_id"].iloc[
        0
    ]
    info = th.theme_detail(app_db.store, tid, Filters(), SETTINGS)
    assert set(info.trend["key"]) == {tid} and info.trend["volume"].sum() > 0
    assert info.sentiment["share"].sum() == pytest.approx(100)
    assert set(info.affected["dimension"]) == {"channel", "segment", "lang"}
    assert len(info.quotes) >= 1


@pytest.mark.parametrize(
    "query, check",
    [
        (
            v.VerbatimQuery(search="courier"),
            lambda f: f["text"].str.lower().str.contains("courier").all(),
        ),
        (
            v.VerbatimQuery(topic="pricing"),
            lambda f: f["topics"].map(lambda t: "pricing" in list(t)).all(),
        ),
        (
            v.VerbatimQuery(sentiment="positive", score="nps", score_min=9, score_max=10),
            lambda f: (f["sentiment"] == "positive").all() and f["nps"].between(9, 10).all(),
        ),
        (v.VerbatimQuery(search="100%_"), lambda f: f.empty),
    ],
)
def test_app_queries_verbatims_filters_and_pages(
    app_db: q.AppStore, query: v.VerbatimQuery, check
) -> None:  # type: ignore[no-untyped-def]
    page, total = v.verbatims_page(app_db.store, Filters(), query, 1, 10)
    assert len(page) == min(10, total) and check(page)
    assert page["created_at"].is_monotonic_decreasing
    if total > 10:
        second, _ = v.verbatims_page(app_db.store, Filters(), query, 2, 10)
        assert not set(second["id"]) & set(page["id"])


def test_app_queries_verbatims_page_never_exceeds_the_last_page(app_db: q.AppStore) -> None:
    page, total = v.verbatims_page(
        app_db.store, Filters(), v.VerbatimQuery(topic="support"), 10_000, 25
    )
    assert 0 < len(page) <= 25 and total > 25


@pytest.mark.parametrize(
    "text, spans, expected",
    [
        (
            "Курьер не позвонил.",
            [{"start": 0, "end": 18, "terms": ["позвонил"]}],
            "Курьер не <mark>позвонил</mark>.",
        ),
        (
            "The <b>box</b> was damaged",
            [{"start": 0, "end": 26, "terms": ["damaged"]}],
            "The &lt;b&gt;box&lt;/b&gt; was <mark>damaged</mark>",
        ),
        (
            "Late. Rude driver",
            [{"start": 6, "end": 17, "terms": []}],
            "Late. <mark>Rude driver</mark>",
        ),
        ("no evidence", [], "no evidence"),
    ],
)
def test_app_queries_highlight_escapes_and_marks_terms(
    text: str, spans: list[dict], expected: str
) -> None:
    assert v.highlight_html(text, spans) == expected


def test_app_queries_export_neutralises_formulas(app_db: q.AppStore, tmp_path: Path) -> None:
    path, rows = v.export_verbatims(
        app_db.store, Filters(), v.VerbatimQuery(sentiment="negative"), tmp_path / "x.csv", limit=50
    )
    frame = pd.read_csv(path, encoding="utf-8-sig")
    assert rows == 50 and len(frame) == 50 and (frame["sentiment"] == "negative").all()


@pytest.mark.parametrize(
    "name, data, message",
    [
        ("notes.docx", b"x", ".docx"),
        ("empty.csv", b"", "empty"),
    ],
)
def test_app_queries_save_upload_rejects_bad_files(
    tmp_path: Path, name: str, data: bytes, message: str
) -> None:
    with raises_code("CX-E020", message):
        up.save_upload(name, data, tmp_path)


def test_app_queries_tag_upload_keeps_every_row_and_reports_progress(tmp_path: Path) -> None:
    src = up.save_upload(
        "fb.csv",
        (
            "text,nps\n"
            + "\n".join(
                f"Курьер не позвонил {i},{i % 11}" if i % 2 else f"Great app {i},10"
                for i in range(23)
            )
        ).encode(),
        tmp_path,
    )
    seen: list[tuple[int, int | None]] = []
    with open_store(tmp_path / "s.duckdb") as store:
        result = up.tag_upload(
            src,
            store,
            keyword_tagger,
            SETTINGS.with_(chunk_size=10),
            tmp_path / "out.parquet",
            on_progress=lambda done, total: seen.append((done, total)),
        )
        stored = store.query("SELECT count(*) AS n FROM tagged")["n"].iloc[0]
    assert result.rows == stored == 23 and [d for d, _ in seen] == [10, 20, 23]
    assert len(pd.read_parquet(tmp_path / "out.parquet")) == 23


def test_app_queries_interrupted_upload_resumes_and_a_failing_model_fails_the_run(
    tmp_path: Path,
) -> None:
    src = up.save_upload(
        "fb.csv",
        ("text\n" + "\n".join(f"Курьер не позвонил {i}" for i in range(23))).encode(),
        tmp_path,
    )
    calls = {"n": 0}

    def dying(chunk: pd.DataFrame) -> pd.DataFrame:
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # the app process stopped mid-upload
        return keyword_tagger(chunk)

    out, settings = tmp_path / "out.parquet", SETTINGS.with_(chunk_size=10)
    with open_store(tmp_path / "s.duckdb") as store:
        with pytest.raises(KeyboardInterrupt):
            up.tag_upload(src, store, dying, settings, out)
        again = up.tag_upload(src, store, keyword_tagger, settings, out)
        assert again.rows == 23 and again.status == "complete"
        assert store.list_runs()["status"].tolist() == ["complete"]  # the same run, resumed
        assert store.query("SELECT count(*) AS n FROM messages")["n"].iloc[0] == 23

        def broken(chunk: pd.DataFrame) -> pd.DataFrame:
            raise RuntimeError("no model")

        failed = up.tag_upload(src, store, broken, settings, tmp_path / "again.parquet")
        assert failed.status == "failed" and "23 of 23 rows" in (failed.status_note or "")
        assert (
            store.query("SELECT count(*) AS n FROM messages WHERE sentiment = 'negative'")[
                "n"
            ].iloc[0]
            == 23
        )


def test_app_queries_load_callable_says_what_is_wrong() -> None:
    assert load_callable("tests.app.test_app_support:keyword_tagger") is keyword_tagger
    with raises_code("CX-E010", "module:function"):
        load_callable("no_colon")
    with raises_code("CX-E010", "missing"):
        load_callable("tests.app.test_app_support:missing")


def test_app_queries_writable_swaps_back_to_read_only(tmp_path: Path) -> None:
    app = q.AppStore(build_demo_store(tmp_path / "w.duckdb", n=100, themes=False))
    with app.writable() as store:
        store.con.execute("UPDATE feedback SET channel = 'x' WHERE id = 'm00001'")
    assert (
        app.store.query("SELECT channel FROM feedback WHERE id = 'm00001'")["channel"].iloc[0]
        == "x"
    )
    with pytest.raises(Exception, match="read-only"):
        app.store.con.execute("DELETE FROM feedback")
    app.close()


def test_app_queries_cli_app_starts_streamlit_headless(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[list[str]] = []

    def execv(path: str, cmd: list[str]) -> None:
        calls.append(cmd)
        raise SystemExit(0)

    monkeypatch.setattr("os.execv", execv)
    with pytest.raises(SystemExit) as done:
        main(["app", "--db", str(tmp_path / "x.duckdb"), "--port", "8600"])
    assert done.value.code == 0
    cmd = calls[0]
    assert cmd[1:4] == ["-m", "streamlit", "run"] and cmd[4].endswith("main.py")
    assert cmd[cmd.index("--server.headless") + 1] == "true" and cmd[-2:] == [
        "--db",
        str(tmp_path / "x.duckdb"),
    ]
    assert "http://localhost:8600" in capsys.readouterr().out


def test_app_queries_streamlit_command_hides_deploy_button_and_developer_menu(
    tmp_path: Path,
) -> None:
    from streamlit import config

    cmd = launch.streamlit_command(tmp_path / "x.duckdb")
    streamlit_args = cmd[: cmd.index("--")]  # after "--" the arguments go to the app, not streamlit
    assert streamlit_args[streamlit_args.index("--client.toolbarMode") + 1] == "viewer"
    assert (
        '"viewer"' in config.get_config_options()["client.toolbarMode"].description
    )  # a real option
