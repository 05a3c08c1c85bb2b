"""Normalization: cleaning, e-mail/HTML stripping, dedupe keys, the frame stage."""

from __future__ import annotations

import pandas as pd
import pytest

from cx_text.core import schema
from cx_text.text import normalize
from cx_text.text.normalize import clean_text, dedupe_key, normalize_frame
from tests.error_codes import raises_code


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("  Курьер   опоздал\t\tна  час  ", "Курьер опоздал на час"),
        ("Ужас!!!!!!! Где заказ??????", "Ужас!!! Где заказ???"),
        ("Серьёзно?!?!?!", "Серьёзно?!"),
        ("Ну.......", "Ну..."),
        ("Оооочень долго", "Очень долго"),
        ("Sooooo slow", "Soo slow"),
        ("Спасибо 👍🏻👍🏻👍🏻👍🏻👍🏻", "Спасибо 👍👍👍"),
        ("Love it ❤️", "Love it ❤"),
        ("ｆｕｌｌｗｉｄｔｈ ｔｅｘｔ", "fullwidth text"),
        ("𝐁𝐞𝐬𝐭 𝐬𝐡𝐨𝐩", "Best shop"),
        ("Заказ № 5 — ½ цены", "Заказ № 5 — ½ цены"),
        ("didn’t “work”", 'didn\'t "work"'),
        ("zero\u200bwidth\u00a0space", "zerowidth space"),
        ("Всё ещё жду", "Всё ещё жду"),
        ("Привет , как дела ?", "Привет, как дела?"),
        ("line one\r\n\r\n\r\n\r\nline two", "line one\n\nline two"),
        (
            "<p>Товар <b>сломан</b></p><p>Верните&nbsp;деньги &amp; извинитесь</p>",
            "Товар сломан\n\nВерните деньги & извинитесь",
        ),
        ("<div>Hi<br>there</div><!-- tracking -->", "Hi\nthere"),
        ("Tom &amp; Jerry", "Tom & Jerry"),
        ("a < b and c > d", "a < b and c > d"),
    ],
)
def test_normalize_clean_text(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Заказ не пришёл.\n\nС уважением,\nИван Петров\n+7 912 345 67 89", "Заказ не пришёл."),
        (
            "The box was empty.\n\nOn Mon, 3 Mar 2025 at 10:00, Shop <help@shop.com> wrote:\n> "
            "Hi!\n> How can we help?",
            "The box was empty.",
        ),
        (
            "Где возврат?\n\n-----Original Message-----\nFrom: support@shop.ru\nЗдравствуйте!",
            "Где возврат?",
        ),
        (
            'Верните деньги\n\n12.03.2025, 10:15, "Магазин" <info@shop.ru>:\n> ваш заказ',
            "Верните деньги",
        ),
        ("Не работает\n--\nSent from my iPhone", "Не работает"),
        ("Still broken.\n\nBest regards,\nJohn", "Still broken."),
        ("Всё плохо\n\nОтправлено из мобильной Почты Mail.ru", "Всё плохо"),
        ("> старое письмо\nНовый текст", "Новый текст"),
        (
            "С уважением отношусь к курьерам, но этот нахамил",
            "С уважением отношусь к курьерам, но этот нахамил",
        ),
    ],
)
def test_normalize_strips_email_quoting_and_signatures(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Спасибо!", "спасибо"),
        ("Всё отлично 👍", "Все отлично!!!"),
        ("Заказ 12345 не доставлен", "заказ 67890 НЕ доставлен."),
        ("The courier was late.", "the courier   was late"),
    ],
)
def test_normalize_dedupe_key_same_for_near_identical(a: str, b: str) -> None:
    assert dedupe_key(clean_text(a)) == dedupe_key(clean_text(b))


@pytest.mark.parametrize(
    ("a", "b"),
    [("Курьер опоздал", "Курьер не опоздал"), ("great", "not great"), ("[PHONE]", "[EMAIL]")],
)
def test_normalize_dedupe_key_differs_for_different_messages(a: str, b: str) -> None:
    assert dedupe_key(a) != dedupe_key(b)


def test_normalize_dedupe_key_empty_for_no_words() -> None:
    assert dedupe_key("") == ""
    assert dedupe_key("!!! ...") == ""


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            schema.ID: ["a", "b", "c", "d"],
            schema.TEXT: ["Звоните 8 912 345 67 89!!!!", "", None, "Mail me: x@y.com"],
        }
    )


def test_normalize_frame_adds_columns_without_mutating_input() -> None:
    frame = _frame()
    before = frame.copy()
    out = normalize_frame(frame, resources=None)
    pd.testing.assert_frame_equal(frame, before)
    assert out[schema.TEXT_CLEAN].tolist() == ["Звоните [PHONE]!!!", "", "", "Mail me: [EMAIL]"]
    assert out[schema.PII_FOUND].tolist() == [["PHONE"], [], [], ["EMAIL"]]
    assert out[schema.ROW_STATUS].tolist() == ["ok", "empty", "empty", "ok"]
    assert out[schema.DEDUPE_KEY].tolist()[1] == ""
    assert out[schema.ID].tolist() == ["a", "b", "c", "d"]


def test_normalize_frame_without_masking_keeps_pii() -> None:
    out = normalize_frame(_frame(), mask_pii=False, resources=None)
    assert out[schema.TEXT_CLEAN].iloc[0] == "Звоните 8 912 345 67 89!!!"
    assert out[schema.PII_FOUND].iloc[0] == []


def test_normalize_frame_marks_failing_row_and_continues(monkeypatch) -> None:
    real = normalize.clean_text

    def flaky(text: str) -> str:
        if "x@y" in text:
            raise RuntimeError("broken row")
        return real(text)

    monkeypatch.setattr(normalize, "clean_text", flaky)
    out = normalize_frame(_frame(), resources=None)
    status = out[schema.ROW_STATUS].tolist()
    assert status[3].startswith(schema.STATUS_ERROR_PREFIX + "normalize")
    assert status[0] == "ok"
    assert out[schema.TEXT_CLEAN].iloc[3] == ""
    assert "broken row" in out[schema.ROW_ISSUES].iloc[3][0]


def test_normalize_frame_needs_text_column() -> None:

    with raises_code("CX-E030", "text"):
        normalize_frame(pd.DataFrame({"body": ["x"]}), resources=None)
