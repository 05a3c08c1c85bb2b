"""End to end in a real browser: `cx-text app` (real Streamlit server) + headless Chromium opens
Models, uploads a small labels file, retrains (fake embedder, a tiny base corpus: seconds) and
sees the new model version and the before/after table. The server is always stopped."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.app.test_app_browser import ARTIFACTS, browser  # noqa: F401  (the Chromium fixture)
from tests.app.test_app_support import build_demo_store
from tests.app_server import app_server
from tests.training.retrain_support import base_frame

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _fixtures(folder: Path) -> dict[str, str]:
    corpus = folder / "corpus.jsonl"
    with corpus.open("w", encoding="utf-8") as fh:
        for row in base_frame().to_dict("records"):
            fh.write(
                json.dumps(
                    {k: row[k] for k in ("id", "text", "lang", "sentiment", "topics", "aspects")},
                    ensure_ascii=False,
                )
                + "\n"
            )
    return {
        "CX_TEXT_TRAIN_DATA": str(corpus),
        "CX_TEXT_CACHE": str(folder / "cache"),
        "CX_TEXT_APP_TAGGER": "tests.app.test_app_support:keyword_tagger",
        "CX_TEXT_APP_EMBED": "tests.app.test_app_support:fake_embed",
    }


def _labels(folder: Path) -> Path:
    texts = [
        ("Курьер опоздал на два часа", "negative", "delivery"),
        ("Доставили быстро, спасибо", "positive", "delivery"),
        ("The courier never came", "negative", "delivery"),
        ("Great app, easy to use", "positive", ""),
        ("Цены не изменились", "neutral", ""),
    ]
    rows = [
        {
            "id": f"lab-{i}",
            "text": f"{t} #{i}",
            "sentiment": s,
            "topics": topic,
            "aspect_sentiments": f"{topic}:{s}" if topic else "",
        }
        for i in range(40)
        for t, s, topic in [texts[i % len(texts)]]
    ]
    path = folder / "labels.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _wait_text(driver: object, expect: str, seconds: float = 90) -> str:
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        body = str(driver.find_element(By.TAG_NAME, "body").text)  # type: ignore[attr-defined]
        if expect in body:
            return body
        time.sleep(0.3)
    raise AssertionError(f"{expect!r} never appeared; the page says: {body[-1500:]}")


def test_app_models_browser_retrains_from_labels_file(tmp_path: Path, browser: object) -> None:  # noqa: F811
    from selenium.webdriver.common.by import By

    db = build_demo_store(tmp_path / "demo.duckdb", n=200, themes=False)
    with app_server(db, _fixtures(tmp_path)) as (url, _proc):
        driver = browser
        driver.get(f"{url}/models")  # type: ignore[attr-defined]
        _wait_text(driver, "a labels file")
        driver.find_element(By.XPATH, "//*[text()='a labels file']").click()  # type: ignore[attr-defined]
        _wait_text(driver, "Labels file")
        upload = driver.find_element(By.CSS_SELECTOR, "input[type='file']")  # type: ignore[attr-defined]
        upload.send_keys(str(_labels(tmp_path)))
        _wait_text(driver, "labels.csv")
        time.sleep(1.0)
        started = time.monotonic()
        driver.find_element(By.XPATH, "//button[.//p[text()='Retrain']]").click()  # type: ignore[attr-defined]
        body = _wait_text(driver, "Before (shipped) vs after")
        seconds = time.monotonic() - started
        time.sleep(1.0)  # the grids draw after the script finished
        grids = driver.find_elements(By.CSS_SELECTOR, "[data-testid='stDataFrame']")  # type: ignore[attr-defined]
        height = driver.execute_script(  # type: ignore[attr-defined]
            "return document.querySelector('[data-testid=\"stMain\"]').scrollHeight"
        )
        driver.set_window_size(1400, max(1000, min(int(height) + 80, 4000)))  # type: ignore[attr-defined]
        time.sleep(0.5)
        ARTIFACTS.mkdir(exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "app_models.png"))  # type: ignore[attr-defined]
    assert "model version 'org-" in body and "held-back labels" in body
    versions = sorted((tmp_path / "cache" / "versions").iterdir())
    assert len(versions) == 1 and versions[0].name.startswith("org-") and versions[0].name in body
    assert len(grids) == 3  # versions, runs by version, before/after (canvas grids)
    assert "Something went wrong" not in body and "Traceback" not in body
    assert seconds < 60, seconds
    driver.set_window_size(1400, 1000)  # type: ignore[attr-defined]
