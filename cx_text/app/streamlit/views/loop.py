"""Loop: the closing-the-loop register — items per team and status, moves, re-measurement,
follow-up."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from cx_text.app.streamlit.views import common
from cx_text.app.streamlit.views.common import t
from cx_text.core.errors import CxTextError
from cx_text.loop import service as loop


def item_table(items: pd.DataFrame) -> None:
    cols = [
        "item_id",
        "title",
        "theme_id",
        "topic",
        "team",
        "owner",
        "status",
        "due_date",
        "fixed_at",
        "verdict",
    ]
    st.dataframe(
        items.reindex(columns=cols),
        hide_index=True,
        width="stretch",
        column_config={
            "item_id": "#",
            "title": t("col_title"),
            "theme_id": t("theme"),
            "topic": t("topic"),
            "team": t("team"),
            "owner": t("owner"),
            "status": t("status"),
            "due_date": t("due"),
            "fixed_at": t("fixed_at"),
            "verdict": t("verdict"),
        },
    )


def move(item: Any) -> None:
    """Move the item to one of its allowed next statuses (with a note)."""
    nexts = loop.NEXT_STATUSES[item.status]
    c1, c2 = st.columns([1, 2])
    target = c1.selectbox(
        t("move_to"), nexts, key=f"lp_to_{item.item_id}", format_func=lambda s: t(f"st_{s}")
    )
    note = c2.text_input(t("note"), key=f"lp_note_{item.item_id}")
    if st.button(t("apply_move"), key=f"lp_move_{item.item_id}"):
        act(
            lambda store: loop.update_item(
                store, item.item_id, status=target, note=note or None, actor="app"
            )
        )
    if item.fixed_at and st.button(t("verify"), key=f"lp_verify_{item.item_id}"):
        act(
            lambda store: loop.verify_item(
                store, item.item_id, settings=common.settings(), actor="app"
            )
        )


def act(job: Any) -> None:
    try:
        common.write(job)
    except CxTextError as exc:
        st.error(str(exc))
        return
    st.rerun()


def details(item_id: int) -> None:
    item = common.run(loop.get_item, item_id)
    st.subheader(f"#{item.item_id} {item.title}")
    st.caption(
        t(
            "item_caption",
            subject=item.subject,
            team=item.team,
            status=t(f"st_{item.status}"),
            nexts=", ".join(t(f"st_{s}") for s in loop.NEXT_STATUSES[item.status]),
        )
    )
    move(item)
    last = common.run(loop.latest_measurement, item_id)
    if last is not None:
        st.code(loop.render_measurement(last), language=None)
    with st.expander(t("followup")):
        follow = common.run(loop.followup, item_id)
        st.caption(follow.summary())
        st.dataframe(follow.customers.head(100), hide_index=True, width="stretch")
    with st.expander(t("history")):
        st.dataframe(common.run(loop.history, item_id), hide_index=True, width="stretch")


common.current_store()
st.title(t("page_loop"))
st.caption(t("loop_caption"))
open_only = st.toggle(t("open_only"), value=True, key="lp_open")
items = common.run(loop.list_items, open_only=open_only)
if items.empty:
    st.info(t("loop_empty"))
else:
    item_table(items)
    picked = st.selectbox(
        t("pick_item"),
        items["item_id"].tolist(),
        key="lp_item",
        format_func=lambda i: f"#{i} {items.set_index('item_id').loc[i, 'title']}",
    )
    details(int(picked))
