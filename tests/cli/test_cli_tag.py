"""`cx-text tag` as a user runs it: a messy export in, every row out, killed and resumed.

Uses the real prepared encoder and the committed heads (slow), in subprocesses like a shell.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
TEXTS = [
    "Курьер вежливый, но опоздал на 3 часа",
    "The app crashes every time I open my cart",
    "",
    "😡😡😡",
    "ок",
    "Цены выросли, а качество упало",
    "Support never answered my e-mail",
    "Доставили быстро, спасибо!",
    "x" * 25_000,
    "Мой телефон +7 916 123-45-67, перезвоните",
]


def _export(path: Path, rows: int) -> Path:
    frame = pd.DataFrame(
        {
            "Номер": [f"r{i}" for i in range(rows)],
            "Отзыв": [
                TEXTS[i % len(TEXTS)] + ("" if i % len(TEXTS) in (2, 3) else f" #{i}")
                for i in range(rows)
            ],
            "Оценка": [str(i % 12) for i in range(rows)],  # 11 is out of range: flagged, kept
            "Дата": ["03.10.2026 14:05"] * rows,
        }
    )
    frame.to_csv(path, sep=";", index=False, encoding="cp1251", errors="replace")
    return path


def _cx(*args: str) -> list[str]:
    return [sys.executable, "-m", "cx_text", *args]


def test_cli_tag_messy_cp1251_export_rows_in_equal_rows_out(tmp_path: Path) -> None:
    src = _export(tmp_path / "export.csv", 60)
    out = tmp_path / "tagged.csv"
    proc = subprocess.run(
        _cx("tag", str(src), "-o", str(out), "--db", str(tmp_path / "cx.duckdb")),
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "tagged 60 of 60 rows" in proc.stdout
    back = pd.read_csv(out, encoding="utf-8-sig", keep_default_na=False)
    assert back["id"].tolist() == [f"r{i}" for i in range(60)]
    assert set(back["row_status"]) >= {"ok", "empty", "truncated", "flagged"}
    assert "[PHONE]" in " ".join(back["text_clean"]) and "916 123" not in " ".join(
        back["text_clean"]
    )


def test_cli_tag_killed_and_resumed_gives_identical_output(tmp_path: Path) -> None:
    src = _export(tmp_path / "export.csv", 240)
    out, ref = tmp_path / "tagged.parquet", tmp_path / "ref.parquet"
    args = [
        "tag",
        str(src),
        "-o",
        str(out),
        "--db",
        str(tmp_path / "cx.duckdb"),
        "--chunk-size",
        "40",
    ]
    proc = subprocess.Popen(
        _cx(*args),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    parts = tmp_path / ".tagged.parquet.cx-parts"
    deadline = time.time() + 500
    while time.time() < deadline and len(list(parts.glob("chunk-*.parquet"))) < 2:
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(list(parts.glob("chunk-*.parquet")))
    assert 2 <= done_before < 6 and not out.exists()

    resumed = subprocess.run(
        _cx(*args, "--resume"), capture_output=True, text=True, timeout=600, cwd=tmp_path
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resumed:" in resumed.stdout
    fresh = subprocess.run(
        _cx("tag", str(src), "-o", str(ref), "--no-db", "--chunk-size", "40"),
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert fresh.returncode == 0, fresh.stderr[-2000:]
    a, b = pd.read_parquet(out), pd.read_parquet(ref)
    assert len(a) == 240
    cols = ["id", "text_clean", "lang", "sentiment", "topics", "row_status"]
    pd.testing.assert_frame_equal(a[cols].astype(str), b[cols].astype(str))

    import duckdb

    con = duckdb.connect(str(tmp_path / "cx.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM tagged").fetchone() == (240,)
    assert con.execute("SELECT count(*) FROM runs WHERE status = 'complete'").fetchone() == (1,)
    con.close()
