"""Classifiers on hand-built features: contrast clauses, rules, 'other', evidence, user topics."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from cx_text.classify import Classifier, Clause, MessageFeatures
from cx_text.classify.heads import Head
from cx_text.core.taxonomy import parse_taxonomy

# feature axes of the toy embedding space: 0 delivery, 1 staff, 2 polarity (+ positive), 3 other
E = np.eye(4, dtype=np.float32)


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v)).astype(np.float32)


@dataclass(frozen=True)
class Hit:
    label: str
    clause_index: int
    start: int
    end: int
    terms: tuple[str, ...] = ()
    negated: bool = False


def _heads() -> dict[str, Head]:
    sent_w = np.stack([-6 * E[2], np.zeros(4), 6 * E[2]]).astype(np.float32)
    topics_w = np.stack([8 * E[0], 8 * E[1], 8 * E[3]]).astype(np.float32)
    return {
        "sentiment": Head(
            "sentiment",
            "softmax",
            ("negative", "neutral", "positive"),
            ((sent_w, np.array([0.0, 2.5, 0.0], np.float32)),),
        ),
        "topics": Head(
            "topics",
            "sigmoid",
            ("delivery", "staff", "other"),
            ((topics_w, np.full(3, -4.0, np.float32)),),
            thresholds=(0.5, 0.5, 0.5),
        ),
    }


TAXONOMY = parse_taxonomy(
    {
        "version": "t1",
        "topics": [
            {"id": "delivery", "names": {"en": "Delivery"}, "cues": {"ru": ["опоздать"]}},
            {"id": "staff", "names": {"en": "Staff"}, "cues": {"ru": ["вежливый"]}},
            {"id": "wifi", "names": {"en": "Wi-Fi"}, "cues": {"en": ["wifi"]}},
            {"id": "other", "names": {"en": "Other"}},
        ],
    }
)


def _classify(feats: list[MessageFeatures]) -> dict[str, list]:
    return Classifier(_heads(), TAXONOMY).classify(feats, ["x"] * len(feats))


def test_classify_contrast_clauses_get_opposite_polarities() -> None:
    text = "Курьер вежливый, но опоздал"
    clauses = (Clause("Курьер вежливый,", 0, 16), Clause("но опоздал", 17, 27))
    clause_vecs = np.stack([_unit(E[1] + E[2]), _unit(E[0] - E[2])])
    feat = MessageFeatures(
        _unit(E[0] + E[1]),
        clauses,
        clause_vecs,
        (
            Hit("staff", 0, 7, 15, terms=("вежливый",)),
            Hit("delivery", 1, 20, 27, terms=("опоздал",)),
        ),
    )
    out = _classify([feat])
    assert set(out["topics"][0]) == {"delivery", "staff"}
    polarity = {a["topic"]: a["polarity"] for a in out["aspect_sentiments"][0]}
    assert polarity == {"staff": "positive", "delivery": "negative"}
    ev = {e["topic"]: e for e in out["evidence"][0]}
    assert ev["delivery"]["clause"] == "но опоздал" and ev["delivery"]["terms"] == ["опоздал"]
    assert (
        ev["staff"]["source"] == "rule"
        and text[ev["staff"]["start"] : ev["staff"]["end"]] == clauses[0].text
    )


def test_classify_long_message_takes_a_topic_one_window_speaks_of() -> None:
    """A long message's whole vector averages its windows: staff, said in one window of three,
    fades below the cut there, and the window's own vector brings it back. Short messages (no
    windows) are scored on their whole vector as before."""
    staff_window = _unit(E[1] - E[2])
    quiet = _unit(E[2] * 0.1 + E[3] * 0.01)
    whole = _unit(staff_window + 2 * quiet)
    one = (Clause("long text", 0, 9),)
    plain = MessageFeatures(whole, one)
    assert "staff" not in _classify([plain])["topics"][0]
    long = MessageFeatures(whole, one, window_embeddings=np.stack([quiet, staff_window, quiet]))
    together = _classify([plain, long, plain])
    assert "staff" in together["topics"][1]
    assert together["topics"][0] == together["topics"][2] == _classify([plain])["topics"][0]
    assert together["topic_scores"][1]["staff"] > together["topic_scores"][0]["staff"]


def _courier(lean: float, *hits: Hit) -> MessageFeatures:
    """«Курьер вежливый, но опоздал» (staff +, delivery −) whose message vector leans
    positive by ``lean``."""
    return MessageFeatures(
        _unit(E[0] + E[1] + lean * E[2]),
        (Clause("Курьер вежливый,", 0, 16), Clause("но опоздал", 17, 27)),
        np.stack([_unit(E[1] + E[2]), _unit(E[0] - E[2])]),
        (
            Hit("staff", 0, 7, 15, terms=("вежливый",)),
            Hit("delivery", 1, 20, 27, terms=("опоздал",)),
            *hits,
        ),
    )


@pytest.mark.parametrize(
    ("lean", "hits", "label"),
    [
        (0.4, (), "neutral"),  # mixed, the head fairly sure (score ~0.7): a three-star message
        (1.0, (), "positive"),  # the head near-certain (score >= 0.9): kept
        (0.4, (Hit("@churn_threat", 1, 20, 27),), "negative"),  # a churn threat decides
    ],
)
def test_classify_mixed_message_is_neutral(lean: float, hits: tuple, label: str) -> None:
    heads = _heads()
    sure = heads["sentiment"]
    weights = np.stack([-12 * E[2], np.zeros(4), 12 * E[2]]).astype(np.float32)
    heads["sentiment"] = Head(sure.name, sure.kind, sure.labels, ((weights, sure.layers[0][1]),))
    out = Classifier(heads, TAXONOMY).classify([_courier(lean, *hits)], ["x"])
    polarity = {a["topic"]: a["polarity"] for a in out["aspect_sentiments"][0]}
    assert polarity == {"staff": "positive", "delivery": "negative"}
    assert out["sentiment"][0] == label
    if label == "neutral":
        assert 0.5 < out["sentiment_score"][0] < 0.9  # the lean is kept in the score


def test_classify_one_sided_message_keeps_its_sentiment() -> None:
    feat = MessageFeatures(
        _unit(E[1] + E[2]),
        (Clause("Курьер вежливый", 0, 15),),
        matches=(Hit("staff", 0, 7, 15, terms=("вежливый",)),),
    )
    out = _classify([feat])
    assert out["sentiment"][0] == "positive"
    assert [a["polarity"] for a in out["aspect_sentiments"][0]] == ["positive"]


def test_classify_batch_gives_each_message_what_it_gets_alone() -> None:
    """Clause probabilities come from one head call per batch: a message among others (one-
    and multi-clause, in any order) gets the topics, owners and evidence it gets alone."""
    two = (Clause("Курьер вежливый,", 0, 16), Clause("но опоздал", 17, 27))
    feats = [
        MessageFeatures(
            _unit(E[0] + E[1]),
            two,
            np.stack([_unit(E[1] + E[2]), _unit(E[0] - E[2])]),
            (Hit("staff", 0, 7, 15, terms=("вежливый",)),),
        ),
        MessageFeatures(_unit(E[0] - E[2]), (Clause("опоздал", 0, 7),)),
        MessageFeatures(
            _unit(E[0] + E[1]),
            two,
            np.stack([_unit(E[0] + E[2]), _unit(E[1] - E[2])]),
        ),
    ]
    together = _classify(feats)
    for i, feat in enumerate(feats):
        alone = _classify([feat])
        for key in ("topics", "aspect_sentiments", "evidence"):
            assert together[key][i] == alone[key][0], (i, key)
    owners = {e["topic"]: e["clause"] for e in together["evidence"][2]}
    assert owners == {"delivery": "Курьер вежливый,", "staff": "но опоздал"}


def test_classify_user_topic_with_only_cues_is_found_by_rules() -> None:
    feat = MessageFeatures(
        _unit(E[2] + 0.1 * E[3]),
        (Clause("wifi is great", 0, 13),),
        None,
        (Hit("wifi", 0, 0, 4, terms=("wifi",)),),
    )
    out = _classify([feat])
    assert out["topics"][0] == ["wifi"]
    assert out["aspect_sentiments"][0] == [
        {"topic": "wifi", "polarity": "positive", "score": pytest.approx(0.97, abs=0.02)}
    ]


@pytest.mark.parametrize(
    ("vec", "expected"),
    [
        (_unit(E[2] + E[3]), ["other"]),  # opinion on nothing specific: "Всё супер!"
        (_unit(-E[2] + E[3]), ["other"]),  # complaint about nothing specific: "ужас"
        (0.9 * E[3], []),  # `other` signal but neutral: "Номер заказа 4821"
        (0.05 * E[0], []),  # no opinion, faint topic signal
    ],
)
def test_classify_other_only_for_opinions(vec: np.ndarray, expected: list[str]) -> None:
    out = _classify([MessageFeatures(vec.astype(np.float32), (Clause("t", 0, 1),))])
    assert out["topics"][0] == expected


def test_classify_rule_lifts_borderline_model_score() -> None:
    # delivery logit = 8*0.45 - 4 = -0.4 -> p 0.40: below 0.5, above the rule floor 0.25
    vec = (0.45 * E[0] + 0.5 * E[2]).astype(np.float32)
    feat = MessageFeatures(
        vec, (Clause("опоздал", 0, 7),), None, (Hit("delivery", 0, 0, 7, terms=("опоздал",)),)
    )
    without_rule = _classify([MessageFeatures(vec, (Clause("опоздал", 0, 7),))])
    assert "delivery" not in without_rule["topics"][0]
    assert "delivery" in _classify([feat])["topics"][0]


def test_classify_empty_batch_gives_empty_columns() -> None:
    out = _classify([])
    assert all(v == [] for v in out.values())


@pytest.mark.parametrize(
    ("text", "content"),
    [
        ("Здравствуйте!", False),
        ("Добрый день.", False),
        ("Ставлю 2.", False),
        ("Thanks, team", False),
        ("Отправлено с iPhone", False),
        ("Курьер опоздал", True),
        ("The box was crushed", True),
    ],
)
def test_classify_greetings_are_not_evidence_content(text: str, content: bool) -> None:
    from cx_text.core.lang import has_content

    assert has_content(text) is content


# -------------------------------------------------------------------- rules on top of the heads
RULED = parse_taxonomy(
    {
        "version": "t2",
        "topics": [
            {
                "id": "delivery",
                "names": {"en": "Delivery"},
                "cues": {"ru": ["доставка"]},
                "subtopics": [
                    {
                        "id": "late",
                        "polarity": "negative",
                        "cues": {"ru": ["опоздать", "опоздание"]},
                    },
                    {"id": "tracking", "cues": {"ru": ["трек"]}},
                ],
            },
            {
                "id": "staff",
                "names": {"en": "Staff"},
                "cues": {"ru": ["курьер"]},
                "subtopics": [
                    {"id": "rude", "polarity": "negative", "cues": {"ru": ["хамить"]}},
                    {"id": "polite", "polarity": "positive", "cues": {"ru": ["вежливый"]}},
                ],
            },
            {"id": "other", "names": {"en": "Other"}},
        ],
    }
)


def _ruled(feats: list[MessageFeatures], **extra: Head) -> dict[str, list]:
    return Classifier({**_heads(), **extra}, RULED).classify(feats, ["x"] * len(feats))


def _aspect_head(name: str, w_neg: np.ndarray, w_pos: np.ndarray) -> Head:
    """A polarity head without a neutral class to speak of: P(neutral) ~ 0."""
    w = np.stack([w_neg, np.zeros(4), w_pos]).astype(np.float32)
    return Head(
        name,
        "softmax",
        ("negative", "neutral", "positive"),
        ((w, np.array([0.0, -8.0, 0.0], np.float32)),),
    )


@pytest.mark.parametrize(
    ("case", "vec", "hits", "expected"),
    [
        # "Доставили без опозданий": the head leans negative, the negated 'late' cue says positive
        (
            "negated late",
            _unit(E[0] - 0.3 * E[2]),
            [Hit("delivery/late", 0, 14, 23, ("опозданий",), negated=True)],
            {"delivery": "positive"},
        ),
        # "Курьер опоздал": the head leans positive, the 'late' cue decides negative
        (
            "late",
            _unit(E[0] + 0.3 * E[2]),
            [Hit("delivery/late", 0, 7, 14, ("опоздал",))],
            {"delivery": "negative"},
        ),
        # "курьер хамил": rude is negative whatever the head says
        (
            "rude",
            _unit(E[1] + 0.2 * E[2]),
            [Hit("staff/rude", 0, 7, 12, ("хамил",))],
            {"staff": "negative"},
        ),
        # a sub-topic without a polarity leaves the head's decision alone
        (
            "tracking",
            _unit(E[0] + E[2]),
            [Hit("delivery/tracking", 0, 0, 4, ("трек",))],
            {"delivery": "positive"},
        ),
        # "вежливый, но хамил" in one clause: one positive and one negative vote -> the head decides
        (
            "split votes",
            _unit(E[1] + E[2]),
            [Hit("staff/polite", 0, 0, 8, ("вежливый",)), Hit("staff/rude", 0, 13, 18, ("хамил",))],
            {"staff": "positive"},
        ),
    ],
)
def test_classify_subtopic_polarity_rules(
    case: str, vec: np.ndarray, hits: list[Hit], expected: dict[str, str]
) -> None:
    out = _ruled([MessageFeatures(vec, (Clause("t", 0, 30),), None, tuple(hits))])
    polarity = {a["topic"]: a["polarity"] for a in out["aspect_sentiments"][0]}
    assert {t: polarity[t] for t in expected} == expected, case


@pytest.mark.parametrize(
    ("hit", "subtopics"),
    [
        (Hit("delivery/late", 0, 14, 23, ("опозданий",), negated=True), []),  # "без опозданий"
        (Hit("delivery/late", 0, 7, 14, ("опоздал",)), ["delivery/late"]),
    ],
)
def test_classify_negated_cue_gives_the_topic_not_the_subtopic(
    hit: Hit, subtopics: list[str]
) -> None:
    out = _ruled([MessageFeatures(_unit(E[0] + 0.2 * E[2]), (Clause("t", 0, 30),), None, (hit,))])
    assert "delivery" in out["topics"][0] and out["subtopics"][0] == subtopics


def test_classify_unsure_aspect_follows_a_confident_message_in_one_clause() -> None:
    # "Курьер опоздал на два часа": the message is clearly negative; staff came out weakly positive
    vec = _unit(0.8 * E[0] + 0.8 * E[1] - E[2])
    staff = _aspect_head("aspect_staff", np.zeros(4), E[1])  # P(pos) ~ 0.58: weakly positive
    feats = [
        MessageFeatures(
            vec,
            (Clause("Курьер опоздал на два часа", 0, 26),),
            None,
            (Hit("delivery/late", 0, 7, 14, ("опоздал",)),),
        )
    ]
    assert {
        a["polarity"]
        for a in _ruled(feats, aspect_staff=staff)["aspect_sentiments"][0]
        if a["topic"] == "staff"
    } == {"negative"}
    out = _ruled(feats)
    polarity = {a["topic"]: a["polarity"] for a in out["aspect_sentiments"][0]}
    assert out["sentiment"][0] == "negative" and set(polarity.values()) == {"negative"}


@pytest.mark.parametrize(
    ("marker", "staff_vec", "flips"),
    [
        ("но", _unit(E[1] - 0.05 * E[2]), True),  # strong marker, unsure head -> flipped
        ("а", _unit(E[1] - 0.05 * E[2]), False),  # "а" is not a strong contrast
        ("но", _unit(E[1] - 1.0 * E[2]), False),
    ],  # the head is sure: no flip
)
def test_classify_contrast_flip_only_strong_markers_and_unsure_heads(
    marker: str, staff_vec: np.ndarray, flips: bool
) -> None:
    clauses = (
        Clause("курьер какой-то", 0, 15),
        Clause("опоздал на час", 16 + len(marker), 40, marker),
    )
    feat = MessageFeatures(
        _unit(E[0] + E[1]),
        clauses,
        np.stack([staff_vec, _unit(E[0] - E[2])]),
        (Hit("staff", 0, 0, 6, ("курьер",)), Hit("delivery", 1, 20, 27, ("опоздал",))),
    )
    staff = _aspect_head("aspect_staff", -6 * E[2], 6 * E[2])
    out = Classifier({**_heads(), "aspect_staff": staff}, TAXONOMY).classify([feat], ["x"])
    polarity = {a["topic"]: a["polarity"] for a in out["aspect_sentiments"][0]}
    assert polarity["delivery"] == "negative"
    assert polarity["staff"] == ("positive" if flips else "negative")


def test_classify_churn_threat_makes_the_message_negative() -> None:
    vec = _unit(
        0.5 * E[3] + E[2]
    )  # the head: positive ("Цены выросли в два раза, ухожу к конкурентам")
    plain = MessageFeatures(vec, (Clause("t", 0, 40),))
    threat = MessageFeatures(
        vec, (Clause("t", 0, 40),), None, (Hit("@churn_threat", 0, 23, 44, ("ухожу",)),)
    )
    negated = MessageFeatures(
        vec,
        (Clause("t", 0, 40),),
        None,
        (Hit("@churn_threat", 0, 23, 44, ("ухожу",), negated=True),),
    )
    out = _classify([plain, threat, negated])
    assert out["sentiment"] == ["positive", "negative", "positive"]
    assert out["sentiment_score"][1] <= -0.5
    assert all("@churn_threat" not in t for t in out["topics"])


def test_classify_signal_patterns_are_not_topics() -> None:
    from cx_text.classify.signals import cue_patterns

    patterns = cue_patterns(RULED)
    assert "@churn_threat" in patterns and "delivery/late" in patterns
    assert any("конкурент" in c for c in patterns["@churn_threat"])
