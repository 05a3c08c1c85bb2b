"""PII masking: every type both ways — real-looking positives and tricky negatives."""

from __future__ import annotations

from itertools import pairwise

import pytest

from cx_text.text.nlp.persons import PersonFinder
from cx_text.text.pii import (
    PII_TYPES,
    find_pii,
    iban_ok,
    inn_ok,
    luhn_ok,
    mask_pii,
    nanp_ok,
    snils_ok,
    ssn_ok,
)


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
        "заказ №81161234567 потерялся",
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
        (iban_ok, "DE89370400440532013000", "DE89370400440532013001"),
        (iban_ok, "GB82WEST12345698765432", "GB82WEST1234569876543"),
        (ssn_ok, "123456789", "666456789"),
        (ssn_ok, "078051120", "078050000"),
        (nanp_ok, "2125551234", "1235551234"),
        (nanp_ok, "4155550000", "9115551234"),
    ],
)
def test_pii_checksums(check, good: str, bad: str) -> None:
    assert check(good)
    assert not check(bad)


# Issue #14: identifiers that used to slip through, per pattern — positives (RU and EN, with and
# without an order word / ``#`` in front) and near misses that must stay as written.
NEW_PATTERNS = [
    ("SSN", "my SSN is 123-45-6789, please delete it", "my SSN is [SSN], please delete it"),
    ("SSN", "ssn: 078 05 1120", "ssn: [SSN]"),
    ("SSN", "номер соцстрахования 219-09-9999", "номер соцстрахования [SSN]"),
    ("PHONE", "call me back at 2125551234", "call me back at [PHONE]"),
    ("PHONE", "перезвоните 9123456789", "перезвоните [PHONE]"),
    ("PHONE", "по заказу 8 912 345-67-89 никто не звонил", "по заказу [PHONE] никто не звонил"),
    ("PHONE", "заказ 89161234567 потерялся", "заказ [PHONE] потерялся"),
    ("PHONE", "заказ №89161234567 потерялся", "заказ №[PHONE] потерялся"),
    ("PHONE", "order # +1 415 555 2671 never shipped", "order # [PHONE] never shipped"),
    ("ACCOUNT", "верните на счёт 40817810099910004312", "верните на счёт [ACCOUNT]"),
    ("ACCOUNT", "р/с 40702 810 4 3825 0123456, БИК 044525225", "р/с [ACCOUNT], БИК 044525225"),
    ("ACCOUNT", "обращение 40817810099910004312", "обращение [ACCOUNT]"),
    ("IBAN", "refund to IBAN DE89 3704 0044 0532 0130 00 please", "refund to IBAN [IBAN] please"),
    ("IBAN", "GB82WEST12345698765432 is my account", "[IBAN] is my account"),
    ("IBAN", "заявка #GB82 WEST 1234 5698 7654 32", "заявка #[IBAN]"),
    (
        "CARD",
        "обращение 4111 1111 1111 1111, деньги не вернули",
        "обращение [CARD], деньги не вернули",
    ),
    ("CARD", "#4111111111111111 was charged twice", "#[CARD] was charged twice"),
    ("CARD", "ticket 5555-5555-5555-4444", "ticket [CARD]"),
    ("CARD", "артикул 4111111111111111 не тот", "артикул [CARD] не тот"),
]

NEAR_MISSES = [
    "ref 000-12-3456 is not valid",  # area 000
    "code 666-12-3456",  # area 666
    "ref 987-65-4321",  # 9xx area (advertising range)
    "тел. доб. 123-45-67",  # 3-2-2: an extension, not an SSN
    "номер 1234567890 не подходит",  # area 123: not a phone
    "номер 1707083894",  # INN-like, fails the INN check and is no phone
    "ИП 500100732258 не ответил",  # 12-digit INN-like that fails its check digits
    "order 2125551234 is late",  # a bare 10-digit order number keeps its exemption
    "заказ №81161234567 потерялся",  # 11 digits but no 9xx mobile code
    "заказ №12345678901 потерялся",
    "трек 80085412345678 не отслеживается",  # 14-digit Russian Post track
    "счёт 4081781009991000431 (19 цифр)",  # 19 digits: no account
    "номер 408178100999100043121 (21 цифра)",
    "IBAN DE89 3704 0044 0532 0130 01",  # mod-97 fails
    "артикул 4111111111111112 не тот",  # Luhn fails
    "Order #1234567890123456 is delayed",  # issuer prefix 1: not a card
    "привезли 2024-03-12, оплата 1 299 990 руб.",
    "delivered on 03/12/2024 at 10:30, cost $1,249.99",
    "MODEL XR12 3456 7890 ABCD",  # upper-case codes that are no IBAN
]


@pytest.mark.parametrize(("kind", "text", "expected"), NEW_PATTERNS)
def test_pii_masks_new_patterns(kind: str, text: str, expected: str) -> None:
    masked, kinds = mask_pii(text)
    assert masked == expected
    assert kinds == [kind]


@pytest.mark.parametrize("text", NEAR_MISSES)
def test_pii_keeps_near_misses(text: str) -> None:
    assert mask_pii(text) == (text, [])


def test_pii_finds_names_in_every_sentence_of_a_long_text(persons: PersonFinder) -> None:
    """Each sentence is checked against its own words only (found by position, not by a scan
    of every word of the text per sentence), wherever it sits in a long e-mail."""
    text = "Всё хорошо. " * 300 + "Менеджер Слава не перезвонил. " + "Спасибо. " * 300
    masked, kinds = mask_pii(text, persons)
    assert kinds == ["PERSON"]
    assert "Менеджер [PERSON] не перезвонил." in masked
    assert masked.count("Всё хорошо.") == 300
