"""Real-data loaders and seeded samples: label mappings, stratified banking77 dev/test."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from cx_text.training.sampling import capped, stratified_sample
from cx_text.training.sources import (
    held_out,
    load_banking77,
    load_mams,
    load_sources,
    merge_groups,
)

INTENTS = ["card_arrival", "exchange_rate", "request_refund", "lost_card", "top_up_failed"]


def _banking(n_per_intent: int) -> pd.DataFrame:
    # sorted by intent, as the real files are
    return pd.DataFrame(
        {
            "text": [f"{i} query {k}" for i in INTENTS for k in range(n_per_intent)],
            "category": [i for i in INTENTS for _ in range(n_per_intent)],
        }
    )


def test_sources_stratified_sample_is_seeded_and_even():
    data = _banking(40)
    sample = stratified_sample(data, "category", 52, seed=13)
    assert len(sample) == 52
    counts = sample["category"].value_counts()
    assert counts.max() - counts.min() <= 1 and set(counts.index) == set(INTENTS)
    assert sample.equals(stratified_sample(data, "category", 52, seed=13))
    assert not sample.equals(stratified_sample(data, "category", 52, seed=14))
    assert list(sample.index) == sorted(sample.index)


def test_sources_stratified_sample_small_groups_give_their_share():
    data = pd.concat([_banking(30), pd.DataFrame({"text": ["rare"], "category": ["rare"]})])
    sample = stratified_sample(data.reset_index(drop=True), "category", 31, seed=1)
    assert len(sample) == 31 and (sample["category"] == "rare").sum() == 1


def test_sources_banking77_eval_splits_are_stratified(tmp_path: Path):
    from cx_text.training.corpus import load_banking77 as corpus_banking77
    from cx_text.training.run import _eval_sample

    _banking(200).to_csv(tmp_path / "train.csv", index=False)
    _banking(40).to_csv(tmp_path / "test.csv", index=False)
    frame = corpus_banking77(tmp_path)
    test = _eval_sample(frame[frame["split"] == "test"], 100, seed=13)
    assert len(test) == 100 and test["intent"].value_counts().to_dict() == dict.fromkeys(
        INTENTS, 20
    )
    dev = _eval_sample(frame[frame["split"] == "dev"], 50, seed=13)
    assert dev["intent"].nunique() == len(INTENTS)
    real = load_banking77(tmp_path)
    assert (real["split"] == "test").sum() == 200  # fewer rows than the 1,001 sample: all
    refund = real[real["text"].str.startswith("request_refund")].iloc[0]
    assert refund["topics"] == ["support"] and refund["aspects"] == {}  # no polarity claimed


def test_sources_mams_scope_and_disagreeing_polarity(tmp_path: Path):
    xml = """<sentences><sentence><text>Food great, service slow, staff lovely.</text>
      <aspectCategories><aspectCategory category="food" polarity="positive"/>
      <aspectCategory category="service" polarity="negative"/>
      <aspectCategory category="staff" polarity="positive"/>
      <aspectCategory category="ambience" polarity="negative"/></aspectCategories>
      </sentence></sentences>"""
    for part in ("train", "val", "test"):
        (tmp_path / f"MAMS-ACSA_{part}.xml").write_text(xml, encoding="utf-8")
    frame = load_mams(tmp_path)
    row = frame.iloc[0]
    assert row["topics"] == ["quality", "staff"] and row["aspects"] == {"quality": "positive"}
    assert row["topic_scope"] == ("staff", "pricing", "quality") and row["sentiment"] == ""
    assert sorted(frame["split"]) == ["dev", "test", "train"]


@pytest.mark.parametrize(
    ("groups", "expected"),
    [
        (["positive", "neutral"], "positive"),
        (["negative", "ambiguous"], "negative"),
        (["positive", "negative"], ""),
        (["neutral"], "neutral"),
        (["ambiguous"], ""),
    ],
)
def test_sources_merge_groups(groups: list[str], expected: str):
    assert merge_groups(groups) == expected


def test_sources_families_and_corpus_scope():
    assert held_out("goemotions") == held_out("ru_goemotions") == ("goemotions", "ru_goemotions")
    assert held_out("cebab") == ("cebab",)
    data = load_sources(None, ("delivery", "staff"))
    assert set(data["origin"]) == {"corpus"} and data["topic_scope"].iloc[0] == (
        "delivery",
        "staff",
    )


def test_sources_capped_is_seeded():
    data = _banking(10).rename(columns={"category": "origin"})
    a, b = capped(data, {"exchange_rate": 3}, 5), capped(data, {"exchange_rate": 3}, 5)
    assert a.equals(b) and (a["origin"] == "exchange_rate").sum() == 3 and len(a) == 43
