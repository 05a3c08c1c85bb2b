"""Before/after of a model version on the labels it held back: the per-label table on a
constructed case, and that only held-back labels are tagged (fake tagging, no encoder)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from cx_text.core.config import Settings
from cx_text.models.versions import held_back_ids
from cx_text.training.before_after import before_after, evaluate_version
from cx_text.training.labels import normalize_labels
from cx_text.training.retrain import retrain
from tests.training.retrain_support import base_frame, fake_embed, loyalty_taxonomy, org_labels


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    return Settings(cache_dir=tmp_path / "cache", taxonomy_path=loyalty_taxonomy(tmp_path))


def test_before_after_on_a_constructed_case() -> None:
    gold = normalize_labels(
        pd.DataFrame(
            {
                "id": ["a", "b", "c", "d"],
                "text": ["t"] * 4,
                "sentiment": ["negative", "positive", "", "negative"],
                "topics": [["loyalty"], ["delivery"], None, []],
                "aspects": [{"loyalty": "negative"}, {"delivery": "positive"}, {}, {}],
            }
        )
    )
    before = pd.DataFrame(
        {
            "sentiment": ["positive", "positive", "neutral", "negative"],
            "topics": [[], ["delivery"], [], []],
            "aspect_sentiments": [[], [{"topic": "delivery", "polarity": "negative"}], [], []],
        }
    )
    after = pd.DataFrame(
        {
            "sentiment": ["negative", "positive", "neutral", "negative"],
            "topics": [["loyalty"], ["delivery"], ["pricing"], []],
            "aspect_sentiments": [
                [{"topic": "loyalty", "polarity": "negative"}],
                [{"topic": "delivery", "polarity": "positive"}],
                [],
                [],
            ],
        }
    )
    table = before_after(gold, before, after, ("delivery", "pricing", "loyalty")).set_index(
        ["kind", "label"]
    )
    assert table.loc[("sentiment", "macro-F1"), "n"] == 3  # c has no sentiment label
    assert table.loc[("sentiment", "negative"), "before"] == pytest.approx(2 / 3)
    assert table.loc[("sentiment", "negative"), "after"] == pytest.approx(1.0)
    assert table.loc[("topic", "loyalty"), ["before", "after"]].tolist() == [0.0, 1.0]
    assert table.loc[("topics", "micro-F1"), "n"] == 3  # c's topics unlabelled
    assert table.loc[("polarity", "delivery"), ["before", "after"]].tolist() == [0.0, 1.0]
    assert table.loc[("polarity", "loyalty"), "change"] == pytest.approx(1.0)
    assert ("topic", "pricing") not in table.index  # no gold support


def test_before_after_evaluate_version_compares_on_held_back_only(settings: Settings) -> None:
    labels = normalize_labels(org_labels())
    retrain(settings, labels, base_frame(), fake_embed, name="acme-1")
    seen: list[tuple[str, int]] = []

    def tag(s: Settings, frame: pd.DataFrame) -> pd.DataFrame:
        seen.append((s.model_version, len(frame)))
        n = len(frame)
        return pd.DataFrame(
            {"sentiment": ["neutral"] * n, "topics": [[]] * n, "aspect_sentiments": [[]] * n}
        )

    report = evaluate_version(settings, labels, "acme-1", tag=tag)
    held = held_back_ids(settings, "acme-1")
    assert seen == [("shipped", len(held)), ("acme-1", len(held))]
    assert report.n_held_back == len(held) and report.n_trained == 60 - len(held)
    assert "before (shipped) vs after (acme-1)" in report.render()
