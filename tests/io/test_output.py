"""Output writers: round trips, streaming chunks, stable Parquet schema, formula neutralizing."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from cx_text.core import schema
from cx_text.io.output import OutputWriter, neutralize, read_frame, write_frame
from tests.error_codes import raises_code


def tagged(n: int = 4, start: int = 0) -> pd.DataFrame:
    """A small frame shaped like the tagging output (nested columns included)."""
    texts = [
        "Курьер опоздал на два часа",
        "=1+2 great app",
        "@support answered fast",
        "-5 stars, refund!",
        "Спасибо, всё быстро",
    ]
    rows = range(start, start + n)
    return pd.DataFrame(
        {
            schema.ID: pd.Series([f"m{i}" for i in rows], dtype="str"),
            schema.TEXT: pd.Series([texts[i % len(texts)] for i in rows], dtype="str"),
            schema.CREATED_AT: pd.Series(
                pd.date_range("2026-10-01", periods=n, freq="h").as_unit("us")
            ),
            schema.NPS: [float(i % 11) for i in rows],
            schema.SENTIMENT_SCORE: [-0.5 + 0.1 * i for i in rows],
            schema.TOPICS: [["delivery", "staff"] if i % 2 else [] for i in rows],
            schema.TOPIC_SCORES: [{"delivery": 0.9, "staff": 0.6} if i % 2 else {} for i in rows],
            schema.ASPECT_SENTIMENTS: [
                [{"topic": "delivery", "polarity": "negative", "score": -0.8}] if i % 2 else []
                for i in rows
            ],
            schema.EVIDENCE: [
                [
                    {
                        "topic": "delivery",
                        "clause": "Курьер опоздал",
                        "terms": ["опоздать"],
                        "start": 0,
                        "end": 14,
                        "source": "rule",
                    }
                ]
                if i % 2
                else []
                for i in rows
            ],
            schema.ROW_STATUS: ["ok"] * n,
            schema.ROW_ISSUES: [[] if i % 3 else ["nps 11 is outside 0–10; cleared"] for i in rows],
            schema.ANALYSIS: [object()] * n,
        }
    )


def test_output_parquet_round_trip_keeps_nesting(tmp_path: Path) -> None:
    frame = tagged()
    back = read_frame(write_frame(frame, tmp_path / "t.parquet"))
    assert schema.ANALYSIS not in back.columns
    assert [list(v) for v in back[schema.TOPICS]] == frame[schema.TOPICS].tolist()
    assert back[schema.TOPIC_SCORES].tolist() == frame[schema.TOPIC_SCORES].tolist()
    assert back.loc[1, schema.EVIDENCE][0]["terms"].tolist() == ["опоздать"]
    assert back[schema.TEXT].tolist() == frame[schema.TEXT].tolist()  # no quote prefix here
    assert back[schema.CREATED_AT].tolist() == frame[schema.CREATED_AT].tolist()


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_output_spreadsheets_flatten_and_neutralize(tmp_path: Path, suffix: str) -> None:
    frame = tagged()
    path = write_frame(frame, tmp_path / f"t{suffix}")
    back = read_frame(path)
    assert back[schema.TEXT].tolist() == [
        "Курьер опоздал на два часа",
        "'=1+2 great app",
        "'@support answered fast",
        "'-5 stars, refund!",
    ]
    assert back[schema.TOPICS].fillna("").tolist() == ["", "delivery;staff", "", "delivery;staff"]
    assert back.loc[1, schema.ASPECT_SENTIMENTS] == "delivery:negative"
    assert back[schema.NPS].tolist() == [0.0, 1.0, 2.0, 3.0]  # numbers are left alone
    assert schema.ANALYSIS not in back.columns


def test_output_csv_has_bom_for_excel(tmp_path: Path) -> None:
    path = write_frame(tagged(), tmp_path / "t.csv")
    assert path.read_bytes().startswith(b"\xef\xbb\xbfid,text")
    assert "Курьер" in path.read_text(encoding="utf-8-sig")


def test_output_jsonl_round_trip(tmp_path: Path) -> None:
    frame = tagged()
    back = read_frame(write_frame(frame, tmp_path / "t.jsonl"))
    assert back[schema.TOPICS].tolist() == frame[schema.TOPICS].tolist()
    assert back[schema.ASPECT_SENTIMENTS].tolist() == frame[schema.ASPECT_SENTIMENTS].tolist()
    assert back[schema.TEXT].tolist() == frame[schema.TEXT].tolist()
    assert back[schema.CREATED_AT].tolist()[0] == "2026-10-01T00:00:00"


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl", ".xlsx"])
def test_output_writer_streams_chunks(tmp_path: Path, suffix: str) -> None:
    chunks = [tagged(3, 0), tagged(2, 3), tagged(4, 5)]
    with OutputWriter(tmp_path / f"s{suffix}") as out:
        for chunk in chunks:
            out.write(chunk)
    assert out.rows == 9
    whole = read_frame(write_frame(pd.concat(chunks, ignore_index=True), tmp_path / f"w{suffix}"))
    streamed = read_frame(tmp_path / f"s{suffix}")
    pd.testing.assert_frame_equal(streamed, whole)


def test_output_parquet_schema_stable_when_first_chunk_is_empty_valued(tmp_path: Path) -> None:
    first = tagged(2, 0).assign(
        **{
            schema.TOPICS: [[], []],
            schema.TOPIC_SCORES: [{}, {}],
            schema.EVIDENCE: [[], []],
            "note": [None, None],
        }
    )
    second = tagged(2, 1).assign(note=["vip", None])
    with OutputWriter(tmp_path / "s.parquet") as out:
        out.write(first)
        out.write(second)
    back = read_frame(tmp_path / "s.parquet")
    assert back["note"].tolist()[2] == "vip"
    assert back[schema.TOPIC_SCORES].tolist()[2] == {"delivery": 0.9, "staff": 0.6}


def test_output_writer_rejects_new_columns_and_cleans_up(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    with raises_code("CX-E030", "extra"), OutputWriter(path) as out:
        out.write(tagged(2))
        out.write(tagged(2).assign(extra=1))
    assert not path.exists()
    assert not list(tmp_path.iterdir())


def test_output_unknown_suffix(tmp_path: Path) -> None:
    with raises_code("CX-E010", ".parquet"):
        write_frame(tagged(), tmp_path / "t.xml")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
        ("+7 999 123-45-67", "'+7 999 123-45-67"),
        ("-", "'-"),
        ("@SUM(1)", "'@SUM(1)"),
        ("\t=1", "'\t=1"),
        ("Всё хорошо", "Всё хорошо"),
        ("a=b", "a=b"),
        (5, 5),
        (None, None),
    ],
)
def test_output_neutralize(value: object, expected: object) -> None:
    assert neutralize(value) == expected


def test_output_xlsx_strips_illegal_characters(tmp_path: Path) -> None:
    frame = tagged(1).assign(**{schema.TEXT: ["bad\x00char\x07s " + "я" * 40_000]})
    back = read_frame(write_frame(frame, tmp_path / "t.xlsx"))
    cell = back.loc[0, schema.TEXT]
    assert cell.startswith("badchars ") and len(cell) == 32_767


def test_output_ingest_round_trip(tmp_path: Path) -> None:
    from cx_text.io.ingest import read_export

    src = tmp_path / "in.csv"
    src.write_bytes(
        "Номер;Отзыв;Оценка\r\n1;Курьер опоздал;3\r\n2;=HYPERLINK(1);11\r\n".encode("cp1251")
    )
    frame = read_export(src).frame
    for suffix in (".parquet", ".jsonl"):
        back = read_frame(write_frame(frame, tmp_path / f"o{suffix}"))
        assert back[schema.TEXT].tolist() == ["Курьер опоздал", "=HYPERLINK(1)"]
        assert [list(v) for v in back[schema.ROW_ISSUES]] == frame[schema.ROW_ISSUES].tolist()
