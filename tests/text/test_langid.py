"""Language ID: clean sentences, short messages, mixed, transliterated, other, odd input."""

from __future__ import annotations

import pandas as pd
import pytest

from cx_text.core import schema
from cx_text.text.langid import LanguageDetector, detect_language_frame, transliterate

RU_SENTENCES = [
    "Курьер опоздал на три часа и даже не извинился.",
    "Приложение постоянно вылетает при оплате картой.",
    "Спасибо, всё отлично, доставили вовремя!",
    "Поддержка не отвечает уже неделю, деньги не вернули.",
    "Товар пришёл с царапиной, упаковка была порвана.",
    "Цены выросли, а качество стало хуже.",
    "Очень удобный поиск и быстрая доставка.",
    "Заказ потеряли на складе, пришлось ждать две недели.",
    "Оператор был вежлив, но проблему так и не решил.",
    "Промокод не сработал при оформлении заказа.",
    "Пицца приехала холодной, сыр застыл.",
    "Верните деньги за отменённый заказ!",
    "Кешбэк так и не начислили за прошлый месяц.",
    "Не могу войти в личный кабинет, код по СМС не приходит.",
    "Хороший магазин, буду заказывать ещё.",
    "Размер не подошёл, а вернуть товар очень сложно.",
    "В пункте выдачи огромная очередь и грубый персонал.",
    "После обновления приложение стало тормозить.",
    "Доставка бесплатная, это большой плюс.",
    "Почему списали деньги дважды?",
    "Всё понравилось, особенно упаковка.",
    "Консультант помог выбрать подходящую модель.",
    "Ужасное обслуживание, больше не приду.",
    "Качество ткани отличное, швы ровные.",
    "Горячая линия занята с утра до вечера.",
]
EN_SENTENCES = [
    "The courier was three hours late and did not even apologize.",
    "The app keeps crashing when I try to pay by card.",
    "Thanks, everything was great and delivered on time!",
    "Support has not replied for a week and I still have no refund.",
    "The item arrived scratched and the box was torn.",
    "Prices went up while the quality got worse.",
    "Very convenient search and fast delivery.",
    "They lost my order in the warehouse, I waited two weeks.",
    "The agent was polite but did not solve my problem.",
    "The promo code did not work at checkout.",
    "The pizza arrived cold and the cheese was hard.",
    "Give me my money back for the cancelled order!",
    "I never got my cashback for last month.",
    "I cannot log in, the SMS code never arrives.",
    "Nice shop, I will order again.",
    "The size did not fit and returning it is a nightmare.",
    "Huge queue at the pickup point and rude staff.",
    "After the update the app became really slow.",
    "Free delivery is a big plus.",
    "Why was I charged twice?",
    "Loved everything, especially the packaging.",
    "The consultant helped me pick the right model.",
    "Terrible service, never coming back.",
    "The fabric quality is excellent and the seams are straight.",
    "The hotline is busy from morning till night.",
]


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    return LanguageDetector.load()


def test_langid_clean_sentences_at_least_99_percent(detector: LanguageDetector) -> None:
    texts = RU_SENTENCES + EN_SENTENCES
    gold = ["ru"] * len(RU_SENTENCES) + ["en"] * len(EN_SENTENCES)
    got = [r.lang for r in detector.detect(texts)]
    wrong = [(t, g) for t, g, p in zip(texts, gold, got, strict=True) if g != p]
    assert 1 - len(wrong) / len(texts) >= 0.99, wrong
    assert min(r.confidence for r in detector.detect(texts)) >= 0.8


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("ок", "ru"),
        ("норм", "ru"),
        ("спс", "ru"),
        ("Супер!", "ru"),
        ("ok", "en"),
        ("thx", "en"),
        ("Great app", "en"),
        ("не работает", "ru"),
        ("dostavka opyat opozdala", "ru"),
        ("zakaz ne prishel uzhe nedelyu", "ru"),
        ("kurier ne priehal", "ru"),
        ("Приложение постоянно crashes, please fix it asap", "mixed"),
        ("The courier was очень грубый и наглый", "mixed"),
        ("Заказал iPhone 15 Pro Max, пришел разбитый", "ru"),
        ("Доставка через CDEK опоздала на день", "ru"),
        ("Ordered on Ozon, delivery was fast", "en"),
        ("[PERSON] помог, спасибо", "ru"),
        ("Thanks [PERSON]!", "en"),
        ("Tres bien, merci beaucoup pour la livraison", "other"),
        ("Das ist gut, aber zu teuer", "other"),
        ("配送太慢了", "other"),
    ],
)
def test_langid_table(detector: LanguageDetector, text: str, lang: str) -> None:
    assert detector.detect_one(text).lang == lang


@pytest.mark.parametrize("text", ["😡😡😡", "12345", "!!!", "   ", "", "👍", "+++ 100500 ---"])
def test_langid_emoji_or_digits_is_other_with_low_confidence(
    detector: LanguageDetector, text: str
) -> None:
    result = detector.detect_one(text)
    assert result.lang == "other"
    assert result.confidence <= 0.1


def test_langid_short_messages_are_less_certain_than_sentences(detector: LanguageDetector) -> None:
    short = detector.detect_one("норм").confidence
    long = detector.detect_one(RU_SENTENCES[0]).confidence
    assert 0.5 <= short < long


@pytest.mark.parametrize(
    ("latin", "cyrillic"),
    [("dostavka", "доставка"), ("zhdu", "жду"), ("shchetka", "щетка"), ("ya", "я")],
)
def test_langid_transliterate(latin: str, cyrillic: str) -> None:
    assert transliterate(latin) == cyrillic


def test_langid_frame_adds_columns_and_keeps_rows(detector: LanguageDetector) -> None:
    frame = pd.DataFrame(
        {
            schema.TEXT: ["Курьер опоздал", "", "Great service"],
            schema.TEXT_CLEAN: ["Курьер опоздал", "", "Great service"],
            schema.ROW_STATUS: ["ok", "empty", "ok"],
        },
        index=[10, 11, 12],
    )
    out = detect_language_frame(frame, detector)
    assert list(out.index) == [10, 11, 12]
    assert out[schema.LANG].tolist() == ["ru", "other", "en"]
    assert out[schema.LANG_CONFIDENCE].iloc[1] == 0.0
    assert schema.LANG not in frame.columns


def test_langid_frame_marks_failing_row(detector: LanguageDetector, monkeypatch) -> None:
    real = detector.detect_one

    def flaky(text: str):
        if "boom" in text:
            raise ValueError("bad input")
        return real(text)

    monkeypatch.setattr(detector, "detect_one", flaky)
    frame = pd.DataFrame(
        {schema.TEXT_CLEAN: ["ok then", "boom", "норм"], schema.TEXT: ["a", "b", "c"]}
    )
    out = detect_language_frame(frame, detector)
    assert out[schema.ROW_STATUS].tolist()[1].startswith(schema.STATUS_ERROR_PREFIX)
    assert out[schema.LANG].tolist() == ["en", "other", "ru"]
