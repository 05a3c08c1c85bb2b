"""Chart builders: valid Vega-Lite, titles with units and formulas, low-n greyed, alerts marked."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from cx_text.analytics import viz

IMPACT = pd.DataFrame(
    {
        "key": ["delivery", "pricing", "staff"],
        "metric": "nps_impact",
        "value": [-12.5, -3.1, 0.8],
        "lo": [-15.0, -5.0, -0.5],
        "hi": [-10.0, -1.0, 2.0],
        "n": [420, 95, 12],
        "low_n": [False, False, True],
    }
)
SERIES = pd.DataFrame(
    {
        "period": pd.to_datetime(["2026-03-02", "2026-03-09", "2026-03-16"] * 2),
        "key": ["delivery"] * 3 + ["pricing"] * 3,
        "volume": [40, 42, 90, 10, 12, 11],
        "neg_share": [20.0, 22.0, 70.0, 30.0, 31.0, 29.0],
        "low_n": [False] * 6,
    }
)
ALERTS = pd.DataFrame(
    {
        "period": pd.to_datetime(["2026-03-16"]),
        "key": ["delivery"],
        "metric": ["neg_share"],
        "message": ["delivery: negative share 70% vs ~21% expected"],
    }
)
COMPARE = pd.DataFrame(
    {
        "key": ["vip", "b2b"],
        "metric": "nps",
        "value": [35.0, -5.0],
        "rest": [10.0, 20.0],
        "diff": [25.0, -25.0],
        "lo": [15.0, -40.0],
        "hi": [35.0, -10.0],
        "p_value": [0.001, 0.2],
        "p_adj": [0.002, 0.2],
        "n": [300, 25],
        "n_rest": [900, 1175],
        "significant": [True, False],
        "low_n": [False, True],
    }
)


def spec(chart: object) -> dict:
    return json.loads(chart.to_json())  # type: ignore[attr-defined]


def test_viz_impact_chart_sorts_worst_first_and_greys_low_n() -> None:
    s = spec(viz.impact_chart(IMPACT, names={"delivery": "Доставка"}))
    data = next(iter(s["datasets"].values()))
    assert min(data, key=lambda r: r["value"])["name"] == "Доставка"
    assert {r["effect"] for r in data} == {"costs points", "too few answers"}
    assert (
        s["title"]["subtitle"] == viz.IMPACT_FORMULA
    )  # the one wording app, CLI and reports share


@pytest.mark.parametrize(
    "value, alerts, marked",
    [("neg_share", ALERTS, True), ("volume", ALERTS, False), ("neg_share", None, False)],
)
def test_viz_trend_chart_marks_alerts_of_the_shown_metric(
    value: str, alerts: pd.DataFrame | None, marked: bool
) -> None:
    s = spec(viz.trend_chart(SERIES, alerts, value, title="Trend"))
    assert len(s["layer"]) == (2 if marked else 1)
    assert ("anomalies" in s["title"]["subtitle"]) is marked
    assert s["layer"][0]["encoding"]["y"]["title"] == viz.METRIC_TITLES[value]


def test_viz_compare_chart_marks_significance() -> None:
    s = spec(viz.compare_chart(COMPARE, "nps"))
    marks = {r["key"]: r["mark"] for r in next(iter(s["datasets"].values()))}
    assert marks == {"vip": "★ significant", "b2b": "too few answers"}
    assert "promoters" in s["title"]["subtitle"]


@pytest.mark.parametrize(
    "builder",
    [
        lambda: viz.impact_chart(IMPACT.iloc[0:0]),
        lambda: viz.trend_chart(SERIES.iloc[0:0]),
        lambda: viz.compare_chart(COMPARE.iloc[0:0]),
        lambda: viz.sentiment_mix_chart(pd.DataFrame()),
        lambda: viz.rank_chart(pd.DataFrame(), "volume"),
        lambda: viz.change_chart(pd.DataFrame()),
        lambda: viz.affected_chart(pd.DataFrame()),
    ],
)
def test_viz_empty_input_gives_a_chart_that_says_why(builder) -> None:  # type: ignore[no-untyped-def]
    s = spec(builder())
    mark = s["layer"][0]["mark"] if "layer" in s else s["mark"]
    assert mark["type"] == "text" and next(iter(s["datasets"].values()))[0]["m"]


def test_viz_rank_chart_keeps_themes_with_the_same_label_apart() -> None:
    frame = pd.DataFrame(
        {
            "label": ["courier did not call"] * 2,
            "theme_id": ["delivery:t001", "delivery:t004"],
            "volume": [30, 12],
        }
    )
    names = [
        r["name"] for r in next(iter(spec(viz.rank_chart(frame, "volume"))["datasets"].values()))
    ]
    assert len(set(names)) == 2


def test_viz_change_and_mix_and_affected_render() -> None:
    change = pd.DataFrame(
        {
            "key": ["delivery"],
            "neg_share_prev": [20.0],
            "neg_share_cur": [60.0],
            "diff": [40.0],
            "p_neg_adj": [0.0001],
            "low_n": [False],
            "volume_prev": [50],
            "volume_cur": [60],
        }
    )
    assert "★ significant" in json.dumps(spec(viz.change_chart(change)), ensure_ascii=False)
    mix = pd.DataFrame({"sentiment": ["negative", "positive"], "n": [3, 1], "share": [75.0, 25.0]})
    assert spec(viz.sentiment_mix_chart(mix))["encoding"]["color"]["scale"]["range"][0] == "#d62728"
    affected = pd.DataFrame(
        {
            "dimension": ["segment"],
            "key": ["vip"],
            "share": [12.0],
            "rest": [4.0],
            "lift": [3.0],
            "in_theme": [30],
            "p_adj": [0.01],
            "significant": [True],
        }
    )
    assert spec(viz.affected_chart(affected))["height"] >= 120
