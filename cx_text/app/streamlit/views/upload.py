"""Upload & tag: upload an export, map its columns with a preview, tag it into the store,
download."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import streamlit as st

from cx_text.app.streamlit.views import actions, common
from cx_text.app.streamlit.views.common import t
from cx_text.app.upload import (
    MAX_UPLOAD_MB,
    OUTPUT_FORMATS,
    SUFFIXES,
    UploadResult,
    preview_upload,
    save_upload,
    tag_upload,
    upload_columns,
)
from cx_text.core import schema
from cx_text.core.errors import CxTextError

MIME = {
    "csv": "text/csv",
    "parquet": "application/octet-stream",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def saved_upload() -> Path | None:
    """Save a new upload once (per file) to a private temp folder; None until one arrives."""
    file = st.file_uploader(
        t("upload_file", mb=MAX_UPLOAD_MB), type=[s.lstrip(".") for s in SUFFIXES], key="up_file"
    )
    if file is None:
        return None
    marker = f"{file.name}:{file.size}:{getattr(file, 'file_id', '')}"
    if st.session_state.get("up_marker") != marker:
        folder = Path(tempfile.mkdtemp(prefix="cx_upload_"))
        st.session_state["up_path"] = str(save_upload(file.name, file.getvalue(), folder))
        st.session_state["up_marker"] = marker
        st.session_state.pop("up_result", None)
    return Path(st.session_state["up_path"])


def mapping_controls(path: Path) -> dict[str, str]:
    """One selectbox per canonical column, defaulting to what ingest detected."""
    columns = upload_columns(path)
    try:
        detected = preview_upload(path, rows=1).mapping
    except CxTextError:
        detected = {}
    st.markdown(f"**{t('map_columns')}**")
    chosen: dict[str, str] = {}
    grid = st.columns(4)
    for i, canonical in enumerate(schema.CANONICAL_COLUMNS):
        options = ("", *columns)
        default = options.index(detected[canonical]) if detected.get(canonical) in options else 0
        value = grid[i % 4].selectbox(
            t(f"canon_{canonical}"),
            options,
            index=default,
            key=f"up_map_{canonical}",
            format_func=lambda c: c or t("not_mapped"),
        )
        if value:
            chosen[canonical] = value
    return chosen


def run_tagging(path: Path, mapping: dict[str, str], kind: str) -> UploadResult:
    tagger, manifest = actions.tagger()
    bar = st.progress(0.0, text=t("tagging"))

    def progress(done: int, total: int | None) -> None:
        share = min(done / total, 1.0) if total else 0.0
        bar.progress(share, text=t("tagged_rows", done=done, total=total or "?"))

    output = path.with_name(f"{path.stem}_tagged.{kind}")
    settings = common.settings()

    def job(store: Any) -> UploadResult:
        return tag_upload(
            path,
            store,
            tagger,
            settings,
            output,
            mapping=mapping,
            manifest=manifest,
            on_progress=progress,
        )

    result: UploadResult = common.write_each(job)  # one short write per chunk
    bar.progress(1.0, text=t("tagged_rows", done=result.rows, total=result.rows))
    return result


def show_result(result: UploadResult) -> None:
    status = ", ".join(
        f"{k} {v:,}" for k, v in sorted(result.by_status.items(), key=lambda kv: -kv[1])
    )
    st.success(
        t("upload_done", rows=result.rows, run=result.run_id, seconds=result.seconds, status=status)
    )
    if result.status != "complete":  # too many rows failed: the store keeps the previous tags
        st.warning(result.status_note or result.status)
    if result.output.is_file():
        kind = result.output.suffix.lstrip(".")
        st.download_button(
            t("download_tagged"),
            result.output.read_bytes(),
            file_name=result.output.name,
            mime=MIME.get(kind),
            key="up_download",
        )
    st.caption(t("after_upload"))
    if st.button(t("discover_themes"), key="up_themes_btn"):
        from cx_text.themes.service import discover_themes

        embed, lemmatize = actions.theme_tools()
        found = common.write(
            lambda store: discover_themes(store, embed, lemmatize, settings=common.settings())
        )
        st.info(found.render())


common.current_store()
st.title(t("page_upload"))
st.caption(t("upload_caption", mb=MAX_UPLOAD_MB))
try:
    path = saved_upload()
    if path is not None:
        mapping = mapping_controls(path)
        preview = preview_upload(path, mapping, rows=10, settings=common.settings())
        st.markdown(f"**{t('preview')}** — {preview.format}")
        st.dataframe(preview.preview, hide_index=True, width="stretch")
        kind = st.radio(t("output_format"), OUTPUT_FORMATS, horizontal=True, key="up_kind")
        if st.button(t("tag_button"), type="primary", key="up_tag_btn"):
            st.session_state["up_result"] = run_tagging(path, mapping, kind)
    else:
        st.info(t("upload_hint"))
    if "up_result" in st.session_state:
        show_result(st.session_state["up_result"])
except CxTextError as exc:
    st.error(exc.message)
    if exc.hint:
        st.info(exc.hint)
