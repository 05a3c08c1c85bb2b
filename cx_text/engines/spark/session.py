"""The SparkSession the file engine runs on: cx_text's Spark settings, or the caller's session."""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from cx_text.core.config import Settings
from cx_text.core.errors import CxTextError
from cx_text.engines.spark.engine import ARROW_BATCH_CONF, default_batch_rows

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

PANDAS3_WARNING = "PySpark does not yet fully support pandas"


def session_conf(settings: Settings, batch_rows: int | None = None) -> dict[str, str]:
    """Spark settings cx_text relies on (offline executors, Arrow batches, worker reuse)."""
    conf = {
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.session.timeZone": "UTC",
        "spark.python.worker.reuse": "true",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        ARROW_BATCH_CONF: str(batch_rows or default_batch_rows(settings)),
        "spark.executorEnv.TOKENIZERS_PARALLELISM": "false",
        "spark.executorEnv.PYTHONWARNINGS": f"ignore:{PANDAS3_WARNING}:FutureWarning",
    }
    if not settings.allow_network:
        conf["spark.executorEnv.HF_HUB_OFFLINE"] = "1"
        conf["spark.executorEnv.TRANSFORMERS_OFFLINE"] = "1"
    return conf


@contextmanager
def spark_session(master: str, settings: Settings) -> Iterator[SparkSession]:
    """The active SparkSession if there is one, else a new one on ``master`` (stopped after)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise CxTextError(
            "the Spark engine needs pyspark.",
            "Install it with: pip install 'cx_text[spark]' (and Java 17+).",
        ) from exc
    warnings.filterwarnings("ignore", message=PANDAS3_WARNING, category=FutureWarning)
    active = SparkSession.getActiveSession()
    if active is not None:
        yield active
        return
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.master(master).appName("cx-text tag")
    for key, value in session_conf(settings).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    try:
        yield spark
    finally:
        spark.stop()
