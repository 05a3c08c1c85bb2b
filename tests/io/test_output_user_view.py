"""Tagging outputs are the user's file plus cx_text's columns; evidence is data, not numpy reprs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import cx_text
from cx_text.app.upload import tag_upload
from cx_text.core.config import Settings
from cx_text.io.columns import cx_name, input_column, user_view
from cx_text.io.output import read_frame, write_frame
from cx_text.store.store import open_store
from cx_text.testing import KeywordChunkTagger, KeywordTagger

USER_COLUMNS = ["id", "Текст отзыва", "Оценка NPS", "Дата", "sentiment", "Город"]


def _tagger() -> cx_text.Tagger:
    """The fake with every nested value, evidence ``spans`` too (as the real tagger writes)."""
    inner = KeywordChunkTagger(Settings(), KeywordTagger(every_type=True))
    return cx_text.Tagger(inner, inner.settings, inner.manifest)


def _export(tmp_path: Path) -> Path:
    path = tmp_path / "export.csv"
    path.write_text(
        "id,Текст отзыва,Оценка NPS,Дата,sentiment,Город\n"
        "007,Курьер опоздал на 2 часа,abc,12.03.2026,злой,Омск\n"
        "8,Всё супер,10,13.03.2026,,Тверь\n"
        "9,,5,not a date,ok,\n",
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize("suffix", [".csv", ".xlsx", ".parquet", ".jsonl"])
def test_output_keeps_user_columns_names_and_values(tmp_path: Path, suffix: str) -> None:
    out_path = tmp_path / f"out{suffix}"
    summary = cx_text.tag_file(_export(tmp_path), out_path, tagger=_tagger())
    out = {
        ".csv": lambda: pd.read_csv(
            out_path, encoding="utf-8-sig", dtype=str, keep_default_na=False
        ),
        ".xlsx": lambda: pd.read_excel(out_path, engine="calamine", dtype=str),
    }.get(suffix, lambda: read_frame(out_path))()
    assert summary.rows_in == summary.rows_out == len(out) == 3
    assert list(out.columns[:6]) == USER_COLUMNS
    as_text = out[USER_COLUMNS].astype(str).replace({"nan": "", "None": ""})
    assert as_text.iloc[0].tolist() == [
        "007",
        "Курьер опоздал на 2 часа",
        "abc",
        "12.03.2026",
        "злой",
        "Омск",
    ]
    # cx_text's clashing columns get the cx_ prefix; canonical copies are not repeated
    assert {"cx_id", "cx_sentiment", "text_clean", "topics", "row_status", "evidence"} <= set(
        out.columns
    )
    assert not {"text", "nps", "created_at"} & set(out.columns)
    assert out["cx_sentiment"].tolist()[0] in {"negative", "positive"}
    assert out["row_status"].tolist()[0] == "flagged"  # NPS "abc" flagged, kept as written


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_output_evidence_is_json_with_plain_lists(tmp_path: Path, suffix: str) -> None:
    out_path = tmp_path / f"out{suffix}"
    cx_text.tag_file(
        _export(tmp_path), out_path, tagger=_tagger()
    )  # parts round trip: numpy inside
    cell = read_frame(out_path)["evidence"].tolist()[0]
    assert "array(" not in cell and "' '" not in cell
    evidence = json.loads(cell)
    assert evidence[0]["terms"] == ["Курьер"]
    assert evidence[0]["spans"] == [[0, 6]]


def test_output_evidence_is_structs_in_parquet(tmp_path: Path) -> None:
    out_path = tmp_path / "out.parquet"
    cx_text.tag_file(_export(tmp_path), out_path, tagger=_tagger())
    import pyarrow.parquet as pq

    field = pq.read_schema(out_path).field("evidence")
    assert str(field.type).startswith(
        "list<element: struct<topic: string, clause: string, terms: list"
    )
    assert str(field.type.value_type.field("spans").type) == "list<element: list<element: int64>>"
    assert read_frame(out_path)["evidence"][0][0]["spans"].tolist()[0].tolist() == [0, 6]


def test_output_numpy_nested_values_become_json() -> None:
    frame = pd.DataFrame(
        {
            "evidence": [
                np.array(
                    [{"terms": np.array(["a", "b"]), "spans": np.array([np.array([0, 9])])}],
                    dtype=object,
                )
            ],
            "topic_scores": [{"delivery": np.float32(0.5)}],
        }
    )
    path = write_frame(frame, Path("/tmp") / f"cx_np_{id(frame)}.csv")
    try:
        cell = read_frame(path)
        assert json.loads(cell["evidence"][0]) == [{"terms": ["a", "b"], "spans": [[0, 9]]}]
        assert json.loads(cell["topic_scores"][0]) == {"delivery": 0.5}
    finally:
        path.unlink()


def test_output_app_upload_download_follows_the_same_rule(tmp_path: Path) -> None:
    out_path = tmp_path / "dl.csv"
    with open_store(tmp_path / "s.duckdb") as store:
        result = tag_upload(
            _export(tmp_path), store, KeywordTagger(every_type=True), Settings(), out_path
        )
    out = read_frame(out_path)
    assert result.rows == len(out) == 3
    assert list(out.columns[:6]) == USER_COLUMNS and "cx_id" in out.columns


def test_output_library_tag_follows_the_same_rule() -> None:
    df = pd.DataFrame({"text": ["Курьер опоздал"], "id": ["x1"], "lang": ["по-русски"]})
    out = _tagger().tag(df)
    assert list(out.columns[:3]) == ["text", "id", "lang"]
    assert out.loc[0, "lang"] == "по-русски" and out.loc[0, "cx_lang"] == "ru"
    assert out.loc[0, "cx_id"] == "x1"


def test_output_user_view_rules() -> None:
    frame = pd.DataFrame(
        {
            "id": ["1"],
            "text": ["t"],
            "nps": [3.0],
            input_column("id", "id"): ["1"],
            input_column("cx_id"): ["u"],
            "sentiment": ["neg"],
            "analysis": [None],
        }
    )
    out = user_view(frame)
    assert list(out.columns) == ["id", "cx_id", "cx_cx_id", "sentiment"]
    assert cx_name("topics", {"topics", "cx_topics"}) == "cx_cx_topics"
    plain: Any = pd.DataFrame({"text": ["x"]})
    assert user_view(plain) is plain  # frames not from an input are written as they are
