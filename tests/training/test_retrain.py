"""Retraining on an organisation's labels: versions, checksums, the held-back split, new topics,
reading labels — all on tiny data with a fake embedder (no encoder)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from cx_text.classify import load_heads
from cx_text.core.config import SHIPPED_MODELS_DIR, Settings
from cx_text.core.errors import ConfigError, IngestError, ModelError
from cx_text.models.versions import (
    HELD_BACK,
    check_version,
    held_back_ids,
    label_roles,
    list_versions,
    version_info,
)
from cx_text.training.labels import normalize_labels, read_labels, split_roles
from cx_text.training.retrain import retrain
from tests.training.retrain_support import base_frame, fake_embed, loyalty_taxonomy, org_labels


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    return Settings(cache_dir=tmp_path / "cache", taxonomy_path=loyalty_taxonomy(tmp_path))


def _train(settings: Settings, name: str, labels: pd.DataFrame | None = None):
    labels = normalize_labels(org_labels() if labels is None else labels)
    return retrain(settings, labels, base_frame(), fake_embed, name=name)


def test_retrain_writes_a_version_with_checksums(settings: Settings) -> None:
    result = _train(settings, "acme-1")
    rec = result.record
    assert result.directory == settings.cache_dir / "versions" / "acme-1"
    assert rec["parent"] == "shipped" and rec["new_topics"] == ["loyalty"]
    assert (
        rec["labels"]["total"] == 60 and rec["labels"]["trained"] + rec["labels"]["held_back"] == 60
    )
    assert 9 <= rec["labels"]["held_back"] <= 15  # ~20 %
    assert rec["trained_on"]["by_origin"]["labels"] > 0 and len(rec["trained_on"]["sha256"]) == 64
    assert "heads/topics.safetensors" in rec["files"] and "taxonomy.yaml" in rec["files"]
    registry = (result.directory / "registry.toml").read_text(encoding="utf-8")
    assert 'path = "heads/topics.safetensors"' in registry
    infos = list_versions(settings)
    assert [i.name for i in infos] == ["shipped", "acme-1"] and all(i.status == "ok" for i in infos)
    with (result.directory / "heads" / "topics.json").open("a", encoding="utf-8") as fh:
        fh.write(" ")
    assert version_info(result.directory).status == "checksum mismatch"
    with pytest.raises(ModelError, match="checksums"):
        check_version(settings.for_version("acme-1"))


def test_retrain_new_topic_gets_a_head_column(settings: Settings) -> None:
    result = _train(settings, "acme-1")
    heads = load_heads(result.directory / "heads")
    assert heads["topics"].labels[-1] == "loyalty"
    shipped = load_heads(SHIPPED_MODELS_DIR / "heads")
    assert "loyalty" not in shipped["topics"].labels  # shipped is untouched
    x = fake_embed(["great points", "bad courier"])
    decided = heads["topics"].decide(heads["topics"].predict_proba(x))
    col = heads["topics"].labels.index("loyalty")
    assert decided[0][col] and not decided[1][col]
    assert "aspect_loyalty" in heads  # 20 trained polarity labels ≥ 10


def test_retrain_held_back_split_is_stable_across_retrains(settings: Settings) -> None:
    _train(settings, "acme-1")
    first = held_back_ids(settings, "acme-1")
    more = pd.concat([org_labels(), org_labels(30, prefix="new")], ignore_index=True)
    _train(settings, "acme-2", more)
    second = held_back_ids(settings, "acme-2")
    assert first <= second  # once held back, always
    trained_before = {
        k for k, v in label_roles(settings).items() if v != HELD_BACK and k.startswith("msg")
    }
    assert not trained_before & second  # once trained, never held back
    assert any(i.startswith("new") for i in second)  # new labels are split too


def test_retrain_split_roles_is_seeded_and_stratified() -> None:
    labels = normalize_labels(org_labels(100))
    a, b = split_roles(labels, {}, 0.2, 13), split_roles(labels, {}, 0.2, 13)
    assert a == b and split_roles(labels, {}, 0.2, 14) != a
    held = labels[labels["id"].map(a) == HELD_BACK]
    assert sum(bool(t) and t[0] == "loyalty" for t in held["topics"]) in (6, 7)  # 20 % of 34


def test_retrain_refuses_unknown_topics_and_taken_names(settings: Settings) -> None:
    bad = org_labels()
    bad["topics"] = [["wormholes"], *bad["topics"].iloc[1:]]
    with pytest.raises(IngestError, match="wormholes"):
        _train(settings, "acme-x", bad)
    _train(settings, "acme-1")
    with pytest.raises(ConfigError, match="already exists"):
        _train(settings, "acme-1")


def test_retrain_settings_pick_a_version_and_go_back(settings: Settings) -> None:
    _train(settings, "acme-1")
    env = {"CX_TEXT_CACHE": str(settings.cache_dir), "CX_TEXT_MODEL_VERSION": "acme-1"}
    tuned = Settings.from_env(env)
    assert tuned.models_dir == settings.cache_dir / "versions" / "acme-1"
    assert tuned.taxonomy_path.name == "taxonomy.yaml"  # its own taxonomy copy
    assert check_version(tuned) is not None
    back = tuned.for_version("shipped")
    assert back.models_dir == SHIPPED_MODELS_DIR and back.taxonomy_path.name == "default.yaml"
    assert check_version(back) is None
    with pytest.raises(ModelError, match="does not exist"):
        check_version(settings.for_version("nope"))
    other = tuned.with_(model_version="acme-2")  # version to version
    assert other.models_dir == settings.cache_dir / "versions" / "acme-2"
    assert other.with_(model_version="shipped").models_dir == SHIPPED_MODELS_DIR


def test_retrain_reads_labels_files(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "id": ["1", "2"],
            "text": ["Баллы не начислили", "ok"],
            "sentiment": ["negative", ""],
            "topics": ["loyalty", ""],
            "aspect_sentiments": ["loyalty:negative", ""],
        }
    )
    path = tmp_path / "labels.csv"
    frame.to_csv(path, index=False)
    labels = read_labels(path)
    assert labels["topics"].tolist() == [["loyalty"], []] and labels["sentiment"].tolist() == [
        "negative",
        "",
    ]
    assert labels["aspects"][0] == {"loyalty": "negative"}
    with pytest.raises(IngestError, match="does not exist"):
        read_labels(tmp_path / "missing.xlsx")


def test_retrain_store_without_labels_is_a_clear_error(tmp_path: Path) -> None:
    from cx_text.store.store import open_store

    db = tmp_path / "cx.duckdb"
    with open_store(db):
        pass
    with pytest.raises(IngestError, match="labels"):
        read_labels(db)


def test_retrain_reads_a_stores_labels(tmp_path: Path) -> None:
    """The store route: an analyst's corrections in the store become training labels; a
    sentiment-only correction leaves the topics unlabelled (not "no topic")."""
    from cx_text.store.labels import add_label
    from cx_text.store.store import open_store
    from tests.store.test_labels import tag_run

    db = tmp_path / "cx.duckdb"
    tag_run(db, {"m1": "Курьер опоздал на два часа", "m2": "Всё хорошо"})
    with open_store(db) as store:
        add_label(store, "export_a", "m1", "topics", ["delivery"], who="anna")
        add_label(store, "export_a", "m1", "polarity", "negative", topic="delivery", who="anna")
        add_label(store, "export_a", "m2", "sentiment", "positive", who="anna")
    labels = read_labels(db).set_index("id")
    assert labels.loc["export_a:m1", "topics"] == ["delivery"]
    assert labels.loc["export_a:m1", "aspects"] == {"delivery": "negative"}
    assert labels.loc["export_a:m2", "sentiment"] == "positive"
    assert labels.loc["export_a:m2", "topics"] is None  # not labelled, so not trained as "none"
