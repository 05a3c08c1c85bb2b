"""Review queue: the messages whose labels would teach the model most, one at a time, with
progress."""

from __future__ import annotations

import streamlit as st

from cx_text.app.labels import queue_channels, queue_page, topic_label
from cx_text.app.streamlit.views import common, label_editor
from cx_text.app.streamlit.views.common import t

common.require_data()
st.title(t("page_review"))
st.caption(t("review_caption"))
label_editor.show_done()
channels = common.query(queue_channels)
picked = st.selectbox(
    t("review_channel"),
    [None, *channels],
    format_func=lambda c: t("review_all_channels") if c is None else str(c),
    help=t("review_channel_help"),
    key="rq_channel",
)
queue, progress = common.query(queue_page, common.settings().models_dir, channel=picked)
c1, c2, c3 = st.columns(3)
c1.metric(t("review_labelled"), f"{progress.labelled:,}")
c2.metric(t("review_left"), f"{progress.remaining:,}")
c3.metric(
    t("review_uncertainty", n=progress.next_n),
    common.fmt(progress.next_uncertainty, 2),
    help=t("review_uncertainty_help"),
)
skipped = set(st.session_state.get("rq_skipped", []))
todo = queue[[f"{s}/{i}" not in skipped for s, i in zip(queue["source"], queue["id"], strict=True)]]
if todo.empty:
    st.info(t("review_empty"))
    st.stop()
item = todo.iloc[0]
names = common.names()
with st.container(border=True):
    st.markdown(f"**{item['source']} / {item['id']}** · {item['lang']} · {item['channel'] or ''}")
    st.text(str(item["text"]))
    st.caption(
        t(
            "review_item",
            u=float(item["uncertainty"]),
            group=names.get(item["group_label"], item["group_label"]),
        )
    )
    label_editor.edit(str(item["source"]), str(item["id"]), "rq", skip=True)
st.markdown(f"**{t('review_next')}**")
rest = todo.iloc[1:].assign(
    topics=todo["topics"].iloc[1:].map(lambda ts: topic_label(ts, names)),
    group=todo["group_label"].iloc[1:].map(lambda g: names.get(g, g)),
)
st.dataframe(
    rest[["text", "sentiment", "topics", "uncertainty", "group"]], hide_index=True, width="stretch"
)
