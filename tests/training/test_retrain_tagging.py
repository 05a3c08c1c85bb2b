"""Tagging end to end with a trained version and its taxonomy (a new topic): the real encoder and
language layer, heads of a version trained on tiny data (slow: loads e5-small and natasha)."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pandas as pd
import pytest

from cx_text.core import schema
from cx_text.core.config import Settings
from cx_text.training.labels import normalize_labels
from cx_text.training.retrain import retrain
from tests.training.retrain_support import base_frame, fake_embed, loyalty_taxonomy, org_labels

REAL_CACHE = Settings().cache_dir


@pytest.mark.slow
@pytest.mark.skipif(
    not (REAL_CACHE / "models" / "e5-small").is_dir(), reason="e5-small is not prepared"
)
def test_retrain_tagging_with_a_version_and_its_new_topic(tmp_path: Path) -> None:
    from cx_text.classify.tagger import Resources, tag_frame

    cache = tmp_path / "cache"
    cache.mkdir()
    for sub in ("models", "onnx"):  # the prepared encoder, not a rebuild
        if (REAL_CACHE / sub).is_dir():
            (cache / sub).symlink_to(REAL_CACHE / sub)
    settings = Settings(cache_dir=cache, taxonomy_path=loyalty_taxonomy(tmp_path))
    retrain(
        settings,
        normalize_labels(org_labels()),
        base_frame(),
        partial(fake_embed, dim=384),
        name="acme-1",
    )
    tuned = Settings.from_env({"CX_TEXT_CACHE": str(cache), "CX_TEXT_MODEL_VERSION": "acme-1"})
    res = Resources.load(tuned)
    assert res.taxonomy.topic_ids[-1] == "loyalty"
    assert res.classifier.heads["topics"].labels[-1] == "loyalty"
    texts = ["Бонусные баллы за покупку так и не начислили", "The courier was two hours late"]
    frame = pd.DataFrame(
        {
            schema.ID: ["1", "2"],
            schema.TEXT: texts,
            schema.ROW_STATUS: schema.STATUS_OK,
            schema.ROW_ISSUES: [[], []],
        }
    )
    tagged = tag_frame(frame, res)
    assert tagged[schema.ROW_STATUS].tolist() == [schema.STATUS_OK] * 2
    # heads fitted on a fake embedder say nothing true about e5 vectors: check the wiring only —
    # the version's head scores the new topic for every message
    assert all("loyalty" in dict(scores) for scores in tagged[schema.TOPIC_SCORES])
    manifest = res.manifest()
    assert (
        manifest["model_version"] == "acme-1" and manifest["settings"]["model_version"] == "acme-1"
    )
    version = next(m for m in manifest["models"] if m["kind"] == "model-version")
    assert version["name"] == "acme-1" and version["checksum"].startswith("sha256:")
