"""PII masking: every type both ways — real-looking positives and tricky negatives."""

from __future__ import annotations

from itertools import pairwise

import pytest

from cx_text.text.nlp.persons import PersonFinder
from cx_text.text.pii import PII_TYPES, find_pii, inn_ok, luhn_ok, mask_pii, snils_ok


@pytest.fixture(scope="module")
def persons() -> PersonFinder:
    return PersonFinder.load()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Перезвоните мне 8 (912) 345-67-89, пожалуйста", "Перезвоните мне [PHONE], пожалуйста"),
        ("мой номер +7 912 345 67 89", "мой номер [PHONE]"),
        ("тел. 89123456789", "тел. [PHONE]"),
        ("звонила на +7(495)123-45-67 три раза", "звонила на [PHONE] три раза"),
        ("Call me at (555) 123-4567 tomorrow", "Call me at [PHONE] tomorrow"),
        ("UK office +44 20 7946 0958 never answers", "UK office [PHONE] never answers"),
        ("my cell is 555-123-4567", "my cell is [PHONE]"),
        ("пишите на ivan.petrov@mail.ru", "пишите на [EMAIL]"),
        ("Reply to john_doe+shop@gmail.com asap", "Reply to [EMAIL] asap"),
        ("списали с карты 4111 1111 1111 1111 дважды", "списали с карты [CARD] дважды"),
        ("card 5555-5555-5555-4444 was charged", "card [CARD] was charged"),
        ("карта 2200000000000004", "карта [CARD]"),
        ("ИНН 7707083893, счёт не пришёл", "ИНН [INN], счёт не пришёл"),
        ("мой инн: 500100732259", "мой инн: [INN]"),
        ("реквизиты 7728168971 для возврата", "реквизиты [INN] для возврата"),
        ("СНИЛС 112-233-445 95", "СНИЛС [SNILS]"),
        ("номер 087-654-303 00 указан", "номер [SNILS] указан"),
        ("паспорт 4510 123456 выдан", "паспорт [PASSPORT] выдан"),
        ("серия 45 10 номер 123456", "серия [PASSPORT]"),
        ("доставьте на ул. Ленина, д. 5, кв. 12", "доставьте на [ADDRESS]"),
        ("проспект Мира 15 корп. 2", "[ADDRESS]"),
        ("Ship to 221 Baker Street, Apt 5 please", "Ship to [ADDRESS] please"),
    ],
)
def test_pii_masks_positives(text: str, expected: str) -> None:
    assert mask_pii(text)[0] == expected


@pytest.mark.parametrize(
    "text",
    [
        "Заказ 123456789 до сих пор не доставлен",
        "заказ №89161234567 потерялся",
        "Order #1234567890123456 is delayed",
        "трек 80085412345678 не отслеживается",
        "оплатил 15 000 руб., вернули 7 500 ₽",
        "цена 1 299 990 рублей — дорого",
        "It cost $1,249.99 and broke",
        "привезли 12.03.2024 в 15:30 вместо 10:00-14:00",
        "delivered on 2024-03-12 at 10:30",
        "ждал 3 дня, 2 часа на линии",
        "код из смс 482913 не приходит",
        "номер 1234567890 не подходит",
        "номер 123-456-789 01 неверный",
        "артикул 4111111111111111 не тот",
        "скидка 20% на 2 товара",
        "see https://shop.example.com/orders/89123456789 for details",
        "курьер приехал в 8 утра, 12 мая",
        "iPhone 15 Pro Max 256 ГБ пришёл разбитым",
    ],
)
def test_pii_keeps_negatives(text: str) -> None:
    masked, kinds = mask_pii(text)
    assert masked == text, masked
    assert kinds == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Курьер Иван нахамил", "Курьер [PERSON] нахамил"),
        ("курьер иван нахамил и уехал", "курьер [PERSON] нахамил и уехал"),
        ("Оператор Мария помогла быстро", "Оператор [PERSON] помогла быстро"),
        ("Спасибо Сергею за помощь!", "Спасибо [PERSON] за помощь!"),
        ("Анна Петровна из поддержки помогла", "[PERSON] из поддержки помогла"),
        ("Пишу Ивану Сергеевичу Петрову", "Пишу [PERSON]"),
        ("Менеджер Слава не перезвонил", "Менеджер [PERSON] не перезвонил"),
        ("Заказ привез Петров, все ок", "Заказ привез [PERSON], все ок"),
        ("The courier John was rude", "The courier [PERSON] was rude"),
        ("Agent Will helped me a lot", "Agent [PERSON] helped me a lot"),
        ("Mr. Thompson never called back", "Mr. [PERSON] never called back"),
        ("Ivan Petrov from support was great", "[PERSON] from support was great"),
        ("Thanks Mike!", "Thanks [PERSON]!"),
    ],
)
def test_pii_masks_person_names(persons: PersonFinder, text: str, expected: str) -> None:
    masked, kinds = mask_pii(text, persons)
    assert masked == expected
    assert kinds == ["PERSON"]


@pytest.mark.parametrize(
    "text",
    [
        "Вера в компанию пропала",
        "Надежда на возврат есть",
        "Роза в букете завяла",
        "Доставка Озон опять опоздала",
        "Москва большая, в Питере лучше",
        "Will you fix it?",
        "I will never order again",
        "Sberbank and Apple Pay failed",
        "Курьер опоздал, Поддержка молчит",
    ],
)
def test_pii_keeps_words_that_are_not_names(persons: PersonFinder, text: str) -> None:
    assert mask_pii(text, persons) == (text, [])


def test_pii_reports_kinds_in_order_of_appearance(persons: PersonFinder) -> None:
    text = "Иван, звоните +7 912 345 67 89 или пишите a@b.ru; Иван"
    masked, kinds = mask_pii(text, persons)
    assert kinds == ["PERSON", "PHONE", "EMAIL"]
    assert masked == "[PERSON], звоните [PHONE] или пишите [EMAIL]; [PERSON]"


def test_pii_spans_do_not_overlap() -> None:
    spans = find_pii("карта 4111 1111 1111 1111, тел 8 912 345 67 89, инн 7707083893")
    assert [s.kind for s in spans] == ["CARD", "PHONE", "INN"]
    assert all(a.end <= b.start for a, b in pairwise(spans))
    assert {s.kind for s in spans} <= set(PII_TYPES)


@pytest.mark.parametrize(
    ("check", "good", "bad"),
    [
        (luhn_ok, "4111111111111111", "4111111111111112"),
        (inn_ok, "7707083893", "7707083894"),
        (inn_ok, "500100732259", "500100732258"),
        (snils_ok, "11223344595", "11223344596"),
    ],
)
def test_pii_checksums(check, good: str, bad: str) -> None:
    assert check(good)
    assert not check(bad)
