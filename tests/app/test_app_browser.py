"""End to end: `cx-text app` on a free localhost port, headless Chromium (selenium + Debian's
chromedriver) opens Overview and Themes, checks the KPI tiles rendered and saves screenshots to
artifacts/ (git-ignored). Needs /usr/bin/chromium and /usr/bin/chromedriver (.ci/sysdeps.sh)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.app.test_app_support import build_demo_store
from tests.app_server import free_port, wait_http

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
CHROME_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db = build_demo_store(tmp_path_factory.mktemp("browser") / "demo.duckdb")
    port = free_port()
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "CX_TEXT_APP_TAGGER": "tests.app.test_app_support:keyword_tagger",
    }
    cmd = [
        sys.executable,
        "-m",
        "cx_text",
        "app",
        "--db",
        str(db),
        "--port",
        str(port),
        "--host",
        "127.0.0.1",
    ]
    proc = subprocess.Popen(
        cmd,
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}", proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(proc.pid, 15)  # the whole group: `cx-text app` execs Streamlit, nothing else
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.fail("Chromium/ChromeDriver missing: run `bash .ci/sysdeps.sh` (make sysdeps).")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROME_FLAGS, f"--user-data-dir={tempfile.mkdtemp(prefix='cx_chrome_')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _render(driver: object, url: str, expect: str, shot: Path) -> str:
    """Open ``url``, wait until the script finished and ``expect`` is on the page, screenshot."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)  # type: ignore[attr-defined]

    def ready(d: object) -> bool:
        body = d.find_element(By.TAG_NAME, "body").text  # type: ignore[attr-defined]
        running = d.find_elements(By.CSS_SELECTOR, "[data-testid='stStatusWidget']")  # type: ignore[attr-defined]
        return expect in body and not running

    WebDriverWait(driver, 120).until(ready)
    time.sleep(1.5)  # charts draw after the script finishes
    height = driver.execute_script(  # type: ignore[attr-defined]
        "return document.querySelector('[data-testid=\"stMain\"]').scrollHeight"
    )
    driver.set_window_size(1400, max(1000, min(int(height) + 80, 4000)))  # type: ignore[attr-defined]
    time.sleep(0.5)
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(shot))  # type: ignore[attr-defined]
    return str(driver.find_element(By.TAG_NAME, "body").text)  # type: ignore[attr-defined]


def test_app_browser_overview_and_themes_render(app_url: str, browser: object) -> None:
    text = _render(browser, app_url, "% negative", ARTIFACTS / "app_overview.png")
    for label in (
        "NPS",
        "CSAT",
        "CES (1–7)",
        "Messages",
        "% negative",
        "Churn",
        "What costs the score",
    ):
        assert label in text
    assert "Something went wrong" not in text and "Traceback" not in text
    assert (ARTIFACTS / "app_overview.png").stat().st_size > 20_000
    text = _render(browser, f"{app_url}/themes", "Top themes", ARTIFACTS / "app_themes.png")
    assert "Representative quotes" in text and "Something went wrong" not in text
    assert (ARTIFACTS / "app_themes.png").stat().st_size > 20_000
