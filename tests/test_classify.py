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
        "sentiment": Head("sentiment", "softmax", ("negative", "neutral", "positive"),
                          ((sent_w, np.array([0.0, 2.5, 0.0], np.float32)),)),
        "topics": Head("topics", "sigmoid", ("delivery", "staff", "other"),
                       ((topics_w, np.full(3, -4.0, np.float32)),), thresholds=(0.5, 0.5, 0.5)),
    }


TAXONOMY = parse_taxonomy({"version": "t1", "topics": [
    {"id": "delivery", "names": {"en": "Delivery"}, "cues": {"ru": ["опоздать"]}},
    {"id": "staff", "names": {"en": "Staff"}, "cues": {"ru": ["вежливый"]}},
    {"id": "wifi", "names": {"en": "Wi-Fi"}, "cues": {"en": ["wifi"]}},
    {"id": "other", "names": {"en": "Other"}},
]})


def _classify(feats: list[MessageFeatures]) -> dict[str, list]:
    return Classifier(_heads(), TAXONOMY).classify(feats, ["x"] * len(feats))


def test_classify_contrast_clauses_get_opposite_polarities() -> None:
    text = "Курьер вежливый, но опоздал"
    clauses = (Clause("Курьер вежливый,", 0, 16), Clause("но опоздал", 17, 27))
    clause_vecs = np.stack([_unit(E[1] + E[2]), _unit(E[0] - E[2])])
    feat = MessageFeatures(_unit(E[0] + E[1]), clauses, clause_vecs,
                           (Hit("staff", 0, 7, 15, terms=("вежливый",)), Hit("delivery", 1, 20, 27, terms=("опоздал",))))
    out = _classify([feat])
    assert set(out["topics"][0]) == {"delivery", "staff"}
    polarity = {a["topic"]: a["polarity"] for a in out["aspect_sentiments"][0]}
    assert polarity == {"staff": "positive", "delivery": "negative"}
    ev = {e["topic"]: e for e in out["evidence"][0]}
    assert ev["delivery"]["clause"] == "но опоздал" and ev["delivery"]["terms"] == ["опоздал"]
    assert ev["staff"]["source"] == "rule" and text[ev["staff"]["start"]:ev["staff"]["end"]] == clauses[0].text


def test_classify_user_topic_with_only_cues_is_found_by_rules() -> None:
    feat = MessageFeatures(_unit(E[2] + 0.1 * E[3]), (Clause("wifi is great", 0, 13),), None,
                           (Hit("wifi", 0, 0, 4, terms=("wifi",)),))
    out = _classify([feat])
    assert out["topics"][0] == ["wifi"]
    assert out["aspect_sentiments"][0] == [{"topic": "wifi", "polarity": "positive", "score": pytest.approx(0.97, abs=0.02)}]


@pytest.mark.parametrize(
    ("vec", "expected"),
    [
        (_unit(E[2] + E[3]), ["other"]),    # opinion on nothing specific: "Всё супер!"
        (_unit(-E[2] + E[3]), ["other"]),   # complaint about nothing specific: "ужас"
        (0.9 * E[3], []),                   # `other` signal but neutral: "Номер заказа 4821"
        (0.05 * E[0], []),                  # no opinion, faint topic signal
    ],
)
def test_classify_other_only_for_opinions(vec: np.ndarray, expected: list[str]) -> None:
    out = _classify([MessageFeatures(vec.astype(np.float32), (Clause("t", 0, 1),))])
    assert out["topics"][0] == expected


def test_classify_rule_lifts_borderline_model_score() -> None:
    # delivery logit = 8*0.45 - 4 = -0.4 -> p 0.40: below 0.5, above the rule floor 0.25
    vec = (0.45 * E[0] + 0.5 * E[2]).astype(np.float32)
    feat = MessageFeatures(vec, (Clause("опоздал", 0, 7),), None, (Hit("delivery", 0, 0, 7, terms=("опоздал",)),))
    without_rule = _classify([MessageFeatures(vec, (Clause("опоздал", 0, 7),))])
    assert "delivery" not in without_rule["topics"][0]
    assert "delivery" in _classify([feat])["topics"][0]


def test_classify_empty_batch_gives_empty_columns() -> None:
    out = _classify([])
    assert all(v == [] for v in out.values())


@pytest.mark.parametrize(
    ("text", "content"),
    [("Здравствуйте!", False), ("Добрый день.", False), ("Ставлю 2.", False), ("Thanks, team", False),
     ("Отправлено с iPhone", False), ("Курьер опоздал", True), ("The box was crushed", True)],
)
def test_classify_greetings_are_not_evidence_content(text: str, content: bool) -> None:
    from cx_text.core.lang import has_content

    assert has_content(text) is content
