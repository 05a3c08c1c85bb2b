"""The numbers of a team report, one function per section (DuckDB aggregates in, small frames out).

* :func:`headline` — company NPS and, per topic the team owns: mentions, complaints as % of all
  feedback, % negative mentions, NPS of the writers, NPS impact — each vs the previous period with
  a test (Poisson rate test for volume, two-proportion z for shares, z on the multinomial variances
  for NPS, z on bootstrap standard errors for impact).
* :func:`team_themes` — the team's themes (or sub-topics / topics when themes were not discovered)
  ranked by NPS impact in the period, with volume change, weekly sparkline data and quotes.
* :func:`weekly_series` — weekly complaint share and company NPS for the trend charts.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from cx_text.analytics import stats
from cx_text.analytics.filters import Filters, mentions_cte, with_base
from cx_text.analytics.metrics import FORMULAS, IMPACT_FORMULA, group_counts, metrics_by
from cx_text.analytics.trends import topic_trends
from cx_text.core.config import Settings
from cx_text.loop.measure import impact_points
from cx_text.store.store import Store

HEADLINE_COLUMNS = [
    "metric",
    "label",
    "value",
    "lo",
    "hi",
    "n",
    "previous",
    "change",
    "p_value",
    "unit",
    "formula",
]
THEME_COLUMNS = [
    "key",
    "label",
    "topic",
    "volume",
    "volume_prev",
    "impact",
    "impact_lo",
    "impact_hi",
    "impact_n",
    "low_n",
    "spark",
    "quotes",
]
SPARK_WEEKS = 13
IMPACT_DRAWS = 1000
QUOTE_MIN, QUOTE_MAX = 15, 220


def headline(
    store: Store,
    topics: Sequence[str],
    cur: Filters,
    prev: Filters,
    days: tuple[int, int],
    settings: Settings,
) -> pd.DataFrame:
    """One row per headline metric: current value with CI, previous value, change and p-value."""
    oc, op = (group_counts(store, "overall", f) for f in (cur, prev))
    tc, tp = (group_counts(store, "topic", f).set_index("key") for f in (cur, prev))
    rows = [_nps_row("nps", "Company NPS (all answers)", _first(oc), _first(op), FORMULAS["nps"])]
    for topic in topics:
        c, p = _row(tc, topic), _row(tp, topic)
        rows += [
            _volume_row(topic, c, p, days),
            _share_row(
                "complaint_share",
                f"Complaints about {topic}, % of all feedback",
                c["n_topic_neg"],
                c["n_all"],
                p["n_topic_neg"],
                p["n_all"],
                "negative mentions of the topic / all messages; Wilson 95% CI",
            ),
            _share_row(
                "topic_neg_share",
                f"% negative mentions of {topic}",
                c["n_topic_neg"],
                c["n"],
                p["n_topic_neg"],
                p["n"],
                FORMULAS["topic_neg_share"],
            ),
            _nps_row("topic_nps", f"NPS of customers mentioning {topic}", c, p, FORMULAS["nps"]),
        ]
        rows.append(_impact_row(store, topic, cur, prev, settings))
    return pd.DataFrame(rows, columns=HEADLINE_COLUMNS)


def _first(frame: pd.DataFrame) -> pd.Series:
    return frame.iloc[0] if len(frame) else pd.Series(dtype="float64")


def _row(frame: pd.DataFrame, key: str) -> pd.Series:
    out: dict[str, Any] = {c: 0.0 for c in ("n", "n_all", "n_nps", "pro", "det", "n_topic_neg")}
    if key in frame.index:
        out.update({str(k): v for k, v in frame.loc[key].to_dict().items() if pd.notna(v)})
    return pd.Series(out)


def _get(row: pd.Series, key: str) -> float:
    return float(row.get(key, 0.0) or 0.0)


def _volume_row(topic: str, c: pd.Series, p: pd.Series, days: tuple[int, int]) -> dict[str, Any]:
    test = stats.poisson_rate_test(_get(c, "n"), days[0], _get(p, "n"), days[1])
    return {
        "metric": "volume",
        "label": f"Messages mentioning {topic}",
        "value": _get(c, "n"),
        "lo": np.nan,
        "hi": np.nan,
        "n": _get(c, "n"),
        "previous": _get(p, "n"),
        "change": _get(c, "n") - _get(p, "n"),
        "p_value": float(test["p_value"]),
        "unit": "messages",
        "formula": "messages mentioning the topic; change: Poisson rate test per day",
    }


def _share_row(
    metric: str, label: str, k1: Any, n1: Any, k0: Any, n0: Any, formula: str
) -> dict[str, Any]:
    value, lo, hi = stats.wilson(k1, n1)
    test = stats.two_proportions(k1, n1, k0, n0)
    return {
        "metric": metric,
        "label": label,
        "value": 100 * float(value),
        "lo": 100 * float(lo),
        "hi": 100 * float(hi),
        "n": float(n1),
        "previous": 100 * float(test["p2"]),
        "change": 100 * float(test["diff"]),
        "p_value": float(test["p_value"]),
        "unit": "%",
        "formula": formula + "; change: two-proportion z-test",
    }


def _nps_row(metric: str, label: str, c: pd.Series, p: pd.Series, formula: str) -> dict[str, Any]:
    value, lo, hi = stats.nps(_get(c, "pro"), _get(c, "det"), _get(c, "n_nps"))
    prev = stats.nps(_get(p, "pro"), _get(p, "det"), _get(p, "n_nps"))[0]
    test = stats.z_diff(
        float(value - prev) / 100,
        stats.nps_variance(_get(c, "pro"), _get(c, "det"), _get(c, "n_nps")),
        stats.nps_variance(_get(p, "pro"), _get(p, "det"), _get(p, "n_nps")),
    )
    return {
        "metric": metric,
        "label": label,
        "value": float(value),
        "lo": float(lo),
        "hi": float(hi),
        "n": _get(c, "n_nps"),
        "previous": float(prev),
        "change": float(value - prev),
        "p_value": float(test["p_value"]),
        "unit": "points",
        "formula": formula + "; change: z-test on the multinomial variances",
    }


def _impact_row(
    store: Store, topic: str, cur: Filters, prev: Filters, settings: Settings
) -> dict[str, Any]:
    now_ = key_impacts(store, "topic", cur, [topic], settings)
    before = key_impacts(store, "topic", prev, [topic], settings)
    c, p = now_.iloc[0], before.iloc[0]
    se = [(r["hi"] - r["lo"]) / (2 * stats.z_value()) for r in (c, p)]
    test = stats.z_diff(c["value"] - p["value"], se[0] ** 2, se[1] ** 2)
    return {
        "metric": "impact",
        "label": f"NPS impact of {topic} complaints",
        "value": c["value"],
        "lo": c["lo"],
        "hi": c["hi"],
        "n": c["n"],
        "previous": p["value"],
        "change": c["value"] - p["value"],
        "p_value": float(test["p_value"]),
        "unit": "points",
        "formula": IMPACT_FORMULA + "; change: z-test on the bootstrap standard errors",
    }


_IMPACT_SQL = """SELECT key, bucket, count(*) AS n FROM (
  SELECT DISTINCT m.topic AS key, m.source, m.id, {bucket} AS bucket FROM mentions m
  WHERE m.neg AND m.nps IS NOT NULL AND m.topic IN (SELECT unnest($keys))) GROUP BY ALL
UNION ALL SELECT '*' AS key, {bucket} AS bucket, count(*) AS n FROM base b WHERE nps IS NOT NULL \
GROUP BY ALL"""
_BUCKET = "CASE WHEN nps >= 9 THEN 0 WHEN nps >= 7 THEN 1 ELSE 2 END"


def key_impacts(
    store: Store,
    level: str,
    filters: Filters,
    keys: Sequence[str],
    settings: Settings,
    draws: int = IMPACT_DRAWS,
) -> pd.DataFrame:
    """NPS impact (points, bootstrap CI) of only ``keys`` — cheaper than impact over every theme."""
    sql, params = with_base(
        store, filters, _IMPACT_SQL.format(bucket=_BUCKET), mentions_cte(store, level, filters)
    )
    counts = store.con.execute(sql, {**params, "keys": list(keys)}).df()
    total = _buckets(counts, "*")
    rng = np.random.default_rng(settings.seed)
    rows = []
    for key in keys:
        members = _buckets(counts, key)
        cells = np.stack([total - members, members])  # [member, bucket]
        boot = stats.resample_counts(cells.ravel(), draws, rng).reshape(draws, 2, 3)
        lo, hi = stats.percentile_ci(impact_points(boot))
        n = int(members.sum())
        rows.append(
            {
                "key": key,
                "value": float(impact_points(cells)),
                "lo": float(lo),
                "hi": float(hi),
                "n": n,
                "low_n": n < settings.min_n,
            }
        )
    return pd.DataFrame(rows, columns=["key", "value", "lo", "hi", "n", "low_n"])


def _buckets(counts: pd.DataFrame, key: str) -> np.ndarray:
    """Promoter, passive, detractor counts of one key."""
    out = np.zeros(3)
    rows = counts[counts["key"] == key]
    np.add.at(out, rows["bucket"].to_numpy(dtype="int64"), rows["n"].to_numpy(dtype="float64"))
    return out


def theme_level(store: Store, topics: Sequence[str]) -> str:
    """``theme`` when live themes exist for the topics, else ``subtopic`` if tagged, else
    ``topic``."""
    row = store.con.execute(
        "SELECT count(*) FROM themes WHERE status IN ('active', 'proposed') "
        "AND topic IN (SELECT unnest($t))",
        {"t": list(topics)},
    ).fetchone()
    if row and row[0]:
        return "theme"
    row = store.con.execute("SELECT count(*) FROM latest_tags WHERE len(subtopics) > 0").fetchone()
    return "subtopic" if row and row[0] else "topic"


def _keys(store: Store, level: str, topics: Sequence[str]) -> pd.DataFrame:
    if level == "theme":
        return store.con.execute(
            "SELECT theme_id AS key, label, topic FROM themes WHERE status IN "
            "('active', 'proposed') AND topic IN (SELECT unnest($t)) ORDER BY "
            "theme_id",
            {"t": list(topics)},
        ).df()
    if level == "subtopic":
        subs = store.con.execute("SELECT DISTINCT unnest(subtopics) AS key FROM latest_tags").df()
        subs = subs[subs["key"].str.split("/").str[0].isin(list(topics))].sort_values("key")
        return subs.assign(label=subs["key"], topic=subs["key"].str.split("/").str[0])
    return pd.DataFrame({"key": list(topics), "label": list(topics), "topic": list(topics)})


def team_themes(
    store: Store,
    topics: Sequence[str],
    cur: Filters,
    prev: Filters,
    settings: Settings,
    top: int = 10,
) -> tuple[str, pd.DataFrame]:
    """(level, frame of THEME_COLUMNS) — the team's themes in the period, worst NPS impact first."""
    level = theme_level(store, topics)
    keys = _keys(store, level, topics)
    if keys.empty:
        return level, pd.DataFrame(columns=THEME_COLUMNS)
    vol = _volumes(store, level, cur).rename("volume")
    vol_prev = _volumes(store, level, prev).rename("volume_prev")
    frame = (
        keys.join(vol, on="key").join(vol_prev, on="key").fillna({"volume": 0, "volume_prev": 0})
    )
    frame = frame[frame["volume"] > 0]
    imp = key_impacts(store, level, cur, frame["key"].tolist(), settings).set_index("key")
    frame = frame.join(imp.add_prefix("impact_"), on="key").rename(
        columns={"impact_value": "impact", "impact_low_n": "low_n"}
    )
    frame = frame.sort_values(
        ["impact", "volume"], ascending=[True, False], na_position="last"
    ).head(top)
    frame["spark"] = _sparks(store, level, cur, frame["key"].tolist())
    frame["quotes"] = _quotes(store, level, cur, frame["key"].tolist())
    return level, frame.reindex(columns=THEME_COLUMNS).reset_index(drop=True)


def _volumes(store: Store, level: str, filters: Filters) -> pd.Series:
    counts = group_counts(store, level, filters)
    return (
        counts.set_index("key")["n_topic_neg"].astype("float64")
        if len(counts)
        else pd.Series(dtype="float64")
    )


def _sparks(store: Store, level: str, cur: Filters, keys: list[str]) -> list[list[float]]:
    """Complaints per week (a partial first/last week scaled to 7 days) over the last 13 weeks."""
    assert cur.end is not None
    start = cur.end - timedelta(weeks=SPARK_WEEKS) + timedelta(days=1)
    trends = topic_trends(store, Filters(start=start, end=cur.end), period="week", level=level)
    trends = trends.assign(rate=7 * trends["n_neg"] / trends["days"].where(trends["days"] > 0))
    series = {
        k: g.sort_values("period")["rate"].fillna(0.0).round(1).tolist()
        for k, g in trends.groupby("key")
    }
    return [series.get(k, []) for k in keys]


_QUOTE_SQL = {
    "theme": """SELECT m.theme_id AS key, m.clause, m.similarity AS score FROM theme_memberships m
      JOIN feedback f USING (run_id, id) WHERE m.theme_id IN (SELECT unnest($keys))
      AND f.created_at >= CAST($s AS TIMESTAMP) AND f.created_at < CAST($e AS TIMESTAMP)""",
    "subtopic": """SELECT s.key, e.clause, -abs(length(e.clause) - 80) AS score FROM \
latest_evidence e
      JOIN (SELECT run_id, id, unnest(subtopics) AS key FROM latest_tags) s USING (run_id, id)
      JOIN latest_aspects a ON a.run_id = e.run_id AND a.id = e.id AND a.topic = e.topic
        AND a.polarity = 'negative'
      JOIN feedback f ON f.run_id = e.run_id AND f.id = e.id WHERE s.key IN (SELECT unnest($keys))
      AND split_part(s.key, '/', 1) = e.topic
      AND f.created_at >= CAST($s AS TIMESTAMP) AND f.created_at < CAST($e AS TIMESTAMP)""",
    "topic": """SELECT e.topic AS key, e.clause, -abs(length(e.clause) - 80) AS score FROM \
latest_evidence e
      JOIN latest_aspects a ON a.run_id = e.run_id AND a.id = e.id AND a.topic = e.topic
        AND a.polarity = 'negative'
      JOIN feedback f ON f.run_id = e.run_id AND f.id = e.id WHERE e.topic IN (SELECT unnest($keys))
      AND f.created_at >= CAST($s AS TIMESTAMP) AND f.created_at < CAST($e AS TIMESTAMP)""",
}


def _quotes(
    store: Store, level: str, cur: Filters, keys: list[str], per_key: int = 2
) -> list[list[str]]:
    """Representative clauses from the period: best-scored, 15–220 characters, no repeats."""
    assert cur.start is not None and cur.end is not None
    sql = (
        f"SELECT * FROM ({_QUOTE_SQL[level]}) WHERE length(clause) BETWEEN {QUOTE_MIN} AND "
        f"{QUOTE_MAX} QUALIFY row_number() OVER (PARTITION BY key ORDER BY score DESC, clause) "
        f"<= 12"
    )
    rows = store.con.execute(
        sql, {"keys": keys, "s": _day(cur.start), "e": _day(cur.end + timedelta(days=1))}
    ).df()
    picked: dict[str, list[str]] = {}
    for key, group in rows.groupby("key", sort=False):
        seen: list[str] = []
        for clause in group.sort_values("score", ascending=False)["clause"]:
            if clause.strip().lower() not in {s.lower() for s in seen}:
                seen.append(clause.strip())
            if len(seen) == per_key:
                break
        picked[str(key)] = seen
    return [picked.get(k, []) for k in keys]


def _day(day: date) -> str:
    return f"{day.isoformat()} 00:00:00"


def weekly_series(
    store: Store, topics: Sequence[str], end: date, weeks: int = 26
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(complaint share of all feedback per team topic and week, company NPS per week)."""
    filters = Filters(start=end - timedelta(weeks=weeks) + timedelta(days=1), end=end)
    trends = topic_trends(store, filters, period="week", level="topic")
    share = trends[trends["key"].isin(list(topics))].copy()
    share["complaint_share"] = 100 * share["n_neg"] / share["total"].where(share["total"] > 0)
    nps = metrics_by(store, "week", filters)
    nps = nps[nps["metric"] == "nps"].assign(
        period=lambda d: pd.to_datetime(d["key"]), key="Company NPS"
    )
    return share.reset_index(drop=True), nps.rename(columns={"value": "nps"}).assign(
        volume=lambda d: d["n"]
    ).reset_index(drop=True)
