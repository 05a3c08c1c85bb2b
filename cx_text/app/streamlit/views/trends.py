"""Trends: per-topic / sub-topic / theme series with anomalies marked; compare two periods."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from cx_text.analytics import viz
from cx_text.app.queries import TrendData, trend_data
from cx_text.app.streamlit.views import common
from cx_text.app.streamlit.views.common import t
from cx_text.app.themes import themes_overview

VALUES = ("volume", "neg_share", "volume_share")
DEFAULT_LINES = 5


def level_names(level: str) -> dict[str, str]:
    if level != "theme":
        return common.names()
    themes = common.query(themes_overview, common.filters(), common.settings())
    return common.theme_names(themes) if len(themes) else {}


def controls() -> tuple[str, str, str]:
    c1, c2, c3 = st.columns(3)
    level = c1.radio(
        t("level"),
        ("topic", "subtopic", "theme"),
        horizontal=True,
        key="tr_level",
        format_func=lambda v: t(f"level_{v}"),
    )
    period = c2.radio(
        t("period_unit"),
        ("week", "month"),
        horizontal=True,
        key="tr_period",
        format_func=lambda p: t(f"per_{p}"),
    )
    value = c3.radio(
        t("measure"), VALUES, horizontal=True, key="tr_value", format_func=lambda v: t(f"value_{v}")
    )
    return level, period, value


def lines(data: TrendData, names: dict[str, str], value: str) -> None:
    totals = data.series.groupby("key")["volume"].sum().sort_values(ascending=False)
    keys = st.multiselect(
        t("show_lines"),
        totals.index.tolist(),
        default=totals.index[:DEFAULT_LINES].tolist(),
        key="tr_keys",
        format_func=lambda k: names.get(k, k),
    )
    common.chart(
        viz.trend_chart(
            data.series, data.alerts, value, names, t("trend_title"), t(f"value_{value}"), keys=keys
        )
    )
    if data.alerts.empty:
        st.success(t("no_alerts"))
    for message in data.alerts["message"].tail(10) if len(data.alerts) else []:
        st.warning(message, icon=":material/warning:")


def compare(level: str, period: str, names: dict[str, str], data: TrendData) -> None:
    st.subheader(t("compare_periods"))
    periods = sorted(pd.to_datetime(data.series["period"]).dt.date.unique())
    if len(periods) < 2:
        st.info(t("need_two_periods"))
        return
    current = st.selectbox(t("current_period"), periods[1:][::-1], key="tr_current")
    picked: TrendData = common.query(
        trend_data, common.filters(), common.settings(), period, level, str(current)
    )
    common.chart(viz.change_chart(picked.change, names, t("change_title", current=current)))
    cols = [
        "key",
        "volume_prev",
        "volume_cur",
        "rate_ratio",
        "p_volume_adj",
        "neg_share_prev",
        "neg_share_cur",
        "diff",
        "p_neg_adj",
    ]
    table = picked.change[cols].assign(key=picked.change["key"].map(lambda k: names.get(k, k)))
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={
            "key": t("group"),
            "volume_prev": t("mentions_before"),
            "volume_cur": t("mentions_now"),
            "rate_ratio": st.column_config.NumberColumn(t("rate_ratio"), format="%.2f"),
            "p_volume_adj": st.column_config.NumberColumn("p (Holm)", format="%.3g"),
            "neg_share_prev": st.column_config.NumberColumn(t("neg_before"), format="%.1f%%"),
            "neg_share_cur": st.column_config.NumberColumn(t("neg_now"), format="%.1f%%"),
            "diff": st.column_config.NumberColumn(t("change_pts"), format="%+.1f"),
            "p_neg_adj": st.column_config.NumberColumn("p (Holm)", format="%.3g"),
        },
    )


common.require_data()
st.title(t("page_trends"))
st.caption(t("trends_caption"))
level, period, value = controls()
data: TrendData = common.query(trend_data, common.filters(), common.settings(), period, level)
common.stop_if_empty(data.series, "no_themes" if level == "theme" else "no_match")
names = level_names(level)
lines(data, names, value)
compare(level, period, names, data)
