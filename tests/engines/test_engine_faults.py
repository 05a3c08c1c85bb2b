"""Faults, as a user meets them with `cx-text tag` in a shell (model-free tagger via
CX_TEXT_TAGGER):

* kill -9 at several points, then ``--resume`` -> the output file and store of an uninterrupted run;
* an export edited after the kill (same size) refuses to resume;
* a re-run whose model fails leaves the previous tags current (run recorded ``failed``, exit 1);
* two processes tagging into one store -> the second fails at once with a clear message and
  writes nothing; ``cx-text runs list`` during a run fails the same way.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from cx_text.engines.parts import PartsDir
from tests.error_codes import cli_error

REPO = Path(__file__).resolve().parents[2]
ROWS, CHUNK = 240, 20  # 12 chunks
TEXTS = [
    "Курьер не позвонил",
    "Great app, fast checkout",
    "",
    "Доставка ужас, курьер опоздал",
    "Support never answered",
    "ок",
]
KILLS = int(os.environ.get("CX_TEXT_FAULT_KILLS", "5"))  # docs/RELIABILITY.md runs more
SEED = int(os.environ.get("CX_TEXT_FAULT_SEED", "20261206"))
STORE_SQL = {
    "messages": "SELECT * EXCLUDE (run_id, tagged_at) FROM messages ORDER BY source, id",
    "message_topics": "SELECT * EXCLUDE (run_id) FROM message_topics ORDER BY ALL",
    "tags": "SELECT * EXCLUDE (run_id) FROM tags ORDER BY row_index",
    "runs": "SELECT source, status, rows_in, rows_out, errors FROM runs ORDER BY started_at",
}


def _export(path: Path, rows: int = ROWS, pad: int = 0) -> Path:
    ids = [f"r{i}" for i in range(rows)]
    ids[rows - 1] = "r0"  # a repeated id in another chunk: kept as r0#2
    pd.DataFrame(
        {
            "id": ids,
            "text": [
                f"{TEXTS[i % len(TEXTS)]} {i}{' ' + 'ж' * pad if pad else ''}"
                if i % len(TEXTS) != 2
                else ""
                for i in range(rows)
            ],
        }
    ).to_csv(path, index=False)
    return path


def _env(tagger: str = "killing", **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CX_TEST_")}
    return {
        **env,
        "PYTHONPATH": str(REPO),
        "CX_TEXT_TAGGER": f"tests.fault_taggers:{tagger}",
        **extra,
    }


def _tag(
    src: Path,
    out: Path,
    db: Path,
    *flags: str,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    args = [
        sys.executable,
        "-m",
        "cx_text",
        "tag",
        str(src),
        "-o",
        str(out),
        "--db",
        str(db),
        "--chunk-size",
        str(CHUNK),
        *flags,
    ]
    return subprocess.run(
        args, capture_output=True, text=True, timeout=300, env=env or _env(), cwd=src.parent
    )


def _popen(src: Path, out: Path, db: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    args = [
        sys.executable,
        "-m",
        "cx_text",
        "tag",
        str(src),
        "-o",
        str(out),
        "--db",
        str(db),
        "--chunk-size",
        str(CHUNK),
    ]
    return subprocess.Popen(
        args,
        env=env,
        cwd=src.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def _store(db: Path) -> dict[str, pd.DataFrame]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {name: con.execute(sql).df() for name, sql in STORE_SQL.items()}
    finally:
        con.close()


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """An uninterrupted run: its output and store contents."""
    base = tmp_path_factory.mktemp("reference")
    src = _export(base / "export.csv")
    done = _tag(src, base / "out.parquet", base / "cx.duckdb")
    assert done.returncode == 0, done.stderr[-2000:]
    return {"output": pd.read_parquet(base / "out.parquet"), "store": _store(base / "cx.duckdb")}


def _kill_points() -> list[tuple[str, int]]:
    """Where to kill: inside the tagger at a random chunk, or from outside once a random number of
    parts exist — the outside kill lands anywhere (part write, store transaction, assembly …)."""
    rng = random.Random(SEED)
    chunks = ROWS // CHUNK
    return [
        ("tagger-call", rng.randrange(chunks))
        if i % 5 < 3
        else ("after-parts", rng.randrange(1, chunks - 1))
        for i in range(KILLS)
    ]


def _killed_run(src: Path, out: Path, db: Path, how: str, at: int) -> None:
    if how == "tagger-call":
        killed = _tag(src, out, db, env=_env(CX_TEST_KILL_AT=str(at)))
        assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
        return
    proc = _popen(src, out, db, _env(CX_TEST_TAGGER_SLEEP="0.05"))
    deadline = time.monotonic() + 120
    while len(PartsDir(out).indexes()) < at and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


@pytest.mark.parametrize(
    ("how", "at"), _kill_points(), ids=[f"{h}-{a}-{i}" for i, (h, a) in enumerate(_kill_points())]
)
def test_engine_faults_kill_9_then_resume_equals_an_uninterrupted_run(
    reference: dict[str, object], tmp_path: Path, how: str, at: int
) -> None:
    src, out, db = (
        _export(tmp_path / "export.csv"),
        tmp_path / "out.parquet",
        tmp_path / "cx.duckdb",
    )
    _killed_run(src, out, db, how, at)
    assert not out.exists() or not PartsDir(out).path.exists()
    resumed = _tag(src, out, db, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    pd.testing.assert_frame_equal(pd.read_parquet(out), reference["output"])  # type: ignore[arg-type]
    got, want = _store(db), reference["store"]
    for name in STORE_SQL:
        pd.testing.assert_frame_equal(got[name], want[name], obj=name)  # type: ignore[index]
    assert not PartsDir(out).path.exists()


def test_engine_faults_edited_input_refuses_to_resume(tmp_path: Path) -> None:
    src = _export(tmp_path / "export.csv", pad=7000)  # ~3.3 MB: more than the first + last MiB
    out, db = tmp_path / "out.parquet", tmp_path / "cx.duckdb"
    _tag(src, out, db, env=_env(CX_TEST_KILL_AT="3"))
    data = src.read_bytes()
    at = data.index(b"Support never answered 100")
    assert 1 << 20 < at < len(data) - (1 << 20)  # the edit is outside the first and last MiB
    src.write_bytes(data.replace(b"Support never answered 100", b"Support never ANSWERED 100"))
    assert len(src.read_bytes()) == len(data)
    refused = _tag(src, out, db, "--resume")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert cli_error(refused.stderr, "CX-E080", "sha256")  # the input changed, not the options
    assert PartsDir(out).indexes() == [0, 1, 2] and not out.exists()


def test_engine_faults_failed_model_keeps_the_previous_tags(tmp_path: Path) -> None:
    src, out, db = (
        _export(tmp_path / "export.csv", rows=40),
        tmp_path / "out.parquet",
        tmp_path / "cx.duckdb",
    )
    assert _tag(src, out, db).returncode == 0
    before = _store(db)["messages"]
    failed = _tag(src, tmp_path / "again.parquet", db, env=_env("failing"))
    assert failed.returncode == 1 and "run FAILED: 40 of 40 rows" in failed.stdout
    assert len(pd.read_parquet(tmp_path / "again.parquet")) == 40  # rows in = rows out, all flagged
    after = _store(db)
    pd.testing.assert_frame_equal(after["messages"], before)
    assert after["runs"]["status"].tolist() == ["complete", "failed"]
    listed = subprocess.run(
        [sys.executable, "-m", "cx_text", "runs", "list", "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(),
    )
    assert "failed" in listed.stdout and "40 of 40 rows" in listed.stdout


def test_engine_faults_second_writer_fails_cleanly_and_writes_nothing(tmp_path: Path) -> None:
    src, db = _export(tmp_path / "export.csv"), tmp_path / "cx.duckdb"
    # ~25 s of tagging: longer than a second process waits for the lock (store.locks.LOCK_WAIT_S)
    first = _popen(src, tmp_path / "a.parquet", db, _env(CX_TEST_TAGGER_SLEEP="2.0"))
    deadline = time.monotonic() + 120
    while not PartsDir(tmp_path / "a.parquet").indexes() and time.monotonic() < deadline:
        assert first.poll() is None, first.communicate()[1][-2000:]
        time.sleep(0.02)
    cli = [sys.executable, "-m", "cx_text"]
    others = [
        subprocess.Popen(
            cmd, env=_env(), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for cmd in (
            [*cli, "tag", str(src), "-o", str(tmp_path / "b.parquet"), "--db", str(db)],
            [*cli, "runs", "list", "--db", str(db)],
        )
    ]
    results = [(proc.wait(timeout=300), proc.communicate()[1]) for proc in others]
    assert (
        first.poll() is None
    )  # both waited out LOCK_WAIT_S, then were refused, while it still wrote
    assert first.wait(timeout=300) == 0, first.communicate()[1][-2000:]
    for code, err in results:
        assert code == 2 and "Traceback" not in err, err[-2000:]
        assert "in use by another process" in err and "wait for the other" in err
    assert (
        not (tmp_path / "b.parquet").exists() and not PartsDir(tmp_path / "b.parquet").path.exists()
    )
    runs = _store(db)["runs"]
    assert runs["status"].tolist() == ["complete"] and runs["rows_out"].tolist() == [ROWS]
