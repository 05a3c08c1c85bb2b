"""CX metrics with confidence intervals, overall or by a dimension — aggregated in DuckDB SQL.

The result of :func:`metrics_by` is a *long* frame, one row per group × metric::

    dimension, key, metric, value, lo, hi, n, low_n, unit, ci_method

``n`` is the number of answers the metric is computed on; ``low_n`` marks groups with fewer than
``Settings.min_n`` of them (show them greyed out or not at all — they are noise). Formulas and
methods are in :data:`FORMULAS` and ``docs/METRICS.md``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cx_text.analytics import stats
from cx_text.analytics.filters import (
    AT_START,
    LOST,
    PERIODS,
    TOPIC_DIMENSIONS,
    WINDOW,
    Filters,
    check_dimension,
    keyed_ctes,
    period_expr,
    require_theme_table,
    run_query,
)
from cx_text.core.config import Settings
from cx_text.core.errors import StoreError

#: impact of a topic or theme on a score, as Thematic defines it (one wording for app, CLI, reports)
IMPACT_FORMULA = (
    "impact = score(all answers) − score(all answers without the messages that mention "
    "it negatively); negative = it costs points; 95% percentile bootstrap CI"
)
FORMULAS: dict[str, str] = {
    "volume": "messages in the group (a message counts once in each of its topics)",
    "volume_share": "group messages / all filtered messages, Wilson 95% CI",
    "nps": (
        "NPS = % promoters (9–10) − % detractors (0–6) of 0–10 answers; 95% CI "
        "±1.96·√((p₉₋₁₀+p₀₋₆−NPS²)/n) (multinomial)"
    ),
    "csat": "CSAT = % of 1–5 answers that are 4 or 5; Wilson 95% CI",
    "ces": "CES = mean of 1–7 ease answers (7 = easiest); Student-t 95% CI",
    "neg_share": (
        "% negative = messages with sentiment 'negative' / messages with a sentiment; Wilson 95% CI"
    ),
    "topic_neg_share": (
        "topic negative share = mentions of the topic that are negative / all its mentions; "
        "Wilson 95% CI"
    ),
    "churn_rate": (
        "churn = customers lost in the period / customers active at its start (customers table); "
        "Wilson 95% CI"
    ),
    "ltv": "LTV = sum of the customers' LTV (a total, no CI)",
    "customers": "distinct customers who wrote in the group",
}
_UNITS = {
    "volume": "count",
    "volume_share": "%",
    "nps": "points",
    "csat": "%",
    "ces": "1–7",
    "neg_share": "%",
    "topic_neg_share": "%",
    "churn_rate": "%",
    "ltv": "sum",
    "customers": "count",
}
_METHODS = {
    "volume": "count",
    "volume_share": "wilson",
    "nps": "multinomial-wald",
    "csat": "wilson",
    "ces": "student-t",
    "neg_share": "wilson",
    "topic_neg_share": "wilson",
    "churn_rate": "wilson",
    "ltv": "none (total)",
    "customers": "count",
}
LONG_COLUMNS = [
    "dimension",
    "key",
    "metric",
    "value",
    "lo",
    "hi",
    "n",
    "low_n",
    "unit",
    "ci_method",
]

_COUNTS = """SELECT key, count(*) AS n, (SELECT count(*) FROM base) AS n_all,
  count(nps) AS n_nps, count_if(nps >= 9) AS pro, count_if(nps < 7) AS det,
  count(csat) AS n_csat, count_if(csat >= 4) AS sat,
  count(ces) AS n_ces, coalesce(sum(ces), 0) AS ces_sum, coalesce(sum(ces * ces), 0) AS ces_sumsq,
  count_if(sentiment IN ('negative', 'neutral', 'positive')) AS n_sent,
  count_if(sentiment = 'negative') AS n_neg{extra}
FROM keyed GROUP BY key ORDER BY key"""


def group_counts(store: Any, dimension: str, filters: Filters | None = None) -> pd.DataFrame:
    """Sufficient statistics per group (counts, sums) — the input of every CI and test."""
    check_dimension(dimension)
    if dimension == "theme":
        require_theme_table(store.con)
    extra = ", count_if(neg) AS n_topic_neg" if dimension in TOPIC_DIMENSIONS else ""
    filters = filters or Filters()
    return run_query(
        store, filters, _COUNTS.format(extra=extra), *keyed_ctes(store, dimension, filters)
    )


def metrics_by(
    store: Any,
    dimension: str = "overall",
    filters: Filters | None = None,
    settings: Settings | None = None,
) -> pd.DataFrame:
    """Volume, NPS, CSAT, CES, % negative, churn and LTV per group, with CIs and low-n marks."""
    settings = settings or Settings()
    filters = filters or Filters()
    counts = group_counts(store, dimension, filters)
    if counts.empty:
        return pd.DataFrame(columns=LONG_COLUMNS)
    frames = [_score_rows(counts, dimension in TOPIC_DIMENSIONS)]
    if has_customers(store):
        frames.append(_customer_rows(customer_counts(store, dimension, filters)))
    out = pd.concat([f for f in frames if len(f)], ignore_index=True)
    out.insert(0, "dimension", dimension)
    out["low_n"] = out["n"] < settings.min_n
    out["low_n"] = out["low_n"].where(~out["metric"].isin(["volume", "ltv", "customers"]), False)
    out["unit"] = out["metric"].map(_UNITS)
    out["ci_method"] = out["metric"].map(_METHODS)
    return out[LONG_COLUMNS].sort_values(["key", "metric"], kind="stable", ignore_index=True)


def kpis(
    store: Any, filters: Filters | None = None, settings: Settings | None = None
) -> pd.DataFrame:
    """The overall KPIs (``metrics_by(…, "overall")``), long format."""
    return metrics_by(store, "overall", filters, settings)


def _score_rows(c: pd.DataFrame, topic_like: bool) -> pd.DataFrame:
    rows = [
        _rows(c, "volume", c["n"], None, None, c["n"]),
        _rows(c, "volume_share", *_pct(stats.wilson(c["n"], c["n_all"])), c["n_all"]),
        _rows(c, "nps", *stats.nps(c["pro"], c["det"], c["n_nps"]), c["n_nps"]),
        _rows(c, "csat", *_pct(stats.wilson(c["sat"], c["n_csat"])), c["n_csat"]),
        _rows(c, "ces", *stats.mean_t(c["ces_sum"], c["ces_sumsq"], c["n_ces"]), c["n_ces"]),
        _rows(c, "neg_share", *_pct(stats.wilson(c["n_neg"], c["n_sent"])), c["n_sent"]),
    ]
    if topic_like:
        rows.append(
            _rows(c, "topic_neg_share", *_pct(stats.wilson(c["n_topic_neg"], c["n"])), c["n"])
        )
    return pd.concat(rows, ignore_index=True)


def _customer_rows(c: pd.DataFrame) -> pd.DataFrame:
    if c.empty:
        return c
    return pd.concat(
        [
            _rows(c, "churn_rate", *_pct(stats.wilson(c["lost"], c["at_start"])), c["at_start"]),
            _rows(c, "ltv", c["ltv"], None, None, c["customers_known"]),
            _rows(c, "customers", c["customers"], None, None, c["customers"]),
        ],
        ignore_index=True,
    )


def _pct(
    triple: tuple[stats.Array, stats.Array, stats.Array],
) -> tuple[stats.Array, stats.Array, stats.Array]:
    return 100 * triple[0], 100 * triple[1], 100 * triple[2]


def _rows(c: pd.DataFrame, metric: str, value: Any, lo: Any, hi: Any, n: Any) -> pd.DataFrame:
    nan = np.full(len(c), np.nan)
    return pd.DataFrame(
        {
            "key": c["key"].astype(str).to_numpy(),
            "metric": metric,
            "value": np.asarray(value, dtype="float64"),
            "lo": nan if lo is None else np.asarray(lo, dtype="float64"),
            "hi": nan if hi is None else np.asarray(hi, dtype="float64"),
            "n": np.asarray(n, dtype="int64"),
        }
    )


# -- customers: churn and LTV -------------------------------------------------------------------


def customer_counts(store: Any, dimension: str, filters: Filters | None = None) -> pd.DataFrame:
    """Per group: customers, customers found in the customers table, LTV sum, churn counts.

    Churn window: the period itself for week/month groups; otherwise the filter's dates, or the
    span of the filtered messages. Cohort: the whole customers table for overall and period groups
    (only customers with a matching message when channel/segment/lang filters are set); the
    customers who wrote in the group for every other dimension.
    """
    filters = filters or Filters()
    if dimension in PERIODS:
        return _period_customer_counts(store, dimension, filters)
    cohort = "SELECT DISTINCT key, customer_id FROM keyed WHERE customer_id IS NOT NULL"
    body = f"""SELECT k.key, count(*) AS customers, count(c.customer_id) AS customers_known,
      coalesce(sum(c.ltv), 0) AS ltv,
      count_if({AT_START.format(s="win.ws")}) AS at_start,
      count_if({LOST.format(s="win.ws", e="win.we")}) AS lost
    FROM ({cohort}) k LEFT JOIN customers c USING (customer_id) CROSS JOIN win
    GROUP BY k.key ORDER BY k.key"""
    counts = run_query(store, filters, body, *keyed_ctes(store, dimension, filters), WINDOW)
    if dimension == "overall":
        counts = _overall_churn(store, filters, counts)
    return counts


def _overall_churn(store: Any, filters: Filters, counts: pd.DataFrame) -> pd.DataFrame:
    cohort = _cohort_sql(filters)
    body = f"""SELECT count_if({AT_START.format(s="win.ws")}) AS at_start,
      count_if({LOST.format(s="win.ws", e="win.we")}) AS lost FROM ({cohort}) c CROSS JOIN win"""
    row = run_query(store, filters, body, WINDOW).fillna(0).iloc[0]
    if counts.empty:
        counts = pd.DataFrame(
            {"key": ["all"], "customers": [0], "customers_known": [0], "ltv": [0.0]}
        )
    return counts.assign(at_start=int(row["at_start"]), lost=int(row["lost"]))


def has_customers(store: Any) -> bool:
    """Whether a customers table was loaded (churn and LTV need it)."""
    row = store.con.execute("SELECT count(*) FROM customers").fetchone()
    return bool(row and row[0])


def _cohort_sql(filters: Filters) -> str:
    if filters.restricts_messages():
        return "SELECT * FROM customers WHERE customer_id IN (SELECT customer_id FROM base)"
    return "SELECT * FROM customers"


def _period_customer_counts(store: Any, period: str, filters: Filters) -> pd.DataFrame:
    fmt = "%Y-%m" if period == "month" else "%Y-%m-%d"
    periods = f"""periods AS (SELECT CAST(p AS DATE) AS ps, CAST(p + INTERVAL 1 {period} AS DATE) \
- 1 AS pe
      FROM (SELECT min({period_expr(period)}) AS lo, max(created_at) AS hi FROM base) s,
      LATERAL (SELECT unnest(range(CAST(s.lo AS TIMESTAMP), CAST(s.hi AS TIMESTAMP) + INTERVAL 1 \
DAY,
               INTERVAL 1 {period})) AS p) r WHERE s.lo IS NOT NULL)"""
    writers = f"""w AS (SELECT b.ps, count(*) AS customers, count(c.customer_id) AS customers_known,
      coalesce(sum(c.ltv), 0) AS ltv FROM (SELECT DISTINCT {period_expr(period)} AS ps, customer_id
      FROM base WHERE customer_id IS NOT NULL) b LEFT JOIN customers c USING (customer_id) GROUP \
BY b.ps)"""
    body = f"""SELECT strftime(p.ps, '{fmt}') AS key, any_value(coalesce(w.customers, 0)) AS \
customers,
      any_value(coalesce(w.customers_known, 0)) AS customers_known, any_value(coalesce(w.ltv, 0)) \
AS ltv,
      count_if({AT_START.format(s="p.ps")}) AS at_start,
      count_if({LOST.format(s="p.ps", e="p.pe")}) AS lost
    FROM periods p CROSS JOIN ({_cohort_sql(filters)}) c LEFT JOIN w ON w.ps = p.ps
    GROUP BY p.ps ORDER BY p.ps"""
    return run_query(store, filters, body, periods, writers)


def wide(long: pd.DataFrame) -> pd.DataFrame:
    """One row per group, columns ``<metric>``, ``<metric>_lo``, ``<metric>_hi``, ``<metric>_n``."""
    if long.empty:
        return pd.DataFrame()
    parts = {}
    for col, suffix in (
        ("value", ""),
        ("lo", "_lo"),
        ("hi", "_hi"),
        ("n", "_n"),
        ("low_n", "_low_n"),
    ):
        piece = long.pivot_table(
            index="key", columns="metric", values=col, aggfunc="first", dropna=False, sort=True
        )
        parts.update({f"{m}{suffix}": piece[m] for m in piece.columns})
    return pd.DataFrame(parts).reset_index()


def require_rows(store: Any) -> None:
    """Raise a StoreError saying what to do when the store has no tagged message at all."""
    row = store.con.execute("SELECT count(*) FROM tagged").fetchone()
    if not row or not row[0]:
        raise StoreError(
            f"the store {store.path} has no tagged messages yet.",
            "Tag an export first: cx-text tag FILE -o OUT --db PATH.",
        )
