"""What costs the score: remove-topic impact, Shapley key drivers, churn and revenue at risk.

* :func:`topic_impact` — Thematic's impact: score(all) − score(all without the responses that
  mention the topic negatively), for NPS, CSAT and CES, with seeded bootstrap CIs computed by
  resampling cell counts (cost independent of the number of rows).
* :func:`key_drivers` — exact Shapley decomposition of the R² of a linear model of the score on
  "mentioned topic X negatively" flags, from the weighted covariance matrix of the distinct
  patterns; bootstrap CIs by resampling the pattern counts.
* :func:`churn_and_revenue` — churn of customers who complained about a topic vs those who did
  not (two-proportion test), and LTV of detractors who complained about it.
"""

from __future__ import annotations

from itertools import combinations
from math import factorial
from typing import Any

import numpy as np
import pandas as pd

from cx_text.analytics import stats
from cx_text.analytics.filters import (
    AT_START,
    LOST,
    WINDOW,
    Filters,
    mentions_cte,
    run_query,
    with_base,
)
from cx_text.core.config import Settings
from cx_text.core.errors import ConfigError

DRAWS = 1000
SCORES = ("nps", "csat", "ces")
SHAPLEY_SENTENCE = (
    "Shapley shares split the R² of a linear model of the {score} score on 'mentioned topic "
    "negatively' flags fairly among the topics (each topic gets its average gain in R² over every "
    "order of adding topics), so overlapping complaints share credit; shares sum to R² = {r2:.3f}."
)


def _mentions(store: Any, level: str, filters: Filters) -> str:
    return mentions_cte(store, level, filters)


# -- remove-topic impact
# ----------------------------------------------------------------------------
def topic_impact(
    store: Any,
    filters: Filters | None = None,
    settings: Settings | None = None,
    level: str = "topic",
    draws: int = DRAWS,
) -> pd.DataFrame:
    """Impact of each topic on NPS, CSAT and CES (points / % points / 1–7 scale).

    Negative impact = the topic drags the score down (removing its complaints raises it).
    """
    settings, filters = settings or Settings(), filters or Filters()
    cells_sql = "SELECT nps, csat, ces, count(*) AS n FROM base GROUP BY ALL"
    neg_sql = "SELECT topic, nps, csat, ces, count(*) AS n FROM mentions WHERE neg GROUP BY ALL"
    sql, params = with_base(store, filters, cells_sql)
    cells = store.con.execute(sql, params).df()
    sql, params = with_base(store, filters, neg_sql, _mentions(store, level, filters))
    neg = store.con.execute(sql, params).df()
    rng = np.random.default_rng(settings.seed)
    frames = [
        _impact_one(cells, grp, topic, draws, rng) for topic, grp in neg.groupby("topic", sort=True)
    ]
    if not frames:
        return pd.DataFrame(
            columns=["dimension", "key", "metric", "value", "lo", "hi", "n", "low_n"]
        )
    out = pd.concat(frames, ignore_index=True)
    out.insert(0, "dimension", level)
    out["low_n"] = out["n"] < settings.min_n
    out["ci_method"] = f"bootstrap-percentile (B={draws}, seed={settings.seed})"
    return out


def _impact_one(
    cells: pd.DataFrame, neg: pd.DataFrame, topic: str, draws: int, rng: np.random.Generator
) -> pd.DataFrame:
    """Each score on its own answers: cells = score value × (mentions topic negatively or not)."""
    rows = []
    for score in SCORES:
        all_counts = cells.groupby(score)["n"].sum()
        k = (
            neg.groupby(score)["n"]
            .sum()
            .reindex(all_counts.index, fill_value=0)
            .to_numpy("float64")
        )
        counts = np.concatenate([k, all_counts.to_numpy("float64") - k])  # [negative | other]
        values = np.tile(all_counts.index.to_numpy("float64"), 2)
        rest = np.concatenate([np.zeros(len(k)), np.ones(len(k))])
        point_all = _score(counts[None, :], values, score)[0]
        point_rest = _score((counts * rest)[None, :], values, score)[0]
        boot = stats.resample_counts(counts, draws, rng)
        lo, hi = stats.percentile_ci(
            _score(boot, values, score) - _score(boot * rest, values, score)
        )
        rows.append(
            {
                "key": topic,
                "metric": f"{score}_impact",
                "value": point_all - point_rest,
                "lo": float(lo),
                "hi": float(hi),
                "n": int(k.sum()),
                "overall": point_all,
                "without": point_rest,
            }
        )
    return pd.DataFrame(rows)


def _score(
    counts: np.ndarray[Any, Any], values: np.ndarray[Any, Any], score: str
) -> np.ndarray[Any, Any]:
    """NPS (points), CSAT (%) or CES (mean) for each row of a ``draws × cells`` count matrix."""
    has = ~np.isnan(values)
    v = np.nan_to_num(values)
    n = counts @ has.astype("float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        if score == "nps":
            return np.asarray(100 * (counts @ (has & (v >= 9)) - counts @ (has & (v < 7))) / n)
        if score == "csat":
            return np.asarray(100 * (counts @ (has & (v >= 4))) / n)
        return np.asarray((counts @ (v * has)) / n)


# -- Shapley key drivers --------------------------------------------------------------------------
def key_drivers(
    store: Any,
    filters: Filters | None = None,
    settings: Settings | None = None,
    level: str = "topic",
    score: str = "nps",
    max_topics: int = 10,
    draws: int = 200,
) -> tuple[pd.DataFrame, str]:
    """Shapley shares of R² per topic (+ bootstrap CI) and the one-sentence explanation."""
    if score not in SCORES:
        raise ConfigError(f"unknown score {score!r}.", f"Use one of {', '.join(SCORES)}.")
    settings, filters = settings or Settings(), filters or Filters()
    patterns, topics = _patterns(store, filters, level, score, max_topics)
    x, y, w = _design(patterns, topics)
    out = shapley_frame(x, y, w, topics, draws, np.random.default_rng(settings.seed))
    out.insert(0, "dimension", level)
    out["low_n"] = out["n"] < settings.min_n
    r2 = float(out["shapley"].sum()) if len(out) else 0.0
    return out, SHAPLEY_SENTENCE.format(score=score.upper(), r2=r2)


def _patterns(
    store: Any, filters: Filters, level: str, score: str, max_topics: int
) -> tuple[pd.DataFrame, list[str]]:
    """``(y, mask, n)``: answers per score value × bitmask of the topics mentioned negatively.

    Only the ``max_topics`` topics with most negative answers are modelled. Messages without a
    negative mention (``mask = 0``) are the score's totals minus the flagged ones, so no join
    of every message is needed.
    """
    mentions = _mentions(store, level, filters)
    flagged = f"neg AND {score} IS NOT NULL"
    top = run_query(
        store,
        filters,
        f"SELECT topic, count(*) AS n FROM mentions WHERE {flagged} "
        f"GROUP BY topic ORDER BY n DESC, topic LIMIT {int(max_topics)}",
        mentions,
    )
    topics = sorted(top["topic"].astype(str))
    negs = run_query(
        store,
        filters,
        f"""SELECT y, mask, count(*) AS n FROM (SELECT source, id,
        any_value({score}) AS y, bit_or(CAST(1 AS BIGINT) << (list_position($topics, topic) - 1)) \
AS mask
        FROM mentions WHERE {flagged} AND list_contains($topics, topic) GROUP BY source, id) GROUP \
BY ALL""",
        mentions,
        params={"topics": topics},
    )
    totals = run_query(
        store,
        filters,
        f"SELECT {score} AS y, count(*) AS n FROM base WHERE {score} IS NOT NULL GROUP BY ALL",
    )
    hit = negs.groupby("y")["n"].sum().reindex(totals["y"], fill_value=0).to_numpy()
    clean = pd.DataFrame({"y": totals["y"], "mask": 0, "n": totals["n"].to_numpy() - hit})
    return pd.concat([negs, clean[clean["n"] > 0]], ignore_index=True), topics


def _design(patterns: pd.DataFrame, topics: list[str]) -> tuple[Any, Any, Any]:
    mask = patterns["mask"].to_numpy(dtype="int64")
    x = ((mask[:, None] >> np.arange(len(topics))) & 1).astype("float64")
    return x, patterns["y"].to_numpy(dtype="float64"), patterns["n"].to_numpy(dtype="float64")


def shapley_frame(
    x: Any, y: Any, w: Any, topics: list[str], draws: int, rng: np.random.Generator
) -> pd.DataFrame:
    """Shapley R² shares for weighted rows ``x`` (cells × topics), score ``y``, counts ``w``."""
    columns = ["key", "shapley", "share", "lo", "hi", "n"]
    if not topics or w.sum() < 3:
        return pd.DataFrame(columns=columns)
    point = shapley_r2(x, y, w[None, :])[0]
    boot = shapley_r2(x, y, stats.resample_counts(w, draws, rng)) if draws else point[None, :]
    lo, hi = stats.percentile_ci(boot)
    total = point.sum()
    return pd.DataFrame(
        {
            "key": topics,
            "shapley": point,
            "share": point / total if total > 0 else np.nan,
            "lo": lo,
            "hi": hi,
            "n": (w[:, None] * x).sum(axis=0).astype("int64"),
            "score_gap": _score_gap(x, y, w),
        }
    ).sort_values("shapley", ascending=False, ignore_index=True)


def _score_gap(x: Any, y: Any, w: Any) -> Any:
    """Mean score of responses flagged with the topic minus the mean of the others."""
    flagged, other = w[:, None] * x, w[:, None] * (1 - x)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (flagged.T @ y) / flagged.sum(axis=0) - (other.T @ y) / other.sum(axis=0)


def shapley_r2(x: Any, y: Any, weights: Any) -> np.ndarray[Any, Any]:
    """Exact Shapley values of R² (``draws × topics``) for each row of ``weights`` (draws ×
    cells)."""
    cxx, cxy, vy = _weighted_cov(
        np.asarray(x, dtype="float64"), np.asarray(y, dtype="float64"), weights
    )
    p = cxx.shape[1]
    r2 = _subset_r2(cxx, cxy, vy)
    phi = np.zeros((cxx.shape[0], p))
    for j in range(p):
        for size in range(p):
            wgt = factorial(size) * factorial(p - size - 1) / factorial(p)
            for subset in combinations([i for i in range(p) if i != j], size):
                mask = sum(1 << i for i in subset)
                phi[:, j] += wgt * (r2[mask | (1 << j)] - r2[mask])
    return phi


def _weighted_cov(x: Any, y: Any, weights: Any) -> tuple[Any, Any, Any]:
    weights = np.asarray(weights, dtype="float64")
    n = weights.sum(axis=1, keepdims=True)
    mx, my = (weights @ x) / n, (weights @ y)[:, None] / n
    cxx = (
        np.einsum("bc,ci,cj->bij", weights, x, x) / n[:, :, None] - mx[:, :, None] * mx[:, None, :]
    )
    cxy = (weights @ (x * y[:, None])) / n - mx * my
    vy = (weights @ (y * y)) / n[:, 0] - my[:, 0] ** 2
    return cxx, cxy, vy


def _subset_r2(cxx: Any, cxy: Any, vy: Any) -> dict[int, Any]:
    """R² of every subset of columns (bitmask -> draws), by batched normal equations."""
    p = cxx.shape[1]
    r2: dict[int, Any] = {0: np.zeros(cxx.shape[0])}
    for mask in range(1, 1 << p):
        idx = [i for i in range(p) if mask >> i & 1]
        sxx = cxx[:, idx][:, :, idx]
        ridge = 1e-10 * (np.trace(sxx, axis1=1, axis2=2) + 1e-12)
        sxx = sxx + ridge[:, None, None] * np.eye(len(idx))
        beta = np.linalg.solve(sxx, cxy[:, idx][:, :, None])[:, :, 0]
        with np.errstate(divide="ignore", invalid="ignore"):
            r2[mask] = np.where(vy > 0, np.einsum("bi,bi->b", beta, cxy[:, idx]) / vy, 0.0)
    return r2


# -- churn and revenue at risk
# ----------------------------------------------------------------------
def churn_and_revenue(
    store: Any,
    filters: Filters | None = None,
    settings: Settings | None = None,
    level: str = "topic",
) -> pd.DataFrame:
    """Per topic: churn of complainers vs the rest (two-proportion) and LTV of detractors.

    Cohort: customers who wrote in the filtered messages and were active at the window start;
    *complained* = mentioned the topic negatively in the window. Revenue at risk = LTV of
    not-yet-churned customers who gave 0–6 on a message mentioning the topic negatively.
    """
    settings, filters = settings or Settings(), filters or Filters()
    cohort = (
        f"cohort AS (SELECT c.customer_id, {LOST.format(s='win.ws', e='win.we')} AS lost FROM "
        f"customers c "
        f"CROSS JOIN win WHERE c.customer_id IN (SELECT customer_id FROM base) AND "
        f"{AT_START.format(s='win.ws')})"
    )
    body = """SELECT m.topic AS key, count(k.customer_id) AS n1, count_if(k.lost) AS lost1,
      (SELECT count(*) FROM cohort) AS n_all, (SELECT count_if(lost) FROM cohort) AS lost_all
      FROM (SELECT DISTINCT topic, customer_id FROM mentions WHERE neg) m
      LEFT JOIN cohort k USING (customer_id) GROUP BY m.topic ORDER BY m.topic"""
    churn = run_query(store, filters, body, _mentions(store, level, filters), WINDOW, cohort)
    test = stats.two_proportions(
        churn["lost1"],
        churn["n1"],
        churn["lost_all"] - churn["lost1"],
        churn["n_all"] - churn["n1"],
    )
    out = pd.DataFrame(
        {
            "dimension": level,
            "key": churn["key"],
            "customers": churn["n1"],
            "churn_complained": 100 * test["p1"],
            "churn_other": 100 * test["p2"],
            "diff": 100 * test["diff"],
            "lo": 100 * test["lo"],
            "hi": 100 * test["hi"],
            "p_value": test["p_value"],
        }
    )
    out["low_n"] = out["customers"] < settings.min_n
    return out.merge(_revenue(store, filters, level), on="key", how="left")


def _revenue(store: Any, filters: Filters, level: str) -> pd.DataFrame:
    body = """SELECT d.topic AS key, count(*) AS detractors,
      coalesce(sum(c.ltv) FILTER (c.churned_at IS NULL OR c.churned_at > win.we), 0) AS \
revenue_at_risk,
      coalesce(sum(c.ltv) FILTER (c.churned_at <= win.we), 0) AS revenue_lost
      FROM (SELECT DISTINCT topic, customer_id FROM mentions WHERE neg AND nps < 7
            AND customer_id IS NOT NULL) d LEFT JOIN customers c USING (customer_id) CROSS JOIN win
      GROUP BY d.topic"""
    return run_query(store, filters, body, _mentions(store, level, filters), WINDOW)
