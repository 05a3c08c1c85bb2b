"""Local streaming engine: rows in = rows out, order, failing rows isolated, resume after a
crash."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from cx_text.core import schema
from cx_text.core.config import Settings
from cx_text.core.errors import CxTextError
from cx_text.engines.local import PartsDir, tag_file, tag_safely
from cx_text.store.store import open_store
from cx_text.testing import KeywordTagger
from tests.error_codes import raises_code

TEXTS = [
    "Курьер опоздал на 3 часа",
    "Great app, fast checkout",
    "",
    "😡😡😡",
    "ok",
    "Цены кусаются",
    "Support never answered",
    "Доставили быстро, спасибо",
    "meh",
    "Приложение вылетает",
] * 5


TAGGER = KeywordTagger(every_type=True)  # every nested type goes through the parts and the store


@pytest.fixture
def export(tmp_path: Path) -> Path:
    path = tmp_path / "export.csv"
    pd.DataFrame(
        {
            "review_id": [f"r{i}" for i in range(len(TEXTS))],
            "text": TEXTS,
            "nps": [i % 11 for i in range(len(TEXTS))],
        }
    ).to_csv(path, index=False)
    return path


def _run(export: Path, out: Path, tagger=TAGGER, **kw: object) -> object:
    settings = Settings(chunk_size=7)
    return tag_file(
        export, out, tagger, settings, manifest={"fingerprint": "toy"}, progress=False, **kw
    )


def test_engine_local_rows_in_equal_rows_out_in_order(export: Path, tmp_path: Path) -> None:
    out = tmp_path / "tagged.parquet"
    summary = _run(export, out, db_path=tmp_path / "cx.duckdb")
    back = pd.read_parquet(out)
    assert len(back) == len(TEXTS) == summary.rows_out == summary.rows_in  # type: ignore[attr-defined]
    assert back["id"].tolist() == [f"r{i}" for i in range(len(TEXTS))]
    assert summary.by_status["empty"] == 5  # type: ignore[attr-defined]
    assert not PartsDir(out).path.exists()
    with open_store(tmp_path / "cx.duckdb") as st:
        assert st.query("SELECT count(*) n FROM tagged")["n"].iloc[0] == len(TEXTS)
        assert st.runs()["status"].tolist() == ["complete"]


def test_engine_local_failing_row_gets_error_status(export: Path, tmp_path: Path) -> None:
    out = tmp_path / "tagged.csv"
    _run(export, out, tagger=KeywordTagger(fail_on="meh", every_type=True))
    back = pd.read_csv(out, encoding="utf-8-sig", keep_default_na=False)
    assert len(back) == len(TEXTS)
    bad = back[back[schema.TEXT] == "meh"]
    assert len(bad) == 5 and bad[schema.ROW_STATUS].str.startswith("error: RuntimeError").all()
    assert (back[back[schema.TEXT] != "meh"][schema.ROW_STATUS].isin(["ok", "empty"])).all()


def test_engine_local_resume_after_crash_gives_identical_output(
    export: Path, tmp_path: Path
) -> None:
    calls = {"n": 0}

    def crashing(chunk: pd.DataFrame) -> pd.DataFrame:
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt  # like Ctrl-C / a kill mid-run
        return TAGGER(chunk)

    out, ref = tmp_path / "tagged.parquet", tmp_path / "ref.parquet"
    with pytest.raises(KeyboardInterrupt):
        _run(export, out, tagger=crashing, db_path=tmp_path / "cx.duckdb")
    assert PartsDir(out).indexes() == [0, 1, 2]
    with open_store(tmp_path / "cx.duckdb") as st:
        assert st.runs()["status"].tolist() == ["interrupted"]
        assert st.runs()["status_note"].iloc[0].startswith("KeyboardInterrupt")
        assert (
            st.query("SELECT count(*) n FROM messages")["n"].iloc[0] == 0
        )  # never visible half-done
    with raises_code("CX-E080", "--resume"):
        _run(export, out, db_path=tmp_path / "cx.duckdb")
    summary = _run(export, out, resume=True, db_path=tmp_path / "cx.duckdb")
    assert summary.resumed_chunks == 3  # type: ignore[attr-defined]
    assert summary.status == "complete"  # type: ignore[attr-defined]
    _run(export, ref)
    ref_frame = pd.read_parquet(ref)
    pd.testing.assert_frame_equal(pd.read_parquet(out), ref_frame)
    with open_store(tmp_path / "cx.duckdb") as st:
        assert st.query("SELECT count(*) n FROM tags")["n"].iloc[0] == len(TEXTS)
        # chunks replayed from Parquet parts keep their list columns (not silently emptied)
        stored = st.query("SELECT topics, subtopics FROM tags ORDER BY row_index")
        assert stored["topics"].map(list).tolist() == ref_frame[schema.TOPICS].map(list).tolist()
        assert stored["subtopics"].map(len).sum() == 10  # the courier and delivery messages
        assert st.query("SELECT count(*) n FROM aspects")["n"].iloc[0] == len(
            TEXTS
        )  # one per message
        assert st.query("SELECT count(*) n FROM evidence")["n"].iloc[0] == 10


def test_engine_local_tag_safely_keeps_user_errors_loud() -> None:
    def needs_model(chunk: pd.DataFrame) -> pd.DataFrame:
        raise CxTextError("model missing", "run cx-text models prepare")

    with pytest.raises(CxTextError):
        tag_safely(needs_model, pd.DataFrame({schema.TEXT: ["a"]}))


@pytest.mark.parametrize(("share", "status"), [(0.10, "complete"), (0.05, "failed")])
def test_engine_local_too_many_failed_rows_fail_the_run(
    export: Path, tmp_path: Path, share: float, status: str
) -> None:
    fragile = KeywordTagger(fail_on="meh", every_type=True)  # 5 of 50 rows fail: 10 %
    db = tmp_path / "cx.duckdb"
    _run(export, tmp_path / "first.parquet", db_path=db)
    summary = tag_file(
        export,
        tmp_path / "out.parquet",
        fragile,
        Settings(chunk_size=7, max_error_share=share),
        manifest={"fingerprint": "toy"},
        progress=False,
        db_path=db,
    )
    assert summary.status == status and summary.rows_out == len(TEXTS)
    assert ("5 of 50 rows (10.0%) failed" in (summary.status_note or "")) is (status == "failed")
    with open_store(db) as st:
        runs = st.list_runs()
        assert runs["status"].tolist() == ["complete", status] and runs["errors"].tolist() == [0, 5]
        latest = st.query("SELECT count(DISTINCT run_id) AS n, count(*) AS m FROM messages").iloc[0]
        assert latest["m"] == len(TEXTS)
        assert latest["n"] == (1 if status == "failed" else 2)  # good rows of a complete run win


def test_engine_local_messages_keyed_by_source(export: Path, tmp_path: Path) -> None:
    db = tmp_path / "cx.duckdb"
    first = _run(export, tmp_path / "a.parquet", db_path=db)
    second = _run(export, tmp_path / "b.parquet", db_path=db, source="Second Export")
    assert (first.source, second.source) == ("export", "second_export")  # type: ignore[attr-defined]
    with open_store(db) as st:
        assert st.query(
            "SELECT source, count(*) AS n FROM messages GROUP BY 1 ORDER BY 1"
        ).values.tolist() == [["export", len(TEXTS)], ["second_export", len(TEXTS)]]
        manifest = st.query("SELECT manifest FROM runs ORDER BY started_at")["manifest"].iloc[1]
        assert '"source": "second_export"' in manifest and '"input_sha256"' in manifest


def test_engine_local_resume_refuses_other_source(export: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.parquet"
    calls = {"n": 0}

    def crashing(chunk: pd.DataFrame) -> pd.DataFrame:
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return TAGGER(chunk)

    with pytest.raises(KeyboardInterrupt):
        _run(export, out, tagger=crashing)
    with raises_code("CX-E080", "options"):
        _run(export, out, resume=True, source="another")


@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_engine_local_first_chunk_all_errors_still_writes_every_row(
    export: Path, tmp_path: Path, suffix: str
) -> None:
    def cold_start(chunk: pd.DataFrame) -> pd.DataFrame:  # the model fails on the first chunk only
        if chunk.index.max() < 7:  # every retry of a piece of chunk 0 fails too
            raise RuntimeError("model not warmed up")
        return TAGGER(chunk)

    out = tmp_path / f"tagged.{suffix}"
    summary = tag_file(
        export,
        out,
        cold_start,
        Settings(chunk_size=7, max_error_share=0.5),
        manifest={"fingerprint": "toy"},
        progress=False,
        db_path=tmp_path / "cx.duckdb",
    )
    back = pd.read_parquet(out) if suffix == "parquet" else pd.read_csv(out, encoding="utf-8-sig")
    assert len(back) == len(TEXTS) == summary.rows_out
    assert back[schema.ROW_STATUS].astype(str).str.startswith("error").sum() == 7
    assert (
        back[schema.LANG].notna().sum() == len(TEXTS) - 7
    )  # the model's columns kept for the rest
    assert summary.status == "complete"


def _model_evidence(chunk: pd.DataFrame) -> pd.DataFrame:
    """The fake's tags; on texts marked "(model)" the evidence is what the real tagger gives a
    topic only its head found: ``source="model"``, no terms, no spans."""
    out = KeywordTagger(fail_on="💥", every_type=True)(chunk)
    out[schema.EVIDENCE] = [
        [
            {**e, "terms": [], "spans": [], "source": "model"} if "(model)" in e["clause"] else e
            for e in items
        ]
        for items in out[schema.EVIDENCE]
    ]
    return out


@pytest.mark.parametrize(
    "first_chunk",
    [
        pytest.param(["Great app", "Всё отлично"], id="no-evidence"),
        pytest.param(["Курьер 💥", "courier 💥"], id="every-row-failed"),
        pytest.param(["Доставка (model)", "delivery (model)"], id="model-evidence-only"),
    ],
)
def test_engine_local_evidence_spans_survive_whatever_the_first_chunk_holds(
    tmp_path: Path, first_chunk: list[str]
) -> None:
    """Evidence ``spans`` (the cue words' offsets, as the real tagger writes them) round-trip
    through the parts and the Parquet output even when the first chunk, which fixes the output
    schema, has no evidence, only failed rows, or only model evidence (``spans: []``)."""
    export = tmp_path / "export.csv"
    texts = [*first_chunk, "Курьер опоздал", "The courier was late"]
    pd.DataFrame({"text": texts}).to_csv(export, index=False)
    out = tmp_path / "tagged.parquet"
    settings = Settings(chunk_size=2, max_error_share=0.5)
    tag_file(
        export, out, _model_evidence, settings, manifest={"fingerprint": "toy"}, progress=False
    )
    spans = [
        [None if e.get("spans") is None else [[int(x) for x in s] for s in e["spans"]] for e in ev]
        for ev in pd.read_parquet(out)[schema.EVIDENCE]
    ]
    assert spans[2:] == [[[[0, 6]]], [[[4, 11]]]]
    assert spans[:2] == ([[[]], [[]]] if "(model)" in first_chunk[0] else [[], []])


def test_engine_local_tagger_output_is_validated_at_the_boundary() -> None:
    """A tagger that loses a row's status is a bug: the run stops with a SchemaError (CX-E030)
    instead of storing rows no view can classify."""
    from cx_text.core.errors import SchemaError
    from cx_text.engines.local import tag_safely

    chunk = pd.DataFrame({schema.TEXT: ["a", "b"], schema.ROW_STATUS: ["ok", "ok"]})

    def careless(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(**{schema.ROW_STATUS: ["ok", None]})

    with pytest.raises(SchemaError) as err:
        tag_safely(careless, chunk)
    assert err.value.code == "CX-E030"
    assert tag_safely(lambda f: f.copy(), chunk)[schema.ROW_STATUS].tolist() == ["ok", "ok"]


def _interrupted_run(export: Path, tmp_path: Path) -> tuple[Path, PartsDir, str]:
    """A run killed after two chunks: its store rows are invisible, its work folder is left."""
    calls = {"n": 0}

    def crashing(chunk: pd.DataFrame) -> pd.DataFrame:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return TAGGER(chunk)

    db, out = tmp_path / "cx.duckdb", tmp_path / "tagged.parquet"
    with pytest.raises(KeyboardInterrupt):
        _run(export, out, tagger=crashing, db_path=db)
    with open_store(db) as st:
        run_id = str(st.list_runs()["run_id"].iloc[0])
    return db, PartsDir(out), run_id


def test_engine_local_discard_removes_the_runs_rows_and_work_folder(
    export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cx_text.cli.main import main

    db, work, run_id = _interrupted_run(export, tmp_path)
    assert work.indexes() == [0, 1]
    main(["runs", "discard", run_id, "--db", str(db)])
    said = capsys.readouterr().out
    assert (
        f"discarded run {run_id}: removed feedback 14" in said and "removed the work folder" in said
    )
    assert not work.path.exists() and (tmp_path / "export.csv").exists()


@pytest.mark.parametrize("tamper", ["foreign-file", "other-run", "symlink"])
def test_engine_local_discard_keeps_a_work_folder_it_does_not_own(
    export: Path, tmp_path: Path, tamper: str
) -> None:
    from cx_text.engines.base import discard_run

    db, work, run_id = _interrupted_run(export, tmp_path)
    keep = tmp_path / "keep"
    if tamper == "foreign-file":
        (work.path / "notes.txt").write_text("mine")
    elif tamper == "other-run":
        work.start("another-fingerprint", "another-run")
    else:
        keep.mkdir()
        (keep / "state.json").write_text(f'{{"run_id": "{run_id}"}}')
        work.remove()
        work.path.symlink_to(keep, target_is_directory=True)
    with open_store(db) as st:
        removed, said = discard_run(st, run_id)
        assert st.run_status(run_id) == "discarded" and removed["feedback"] == 14
    assert said.startswith("kept") and work.path.exists()
    assert tamper != "symlink" or (keep / "state.json").exists()
