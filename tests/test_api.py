"""The library API: ``cx_text.load().tag(df)``, ``cx_text.tag_file``, ``cx_text.open_store``.

Most tests use ``cx_text.testing.fake_tagger`` (no models); one slow test runs the README's
library example against the real prepared models.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import cx_text
from cx_text.testing import fake_tagger

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture()
def tagger(tmp_path: Path) -> cx_text.Tagger:
    return fake_tagger(cx_text.Settings(db_path=tmp_path / "s.duckdb"))


def test_api_tag_any_column_name_rows_in_equal_rows_out(tagger: cx_text.Tagger) -> None:
    df = pd.DataFrame(
        {
            "ticket": ["a", "b", "c"],
            "comment": ["Курьер не приехал", "Great app", ""],
            "Оценка NPS": [3, 42, 10],
        }
    )
    before = df.copy()
    out = tagger.tag(df, text_col="comment")
    assert len(out) == 3
    pd.testing.assert_frame_equal(df, before)  # input never mutated
    assert out["sentiment"].tolist()[:2] == ["negative", "positive"]
    assert out["lang"].tolist()[:2] == ["ru", "en"]
    # value checks of a file export apply: NPS 42 is flagged, empty text is "empty" …
    assert out.loc[1, "row_status"] == "flagged" and "42" in out.loc[1, "row_issues"][0]
    assert out.loc[2, "row_status"] == "empty"
    # … and the result is the user's frame, names and values as given, plus cx_text's columns
    assert list(out.columns[:3]) == ["ticket", "comment", "Оценка NPS"]
    assert out["Оценка NPS"].tolist() == [3, 42, 10]
    assert "nps" not in out.columns and "text" not in out.columns


def test_api_tag_mapping_and_generated_ids(tagger: cx_text.Tagger) -> None:
    df = pd.DataFrame({"msg": ["one", "two"], "tid": ["7", "7"]})
    out = tagger.tag(df, mapping={"text": "msg", "id": "tid"})
    assert len(out) == 2
    assert "duplicate" in " ".join(map(str, out.loc[1, "row_issues"])).lower()


def test_api_tag_missing_text_column_is_an_actionable_error(tagger: cx_text.Tagger) -> None:
    with pytest.raises(cx_text.IngestError) as err:
        tagger.tag(pd.DataFrame({"foo": ["x"]}), text_col="comment")
    assert err.value.code == "CX-E020" and "comment" in str(err.value)


def test_api_tag_rejects_non_frames(tagger: cx_text.Tagger) -> None:
    with pytest.raises(cx_text.IngestError):
        tagger.tag(["a list"])  # type: ignore[arg-type]


def test_api_tag_texts(tagger: cx_text.Tagger) -> None:
    out = tagger.tag_texts(["Доставка ужас", "fine"])
    assert out["topics"].tolist() == [["delivery"], ["other"]]


def test_api_tag_file_store_and_queries(tagger: cx_text.Tagger, tmp_path: Path) -> None:
    src = tmp_path / "export.csv"
    pd.DataFrame(
        {
            "id": [str(i) for i in range(30)],
            "text": ["Курьер опоздал" if i % 2 else "Great app" for i in range(30)],
            "nps": [i % 11 for i in range(30)],
        }
    ).to_csv(src, index=False)
    db = tmp_path / "s.duckdb"
    summary = cx_text.tag_file(src, tmp_path / "out.parquet", db=db, tagger=tagger)
    assert summary.rows_in == summary.rows_out == 30
    assert len(pd.read_parquet(tmp_path / "out.parquet")) == 30
    store = cx_text.open_store(db)
    assert int(store.sql("SELECT count(*) AS n FROM tagged")["n"].iloc[0]) == 30
    overall = store.metrics()
    assert not overall.empty
    assert len(store.runs()) == 1
    assert store.themes().empty and store.loop_items().empty


def test_api_open_store_labels_survive_a_retag(tagger: cx_text.Tagger, tmp_path: Path) -> None:
    from cx_text.store.labels import add_label
    from cx_text.store.store import open_store as open_db
    from cx_text.training.corpus import LABEL_COLUMNS

    src, db = tmp_path / "export.csv", tmp_path / "s.duckdb"
    pd.DataFrame({"id": ["1", "2"], "text": ["Курьер не приехал", "Great app"]}).to_csv(
        src, index=False
    )
    cx_text.tag_file(src, tmp_path / "out.parquet", db=db, tagger=tagger)
    with open_db(db) as st:
        add_label(st, "export", "1", "sentiment", "neutral", who="anna")
    cx_text.tag_file(src, tmp_path / "out2.parquet", db=db, tagger=tagger)  # re-tag: labels stay
    store = cx_text.open_store(db)
    labels = store.labels()
    assert list(labels.columns[: len(LABEL_COLUMNS)]) == list(LABEL_COLUMNS)
    assert labels[["id", "text", "sentiment"]].values.tolist() == [
        ["export:1", "Курьер не приехал", "neutral"]
    ]
    assert labels["topics"].tolist() == [[]] and labels["topic_scope"].tolist() == [[]]
    assert store.labels(history=True)["old_value"].tolist() == ["negative"]
    assert len(store.runs()) == 2


def test_api_tag_file_unknown_engine(tagger: cx_text.Tagger, tmp_path: Path) -> None:
    with pytest.raises(cx_text.ConfigError):
        cx_text.tag_file(tmp_path / "x.csv", tmp_path / "o.parquet", engine="dask", tagger=tagger)


def test_api_open_store_missing_file(tmp_path: Path) -> None:
    with pytest.raises(cx_text.StoreError):
        cx_text.open_store(tmp_path / "none.duckdb")


def test_api_import_is_cheap() -> None:
    code = (
        "import sys, cx_text; print(sorted(m for m in ('torch', 'transformers', 'natasha', "
        "'duckdb') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.slow
def test_api_readme_library_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's "As a library" block, executed as written, on the real prepared models."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## As a library", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code, "README has no python block under 'As a library'"
    monkeypatch.chdir(tmp_path)
    scope: dict[str, object] = {}
    exec(compile(code.group(1), "README.md", "exec"), scope)
    tagged = scope["tagged"]
    assert isinstance(tagged, pd.DataFrame) and len(tagged) == 2
    assert tagged.loc[0, "lang"] == "ru" and "[PHONE]" in tagged.loc[0, "text_clean"]
    assert "delivery" in tagged.loc[0, "topics"]
