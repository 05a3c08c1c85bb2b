"""Heavy resources and cross-page actions: the tagger, the theme embedder, open-in-register.

Models are built once per process with ``st.cache_resource``; tests and demos can name a
model-free replacement with ``CX_TEXT_APP_TAGGER`` / ``CX_TEXT_APP_EMBED`` (``module:function``).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from cx_text.app.streamlit.views import common
from cx_text.app.streamlit.views.common import t
from cx_text.core.config import Settings, load_callable
from cx_text.core.errors import CxTextError


@st.cache_resource(show_spinner=False)
def _tagger(spec: str | None, key: str, _settings: Settings) -> tuple[Any, dict[str, Any]]:
    if spec:
        return load_callable(spec), {"tagger": spec, "source": "app"}
    from cx_text.classify.tagger import build_tagger

    tagger = build_tagger(_settings)
    return tagger, tagger.resources.manifest(source="app")


def tagger() -> tuple[Any, dict[str, Any]]:
    """(chunk tagger, run manifest): the real models, or the plug-in named by the env var."""
    settings = common.settings()
    with st.spinner(t("loading_models")):
        return _tagger(common.plugin(common.TAGGER_ENV), repr(settings), settings)


@st.cache_resource(show_spinner=False)
def _theme_tools(spec: str | None, key: str, _settings: Settings) -> tuple[Any, Any]:
    if spec:
        from cx_text.themes.service import simple_lemmatize

        return load_callable(spec), simple_lemmatize
    from cx_text.themes.service import load_theme_tools

    return load_theme_tools(_settings)


def theme_tools() -> tuple[Any, Any]:
    """(embed, lemmatize) for theme split and discovery."""
    settings = common.settings()
    with st.spinner(t("loading_models")):
        return _theme_tools(common.plugin(common.EMBED_ENV), repr(settings), settings)


def open_in_loop(theme: pd.Series) -> None:
    """A button that routes the theme to its owning team in the closing-the-loop register."""
    from cx_text.loop import service as loop

    if st.button(t("open_in_loop"), key="th_loop_btn", icon=":material/assignment_add:"):
        try:
            item = common.write(loop.open_item, theme=str(theme["theme_id"]))
        except CxTextError as exc:
            st.warning(str(exc))
        else:
            st.success(t("loop_opened", item=item.item_id, team=item.team))
        st.page_link("views/loop.py", label=t("go_loop"), icon=":material/sync:")
