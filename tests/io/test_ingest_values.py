"""Cell parsers: dates (RU day-first, ISO, Excel serials), metric scores, text, encodings."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cx_text.core import schema
from cx_text.io.detect import detect_encoding, sniff_dialect
from cx_text.io.mapping import resolve_mapping
from cx_text.io.values import parse_date, parse_metric, parse_text, slash_dayfirst


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("03.10.2026 14:05", "2026-10-03 14:05"),
        ("3.10.26", "2026-10-03"),
        ("03.10.2026, 14:05:30", "2026-10-03 14:05:30"),
        ("2026-10-03", "2026-10-03"),
        ("2026-10-03T14:05:00Z", "2026-10-03 14:05"),
        ("2026-10-03T14:05:00+03:00", "2026-10-03 11:05"),
        ("2026-10-03 14:05:00.250", "2026-10-03 14:05:00.250"),
        ("3 октября 2026 г., 14:05", "2026-10-03 14:05"),
        ("15 мая 2026", "2026-05-15"),
        ("Oct 3, 2026 2:05 PM", "2026-10-03 14:05"),
        (46298.5868055556, "2026-10-03 14:05"),
        ("46298", "2026-10-03"),
        (1791000300, "2026-10-03 04:05"),
        (dt.date(2026, 10, 3), "2026-10-03"),
        (pd.Timestamp("2026-10-03 14:05", tz="Europe/Moscow"), "2026-10-03 11:05"),
        (np.datetime64("2026-10-03T14:05"), "2026-10-03 14:05"),
    ],
)
def test_ingest_values_parse_date(value: object, expected: str) -> None:
    stamp, issue = parse_date(value)
    assert issue is None and stamp is not None
    assert stamp.tzinfo is None
    assert stamp == pd.Timestamp(expected)


@pytest.mark.parametrize("value", ["вчера", "32.13.2026", "5", "soon", True, dt.time(14, 5), "1/2"])
def test_ingest_values_bad_dates_are_cleared(value: object) -> None:
    stamp, issue = parse_date(value)
    assert stamp is None and issue is not None and "is not a date" in issue


@pytest.mark.parametrize("value", [None, "", "  ", float("nan"), "N/A", pd.NaT])
def test_ingest_values_missing_dates_are_not_flagged(value: object) -> None:
    assert parse_date(value) == (None, None)


@pytest.mark.parametrize(
    ("sample", "dayfirst", "value", "expected"),
    [
        (["25/12/2026", "01/02/2026"], True, "01/02/2026", "2026-02-01"),
        (["12/25/2026", "01/02/2026"], False, "01/02/2026", "2026-01-02"),
        (["01/02/2026"], True, "01/02/2026", "2026-02-01"),
    ],
)
def test_ingest_values_slash_date_order_from_sample(
    sample: list[str], dayfirst: bool, value: str, expected: str
) -> None:
    assert slash_dayfirst(sample) is dayfirst
    assert parse_date(value, dayfirst)[0] == pd.Timestamp(expected)


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        (schema.NPS, "9", 9.0),
        (schema.NPS, "9.0", 9.0),
        (schema.NPS, " 9 ", 9.0),
        (schema.NPS, 10, 10.0),
        (schema.NPS, np.int64(0), 0.0),
        (schema.NPS, "7/10", 7.0),
        (schema.CSAT, "4 из 5", 4.0),
        (schema.CSAT, "5,0", 5.0),
        (schema.CES, "6", 6.0),
        (schema.RATING, "4.5", 4.5),
        (schema.RATING, "★★★", 3.0),
        (schema.RATING, "5 stars", 5.0),
        (schema.RATING, "4 звезды", 4.0),
    ],
)
def test_ingest_values_parse_metric(column: str, value: object, expected: float) -> None:
    assert parse_metric(value, column) == (expected, None)


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        (schema.NPS, "11", "outside 0–10"),
        (schema.NPS, -1, "outside 0–10"),
        (schema.NPS, "8.5", "not a whole number"),
        (schema.CSAT, "good", "not a number"),
        (schema.CSAT, "6", "outside 1–5"),
        (schema.CSAT, "0", "outside 1–5"),
        (schema.CES, "8", "outside 1–7"),
        (schema.RATING, "8/10", "not a number"),
        (schema.NPS, True, "not a number"),
        (schema.NPS, float("inf"), "not a number"),
    ],
)
def test_ingest_values_bad_metrics_are_cleared(column: str, value: object, reason: str) -> None:
    number, issue = parse_metric(value, column)
    assert math.isnan(number) and issue is not None and reason in issue


@pytest.mark.parametrize(
    ("value", "status", "text"),
    [
        ("Курьер опоздал на час", schema.STATUS_OK, "Курьер опоздал на час"),
        ("👍", schema.STATUS_OK, "👍"),
        (12345, schema.STATUS_FLAGGED, "12345"),
        (4.5, schema.STATUS_FLAGGED, "4.5"),
        ("+7 999 123-45-67", schema.STATUS_FLAGGED, "+7 999 123-45-67"),
        (None, schema.STATUS_EMPTY, ""),
        ("\n\t ", schema.STATUS_EMPTY, "\n\t "),
    ],
)
def test_ingest_values_parse_text(value: object, status: str, text: str) -> None:
    got, got_status, _ = parse_text(value, 100)
    assert (got, got_status) == (text, status)


@pytest.mark.parametrize("encoding", ["cp1251", "koi8_r", "cp866"])
def test_ingest_values_single_byte_encodings_not_misdetected(tmp_path: Path, encoding: str) -> None:
    text = (
        "id;Отзыв\n1;Доставка опоздала, курьер был груб\n2;Приложение удобное, спасибо\n"
        "3;Не могу оплатить заказ картой\n"
    )
    path = tmp_path / "x.csv"
    path.write_bytes(("a;b\n" * 5000 + text).encode(encoding))  # Cyrillic only after 20 KB
    assert detect_encoding(path).name == encoding


@pytest.mark.parametrize(
    ("sample", "delimiter"),
    [
        ("id,text\n1,Hello; world\n2,Bye\n", ","),
        ("id;text\n1;Привет, мир\n2;Пока\n", ";"),
        ("id\ttext\n1\tA, b; c\n", "\t"),
        ('text\n"Долго, очень долго"\nБыстро\n', "\x1f"),
        ('a|b|c\n1|"x|y"|3\n', "|"),
    ],
)
def test_ingest_values_sniff_delimiter(sample: str, delimiter: str) -> None:
    assert sniff_dialect(sample).delimiter == delimiter


@pytest.mark.parametrize(
    ("columns", "mapping", "ambiguous"),
    [
        (["Отзыв", "Дата комментария"], {"text": "Отзыв", "created_at": "Дата комментария"}, []),
        (
            ["Текст отзыва", "Дата комментария"],
            {"text": "Текст отзыва", "created_at": "Дата комментария"},
            [],
        ),
        (
            ["Customer comment", "Channel / source"],
            {"text": "Customer comment"},
            ["Channel / source"],
        ),
    ],
)
def test_ingest_values_contains_mapping_and_ambiguity(
    columns: list[str], mapping: dict[str, str], ambiguous: list[str]
) -> None:
    found = resolve_mapping(columns)
    assert found.mapping == mapping
    assert list(found.ambiguous) == ambiguous
