"""Topic impact, Shapley key drivers, churn and revenue at risk on hand-made stores."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cx_text.analytics.drivers import churn_and_revenue, key_drivers, shapley_r2, topic_impact
from cx_text.analytics.filters import Filters
from cx_text.core.config import Settings
from cx_text.store.store import open_store
from tests.analytics.test_metrics import build_store, row


def _nps(values: list[int]) -> float:
    return 100 * (sum(v >= 9 for v in values) - sum(v <= 6 for v in values)) / len(values)


def _impact_rows() -> list[dict]:
    """Delivery complaints come with low scores; staff praise with high ones."""
    rows = []
    for i in range(60):
        if i % 3 == 0:
            rows.append(
                row(
                    i,
                    nps=i % 4,
                    csat=1,
                    ces=2,
                    sentiment="negative",
                    aspects=(("delivery", "negative"),),
                )
            )
        elif i % 3 == 1:
            rows.append(row(i, nps=9 + i % 2, csat=5, ces=6, aspects=(("staff", "positive"),)))
        else:
            rows.append(row(i, nps=7 + i % 3, csat=4, ces=5, aspects=(("pricing", "neutral"),)))
    return rows


def _impact(frame: pd.DataFrame, key: str, metric: str, col: str = "value") -> float:
    return float(frame[(frame["key"] == key) & (frame["metric"] == metric)][col].iloc[0])


def test_drivers_impact_matches_hand_computation_and_sign(tmp_path: Path) -> None:
    rows = _impact_rows()
    with open_store(build_store(tmp_path / "s.duckdb", rows)) as st:
        impact = topic_impact(st, settings=Settings(min_n=5))
    scores = [r["nps"] for r in rows]
    without = [r["nps"] for r in rows if r["aspect_sentiments"][0]["topic"] != "delivery"]
    assert _impact(impact, "delivery", "nps_impact") == pytest.approx(_nps(scores) - _nps(without))
    assert _impact(impact, "delivery", "nps_impact") < 0  # removing a complaint topic raises NPS
    assert _impact(impact, "delivery", "nps_impact", "hi") < 0
    csat_all = 100 * np.mean([r["csat"] >= 4 for r in rows])
    csat_wo = 100 * np.mean([r["csat"] >= 4 for r in rows if r["sentiment"] != "negative"])
    assert _impact(impact, "delivery", "csat_impact") == pytest.approx(csat_all - csat_wo)
    ces_all, ces_wo = (
        np.mean([r["ces"] for r in rows]),
        np.mean([r["ces"] for r in rows if r["ces"] != 2]),
    )
    assert _impact(impact, "delivery", "ces_impact") == pytest.approx(ces_all - ces_wo)
    assert set(impact["key"]) == {"delivery"}  # no negative staff/pricing mention -> no impact row


def test_drivers_impact_is_seeded_and_ci_contains_the_estimate(tmp_path: Path) -> None:
    with open_store(build_store(tmp_path / "s.duckdb", _impact_rows())) as st:
        a, b = topic_impact(st), topic_impact(st)
        other = topic_impact(st, settings=Settings(seed=99))
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["lo"], other["lo"])
    assert ((a["lo"] <= a["value"]) & (a["value"] <= a["hi"])).all()
    assert a["low_n"].all()  # 20 complaints < default min_n 30


@pytest.mark.parametrize("sentiment", ["negative", "positive"])
def test_drivers_impact_falls_back_to_message_sentiment_without_aspects(
    tmp_path: Path, sentiment: str
) -> None:
    rows = [row(i, nps=1, topics=["delivery"], sentiment=sentiment) for i in range(10)]
    rows += [row(100 + i, nps=10, topics=["staff"], sentiment="positive") for i in range(10)]
    with open_store(build_store(tmp_path / "s.duckdb", rows)) as st:
        impact = topic_impact(st)
    has_delivery = "delivery" in set(impact["key"])
    assert has_delivery == (sentiment == "negative")
    if has_delivery:
        assert _impact(impact, "delivery", "nps_impact") == pytest.approx(0.0 - 100.0)


def test_drivers_impact_by_subtopic(tmp_path: Path) -> None:
    with open_store(build_store(tmp_path / "s.duckdb", _impact_rows())) as st:
        impact = topic_impact(st, level="subtopic")
    assert set(impact["key"]) == {"delivery/late"} and (impact["dimension"] == "subtopic").all()


def _r2(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    xr, yr = np.repeat(x, w.astype(int), axis=0), np.repeat(y, w.astype(int))
    design = np.column_stack([np.ones(len(yr)), xr])
    beta, *_ = np.linalg.lstsq(design, yr, rcond=None)
    return 1 - np.sum((yr - design @ beta) ** 2) / np.sum((yr - yr.mean()) ** 2)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_drivers_shapley_values_sum_to_r2(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2, size=(64, 5)).astype(float)
    x[:, 4] = np.maximum(x[:, 0], x[:, 4])  # collinear-ish pair
    y = np.clip(9 - 3 * x[:, 0] - 2 * x[:, 1] - x[:, 4] + rng.normal(0, 1, 64), 0, 10).round()
    w = rng.integers(1, 30, size=64).astype(float)
    phi = shapley_r2(x, y, w[None, :])[0]
    assert phi.sum() == pytest.approx(_r2(x, y, w), abs=1e-8)
    assert phi[0] == max(phi)


def test_drivers_shapley_identical_topics_share_credit_equally() -> None:
    rng = np.random.default_rng(5)
    a = rng.integers(0, 2, size=200).astype(float)
    x = np.column_stack([a, a, rng.integers(0, 2, size=200)])
    y = 8 - 4 * a + rng.normal(0, 1, 200)
    phi = shapley_r2(x, y, np.ones((1, 200)))[0]
    assert phi[0] == pytest.approx(phi[1], rel=1e-6)
    assert phi.sum() == pytest.approx(_r2(x, y, np.ones(200)), rel=1e-6)
    assert phi[0] > 20 * phi[2]  # the unrelated topic gets almost nothing


def test_drivers_key_drivers_from_store_explains_itself(tmp_path: Path) -> None:
    rows = [row(i, nps=2, aspects=(("delivery", "negative"),)) for i in range(30)]
    rows += [row(100 + i, nps=5, aspects=(("pricing", "negative"),)) for i in range(30)]
    rows += [row(200 + i, nps=9 + i % 2, aspects=(("staff", "positive"),)) for i in range(60)]
    with open_store(build_store(tmp_path / "s.duckdb", rows)) as st:
        drivers, sentence = key_drivers(st, draws=50)
    assert drivers["key"].tolist() == ["delivery", "pricing"]
    assert drivers["share"].sum() == pytest.approx(1.0)
    assert (drivers["score_gap"] < 0).all()
    assert "Shapley" in sentence and f"R² = {drivers['shapley'].sum():.3f}" in sentence


def _churn_customers() -> pd.DataFrame:
    ids = [f"c{i}" for i in range(20)]
    churned = ["2026-04-01" if (i < 10 and i % 2 == 0) or i == 15 else "" for i in range(20)]
    return pd.DataFrame(
        {
            "customer_id": ids,
            "signup": "2025-01-01",
            "churned_at": churned,
            "ltv": [float(100 * (i + 1)) for i in range(20)],
        }
    )


def test_drivers_churn_of_complainers_vs_others(tmp_path: Path) -> None:
    rows = [
        row(
            i,
            nps=3 if i < 6 else 8,
            customer=f"c{i}",
            day="2026-03-01",
            aspects=(("delivery", "negative" if i < 10 else "positive"),),
        )
        for i in range(20)
    ]
    path = build_store(tmp_path / "s.duckdb", rows, _churn_customers())
    with open_store(path) as st:
        out = churn_and_revenue(
            st, Filters(start=date(2026, 3, 1), end=date(2026, 4, 30)), Settings(min_n=5)
        ).set_index("key")
    d = out.loc["delivery"]
    assert d["customers"] == 10
    assert d["churn_complained"] == pytest.approx(50.0)  # c0 c2 c4 c6 c8 of c0..c9
    assert d["churn_other"] == pytest.approx(10.0)  # c15 of c10..c19
    assert d["diff"] == pytest.approx(40.0) and d["lo"] < 40.0 < d["hi"]
    assert 0 < d["p_value"] < 0.1
    # detractors who complained: c0..c5; churned by 2026-04-30: c0 c2 c4; still here: c1 c3 c5
    assert d["detractors"] == 6
    assert d["revenue_lost"] == pytest.approx(100 + 300 + 500)
    assert d["revenue_at_risk"] == pytest.approx(200 + 400 + 600)
