"""The Spark engine: the local engine's tagging, spread over a cluster with ``mapInPandas``.

:func:`tag_spark_dataframe` tags a Spark DataFrame (a warehouse table or canonical rows) and
returns a lazy DataFrame with the tag columns, typed by an explicit schema. Files
(``cx-text tag --engine spark``, resumable) are in :mod:`cx_text.engines.spark.files`, the
session they run on in :mod:`cx_text.engines.spark.session`.

Models are loaded once per executor Python worker: the first batch a worker sees builds the tagger
with ``make_tagger(settings)`` and keeps it in a per-process cache keyed by the settings
fingerprint (Spark reuses Python workers, so later tasks find it). Rows in = rows out; every row
carries a ``row_index`` that gives back the input order. See docs/SPARK.md.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cx_text.core import schema
from cx_text.core.config import PACKAGE_DIR, Settings
from cx_text.core.errors import SchemaError
from cx_text.engines.local import Tagger, tag_safely
from cx_text.io.base import RawChunk
from cx_text.io.columns import with_plain_names
from cx_text.io.mapping import ColumnMapping, resolve_mapping
from cx_text.io.rows import META_COLUMNS, RowContext, build_chunk, extra_names

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import DataType, StructType

TaggerFactory = Callable[[Settings], Tagger]
ROW_INDEX = "row_index"  # input position carried through Spark (increasing, not always dense)
ARROW_BATCH_CONF = "spark.sql.execution.arrow.maxRecordsPerBatch"
PROBE_ROWS = 16  # rows tagged first to learn the output schema and the run manifest

# The executor-side model cache: one tagger per Python worker process, built on its first batch
# (a new settings fingerprint replaces the old tagger, so a worker never holds two model sets).
_EXECUTOR_TAGGERS: dict[str, Tagger] = {}


def default_make_tagger(settings: Settings) -> Tagger:
    """The real pipeline's tagger (imported lazily, on the executor)."""
    from cx_text.classify.tagger import build_tagger

    tagger: Tagger = build_tagger(settings)
    return tagger


def default_batch_rows(settings: Settings) -> int:
    """Rows per Arrow batch handed to the tagger: a few encoder batches, at most one chunk."""
    return max(1, min(settings.chunk_size, max(16 * settings.batch_size, 256)))


# --------------------------------------------------------------------------- executor side


@dataclass(frozen=True)
class ExecutorJob:
    """Everything an executor needs to tag batches (pickled to the workers)."""

    settings: Settings
    make_tagger: TaggerFactory
    cache_key: str
    list_columns: tuple[str, ...]  # input columns whose cells must be Python lists
    mapping: ColumnMapping | None = None  # set when the input still needs canonicalising
    columns: tuple[str, ...] = ()  # output columns in order (without ROW_INDEX)
    nested: tuple[str, ...] = ()  # output columns of array/map/struct type
    driver_root: str = str(PACKAGE_DIR)  # where cx_text is installed on the driver


def executor_tagger(job: ExecutorJob) -> Tagger:
    """This worker's tagger for ``job``: built on first use, then reused."""
    if job.cache_key not in _EXECUTOR_TAGGERS:
        _EXECUTOR_TAGGERS.clear()
        if not job.settings.allow_network:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        settings = rebased(job.settings, Path(job.driver_root), PACKAGE_DIR)
        _EXECUTOR_TAGGERS[job.cache_key] = job.make_tagger(settings)
    return _EXECUTOR_TAGGERS[job.cache_key]


def rebased(settings: Settings, driver_root: Path, here: Path) -> Settings:
    """Paths into the driver's cx_text install that do not exist here -> the same files here."""
    changes: dict[str, Any] = {}
    for name, value in vars(settings).items():
        if isinstance(value, Path) and value.is_relative_to(driver_root) and not value.exists():
            changes[name] = here / value.relative_to(driver_root)
    return replace(settings, **changes) if changes else settings


def tagger_manifest(tagger: Tagger) -> dict[str, Any]:
    """The run manifest of a pipeline tagger (models, checksums …); ``{}`` for other taggers."""
    resources: Any = getattr(tagger, "resources", None)
    return dict(resources.manifest()) if hasattr(resources, "manifest") else {}


def plain(value: Any) -> Any:
    """A nested cell as plain Python (ndarray -> list, numpy scalar -> item, NaN -> None)."""
    if isinstance(value, np.ndarray | list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


def _tag_frame(batch: pd.DataFrame, job: ExecutorJob) -> tuple[pd.DataFrame, np.ndarray]:
    """Tag one Arrow batch; returns the tagged frame and the carried row indexes."""
    index = batch[ROW_INDEX].to_numpy(dtype="int64")
    frame = batch.drop(columns=[ROW_INDEX])
    for col in job.list_columns:
        frame[col] = [plain(v) for v in frame[col]]
    frame.index = pd.Index(index)
    if job.mapping is not None:
        frame = _canonicalize(frame, job.mapping, job.settings)
    tagged = tag_safely(executor_tagger(job), frame)
    return tagged.drop(columns=[schema.ANALYSIS], errors="ignore"), index


def _canonicalize(frame: pd.DataFrame, mapping: ColumnMapping, settings: Settings) -> pd.DataFrame:
    """Raw table rows -> the canonical frame, exactly as ingest builds it from a file."""
    ctx = RowContext(
        mapping=mapping,
        settings=settings,
        file_key="row",
        keep_extra_types=True,
        extras=extra_names([str(c) for c in frame.columns], mapping),
        row_label="row",
    )
    out = build_chunk(
        RawChunk(frame.reset_index(drop=True), [int(i) + 1 for i in frame.index]), ctx
    )
    out.index = frame.index
    return out


def conform(tagged: pd.DataFrame, columns: Sequence[str], nested: Sequence[str]) -> pd.DataFrame:
    """``tagged`` with exactly ``columns`` in order (missing -> None), nested cells plain."""
    data: dict[str, Any] = {}
    for col in columns:
        if col not in tagged.columns:
            data[col] = [None] * len(tagged)
        elif col in nested:
            data[col] = [plain(v) for v in tagged[col]]
        elif isinstance(tagged[col].dtype, pd.StringDtype):  # Arrow-backed: may be chunked
            data[col] = tagged[col].astype(object).to_numpy()
        else:
            data[col] = tagged[col].to_numpy()
    return pd.DataFrame(data, index=pd.RangeIndex(len(tagged)))


def _tag_batches(batches: Iterator[pd.DataFrame], job: ExecutorJob) -> Iterator[pd.DataFrame]:
    """The ``mapInPandas`` function: tag every batch, keep the row count and order."""
    for batch in batches:
        tagged, index = _tag_frame(batch, job)
        out = conform(tagged, job.columns, job.nested)
        out[ROW_INDEX] = index
        yield out


def _probe_batches(batches: Iterator[pd.DataFrame], job: ExecutorJob) -> Iterator[pd.DataFrame]:
    """Tag the first batch and report the Arrow schema of what the tagger returned."""
    from cx_text.io.output import arrow_schema

    for batch in batches:
        tagged, _ = _tag_frame(batch, job)
        errors = tagged[schema.ROW_STATUS].astype(str).str.startswith(schema.STATUS_ERROR_PREFIX)
        payload = arrow_schema(tagged.reset_index(drop=True)).serialize().to_pybytes()
        manifest = json.dumps(tagger_manifest(executor_tagger(job)), default=str)
        yield pd.DataFrame(
            {"arrow_schema": [payload], "errors": [int(errors.sum())], "manifest": [manifest]}
        )
        break
    for _ in batches:  # drain the input, or Spark will not reuse this worker (and its models)
        pass


# --------------------------------------------------------------------------- output schema


def contract_types() -> dict[str, DataType]:
    """Declared Spark types of the tag columns (as cx_text.core.schema and cx_text.io.output
    define)."""
    from pyspark.sql import types as T

    s, d, long_ = T.StringType(), T.DoubleType(), T.LongType()
    texts, scores = T.ArrayType(s), T.MapType(s, d)
    aspect = T.StructType(
        [T.StructField(n, t) for n, t in (("topic", s), ("polarity", s), ("score", d))]
    )
    evidence = T.StructType(
        [
            T.StructField(n, t)
            for n, t in (
                ("topic", s),
                ("clause", s),
                ("terms", texts),
                ("start", long_),
                ("end", long_),
                ("source", s),
                ("spans", T.ArrayType(T.ArrayType(long_))),
            )
        ]
    )
    return {
        schema.TEXT_CLEAN: s,
        schema.DEDUPE_KEY: s,
        schema.PII_FOUND: texts,
        schema.LANG: s,
        schema.LANG_CONFIDENCE: d,
        schema.SENTIMENT: s,
        schema.SENTIMENT_SCORE: d,
        schema.SENTIMENT_PROBS: scores,
        schema.TOPICS: texts,
        schema.TOPIC_SCORES: scores,
        schema.SUBTOPICS: texts,
        schema.ASPECT_SENTIMENTS: T.ArrayType(aspect),
        schema.EVIDENCE: T.ArrayType(evidence),
        schema.THEMES: texts,
        schema.ROW_STATUS: s,
        schema.ROW_ISSUES: texts,
    }


def _field_type(name: str, inferred: pa.DataType, inputs: Mapping[str, DataType]) -> DataType:
    """Input columns keep their type, tag columns get the declared one, others are inferred."""
    from pyspark.sql import types as T
    from pyspark.sql.pandas.types import from_arrow_type

    if name in inputs:
        return inputs[name]
    spark_type = from_arrow_type(inferred, prefer_timestamp_ntz=True)
    declared = contract_types().get(name)
    if declared is not None and not isinstance(spark_type, T.ArrayType):
        return declared  # list<struct> columns keep extra struct fields, as cx_text.io.output does
    return T.StringType() if isinstance(spark_type, T.NullType) else spark_type


def _output_schema(probe: pa.Schema, errors: int, inputs: Mapping[str, DataType]) -> StructType:
    """The tagger's columns in its order (if the probe only saw failures, the contract too)."""
    from pyspark.sql import types as T

    fields = [T.StructField(f.name, _field_type(f.name, f.type, inputs)) for f in probe]
    if errors:
        have = {f.name for f in fields}
        fields += [T.StructField(n, t) for n, t in contract_types().items() if n not in have]
    return T.StructType([*fields, T.StructField(ROW_INDEX, T.LongType())])


def probe_job(sdf: DataFrame, job: ExecutorJob) -> tuple[ExecutorJob, StructType, dict[str, Any]]:
    """Tag a few rows on an executor: the tagger's output columns, types and run manifest."""
    import pyarrow as pa
    from pyspark.sql import types as T

    probe = sdf.limit(PROBE_ROWS).mapInPandas(
        partial(_probe_batches, job=job), "arrow_schema binary, errors long, manifest string"
    )
    rows = probe.collect()
    if not rows:
        raise SchemaError("the Spark DataFrame to tag has no rows.", "Give it at least one row.")
    names = {} if job.mapping is None else dict(extra_names(sdf.columns, job.mapping))  # raw copies
    inputs = {names[f.name]: f.dataType for f in sdf.schema.fields if f.name in names}
    out = _output_schema(
        pa.ipc.read_schema(pa.py_buffer(rows[0]["arrow_schema"])), int(rows[0]["errors"]), inputs
    )
    kinds = (T.ArrayType, T.MapType, T.StructType)
    nested = tuple(f.name for f in out.fields if isinstance(f.dataType, kinds))
    job = replace(job, columns=tuple(out.names[:-1]), nested=nested)
    return job, out, json.loads(rows[0]["manifest"])


# --------------------------------------------------------------------------- driver side


def executor_settings(settings: Settings, spark: SparkSession) -> Settings:
    """Settings for executor tasks: torch threads capped at ``spark.task.cpus``."""
    task_cpus = int(spark.sparkContext.getConf().get("spark.task.cpus", "1"))
    return settings.with_(num_threads=max(1, min(settings.num_threads, task_cpus)))


def plan_job(
    sdf: DataFrame,
    settings: Settings,
    make_tagger: TaggerFactory | None,
    mapping: Mapping[str, str] | None,
    batch_rows: int | None,
) -> tuple[DataFrame, ExecutorJob]:
    """Add the row index, resolve the column mapping and build the executor job (unprobed)."""
    from pyspark import cloudpickle
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    spark = sdf.sparkSession
    if ROW_INDEX not in sdf.columns:
        sdf = sdf.withColumn(ROW_INDEX, F.monotonically_increasing_id())
    columns = [c for c in sdf.columns if c != ROW_INDEX]
    canonical = all(c in columns for c in (*schema.CANONICAL_COLUMNS, *META_COLUMNS))
    factory = make_tagger or default_make_tagger
    settings = executor_settings(settings, spark)
    key = hashlib.sha256(
        json.dumps(settings.as_dict(), sort_keys=True, default=str).encode()
        + cloudpickle.dumps(factory)
    ).hexdigest()[:24]
    lists = tuple(f.name for f in sdf.schema.fields if isinstance(f.dataType, T.ArrayType))
    spark.conf.set(ARROW_BATCH_CONF, str(batch_rows or default_batch_rows(settings)))
    mapped = None if canonical else resolve_mapping(columns, mapping)
    return sdf, ExecutorJob(settings, factory, key, lists, mapped)


def run_job(sdf: DataFrame, job: ExecutorJob, out_schema: StructType) -> DataFrame:
    """The lazy tagged DataFrame of ``sdf`` (``job`` as :func:`probe_job` returned it)."""
    return sdf.mapInPandas(partial(_tag_batches, job=job), out_schema)


def tag_spark_dataframe(
    sdf: DataFrame,
    settings: Settings,
    *,
    make_tagger: TaggerFactory | None = None,
    text_col: str = schema.TEXT,
    id_col: str | None = None,
    mapping: Mapping[str, str] | None = None,
    batch_rows: int | None = None,
) -> DataFrame:
    """Tag a Spark DataFrame; returns it (lazily) with the tag columns and ``row_index``.

    A canonical frame (every ``schema.CANONICAL_COLUMNS`` plus ``source_row``, ``row_status``,
    ``row_issues``) is tagged as is; any other table is canonicalised per batch like an ingested
    file (``text_col``/``id_col``/``mapping`` name its columns; the rest map by synonyms; ids
    are generated as ``row-<n>`` when there is no id column). ``row_index`` (added with
    ``monotonically_increasing_id`` unless present) orders the output like the input. A few rows
    are tagged first on an executor to fix the output schema. Sets ``ARROW_BATCH_CONF`` on the
    session to ``batch_rows`` (default :func:`default_batch_rows`).
    """
    explicit = {**dict(mapping or {}), schema.TEXT: text_col}
    if id_col:
        explicit[schema.ID] = id_col
    prepared, job = plan_job(sdf, settings, make_tagger, explicit, batch_rows)
    job, out_schema, _ = probe_job(prepared, job)
    return with_plain_names(run_job(prepared, job, out_schema))  # extras under their own names
