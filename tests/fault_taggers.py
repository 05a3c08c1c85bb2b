"""Model-free taggers for fault tests, loaded by ``cx-text tag`` via ``CX_TEXT_TAGGER=module:function``.

``killing`` SIGKILLs its own process on call ``CX_TEST_KILL_AT`` (0-based; unset = never) and
sleeps ``CX_TEST_TAGGER_SLEEP`` seconds per call so an outside kill can land mid-run;
``failing`` fails every row (an injected model failure). All tag like ``keyword_tagger``.
"""

from __future__ import annotations

import os
import signal
import time

import pandas as pd

from tests.test_app_support import keyword_tagger

_calls = {"n": 0}


def killing(chunk: pd.DataFrame) -> pd.DataFrame:
    if _calls["n"] == int(os.environ.get("CX_TEST_KILL_AT", "-1")):
        os.kill(os.getpid(), signal.SIGKILL)
    _calls["n"] += 1
    time.sleep(float(os.environ.get("CX_TEST_TAGGER_SLEEP", "0")))
    return keyword_tagger(chunk)


def failing(chunk: pd.DataFrame) -> pd.DataFrame:
    raise RuntimeError("injected tagger failure")
