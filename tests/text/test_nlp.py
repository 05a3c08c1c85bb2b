"""Analysis (natasha / spaCy), clause splitting, negation, the cue matcher, prepare_text."""

from __future__ import annotations

import pickle
import random

import pandas as pd
import pytest

from cx_text.core import schema
from cx_text.text.nlp import CueMatcher, NlpResources, analyze_frame, analyze_one, prepare_text
from cx_text.text.nlp.matcher import Match, _longest


@pytest.fixture(scope="module")
def res() -> NlpResources:
    return NlpResources.load()


@pytest.mark.parametrize(
    ("text", "lang", "clauses"),
    [
        (
            "Курьер вежливый, но опоздал на 3 часа",
            "ru",
            ["Курьер вежливый,", "но опоздал на 3 часа"],
        ),
        (
            "Доставка быстрая, а упаковка порвана.",
            "ru",
            ["Доставка быстрая,", "а упаковка порвана."],
        ),
        ("Дорого, зато качественно", "ru", ["Дорого,", "зато качественно"]),
        (
            "Приложение удобное, однако часто виснет",
            "ru",
            ["Приложение удобное,", "однако часто виснет"],
        ),
        ("Ждал долго, хотя обещали к обеду", "ru", ["Ждал долго,", "хотя обещали к обеду"]),
        ("Цена высокая; качество отличное", "ru", ["Цена высокая;", "качество отличное"]),
        ("Курьер опоздал. Оператор помог.", "ru", ["Курьер опоздал.", "Оператор помог."]),
        ("Купил чехол, а также стекло", "ru", ["Купил чехол, а также стекло"]),
        ("Хотя бы позвонили", "ru", ["Хотя бы позвонили"]),
        ("Но это уже другая история", "ru", ["Но это уже другая история"]),
        (
            "The food was great but the delivery was late",
            "en",
            ["The food was great", "but the delivery was late"],
        ),
        ("Nice app, however it crashes a lot", "en", ["Nice app,", "however it crashes a lot"]),
        (
            "Although the courier was polite, the box was damaged",
            "en",
            ["Although the courier was polite, the box was damaged"],
        ),
        (
            "I liked the price, although shipping took ages",
            "en",
            ["I liked the price,", "although shipping took ages"],
        ),
        ("It was late, though.", "en", ["It was late, though."]),
        (
            "Staff were rude whereas the manager apologized",
            "en",
            ["Staff were rude", "whereas the manager apologized"],
        ),
        ("Cheap; works fine", "en", ["Cheap;", "works fine"]),
        ("Not only fast but also cheap", "en", ["Not only fast but also cheap"]),
        (
            "Качество супер, but delivery was late",
            "mixed",
            ["Качество супер,", "but delivery was late"],
        ),
    ],
)
def test_nlp_clauses_split_on_contrast_markers(
    res: NlpResources, text: str, lang: str, clauses: list[str]
) -> None:
    analysis = analyze_one(text, res, lang)
    assert [analysis.clause_text(c.index) for c in analysis.clauses] == clauses


def test_nlp_offsets_point_into_text(res: NlpResources) -> None:
    text = "Курьер [PERSON] нахамил, но товар отличный 👍. The app? Works!"
    for lang in ("ru", "en", "mixed"):
        analysis = analyze_one(text, res, lang)
        for token in analysis.tokens:
            assert text[token.start : token.end] == token.text
        assert "[PERSON]" in [t.text for t in analysis.tokens]
        first = analysis.sentences[0]
        assert text[first.start : first.end].startswith("Курьер")


@pytest.mark.parametrize(
    ("text", "lang", "lemmas"),
    [
        ("Курьеры опоздали с доставкой", "ru", ["курьер", "опоздать", "с", "доставка"]),
        ("Всё ещё жду возврата", "ru", ["все", "еще", "ждать", "возврат"]),
        ("Deliveries were delayed", "en", ["delivery", "be", "delay"]),
        ("I won't order again", "en", ["i", "will", "not", "order", "again"]),
        ("dostavka opyat opozdala", "ru", ["доставка", "опять", "опоздать"]),
        ("Приложение crashes постоянно", "mixed", ["приложение", "crash", "постоянно"]),
    ],
)
def test_nlp_lemmas(res: NlpResources, text: str, lang: str, lemmas: list[str]) -> None:
    assert list(analyze_one(text, res, lang).lemmas) == lemmas


@pytest.mark.parametrize(
    ("text", "lang", "negated"),
    [
        ("Курьер не приехал", "ru", ["приехал"]),
        ("Никто не перезвонил, зато извинились", "ru", ["не", "перезвонил"]),
        ("Претензий нет", "ru", ["Претензий"]),
        ("Без проблем доставили", "ru", ["проблем", "доставили"]),
        ("The courier didn't call", "en", ["call"]),
        ("No issues at all", "en", ["issues", "at", "all"]),
        ("Never again, seriously", "en", ["again"]),
        ("Not great but fine", "en", ["great"]),
    ],
)
def test_nlp_negation_scope(res: NlpResources, text: str, lang: str, negated: list[str]) -> None:
    analysis = analyze_one(text, res, lang)
    assert [t.text for t in analysis.tokens if t.is_negated] == negated


def test_nlp_analysis_is_picklable_and_light(res: NlpResources) -> None:
    analysis = analyze_one("Курьер вежливый, но опоздал", res, "ru")
    blob = pickle.dumps(analysis)
    assert pickle.loads(blob) == analysis
    assert len(blob) < 2_000


PATTERNS = {
    "delivery/late": ["опоздать", "опоздание", "late delivery", "arrive late", "задержка"],
    "delivery/no_show": ["не приехать", "never arrive"],
    "staff/rude": ["нахамить", "грубый", "rude"],
    "pricing/promo": ["промокод", "promo code"],
    "support/unreachable": ["не дозвониться", "поддержка"],
}


@pytest.fixture(scope="module")
def matcher(res: NlpResources) -> CueMatcher:
    return CueMatcher(PATTERNS, res)


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("Курьер опоздал на час", "ru", [("delivery/late", False, "опоздал")]),
        ("Опять опоздали!", "ru", [("delivery/late", False, "опоздали")]),
        ("Доставили с опозданием", "ru", [("delivery/late", False, "опозданием")]),
        ("Курьер не опоздал, молодец", "ru", [("delivery/late", True, "опоздал")]),
        ("Курьер так и не приехал", "ru", [("delivery/no_show", False, "не приехал")]),
        (
            "Не смог дозвониться до поддержки",
            "ru",
            [
                ("support/unreachable", False, "Не смог дозвониться"),
                ("support/unreachable", False, "поддержки"),
            ],
        ),
        ("Курьер был грубым", "ru", [("staff/rude", False, "грубым")]),
        ("Промокоды не работают", "ru", [("pricing/promo", False, "Промокоды")]),
        ("Late delivery again", "en", [("delivery/late", False, "Late delivery")]),
        ("The parcel arrived late", "en", [("delivery/late", False, "arrived late")]),
        ("The promo codes didn't apply", "en", [("pricing/promo", False, "promo codes")]),
        ("The driver wasn't rude at all", "en", [("staff/rude", True, "rude")]),
        ("It never arrived", "en", [("delivery/no_show", False, "never arrived")]),
        ("zakaz opyat opozdal", "ru", [("delivery/late", False, "opozdal")]),
        # one gap word may stand inside a multi-word cue, but not punctuation or a negation
        ("The promo discount code failed", "en", [("pricing/promo", False, "promo discount code")]),
        ("Got a promo: code words everywhere", "en", []),
        ("Late, not delivery", "en", []),
        ("The courier arrived very late", "en", [("delivery/late", False, "arrived very late")]),
        ("The courier arrived very very late", "en", []),
    ],
)
def test_nlp_matcher_inflected_forms_and_negation(
    res: NlpResources,
    matcher: CueMatcher,
    text: str,
    lang: str,
    expected: list[tuple[str, bool, str]],
) -> None:
    analysis = analyze_one(text, res, lang)
    matches = matcher.match([analysis])[0]
    assert [(m.label, m.negated, text[m.start : m.end]) for m in matches] == expected


def test_nlp_matcher_stays_inside_a_clause(res: NlpResources, matcher: CueMatcher) -> None:
    analysis = analyze_one("Доставка вовремя, но курьер нахамил", res, "ru")
    matches = matcher.match([analysis])[0]
    assert [(m.label, m.clause_index, m.terms) for m in matches] == [
        ("staff/rude", 1, ("нахамил",))
    ]


def _longest_reference(matches: list[Match]) -> list[Match]:
    """The definition, quadratic: drop a match inside a longer one of the same label."""
    keep = [
        m
        for m in matches
        if not any(
            o.label == m.label
            and o.start <= m.start
            and m.end <= o.end
            and o.end - o.start > m.end - m.start
            for o in matches
        )
    ]
    unique = {(m.label, m.start, m.end): m for m in keep}
    return sorted(unique.values(), key=lambda m: (m.start, m.end, m.label))


def test_nlp_matcher_keeps_the_longest_match_per_label_and_place() -> None:
    rng = random.Random(7)
    for _ in range(3000):
        matches = []
        for _ in range(rng.randint(0, 10)):
            start = rng.randint(0, 12)
            end = start + rng.randint(1, 5)
            label = rng.choice(["delivery/late", "staff/rude", "pricing"])
            matches.append(Match(label, 0, start, end, (str(rng.random()),), False, "cue"))
        assert [id(m) for m in _longest(matches)] == [id(m) for m in _longest_reference(matches)]


def test_nlp_matcher_batch_keeps_order(res: NlpResources, matcher: CueMatcher) -> None:
    texts = [("Курьер нахамил", "ru"), ("", "other"), ("rude driver", "en")]
    analyses = [analyze_one(t, res, lang) for t, lang in texts]
    labels = [[m.label for m in ms] for ms in matcher.match(analyses)]
    assert labels == [["staff/rude"], [], ["staff/rude"]]


def test_nlp_readme_example(res: NlpResources) -> None:
    frame = pd.DataFrame(
        {
            "text": [
                "Курьер Иван нахамил, но доставка быстрая. Мой телефон +7 912 345-67-89",
                "The app crashes at checkout; card 4111 1111 1111 1111 was charged twice. Mail "
                "john@example.com",
                "Приложение постоянно crashes, please fix it",
                "ИНН 7707083893, верните деньги",
                "",
            ]
        }
    )
    out = prepare_text(frame, res)
    assert out["lang"].tolist() == ["ru", "en", "mixed", "ru", "other"]
    assert out["text_clean"].tolist() == [
        "Курьер [PERSON] нахамил, но доставка быстрая. Мой телефон [PHONE]",
        "The app crashes at checkout; card [CARD] was charged twice. Mail [EMAIL]",
        "Приложение постоянно crashes, please fix it",
        "ИНН [INN], верните деньги",
        "",
    ]
    assert out["pii_found"].tolist() == [["PERSON", "PHONE"], ["CARD", "EMAIL"], [], ["INN"], []]
    assert out["row_status"].tolist() == ["ok", "ok", "ok", "ok", "empty"]
    first = out["analysis"].iloc[0]
    assert [first.clause_text(c.index) for c in first.clauses][:2] == [
        "Курьер [PERSON] нахамил,",
        "но доставка быстрая.",
    ]
    assert out["analysis"].iloc[4].clauses == ()


def test_nlp_analyze_frame_marks_failing_row(res: NlpResources, monkeypatch) -> None:
    from cx_text.text.nlp import pipeline

    real = pipeline.analyze

    def flaky(texts, langs, r):
        if any("boom" in t for t in texts):
            raise RuntimeError("analyzer crashed")
        return real(texts, langs, r)

    monkeypatch.setattr(pipeline, "analyze", flaky)
    frame = pd.DataFrame(
        {
            schema.TEXT: ["a", "b"],
            schema.TEXT_CLEAN: ["Всё хорошо", "boom"],
            schema.LANG: ["ru", "en"],
        }
    )
    out = analyze_frame(frame, res)
    assert out[schema.ROW_STATUS].tolist()[0] == "ok"
    assert out[schema.ROW_STATUS].tolist()[1].startswith("error: analyze")
    assert out[schema.ANALYSIS].iloc[0].lemmas == ("все", "хорошо")


def test_nlp_resources_pickle_rebuilds(res: NlpResources) -> None:
    blob = pickle.dumps(res)
    assert len(blob) < 1_000  # options only; the worker rebuilds the models
    clone = pickle.loads(blob)
    assert analyze_one("Курьеры опоздали", clone, "ru").lemmas == ("курьер", "опоздать")


@pytest.mark.slow
def test_nlp_morph_tagger_mode_lemmas() -> None:
    tagged = NlpResources.load(morph_tagger=True, ner=False)
    analysis = analyze_one("Цены стали выше, а качество стало хуже", tagged, "ru")
    assert analysis.lemmas.count("стать") == 2
    assert analyze_one("Курьеры опоздали", tagged, "ru").lemmas == ("курьер", "опоздать")
