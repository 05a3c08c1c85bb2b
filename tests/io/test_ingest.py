"""Reading real exports: every format, encodings, dialects, mapping, ids, bad rows, chunking."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest

from cx_text.core import schema
from cx_text.core.config import Settings
from cx_text.core.errors import IngestError
from cx_text.io.columns import input_column
from cx_text.io.ingest import count_rows, inspect_file, iter_export_chunks, read_export
from tests.error_codes import raises_code

REVIEWS = [
    ("1", "03.10.2026 14:05", "Доставка опоздала на два дня, курьер грубил", "3"),
    ("2", "04.10.2026", "Всё отлично, спасибо! Буду заказывать ещё", "10"),
    ("3", "05.10.2026 09:00", "The app freezes at checkout, refund please", "0"),
    ("4", "06.10.2026 18:30", "Оператор решил вопрос за пять минут", "9"),
]
HEADER_RU = ["Номер", "Дата", "Отзыв", "Оценка NPS"]


def write_delimited(
    path: Path, rows: list[list[str]], sep: str, encoding: str, eol: str = "\r\n"
) -> Path:
    path.write_bytes((eol.join(sep.join(r) for r in rows) + eol).encode(encoding))
    return path


@pytest.fixture
def excel_cp1251(tmp_path: Path) -> Path:
    """An Excel-style cp1251 ';' CSV with a quoted multi-line field and one broken row."""
    lines = (
        [";".join(HEADER_RU)]
        + [";".join(r) for r in REVIEWS[:2]]
        + [
            '5;07.10.2026;"Курьер позвонил заранее;\r\nупаковка целая";8',
            "6;08.10.2026;Приложение зависает при оплате; верните деньги;11",  # broken: unquoted ;
        ]
    )
    path = tmp_path / "export.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1251"))
    return path


def test_ingest_cp1251_semicolon_excel_export(excel_cp1251: Path) -> None:
    result = read_export(excel_cp1251)
    frame, report = result.frame, result.report
    assert (report.encoding, report.delimiter) == ("cp1251", "';' (semicolon)")
    assert report.mapping == {
        "id": "Номер",
        "text": "Отзыв",
        "created_at": "Дата",
        "nps": "Оценка NPS",
    }
    assert frame[schema.ID].tolist() == ["1", "2", "5", "6"]
    assert frame[schema.SOURCE_ROW].tolist() == [2, 3, 4, 6]
    assert frame.loc[2, schema.TEXT] == "Курьер позвонил заранее;\r\nупаковка целая"
    broken = frame.iloc[3]
    assert broken[schema.TEXT] == "Приложение зависает при оплате; верните деньги"
    assert broken[schema.ROW_STATUS] == schema.STATUS_FLAGGED
    assert any("5 fields but the header has 4" in i for i in broken[schema.ROW_ISSUES])
    assert any("nps '11' is outside 0–10" in i for i in broken[schema.ROW_ISSUES])
    assert pd.isna(broken[schema.NPS])
    assert frame.loc[0, schema.CREATED_AT] == pd.Timestamp("2026-10-03 14:05")


@pytest.mark.parametrize(
    ("sep", "encoding", "suffix", "expected_encoding"),
    [
        (",", "utf-8-sig", ".csv", "utf-8-sig"),
        (",", "utf-8", ".csv", "utf-8"),
        ("\t", "utf-8", ".tsv", "utf-8"),
        ("\t", "utf-16", ".txt", "utf-16"),
        ("|", "utf-8", ".csv", "utf-8"),
        (";", "koi8_r", ".csv", "koi8_r"),
    ],
)
def test_ingest_encodings_and_delimiters(
    tmp_path: Path, sep: str, encoding: str, suffix: str, expected_encoding: str
) -> None:
    rows = [["id", "text", "nps"]] + [[r[0], r[2], r[3]] for r in REVIEWS]
    rows = [[c.replace(",", "") for c in r] for r in rows] if sep == "," else rows
    path = write_delimited(tmp_path / f"reviews{suffix}", rows, sep, encoding)
    result = read_export(path)
    assert result.report.encoding == expected_encoding
    assert result.frame[schema.TEXT].tolist() == [r[1] for r in rows[1:]]
    assert result.frame[schema.NPS].tolist() == [3.0, 10.0, 0.0, 9.0]
    assert (result.frame[schema.ROW_STATUS] == schema.STATUS_OK).all()


def test_ingest_quoted_multiline_and_commas(tmp_path: Path) -> None:
    text = 'He said "late again", then:\nrefund, please'
    frame = pd.DataFrame({"review": [text, "Fine"], "rating": ["2", "5 stars"]})
    path = tmp_path / "quoted.csv"
    frame.to_csv(path, index=False)
    out = read_export(path).frame
    assert out[schema.TEXT].tolist() == [text, "Fine"]
    assert out[schema.RATING].tolist() == [2.0, 5.0]
    assert out[schema.SOURCE_ROW].tolist() == [2, 4]


@pytest.fixture
def workbook(tmp_path: Path) -> Path:
    import xlsxwriter

    path = tmp_path / "export.xlsx"
    book = xlsxwriter.Workbook(str(path))
    first = book.add_worksheet("Сводка")
    first.write_row(0, 0, ["Отчёт по отзывам за октябрь"])
    first.write_row(2, 0, ["ID", "Комментарий клиента", "Дата", "CSAT"])
    first.write_row(3, 0, [101, "Курьер опоздал", 46298.5868, 2])
    date_fmt = book.add_format({"num_format": "dd.mm.yyyy"})
    first.write_number(4, 0, 102)
    first.write_number(4, 1, 42)
    first.write_datetime(4, 2, dt.datetime(2026, 10, 4), date_fmt)
    first.write_string(4, 3, "good")
    second = book.add_worksheet("EN")
    second.write_row(0, 0, ["Review ID", "Feedback", "Stars"])
    second.write_row(1, 0, ["r-1", "Great support, quick answer", 5])
    second.write_row(2, 0, ["r-2", '=HYPERLINK("x")', 1])
    book.close()
    return path


def test_ingest_xlsx_first_sheet_finds_header_below_title(workbook: Path) -> None:
    result = read_export(workbook)
    frame = result.frame
    assert result.report.sheet == "Сводка" and result.report.header_row == 3
    assert frame[schema.ID].tolist() == ["101", "102"]
    assert frame[schema.SOURCE_ROW].tolist() == [4, 5]
    assert frame.loc[0, schema.CREATED_AT] == pd.Timestamp("2026-10-03 14:05")
    assert frame.loc[1, schema.CREATED_AT] == pd.Timestamp("2026-10-04")
    assert frame.loc[1, schema.TEXT] == "42"
    assert frame.loc[1, schema.ROW_STATUS] == schema.STATUS_FLAGGED
    issues = " | ".join(frame.loc[1, schema.ROW_ISSUES])
    assert "text is a number" in issues and "csat 'good' is not a number" in issues


def test_ingest_xlsx_named_sheet(workbook: Path) -> None:
    frame = read_export(workbook, sheet="EN").frame
    assert frame[schema.ID].tolist() == ["r-1", "r-2"]
    assert frame[schema.RATING].tolist() == [5.0, 1.0]


def test_ingest_xlsx_missing_sheet_lists_sheets(workbook: Path) -> None:
    with raises_code("CX-E020", "--sheet"):
        read_export(workbook, sheet="Отзывы")


@pytest.mark.parametrize("wrap", ["array", "data", "items"])
def test_ingest_json_shapes(tmp_path: Path, wrap: str) -> None:
    records = [
        {"id": 7, "message": "Не могу войти в приложение", "user": {"id": "c1", "tier": "vip"}},
        {"id": 8, "message": "Thanks for the fast refund!", "nps": "9"},
    ]
    data = records if wrap == "array" else {wrap: records, "total": 2}
    path = tmp_path / "export.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    frame = read_export(path).frame
    assert frame[schema.ID].tolist() == ["7", "8"]
    assert frame[schema.TEXT].tolist() == [r["message"] for r in records]
    assert frame[input_column("user.tier")].tolist()[0] == "vip"
    assert frame[schema.NPS].isna().tolist() == [True, False]


def test_ingest_jsonl_keeps_broken_line_as_error_row(tmp_path: Path) -> None:
    path = tmp_path / "export.jsonl"
    path.write_text(
        '{"text": "Курьер вежливый", "channel": "app"}\n\n{"text": oops}\n'
        '{"text": "Slow delivery", "segment": "b2b"}\n',
        encoding="utf-8",
    )
    frame = read_export(path).frame
    assert frame[schema.SOURCE_ROW].tolist() == [1, 3, 4]
    assert frame[schema.ROW_STATUS].tolist()[1].startswith(schema.STATUS_ERROR_PREFIX)
    assert "not valid JSON" in frame.loc[1, schema.ROW_ISSUES][0]
    assert frame[schema.SEGMENT].tolist()[2] == "b2b"


def test_ingest_parquet_keeps_types(tmp_path: Path) -> None:
    src = pd.DataFrame(
        {
            "review_id": [1, 2],
            "body": ["Ужасная поддержка", "Love the new app"],
            "created_at": pd.to_datetime(
                ["2026-10-01T10:00:00+03:00", "2026-10-02T12:00:00+03:00"]
            ),
            "score": [2, 10],
            "amount": [10.5, 3.0],
        }
    )
    path = tmp_path / "export.parquet"
    src.to_parquet(path)
    frame = read_export(path).frame
    assert frame[schema.ID].tolist() == ["1", "2"]
    assert frame.loc[0, schema.CREATED_AT] == pd.Timestamp("2026-10-01 07:00")  # UTC, naive
    assert frame[schema.NPS].tolist() == [2.0, 10.0]
    assert frame[input_column("amount")].dtype == "float64"
    assert frame[input_column("score", "nps")].tolist() == [2, 10]  # the raw copy keeps its type


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            ["Текст отзыва", "Дата создания", "Канал", "Клиент", "Сегмент", "Звезды"],
            {
                "text": "Текст отзыва",
                "created_at": "Дата создания",
                "channel": "Канал",
                "customer_id": "Клиент",
                "segment": "Сегмент",
                "rating": "Звезды",
            },
        ),
        (
            [
                "Message ID",
                "Customer Comment",
                "Created_At",
                "Likelihood to recommend",
                "CES",
                "Client-ID",
                "Source",
            ],
            {
                "id": "Message ID",
                "text": "Customer Comment",
                "created_at": "Created_At",
                "nps": "Likelihood to recommend",
                "ces": "CES",
                "customer_id": "Client-ID",
                "source": "Source",
            },
        ),
    ],
)
def test_ingest_maps_ru_and_en_names(tmp_path: Path, header: list[str], expected: dict) -> None:
    path = write_delimited(tmp_path / "x.csv", [header, ["" for _ in header]], ";", "utf-8")
    assert read_export(path).report.mapping == expected


def test_ingest_mapping_by_flags_and_errors(tmp_path: Path) -> None:
    path = write_delimited(
        tmp_path / "x.csv", [["a", "b", "zz"], ["1", "Плохо", "x"]], ",", "utf-8"
    )
    with raises_code("CX-E020", "--text-col"):
        read_export(path)
    frame = read_export(path, mapping={"text": "b", "id": "A"}).frame
    assert frame[[schema.ID, schema.TEXT, input_column("zz")]].values.tolist() == [
        ["1", "Плохо", "x"]
    ]
    with raises_code("CX-E020", "'zz'"):
        read_export(path, mapping={"text": "missing"})


def test_ingest_keeps_every_input_column_in_order(tmp_path: Path) -> None:
    header = ["город", "id", "отзыв", "row_status", "менеджер"]
    path = write_delimited(
        tmp_path / "x.csv", [header, ["Омск", "1", "Хорошо", "new", "Иван"]], ";", "utf-8"
    )
    frame = read_export(path).frame
    extras = list(frame.columns[len(schema.CANONICAL_COLUMNS) : -3])
    assert extras == [
        input_column("город"),
        input_column("id", "id"),
        input_column("отзыв", "text"),
        input_column("row_status"),
        input_column("менеджер"),
    ]
    assert frame[input_column("row_status")].tolist() == ["new"]
    assert frame[schema.ROW_STATUS].tolist() == ["ok"]
    assert list(frame.columns[: len(schema.CANONICAL_COLUMNS)]) == list(schema.CANONICAL_COLUMNS)


def test_ingest_generated_ids_are_stable(tmp_path: Path) -> None:
    rows = [["text"], ["Долго ждал ответа"], ["Fast and friendly"], ["Долго ждал ответа"]]
    one = write_delimited(tmp_path / "a.csv", rows, ",", "utf-8")
    two = write_delimited(tmp_path / "copy.csv", rows, ",", "utf-8")
    ids = read_export(one).frame[schema.ID].tolist()
    assert (
        ids
        == read_export(one).frame[schema.ID].tolist()
        == read_export(two).frame[schema.ID].tolist()
    )
    assert len(set(ids)) == 3
    chunked = pd.concat(iter_export_chunks(one, chunk_size=1))[schema.ID].tolist()
    assert chunked == ids
    other = write_delimited(tmp_path / "b.csv", [*rows, ["new"]], ",", "utf-8")
    assert not set(read_export(other).frame[schema.ID]) & set(ids)


def test_ingest_duplicate_ids_reported_not_dropped(tmp_path: Path) -> None:
    rows = [
        ["id", "text"],
        ["17", "Не пришёл заказ"],
        ["18", "All good"],
        ["17", "Повтор"],
        ["17", "Ещё раз"],
    ]
    path = write_delimited(tmp_path / "d.csv", rows, ",", "utf-8")
    result = read_export(path)
    assert len(result.frame) == 4
    assert result.report.duplicate_ids == {"17": [2, 4, 5]}
    assert result.frame[schema.ROW_STATUS].tolist() == ["ok", "ok", "flagged", "flagged"]
    assert "first seen at line 2" in result.frame.loc[3, schema.ROW_ISSUES][0]
    assert result.frame[schema.ID].tolist() == [
        "17",
        "18",
        "17#2",
        "17#3",
    ]  # every row keeps a unique id
    assert "kept as '17#3'" in result.frame.loc[3, schema.ROW_ISSUES][0]


@pytest.mark.parametrize(
    ("text", "nps", "status", "issue"),
    [
        ("   ", "9", schema.STATUS_EMPTY, "text is empty"),
        ("", "", schema.STATUS_EMPTY, "text is empty"),
        ("2026-10-03", "9", schema.STATUS_FLAGGED, "looks like a number or date"),
        ("Норм", "11", schema.STATUS_FLAGGED, "nps '11' is outside 0–10"),
        ("Fine", "хорошо", schema.STATUS_FLAGGED, "nps 'хорошо' is not a number"),
        ("Fine", "8.5", schema.STATUS_FLAGGED, "not a whole number"),
        ("Fine", " 9.0 ", schema.STATUS_OK, None),
        ("я" * 25, "9", schema.STATUS_TRUNCATED, "truncated to 20"),
    ],
)
def test_ingest_bad_rows_are_kept_and_flagged(
    tmp_path: Path, text: str, nps: str, status: str, issue: str | None
) -> None:
    path = write_delimited(
        tmp_path / "b.csv", [["text", "nps"], ["Ок", "9"], [text, nps]], ";", "utf-8"
    )
    frame = read_export(path, settings=Settings(max_text_chars=20)).frame
    assert len(frame) == 2 and frame.loc[0, schema.ROW_STATUS] == schema.STATUS_OK
    assert frame.loc[1, schema.ROW_STATUS] == status
    issues = " | ".join(frame.loc[1, schema.ROW_ISSUES])
    assert (issue in issues) if issue else issues == ""
    if status == schema.STATUS_TRUNCATED:
        assert len(frame.loc[1, schema.TEXT]) == 20


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".xlsx", ".parquet", ".json"])
@pytest.mark.parametrize("chunk_size", [1, 3, 1000])
def test_ingest_chunked_equals_whole(tmp_path: Path, suffix: str, chunk_size: int) -> None:
    texts = ["Курьер опоздал", "", "Great app", "12", "Оплата не прошла", "ok", "Спасибо!"]
    src = pd.DataFrame(
        {
            "id": ["a", "b", "a", "c", "", "d", "e"],
            "text": texts,
            "nps": ["9", "11", "x", "3", "0", "10", "7"],
            "note": list("pqrstuv"),
        }
    )
    path = tmp_path / f"all{suffix}"
    {
        ".csv": lambda: src.to_csv(path, index=False),
        ".jsonl": lambda: src.to_json(path, orient="records", lines=True, force_ascii=False),
        ".json": lambda: src.to_json(path, orient="records", force_ascii=False),
        ".xlsx": lambda: src.to_excel(path, index=False),
        ".parquet": lambda: src.to_parquet(path),
    }[suffix]()
    whole = read_export(path).frame
    chunks = list(iter_export_chunks(path, chunk_size=chunk_size))
    assert all(len(c) <= chunk_size for c in chunks)
    pd.testing.assert_frame_equal(pd.concat(chunks), whole)
    assert len(whole) == len(src)
    assert whole[schema.ROW_STATUS].tolist() == [
        "ok",
        "empty",
        "flagged",
        "flagged",
        "flagged",
        "ok",
        "ok",
    ]


def test_ingest_unclosed_quote_gives_back_the_rows_it_swallowed(tmp_path: Path) -> None:
    lines = ["id,text", '1,"Начало без конца', *[f"{i},Отзыв {i}" for i in range(2, 80)]]
    path = tmp_path / "q.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    frame = read_export(path).frame
    assert frame["id"].tolist() == [str(i) for i in range(1, 80)]
    assert frame[schema.SOURCE_ROW].tolist() == list(range(2, 81))
    assert frame.loc[0, schema.TEXT] == '"Начало без конца'
    assert frame[schema.ROW_STATUS].tolist() == ["flagged"] + ["ok"] * 78
    assert "opened on line 2 is never closed" in frame.loc[0, schema.ROW_ISSUES][0]
    assert "lines 3–80 as rows of their own" in frame.loc[0, schema.ROW_ISSUES][0]
    prose = "\n".join(["Очень длинное письмо без разделителей"] * 80)
    frame = pd.DataFrame({"id": [1, 2], "text": [prose, "ok"]})
    frame.to_csv(path, index=False, sep=";")
    assert read_export(path).frame[schema.ROW_ISSUES].tolist() == [[], []]


@pytest.mark.parametrize("end", ["", "\n"])
def test_ingest_cut_off_last_message_is_flagged_not_split(tmp_path: Path, end: str) -> None:
    path = tmp_path / "cut.csv"
    path.write_text(f'id,text\n1,ok\n2,"Письмо обрывается\nна полуслове{end}', encoding="utf-8")
    frame = read_export(path).frame
    assert frame["id"].tolist() == ["1", "2"]
    assert frame.loc[1, schema.TEXT].startswith("Письмо обрывается\nна полуслове")
    assert frame[schema.ROW_STATUS].tolist() == ["ok", "flagged"]
    assert "may be cut off" in frame.loc[1, schema.ROW_ISSUES][0]
    assert count_rows(path) == 2


@pytest.mark.parametrize("chunk", [1, 2, 3, 10])
def test_ingest_recovered_rows_survive_any_chunking(tmp_path: Path, chunk: int) -> None:
    path = tmp_path / "q3.csv"
    path.write_text('id,text\n1,ok\n2,"open\n3,x\n4,y\n', encoding="utf-8")
    chunks = list(iter_export_chunks(path, chunk_size=chunk))
    ids = [i for c in chunks for i in c["id"].tolist()]
    assert ids == ["1", "2", "3", "4"]


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".json"])
def test_ingest_header_only_file_gives_empty_frame(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"h{suffix}"
    if suffix == ".csv":
        write_delimited(path, [["id", "text"]], ",", "utf-8")
    elif suffix == ".json":
        path.write_text('{"data": []}', encoding="utf-8")
    else:
        pd.DataFrame(
            {"id": pd.Series([], dtype="str"), "text": pd.Series([], dtype="str")}
        ).to_parquet(path)
    frame = read_export(path).frame
    assert len(frame) == 0
    assert {schema.TEXT, schema.ROW_STATUS, schema.ROW_ISSUES} <= set(frame.columns)


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("x.docx", b"PK\x03\x04zz", ".docx"),
        ("x.pdf", b"%PDF-1.4", ".pdf"),
        ("x.csv", b"", "empty"),
        ("x.csv", b"\x00\x01\x02\x03binary\x00\xff" * 10, "binary"),
        ("x.json", b"{broken", "JSON"),
        ("x.jsonl", b"not json at all\n", "JSON"),
        ("x.xlsx", b"PK\x03\x04garbage", "x.xlsx"),
        ("x.parquet", b"PAR1garbage", "Parquet"),
    ],
)
def test_ingest_unreadable_files_raise_ingest_error(
    tmp_path: Path, name: str, content: bytes, match: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with raises_code("CX-E020", match):
        read_export(path)


def test_ingest_a_stray_nul_byte_does_not_make_a_text_export_binary(tmp_path: Path) -> None:
    path = tmp_path / "dump.csv"
    rows = ["id,text"] + [f"{i},Курьер опоздал на {i} минут" for i in range(1, 40)]
    rows[5] = "5,битое поле \x00 из выгрузки"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    frame = read_export(path).frame
    assert len(frame) == 39 and frame[schema.TEXT].iloc[4].startswith("битое поле")


def test_ingest_misnamed_workbook_is_read_as_excel(workbook: Path, tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(workbook.read_bytes())
    result = read_export(path, sheet="EN")
    assert result.report.format == "excel" and "read as excel" in result.report.format_note
    assert len(result.frame) == 2


def test_ingest_missing_file(tmp_path: Path) -> None:
    with raises_code("CX-E020", "nope.csv"):
        read_export(tmp_path / "nope.csv")


def test_ingest_count_rows(excel_cp1251: Path, workbook: Path, tmp_path: Path) -> None:
    assert count_rows(workbook) == 2
    assert count_rows(excel_cp1251) == 4  # the quoted field spans 2 lines
    path = tmp_path / "p.parquet"
    pd.DataFrame({"text": ["a"] * 7}).to_parquet(path)
    assert count_rows(path) == 7


@pytest.mark.parametrize(
    "body",
    [
        'id,text\n1,"Курьер опоздал.\nВторая строка"\n2,ok\n',
        'id,text\r\n1,"He said ""late""\r\nand left"\r\n2,"a,b"\r\n3,last',
        'id;text\n1;"многострочный\n\n\nотзыв"\n2;""\n3;"кавычки "" внутри"\n',
    ],
)
def test_ingest_count_rows_matches_records_of_multiline_csv(tmp_path: Path, body: str) -> None:
    path = tmp_path / "multi.csv"
    path.write_text(body, encoding="utf-8", newline="")
    assert count_rows(path) == len(read_export(path).frame)


def test_ingest_inspect_renders_detection(excel_cp1251: Path) -> None:
    text = inspect_file(excel_cp1251, preview_rows=2).render()
    for expected in (
        "Encoding:    cp1251",
        "Delimiter:   ';' (semicolon)",
        "text         <- 'Отзыв'",
        "nps          <- 'Оценка NPS'",
        "line 6: flagged",
        "Preview (first 2 rows)",
        "Rows:        4  (ok 3, flagged 1)",
    ):
        assert expected in text


def test_ingest_cli_inspect(excel_cp1251: Path) -> None:
    from click.testing import CliRunner

    from cx_text.cli.main import cli

    result = CliRunner().invoke(cli, ["inspect", str(excel_cp1251), "--rows", "1"])
    assert result.exit_code == 0, result.output
    assert "cp1251" in result.output and "line 6" in result.output
    bad = CliRunner().invoke(cli, ["inspect", str(excel_cp1251), "--text-col", "Comment"])
    assert isinstance(bad.exception, IngestError) and bad.exception.code == "CX-E020"
    assert "--text-col" in str(bad.exception)
