"""CX metrics on tiny hand-made stores: formulas, CIs, min-n guard, filters, churn, LTV, CLI."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from cx_text.analytics import stats
from cx_text.analytics.filters import Filters, parse_day
from cx_text.analytics.metrics import metrics_by, require_rows, wide
from cx_text.cli.main import cli
from cx_text.core.config import Settings
from cx_text.core.errors import StoreError
from cx_text.store.store import open_store
from tests.error_codes import raises_code

TEXTS = {
    "delivery": ["Курьер опоздал на три часа", "The parcel arrived a week late"],
    "pricing": ["Цены выросли, дорого", "Too expensive after the price rise"],
    "staff": ["Оператор был вежлив", "The agent was rude to me"],
    "usability": ["Приложение вылетает при оплате", "Checkout button does nothing"],
}


def row(
    i: int,
    *,
    nps: float | None = None,
    csat: float | None = None,
    ces: float | None = None,
    aspects: tuple[tuple[str, str], ...] = (),
    topics: list[str] | None = None,
    sentiment: str = "neutral",
    day: str = "2026-03-02",
    channel: str = "app_review",
    segment: str = "b2c",
    lang: str = "ru",
    customer: str | None = None,
) -> dict[str, Any]:
    """One tagged message; ``aspects`` = ((topic, polarity), …) and topics default to theirs."""
    topics = [t for t, _ in aspects] if topics is None else topics
    first = topics[0] if topics else "delivery"
    return {
        "id": str(i),
        "text": TEXTS.get(first, TEXTS["delivery"])[i % 2],
        "created_at": day,
        "channel": channel,
        "segment": segment,
        "lang": lang,
        "nps": nps,
        "csat": csat,
        "ces": ces,
        "customer_id": customer,
        "sentiment": sentiment,
        "topics": topics,
        "subtopics": [f"{t}/late" for t in topics],
        "aspect_sentiments": [{"topic": t, "polarity": p, "score": 0.0} for t, p in aspects],
    }


def tagged_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    frame["created_at"] = pd.to_datetime(frame["created_at"], format="ISO8601")
    frame["row_status"] = "ok"
    return frame


def build_store(
    path: Path, rows: list[dict[str, Any]], customers: pd.DataFrame | None = None
) -> Path:
    """A store with one complete run holding ``rows`` (and optionally a customers table)."""
    with open_store(path) as st:
        run = st.begin_run({"test": True})
        if rows:
            st.append_chunk(run, 0, tagged_frame(rows))
        st.finish_run(run, {})
        if customers is not None:
            st.load_customers(customers)
    return path


def value(long: pd.DataFrame, metric: str, key: str = "all", col: str = "value") -> Any:
    hit = long[(long["metric"] == metric) & (long["key"] == key)]
    assert len(hit) == 1, f"{metric}/{key} not in result"
    return hit[col].iloc[0]


@pytest.mark.parametrize(
    ("scores", "metric", "expected"),
    [
        ({"nps": [10, 9, 8, 7, 6, 0]}, "nps", 0.0),
        ({"nps": [10, 10, 10, 0]}, "nps", 50.0),
        ({"nps": [0, 3, 6, 9]}, "nps", -50.0),
        ({"csat": [5, 4, 3, 1]}, "csat", 50.0),
        ({"csat": [5, 5, 5, 2, 4]}, "csat", 80.0),
        ({"ces": [1, 7, 4]}, "ces", 4.0),
        ({"ces": [2, 2, 5, 7]}, "ces", 4.0),
    ],
)
def test_metrics_scores_match_hand_computation(
    tmp_path: Path, scores: dict[str, list[float]], metric: str, expected: float
) -> None:
    ((col, values),) = scores.items()
    rows = [row(i, **{col: v}) for i, v in enumerate(values)]
    with open_store(build_store(tmp_path / "s.duckdb", rows)) as st:
        long = metrics_by(st)
    assert value(long, metric) == pytest.approx(expected)
    assert value(long, metric, col="n") == len(values)


def test_metrics_nps_ci_is_the_multinomial_wald_interval(tmp_path: Path) -> None:
    nps = [10] * 50 + [8] * 30 + [3] * 20
    with open_store(
        build_store(tmp_path / "s.duckdb", [row(i, nps=v) for i, v in enumerate(nps)])
    ) as st:
        long = metrics_by(st)
    p_pro, p_det = 0.5, 0.2
    half = 1.959964 * np.sqrt((p_pro + p_det - (p_pro - p_det) ** 2) / 100)
    assert value(long, "nps") == pytest.approx(30.0)
    assert value(long, "nps", col="lo") == pytest.approx(100 * (0.3 - half), abs=1e-3)
    assert value(long, "nps", col="hi") == pytest.approx(100 * (0.3 + half), abs=1e-3)
    assert value(long, "nps", col="ci_method") == "multinomial-wald"


@pytest.mark.parametrize(
    "sentiments",
    [
        ["negative", "negative", "neutral", "positive"],
        ["negative", "", "positive", "positive", "positive"],
    ],
)
def test_metrics_negative_share_counts_only_rows_with_a_sentiment(
    tmp_path: Path, sentiments: list[str]
) -> None:
    rows = [row(i, sentiment=s) for i, s in enumerate(sentiments)]
    with open_store(build_store(tmp_path / "s.duckdb", rows)) as st:
        long = metrics_by(st)
    rated = [s for s in sentiments if s]
    assert value(long, "neg_share") == pytest.approx(100 * rated.count("negative") / len(rated))
    assert value(long, "volume") == len(sentiments)


def test_metrics_ci_coverage_is_near_nominal() -> None:
    rng = np.random.default_rng(7)
    shares = rng.multinomial(200, [0.45, 0.3, 0.25], size=4000)
    _, lo, hi = stats.nps(shares[:, 0], shares[:, 2], 200)
    nps_cover = np.mean((lo <= 20) & (hi >= 20))
    k = rng.binomial(150, 0.12, size=4000)
    _, wlo, whi = stats.wilson(k, 150)
    wilson_cover = np.mean((wlo <= 0.12) & (whi >= 0.12))
    x = rng.integers(1, 8, size=(4000, 60)).astype(float)
    _, tlo, thi = stats.mean_t(x.sum(1), (x * x).sum(1), 60)
    t_cover = np.mean((tlo <= 4.0) & (thi >= 4.0))
    for cover in (nps_cover, wilson_cover, t_cover):
        assert 0.925 <= cover <= 0.97


def test_metrics_by_topic_counts_a_message_in_each_of_its_topics(tmp_path: Path) -> None:
    rows = [
        row(0, nps=10, aspects=(("delivery", "negative"), ("staff", "positive"))),
        row(1, nps=2, aspects=(("delivery", "negative"),)),
        row(2, nps=9, aspects=(("pricing", "neutral"),)),
    ]
    with open_store(build_store(tmp_path / "s.duckdb", rows)) as st:
        long = metrics_by(st, "topic")
    assert value(long, "volume", "delivery") == 2 and value(long, "volume", "staff") == 1
    assert value(long, "nps", "delivery") == pytest.approx(0.0)
    assert value(long, "volume_share", "delivery") == pytest.approx(100 * 2 / 3)
    assert value(long, "topic_neg_share", "delivery") == pytest.approx(100.0)
    assert value(long, "topic_neg_share", "staff") == pytest.approx(0.0)


@pytest.mark.parametrize(
    ("min_n", "small_low", "big_low"), [(30, True, False), (3, False, False), (50, True, True)]
)
def test_metrics_min_n_guard_marks_small_groups(
    tmp_path: Path, min_n: int, small_low: bool, big_low: bool
) -> None:
    rows = [row(i, nps=9, segment="vip") for i in range(5)]
    rows += [row(100 + i, nps=i % 11, segment="b2c") for i in range(40)]
    with open_store(build_store(tmp_path / "s.duckdb", rows)) as st:
        long = metrics_by(st, "segment", settings=Settings(min_n=min_n))
    assert value(long, "nps", "vip", "low_n") == small_low
    assert value(long, "nps", "b2c", "low_n") == big_low
    assert not value(long, "volume", "vip", "low_n")  # a count is never noise


def _filter_rows() -> list[dict[str, Any]]:
    return [
        row(0, nps=10, day="2026-02-27", channel="chat", segment="vip", lang="ru"),
        row(1, nps=0, day="2026-03-01", channel="chat", segment="b2c", lang="en"),
        row(2, nps=5, day="2026-03-15", channel="email", segment="b2c", lang="ru"),
        row(3, nps=9, day="2026-03-31 23:59", channel="app_review", segment="vip", lang="en"),
        row(4, nps=7, day="2026-04-01", channel="chat", segment="b2b", lang="ru"),
    ]


@pytest.mark.parametrize(
    ("filters", "ids"),
    [
        (Filters(), [0, 1, 2, 3, 4]),
        (Filters(start=date(2026, 3, 1), end=date(2026, 3, 31)), [1, 2, 3]),
        (Filters(start=date(2026, 3, 2)), [2, 3, 4]),
        (Filters(channels=("chat",)), [0, 1, 4]),
        (Filters(segments=("vip", "b2b")), [0, 3, 4]),
        (Filters(langs=("en",)), [1, 3]),
        (Filters(end=date(2026, 3, 31), channels=("chat",), langs=("ru",)), [0]),
    ],
)
def test_metrics_filters_restrict_messages(
    tmp_path: Path, filters: Filters, ids: list[int]
) -> None:
    rows = _filter_rows()
    with open_store(build_store(tmp_path / "s.duckdb", rows)) as st:
        long = metrics_by(st, "overall", filters)
    kept = [rows[i]["nps"] for i in ids]
    expected = 100 * (sum(v >= 9 for v in kept) - sum(v <= 6 for v in kept)) / len(kept)
    assert value(long, "volume") == len(ids)
    assert value(long, "nps") == pytest.approx(expected)


def test_metrics_filters_matching_nothing_give_an_empty_frame(tmp_path: Path) -> None:
    with open_store(build_store(tmp_path / "s.duckdb", _filter_rows())) as st:
        assert metrics_by(st, "channel", Filters(channels=("telegram",))).empty


@pytest.mark.parametrize("bad", [{"start": date(2026, 5, 1), "end": date(2026, 4, 1)}])
def test_metrics_filters_reject_reversed_dates(bad: dict[str, date]) -> None:
    with raises_code("CX-E010", "Swap"):
        Filters(**bad)
    with raises_code("CX-E010", "YYYY-MM-DD"):
        parse_day("01.03.2026")


def _customers() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["c1", "c2", "c3", "c4", "c5", "c6"],
            "signup": ["2025-01-01", "2025-06-01", "2025-06-01", "2026-03-10", "2025-01-01", ""],
            "churned_at": [
                "2026-03-20",
                "",
                "2026-04-02",
                "2026-03-25",
                "2026-02-01",
                "2026-03-05",
            ],
            "ltv": [100.0, 200.0, 300.0, 400.0, 500.0, 600.0],
        }
    )


def test_metrics_overall_churn_is_lost_over_active_at_start(tmp_path: Path) -> None:
    rows = [row(i, nps=9, customer=f"c{i + 1}") for i in range(3)]
    path = build_store(tmp_path / "s.duckdb", rows, _customers())
    with open_store(path) as st:
        long = metrics_by(st, "overall", Filters(start=date(2026, 3, 1), end=date(2026, 3, 31)))
    # active at 2026-03-01: c1 c2 c3 c6 (c4 signed up later, c5 churned before);
    # lost in March: c1 c6
    assert value(long, "churn_rate") == pytest.approx(50.0)
    assert value(long, "churn_rate", col="n") == 4
    assert value(long, "ltv") == pytest.approx(600.0)  # distinct writers c1, c2, c3
    assert value(long, "customers") == 3


def test_metrics_churn_by_month_uses_each_period(tmp_path: Path) -> None:
    rows = [row(0, day="2026-02-10", customer="c1"), row(1, day="2026-04-10", customer="c2")]
    with open_store(build_store(tmp_path / "s.duckdb", rows, _customers())) as st:
        w = wide(metrics_by(st, "month")).set_index("key")
    assert list(w.index) == ["2026-02", "2026-03", "2026-04"]
    # Feb: active c1 c2 c3 c5 c6 -> lost c5 (2026-02-01); Mar: c1 c2 c3 c6 -> lost c1 c6;
    # Apr: c2 c3 -> c3
    assert w["churn_rate"].tolist() == pytest.approx([20.0, 50.0, 50.0])
    assert w.loc["2026-02", "volume"] == 1 and w.loc["2026-04", "volume"] == 1
    assert np.isnan(w.loc["2026-03", "volume"])  # no message in March, churn still measured


def _add_themes(st: Any, members: dict[str, str], status: str = "active") -> None:
    """Themes (one per value) and their members (message id -> theme id) in the latest run."""
    (run,) = st.con.execute("SELECT run_id FROM runs").fetchone()
    for theme in sorted(set(members.values())):
        st.con.execute(
            "INSERT INTO themes (theme_id, topic, label, status) VALUES (?, 'delivery', ?, ?)",
            [theme, theme, status],
        )
    for i, theme in members.items():
        st.con.execute(
            "INSERT INTO theme_memberships (theme_run_id, run_id, id, topic, theme_id) "
            "VALUES ('tr1', ?, ?, 'delivery', ?)",
            [run, i, theme],
        )


def test_metrics_theme_dimension_reads_the_store_theme_members(tmp_path: Path) -> None:
    rows = [row(i, nps=v) for i, v in enumerate([0, 2, 10, 9])]
    with open_store(build_store(tmp_path / "s.duckdb", rows)) as st:
        assert metrics_by(st, "theme").empty  # no themes yet
        _add_themes(st, {"0": "late-courier", "1": "late-courier", "2": "fast"})
        long = metrics_by(st, "theme")
        assert value(long, "nps", "late-courier") == pytest.approx(-100.0)
        assert value(long, "volume", "fast") == 1
        st.con.execute("UPDATE themes SET status = 'retired' WHERE theme_id = 'fast'")
        st.con.execute("INSERT INTO theme_edits VALUES (1, now(), 'retire', 'fast', NULL, NULL)")
        assert set(metrics_by(st, "theme")["key"]) == {
            "late-courier"
        }  # the cached members follow edits


def test_metrics_theme_dimension_without_theme_view_says_run_themes(tmp_path: Path) -> None:
    with open_store(build_store(tmp_path / "s.duckdb", [row(0, nps=0)])) as st:
        st.con.execute("DROP VIEW theme_members")
        with pytest.raises(StoreError) as caught:
            metrics_by(st, "theme")
        assert caught.value.code == "CX-E060" and "cx-text themes" in str(caught.value.hint)


def test_metrics_empty_store_says_what_to_do(tmp_path: Path) -> None:
    with open_store(build_store(tmp_path / "s.duckdb", [])) as st:
        with raises_code("CX-E060", "cx-text tag"):
            require_rows(st)
        assert metrics_by(st).empty


def test_metrics_cli_by_topic_prints_table_with_impact_and_formulas(tmp_path: Path) -> None:
    rows = [
        row(i, nps=2 if i % 2 else 10, aspects=(("delivery", "negative" if i % 2 else "positive"),))
        for i in range(40)
    ]
    path = build_store(tmp_path / "s.duckdb", rows)
    result = CliRunner().invoke(
        cli, ["metrics", "--db", str(path), "--by", "topic", "--min-n", "5"]
    )
    assert result.exit_code == 0, result.output
    assert "delivery" in result.output and "NPS impact" in result.output
    assert "Formulas:" in result.output and "promoters (9–10)" in result.output


def test_metrics_cli_json_and_low_n(tmp_path: Path) -> None:
    path = build_store(tmp_path / "s.duckdb", [row(i, nps=9, segment="vip") for i in range(4)])
    result = CliRunner().invoke(cli, ["metrics", "--db", str(path), "--by", "segment", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    nps = [r for r in payload["sections"]["metrics"] if r["metric"] == "nps"]
    assert nps[0]["key"] == "vip" and nps[0]["low_n"] is True and nps[0]["value"] == 100.0
    text = CliRunner().invoke(cli, ["metrics", "--db", str(path), "--by", "segment"]).output
    assert "n<30" in text


def test_metrics_cli_empty_store_is_a_clear_error(tmp_path: Path) -> None:
    path = build_store(tmp_path / "s.duckdb", [])
    result = CliRunner().invoke(cli, ["metrics", "--db", str(path)])
    assert isinstance(result.exception, StoreError) and result.exception.code == "CX-E060"
    assert "cx-text tag" in str(result.exception)
