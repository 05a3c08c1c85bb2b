"""The library API: ``load() -> Tagger``, ``tag_file()``, ``open_store()``.

The CLI and the app call these; a notebook user needs nothing else::

    import cx_text
    tagger = cx_text.load()
    tagged = tagger.tag(df, text_col="comment")
    summary = cx_text.tag_file("export.xlsx", "tagged.parquet", db="cx.duckdb")
    with cx_text.open_store("cx.duckdb") as store:
        store.metrics(by="topic")

Heavy modules (torch, transformers, natasha, DuckDB) are imported inside the calls, so
``import cx_text`` stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from cx_text.core.config import Settings
from cx_text.core.errors import ConfigError

ENGINES = ("local", "spark")


class Tagger:
    """Models loaded once; :meth:`tag` tags any DataFrame, :meth:`tag_texts` a list of strings."""

    def __init__(
        self,
        engine_tagger: Callable[[pd.DataFrame], pd.DataFrame],
        settings: Settings,
        manifest: Callable[..., dict[str, Any]],
    ) -> None:
        self._tagger = engine_tagger
        self.settings = settings
        self._manifest = manifest

    @property
    def engine_tagger(self) -> Any:
        """The chunk tagger the engines use (``chunk -> tagged chunk``)."""
        return self._tagger

    def manifest(self, **extra: Any) -> dict[str, Any]:
        """Models, versions, checksums, taxonomy and settings of this tagger (the run manifest)."""
        return dict(self._manifest(**extra))

    def tag(
        self,
        frame: pd.DataFrame,
        text_col: str | None = None,
        mapping: Mapping[str, str] | None = None,
    ) -> pd.DataFrame:
        """Tag every row of ``frame``: rows in = rows out, in order, never mutated.

        Columns are mapped like a file export's (``text_col`` or ``mapping`` = canonical name ->
        your column, e.g. ``{"id": "ticket", "nps": "score"}``); value checks apply and bad values
        are flagged in ``row_status`` / ``row_issues``. The result is your frame — your columns,
        names and values — plus cx_text's columns (``id``, ``text_clean``, ``sentiment``, ``topics``
        …; ``cx_``-prefixed when your frame has that name), as in every tagging output.
        """
        from cx_text.engines.local import tag_safely
        from cx_text.io.columns import user_view
        from cx_text.io.frames import canonical_frame

        canonical = canonical_frame(
            frame, text_col=text_col, mapping=mapping, settings=self.settings
        )
        return user_view(tag_safely(self._tagger, canonical).reset_index(drop=True))

    def tag_texts(self, texts: Sequence[str]) -> pd.DataFrame:
        """Convenience: tag a list of strings (one row each)."""
        return self.tag(pd.DataFrame({"text": list(texts)}), text_col="text")


def load(
    settings: Settings | None = None,
    *,
    model: str | None = None,
    sentiment_model: str | None = None,
    label_map: str | Path | None = None,
    taxonomy: str | Path | None = None,
    precision: str | None = None,
    mask_pii: bool | None = None,
    allow_network: bool | None = None,
    model_version: str | None = None,
) -> Tagger:
    """Load every model once (offline by default) and return a :class:`Tagger`.

    ``model``: an encoder directory or hub id (hub only with ``allow_network=True``);
    ``sentiment_model`` + ``label_map``: your own HF sentiment classifier;
    ``model_version``: ``"shipped"`` or a version trained with ``cx-text train --labels``.
    """
    from cx_text.classify.tagger import build_tagger

    chosen = _settings(
        settings,
        encoder=model,
        sentiment_model=sentiment_model,
        sentiment_label_map=label_map,
        taxonomy_path=taxonomy,
        precision=precision,
        mask_pii=mask_pii,
        allow_network=allow_network,
        model_version=model_version,
    )
    if chosen.tagger:  # CX_TEXT_TAGGER=module:function, a model-free tagger (tests, demos)
        return plugin_tagger(chosen)
    chunk_tagger = build_tagger(chosen)
    return Tagger(chunk_tagger, chunk_tagger.settings, chunk_tagger.resources.manifest)


def plugin_tagger(settings: Settings) -> Tagger:
    """The ``settings.tagger`` function (``module:function``) as a :class:`Tagger`."""
    from cx_text.core.config import load_callable

    spec = str(settings.tagger)
    return Tagger(
        load_callable(spec),
        settings,
        lambda **extra: {"tagger": spec, "fingerprint": spec, **extra},
    )


def tag_file(
    path: str | Path,
    out: str | Path,
    *,
    engine: str = "local",
    db: str | Path | None = None,
    resume: bool = False,
    tagger: Tagger | None = None,
    settings: Settings | None = None,
    mapping: Mapping[str, str] | None = None,
    sheet: str | None = None,
    customers: pd.DataFrame | None = None,
    source: str | None = None,
    master: str = "local[2]",
    progress: bool = False,
) -> Any:
    """Tag an export file into ``out`` (Parquet/CSV/XLSX/JSONL) and, with ``db``, the store.

    Returns the run summary (``rows_in``, ``rows_out``, ``by_status``, ``run_id``, ``status`` …).
    ``source`` names the export in the store (default: derived from the file name): tagging another
    export adds messages, re-tagging the same source supersedes its own earlier tags.
    ``engine="spark"`` runs the same chunks on Spark (``master``, default ``local[2]``).
    """
    if engine not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r}.", f"Use one of: {', '.join(ENGINES)}.")
    settings = tagger.settings if tagger is not None else (settings or Settings.from_env())
    if db is not None:
        settings = replace(settings, db_path=Path(db))
    src, dst = Path(path), Path(out)
    db_path = Path(db) if db is not None else None
    if engine == "spark":
        from cx_text.core.extras import require

        require("spark", "the Spark engine")
        from cx_text.engines.spark.files import tag_file_spark

        return tag_file_spark(
            src,
            dst,
            settings,
            master=master,
            mapping=mapping,
            sheet=sheet,
            db_path=db_path,
            resume=resume,
            customers=customers,
            source=source,
        )
    from cx_text.engines.local import tag_file as run_local

    tagger = tagger or load(settings)
    return run_local(
        src,
        dst,
        tagger.engine_tagger,
        settings,
        manifest=tagger.manifest(input=str(src)),
        mapping=mapping,
        sheet=sheet,
        db_path=db_path,
        resume=resume,
        customers=customers,
        progress=progress,
        source=source,
    )


class StoreReader:
    """Read-only queries over a store, as the CLI runs them (each call opens the store briefly)."""

    def __init__(self, path: Path, settings: Settings) -> None:
        self.path = path
        self.settings = settings

    @contextmanager
    def _store(self) -> Iterator[Any]:
        from cx_text.store.store import open_store as open_db

        with open_db(self.path, read_only=True) as store:
            yield store

    def sql(self, query: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
        """Any read-only SQL over the store's tables and views (docs/STORE.md)."""
        with self._store() as store:
            return store.con.execute(query, list(params or [])).df()

    def metrics(self, by: str = "overall", filters: Any = None) -> pd.DataFrame:
        """NPS, CSAT, CES, volume, % negative, churn per group with CIs (``cx-text metrics``)."""
        from cx_text.analytics.metrics import metrics_by

        with self._store() as store:
            return metrics_by(store, by, filters, self.settings)

    def report(self, **request: Any) -> dict[str, Any]:
        """All ``cx-text metrics`` sections (impact, drivers, churn, trends, alerts …)."""
        from cx_text.analytics.report import MetricsRequest, build_report

        with self._store() as store:
            return build_report(store, MetricsRequest(**request), self.settings)

    def themes(self, topic: str | None = None, quotes: int = 3) -> pd.DataFrame:
        """Live recurring-complaint themes with volume, share and quotes (``cx-text themes``)."""
        from cx_text.themes.service import list_themes

        with self._store() as store:
            return list_themes(store, topic, quotes=quotes)

    def loop_items(
        self, team: str | None = None, status: str | None = None, open_only: bool = False
    ) -> pd.DataFrame:
        """The closing-the-loop register (``cx-text loop list``)."""
        from cx_text.loop.service import list_items

        with self._store() as store:
            return list_items(store, team, status, open_only)

    def labels(self, history: bool = False) -> pd.DataFrame:
        """Analysts' labels as training data in the corpus format
        (``cx_text.store.labels.labels_frame``:
        one row per labelled message, unlabelled fields empty); ``history=True``: every label
        row."""
        from cx_text.core.taxonomy import load_taxonomy
        from cx_text.store.labels import label_history, labels_frame

        with self._store() as store:
            if history:
                return label_history(store)
            return labels_frame(store, load_taxonomy(self.settings.taxonomy_path).topic_ids)

    def runs(self) -> pd.DataFrame:
        """Every tagging run with its manifest and summary."""
        with self._store() as store:
            return store.runs()


def open_store(path: str | Path, settings: Settings | None = None) -> StoreReader:
    """The store at ``path`` for reading; nothing stays open between calls."""
    from cx_text.core.errors import StoreError

    path = Path(path)
    if not path.is_file():
        raise StoreError(
            f"no store at {path}.", "Tag an export first: cx-text tag FILE -o OUT --db PATH."
        )
    return StoreReader(path, replace(settings or Settings.from_env(), db_path=path))


def _settings(base: Settings | None, **changes: Any) -> Settings:
    given = {k: v for k, v in changes.items() if v is not None}
    for key in ("sentiment_label_map", "taxonomy_path"):
        if key in given:
            given[key] = Path(given[key])
    return Settings.from_env(**given) if base is None else base.with_(**given)
