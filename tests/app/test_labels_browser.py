"""End to end in a real browser: `cx-text app` + headless Chromium corrects a tag in Verbatims,
the store is re-tagged and the correction is still shown, then items are labelled in the Review
queue. The server is stopped at the end whatever happens (tests/app_server.py)."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cx_text.store.labels import corrections, labelled_count
from cx_text.store.store import open_store
from tests.app.test_app_browser import ARTIFACTS, CHROME_FLAGS, CHROMEDRIVER, CHROMIUM
from tests.app.test_app_support import build_demo_store, demo_frame
from tests.app_server import app_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]
N = 300
NAME_LABEL = "Your name (saved with every correction)"


@pytest.fixture()
def browser() -> Iterator[Any]:
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


def wait_for(driver: Any, check: Callable[[Any], bool], seconds: float = 240) -> None:
    """Until ``check(driver)`` holds and Streamlit is not running a script."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def ready(d: Any) -> bool:
        try:
            return check(d) and not d.find_elements(
                By.CSS_SELECTOR, "[data-testid='stStatusWidget']"
            )
        except StaleElementReferenceException:
            return False

    WebDriverWait(driver, seconds).until(ready)
    time.sleep(0.5)


def body(driver: Any) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.TAG_NAME, "body").text)


def has(text: str) -> Callable[[Any], bool]:
    return lambda d: text in body(d)


def type_name(driver: Any, name: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    field = driver.find_element(By.CSS_SELECTOR, f"input[aria-label='{NAME_LABEL}']")
    field.send_keys(name, Keys.ENTER)
    wait_for(driver, has(f"Labelling as {name}"))


def retry(action: Callable[[], Any], tries: int = 8) -> Any:
    """Run ``action`` again when Streamlit re-rendered the element under it (stale reference)."""
    from selenium.common.exceptions import StaleElementReferenceException

    for attempt in range(tries):
        try:
            return action()
        except (StaleElementReferenceException, StopIteration):
            if attempt == tries - 1:
                raise
            time.sleep(0.5)
    return None


def click_button(driver: Any, text: str) -> None:
    retry(lambda: _click_button(driver, text))


def _click_button(driver: Any, text: str) -> None:
    from selenium.webdriver.common.by import By

    button = next(
        b for b in driver.find_elements(By.CSS_SELECTOR, "button") if b.text.strip().endswith(text)
    )
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", button)
    button.click()


def pick_option(driver: Any, css: str, option: str) -> None:
    """Open the selectbox inside the element matching ``css`` and click ``option``."""
    retry(lambda: _pick_option(driver, css, option))


def _pick_option(driver: Any, css: str, option: str) -> None:
    from selenium.webdriver.common.by import By

    opener = driver.find_element(
        By.CSS_SELECTOR, f"{css} [role='combobox'] ~ button, {css} button[aria-haspopup]"
    )
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", opener)
    opener.click()
    wait_for(driver, lambda d: bool(d.find_elements(By.CSS_SELECTOR, "[role='option']")), 20)
    next(
        o
        for o in driver.find_elements(By.CSS_SELECTOR, "[role='option']")
        if o.text.strip() == option
    ).click()


def first_row_sentiment(driver: Any) -> str:
    return str(
        retry(
            lambda: driver.execute_script(
                "return document.querySelector('.cx-vb tbody tr td:nth-child(3)').innerText"
            )
        )
    )


def stored_labels(db: Path) -> int:
    with open_store(db, read_only=True) as store:
        return labelled_count(store)


def retag(db: Path) -> None:
    """A new complete run of the same export (same texts): what `cx-text tag` would write."""
    with open_store(db) as store:
        run = store.begin_run({"tagger": "demo-v2"}, "demo.csv", "fp-demo-2", rows_in=N)
        store.append_chunk(run, 0, demo_frame(N))
        store.finish_run(run, {"rows": N})


def test_labels_browser_correct_retag_and_review(tmp_path: Path, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    db = build_demo_store(tmp_path / "labels.duckdb", n=N)
    env = {"CX_TEXT_APP_TAGGER": "tests.app.test_app_support:keyword_tagger"}
    ARTIFACTS.mkdir(exist_ok=True)
    with app_server(db, env) as (url, _proc):
        browser.get(f"{url}/verbatims")
        wait_for(browser, has("Correct or confirm a message"))
        type_name(browser, "Anna")
        before = first_row_sentiment(browser)
        new = "neutral" if "neutral" not in before else "positive"
        pick_option(browser, "[class*='st-key-vb_fix_'][class*='_sent']", new)
        wait_for(browser, lambda d: True)
        click_button(browser, "Save correction")
        wait_for(browser, has("Saved"))
        assert new in first_row_sentiment(browser) and "✎" in first_row_sentiment(browser)
        with open_store(db, read_only=True) as store:
            ((key, found),) = corrections(store).items()
        assert found["sentiment"] == new and found["who"] == "Anna"

        retag(db)  # the app holds no lock between interactions
        browser.get(f"{url}/verbatims")
        wait_for(browser, has("Correct or confirm a message"))
        shown = first_row_sentiment(browser)
        browser.save_screenshot(str(ARTIFACTS / "app_labels_verbatims.png"))
        assert new in shown and "✎" in shown, shown
        with open_store(db, read_only=True) as store:
            assert corrections(store)[key]["sentiment"] == new
            assert (
                store.query("SELECT count(*) AS n FROM runs WHERE status = 'complete'")["n"].iloc[0]
                == 2
            )
            row = store.query(
                "SELECT sentiment, analyst_sentiment FROM messages WHERE source = ? AND id = ?",
                list(key),
            ).iloc[0]
        assert row["analyst_sentiment"] == new and row["sentiment"] != new

        type_name(browser, "Anna")  # a fresh page is a new session: asked once more, then kept
        retry(lambda: browser.find_element(By.CSS_SELECTOR, "a[href$='/review']").click())
        wait_for(browser, has("Labelled messages"))
        assert NAME_LABEL not in body(browser)  # same session: the name is not asked again
        for labelled in (2, 3):
            click_button(browser, "Confirm as shown")
            wait_for(browser, lambda d, n=labelled: stored_labels(db) == n and "Saved" in body(d))
        wait_for(browser, has("Labelled messages\n3"))
        browser.save_screenshot(str(ARTIFACTS / "app_labels_review.png"))
        assert "Something went wrong" not in body(browser)
