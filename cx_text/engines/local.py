"""The streaming local engine behind ``cx-text tag``: chunks in, chunks out, resumable.

Each chunk of the input is tagged and written atomically to a part file in a work folder next
to the output (``.<output>.cx-parts/``) and, when a store is given, appended to DuckDB in one
transaction. ``--resume`` re-reads the input (cheap), skips every chunk whose part exists and
continues; at the end the parts are concatenated into the output in input order and the folder
is removed. Rows in = rows out, always: a chunk that fails is retried in halves down to single
rows, and a row that still fails keeps its place with ``row_status = "error: …"``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from cx_text.core import schema
from cx_text.core.config import Settings
from cx_text.core.errors import CxTextError
from cx_text.engines.progress import ProgressReporter
from cx_text.io.ingest import count_rows, open_export
from cx_text.io.output import OutputWriter, read_frame, write_frame

Tagger = Callable[[pd.DataFrame], pd.DataFrame]


@dataclass
class RunSummary:
    """What a run did: printed at the end and stored with the run."""

    run_id: str
    input: str
    output: str
    rows_in: int = 0
    rows_out: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    by_lang: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    rows_per_s: float = 0.0
    resumed_chunks: int = 0
    db: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def render(self) -> str:
        status = ", ".join(f"{k} {v:,}" for k, v in sorted(self.by_status.items(), key=lambda kv: -kv[1]))
        langs = ", ".join(f"{k} {v:,}" for k, v in sorted(self.by_lang.items(), key=lambda kv: -kv[1]))
        lines = [f"tagged {self.rows_out:,} of {self.rows_in:,} rows in {self.seconds:,.1f} s "
                 f"({self.rows_per_s:,.0f} rows/s) -> {self.output}",
                 f"  status: {status or '-'}", f"  language: {langs or '-'}", f"  run: {self.run_id}"]
        if self.resumed_chunks:
            lines.append(f"  resumed: {self.resumed_chunks} chunk(s) were already done")
        if self.db:
            lines.append(f"  store: {self.db}")
        return "\n".join(lines)


class PartsDir:
    """The work folder of one output: state.json plus one Parquet part per finished chunk."""

    def __init__(self, output: Path) -> None:
        self.path = output.parent / f".{output.name}.cx-parts"

    def state(self) -> dict[str, Any] | None:
        f = self.path / "state.json"
        return json.loads(f.read_text(encoding="utf-8")) if f.is_file() else None

    def start(self, fingerprint: str, run_id: str) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / "state.json").write_text(json.dumps({"fingerprint": fingerprint, "run_id": run_id}),
                                              encoding="utf-8")

    def part(self, index: int) -> Path:
        return self.path / f"chunk-{index:06d}.parquet"

    def write(self, index: int, frame: pd.DataFrame) -> None:
        """Atomically write one chunk with the output's nested types (maps stay maps)."""
        tmp = self.path / f".chunk-{index:06d}.tmp.parquet"
        write_frame(frame.drop(columns=[schema.ANALYSIS], errors="ignore"), tmp)
        os.replace(tmp, self.part(index))

    def read(self, index: int) -> pd.DataFrame:
        return read_frame(self.part(index))

    def indexes(self) -> list[int]:
        return sorted(int(p.stem.split("-")[1]) for p in self.path.glob("chunk-*.parquet"))

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def input_fingerprint(path: Path, options: Mapping[str, Any]) -> str:
    """Identity of an input file + the options that change the output (for --resume)."""
    h = hashlib.sha256(json.dumps(options, sort_keys=True, default=str).encode())
    size = path.stat().st_size
    h.update(str(size).encode())
    with path.open("rb") as fh:
        h.update(fh.read(1 << 20))
        if size > 2 << 20:
            fh.seek(-(1 << 20), os.SEEK_END)
            h.update(fh.read())
    return h.hexdigest()[:32]


def run_fingerprint(path: Path, mapping: Mapping[str, str] | None, sheet: str | None,
                    settings: Settings, manifest: Mapping[str, Any]) -> str:
    """The fingerprint a run of either engine records: the input plus mapping, sheet, chunk
    size and models, so ``--resume`` continues only a run over the same input and settings."""
    options = {"mapping": dict(mapping or {}), "sheet": sheet, "chunk": settings.chunk_size,
               "models": manifest.get("fingerprint", "")}
    return input_fingerprint(path, options)


def tag_file(path: Path, output: Path, tagger: Tagger, settings: Settings, *,
             manifest: dict[str, Any], mapping: Mapping[str, str] | None = None, sheet: str | None = None,
             db_path: Path | None = None, resume: bool = False, customers: pd.DataFrame | None = None,
             progress: bool = True, run_id: str | None = None) -> RunSummary:
    """Tag ``path`` chunk by chunk into ``output`` (and the store at ``db_path``)."""
    started = time.perf_counter()
    stream = open_export(path, mapping=mapping, sheet=sheet, chunk_size=settings.chunk_size, settings=settings)
    fingerprint = run_fingerprint(path, mapping, sheet, settings, manifest)
    parts = PartsDir(output)
    run_id = claim_run(parts, fingerprint, resume, run_id)
    with open_optional_store(db_path) as store:
        if store is not None and not run_known(store, run_id):
            store.begin_run(manifest, str(path), fingerprint, run_id=run_id)
        summary = RunSummary(run_id=run_id, input=str(path), output=str(output),
                             db=str(db_path) if db_path else None)
        _tag_chunks(stream, parts, tagger, store, run_id, summary, progress, count_total(path, sheet))
        finish_file_run(parts, output, summary, store, customers, started,
                        ingest=ingest_report(stream))
    parts.remove()
    return summary


def claim_run(parts: PartsDir, fingerprint: str, resume: bool, run_id: str | None) -> str:
    """The run id of ``parts``: a new run, or the interrupted one when ``resume`` and it matches."""
    state = parts.state()
    if state and not resume:
        raise CxTextError(
            f"an interrupted run of this output exists ({parts.path}).",
            "Pass --resume to continue it, or delete that folder to start over.")
    if resume and state:
        if state["fingerprint"] != fingerprint:
            raise CxTextError("--resume: the interrupted run was over a different input or settings.",
                              f"Re-run without --resume after deleting {parts.path}.")
        return str(state["run_id"])
    from cx_text.store.store import new_run_id

    run_id = run_id or new_run_id()
    parts.start(fingerprint, run_id)
    return run_id


def _tag_chunks(stream: Any, parts: PartsDir, tagger: Tagger, store: Any, run_id: str,
                summary: RunSummary, progress: bool, total: int | None) -> None:
    """Tag and record every chunk not already done; with ``settings.workers > 1`` and a
    two-stage tagger, the next chunk's language layer runs in a worker meanwhile."""
    done = set(parts.indexes())
    ahead = _prepare_ahead(tagger)
    pending: tuple[int, pd.DataFrame, int, Any] | None = None
    offset = 0
    with ProgressReporter(total, enabled=progress) as prog, ahead or nullcontext():
        for index, chunk in enumerate(stream):
            n = len(chunk)
            summary.rows_in += n
            if index in done:
                if store is not None and index not in store.finished_chunks(run_id):
                    store.append_chunk(run_id, index, parts.read(index), first_row=offset)
                summary.resumed_chunks += 1
                prog.advance(n, counted=False)
            else:
                future = ahead.submit(chunk) if ahead is not None else None
                if pending is not None:
                    _complete(pending, tagger, parts, store, run_id, prog)
                pending = (index, chunk, offset, future)
            offset += n
        if pending is not None:
            _complete(pending, tagger, parts, store, run_id, prog)


def _prepare_ahead(tagger: Tagger) -> Any:
    settings = getattr(tagger, "settings", None)
    if settings is None or settings.workers < 2 or not hasattr(tagger, "finish"):
        return None
    from cx_text.engines.overlap import PrepareAhead

    return PrepareAhead(settings)


def _complete(pending: tuple[int, pd.DataFrame, int, Any], tagger: Tagger, parts: PartsDir,
              store: Any, run_id: str, prog: ProgressReporter) -> None:
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
    parts.write(index, tagged)
    if store is not None:
        store.append_chunk(run_id, index, tagged, first_row=offset)
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
        return pd.concat([tag_safely(tagger, chunk.iloc[:mid]), tag_safely(tagger, chunk.iloc[mid:])])
    if len(tagged) != len(chunk):
        raise CxTextError(f"internal error: tagging returned {len(tagged)} rows for {len(chunk)}.",
                          "Please report this bug with the input file.")
    return tagged


def _error_rows(chunk: pd.DataFrame, exc: Exception) -> pd.DataFrame:
    out = chunk.copy()
    for col in schema.EMPTY_TAGS:
        out[col] = [schema.empty_tag(col) for _ in range(len(out))]
    reason = f"{type(exc).__name__}: {exc}"[:300]
    out[schema.ROW_STATUS] = schema.STATUS_ERROR_PREFIX + reason
    issues: Any = out[schema.ROW_ISSUES] if schema.ROW_ISSUES in out.columns else [[] for _ in range(len(out))]
    out[schema.ROW_ISSUES] = [[*list(v), f"tagging failed: {reason}"] if isinstance(v, list) else [reason] for v in issues]
    return out


def finish_file_run(parts: PartsDir, output: Path, summary: RunSummary, store: Any,
                    customers: pd.DataFrame | None, started: float, **facts: Any) -> None:
    """Assemble the output from the parts, time the run, load customers, close the store run.

    ``facts`` (the ingest report, the engine …) are stored with the run's summary.
    """
    assemble_parts(parts, output, summary)
    summary.seconds = round(time.perf_counter() - started, 2)
    summary.rows_per_s = round(summary.rows_out / max(summary.seconds, 1e-9), 1)
    if store is not None:
        if customers is not None:
            store.load_customers(customers)
        store.finish_run(summary.run_id, {**summary.as_dict(), **facts})


def assemble_parts(parts: PartsDir, output: Path, summary: RunSummary) -> None:
    """Concatenate the parts into ``output`` in input order; fill the summary's counts."""
    status: Counter[str] = Counter()
    langs: Counter[str] = Counter()
    with OutputWriter(output, user_view=True) as out:  # the user's columns and names (io/columns.py)
        for index in parts.indexes():
            frame = parts.read(index)
            out.write(frame)
            status.update(frame[schema.ROW_STATUS].astype(str).map(lambda s: s.split(":")[0]))
            if schema.LANG in frame.columns:
                langs.update(frame[schema.LANG].fillna("").astype(str).replace("", "none"))
            summary.rows_out += len(frame)
    summary.by_status, summary.by_lang = dict(status), dict(langs)
    if summary.rows_out != summary.rows_in:
        raise CxTextError(f"rows in {summary.rows_in:,} != rows out {summary.rows_out:,}.",
                          f"The work folder {parts.path} is inconsistent: delete it and re-run.")


#: DuckDB buffer pool while tagging. Left at DuckDB's default (80 % of RAM) it kept appended
#: pages: replaying 480k tagged rows into a store grew RSS by 425 MB; capped at 100 MB it
#: plateaued ~70 MB above the start from 100k rows on. Appends need little memory.
TAGGING_STORE_MEMORY = "128MB"


def open_optional_store(db_path: Path | None) -> Any:
    """``open_store(db_path)`` with a capped buffer pool, or a context yielding ``None``."""
    if db_path is None:
        return nullcontext(None)
    from cx_text.store.store import open_store

    return open_store(db_path, memory_limit=TAGGING_STORE_MEMORY)


def run_known(store: Any, run_id: str) -> bool:
    """Whether the store already has a row for ``run_id`` (a resumed run)."""
    return bool(len(store.query("SELECT 1 FROM runs WHERE run_id = ?", [run_id])))


def count_total(path: Path, sheet: str | None) -> int | None:
    """Rows in the input for the progress bar, or ``None`` when they cannot be counted."""
    try:
        return count_rows(path, sheet=sheet)
    except Exception:
        return None


def ingest_report(stream: Any) -> Any:
    """The ingest report of a finished stream, as stored with the run."""
    report = stream.report
    return report.as_dict() if hasattr(report, "as_dict") else str(report)
