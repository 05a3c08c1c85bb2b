"""The tagging pipeline with the real prepared encoder and the committed heads.

These check behaviour a user relies on, on realistic RU/EN messages: the contract's columns,
rows in = rows out, negation, contrast clauses with opposite per-topic polarity, mixed language,
empty and emoji-only messages, PII masking before anything else sees the text.
"""

from __future__ import annotations

import pandas as pd
import pytest

from cx_text.core import schema
from cx_text.core.config import Settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def resources():  # type: ignore[no-untyped-def]
    from cx_text.classify.tagger import Resources

    return Resources.load(Settings())


def _tag(resources, texts: list[str]) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    from cx_text.classify.tagger import tag_frame

    frame = pd.DataFrame(
        {
            schema.ID: [str(i) for i in range(len(texts))],
            schema.TEXT: texts,
            schema.ROW_STATUS: ["empty" if not t.strip() else "ok" for t in texts],
            schema.ROW_ISSUES: [[] for _ in texts],
        }
    )
    return tag_frame(frame, resources)


@pytest.mark.parametrize(
    ("text", "sentiment", "topic"),
    [
        ("Курьер опоздал на три часа и даже не позвонил", "negative", "delivery"),
        ("Доставили быстро, всё целое, спасибо!", "positive", "delivery"),
        ("Приложение вылетает при оплате, невозможно оформить заказ", "negative", "usability"),
        ("The courier was super rude and threw the box at my door", "negative", "staff"),
        ("Food arrived cold and the pizza tasted like cardboard", "negative", "quality"),
        ("Waited 40 minutes on hold and nobody solved my problem", "negative", "support"),
        ("Love the new app, checkout takes seconds now", "positive", "usability"),
    ],
)
def test_pipeline_clear_messages(resources, text: str, sentiment: str, topic: str) -> None:  # type: ignore[no-untyped-def]
    row = _tag(resources, [text]).iloc[0]
    assert row[schema.SENTIMENT] == sentiment
    assert topic in row[schema.TOPICS]
    ev = [e for e in row[schema.EVIDENCE] if e["topic"] == topic]
    assert ev and ev[0]["clause"] in row[schema.TEXT_CLEAN]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Курьер вежливый, но опоздал на 3 часа", {"staff": "positive", "delivery": "negative"}),
        (
            "The food was delicious but the prices are ridiculous",
            {"quality": "positive", "pricing": "negative"},
        ),
        (
            "Доставка быстрая, однако товар пришёл с браком",
            {"delivery": "positive", "quality": "negative"},
        ),
    ],
)
def test_pipeline_contrast_clauses_get_their_own_polarity(
    resources, text: str, expected: dict[str, str]
) -> None:  # type: ignore[no-untyped-def]
    row = _tag(resources, [text]).iloc[0]
    polarity = {a["topic"]: a["polarity"] for a in row[schema.ASPECT_SENTIMENTS]}
    for topic, pol in expected.items():
        assert polarity.get(topic) == pol, (text, polarity)


@pytest.mark.parametrize(
    ("text", "sentiment"),
    [
        ("Никаких проблем с доставкой, всё пришло вовремя", "positive"),
    ],
)
def test_pipeline_negation(resources, text: str, sentiment: str) -> None:  # type: ignore[no-untyped-def]
    assert _tag(resources, [text]).iloc[0][schema.SENTIMENT] == sentiment


@pytest.mark.parametrize(
    "text",
    [
        "Not bad at all, the delivery was actually on time",
        "Не сказать что дорого, вполне нормальные цены",
    ],
)
def test_pipeline_negated_complaint_is_not_a_complaint(resources, text: str) -> None:  # type: ignore[no-untyped-def]
    """Litotes: "not bad", "не сказать что дорого" must not read as negative. Whether they are
    positive or a mild neutral is a borderline call that moved with every re-fit (single MLPs,
    float16 adapter weights); the shipped heads call both neutral, leaning positive (+0.33,
    +0.38; docs/MODELS.md)."""
    row = _tag(resources, [text]).iloc[0]
    assert row[schema.SENTIMENT] in {"positive", "neutral"}
    assert row[schema.SENTIMENT_SCORE] > 0.2


def test_pipeline_mixed_language_and_masking(resources) -> None:  # type: ignore[no-untyped-def]
    out = _tag(
        resources,
        ["Приложение постоянно crashes при оплате, please fix. Мой номер +7 916 123-45-67"],
    )
    row = out.iloc[0]
    assert row[schema.LANG] == "mixed"
    assert "[PHONE]" in row[schema.TEXT_CLEAN] and "916" not in row[schema.TEXT_CLEAN]
    assert "usability" in row[schema.TOPICS]


def test_pipeline_empty_emoji_and_question_rows(resources) -> None:  # type: ignore[no-untyped-def]
    texts = ["", "😡😡😡", "👍", "Подскажите, до скольки работает пункт выдачи?", "ок"]
    out = _tag(resources, texts)
    assert len(out) == len(texts) and out[schema.ID].tolist() == ["0", "1", "2", "3", "4"]
    empty, angry, thumbs, question, ok = (out.iloc[i] for i in range(5))
    assert empty[schema.SENTIMENT] == "" and empty[schema.TOPICS] == []
    assert angry[schema.SENTIMENT] == "negative"
    assert thumbs[schema.SENTIMENT] == "positive"
    assert question[schema.SENTIMENT] == "neutral"
    assert "other" not in question[schema.TOPICS]
    assert ok[schema.ROW_STATUS] == "ok"


def test_pipeline_contract_columns_and_flat_output(resources, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from cx_text.io.output import write_frame

    out = _tag(resources, ["Курьер вежливый, но опоздал", "Great prices!"])
    for col in schema.TAG_COLUMNS:
        assert col in out.columns
    path = write_frame(out, tmp_path / "t.csv")
    flat = pd.read_csv(path, encoding="utf-8-sig", keep_default_na=False)
    assert ";" in flat[schema.TOPICS].iloc[0] or flat[schema.TOPICS].iloc[0] in {
        "delivery",
        "staff",
    }
    assert ":" in flat[schema.ASPECT_SENTIMENTS].iloc[0]


@pytest.mark.xfail(strict=True, reason="known weakness: Russian idiom; docs/ROADMAP.md §1")
def test_pipeline_known_hard_case(resources) -> None:  # type: ignore[no-untyped-def]
    text = "Цены просто космос, за эти деньги можно найти лучше"
    assert _tag(resources, [text]).iloc[0][schema.SENTIMENT] == "negative"


def test_pipeline_litotes_alone(resources) -> None:  # type: ignore[no-untyped-def]
    """Borderline for e5-small-cx: right in torch bf16 (the default on AMX-BF16 CPUs), but the
    int8 build's dynamic activation scales depend on the batch, and alone it reads positive."""
    if resources.encoder.precision == "onnx-int8":
        pytest.xfail("int8 embeddings depend on the batch (docs/ROADMAP.md §1 item 7)")
    text = "Не очень быстро, ждали доставку почти неделю"
    assert _tag(resources, [text]).iloc[0][schema.SENTIMENT] == "negative"


@pytest.mark.parametrize(
    ("text", "sentiment", "aspects", "no_subtopics"),
    [
        # issue #13, as a new user tried them
        ("Цены выросли в два раза, ухожу к конкурентам", "negative", {"pricing": "negative"}, ()),
        ("Курьер опоздал на два часа", "negative", {"delivery": "negative"}, ()),
        ("курьер хамил", None, {"staff": "negative"}, ()),
        (
            "Приложение не глючит, не тормозит",
            "positive",
            {"usability": "positive"},
            ("usability/crash", "usability/speed"),
        ),
        ("Доставили без опозданий", None, {"delivery": "positive"}, ("delivery/late",)),
    ],
)
def test_pipeline_rules_regression_table(
    resources,
    text: str,
    sentiment: str | None,  # type: ignore[no-untyped-def]
    aspects: dict[str, str],
    no_subtopics: tuple[str, ...],
) -> None:
    row = _tag(resources, [text]).iloc[0]
    if sentiment:
        assert row[schema.SENTIMENT] == sentiment
    got = {a["topic"]: a["polarity"] for a in row[schema.ASPECT_SENTIMENTS]}
    assert {t: got.get(t) for t in aspects} == aspects
    assert "positive" not in {got[t] for t in got if t not in aspects} or sentiment != "negative"
    assert not set(no_subtopics) & set(row[schema.SUBTOPICS])


def test_pipeline_prepare_ahead_worker_gives_identical_output(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Opt-in overlap (Settings.workers=2): the language layer of the next chunk runs in a
    spawned worker; the output must be exactly the in-process output."""
    from cx_text.classify.tagger import build_tagger
    from cx_text.engines.local import tag_file

    src = tmp_path / "in.csv"
    texts = [
        "Курьер вежливый, но опоздал",
        "Checkout crashes again",
        "",
        "Цены выросли",
        "ok 👍",
    ] * 24
    pd.DataFrame({"id": [f"m{i}" for i in range(len(texts))], "text": texts}).to_csv(
        src, index=False
    )
    outs = []
    for workers in (1, 2):
        settings = Settings(workers=workers, chunk_size=30)
        out = tmp_path / f"out{workers}.parquet"
        tag_file(src, out, build_tagger(settings), settings, manifest={}, progress=False)
        outs.append(pd.read_parquet(out))
    cols = ["id", "text_clean", "lang", "sentiment", "topics", "aspect_sentiments", "row_status"]
    assert outs[0][cols].astype(str).equals(outs[1][cols].astype(str))
