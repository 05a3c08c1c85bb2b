"""Masking on (the default): no raw PII anywhere in the store, whatever column it came in."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pandas as pd
import pytest

import cx_text
from cx_text.store.store import open_store
from cx_text.testing import fake_tagger
from cx_text.text.pii_frame import customer_key, identifier_kind, store_view, summary_view

RAW = {
    "email": "ivan.petrov@mail.ru",
    "phone": "+7 912 345-67-89",
    "card": "4111 1111 1111 1111",
    "iban": "DE89 3704 0044 0532 0130 00",
    "ssn": "123-45-6789",
    "account": "40817810099910004312",
    "us_phone": "2125551234",
}


def _export(tmp_path: Path) -> Path:
    frame = pd.DataFrame(
        {
            "ID": ["a1", "a2", "a3", "a4"],
            "Текст отзыва": [
                f"Курьер не приехал, звоните {RAW['phone']}",
                "Всё отлично",
                f"refund to {RAW['iban']} please",
                f"карта {RAW['card']} списали дважды",
            ],
            "Оценка NPS": [2, 10, 5, "abc 89161112233"],
            "E-mail клиента": [RAW["email"], "olga@example.com", "", "john.doe@gmail.com"],
            "Телефон": ["8 (903) 111-22-33", "", "+7 916 555 44 33", "89998887766"],
            "Комментарий оператора": [
                f"SSN {RAW['ssn']}",
                f"вернуть на {RAW['account']}",
                f"call {RAW['us_phone']}",
                "клиент доволен",
            ],
            "Канал": ["email", "app", "app", "call"],
            "Сумма": [1500, 2000, 0, 990],
        }
    )
    path = tmp_path / "export.csv"
    frame.to_csv(path, index=False)
    return path


def _all_text(db: Path) -> str:
    """Every value of every column of every table in the store, as one string."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'"
            ).fetchall()
        ]
        cells = []
        for table in tables:
            for row in con.execute(f'SELECT * FROM "{table}"').fetchall():
                cells.extend(str(v) for v in row)
        return "\n".join(cells)
    finally:
        con.close()


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def test_pii_store_keeps_no_raw_value_in_any_table(tmp_path: Path) -> None:
    customers = pd.DataFrame(
        {
            "customer_id": ["c1"],
            "ltv": [10.0],
            "email": ["vip.client@yandex.ru"],
            "notes": ["звонить на 8 926 000 11 22"],
        }
    )
    cx_text.tag_file(
        _export(tmp_path),
        tmp_path / "out.csv",
        db=tmp_path / "s.duckdb",
        tagger=fake_tagger(),
        customers=customers,
    )
    dump = _all_text(tmp_path / "s.duckdb")
    digits_only = _digits(dump)
    raw_values = [
        *RAW.values(),
        "olga@example.com",
        "john.doe@gmail.com",
        "8 (903) 111-22-33",
        "+7 916 555 44 33",
        "89998887766",
        "89161112233",
        "vip.client@yandex.ru",
        "8 926 000 11 22",
    ]
    for raw in raw_values:
        assert raw not in dump, raw
        if len(_digits(raw)) >= 9:
            assert _digits(raw) not in digits_only, raw
    assert "[EMAIL]" in dump and "[SSN]" in dump and "[ACCOUNT]" in dump
    assert "1500" in dump  # amounts stay
    out = pd.read_csv(tmp_path / "out.csv", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert RAW["email"] in out["E-mail клиента"].tolist()  # the user's own file keeps its values


def test_pii_store_opt_out_keeps_values(tmp_path: Path) -> None:
    tagged = fake_tagger().tag(
        pd.DataFrame({"text": ["мой телефон +7 912 345-67-89"], "email": [RAW["email"]]})
    )
    with open_store(tmp_path / "s.duckdb") as store:
        run = store.begin_run({"settings": {"mask_pii": False}})
        store.append_chunk(run, 0, tagged)
        store.finish_run(run, {"rows": 1})
    dump = _all_text(tmp_path / "s.duckdb")
    assert RAW["email"] in dump and RAW["phone"] in dump


@pytest.mark.parametrize(
    ("name", "values", "kind"),
    [
        ("contact", ["a@b.ru", "c.d@mail.com", None, "e@f.org"], "EMAIL"),
        ("Телефон", ["912-34-56", "", "нет"], "PHONE"),  # by name, whatever the values
        ("E-mail", ["n/a"], "EMAIL"),
        ("msisdn", [79123456789, 79031112233, float("nan")], "PHONE"),  # phones read as numbers
        ("Паспорт РФ", ["4510 123456"], "PASSPORT"),
        ("comment", ["позвоните мне +7 912 345 67 89, жду", "ok"], None),  # free text: masked
        ("Сумма", [1500, 2000, 990], None),
        ("Покупатель", ["Иван", "Олег"], None),
        ("Mobile app version", ["5.2.1", "5.3.0"], None),
    ],
)
def test_pii_identifier_columns(name: str, values: list[object], kind: str | None) -> None:
    assert identifier_kind(name, values) == kind


def test_pii_store_view_masks_issues_evidence_and_labels() -> None:
    frame = pd.DataFrame(
        {
            "id": ["1"],
            "text": ["x"],
            "text_clean": ["пишите a@b.ru"],
            "channel": ["звонок 89161234567"],
            "row_issues": [["nps 'тел 8 916 123 45 67' is not a number; cleared"]],
            "evidence": [[{"topic": "t", "clause": "пишите a@b.ru", "start": 0, "end": 10}]],
            "note": ["ИНН 7707083893"],
        }
    )
    out = store_view(frame, {"id", "text", "text_clean", "channel", "row_issues", "evidence"})
    assert out.loc[0, "text_clean"] == "пишите [EMAIL]"
    assert out.loc[0, "channel"] == "звонок [PHONE]"
    assert "[PHONE]" in out.loc[0, "row_issues"][0]
    assert out.loc[0, "evidence"][0]["clause"] == "пишите [EMAIL]"
    assert out.loc[0, "note"] == "ИНН [INN]"
    assert frame.loc[0, "note"] == "ИНН 7707083893"  # input never mutated
    assert store_view(frame, set(), mask=False) is frame


def test_pii_summary_view_masks_ingest_examples() -> None:
    summary = {"rows": 2, "ingest": {"flagged_examples": [{"text": "звоните 89161234567"}]}}
    assert summary_view(summary)["ingest"]["flagged_examples"][0]["text"] == "звоните [PHONE]"
    assert summary_view(summary, mask=False) is summary


def test_pii_store_customer_id_that_is_personal_data_becomes_a_join_key(tmp_path: Path) -> None:
    export = tmp_path / "export.csv"
    pd.DataFrame(
        {
            "id": ["1", "2", "3", "4"],
            "text": ["Курьер не приехал", "Курьер опоздал", "Всё отлично", "ok"],
            "customer_id": ["Ivan.Petrov@Mail.ru", "+7 912 345-67-89", "C-1042", ""],
        }
    ).to_csv(export, index=False)
    customers = pd.DataFrame(
        {"customer_id": ["ivan.petrov@mail.ru", "89123456789", "C-1042"], "ltv": [10.0, 20.0, 30.0]}
    )
    cx_text.tag_file(
        export,
        tmp_path / "out.csv",
        db=tmp_path / "s.duckdb",
        tagger=fake_tagger(),
        customers=customers,
    )
    dump = _all_text(tmp_path / "s.duckdb")
    assert "petrov" not in dump.lower() and "9123456789" not in _digits(dump)
    with open_store(tmp_path / "s.duckdb", read_only=True) as store:
        joined = store.query(
            "SELECT f.id, f.customer_id, c.ltv FROM feedback f "
            "LEFT JOIN customers c USING (customer_id) ORDER BY f.id"
        )
    ids = joined["customer_id"].tolist()
    assert (
        ids[0].startswith("[EMAIL]:") and ids[1].startswith("[PHONE]:") and ids[2] == "C-1042"
    )  # CRM id as given
    assert joined["ltv"].tolist()[:3] == [10.0, 20.0, 30.0]  # any spelling joins its customer
    assert customer_key("+7 (912) 345 67 89") == ids[1]  # how a CX team finds whom to call
