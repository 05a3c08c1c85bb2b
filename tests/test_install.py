"""The built wheel works outside the checkout: a fresh venv, `cx-text models prepare`, `cx-text
tag`,
the library API and `cx-text app` (its server answers, then stops on SIGTERM).

The fresh venv gets the wheel's own files only; its third-party dependencies come from this
venv's site-packages through a plain path entry (no re-download of torch & co, and no
editable-install finder, so ``cx_text`` can only come from the wheel).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import sysconfig
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from tests.app_server import free_port

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: int = 600) -> str:
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"{cmd}\n{out.stdout}\n{out.stderr}"
    return out.stdout


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], Path]:
    root = tmp_path_factory.mktemp("install")
    dist = root / "dist"
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(dist),
            str(REPO),
        ],
        REPO,
        dict(os.environ),
    )
    wheel = next(dist.glob("cx_text-*.whl"))
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "_cx_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PATH=f"{venv / 'bin'}:{env['PATH']}")
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "--no-deps",
            "-q",
            str(wheel),
        ],
        root,
        env,
    )
    work = root / "work"
    work.mkdir()
    return venv, env, work


def test_install_wheel_imports_from_the_venv_not_the_checkout(
    fresh: tuple[Path, dict[str, str], Path],
) -> None:
    venv, env, work = fresh
    where = _run(
        [str(venv / "bin" / "python"), "-c", "import cx_text; print(cx_text.__file__)"], work, env
    )
    assert str(venv) in where and str(REPO) not in where


def test_install_wheel_prepare_tag_library_app(fresh: tuple[Path, dict[str, str], Path]) -> None:
    venv, env, work = fresh
    cx = str(venv / "bin" / "cx-text")
    assert "e5-small" in _run([cx, "models", "prepare"], work, env)
    pd.DataFrame(
        {"Текст отзыва": ["Курьер опоздал на два часа", "Great app, fast checkout"], "NPS": [3, 10]}
    ).to_csv(work / "export.csv", index=False)
    summary = _run([cx, "tag", "export.csv", "-o", "out.parquet", "--db", "s.duckdb"], work, env)
    assert "tagged 2 of 2 rows" in summary
    assert len(pd.read_parquet(work / "out.parquet")) == 2
    code = (
        "import cx_text, pandas as pd; t = cx_text.load(); "
        "out = t.tag(pd.DataFrame({'c': ['Цены выросли', 'ok']}), text_col='c'); "
        "print(len(out), cx_text.open_store('s.duckdb').sql('SELECT count(*) n FROM tagged').n[0])"
    )
    assert _run([str(venv / "bin" / "python"), "-c", code], work, env).split() == ["2", "2"]
    port = free_port()
    server = subprocess.Popen(
        [cx, "app", "--db", "s.duckdb", "--port", str(port)],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        body = _wait_for(f"http://127.0.0.1:{port}/_stcore/health", server)
        assert body == "ok"
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10).read().decode()
        assert '<div id="root">' in page or "streamlit" in page.lower()
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        if _group_alive(server.pid):  # cx-text app must not leave its Streamlit child behind
            os.killpg(server.pid, signal.SIGKILL)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_for(url: str, server: subprocess.Popen[str], seconds: float = 90) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"the app exited: {server.stdout.read() if server.stdout else ''}")
        try:
            return urllib.request.urlopen(url, timeout=5).read().decode()
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"no answer from {url} in {seconds} s")
