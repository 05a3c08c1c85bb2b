"""Overview: KPI tiles with period-over-period deltas and CIs, what costs NPS, alerts this
period."""

from __future__ import annotations

from typing import Any

import streamlit as st

from cx_text.analytics import viz
from cx_text.analytics.metrics import FORMULAS
from cx_text.app.queries import alerts_in_window, impact, kpi_summary
from cx_text.app.streamlit.views import common
from cx_text.app.streamlit.views.common import fmt, t

# metric -> (digits, unit suffix, delta colour: "normal" = up is good, "inverse" = up is bad)
TILES: dict[str, tuple[int, str, Any]] = {
    "nps": (1, "", "normal"),
    "csat": (1, "%", "normal"),
    "ces": (2, "", "normal"),
    "volume": (0, "", "off"),
    "neg_share": (1, "%", "inverse"),
    "churn_rate": (1, "%", "inverse"),
}


def tile(row: Any, min_n: int) -> None:
    """One KPI: value (or n<min_n), delta vs the previous window, CI and formula in the help."""
    digits, unit, colour = TILES[row["metric"]]
    low = bool(row["low_n"]) if row["low_n"] == row["low_n"] else False
    value = t("too_few", n=min_n) if low else fmt(row["value"], digits, unit)
    delta = None if low or row["delta"] != row["delta"] else f"{row['delta']:+,.{digits}f}"
    ci = (
        ""
        if row["lo"] != row["lo"]
        else t("ci", lo=fmt(row["lo"], digits), hi=fmt(row["hi"], digits))
    )
    help_text = f"{FORMULAS.get(row['metric'], '')}. {ci} n={fmt(row['n'], 0)}. {t('delta_help')}"
    st.metric(
        t(f"kpi_{row['metric']}"), value, delta, delta_color=colour, help=help_text, border=True
    )
    st.caption(f"{ci} · n={fmt(row['n'], 0)}" if ci else f"n={fmt(row['n'], 0)}")


def kpi_row() -> None:
    settings = common.settings()
    kpis = common.query(kpi_summary, common.filters(), settings)
    if kpis["value"].isna().all():
        st.info(t("no_match"))
        st.stop()
    for col, (_, row) in zip(st.columns(len(kpis)), kpis.iterrows(), strict=True):
        with col:
            tile(row, settings.min_n)


def impact_section() -> None:
    st.subheader(t("impact_title"))
    score = st.radio(
        t("score"),
        ("nps", "csat", "ces"),
        horizontal=True,
        key="ov_score",
        format_func=lambda s: t(f"kpi_{s}"),
    )
    frame = common.query(impact, common.filters(), common.settings())
    chart = viz.impact_chart(
        frame,
        f"{score}_impact",
        common.names(),
        title=t("impact_chart", score=t(f"kpi_{score}")),
        x_title=t(f"impact_axis_{score}"),
    )
    common.chart(chart)
    st.caption(t("impact_caption"))


def alerts_section() -> None:
    st.subheader(t("alerts_title"))
    found = common.query(alerts_in_window, common.filters(), common.settings())
    if found.empty:
        st.success(t("no_alerts"))
        return
    for message in found["message"].head(20):
        st.warning(message, icon=":material/warning:")
    st.caption(t("alerts_caption"))


common.require_data()
st.title(t("page_overview"))
st.caption(t("overview_caption"))
kpi_row()
left, right = st.columns([3, 2])
with left:
    impact_section()
with right:
    alerts_section()
