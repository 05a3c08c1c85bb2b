"""Parse single cells of an export: text, ids, dates and metric scores.

Each parser returns the clean value plus an issue text (``None`` when fine), so the caller can
clear a bad value, keep the row and say why in ``row_issues``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Iterable
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from cx_text.core import schema

DATES_PATH = Path(__file__).resolve().parents[1] / "core" / "lang" / "dates.yaml"
MISSING_TOKENS = frozenset({"", "-", "—", "–", "n/a", "na", "#n/a", "null", "none", "nan", "nat"})
_NUMBER = re.compile(
    r"^([+-]?\d+(?:[.,]\d+)?)\s*(?:(?:/|из|of|out of)\s*(\d+))?\s*"
    r"(?:stars?|звезд\w*|балл\w*|points?|pts|★)?$",
    re.IGNORECASE,
)
_ISO = re.compile(
    r"^\d{4}-\d{1,2}-\d{1,2}(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?"
    r"\s*(?:Z|UTC|[+-]\d{2}(?::?\d{2})?)?$",
    re.IGNORECASE,
)
_DMY = re.compile(
    r"^(\d{1,2})([./-])(\d{1,2})\2(\d{2}|\d{4})(?:[ T,]+(\d{1,2}):(\d{2})"
    r"(?::(\d{2}))?)?$"
)
_NUMERIC_TEXT = re.compile(r"^[\s\d.,:;/+\-−()%№#]*\d[\s\d.,:;/+\-−()%№#]*$")
_RU_DATE = re.compile(
    r"^(\d{1,2})\s+([а-яё]+)\.?\s+(\d{4})(?:\s*г\.?)?,?(?:\s+в)?"
    r"(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?$",
    re.IGNORECASE,
)
_EXCEL_EPOCH = pd.Timestamp("1899-12-30")
_YEARS = (1900, 2200)


def is_missing(value: Any) -> bool:
    """None, NaN, NA, NaT or a blank string."""
    if isinstance(value, str):
        return not value.strip()
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float | np.floating):
        return bool(np.isnan(value))
    return False


def _missing_token(value: Any) -> bool:
    return is_missing(value) or (isinstance(value, str) and value.strip().lower() in MISSING_TOKENS)


def to_str(value: Any) -> str:
    """Any cell as text: ``123.0`` -> ``"123"``, datetimes ISO, lists/dicts as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, pd.Timestamp | dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list | tuple | dict | np.ndarray):
        items = value.tolist() if isinstance(value, np.ndarray) else value
        return json.dumps(items, ensure_ascii=False, default=str)
    return str(value)


def optional_str(value: Any) -> str | None:
    """A cell as stripped text, or None when missing."""
    return None if is_missing(value) else to_str(value).strip()


def _show(value: Any) -> str:
    text = to_str(value)
    return repr(text if len(text) <= 40 else text[:37] + "...")


# --------------------------------------------------------------------------- text


def parse_text(value: Any, max_chars: int) -> tuple[str, str, list[str]]:
    """``(text, status, issues)`` for the message text cell."""
    issues: list[str] = []
    status = schema.STATUS_OK
    if is_missing(value):
        return ("" if not isinstance(value, str) else value), schema.STATUS_EMPTY, ["text is empty"]
    if isinstance(value, str):
        text = value
        if _NUMERIC_TEXT.match(text):
            status = schema.STATUS_FLAGGED
            issues.append(f"text {_show(text)} looks like a number or date, not a message")
    else:
        text = to_str(value)
        kind = _kind(value)
        status = schema.STATUS_FLAGGED
        issues.append(f"text is a {kind} ({_show(text)}), not a message; converted to text")
    if len(text) > max_chars:
        issues.append(f"text has {len(text):,} characters; truncated to {max_chars:,}")
        return text[:max_chars], schema.STATUS_TRUNCATED, issues
    return text, status, issues


def _kind(value: Any) -> str:
    if isinstance(value, bool | np.bool_):
        return "true/false value"
    if isinstance(value, int | float | np.integer | np.floating | Decimal):
        return "number"
    if isinstance(value, pd.Timestamp | dt.date | dt.datetime | dt.time | np.datetime64):
        return "date"
    return type(value).__name__


def parse_id(value: Any) -> str | None:
    """An id cell as text (``12.0`` -> ``"12"``), or None when missing."""
    if _missing_token(value):
        return None
    return to_str(value).strip()


# --------------------------------------------------------------------------- metrics


def parse_metric(value: Any, column: str) -> tuple[float, str | None]:
    """``(score or NaN, issue)``; the valid range comes from ``schema.METRIC_RANGES``."""
    if _missing_token(value):
        return math.nan, None
    low, high = schema.METRIC_RANGES[column]
    number = _to_number(value, high)
    if number is None:
        return math.nan, f"{column} {_show(value)} is not a number; cleared"
    if not low <= number <= high:
        return math.nan, f"{column} {_show(value)} is outside {low}–{high}; cleared"
    if column != schema.RATING and not float(number).is_integer():
        return math.nan, f"{column} {_show(value)} is not a whole number on {low}–{high}; cleared"
    return float(number), None


def _to_number(value: Any, scale_max: int) -> float | None:
    if isinstance(value, bool | np.bool_):
        return None
    if isinstance(value, int | float | np.integer | np.floating | Decimal):
        number = float(value)
        return number if math.isfinite(number) else None
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text and set(text) == {"★"}:
        return float(len(text))
    match = _NUMBER.match(text)
    if match is None:
        return None
    if match.group(2) is not None and int(match.group(2)) != scale_max:
        return None
    return float(match.group(1).replace(",", "."))


# --------------------------------------------------------------------------- dates


@lru_cache(maxsize=2)
def ru_months(path: Path = DATES_PATH) -> tuple[tuple[str, int], ...]:
    """Russian month stems -> month number, from ``lang/dates.yaml``."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return tuple((str(k), int(v)) for k, v in (data.get("ru_months") or {}).items())


def slash_dayfirst(values: Iterable[Any]) -> bool:
    """Decide from a sample whether ``a/b/yyyy`` dates are day-first (default) or month-first."""
    day, month = 0, 0
    for value in values:
        match = _DMY.match(value.strip()) if isinstance(value, str) else None
        if match and match.group(2) == "/":
            a, b = int(match.group(1)), int(match.group(3))
            day += a > 12
            month += b > 12
    return not month > day


def parse_date(value: Any, dayfirst_slash: bool = True) -> tuple[dt.datetime | None, str | None]:
    """``(naive datetime or None, issue)``; aware times are converted to UTC first."""
    if _missing_token(value):
        return None, None
    try:
        stamp = _to_timestamp(value, dayfirst_slash)
    except (ValueError, OverflowError, TypeError, pd.errors.OutOfBoundsDatetime):
        stamp = None
    if stamp is None or not _YEARS[0] <= stamp.year <= _YEARS[1]:
        return None, f"created_at {_show(value)} is not a date; cleared"
    if stamp.tzinfo is not None:
        stamp = pd.Timestamp(stamp).tz_convert("UTC").tz_localize(None)
    return stamp, None


def _to_timestamp(value: Any, dayfirst_slash: bool) -> dt.datetime | None:
    if isinstance(value, bool | np.bool_ | dt.time):
        return None
    if isinstance(value, pd.Timestamp | dt.datetime | dt.date | np.datetime64):
        return pd.Timestamp(value)
    if isinstance(value, int | float | np.integer | np.floating | Decimal):
        return _from_number(float(value))
    if not isinstance(value, str):
        return None
    return _from_text(value.strip(), dayfirst_slash)


def _from_number(number: float) -> pd.Timestamp | None:
    """Excel serial day numbers, or Unix seconds / milliseconds."""
    if not math.isfinite(number):
        return None
    if 10_000 <= number < 2_958_466:  # Excel serial days: 1927 … 9999
        return (_EXCEL_EPOCH + pd.Timedelta(days=number)).round("s")
    if 1e9 <= number < 1e11:
        return pd.Timestamp(number, unit="s")
    if 1e11 <= number < 1e14:
        return pd.Timestamp(number, unit="ms")
    return None


def _from_text(text: str, dayfirst_slash: bool) -> dt.datetime | None:
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return _from_number(float(text))
    if _ISO.match(text):
        return pd.Timestamp(text.replace(",", ".").upper().replace("UTC", "+00:00"))
    match = _DMY.match(text)
    if match:
        return _from_dmy(match, dayfirst_slash)
    match = _RU_DATE.match(text)
    if match:
        return _from_ru(match)
    return _from_words(text)


def _from_dmy(match: re.Match[str], dayfirst_slash: bool) -> dt.datetime:
    a, sep, b, year = int(match.group(1)), match.group(2), int(match.group(3)), match.group(4)
    day, month = (b, a) if sep == "/" and not dayfirst_slash else (a, b)
    full_year = int(year) + (2000 if len(year) == 2 else 0)
    hour, minute, second = (int(g or 0) for g in match.group(5, 6, 7))
    return dt.datetime(full_year, month, day, hour, minute, second)


def _from_ru(match: re.Match[str]) -> dt.datetime | None:
    word = match.group(2).casefold().replace("ё", "е")
    month = next((n for stem, n in ru_months() if word.startswith(stem)), None)
    if month is None:
        return None
    hour, minute, second = (int(g or 0) for g in match.group(4, 5, 6))
    return dt.datetime(int(match.group(3)), month, int(match.group(1)), hour, minute, second)


def _from_words(text: str) -> pd.Timestamp | None:
    """English forms like ``Oct 3, 2026 2:05 PM`` (needs a 4-digit year to avoid guesses)."""
    if not re.search(r"\b\d{4}\b", text) or not re.search(r"[a-z]", text, re.IGNORECASE):
        return None
    from dateutil import parser

    return pd.Timestamp(parser.parse(text, dayfirst=True))
