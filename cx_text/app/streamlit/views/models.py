"""Models: the model versions, which version tagged which run, retraining from labels with the
before/after table, re-tagging the store with a version, and going back to shipped."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import streamlit as st

from cx_text.app.models import (
    chunk_tag,
    retag_store,
    retrain_in_app,
    runs_by_version,
    version_choices,
    versions_table,
)
from cx_text.app.streamlit.views import actions, common
from cx_text.app.streamlit.views.common import t
from cx_text.core.config import SHIPPED_VERSION, load_callable
from cx_text.core.errors import CxTextError


def version_switch() -> None:
    settings = common.settings()
    choices = version_choices(settings)
    current = settings.model_version if settings.model_version in choices else SHIPPED_VERSION
    picked = st.selectbox(t("models_use"), choices, index=choices.index(current), key="mv_choice")
    left, right = st.columns(2)
    if left.button(t("models_switch"), key="mv_switch", disabled=picked == current):
        st.session_state["model_version"] = picked
        st.rerun()
    if right.button(t("models_back"), key="mv_back", disabled=current == SHIPPED_VERSION):
        st.session_state["model_version"] = SHIPPED_VERSION
        st.rerun()
    st.caption(t("models_in_use", version=current))


def labels_source() -> Path | None:
    """The store itself, or an uploaded labels file (the data/corpus format)."""
    kind = st.radio(
        t("models_labels_from"),
        ("store", "file"),
        horizontal=True,
        key="mv_from",
        format_func=lambda k: t(f"models_from_{k}"),
    )
    if kind == "store":
        return Path(common.settings().db_path)
    file = st.file_uploader(
        t("models_labels_file"), type=["xlsx", "csv", "jsonl", "parquet"], key="mv_file"
    )
    if file is None:
        return None
    marker = f"{file.name}:{file.size}:{getattr(file, 'file_id', '')}"
    if st.session_state.get("mv_file_marker") != marker:  # save each upload once
        path = Path(tempfile.mkdtemp(prefix="cx_labels_")) / Path(file.name).name
        path.write_bytes(file.getvalue())
        st.session_state["mv_file_path"], st.session_state["mv_file_marker"] = str(path), marker
    return Path(st.session_state["mv_file_path"])


def retrain(source: Path) -> None:
    settings = common.settings()
    embed = common.plugin(common.EMBED_ENV)
    spec = common.plugin(common.TAGGER_ENV)
    name = st.session_state.get("mv_name") or None
    with st.status(t("models_training"), expanded=True) as status:
        result, table = retrain_in_app(
            settings,
            source,
            name=name,
            embed=load_callable(embed) if embed else None,
            tag=chunk_tag(load_callable(spec)) if spec else None,
            on_step=lambda step: status.write(t(f"models_step_{step}")),
        )
        status.update(label=t("models_trained", version=result.name), state="complete")
    st.session_state["mv_result"] = (result.render(), table)
    st.rerun()  # the versions table then lists the new version


def show_result() -> None:
    text, table = st.session_state["mv_result"]
    st.success(text.replace("\n", "  \n"))
    if table is None:
        st.info(t("models_no_held_back"))
        return
    heading = t(
        "models_before_after",
        version=table.version,
        held=table.n_held_back,
        trained=table.n_trained,
    )
    st.markdown(f"**{heading}**")
    st.dataframe(table.table.round(3), hide_index=True, width="stretch", key="mv_table")


def retag() -> None:
    settings = common.settings()
    tagger, manifest = actions.tagger()
    bar = st.progress(0.0, text=t("tagging"))

    def progress(done: int, total: int | None) -> None:
        bar.progress(
            min(done / total, 1.0) if total else 0.0,
            text=t("tagged_rows", done=done, total=total or "?"),
        )

    def job(store: Any) -> list[Any]:
        return retag_store(
            store,
            tagger,
            settings,
            Path(tempfile.mkdtemp(prefix="cx_retag_")),
            manifest=manifest,
            on_progress=progress,
        )

    runs = common.write_each(job)
    bar.progress(1.0, text=t("models_retagged", runs=len(runs), version=settings.model_version))


common.current_store()
st.title(t("page_models"))
st.caption(t("models_caption"))
try:
    st.subheader(t("models_versions"))
    st.dataframe(
        versions_table(common.settings()), hide_index=True, width="stretch", key="mv_versions"
    )
    version_switch()
    st.subheader(t("models_runs"))
    runs = common.query(runs_by_version)
    if runs.empty:
        st.info(t("empty_store", db=common.settings().db_path))
    st.dataframe(runs, hide_index=True, width="stretch", key="mv_runs")
    if not runs.empty and st.button(
        t("models_retag", version=common.settings().model_version), key="mv_retag"
    ):
        retag()
    st.subheader(t("models_retrain"))
    source = labels_source()
    st.text_input(t("models_name"), key="mv_name", placeholder="org-…")
    if st.button(
        t("models_retrain_button"), type="primary", key="mv_retrain", disabled=source is None
    ):
        retrain(source)  # type: ignore[arg-type]
    if "mv_result" in st.session_state:
        show_result()
except CxTextError as exc:
    st.error(exc.message)
    if exc.hint:
        st.info(exc.hint)
