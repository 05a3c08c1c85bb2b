"""The streaming local engine behind ``cx-text tag``: chunks in, chunks out, resumable.

Each chunk of the input is tagged and written atomically to a part file in a work folder next
to the output (``.<output>.cx-parts/``) and, when a store is given, appended to DuckDB in one
transaction — through the run service in :mod:`cx_text.engines.base`, which the Spark file
engine and the app's upload share. ``--resume`` verifies the input (SHA-256 of the whole file)
and settings, skips every chunk whose part exists and continues; at the end the parts are
concatenated into the output in input order and the folder is removed. Rows in = rows out,
always: a chunk that fails is retried in halves down to single rows, and a row that still fails
keeps its place with ``row_status = "error: …"``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pandas as pd

from cx_text.core import schema
from cx_text.core.config import Settings
from cx_text.core.errors import CxTextError
from cx_text.engines.base import (
    TAGGING_STORE_MEMORY,
    FileRun,
    RunSummary,
    assemble_parts,
    count_total,
    ingest_report,
    open_optional_store,
)
from cx_text.engines.parts import PartsDir, claim_run, input_fingerprint, run_fingerprint
from cx_text.engines.progress import Progress, ProgressReporter
from cx_text.io.ingest import open_export
from cx_text.io.source import source_name
from cx_text.models.registry import file_sha256

Tagger = Callable[[pd.DataFrame], pd.DataFrame]

__all__ = [
    "TAGGING_STORE_MEMORY",
    "FileRun",
    "PartsDir",
    "RunSummary",
    "Tagger",
    "assemble_parts",
    "claim_run",
    "input_fingerprint",
    "open_optional_store",
    "run_fingerprint",
    "tag_file",
    "tag_safely",
]


def tag_file(
    path: Path,
    output: Path,
    tagger: Tagger,
    settings: Settings,
    *,
    manifest: dict[str, Any],
    mapping: Mapping[str, str] | None = None,
    sheet: str | None = None,
    db_path: Path | None = None,
    resume: bool | str = False,
    customers: pd.DataFrame | None = None,
    progress: bool = True,
    run_id: str | None = None,
    source: str | None = None,
    store: Any = None,
    on_progress: Progress | None = None,
) -> RunSummary:
    """Tag ``path`` chunk by chunk into ``output`` (and the store at ``db_path``, or ``store``).

    ``source`` names the export in the store (default: the file's normalised stem).
    """
    stream = open_export(
        path, mapping=mapping, sheet=sheet, chunk_size=settings.chunk_size, settings=settings
    )
    source = source_name(path, source)
    sha256 = file_sha256(path)
    fingerprint = run_fingerprint(path, mapping, sheet, settings, manifest, source, sha256)
    opened = nullcontext(store) if store is not None else open_optional_store(db_path)
    with opened as store:  # the store first: a busy store fails before anything is written
        run = FileRun.begin(
            path,
            output,
            settings,
            store=store,
            manifest=manifest,
            fingerprint=fingerprint,
            sha256=sha256,
            source=source,
            resume=resume,
            run_id=run_id,
            db=_store_label(db_path, store),
        )
        try:
            with ProgressReporter(
                count_total(path, sheet), enabled=progress, on_advance=on_progress
            ) as prog:
                _tag_chunks(stream, run, tagger, prog)
            return run.finish(output, customers, ingest=ingest_report(stream))
        except BaseException as exc:
            run.interrupted(exc)
            raise


def _store_label(db_path: Path | None, store: Any) -> str | None:
    """What the summary prints as the store: the path given, or the open store's path."""
    path = db_path or (store.path if store is not None else None)
    return str(path) if path else None


def _tag_chunks(stream: Any, run: FileRun, tagger: Tagger, prog: ProgressReporter) -> None:
    """Tag and record every chunk not already done; with ``settings.workers > 1`` and a
    two-stage tagger, the next chunk's language layer runs in a worker meanwhile."""
    done = run.done()
    ahead = _prepare_ahead(tagger)
    pending: tuple[int, pd.DataFrame, int, Any] | None = None
    offset = 0
    with ahead or nullcontext():
        for index, chunk in enumerate(stream):
            n = len(chunk)
            run.summary.rows_in += n
            if index in done:
                run.replay(index, offset)
                prog.advance(n, counted=False)
            else:
                future = ahead.submit(chunk) if ahead is not None else None
                if pending is not None:
                    _complete(pending, tagger, run, prog)
                pending = (index, chunk, offset, future)
            offset += n
        if pending is not None:
            _complete(pending, tagger, run, prog)


def _prepare_ahead(tagger: Tagger) -> Any:
    settings = getattr(tagger, "settings", None)
    if settings is None or settings.workers < 2 or not hasattr(tagger, "finish"):
        return None
    from cx_text.engines.overlap import PrepareAhead

    return PrepareAhead(settings)


def _complete(
    pending: tuple[int, pd.DataFrame, int, Any],
    tagger: Tagger,
    run: FileRun,
    prog: ProgressReporter,
) -> None:
    index, chunk, offset, future = pending
    tagged = None
    if future is not None:
        try:
            tagged = tagger.finish(future.result())  # type: ignore[attr-defined]
        except CxTextError:
            raise
        except Exception:  # redo in-process, isolating the failing rows
            tagged = None
    if tagged is None or len(tagged) != len(chunk):
        tagged = tag_safely(tagger, chunk)
    run.record(index, tagged, offset)
    prog.advance(len(chunk))


def tag_safely(tagger: Tagger, chunk: pd.DataFrame) -> pd.DataFrame:
    """Tag a chunk; on an unexpected failure retry in halves so only failing rows get an error."""
    try:
        tagged = tagger(chunk)
    except CxTextError:
        raise
    except Exception as exc:
        if len(chunk) <= 1:
            return _error_rows(chunk, exc)
        mid = len(chunk) // 2
        return pd.concat(
            [tag_safely(tagger, chunk.iloc[:mid]), tag_safely(tagger, chunk.iloc[mid:])]
        )
    if len(tagged) != len(chunk):
        raise CxTextError(
            f"internal error: tagging returned {len(tagged)} rows for {len(chunk)}.",
            "Please report this bug with the input file.",
        )
    schema.validate_frame(
        tagged, "the tagger's output"
    )  # the engine boundary: a status on every row
    return tagged


def _error_rows(chunk: pd.DataFrame, exc: Exception) -> pd.DataFrame:
    out = chunk.copy()
    for col in schema.EMPTY_TAGS:
        out[col] = [schema.empty_tag(col) for _ in range(len(out))]
    reason = f"{type(exc).__name__}: {exc}"[:300]
    out[schema.ROW_STATUS] = schema.STATUS_ERROR_PREFIX + reason
    issues: Any = (
        out[schema.ROW_ISSUES]
        if schema.ROW_ISSUES in out.columns
        else [[] for _ in range(len(out))]
    )
    out[schema.ROW_ISSUES] = [
        [*list(v), f"tagging failed: {reason}"] if isinstance(v, list) else [reason] for v in issues
    ]
    return out
