"""What the Streamlit app pages ask the store: one function per page section, all in DuckDB.

The app (``cx_text/app/streamlit/``) only calls these, :mod:`cx_text.app.themes` (the Themes
page), :mod:`cx_text.app.verbatims`, :mod:`cx_text.app.upload` and the metrics/themes modules;
``benchmarks/app.py`` times the same calls on 1M rows. Every function returns a small frame (one
row per group, never per message).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from cx_text.analytics import drivers, metrics, trends
from cx_text.analytics.filters import Filters
from cx_text.app.snapshot import AppStore as AppStore  # re-exported: the app's store access
from cx_text.app.snapshot import ShortWrites as ShortWrites
from cx_text.app.snapshot import open_app_store as open_app_store
from cx_text.core.config import Settings
from cx_text.store import cache as metrics_cache
from cx_text.store.store import Store

PRESETS = ("30d", "90d", "365d", "all", "custom")
KPI_METRICS = ("nps", "csat", "ces", "volume", "neg_share", "churn_rate")
COMPARE_DIMENSIONS = ("channel", "segment", "lang")
_VERSION_SQL = """SELECT concat_ws('|',
  (SELECT count(*) FROM runs), (SELECT max(finished_at) FROM runs),
  (SELECT count_if(status = 'complete') FROM runs), (SELECT count(*) FROM feedback),
  (SELECT count(*) FROM customers), (SELECT count(*) FROM theme_edits),
  (SELECT max(finished_at) FROM theme_runs), (SELECT count(*) FROM themes),
  (SELECT max(label_id) FROM labels))"""


def data_version(store: Store) -> str:
    """Changes whenever a run, customers, a theme edit or a label lands: part of every cache key."""
    row = store.con.execute(_VERSION_SQL).fetchone()
    return str(row[0]) if row else ""


# -- sidebar -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class FilterOptions:
    """What the sidebar can offer: values present in the store and its date span."""

    rows: int = 0
    first_day: date | None = None
    last_day: date | None = None
    channels: tuple[str, ...] = ()
    segments: tuple[str, ...] = ()
    langs: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    has_customers: bool = False


def filter_options(store: Store) -> FilterOptions:
    """Distinct channels, segments, languages, topics and the first/last day of the messages."""
    msgs = metrics_cache.ensure_messages(store.con)
    row = store.con.execute(
        f"""SELECT count(*), CAST(min(created_at) AS DATE), CAST(max(created_at) AS DATE),
        list_sort(list(DISTINCT channel)), list_sort(list(DISTINCT segment)),
        list_sort(list(DISTINCT lang)) FROM {msgs}"""
    ).fetchone()
    topics = store.con.execute(
        f"SELECT DISTINCT unnest(topics) AS t FROM {msgs} ORDER BY t"
    ).fetchall()
    if not row or not row[0]:
        return FilterOptions()
    return FilterOptions(
        int(row[0]),
        row[1],
        row[2],
        _clean(row[3]),
        _clean(row[4]),
        _clean(row[5]),
        tuple(str(t[0]) for t in topics),
        metrics.has_customers(store),
    )


def _clean(values: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in (values or []) if v is not None and str(v) != "")


def preset_window(
    preset: str, first: date | None, last: date | None, custom: tuple[date, date] | None = None
) -> tuple[date | None, date | None]:
    """``(start, end)`` of a period preset, counted back from the newest message (not today)."""
    if preset == "custom" and custom:
        return custom
    if preset in ("all", "custom") or last is None:
        return first, last
    days = int(preset.rstrip("d"))
    start = last - timedelta(days=days - 1)
    return (max(start, first) if first else start), last


def previous_filters(filters: Filters) -> Filters | None:
    """The same filters over the equally long window just before ``filters`` (None if open)."""
    if filters.start is None or filters.end is None:
        return None
    length = (filters.end - filters.start).days + 1
    return replace(
        filters, start=filters.start - timedelta(days=length), end=filters.start - timedelta(days=1)
    )


# -- overview ----------------------------------------------------------------------------------
def kpi_summary(store: Store, filters: Filters, settings: Settings) -> pd.DataFrame:
    """One row per KPI: value, CI, n, low_n, unit, previous-window value and delta."""
    now = _kpi_rows(store, filters, settings)
    prev_filters = previous_filters(filters)
    prev = _kpi_rows(store, prev_filters, settings) if prev_filters else pd.DataFrame()
    out = pd.DataFrame({"metric": list(KPI_METRICS)}).merge(now, on="metric", how="left")
    if prev.empty:
        out["previous"] = np.nan
    else:
        shown = prev["value"].where(~prev["low_n"].astype(bool))
        out = out.merge(
            prev.assign(previous=shown)[["metric", "previous"]], on="metric", how="left"
        )
    out["delta"] = out["value"] - out["previous"]
    return out


def _kpi_rows(store: Store, filters: Filters, settings: Settings) -> pd.DataFrame:
    long = metrics.kpis(store, filters, settings)
    cols = ["metric", "value", "lo", "hi", "n", "low_n", "unit"]
    return long[long["metric"].isin(KPI_METRICS)][cols].reset_index(drop=True)


def alerts_in_window(
    store: Store, filters: Filters, settings: Settings, period: str = "week", level: str = "topic"
) -> pd.DataFrame:
    """Spikes raised in the filtered window, judged against the whole history before it."""
    history = replace(filters, start=None, end=None)
    found = trends.alerts(store, history, settings, period, level)
    if found.empty or filters.start is None:
        return found
    length = timedelta(days=7 if period == "week" else 31)
    when = pd.to_datetime(found["period"])
    keep = (when + length > pd.Timestamp(filters.start)) & (
        when <= pd.Timestamp(filters.end or date.max)
    )
    return found[keep.to_numpy()].reset_index(drop=True)


def impact(
    store: Store,
    filters: Filters,
    settings: Settings,
    level: str = "topic",
    draws: int = drivers.DRAWS,
) -> pd.DataFrame:
    """Remove-topic impact on NPS/CSAT/CES per topic (long: key, metric, value, lo, hi, n,
    low_n)."""
    return drivers.topic_impact(store, filters, settings, level, draws=draws)


# -- trends and segments -----------------------------------------------------------------------
@dataclass(frozen=True)
class TrendData:
    """Series per key and period, the alerts on them and the latest-vs-previous change."""

    series: pd.DataFrame
    alerts: pd.DataFrame
    change: pd.DataFrame


def trend_data(
    store: Store,
    filters: Filters,
    settings: Settings,
    period: str = "week",
    level: str = "topic",
    current: str | None = None,
) -> TrendData:
    """Per-topic (or sub-topic, theme) trends, alerts and a period comparison."""
    series = trends.topic_trends(store, filters, settings, period, level)
    if series.empty:
        return TrendData(series, pd.DataFrame(), pd.DataFrame())
    return TrendData(
        series,
        trends.detect_alerts(series, settings),
        trends.period_change(series, settings, current),
    )


def segment_comparison(
    store: Store, filters: Filters, settings: Settings, dimension: str = "segment"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(metrics per group side by side, each group vs the rest with significance)."""
    wide = metrics.wide(metrics.metrics_by(store, dimension, filters, settings))
    return wide, trends.compare_groups(store, filters, settings, dimension)
