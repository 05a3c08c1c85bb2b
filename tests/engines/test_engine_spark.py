"""Spark engine: same output as the local engine, models loaded once per worker, nested types,
and --resume after a killed driver gives the output of an uninterrupted run.

Spark tests run in local[2] with one session for the whole module (started and stopped here).
"""

from __future__ import annotations

import itertools
import json
import math
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cx_text.cli.main import main
from cx_text.core import schema
from cx_text.core.config import Settings
from cx_text.engines.local import PartsDir, RunSummary, tag_file
from cx_text.engines.spark import engine as spark_engine
from cx_text.engines.spark import files as spark_files
from cx_text.engines.spark.session import session_conf
from cx_text.io.output import read_frame
from cx_text.store.store import Store, open_store
from cx_text.testing import KeywordTagger
from tests.error_codes import cli_error, raises_code

pytestmark = pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas")

TEXTS = [
    "Курьер опоздал на 3 часа, заказ холодный",
    "Great app, fast checkout",
    "",
    "😡😡😡",
    "Цены кусаются, но доставка быстрая",
    "Support never answered my refund request",
    "Доставили быстро, спасибо курьеру!",
    "meh",
    "Приложение вылетает при оплате",
    "The courier was rude and late",
    "Оператор поддержки грубый 💥",
    "Too expensive for what you get",
    "Всё отлично, буду заказывать ещё",
    "App crashes every time I open the cart",
]
ROWS = 2000
CHUNK = 400  # 5 chunks: Spark tags them in two groups (4 + 1)
SETTINGS = Settings(chunk_size=CHUNK, batch_size=8, max_error_share=0.1)  # 1 row in 14 fails: 7 %
TOY = {"manifest": {"fingerprint": "toy"}, "mapping": {"text": "comment"}}
#: the stand-in for the pipeline: every nested type of the contract; rows with 💥 fail
TAGGER = KeywordTagger(fail_on="💥", every_type=True)


@dataclass(frozen=True)
class CountingFactory:
    """A picklable ``make_tagger`` that leaves one marker file per model load."""

    marker_dir: str

    def __call__(self, settings: Settings) -> Any:
        Path(self.marker_dir, f"load-{os.getpid()}-{len(os.listdir(self.marker_dir))}").touch()
        return TAGGER


def plain_cell(value: Any) -> Any:
    value = spark_engine.plain(value)
    if value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, dict):  # the local engine's parts turn maps into structs: None = absent
        return {k: v for k, v in value.items() if v is not None}
    return value


def same_values(a: pd.Series, b: pd.Series) -> bool:
    return [plain_cell(v) for v in a] == [plain_cell(v) for v in b]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if shutil.which("java") is None:
        pytest.skip("Spark needs Java 17+: run `make sysdeps` (installs it)")
    from pyspark import cloudpickle
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # tests/ is not installed
    builder = (
        SparkSession.builder.master("local[2]")
        .appName("cx-text tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.driver.memory", "1g")
        .config("spark.sql.warehouse.dir", str(tmp_path_factory.mktemp("warehouse")))
    )
    for key, value in session_conf(Settings()).items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("export") / "export.csv"
    ids = [f"r{i}" for i in range(ROWS)]
    ids[17] = "r3"  # a duplicate id: flagged by ingest, the same in both engines
    frame = pd.DataFrame(
        {
            "review_id": ids,
            "comment": [TEXTS[i % len(TEXTS)] for i in range(ROWS)],
            "date": [
                f"2026-0{1 + i % 9}-{1 + i % 28:02d} 10:{i % 60:02d}" if i % 97 else "вчера"
                for i in range(ROWS)
            ],
            "nps": [str(i % 12) if i % 13 else "" for i in range(ROWS)],
            "channel": [("app", "chat", "email")[i % 3] for i in range(ROWS)],
            "region": [("Москва", "", "London", "Казань")[i % 4] for i in range(ROWS)],
        }
    )
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def runs(spark: Any, export: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Tag the export once with each engine (same settings, same toy tagger)."""
    base = tmp_path_factory.mktemp("runs")
    markers = base / "markers"
    markers.mkdir()
    local = tag_file(
        export,
        base / "local.parquet",
        TAGGER,
        SETTINGS,
        progress=False,
        db_path=base / "local.duckdb",
        **TOY,
    )
    spark_summary = spark_files.tag_file_spark(
        export,
        base / "spark.parquet",
        SETTINGS,
        db_path=base / "spark.duckdb",
        make_tagger=CountingFactory(str(markers)),
        progress=False,
        **TOY,
    )
    return {"base": base, "local": local, "spark": spark_summary, "markers": markers}


# --------------------------------------------------------------------------- same as local


@pytest.mark.spark
def test_engine_spark_output_matches_local_engine(runs: dict[str, Any]) -> None:
    local = read_frame(runs["base"] / "local.parquet")
    spark = read_frame(runs["base"] / "spark.parquet")
    assert len(spark) == len(local) == ROWS
    assert spark.columns.tolist() == local.columns.tolist()
    for col in local.columns:
        assert same_values(local[col], spark[col]), f"column {col} differs"
    assert spark[schema.ID].iloc[:5].tolist() == ["r0", "r1", "r2", "r3", "r4"]


@pytest.mark.spark
def test_engine_spark_parquet_schema_matches_local_engine(runs: dict[str, Any]) -> None:
    import pyarrow.parquet as pq

    local = pq.read_schema(runs["base"] / "local.parquet").remove_metadata()
    spark = pq.read_schema(runs["base"] / "spark.parquet").remove_metadata()
    assert spark.equals(local), f"\nlocal: {local}\nspark: {spark}"
    # both engines assemble the output from the same kind of parts: identical tables
    assert pq.read_table(runs["base"] / "spark.parquet").equals(
        pq.read_table(runs["base"] / "local.parquet")
    )


@pytest.mark.spark
def test_engine_spark_summary_matches_local_engine(runs: dict[str, Any]) -> None:
    local, spark = runs["local"], runs["spark"]
    assert (spark.rows_in, spark.rows_out) == (local.rows_in, local.rows_out) == (ROWS, ROWS)
    assert spark.by_status == local.by_status
    assert spark.by_lang == local.by_lang
    assert {"ok", "empty", "flagged", "error"} <= set(spark.by_status)


STORE_QUERIES = {
    "tags": "SELECT * EXCLUDE (run_id) FROM tags ORDER BY row_index",
    "aspects": "SELECT * EXCLUDE (run_id) FROM aspects ORDER BY id, topic",
    "evidence": "SELECT * EXCLUDE (run_id) FROM evidence ORDER BY id, topic",
    "feedback": "SELECT * EXCLUDE (run_id) FROM feedback ORDER BY id",
}


def assert_same_store(expected: Path, got: Path) -> None:
    """Both stores hold the same tags, aspects, evidence and feedback (run ids aside)."""
    with open_store(expected) as a, open_store(got) as b:
        for name, sql in STORE_QUERIES.items():
            left, right = a.query(sql), b.query(sql)
            assert len(left) == len(right) > 0, name
            for col in left.columns:
                assert same_values(left[col], right[col]), f"{name}.{col} differs"
        assert b.runs()["status"].tolist() == ["complete"]
        assert b.query("SELECT count(*) n FROM run_chunks")["n"].iloc[0] == ROWS // CHUNK


@pytest.mark.spark
def test_engine_spark_store_matches_local_engine(runs: dict[str, Any]) -> None:
    assert_same_store(runs["base"] / "local.duckdb", runs["base"] / "spark.duckdb")


@pytest.mark.spark
def test_engine_spark_failing_rows_keep_their_place(runs: dict[str, Any]) -> None:
    spark = read_frame(runs["base"] / "spark.parquet")
    bad = spark["comment"].str.contains("💥", regex=False)
    assert bad.sum() == ROWS // len(TEXTS) + (ROWS % len(TEXTS) > 10)
    assert spark.loc[bad, schema.ROW_STATUS].str.startswith("error: RuntimeError").all()
    assert not spark.loc[~bad, schema.ROW_STATUS].str.startswith("error").any()


@pytest.mark.spark
def test_engine_spark_loads_models_once_per_worker(runs: dict[str, Any]) -> None:
    loads = sorted(p.name for p in runs["markers"].iterdir())
    workers = {name.split("-")[1] for name in loads}
    assert 1 <= len(loads) <= 2, loads  # local[2]: at most two Python workers
    assert len(workers) == len(loads), "a worker built the tagger twice"
    batches = ROWS / spark_engine.default_batch_rows(SETTINGS)
    assert batches > 2 * len(loads)


@pytest.mark.spark
def test_engine_spark_empty_export_gives_empty_output(spark: Any, tmp_path: Path) -> None:
    export = tmp_path / "empty.csv"
    export.write_text("review_id,comment,nps\n", encoding="utf-8")
    summary = spark_files.tag_file_spark(
        export,
        tmp_path / "out.parquet",
        Settings(),
        mapping={"text": "comment"},
        make_tagger=lambda s: TAGGER,
        progress=False,
        db_path=tmp_path / "cx.duckdb",
    )
    out = read_frame(tmp_path / "out.parquet")
    assert (summary.rows_in, summary.rows_out, len(out)) == (0, 0, 0)
    assert {schema.ID, "comment", schema.TOPICS, schema.EVIDENCE} <= set(out.columns)


@pytest.mark.spark
def test_engine_spark_evidence_spans_survive_a_probe_without_evidence(
    spark: Any, tmp_path: Path
) -> None:
    """The probe rows fix the output schema; evidence ``spans`` (the cue words' offsets, as the
    real tagger writes them) must not depend on the probe having seen any evidence."""
    export = tmp_path / "export.csv"
    quiet = ["Great app, fast checkout"] * (spark_engine.PROBE_ROWS + 4)
    pd.DataFrame({"comment": [*quiet, "Курьер опоздал", "The courier was late"]}).to_csv(
        export, index=False
    )
    tag_on_spark(export, tmp_path / "out.parquet")
    evidence = [spark_engine.plain(ev) for ev in read_frame(tmp_path / "out.parquet")["evidence"]]
    assert [[e.get("spans") for e in ev] for ev in evidence[-2:]] == [[[[0, 6]]], [[[4, 11]]]]
    assert not any(evidence[:-2])


# --------------------------------------------------------------------------- DataFrames

WAREHOUSE = [
    ("t-1", "Курьер не приехал вовремя, еда остыла", 3, "web"),
    ("t-2", "Love the new app design", 10, "app"),
    ("t-3", None, None, "app"),
    ("t-4", "   ", 7, None),
    ("t-5", "Цены выросли, поддержка не отвечает", 42, "chat"),
    ("t-6", "The courier was late again", 5, "web"),
]


@pytest.mark.spark
def test_engine_spark_dataframe_tags_warehouse_table(spark: Any) -> None:
    sdf = spark.createDataFrame(WAREHOUSE, "ticket string, body string, score int, src string")
    tagged = spark_engine.tag_spark_dataframe(
        sdf.repartition(3),
        Settings(),
        make_tagger=lambda s: TAGGER,
        text_col="body",
        id_col="ticket",
        mapping={"nps": "score", "channel": "src"},
        batch_rows=2,
    )
    got = tagged.toPandas().sort_values(spark_engine.ROW_INDEX)
    assert len(got) == len(WAREHOUSE)
    assert not [c for c in got.columns if c.startswith("input|")]  # no internal raw copies
    assert sorted(got[schema.ID]) == [w[0] for w in WAREHOUSE]
    by_id = got.set_index(schema.ID)
    assert by_id.loc["t-3", schema.ROW_STATUS] == schema.STATUS_EMPTY
    assert by_id.loc["t-4", schema.ROW_STATUS] == schema.STATUS_EMPTY
    assert by_id.loc["t-5", schema.ROW_STATUS] == schema.STATUS_FLAGGED  # nps 42 cleared
    assert math.isnan(by_id.loc["t-5", schema.NPS]) and by_id.loc["t-1", schema.NPS] == 3.0
    assert list(by_id.loc["t-1", schema.TOPICS]) == ["delivery"]
    assert by_id.loc["t-1", schema.ASPECT_SENTIMENTS][0]["polarity"] == "negative"
    assert by_id.loc["t-6", schema.ASPECT_SENTIMENTS][0]["score"] == 0.0
    assert list(by_id.loc["t-4", schema.EVIDENCE]) == []


@pytest.mark.spark
def test_engine_spark_dataframe_declares_nested_types(spark: Any) -> None:
    from pyspark.sql import types as T

    sdf = spark.createDataFrame([(w[1] or "",) for w in WAREHOUSE], "text string")
    tagged = spark_engine.tag_spark_dataframe(sdf, Settings(), make_tagger=lambda s: TAGGER)
    types = {f.name: f.dataType for f in tagged.schema.fields}
    contract = spark_engine.contract_types()
    for col in (
        schema.TOPICS,
        schema.ASPECT_SENTIMENTS,
        schema.EVIDENCE,
        schema.TOPIC_SCORES,
        schema.LANG_CONFIDENCE,
        schema.SENTIMENT_SCORE,
        schema.ROW_ISSUES,
    ):
        assert types[col] == contract[col], col
    assert isinstance(types[spark_engine.ROW_INDEX], T.LongType)
    assert types[schema.ID] == T.StringType()  # generated ids: row-<n>
    rows = tagged.orderBy(spark_engine.ROW_INDEX).collect()
    assert rows[0][schema.EVIDENCE][0]["terms"] == ["Курьер"]
    assert all(r[schema.ID].startswith("row-") for r in rows)


@pytest.mark.spark
def test_engine_spark_dataframe_without_text_column_says_what_to_do(spark: Any) -> None:

    sdf = spark.createDataFrame([("a", 1)], "ticket string, score int")
    with raises_code("CX-E020", "text-col"):
        spark_engine.tag_spark_dataframe(
            sdf, Settings(), make_tagger=lambda s: TAGGER, text_col="body"
        )


# --------------------------------------------------------------------------- no Spark needed


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (np.array(["доставка", "staff"], dtype=object), ["доставка", "staff"]),
        (
            np.array([{"topic": "app", "score": np.float64(-1.0), "terms": np.array(["crash"])}]),
            [{"topic": "app", "score": -1.0, "terms": ["crash"]}],
        ),
        (("a", "b"), ["a", "b"]),
        ({"negative": np.float32(0.5)}, {"negative": 0.5}),
        (float("nan"), None),
        (None, None),
        ([], []),
        ("Курьер опоздал", "Курьер опоздал"),
    ],
)
def test_engine_spark_plain_converts_nested_values(value: Any, expected: Any) -> None:
    assert spark_engine.plain(value) == expected


def test_engine_spark_conform_keeps_rows_and_fills_missing_columns() -> None:
    tagged = pd.DataFrame(
        {schema.TEXT: ["Great app", "Доставка долгая"], schema.TOPICS: [np.array(["app"]), []]},
        index=[7, 3],
    )
    out = spark_engine.conform(
        tagged, [schema.TEXT, schema.TOPICS, schema.EVIDENCE], [schema.TOPICS, schema.EVIDENCE]
    )
    assert out[schema.TEXT].tolist() == ["Great app", "Доставка долгая"]
    assert out[schema.TOPICS].tolist() == [["app"], []]
    assert out[schema.EVIDENCE].tolist() == [None, None]


def test_engine_spark_batch_rows_bounded_by_chunk() -> None:
    assert spark_engine.default_batch_rows(Settings(chunk_size=100)) == 100
    assert spark_engine.default_batch_rows(Settings(chunk_size=5000, batch_size=64)) == 1024


# --------------------------------------------------------------------------- real pipeline


def close(a: Any, b: Any, tol: float = 1e-4) -> bool:
    """Equal, with floats anywhere in the nesting compared to ``tol`` (thread counts differ)."""
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= tol
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(close(x, y, tol) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k], tol) for k in a)
    return bool(a == b)


@pytest.mark.slow
@pytest.mark.spark
def test_engine_spark_real_pipeline_matches_local_engine(spark: Any, tmp_path: Path) -> None:
    pipeline = pytest.importorskip(
        "cx_text.classify.tagger", reason="the tagging pipeline is not built"
    )
    settings = Settings(chunk_size=60)
    if not (settings.cache_dir / "models" / "e5-small").is_dir():
        pytest.skip("the e5-small encoder is not prepared: run `cx-text models prepare`")
    export = tmp_path / "export.csv"
    pd.DataFrame(
        {"id": [f"m{i}" for i in range(150)], "text": [TEXTS[i % len(TEXTS)] for i in range(150)]}
    ).to_csv(export, index=False)
    tagger = pipeline.build_tagger(settings)
    tag_file(
        export,
        tmp_path / "local.parquet",
        tagger,
        settings,
        progress=False,
        manifest=tagger.resources.manifest(),
        db_path=tmp_path / "local.duckdb",
    )
    main(
        [
            "tag",
            str(export),
            "-o",
            str(tmp_path / "spark.parquet"),
            "--engine",
            "spark",
            "--chunk-size",
            "60",
            "--db",
            str(tmp_path / "spark.duckdb"),
        ]
    )
    with open_store(tmp_path / "local.duckdb") as a, open_store(tmp_path / "spark.duckdb") as b:
        manifests = [
            json.loads(st.query("SELECT manifest FROM runs")["manifest"].iloc[0]) for st in (a, b)
        ]
    checksums = [sorted(m["checksum"] for m in man["models"]) for man in manifests]
    assert checksums[0] == checksums[1], "the models changed between the two runs"
    local = read_frame(tmp_path / "local.parquet")
    got = read_frame(tmp_path / "spark.parquet")
    # executors run 1 thread, the local engine 2: int8 matmuls accumulate exactly whatever the
    # split, torch bf16 (the default on AMX-BF16 CPUs) sums in another order — scores move
    # (measured up to 8.7e-3 on a topic probability near 0.6), labels must not
    precision = tagger.resources.encoder.precision
    tol = 1e-4 if precision in ("onnx-int8", "fp32") else 2e-2
    assert got.columns.tolist() == local.columns.tolist()
    for col in local.columns:
        pairs = zip(map(plain_cell, local[col]), map(plain_cell, got[col]), strict=True)
        bad = [(i, a, b) for i, (a, b) in enumerate(pairs) if not close(a, b, tol)]
        assert not bad, f"column {col} differs: {bad[:3]}"
    assert (got[schema.SENTIMENT] != "").sum() > 100
    names = {m["name"] for m in manifests[1]["models"]}
    assert any(n.startswith("e5-small") for n in names) and any(
        n.startswith("head:") for n in names
    )
    assert manifests[1]["engine"] == "spark"


def test_engine_spark_rebased_moves_driver_install_paths(tmp_path: Path) -> None:
    here = tmp_path / "site-packages"
    (here / "cx_text" / "taxonomies").mkdir(parents=True)
    (here / "cx_text" / "taxonomies" / "default.yaml").write_text("name: default\n")
    driver = Path("/opt/driver/venv/lib/python3.11/site-packages")
    settings = Settings(
        taxonomy_path=driver / "cx_text" / "taxonomies" / "default.yaml",
        cache_dir=Path("./cx_cache"),
        models_dir=driver / "models",
    )
    moved = spark_engine.rebased(settings, driver, here)
    assert moved.taxonomy_path == here / "cx_text" / "taxonomies" / "default.yaml"
    assert moved.models_dir == here / "models"
    assert moved.cache_dir == Path("./cx_cache")  # relative paths (shipped archives) stay
    assert spark_engine.rebased(moved, driver, here) == moved


# --------------------------------------------------------------------------- resume


class Killed(BaseException):
    """The driver dying mid-run (a BaseException, so nothing in cx_text can catch it)."""


@contextmanager
def killed_on_call(owner: type, name: str, call: int) -> Iterator[None]:
    """Kill the run in the block at the ``call``-th (0-based) call of ``owner.name``."""
    original = getattr(owner, name)
    calls = itertools.count()

    def dying(self: Any, *args: Any, **kwargs: Any) -> Any:
        if next(calls) == call:
            raise Killed(f"killed at {owner.__name__}.{name} call {call}")
        return original(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch, pytest.raises(Killed):
        patch.setattr(owner, name, dying)
        yield


def tag_on_spark(
    export: Path, output: Path, db_path: Path | None = None, *, resume: bool = False, **changes: Any
) -> RunSummary:
    options: dict[str, Any] = {"settings": SETTINGS, **TOY, **changes}
    return spark_files.tag_file_spark(
        export,
        output,
        db_path=db_path,
        resume=resume,
        make_tagger=lambda s: TAGGER,
        progress=False,
        **options,
    )


@pytest.fixture(scope="module")
def interrupted(spark: Any, export: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a copy of the export and the work folder of a run killed after 2 chunks."""
    base = tmp_path_factory.mktemp("interrupted")
    shutil.copy(export, base / "export.csv")
    with killed_on_call(PartsDir, "write", 2):
        tag_on_spark(base / "export.csv", base / "out.parquet")
    return base


def copy_interrupted(interrupted: Path, to: Path) -> PartsDir:
    work = PartsDir(to / "out.parquet")
    shutil.copy(interrupted / "export.csv", to / "export.csv")
    shutil.copytree(PartsDir(interrupted / "out.parquet").path, work.path)
    return work


# (what is killed, at which call, chunks already done): 5 chunks, tagged in groups 0-3 and 4
KILLS = [
    pytest.param(PartsDir, "write", 1, 1, id="killed-writing-chunk-1"),
    pytest.param(Store, "append_chunk", 2, 3, id="killed-storing-chunk-2-after-its-part"),
    pytest.param(PartsDir, "write", 4, 4, id="killed-in-the-second-group"),
]


@pytest.mark.spark
@pytest.mark.parametrize(("owner", "name", "call", "done"), KILLS)
def test_engine_spark_resume_after_kill_matches_uninterrupted_run(
    runs: dict[str, Any], export: Path, tmp_path: Path, owner: type, name: str, call: int, done: int
) -> None:
    import pyarrow.parquet as pq

    out, db = tmp_path / "out.parquet", tmp_path / "cx.duckdb"
    with killed_on_call(owner, name, call):
        tag_on_spark(export, out, db)
    work = PartsDir(out)
    assert work.indexes() == list(range(done)) and not out.exists()
    summary = tag_on_spark(export, out, db, resume=True)
    assert summary.resumed_chunks == done
    assert (summary.rows_in, summary.rows_out) == (ROWS, ROWS)
    assert summary.by_status == runs["spark"].by_status
    assert summary.by_lang == runs["spark"].by_lang
    assert pq.read_table(out).equals(pq.read_table(runs["base"] / "spark.parquet"))
    assert not work.path.exists()
    assert_same_store(runs["base"] / "spark.duckdb", db)  # one run, complete, 5 chunks


@pytest.mark.spark
def test_engine_spark_resume_continues_a_local_engine_run(
    runs: dict[str, Any], export: Path, tmp_path: Path
) -> None:
    import pyarrow.parquet as pq

    out = tmp_path / "out.parquet"
    with killed_on_call(PartsDir, "write", 3):
        tag_file(export, out, TAGGER, SETTINGS, progress=False, **TOY)
    summary = tag_on_spark(export, out, resume=True)
    assert (summary.resumed_chunks, summary.rows_out) == (3, ROWS)
    assert pq.read_table(out).equals(pq.read_table(runs["base"] / "spark.parquet"))


@pytest.mark.spark
def test_engine_spark_interrupted_run_resumes_on_the_local_engine(
    runs: dict[str, Any], interrupted: Path, tmp_path: Path
) -> None:
    import pyarrow.parquet as pq

    copy_interrupted(interrupted, tmp_path)
    summary = tag_file(
        tmp_path / "export.csv",
        tmp_path / "out.parquet",
        TAGGER,
        SETTINGS,
        progress=False,
        resume=True,
        **TOY,
    )
    assert (summary.resumed_chunks, summary.rows_out) == (2, ROWS)
    assert pq.read_table(tmp_path / "out.parquet").equals(
        pq.read_table(runs["base"] / "spark.parquet")
    )


KILLED_DRIVER = """
import sys, time
from pathlib import Path
from pyspark import cloudpickle
import tests.engines.test_engine_spark as t
from cx_text.engines.spark.files import tag_file_spark

cloudpickle.register_pickle_by_value(t)

def slow_toy(chunk):
    if len(chunk) and chunk.index.min() >= 4 * t.CHUNK:  # the last chunk: killed meanwhile
        time.sleep(120)
    return t.TAGGER(chunk)

export, out, db = map(Path, sys.argv[1:4])
tag_file_spark(export, out, t.SETTINGS, db_path=db, make_tagger=lambda s: slow_toy,
               progress=False, **t.TOY)
"""


def kill_driver_after_parts(args: list[str], work: PartsDir, parts: int, log: Path) -> None:
    """Run a Spark driver in its own process group; SIGKILL the group once ``parts`` exist."""
    import signal
    import subprocess
    import time

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, *args], env=env, stdout=err, stderr=err, start_new_session=True
        )
        deadline = time.monotonic() + 180
        try:
            while len(work.indexes()) < parts:
                assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
                assert time.monotonic() < deadline, "the driver made no progress"
                time.sleep(0.05)
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.mark.slow
@pytest.mark.spark
def test_engine_spark_resume_after_sigkill_of_the_driver(
    runs: dict[str, Any], export: Path, tmp_path: Path
) -> None:
    import pyarrow.parquet as pq

    out, db, script = tmp_path / "out.parquet", tmp_path / "cx.duckdb", tmp_path / "driver.py"
    script.write_text(KILLED_DRIVER, encoding="utf-8")
    work = PartsDir(out)
    kill_driver_after_parts(
        [str(script), str(export), str(out), str(db)], work, 4, tmp_path / "driver.log"
    )
    assert work.indexes() == [0, 1, 2, 3] and not out.exists()
    summary = tag_on_spark(export, out, db, resume=True)
    assert (summary.resumed_chunks, summary.rows_out) == (4, ROWS)
    assert pq.read_table(out).equals(pq.read_table(runs["base"] / "spark.parquet"))
    assert_same_store(runs["base"] / "spark.duckdb", db)


def edit_row(export: Path) -> None:
    text = export.read_text(encoding="utf-8")
    export.write_text(
        text.replace("Great app, fast checkout", "Great app, slow checkout", 1), encoding="utf-8"
    )


def add_row(export: Path) -> None:
    with export.open("a", encoding="utf-8") as fh:
        fh.write("r9999,Курьер опоздал на час,2026-03-01 10:00,2,app,Москва\n")


CHANGES: list[Any] = [
    pytest.param(edit_row, {}, id="a-row-edited"),
    pytest.param(add_row, {}, id="a-row-added"),
    pytest.param(None, {"settings": Settings(chunk_size=500, batch_size=8)}, id="chunk-size"),
    pytest.param(None, {"manifest": {"fingerprint": "toy-v2"}}, id="other-models"),
    pytest.param(None, {"mapping": {"text": "comment", "channel": "region"}}, id="other-mapping"),
]


@pytest.mark.spark
@pytest.mark.parametrize(("change", "options"), CHANGES)
def test_engine_spark_resume_refuses_changed_input_or_settings(
    interrupted: Path,
    tmp_path: Path,
    change: Callable[[Path], None] | None,
    options: dict[str, Any],
) -> None:
    work = copy_interrupted(interrupted, tmp_path)
    if change is not None:
        change(tmp_path / "export.csv")
    with raises_code("CX-E080", str(work.path)):  # the fix names the folder to delete
        tag_on_spark(tmp_path / "export.csv", tmp_path / "out.parquet", resume=True, **options)
    assert work.indexes() == [0, 1] and not (tmp_path / "out.parquet").exists()


@pytest.mark.spark
def test_engine_spark_without_resume_refuses_interrupted_run(
    interrupted: Path, tmp_path: Path
) -> None:
    work = copy_interrupted(interrupted, tmp_path)
    with raises_code("CX-E080", "--resume"):
        tag_on_spark(tmp_path / "export.csv", tmp_path / "out.parquet")
    assert work.indexes() == [0, 1]


def test_engine_spark_cli_refuses_leftover_run_before_spark_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    export = tmp_path / "export.csv"
    pd.DataFrame({"text": ["Курьер опоздал", "Great support"]}).to_csv(export, index=False)
    PartsDir(tmp_path / "out.parquet").start("an-older-run", "run-1")
    monkeypatch.setattr(spark_files, "spark_session", None)  # must not be reached
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "tag",
                str(export),
                "-o",
                str(tmp_path / "out.parquet"),
                "--engine",
                "spark",
                "--no-db",
            ]
        )
    assert exit_info.value.code == 2
    assert cli_error(capsys.readouterr().err, "CX-E080", "--resume")


@pytest.mark.parametrize("flags", [["--resume"], []])
def test_engine_spark_cli_passes_resume(
    flags: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seen: dict[str, Any] = {}

    def fake(path: Path, output: Path, settings: Settings, **kwargs: Any) -> RunSummary:
        seen.update(kwargs)
        return RunSummary(
            run_id="run-7",
            input=str(path),
            output=str(output),
            rows_in=2,
            rows_out=2,
            resumed_chunks=1 if kwargs["resume"] else 0,
        )

    monkeypatch.setattr(spark_files, "tag_file_spark", fake)
    main(
        [
            "tag",
            str(tmp_path / "in.csv"),
            "-o",
            str(tmp_path / "out.parquet"),
            "--engine",
            "spark",
            "--master",
            "local[1]",
            "--no-db",
            *flags,
        ]
    )
    assert seen["resume"] is bool(flags) and seen["master"] == "local[1]"
    assert ("resumed: 1 chunk(s)" in capsys.readouterr().out) is bool(flags)


@pytest.mark.parametrize(("resume", "expected"), [(True, 3), (False, 16)])
def test_engine_spark_resume_reuses_the_recorded_group_size(
    tmp_path: Path, resume: bool, expected: int
) -> None:
    from types import SimpleNamespace

    work = PartsDir(tmp_path / "out.parquet")
    work.start("fingerprint", "run-1")
    spark_files._record_group_chunks(work, 3)  # an interrupted run on 1-2 cores
    cluster = SimpleNamespace(sparkContext=SimpleNamespace(defaultParallelism=8))
    assert spark_files._group_chunks(work, resume, cluster, SETTINGS) == expected


@pytest.mark.spark
def test_engine_spark_dataframe_keeps_extra_columns_by_name_and_type(spark: Any) -> None:
    from pyspark.sql import types as T

    sdf = spark.createDataFrame(
        [("Курьер опоздал", 7, "ru"), ("Great app", 3, "en")],
        "body string, region int, lang string",
    )
    tagged = spark_engine.tag_spark_dataframe(
        sdf, Settings(), make_tagger=lambda s: TAGGER, text_col="body"
    )
    types = {f.name: f.dataType for f in tagged.schema.fields}
    assert types["region"] == T.IntegerType() and "lang_input" in types  # `lang` is a tag column
    assert not [c for c in types if c.startswith("input|")]
    assert tagged.count() == 2
