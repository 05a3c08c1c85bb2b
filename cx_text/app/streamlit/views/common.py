"""What every page shares: RU/EN labels, the cached store, settings, sidebar filters, cached
queries.

Pages only call library functions, through :func:`query` (cached per data version and
arguments, read from the app's snapshot of the store) or :func:`write` / :func:`write_each`
(short writes to the store file). No analytics lives here.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st
import yaml

from cx_text.analytics.filters import Filters
from cx_text.app.queries import AppStore, ShortWrites, data_version, open_app_store
from cx_text.core.config import Settings
from cx_text.core.errors import CxTextError

LABELS_PATH = Path(__file__).with_name("labels.yaml")
UI_LANGS = ("en", "ru")
TAGGER_ENV = "CX_TEXT_APP_TAGGER"  # "module:function" — a model-free tagger for tests/demos
EMBED_ENV = "CX_TEXT_APP_EMBED"  # "module:function" — a theme embedder for tests/demos
log = logging.getLogger("cx_text.app")


@st.cache_data(show_spinner=False)
def load_labels(path: str = str(LABELS_PATH)) -> dict[str, dict[str, str]]:
    """The RU/EN label table (a data file)."""
    with open(path, encoding="utf-8") as fh:
        return dict(yaml.safe_load(fh))


def ui_lang() -> str:
    return str(st.session_state.get("ui_lang", "en"))


def t(key: str, **values: Any) -> str:
    """The label ``key`` in the chosen interface language (English as the fallback)."""
    entry = load_labels().get(key)
    if entry is None:
        log.warning("missing UI label %s", key)
        return key
    text = entry.get(ui_lang()) or entry["en"]
    return text.format(**values) if values else text


def settings() -> Settings:
    return Settings.from_env(
        db_path=st.session_state.get("db_path"), model_version=st.session_state.get("model_version")
    )


@st.cache_resource(show_spinner=False)
def app_store(path: str) -> AppStore:
    """One snapshot reader per store file, shared by every session (see AppStore.lock and
    cx_text/app/snapshot.py: the app holds no lock on the store between interactions)."""
    return open_app_store(path)


def current_store() -> AppStore:
    return app_store(str(settings().db_path))


def filters() -> Filters:
    """The sidebar filters (set by main.py on every run)."""
    return st.session_state.get("cx_filters") or Filters()


def version() -> str:
    db = current_store()
    with db.lock:
        return f"{db.version}|{data_version(db.store)}"


def query(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(store, *args, **kwargs)``, cached by store, data version and arguments."""
    key = repr((args, sorted(kwargs.items())))
    return _cached(
        fn.__module__, fn.__qualname__, str(settings().db_path), version(), key, args, kwargs
    )


@st.cache_data(show_spinner=False, max_entries=400, ttl=6 * 3600)
def _cached(
    module: str,
    name: str,
    path: str,
    data_version: str,
    key: str,
    _args: tuple[Any, ...],
    _kwargs: dict[str, Any],
) -> Any:
    fn = getattr(importlib.import_module(module), name)
    db = app_store(path)
    with db.lock:
        return fn(db.store, *_args, **_kwargs)


def run(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(store, …)`` uncached (e.g. an export), holding the store lock."""
    db = current_store()
    with db.lock:
        return fn(db.store, *args, **kwargs)


def write(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run one short edit on the store file (StoreError "busy" when another process holds it
    longer than ``WRITE_WAIT_S``); the app's snapshot follows right after."""
    db = current_store()
    with db.writable() as store:
        return fn(store, *args, **kwargs)


def write_each(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a long job (an upload) whose every store call is its own short write, so a batch
    ``cx-text tag`` can write in between; the snapshot is refreshed at the end."""
    db = current_store()
    try:
        return fn(ShortWrites(db), *args, **kwargs)
    finally:
        db.refresh(force=True)


@st.cache_data(show_spinner=False)
def topic_names(taxonomy_path: str, lang: str) -> dict[str, str]:
    """Topic and sub-topic ids -> names in ``lang`` (ids stay when the taxonomy lacks them)."""
    from cx_text.core.taxonomy import load_taxonomy

    try:
        taxonomy = load_taxonomy(taxonomy_path)
    except CxTextError:
        return {}
    names = {}
    for topic in taxonomy:
        names[topic.id] = topic.name(lang)
        for sub in topic.subtopics:
            names[sub.full_id(topic.id)] = f"{topic.name(lang)} / {sub.names.get(lang) or sub.id}"
    return names


def names() -> dict[str, str]:
    return topic_names(str(settings().taxonomy_path), ui_lang())


def theme_names(themes: pd.DataFrame) -> dict[str, str]:
    return {
        str(i): f"{lbl} ({i})" for i, lbl in zip(themes["theme_id"], themes["label"], strict=True)
    }


def require_data() -> Any:
    """The store's filter options; stops the page with a helpful message when it is empty."""
    from cx_text.app.queries import filter_options

    options = query(filter_options)
    if not options.rows:
        st.info(t("empty_store", db=settings().db_path))
        st.stop()
    return options


def stop_if_empty(frame: pd.DataFrame | None, message_key: str = "no_match") -> None:
    if frame is None or frame.empty:
        st.info(t(message_key))
        st.stop()


def chart(figure: Any, extra: int = 120) -> None:
    """Show an Altair chart full-width, tall enough for its declared plot height plus titles."""
    height = getattr(figure, "height", None)
    st.altair_chart(
        figure,
        width="stretch",
        height=int(height) + extra if isinstance(height, int) else "content",
    )


def fmt(value: Any, digits: int = 1, unit: str = "") -> str:
    """``12.345`` -> ``"12.3"``; NaN -> ``"—"``."""
    if value is None or pd.isna(value):
        return "—"
    return f"{float(value):,.{digits}f}{unit}"


def plugin(env: str) -> str | None:
    """A ``module:function`` named by an environment variable (read at the edge, here)."""
    return os.environ.get(env) or None
