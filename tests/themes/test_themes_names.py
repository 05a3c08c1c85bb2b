"""Readable theme names (cx_text/themes/name.py): RU/EN clause groups -> a short phrase each.

Each case is one theme's clauses among the other cases' themes (so c-TF-IDF has something to
contrast with), named with the real language layer (pymorphy3 / spaCy lookup lemmas). A name
must be a phrase in the group's language(s), not a term list: 2–5 words a language, no " · ",
with a predicate (a verb, a negation) or an adjective + noun, and about the theme.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from cx_text.themes.label import nlp_lemmatizer, simple_lemmatize
from cx_text.themes.name import (
    Core,
    NameParams,
    best_phrase,
    clause_core,
    name_themes,
    parse_clause,
)

CASES: dict[str, dict[str, list[str]]] = {
    "prices_up": {
        "ru": [
            "Цены опять выросли",
            "Цены выросли в два раза",
            "Очень выросли цены на доставку",
            "цены выросли, а качество нет",
            "Всё подорожало за месяц",
            "Цены кусаются",
        ],
        "en": [
            "Prices went up again",
            "The prices have gone up a lot",
            "prices went up by 20%",
            "Prices went up, quality did not",
            "Everything got more expensive",
        ],
    },
    "no_call": {
        "ru": [
            "Курьер так и не позвонил",
            "Курьер не позвонил перед доставкой",
            "курьер мне не позвонил",
            "Курьер не позвонил, просто оставил извещение",
            "Никто не позвонил",
        ],
        "en": [
            "The courier did not call me",
            "Courier didn't call before delivery",
            "the courier never called",
            "Courier did not call, just left a note",
        ],
    },
    "promo": {
        "ru": [
            "Промокод не применился",
            "Промокод не применился при оплате",
            "промокод опять не применился",
            "Промокод не сработал",
        ],
        "en": [
            "Promo code was not applied",
            "My promo code was not applied at checkout",
            "the promo code was not applied to the order",
            "Promo code did not work",
        ],
    },
    "app_crash": {
        "ru": [
            "Приложение вылетает при оплате",
            "Приложение постоянно вылетает",
            "приложение вылетает после обновления",
            "Приложение тормозит и вылетает",
        ],
        "en": [
            "The app crashes at checkout",
            "App keeps crashing after the update",
            "the app crashes all the time",
            "App crashes when I open the cart",
        ],
    },
    "rude_staff": {
        "ru": [
            "Сотрудница ПВЗ нахамила",
            "Сотрудник пункта выдачи нахамил мне",
            "Кассир нахамил",
            "Сотрудница опять нахамила без причины",
        ]
    },
    "late": {
        "en": [
            "The delivery was late by two days",
            "Delivery was late again",
            "my delivery was late",
            "delivery was late and the food was cold",
            "Late delivery, no apology",
        ]
    },
    "no_refund": {
        "ru": [
            "Деньги за возврат так и не вернули",
            "Деньги не вернули",
            "деньги за возврат не вернули до сих пор",
            "Уже месяц не возвращают деньги",
        ],
        "en": [
            "They never refunded my money",
            "Money was not refunded",
            "still no refund after a month",
            "My money was not refunded for the return",
        ],
    },
}
EXPECTED = {  # words of which a name must hold at least one, per language
    "prices_up": {"ru": {"цены", "выросли", "подорожало"}, "en": {"prices", "went", "up"}},
    "no_call": {"ru": {"позвонил"}, "en": {"call", "called"}},
    "promo": {"ru": {"промокод", "применился"}, "en": {"promo", "applied"}},
    "app_crash": {"ru": {"вылетает", "приложение"}, "en": {"crashes", "crashing", "app"}},
    "rude_staff": {"ru": {"нахамил", "нахамила"}},
    "late": {"en": {"late"}},
    "no_refund": {"ru": {"вернули", "деньги"}, "en": {"refunded", "refund", "money"}},
}
PREDICATE_POS = {"VERB", "INFN", "PRTF", "PRTS", "ADJS", "PRED"}


@pytest.fixture(scope="module")
def resources() -> object:
    from cx_text.text.nlp import NlpResources

    return NlpResources.load(ner=False)


@pytest.fixture(scope="module")
def names(resources: object) -> dict[str, str]:
    clauses = {
        case: [(text, lang) for lang, texts in by_lang.items() for text in texts]
        for case, by_lang in CASES.items()
    }
    background = [("Всё нормально, но долго", "ru"), ("Overall fine, a bit slow", "en")]
    return {
        case: name
        for case, (name, _) in name_themes(clauses, nlp_lemmatizer(resources), background).items()
    }


def _has_predicate(phrase: str, lang: str, morph: Callable[[str], object]) -> bool:
    """A verb, short adjective or participle, a negation, or adjective + noun (RU by pymorphy3);
    EN: a verb form (-ed/-ing/-s after a noun, irregular past) or a negation."""
    words = phrase.split()
    if {"не", "not", "never", "no"} & set(words) or any(w.endswith("n't") for w in words):
        return True
    if lang == "ru":
        tags = [morph(w) for w in words]  # type: ignore[misc]
        pos = {str(t.POS) for t in tags}  # type: ignore[attr-defined]
        return bool(pos & PREDICATE_POS) or {"ADJF", "NOUN"} <= pos
    return any(
        re.search(r"(ed|ing|es|s)$", w) or w in {"went", "got", "late", "broke"} for w in words[1:]
    )


@pytest.mark.parametrize("case", sorted(CASES))
def test_themes_names_are_short_phrases_in_the_groups_languages(
    case: str, names: dict[str, str], resources: object
) -> None:
    name = names[case]
    parts = name.split(" | ")
    langs = list(CASES[case])
    assert " · " not in name, name
    assert len(parts) == len(langs), name  # one phrase per language of the theme, RU first
    morph = resources.morph.parse  # type: ignore[attr-defined]
    for lang, part in zip(sorted(langs, key=["ru", "en"].index), parts, strict=True):
        words = part.split()
        assert 2 <= len(words) <= 5, part
        script = r"[а-яё]" if lang == "ru" else r"[a-z]"
        assert all(re.search(script, w) for w in words if not w.isdigit()), part
        assert set(words) & EXPECTED[case][lang], part
        assert _has_predicate(part, lang, lambda w: morph(w)[0].tag), part


def test_themes_names_examples(names: dict[str, str]) -> None:
    assert names["no_call"] == "курьер не позвонил | courier did not call"
    assert names["promo"].endswith("| promo code not applied")  # "was" dropped before the negation
    assert names["prices_up"].endswith("| prices went up")  # a particle may end a name


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("Курьер так и не позвонил мне", "ru", "курьер не позвонил"),  # filler dropped inside
        ("The promo code was not applied", "en", "promo code not applied"),
        ("Prices went up, again", "en", "prices went up"),  # punctuation ends a name
        ("Трек не обновляется уже 3 дня", "ru", "трек не обновляется 3 дня"),  # numbers kept inside
    ],
)
def test_themes_names_clause_core(text: str, lang: str, expected: str) -> None:
    clause = parse_clause(text, lang, simple_lemmatize)
    weights = {w.unit: 1.0 for w in clause if w.unit}
    core = clause_core(clause, weights, NameParams(word_cost=0.01))
    assert core is not None and core.text == expected


def test_themes_names_negation_stays_with_its_word() -> None:
    clause = parse_clause("We won't be going back", "en", simple_lemmatize)
    core = clause_core(clause, {"not going": 1.0, "back": 0.5}, NameParams())
    assert core is not None and core.text.startswith("won't"), core


def test_themes_names_recurring_core_beats_a_rare_long_one() -> None:
    short, long = (
        Core(frozenset({"a", "b"}), "a b", 1.0),
        Core(frozenset({"a", "b", "c", "d"}), "a b c d", 2.0),
    )
    assert best_phrase([short] * 4 + [long], [short.units] * 4 + [long.units]) == "a b"
    assert best_phrase([short, long], [short.units, long.units]) == "a b"  # a tie: fewer words
    rich = Core(long.units, long.text, 3.0)
    assert best_phrase([short, rich], [short.units, rich.units]) == "a b c d"
    assert best_phrase([], []) is None


def test_themes_names_mixed_theme_names_only_languages_with_a_share() -> None:
    clauses = {"t": [("Курьер не позвонил", "ru")] * 9 + [("Courier did not call", "en")]}
    name, terms = name_themes(clauses, simple_lemmatize)["t"]
    assert name == "курьер не позвонил" and terms  # 10% English: no English half


def test_themes_names_not_repeated_within_a_topic() -> None:
    same = [
        ("Курьер не позвонил", "ru"),
        ("Курьер не позвонил вечером", "ru"),
        ("Курьер опоздал и не позвонил", "ru"),
    ]
    named = name_themes({"big": same * 2, "small": same}, simple_lemmatize)
    assert named["big"][0] == "курьер не позвонил"  # the bigger theme chooses first
    assert named["small"][0] != named["big"][0] and " · " not in named["small"][0]


def test_themes_names_skip_redactions_and_shouting() -> None:
    clause = parse_clause("XXXX declared TOTAL LOSS on XX/XX", "en", simple_lemmatize)
    assert [w.kind for w in clause][:1] == ["drop"]  # "XXXX" is a redaction, never a name
    core = clause_core(clause, {w.unit: 1.0 for w in clause if w.unit}, NameParams(word_cost=0.01))
    assert core is not None and core.text == "declared total loss"
    assert (
        parse_clause("Выдали в ПВЗ", "ru", simple_lemmatize)[-1].text == "ПВЗ"
    )  # a lone abbreviation stays


def test_themes_names_never_show_masked_pii() -> None:
    clause = parse_clause("Courier [PERSON] doesn't pick up", "en", simple_lemmatize)
    core = clause_core(clause, {w.unit: 1.0 for w in clause if w.unit}, NameParams(word_cost=0.01))
    assert core is not None and core.text == "courier doesn't pick up"


def test_themes_names_never_cut_before_a_negation() -> None:
    clause = parse_clause("После повышения цен заказываю уже не так часто", "ru", simple_lemmatize)
    core = clause_core(clause, {"повышения": 1.0, "цен": 0.7, "заказываю": 0.9}, NameParams())
    assert core is not None and core.text == "повышения цен", (
        core
    )  # not "… заказываю" (it is "не часто")


@pytest.mark.parametrize(
    ("text", "lang", "negated"),
    [
        ("Не могу дозвониться", "ru", {"не дозвониться"}),  # through a stop word
        ("Ни у службы доставки", "ru", set()),  # a preposition ends the negation's reach
        ("The promo code was not applied", "en", {"not applied"}),
        ("Not at the door", "en", set()),
    ],
)
def test_themes_names_negation_scope(text: str, lang: str, negated: set[str]) -> None:
    units = {w.unit for w in parse_clause(text, lang, simple_lemmatize)}
    assert {u for u in units if u.startswith(("не ", "not "))} == negated


def test_themes_names_filler_sequences_match_word_forms(resources: object) -> None:
    clause = parse_clause(
        "По факту заказ на складе", "ru", nlp_lemmatizer(resources)
    )  # lemma "факт"
    assert [w.kind for w in clause][:2] == ["drop", "drop"]
