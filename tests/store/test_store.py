"""DuckDB store: migrations, chunked atomic writes, latest-run views, resume bookkeeping, export."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from cx_text.store.schema import LATEST_VERSION
from cx_text.store.store import open_store
from tests.error_codes import raises_code


def _tagged(ids: list[str], sentiment: str = "negative", topic: str = "delivery") -> pd.DataFrame:
    n = len(ids)
    return pd.DataFrame(
        {
            "id": ids,
            "text": [f"Курьер опоздал {i}" for i in ids],
            "text_clean": [f"Курьер опоздал {i}, тел [PHONE]" for i in ids],
            "created_at": pd.to_datetime(["2026-03-05"] * n),
            "channel": ["app_review"] * n,
            "nps": [3] * n,
            "csat": [None] * n,
            "customer_id": ["c1"] * n,
            "segment": ["vip"] * n,
            "order_no": ["A-1"] * n,
            "lang": ["ru"] * n,
            "lang_confidence": [0.99] * n,
            "sentiment": [sentiment] * n,
            "sentiment_score": [-0.8] * n,
            "topics": [[topic]] * n,
            "subtopics": [[f"{topic}/late"]] * n,
            "topic_scores": [{topic: 0.9}] * n,
            "pii_found": [["PHONE"]] * n,
            "row_status": ["ok"] * n,
            "row_issues": [[]] * n,
            "aspect_sentiments": [[{"topic": topic, "polarity": sentiment, "score": -0.8}]] * n,
            "evidence": [
                [
                    {
                        "topic": topic,
                        "clause": "Курьер опоздал",
                        "start": 0,
                        "end": 14,
                        "terms": ["опоздал"],
                        "source": "rule",
                    }
                ]
            ]
            * n,
        }
    )


def test_store_migrates_new_file_to_latest(tmp_path: Path) -> None:
    with open_store(tmp_path / "cx.duckdb") as st:
        versions = st.query("SELECT max(version) AS v FROM schema_migrations")["v"].iloc[0]
    assert versions == LATEST_VERSION
    with open_store(tmp_path / "cx.duckdb") as st:  # idempotent
        assert len(st.runs()) == 0


def test_store_chunks_and_latest_run_views(tmp_path: Path) -> None:
    with open_store(tmp_path / "cx.duckdb") as st:
        r1 = st.begin_run({"model": "v1"}, "a.csv", "fp1", rows_in=3)
        st.append_chunk(r1, 0, _tagged(["1", "2"]), first_row=0)
        st.append_chunk(r1, 1, _tagged(["3"]), first_row=2)
        st.append_chunk(r1, 1, _tagged(["3"]), first_row=2)  # replayed chunk: ignored
        st.finish_run(r1, {"rows": 3})
        assert st.query("SELECT count(*) AS n FROM tagged")["n"].iloc[0] == 3
        r2 = st.begin_run({"model": "v2"}, "a.csv", "fp1", rows_in=1)
        st.append_chunk(r2, 0, _tagged(["1"], sentiment="positive", topic="staff"))
        assert (
            st.query("SELECT sentiment FROM tagged WHERE id = '1'")["sentiment"].iloc[0]
            == "negative"
        )
        st.finish_run(r2, {"rows": 1})  # now complete: supersedes run 1 for id 1
        row = st.query("SELECT sentiment, topics, text, extra FROM tagged WHERE id = '1'").iloc[0]
        assert row["sentiment"] == "positive" and list(row["topics"]) == ["staff"]
        assert "[PHONE]" in row["text"] and "order_no" in row["extra"]
        asp = st.query("SELECT topic, polarity FROM latest_aspects ORDER BY id")
        assert asp.values.tolist() == [
            ["staff", "positive"],
            ["delivery", "negative"],
            ["delivery", "negative"],
        ]
        assert st.query("SELECT count(*) AS n FROM latest_evidence")["n"].iloc[0] == 3


def test_store_resume_bookkeeping(tmp_path: Path) -> None:
    with open_store(tmp_path / "cx.duckdb") as st:
        run = st.begin_run({}, "big.csv", "fp-big")
        st.append_chunk(run, 0, _tagged(["1"]))
        assert st.find_resumable_run("fp-big") == run
        assert st.finished_chunks(run) == {0}
        st.finish_run(run, {})
        assert st.find_resumable_run("fp-big") is None


def test_store_failed_chunk_rolls_back(tmp_path: Path) -> None:
    with open_store(tmp_path / "cx.duckdb") as st:
        run = st.begin_run({}, "x.csv", "fp")
        bad = _tagged(["1"]).assign(sentiment_score=["not a number"])
        with pytest.raises(duckdb.Error):
            st.append_chunk(run, 0, bad)
        assert st.finished_chunks(run) == set()
        assert st.query("SELECT count(*) AS n FROM feedback")["n"].iloc[0] == 0


def test_store_customers_and_export(tmp_path: Path) -> None:
    with open_store(tmp_path / "cx.duckdb") as st:
        n = st.load_customers(
            pd.DataFrame(
                {
                    "customer_id": ["c1", "c2"],
                    "signup": ["2025-01-02", "2025-02-03"],
                    "churned_at": ["", "2026-04-01"],
                    "ltv": [1000, 2500.5],
                }
            )
        )
        assert n == 2
        run = st.begin_run({}, "a.csv", "fp")
        st.append_chunk(run, 0, _tagged(["1", "2"]))
        st.finish_run(run, {})
        out = st.export_run(None, tmp_path / "run.parquet")
    back = pd.read_parquet(out)
    assert back["id"].tolist() == ["1", "2"] and "aspect_sentiments" in back.columns


def test_store_read_only_missing_file_is_clear(tmp_path: Path) -> None:
    with (
        raises_code("CX-E060", "cx-text tag"),
        open_store(tmp_path / "none.duckdb", read_only=True),
    ):
        pass


def test_store_memory_limit_caps_the_buffer_pool(tmp_path: Path) -> None:
    from cx_text.engines.local import TAGGING_STORE_MEMORY, open_optional_store

    def limit_mib(store: object) -> float:
        value = store.con.execute("SELECT current_setting('memory_limit')").fetchone()[0]  # type: ignore[attr-defined]
        number, unit = value.split()
        return float(number) * {"KiB": 1 / 1024, "MiB": 1, "GiB": 1024}[unit]

    with open_store(tmp_path / "a.duckdb", memory_limit="64MB") as store:
        assert 55 < limit_mib(store) < 65
    with open_optional_store(tmp_path / "b.duckdb") as store:  # what `cx-text tag` writes with
        assert limit_mib(store) <= int(TAGGING_STORE_MEMORY.removesuffix("MB"))
    with open_store(tmp_path / "b.duckdb") as store:  # other writers keep DuckDB's default
        assert limit_mib(store) > 1024
