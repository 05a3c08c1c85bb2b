"""Model-free taggers for fault tests, loaded by ``cx-text tag`` via
``CX_TEXT_TAGGER=module:function``.

``killing`` SIGKILLs its own process on call ``CX_TEST_KILL_AT`` (0-based; unset = never) and
sleeps ``CX_TEST_TAGGER_SLEEP`` seconds per call so an outside kill can land mid-run;
``failing`` fails every row (an injected model failure); ``exploding`` fails the rows whose text
has ``💥``. All tag like ``keyword_tagger`` and give every column of the tagging contract.
"""

from __future__ import annotations

import os
import signal
import time

import pandas as pd

from cx_text.core import schema
from cx_text.testing import keyword_tagger

_calls = {"n": 0}
_NESTED = ("topics", "subtopics", "aspect_sentiments", "evidence")


def keyword(chunk: pd.DataFrame) -> pd.DataFrame:
    """``keyword_tagger`` with every tag column (also on an empty chunk, nested columns as
    object)."""
    out = keyword_tagger(chunk)
    for col in schema.EMPTY_TAGS:
        if col not in out.columns:
            out[col] = [schema.empty_tag(col) for _ in range(len(out))]
    return out.astype(dict.fromkeys([*_NESTED, *schema.EMPTY_TAGS], object)) if out.empty else out


def exploding(chunk: pd.DataFrame) -> pd.DataFrame:
    if chunk["text"].fillna("").str.contains("💥").any():
        raise RuntimeError("toy model exploded")
    return keyword(chunk)


def killing(chunk: pd.DataFrame) -> pd.DataFrame:
    if _calls["n"] == int(os.environ.get("CX_TEST_KILL_AT", "-1")):
        os.kill(os.getpid(), signal.SIGKILL)
    _calls["n"] += 1
    time.sleep(float(os.environ.get("CX_TEST_TAGGER_SLEEP", "0")))
    return keyword(chunk)


def failing(chunk: pd.DataFrame) -> pd.DataFrame:
    raise RuntimeError("injected tagger failure")
