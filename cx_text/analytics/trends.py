"""Topic trends by week/month, spike alerts, period-over-period change and group comparison.

* :func:`topic_trends` — per topic and period: volume, negative mentions, negative share (Wilson),
  share of all messages; empty periods are filled with zeros.
* :func:`detect_alerts` — a spike beyond what the previous ``window`` periods predict: robust
  z-score (rolling median, 1.4826·MAD, floored at the Poisson/binomial standard error) AND an exact
  one-sided test (p < 0.001) against the trailing rate (Poisson for volume, binomial for negative
  share).
* :func:`period_change` — latest period vs the one before: Poisson rate test on volume per day
  observed, two-proportion z-test on negative share, Holm-adjusted across topics.
* :func:`compare_groups` — every segment (or channel, language …) vs the rest: NPS (z on the
  multinomial variances), CSAT and % negative (two-proportion), CES (Welch), Holm-adjusted.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from cx_text.analytics import stats
from cx_text.analytics.filters import (
    Filters,
    mentions_cte,
    period_expr,
    run_query,
)
from cx_text.analytics.metrics import group_counts
from cx_text.core.config import Settings

ALERT_COLUMNS = ["period", "key", "metric", "value", "expected", "z", "p_value", "n", "message"]


def topic_trends(
    store: Any,
    filters: Filters | None = None,
    settings: Settings | None = None,
    period: str = "week",
    level: str = "topic",
) -> pd.DataFrame:
    """Long frame ``period, key, volume, n_neg, total, days, neg_share(+lo/hi), volume_share,
    low_n``."""
    settings, filters = settings or Settings(), filters or Filters()
    pe = period_expr(period)
    ctes = (
        mentions_cte(store, level, filters),
        f"span AS (SELECT min({pe}) AS lo, max({pe}) AS hi, CAST(min(created_at) AS DATE) AS d0, "
        "CAST(max(created_at) AS DATE) AS d1 FROM base)",
        "periods AS (SELECT CAST(unnest(range(CAST(lo AS TIMESTAMP), CAST(hi AS TIMESTAMP) + "
        "INTERVAL 1 DAY, "
        f"INTERVAL 1 {period})) AS DATE) AS period FROM span WHERE lo IS NOT NULL)",
        f"totals AS (SELECT {pe} AS period, count(*) AS total FROM base GROUP BY 1)",
        f"counts AS (SELECT {pe} AS period, topic, count(*) AS volume, count_if(neg) AS n_neg "
        "FROM mentions GROUP BY ALL)",
    )
    body = f"""SELECT p.period, t.topic AS key, coalesce(c.volume, 0) AS volume,
      coalesce(c.n_neg, 0) AS n_neg, coalesce(tt.total, 0) AS total,
      date_diff('day', greatest(p.period, s.d0), least(CAST(p.period + INTERVAL 1 {period} AS \
DATE) - 1, s.d1)) + 1 AS days
    FROM periods p CROSS JOIN (SELECT DISTINCT topic FROM counts) t CROSS JOIN span s
    LEFT JOIN counts c ON c.period = p.period AND c.topic = t.topic
    LEFT JOIN totals tt ON tt.period = p.period ORDER BY key, p.period"""
    out = run_query(store, filters, body, *ctes)
    out[["volume", "n_neg", "total", "days"]] = out[["volume", "n_neg", "total", "days"]].astype(
        "int64"
    )
    share, lo, hi = stats.wilson(out["n_neg"], out["volume"])
    out["period"] = pd.to_datetime(out["period"])
    out["neg_share"], out["neg_share_lo"], out["neg_share_hi"] = 100 * share, 100 * lo, 100 * hi
    out["volume_share"] = 100 * stats.wilson(out["volume"], out["total"])[0]
    out["low_n"] = out["volume"] < settings.min_n
    return out


def detect_alerts(
    trends: pd.DataFrame,
    settings: Settings | None = None,
    window: int = 8,
    min_history: int = 4,
    z_threshold: float = 4.0,
    alpha: float = 0.001,
    min_count: int = 10,
) -> pd.DataFrame:
    """Spikes in volume or negative share per topic and period (see the module docstring)."""
    settings = settings or Settings()
    found: list[pd.DataFrame] = []
    for key, series in trends.sort_values(["key", "period"]).groupby("key", sort=True):
        s = series.reset_index(drop=True)
        vol = _volume_alerts(s, window, min_history, z_threshold, alpha, min_count)
        neg = _share_alerts(s, window, min_history, z_threshold, alpha, settings.min_n)
        found.extend(f.assign(key=key) for f in (vol, neg) if len(f))
    if not found:
        return pd.DataFrame(columns=ALERT_COLUMNS)
    out: pd.DataFrame = pd.concat(found, ignore_index=True)
    out["message"] = [_message(r) for r in out.itertuples()]
    return out[ALERT_COLUMNS].sort_values(["period", "key"], ignore_index=True)


def _history(x: np.ndarray[Any, Any], window: int) -> np.ndarray[Any, Any]:
    """Row t = the ``window`` values before t (NaN-padded)."""
    padded = np.concatenate([np.full(window, np.nan), x.astype("float64")])
    return np.lib.stride_tricks.sliding_window_view(padded, window)[: len(x)]


def _volume_alerts(
    s: pd.DataFrame, window: int, min_history: int, z_thr: float, alpha: float, min_count: int
) -> pd.DataFrame:
    x = s["volume"].to_numpy(dtype="float64")
    hist = _history(x, window)
    enough = np.sum(~np.isnan(hist), axis=1) >= min_history
    with stats.quiet():
        med, rate = np.nanmedian(hist, axis=1), np.nanmean(hist, axis=1)
    z, _ = stats.robust_z(x, hist, np.sqrt(np.maximum(np.nan_to_num(med), 1.0)))
    p = sps.poisson.sf(x - 1, np.maximum(np.nan_to_num(rate), 0.5))
    hit = enough & (x >= min_count) & (z >= z_thr) & (p < alpha)
    return pd.DataFrame(
        {
            "period": s["period"],
            "metric": "volume",
            "value": x,
            "expected": med,
            "z": z,
            "p_value": p,
            "n": x,
        }
    )[hit]


def _share_alerts(
    s: pd.DataFrame, window: int, min_history: int, z_thr: float, alpha: float, min_n: int
) -> pd.DataFrame:
    vol, neg = s["volume"].to_numpy(dtype="float64"), s["n_neg"].to_numpy(dtype="float64")
    with stats.quiet():
        share = np.where(vol > 0, neg / np.maximum(vol, 1), np.nan)
        hist, hv, hn = _history(share, window), _history(vol, window), _history(neg, window)
        p0 = np.nansum(hn, axis=1) / np.nansum(hv, axis=1)
    enough = np.sum(~np.isnan(hist), axis=1) >= min_history
    p0c = np.clip(np.nan_to_num(p0), 0.01, 0.99)
    z, med = stats.robust_z(share, hist, np.sqrt(p0c * (1 - p0c) / np.maximum(vol, 1)))
    p = sps.binom.sf(neg - 1, vol.astype("int64"), np.clip(np.nan_to_num(p0), 1e-9, 1))
    hit = enough & (vol >= min_n) & (z >= z_thr) & (p < alpha)
    return pd.DataFrame(
        {
            "period": s["period"],
            "metric": "neg_share",
            "value": 100 * share,
            "expected": 100 * med,
            "z": z,
            "p_value": p,
            "n": vol,
        }
    )[hit]


def _message(r: Any) -> str:
    when = pd.Timestamp(r.period).date().isoformat()
    if r.metric == "volume":
        what = f"volume {r.value:.0f} vs ~{r.expected:.0f} expected"
    else:
        what = f"negative share {r.value:.0f}% vs ~{r.expected:.0f}% expected (n={r.n:.0f})"
    return f"{r.key}: {what} in the period from {when} (robust z={r.z:.1f}, p={r.p_value:.1g})"


def alerts(
    store: Any,
    filters: Filters | None = None,
    settings: Settings | None = None,
    period: str = "week",
    level: str = "topic",
    **options: Any,
) -> pd.DataFrame:
    """``detect_alerts(topic_trends(…))`` in one call."""
    trends = topic_trends(store, filters, settings, period, level)
    return detect_alerts(trends, settings, **options)


def period_change(
    trends: pd.DataFrame,
    settings: Settings | None = None,
    current: pd.Timestamp | str | None = None,
) -> pd.DataFrame:
    """Per topic: ``current`` period (default: the latest) vs the period before it."""
    settings = settings or Settings()
    periods = sorted(trends["period"].unique())
    if len(periods) < 2:
        return pd.DataFrame()
    cur = pd.Timestamp(current) if current is not None else pd.Timestamp(periods[-1])
    prev = max((p for p in periods if p < cur), default=None)
    if prev is None:
        return pd.DataFrame()
    a = trends[trends["period"] == prev].set_index("key")
    b = trends[trends["period"] == cur].set_index("key").reindex(a.index)
    rate = stats.poisson_rate_test(b["volume"], b["days"], a["volume"], a["days"])
    test = stats.two_proportions(b["n_neg"], b["volume"], a["n_neg"], a["volume"])
    out = pd.DataFrame(
        {
            "key": a.index,
            "previous": pd.Timestamp(prev),
            "current": cur,
            "volume_prev": a["volume"].to_numpy(),
            "volume_cur": b["volume"].to_numpy(),
            "rate_ratio": rate["ratio"],
            "p_volume": rate["p_value"],
            "neg_share_prev": 100 * test["p2"],
            "neg_share_cur": 100 * test["p1"],
            "diff": 100 * test["diff"],
            "lo": 100 * test["lo"],
            "hi": 100 * test["hi"],
            "p_neg": test["p_value"],
        }
    )
    out["p_volume_adj"], out["p_neg_adj"] = stats.holm(out["p_volume"]), stats.holm(out["p_neg"])
    out["low_n"] = np.minimum(out["volume_prev"], out["volume_cur"]) < settings.min_n
    return out.reset_index(drop=True)


def compare_groups(
    store: Any,
    filters: Filters | None = None,
    settings: Settings | None = None,
    dimension: str = "segment",
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Each group of ``dimension`` vs all other filtered messages, with Holm-adjusted p-values."""
    settings = settings or Settings()
    g = group_counts(store, dimension, filters)
    if g.empty:
        return pd.DataFrame()
    tot = group_counts(store, "overall", filters).iloc[0]
    r = {c: tot[c] - g[c] for c in g.columns if c not in ("key", "n_all", "n_topic_neg")}
    frames = [
        _compare_nps(g, r),
        _compare_share(g, r, "csat", "sat", "n_csat"),
        _compare_share(g, r, "neg_share", "n_neg", "n_sent"),
        _compare_ces(g, r),
    ]
    out = pd.concat(frames, ignore_index=True)
    out.insert(0, "dimension", dimension)
    out["low_n"] = np.minimum(out["n"], out["n_rest"]) < settings.min_n
    out["p_adj"] = out.groupby("metric")["p_value"].transform(lambda p: stats.holm(p.to_numpy()))
    out["significant"] = (out["p_adj"] < alpha) & ~out["low_n"]
    return out


def _frame(
    g: pd.DataFrame,
    metric: str,
    value: Any,
    rest: Any,
    test: dict[str, Any],
    scale: float,
    n: Any,
    n_rest: Any,
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "key": g["key"],
            "metric": metric,
            "value": value,
            "rest": rest,
            "diff": scale * test["diff"],
            "lo": scale * test["lo"],
            "hi": scale * test["hi"],
            "p_value": test["p_value"],
            "n": np.asarray(n, dtype="int64"),
            "n_rest": np.asarray(n_rest, dtype="int64"),
        }
    )


def _compare_nps(g: pd.DataFrame, r: dict[str, Any]) -> pd.DataFrame:
    v1, v2 = (
        stats.nps(g["pro"], g["det"], g["n_nps"])[0],
        stats.nps(r["pro"], r["det"], r["n_nps"])[0],
    )
    test = stats.z_diff(
        (v1 - v2) / 100,
        stats.nps_variance(g["pro"], g["det"], g["n_nps"]),
        stats.nps_variance(r["pro"], r["det"], r["n_nps"]),
    )
    return _frame(g, "nps", v1, v2, test, 100, g["n_nps"], r["n_nps"])


def _compare_share(g: pd.DataFrame, r: dict[str, Any], metric: str, k: str, n: str) -> pd.DataFrame:
    test = stats.two_proportions(g[k], g[n], r[k], r[n])
    return _frame(g, metric, 100 * test["p1"], 100 * test["p2"], test, 100, g[n], r[n])


def _compare_ces(g: pd.DataFrame, r: dict[str, Any]) -> pd.DataFrame:
    m1, m2 = (
        stats.mean_t(g["ces_sum"], g["ces_sumsq"], g["n_ces"])[0],
        stats.mean_t(r["ces_sum"], r["ces_sumsq"], r["n_ces"])[0],
    )
    v1 = stats.sample_variance(g["ces_sum"], g["ces_sumsq"], g["n_ces"])
    v2 = stats.sample_variance(r["ces_sum"], r["ces_sumsq"], r["n_ces"])
    test = stats.welch(m1, v1, g["n_ces"], m2, v2, r["n_ces"])
    return _frame(g, "ces", m1, m2, test, 1, g["n_ces"], r["n_ces"])
