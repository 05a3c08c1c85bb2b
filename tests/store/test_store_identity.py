"""Store identity and run outcomes: messages keyed by (source, id), error rows and failed runs never
replace good tags, discarding a run, migrating a version-4 store, the BI views' contract."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from cx_text.store.schema import MIGRATIONS
from cx_text.store.store import Store, migrate, open_store
from cx_text.store.views import (
    LABELED_MESSAGES_COLUMNS,
    LABELED_TOPICS_COLUMNS,
    MESSAGE_TOPICS_COLUMNS,
    MESSAGES_COLUMNS,
)
from tests.error_codes import cli_error, raises_code
from tests.store.test_store import _tagged


def _run(
    st: Store, source: str, frame: pd.DataFrame, status: str = "complete", chunk: int = 0
) -> str:
    run = st.begin_run({}, f"/exports/{source}.csv", f"fp-{source}", source=source)
    st.append_chunk(run, chunk, frame)
    st.finish_run(run, {}, status=status)
    return run


def _texts(st: Store) -> dict[tuple[str, str], str]:
    rows = st.query("SELECT source, id, text_clean FROM messages").itertuples(index=False)
    return {(r.source, r.id): r.text_clean for r in rows}


def test_store_identity_overlapping_exports_add_messages(tmp_path: Path) -> None:
    with open_store(tmp_path / "s.duckdb") as st:
        ids = [str(i) for i in range(1, 51)]
        _run(st, "export_a", _tagged(ids).assign(text_clean=[f"A{i}" for i in ids]))
        _run(st, "export_b", _tagged(ids).assign(text_clean=[f"B{i}" for i in ids]))
        texts = _texts(st)
        assert len(texts) == 100 == st.query("SELECT count(*) AS n FROM tagged")["n"].iloc[0]
        assert texts[("export_a", "7")] == "A7" and texts[("export_b", "7")] == "B7"
        assert st.query("SELECT count(*) AS n FROM latest_aspects")["n"].iloc[0] == 100


def test_store_identity_retagging_a_source_supersedes_only_its_own_tags(tmp_path: Path) -> None:
    with open_store(tmp_path / "s.duckdb") as st:
        _run(st, "a", _tagged(["1", "2"]))
        _run(st, "b", _tagged(["1"]))
        _run(st, "a", _tagged(["1"], sentiment="positive", topic="staff"))
        got = st.query("SELECT source, id, sentiment FROM messages ORDER BY ALL").values.tolist()
        assert got == [["a", "1", "positive"], ["a", "2", "negative"], ["b", "1", "negative"]]
        topics = st.query(
            "SELECT source, id, topic, polarity FROM message_topics ORDER BY ALL"
        ).values.tolist()
        assert topics == [
            ["a", "1", "staff", "positive"],
            ["a", "2", "delivery", "negative"],
            ["b", "1", "delivery", "negative"],
        ]


def test_store_identity_error_rows_never_replace_good_tags(tmp_path: Path) -> None:
    with open_store(tmp_path / "s.duckdb") as st:
        _run(st, "a", _tagged(["1", "2"]))
        again = _tagged(["1", "2"], sentiment="positive")
        again.loc[0, "row_status"] = "error: RuntimeError: model exploded"
        again.loc[0, "sentiment"] = ""
        _run(st, "a", again)
        got = st.query("SELECT id, sentiment, row_status FROM messages ORDER BY id").values.tolist()
        assert got == [["1", "negative", "ok"], ["2", "positive", "ok"]]
        _run(st, "c", _tagged(["9"]).assign(row_status="error: boom", sentiment=""))
        assert _texts(st).keys() >= {("c", "9")}  # only error rows: still visible, never lost


@pytest.mark.parametrize("status", ["failed", "running", "interrupted"])
def test_store_identity_unfinished_or_failed_run_is_never_latest(
    tmp_path: Path, status: str
) -> None:
    with open_store(tmp_path / "s.duckdb") as st:
        _run(st, "a", _tagged(["1"]))
        _run(st, "a", _tagged(["1"], sentiment="positive"), status=status)
        assert st.query("SELECT sentiment FROM messages")["sentiment"].tolist() == ["negative"]


def test_store_identity_repeated_ids_are_all_kept(tmp_path: Path) -> None:
    with open_store(tmp_path / "s.duckdb") as st:
        run = st.begin_run({}, "dup.csv", "fp")
        st.append_chunk(run, 0, _tagged(["1", "2", "1"]))
        st.append_chunk(run, 1, _tagged(["1", "1#2"]), first_row=3)
        st.finish_run(run, {})
        rows = st.query("SELECT id, row_issues FROM tags ORDER BY row_index")
    assert rows["id"].tolist() == ["1", "2", "1#2", "1#3", "1#2#2"]
    assert "kept as '1#3'" in " ".join(rows["row_issues"].iloc[3])


def test_store_identity_finish_records_counts_and_reason(tmp_path: Path) -> None:
    with open_store(tmp_path / "s.duckdb") as st:
        run = st.begin_run({}, "a.csv", "fp")
        st.append_chunk(run, 0, _tagged(["1", "2"]).assign(row_status=["ok", "error: x"]))
        st.finish_run(run, {"rows_in": 2}, status="failed", note="1 of 2 rows failed")
        row = st.list_runs().iloc[0]
    assert (row["source"], row["status"], row["rows_in"], row["rows_out"], row["errors"]) == (
        "a",
        "failed",
        2,
        2,
        1,
    )
    assert row["status_note"] == "1 of 2 rows failed"


def test_store_identity_discard_removes_a_failed_runs_rows(tmp_path: Path) -> None:
    with open_store(tmp_path / "s.duckdb") as st:
        good = _run(st, "a", _tagged(["1"]))
        bad = _run(st, "a", _tagged(["1", "2"]), status="failed")
        removed = st.discard_run(bad)
        assert removed == {"feedback": 2, "tags": 2, "aspects": 2, "evidence": 2, "run_chunks": 1}
        assert st.query("SELECT count(*) AS n FROM tags WHERE run_id = ?", [bad])["n"].iloc[0] == 0
        assert st.run_status(bad) == "discarded" and len(_texts(st)) == 1
        with raises_code("CX-E060", "superseded"):
            st.discard_run(good)
        with raises_code("CX-E060", "runs list"):
            st.discard_run("no-such-run")


def _v4_store(path: Path) -> None:
    """A store as version 4 wrote it: one feedback row per id across exports (the old bug)."""
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR, applied_at "
        "TIMESTAMP)"
    )
    for version, name, sql in MIGRATIONS[:4]:
        assert isinstance(sql, str)
        con.execute(sql)
        con.execute("INSERT INTO schema_migrations VALUES (?, ?, now())", [version, name])
    for run, file, started in (
        ("r1", "/data/Export A.csv", "2026-01-01"),
        ("r2", "C:\\x\\export_b.xlsx", "2026-01-02"),
        ("r3", "", "2026-01-03"),
    ):
        con.execute(
            "INSERT INTO runs VALUES (?, ?, ?, 'complete', ?, 'fp', 2, '{}', '{}')",
            [run, started, started, file],
        )
    con.execute(
        "INSERT INTO feedback VALUES ('1', 'text of B', '2026-01-01', 'app', 'zendesk', 3, NULL, "
        "NULL, NULL, "
        "'c1', 'vip', '{\"order\": 7}', 'r1', 'r2'), ('2', 'only A', NULL, NULL, NULL, NULL, "
        "NULL, NULL, NULL, "
        "NULL, NULL, NULL, 'r1', 'r1'), ('9', 'from r3', NULL, NULL, NULL, NULL, NULL, NULL, "
        "NULL, NULL, NULL, "
        "NULL, 'r3', 'r3')"
    )
    for run, ids in (("r1", ["1", "2"]), ("r2", ["1"]), ("r3", ["9"])):
        for k, i in enumerate(ids):
            con.execute(
                "INSERT INTO tags VALUES (?, ?, ?, 'ru', 0.9, 'negative', -0.5, ['delivery'], "
                "[], NULL, [], "
                "NULL, 'ok', [])",
                [run, i, k],
            )
            con.execute("INSERT INTO aspects VALUES (?, ?, 'delivery', 'negative', -0.5)", [run, i])
    con.execute(
        "INSERT INTO theme_memberships VALUES ('th1', 'r1', '2', 'delivery', 'c', 0, 1, 'ru', "
        "'delivery:t001', 0.9)"
    )
    con.execute(
        "INSERT INTO themes (theme_id, topic, label, status) VALUES ('delivery:t001', "
        "'delivery', 'late', 'active')"
    )
    con.close()


def test_store_identity_migrates_a_version_4_store_without_losing_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    _v4_store(path)
    with open_store(path) as st:
        sources = dict(st.query("SELECT run_id, source FROM runs").values.tolist())
        assert sources == {"r1": "export_a", "r2": "export_b", "r3": "legacy"}
        feedback = st.query(
            "SELECT run_id, source, id, text, source_system, extra FROM feedback ORDER BY ALL"
        )
        assert len(feedback) == 4  # one row per (run, id) the store had tags for
        assert feedback[["run_id", "id"]].values.tolist() == [
            ["r1", "1"],
            ["r1", "2"],
            ["r2", "1"],
            ["r3", "9"],
        ]
        assert feedback["source_system"].iloc[0] == "zendesk" and json.loads(
            feedback["extra"].iloc[0]
        ) == {"order": 7}
        assert sorted(_texts(st)) == [
            ("export_a", "1"),
            ("export_a", "2"),
            ("export_b", "1"),
            ("legacy", "9"),
        ]
        assert st.query("SELECT source, id FROM theme_members").values.tolist() == [
            ["export_a", "2"]
        ]
        assert st.query("SELECT count(*) AS n FROM tags")["n"].iloc[0] == 4


def _columns(st: Store, view: str) -> list[tuple[str, str]]:
    return [
        (str(n), str(t))
        for n, t in st.query(f"DESCRIBE {view}")[["column_name", "column_type"]].values
    ]


@pytest.mark.parametrize("make", ["fresh", "migrated-from-v4"])
def test_store_identity_bi_views_keep_their_columns(tmp_path: Path, make: str) -> None:
    path = tmp_path / "s.duckdb"
    if make != "fresh":
        _v4_store(path)
    with open_store(path) as st:
        # the contract only grows at the end: migration 6 added the analysts' corrections
        assert _columns(st, "messages") == [*MESSAGES_COLUMNS, *LABELED_MESSAGES_COLUMNS]
        assert _columns(st, "message_topics") == [*MESSAGE_TOPICS_COLUMNS, *LABELED_TOPICS_COLUMNS]


def test_store_identity_migration_is_atomic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "old.duckdb"
    _v4_store(path)
    import cx_text.store.upgrade as upgrade

    def broken(con: object) -> None:  # dies after doing all of migration 5's work
        upgrade.upgrade_to_v5(con)
        raise RuntimeError("disk full")

    con = duckdb.connect(str(path))
    monkeypatch.setattr("cx_text.store.store.MIGRATIONS", (*MIGRATIONS[:4], (5, "v5", broken)))
    with pytest.raises(RuntimeError):
        migrate(con)
    assert con.execute("SELECT max(version) FROM schema_migrations").fetchone() == (4,)
    assert con.execute("SELECT count(*) FROM feedback").fetchone() == (3,)
    assert "last_run_id" in [r[0] for r in con.execute("DESCRIBE feedback").fetchall()]
    con.close()


def test_store_identity_cli_runs_list_and_discard(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cx_text.cli.main import main

    db = tmp_path / "s.duckdb"
    with open_store(db) as st:
        good = _run(st, "crm", _tagged(["1"]))
        bad = _run(st, "crm", _tagged(["1", "2"]), status="failed")
    main(["runs", "list", "--db", str(db)])
    listed = capsys.readouterr().out
    assert good in listed and bad in listed and "failed" in listed and "crm" in listed
    main(["runs", "discard", bad, "--db", str(db)])
    assert f"discarded run {bad}: removed feedback 2, tags 2" in capsys.readouterr().out
    with pytest.raises(SystemExit) as refused:
        main(["runs", "discard", good, "--db", str(db)])
    assert refused.value.code == 2 and cli_error(capsys.readouterr().err, "CX-E060", "superseded")
    with open_store(db, read_only=True) as st:
        assert st.list_runs()["status"].tolist() == ["complete", "discarded"]


def test_store_identity_error_rows_never_store_unmasked_text(tmp_path: Path) -> None:
    failed = (
        _tagged(["1", "2"]).drop(columns=["text_clean"]).assign(row_status="error: RuntimeError: x")
    )
    failed["text"] = ["Звоните +7 916 123-45-67", "mail me a@b.ru"]  # the model never masked these
    with open_store(tmp_path / "s.duckdb") as st:
        _run(st, "a", failed)
        assert st.query("SELECT count(*) AS n FROM feedback WHERE text IS NULL")["n"].iloc[0] == 2
        assert st.query("SELECT count(*) AS n FROM messages")["n"].iloc[0] == 2  # the rows are kept
