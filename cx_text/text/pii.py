"""PII masking for Russian and English feedback: typed placeholders such as ``[PHONE]``.

Structured identifiers are found with regular expressions plus checksums and validity rules
(:mod:`cx_text.text.pii_checks`: cards Luhn, IBAN mod-97, INN and SNILS check digits, US SSN and
NANP phone rules) and context words (``паспорт``, ``ИНН``, ``SSN``). Numbers next to an order word
(``заказ 12345678``, ``order #…``) or a currency are kept — they are not personal — unless they
are unambiguous: an IBAN or card that passes its checksum, an SSN, a 20-digit bank account, or a
phone that looks like one (``+…``, ``8 9xx…``) stays PII after «заказ» or ``#`` too. Person names
come from a natasha NER for Russian, a name list with role/title context for English, passed in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Protocol

from cx_text.core.lang import load_yaml
from cx_text.text.pii_checks import card_ok, iban_ok, inn_ok, luhn_ok, nanp_ok, snils_ok, ssn_ok

__all__ = [
    "PII_TYPES",
    "PLACEHOLDER_RE",
    "PiiSpan",
    "apply_spans",
    "card_ok",
    "find_pii",
    "iban_ok",
    "inn_ok",
    "luhn_ok",
    "mask_pii",
    "nanp_ok",
    "snils_ok",
    "ssn_ok",
]

PHONE, EMAIL, CARD, PERSON = "PHONE", "EMAIL", "CARD", "PERSON"
INN, SNILS, PASSPORT, ADDRESS = "INN", "SNILS", "PASSPORT", "ADDRESS"
SSN, IBAN, ACCOUNT = "SSN", "IBAN", "ACCOUNT"
PII_TYPES: tuple[str, ...] = (
    PHONE,
    EMAIL,
    CARD,
    PERSON,
    INN,
    SNILS,
    PASSPORT,
    ADDRESS,
    SSN,
    IBAN,
    ACCOUNT,
)
PLACEHOLDER_RE = re.compile(r"\[(?:" + "|".join(PII_TYPES) + r")\]")

_KEEP = "KEEP"  # spans protected from masking (order numbers, prices, URLs)


class PersonSpans(Protocol):
    """Anything that finds person-name spans (``NlpResources``, ``PersonFinder``)."""

    def find_persons(self, text: str) -> list[tuple[int, int]]: ...


@dataclass(frozen=True, slots=True)
class PiiSpan:
    """One detected span: ``text[start:end]`` is replaced by ``[kind]``."""

    kind: str
    start: int
    end: int


def _words(kind: str) -> str:
    return "(?:" + "|".join(load_yaml("pii_context.yaml")[kind]) + ")"


@dataclass(frozen=True)
class _Patterns:
    email: re.Pattern[str]
    url: re.Pattern[str]
    order: re.Pattern[str]
    money: re.Pattern[str]
    passport: re.Pattern[str]
    inn_kw: re.Pattern[str]
    snils_kw: re.Pattern[str]
    snils: re.Pattern[str]
    card: re.Pattern[str]
    phone_ru: re.Pattern[str]
    phone_intl: re.Pattern[str]
    phone_local: re.Pattern[str]
    bare_number: re.Pattern[str]
    iban: re.Pattern[str]
    ssn: re.Pattern[str]
    ssn_kw: re.Pattern[str]
    account: re.Pattern[str]
    address_ru: re.Pattern[str]
    address_en: re.Pattern[str]


@cache
def _patterns() -> _Patterns:
    """Compiled once per process (pure data, no models)."""
    i = re.IGNORECASE
    sep = r"[\s\-\u2011\u2013.]?"
    street_ru = (
        r"(?i:ул\.|улица|пр-т\.?|просп\.|проспект|пер\.|переулок|б-р|бульвар|ш\.|шоссе|наб\."
        r"|набережная|пл\.|площадь|мкр\.?|микрорайон|ул(?=\s))(?!\w)"
    )
    street_en = (
        r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl)"
    )
    return _Patterns(
        email=re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}"),
        url=re.compile(r"(?:https?://|www\.)\S+", i),
        order=re.compile(
            r"(?:(?<!\w)" + _words("order") + r"(?!\w)\s*(?:№|#|no\.?|number|номер)?|№|#)"
            r"\s*:?\s*#?\s*([A-Za-zА-Яа-я]{0,4}-?\d[\d\-]{2,}\d)(?!\d)",
            i,
        ),
        money=re.compile(
            r"(?<![\d.,])(?:\d{1,3}(?:[\s.,]\d{3})+|\d+)(?:[.,]\d{1,2})?\s?" + _words("currency"), i
        ),
        passport=re.compile(
            r"(?<!\w)"
            + _words("passport")
            + r"[^\d\n]{0,25}?(\d{2}\s?\d{2}\s*(?:№|N|номер|no\.?)?\s*\d{6})(?!\d)",
            i,
        ),
        inn_kw=re.compile(r"(?<!\w)" + _words("inn") + r"[^\d\n]{0,10}?(\d{10}|\d{12})(?!\d)", i),
        snils_kw=re.compile(
            r"(?<!\w)"
            + _words("snils")
            + r"[^\d\n]{0,10}?(\d{3}[-\s]?\d{3}[-\s]?\d{3}[-\s]?\d{2})(?!\d)",
            i,
        ),
        snils=re.compile(r"(?<![\d-])\d{3}-\d{3}-\d{3}[\s-]\d{2}(?![\d-])"),
        card=re.compile(r"(?<![\d-])\d{4}(?:[ -]?\d{4}){2}[ -]?\d{1,7}(?![\d-])"),
        phone_ru=re.compile(
            r"(?<![\w+])(?:\+\s?7|8|7)"
            + sep
            + r"\(?\d{3}\)?"
            + sep
            + r"\d{3}"
            + sep
            + r"\d{2}"
            + sep
            + r"\d{2}(?![\d])"
        ),
        phone_intl=re.compile(
            r"(?<![\w+])\+\d{1,3}[\s-]?\(?\d{1,4}\)?(?:[\s.-]?\d{2,4}){2,4}(?!\d)"
        ),
        phone_local=re.compile(
            r"(?<![\w.,])(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{2}-?\d{2}(?![\d.,])"
        ),
        bare_number=re.compile(r"(?<![\d.,/:-])\d{10,12}(?![\d.,/:-]?\d)"),
        iban=re.compile(
            r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?(?![a-z0-9])"
        ),
        ssn=re.compile(r"(?<![\d-])\d{3}-\d{2}-\d{4}(?![\d-])"),
        ssn_kw=re.compile(
            r"(?<!\w)(?:ssn|social security(?: number| no\.?)?)[^\d\n]{0,10}?(\d{3}[ -]?\d{2}[ "
            r"-]?\d{4})(?!\d)",
            i,
        ),
        account=re.compile(r"(?<![\d.,/:-])\d{5}[ .-]?\d{3}[ .-]?\d[ .-]?\d{4}[ .-]?\d{7}(?![\d])"),
        address_ru=re.compile(
            r"(?<!\w)" + street_ru + r"\s*[А-ЯЁ0-9][\wё\-.]*(?:\s[А-ЯЁ][\wё\-]*){0,2},?\s*"
            r"(?i:(?:д\.?|дом)\s*)?\d+[а-я]?(?!\d)"
            r"(?i:\s*,?\s*(?:к\.?|корп\.?|корпус|стр\.?|строение|кв\.?|квартира|оф\.?|офис)\s*\d+)*"
        ),
        address_en=re.compile(
            r"\b\d{1,5}\s+(?:[A-Z][a-z]+\s){1,3}" + street_en + r"\b\.?"
            r"(?:,?\s*(?:Apt|Apartment|Suite|Unit)\.?\s*#?\w+)?"
        ),
    )


def _add(spans: list[PiiSpan], kind: str, start: int, end: int) -> None:
    if all(end <= s.start or start >= s.end for s in spans):
        spans.append(PiiSpan(kind, start, end))


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


_MAYBE_STRUCTURED = re.compile(r"[\d@]")


def _find_structured(text: str) -> list[PiiSpan]:
    """Spans of everything but names, in priority order (earlier kinds win overlaps)."""
    spans: list[PiiSpan] = []
    if not _MAYBE_STRUCTURED.search(text):  # every pattern needs a digit or an "@"
        return spans
    p = _patterns()
    for m in p.email.finditer(text):
        _add(spans, EMAIL, m.start(), m.end())
    for m in p.url.finditer(text):
        _add(spans, _KEEP, m.start(), m.end())
    for m in p.address_ru.finditer(text):
        _add(spans, ADDRESS, m.start(), m.end())
    for m in p.address_en.finditer(text):
        _add(spans, ADDRESS, m.start(), m.end())
    for kind, rx in ((PASSPORT, p.passport), (INN, p.inn_kw), (SNILS, p.snils_kw)):
        for m in rx.finditer(text):
            _add(spans, kind, m.start(1), m.end(1))
    for m in p.snils.finditer(text):
        if snils_ok(_digits(m.group())):
            _add(spans, SNILS, m.start(), m.end())
    _find_unambiguous(text, spans)
    for m in p.order.finditer(text):
        _add(spans, _KEEP, m.start(1), m.end(1))
    for m in p.money.finditer(text):
        _add(spans, _KEEP, m.start(), m.end())
    _find_numbers(text, spans)
    return spans


def _find_unambiguous(text: str, spans: list[PiiSpan]) -> None:
    """Identifiers that win over the order-number and money exemptions: they pass a checksum
    (IBAN, card), have a fixed shape (SSN, 20-digit bank account) or look like a phone."""
    p = _patterns()
    for m in p.iban.finditer(text):
        end = _iban_end(m.group())
        if end:
            _add(spans, IBAN, m.start(), m.start() + end)
    for m in p.account.finditer(text):
        _add(spans, ACCOUNT, m.start(), m.end())
    for m in p.card.finditer(text):
        if card_ok(_digits(m.group())):
            _add(spans, CARD, m.start(), m.end())
    for m in p.ssn_kw.finditer(text):
        _add(spans, SSN, m.start(1), m.end(1))
    for m in p.ssn.finditer(text):
        if ssn_ok(_digits(m.group())):
            _add(spans, SSN, m.start(), m.end())
    for rx in (p.phone_ru, p.phone_intl):
        for m in rx.finditer(text):
            if _strong_phone(m.group()):
                _add(spans, PHONE, m.start(), m.end())


def _iban_end(candidate: str) -> int:
    """Length of the longest prefix of ``candidate`` (cut at a character) that is a valid IBAN."""
    for cut in range(len(candidate), 14, -1):
        if candidate[cut - 1] != " " and iban_ok(candidate[:cut].replace(" ", "")):
            return cut
    return 0


def _strong_phone(match: str) -> bool:
    """A phone even after «заказ»: international ``+…``, or 7/8 + a Russian mobile code (9xx)."""
    digits = _digits(match)
    if not 10 <= len(digits) <= 15:
        return False
    return match.startswith("+") or (len(digits) == 11 and digits[0] in "78" and digits[1] == "9")


def _find_numbers(text: str, spans: list[PiiSpan]) -> None:
    p = _patterns()
    for m in p.card.finditer(text):
        digits = _digits(m.group())
        if 13 <= len(digits) <= 19 and luhn_ok(digits):
            _add(spans, CARD, m.start(), m.end())
    for rx in (p.phone_ru, p.phone_intl, p.phone_local):
        for m in rx.finditer(text):
            if 10 <= len(_digits(m.group())) <= 15:
                _add(spans, PHONE, m.start(), m.end())
    for m in p.bare_number.finditer(text):
        digits = m.group()
        if inn_ok(digits):
            _add(spans, INN, m.start(), m.end())
        elif nanp_ok(digits):
            _add(spans, PHONE, m.start(), m.end())


def find_pii(text: str, persons: PersonSpans | None = None) -> list[PiiSpan]:
    """All PII spans in ``text``, sorted, non-overlapping (protected spans excluded)."""
    spans = _find_structured(text)
    if persons is not None:
        for start, end in persons.find_persons(text):
            _add(spans, PERSON, start, end)
    return sorted((s for s in spans if s.kind != _KEEP), key=lambda s: s.start)


def apply_spans(text: str, spans: Iterable[PiiSpan]) -> str:
    """``text`` with each span replaced by its ``[KIND]`` placeholder."""
    out, pos = [], 0
    for span in sorted(spans, key=lambda s: s.start):
        out.append(text[pos : span.start])
        out.append(f"[{span.kind}]")
        pos = span.end
    out.append(text[pos:])
    return "".join(out)


def mask_pii(text: str, persons: PersonSpans | None = None) -> tuple[str, list[str]]:
    """Masked text and the PII kinds found, in order of first appearance.

    >>> mask_pii("звоните 8 (912) 345-67-89, заказ 123456789")
    ('звоните [PHONE], заказ 123456789', ['PHONE'])
    """
    spans = find_pii(text, persons)
    kinds = list(dict.fromkeys(s.kind for s in spans))
    return apply_spans(text, spans), kinds
