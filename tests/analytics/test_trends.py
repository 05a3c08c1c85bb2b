"""Topic trends, spike alerts, period-over-period change and group comparison."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from cx_text.analytics.filters import Filters
from cx_text.analytics.trends import (
    alerts,
    compare_groups,
    detect_alerts,
    period_change,
    topic_trends,
)
from cx_text.core.config import Settings
from cx_text.store.store import open_store
from tests.analytics.test_metrics import build_store, row


def _series(volumes: list[int], negs: list[int], key: str = "delivery") -> pd.DataFrame:
    periods = pd.date_range("2026-01-05", periods=len(volumes), freq="7D")
    return pd.DataFrame(
        {
            "period": periods,
            "key": key,
            "volume": volumes,
            "n_neg": negs,
            "total": [v * 4 for v in volumes],
            "days": 7,
        }
    )


def _noise(seed: int, weeks: int = 30, rate: float = 40, share: float = 0.25) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    for key in ("delivery", "pricing", "staff", "usability", "quality", "support"):
        vol = rng.poisson(rate, weeks)
        frames.append(_series(vol.tolist(), rng.binomial(vol, share).tolist(), key))
    return pd.concat(frames, ignore_index=True)


def test_trends_flat_noise_rarely_alerts() -> None:
    found = pd.concat([detect_alerts(_noise(seed)) for seed in range(30)])
    assert len(found) <= 2  # 30 × 6 topics × 30 weeks of Poisson/binomial noise: ~5,000 checks


@pytest.mark.parametrize(
    ("week", "volume", "neg", "metric"),
    [
        (15, 110, 28, "volume"),  # 2.7× the usual volume, usual negative share
        (20, 42, 30, "neg_share"),  # usual volume, 71% negative instead of 25%
        (12, 120, 90, "volume"),  # both at once: volume reported …
    ],
)
def test_trends_alert_fires_on_planted_spike(week: int, volume: int, neg: int, metric: str) -> None:
    frame = _noise(0)
    assert detect_alerts(frame).empty  # precondition: the noise alone is quiet
    hit = (frame["key"] == "delivery") & (frame["period"] == frame["period"].unique()[week])
    frame.loc[hit, ["volume", "n_neg"]] = [volume, neg]
    found = detect_alerts(frame)
    mine = found[(found["key"] == "delivery") & (found["metric"] == metric)]
    assert len(mine) == 1 and mine["period"].iloc[0] == frame.loc[hit, "period"].iloc[0]
    assert "delivery" in mine["message"].iloc[0] and "expected" in mine["message"].iloc[0]
    assert set(found["key"]) == {"delivery"}


def test_trends_alert_needs_history_and_enough_answers() -> None:
    short = _series([40, 41, 120], [10, 10, 100])
    assert detect_alerts(short).empty  # only 2 previous periods
    tiny = _series([5] * 10 + [9], [1] * 10 + [9])
    assert detect_alerts(tiny, Settings(min_n=30)).empty  # 9 answers is too few to call a share


def _weekly_rows(spike_week: int | None) -> list[dict]:
    rows, i = [], 0
    start = date(2026, 1, 5)
    for week in range(12):
        n_delivery = 60 if week == spike_week else 15
        for k in range(n_delivery + 15):
            topic = "delivery" if k < n_delivery else "pricing"
            polarity = "negative" if k % 4 == 0 else "positive"
            day = (start + timedelta(days=7 * week + k % 7)).isoformat()
            rows.append(row(i, nps=k % 11, day=day, aspects=((topic, polarity),)))
            i += 1
    return rows


def test_trends_series_from_store_fill_empty_periods(tmp_path: Path) -> None:
    rows = [
        row(0, day="2026-01-05", aspects=(("delivery", "negative"),)),
        row(1, day="2026-01-06", aspects=(("delivery", "positive"),)),
        row(2, day="2026-01-21", aspects=(("pricing", "negative"),)),
    ]
    with open_store(build_store(tmp_path / "s.duckdb", rows)) as st:
        t = topic_trends(st, period="week")
    assert len(t) == 6  # 3 weeks × 2 topics, the empty middle week included
    d = t[t["key"] == "delivery"].set_index("period")
    assert d["volume"].tolist() == [2, 0, 0] and d["n_neg"].tolist() == [1, 0, 0]
    assert d["neg_share"].iloc[0] == pytest.approx(50.0)
    assert d["days"].tolist() == [7, 7, 3]  # data ends on Wednesday 2026-01-21
    assert t.loc[t["key"] == "pricing", "volume_share"].iloc[2] == pytest.approx(100.0)


@pytest.mark.parametrize(("spike_week", "expected"), [(9, 1), (None, 0)])
def test_trends_alerts_from_store(tmp_path: Path, spike_week: int | None, expected: int) -> None:
    with open_store(build_store(tmp_path / "s.duckdb", _weekly_rows(spike_week))) as st:
        found = alerts(st, period="week")
    assert len(found[found["metric"] == "volume"]) == expected
    if expected:
        assert found["key"].iloc[0] == "delivery"
        assert found["period"].iloc[0] == pd.Timestamp(date(2026, 1, 5) + timedelta(weeks=9))


def test_trends_period_change_tests_match_scipy() -> None:
    t = pd.concat([_series([40, 80], [10, 40], "delivery"), _series([50, 52], [10, 11], "pricing")])
    out = period_change(t, Settings(min_n=10)).set_index("key")
    d = out.loc["delivery"]
    assert d["rate_ratio"] == pytest.approx(2.0)
    assert d["p_volume"] == pytest.approx(sps.binomtest(80, 120, 0.5).pvalue)
    pooled = 50 / 120
    z = (0.5 - 0.25) / np.sqrt(pooled * (1 - pooled) * (1 / 80 + 1 / 40))
    assert d["p_neg"] == pytest.approx(2 * sps.norm.sf(z))
    assert d["p_neg_adj"] >= d["p_neg"]
    assert out.loc["pricing", "p_volume"] > 0.5


def test_trends_compare_groups_finds_the_unhappy_segment(tmp_path: Path) -> None:
    rows = [row(i, nps=2 + i % 3, segment="smb", sentiment="negative", csat=2) for i in range(60)]
    rows += [row(100 + i, nps=8 + i % 3, segment="b2c", csat=5) for i in range(60)]
    rows += [row(200 + i, nps=8 + i % 3, segment="vip", csat=4 + i % 2) for i in range(60)]
    with open_store(build_store(tmp_path / "s.duckdb", rows)) as st:
        out = compare_groups(st, dimension="segment")
        none = compare_groups(st, Filters(segments=("b2c", "vip")), dimension="segment")
    nps = out[out["metric"] == "nps"].set_index("key")
    assert nps.loc["smb", "significant"] and nps.loc["smb", "diff"] < -50
    assert nps.loc["smb", "rest"] == pytest.approx(
        100 * 80 / 120
    )  # 8, 9, 10 cycling: 2/3 promoters
    assert not none[none["metric"] == "nps"]["significant"].any()


@pytest.mark.parametrize(
    ("p", "expected"),
    [
        ([0.01, 0.04, 0.03], [0.03, 0.06, 0.06]),
        ([0.5, float("nan"), 0.01], [0.5, float("nan"), 0.02]),
    ],
)
def test_trends_holm_adjustment_by_hand(p: list[float], expected: list[float]) -> None:
    from cx_text.analytics.stats import holm

    np.testing.assert_allclose(holm(p), expected)
