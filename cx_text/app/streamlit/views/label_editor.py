"""Widgets to correct a message in place (Verbatims, a theme's quotes, the review queue).

The analyst's name is asked once per session (kept in ``st.session_state["cx_analyst"]``). The
logic — what a message shows, saving, confirming — is :mod:`cx_text.app.labels`.
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from cx_text.app.labels import (
    SENTIMENTS,
    Reviewed,
    confirm_shown,
    reviewed,
    save_correction,
    topic_label,
)
from cx_text.app.streamlit.views import common
from cx_text.app.streamlit.views.common import t
from cx_text.core.errors import CxTextError

ANALYST = "cx_analyst"
DONE = "lb_done"


def who() -> str:
    """The analyst's name: asked once, then remembered for the session."""
    name = str(st.session_state.get(ANALYST) or "")
    if not name:
        typed = st.text_input(t("your_name"), key="lb_name_input", placeholder=t("your_name_hint"))
        name = typed.strip()
        if name:
            st.session_state[ANALYST] = name
    if name:
        st.caption(t("labelling_as", who=name))
    else:
        st.info(t("name_first"))
    return name


def topic_ids() -> list[str]:
    from cx_text.core.taxonomy import load_taxonomy

    return list(load_taxonomy(common.settings().taxonomy_path).topic_ids)


def show_done() -> None:
    if DONE in st.session_state:
        st.success(st.session_state.pop(DONE))


def pick_and_edit(
    keys: Sequence[tuple[str, str]], labels: dict[tuple[str, str], str], prefix: str
) -> None:
    """A selectbox over ``keys`` (source, id) and the editor of the chosen message."""
    if not keys:
        return
    chosen = st.selectbox(
        t("correct_pick"),
        list(keys),
        key=f"{prefix}_pick",
        format_func=lambda k: labels.get(k, f"{k[0]}/{k[1]}"),
    )
    if chosen is not None:
        edit(chosen[0], chosen[1], prefix)


def edit(source: str, message_id: str, prefix: str, skip: bool = False) -> None:
    """The editor of one message: sentiment, topics, per-topic polarity; save or confirm."""
    item: Reviewed | None = common.query(reviewed, source, message_id)
    if item is None:
        return
    names = common.names()
    key = f"{prefix}_{source}_{message_id}"
    st.caption(
        t(
            "model_said",
            sentiment=t(f"sent_{item.model_sentiment}") if item.model_sentiment else "—",
            topics=topic_label(item.model_topics, names),
        )
    )
    c1, c2 = st.columns([1, 2])
    sentiment = c1.selectbox(
        t("sentiment"),
        SENTIMENTS,
        key=f"{key}_sent",
        index=SENTIMENTS.index(item.sentiment) if item.sentiment in SENTIMENTS else 1,
        format_func=lambda s: t(f"sent_{s}"),
    )
    choices = list(dict.fromkeys([*topic_ids(), *item.topics]))
    topics = c2.multiselect(
        t("topics_label"),
        choices,
        default=list(item.topics),
        key=f"{key}_topics",
        format_func=lambda k: names.get(k, k),
    )
    polarity = _polarities(item, topics, sentiment, key, names)
    name = who()
    b1, b2, b3 = st.columns([1, 1, 3])
    if b1.button(t("save_correction"), key=f"{key}_save", type="primary", disabled=not name):
        _write(
            save_correction,
            source,
            message_id,
            item.key,
            sentiment=sentiment,
            topics=topics,
            polarity=polarity,
            who=name,
            topic_ids=choices,
        )
    if b2.button(
        t("confirm_tags"), key=f"{key}_confirm", disabled=not name, icon=":material/check:"
    ):
        _write(confirm_shown, source, message_id, item.key, who=name)
    if skip and b3.button(t("skip_item"), key=f"{key}_skip"):
        st.session_state.setdefault("rq_skipped", []).append(item.key)
        st.rerun()


def _polarities(
    item: Reviewed, topics: Sequence[str], sentiment: str, key: str, names: dict[str, str]
) -> dict[str, str]:
    out: dict[str, str] = {}
    columns = st.columns(max(len(topics), 1))
    for column, topic in zip(columns, topics, strict=False):
        current = item.polarity.get(topic) or sentiment
        out[topic] = column.selectbox(
            t("polarity_of", topic=names.get(topic, topic)),
            SENTIMENTS,
            index=SENTIMENTS.index(current) if current in SENTIMENTS else 1,
            key=f"{key}_pol_{topic}",
            format_func=lambda s: t(f"sent_{s}"),
        )
    return out


def _write(fn: object, source: str, message_id: str, label: str, **kwargs: object) -> None:
    try:
        stored = common.write(fn, source, message_id, **kwargs)  # type: ignore[arg-type]
    except CxTextError as exc:
        st.error(str(exc))
        return
    st.session_state[DONE] = t("label_saved", n=stored, message=label)
    st.rerun()
