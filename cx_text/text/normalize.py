"""Text normalisation, PII masking and dedupe keys — the first language stage.

:func:`clean_text` makes a message comparable without changing what it says: HTML and e-mail
quoting/signatures are stripped, Unicode is NFC (plus NFKC only for fancy letter forms, so ``№``
and ``½`` survive), whitespace and runs of ``!!!!`` are tamed, emoji are kept (they carry
sentiment) without skin-tone or variation-selector noise. ``ё`` is kept in ``text_clean`` (it is
what people wrote); lemmas, cues and the dedupe key fold it to ``е``.
"""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from collections.abc import Iterator
from typing import Any

import pandas as pd

from cx_text.core import schema
from cx_text.core.lang import fold
from cx_text.text.pii import PersonSpans, mask_pii

_TAG_RE = re.compile(
    r"<(?:/?[a-zA-Z][a-zA-Z0-9]*(?:\s[^<>]*)?/?|!--.*?--|![a-zA-Z][^<>]*)>", re.DOTALL
)
_BLOCK_TAG_RE = re.compile(r"<\s*(?:br|/p|/div|/li|/tr|/h\d|p|div|li)\b[^>]*>", re.IGNORECASE)
_SCRIPT_RE = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_ENTITY_RE = re.compile(r"&(?:[a-zA-Z]{2,8}|#\d{2,6}|#x[0-9a-fA-F]{2,5});")
_REPLY_HEADER_RE = re.compile(
    r"^\s*(?:on\b.{0,200}\bwrote:|-{2,}\s*(?:original message|forwarded message|исходное сообщение"
    r"|пересылаемое сообщение)\s*-{2,}|(?:from|от|sent|отправлено|to|кому):\s.+@.*"
    r"|.{0,120}\b(?:пишет|написал|написала|написал\(а\)):\s*|.{0,160}<\S+@\S+>:\s*)$",
    re.IGNORECASE,
)
_SIGNATURE_RE = re.compile(
    r"^\s*(?:--\s*|_{3,}|с уважением.*|с наилучшими пожеланиями.*|best regards.*|kind regards.*"
    r"|regards,?|cheers,?|sincerely.*|sent from my \w+.*|отправлено (?:с|из) .*|get outlook for "
    r".*)$",
    re.IGNORECASE,
)
_COMPAT_RE = re.compile(
    "[\uff01-\uff5e\ufb00-\ufb06\u2000-\u200a\u202f\u205f\u3000\u00a0\U0001d400-\U0001d7ff]"
)
_INVISIBLE_RE = re.compile("[\u200b\u200c\u2060\ufeff\u00ad\ufe0e\ufe0f\U0001f3fb-\U0001f3ff]")
_TRANSLATE = str.maketrans({"‘": "'", "’": "'", "‛": "'", "“": '"', "”": '"', "„": '"', "…": "..."})
_PUNCT_RUNS = (
    (re.compile(r"([!?])\1{3,}"), r"\1\1\1"),
    (re.compile(r"(?:[!?]{2,}){2,}"), "?!"),
    (re.compile(r"\.{4,}"), "..."),
    (re.compile(r"([,;:])(?:\s*\1)+"), r"\1"),
    (re.compile(r"[ \t]+([,;!?])(?=\s|$)"), r"\1"),
)
_CYR_REPEAT_RE = re.compile(r"([а-яё])\1{2,}", re.IGNORECASE)
_LAT_REPEAT_RE = re.compile(r"([a-z])\1{2,}", re.IGNORECASE)
_EMOJI_REPEAT_RE = re.compile(r"([\U0001f300-\U0001faff\u2600-\u27bf])\1{3,}")
_DEDUPE_DROP_RE = re.compile(r"[^\w\[\]]+")


def strip_html(text: str) -> str:
    """Plain text of an HTML fragment; block tags become line breaks, entities are decoded."""
    if _TAG_RE.search(text):
        text = _SCRIPT_RE.sub(" ", text)
        text = _BLOCK_TAG_RE.sub("\n", text)
        text = _TAG_RE.sub("", text)
    return html.unescape(text) if _ENTITY_RE.search(text) else text


def strip_email_quotes(text: str) -> str:
    """Drop ``>`` quoted lines, the quoted thread under a reply header, and a signature."""
    if "\n" not in text:
        return text
    kept: list[str] = []
    for line in text.split("\n"):
        has_content = any(k.strip() for k in kept)
        if _REPLY_HEADER_RE.match(line) or (has_content and _SIGNATURE_RE.match(line)):
            if has_content:
                break
            continue
        if not line.lstrip().startswith(">"):
            kept.append(line)
    return "\n".join(kept)


def normalize_unicode(text: str) -> str:
    """NFC, NFKC for fullwidth/math letters and odd spaces only, no invisible characters."""
    text = unicodedata.normalize("NFC", text)
    text = _COMPAT_RE.sub(lambda m: unicodedata.normalize("NFKC", m.group()), text)
    return _INVISIBLE_RE.sub("", text).translate(_TRANSLATE)


def normalize_spacing(text: str) -> str:
    """One space between words, at most one blank line, trimmed lines; tamed ``!!!!``."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = [re.sub(r"[ \t\f\v]+", " ", line).strip() for line in text.split("\n")]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    for pattern, repl in _PUNCT_RUNS:
        text = pattern.sub(repl, text)
    text = _CYR_REPEAT_RE.sub(r"\1", text)
    text = _LAT_REPEAT_RE.sub(r"\1\1", text)
    return _EMOJI_REPEAT_RE.sub(r"\1\1\1", text)


def clean_text(text: str) -> str:
    """The full cleaning chain (no PII masking): HTML, e-mail quoting, Unicode, spacing."""
    text = normalize_unicode(strip_html(text))
    return normalize_spacing(strip_email_quotes(text))


def dedupe_key(text_clean: str) -> str:
    """Same key for near-identical messages (case, ё/е, punctuation, emoji, digits ignored)."""
    core = _DEDUPE_DROP_RE.sub(" ", re.sub(r"\d+", "0", fold(text_clean))).split()
    if not core:
        return ""
    return hashlib.blake2b(" ".join(core).encode("utf-8"), digest_size=8).hexdigest()


def prepare_one(text: str, persons: PersonSpans | None, mask: bool) -> tuple[str, list[str]]:
    """Cleaned (and, if ``mask``, PII-masked) text and the PII kinds found."""
    cleaned = clean_text(text)
    return mask_pii(cleaned, persons) if mask else (cleaned, [])


# --- frame helpers shared by the language stages ---------------------------------------------


def row_texts(frame: pd.DataFrame, column: str) -> Iterator[str]:
    """Each row's text ('' for missing values or rows whose status is ``empty``)."""
    statuses = frame[schema.ROW_STATUS].tolist() if schema.ROW_STATUS in frame.columns else None
    for pos, value in enumerate(frame[column].tolist()):
        empty = statuses is not None and statuses[pos] == schema.STATUS_EMPTY
        yield value if isinstance(value, str) and not empty else ""


def ensure_status(frame: pd.DataFrame, column: str = schema.TEXT) -> None:
    """Add ``row_status`` (``ok``/``empty``) and ``row_issues`` to ``frame`` if missing."""
    if schema.ROW_STATUS not in frame.columns:
        texts = frame[column].tolist()
        frame[schema.ROW_STATUS] = [
            schema.STATUS_OK if isinstance(t, str) and t.strip() else schema.STATUS_EMPTY
            for t in texts
        ]
    if schema.ROW_ISSUES not in frame.columns:
        frame[schema.ROW_ISSUES] = pd.Series([[] for _ in range(len(frame))], index=frame.index)


def mark_error(frame: pd.DataFrame, pos: int, stage: str, exc: Exception) -> None:
    """Set row ``pos`` (positional) of ``frame`` to ``error: <stage>: …`` and log the issue."""
    ensure_status(frame, schema.TEXT if schema.TEXT in frame.columns else frame.columns[0])
    message = f"{stage}: {type(exc).__name__}: {exc}"[:300]
    statuses = frame[schema.ROW_STATUS].tolist()
    statuses[pos] = schema.STATUS_ERROR_PREFIX + message
    frame[schema.ROW_STATUS] = pd.Series(statuses, index=frame.index)
    issues = [[] if v is None else list(v) for v in frame[schema.ROW_ISSUES].tolist()]
    issues[pos] = [*issues[pos], message]
    frame[schema.ROW_ISSUES] = _object_series(issues, frame)


def _object_series(values: list[Any], frame: pd.DataFrame) -> pd.Series:
    return pd.Series(values, index=frame.index, dtype=object)


def normalize_frame(
    frame: pd.DataFrame, *, mask_pii: bool = True, resources: PersonSpans | None = None
) -> pd.DataFrame:
    """New frame with ``text_clean``, ``dedupe_key`` and ``pii_found`` added.

    ``resources`` finds person names (``NlpResources`` or ``PersonFinder``); without it names are
    not masked, everything else still is. A row that fails gets ``error: normalize: …``.
    """
    schema.require_columns(frame, [schema.TEXT], "normalization")
    out = frame.copy()
    ensure_status(out)
    persons = resources if mask_pii else None
    cleaned, keys, found = [], [], []
    for pos, text in enumerate(row_texts(out, schema.TEXT)):
        try:
            clean, kinds = prepare_one(text, persons, mask_pii) if text else ("", [])
        except Exception as exc:  # one bad row must not stop the chunk
            mark_error(out, pos, "normalize", exc)
            clean, kinds = "", []
        cleaned.append(clean)
        keys.append(dedupe_key(clean))
        found.append(kinds)
    out[schema.TEXT_CLEAN] = pd.Series(cleaned, index=out.index, dtype=object)
    out[schema.DEDUPE_KEY] = pd.Series(keys, index=out.index, dtype=object)
    out[schema.PII_FOUND] = _object_series(found, out)
    return out
