"""The app's Models page, without Streamlit: model versions, which version tagged which run,
retraining from the store's (or a file's) labels with the before/after, and re-tagging the store
with a version through the run service (:mod:`cx_text.engines.base`, as an upload does).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from cx_text.core.config import SHIPPED_VERSION, Settings
from cx_text.engines.local import Tagger, tag_file
from cx_text.engines.progress import Progress
from cx_text.models.versions import list_versions
from cx_text.training.before_after import BeforeAfter, Tag, run_before_after
from cx_text.training.retrain import RetrainResult, run_retrain

#: the canonical input columns a stored message is re-tagged from (its PII-masked text)
RETAG_SQL = """
SELECT id, text_clean AS text, created_at, channel, source_system AS source, nps, csat, ces, rating,
       customer_id, segment
FROM messages WHERE source = ? ORDER BY id
"""


def versions_table(settings: Settings) -> pd.DataFrame:
    """One row per version: shipped first, then the trained ones; ``in_use`` marks ``settings``'."""
    rows = []
    for info in list_versions(settings):
        labels = info.details.get("labels") or {}
        rows.append(
            {
                "version": info.name,
                "created": info.version if info.source == "trained" else "",
                "parent": info.details.get("parent") or "",
                "labels_trained": labels.get("trained"),
                "labels_held_back": labels.get("held_back"),
                "new_topics": ", ".join(info.details.get("new_topics") or []),
                "checksum": info.checksum[:19],
                "status": info.status,
                "in_use": info.name == settings.model_version,
            }
        )
    return pd.DataFrame(rows)


def runs_by_version(store: Any) -> pd.DataFrame:
    """Every run of the store with the model version that tagged it (``shipped`` before
    versions)."""
    return store.query(
        "SELECT coalesce(json_extract_string(manifest, '$.model_version'), 'shipped') AS "
        "model_version, "
        "run_id, source, status, started_at, finished_at FROM runs ORDER BY started_at DESC"
    )


def retrain_in_app(
    settings: Settings,
    labels_from: Path,
    *,
    name: str | None = None,
    embed: Callable[..., Any] | None = None,
    tag: Tag | None = None,
    on_step: Callable[[str], None] = lambda _: None,
) -> tuple[RetrainResult, BeforeAfter | None]:
    """Train a version from ``labels_from`` (the store or a labels file), then its before/after."""
    on_step("train")
    result = run_retrain(settings, labels_from, name=name, embed=embed)
    if not result.record["labels"]["held_back"]:
        return result, None
    on_step("evaluate")
    return result, run_before_after(settings, labels_from, result.name, tag)


def chunk_tag(tagger: Tagger) -> Tag:
    """A before/after ``tag`` from a chunk tagger (the app's plug-in tagger in tests and demos)."""
    from cx_text.core import schema

    def tag(settings: Settings, labels: pd.DataFrame) -> pd.DataFrame:
        return tagger(pd.DataFrame({schema.ID: labels["id"], schema.TEXT: labels["text"]}))

    return tag


def retag_store(
    store: Any,
    tagger: Tagger,
    settings: Settings,
    folder: Path,
    *,
    manifest: dict[str, Any],
    on_progress: Progress | None = None,
) -> list[Any]:
    """Re-tag every source of the store with ``settings``' model version: one run per source
    (the same source name, so it supersedes that source's tags); returns the run summaries."""
    sources = store.query("SELECT DISTINCT source FROM messages ORDER BY source")["source"].tolist()
    folder.mkdir(parents=True, exist_ok=True)
    summaries = []
    for source in sources:
        path = folder / f"{source}.parquet"
        store.query(RETAG_SQL, [source]).to_parquet(path, index=False)
        summaries.append(
            tag_file(
                path,
                folder / f"{source}_tagged.parquet",
                tagger,
                settings,
                manifest={
                    **manifest,
                    "engine": "app",
                    "retag": True,
                    "model_version": settings.model_version,
                },
                store=store,
                resume="auto",
                progress=False,
                on_progress=on_progress,
                source=source,
            )
        )
    return summaries


def version_choices(settings: Settings) -> list[str]:
    """Names a user may switch to (only versions whose files match their checksums)."""
    return [SHIPPED_VERSION] + [i.name for i in list_versions(settings)[1:] if i.status == "ok"]
