"""Segments: channels, customer segments or languages side by side, with significance marks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from cx_text.analytics import viz
from cx_text.app.queries import COMPARE_DIMENSIONS, segment_comparison
from cx_text.app.streamlit.views import common
from cx_text.app.streamlit.views.common import t

SHOWN = ("volume", "nps", "csat", "ces", "neg_share", "churn_rate")


def side_by_side(wide: pd.DataFrame, compare: pd.DataFrame, min_n: int) -> pd.DataFrame:
    """One row per group: each metric as text, ★ when it differs from the rest, n<min_n when
    noise."""
    out = pd.DataFrame({t("group"): wide["key"]})
    stars = (
        {(r.key, r.metric) for r in compare.itertuples() if r.significant}
        if len(compare)
        else set()
    )
    for metric in SHOWN:
        if metric not in wide.columns:
            continue
        digits = 0 if metric == "volume" else 2 if metric == "ces" else 1
        low = (
            wide.get(f"{metric}_low_n", pd.Series(False, index=wide.index))
            .fillna(False)
            .astype(bool)
        )
        cells = [
            t("too_few", n=min_n)
            if is_low
            else common.fmt(v, digits) + (" ★" if (k, metric) in stars else "")
            for k, v, is_low in zip(wide["key"], wide[metric], low, strict=True)
        ]
        out[t(f"kpi_{metric}")] = cells
    return out


common.require_data()
st.title(t("page_segments"))
st.caption(t("segments_caption"))
c1, c2 = st.columns(2)
dimension = c1.radio(
    t("compare_by"),
    COMPARE_DIMENSIONS,
    horizontal=True,
    key="sg_dim",
    format_func=lambda d: t(d if d != "lang" else "language"),
)
metric = c2.radio(
    t("score"),
    ("nps", "csat", "ces", "neg_share"),
    horizontal=True,
    key="sg_metric",
    format_func=lambda m: t(f"kpi_{m}"),
)
settings = common.settings()
wide, compare = common.query(segment_comparison, common.filters(), settings, dimension)
common.stop_if_empty(wide)
common.chart(
    viz.compare_chart(compare, metric, title=t("compare_title", metric=t(f"kpi_{metric}")))
)
st.dataframe(side_by_side(wide, compare, settings.min_n), hide_index=True)
st.caption(t("segments_note", n=settings.min_n))
if len(compare):
    sig = compare[compare["significant"]]
    for row in sig.itertuples():
        arrow = "▲" if np.nan_to_num(row.diff) > 0 else "▼"
        st.markdown(
            t(
                "sig_line",
                group=row.key,
                metric=t(f"kpi_{row.metric}"),
                arrow=arrow,
                diff=common.fmt(row.diff),
                p=f"{row.p_adj:.2g}",
            )
        )
