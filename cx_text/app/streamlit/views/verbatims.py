"""Verbatims: a paged, filterable message table with the evidence words highlighted; export."""

from __future__ import annotations

import html
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from cx_text.app.streamlit.views import common, label_editor
from cx_text.app.streamlit.views.common import fmt, t
from cx_text.app.themes import themes_overview
from cx_text.app.verbatims import (
    EXPORT_LIMIT,
    PAGE_SIZES,
    SCORES,
    SENTIMENT_VALUES,
    VerbatimQuery,
    count_verbatims,
    export_verbatims,
    highlight_html,
    verbatims_page,
)

SCORE_RANGES = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7), "rating": (1, 5)}
STYLE = """<style>.cx-vb td{vertical-align:top;padding:4px 8px;border-bottom:1px solid \
#eee;font-size:0.9rem}
.cx-vb mark{background:#ffe08a;padding:0 2px;border-radius:3px}.cx-vb \
th{text-align:left;padding:4px 8px}
.cx-neg{color:#d62728}.cx-pos{color:#2ca02c}.cx-neu{color:#777}.cx-corrected{color:#1f77b4;font-weight:600}</style>"""


def reset_page() -> None:
    st.session_state["vb_page"] = 1


def query_controls(topics: tuple[str, ...]) -> VerbatimQuery:
    names = common.names()
    c1, c2, c3 = st.columns(3)
    topic = c1.selectbox(
        t("topic"),
        ("", *topics),
        key="vb_topic",
        on_change=reset_page,
        format_func=lambda k: names.get(k, k) if k else t("all_topics"),
    )
    themes = common.query(
        themes_overview, common.filters(), common.settings(), topic or None, "volume"
    )
    labels = common.theme_names(themes) if len(themes) else {}
    theme = c2.selectbox(
        t("theme"),
        ("", *labels),
        key="vb_theme",
        on_change=reset_page,
        format_func=lambda k: labels.get(k, k) if k else t("all_themes"),
    )
    sentiment = c3.selectbox(
        t("sentiment"),
        ("", *SENTIMENT_VALUES),
        key="vb_sentiment",
        on_change=reset_page,
        format_func=lambda s: t(f"sent_{s}") if s else t("any"),
    )
    c4, c5, c6 = st.columns(3)
    score = c4.selectbox(
        t("score_filter"),
        ("", *SCORES),
        key="vb_score",
        on_change=reset_page,
        format_func=lambda s: s.upper() if s else t("any"),
    )
    lo, hi = (None, None)
    if score:
        low, high = SCORE_RANGES[score]
        lo, hi = c5.slider(
            t("score_range"), low, high, (low, high), key=f"vb_range_{score}", on_change=reset_page
        )
    search = c6.text_input(
        t("search"), key="vb_search", on_change=reset_page, placeholder=t("search_hint")
    )
    return VerbatimQuery(
        topic=topic or None,
        theme_id=theme or None,
        sentiment=sentiment or None,
        score=score or None,
        score_min=lo,
        score_max=hi,
        search=search,
    )


def table_html(frame: pd.DataFrame) -> str:
    names = common.names()
    head = "".join(
        f"<th>{html.escape(t(k))}</th>"
        for k in ("col_date", "col_text", "col_sentiment", "col_topics", "col_scores", "col_where")
    )
    rows = []
    records: list[Any] = list(frame.itertuples())
    for r in records:
        sent = str(r.sentiment or "")
        css = {"negative": "cx-neg", "positive": "cx-pos"}.get(sent, "cx-neu")
        topics = ", ".join(
            names.get(str(k), str(k)) for k in (r.topics if r.topics is not None else [])
        )
        scores = " · ".join(
            f"{n.upper()} {fmt(v, 0)}"
            for n, v in (("nps", r.nps), ("csat", r.csat), ("ces", r.ces), ("rating", r.rating))
            if pd.notna(v)
        )
        where = " · ".join(
            str(v) for v in (r.channel, r.segment, r.lang) if isinstance(v, str) and v
        )
        when = str(r.created_at)[:10] if pd.notna(r.created_at) else ""
        mark = (
            f" <span class='cx-corrected' title='{html.escape(t('corrected_mark'))}'>✎</span>"
            if len(getattr(r, "corrected", ()) or ())
            else ""
        )
        rows.append(
            f"<tr><td>{when}</td><td>{highlight_html(r.text, r.evidence)}</td>"
            f"<td class='{css}'>{html.escape(t('sent_' + sent) if sent else '—')}{mark}</td>"
            f"<td>{html.escape(topics)}</td><td>{html.escape(scores)}</td>"
            f"<td>{html.escape(where)}<br><small>{html.escape(str(r.id))}</small></td></tr>"
        )
    return (
        f"{STYLE}<table "
        f"class='cx-vb'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def pager(total: int) -> tuple[int, int]:
    c1, c2, c3 = st.columns([1, 1, 3])
    size = int(
        c1.selectbox(t("page_size"), PAGE_SIZES, index=1, key="vb_size", on_change=reset_page)
    )
    pages = max(1, -(-total // size))
    if st.session_state.get("vb_page", 1) > pages:
        st.session_state["vb_page"] = pages
    page = int(c2.number_input(t("page"), 1, pages, key="vb_page"))
    c3.caption(t("matches", total=total, page=page, pages=pages))
    return page, size


def corrections(frame: pd.DataFrame) -> None:
    """Correct or confirm one message of this page in place (the editor under the table)."""
    with st.expander(t("correct_title"), expanded=True, icon=":material/edit:"):
        st.caption(t("correct_caption"))
        keys = list(zip(frame["source"].astype(str), frame["id"].astype(str), strict=True))
        labels = {
            k: f"{k[1]} · {str(text)[:80]}" for k, text in zip(keys, frame["text"], strict=True)
        }
        label_editor.pick_and_edit(keys, labels, "vb_fix")


def export(query: VerbatimQuery) -> None:
    with st.expander(t("export")):
        kind = st.radio(t("format"), ("csv", "xlsx"), horizontal=True, key="vb_fmt")
        st.caption(t("export_note", limit=EXPORT_LIMIT))
        if st.button(t("prepare_export"), key="vb_export_btn"):
            folder = Path(tempfile.mkdtemp(prefix="cx_export_"))
            path, rows = common.run(
                export_verbatims, common.filters(), query, folder / f"verbatims.{kind}"
            )
            st.session_state["vb_export"] = (str(path), rows, kind)
        if "vb_export" in st.session_state:
            path_s, rows, kind = st.session_state["vb_export"]
            if Path(path_s).is_file():
                st.download_button(
                    t("download", rows=rows),
                    Path(path_s).read_bytes(),
                    file_name=Path(path_s).name,
                    key="vb_download",
                    mime="text/csv"
                    if kind == "csv"
                    else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                )


options = common.require_data()
st.title(t("page_verbatims"))
st.caption(t("verbatims_caption"))
query = query_controls(options.topics)
page, size = pager(common.query(count_verbatims, common.filters(), query))
frame, total = common.query(verbatims_page, common.filters(), query, page, size)
label_editor.show_done()
if frame.empty:
    st.info(t("no_match"))
else:
    st.markdown(table_html(frame), unsafe_allow_html=True)
    corrections(frame)
export(query)
