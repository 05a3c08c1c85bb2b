"""The Models page through AppTest: versions listed, switch to a trained version, re-tag the store
with it (the runs table then says which version tagged what), and go back to shipped.
No model is loaded: keyword tagger and fake embedder plug-ins, a version trained on tiny data."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from cx_text.app.models import runs_by_version, versions_table
from cx_text.core.config import Settings
from cx_text.store.store import open_store
from cx_text.training.labels import normalize_labels
from cx_text.training.retrain import retrain
from tests.app.test_app_support import build_demo_store
from tests.training.retrain_support import base_frame, fake_embed, org_labels

APP = Path(__file__).resolve().parents[2] / "cx_text" / "app" / "streamlit" / "main.py"


@pytest.fixture()
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Settings]:
    db = build_demo_store(tmp_path / "demo.duckdb", n=300, themes=False)
    settings = Settings(cache_dir=tmp_path / "cache")
    labels = org_labels()
    labels["topics"] = [["delivery"] if t else t for t in labels["topics"]]  # the default taxonomy
    labels["aspects"] = [
        {"delivery": next(iter(a.values()))} if a else {} for a in labels["aspects"]
    ]
    retrain(settings, normalize_labels(labels), base_frame(), fake_embed, name="acme-1")
    for key, value in (
        ("CX_TEXT_DB", str(db)),
        ("CX_TEXT_CACHE", str(settings.cache_dir)),
        ("CX_TEXT_APP_TAGGER", "tests.app.test_app_support:keyword_tagger"),
        ("CX_TEXT_APP_EMBED", "tests.app.test_app_support:fake_embed"),
    ):
        monkeypatch.setenv(key, value)
    return db, settings


def test_app_models_versions_table_lists_shipped_and_trained(setup: tuple[Path, Settings]) -> None:
    table = versions_table(setup[1])
    assert table["version"].tolist() == ["shipped", "acme-1"]
    assert table["in_use"].tolist() == [True, False] and table.loc[1, "labels_trained"] > 0


def test_app_models_switch_retag_and_go_back(setup: tuple[Path, Settings]) -> None:
    db, _ = setup
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    at.switch_page("views/models.py").run()
    assert not at.exception and not at.error
    assert "acme-1" in at.dataframe[0].value["version"].tolist()
    at.selectbox(key="mv_choice").select("acme-1").run()
    at.button(key="mv_switch").click().run()
    assert at.session_state["model_version"] == "acme-1"
    at.button(key="mv_retag").click().run()
    assert not at.exception and not at.error
    with open_store(db, read_only=True) as store:
        runs = runs_by_version(store)
    assert runs["model_version"].iloc[0] == "acme-1" and "shipped" in runs["model_version"].tolist()
    with open_store(db, read_only=True) as store:
        count = store.query("SELECT count(*) AS n FROM messages")["n"].iloc[0]
    assert count == 300  # re-tagging loses no message
    at.button(key="mv_back").click().run()
    assert at.session_state["model_version"] == "shipped"
    shutil.rmtree(setup[1].cache_dir / "versions" / "acme-1")  # a user can always go back
    at.run()
    assert not at.exception and at.selectbox(key="mv_choice").options == ["shipped"]
