"""cx_text — the Streamlit app for CX analysts: page config, shared sidebar filters, navigation.

Start it with ``cx-text app --db PATH`` (or ``streamlit run cx_text/app/streamlit/main.py -- --db
PATH``). Pages live in ``views/`` beside this file; everything they compute comes from ``cx_text``
(see docs/APP.md).
"""

from __future__ import annotations

import argparse
import logging
import sys

import streamlit as st

from cx_text.analytics.filters import Filters
from cx_text.app.queries import PRESETS, FilterOptions, filter_options, preset_window
from cx_text.app.streamlit.views import common
from cx_text.app.streamlit.views.common import t
from cx_text.core.errors import CxTextError

PAGES = (
    ("overview", ":material/dashboard:"),
    ("themes", ":material/topic:"),
    ("trends", ":material/trending_up:"),
    ("segments", ":material/compare_arrows:"),
    ("verbatims", ":material/format_quote:"),
    ("review", ":material/rate_review:"),
    ("upload", ":material/upload_file:"),
    ("loop", ":material/sync:"),
    ("models", ":material/model_training:"),
)


def db_argument(argv: list[str]) -> str | None:
    """``--db PATH`` after ``streamlit run main.py --``; None when not given."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--db", default=None)
    return parser.parse_known_args(argv)[0].db


def sidebar(options: FilterOptions) -> Filters:
    """Period, channel, segment and language filters shared by every page."""
    st.sidebar.header(t("filters"))
    preset = st.sidebar.selectbox(
        t("period"),
        PRESETS,
        index=PRESETS.index("90d"),
        key="f_preset",
        format_func=lambda p: t(f"preset_{p}"),
    )
    custom = None
    if preset == "custom" and options.first_day and options.last_day:
        picked = st.sidebar.date_input(
            t("custom_range"),
            (options.first_day, options.last_day),
            min_value=options.first_day,
            max_value=options.last_day,
            key="f_dates",
        )
        if isinstance(picked, tuple | list) and len(picked) == 2:
            custom = (picked[0], picked[1])
    start, end = preset_window(preset, options.first_day, options.last_day, custom)
    channels = st.sidebar.multiselect(t("channel"), options.channels, key="f_channels")
    segments = st.sidebar.multiselect(t("segment"), options.segments, key="f_segments")
    langs = st.sidebar.multiselect(t("language"), options.langs, key="f_langs")
    if start and end:
        st.sidebar.caption(t("window", start=start, end=end))
    return Filters(
        start=start, end=end, channels=tuple(channels), segments=tuple(segments), langs=tuple(langs)
    )


def main() -> None:
    st.set_page_config(page_title="cx_text", page_icon=":material/forum:", layout="wide")
    if "db_path" not in st.session_state:
        st.session_state["db_path"] = db_argument(sys.argv[1:])
    st.sidebar.radio(
        t("ui_language"),
        common.UI_LANGS,
        key="ui_lang",
        horizontal=True,
        format_func=lambda code: {"en": "English", "ru": "Русский"}[code],
    )
    pages = [
        st.Page(f"views/{name}.py", title=t(f"page_{name}"), icon=icon, default=name == "overview")
        for name, icon in PAGES
    ]
    nav = st.navigation(pages)
    try:
        db = common.current_store()
        db.refresh(force=st.sidebar.button(t("reload_data"), key="reload_data"))
        options = common.query(filter_options)
        st.session_state["cx_filters"] = sidebar(options) if options.rows else Filters()
        if db.busy:
            st.sidebar.warning(
                t("store_busy", time=f"{db.snapshot_time:%H:%M:%S}" if db.snapshot_time else "—")
            )
        st.sidebar.caption(t("store_caption", db=common.settings().db_path, rows=options.rows))
        nav.run()
    except CxTextError as exc:
        st.error(exc.message)
        if exc.hint:
            st.info(exc.hint)
    except Exception as exc:
        logging.getLogger("cx_text.app").exception("page failed")
        st.error(t("unexpected", error=f"{type(exc).__name__}: {exc}"))


main()
