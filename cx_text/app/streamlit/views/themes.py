"""Themes: recurring complaint themes ranked by NPS impact or volume; one theme in depth; edits."""

from __future__ import annotations

import html
from typing import Any

import pandas as pd
import streamlit as st

from cx_text.analytics import viz
from cx_text.app.streamlit.views import actions, common, label_editor
from cx_text.app.streamlit.views.common import fmt, t
from cx_text.app.themes import ThemeDetail, theme_detail, themes_overview
from cx_text.core.errors import CxTextError
from cx_text.themes.service import merge_themes, rename_theme, split_theme

MAX_ROWS = 50


def pick_topic(topics: tuple[str, ...]) -> str | None:
    names = common.names()
    choice = st.selectbox(
        t("topic"),
        ("", *topics),
        key="th_topic",
        format_func=lambda k: names.get(k, k) if k else t("all_topics"),
    )
    return choice or None


def table(themes: pd.DataFrame) -> None:
    names = common.names()
    head = themes.head(MAX_ROWS)  # never more than a page of rows to the browser
    shown = head.assign(
        topic=head["topic"].map(lambda k: names.get(k, k)),
        share=100 * head["share"],
        impact_ci=[
            f"{fmt(lo)} … {fmt(hi)}"
            for lo, hi in zip(head["nps_impact_lo"], head["nps_impact_hi"], strict=True)
        ],
        top_terms=head["top_terms"].map(lambda terms: ", ".join(terms[:6])),
    )
    cols = [
        "label",
        "topic",
        "volume",
        "share",
        "nps",
        "nps_impact",
        "impact_ci",
        "top_terms",
        "theme_id",
    ]
    st.dataframe(
        shown[cols],
        hide_index=True,
        width="stretch",
        column_config={
            "label": t("col_theme"),
            "topic": t("topic"),
            "volume": st.column_config.NumberColumn(t("col_volume"), format="%d"),
            "share": st.column_config.NumberColumn(
                t("col_share"), format="%.0f%%", help=t("share_help")
            ),
            "nps": st.column_config.NumberColumn("NPS", format="%.1f"),
            "nps_impact": st.column_config.NumberColumn(
                t("col_impact"), format="%.2f", help=viz.IMPACT_FORMULA
            ),
            "impact_ci": t("col_ci"),
            "top_terms": t("col_terms"),
            "theme_id": "id",
        },
    )


def detail(themes: pd.DataFrame) -> None:
    labels = common.theme_names(themes)
    tid = st.selectbox(
        t("pick_theme"),
        themes["theme_id"].tolist(),
        key="th_pick",
        format_func=lambda i: labels.get(i, i),
    )
    if not tid:
        return
    period = st.radio(
        t("period_unit"),
        ("week", "month"),
        horizontal=True,
        key="th_period",
        format_func=lambda p: t(f"per_{p}"),
    )
    info: ThemeDetail = common.query(theme_detail, tid, common.filters(), common.settings(), period)
    left, right = st.columns(2)
    with left:
        common.chart(
            viz.trend_chart(
                info.trend, info.alerts, "volume", labels, t("theme_trend"), t("mentions_axis")
            )
        )
        common.chart(viz.sentiment_mix_chart(info.sentiment, t("sentiment_mix")))
    with right:
        common.chart(viz.affected_chart(info.affected.head(10), common.names(), t("affected")))
    quotes(info.quotes)
    actions.open_in_loop(themes[themes["theme_id"] == tid].iloc[0])
    edits(themes, tid)


def quotes(frame: pd.DataFrame) -> None:
    st.markdown(f"**{t('quotes')}**")
    if frame.empty:
        st.caption(t("no_quotes"))
    records: list[Any] = list(frame.itertuples())
    for row in records:
        when = str(row.created_at)[:10] if pd.notna(row.created_at) else ""
        nps = f" · NPS {fmt(row.nps, 0)}" if pd.notna(row.nps) else ""
        st.markdown(
            f"> {html.escape(str(row.clause))}\n>\n> <small>{html.escape(str(row.id))} · "
            f"{when}{nps}</small>",
            unsafe_allow_html=True,
        )
    keys = [
        (str(r.source), str(r.id)) for r in records if isinstance(getattr(r, "source", None), str)
    ]
    if keys:
        with st.expander(t("correct_quote"), icon=":material/edit:"):
            st.caption(t("correct_caption"))
            label_editor.pick_and_edit(
                keys,
                {
                    (str(r.source), str(r.id)): f"{r.id} · {str(r.clause)[:80]}"
                    for r in records
                    if isinstance(getattr(r, "source", None), str)
                },
                "th_fix",
            )


def edits(themes: pd.DataFrame, tid: str) -> None:
    row = themes[themes["theme_id"] == tid].iloc[0]
    with st.expander(t("edit_theme")):
        label = st.text_input(t("new_name"), value=str(row["label"]), key="th_rename")
        if st.button(t("rename"), key="th_rename_btn"):
            run_edit(rename_theme, tid, label)
        same = themes[(themes["topic"] == row["topic"]) & (themes["theme_id"] != tid)]
        labels = common.theme_names(themes)
        others = st.multiselect(
            t("merge_with"),
            same["theme_id"].tolist(),
            key="th_merge",
            format_func=lambda i: labels.get(i, i),
        )
        if st.button(t("merge"), key="th_merge_btn", disabled=not others):
            run_edit(merge_themes, [tid, *others], tid)
        parts = st.number_input(t("split_parts"), 2, 6, 2, key="th_parts")
        if st.button(t("split"), key="th_split_btn"):
            embed, lemmatize = actions.theme_tools()
            run_edit(split_theme, tid, embed, lemmatize, parts=int(parts))


def run_edit(fn: object, *args: object, **kwargs: object) -> None:
    try:
        result = common.write(fn, *args, **kwargs)  # type: ignore[arg-type]
    except CxTextError as exc:
        st.error(str(exc))
        return
    st.session_state["th_done"] = t("edit_done", result=result)
    st.rerun()


options = common.require_data()
st.title(t("page_themes"))
st.caption(t("themes_caption"))
if "th_done" in st.session_state:
    st.success(st.session_state.pop("th_done"))
label_editor.show_done()
c1, c2 = st.columns([2, 1])
with c1:
    topic = pick_topic(options.topics)
with c2:
    rank = st.radio(
        t("rank_by"),
        ("impact", "volume"),
        horizontal=True,
        key="th_rank",
        format_func=lambda r: t(f"rank_{r}"),
    )
found = common.query(themes_overview, common.filters(), common.settings(), topic, rank)
common.stop_if_empty(found, "no_themes")
table(found)
value, axis = ("nps_impact", t("col_impact")) if rank == "impact" else ("volume", t("col_volume"))
common.chart(viz.rank_chart(found.head(15), value, title=t("top_themes"), x_title=axis))
st.divider()
detail(found)
