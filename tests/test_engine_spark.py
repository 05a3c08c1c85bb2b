"""Spark engine: same output as the local engine, models loaded once per worker, nested types.

Spark tests run in local[2] with one session for the whole module (started and stopped here).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cx_text import schema
from cx_text.cli import main
from cx_text.config import Settings
from cx_text.engines import spark as spark_engine
from cx_text.engines.local import tag_file
from cx_text.errors import ModelError
from cx_text.output import read_frame
from cx_text.store import open_store

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
CUES = {"delivery": ("курьер", "доставк", "delivery", "courier", "late", "опоздал"),
        "app": ("приложени", "app", "crash", "вылетает"),
        "price": ("цен", "expensive", "дорого"),
        "support": ("support", "поддержк", "оператор", "refund")}
NEGATIVE = ("опоздал", "never", "вылетает", "кусаются", "rude", "грубый", "crash", "expensive", "😡")
ROWS = 2000
CHUNK = 400  # 5 chunks: Spark tags them in two groups (4 + 1)


def toy_tag(chunk: pd.DataFrame) -> pd.DataFrame:
    """Deterministic stand-in for the pipeline, with every kind of nested value."""
    texts = chunk[schema.TEXT].fillna("").astype(str).tolist()
    if any("💥" in t for t in texts):
        raise RuntimeError("toy model exploded")
    out = chunk.copy()
    lows = [t.lower() for t in texts]
    neg = [any(c in t for c in NEGATIVE) for t in lows]
    topics = [[k for k, cues in CUES.items() if any(c in t for c in cues)] for t in lows]
    out[schema.LANG] = ["ru" if any("а" <= c <= "я" for c in t) else ("en" if t.strip() else "")
                        for t in lows]
    out[schema.LANG_CONFIDENCE] = [None if not t else 0.5 + (len(t) % 50) / 100 for t in texts]
    out[schema.SENTIMENT] = ["negative" if n else "neutral" for n in neg]
    out[schema.SENTIMENT_SCORE] = [-0.75 if n else np.float64(0.0) for n in neg]
    out[schema.SENTIMENT_PROBS] = [{"negative": 0.8, "neutral": 0.2} if n else {"neutral": 1.0}
                                   for n in neg]
    out[schema.TOPICS] = topics
    out[schema.TOPIC_SCORES] = [{k: 0.9 for k in tps} for tps in topics]
    out[schema.SUBTOPICS] = [[f"{k}/other" for k in tps] for tps in topics]
    out[schema.ASPECT_SENTIMENTS] = [
        [{"topic": k, "polarity": "negative" if n else "neutral", "score": -1 if n else 0}
         for k in tps] for tps, n in zip(topics, neg, strict=True)]
    out[schema.EVIDENCE] = [
        [{"topic": k, "clause": t, "terms": [c for c in CUES[k] if c in t.lower()],
          "start": np.int64(0), "end": len(t), "source": "rule"} for k in tps]
        for tps, t in zip(topics, texts, strict=True)]
    return out


@dataclass(frozen=True)
class CountingFactory:
    """A picklable ``make_tagger`` that leaves one marker file per model load."""

    marker_dir: str

    def __call__(self, settings: Settings) -> Any:
        Path(self.marker_dir, f"load-{os.getpid()}-{len(os.listdir(self.marker_dir))}").touch()
        return toy_tag


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
    builder = (SparkSession.builder.master("local[2]").appName("cx-text tests")
               .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2")
               .config("spark.default.parallelism", "2").config("spark.driver.memory", "1g")
               .config("spark.sql.warehouse.dir", str(tmp_path_factory.mktemp("warehouse"))))
    for key, value in spark_engine.session_conf(Settings()).items():
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
    frame = pd.DataFrame({
        "review_id": ids,
        "comment": [TEXTS[i % len(TEXTS)] for i in range(ROWS)],
        "date": [f"2026-0{1 + i % 9}-{1 + i % 28:02d} 10:{i % 60:02d}" if i % 97 else "вчера"
                 for i in range(ROWS)],
        "nps": [str(i % 12) if i % 13 else "" for i in range(ROWS)],
        "channel": [("app", "chat", "email")[i % 3] for i in range(ROWS)],
        "region": [("Москва", "", "London", "Казань")[i % 4] for i in range(ROWS)],
    })
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def runs(spark: Any, export: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Tag the export once with each engine (same settings, same toy tagger)."""
    base = tmp_path_factory.mktemp("runs")
    markers = base / "markers"
    markers.mkdir()
    settings = Settings(chunk_size=CHUNK, batch_size=8)
    common = {"manifest": {"fingerprint": "toy"}, "mapping": {"text": "comment"}}
    local = tag_file(export, base / "local.parquet", toy_tag, settings, progress=False,
                     db_path=base / "local.duckdb", **common)
    spark_summary = spark_engine.tag_file_spark(
        export, base / "spark.parquet", settings, db_path=base / "spark.duckdb",
        make_tagger=CountingFactory(str(markers)), progress=False, **common)
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


@pytest.mark.spark
def test_engine_spark_summary_matches_local_engine(runs: dict[str, Any]) -> None:
    local, spark = runs["local"], runs["spark"]
    assert (spark.rows_in, spark.rows_out) == (local.rows_in, local.rows_out) == (ROWS, ROWS)
    assert spark.by_status == local.by_status
    assert spark.by_lang == local.by_lang
    assert {"ok", "empty", "flagged", "error"} <= set(spark.by_status)


@pytest.mark.spark
def test_engine_spark_store_matches_local_engine(runs: dict[str, Any]) -> None:
    queries = {
        "tags": "SELECT * EXCLUDE (run_id) FROM tags ORDER BY row_index",
        "aspects": "SELECT * EXCLUDE (run_id) FROM aspects ORDER BY id, topic",
        "evidence": "SELECT * EXCLUDE (run_id) FROM evidence ORDER BY id, topic",
        "feedback": "SELECT * EXCLUDE (first_run_id, last_run_id) FROM feedback ORDER BY id",
    }
    with open_store(runs["base"] / "local.duckdb") as a, open_store(runs["base"] / "spark.duckdb") as b:
        for name, sql in queries.items():
            left, right = a.query(sql), b.query(sql)
            assert len(left) == len(right) > 0, name
            for col in left.columns:
                assert same_values(left[col], right[col]), f"{name}.{col} differs"
        assert b.runs()["status"].tolist() == ["complete"]
        assert b.query("SELECT count(*) n FROM run_chunks")["n"].iloc[0] == ROWS // CHUNK


@pytest.mark.spark
def test_engine_spark_failing_rows_keep_their_place(runs: dict[str, Any]) -> None:
    spark = read_frame(runs["base"] / "spark.parquet")
    bad = spark[schema.TEXT].str.contains("💥", regex=False)
    assert bad.sum() == ROWS // len(TEXTS) + (ROWS % len(TEXTS) > 10)
    assert spark.loc[bad, schema.ROW_STATUS].str.startswith("error: RuntimeError").all()
    assert not spark.loc[~bad, schema.ROW_STATUS].str.startswith("error").any()


@pytest.mark.spark
def test_engine_spark_loads_models_once_per_worker(runs: dict[str, Any]) -> None:
    loads = sorted(p.name for p in runs["markers"].iterdir())
    workers = {name.split("-")[1] for name in loads}
    assert 1 <= len(loads) <= 2, loads  # local[2]: at most two Python workers
    assert len(workers) == len(loads), "a worker built the tagger twice"
    batches = ROWS / spark_engine.default_batch_rows(Settings(chunk_size=CHUNK, batch_size=8))
    assert batches > 2 * len(loads)


@pytest.mark.spark
def test_engine_spark_empty_export_gives_empty_output(spark: Any, tmp_path: Path) -> None:
    export = tmp_path / "empty.csv"
    export.write_text("review_id,comment,nps\n", encoding="utf-8")
    summary = spark_engine.tag_file_spark(export, tmp_path / "out.parquet", Settings(),
                                          mapping={"text": "comment"}, make_tagger=lambda s: toy_tag,
                                          progress=False, db_path=tmp_path / "cx.duckdb")
    out = read_frame(tmp_path / "out.parquet")
    assert (summary.rows_in, summary.rows_out, len(out)) == (0, 0, 0)
    assert {schema.ID, schema.TEXT, schema.TOPICS, schema.EVIDENCE} <= set(out.columns)


# --------------------------------------------------------------------------- DataFrames

WAREHOUSE = [
    ("t-1", "Курьер опоздал, еда остыла", 3, "web"),
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
        sdf.repartition(3), Settings(), make_tagger=lambda s: toy_tag, text_col="body",
        id_col="ticket", mapping={"nps": "score", "channel": "src"}, batch_rows=2)
    got = tagged.toPandas().sort_values(spark_engine.ROW_INDEX)
    assert len(got) == len(WAREHOUSE)
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
    tagged = spark_engine.tag_spark_dataframe(sdf, Settings(), make_tagger=lambda s: toy_tag)
    types = {f.name: f.dataType for f in tagged.schema.fields}
    contract = spark_engine.contract_types()
    for col in (schema.TOPICS, schema.ASPECT_SENTIMENTS, schema.EVIDENCE, schema.TOPIC_SCORES,
                schema.LANG_CONFIDENCE, schema.SENTIMENT_SCORE, schema.ROW_ISSUES):
        assert types[col] == contract[col], col
    assert isinstance(types[spark_engine.ROW_INDEX], T.LongType)
    assert types[schema.ID] == T.StringType()  # generated ids: row-<n>
    rows = tagged.orderBy(spark_engine.ROW_INDEX).collect()
    assert rows[0][schema.EVIDENCE][0]["terms"] == ["курьер", "опоздал"]
    assert all(r[schema.ID].startswith("row-") for r in rows)


@pytest.mark.spark
def test_engine_spark_dataframe_without_text_column_says_what_to_do(spark: Any) -> None:
    from cx_text.errors import IngestError

    sdf = spark.createDataFrame([("a", 1)], "ticket string, score int")
    with pytest.raises(IngestError, match="text-col"):
        spark_engine.tag_spark_dataframe(sdf, Settings(), make_tagger=lambda s: toy_tag,
                                         text_col="body")


# --------------------------------------------------------------------------- no Spark needed

@pytest.mark.parametrize(("value", "expected"), [
    (np.array(["доставка", "staff"], dtype=object), ["доставка", "staff"]),
    (np.array([{"topic": "app", "score": np.float64(-1.0), "terms": np.array(["crash"])}]),
     [{"topic": "app", "score": -1.0, "terms": ["crash"]}]),
    (("a", "b"), ["a", "b"]),
    ({"negative": np.float32(0.5)}, {"negative": 0.5}),
    (float("nan"), None),
    (None, None),
    ([], []),
    ("Курьер опоздал", "Курьер опоздал"),
])
def test_engine_spark_plain_converts_nested_values(value: Any, expected: Any) -> None:
    assert spark_engine.plain(value) == expected


def test_engine_spark_conform_keeps_rows_and_fills_missing_columns() -> None:
    tagged = pd.DataFrame({schema.TEXT: ["Great app", "Доставка долгая"],
                           schema.TOPICS: [np.array(["app"]), []]}, index=[7, 3])
    out = spark_engine.conform(tagged, [schema.TEXT, schema.TOPICS, schema.EVIDENCE],
                               [schema.TOPICS, schema.EVIDENCE])
    assert out[schema.TEXT].tolist() == ["Great app", "Доставка долгая"]
    assert out[schema.TOPICS].tolist() == [["app"], []]
    assert out[schema.EVIDENCE].tolist() == [None, None]


def test_engine_spark_default_factory_explains_missing_pipeline(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cx_text.pipeline", None)
    with pytest.raises(ModelError, match="make_tagger"):
        spark_engine.default_make_tagger(Settings())


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
    pipeline = pytest.importorskip("cx_text.pipeline", reason="the tagging pipeline is not built")
    settings = Settings(chunk_size=60)
    if not (settings.cache_dir / "models" / "e5-small").is_dir():
        pytest.skip("the e5-small encoder is not prepared: run `cx-text models prepare`")
    export = tmp_path / "export.csv"
    pd.DataFrame({"id": [f"m{i}" for i in range(150)],
                  "text": [TEXTS[i % len(TEXTS)] for i in range(150)]}).to_csv(export, index=False)
    tagger = pipeline.build_tagger(settings)
    tag_file(export, tmp_path / "local.parquet", tagger, settings, progress=False,
             manifest=tagger.resources.manifest(), db_path=tmp_path / "local.duckdb")
    main(["tag", str(export), "-o", str(tmp_path / "spark.parquet"), "--engine", "spark",
          "--chunk-size", "60", "--db", str(tmp_path / "spark.duckdb")])
    with open_store(tmp_path / "local.duckdb") as a, open_store(tmp_path / "spark.duckdb") as b:
        manifests = [json.loads(st.query("SELECT manifest FROM runs")["manifest"].iloc[0])
                     for st in (a, b)]
    checksums = [sorted(m["checksum"] for m in man["models"]) for man in manifests]
    assert checksums[0] == checksums[1], "the models changed between the two runs"
    local = read_frame(tmp_path / "local.parquet")
    got = read_frame(tmp_path / "spark.parquet")
    assert got.columns.tolist() == local.columns.tolist()
    for col in local.columns:
        pairs = zip(map(plain_cell, local[col]), map(plain_cell, got[col]), strict=True)
        bad = [(i, a, b) for i, (a, b) in enumerate(pairs) if not close(a, b)]
        assert not bad, f"column {col} differs: {bad[:3]}"
    assert (got[schema.SENTIMENT] != "").sum() > 100
    names = {m["name"] for m in manifests[1]["models"]}
    assert "e5-small" in names and any(n.startswith("head:") for n in names)
    assert manifests[1]["engine"] == "spark"


def test_engine_spark_rebased_moves_driver_install_paths(tmp_path: Path) -> None:
    here = tmp_path / "site-packages"
    (here / "cx_text" / "taxonomies").mkdir(parents=True)
    (here / "cx_text" / "taxonomies" / "default.yaml").write_text("name: default\n")
    driver = Path("/opt/driver/venv/lib/python3.11/site-packages")
    settings = Settings(taxonomy_path=driver / "cx_text" / "taxonomies" / "default.yaml",
                        cache_dir=Path("./cx_cache"), models_dir=driver / "models")
    moved = spark_engine.rebased(settings, driver, here)
    assert moved.taxonomy_path == here / "cx_text" / "taxonomies" / "default.yaml"
    assert moved.models_dir == here / "models"
    assert moved.cache_dir == Path("./cx_cache")  # relative paths (shipped archives) stay
    assert spark_engine.rebased(moved, driver, here) == moved


def test_engine_spark_cli_refuses_resume(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    export = tmp_path / "export.csv"
    pd.DataFrame({"text": ["Курьер опоздал", "Great support"]}).to_csv(export, index=False)
    with pytest.raises(SystemExit) as exit_info:
        main(["tag", str(export), "-o", str(tmp_path / "out.parquet"), "--engine", "spark",
              "--resume", "--no-db"])
    assert exit_info.value.code == 2
    assert "--resume works with the local engine only" in capsys.readouterr().err
