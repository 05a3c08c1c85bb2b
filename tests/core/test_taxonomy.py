"""Taxonomy loading and validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from cx_text.core.taxonomy import load_taxonomy, parse_taxonomy
from tests.error_codes import raises_code

CONTRACT_IDS = ("delivery", "staff", "pricing", "usability", "quality", "support", "other")


def test_taxonomy_default_has_contract_ids_and_version() -> None:
    tax = load_taxonomy()
    assert tax.topic_ids == CONTRACT_IDS
    assert tax.version and len(tax.checksum) == 64
    assert "delivery/late" in tax.subtopic_ids()


@pytest.mark.parametrize("topic_id", CONTRACT_IDS[:-1])
def test_taxonomy_default_topics_have_cues_in_both_languages(topic_id: str) -> None:
    topic = load_taxonomy().topic(topic_id)
    assert topic.cues["ru"] and topic.cues["en"]
    assert topic.name("ru") != topic.name("en")


def test_taxonomy_cue_patterns_include_subtopics() -> None:
    patterns = load_taxonomy().cue_patterns()
    assert "курьер" in patterns["delivery"]
    assert "late" in patterns["delivery/late"]
    assert "other" not in patterns  # no cues: model only


def _minimal(**topic: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": "wifi",
        "names": {"ru": "Вайфай", "en": "Wi-Fi"},
        "cues": {"en": ["wifi"]},
    }
    base.update(topic)
    return {"version": "1", "topics": [base]}


def test_taxonomy_user_topic_with_only_cues_is_valid() -> None:
    tax = parse_taxonomy(_minimal())
    assert tax.topic_ids == ("wifi",)
    assert tax.cue_patterns() == {"wifi": ["wifi"]}


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"topics": [{"id": "a", "names": {"en": "A"}}]}, "'version'"),
        ({"version": "1", "topics": []}, "'topics'"),
        (_minimal(id="Bad Id"), "Bad Id"),
        (_minimal(names="Wi-Fi"), "names"),
        (_minimal(cues={"de": ["wlan"]}), "'de'"),
        (_minimal(cues={"en": "wifi"}), "cues"),
        (_minimal(subtopics=[{"id": "x"}, {"id": "x"}]), "sub-topic"),
        ({"version": "1", "topics": [_minimal()["topics"][0]] * 2}, "topic ids"),  # type: ignore[index]
    ],
)
def test_taxonomy_invalid_gives_pointed_error(data: dict[str, object], fragment: str) -> None:
    with raises_code("CX-E040", fragment):
        parse_taxonomy(data, source="my.yaml")


def test_taxonomy_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with raises_code("CX-E040", "nope.yaml"):
        load_taxonomy(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\ntopics: [\n", encoding="utf-8")
    with raises_code("CX-E040", "YAML"):
        load_taxonomy(bad)


def test_taxonomy_unknown_topic_lists_known() -> None:
    with raises_code("CX-E040", "delivery"):
        load_taxonomy().topic("wifi")
