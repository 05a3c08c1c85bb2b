"""What the store keeps of a tagged frame when PII masking is on: no raw personal data anywhere.

The tagger masks the message (``text_clean``); the store also keeps the other input columns
(``extra`` JSON), the row issues (which quote bad cells), evidence clauses, the channel/segment
labels, the customers file and the ingest report of every run. :func:`store_view` masks all of
them, so the guarantee holds whatever tagger produced the frame:

* a column that is a pure identifier — its name says e-mail/phone/passport/…, or at least half
  of its values *are* one e-mail, phone, card, IBAN… — keeps no value: every filled cell becomes
  the placeholder of its kind (``[EMAIL]``), so the store still shows the column existed;
* every other text column is masked cell by cell (``"звоните +7 912…"`` -> ``"звоните [PHONE]"``);
* numbers, dates and booleans stay as they are (scores, amounts), unless the column is an
  identifier column (a phone read as an integer);
* ``customer_id`` stays a join key: a CRM id as given, an e-mail/phone/… id as a keyed-hash
  pseudonym (:func:`customer_key`), the same in feedback and the customers file.

Raw copies of the input columns (:mod:`cx_text.io.columns`) never reach the store: unmapped ones
become ``extra`` under their own names, mapped ones are dropped (their canonical column is kept).
That renaming happens with masking off too.

The output file is the user's own and keeps their values; only the store (and the app reading
it) is masked. With ``mask=False`` (``--no-mask-pii``) every function returns its input.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Collection, Iterable
from typing import Any

import pandas as pd

from cx_text.core import schema
from cx_text.io.columns import plain_names
from cx_text.text.pii import PLACEHOLDER_RE, find_pii, mask_pii

#: share of filled values that must each be one identifier for a column to be an identifier column
IDENTIFIER_SHARE = 0.5
#: the key of :func:`customer_key` (fixed: pseudonyms match across stores and runs)
_ID_KEY = b"cx_text customer_id pseudonym v1"
#: values looked at to decide (the first ones; enough to see what a column holds)
SAMPLE = 200
#: column names that are identifiers whatever their values look like (RU and EN exports)
_NAME_HINTS = re.compile(
    r"e-?mail|(?<![a-zа-яё])mail|почт|phone|(?<![a-zа-яё])тел(?:\.|ефон|$)|(?<![a-z])tel(?:\.|$)"
    r"|passport|паспорт|snils|снилс|(?<![a-zа-яё])(?:inn|инн|ssn|iban)(?![a-zа-яё])|card.?number"
    r"|номер.?карты|(?<![a-zа-яё])счет|(?<![a-zа-яё])счёт|account.?number",
    re.IGNORECASE,
)
_KIND_BY_HINT = (
    ("mail", "EMAIL"),
    ("почт", "EMAIL"),
    ("паспорт", "PASSPORT"),
    ("passport", "PASSPORT"),
    ("снилс", "SNILS"),
    ("snils", "SNILS"),
    ("инн", "INN"),
    ("inn", "INN"),
    ("ssn", "SSN"),
    ("iban", "IBAN"),
    ("карт", "CARD"),
    ("card", "CARD"),
    ("сч", "ACCOUNT"),
    ("account", "ACCOUNT"),
)


def manifest_masks(manifest: Any) -> bool:
    """Whether a run manifest asks for masking (``settings.mask_pii``; missing -> True)."""
    settings = manifest.get("settings") if isinstance(manifest, dict) else None
    return not (isinstance(settings, dict) and settings.get("mask_pii") is False)


def identifier_kind(name: str, values: Iterable[Any]) -> str | None:
    """The PII kind of a column that is a pure identifier (by name or by values), else None."""
    if _NAME_HINTS.search(name):
        lowered = name.lower()
        return next((kind for hint, kind in _KIND_BY_HINT if hint in lowered), "PHONE")
    kinds: list[str] = []
    filled = 0
    for value in values:
        text = _as_text(value)
        if not text:
            continue
        filled += 1
        kind = _whole_value_kind(text)
        if kind:
            kinds.append(kind)
        if filled >= SAMPLE:
            break
    if not filled or len(kinds) < IDENTIFIER_SHARE * filled:
        return None
    return max(set(kinds), key=kinds.count)


def _whole_value_kind(text: str) -> str | None:
    """The kind when ``text`` is (almost) nothing but one or more identifiers."""
    spans = find_pii(text)
    if not spans:
        return None
    covered = sum(s.end - s.start for s in spans)
    rest = re.sub(r"[\s,;:/()+\-]", "", text)
    return spans[0].kind if covered >= 0.8 * len(rest) else None


def _as_text(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def customer_key(value: Any) -> Any:
    """A customer id as the store keeps it: a CRM id (``C-1042``) as given; an id that *is*
    personal data — an e-mail, phone, card … — becomes its kind and a keyed hash,
    ``[EMAIL]:3f2a…`` (16 hex digits), the same wherever the same person appears (feedback,
    customers file, every run and store), so it stays a join key. Spelling does not matter: an
    e-mail is compared lower-cased, a number by its digits (a Russian ``8 912…`` as ``7 912…``).
    It is a pseudonym, not anonymity: whoever holds a candidate list can hash it and compare
    (that is also how a CX team finds whom to call: ``customer_key("+7 912 345-67-89")``).
    """
    text = _as_text(value)
    kind = _whole_value_kind(text) if text else None
    if kind is None:
        return value
    if kind == "EMAIL":
        plain = text.lower()
    else:
        plain = re.sub(r"\D", "", text)
        plain = (
            "7" + plain[1:] if kind == "PHONE" and len(plain) == 11 and plain[0] == "8" else plain
        )
    digest = hmac.new(_ID_KEY, f"{kind}:{plain}".encode(), hashlib.sha256).hexdigest()[:16]
    return f"[{kind}]:{digest}"


def masked_cell(value: Any) -> Any:
    """A string with its PII masked; anything else unchanged."""
    if not isinstance(value, str) or not value:
        return value
    return mask_pii(value)[0]


def _memo(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``fn`` remembering string results (channels, segments and labels repeat a lot)."""
    seen: dict[str, Any] = {}

    def call(value: Any) -> Any:
        if not isinstance(value, str):
            return fn(value)
        if value not in seen:
            seen[value] = fn(value)
        return seen[value]

    return call


def mask_columns(frame: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """Copy of ``frame``: identifier columns among ``columns`` hold only placeholders, the other
    text columns are masked cell by cell, numbers and dates are kept."""
    out = frame.copy()
    for col in columns:
        kind = identifier_kind(str(col), out[col].tolist())
        if kind is not None:
            out[col] = out[col].map(lambda v, k=kind: f"[{k}]" if _as_text(v) else v).astype(object)
        elif out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(_memo(masked_cell))
    return out


def _mask_list(value: Any) -> Any:
    if isinstance(value, str):
        return masked_cell(value)
    if hasattr(value, "tolist") and not isinstance(value, dict):
        value = value.tolist()
    return [masked_cell(v) for v in value] if isinstance(value, list | tuple) else value


def _mask_evidence(value: Any) -> Any:
    items = value.tolist() if hasattr(value, "tolist") else value
    if not isinstance(items, list | tuple):
        return value
    return [
        {**e, "clause": masked_cell(e.get("clause"))} if isinstance(e, dict) else e for e in items
    ]


def store_view(tagged: pd.DataFrame, known: Collection[str], mask: bool = True) -> pd.DataFrame:
    """``tagged`` as the store may keep it: every free-text column masked (see the module doc).

    ``known`` are the columns the store maps to its own fields; all others go to ``extra``.
    """
    tagged = _extra_columns(tagged, known)
    if not mask:
        return tagged
    extra = [c for c in tagged.columns if c not in known]
    out = mask_columns(tagged, extra)
    text_col = schema.TEXT_CLEAN if schema.TEXT_CLEAN in out.columns else schema.TEXT
    for col in (text_col, schema.CHANNEL, schema.SOURCE, schema.SEGMENT):
        if col in out.columns:
            out[col] = out[col].map(_memo(masked_cell))
    if schema.CUSTOMER_ID in out.columns:
        out[schema.CUSTOMER_ID] = out[schema.CUSTOMER_ID].map(_memo(customer_key))
    if schema.ROW_ISSUES in out.columns:
        out[schema.ROW_ISSUES] = out[schema.ROW_ISSUES].map(_mask_list)
    if schema.EVIDENCE in out.columns:
        out[schema.EVIDENCE] = out[schema.EVIDENCE].map(_mask_evidence)
    return out


def _extra_columns(tagged: pd.DataFrame, known: Collection[str]) -> pd.DataFrame:
    """Unmapped input columns under their own names (``<name>_input`` if the store uses the
    name); the raw copies of mapped ones are dropped — the canonical columns hold them."""
    drop, renames = plain_names(tagged.columns, known)
    if not drop and not renames:
        return tagged
    return tagged.drop(columns=drop).rename(columns=renames)


def customers_view(customers: pd.DataFrame, mask: bool = True) -> pd.DataFrame:
    """The customers file as the store may keep it: extra columns masked, an id that is personal
    data pseudonymised (:func:`customer_key`, as in feedback), dates and LTV kept."""
    if not mask:
        return customers
    keep = {"customer_id", "signup", "churned_at", "ltv"}
    out = mask_columns(customers, [c for c in customers.columns if c not in keep])
    out["customer_id"] = out["customer_id"].map(_memo(customer_key))
    return out


def summary_view(summary: dict[str, Any], mask: bool = True) -> dict[str, Any]:
    """A run summary whose ingest report quotes no raw text (flagged example rows masked)."""
    if not mask:
        return summary
    return {k: _mask_quotes(v) if k == "ingest" else v for k, v in summary.items()}


def _mask_quotes(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _mask_quotes(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask_quotes(v) for v in value]
    return (
        masked_cell(value)
        if isinstance(value, str) and not PLACEHOLDER_RE.fullmatch(value)
        else value
    )
