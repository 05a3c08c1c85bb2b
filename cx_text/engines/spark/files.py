"""``cx-text tag --engine spark``: tag an export file on Spark, chunk by chunk, resumable.

The export is read with cx_text's own ingest (same mapping, encodings, ids and flags as the local
engine) into numbered chunks of ``chunk_size`` rows, at stable row positions. Spark tags a group of
chunks per job; each finished chunk is written atomically as a Parquet part into the local engine's
work folder (``.<output>.cx-parts/``) and appended to the store in one transaction. With
``resume=True`` an interrupted run continues: the chunks whose parts exist are skipped, provided
the input file, mapping, sheet, chunk size and models are those the run recorded (otherwise a
CxTextError says what to do). Once every part exists, the output is assembled from them in input
order, exactly as :func:`cx_text.engines.local.tag_file` does: same rows, order, columns, store.

The first group of chunks fixes the input schema and its first rows are probed on an executor for
the output schema and the run manifest. A resumed run plans again from that same group (the work
folder records the group size), so it types every column like an uninterrupted run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cx_text.core import schema
from cx_text.core.config import Settings
from cx_text.core.errors import CxTextError, SchemaError
from cx_text.engines.base import (
    FileRun,
    RunSummary,
    count_total,
    ingest_report,
    open_optional_store,
)
from cx_text.engines.local import Tagger, tag_safely
from cx_text.engines.parts import PartsDir, claim_run, run_fingerprint
from cx_text.engines.progress import ProgressReporter
from cx_text.engines.spark.engine import (
    PROBE_ROWS,
    ROW_INDEX,
    ExecutorJob,
    TaggerFactory,
    contract_types,
    default_make_tagger,
    plain,
    plan_job,
    probe_job,
    run_job,
    tagger_manifest,
)
from cx_text.engines.spark.session import spark_session
from cx_text.models.registry import file_sha256

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import SparkSession
    from pyspark.sql.types import StructType

GROUP_MAX_ROWS = 200_000
GROUP_FILE = "spark.json"  # in the work folder: chunks per Spark job, reused by --resume
Piece = tuple[int, int, pd.DataFrame]  # (chunk index, first row, chunk)


def tag_file_spark(
    path: Path,
    output: Path,
    settings: Settings,
    *,
    master: str = "local[2]",
    manifest: dict[str, Any] | None = None,
    mapping: Mapping[str, str] | None = None,
    sheet: str | None = None,
    db_path: Path | None = None,
    resume: bool = False,
    customers: pd.DataFrame | None = None,
    make_tagger: TaggerFactory | None = None,
    progress: bool = True,
    run_id: str | None = None,
    source: str | None = None,
) -> RunSummary:
    """Tag ``path`` on Spark into ``output`` (and the store at ``db_path``): the same rows,
    order, columns and store contents as :func:`cx_text.engines.local.tag_file`.

    ``manifest`` defaults to the one the executors' pipeline reports (models actually loaded).
    ``resume`` continues an interrupted run of the same output (local or Spark engine).
    """
    from cx_text.io.ingest import open_export
    from cx_text.io.output import output_format
    from cx_text.io.source import source_name

    output_format(output)  # a bad suffix fails before Spark starts
    parts = PartsDir(output)
    if parts.state() and not resume:  # fail before Spark starts, with the local engine's words
        claim_run(parts, "", resume, run_id)
    source = source_name(path, source)
    stream = open_export(
        path, mapping=mapping, sheet=sheet, chunk_size=settings.chunk_size, settings=settings
    )
    with spark_session(master, settings) as spark, open_optional_store(db_path) as store:
        chunks = iter(stream)
        per_group = _group_chunks(parts, resume, spark, settings)
        group = list(islice(chunks, per_group))  # the first group fixes the plan
        plan = _make_plan(spark, group, settings, make_tagger, manifest)
        sha256 = file_sha256(path)
        run = FileRun.begin(
            path,
            output,
            settings,
            store=store,
            manifest={**plan.manifest, "engine": "spark", "input": str(path)},
            fingerprint=run_fingerprint(
                path, mapping, sheet, settings, plan.manifest, source, sha256
            ),
            sha256=sha256,
            source=source,
            resume=resume,
            run_id=run_id,
            db=str(db_path) if db_path else None,
        )
        _record_group_chunks(parts, per_group)
        try:
            with ProgressReporter(count_total(path, sheet), enabled=progress) as prog:
                pass_ = _FileRun(spark, plan, run, prog, run.done())
                while group:
                    pass_.tag_group(group)
                    group = list(islice(chunks, per_group))
            return run.finish(output, customers, engine="spark", ingest=ingest_report(stream))
        except BaseException as exc:
            run.interrupted(exc)
            raise


def _group_chunks(parts: PartsDir, resume: bool, spark: SparkSession, settings: Settings) -> int:
    """Chunks per Spark job: what the interrupted run used when resuming, else from the cluster."""
    recorded = parts.path / GROUP_FILE
    if resume and recorded.is_file():
        return int(json.loads(recorded.read_text(encoding="utf-8"))["group_chunks"])
    return max(
        2, min(2 * spark.sparkContext.defaultParallelism, GROUP_MAX_ROWS // settings.chunk_size)
    )


def _record_group_chunks(parts: PartsDir, per_group: int) -> None:
    tmp = parts.path / f".{GROUP_FILE}.tmp"
    tmp.write_text(json.dumps({"group_chunks": per_group}), encoding="utf-8")
    os.replace(tmp, parts.path / GROUP_FILE)


# --------------------------------------------------------------------------- plan


@dataclass
class FilePlan:
    """How every group of chunks is tagged; fixed by the first group of the export."""

    fixed: pa.Schema | None = None  # input Arrow schema (None: an export without rows)
    job: ExecutorJob | None = None  # the probed executor job
    out_schema: StructType | None = None
    manifest: dict[str, Any] = field(default_factory=dict)
    tagger: Tagger | None = None  # driver-side tagger of an export without rows

    def tag(self, spark: SparkSession, todo: Sequence[Piece]) -> Iterator[Piece]:
        """Tag ``todo`` in one Spark job; yields the tagged pieces in input order."""
        if not todo:
            return iter(())
        tagger = self.tagger
        if tagger is not None:
            return ((i, r, _empty_tagged(tagger, chunk)) for i, r, chunk in todo)
        from pyspark.sql.pandas.types import from_arrow_schema

        assert self.job is not None and self.fixed is not None and self.out_schema is not None

        table = _input_table(todo, self.fixed)
        sdf = spark.createDataFrame(table, schema=from_arrow_schema(self.fixed))
        return _collect(run_job(sdf, self.job, self.out_schema).toArrow(), todo)


def _make_plan(
    spark: SparkSession,
    group: list[pd.DataFrame],
    settings: Settings,
    make_tagger: TaggerFactory | None,
    manifest: dict[str, Any] | None,
) -> FilePlan:
    """Fix the input schema from the first group and probe its first rows on an executor."""
    from pyspark.sql.pandas.types import from_arrow_schema

    if not any(len(chunk) for chunk in group):  # an export without data rows: tag on the driver
        tagger = (make_tagger or default_make_tagger)(settings)
        return FilePlan(manifest=manifest or tagger_manifest(tagger), tagger=tagger)
    table = _input_table(_pieces(group), None)
    head = spark.createDataFrame(table.slice(0, PROBE_ROWS), schema=from_arrow_schema(table.schema))
    head, job = plan_job(head, settings, make_tagger, None, None)
    job, out_schema, probed = probe_job(head, job)
    return FilePlan(table.schema, job, out_schema, manifest or probed)


# --------------------------------------------------------------------------- run


@dataclass
class _FileRun:
    """One pass over the chunks: tags the ones not done yet, records parts and store chunks."""

    spark: SparkSession
    plan: FilePlan
    run: FileRun
    prog: ProgressReporter
    done: set[int]
    index: int = 0
    first_row: int = 0

    def tag_group(self, chunks: list[pd.DataFrame]) -> None:
        todo: list[Piece] = []
        for chunk in chunks:
            if self.index in self.done:
                self.run.replay(self.index, self.first_row)
                self.prog.advance(len(chunk), counted=False)
            else:
                todo.append((self.index, self.first_row, chunk))
            self.index, self.first_row = self.index + 1, self.first_row + len(chunk)
            self.run.summary.rows_in += len(chunk)
        for index, first_row, frame in self.plan.tag(self.spark, todo):
            self.run.record(index, frame, first_row)
            self.prog.advance(len(frame))


def _pieces(group: list[pd.DataFrame]) -> list[Piece]:
    starts = np.cumsum([0, *(len(chunk) for chunk in group[:-1])])
    return [
        (i, int(start), chunk) for i, (start, chunk) in enumerate(zip(starts, group, strict=True))
    ]


def _positions(todo: Sequence[Piece]) -> np.ndarray:
    """The input row positions of ``todo`` (its ``row_index`` values), in order."""
    return np.concatenate([np.arange(r, r + len(chunk), dtype="int64") for _, r, chunk in todo])


def _input_table(todo: Sequence[Piece], fixed: pa.Schema | None) -> pa.Table:
    """Canonical chunks -> one Arrow table with each row's input position as ``row_index``."""
    import pyarrow as pa

    from cx_text.io.output import arrow_schema

    frame = pd.concat([chunk for _, _, chunk in todo], ignore_index=True)
    frame[ROW_INDEX] = _positions(todo)
    try:
        return pa.Table.from_pandas(
            frame, schema=fixed or arrow_schema(frame), preserve_index=False
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
        raise SchemaError(
            f"a column of the export changed type between chunks: {exc}.",
            "Raise --chunk-size or give the column one type.",
        ) from exc


def _collect(result: pa.Table, todo: Sequence[Piece]) -> Iterator[Piece]:
    """Split a collected job back into its chunks, in input order, as plain pandas."""
    import pyarrow as pa

    result = result.sort_by(ROW_INDEX)
    expected = _positions(todo)
    if not np.array_equal(result.column(ROW_INDEX).to_numpy(), expected):
        raise CxTextError(
            f"Spark returned {result.num_rows:,} rows for {len(expected):,}.",
            "This is a bug; please report it with the input file.",
        )
    nested = [f.name for f in result.schema if pa.types.is_nested(f.type)]
    start = 0
    for index, first_row, chunk in todo:
        frame = (
            result.slice(start, len(chunk))
            .drop_columns([ROW_INDEX])
            .to_pandas(maps_as_pydicts="strict")
        )
        for col in nested:
            frame[col] = [plain(v) for v in frame[col]]
        frame.index = pd.RangeIndex(first_row, first_row + len(chunk))
        start += len(chunk)
        yield index, first_row, frame


def _empty_tagged(tagger: Tagger, chunk: pd.DataFrame) -> pd.DataFrame:
    """Tag a chunk without rows; nested columns get object dtype so they convert to any type."""
    from pyspark.sql import types as T

    tagged = tag_safely(tagger, chunk).drop(columns=[schema.ANALYSIS], errors="ignore")
    nested = [n for n, t in contract_types().items() if isinstance(t, T.ArrayType | T.MapType)]
    return tagged.astype({c: object for c in nested if c in tagged.columns})
